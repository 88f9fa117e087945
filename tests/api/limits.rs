//! Per-user limit overrides, and the admin token that guards them.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_one_store;

async fn a_limit_override_applies_and_can_be_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let read = |app: &TestApp| {
        let url = app.url("/v1/users/alice/limit");
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    assert_eq!(read(&app).await, json!({"user_id": "alice", "limit": 3, "source": "default", "classes": {}}));
    let response = app.put_limit("alice", json!(4)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({"user_id": "alice", "limit": 4, "source": "override", "classes": {}})
    );
    assert_eq!(read(&app).await["source"], "override");
    for stream in ["a", "b", "c", "d"] {
        assert_eq!(app.acquire_ok("alice", stream).await["limit"], 4);
    }
    let response = app.client.delete(app.url("/v1/users/alice/limit")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(read(&app).await, json!({"user_id": "alice", "limit": 3, "source": "default", "classes": {}}));
}

async fn lowering_a_limit_keeps_running_leases_but_denies_new_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let leases: Vec<String> =
        [app.acquire_ok("alice", "a").await, app.acquire_ok("alice", "b").await, app.acquire_ok("alice", "c").await]
            .iter()
            .map(id)
            .collect();
    assert_eq!(app.put_limit("alice", json!(1)).await.status(), StatusCode::OK);
    for lease in &leases {
        let renewed: serde_json::Value = app.heartbeat("alice", lease).await.json().await.unwrap();
        assert_eq!((renewed["active"].as_u64(), renewed["limit"].as_u64()), (Some(3), Some(1)));
    }
    let denied =
        problem(app.acquire("alice", json!({"stream_id": "d"})).await, StatusCode::CONFLICT, "limit_reached").await;
    assert_eq!((denied["active"].as_u64(), denied["limit"].as_u64()), (Some(3), Some(1)));
    // Still denied after one leaves: 2 live, limit 1.
    app.release("alice", &leases[0]).await;
    assert_eq!(app.acquire("alice", json!({"stream_id": "d"})).await.status(), StatusCode::CONFLICT);
}

async fn limits_outside_1_to_1000_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for bad in [json!(0), json!(1001), json!(-1), json!(2.5), json!(1e300), json!("3"), json!(null)] {
        problem(app.put_limit("alice", bad.clone()).await, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    assert_eq!(app.put_limit("alice", json!(1000)).await.status(), StatusCode::OK);
    // JSON counts 7.0 as the integer 7.
    assert_eq!(app.put_limit("alice", json!(7.0)).await.json::<serde_json::Value>().await.unwrap()["limit"], 7);
    assert_eq!(app.put_limit("alice", json!(1)).await.status(), StatusCode::OK);
    let limit: serde_json::Value = app.get("/v1/users/alice/limit").await.json().await.unwrap();
    assert_eq!(limit["limit"], 1);
}

async fn admin_routes_need_the_token_when_one_is_set(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.admin_token = Some("s3cret-token".into())).await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    let admin_calls = || {
        [
            app.client.put(app.url("/v1/users/alice/limit")).json(&json!({"limit": 5})),
            app.client.delete(app.url("/v1/users/alice/limit")),
            app.client.delete(app.url("/v1/users/alice/leases")),
        ]
    };
    for call in admin_calls() {
        problem(call.send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for call in admin_calls() {
        let wrong = call.bearer_auth("s3cret-tokeX").send().await.unwrap();
        problem(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(app.heartbeat("alice", &lease).await.status(), StatusCode::OK, "nothing was revoked");
    for call in admin_calls() {
        assert!(call.bearer_auth("s3cret-token").send().await.unwrap().status().is_success());
    }
    // Player routes need no admin token.
    assert_eq!(app.get("/v1/users/alice/limit").await.status(), StatusCode::OK);
}

/// `PUT …/limit` with class limits, and the acquires and overrides that
/// name classes wrongly: 400, and nothing changes.
async fn class_limits_are_set_per_user_and_bad_classes_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.terms.classes = streamlease::domain::Classes::parse("uhd=1,trailer=*", 1000).unwrap();
    })
    .await;
    let put = |body: serde_json::Value| {
        let request = app.client.put(app.url("/v1/users/alice/limit")).json(&body);
        async move { request.send().await.unwrap() }
    };
    let acquire = |classes: serde_json::Value| {
        let url = app.url("/v1/users/alice/leases");
        let request = app.client.post(url).json(&json!({"stream_id": "s", "classes": classes}));
        async move { request.send().await.unwrap() }
    };
    for bad in [
        json!({"limit": 4, "classes": {"hd": 2}}),
        json!({"limit": 4, "classes": {"trailer": 2}}),
        json!({"limit": 4, "classes": {"uhd": 1001}}),
        json!({"limit": 4, "classes": {"uhd": -1}}),
        json!({"limit": 4, "classes": ["uhd"]}),
        json!({"classes": {"uhd": 2}}),
    ] {
        let response = put(bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    for bad in [json!(["hd"]), json!(["uhd", "uhd"]), json!(["UHD"]), json!(["a", "b", "c", "d", "e"]), json!("uhd")] {
        assert_eq!(acquire(bad.clone()).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(app.get("/v1/users/alice/leases").await.json::<serde_json::Value>().await.unwrap()["active"], 0);
    let response = put(json!({"limit": 4, "classes": {"uhd": 2}})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let expected = json!({"user_id": "alice", "limit": 4, "source": "override", "classes": {
        "uhd": {"limit": 2, "source": "override", "exempt": false},
        "trailer": {"limit": null, "source": "default", "exempt": true},
    }});
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), expected);
    assert_eq!(app.get("/v1/users/alice/limit").await.json::<serde_json::Value>().await.unwrap(), expected);
    for _ in 0..2 {
        let lease: serde_json::Value = acquire(json!(["uhd"])).await.json().await.unwrap();
        assert_eq!(lease["classes"], json!(["uhd"]), "{lease}");
    }
    let refused: serde_json::Value = acquire(json!(["uhd"])).await.json().await.unwrap();
    assert_eq!((&refused["limit_class"], &refused["limit"]), (&json!("uhd"), &json!(2)), "{refused}");
}

on_one_store!(
    class_limits_are_set_per_user_and_bad_classes_are_refused,
    a_limit_override_applies_and_can_be_removed,
    lowering_a_limit_keeps_running_leases_but_denies_new_ones,
    limits_outside_1_to_1000_are_refused_and_change_nothing,
    admin_routes_need_the_token_when_one_is_set,
);
