//! The store-wide gauges: recomputed from the store itself every refresh, so
//! every instance reports the same truth and a lease that expired with no
//! request still leaves the dashboards within one refresh.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::Metrics;
use crate::domain::{Census, UserCount};

/// Sets the gauges from a census. Per-user series go to the `max_users`
/// users with most leases (ties by id, so instances agree); users no longer
/// among them lose their series. `per_user: None` publishes no per-user
/// series at all (`STREAMLEASE_METRICS_PER_USER=false`).
pub fn publish_census(metrics: &Metrics, mut census: Census, per_user: Option<usize>) {
    census.users.retain(|u| u.active > 0);
    let users = &mut census.users;
    metrics.active_leases.set(users.iter().map(|u| i64::from(u.active)).sum());
    metrics.active_users.set(users.len() as i64);
    metrics.users_at_limit.set(users.iter().filter(|u| u.active >= u.limit).count() as i64);

    let Some(max_users) = per_user else {
        return;
    };
    let truncated = users.len() > max_users;
    if truncated {
        let most_first = |a: &UserCount, b: &UserCount| b.active.cmp(&a.active).then_with(|| a.user_id.cmp(&b.user_id));
        if max_users > 0 {
            users.select_nth_unstable_by(max_users - 1, most_first);
        }
        users.truncate(max_users);
    }
    metrics.user_series_truncated.set(i64::from(truncated));

    let mut published = metrics.published_users.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let now: HashSet<String> = users.iter().map(|u| u.user_id.to_string()).collect();
    for user in users.iter() {
        metrics.user_active_leases.with_label_values(&[user.user_id.as_str()]).set(i64::from(user.active));
    }
    for gone in published.difference(&now) {
        // Err only means the series was never there.
        let _ = metrics.user_active_leases.remove_label_values(&[gone]);
    }
    *published = now;
}

/// Runs a census every `period`, forever; the first one at once.
pub async fn refresh_every<F, Fut>(period: Duration, metrics: Arc<Metrics>, per_user: Option<usize>, mut take_census: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<Census>>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Some(census) = take_census().await {
            publish_census(&metrics, census, per_user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn census(counts: &[(&str, u32)]) -> Census {
        let users = counts
            .iter()
            .map(|(id, active)| UserCount { user_id: UserId::try_from(*id).unwrap(), active: *active, limit: 3 })
            .collect();
        Census { users }
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
        publish_census(&metrics, census(&[("a", 1), ("b", 3)]), Some(10));
        assert_eq!(series(&metrics), [("a".into(), 1), ("b".into(), 3)]);
        assert_eq!((metrics.active_leases.get(), metrics.active_users.get(), metrics.users_at_limit.get()), (4, 2, 1));
        publish_census(&metrics, census(&[("b", 2), ("c", 0)]), Some(10));
        assert_eq!(series(&metrics), [("b".into(), 2)]);
        assert_eq!((metrics.active_leases.get(), metrics.active_users.get(), metrics.users_at_limit.get()), (2, 1, 0));
    }

    #[test]
    fn the_cap_keeps_the_users_with_most_leases() {
        let metrics = Metrics::new();
        publish_census(&metrics, census(&[("a", 1), ("b", 3), ("c", 2), ("d", 2)]), Some(2));
        assert_eq!(series(&metrics), [("b".into(), 3), ("c".into(), 2)]);
        assert_eq!(metrics.user_series_truncated.get(), 1);
        assert_eq!(metrics.active_users.get(), 4, "totals count everyone");
        publish_census(&metrics, census(&[("a", 1)]), Some(2));
        assert_eq!(metrics.user_series_truncated.get(), 0);
    }

    #[test]
    fn per_user_series_can_be_turned_off() {
        let metrics = Metrics::new();
        publish_census(&metrics, census(&[("a", 1), ("b", 3)]), None);
        assert_eq!(series(&metrics), []);
        assert_eq!((metrics.active_leases.get(), metrics.user_series_truncated.get()), (4, 0));
    }
}
