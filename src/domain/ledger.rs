//! One user's leases and tombstones, and the rules that change them. Pure
//! bookkeeping with the time passed in: the embedded store runs it under a
//! lock, and the Redis scripts in `store/redis/lua/` do the same steps in the
//! same order, so both stores give the same answers.

use std::collections::HashMap;

use super::ids::{LeaseId, UserId};
use super::lease::*;
use super::limits::{Classes, LimitClass, Limits, UserLimits};

/// Most tombstones kept per user. A player ends a few leases per TTL; a
/// client ending leases in a tight loop must not make every operation on
/// its user walk thousands of them. Past the cap the oldest go first, by
/// (ended_at, lease_id) (their player then gets 404 instead of 410), and
/// the user's restores are blocked for as long as a dropped tombstone would
/// have lasted, so no ended lease comes back. `lua/prelude.lua` keeps the
/// same rule.
pub const MAX_TOMBSTONES: usize = 64;

/// The terms every lease is granted on, the same for all users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// How long a lease lives past its last renewal (and a tombstone past its end).
    pub ttl_ms: Millis,
    /// How often players are told to renew; shorter than the TTL.
    pub heartbeat_interval_ms: Millis,
    /// The limit of a user without an override (`STREAMLEASE_MAX_STREAMS`).
    pub default_limit: u32,
    /// The classes leases may name, and their default limits
    /// (`STREAMLEASE_CLASSES`).
    pub classes: Classes,
}

impl Terms {
    /// A user's limits, given their override and their token's.
    pub fn limits(&self, overridden: Option<&Limits>, token: Option<&Limits>) -> UserLimits {
        UserLimits::decide(self.default_limit, &self.classes, overridden, token)
    }
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// Few entries (at most the limit), so a Vec beats a map.
    leases: Vec<Lease>,
    ended: HashMap<LeaseId, Ended>,
    limit_override: Option<Limits>,
    /// Until when restores are refused because the tombstone cap forgot
    /// leases that ended (0: not blocked).
    restores_blocked_until: Millis,
}

impl Ledger {
    /// Forgets expired leases and tombstones older than one TTL. Returns how
    /// many leases had expired.
    pub fn prune(&mut self, now: Millis, terms: &Terms) -> usize {
        let before = self.leases.len();
        self.leases.retain(|l| l.is_live(now));
        self.ended.retain(|_, e| e.ended_at + terms.ttl_ms > now);
        if self.restores_blocked_until <= now {
            self.restores_blocked_until = 0;
        }
        before - self.leases.len()
    }

    /// True when nothing here is worth keeping: no live lease, no tombstone
    /// still within its TTL, no restore block, no limit override. Call after
    /// `prune`.
    pub fn is_idle(&self) -> bool {
        self.leases.is_empty()
            && self.ended.is_empty()
            && self.restores_blocked_until == 0
            && self.limit_override.is_none()
    }

    /// The user's limits: each from the admin override, else the token,
    /// else the default.
    pub fn limits(&self, terms: &Terms, token: Option<&Limits>) -> UserLimits {
        terms.limits(self.limit_override.as_ref(), token)
    }

    pub fn set_limit(&mut self, limits: Option<Limits>) {
        self.limit_override = limits;
    }

