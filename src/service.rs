//! Lease operations as the HTTP layer calls them: the store call, timed and
//! counted in the metrics. Keeps instrumentation out of both the handlers
//! and the stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::domain::ledger::Terms;
use crate::domain::*;
use crate::logging::LineThrottle;
use crate::metrics::{Metrics, Operation, Outcome, StoreCall};
use crate::shedding::{ShedBounds, Shedder, Urgency};
use crate::store::{Store, StoreError, StoreResult};

/// How often a withdraw is retried while the store stays unreachable.
const WITHDRAW_RETRY: Duration = Duration::from_secs(1);
/// Most withdraws waiting at once, over all workers.
const MAX_PENDING_WITHDRAWS: usize = 10_000;

/// One of the `MAX_PENDING_WITHDRAWS` places, given back on drop.
struct WithdrawSlot(Arc<AtomicUsize>);

impl WithdrawSlot {
    fn take(pending: &Arc<AtomicUsize>) -> Option<Self> {
        let taken = pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < MAX_PENDING_WITHDRAWS).then_some(n + 1));
        taken.ok().map(|_| WithdrawSlot(pending.clone()))
    }
}

impl Drop for WithdrawSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct LeaseService {
    store: Store,
    metrics: Arc<Metrics>,
    /// Store outage lines: during an outage every request fails, and one
    /// line a second says enough. Shared by every worker's copy.
    outage_lines: Arc<LineThrottle>,
    /// The same for every other store failure, so an outage never hides
    /// a script error or corrupt data.
    fault_lines: Arc<LineThrottle>,
    /// Withdraws under way, shared by every worker's copy.
    withdraws_pending: Arc<AtomicUsize>,
    /// This worker's store calls under way, and when to shed.
    shedder: Shedder,
}

impl LeaseService {
    /// `shed`: per worker, past these even heartbeats are shed (see
    /// `shedding.rs`).
    pub fn new(store: Store, metrics: Arc<Metrics>, shed: ShedBounds) -> Self {
        let outage_lines = Arc::new(LineThrottle::new(1_000));
        let fault_lines = Arc::new(LineThrottle::new(1_000));
        let withdraws_pending = Default::default();
        let shedder = Shedder::new(shed);
        Self { store, metrics, outage_lines, fault_lines, withdraws_pending, shedder }
    }

    /// The same operations over a store connection of the calling worker's
    /// own. Should that fail (it cannot, with a URL that was accepted at
    /// startup), the shared connection serves.
    pub fn for_this_worker(&self) -> Self {
        let store = self.store.for_this_worker().unwrap_or_else(|e| {
            log::warn!("worker shares the main store connection: {}", e.with_causes());
            self.store.clone()
        });
        Self { store, shedder: self.shedder.for_this_worker(), ..self.clone() }
    }

    /// Counts a fail-open answer given while the store was down.
    pub fn count_degraded(&self, operation: Operation) {
        self.metrics.count(operation, Outcome::Degraded, 1);
    }

    /// The terms leases are granted on: the store's, as it was built.
    pub fn terms(&self) -> &Terms {
        self.store.terms()
    }

    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// An acquire whose answer never came (timeout, dropped connection) may
    /// still be applied by Redis later, taking a slot no player knows of.
    /// The script refuses to act past its deadline; as a second line, the
    /// lease is also withdrawn in the background.
    pub async fn acquire(&self, req: &AcquireRequest) -> StoreResult<AcquireOutcome> {
        let result = self.timed(StoreCall::Acquire, Urgency::Deferrable, self.store.acquire(req)).await;
        if result.as_ref().is_err_and(StoreError::may_have_been_applied) {
            self.withdraw_later(req.user_id.clone(), req.new_lease_id);
        }
        let (outcome, evicted, terminated) = match &result {
            Ok(AcquireOutcome::Created { evicted, terminated, .. }) => {
                (Outcome::Created, evicted.len(), terminated.len())
            }
            Ok(AcquireOutcome::Renewed { terminated, .. }) => (Outcome::Renewed, 0, terminated.len()),
            Ok(AcquireOutcome::Denied { terminated, .. }) => (Outcome::Denied, 0, terminated.len()),
            Err(StoreError::Overloaded) => (Outcome::Shed, 0, 0),
            Err(_) => (Outcome::StoreError, 0, 0),
        };
        self.metrics.count(Operation::Acquire, outcome, 1);
        self.metrics.count(Operation::Evict, Outcome::Evicted, evicted as u64);
        self.metrics.count(Operation::Terminate, Outcome::Terminated, terminated as u64);
        result
    }

    pub async fn heartbeat(
        &self,
        user: &UserId,
        lease: LeaseId,
        restore: Option<&Restore>,
        token: Option<&Limits>,
    ) -> StoreResult<HeartbeatOutcome> {
        let call = self.store.heartbeat(user, lease, restore, token);
        let result = self.timed(StoreCall::Heartbeat, Urgency::Heartbeat, call).await;
        let outcome = match &result {
            Ok(HeartbeatOutcome::Renewed(_)) => Outcome::Renewed,
            Ok(HeartbeatOutcome::Restored(_)) => Outcome::Restored,
            Ok(HeartbeatOutcome::Denied { .. }) => Outcome::Denied,
            Ok(HeartbeatOutcome::NotFound) => Outcome::NotFound,
            Ok(HeartbeatOutcome::Ended(_)) => Outcome::Ended,
            Err(StoreError::Overloaded) => Outcome::Shed,
            Err(_) => Outcome::StoreError,
        };
        self.metrics.count(Operation::Heartbeat, outcome, 1);
        result
    }

