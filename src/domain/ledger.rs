//! One user's leases and tombstones, and the rules that change them. Pure
//! bookkeeping with the time passed in: the embedded store runs it under a
//! lock, and the Redis scripts in `store/redis/lua/` do the same steps in the
//! same order, so both stores give the same answers.

use std::collections::HashMap;

use super::ids::LeaseId;
use super::lease::*;

/// Most tombstones kept per user. A player ends a few leases per TTL; a
/// client ending leases in a tight loop must not make every operation on
/// its user walk thousands of them. Past the cap the oldest go first, by
/// (ended_at, lease_id) (their player then gets 404 instead of 410), and
/// the user's restores are blocked for as long as a dropped tombstone would
/// have lasted, so no ended lease comes back. `lua/prelude.lua` keeps the
/// same rule.
pub const MAX_TOMBSTONES: usize = 64;

/// The terms every lease is granted on, the same for all users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// How long a lease lives past its last renewal (and a tombstone past its end).
    pub ttl_ms: Millis,
    /// How often players are told to renew; shorter than the TTL.
    pub heartbeat_interval_ms: Millis,
    /// The limit of a user without an override (`STREAMLEASE_MAX_STREAMS`).
    pub default_limit: u32,
}

#[derive(Debug, Default)]
pub struct Ledger {
    /// Few entries (at most the limit), so a Vec beats a map.
    leases: Vec<Lease>,
    ended: HashMap<LeaseId, Ended>,
    limit_override: Option<u32>,
    /// Until when restores are refused because the tombstone cap forgot
    /// leases that ended (0: not blocked).
    restores_blocked_until: Millis,
}

