//! The Redis store: each lease operation is one FCALL of a Lua function, so
//! every decision is atomic and judged by Redis' clock, however many service
//! instances share the Redis.

mod census;
mod clock;
mod connection;
mod errors;
mod keys;
mod record;
mod reply;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use redis::{Cmd, Value};

pub use census::CensusPace;

/// The function library of the lease scripts, as the store loads it.
pub fn library() -> &'static str {
    &scripts::LIBRARY.text
}

/// The lease scripts by file name, each with its function's name in Redis:
/// for tests that call them directly.
#[cfg(any(test, feature = "testing"))]
pub fn lease_functions() -> [(&'static str, &'static str); 7] {
    scripts::named().map(|(file, f)| (file, f.name()))
}

#[cfg(any(test, feature = "testing"))]
use crate::clock::Clock;
use crate::config::RedisTls;
use crate::domain::ledger::Terms;
use crate::domain::*;
use crate::store::{StoreError, StoreResult};
use clock::RedisClock;
use connection::{Connection, Connector};
use keys::KeySpace;
use reply::Reply;

/// How long one store call may take before the request gets 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// An acquire that Redis runs later than this after it was sent takes
/// nothing (see `acquire.lua`): by then its caller has, or soon will have,
/// answered 503. Shorter than `CALL_TIMEOUT`, leaving room for the reply's
/// way back and for the error in our estimate of Redis' clock.
const ACQUIRE_DEADLINE: Duration = Duration::from_millis(750);
// The census summary's two scripts, sent as EVAL: once a census period is
// too rare to be worth loading them.
/// SET with PX, even while Redis is out of memory.
const SHARE_SUMMARY: &str = "#!lua flags=allow-oom
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1";
/// GET, unless the value is longer than ARGV[1] bytes: then its length.
const BOUNDED_GET: &str = "#!lua flags=no-writes
local n = redis.call('STRLEN', KEYS[1])
if n > tonumber(ARGV[1]) then return n end
return redis.call('GET', KEYS[1])";
/// How long a readiness probe's key lives.
const READY_KEY_TTL_MS: u64 = 10_000;

/// Counters the store feeds as a side effect of its calls.
#[derive(Clone)]
pub struct StoreCounters {
    /// Expired leases the scripts report dropping.
    pub expired: IntCounter,
    /// Users a census could not read (corrupt data) and left out.
    pub census_skipped: IntCounter,
}

impl StoreCounters {
    /// Counters in no registry: for a store used outside the service
    /// (benchmarks, tests).
    pub fn detached() -> Self {
        let counter = |name: &str| IntCounter::new(name, "detached").expect("valid counter name");
        Self { expired: counter("expired"), census_skipped: counter("census_skipped") }
    }
}

#[derive(Clone)]
pub struct RedisStore {
    /// A multiplexed connection; it reconnects by itself. Each HTTP worker
    /// gets one of its own (`for_this_worker`), driven on that worker's
    /// thread, so a call never hops to another thread and back.
    conn: Connection,
    /// Where more connections come from (one per worker).
    connector: Connector,
    keys: Arc<KeySpace>,
    terms: Terms,
    counters: StoreCounters,
    clock: Arc<RedisClock>,
    census_pace: CensusPace,
}

impl RedisStore {
    /// Connects lazily: the service starts (and reports not ready) while
    /// Redis is down, and serves as soon as it answers.
    pub fn connect(
        url: &str,
        cluster: bool,
        tls: &RedisTls,
        key_prefix: &str,
        terms: Terms,
        counters: StoreCounters,
    ) -> StoreResult<Self> {
        let connector = Connector::new(url, cluster, tls).map_err(StoreError::Failed)?;
        let conn = connector.connect(CALL_TIMEOUT).map_err(StoreError::Failed)?;
        let keys = Arc::new(KeySpace::new(key_prefix));
        Ok(Self {
            conn,
            connector,
            keys,
            terms,
            counters,
            clock: Arc::new(RedisClock::new()),
            census_pace: CensusPace::default(),
        })
    }

    /// How much of Redis' time a census may take (see `census.rs`).
    pub fn with_census_pace(mut self, pace: CensusPace) -> Self {
        self.census_pace = pace;
        self
    }

