//! The census behind the store-wide gauges, when things go wrong: a summary
//! forged by anyone who can write to Redis, a census longer than its lock,
//! Redis out of memory. About the Redis store only.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::redis_server::RedisServer;

const REFRESH: Duration = Duration::from_millis(100);

fn per_user_series(exposition: &str) -> usize {
    exposition.lines().filter(|l| l.starts_with("streamlease_user_active_leases{")).count()
}

fn summary_errors(exposition: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with("streamlease_store_errors_total{") && l.contains(r#"operation="census_summary""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn forged_summary(users: usize) -> String {
    let top: Vec<_> =
        (0..users).map(|n| json!({"user_id": format!("forged-{n:06}"), "active": 1 + n % 3, "limit": 3})).collect();
    // Classes this instance does not configure: they must add no series.
    let classes: Vec<_> = (0..16)
        .map(|n| json!({"class": format!("bogus-class-{n}"), "active_leases": 1, "users_at_limit": 1}))
        .collect();
    json!({
        "taken_at_ms": chrono::Utc::now().timestamp_millis(),
        "active_leases": 7, "active_users": users, "users_at_limit": 0, "truncated": false, "top": top,
        "classes": classes,
    })
    .to_string()
}

#[tokio::test]
async fn a_forged_summary_is_read_within_this_instances_own_bounds_and_counted_when_unusable() {
    let app = spawn_app_with(Backend::Redis, |s| {
        s.metrics_refresh = REFRESH;
        s.metrics_max_users = 10;
    })
    .await;
    let redis = app.redis();
    // Another "instance" holds the census lock, so this one only reads.
    redis.command(&["SET", "sl:census:lock", "forger", "PX", "60000"]);

    // More users than this instance's cap: it publishes its own cap's worth.
    redis.command(&["SET", "sl:census:summary", &forged_summary(50), "PX", "60000"]);
    eventually(&app, REFRESH * 30, "the forged totals", |m| sample(m, "streamlease_active_leases") == Some(7.0)).await;
    let exposition = app.metrics().await;
    assert_eq!(per_user_series(&exposition), 10, "{exposition}");
    assert!(!exposition.contains("bogus-class"), "a class not configured got a series: {exposition}");
    assert_eq!(sample(&exposition, "streamlease_user_series_truncated"), Some(1.0));

    // Larger than any summary this instance's cap allows: never read.
    let errors_before = summary_errors(&exposition);
    redis.command(&["SET", "sl:census:summary", &forged_summary(30_000), "PX", "60000"]);
    eventually(&app, REFRESH * 30, "the oversized summary counted", |m| summary_errors(m) > errors_before).await;
    let exposition = app.metrics().await;
    assert_eq!(per_user_series(&exposition), 10, "an oversized summary was published");

    // Junk that fits: counted too, and nothing published from it.
    let errors_before = summary_errors(&exposition);
    redis.command(&["SET", "sl:census:summary", "{\"top\": [1, 2", "PX", "60000"]);
    eventually(&app, REFRESH * 30, "the junk summary counted", |m| summary_errors(m) > errors_before).await;
    assert_eq!(sample(&app.metrics().await, "streamlease_active_leases"), Some(7.0));
}

/// A census of a large keyspace outlasts its lock's lifetime (three
/// refresh periods); the holder keeps the lock while it counts, so the
/// fleet never runs two at once: the lock has one holder throughout.
#[tokio::test]
async fn a_census_longer_than_its_lock_keeps_its_lock_to_the_end() {
    let refresh = Duration::from_millis(50);
    let redis = std::sync::Arc::new(RedisServer::start_with_args(&["--enable-debug-command", "local"]));
    // Keys a census must scan past: 20 pages of SCAN at its slowest pace,
    // each page a round trip and a pause 99 times as long.
    redis.command(&["DEBUG", "POPULATE", "20000", "other-app", "8"]);
    let tweak = |s: &mut streamlease::config::Settings| {
        s.redis_url = Some(redis.url());
        s.metrics_refresh = refresh;
        s.census_redis_percent = 1;
    };
    let a = spawn_app_with(Backend::Embedded, tweak).await;
    let b = spawn_app_with(Backend::Embedded, tweak).await;
    let count = |m: &str| sample(m, r#"streamlease_store_request_duration_seconds_count{operation="census"}"#);
    let took = |m: &str| sample(m, r#"streamlease_store_request_duration_seconds_sum{operation="census"}"#);
    let mut holders = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        holders.insert(redis.command(&["GET", "sl:census:lock"]));
        let (ma, mb) = (a.metrics().await, b.metrics().await);
        if let Some(done) = [&ma, &mb].into_iter().find(|m| count(m).unwrap_or(0.0) >= 1.0) {
            break took(done).unwrap_or(0.0);
        }
        assert!(Instant::now() < deadline, "no census finished in 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(first > (refresh * 3).as_secs_f64(), "the census took {first} s, no longer than its lock lives");
    holders.retain(|h| !h.is_empty());
    assert_eq!(holders.len(), 1, "the lock changed hands while the census ran: {holders:?}");
}

#[tokio::test]
async fn gauges_keep_following_the_store_while_redis_is_out_of_memory() {
    let ttl = 1_000;
    let tweak = |s: &mut streamlease::config::Settings| {
        s.terms.ttl_ms = ttl;
        s.terms.heartbeat_interval_ms = 300;
        s.metrics_refresh = REFRESH;
    };
    let a = spawn_app_with(Backend::Redis, tweak).await;
    let b = spawn_sibling(&a, tweak).await;
    for stream in ["s1", "s2", "s3"] {
        a.acquire_ok("alice", stream).await;
    }
    for app in [&a, &b] {
        eventually(app, REFRESH * 30, "3 leases", |m| sample(m, "streamlease_active_leases") == Some(3.0)).await;
    }
    a.redis().command(&["CONFIG", "SET", "maxmemory", "1"]);
    // The leases expire with no request; only the census can tell.
    for app in [&a, &b] {
        eventually(app, Duration::from_millis(ttl as u64) + REFRESH * 30, "the gauges following expiry", |m| {
            sample(m, "streamlease_active_leases") == Some(0.0) && sample(m, "streamlease_store_ready") == Some(0.0)
        })
        .await;
    }
    a.redis().command(&["CONFIG", "SET", "maxmemory", "0"]);
}
