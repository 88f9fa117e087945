//! Where leases live. One abstraction, two implementations with the same
//! semantics: Redis for production (any number of service instances), and an
//! embedded in-process store for a single instance without Redis.

pub mod embedded;
pub mod redis;

use std::sync::Arc;

use crate::domain::*;

pub use self::redis::RedisStore;
pub use embedded::EmbeddedStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer, or not in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Redis answered something our scripts never return: a bug or a
    /// foreign writer under our key prefix.
    #[error("unexpected reply from the store: {0}")]
    BadReply(String),
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
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Redis(_) => "redis",
            Store::Embedded(_) => "embedded",
        }
    }

    pub async fn acquire(&self, req: &AcquireRequest) -> StoreResult<AcquireOutcome> {
        match self {
            Store::Redis(s) => s.acquire(req).await,
            Store::Embedded(s) => Ok(s.acquire(req)),
        }
    }

    /// With `restore`, a lease the store lost is recreated (see `Restore`).
    pub async fn heartbeat(
        &self,
        user: &UserId,
        lease: LeaseId,
        restore: Option<&Restore>,
    ) -> StoreResult<HeartbeatOutcome> {
        match self {
            Store::Redis(s) => s.heartbeat(user, lease, restore).await,
            Store::Embedded(s) => Ok(s.heartbeat(user, lease, restore)),
        }
    }

    pub async fn release(&self, user: &UserId, lease: LeaseId) -> StoreResult<ReleaseOutcome> {
        match self {
            Store::Redis(s) => s.release(user, lease).await,
            Store::Embedded(s) => Ok(s.release(user, lease)),
        }
    }

    pub async fn list(&self, user: &UserId) -> StoreResult<UserLeases> {
        match self {
            Store::Redis(s) => s.list(user).await,
            Store::Embedded(s) => Ok(s.list(user)),
        }
    }

    pub async fn revoke_all(&self, user: &UserId) -> StoreResult<u32> {
        match self {
            Store::Redis(s) => s.revoke_all(user).await,
            Store::Embedded(s) => Ok(s.revoke_all(user)),
        }
    }

    pub async fn user_limit(&self, user: &UserId) -> StoreResult<UserLimit> {
        match self {
            Store::Redis(s) => s.user_limit(user).await,
            Store::Embedded(s) => Ok(s.user_limit(user)),
        }
    }

    /// `None` removes the override: back to the default.
    pub async fn set_limit(&self, user: &UserId, limit: Option<u32>) -> StoreResult<()> {
        match self {
            Store::Redis(s) => s.set_limit(user, limit).await,
            Store::Embedded(s) => {
                s.set_limit(user, limit);
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

    /// Answers when the store can serve requests.
    pub async fn ping(&self) -> StoreResult<()> {
        match self {
            Store::Redis(s) => s.ping().await,
            Store::Embedded(_) => Ok(()),
        }
    }
}
