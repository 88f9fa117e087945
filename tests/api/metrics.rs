//! `/metrics`: per-user gauges from the store's truth, equal on every
//! instance, following expiry with no request, capped; counters from zero.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_every_store;

const REFRESH: Duration = Duration::from_millis(100);

fn user_series(user: &str) -> String {
    format!(r#"streamlease_user_active_leases{{user_id="{user}"}}"#)
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
        // Both publish when the census they show was taken: a few seconds ago.
        let taken = sample(&app.metrics().await, "streamlease_census_timestamp_seconds").unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((now - 10.0..=now + 1.0).contains(&taken), "census taken at {taken}, now {now}");
    }
}

/// A census reads every user; the fleet takes one per refresh, not one per
/// instance, and every instance publishes what it found.
#[tokio::test]
async fn three_instances_on_one_redis_take_one_census_between_them() {
    let a = spawn_app_with(Backend::Redis, |s| s.metrics_refresh = REFRESH).await;
    let b = spawn_sibling(&a, |s| s.metrics_refresh = REFRESH).await;
    let c = spawn_sibling(&a, |s| s.metrics_refresh = REFRESH).await;
    a.acquire_ok("alice", "movie").await;
    b.acquire_ok("bob", "movie").await;
    b.acquire_ok("bob", "news").await;
    for app in [&a, &b, &c] {
        eventually(app, REFRESH * 30, "the shared census", |m| {
            sample(m, &user_series("alice")) == Some(1.0)
                && sample(m, &user_series("bob")) == Some(2.0)
                && sample(m, "streamlease_active_leases") == Some(3.0)
        })
        .await;
    }
    let censuses =
        |m: &str| sample(m, r#"streamlease_store_request_duration_seconds_count{operation="census"}"#).unwrap_or(0.0);
    let taken: Vec<f64> =
        futures::future::join_all([&a, &b, &c].map(|app| app.metrics())).await.iter().map(|m| censuses(m)).collect();
    let takers = taken.iter().filter(|n| **n > 0.0).count();
    assert_eq!(takers, 1, "censuses taken per instance: {taken:?}");
}

async fn a_lease_that_expires_with_no_request_leaves_the_metrics(backend: Backend) {
    let ttl = 800;
    let app = spawn_app_with(backend, |s| {
        s.terms.ttl_ms = ttl;
        s.terms.heartbeat_interval_ms = 200;
        s.metrics_refresh = REFRESH;
    })
    .await;
    app.acquire_ok("alice", "a").await;
    let acquired = Instant::now();
    eventually(&app, REFRESH * 20, "the series", |m| sample(m, &user_series("alice")) == Some(1.0)).await;
    assert_eq!(sample(&app.metrics().await, "streamlease_leases_expired_total"), Some(0.0));

    // No request for alice from here on: only the census can notice.
    if app.clock.is_some() {
        app.let_time_pass(ttl).await;
    }
    let within = Duration::from_millis(ttl as u64) + REFRESH + Duration::from_millis(500);
    eventually(&app, within.saturating_sub(acquired.elapsed()), "the series dropping", |m| {
        sample(m, &user_series("alice")).is_none()
            && sample(m, "streamlease_active_leases") == Some(0.0)
            && sample(m, "streamlease_leases_expired_total") == Some(1.0)
    })
    .await;
}

async fn the_cap_keeps_the_users_with_most_leases_and_says_it_cut(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.terms.default_limit = 10;
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
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
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
    assert_eq!(sample(&before, r#"streamlease_store_errors_total{kind="unavailable",operation="acquire"}"#), Some(0.0));

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

/// One series per configured class, from the census: through the summary
/// the census lock holder shares, on the Redis stores.
async fn class_gauges_count_the_configured_classes(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.terms.classes = streamlease::domain::Classes::parse("uhd=1,mobile=2,trailer=*", 1000).unwrap();
        s.metrics_refresh = REFRESH;
    })
    .await;
    let class = |name: &str, metric: &str| format!("streamlease_class_{metric}{{class=\"{name}\"}}");
    let exposition = app.metrics().await;
    assert_eq!(sample(&exposition, &class("mobile", "active_leases")), Some(0.0), "from startup: {exposition}");
    for (user, classes) in [("alice", json!(["uhd"])), ("alice", json!(["trailer"])), ("bob", json!(["uhd", "mobile"]))]
    {
        let url = app.url(&format!("/v1/users/{user}/leases"));
        let response = app.client.post(url).json(&json!({"stream_id": "s", "classes": classes})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    eventually(&app, REFRESH * 30, "the class gauges", |m| {
        sample(m, &class("uhd", "active_leases")) == Some(2.0)
            && sample(m, &class("uhd", "users_at_limit")) == Some(2.0)
            && sample(m, &class("mobile", "active_leases")) == Some(1.0)
            && sample(m, &class("mobile", "users_at_limit")) == Some(0.0)
            && sample(m, &class("trailer", "active_leases")) == Some(1.0)
            && sample(m, &class("trailer", "users_at_limit")) == Some(0.0)
            && sample(m, "streamlease_active_leases") == Some(3.0)
    })
    .await;
    let series = app.metrics().await.lines().filter(|l| l.starts_with("streamlease_class_")).count();
    assert_eq!(series, 6, "two gauges for each of three classes, nothing else");
}

// The census, its lock and its summary live in the store.
on_every_store!(
    a_lease_that_expires_with_no_request_leaves_the_metrics,
    the_cap_keeps_the_users_with_most_leases_and_says_it_cut,
    class_gauges_count_the_configured_classes,
);

mod http {
    use super::*;
    crate::on_one_store!(
        http_durations_are_labelled_by_route_pattern_never_by_raw_path,
        operation_counters_exist_from_startup_and_count_outcomes,
    );
}

#[tokio::test]
async fn store_errors_are_counted_per_operation() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(Backend::Embedded, |s| s.redis_url = Some(format!("redis://127.0.0.1:{port}"))).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.acquire("alice", json!({"stream_id": "s"})).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    let m = app.metrics().await;
    assert!(sample(&m, r#"streamlease_store_errors_total{kind="unavailable",operation="ping"}"#) >= Some(1.0));
    assert_eq!(sample(&m, r#"streamlease_store_errors_total{kind="unavailable",operation="acquire"}"#), Some(1.0));
    assert_eq!(
        sample(&m, r#"streamlease_lease_operations_total{operation="acquire",outcome="store_error"}"#),
        Some(1.0)
    );
}

#[tokio::test]
async fn store_ready_follows_redis_going_away_and_coming_back_with_no_traffic() {
    let app = spawn_app_with(Backend::Redis, |s| s.metrics_refresh = REFRESH).await;
    let ready = |value: f64| move |m: &str| sample(m, "streamlease_store_ready") == Some(value);
    eventually(&app, Duration::from_secs(5), "ready", ready(1.0)).await;
    app.redis().kill();
    eventually(&app, Duration::from_secs(5), "not ready while Redis is down", ready(0.0)).await;
    app.redis().restart();
    eventually(&app, Duration::from_secs(5), "ready again", ready(1.0)).await;
}

#[tokio::test]
async fn process_metrics_are_exposed() {
    let app = spawn_app(Backend::Embedded).await;
    let m = app.metrics().await;
    assert!(sample(&m, "process_resident_memory_bytes").is_some_and(|rss| rss > 0.0), "{m}");
}

/// Every series of the HTTP duration histogram (its `_count` lines).
fn http_series(exposition: &str) -> usize {
    exposition.lines().filter(|l| l.starts_with("streamlease_http_request_duration_seconds_count")).count()
}

#[tokio::test]
async fn no_request_can_add_metric_series() {
    let app = spawn_app(Backend::Embedded).await;
    // Warm up every label a normal client can reach.
    let lease = id(&app.acquire_ok("alice", "s").await);
    app.heartbeat("alice", &lease).await;
    app.get("/nowhere").await;
    let before = http_series(&app.metrics().await);

    let mut random = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    for n in 0..2_000 {
        let method: String = (0..1 + next() % 12).map(|_| (b'A' + (next() % 26) as u8) as char).collect();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let path = match n % 4 {
            0 => format!("/v1/users/u{}/leases", next()),
            1 => format!("/x{}/{}", next(), next()),
            2 => format!("/v1/users/u{}/leases/{}/heartbeat", next(), uuid::Uuid::new_v4()),
            _ => "/healthz".to_owned(),
        };
        app.client.request(method, app.url(&path)).send().await.unwrap();
    }
    let exposition = app.metrics().await;
    // Each route may gain a few series (method `other`, status 405 or 404),
    // never one per request.
    let after = http_series(&exposition);
    assert!(after <= before + 12, "{before} series before, {after} after 2,000 odd requests");
    let methods: std::collections::BTreeSet<&str> =
        exposition.lines().filter_map(|l| l.split("method=\"").nth(1)?.split('"').next()).collect();
    let known = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other"];
    assert!(methods.iter().all(|m| known.contains(m)), "{methods:?}");
}

#[tokio::test]
async fn a_metrics_token_guards_metrics_and_nothing_else() {
    let app = spawn_app_with(Backend::Embedded, |s| s.metrics.token = Some("scrape-token".into())).await;
    problem(app.get("/metrics").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = app.client.get(app.url("/metrics")).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scrape = app.client.get(app.url("/metrics")).bearer_auth("scrape-token").send().await.unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    assert!(scrape.text().await.unwrap().contains("streamlease_active_leases"));
    // Player routes do not care about it.
    app.acquire_ok("alice", "s").await;
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = spawn_app_with(Backend::Embedded, |s| s.metrics.bind = Some("127.0.0.1:0".parse().unwrap())).await;
    problem(app.get("/metrics").await, StatusCode::NOT_FOUND, "not_found").await;
    let metrics_base = app.metrics_base.clone().expect("a metrics listener");
    let scrape = app.client.get(format!("{metrics_base}/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    assert!(scrape.text().await.unwrap().contains("streamlease_lease_operations_total"));
    // The metrics port serves no API.
    let acquire = app.client.post(format!("{metrics_base}/v1/users/alice/leases")).json(&json!({"stream_id": "s"}));
    assert_eq!(acquire.send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn per_user_series_can_be_turned_off() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        s.metrics.per_user = false;
        s.metrics_refresh = REFRESH;
    })
    .await;
    app.acquire_ok("someone@example.com", "s").await;
    eventually(&app, REFRESH * 20, "the census", |m| sample(m, "streamlease_active_leases") == Some(1.0)).await;
    let exposition = app.metrics().await;
    assert!(!exposition.contains("someone@example.com"), "{exposition}");
    assert!(!exposition.contains("streamlease_user_active_leases{"), "{exposition}");
}
