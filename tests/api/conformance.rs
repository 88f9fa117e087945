//! The store conformance suite: the lease rules, called on the store itself
//! (no HTTP), on every store: embedded, Redis, Redis over TLS, Redis
//! Cluster. Each store runs on the test's clock, so time moves at once and
//! boundaries hold to the millisecond. What HTTP makes of these outcomes is
//! tested once, on one store, beside each route's tests.

use std::sync::Arc;

use streamlease::clock::ManualClock;
use streamlease::domain::ledger::Terms;
use streamlease::domain::*;
use streamlease::store::Store;

use crate::helpers::{Backend, store_on};
use crate::on_every_store;

const TTL_MS: i64 = 30_000;

/// A store under test, and the calls a player and an operator make on it.
struct Subject {
    store: Store,
    clock: Arc<ManualClock>,
}

fn user(name: &str) -> UserId {
    UserId::try_from(name).unwrap()
}

fn stream(name: &str) -> StreamId {
    StreamId::try_from(name).unwrap()
}

fn device(name: &str) -> Option<DeviceId> {
    Some(DeviceId::try_from(name).unwrap())
}

fn ids(leases: &[Lease]) -> Vec<LeaseId> {
    leases.iter().map(|l| l.lease_id).collect()
}

impl Subject {
    fn new(backend: Backend, default_limit: u32) -> Self {
        Self::with_ttl(backend, default_limit, TTL_MS)
    }

    fn with_ttl(backend: Backend, default_limit: u32, ttl_ms: Millis) -> Self {
        Self::with_terms(backend, default_limit, ttl_ms, "")
    }

    /// With `classes` configured as STREAMLEASE_CLASSES takes them.
    fn with_classes(backend: Backend, default_limit: u32, classes: &str) -> Self {
        Self::with_terms(backend, default_limit, TTL_MS, classes)
    }

    fn with_terms(backend: Backend, default_limit: u32, ttl_ms: Millis, classes: &str) -> Self {
        let classes = if classes.is_empty() { Classes::default() } else { Classes::parse(classes, 1000).unwrap() };
        let terms = Terms { ttl_ms, heartbeat_interval_ms: ttl_ms / 3, default_limit, classes };
        let (store, clock) = store_on(backend, terms);
        Subject { store, clock }
    }

    fn pass(&self, ms: Millis) {
        self.clock.advance_ms(ms);
    }

    fn now(&self) -> Millis {
        use streamlease::clock::Clock;
        self.clock.now_ms()
    }

    async fn acquire_with(&self, who: &str, on: &str, tweak: impl FnOnce(&mut AcquireRequest)) -> AcquireOutcome {
        let mut request = AcquireRequest {
            user_id: user(who),
            stream_id: stream(on),
            device_id: None,
            device_name: None,
            classes: Vec::new(),
            on_limit: OnLimit::Deny,
            terminate: Vec::new(),
            new_lease_id: LeaseId::new_random(),
            token_limits: None,
        };
        tweak(&mut request);
        self.store.acquire(&request).await.unwrap()
    }

    async fn acquire(&self, who: &str, on: &str) -> AcquireOutcome {
        self.acquire_with(who, on, |_| {}).await
    }

    /// A new lease, which the test expects to be granted.
    async fn take(&self, who: &str, on: &str) -> Granted {
        created(self.acquire(who, on).await)
    }

    async fn take_on(&self, who: &str, on: &str, on_device: &str) -> Granted {
        created(self.acquire_with(who, on, |r| r.device_id = device(on_device)).await)
    }

    async fn heartbeat(&self, who: &str, lease: LeaseId) -> HeartbeatOutcome {
        self.store.heartbeat(&user(who), lease, None, None).await.unwrap()
    }

    async fn restore(&self, who: &str, lease: LeaseId, on: &str, on_device: Option<&str>) -> HeartbeatOutcome {
        let restore = Restore {
            stream_id: stream(on),
            device_id: on_device.and_then(device),
            device_name: None,
            classes: vec![],
        };
        self.store.heartbeat(&user(who), lease, Some(&restore), None).await.unwrap()
    }

    async fn release(&self, who: &str, lease: LeaseId) -> ReleaseOutcome {
        self.store.release(&user(who), lease).await.unwrap()
    }

    async fn list(&self, who: &str) -> UserLeases {
        self.store.list(&user(who), None).await.unwrap()
    }

    async fn active(&self, who: &str) -> usize {
        self.list(who).await.leases.len()
    }

    async fn set_limit(&self, who: &str, limit: Option<u32>) {
        self.store.set_limit(&user(who), limit.map(Limits::total).as_ref()).await.unwrap()
    }

    /// Why a lease ended, and what took its place, as its heartbeat says.
    async fn end_of(&self, who: &str, lease: LeaseId) -> (EndReason, Option<LeaseId>) {
        match self.heartbeat(who, lease).await {
            HeartbeatOutcome::Ended(ended) => (ended.reason, ended.by_lease_id),
            other => panic!("{lease} did not end: {other:?}"),
        }
    }
}

fn created(outcome: AcquireOutcome) -> Granted {
    match outcome {
        AcquireOutcome::Created { granted, .. } => granted,
        other => panic!("not created: {other:?}"),
    }
}

fn renewed(outcome: HeartbeatOutcome) -> Granted {
    match outcome {
        HeartbeatOutcome::Renewed(granted) => granted,
        other => panic!("not renewed: {other:?}"),
    }
}

// Acquire

