//! With STREAMLEASE_JWT_SECRET set, a player acts only for the user its
//! token names; the admin token opens everything; nothing else gets in.

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_stores;

const SECRET: &str = "test-secret-test-secret-test-secret!";
const ADMIN: &str = "admin-token-for-tests";

/// A JWT for `sub`, valid for `ttl_s` seconds (negative: already expired).
fn token(sub: &str, ttl_s: i64, secret: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + ttl_s;
    encode(&Header::default(), &json!({"sub": sub, "exp": exp}), &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn secured_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.jwt_secret = Some(SECRET.into());
        s.admin_token = Some(ADMIN.into());
    })
    .await
}

/// Acquires a lease for `user` with `bearer`; returns its id.
async fn acquire_as(app: &TestApp, user: &str, bearer: &str) -> String {
    let request = app.client.post(app.url(&format!("/v1/users/{user}/leases"))).bearer_auth(bearer);
    let response = request.json(&json!({"stream_id": "s"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    id(&response.json::<serde_json::Value>().await.unwrap())
}

/// Every player route for `user`, with `lease` where one is needed.
fn player_calls(app: &TestApp, user: &str, lease: &str) -> Vec<(&'static str, RequestBuilder)> {
    let c = &app.client;
    let base = format!("/v1/users/{user}/leases");
    vec![
        ("acquire", c.post(app.url(&base)).json(&json!({"stream_id": "s"}))),
        ("list", c.get(app.url(&base))),
        ("heartbeat", c.post(app.url(&format!("{base}/{lease}/heartbeat")))),
        ("release", c.delete(app.url(&format!("{base}/{lease}")))),
        ("beacon release", c.post(app.url(&format!("{base}/{lease}/release")))),
        ("get limit", c.get(app.url(&format!("/v1/users/{user}/limit")))),
    ]
}

async fn player_routes_need_a_valid_token(backend: Backend) {
    let app = secured_app(backend).await;
    let lease = uuid::Uuid::new_v4().to_string();
    for (_, call) in player_calls(&app, "alice", &lease) {
        problem(call.send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for bad in
        [token("alice", 60, "another-secret-another-secret-anoth"), token("alice", -600, SECRET), "garbage".into()]
    {
        for (what, call) in player_calls(&app, "alice", &lease) {
            let response = call.bearer_auth(&bad).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        }
    }
    let alice = token("alice", 60, SECRET);
    for (what, call) in player_calls(&app, "alice", &lease) {
        let status = call.bearer_auth(&alice).send().await.unwrap().status();
        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{what}: {status}");
    }
}

async fn no_route_lets_one_user_act_on_anothers_leases(backend: Backend) {
    let app = secured_app(backend).await;
    let bob = token("bob", 60, SECRET);
    let lease = acquire_as(&app, "bob", &bob).await;
    let alice = token("alice", 60, SECRET);
    for (what, call) in player_calls(&app, "bob", &lease) {
        let response = call.bearer_auth(&alice).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let beacon = app.url(&format!("/v1/users/bob/leases/{lease}/release?access_token={alice}"));
    assert_eq!(app.client.post(beacon).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // Bob's lease is untouched.
    let heartbeat = app.client.post(app.url(&format!("/v1/users/bob/leases/{lease}/heartbeat"))).bearer_auth(&bob);
    assert_eq!(heartbeat.send().await.unwrap().status(), StatusCode::OK);
}

async fn admin_routes_refuse_player_tokens_and_the_admin_token_opens_all(backend: Backend) {
    let app = secured_app(backend).await;
    let alice = token("alice", 60, SECRET);
    let c = &app.client;
    let admin_calls = || {
        [
            c.put(app.url("/v1/users/alice/limit")).json(&json!({"limit": 5})),
            c.delete(app.url("/v1/users/alice/limit")),
            c.delete(app.url("/v1/users/alice/leases")),
        ]
    };
    for call in admin_calls() {
        problem(call.bearer_auth(&alice).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for call in admin_calls() {
        assert!(call.bearer_auth(ADMIN).send().await.unwrap().status().is_success());
    }
    // On player routes the admin token passes the guard (an unknown lease
    // then is simply not found).
    let lease = uuid::Uuid::new_v4().to_string();
    for (what, call) in player_calls(&app, "alice", &lease) {
        let status = call.bearer_auth(ADMIN).send().await.unwrap().status();
        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{what}: {status}");
    }
}

async fn the_beacon_release_takes_the_token_in_its_query(backend: Backend) {
    let app = secured_app(backend).await;
    let alice = token("alice", 60, SECRET);
    let lease = acquire_as(&app, "alice", &alice).await;
    let beacon = app.url(&format!("/v1/users/alice/leases/{lease}/release?access_token={alice}"));
    let response = app.client.post(beacon).header("content-type", "text/plain").body("bye").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let list = app.client.get(app.url("/v1/users/alice/leases")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(list.json::<serde_json::Value>().await.unwrap()["active"], 0);
    // Only the beacon route reads the query.
    let query_only = app.client.get(app.url(&format!("/v1/users/alice/leases?access_token={alice}")));
    assert_eq!(query_only.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

on_both_stores!(
    player_routes_need_a_valid_token,
    no_route_lets_one_user_act_on_anothers_leases,
    admin_routes_refuse_player_tokens_and_the_admin_token_opens_all,
    the_beacon_release_takes_the_token_in_its_query,
);