impl Ledger {
    /// Forgets expired leases and tombstones older than one TTL. Returns how
    /// many leases had expired.
    pub fn prune(&mut self, now: Millis, terms: Terms) -> usize {
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

    /// The user's limit: the admin override, else the one `token_limit`
    /// carries, else the default.
    pub fn limit(&self, terms: Terms, token_limit: Option<u32>) -> UserLimit {
        let limit = self.limit_override.or(token_limit).unwrap_or(terms.default_limit);
        UserLimit { limit, source: LimitSource::of(self.limit_override.is_some(), token_limit) }
    }

    pub fn set_limit(&mut self, limit: Option<u32>) {
        self.limit_override = limit;
    }

    pub fn acquire(&mut self, req: &AcquireRequest, now: Millis, terms: Terms) -> AcquireOutcome {
        self.prune(now, terms);
        let limit = self.limit(terms, req.token_limit);
        // The same acquire again (sent anew after a broken connection): it
        // already holds its slot, so it is answered without taking another.
        if let Some(lease) = self.leases.iter().find(|l| l.lease_id == req.new_lease_id) {
            let granted = self.granted(lease.clone(), limit);
            return AcquireOutcome::Created { granted, evicted: Vec::new(), terminated: Vec::new() };
        }
        let terminate = self.live_among(&req.terminate);

        let device_lease = req.device_id.as_ref().and_then(|device| {
            self.leases.iter().position(|l| l.device_id.as_ref() == Some(device) && !terminate.contains(&l.lease_id))
        });
        if let Some(i) = device_lease {
            let lease = &mut self.leases[i];
            lease.stream_id = req.stream_id.clone();
            if req.device_name.is_some() {
                lease.device_name = req.device_name.clone();
            }
            lease.expires_at = now + terms.ttl_ms;
            let lease = lease.clone();
            self.end(&terminate, EndReason::Terminated, Some(lease.lease_id), now, terms);
            return AcquireOutcome::Renewed { granted: self.granted(lease, limit), terminated: terminate };
        }

        let staying = self.leases.len() - terminate.len();
        let room = (limit.limit as usize).saturating_sub(staying);
        if room == 0 && req.on_limit == OnLimit::Deny {
            // The terminations were asked for in their own right: they hold
            // even when the acquire is still denied.
            self.end(&terminate, EndReason::Terminated, None, now, terms);
            let mut leases = self.leases.clone();
            leases.sort_by(Lease::by_age);
            let (active, terminated) = (leases.len() as u32, terminate);
            return AcquireOutcome::Denied {
                limit: limit.limit,
                limit_source: limit.source,
                active,
                leases,
                terminated,
            };
        }

        let evicted = if room == 0 {
            // Enough of the least recently renewed to make room for one more,
            // which is more than one only after the limit was lowered.
            let mut candidates: Vec<&Lease> = self.leases.iter().filter(|l| !terminate.contains(&l.lease_id)).collect();
            candidates.sort_by_key(|l| (l.expires_at, l.acquired_at, l.lease_id));
            candidates.iter().take(staying + 1 - limit.limit as usize).map(|l| l.lease_id).collect()
        } else {
            Vec::new()
        };
        let new_id = req.new_lease_id;
        self.end(&terminate, EndReason::Terminated, Some(new_id), now, terms);
        self.end(&evicted, EndReason::Evicted, Some(new_id), now, terms);
        let lease = Lease {
            lease_id: new_id,
            stream_id: req.stream_id.clone(),
            device_id: req.device_id.clone(),
            device_name: req.device_name.clone(),
            acquired_at: now,
            expires_at: now + terms.ttl_ms,
        };
        self.leases.push(lease.clone());
        AcquireOutcome::Created { granted: self.granted(lease, limit), evicted, terminated: terminate }
    }

    /// `token_limit`: as for `acquire`; a restore honours it.
    pub fn heartbeat(
        &mut self,
        lease_id: LeaseId,
        restore: Option<&Restore>,
        token_limit: Option<u32>,
        now: Millis,
        terms: Terms,
    ) -> HeartbeatOutcome {
        self.prune(now, terms);
        let limit = self.limit(terms, token_limit);
        if let Some(lease) = self.leases.iter_mut().find(|l| l.lease_id == lease_id) {
            lease.expires_at = now + terms.ttl_ms;
            let lease = lease.clone();
            return HeartbeatOutcome::Renewed(self.granted(lease, limit));
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
        if self.leases.len() >= limit.limit as usize {
            let mut leases = self.leases.clone();
            leases.sort_by(Lease::by_age);
            let active = leases.len() as u32;
            return HeartbeatOutcome::Denied { limit: limit.limit, limit_source: limit.source, active, leases };
        }
        let lease = Lease {
            lease_id,
            stream_id: restore.stream_id.clone(),
            device_id: restore.device_id.clone(),
            device_name: restore.device_name.clone(),
            acquired_at: now,
            expires_at: now + terms.ttl_ms,
        };
        self.leases.push(lease.clone());
        HeartbeatOutcome::Restored(self.granted(lease, limit))
    }

    pub fn release(&mut self, lease_id: LeaseId, now: Millis, terms: Terms) -> ReleaseOutcome {
        self.prune(now, terms);
        if self.leases.iter().any(|l| l.lease_id == lease_id) {
            self.end(&[lease_id], EndReason::Released, None, now, terms);
            ReleaseOutcome::Released
        } else {
            ReleaseOutcome::AlreadyGone
        }
    }

    /// Ends every live lease ("sign out everywhere"); returns how many.
    pub fn revoke_all(&mut self, now: Millis, terms: Terms) -> u32 {
        self.prune(now, terms);
        let ids: Vec<LeaseId> = self.leases.iter().map(|l| l.lease_id).collect();
        self.end(&ids, EndReason::Revoked, None, now, terms);
        ids.len() as u32
    }

    /// The live leases, oldest first. Read-only: expired entries are skipped,
    /// not pruned.
    pub fn list(&self, now: Millis, terms: Terms, token_limit: Option<u32>) -> UserLeases {
        let mut leases: Vec<Lease> = self.leases.iter().filter(|l| l.is_live(now)).cloned().collect();
        leases.sort_by(Lease::by_age);
        let limit = self.limit(terms, token_limit);
        UserLeases { limit: limit.limit, limit_source: limit.source, leases }
    }

    pub fn live_count(&self, now: Millis) -> u32 {
        self.leases.iter().filter(|l| l.is_live(now)).count() as u32
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

    fn end(&mut self, ids: &[LeaseId], reason: EndReason, by_lease_id: Option<LeaseId>, now: Millis, terms: Terms) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DeviceId, StreamId, UserId};

    const TERMS: Terms = Terms { ttl_ms: 1_000, heartbeat_interval_ms: 300, default_limit: 2 };

    fn request(device: Option<&str>, on_limit: OnLimit, terminate: Vec<LeaseId>) -> AcquireRequest {
        AcquireRequest {
            user_id: UserId::try_from("u").unwrap(),
            stream_id: StreamId::try_from("s").unwrap(),
            device_id: device.map(|d| DeviceId::try_from(d).unwrap()),
            device_name: None,
            on_limit,
            terminate,
            new_lease_id: LeaseId::new_random(),
            token_limit: None,
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
        created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, TERMS));
        assert_eq!(ledger.list(999, TERMS, None).leases.len(), 1);
        assert_eq!(ledger.list(1_000, TERMS, None).leases.len(), 0);
    }

    #[test]
    fn evict_oldest_ends_the_least_recently_renewed_lease() {
        let mut ledger = Ledger::default();
        let (first, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, TERMS));
        let (second, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 10, TERMS));
        // The first lease is older but renewed last, so the second goes.
        assert!(matches!(ledger.heartbeat(first, None, None, 20, TERMS), HeartbeatOutcome::Renewed(_)));
        let (third, evicted) = created(ledger.acquire(&request(None, OnLimit::EvictOldest, vec![]), 30, TERMS));
        assert_eq!(evicted, vec![second]);
        let ended = ledger.heartbeat(second, None, None, 40, TERMS);
        assert_eq!(
            ended,
            HeartbeatOutcome::Ended(Ended { reason: EndReason::Evicted, by_lease_id: Some(third), ended_at: 30 })
        );
    }

    #[test]
    fn evict_oldest_makes_room_after_the_limit_was_lowered() {
        let mut ledger = Ledger::default();
        for t in 0..2 {
            created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), t, TERMS));
        }
        ledger.set_limit(Some(1));
        let (_, evicted) = created(ledger.acquire(&request(None, OnLimit::EvictOldest, vec![]), 5, TERMS));
        assert_eq!(evicted.len(), 2);
        assert_eq!(ledger.list(6, TERMS, None).leases.len(), 1);
    }

    #[test]
    fn terminations_hold_even_when_the_acquire_is_still_denied() {
        let mut ledger = Ledger::default();
        let (a, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, TERMS));
        created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, TERMS));
        ledger.set_limit(Some(1));
        let outcome = ledger.acquire(&request(None, OnLimit::Deny, vec![a]), 1, TERMS);
        assert!(matches!(outcome, AcquireOutcome::Denied { active: 1, .. }), "{outcome:?}");
        assert!(matches!(
            ledger.heartbeat(a, None, None, 2, TERMS),
            HeartbeatOutcome::Ended(Ended { reason: EndReason::Terminated, by_lease_id: None, .. })
        ));
    }

    #[test]
    fn the_device_lease_is_renewed_even_at_the_limit() {
        let mut ledger = Ledger::default();
        let (tv, _) = created(ledger.acquire(&request(Some("tv"), OnLimit::Deny, vec![]), 0, TERMS));
        created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, TERMS));
        match ledger.acquire(&request(Some("tv"), OnLimit::Deny, vec![]), 500, TERMS) {
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
        let (a, _) = created(ledger.acquire(&request(None, OnLimit::Deny, vec![]), 0, TERMS));
        assert_eq!(ledger.release(a, 100, TERMS), ReleaseOutcome::Released);
        assert_eq!(ledger.release(a, 150, TERMS), ReleaseOutcome::AlreadyGone);
        assert!(matches!(ledger.heartbeat(a, None, None, 1_099, TERMS), HeartbeatOutcome::Ended(_)));
        assert_eq!(ledger.heartbeat(a, None, None, 1_100, TERMS), HeartbeatOutcome::NotFound);
        assert!(ledger.is_idle());
    }
}
