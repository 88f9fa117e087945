//! The census on Redis: every user's live leases and limit, read at little
//! cost to Redis and paced so it never takes more than its share of Redis'
//! time, however many users there are.
//!
//! A page is one `SCAN` of leases keys (never `KEYS`), then one round trip:
//! `TIME` and an `MGET` of the page's leases and limits. This side counts
//! the live records at that `TIME`. Reading a user so costs Redis about a
//! thirtieth of a script call, and a census reads every user, so only the
//! users who hold an expired record get the census script, which drops those
//! records and reports how many (for `streamlease_leases_expired_total`) in
//! one atomic step. Its answer, not ours, then counts for that user.
//!
//! On a Redis Cluster every primary is scanned, side by side, and a page is
//! read with a `GET` per key instead of the `MGET` (a command may not span
//! slots there); the GETs go out together on the node's connection. A
//! user whose slot moves to another primary while a census runs may be
//! counted twice or not at all by that one census; the next one is right.
//!
//! Pacing: each page's round trips are timed, and the next page waits so
//! that round trips take at most `share` of the census' wall time. A round
//! trip bounds from above what Redis spent on it (it also holds the way
//! there and back, and waiting behind other clients), so the census errs on
//! the slow side, and the busier Redis is, the more it yields.

use std::time::{Duration, Instant};

use redis::{Cmd, Value};

use super::{RedisStore, reply, scripts};
use crate::domain::*;
use crate::store::{StoreError, StoreResult};

/// Keys per SCAN page, and so users per pipeline.
const PAGE: usize = 1000;

/// The share of wall time a census may keep Redis busy with its round
/// trips, in (0, 1] (`STREAMLEASE_CENSUS_REDIS_PERCENT` / 100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CensusPace {
    share: f64,
}

impl CensusPace {
    pub fn percent(percent: u8) -> Self {
        Self { share: f64::from(percent.clamp(1, 100)) / 100.0 }
    }

    /// How long to wait after round trips that took `busy`.
    fn pause_after(&self, busy: Duration) -> Duration {
        busy.mul_f64((1.0 - self.share) / self.share)
    }
}

impl Default for CensusPace {
    fn default() -> Self {
        Self::percent(20)
    }
}

/// One user as a page's read found them: the census's count, and how many
/// expired records are stored beside the live ones.
struct Found {
    count: UserCount,
    expired: u32,
}

