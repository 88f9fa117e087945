//! Lease restore: a heartbeat that carries its stream recreates a lease the
//! store lost, if nothing ended it and the user has a free slot.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_one_store;
use crate::redis_server::RedisServer;

const TTL_MS: i64 = 600;

/// Leases here are lost by expiry, which is what a store that forgot them
/// looks like to the service.
async fn short_ttl_app(backend: Backend, limit: u32) -> TestApp {
    spawn_app_with(backend, |s| {
        s.terms.default_limit = limit;
        s.terms.ttl_ms = TTL_MS;
        s.terms.heartbeat_interval_ms = 200;
    })
    .await
}

async fn a_lost_lease_is_restored_by_a_heartbeat_that_carries_its_stream(backend: Backend) {
    let app = short_ttl_app(backend, 3).await;
    let lease = id(&app.acquire_ok("alice", "movie").await);
    app.let_time_pass(TTL_MS + 100).await;
    problem(app.heartbeat("alice", &lease).await, StatusCode::NOT_FOUND, "lease_not_found").await;
    let response = app.heartbeat_with("alice", &lease, json!({"stream_id": "movie", "device_id": "tv"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let restored: Value = response.json().await.unwrap();
    assert_eq!((restored["lease_id"].as_str(), restored["restored"].as_bool()), (Some(lease.as_str()), Some(true)));
    assert_eq!((restored["stream_id"].as_str(), restored["device_id"].as_str()), (Some("movie"), Some("tv")));
    assert_eq!(restored["active"], 1);
    // From then on an ordinary lease: renewed, with no `restored` flag.
    let renewed: Value = app.heartbeat_with("alice", &lease, json!({"stream_id": "movie"})).await.json().await.unwrap();
    assert!(renewed.get("restored").is_none(), "{renewed}");
    assert_eq!(app.active("alice").await, 1);
}

async fn an_ended_lease_is_never_restored(backend: Backend) {
    let app = short_ttl_app(backend, 3).await;
    let lease = id(&app.acquire_ok("alice", "movie").await);
    app.release("alice", &lease).await;
    let response = app.heartbeat_with("alice", &lease, json!({"stream_id": "movie"})).await;
    let ended = problem(response, StatusCode::GONE, "lease_ended").await;
    assert_eq!(ended["reason"], "released");
    assert_eq!(app.active("alice").await, 0);
}

/// The tombstone cap may forget why a lease ended (404 instead of 410), but
/// it must never let the ended lease come back.
async fn an_ended_lease_pushed_out_of_the_tombstone_cap_is_still_never_restored(backend: Backend) {
    let app = spawn_app(backend).await;
    let ended = id(&app.acquire_ok("alice", "movie").await);
    app.release("alice", &ended).await;
    for n in 0..64 {
        app.let_time_pass(1).await;
        let lease = id(&app.acquire_ok("alice", &format!("s{n}")).await);
        app.release("alice", &lease).await;
    }
    let response = app.heartbeat_with("alice", &ended, json!({"stream_id": "movie"})).await;
    problem(response, StatusCode::NOT_FOUND, "lease_not_found").await;
    assert_eq!(app.active("alice").await, 0);
}

async fn restore_without_a_free_slot_is_409(backend: Backend) {
    let app = short_ttl_app(backend, 1).await;
    let lost = id(&app.acquire_ok("alice", "movie").await);
    app.let_time_pass(TTL_MS + 100).await;
    let taken = id(&app.acquire_ok("alice", "news").await);
    let response = app.heartbeat_with("alice", &lost, json!({"stream_id": "movie"})).await;
    let denied = problem(response, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!(denied["leases"][0]["lease_id"], taken.as_str());
    assert_eq!(app.active("alice").await, 1);
}

async fn restore_never_gives_a_device_a_second_lease(backend: Backend) {
    let app = short_ttl_app(backend, 3).await;
    let lost = id(&app
        .acquire("alice", json!({"stream_id": "movie", "device_id": "tv"}))
        .await
        .json::<Value>()
        .await
        .unwrap());
    app.let_time_pass(TTL_MS + 100).await;
    app.acquire("alice", json!({"stream_id": "news", "device_id": "tv"})).await;
    let response = app.heartbeat_with("alice", &lost, json!({"stream_id": "movie", "device_id": "tv"})).await;
    problem(response, StatusCode::NOT_FOUND, "lease_not_found").await;
    assert_eq!(app.active("alice").await, 1);
}

async fn a_heartbeat_body_follows_the_json_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let lease = id(&app.acquire_ok("alice", "movie").await);
    let url = app.url(&format!("/v1/users/alice/leases/{lease}/heartbeat"));
    let text = app.client.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    problem(text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let bad = app.heartbeat_with("alice", &lease, json!({"stream_id": "a b"})).await;
    problem(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    let huge = app.heartbeat_with("alice", &lease, json!({"stream_id": "s", "pad": "x".repeat(5000)})).await;
    problem(huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // A live lease is simply renewed, body or not.
    assert_eq!(app.heartbeat_with("alice", &lease, json!({"stream_id": "movie"})).await.status(), StatusCode::OK);
}

on_one_store!(
    an_ended_lease_pushed_out_of_the_tombstone_cap_is_still_never_restored,
    a_lost_lease_is_restored_by_a_heartbeat_that_carries_its_stream,
    an_ended_lease_is_never_restored,
    restore_without_a_free_slot_is_409,
    restore_never_gives_a_device_a_second_lease,
    a_heartbeat_body_follows_the_json_rules,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_keep_playing_through_a_redis_restart_without_persistence() {
    let app = spawn_app(Backend::Redis).await;
    let redis: &RedisServer = app.redis();
    // 30 players: 10 users at their limit of 3.
    let mut players = Vec::new();
    for user in 0..10 {
        for device in 0..3 {
            let body = json!({"stream_id": format!("s{device}"), "device_id": format!("d{device}")});
            let lease: Value = app.acquire(&format!("user-{user}"), body.clone()).await.json().await.unwrap();
            players.push((format!("user-{user}"), id(&lease), body));
        }
    }
    redis.kill();
    redis.restart();
    assert!(redis.keys("*").is_empty(), "Redis came back empty");

    // Each player's next heartbeats carry its stream; a 503 while the
    // connection comes back is retried, as a player would.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (user, lease, body) in &players {
        loop {
            let response = app.heartbeat_with(user, lease, body.clone()).await;
            if response.status() == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline {
                continue;
            }
            assert_eq!(response.status(), StatusCode::OK, "{user} {lease}");
            let renewed: Value = response.json().await.unwrap();
            assert!(renewed["active"].as_u64().unwrap() <= 3, "{renewed}");
            break;
        }
    }
    for user in 0..10 {
        let user = format!("user-{user}");
        assert_eq!(app.active(&user).await, 3, "{user}");
        let extra = app.acquire(&user, json!({"stream_id": "one-too-many"})).await;
        assert_eq!(extra.status(), StatusCode::CONFLICT, "{user}");
    }
}