async fn an_acquire_takes_a_slot_with_the_lease_asked_for(backend: Backend) {
    let s = Subject::new(backend, 3);
    let now = s.now();
    let outcome = s
        .acquire_with("alice", "movie-1", |r| {
            r.device_id = device("tv");
            r.device_name = Some(DeviceName::try_from("Den 50% | TV; 2nd 📺").unwrap());
        })
        .await;
    let AcquireOutcome::Created { granted, evicted, terminated } = outcome else { panic!("{outcome:?}") };
    assert_eq!((evicted, terminated), (vec![], vec![]));
    assert_eq!((granted.active, granted.limit), (1, 3));
    let lease = granted.lease;
    assert_eq!((lease.stream_id.as_str(), lease.device_id.as_ref().map(DeviceId::as_str)), ("movie-1", Some("tv")));
    assert_eq!(lease.device_name.unwrap().as_str(), "Den 50% | TV; 2nd 📺");
    assert_eq!((lease.acquired_at, lease.expires_at), (now, now + TTL_MS));
}

async fn at_the_limit_an_acquire_is_denied_with_the_live_leases_oldest_first(backend: Backend) {
    let s = Subject::new(backend, 3);
    let mut taken = Vec::new();
    for on in ["a", "b", "c"] {
        taken.push(s.take("alice", on).await.lease.lease_id);
        s.pass(5);
    }
    let AcquireOutcome::Denied { refusal: Refusal { limit, active, leases, .. }, terminated } =
        s.acquire("alice", "d").await
    else {
        panic!("not denied")
    };
    assert_eq!((limit, active, ids(&leases), terminated), (3, 3, taken, vec![]));
    assert_eq!(leases[0].stream_id.as_str(), "a");
    assert_eq!(s.active("alice").await, 3);
}

async fn users_do_not_share_a_limit(backend: Backend) {
    let s = Subject::new(backend, 1);
    s.take("alice", "a").await;
    s.take("bob", "a").await;
    assert!(matches!(s.acquire("alice", "b").await, AcquireOutcome::Denied { .. }));
}

