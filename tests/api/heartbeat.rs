//! Heartbeat: renewal, and the 404/410 answers that tell a player what to do.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_one_store;

async fn heartbeat_renews_the_lease_and_moves_its_expiry(backend: Backend) {
    let app = spawn_app(backend).await;
    let lease = app.acquire_ok("alice", "a").await;
    app.let_time_pass(50).await;
    let response = app.heartbeat("alice", &id(&lease)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: serde_json::Value = response.json().await.unwrap();
    assert_eq!(id(&renewed), id(&lease));
    assert_eq!(renewed["acquired_at"], lease["acquired_at"]);
    assert!(renewed["expires_at"].as_str() > lease["expires_at"].as_str(), "{renewed} vs {lease}");
    assert_eq!((renewed["active"].as_u64(), renewed["limit"].as_u64()), (Some(1), Some(3)));
    assert_eq!(renewed["stream_id"], "a");
}

async fn heartbeat_of_an_unknown_lease_is_404_lease_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    problem(app.heartbeat("alice", &unknown).await, StatusCode::NOT_FOUND, "lease_not_found").await;
}

async fn a_lease_is_only_found_under_its_own_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    problem(app.heartbeat("bob", &lease).await, StatusCode::NOT_FOUND, "lease_not_found").await;
    assert_eq!(app.release("bob", &lease).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.heartbeat("alice", &lease).await.status(), StatusCode::OK);
}

async fn heartbeat_after_release_is_410_released(backend: Backend) {
    let app = spawn_app(backend).await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    assert_eq!(app.release("alice", &lease).await.status(), StatusCode::NO_CONTENT);
    let ended = problem(app.heartbeat("alice", &lease).await, StatusCode::GONE, "lease_ended").await;
    assert_eq!(ended["reason"], "released");
    assert!(ended.get("by_lease_id").is_none());
}

async fn heartbeat_after_revoke_is_410_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = id(&app.acquire_ok("alice", "a").await);
    let b = id(&app.acquire_ok("alice", "b").await);
    app.acquire_ok("bob", "a").await;
    let response = app.client.delete(app.url("/v1/users/alice/leases")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({"revoked": 2}));
    for lease in [a, b] {
        let ended = problem(app.heartbeat("alice", &lease).await, StatusCode::GONE, "lease_ended").await;
        assert_eq!(ended["reason"], "revoked");
    }
    assert_eq!((app.active("alice").await, app.active("bob").await), (0, 1));
}

async fn the_end_reason_is_kept_for_one_ttl_then_the_lease_is_just_unknown(backend: Backend) {
    let ttl = 600;
    let app = spawn_app_with(backend, |s| {
        s.terms.ttl_ms = ttl;
        s.terms.heartbeat_interval_ms = 200;
    })
    .await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    app.release("alice", &lease).await;
    problem(app.heartbeat("alice", &lease).await, StatusCode::GONE, "lease_ended").await;
    app.let_time_pass(ttl + 50).await;
    problem(app.heartbeat("alice", &lease).await, StatusCode::NOT_FOUND, "lease_not_found").await;
}

/// A client ending leases in a loop keeps only the newest 64 tombstones, the
/// same on both stores; older ended leases answer 404 like unknown ones.
async fn a_user_keeps_at_most_64_tombstones_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ended = Vec::new();
    for n in 0..70 {
        let lease = id(&app.acquire_ok("churner", &format!("s{n}")).await);
        app.release("churner", &lease).await;
        ended.push(lease);
        app.let_time_pass(1).await;
    }
    for lease in &ended[..6] {
        problem(app.heartbeat("churner", lease).await, StatusCode::NOT_FOUND, "lease_not_found").await;
    }
    for lease in &ended[6..] {
        problem(app.heartbeat("churner", lease).await, StatusCode::GONE, "lease_ended").await;
    }
}

/// Revoking 70 leases at once: all end in the same millisecond, and the 64
/// with the highest ids keep their tombstones, on both stores alike.
async fn one_call_ending_more_than_64_leases_keeps_64_tombstones(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 100).await;
    let mut leases = Vec::new();
    for n in 0..70 {
        leases.push(id(&app.acquire_ok("alice", &format!("s{n}")).await));
    }
    let revoked = app.client.delete(app.url("/v1/users/alice/leases")).send().await.unwrap();
    assert_eq!(revoked.json::<serde_json::Value>().await.unwrap()["revoked"], 70);
    leases.sort();
    for (n, lease) in leases.iter().enumerate() {
        let status = app.heartbeat("alice", lease).await.status();
        let expected = if n < 6 { StatusCode::NOT_FOUND } else { StatusCode::GONE };
        assert_eq!(status, expected, "lease {n} of 70 by id");
    }
}

on_one_store!(
    one_call_ending_more_than_64_leases_keeps_64_tombstones,
    heartbeat_renews_the_lease_and_moves_its_expiry,
    heartbeat_of_an_unknown_lease_is_404_lease_not_found,
    a_lease_is_only_found_under_its_own_user,
    heartbeat_after_release_is_410_released,
    heartbeat_after_revoke_is_410_revoked,
    the_end_reason_is_kept_for_one_ttl_then_the_lease_is_just_unknown,
    a_user_keeps_at_most_64_tombstones_newest_first,
);
