//! Where leases live. One abstraction, two implementations with the same
//! semantics: Redis for production (any number of service instances), and an
//! embedded in-process store for a single instance without Redis.

pub mod embedded;
pub mod redis;

use std::sync::Arc;

use crate::domain::ledger::Terms;
use crate::domain::*;

pub use self::redis::{CensusPace, RedisStore, StoreCounters};
pub use embedded::EmbeddedStore;

/// Why a store call failed. The kind decides the answer: only a store that
/// could not be reached in time is `store_unavailable` (and may fail open);
/// the rest keep their cause for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No answer within the call's deadline.
    #[error("no answer from the store within {0:?}")]
    Timeout(std::time::Duration),
    /// Too many calls already wait on the store: this one was not sent
    /// (see `shedding.rs`).
    #[error("too many store calls under way; not sent")]
    Overloaded,
    /// The store answered that the call reached it after its deadline and
    /// did nothing (an acquire, see `acquire.lua`).
    #[error("the store ran the call later than {0:?} after it was sent, and did nothing")]
    TooLate(std::time::Duration),
    /// The store could not be reached, or said it cannot serve right now
    /// (loading, failing over, busy).
    #[error("the store is unavailable")]
    Unavailable(#[source] ::redis::RedisError),
    /// Redis reached `maxmemory` and refuses to grow (`noeviction`).
    #[error("the store is out of memory")]
    OutOfMemory(#[source] ::redis::RedisError),
    /// Redis is a read-only replica (a failover gone wrong).
    #[error("the store is read-only")]
    ReadOnly(#[source] ::redis::RedisError),
    /// The store answered with an error: a script failed, a command was
    /// refused. A bug or a misconfiguration, not an outage.
    #[error("the store failed the call")]
    Failed(#[source] ::redis::RedisError),
    /// The store holds or returned data we cannot read: corruption, or a
    /// foreign writer under our key prefix.
    #[error("corrupt data in the store: {0}")]
    Corrupt(String),
}

/// Why a store call failed, as `streamlease_store_errors_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    Unavailable,
    OutOfMemory,
    ReadOnly,
    Failed,
    Corrupt,
}

impl StoreErrorKind {
    pub const ALL: &[StoreErrorKind] =
        &[Self::Unavailable, Self::OutOfMemory, Self::ReadOnly, Self::Failed, Self::Corrupt];

    /// The `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::OutOfMemory => "out_of_memory",
            Self::ReadOnly => "read_only",
            Self::Failed => "failed",
            Self::Corrupt => "corrupt",
        }
    }
}

impl StoreError {
    /// Could not reach the store in time: the one failure that may be brief
    /// and that fail-open mode answers for.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Timeout(_) | StoreError::TooLate(_) | StoreError::Unavailable(_))
    }

    /// A call that failed this way may still have run in Redis (it timed
    /// out, or its connection broke after it was sent); one refused before
    /// sending (no connection) did not.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            StoreError::Timeout(_) => true,
            StoreError::Unavailable(e) => {
                e.is_timeout() || e.is_connection_dropped() || (e.is_io_error() && !e.is_connection_refusal())
            }
            _ => false,
        }
    }

    /// The store refuses writes (full, or a read-only replica) but may
    /// still answer reads.
    pub fn refuses_writes(&self) -> bool {
        matches!(self, StoreError::OutOfMemory(_) | StoreError::ReadOnly(_))
    }

    /// How the store failed; `None` for a call shed before it was sent,
    /// which is no store error (see
    /// `streamlease_lease_operations_total{outcome="shed"}`).
    pub fn kind(&self) -> Option<StoreErrorKind> {
        match self {
            StoreError::Timeout(_) | StoreError::TooLate(_) | StoreError::Unavailable(_) => {
                Some(StoreErrorKind::Unavailable)
            }
            StoreError::Overloaded => None,
            StoreError::OutOfMemory(_) => Some(StoreErrorKind::OutOfMemory),
            StoreError::ReadOnly(_) => Some(StoreErrorKind::ReadOnly),
            StoreError::Failed(_) => Some(StoreErrorKind::Failed),
            StoreError::Corrupt(_) => Some(StoreErrorKind::Corrupt),
        }
    }

    /// This error and every cause below it, for the log.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(inner) = cause {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            cause = inner.source();
        }
        text
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The store the service runs on. An enum rather than a trait object: two
/// implementations, known at compile time, and no boxed future per request.
#[derive(Clone)]
pub enum Store {
    Redis(RedisStore),
    Embedded(Arc<EmbeddedStore>),
}