async fn a_devices_second_acquire_renews_and_moves_its_lease(backend: Backend) {
    let s = Subject::new(backend, 1);
    let name = DeviceName::try_from("Den | TV").unwrap();
    let first = created(
        s.acquire_with("alice", "episode-1", |r| {
            r.device_id = device("tv");
            r.device_name = Some(name.clone());
        })
        .await,
    );
    s.pass(10);
    // The next episode, without a name, at the limit: the same lease, moved, its name kept.
    let outcome = s.acquire_with("alice", "episode-2", |r| r.device_id = device("tv")).await;
    let AcquireOutcome::Renewed { granted, terminated, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((granted.lease.lease_id, granted.active, terminated), (first.lease.lease_id, 1, vec![]));
    assert_eq!((granted.lease.stream_id.as_str(), granted.lease.acquired_at), ("episode-2", first.lease.acquired_at));
    assert_eq!(granted.lease.expires_at, s.now() + TTL_MS);
    assert_eq!(granted.lease.device_name.as_ref(), Some(&name));
    let listed = s.list("alice").await.leases;
    assert_eq!((listed[0].stream_id.as_str(), listed[0].device_name.as_ref()), ("episode-2", Some(&name)));
    assert_eq!(renewed(s.heartbeat("alice", first.lease.lease_id).await).lease.device_name, Some(name.clone()));
    // Another device is refused, and the chooser's list names this one.
    let AcquireOutcome::Denied { refusal: Refusal { leases, .. }, .. } =
        s.acquire_with("alice", "x", |r| r.device_id = device("phone")).await
    else {
        panic!("not denied")
    };
    assert_eq!(leases[0].device_name.as_ref(), Some(&name));
    // A new name replaces the old one.
    let renamed = s
        .acquire_with("alice", "episode-2", |r| {
            r.device_id = device("tv");
            r.device_name = Some(DeviceName::try_from("TV").unwrap());
        })
        .await;
    let AcquireOutcome::Renewed { granted, .. } = renamed else { panic!("{renamed:?}") };
    assert_eq!(granted.lease.device_name.unwrap().as_str(), "TV");
}

async fn evict_oldest_ends_the_least_recently_renewed_lease(backend: Backend) {
    let s = Subject::new(backend, 2);
    let older = s.take("alice", "a").await.lease.lease_id;
    s.pass(5);
    let newer = s.take("alice", "b").await.lease.lease_id;
    s.pass(5);
    // Renewing the older lease makes the newer one the least recently renewed.
    renewed(s.heartbeat("alice", older).await);
    let outcome = s.acquire_with("alice", "c", |r| r.on_limit = OnLimit::EvictOldest).await;
    let AcquireOutcome::Created { granted, evicted, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((evicted, granted.active), (vec![newer], 2));
    assert_eq!(s.end_of("alice", newer).await, (EndReason::Evicted, Some(granted.lease.lease_id)));
    renewed(s.heartbeat("alice", older).await);
}

async fn evict_oldest_after_a_lowered_limit_evicts_as_many_as_needed(backend: Backend) {
    let s = Subject::new(backend, 3);
    let mut taken = Vec::new();
    for n in 0..3 {
        taken.push(s.take("alice", &format!("s{n}")).await.lease.lease_id);
        s.pass(2);
    }
    s.set_limit("alice", Some(1)).await;
    let outcome = s.acquire_with("alice", "new", |r| r.on_limit = OnLimit::EvictOldest).await;
    let AcquireOutcome::Created { granted, evicted, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((evicted, granted.active), (taken.clone(), 1));
    for lease in taken {
        assert_eq!(s.end_of("alice", lease).await, (EndReason::Evicted, Some(granted.lease.lease_id)));
    }
}

async fn terminate_ends_the_named_leases_and_takes_their_slot(backend: Backend) {
    let s = Subject::new(backend, 2);
    let a = s.take("alice", "a").await.lease.lease_id;
    let b = s.take("alice", "b").await.lease.lease_id;
    let outcome = s.acquire_with("alice", "c", |r| r.terminate = vec![a, a]).await;
    let AcquireOutcome::Created { granted, evicted, terminated } = outcome else { panic!("{outcome:?}") };
    assert_eq!((terminated, evicted), (vec![a], vec![]));
    assert_eq!(s.end_of("alice", a).await, (EndReason::Terminated, Some(granted.lease.lease_id)));
    renewed(s.heartbeat("alice", b).await);
    assert_eq!(s.active("alice").await, 2);
}

async fn terminate_cannot_touch_another_users_leases(backend: Backend) {
    let s = Subject::new(backend, 1);
    let bobs = s.take("bob", "a").await.lease.lease_id;
    s.take("alice", "a").await;
    let outcome = s.acquire_with("alice", "b", |r| r.terminate = vec![bobs]).await;
    assert!(matches!(outcome, AcquireOutcome::Denied { ref terminated, .. } if terminated.is_empty()), "{outcome:?}");
    renewed(s.heartbeat("bob", bobs).await);
}

async fn a_device_renewal_can_terminate_other_leases_in_the_same_step(backend: Backend) {
    let s = Subject::new(backend, 2);
    let tv = s.take_on("alice", "a", "tv").await.lease.lease_id;
    let other = s.take("alice", "b").await.lease.lease_id;
    let outcome = s
        .acquire_with("alice", "c", |r| {
            r.device_id = device("tv");
            r.terminate = vec![other];
        })
        .await;
    let AcquireOutcome::Renewed { granted, terminated, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((granted.lease.lease_id, terminated, granted.active), (tv, vec![other], 1));
    assert_eq!(granted.lease.stream_id.as_str(), "c");
    assert_eq!(s.end_of("alice", other).await, (EndReason::Terminated, Some(tv)));
}

async fn terminating_the_devices_own_lease_gives_it_a_new_one(backend: Backend) {
    let s = Subject::new(backend, 1);
    let old = s.take_on("alice", "a", "tv").await.lease.lease_id;
    let outcome = s
        .acquire_with("alice", "b", |r| {
            r.device_id = device("tv");
            r.terminate = vec![old];
        })
        .await;
    let AcquireOutcome::Created { granted, terminated, .. } = outcome else { panic!("{outcome:?}") };
    assert_ne!(granted.lease.lease_id, old);
    assert_eq!(terminated, vec![old]);
    assert_eq!(s.end_of("alice", old).await, (EndReason::Terminated, Some(granted.lease.lease_id)));
    assert_eq!(s.active("alice").await, 1);
}

async fn terminations_hold_when_the_acquire_is_still_denied(backend: Backend) {
    let s = Subject::new(backend, 2);
    let a = s.take("alice", "a").await.lease.lease_id;
    let b = s.take("alice", "b").await.lease.lease_id;
    s.set_limit("alice", Some(1)).await;
    let outcome = s.acquire_with("alice", "c", |r| r.terminate = vec![a]).await;
    let AcquireOutcome::Denied { refusal: Refusal { active, leases, .. }, terminated } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((active, ids(&leases), terminated), (1, vec![b], vec![a]));
    assert_eq!(s.end_of("alice", a).await, (EndReason::Terminated, None));
}

// Heartbeat

async fn a_heartbeat_renews_the_lease_and_moves_its_expiry(backend: Backend) {
    let s = Subject::new(backend, 3);
    let taken = s.take("alice", "a").await.lease;
    s.pass(50);
    let granted = renewed(s.heartbeat("alice", taken.lease_id).await);
    assert_eq!((granted.active, granted.limit), (1, 3));
    assert_eq!(granted.lease.expires_at, s.now() + TTL_MS);
    assert_eq!(granted.lease, Lease { expires_at: granted.lease.expires_at, ..taken });
}

async fn a_lease_is_only_found_under_its_own_user(backend: Backend) {
    let s = Subject::new(backend, 3);
    let lease = s.take("alice", "a").await.lease.lease_id;
    assert_eq!(s.heartbeat("bob", lease).await, HeartbeatOutcome::NotFound);
    assert_eq!(s.heartbeat("alice", LeaseId::new_random()).await, HeartbeatOutcome::NotFound);
    assert_eq!(s.release("bob", lease).await, ReleaseOutcome::AlreadyGone);
    renewed(s.heartbeat("alice", lease).await);
}

async fn a_released_or_revoked_lease_says_so_for_one_ttl_then_is_unknown(backend: Backend) {
    let s = Subject::new(backend, 3);
    let released = s.take("alice", "a").await.lease.lease_id;
    assert_eq!(s.release("alice", released).await, ReleaseOutcome::Released);
    assert_eq!(s.end_of("alice", released).await, (EndReason::Released, None));
    let revoked = [s.take("alice", "b").await.lease.lease_id, s.take("alice", "c").await.lease.lease_id];
    s.take("bob", "a").await;
    assert_eq!(s.store.revoke_all(&user("alice")).await.unwrap(), 2);
    for lease in revoked {
        assert_eq!(s.end_of("alice", lease).await, (EndReason::Revoked, None));
    }
    assert_eq!((s.active("alice").await, s.active("bob").await), (0, 1));
    s.pass(TTL_MS - 1);
    assert_eq!(s.end_of("alice", released).await.0, EndReason::Released);
    s.pass(1);
    assert_eq!(s.heartbeat("alice", released).await, HeartbeatOutcome::NotFound);
}

/// A client ending leases in a loop keeps only the newest 64 tombstones;
/// older ended leases answer like unknown ones.
async fn a_user_keeps_at_most_64_tombstones_newest_first(backend: Backend) {
    let s = Subject::new(backend, 3);
    let mut ended = Vec::new();
    for n in 0..70 {
        let lease = s.take("churner", &format!("s{n}")).await.lease.lease_id;
        s.release("churner", lease).await;
        ended.push(lease);
        s.pass(1);
    }
    for lease in &ended[..6] {
        assert_eq!(s.heartbeat("churner", *lease).await, HeartbeatOutcome::NotFound);
    }
    for lease in &ended[6..] {
        assert_eq!(s.end_of("churner", *lease).await.0, EndReason::Released);
    }
}

/// Revoking 70 leases at once: all end in the same millisecond, and the 64
/// with the highest ids keep their tombstones.
async fn one_call_ending_more_than_64_leases_keeps_64_tombstones(backend: Backend) {
    let s = Subject::new(backend, 100);
    let mut leases = Vec::new();
    for n in 0..70 {
        leases.push(s.take("alice", &format!("s{n}")).await.lease.lease_id);
    }
    assert_eq!(s.store.revoke_all(&user("alice")).await.unwrap(), 70);
    leases.sort();
    for (n, lease) in leases.iter().enumerate() {
        let outcome = s.heartbeat("alice", *lease).await;
        assert_eq!(outcome == HeartbeatOutcome::NotFound, n < 6, "lease {n} of 70 by id: {outcome:?}");
    }
}

// Expiry

async fn an_abandoned_lease_stops_counting_at_its_expiry(backend: Backend) {
    let s = Subject::new(backend, 1);
    let abandoned = s.take("alice", "a").await.lease.lease_id;
    assert!(matches!(s.acquire("alice", "b").await, AcquireOutcome::Denied { .. }));
    s.pass(TTL_MS - 1);
    assert_eq!(s.active("alice").await, 1);
    s.pass(1);
    assert_eq!(s.active("alice").await, 0);
    assert_eq!(s.heartbeat("alice", abandoned).await, HeartbeatOutcome::NotFound);
    s.take("alice", "b").await;
}

async fn heartbeats_keep_a_lease_alive_past_its_first_ttl(backend: Backend) {
    let s = Subject::new(backend, 1);
    let lease = s.take("alice", "a").await.lease.lease_id;
    for _ in 0..4 {
        s.pass(TTL_MS / 2);
        renewed(s.heartbeat("alice", lease).await);
    }
    assert_eq!(s.active("alice").await, 1);
}

// Release and list

async fn a_release_frees_the_slot_and_is_safe_to_repeat(backend: Backend) {
    let s = Subject::new(backend, 1);
    let lease = s.take("alice", "a").await.lease.lease_id;
    assert_eq!(s.release("alice", lease).await, ReleaseOutcome::Released);
    assert_eq!(s.release("alice", lease).await, ReleaseOutcome::AlreadyGone);
    assert_eq!(s.release("nobody", LeaseId::new_random()).await, ReleaseOutcome::AlreadyGone);
    assert_eq!(s.active("alice").await, 0);
    s.take("alice", "b").await;
}

async fn the_list_shows_the_live_leases_oldest_first(backend: Backend) {
    let s = Subject::new(backend, 3);
    assert_eq!(s.list("alice").await, UserLeases { limit: 3, limit_source: LimitSource::Default, leases: vec![] });
    let a = s.take("alice", "a").await.lease.lease_id;
    s.pass(5);
    let b = s.take("alice", "b").await.lease.lease_id;
    s.pass(5);
    let c = s.take("alice", "c").await.lease.lease_id;
    s.release("alice", b).await;
    assert_eq!(ids(&s.list("alice").await.leases), vec![a, c]);
}

/// The clock stands still here, so these leases share one millisecond: the
/// list keeps the order they were taken in all the same.
async fn leases_taken_within_one_millisecond_list_in_the_order_taken(backend: Backend) {
    let s = Subject::new(backend, 8);
    let mut taken = Vec::new();
    for n in 0..8 {
        taken.push(s.take("alice", &format!("s{n}")).await.lease.lease_id);
    }
    assert_eq!(ids(&s.list("alice").await.leases), taken);
}

// Restore

async fn a_lost_lease_is_restored_by_a_heartbeat_that_carries_its_stream(backend: Backend) {
    let s = Subject::new(backend, 3);
    let lease = s.take("alice", "movie").await.lease.lease_id;
    s.pass(TTL_MS + 100);
    assert_eq!(s.heartbeat("alice", lease).await, HeartbeatOutcome::NotFound);
    let HeartbeatOutcome::Restored(granted) = s.restore("alice", lease, "movie", Some("tv")).await else {
        panic!("not restored")
    };
    assert_eq!((granted.lease.lease_id, granted.active), (lease, 1));
    assert_eq!((granted.lease.stream_id.as_str(), granted.lease.device_id), ("movie", device("tv")));
    assert_eq!((granted.lease.acquired_at, granted.lease.expires_at), (s.now(), s.now() + TTL_MS));
    // From then on an ordinary lease, renewed.
    renewed(s.restore("alice", lease, "movie", None).await);
    assert_eq!(s.active("alice").await, 1);
}

async fn an_ended_lease_is_never_restored(backend: Backend) {
    let s = Subject::new(backend, 3);
    let lease = s.take("alice", "movie").await.lease.lease_id;
    s.release("alice", lease).await;
    let HeartbeatOutcome::Ended(ended) = s.restore("alice", lease, "movie", None).await else { panic!("not ended") };
    assert_eq!(ended.reason, EndReason::Released);
    assert_eq!(s.active("alice").await, 0);
}

/// The tombstone cap may forget why a lease ended, but it must never let
/// the ended lease come back.
async fn an_ended_lease_pushed_out_of_the_tombstone_cap_is_still_never_restored(backend: Backend) {
    let s = Subject::new(backend, 3);
    let ended = s.take("alice", "movie").await.lease.lease_id;
    s.release("alice", ended).await;
    for n in 0..64 {
        s.pass(1);
        let lease = s.take("alice", &format!("s{n}")).await.lease.lease_id;
        s.release("alice", lease).await;
    }
    assert_eq!(s.restore("alice", ended, "movie", None).await, HeartbeatOutcome::NotFound);
    assert_eq!(s.active("alice").await, 0);
}

async fn a_restore_without_a_free_slot_is_denied(backend: Backend) {
    let s = Subject::new(backend, 1);
    let lost = s.take("alice", "movie").await.lease.lease_id;
    s.pass(TTL_MS + 100);
    let taken = s.take("alice", "news").await.lease.lease_id;
    let HeartbeatOutcome::Denied(Refusal { limit, active, leases, .. }) = s.restore("alice", lost, "movie", None).await
    else {
        panic!("not denied")
    };
    assert_eq!((limit, active, ids(&leases)), (1, 1, vec![taken]));
    assert_eq!(s.active("alice").await, 1);
}

async fn a_restore_never_gives_a_device_a_second_lease(backend: Backend) {
    let s = Subject::new(backend, 3);
    let lost = s.take_on("alice", "movie", "tv").await.lease.lease_id;
    s.pass(TTL_MS + 100);
    s.take_on("alice", "news", "tv").await;
    assert_eq!(s.restore("alice", lost, "movie", Some("tv")).await, HeartbeatOutcome::NotFound);
    assert_eq!(s.active("alice").await, 1);
}

// Limits

async fn a_limit_override_applies_and_can_be_removed(backend: Backend) {
    let s = Subject::new(backend, 3);
    let alice = user("alice");
    let total = async || s.store.user_limits(&alice, None).await.unwrap().total;
    assert_eq!(total().await, UserLimit { limit: 3, source: LimitSource::Default });
    s.set_limit("alice", Some(4)).await;
    assert_eq!(total().await, UserLimit { limit: 4, source: LimitSource::Override });
    for on in ["a", "b", "c", "d"] {
        assert_eq!(s.take("alice", on).await.limit, 4);
    }
    assert_eq!(s.list("alice").await.limit, 4);
    s.set_limit("alice", None).await;
    assert_eq!(total().await, UserLimit { limit: 3, source: LimitSource::Default });
}

async fn lowering_a_limit_keeps_running_leases_but_denies_new_ones(backend: Backend) {
    let s = Subject::new(backend, 3);
    let leases = [s.take("alice", "a").await, s.take("alice", "b").await, s.take("alice", "c").await];
    s.set_limit("alice", Some(1)).await;
    for granted in &leases {
        let again = renewed(s.heartbeat("alice", granted.lease.lease_id).await);
        assert_eq!((again.active, again.limit), (3, 1));
    }
    let AcquireOutcome::Denied { refusal: Refusal { limit, active, .. }, .. } = s.acquire("alice", "d").await else {
        panic!("not denied")
    };
    assert_eq!((limit, active), (1, 3));
    // Still denied after one leaves: 2 live, limit 1.
    s.release("alice", leases[0].lease.lease_id).await;
    assert!(matches!(s.acquire("alice", "d").await, AcquireOutcome::Denied { .. }));
}

/// The limit a player's token carries: above the default, below an admin
/// override; a restore honours it too.
async fn a_tokens_limit_applies_unless_an_admin_override_is_set(backend: Backend) {
    let s = Subject::new(backend, 3);
    let alice = user("alice");
    let with_token = |limit| move |r: &mut AcquireRequest| r.token_limits = Some(Arc::new(Limits::total(limit)));
    let (one, two) = (Limits::total(1), Limits::total(2));
    let first = created(s.acquire_with("alice", "a", with_token(1)).await);
    assert_eq!((first.limit, first.limit_source), (1, LimitSource::Token));
    let AcquireOutcome::Denied { refusal: Refusal { limit, limit_source, active, .. }, .. } =
        s.acquire_with("alice", "b", with_token(1)).await
    else {
        panic!("not denied under the token's limit")
    };
    assert_eq!((limit, limit_source, active), (1, LimitSource::Token, 1));
    // Without a token, the default.
    let second = s.take("alice", "b").await;
    assert_eq!((second.limit, second.limit_source), (3, LimitSource::Default));
    let renewed_with_token = s.store.heartbeat(&alice, second.lease.lease_id, None, Some(&two)).await.unwrap();
    assert_eq!(renewed(renewed_with_token).limit_source, LimitSource::Token);
    let listed = s.store.list(&alice, Some(&two)).await.unwrap();
    assert_eq!((listed.limit, listed.limit_source, listed.leases.len()), (2, LimitSource::Token, 2));
    // A restore under the token's limit finds no free slot.
    let restore = Restore { stream_id: stream("c"), device_id: None, device_name: None, classes: vec![] };
    let outcome = s.store.heartbeat(&alice, LeaseId::new_random(), Some(&restore), Some(&two)).await.unwrap();
    assert!(
        matches!(
            outcome,
            HeartbeatOutcome::Denied(Refusal { limit: 2, limit_source: LimitSource::Token, active: 2, .. })
        ),
        "{outcome:?}"
    );
    // An admin override wins over the token.
    s.set_limit("alice", Some(5)).await;
    let third = created(s.acquire_with("alice", "c", with_token(1)).await);
    assert_eq!((third.limit, third.limit_source), (5, LimitSource::Override));
    let listed = s.store.list(&alice, Some(&one)).await.unwrap();
    assert_eq!((listed.limit, listed.limit_source), (5, LimitSource::Override));
    s.set_limit("alice", None).await;
    let AcquireOutcome::Denied { refusal: Refusal { limit_source, .. }, .. } =
        s.acquire_with("alice", "d", with_token(2)).await
    else {
        panic!("not denied once the override is gone")
    };
    assert_eq!(limit_source, LimitSource::Token);
}

// Census

async fn a_census_counts_each_users_live_leases_and_limit(backend: Backend) {
    let s = Subject::new(backend, 3);
    s.take("alice", "a").await;
    s.take("alice", "b").await;
    s.set_limit("bob", Some(5)).await;
    s.take("bob", "a").await;
    s.take("carol", "a").await;
    s.pass(TTL_MS / 2);
    renewed(s.heartbeat("alice", s.list("alice").await.leases[0].lease_id).await);
    let mut users = s.store.census().await.unwrap().users;
    users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let counts: Vec<(&str, u32, u32)> = users.iter().map(|u| (u.user_id.as_str(), u.active, u.limit)).collect();
    assert_eq!(counts, vec![("alice", 2, 3), ("bob", 1, 5), ("carol", 1, 3)]);
    s.pass(TTL_MS / 2);
    let users = s.store.census().await.unwrap().users;
    let counts: Vec<(&str, u32)> = users.iter().map(|u| (u.user_id.as_str(), u.active)).collect();
    assert_eq!(counts, vec![("alice", 1)], "only the renewed lease is live");
}

// Classes

fn classes(names: &[&str]) -> Vec<ClassName> {
    names.iter().map(|n| ClassName::try_from(*n).unwrap()).collect()
}

impl Subject {
    async fn acquire_in(&self, who: &str, on: &str, names: &[&str], on_limit: OnLimit) -> AcquireOutcome {
        self.acquire_with(who, on, |r| {
            r.classes = classes(names);
            r.on_limit = on_limit;
        })
        .await
    }

    async fn take_in(&self, who: &str, on: &str, names: &[&str]) -> Granted {
        created(self.acquire_in(who, on, names, OnLimit::Deny).await)
    }
}

/// The limit a refusal names, its value, count and listed leases.
fn refused(outcome: AcquireOutcome) -> (String, u32, u32, Vec<LeaseId>, Vec<LeaseId>) {
    match outcome {
        AcquireOutcome::Denied { refusal, terminated } => {
            (refusal.limit_class.as_str().to_owned(), refusal.limit, refusal.active, ids(&refusal.leases), terminated)
        }
        other => panic!("not denied: {other:?}"),
    }
}

async fn a_lease_counts_against_the_total_and_each_of_its_classes(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "uhd=1,mobile=2");
    let tv = s.take_in("alice", "a", &["uhd"]).await;
    assert_eq!(tv.lease.classes, classes(&["uhd"]));
    assert_eq!(s.list("alice").await.leases[0].classes, classes(&["uhd"]), "the store keeps its classes");
    // uhd is full: a second uhd is refused by the class, with the uhd lease listed.
    let outcome = s.acquire_in("alice", "b", &["mobile", "uhd"], OnLimit::Deny).await;
    assert_eq!(refused(outcome), ("uhd".into(), 1, 1, vec![tv.lease.lease_id], vec![]));
    // Two mobile leases fill the total (3) and mobile (2) at once.
    let phone = s.take_in("alice", "c", &["mobile"]).await;
    let tablet = s.take_in("alice", "d", &["mobile"]).await;
    assert_eq!(tablet.active, 3);
    // A class named first refuses first; the total lists every lease.
    let outcome = s.acquire_in("alice", "e", &["mobile"], OnLimit::Deny).await;
    assert_eq!(refused(outcome), ("mobile".into(), 2, 2, vec![phone.lease.lease_id, tablet.lease.lease_id], vec![]));
    let outcome = s.acquire("alice", "e").await;
    let all = vec![tv.lease.lease_id, phone.lease.lease_id, tablet.lease.lease_id];
    assert_eq!(refused(outcome), ("total".into(), 3, 3, all, vec![]));
}

async fn at_a_class_limit_evict_oldest_ends_the_oldest_lease_of_that_class(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "uhd=1");
    let sd = s.take("alice", "a").await;
    s.pass(1);
    let uhd = s.take_in("alice", "b", &["uhd"]).await;
    s.pass(1);
    let outcome = s.acquire_in("alice", "c", &["uhd"], OnLimit::EvictOldest).await;
    let AcquireOutcome::Created { granted, evicted, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(evicted, vec![uhd.lease.lease_id], "the older sd lease frees no uhd slot and stays");
    assert_eq!(s.end_of("alice", uhd.lease.lease_id).await, (EndReason::Evicted, Some(granted.lease.lease_id)));
    renewed(s.heartbeat("alice", sd.lease.lease_id).await);
}

async fn terminate_at_a_class_limit_must_free_a_slot_of_that_class(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "uhd=1");
    let sd = s.take("alice", "a").await;
    let uhd = s.take_in("alice", "b", &["uhd"]).await;
    // Ending the sd lease makes no uhd room: refused, and nothing ends.
    let outcome = s
        .acquire_with("alice", "c", |r| {
            r.classes = classes(&["uhd"]);
            r.terminate = vec![sd.lease.lease_id];
        })
        .await;
    assert_eq!(refused(outcome), ("uhd".into(), 1, 1, vec![uhd.lease.lease_id], vec![]));
    renewed(s.heartbeat("alice", sd.lease.lease_id).await);
    // Ending the uhd lease does.
    let outcome = s
        .acquire_with("alice", "c", |r| {
            r.classes = classes(&["uhd"]);
            r.terminate = vec![uhd.lease.lease_id];
        })
        .await;
    let AcquireOutcome::Created { granted, terminated, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(terminated, vec![uhd.lease.lease_id]);
    assert_eq!(s.end_of("alice", uhd.lease.lease_id).await, (EndReason::Terminated, Some(granted.lease.lease_id)));
    // Below every limit, a termination is the player's own wish and holds.
    let outcome = s.acquire_with("alice", "d", |r| r.terminate = vec![sd.lease.lease_id]).await;
    assert!(matches!(outcome, AcquireOutcome::Created { ref terminated, .. } if terminated.len() == 1), "{outcome:?}");
}

async fn a_class_with_limit_0_is_refused_even_under_evict_oldest(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "live=0");
    let sd = s.take("alice", "a").await;
    for on_limit in [OnLimit::Deny, OnLimit::EvictOldest] {
        let outcome = s.acquire_in("alice", "b", &["live"], on_limit).await;
        assert_eq!(refused(outcome), ("live".into(), 0, 0, vec![], vec![]));
    }
    assert_eq!(s.active("alice").await, 1);
    renewed(s.heartbeat("alice", sd.lease.lease_id).await);
}

async fn an_exempt_class_counts_against_no_total(backend: Backend) {
    let s = Subject::with_classes(backend, 1, "uhd=1,trailer=*");
    s.take("alice", "movie").await;
    let first = s.take_in("alice", "t1", &["trailer"]).await;
    let second = s.take_in("alice", "t2", &["trailer"]).await;
    assert_eq!((first.active, second.active, second.limit), (2, 3, 1), "active counts every live lease");
    // Exempt from the total, but not from its other classes.
    let uhd_trailer = s.take_in("alice", "t3", &["uhd", "trailer"]).await;
    let outcome = s.acquire_in("alice", "t4", &["trailer", "uhd"], OnLimit::Deny).await;
    assert_eq!(refused(outcome), ("uhd".into(), 1, 1, vec![uhd_trailer.lease.lease_id], vec![]));
    // The total's list leaves the exempt leases out: ending them makes no room.
    let outcome = s.acquire("alice", "other").await;
    let (class, limit, active, listed, _) = refused(outcome);
    assert_eq!((class.as_str(), limit, active, listed.len()), ("total", 1, 1, 1));
}

async fn class_limits_come_from_the_override_else_the_token_else_the_default(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "uhd=1,mobile=2,trailer=*");
    let alice = user("alice");
    let token = Limits { limit: 4, classes: vec![(classes(&["uhd"])[0].clone(), 0)] };
    let with_token = |r: &mut AcquireRequest| {
        r.classes = classes(&["uhd"]);
        r.token_limits = Some(Arc::new(token.clone()));
    };
    // The token forbids uhd.
    let AcquireOutcome::Denied { refusal, .. } = s.acquire_with("alice", "a", with_token).await else { panic!() };
    assert_eq!((refusal.limit, refusal.limit_source), (0, LimitSource::Token));
    // An override of uhd alone wins over the token for uhd; the total stays the override's.
    let uhd_two = Limits { limit: 3, classes: vec![(classes(&["uhd"])[0].clone(), 2)] };
    s.store.set_limit(&alice, Some(&uhd_two)).await.unwrap();
    created(s.acquire_with("alice", "a", with_token).await);
    created(s.acquire_with("alice", "b", with_token).await);
    let AcquireOutcome::Denied { refusal, .. } = s.acquire_with("alice", "c", with_token).await else { panic!() };
    assert_eq!((refusal.limit_class.as_str(), refusal.limit, refusal.limit_source), ("uhd", 2, LimitSource::Override));
    let limits = s.store.user_limits(&alice, Some(&token)).await.unwrap();
    assert_eq!(limits.total, UserLimit { limit: 3, source: LimitSource::Override });
    let by_class: Vec<_> = limits.classes.iter().map(|c| (c.class.as_str(), c.limit, c.source)).collect();
    assert_eq!(
        by_class,
        [
            ("uhd", Some(2), LimitSource::Override),
            ("mobile", Some(2), LimitSource::Default),
            ("trailer", None, LimitSource::Default)
        ]
    );
    // Without the override, the token decides again.
    s.set_limit("alice", None).await;
    let limits = s.store.user_limits(&alice, Some(&token)).await.unwrap();
    assert_eq!((limits.total.source, limits.classes[0].limit), (LimitSource::Token, Some(0)));
}

async fn a_restore_respects_the_limits_of_its_classes(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "uhd=1");
    let held = s.take_in("alice", "a", &["uhd"]).await;
    let restore = |names: &[&str]| Restore {
        stream_id: stream("b"),
        device_id: None,
        device_name: None,
        classes: classes(names),
    };
    let lost = LeaseId::new_random();
    let outcome = s.store.heartbeat(&user("alice"), lost, Some(&restore(&["uhd"])), None).await.unwrap();
    let HeartbeatOutcome::Denied(refusal) = outcome else { panic!("{outcome:?}") };
    assert_eq!((refusal.limit_class.as_str(), refusal.limit, refusal.active), ("uhd", 1, 1));
    assert_eq!(ids(&refusal.leases), vec![held.lease.lease_id]);
    let outcome = s.store.heartbeat(&user("alice"), lost, Some(&restore(&[])), None).await.unwrap();
    let HeartbeatOutcome::Restored(granted) = outcome else { panic!("{outcome:?}") };
    assert_eq!((granted.active, granted.lease.classes.len()), (2, 0));
}

