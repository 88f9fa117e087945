//! The lease vocabulary: what a lease is, and every outcome a lease operation
//! can have. Stores produce these; the HTTP layer maps them to responses.

use super::ids::{DeviceId, DeviceName, LeaseId, StreamId, UserId};

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
    pub on_limit: OnLimit,
    pub terminate: Vec<LeaseId>,
    pub new_lease_id: LeaseId,
    /// The limit the player's token carries, if it does: it applies unless
    /// an admin override is set.
    pub token_limit: Option<u32>,
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
    /// moved to the stream asked for (the next episode keeps its slot).
    Renewed { granted: Granted, terminated: Vec<LeaseId> },
    /// At the limit under `deny`. `leases` are the live ones, oldest first;
    /// `terminated` were ended on request all the same.
    Denied { limit: u32, limit_source: LimitSource, active: u32, leases: Vec<Lease>, terminated: Vec<LeaseId> },
}

/// What a heartbeat may carry (as its JSON body) so a lease the store lost
/// (Redis restarted without persistence, a failover dropped writes) can be
/// recreated. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Restore {
    pub stream_id: StreamId,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<DeviceName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    Renewed(Granted),
    /// The store did not know the lease and nothing ended it: recreated
    /// under the same id, as the user had a free slot.
    Restored(Granted),
    /// Restore asked for, but the user has no free slot.
    Denied {
        limit: u32,
        limit_source: LimitSource,
        active: u32,
        leases: Vec<Lease>,
    },
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
}

/// Every user with at least one live lease.
#[derive(Debug, Default)]
pub struct Census {
    pub users: Vec<UserCount>,
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
}

impl CensusSummary {
    pub fn of(mut census: Census, max_users: usize, taken_at_ms: Millis) -> Self {
        let users = &mut census.users;
        users.retain(|u| u.active > 0);
        let summary = CensusSummary {
            taken_at_ms,
            active_leases: users.iter().map(|u| u64::from(u.active)).sum(),
            active_users: users.len() as u64,
            users_at_limit: users.iter().filter(|u| u.active >= u.limit).count() as u64,
            truncated: users.len() > max_users,
            top: Vec::new(),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    Default,
    /// The player's token carried it (`STREAMLEASE_JWT_LIMIT_CLAIM`).
    Token,
    Override,
}

impl LimitSource {
    /// Where a limit came from, given whether the store's override decided
    /// it and whether the token carried one: override, then token, then
    /// the default.
    pub fn of(overridden: bool, token_limit: Option<u32>) -> Self {
        match (overridden, token_limit) {
            (true, _) => LimitSource::Override,
            (false, Some(_)) => LimitSource::Token,
            (false, None) => LimitSource::Default,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserLimit {
    pub limit: u32,
    pub source: LimitSource,
}
