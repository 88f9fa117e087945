//! The embedded store: every user's `Ledger` in a sharded in-process map.
//! Serves one instance only, and forgets everything on restart.

use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use prometheus::IntCounter;

use crate::clock::Clock;
use crate::domain::ledger::Terms;
use crate::domain::*;

pub struct EmbeddedStore {
    users: DashMap<UserId, Ledger>,
    clock: Arc<dyn Clock>,
    terms: Terms,
    /// Counts the leases found expired, by whichever operation or sweep
    /// finds them first.
    expired: IntCounter,
}

impl EmbeddedStore {
    /// Also starts the sweeper that drops idle users; it stops by itself once
    /// the store is dropped.
    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    pub fn start(terms: Terms, clock: Arc<dyn Clock>, expired: IntCounter) -> Arc<Self> {
        let period = Duration::from_millis(terms.ttl_ms.max(1_000) as u64);
        let store = Arc::new(Self { users: DashMap::new(), clock, terms, expired });
        tokio::spawn(sweep_every(period, Arc::downgrade(&store)));
        store
    }

    pub fn acquire(&self, req: &AcquireRequest) -> AcquireOutcome {
        self.update(&req.user_id, |ledger, now, terms| ledger.acquire(req, now, terms))
    }

    pub fn heartbeat(
        &self,
        user: &UserId,
        lease: LeaseId,
        restore: Option<&Restore>,
        token: Option<&Limits>,
    ) -> HeartbeatOutcome {
        self.update(user, |ledger, now, terms| ledger.heartbeat(lease, restore, token, now, terms))
    }

    pub fn release(&self, user: &UserId, lease: LeaseId) -> ReleaseOutcome {
        self.update(user, |ledger, now, terms| ledger.release(lease, now, terms))
    }

    pub fn revoke_all(&self, user: &UserId) -> u32 {
        self.update(user, |ledger, now, terms| ledger.revoke_all(now, terms))
    }

    pub fn set_limit(&self, user: &UserId, limits: Option<Limits>) {
        self.update(user, |ledger, _, _| ledger.set_limit(limits))
    }

    pub fn list(&self, user: &UserId, token: Option<&Limits>) -> UserLeases {
        let now = self.clock.now_ms();
        match self.users.get(user) {
            Some(ledger) => ledger.list(now, &self.terms, token),
            None => Ledger::default().list(now, &self.terms, token),
        }
    }

    pub fn user_limits(&self, user: &UserId, token: Option<&Limits>) -> UserLimits {
        match self.users.get(user) {
            Some(ledger) => ledger.limits(&self.terms, token),
            None => Ledger::default().limits(&self.terms, token),
        }
    }

    /// Every user with a live lease; drops expired leases and idle users on
    /// the way, like the sweep.
    pub fn census(&self) -> Census {
        let mut users = Vec::new();
        self.visit_all(|user_id, ledger, now| {
            if let Some(count) = ledger.count(user_id, now, &self.terms) {
                users.push(count);
            }
        });
        Census { users }
    }

    /// Number of users with any state; what the sweeper keeps bounded.
    #[cfg(test)]
    fn users_held(&self) -> usize {
        self.users.len()
    }

    /// Runs `op` on the user's ledger under its shard lock: the embedded
    /// equivalent of one Redis script call. A ledger left idle is dropped at
    /// once, so memory follows live state.
    fn update<R>(&self, user: &UserId, op: impl FnOnce(&mut Ledger, Millis, &Terms) -> R) -> R {
        let now = self.clock.now_ms();
        let (result, idle) = {
            let mut ledger = self.users.entry(user.clone()).or_default();
            self.expired.inc_by(ledger.prune(now, &self.terms) as u64);
            let result = op(&mut ledger, now, &self.terms);
            (result, ledger.is_idle())
        };
        if idle {
            self.users.remove_if(user, |_, ledger| ledger.is_idle());
        }
        result
    }

    /// Drops users whose leases all expired with no request since. Memory
    /// only: the rules never depend on it, as every operation prunes first.
    fn sweep(&self) {
        self.visit_all(|_, _, _| {});
    }

    /// Prunes every ledger (counting what expired), drops the idle ones, and
    /// shows `visit` each one kept.
    fn visit_all(&self, mut visit: impl FnMut(&UserId, &Ledger, Millis)) {
        let now = self.clock.now_ms();
        self.users.retain(|user_id, ledger| {
            self.expired.inc_by(ledger.prune(now, &self.terms) as u64);
            visit(user_id, ledger, now);
            !ledger.is_idle()
        });
    }
}

async fn sweep_every(period: Duration, store: Weak<EmbeddedStore>) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.upgrade() {
            Some(store) => store.sweep(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn idle_users_are_forgotten() {
        let clock = Arc::new(ManualClock::starting_now());
        let expired = IntCounter::new("expired", "test").unwrap();
        let store = EmbeddedStore::start(
            Terms { ttl_ms: 1_000, heartbeat_interval_ms: 300, default_limit: 3, classes: Classes::default() },
            clock.clone(),
            expired.clone(),
        );
        let user = UserId::try_from("viewer").unwrap();
        let req = AcquireRequest {
            user_id: user.clone(),
            stream_id: StreamId::try_from("s").unwrap(),
            device_id: None,
            device_name: None,
            classes: vec![],
            on_limit: OnLimit::Deny,
            terminate: vec![],
            new_lease_id: LeaseId::new_random(),
            token_limits: None,
        };
        store.acquire(&req);
        // An abandoned lease: swept once it expired.
        clock.advance_ms(1_000);
        store.sweep();
        assert_eq!(store.users_held(), 0);
        assert_eq!(expired.get(), 1);
        // A released lease: its tombstone is kept one TTL, then swept.
        store.acquire(&req);
        store.release(&user, req.new_lease_id);
        store.sweep();
        assert_eq!(store.users_held(), 1);
        clock.advance_ms(1_000);
        store.sweep();
        assert_eq!(store.users_held(), 0);
        // Reads do not create state.
        store.list(&user, None);
        store.user_limits(&user, None);
        assert_eq!(store.users_held(), 0);
    }
}