impl RedisStore {
    /// Every user with a live lease (see the module comment).
    pub async fn census(&self) -> StoreResult<Census> {
        // Every census also re-reads Redis' clock, so acquire deadlines
        // follow any drift between the two clocks.
        self.calibrate_clock().await?;
        // A cluster's users are spread over its primaries: scan each.
        let nodes = if self.connector.is_cluster() {
            self.primaries().await?.into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        // Primaries are counted side by side, each paced on its own: each
        // is a Redis of its own, with its own share of time to give.
        let counted =
            futures_util::future::try_join_all(nodes.iter().map(|node| self.census_of(node.as_ref()))).await?;
        Ok(Census { users: counted.into_iter().flatten().collect() })
    }

    /// Every user with a live lease on one server (`node` of a cluster, or
    /// the one primary), page by page.
    async fn census_of(&self, node: Option<&(String, u16)>) -> StoreResult<Vec<UserCount>> {
        let mut users = Vec::new();
        let mut cursor = 0;
        loop {
            let started = Instant::now();
            let (next, page) = self.scan_users(node, cursor).await?;
            users.extend(self.census_page(node, page).await?);
            if next == 0 {
                return Ok(users);
            }
            cursor = next;
            tokio::time::sleep(self.census_pace.pause_after(started.elapsed())).await;
        }
    }

    /// The cluster's primaries that are up, as `(host, port)`, from
    /// `CLUSTER NODES` ("<id> <host:port@bus-port> <flags> ...").
    async fn primaries(&self) -> StoreResult<Vec<(String, u16)>> {
        let nodes: String = redis::from_redis_value(self.query(&redis::cmd("CLUSTER").arg("NODES").to_owned()).await?)
            .map_err(|e| StoreError::Corrupt(format!("CLUSTER NODES: {e}")))?;
        let primaries = nodes
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let address = fields.nth(1)?;
                let flags = fields.next()?;
                let is_primary = flags.split(',').any(|f| f == "master") && !flags.contains("fail");
                let (host, port) = address.split('@').next()?.rsplit_once(':')?;
                is_primary.then(|| Some((host.to_owned(), port.parse().ok()?))).flatten()
            })
            .collect();
        Ok(primaries)
    }

    /// One SCAN page of leases keys (of `node`, on a cluster): the next
    /// cursor and the users found.
    async fn scan_users(&self, node: Option<&(String, u16)>, cursor: u64) -> StoreResult<(u64, Vec<UserId>)> {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor).arg("MATCH").arg(self.keys.leases_pattern()).arg("COUNT").arg(PAGE);
        let (next, keys): (u64, Vec<String>) = redis::from_redis_value(self.query_on(&scan, node).await?)
            .map_err(|e| StoreError::Corrupt(format!("SCAN: {e}")))?;
        Ok((next, keys.iter().filter_map(|k| self.keys.user_of_leases_key(k)).collect()))
    }

    /// `TIME` and every user's leases and limit: one MGET on a single
    /// primary; on a cluster, where a command may not span slots and users
    /// sit in different ones, a GET each, sent together on the node's
    /// multiplexed connection.
    async fn read_page(&self, node: Option<&(String, u16)>, users: &[UserId]) -> StoreResult<(Value, Vec<Value>)> {
        let keys: Vec<String> = users
            .iter()
            .flat_map(|user| {
                let keys = self.keys.user(user);
                [keys.leases, keys.limit]
            })
            .collect();
        if node.is_some() {
            let time = self.query_on(&redis::cmd("TIME"), node).await?;
            let gets: Vec<Cmd> = keys.iter().map(|key| redis::cmd("GET").arg(key).to_owned()).collect();
            let read = |get| async move {
                match self.query(get).await {
                    // As MGET answers it: a key of another type reads as none.
                    Err(StoreError::Failed(e)) if e.code() == Some("WRONGTYPE") => Ok(Value::Nil),
                    answer => answer,
                }
            };
            let values = futures_util::future::try_join_all(gets.iter().map(read)).await?;
            return Ok((time, values));
        }
        // One MGET for the page: a third of what a GET per key costs Redis.
        // (MGET answers nil for a key of another type: such a foreign key
        // under our prefix is left out like a vanished one.)
        let mut mget = redis::cmd("MGET");
        mget.arg(&keys);
        let mut pipe = redis::pipe();
        pipe.cmd("TIME").add_command(mget);
        let replies = self.pipeline(&pipe).await?;
        match <[Value; 2]>::try_from(replies) {
            Ok([time, Value::Array(values)]) => Ok((time, values)),
            other => Err(StoreError::Corrupt(format!("census page: unexpected replies {other:?}"))),
        }
    }

    async fn census_page(&self, node: Option<&(String, u16)>, users: Vec<UserId>) -> StoreResult<Vec<UserCount>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let (time, pairs) = self.read_page(node, &users).await?;
        let now = match self.clock.fixed_now() {
            Some(now) => now,
            None => reply::time(&time)?,
        };

        let mut counted = Vec::with_capacity(users.len());
        let mut expiring = Vec::new();
        let mut skipped: Option<(UserId, StoreError)> = None;
        for (user_id, pair) in users.into_iter().zip(pairs.chunks(2)) {
            match self.found(&user_id, pair, now) {
                // The key expired between SCAN and MGET: nobody to count.
                Ok(None) => {}
                Ok(Some(found)) if found.expired > 0 => expiring.push((user_id, found)),
                Ok(Some(found)) if found.count.active > 0 => counted.push(found.count),
                Ok(Some(_)) => {}
                // One user's unreadable data must not freeze every gauge:
                // that user is left out, counted and logged.
                Err(e) => {
                    self.counters.census_skipped.inc();
                    skipped.get_or_insert((user_id, e));
                }
            }
        }
        for user in self.drop_expired(expiring).await? {
            match user {
                Ok(count) => counted.extend(count),
                Err((user_id, e)) => {
                    self.counters.census_skipped.inc();
                    skipped.get_or_insert((user_id, e));
                }
            }
        }
        if let Some((user, e)) = skipped {
            log::error!("census left out user {user} and maybe others of this page: {}", e.with_causes());
        }
        Ok(counted)
    }

    /// What the MGET found for one user at `now`; `None` when the leases
    /// key is gone. The census sees no token, so limits are the override's
    /// or the default.
    fn found(&self, user_id: &UserId, pair: &[Value], now: Millis) -> StoreResult<Option<Found>> {
        let [leases, limit] = pair else {
            return Err(StoreError::Corrupt("census page: a reply short".into()));
        };
        let Some((live, expired)) = reply::live_and_expired(leases, now)? else {
            return Ok(None);
        };
        let limits = self.terms.limits(reply::limit_override(limit)?.as_ref(), None);
        let count = UserCount::of(
            user_id.clone(),
            &limits,
            live.iter().map(|classes| classes.split(',').filter(|c| !c.is_empty())),
        );
        Ok(Some(Found { count, expired }))
    }

    /// Runs the census script for users with expired records: it drops them
    /// and counts them, atomically and on Redis' clock, and its count of
    /// live leases is the one kept. A user whose data turns out unreadable
    /// is handed back with its error. While Redis refuses writes, the
    /// records stay and the page's own reading counts the user.
    async fn drop_expired(
        &self,
        users: Vec<(UserId, Found)>,
    ) -> StoreResult<Vec<Result<Option<UserCount>, (UserId, StoreError)>>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let replies = if self.connector.is_cluster() {
            // A pipeline may not span slots, and these users sit in many:
            // one call each, sent together on the multiplexed connection.
            let calls: Vec<_> = users
                .iter()
                .map(|(user, _)| {
                    let keys = self.keys.user(user);
                    let mut call = scripts::CENSUS.call();
                    call.key(&keys.leases).key(&keys.limit);
                    call.arg(self.clock.now_arg()).arg(self.terms.default_limit).arg(self.terms.ttl_ms);
                    call
                })
                .collect();
            futures_util::future::join_all(calls.iter().map(|call| self.run(call))).await
        } else {
            self.census_pipeline(&users).await?
        };
        let mut out = Vec::with_capacity(users.len());
        for ((user_id, found), reply) in users.into_iter().zip(replies) {
            // A refused call is judged like any Redis error (read-only,
            // busy...): only unreadable data is this user's own problem.
            // The count is the page's own reading at its `now`; the script
            // drops what expired and counts it, once across instances.
            let live = (found.count.active > 0).then_some(found.count);
            match reply.and_then(reply::census) {
                Ok(reply) => {
                    self.tally(reply);
                    out.push(Ok(live));
                }
                Err(e @ StoreError::Corrupt(_)) => out.push(Err((user_id, e))),
                Err(e) if e.refuses_writes() => out.push(Ok(live)),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The census script for each of `users`, in one pipeline on the one
    /// primary; each call's own error comes back as its own result.
    async fn census_pipeline(&self, users: &[(UserId, Found)]) -> StoreResult<Vec<StoreResult<Value>>> {
        let mut pipe = redis::pipe();
        // Per-command errors come back as values, so "not found" can be seen.
        pipe.ignore_errors();
        for (user, _) in users {
            let keys = self.keys.user(user);
            let mut call = scripts::CENSUS.key(&keys.leases);
            call.key(&keys.limit).arg(self.clock.now_arg()).arg(self.terms.default_limit).arg(self.terms.ttl_ms);
            pipe.add_command(call.into_cmd());
        }
        let mut replies = self.pipeline(&pipe).await?;
        let not_found =
            |v: &Value| matches!(v, Value::ServerError(e) if scripts::not_found(Some(e.code()), e.details()));
        if replies.iter().any(not_found) {
            // Redis restarted or flushed its functions since startup.
            self.query(&scripts::load()).await?;
            replies = self.pipeline(&pipe).await?;
        }
        let result = |value| match value {
            Value::ServerError(e) => Err(StoreError::from(redis::RedisError::from(e))),
            value => Ok(value),
        };
        Ok(replies.into_iter().map(result).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_keeps_round_trips_to_their_share() {
        let busy = Duration::from_millis(10);
        assert_eq!(CensusPace::percent(10).pause_after(busy), Duration::from_millis(90));
        assert_eq!(CensusPace::percent(50).pause_after(busy), Duration::from_millis(10));
        assert_eq!(CensusPace::percent(100).pause_after(busy), Duration::ZERO);
        // Out of range is clamped, never a division by zero.
        assert_eq!(CensusPace::percent(0).pause_after(busy), Duration::from_millis(990));
    }
}
