//! The lease vocabulary: what a lease is, and every outcome a lease operation
//! can have. Stores produce these; the HTTP layer maps them to responses.

use std::sync::Arc;

use super::ids::{DeviceId, DeviceName, LeaseId, StreamId, UserId};
use super::limits::{ClassName, Classes, LimitClass, Limits, UserLimits};
pub use super::limits::{LimitSource, UserLimit};

/// Milliseconds since the Unix epoch, by the store's clock.
pub type Millis = i64;

/// One stream being played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub lease_id: LeaseId,
    pub stream_id: StreamId,
    pub device_id: Option<DeviceId>,
    /// What the viewer calls the device, for the limit chooser.
    pub device_name: Option<DeviceName>,
    /// The classes it counts against (see `limits.rs`), as the acquire
    /// named them.
    pub classes: Vec<ClassName>,
    pub acquired_at: Millis,
    /// Last renewal plus the TTL. Every lease has the same TTL, so the
    /// earliest expiry is also the least recently renewed lease, which is
    /// the one `evict_oldest` ends.
    pub expires_at: Millis,
}

impl Lease {
    pub fn is_live(&self, now: Millis) -> bool {
        self.expires_at > now
    }

    /// Order of listings: oldest first. Both stores keep leases in the order
    /// they were taken, and a stable sort by this key keeps that order for
    /// leases taken within the same millisecond.
    pub fn by_age(a: &Lease, b: &Lease) -> std::cmp::Ordering {
        a.acquired_at.cmp(&b.acquired_at)
    }
}

/// What to do when an acquire finds the user at their limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    Deny,
    EvictOldest,
}

impl OnLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            OnLimit::Deny => "deny",
            OnLimit::EvictOldest => "evict_oldest",
        }
    }
}

/// Why a lease ended before it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Released,
    Evicted,
    Terminated,
    Revoked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Released => "released",
            EndReason::Evicted => "evicted",
            EndReason::Terminated => "terminated",
            EndReason::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Released, Self::Evicted, Self::Terminated, Self::Revoked].into_iter().find(|r| r.as_str() == s)
    }
}

/// The tombstone of a lease that was ended, kept for at least one TTL so the
/// player's next heartbeat learns why it was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub reason: EndReason,
    /// The lease that took this one's place (eviction, termination).
    pub by_lease_id: Option<LeaseId>,
    pub ended_at: Millis,
}

/// Everything an acquire needs; the caller mints `new_lease_id` so the store
/// scripts stay deterministic.
#[derive(Debug, Clone)]
pub struct AcquireRequest {
    pub user_id: UserId,
    pub stream_id: StreamId,
    pub device_id: Option<DeviceId>,
    /// Replaces the name the device's lease had, when given.
    pub device_name: Option<DeviceName>,
    /// Configured classes, once each, at most four (`Classes::check`).
    pub classes: Vec<ClassName>,
    pub on_limit: OnLimit,
    pub terminate: Vec<LeaseId>,
    pub new_lease_id: LeaseId,
    /// The limits the player's token carries, if it does: each applies
    /// unless an admin override states that limit.
    pub token_limits: Option<Arc<Limits>>,
}

/// A lease together with the user's state right after the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub lease: Lease,
    /// The user's live lease count after the operation.
    pub active: u32,
    pub limit: u32,
    pub limit_source: LimitSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireOutcome {
    /// A new lease took a slot.
    Created { granted: Granted, evicted: Vec<LeaseId>, terminated: Vec<LeaseId> },
    /// The device already held a live lease; it was renewed instead, and
    /// moved to the stream (and classes) asked for: the next episode keeps
    /// its slot. `evicted` made room in a class it did not count against.
    Renewed { granted: Granted, evicted: Vec<LeaseId>, terminated: Vec<LeaseId> },
    /// A limit had no room, and `on_limit` could not make any.
    /// `terminated` were ended on request all the same.
    Denied { refusal: Refusal, terminated: Vec<LeaseId> },
}

/// Which limit refused a lease, and the leases whose ending would make room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub limit_class: LimitClass,
    /// That limit and what decided it.
    pub limit: u32,
    pub limit_source: LimitSource,
    /// The live leases counting against it.
    pub active: u32,
    /// Those leases, oldest first.
    pub leases: Vec<Lease>,
}

/// What a heartbeat may carry (as its JSON body) so a lease the store lost
/// (Redis restarted without persistence, a failover dropped writes) can be
/// recreated. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Restore {
    pub stream_id: StreamId,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<DeviceName>,
    /// The lease's classes: a restore is decided against their limits.
    #[serde(default)]
    pub classes: Vec<ClassName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    Renewed(Granted),
    /// The store did not know the lease and nothing ended it: recreated
    /// under the same id, as the user had a free slot.
    Restored(Granted),
    /// Restore asked for, but a limit of the lease has no room.
    Denied(Refusal),
    /// Expired, or never known: the player should acquire again.
    NotFound,
    /// Ended on purpose: the player should stop and say why.
    Ended(Ended),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released,
    /// Already released, ended, expired or never known. Not an error:
    /// release must be safe to retry.
    AlreadyGone,
}

