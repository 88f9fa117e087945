//! `/metrics`: per-user gauges from the store's truth, equal on every
//! instance, following expiry with no request, capped; counters from zero.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_stores;

const REFRESH: Duration = Duration::from_millis(100);

fn user_series(user: &str) -> String {
    format!(r#"streamlease_user_active_leases{{user_id="{user}"}}"#)
}

/// Polls `/metrics` until `check` holds, or fails after `limit`.
async fn eventually(app: &TestApp, limit: Duration, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        let exposition = app.metrics().await;
        if check(&exposition) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}:\n{exposition}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_instances_on_one_redis_report_the_users_counts_from_the_store() {
    let a = spawn_app_with(Backend::Redis, |s| s.metrics_refresh = REFRESH).await;
    let b = spawn_sibling(&a, |s| s.metrics_refresh = REFRESH).await;
    // Leases taken through both instances, users at different counts.
    for (user, count) in [("one", 1), ("two", 2), ("three", 3)] {
        for n in 0..count {
            let app = if n % 2 == 0 { &a } else { &b };
            app.acquire_ok(user, &format!("s{n}")).await;
        }
    }
    let expected: Vec<(&str, u64)> =
        vec![("one", a.active("one").await), ("two", b.active("two").await), ("three", a.active("three").await)];
    assert_eq!(expected, [("one", 1), ("two", 2), ("three", 3)]);
    for app in [&a, &b] {
        eventually(app, REFRESH * 20, "per-user values", |m| {
            expected.iter().all(|(user, active)| sample(m, &user_series(user)) == Some(*active as f64))
                && sample(m, "streamlease_active_leases") == Some(6.0)
                && sample(m, "streamlease_active_users") == Some(3.0)
                && sample(m, "streamlease_users_at_limit") == Some(1.0)
        })
        .await;
    }
}

async fn a_lease_that_expires_with_no_request_leaves_the_metrics(backend: Backend) {
    let ttl = 800;
    let app = spawn_app_with(backend, |s| {
        s.lease_ttl_ms = ttl;
        s.heartbeat_interval_ms = 200;
        s.metrics_refresh = REFRESH;
    })
    .await;
    app.acquire_ok("alice", "a").await;
    let acquired = Instant::now();
    eventually(&app, REFRESH * 20, "the series", |m| sample(m, &user_series("alice")) == Some(1.0)).await;
    assert_eq!(sample(&app.metrics().await, "streamlease_leases_expired_total"), Some(0.0));

    // No request for alice from here on: only the census can notice.
    if backend == Backend::Embedded {
        app.let_time_pass(ttl).await;
    }
    let within = Duration::from_millis(ttl) + REFRESH + Duration::from_millis(500);
    eventually(&app, within.saturating_sub(acquired.elapsed()), "the series dropping", |m| {
        sample(m, &user_series("alice")).is_none()
            && sample(m, "streamlease_active_leases") == Some(0.0)
            && sample(m, "streamlease_leases_expired_total") == Some(1.0)
    })
    .await;
}

async fn the_cap_keeps_the_users_with_most_leases_and_says_it_cut(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.max_streams = 10;
        s.metrics_max_users = 5;
        s.metrics_refresh = REFRESH;
    })
    .await;
    for user in 1..=8 {
        for n in 0..user {
            app.acquire_ok(&format!("user-{user}"), &format!("s{n}")).await;
        }
    }
    eventually(&app, REFRESH * 20, "the capped series", |m| {
        let shown: Vec<String> =
            m.lines().filter(|l| l.starts_with("streamlease_user_active_leases{")).map(str::to_owned).collect();
        let expected: Vec<String> = (4..=8).map(|u| format!("{} {u}", user_series(&format!("user-{u}")))).collect();
        let mut shown_sorted = shown.clone();
        shown_sorted.sort();
        shown_sorted == expected
            && sample(m, "streamlease_user_series_truncated") == Some(1.0)
            && sample(m, "streamlease_active_users") == Some(8.0)
    })
    .await;
}