    pub fn acquire(&mut self, req: &AcquireRequest, now: Millis, terms: &Terms) -> AcquireOutcome {
        self.prune(now, terms);
        let limits = self.limits(terms, req.token_limits.as_deref());
        // The same acquire again (sent anew after a broken connection): it
        // already holds its slot, so it is answered without taking another.
        if let Some(lease) = self.leases.iter().find(|l| l.lease_id == req.new_lease_id) {
            let granted = self.granted(lease.clone(), limits.total);
            return AcquireOutcome::Created { granted, evicted: Vec::new(), terminated: Vec::new() };
        }
        let terminate = self.live_among(&req.terminate);
        // A device holds at most one lease: it is renewed instead of taking
        // a slot, and moved to this stream and these classes.
        let device_lease = req.device_id.as_ref().and_then(|device| {
            self.leases.iter().find(|l| l.device_id.as_ref() == Some(device) && !terminate.contains(&l.lease_id))
        });
        let device_lease_id = device_lease.map(|l| l.lease_id);
        // The limits the lease needs a slot in: those of its classes, less
        // those the device's lease already holds one in (so a device's
        // lease is renewed even at the limit, as long as it stays in its
        // classes).
        let held = device_lease.map_or_else(Vec::new, |l| limits.bounds(&l.classes));
        let needed: Vec<LimitClass> = limits.bounds(&req.classes).into_iter().filter(|b| !held.contains(b)).collect();
        let others = |ended: &[LeaseId]| -> Vec<&Lease> {
            self.leases.iter().filter(|l| Some(l.lease_id) != device_lease_id && !ended.contains(&l.lease_id)).collect()
        };

        // At a limit, each lease to terminate must free a slot that limit
        // needs; otherwise nothing is ended and the limit is named.
        let full_now = full(&limits, &needed, &others(&[]));
        if let Some(first) = full_now.first() {
            let frees_a_slot = |id: &LeaseId| {
                self.leases
                    .iter()
                    .any(|l| l.lease_id == *id && full_now.iter().any(|b| limits.counts_against(&l.classes, b)))
            };
            if !terminate.iter().all(frees_a_slot) {
                return AcquireOutcome::Denied { refusal: self.refusal(&limits, first), terminated: Vec::new() };
            }
        }

        let mut staying = others(&terminate);
        let mut evicted: Vec<LeaseId> = Vec::new();
        let mut refused = None;
        for bound in &needed {
            let limit = limits.of(bound).limit as usize;
            let mut members: Vec<&Lease> =
                staying.iter().copied().filter(|l| limits.counts_against(&l.classes, bound)).collect();
            if members.len() < limit {
                continue;
            }
            // evict_oldest: enough of the least recently renewed to make room
            // for one more (more than one only after the limit was lowered).
            let excess = members.len() + 1 - limit;
            if req.on_limit == OnLimit::Deny || excess > members.len() {
                refused = Some(bound.clone());
                break;
            }
            members.sort_by_key(|l| (l.expires_at, l.acquired_at, l.lease_id));
            let gone: Vec<LeaseId> = members[..excess].iter().map(|l| l.lease_id).collect();
            staying.retain(|l| !gone.contains(&l.lease_id));
            evicted.extend(gone);
        }
        if let Some(bound) = refused {
            // The terminations were asked for in their own right: they hold
            // even when the acquire is still denied.
            self.end(&terminate, EndReason::Terminated, None, now, terms);
            return AcquireOutcome::Denied { refusal: self.refusal(&limits, &bound), terminated: terminate };
        }

        let by = device_lease_id.unwrap_or(req.new_lease_id);
        self.end(&terminate, EndReason::Terminated, Some(by), now, terms);
        self.end(&evicted, EndReason::Evicted, Some(by), now, terms);
        if let Some(lease) = self.leases.iter_mut().find(|l| Some(l.lease_id) == device_lease_id) {
            lease.stream_id = req.stream_id.clone();
            if req.device_name.is_some() {
                lease.device_name = req.device_name.clone();
            }
            lease.classes = req.classes.clone();
            lease.expires_at = now + terms.ttl_ms;
            let lease = lease.clone();
            return AcquireOutcome::Renewed {
                granted: self.granted(lease, limits.total),
                evicted,
                terminated: terminate,
            };
        }
        let lease = Lease {
            lease_id: req.new_lease_id,
            stream_id: req.stream_id.clone(),
            device_id: req.device_id.clone(),
            device_name: req.device_name.clone(),
            classes: req.classes.clone(),
            acquired_at: now,
            expires_at: now + terms.ttl_ms,
        };
        self.leases.push(lease.clone());
        AcquireOutcome::Created { granted: self.granted(lease, limits.total), evicted, terminated: terminate }
    }

    /// `token`: as for `acquire`; a restore honours it.
    pub fn heartbeat(
        &mut self,
        lease_id: LeaseId,
        restore: Option<&Restore>,
        token: Option<&Limits>,
        now: Millis,
        terms: &Terms,
    ) -> HeartbeatOutcome {
        self.prune(now, terms);
        let limits = self.limits(terms, token);
        if let Some(lease) = self.leases.iter_mut().find(|l| l.lease_id == lease_id) {
            lease.expires_at = now + terms.ttl_ms;
            let lease = lease.clone();
            return HeartbeatOutcome::Renewed(self.granted(lease, limits.total));
        }
        if let Some(ended) = self.ended.get(&lease_id) {
            // Ended on purpose: never restored.
            return HeartbeatOutcome::Ended(ended.clone());
        }
        let Some(restore) = restore else {
            return HeartbeatOutcome::NotFound;
        };
        // A device holds at most one lease: restoring must not give it two.
        let device_busy = restore.device_id.is_some() && self.leases.iter().any(|l| l.device_id == restore.device_id);
        // The cap may have forgotten that this lease ended: it stays gone.
        if device_busy || self.restores_blocked_until > now {
            return HeartbeatOutcome::NotFound;
        }
        let live: Vec<&Lease> = self.leases.iter().collect();
        if let Some(bound) = full(&limits, &limits.bounds(&restore.classes), &live).first() {
            return HeartbeatOutcome::Denied(self.refusal(&limits, bound));
        }
        let lease = Lease {
            lease_id,
            stream_id: restore.stream_id.clone(),
            device_id: restore.device_id.clone(),
            device_name: restore.device_name.clone(),
            classes: restore.classes.clone(),
            acquired_at: now,
            expires_at: now + terms.ttl_ms,
        };
        self.leases.push(lease.clone());
        HeartbeatOutcome::Restored(self.granted(lease, limits.total))
    }

