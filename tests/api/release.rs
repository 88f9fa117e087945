//! Release (DELETE and the sendBeacon POST) and listing.

use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_one_store;

async fn release_frees_the_slot_and_is_safe_to_repeat(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    for _ in 0..2 {
        let response = app.release("alice", &lease).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    assert_eq!(app.active("alice").await, 0);
    app.acquire_ok("alice", "b").await;
}

async fn release_of_a_lease_never_known_is_204(backend: Backend) {
    let app = spawn_app(backend).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(app.release("nobody", &unknown).await.status(), StatusCode::NO_CONTENT);
}

async fn beacon_release_accepts_any_body_and_content_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let bodies: [(&str, Vec<u8>); 4] = [
        ("text/plain;charset=UTF-8", b"bye".to_vec()),
        ("application/json", b"{not json".to_vec()),
        ("application/octet-stream", vec![0xff; 10_000]),
        ("", Vec::new()),
    ];
    for (content_type, body) in bodies {
        let lease = id(&app.acquire_ok("alice", "a").await);
        let mut request = app.client.post(app.url(&format!("/v1/users/alice/leases/{lease}/release"))).body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        assert_eq!(request.send().await.unwrap().status(), StatusCode::NO_CONTENT, "{content_type}");
        problem(app.heartbeat("alice", &lease).await, StatusCode::GONE, "lease_ended").await;
    }
    assert_eq!(app.active("alice").await, 0);
}

async fn list_shows_the_live_leases_oldest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let empty = app.list("alice").await;
    assert_eq!(
        empty,
        serde_json::json!({"user_id": "alice", "limit": 3, "limit_source": "default", "active": 0, "leases": []})
    );
    let a = id(&app.acquire_ok("alice", "a").await);
    app.let_time_pass(5).await;
    let b = id(&app.acquire_ok("alice", "b").await);
    app.let_time_pass(5).await;
    let c = id(&app.acquire_ok("alice", "c").await);
    app.release("alice", &b).await;
    let listed = app.list("alice").await;
    assert_eq!(listed["active"], 2);
    let ids: Vec<String> = listed["leases"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![a, c]);
    assert_eq!(listed["leases"][1]["active"], 2);
    assert!(listed["leases"][0].get("evicted").is_none());
}

/// On the embedded store the test clock stands still, so these leases share
/// one millisecond; on Redis some may. Either way the list keeps the order
/// they were taken in.
async fn leases_taken_within_one_millisecond_list_in_the_order_taken(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 8).await;
    let mut taken = Vec::new();
    for n in 0..8 {
        taken.push(id(&app.acquire_ok("alice", &format!("s{n}")).await));
    }
    let listed: Vec<String> = app.list("alice").await["leases"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, taken);
}

on_one_store!(
    leases_taken_within_one_millisecond_list_in_the_order_taken,
    release_frees_the_slot_and_is_safe_to_repeat,
    release_of_a_lease_never_known_is_204,
    list_shows_the_live_leases_oldest_first,
    beacon_release_accepts_any_body_and_content_type,
);
