//! The Redis store: each lease operation is one EVALSHA of a Lua script, so
//! every decision is atomic and judged by Redis' clock, however many service
//! instances share the Redis.

mod keys;
mod reply;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, RedisError, ScriptInvocation, Value};

use crate::domain::ledger::Terms;
use crate::domain::*;
use crate::store::{StoreError, StoreResult};
use keys::KeySpace;

/// How long one store call may take before the request gets 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct RedisStore {
    /// One multiplexed connection for the whole process, shared by every
    /// worker; it reconnects by itself.
    conn: ConnectionManager,
    keys: Arc<KeySpace>,
    terms: Terms,
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl RedisStore {
    /// Connects lazily: the service starts (and reports not ready) while
    /// Redis is down, and serves as soon as it answers.
    pub fn connect(url: &str, key_prefix: &str, terms: Terms) -> StoreResult<Self> {
        let client = redis::Client::open(url)?;
        // Reconnect attempts back off to at most RECONNECT_MAX_DELAY, so the
        // service notices a returning Redis within about that long.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { conn, keys: Arc::new(KeySpace::new(key_prefix)), terms })
    }

    /// Loads every script ahead of the first request, so that request is a
    /// plain EVALSHA rather than NOSCRIPT, SCRIPT LOAD and a retry.
    pub async fn load_scripts(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        for script in scripts::all() {
            script.prepare_invoke().load_async(&mut conn).await?;
        }
        Ok(())
    }

    pub async fn acquire(&self, req: &AcquireRequest) -> StoreResult<AcquireOutcome> {
        let keys = self.keys.user(&req.user_id);
        let mut call = scripts::ACQUIRE.prepare_invoke();
        call.key(&keys.leases)
            .key(&keys.ended)
            .key(&keys.limit)
            .arg(req.new_lease_id.to_string())
            .arg(req.stream_id.as_str())
            .arg(req.device_id.as_ref().map_or("", |d| d.as_str()))
            .arg(self.terms.ttl_ms)
            .arg(self.terms.default_limit)
            .arg(req.on_limit.as_str());
        for id in &req.terminate {
            call.arg(id.to_string());
        }
        reply::acquire(self.run(&call).await?)
    }

    pub async fn heartbeat(&self, user: &UserId, lease: LeaseId) -> StoreResult<HeartbeatOutcome> {
        let keys = self.keys.user(user);
        let value = self
            .run(
                scripts::HEARTBEAT
                    .key(&keys.leases)
                    .key(&keys.ended)
                    .key(&keys.limit)
                    .arg(lease.to_string())
                    .arg(self.terms.ttl_ms)
                    .arg(self.terms.default_limit),
            )
            .await?;
        reply::heartbeat(value)
    }

    pub async fn release(&self, user: &UserId, lease: LeaseId) -> StoreResult<ReleaseOutcome> {
        let keys = self.keys.user(user);
        let value = self
            .run(scripts::RELEASE.key(&keys.leases).key(&keys.ended).arg(lease.to_string()).arg(self.terms.ttl_ms))
            .await?;
        reply::release(value)
    }

    pub async fn list(&self, user: &UserId) -> StoreResult<UserLeases> {
        let keys = self.keys.user(user);
        let value = self.run(scripts::LIST.key(&keys.leases).key(&keys.limit).arg(self.terms.default_limit)).await?;
        reply::list(value)
    }

    pub async fn revoke_all(&self, user: &UserId) -> StoreResult<u32> {
        let keys = self.keys.user(user);
        let value = self.run(scripts::REVOKE.key(&keys.leases).key(&keys.ended).arg(self.terms.ttl_ms)).await?;
        reply::revoke(value)
    }

    pub async fn user_limit(&self, user: &UserId) -> StoreResult<UserLimit> {
        let key = self.keys.user(user).limit;
        let stored = self.query(redis::cmd("GET").arg(&key)).await?;
        let stored: Option<String> =
            redis::from_redis_value(stored).map_err(|e| StoreError::BadReply(format!("{key}: {e}")))?;
        match stored {
            None => Ok(UserLimit { limit: self.terms.default_limit, source: LimitSource::Default }),
            Some(s) => s
                .parse()
                .map(|limit| UserLimit { limit, source: LimitSource::Override })
                .map_err(|_| StoreError::BadReply(format!("limit override {s:?} at {key}"))),
        }
    }

    pub async fn set_limit(&self, user: &UserId, limit: Option<u32>) -> StoreResult<()> {
        let key = self.keys.user(user).limit;
        let cmd = match limit {
            // No TTL on purpose: an override is configuration, not state.
            Some(limit) => redis::cmd("SET").arg(&key).arg(limit).to_owned(),
            None => redis::cmd("DEL").arg(&key).to_owned(),
        };
        self.query(&cmd).await?;
        Ok(())
    }

    pub async fn ping(&self) -> StoreResult<()> {
        self.query(&redis::cmd("PING")).await.map(drop)
    }

    /// One script call, bounded by `CALL_TIMEOUT` in total: the connection's
    /// own timeouts do not cover waiting for a reconnect.
    async fn run(&self, call: &ScriptInvocation<'_>) -> StoreResult<Value> {
        let mut conn = self.conn.clone();
        within_deadline(call.invoke_async(&mut conn)).await
    }

    async fn query(&self, cmd: &Cmd) -> StoreResult<Value> {
        let mut conn = self.conn.clone();
        within_deadline(cmd.query_async(&mut conn)).await
    }
}

async fn within_deadline(call: impl Future<Output = redis::RedisResult<Value>>) -> StoreResult<Value> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(StoreError::from),
        Err(_) => Err(StoreError::Unavailable(format!("no answer within {CALL_TIMEOUT:?}"))),
    }
}