    pub fn release(&mut self, lease_id: LeaseId, now: Millis, terms: &Terms) -> ReleaseOutcome {
        self.prune(now, terms);
        if self.leases.iter().any(|l| l.lease_id == lease_id) {
            self.end(&[lease_id], EndReason::Released, None, now, terms);
            ReleaseOutcome::Released
        } else {
            ReleaseOutcome::AlreadyGone
        }
    }

    /// Ends every live lease ("sign out everywhere"); returns how many.
    pub fn revoke_all(&mut self, now: Millis, terms: &Terms) -> u32 {
        self.prune(now, terms);
        let ids: Vec<LeaseId> = self.leases.iter().map(|l| l.lease_id).collect();
        self.end(&ids, EndReason::Revoked, None, now, terms);
        ids.len() as u32
    }

    /// The live leases, oldest first. Read-only: expired entries are skipped,
    /// not pruned.
    pub fn list(&self, now: Millis, terms: &Terms, token: Option<&Limits>) -> UserLeases {
        let mut leases: Vec<Lease> = self.leases.iter().filter(|l| l.is_live(now)).cloned().collect();
        leases.sort_by(Lease::by_age);
        let limit = self.limits(terms, token).total;
        UserLeases { limit: limit.limit, limit_source: limit.source, leases }
    }

    /// What a census reports of this user: `None` with no live lease.
    pub fn count(&self, user_id: &UserId, now: Millis, terms: &Terms) -> Option<UserCount> {
        let live = self.leases.iter().filter(|l| l.is_live(now));
        let classes_of_each = live.map(|l| l.classes.iter().map(|c| c.as_str()));
        let count = UserCount::of(user_id.clone(), &self.limits(terms, None), classes_of_each);
        (count.active > 0).then_some(count)
    }

    /// The ids in `wanted` that are live leases of this user, once each, in
    /// the order asked.
    fn live_among(&self, wanted: &[LeaseId]) -> Vec<LeaseId> {
        let mut found: Vec<LeaseId> = Vec::new();
        for id in wanted {
            if !found.contains(id) && self.leases.iter().any(|l| l.lease_id == *id) {
                found.push(*id);
            }
        }
        found
    }

    fn end(&mut self, ids: &[LeaseId], reason: EndReason, by_lease_id: Option<LeaseId>, now: Millis, terms: &Terms) {
        self.leases.retain(|l| !ids.contains(&l.lease_id));
        for id in ids {
            self.ended.insert(*id, Ended { reason, by_lease_id, ended_at: now });
        }
        let excess = self.ended.len().saturating_sub(MAX_TOMBSTONES);
        if excess > 0 {
            let mut oldest_first: Vec<(Millis, LeaseId)> = self.ended.iter().map(|(id, e)| (e.ended_at, *id)).collect();
            oldest_first.sort_unstable();
            for (ended_at, id) in oldest_first.into_iter().take(excess) {
                self.ended.remove(&id);
                self.restores_blocked_until = self.restores_blocked_until.max(ended_at + terms.ttl_ms);
            }
        }
    }

    fn granted(&self, lease: Lease, limit: UserLimit) -> Granted {
        Granted { lease, active: self.leases.len() as u32, limit: limit.limit, limit_source: limit.source }
    }

    /// `bound` refused: it, and the live leases whose ending makes room.
    fn refusal(&self, limits: &UserLimits, bound: &LimitClass) -> Refusal {
        let mut leases: Vec<Lease> =
            self.leases.iter().filter(|l| limits.counts_against(&l.classes, bound)).cloned().collect();
        leases.sort_by(Lease::by_age);
        let UserLimit { limit, source } = limits.of(bound);
        Refusal { limit_class: bound.clone(), limit, limit_source: source, active: leases.len() as u32, leases }
    }
}