async fn operation_counters_exist_from_startup_and_count_outcomes(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_streams = 1).await;
    let before = app.metrics().await;
    let counter = |op: &str, outcome: &str| {
        format!(r#"streamlease_lease_operations_total{{operation="{op}",outcome="{outcome}"}}"#)
    };
    for (op, outcome) in [
        ("acquire", "created"),
        ("acquire", "denied"),
        ("acquire", "store_error"),
        ("heartbeat", "ended"),
        ("release", "already_gone"),
        ("evict", "evicted"),
        ("terminate", "terminated"),
    ] {
        assert_eq!(sample(&before, &counter(op, outcome)), Some(0.0), "{op}/{outcome}");
    }
    assert_eq!(sample(&before, "streamlease_leases_expired_total"), Some(0.0));
    assert_eq!(sample(&before, r#"streamlease_store_errors_total{operation="acquire"}"#), Some(0.0));

    let first = id(&app.acquire_ok("alice", "a").await);
    assert_eq!(app.acquire("alice", json!({"stream_id": "b"})).await.status(), StatusCode::CONFLICT);
    app.acquire("alice", json!({"stream_id": "b", "on_limit": "evict_oldest"})).await;
    app.heartbeat("alice", &first).await;
    let after = app.metrics().await;
    for (op, outcome, n) in [
        ("acquire", "created", 2.0),
        ("acquire", "denied", 1.0),
        ("evict", "evicted", 1.0),
        ("heartbeat", "ended", 1.0),
    ] {
        assert_eq!(sample(&after, &counter(op, outcome)), Some(n), "{op}/{outcome}");
    }
    assert_eq!(sample(&after, r#"streamlease_store_request_duration_seconds_count{operation="acquire"}"#), Some(3.0));
}

async fn http_durations_are_labelled_by_route_pattern_never_by_raw_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let lease = id(&app.acquire_ok("secret-user", "a").await);
    app.heartbeat("secret-user", &lease).await;
    app.get("/no/such/route").await;
    let m = app.metrics().await;
    let http: Vec<&str> = m.lines().filter(|l| l.starts_with("streamlease_http_request_duration_seconds")).collect();
    assert!(
        http.iter().any(
            |l| l.contains(r#"method="POST",route="/v1/users/{user_id}/leases/{lease_id}/heartbeat",status="200""#)
        ),
        "{http:#?}"
    );
    assert!(http.iter().any(|l| l.contains(r#"route="unmatched",status="404""#)), "{http:#?}");
    assert!(!http.iter().any(|l| l.contains("secret-user") || l.contains(&lease) || l.contains("/no/such")));
}

on_both_stores!(
    a_lease_that_expires_with_no_request_leaves_the_metrics,
    the_cap_keeps_the_users_with_most_leases_and_says_it_cut,
    operation_counters_exist_from_startup_and_count_outcomes,
    http_durations_are_labelled_by_route_pattern_never_by_raw_path,
);

#[tokio::test]
async fn store_errors_are_counted_per_operation() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(Backend::Embedded, |s| s.redis_url = Some(format!("redis://127.0.0.1:{port}"))).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.acquire("alice", json!({"stream_id": "s"})).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let m = app.metrics().await;
    assert!(sample(&m, r#"streamlease_store_errors_total{operation="ping"}"#) >= Some(1.0));
    assert_eq!(sample(&m, r#"streamlease_store_errors_total{operation="acquire"}"#), Some(1.0));
    assert_eq!(
        sample(&m, r#"streamlease_lease_operations_total{operation="acquire",outcome="store_error"}"#),
        Some(1.0)
    );
}

#[tokio::test]
async fn process_metrics_are_exposed() {
    let app = spawn_app(Backend::Embedded).await;
    let m = app.metrics().await;
    assert!(sample(&m, "process_resident_memory_bytes").is_some_and(|rss| rss > 0.0), "{m}");
}
