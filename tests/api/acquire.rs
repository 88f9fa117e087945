//! Acquire: slots, the limit, device idempotency, evict_oldest, terminate.

use reqwest::StatusCode;
use serde_json::json;
use streamlease::domain::OnLimit;

use crate::helpers::*;
use crate::on_one_store;

async fn acquire_returns_201_with_a_lease_and_its_location(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.acquire("alice", json!({"stream_id": "movie-1", "device_id": "tv"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let lease: serde_json::Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/users/alice/leases/{}", id(&lease)));
    assert_eq!(lease["user_id"], "alice");
    assert_eq!(lease["stream_id"], "movie-1");
    assert_eq!(lease["device_id"], "tv");
    assert_eq!((lease["active"].as_u64(), lease["limit"].as_u64()), (Some(1), Some(3)));
    assert_eq!((lease["ttl_ms"].as_u64(), lease["heartbeat_interval_ms"].as_u64()), (Some(30_000), Some(10_000)));
    assert_eq!((lease["evicted"].clone(), lease["terminated"].clone()), (json!([]), json!([])));
    let acquired = chrono::DateTime::parse_from_rfc3339(lease["acquired_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(lease["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - acquired).num_milliseconds(), 30_000);
    assert!(lease["acquired_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lease["acquired_at"].as_str().unwrap().len(), "2026-01-01T00:00:00.000Z".len());
    uuid::Uuid::parse_str(&id(&lease)).unwrap();
    assert!(lease.get("device_id").is_some());
}

async fn acquire_returns_409_with_the_live_leases_when_the_user_is_at_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for stream in ["a", "b", "c"] {
        ids.push(id(&app.acquire_ok("alice", stream).await));
        app.let_time_pass(5).await;
    }
    let denied =
        problem(app.acquire("alice", json!({"stream_id": "d"})).await, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!((denied["limit"].as_u64(), denied["active"].as_u64()), (Some(3), Some(3)));
    let listed: Vec<String> = denied["leases"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, ids, "oldest first");
    assert_eq!(denied["leases"][0]["stream_id"], "a");
    assert_eq!(app.active("alice").await, 3);
}

async fn users_do_not_share_a_limit(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
    app.acquire_ok("alice", "a").await;
    app.acquire_ok("bob", "a").await;
    assert_eq!(app.acquire("alice", json!({"stream_id": "b"})).await.status(), StatusCode::CONFLICT);
}

async fn acquire_from_the_same_device_renews_its_lease_with_200(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
    let first = app.acquire("alice", json!({"stream_id": "episode-1", "device_id": "tv"}));
    let first: serde_json::Value = first.await.json().await.unwrap();
    // A retry, or the next episode, at the limit: the same lease, no new slot.
    let again = app.acquire("alice", json!({"stream_id": "episode-2", "device_id": "tv"})).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.headers().get("location").is_none());
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(id(&again), id(&first));
    assert_eq!(again["stream_id"], "episode-2");
    assert_eq!(again["acquired_at"], first["acquired_at"]);
    assert_eq!(again["active"], 1);
    // Another device is still refused.
    let other = app.acquire("alice", json!({"stream_id": "x", "device_id": "phone"})).await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
}

async fn the_device_name_is_kept_with_the_lease_and_shown_at_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
    // The characters a stored lease record uses as separators, and more.
    let name = "Den 50% | TV; 2nd 📺";
    let first = app.acquire("alice", json!({"stream_id": "e1", "device_id": "tv", "device_name": name})).await;
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["device_name"], name);
    // The next episode, without a name: the same lease, moved, name kept.
    let next = app.acquire("alice", json!({"stream_id": "e2", "device_id": "tv"})).await;
    let next: serde_json::Value = next.json().await.unwrap();
    assert_eq!((id(&next), &next["stream_id"], &next["device_name"]), (id(&first), &json!("e2"), &json!(name)));
    let listed = app.list("alice").await;
    assert_eq!((&listed["leases"][0]["stream_id"], &listed["leases"][0]["device_name"]), (&json!("e2"), &json!(name)));
    let heartbeat: serde_json::Value = app.heartbeat("alice", &id(&first)).await.json().await.unwrap();
    assert_eq!(heartbeat["device_name"], name);
    // The chooser's list names the device.
    let denied = app.acquire("alice", json!({"stream_id": "x", "device_id": "phone", "device_name": "Phone"})).await;
    let denied = problem(denied, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!(denied["leases"][0]["device_name"], name);
    // A new name replaces the old one; a lease without one shows null.
    let renamed = app.acquire("alice", json!({"stream_id": "e2", "device_id": "tv", "device_name": "TV"})).await;
    assert_eq!(renamed.json::<serde_json::Value>().await.unwrap()["device_name"], "TV");
    let bob: serde_json::Value = app.acquire_ok("bob", "s").await;
    assert!(bob["device_name"].is_null() && bob.get("device_name").is_some(), "{bob}");
}

async fn evict_oldest_ends_the_least_recently_renewed_lease_and_names_it(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 2).await;
    let older = id(&app.acquire_ok("alice", "a").await);
    app.let_time_pass(5).await;
    let newer = id(&app.acquire_ok("alice", "b").await);
    app.let_time_pass(5).await;
    // Renewing the older lease makes the newer one the least recently renewed.
    assert_eq!(app.heartbeat("alice", &older).await.status(), StatusCode::OK);
    let response = app.acquire("alice", json!({"stream_id": "c", "on_limit": "evict_oldest"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let lease: serde_json::Value = response.json().await.unwrap();
    assert_eq!(lease["evicted"], json!([newer]));
    assert_eq!(lease["active"], 2);
    let ended = problem(app.heartbeat("alice", &newer).await, StatusCode::GONE, "lease_ended").await;
    assert_eq!(ended["reason"], "evicted");
    assert_eq!(ended["by_lease_id"], lease["lease_id"]);
    assert_eq!(app.heartbeat("alice", &older).await.status(), StatusCode::OK);
}

async fn the_configured_policy_applies_when_the_body_names_none(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.terms.default_limit = 1;
        s.on_limit = OnLimit::EvictOldest;
    })
    .await;
    let first = id(&app.acquire_ok("alice", "a").await);
    let second: serde_json::Value = app.acquire_ok("alice", "b").await;
    assert_eq!(second["evicted"], json!([first]));
    // The body can still ask for deny.
    let denied = app.acquire("alice", json!({"stream_id": "c", "on_limit": "deny"})).await;
    assert_eq!(denied.status(), StatusCode::CONFLICT);
}

async fn terminate_ends_the_named_leases_and_takes_their_slot(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 2).await;
    let a = id(&app.acquire_ok("alice", "a").await);
    let b = id(&app.acquire_ok("alice", "b").await);
    let response = app.acquire("alice", json!({"stream_id": "c", "terminate": [a, a]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let lease: serde_json::Value = response.json().await.unwrap();
    assert_eq!(lease["terminated"], json!([a]));
    assert_eq!(lease["evicted"], json!([]));
    let ended = problem(app.heartbeat("alice", &a).await, StatusCode::GONE, "lease_ended").await;
    assert_eq!(
        (ended["reason"].as_str(), ended["by_lease_id"].as_str()),
        (Some("terminated"), lease["lease_id"].as_str())
    );
    assert_eq!(app.heartbeat("alice", &b).await.status(), StatusCode::OK);
    assert_eq!(app.active("alice").await, 2);
}

async fn terminate_cannot_touch_another_users_leases(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
    let bobs = id(&app.acquire_ok("bob", "a").await);
    app.acquire_ok("alice", "a").await;
    let response = app.acquire("alice", json!({"stream_id": "b", "terminate": [bobs]})).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(app.heartbeat("bob", &bobs).await.status(), StatusCode::OK);
}

/// The reason and successor a heartbeat of an ended lease reports.
async fn end_of(app: &TestApp, user: &str, lease: &str) -> (String, Option<String>) {
    let ended = problem(app.heartbeat(user, lease).await, StatusCode::GONE, "lease_ended").await;
    (ended["reason"].as_str().unwrap().to_owned(), ended["by_lease_id"].as_str().map(str::to_owned))
}

async fn a_device_renewal_can_terminate_other_leases_in_the_same_step(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 2).await;
    let tv = id(&app.acquire("alice", json!({"stream_id": "a", "device_id": "tv"})).await.json().await.unwrap());
    let other = id(&app.acquire_ok("alice", "b").await);
    let response = app.acquire("alice", json!({"stream_id": "c", "device_id": "tv", "terminate": [other]})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: serde_json::Value = response.json().await.unwrap();
    assert_eq!((id(&renewed), &renewed["terminated"]), (tv.clone(), &json!([other])));
    assert_eq!((renewed["active"].as_u64(), renewed["stream_id"].as_str()), (Some(1), Some("c")));
    assert_eq!(end_of(&app, "alice", &other).await, ("terminated".into(), Some(tv)));
}

async fn terminating_the_devices_own_lease_gives_it_a_new_one(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 1).await;
    let old = id(&app.acquire("alice", json!({"stream_id": "a", "device_id": "tv"})).await.json().await.unwrap());
    let response = app.acquire("alice", json!({"stream_id": "b", "device_id": "tv", "terminate": [old]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let new: serde_json::Value = response.json().await.unwrap();
    assert_ne!(id(&new), old);
    assert_eq!(new["terminated"], json!([old]));
    assert_eq!(end_of(&app, "alice", &old).await, ("terminated".into(), Some(id(&new))));
    assert_eq!(app.active("alice").await, 1);
}

async fn terminations_hold_when_the_acquire_is_still_denied(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.terms.default_limit = 2).await;
    let a = id(&app.acquire_ok("alice", "a").await);
    let b = id(&app.acquire_ok("alice", "b").await);
    app.put_limit("alice", json!(1)).await;
    let response = app.acquire("alice", json!({"stream_id": "c", "terminate": [a]})).await;
    let denied = problem(response, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!((denied["active"].as_u64(), denied["leases"][0]["lease_id"].as_str()), (Some(1), Some(b.as_str())));
    assert_eq!(end_of(&app, "alice", &a).await, ("terminated".into(), None));
}

async fn evict_oldest_after_a_lowered_limit_evicts_as_many_as_needed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut taken = Vec::new();
    for n in 0..3 {
        taken.push(id(&app.acquire_ok("alice", &format!("s{n}")).await));
        app.let_time_pass(2).await;
    }
    app.put_limit("alice", json!(1)).await;
    let response = app.acquire("alice", json!({"stream_id": "new", "on_limit": "evict_oldest"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let new: serde_json::Value = response.json().await.unwrap();
    assert_eq!((new["evicted"].clone(), new["active"].as_u64()), (json!(taken), Some(1)));
    for lease in &taken {
        assert_eq!(end_of(&app, "alice", lease).await, ("evicted".into(), Some(id(&new))));
    }
}

on_one_store!(
    a_device_renewal_can_terminate_other_leases_in_the_same_step,
    terminating_the_devices_own_lease_gives_it_a_new_one,
    terminations_hold_when_the_acquire_is_still_denied,
    evict_oldest_after_a_lowered_limit_evicts_as_many_as_needed,
    acquire_returns_201_with_a_lease_and_its_location,
    acquire_returns_409_with_the_live_leases_when_the_user_is_at_the_limit,
    users_do_not_share_a_limit,
    acquire_from_the_same_device_renews_its_lease_with_200,
    the_device_name_is_kept_with_the_lease_and_shown_at_the_limit,
    evict_oldest_ends_the_least_recently_renewed_lease_and_names_it,
    the_configured_policy_applies_when_the_body_names_none,
    terminate_ends_the_named_leases_and_takes_their_slot,
    terminate_cannot_touch_another_users_leases,
);