/// Those of `bounds` with no room for one more lease among `leases`.
fn full(limits: &UserLimits, bounds: &[LimitClass], leases: &[&Lease]) -> Vec<LimitClass> {
    bounds
        .iter()
        .filter(|b| {
            let members = leases.iter().filter(|l| limits.counts_against(&l.classes, b)).count();
            members >= limits.of(b).limit as usize
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DeviceId, StreamId, UserId};

    fn terms() -> Terms {
        Terms { ttl_ms: 1_000, heartbeat_interval_ms: 300, default_limit: 2, classes: Classes::default() }
    }

    fn request(device: Option<&str>, on_limit: OnLimit, terminate: Vec<LeaseId>) -> AcquireRequest {
        AcquireRequest {
            user_id: UserId::try_from("u").unwrap(),
            stream_id: StreamId::try_from("s").unwrap(),
            device_id: device.map(|d| DeviceId::try_from(d).unwrap()),
            device_name: None,
            classes: vec![],
            on_limit,
            terminate,
            new_lease_id: LeaseId::new_random(),
            token_limits: None,
        }
    }

    fn created(outcome: AcquireOutcome) -> (LeaseId, Vec<LeaseId>) {
        match outcome {
            AcquireOutcome::Created { granted, evicted, .. } => (granted.lease.lease_id, evicted),
            other => panic!("expected Created, got {other:?}"),
        }
    }

    #[test]
    fn a_lease_stops_counting_the_moment_it_expires() {
        let mut ledger = Ledger::default();
        created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, &terms()));
        assert_eq!(ledger.list(999, &terms(), None).leases.len(), 1);
        assert_eq!(ledger.list(1_000, &terms(), None).leases.len(), 0);
    }

    #[test]
    fn evict_oldest_ends_the_least_recently_renewed_lease() {
        let mut ledger = Ledger::default();
        let (first, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, &terms()));
        let (second, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 10, &terms()));
        // The first lease is older but renewed last, so the second goes.
        assert!(matches!(ledger.heartbeat(first, None, None, 20, &terms()), HeartbeatOutcome::Renewed(_)));
        let (third, evicted) = created(ledger.acquire(&request(None, OnLimit::EvictOldest, vec![]), 30, &terms()));
        assert_eq!(evicted, vec![second]);
        let ended = ledger.heartbeat(second, None, None, 40, &terms());
        assert_eq!(
            ended,
            HeartbeatOutcome::Ended(Ended { reason: EndReason::Evicted, by_lease_id: Some(third), ended_at: 30 })
        );
    }

    #[test]
    fn evict_oldest_makes_room_after_the_limit_was_lowered() {
        let mut ledger = Ledger::default();
        for t in 0..2 {
            created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), t, &terms()));
        }
        ledger.set_limit(Some(Limits::total(1)));
        let (_, evicted) = created(ledger.acquire(&request(None, OnLimit::EvictOldest, vec![]), 5, &terms()));
        assert_eq!(evicted.len(), 2);
        assert_eq!(ledger.list(6, &terms(), None).leases.len(), 1);
    }

    #[test]
    fn terminations_hold_even_when_the_acquire_is_still_denied() {
        let mut ledger = Ledger::default();
        let (a, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, &terms()));
        created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, &terms()));
        ledger.set_limit(Some(Limits::total(1)));
        let outcome = ledger.acquire(&request(None, OnLimit::Deny, vec![a]), 1, &terms());
        assert!(matches!(outcome, AcquireOutcome::Denied { refusal: Refusal { active: 1, .. }, .. }), "{outcome:?}");
        assert!(matches!(
            ledger.heartbeat(a, None, None, 2, &terms()),
            HeartbeatOutcome::Ended(Ended { reason: EndReason::Terminated, by_lease_id: None, .. })
        ));
    }

    #[test]
    fn the_device_lease_is_renewed_even_at_the_limit() {
        let mut ledger = Ledger::default();
        let (tv, _) = created(ledger.acquire(&request(Some("tv"), OnLimit::Deny, vec![]), 0, &terms()));
        created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, &terms()));
        match ledger.acquire(&request(Some("tv"), OnLimit::Deny, vec![]), 500, &terms()) {
            AcquireOutcome::Renewed { granted, .. } => {
                assert_eq!(granted.lease.lease_id, tv);
                assert_eq!(granted.lease.expires_at, 1_500);
                assert_eq!(granted.active, 2);
            }
            other => panic!("expected Renewed, got {other:?}"),
        }
    }

    #[test]
    fn tombstones_are_forgotten_one_ttl_after_the_end() {
        let mut ledger = Ledger::default();
        let (a, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, &terms()));
        assert_eq!(ledger.release(a, 100, &terms()), ReleaseOutcome::Released);
        assert_eq!(ledger.release(a, 150, &terms()), ReleaseOutcome::AlreadyGone);
        assert!(matches!(ledger.heartbeat(a, None, None, 1_099, &terms()), HeartbeatOutcome::Ended(_)));
        assert_eq!(ledger.heartbeat(a, None, None, 1_100, &terms()), HeartbeatOutcome::NotFound);
        assert!(ledger.is_idle());
    }
}
