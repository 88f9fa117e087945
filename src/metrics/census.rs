//! The store-wide gauges, set from a census summary: every instance shows
//! the same truth, and a lease that expired with no request still leaves the
//! dashboards within about one refresh. (Who takes the census: `census.rs`.)

use std::collections::HashSet;

use super::Metrics;
use crate::domain::{CensusSummary, Classes};

/// Sets the gauges from `summary`. Per-user series go to its top users;
/// users no longer among them lose their series. `per_user: false`
/// publishes no per-user series at all (`STREAMLEASE_METRICS_PER_USER`).
/// Class series are the configured `classes`, whatever the summary (maybe
/// another instance's, read back from the store) names.
pub fn publish_census(metrics: &Metrics, summary: &CensusSummary, classes: &Classes, per_user: bool) {
    let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    metrics.active_leases.set(gauge(summary.active_leases));
    metrics.active_users.set(gauge(summary.active_users));
    metrics.users_at_limit.set(gauge(summary.users_at_limit));
    for (class, _) in classes.iter() {
        let found = summary.classes.iter().find(|c| c.class == *class);
        let (active, at_limit) = found.map_or((0, 0), |c| (c.active_leases, c.users_at_limit));
        metrics.class_active_leases.with_label_values(&[class.as_str()]).set(gauge(active));
        metrics.class_users_at_limit.with_label_values(&[class.as_str()]).set(gauge(at_limit));
    }
    metrics.census_timestamp.set(summary.taken_at_ms as f64 / 1000.0);
    if !per_user {
        return;
    }
    metrics.user_series_truncated.set(i64::from(summary.truncated));
    let mut published = metrics.published_users.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let now: HashSet<String> = summary.top.iter().map(|u| u.user_id.to_string()).collect();
    for user in &summary.top {
        metrics.user_active_leases.with_label_values(&[user.user_id.as_str()]).set(i64::from(user.active));
    }
    for gone in published.difference(&now) {
        // Err only means the series was never there.
        let _ = metrics.user_active_leases.remove_label_values(&[gone]);
    }
    *published = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Census, UserCount, UserId};

    fn summary(counts: &[(&str, u32)], max_users: usize) -> CensusSummary {
        let users = counts
            .iter()
            .map(|(id, active)| UserCount {
                user_id: UserId::try_from(*id).unwrap(),
                active: *active,
                limit: 3,
                at_limit: *active >= 3,
                classes: vec![],
            })
            .collect();
        CensusSummary::of(Census { users }, &Classes::default(), max_users, 0)
    }

    fn series(metrics: &Metrics) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = metrics
            .registry
            .gather()
            .into_iter()
            .filter(|f| f.name() == "streamlease_user_active_leases")
            .flat_map(|f| f.get_metric().to_vec())
            .map(|m| (m.get_label()[0].value().to_owned(), m.get_gauge().get_value() as i64))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn users_who_leave_lose_their_series() {
        let metrics = Metrics::new();
        publish_census(&metrics, &summary(&[("a", 1), ("b", 3)], 10), &Classes::default(), true);
        assert_eq!(series(&metrics), [("a".into(), 1), ("b".into(), 3)]);
        assert_eq!((metrics.active_leases.get(), metrics.active_users.get(), metrics.users_at_limit.get()), (4, 2, 1));
        publish_census(&metrics, &summary(&[("b", 2), ("c", 0)], 10), &Classes::default(), true);
        assert_eq!(series(&metrics), [("b".into(), 2)]);
        assert_eq!((metrics.active_leases.get(), metrics.active_users.get(), metrics.users_at_limit.get()), (2, 1, 0));
    }

    #[test]
    fn the_cap_keeps_the_users_with_most_leases() {
        let metrics = Metrics::new();
        publish_census(&metrics, &summary(&[("a", 1), ("b", 3), ("c", 2), ("d", 2)], 2), &Classes::default(), true);
        assert_eq!(series(&metrics), [("b".into(), 3), ("c".into(), 2)]);
        assert_eq!(metrics.user_series_truncated.get(), 1);
        assert_eq!(metrics.active_users.get(), 4, "totals count everyone");
        publish_census(&metrics, &summary(&[("a", 1)], 2), &Classes::default(), true);
        assert_eq!(metrics.user_series_truncated.get(), 0);
    }

    #[test]
    fn per_user_series_can_be_turned_off() {
        let metrics = Metrics::new();
        publish_census(&metrics, &summary(&[("a", 1), ("b", 3)], 10), &Classes::default(), false);
        assert_eq!(series(&metrics), []);
        assert_eq!((metrics.active_leases.get(), metrics.user_series_truncated.get()), (4, 0));
    }
}