impl Store {
    /// The terms leases are granted on here.
    pub fn terms(&self) -> &Terms {
        match self {
            Store::Redis(s) => s.terms(),
            Store::Embedded(s) => s.terms(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Redis(_) => "redis",
            Store::Embedded(_) => "embedded",
        }
    }

    /// The handle an HTTP worker uses: on Redis, a connection of the
    /// worker's own; the embedded store is shared as it is.
    pub fn for_this_worker(&self) -> StoreResult<Self> {
        match self {
            Store::Redis(s) => s.for_this_worker().map(Store::Redis),
            Store::Embedded(s) => Ok(Store::Embedded(s.clone())),
        }
    }

    pub async fn acquire(&self, req: &AcquireRequest) -> StoreResult<AcquireOutcome> {
        match self {
            Store::Redis(s) => s.acquire(req).await,
            Store::Embedded(s) => Ok(s.acquire(req)),
        }
    }

    /// With `restore`, a lease the store lost is recreated (see `Restore`).
    /// `token`: the limits the player's token carries, if it does.
    pub async fn heartbeat(
        &self,
        user: &UserId,
        lease: LeaseId,
        restore: Option<&Restore>,
        token: Option<&Limits>,
    ) -> StoreResult<HeartbeatOutcome> {
        match self {
            Store::Redis(s) => s.heartbeat(user, lease, restore, token).await,
            Store::Embedded(s) => Ok(s.heartbeat(user, lease, restore, token)),
        }
    }

    pub async fn release(&self, user: &UserId, lease: LeaseId) -> StoreResult<ReleaseOutcome> {
        match self {
            Store::Redis(s) => s.release(user, lease).await,
            Store::Embedded(s) => Ok(s.release(user, lease)),
        }
    }

    pub async fn list(&self, user: &UserId, token: Option<&Limits>) -> StoreResult<UserLeases> {
        match self {
            Store::Redis(s) => s.list(user, token).await,
            Store::Embedded(s) => Ok(s.list(user, token)),
        }
    }

    pub async fn revoke_all(&self, user: &UserId) -> StoreResult<u32> {
        match self {
            Store::Redis(s) => s.revoke_all(user).await,
            Store::Embedded(s) => Ok(s.revoke_all(user)),
        }
    }

    /// Every limit of the user, given the limits their token carries.
    pub async fn user_limits(&self, user: &UserId, token: Option<&Limits>) -> StoreResult<UserLimits> {
        match self {
            Store::Redis(s) => s.user_limits(user, token).await,
            Store::Embedded(s) => Ok(s.user_limits(user, token)),
        }
    }

    /// The admin override; `None` removes it: back to the default.
    pub async fn set_limit(&self, user: &UserId, limits: Option<&Limits>) -> StoreResult<()> {
        match self {
            Store::Redis(s) => s.set_limit(user, limits).await,
            Store::Embedded(s) => {
                s.set_limit(user, limits.cloned());
                Ok(())
            }
        }
    }

    /// Every user with a live lease, read from the store itself.
    pub async fn census(&self) -> StoreResult<Census> {
        match self {
            Store::Redis(s) => s.census().await,
            Store::Embedded(s) => Ok(s.census()),
        }
    }

    /// Takes or keeps the census lock: only its holder takes the census.
    /// The embedded store serves one instance, which always holds it.
    pub async fn hold_census_lock(&self, holder: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        match self {
            Store::Redis(s) => s.hold_census_lock(holder, ttl).await,
            Store::Embedded(_) => Ok(true),
        }
    }

    /// Shares a census summary (JSON) with the other instances.
    pub async fn save_census_summary(&self, summary: &str, ttl: std::time::Duration) -> StoreResult<()> {
        match self {
            Store::Redis(s) => s.save_census_summary(summary, ttl).await,
            Store::Embedded(_) => Ok(()),
        }
    }

    /// The summary the census lock holder shared last, if any and if at
    /// most `max_bytes` long.
    pub async fn load_census_summary(&self, max_bytes: usize) -> StoreResult<Option<String>> {
        match self {
            Store::Redis(s) => s.load_census_summary(max_bytes).await,
            Store::Embedded(_) => Ok(None),
        }
    }

    /// Answers when the store can serve requests, writes included.
    pub async fn ping(&self) -> StoreResult<()> {
        match self {
            Store::Redis(s) => s.ping().await,
            Store::Embedded(_) => Ok(()),
        }
    }

    /// Takes back a lease whose acquire may have been applied after its
    /// player was told it failed: nobody knows that lease, so it must not
    /// hold a slot. Leaves no tombstone. The embedded store never fails an
    /// acquire, so it has nothing to take back.
    pub async fn withdraw(&self, user: &UserId, lease: LeaseId) -> StoreResult<()> {
        match self {
            Store::Redis(s) => s.withdraw(user, lease).await,
            Store::Embedded(_) => Ok(()),
        }
    }
}