async fn a_device_moving_into_a_full_class_is_refused_or_evicts_there(backend: Backend) {
    let s = Subject::with_classes(backend, 3, "uhd=1");
    let tv = s.take_on("alice", "sd-movie", "tv").await;
    let phone = s.take_in("alice", "uhd-movie", &["uhd"]).await;
    let to_uhd = |on_limit| {
        move |r: &mut AcquireRequest| {
            r.device_id = device("tv");
            r.classes = classes(&["uhd"]);
            r.on_limit = on_limit;
        }
    };
    let outcome = s.acquire_with("alice", "uhd-2", to_uhd(OnLimit::Deny)).await;
    assert_eq!(refused(outcome), ("uhd".into(), 1, 1, vec![phone.lease.lease_id], vec![]));
    let outcome = s.acquire_with("alice", "uhd-2", to_uhd(OnLimit::EvictOldest)).await;
    let AcquireOutcome::Renewed { granted, evicted, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((granted.lease.lease_id, evicted), (tv.lease.lease_id, vec![phone.lease.lease_id]));
    assert_eq!(granted.lease.classes, classes(&["uhd"]));
    assert_eq!(s.end_of("alice", phone.lease.lease_id).await, (EndReason::Evicted, Some(tv.lease.lease_id)));
    // Staying in its classes, the device's lease renews even at the limit.
    let again = s.acquire_with("alice", "uhd-3", to_uhd(OnLimit::Deny)).await;
    assert!(matches!(again, AcquireOutcome::Renewed { .. }), "{again:?}");
}

async fn a_census_counts_each_class(backend: Backend) {
    let s = Subject::with_classes(backend, 2, "uhd=1,trailer=*");
    s.take_in("alice", "a", &["uhd"]).await;
    s.take_in("alice", "b", &["trailer"]).await;
    s.take("bob", "a").await;
    s.take_in("bob", "b", &["trailer"]).await;
    s.take_in("bob", "c", &["trailer"]).await;
    let mut users = s.store.census().await.unwrap().users;
    users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let seen: Vec<_> = users
        .iter()
        .map(|u| {
            let classes: Vec<_> = u.classes.iter().map(|c| (c.class.as_str(), c.active, c.at_limit)).collect();
            (u.user_id.as_str(), u.active, u.at_limit, classes)
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("alice", 2, false, vec![("uhd", 1, true), ("trailer", 1, false)]),
            ("bob", 3, false, vec![("trailer", 2, false)]),
        ],
        "exempt leases count in `active` but not toward the total's limit"
    );
}

on_every_store!(
    an_acquire_takes_a_slot_with_the_lease_asked_for,
    at_the_limit_an_acquire_is_denied_with_the_live_leases_oldest_first,
    users_do_not_share_a_limit,
    a_devices_second_acquire_renews_and_moves_its_lease,
    evict_oldest_ends_the_least_recently_renewed_lease,
    evict_oldest_after_a_lowered_limit_evicts_as_many_as_needed,
    terminate_ends_the_named_leases_and_takes_their_slot,
    terminate_cannot_touch_another_users_leases,
    a_device_renewal_can_terminate_other_leases_in_the_same_step,
    terminating_the_devices_own_lease_gives_it_a_new_one,
    terminations_hold_when_the_acquire_is_still_denied,
    a_heartbeat_renews_the_lease_and_moves_its_expiry,
    a_lease_is_only_found_under_its_own_user,
    a_released_or_revoked_lease_says_so_for_one_ttl_then_is_unknown,
    a_user_keeps_at_most_64_tombstones_newest_first,
    one_call_ending_more_than_64_leases_keeps_64_tombstones,
    an_abandoned_lease_stops_counting_at_its_expiry,
    heartbeats_keep_a_lease_alive_past_its_first_ttl,
    a_release_frees_the_slot_and_is_safe_to_repeat,
    the_list_shows_the_live_leases_oldest_first,
    leases_taken_within_one_millisecond_list_in_the_order_taken,
    a_lost_lease_is_restored_by_a_heartbeat_that_carries_its_stream,
    an_ended_lease_is_never_restored,
    an_ended_lease_pushed_out_of_the_tombstone_cap_is_still_never_restored,
    a_restore_without_a_free_slot_is_denied,
    a_restore_never_gives_a_device_a_second_lease,
    a_limit_override_applies_and_can_be_removed,
    lowering_a_limit_keeps_running_leases_but_denies_new_ones,
    a_tokens_limit_applies_unless_an_admin_override_is_set,
    a_census_counts_each_users_live_leases_and_limit,
    a_lease_counts_against_the_total_and_each_of_its_classes,
    at_a_class_limit_evict_oldest_ends_the_oldest_lease_of_that_class,
    terminate_at_a_class_limit_must_free_a_slot_of_that_class,
    a_class_with_limit_0_is_refused_even_under_evict_oldest,
    an_exempt_class_counts_against_no_total,
    class_limits_come_from_the_override_else_the_token_else_the_default,
    a_restore_respects_the_limits_of_its_classes,
    a_device_moving_into_a_full_class_is_refused_or_evicts_there,
    a_census_counts_each_class,
);
