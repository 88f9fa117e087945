//! Abandoned leases free their slot by expiry alone: no DELETE, no sweeper.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_one_store;

const TTL_MS: i64 = 800;

async fn short_ttl_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.terms.default_limit = 1;
        s.terms.ttl_ms = TTL_MS;
        s.terms.heartbeat_interval_ms = 200;
    })
    .await
}

async fn an_abandoned_lease_stops_counting_at_its_expiry(backend: Backend) {
    let app = short_ttl_app(backend).await;
    let abandoned = id(&app.acquire_ok("alice", "a").await);
    assert_eq!(app.acquire("alice", json!({"stream_id": "b"})).await.status(), StatusCode::CONFLICT);
    if app.clock.is_some() {
        // The controllable clock pins the boundary to the millisecond.
        app.let_time_pass(TTL_MS - 1).await;
        assert_eq!(app.active("alice").await, 1);
        app.let_time_pass(1).await;
    } else {
        app.let_time_pass(TTL_MS + 100).await;
    }
    assert_eq!(app.active("alice").await, 0);
    problem(app.heartbeat("alice", &abandoned).await, StatusCode::NOT_FOUND, "lease_not_found").await;
    app.acquire_ok("alice", "b").await;
}

async fn heartbeats_keep_a_lease_alive_past_its_first_ttl(backend: Backend) {
    let app = short_ttl_app(backend).await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    for _ in 0..4 {
        app.let_time_pass(TTL_MS / 2).await;
        assert_eq!(app.heartbeat("alice", &lease).await.status(), StatusCode::OK);
    }
    assert_eq!(app.active("alice").await, 1);
}

on_one_store!(an_abandoned_lease_stops_counting_at_its_expiry, heartbeats_keep_a_lease_alive_past_its_first_ttl);

#[tokio::test]
async fn after_the_last_lease_expires_no_redis_key_of_the_user_remains_but_the_limit_override() {
    let app = spawn_app_with(Backend::Redis, |s| {
        s.terms.default_limit = 2;
        s.terms.ttl_ms = TTL_MS;
        s.terms.heartbeat_interval_ms = 200;
        s.metrics_refresh = Duration::from_millis(100);
    })
    .await;
    assert_eq!(app.put_limit("alice", json!(2)).await.status(), StatusCode::OK);
    app.acquire_ok("alice", "a").await;
    let released = id(&app.acquire_ok("alice", "b").await);
    app.release("alice", &released).await;
    let redis = app.redis();
    assert_eq!(redis.keys("sl:{alice}*"), ["sl:{alice}:e", "sl:{alice}:l", "sl:{alice}:limit"]);
    // The leases key outlives its last lease by one TTL of grace (for the
    // metrics census); the tombstones live one TTL.
    for (key, most) in [("sl:{alice}:e", TTL_MS), ("sl:{alice}:l", 2 * TTL_MS)] {
        let ttl: i64 = redis.command(&["PTTL", key]).trim_start_matches(':').parse().unwrap();
        assert!(ttl > 0 && ttl <= most, "{key} PTTL {ttl}");
    }
    assert_eq!(redis.command(&["PTTL", "sl:{alice}:limit"]), ":-1");

    app.let_time_pass(TTL_MS + 50).await;
    assert_eq!(app.active("alice").await, 0);
    // Gone by the census, or at the latest when the grace ends.
    let deadline = Instant::now() + Duration::from_millis(TTL_MS as u64 + 2_000);
    while redis.keys("sl:{alice}*") != ["sl:{alice}:limit"] {
        assert!(Instant::now() < deadline, "keys left: {:?}", redis.keys("sl:{alice}*"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
