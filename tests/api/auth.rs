//! With STREAMLEASE_JWT_SECRET set, a player acts only for the user its
//! token names; the admin token opens everything; nothing else gets in.

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use streamlease::config::{JwtSettings, Settings};

use crate::helpers::*;
use crate::on_one_store;

const SECRET: &str = "test-secret-test-secret-test-secret!";
const ADMIN: &str = "admin-token-for-tests";

/// A JWT for `sub`, valid for `ttl_s` seconds (negative: already expired).
fn token(sub: &str, ttl_s: i64, secret: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + ttl_s;
    signed(&Header::default(), json!({"sub": sub, "exp": exp}), secret)
}

fn signed(header: &Header, claims: Value, secret: &str) -> String {
    encode(header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// A JWT for `sub`, valid for an hour, signed with the secret `secure` sets.
pub fn token_for(sub: &str) -> String {
    token(sub, 3600, SECRET)
}

/// Player routes need a JWT, admin routes the admin token.
pub fn secure(s: &mut Settings) {
    s.jwt = Some(JwtSettings::with_secret(SECRET));
    s.admin_token = Some(ADMIN.into());
}

async fn secured_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, secure).await
}

/// The status of a list call for alice with `authorization` as sent.
async fn list_status(app: &TestApp, authorization: &str) -> StatusCode {
    let call = app.client.get(app.url("/v1/users/alice/leases")).header("authorization", authorization);
    call.send().await.unwrap().status()
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

async fn tokens_are_checked_as_the_rfcs_say(backend: Backend) {
    let app = secured_app(backend).await;
    let now = chrono::Utc::now().timestamp();
    let with = |claims: Value| signed(&Header::default(), claims, SECRET);
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    let good = with(json!({"sub": "alice", "exp": now + 60}));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(list_status(&app, &format!("{scheme} {good}")).await, StatusCode::OK, "{scheme}");
    }
    assert_eq!(list_status(&app, &format!("Basic {good}")).await, StatusCode::UNAUTHORIZED);
    // Not valid before `nbf` (RFC 7519 §4.1.5), beyond the clock skew.
    let early = with(json!({"sub": "alice", "exp": now + 600, "nbf": now + 300}));
    assert_eq!(list_status(&app, &format!("Bearer {early}")).await, StatusCode::UNAUTHORIZED);
    // An extension the token says we must understand, and we do not
    // (RFC 7515 §4.1.11).
    let mut critical = Header { crit: Some(vec!["exp-ext".into()]), ..Header::default() };
    critical.extras.insert("exp-ext", true);
    let critical = signed(&critical, json!({"sub": "alice", "exp": now + 60}), SECRET);
    assert_eq!(list_status(&app, &format!("Bearer {critical}")).await, StatusCode::UNAUTHORIZED);
    // With no audience configured, an `aud` claim is not ours to judge.
    let for_someone = with(json!({"sub": "alice", "exp": now + 60, "aud": "player-api"}));
    assert_eq!(list_status(&app, &format!("Bearer {for_someone}")).await, StatusCode::OK);
}

async fn a_configured_audience_and_issuer_must_match(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        secure(s);
        s.jwt = Some(JwtSettings {
            audience: Some("streamlease".into()),
            issuer: Some("https://id.example".into()),
            ..JwtSettings::with_secret(SECRET)
        });
    })
    .await;
    let exp = chrono::Utc::now().timestamp() + 60;
    let bearer = |claims: Value| format!("Bearer {}", signed(&Header::default(), claims, SECRET));
    let ok = json!({"sub": "alice", "exp": exp, "aud": "streamlease", "iss": "https://id.example"});
    assert_eq!(list_status(&app, &bearer(ok)).await, StatusCode::OK);
    for claims in [
        json!({"sub": "alice", "exp": exp, "iss": "https://id.example"}),
        json!({"sub": "alice", "exp": exp, "aud": "other", "iss": "https://id.example"}),
        json!({"sub": "alice", "exp": exp, "aud": "streamlease"}),
        json!({"sub": "alice", "exp": exp, "aud": "streamlease", "iss": "https://evil.example"}),
    ] {
        assert_eq!(list_status(&app, &bearer(claims.clone())).await, StatusCode::UNAUTHORIZED, "{claims}");
    }
}

on_one_store!(
    tokens_are_checked_as_the_rfcs_say,
    a_configured_audience_and_issuer_must_match,
    player_routes_need_a_valid_token,
    no_route_lets_one_user_act_on_anothers_leases,
    admin_routes_refuse_player_tokens_and_the_admin_token_opens_all,
    the_beacon_release_takes_the_token_in_its_query,
);

#[tokio::test]
async fn the_admin_token_is_never_taken_from_a_query_string() {
    let app = secured_app(Backend::Embedded).await;
    let lease = acquire_as(&app, "alice", &token("alice", 60, SECRET)).await;
    let beacon = app.url(&format!("/v1/users/alice/leases/{lease}/release?access_token={ADMIN}"));
    let response = app.client.post(beacon).body("bye").send().await.unwrap();
    problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let list = app.client.get(app.url("/v1/users/alice/leases")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(list.json::<Value>().await.unwrap()["active"], 1, "the lease was released");
}

#[tokio::test]
async fn tokens_living_longer_than_the_maximum_lifetime_are_refused() {
    let app = spawn_app_with(Backend::Embedded, |s| {
        secure(s);
        if let Some(jwt) = &mut s.jwt {
            jwt.max_lifetime = std::time::Duration::from_secs(3600);
        }
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let bearer = |claims: Value| format!("Bearer {}", signed(&Header::default(), claims, SECRET));
    for claims in [
        json!({"sub": "alice", "exp": u64::MAX}),
        json!({"sub": "alice", "exp": now + 3700}),
        json!({"sub": "alice", "exp": now + 60, "iat": now - 3600}),
        json!({"sub": "alice", "exp": now + 60, "iat": "yesterday"}),
    ] {
        let answer = app.client.get(app.url("/v1/users/alice/leases")).header("authorization", bearer(claims.clone()));
        problem(answer.send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for claims in [
        json!({"sub": "alice", "exp": now + 3500}),
        json!({"sub": "alice", "exp": now + 60, "iat": now - 3000}),
        json!({"sub": "alice", "exp": now + 3600, "iat": now}),
    ] {
        assert_eq!(list_status(&app, &bearer(claims.clone())).await, StatusCode::OK, "{claims}");
    }
}
