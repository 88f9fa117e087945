//! Who takes the census behind the store-wide gauges, and how every
//! instance gets its result.
//!
//! A census reads every user in the store, so one per refresh period for
//! the whole fleet is enough, however many instances there are. Instances
//! take turns by a lease of their own kind: each refresh, every instance
//! asks for the census lease (taken when free, kept by its holder). The
//! holder takes the census and stores a summary (totals and the users with
//! most leases) with an expiry; every other instance reads that summary.
//! All of them publish the same numbers. Should the holder die, its lease
//! runs out within three refresh periods and another instance takes over.
//! The embedded store serves one instance, which always takes its own.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{CensusSummary, Millis};
use crate::metrics::{Metrics, publish_census};
use crate::service::Leases;
use crate::store::{StoreError, StoreResult};

/// How many refresh periods a lease or a summary outlives its last renewal.
const PERIODS_TO_LIVE: u32 = 3;

pub struct CensusTaker {
    pub leases: Leases,
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
            let latest = self.latest(&me).await;
            // Every instance calls the store here each refresh, traffic or
            // not, so this is a readiness probe alerts can watch.
            let unready = matches!(
                latest,
                Err(StoreError::Timeout(_)
                    | StoreError::TooLate(_)
                    | StoreError::Unavailable(_)
                    | StoreError::OutOfMemory(_)
                    | StoreError::ReadOnly(_))
            );
            self.metrics.store_ready.set(i64::from(!unready));
            match latest {
                Ok(Some(summary)) if last_published != Some(summary.taken_at_ms) => {
                    publish_census(&self.metrics, &summary, self.per_user);
                    last_published = Some(summary.taken_at_ms);
                }
                Ok(_) => {}
                Err(e) => log::warn!("metrics census failed, gauges keep their last values: {}", e.with_causes()),
            }
        }
    }

    /// The newest summary: this instance's own census when it holds the
    /// lease, else what the holder stored (none before its first census).
    async fn latest(&self, me: &str) -> StoreResult<Option<CensusSummary>> {
        let lifetime = self.refresh * PERIODS_TO_LIVE;
        if self.leases.hold_census_lease(me, lifetime).await? {
            let census = self.leases.census().await?;
            let summary = CensusSummary::of(census, self.max_users, chrono::Utc::now().timestamp_millis());
            let shared = serde_json::to_string(&summary).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.leases.save_census_summary(&shared, lifetime).await?;
            return Ok(Some(summary));
        }
        match self.leases.load_census_summary().await? {
            Some(shared) => {
                serde_json::from_str(&shared).map(Some).map_err(|e| StoreError::Corrupt(format!("census summary: {e}")))
            }
            None => Ok(None),
        }
    }
}