    /// The same store on a connection of its own, driven by the runtime
    /// this is called on: an HTTP worker calls it once, at startup.
    pub fn for_this_worker(&self) -> StoreResult<Self> {
        let conn = self.connector.connect(CALL_TIMEOUT).map_err(StoreError::Failed)?;
        Ok(Self { conn, ..self.clone() })
    }

    /// Runs the scripts on `clock` instead of Redis `TIME`: for tests that
    /// compare this store with the embedded one step by step.
    #[cfg(any(test, feature = "testing"))]
    pub fn with_test_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Arc::new(RedisClock::fixed_by(clock));
        self
    }

    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    /// The total limit the scripts apply when there is no override: the
    /// token's, else the default.
    fn fallback_limit(&self, token: Option<&Limits>) -> u32 {
        token.map_or(self.terms.default_limit, |t| t.limit)
    }

    /// Loads the scripts' library ahead of the first request, so that
    /// request is a plain FCALL rather than "not found", a load and a retry.
    /// Not bounded by `CALL_TIMEOUT`: at startup, the connection's own error
    /// (a certificate refused, say) is what the log should name.
    pub async fn load_scripts(&self) -> StoreResult<()> {
        scripts::load().query_async::<Value>(&mut self.conn.clone()).await?;
        self.calibrate_clock().await
    }

    pub async fn acquire(&self, req: &AcquireRequest) -> StoreResult<AcquireOutcome> {
        let keys = self.keys.user(&req.user_id);
        let mut call = scripts::ACQUIRE.call();
        call.key(&keys.leases)
            .key(&keys.ended)
            .key(&keys.limit)
            .arg(self.clock.now_arg())
            .arg(self.clock.deadline_arg(ACQUIRE_DEADLINE))
            .arg(req.new_lease_id.to_string())
            .arg(req.stream_id.as_str())
            .arg(req.device_id.as_ref().map_or("", |d| d.as_str()))
            .arg(self.terms.ttl_ms)
            .arg(self.fallback_limit(req.token_limits.as_deref()))
            .arg(req.on_limit.as_str())
            .arg(record::name_arg(req.device_name.as_ref()))
            .arg(record::classes_arg(&req.classes))
            .arg(record::class_limits_arg(&self.terms.classes, req.token_limits.as_deref()));
        for id in &req.terminate {
            call.arg(id.to_string());
        }
        // Safe to send again on a broken connection: the script knows its
        // own lease id and answers a repeat without taking a second slot.
        let value = self.run(&call).await?;
        if reply::is_too_late(&value) {
            // Redis took nothing. Either it was slow, or our estimate of its
            // clock is off (it failed over to a host whose clock differs):
            // read it again, so the next acquire has a true deadline.
            if let Err(e) = self.calibrate_clock().await {
                log::debug!("reading Redis' clock after a late acquire failed: {}", e.with_causes());
            }
            return Err(StoreError::TooLate(ACQUIRE_DEADLINE));
        }
        reply::acquire(value, req.token_limits.as_deref()).map(|r| self.tally(r))
    }

    pub async fn heartbeat(
        &self,
        user: &UserId,
        lease: LeaseId,
        restore: Option<&Restore>,
        token: Option<&Limits>,
    ) -> StoreResult<HeartbeatOutcome> {
        let keys = self.keys.user(user);
        let mut call = scripts::HEARTBEAT.call();
        call.key(&keys.leases)
            .key(&keys.ended)
            .key(&keys.limit)
            .arg(self.clock.now_arg())
            .arg(lease.to_string())
            .arg(self.terms.ttl_ms)
            .arg(self.fallback_limit(token));
        if let Some(r) = restore {
            call.arg(r.stream_id.as_str())
                .arg(r.device_id.as_ref().map_or("", |d| d.as_str()))
                .arg(record::name_arg(r.device_name.as_ref()));
            // Without classes configured, the restore sends what it sent
            // before classes existed.
            if !self.terms.classes.is_empty() {
                call.arg(record::classes_arg(&r.classes)).arg(record::class_limits_arg(&self.terms.classes, token));
            }
        }
        let value = self.run(&call).await?;
        reply::heartbeat(value, token).map(|r| self.tally(r))
    }

    pub async fn release(&self, user: &UserId, lease: LeaseId) -> StoreResult<ReleaseOutcome> {
        self.end_one(user, lease, true).await
    }

    /// Removes the lease with no tombstone (see `Store::withdraw`).
    pub async fn withdraw(&self, user: &UserId, lease: LeaseId) -> StoreResult<()> {
        self.end_one(user, lease, false).await.map(drop)
    }

    async fn end_one(&self, user: &UserId, lease: LeaseId, tombstone: bool) -> StoreResult<ReleaseOutcome> {
        let keys = self.keys.user(user);
        let value = self
            .run(
                scripts::RELEASE
                    .key(&keys.leases)
                    .key(&keys.ended)
                    .arg(self.clock.now_arg())
                    .arg(lease.to_string())
                    .arg(self.terms.ttl_ms)
                    .arg(if tombstone { "1" } else { "0" }),
            )
            .await?;
        reply::release(value).map(|r| self.tally(r))
    }

    pub async fn list(&self, user: &UserId, token: Option<&Limits>) -> StoreResult<UserLeases> {
        let keys = self.keys.user(user);
        let value = self
            .run(
                scripts::LIST
                    .key(&keys.leases)
                    .key(&keys.limit)
                    .arg(self.clock.now_arg())
                    .arg(self.fallback_limit(token)),
            )
            .await?;
        reply::list(value, token)
    }

    pub async fn revoke_all(&self, user: &UserId) -> StoreResult<u32> {
        let keys = self.keys.user(user);
        let value = self
            .run(scripts::REVOKE.key(&keys.leases).key(&keys.ended).arg(self.clock.now_arg()).arg(self.terms.ttl_ms))
            .await?;
        reply::revoke(value).map(|r| self.tally(r))
    }

    pub async fn user_limits(&self, user: &UserId, token: Option<&Limits>) -> StoreResult<UserLimits> {
        let key = self.keys.user(user).limit;
        let stored = self.query(redis::cmd("GET").arg(&key)).await?;
        match reply::limit_override(&stored) {
            Ok(overridden) => Ok(self.terms.limits(overridden.as_ref(), token)),
            Err(StoreError::Corrupt(what)) => Err(StoreError::Corrupt(format!("{what} at {key}"))),
            Err(e) => Err(e),
        }
    }

    pub async fn set_limit(&self, user: &UserId, limits: Option<&Limits>) -> StoreResult<()> {
        let key = self.keys.user(user).limit;
        let cmd = match limits {
            // No TTL on purpose: an override is configuration, not state.
            Some(limits) => redis::cmd("SET").arg(&key).arg(record::encode_override(limits)).to_owned(),
            None => redis::cmd("DEL").arg(&key).to_owned(),
        };
        self.query(&cmd).await?;
        Ok(())
    }

    /// Takes or keeps the fleet's census lock for `ttl`; true when this
    /// instance (`holder`) holds it.
    pub async fn hold_census_lock(&self, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let key = self.keys.census_lock_key();
        let ttl_ms = ttl.as_millis() as u64;
        let value = self.run(scripts::CENSUS_LOCK.key(&key).arg(self.clock.now_arg()).arg(holder).arg(ttl_ms)).await?;
        Ok(matches!(value, Value::Int(1)))
    }

    /// Stores the census summary (JSON) for the other instances, for `ttl`.
    /// Allowed when Redis is out of memory, as the census itself is: the
    /// gauges must go on following the store, above all then, and the
    /// summary replaces one of the same bounded size.
    pub async fn save_census_summary(&self, summary: &str, ttl: Duration) -> StoreResult<()> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(SHARE_SUMMARY).arg(1).arg(self.keys.census_summary_key()).arg(summary).arg(ttl.as_millis() as u64);
        self.query(&eval).await.map(drop)
    }

    /// The last census summary any instance stored, if it has not expired
    /// and is at most `max_bytes` long (Redis checks the length first, so
    /// an oversized value never crosses the wire).
    pub async fn load_census_summary(&self, max_bytes: usize) -> StoreResult<Option<String>> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(BOUNDED_GET).arg(1).arg(self.keys.census_summary_key()).arg(max_bytes);
        match self.query(&eval).await? {
            Value::Int(length) => {
                Err(StoreError::Corrupt(format!("census summary of {length} bytes, over the {max_bytes} read here")))
            }
            summary => {
                redis::from_redis_value(summary).map_err(|e| StoreError::Corrupt(format!("census summary: {e}")))
            }
        }
    }

    /// Ready means able to write: a tiny key with a TTL, so an instance on a
    /// Redis that is out of memory or read-only is taken out of rotation.
    /// The same round trip reads Redis' clock; every instance pings each
    /// census period, so each keeps its acquire deadlines true.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(self.keys.ready_key()).arg(1).arg("PX").arg(READY_KEY_TTL_MS).ignore();
        pipe.cmd("TIME");
        self.timed_clock_read(&pipe).await
    }

    async fn calibrate_clock(&self) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("TIME");
        self.timed_clock_read(&pipe).await
    }

    /// Runs `pipe`, whose last reply is Redis `TIME`, and learns the offset
    /// between Redis' clock and ours from it.
    async fn timed_clock_read(&self, pipe: &redis::Pipeline) -> StoreResult<()> {
        let sent = self.clock.local_now_ms();
        let replies = self.pipeline(pipe).await?;
        let received = self.clock.local_now_ms();
        let time = replies.last().ok_or_else(|| StoreError::Corrupt("TIME: no reply".into()))?;
        self.clock.learn(reply::time(time)?, sent, received);
        Ok(())
    }

    /// One script call, bounded by `CALL_TIMEOUT` in total: the connection's
    /// own timeouts do not cover waiting for a reconnect. Every lease script
    /// is safe to send again, so when the call finds its connection broken
    /// (Redis restarted), it goes again on the new one: each worker's first
    /// call after a restart succeeds.
    pub(super) async fn run(&self, call: &scripts::Call) -> StoreResult<Value> {
        let cmd = call.cmd();
        let mut conn = self.conn.clone();
        within_deadline(async move {
            let (mut reloads, mut reconnected) = (0, false);
            loop {
                match cmd.query_async(&mut conn).await {
                    // Not loaded (a restart, a flush): load it and go again,
                    // up to four times if it is flushed away again meanwhile.
                    Err(e) if scripts::not_found(e.code(), e.detail()) && reloads < 4 => {
                        reloads += 1;
                        scripts::load().query_async::<Value>(&mut conn).await?;
                    }
                    Err(e) if !reconnected && broken(&e) => reconnected = true,
                    answer => return answer,
                }
            }
        })
        .await
    }

    async fn query(&self, cmd: &Cmd) -> StoreResult<Value> {
        let mut conn = self.conn.clone();
        within_deadline(async move {
            match cmd.query_async(&mut conn).await {
                Err(e) if broken(&e) => cmd.query_async(&mut conn).await,
                answer => answer,
            }
        })
        .await
    }

    /// One command to `node` (a cluster primary), or to the one server.
    async fn query_on(&self, cmd: &Cmd, node: Option<&(String, u16)>) -> StoreResult<Value> {
        let mut conn = self.conn.clone();
        within_deadline(async move { conn.on_node(cmd, node).await }).await
    }

    async fn pipeline(&self, pipe: &redis::Pipeline) -> StoreResult<Vec<Value>> {
        let mut conn = self.conn.clone();
        let replies = within_deadline(async move {
            match pipe.query_async(&mut conn).await {
                Err(e) if broken(&e) => pipe.query_async(&mut conn).await,
                answer => answer,
            }
        })
        .await?;
        redis::from_redis_value(replies).map_err(|e| StoreError::Corrupt(format!("pipeline: {e}")))
    }

    fn tally<T>(&self, reply: Reply<T>) -> T {
        self.counters.expired.inc_by(reply.expired);
        reply.outcome
    }
}

/// The connection broke under the call (not: Redis refused it, or was slow).
fn broken(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() || (e.is_io_error() && !e.is_timeout())
}

async fn within_deadline(call: impl Future<Output = redis::RedisResult<Value>>) -> StoreResult<Value> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(answer) => answer.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(CALL_TIMEOUT)),
    }
}