/// A user's live leases, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLeases {
    pub limit: u32,
    pub limit_source: LimitSource,
    pub leases: Vec<Lease>,
}

/// One user's live leases and limit, as a census finds them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserCount {
    pub user_id: UserId,
    pub active: u32,
    pub limit: u32,
    /// Whether the leases that count against the total reach it (leases of
    /// an exempt class do not count). Not shared: the summary has the sum.
    #[serde(skip)]
    pub at_limit: bool,
    /// The configured classes the user holds leases of. Not shared either.
    #[serde(skip)]
    pub classes: Vec<ClassCount>,
}

impl UserCount {
    /// What a census reports of `user_id`, of `limits`, whose live leases
    /// have the classes `leases` gives (names as stored; one not configured
    /// counts like none).
    pub fn of<'a, L, C>(user_id: UserId, limits: &UserLimits, leases: L) -> Self
    where
        L: IntoIterator<Item = C>,
        C: IntoIterator<Item = &'a str>,
    {
        let (mut active, mut counted) = (0u32, 0u32);
        let mut per_class = vec![0u32; limits.classes.len()];
        for classes in leases {
            active += 1;
            let mut exempt = false;
            for name in classes {
                if let Some(i) = limits.classes.iter().position(|c| c.class.as_str() == name) {
                    per_class[i] += 1;
                    exempt |= limits.classes[i].limit.is_none();
                }
            }
            counted += u32::from(!exempt);
        }
        let classes = limits
            .classes
            .iter()
            .zip(per_class)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| ClassCount { class: c.class.clone(), active: n, at_limit: c.limit.is_some_and(|l| n >= l) })
            .collect();
        UserCount { user_id, active, limit: limits.total.limit, at_limit: counted >= limits.total.limit, classes }
    }
}

/// A user's live leases of one class, and whether they reach its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCount {
    pub class: ClassName,
    pub active: u32,
    pub at_limit: bool,
}

/// Every user with at least one live lease.
#[derive(Debug, Default)]
pub struct Census {
    pub users: Vec<UserCount>,
}

/// One configured class over every user, from one census.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassSummary {
    pub class: ClassName,
    pub active_leases: u64,
    pub users_at_limit: u64,
}

/// What the store-wide gauges show, from one census: totals over every user,
/// and the users with most leases (at most the per-user cap, ties by id).
/// One instance takes the census; every instance publishes this.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CensusSummary {
    /// When the census was taken, by the taking instance's clock.
    pub taken_at_ms: Millis,
    pub active_leases: u64,
    pub active_users: u64,
    pub users_at_limit: u64,
    /// True when the cap left users out of `top`.
    pub truncated: bool,
    /// The users with most leases, most first.
    pub top: Vec<UserCount>,
    /// One entry per configured class, in the configured order.
    #[serde(default)]
    pub classes: Vec<ClassSummary>,
}

impl CensusSummary {
    pub fn of(mut census: Census, classes: &Classes, max_users: usize, taken_at_ms: Millis) -> Self {
        let users = &mut census.users;
        users.retain(|u| u.active > 0);
        let mut by_class: Vec<ClassSummary> = classes
            .iter()
            .map(|(class, _)| ClassSummary { class: class.clone(), active_leases: 0, users_at_limit: 0 })
            .collect();
        for count in users.iter().flat_map(|u| &u.classes) {
            if let Some(summary) = by_class.iter_mut().find(|s| s.class == count.class) {
                summary.active_leases += u64::from(count.active);
                summary.users_at_limit += u64::from(count.at_limit);
            }
        }
        let summary = CensusSummary {
            taken_at_ms,
            active_leases: users.iter().map(|u| u64::from(u.active)).sum(),
            active_users: users.len() as u64,
            users_at_limit: users.iter().filter(|u| u.at_limit).count() as u64,
            truncated: users.len() > max_users,
            top: Vec::new(),
            classes: by_class,
        };
        if summary.truncated && max_users > 0 {
            users.select_nth_unstable_by(max_users - 1, most_first);
        }
        users.truncate(max_users);
        users.sort_by(most_first);
        CensusSummary { top: census.users, ..summary }
    }

    /// This summary with at most `max_users` per-user entries: each reader
    /// applies its own cap, whatever cap (or writer) made the summary.
    pub fn capped(mut self, max_users: usize) -> Self {
        if self.top.len() > max_users {
            self.top.sort_by(most_first);
            self.top.truncate(max_users);
            self.truncated = true;
        }
        self
    }
}

/// The order of `CensusSummary::top`: most leases first, ties by id.
fn most_first(a: &UserCount, b: &UserCount) -> std::cmp::Ordering {
    b.active.cmp(&a.active).then_with(|| a.user_id.cmp(&b.user_id))
}
