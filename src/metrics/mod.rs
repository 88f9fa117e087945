//! The service's Prometheus metrics (names and labels are the SPEC's), in a
//! registry of their own per app instance: tests run many apps in one
//! process, and a global registry would mix them.

mod census;
mod labels;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub use census::publish_census;
pub use labels::{Operation, Outcome, StoreCall};

use crate::store::StoreErrorKind;

/// Latency buckets from 100 µs to 5 s: a heartbeat should sit near the
/// bottom, and anything at the top is an outage.
const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

pub struct Metrics {
    registry: Registry,
    pub user_active_leases: IntGaugeVec,
    pub user_series_truncated: IntGauge,
    pub active_leases: IntGauge,
    pub active_users: IntGauge,
    pub users_at_limit: IntGauge,
    /// By configured class (`STREAMLEASE_CLASSES`): no other label value.
    pub class_active_leases: IntGaugeVec,
    pub class_users_at_limit: IntGaugeVec,
    pub lease_operations: IntCounterVec,
    pub leases_expired: IntCounter,
    pub census_skipped_users: IntCounter,
    /// When the census behind the store-wide gauges was taken.
    pub census_timestamp: prometheus::Gauge,
    /// 1 while the store takes this instance's writes, as `/readyz` would say.
    pub store_ready: IntGauge,
    pub http_request_duration: HistogramVec,
    pub store_request_duration: HistogramVec,
    pub store_errors: IntCounterVec,
    /// Users that have a per-user series now, so the next census can remove
    /// the ones that left.
    published_users: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The fixed label sets, resolved once: a request then costs a map
    /// lookup on static strings instead of hashing labels under a lock.
    /// By `[operation][outcome]` (each enum's declaration order): `None`
    /// where the operation has no such outcome.
    operation_counters: Vec<Vec<Option<IntCounter>>>,
    /// By `StoreCall`, in its declaration order.
    store_timers: Vec<StoreInstruments>,
}

/// A store operation's duration histogram and its error counters by kind.
pub struct StoreInstruments {
    pub duration: Histogram,
    /// By `StoreErrorKind`, in its declaration order.
    errors: Vec<IntCounter>,
}

impl StoreInstruments {
    /// Counts one failure of `kind`.
    pub fn count_error(&self, kind: StoreErrorKind) {
        self.errors[kind as usize].inc();
    }
}

impl Metrics {
    /// The class series at 0, so they exist from startup like the other
    /// gauges, before the first census.
    pub fn declare_classes(&self, classes: &crate::domain::Classes) {
        for (class, _) in classes.iter() {
            self.class_active_leases.with_label_values(&[class.as_str()]).set(0);
            self.class_users_at_limit.with_label_values(&[class.as_str()]).set(0);
        }
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| register(&registry, IntGauge::new(name, help));
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            register(&registry, HistogramVec::new(opts, labels))
        };
        let mut metrics = Metrics {
            user_active_leases: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new("streamlease_user_active_leases", "Live leases per user, read from the store."),
                    &["user_id"],
                ),
            ),
            user_series_truncated: gauge(
                "streamlease_user_series_truncated",
                "1 when the per-user series were cut to STREAMLEASE_METRICS_MAX_USERS.",
            ),
            active_leases: gauge("streamlease_active_leases", "Live leases, all users."),
            active_users: gauge("streamlease_active_users", "Users with at least one live lease."),
            users_at_limit: gauge(
                "streamlease_users_at_limit",
                "Users whose live leases (those of exempt classes aside) reach their total limit.",
            ),
            class_active_leases: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new("streamlease_class_active_leases", "Live leases per configured class."),
                    &["class"],
                ),
            ),
            class_users_at_limit: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "streamlease_class_users_at_limit",
                        "Users holding leases of a configured class that reach its limit.",
                    ),
                    &["class"],
                ),
            ),
            lease_operations: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("streamlease_lease_operations_total", "Lease operations by how they ended."),
                    &["operation", "outcome"],
                ),
            ),
            leases_expired: register(
                &registry,
                IntCounter::new("streamlease_leases_expired_total", "Leases that ended by expiry (abandoned)."),
            ),
            census_skipped_users: register(
                &registry,
                IntCounter::new(
                    "streamlease_census_skipped_users_total",
                    "Users a census left out because their data in the store could not be read.",
                ),
            ),
            census_timestamp: register(
                &registry,
                prometheus::Gauge::new(
                    "streamlease_census_timestamp_seconds",
                    "When the census behind the store-wide gauges was taken (Unix time); 0 before the first.",
                ),
            ),
            store_ready: gauge(
                "streamlease_store_ready",
                "1 when the store took this instance's readiness write of the last refresh period, 0 when it \
                 was unavailable, out of memory or read-only: what /readyz would answer.",
            ),
            http_request_duration: histogram(
                "streamlease_http_request_duration_seconds",
                "HTTP requests by method, route pattern and status.",
                &["method", "route", "status"],
            ),
            store_request_duration: histogram(
                "streamlease_store_request_duration_seconds",
                "Store calls by operation.",
                &["operation"],
            ),
            store_errors: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("streamlease_store_errors_total", "Store calls that failed, by kind of failure."),
                    &["operation", "kind"],
                ),
            ),
            published_users: Default::default(),
            operation_counters: Vec::new(),
            store_timers: Vec::new(),
            registry,
        };
        for &operation in Operation::ALL {
            let counters = Outcome::ALL.iter().map(|&outcome| {
                let labels = [operation.as_str(), outcome.as_str()];
                operation.outcomes().contains(&outcome).then(|| metrics.lease_operations.with_label_values(&labels))
            });
            metrics.operation_counters.push(counters.collect());
        }
        for &call in StoreCall::ALL {
            let duration = metrics.store_request_duration.with_label_values(&[call.as_str()]);
            let errors = StoreErrorKind::ALL
                .iter()
                .map(|kind| metrics.store_errors.with_label_values(&[call.as_str(), kind.as_str()]));
            metrics.store_timers.push(StoreInstruments { duration, errors: errors.collect() });
        }
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("process metrics register once per registry");
        metrics
    }

    /// Counts one lease operation's outcome (`by` of them). A pair that
    /// `Operation::outcomes` does not list is a mistake in this code: it is
    /// logged, loudly, in every build.
    pub fn count(&self, operation: Operation, outcome: Outcome, by: u64) {
        match &self.operation_counters[operation as usize][outcome as usize] {
            Some(counter) => counter.inc_by(by),
            None => {
                log::error!("no counter for {}/{}: add it to Operation::outcomes", operation.as_str(), outcome.as_str())
            }
        }
    }

    /// The duration histogram and error counters of a store call.
    pub fn store_timer(&self, call: StoreCall) -> &StoreInstruments {
        &self.store_timers[call as usize]
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::error!("cannot encode metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers a metric made from constant, valid options; failing here is a
/// programming error caught by every test run, not something input reaches.
fn register<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: prometheus::Result<M>) -> M {
    let metric = metric.expect("valid metric definition");
    registry.register(Box::new(metric.clone())).expect("metric names are unique");
    metric
}