    pub async fn release(&self, user: &UserId, lease: LeaseId) -> StoreResult<ReleaseOutcome> {
        let result = self.timed(StoreCall::Release, Urgency::Release, self.store.release(user, lease)).await;
        let outcome = match &result {
            Ok(ReleaseOutcome::Released) => Outcome::Released,
            Ok(ReleaseOutcome::AlreadyGone) => Outcome::AlreadyGone,
            Err(StoreError::Overloaded) => Outcome::Shed,
            Err(_) => Outcome::StoreError,
        };
        self.metrics.count(Operation::Release, outcome, 1);
        result
    }

    pub async fn revoke_all(&self, user: &UserId) -> StoreResult<u32> {
        let result = self.timed(StoreCall::Revoke, Urgency::Deferrable, self.store.revoke_all(user)).await;
        let outcome = match &result {
            Ok(_) => Outcome::Revoked,
            Err(StoreError::Overloaded) => Outcome::Shed,
            Err(_) => Outcome::StoreError,
        };
        self.metrics.count(Operation::Revoke, outcome, 1);
        result
    }

    pub async fn list(&self, user: &UserId, token: Option<&Limits>) -> StoreResult<UserLeases> {
        self.timed(StoreCall::List, Urgency::Deferrable, self.store.list(user, token)).await
    }

    pub async fn user_limits(&self, user: &UserId, token: Option<&Limits>) -> StoreResult<UserLimits> {
        self.timed(StoreCall::GetLimit, Urgency::Deferrable, self.store.user_limits(user, token)).await
    }

    pub async fn set_limit(&self, user: &UserId, limits: Option<&Limits>) -> StoreResult<()> {
        self.timed(StoreCall::SetLimit, Urgency::Deferrable, self.store.set_limit(user, limits)).await
    }

    pub async fn ping(&self) -> StoreResult<()> {
        self.timed(StoreCall::Ping, Urgency::Always, self.store.ping()).await
    }

    pub async fn census(&self) -> StoreResult<Census> {
        self.timed(StoreCall::Census, Urgency::Always, self.store.census()).await
    }

    pub async fn hold_census_lock(&self, holder: &str, ttl: Duration) -> StoreResult<bool> {
        self.timed(StoreCall::CensusLock, Urgency::Always, self.store.hold_census_lock(holder, ttl)).await
    }

    pub async fn save_census_summary(&self, summary: &str, ttl: Duration) -> StoreResult<()> {
        self.timed(StoreCall::CensusSummary, Urgency::Always, self.store.save_census_summary(summary, ttl)).await
    }

    /// The summary the census holder shared, read and decoded within
    /// `max_bytes`; one that cannot be used is counted as a store error.
    pub async fn load_census_summary(&self, max_bytes: usize) -> StoreResult<Option<CensusSummary>> {
        let load = async {
            match self.store.load_census_summary(max_bytes).await? {
                Some(shared) => serde_json::from_str(&shared)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("census summary: {e}"))),
                None => Ok(None),
            }
        };
        self.timed(StoreCall::CensusSummary, Urgency::Always, load).await
    }

    /// Retries until the withdraw lands or the lease would have expired on
    /// its own anyway.
    fn withdraw_later(&self, user: UserId, lease: LeaseId) {
        // Bounded, so a long stall under heavy traffic cannot pile up tasks;
        // past the bound the script's deadline is the only defence.
        let Some(slot) = WithdrawSlot::take(&self.withdraws_pending) else {
            log::debug!("not withdrawing lease {lease} of {user}: {MAX_PENDING_WITHDRAWS} withdraws pending");
            return;
        };
        let leases = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let started = tokio::time::Instant::now();
            loop {
                // Timed, counted and logged like every store call.
                match leases.timed(StoreCall::Withdraw, Urgency::Always, leases.store.withdraw(&user, lease)).await {
                    Ok(()) => return,
                    Err(e) if !e.is_unavailable() || started.elapsed().as_millis() >= leases.terms().ttl_ms as u128 => {
                        log::warn!("gave up withdrawing unanswered lease {lease} of {user}: {}", e.with_causes());
                        return;
                    }
                    Err(_) => tokio::time::sleep(WITHDRAW_RETRY).await,
                }
            }
        });
    }

    /// One store call: shed when too many are under way for its urgency,
    /// else made, timed, and counted and logged if it fails.
    async fn timed<T>(
        &self,
        operation: StoreCall,
        urgency: Urgency,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let Some(_under_way) = self.shedder.enter(urgency) else {
            return Err(StoreError::Overloaded);
        };
        let instruments = self.metrics.store_timer(operation);
        let timer = instruments.duration.start_timer();
        let result = call.await;
        timer.observe_duration();
        if let Err(e) = &result {
            if let Some(kind) = e.kind() {
                instruments.count_error(kind);
            }
            self.log_failure(operation, e);
        }
        result
    }

    /// At most one line a second per family (outage, or anything else),
    /// with the whole chain of causes.
    fn log_failure(&self, operation: StoreCall, e: &StoreError) {
        let lines = if e.is_unavailable() { &self.outage_lines } else { &self.fault_lines };
        if !lines.admit(chrono::Utc::now().timestamp_millis()) {
            return;
        }
        let cause = e.with_causes();
        if e.is_unavailable() {
            log::warn!("store call {} failed: {cause} (logged at most once a second)", operation.as_str());
        } else {
            log::error!("store call {} failed: {cause} (logged at most once a second)", operation.as_str());
        }
    }
}
