//! Every API answer says `Cache-Control: no-store`: lease answers are per
//! user and change with each heartbeat, so no CDN, proxy or browser may
//! answer from a copy. HTTP behaviour, so one store is enough.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::*;

fn assert_not_stored(response: &Response, what: &str) {
    let value = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(value.as_deref(), Some("no-store"), "{what} ({})", response.status());
}

#[tokio::test]
async fn every_kind_of_answer_says_no_store() {
    let app = spawn_app_with(Backend::Embedded, |s| s.terms.default_limit = 1).await;
    let created = app.acquire("alice", json!({"stream_id": "s", "device_id": "tv"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_not_stored(&created, "201 acquire");
    let lease = id(&created.json().await.unwrap());
    let renewed = app.acquire("alice", json!({"stream_id": "s", "device_id": "tv"})).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    assert_not_stored(&renewed, "200 acquire");
    let refused = app.acquire("alice", json!({"stream_id": "t"})).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert_not_stored(&refused, "409");
    let heartbeat = app.heartbeat("alice", &lease).await;
    assert_eq!(heartbeat.status(), StatusCode::OK);
    assert_not_stored(&heartbeat, "200 heartbeat");
    let list = app.get("/v1/users/alice/leases").await;
    assert_eq!(list.status(), StatusCode::OK);
    assert_not_stored(&list, "lease list");
    let limit = app.get("/v1/users/alice/limit").await;
    assert_not_stored(&limit, "limit");
    let released = app.release("alice", &lease).await;
    assert_eq!(released.status(), StatusCode::NO_CONTENT);
    assert_not_stored(&released, "204");
    let ended = app.heartbeat("alice", &lease).await;
    assert_eq!(ended.status(), StatusCode::GONE);
    assert_not_stored(&ended, "410");
    let unknown = app.heartbeat("alice", &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_not_stored(&unknown, "404");
    let bad = app.acquire("alice", json!({"stream_id": ""})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_not_stored(&bad, "400");

    let guarded = spawn_app_with(Backend::Embedded, crate::auth::secure).await;
    let unauthorized = guarded.get("/v1/users/alice/leases").await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert_not_stored(&unauthorized, "401");
    let other_user = crate::auth::token_for("bob");
    let forbidden =
        guarded.client.get(guarded.url("/v1/users/alice/leases")).bearer_auth(other_user).send().await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_not_stored(&forbidden, "403");

    // Even the parser's own answers.
    let raw = raw_http(&app, "GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n").await;
    assert!(raw.to_ascii_lowercase().contains("cache-control: no-store"), "{raw}");
}
