//! Who takes the census behind the store-wide gauges, and how every
//! instance gets its result.
//!
//! A census reads every user in the store, so one per refresh period for
//! the whole fleet is enough, however many instances there are. Instances
//! take turns by a lock with an expiry: each refresh, every instance
//! asks for the census lock (taken when free, kept by its holder). The
//! holder takes the census and stores a summary (totals and the users with
//! most leases) with an expiry; every other instance reads that summary.
//! All of them publish the same numbers. Should the holder die, its lock
//! runs out within three refresh periods and another instance takes over;
//! the holder renews it every period while a census runs, so a census
//! longer than that (a huge keyspace) never has a second one beside it.
//! The embedded store serves one instance, which always takes its own.
//!
//! The gauges must keep following the store, above all while it is in
//! trouble: out of memory, the lock and the summary are still written
//! (scripts allowed to); on a read-only replica, where nobody can hold the
//! lock or share a summary, every instance takes a census of its own
//! (a census only reads).
//!
//! A shared summary is read with bounds (its size, then this instance's own
//! cap on per-user series), as anything that can write to Redis can write
//! it.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{Census, CensusSummary, Millis};
use crate::metrics::{Metrics, publish_census};
use crate::service::LeaseService;
use crate::store::{StoreError, StoreResult};

/// How many refresh periods the lock or a summary outlives its last renewal.
const PERIODS_TO_LIVE: u32 = 3;
/// Bytes a shared summary may take per per-user series (a 128-byte id, its
/// counts and JSON's punctuation fit), and for its totals.
const SUMMARY_BYTES_PER_USER: usize = 256;
const SUMMARY_BYTES_FIXED: usize = 4096;

pub struct CensusTaker {
    pub leases: LeaseService,
    pub metrics: Arc<Metrics>,
    pub refresh: Duration,
    /// Per-user series kept in a summary (`STREAMLEASE_METRICS_MAX_USERS`).
    pub max_users: usize,
    /// Whether this instance publishes per-user series.
    pub per_user: bool,
}

impl CensusTaker {
    /// Every refresh, forever: the first at once.
    pub async fn run(self) {
        let me = uuid::Uuid::new_v4().to_string();
        let mut ticks = tokio::time::interval(self.refresh);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_published: Option<Millis> = None;
        loop {
            ticks.tick().await;
            // What `/readyz` would answer, each refresh, traffic or not, so
            // alerts see an idle fleet's outage. (The same call re-reads
            // Redis' clock on every instance.)
            let ready = self.leases.ping().await.is_ok();
            self.metrics.store_ready.set(i64::from(ready));
            match self.latest(&me).await {
                Ok(Some(summary)) if last_published != Some(summary.taken_at_ms) => {
                    publish_census(&self.metrics, &summary, &self.leases.terms().classes, self.per_user);
                    last_published = Some(summary.taken_at_ms);
                }
                Ok(_) => {}
                Err(e) => log::warn!("metrics census failed, gauges keep their last values: {}", e.with_causes()),
            }
        }
    }

    /// The newest summary: this instance's own census when it holds the
    /// lock (or nobody can), else what the holder stored (none before its
    /// first census).
    async fn latest(&self, me: &str) -> StoreResult<Option<CensusSummary>> {
        let lifetime = self.refresh * PERIODS_TO_LIVE;
        let (take, share) = match self.leases.hold_census_lock(me, lifetime).await {
            Ok(held) => (held, true),
            Err(e) if e.refuses_writes() => (true, false),
            Err(e) => return Err(e),
        };
        if take {
            let census = self.census_holding(me, lifetime).await?;
            let summary = CensusSummary::of(
                census,
                &self.leases.terms().classes,
                self.max_users,
                chrono::Utc::now().timestamp_millis(),
            );
            if share {
                let shared = serde_json::to_string(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // Not shared (counted and logged as a store error): still
                // this instance's truth to publish.
                let _ = self.leases.save_census_summary(&shared, lifetime).await;
            }
            return Ok(Some(summary));
        }
        let max_bytes = SUMMARY_BYTES_FIXED + SUMMARY_BYTES_PER_USER * self.max_users;
        Ok(self.leases.load_census_summary(max_bytes).await?.map(|summary| summary.capped(self.max_users)))
    }

    /// Takes the census, renewing the lock every refresh period meanwhile.
    async fn census_holding(&self, me: &str, lifetime: Duration) -> StoreResult<Census> {
        let census = self.leases.census();
        tokio::pin!(census);
        let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + self.refresh, self.refresh);
        loop {
            tokio::select! {
                taken = &mut census => return taken,
                _ = renewals.tick() => {
                    // A failure is counted and logged; the census goes on.
                    if let Ok(false) = self.leases.hold_census_lock(me, lifetime).await {
                        log::warn!("the census lock went to another instance while this one counted");
                    }
                }
            }
        }
    }
}
