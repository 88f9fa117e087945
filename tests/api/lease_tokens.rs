//! Lease tokens, as an edge or a license proxy sees them: verified by `jose`
//! (an independent library, from npm) against `/.well-known/jwks.json` or
//! the shared secret, for live leases only, never outliving the lease, and
//! through a key rotation.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use streamlease::lease_token::{LeaseTokens, new_key_pem};

use crate::helpers::*;
use crate::js_client::js_package;

const SECRET: &str = "a-lease-token-secret-of-32-bytes!";

/// What `jose` makes of `token`, checked with `key` (`jwks-url`,
/// `jwks-file` or `secret`, then where): `{header, payload}` or `{error}`.
fn verify(key: (&str, &str), token: &str) -> Value {
    let out = Command::new("node")
        .args(["test/lease-token/verify.mjs", key.0, key.1, token])
        .current_dir(js_package())
        .output()
        .expect("node runs the verifier");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn verified(key: (&str, &str), token: &str) -> Value {
    let answer = verify(key, token);
    assert!(answer.get("error").is_none(), "{answer}");
    answer
}

async fn signing_with(pem: String) -> TestApp {
    let tokens = Arc::new(LeaseTokens::from_pem(pem.as_bytes()).unwrap());
    spawn_app_with(Backend::Embedded, move |s| s.lease_tokens = Some(tokens)).await
}

async fn jwks(app: &TestApp) -> reqwest::Response {
    app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap()
}

fn seconds(rfc3339: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap()).unwrap().timestamp()
}

#[tokio::test]
async fn an_es256_token_verifies_against_the_published_keys_and_ends_with_its_lease() {
    let app = signing_with(new_key_pem() + &new_key_pem()).await;
    let published = jwks(&app).await;
    assert_eq!(published.status(), StatusCode::OK);
    assert_eq!(published.headers()["cache-control"], "public, max-age=300");
    let keys: Value = published.json().await.unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "every key of the file is published");
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()), "a private part: {keys}");

    let body = json!({"stream_id": "movie-42", "device_id": "tv"});
    let lease: Value = app.acquire("alice", body).await.json().await.unwrap();
    let jwks_url = app.url("/.well-known/jwks.json");
    let token = verified(("jwks-url", &jwks_url), lease["lease_token"].as_str().unwrap());
    assert_eq!(token["header"]["alg"], "ES256");
    assert_eq!(token["header"]["kid"], keys["keys"][0]["kid"], "the first key signs");
    let claims = &token["payload"];
    assert_eq!(
        (&claims["sub"], &claims["lid"], &claims["sid"]),
        (&json!("alice"), &lease["lease_id"], &json!("movie-42"))
    );
    assert_eq!(claims["dev"], "tv");
    assert!(claims["exp"].as_i64().unwrap() <= seconds(&lease["expires_at"]), "{claims} outlives {lease}");
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());

    // A bare heartbeat gets a new token; one sending a fresh token back does not.
    let id = lease["lease_id"].as_str().unwrap();
    let renewed: Value = app.heartbeat("alice", id).await.json().await.unwrap();
    let fresh = renewed["lease_token"].as_str().expect("a token for a bare heartbeat").to_owned();
    assert!(
        verified(("jwks-url", &jwks_url), &fresh)["payload"]["exp"].as_i64().unwrap()
            <= seconds(&renewed["expires_at"])
    );
    let url = app.url(&format!("/v1/users/alice/leases/{id}/heartbeat"));
    let again: Value = app.client.post(&url).header("Lease-Token", &fresh).send().await.unwrap().json().await.unwrap();
    assert!(again.get("lease_token").is_none(), "re-signed a token with its whole life left: {again}");
    assert_eq!(again["lease_id"], lease["lease_id"]);
    // Once it has less than half its life left, a new one.
    app.let_time_pass(app_ttl_ms(&again) / 2 + 1_000).await;
    let later: Value = app.client.post(&url).header("Lease-Token", &fresh).send().await.unwrap().json().await.unwrap();
    assert!(later["lease_token"].is_string(), "{later}");

    // An ended lease, or an expired one, gets no token: only a problem.
    app.release("alice", id).await;
    let ended = app.heartbeat("alice", id).await;
    assert_eq!(ended.status(), StatusCode::GONE);
    assert!(ended.json::<Value>().await.unwrap().get("lease_token").is_none());
    let other: Value = app.acquire_ok("alice", "movie-43").await;
    app.let_time_pass(app_ttl_ms(&other) + 1).await;
    let expired = app.heartbeat("alice", other["lease_id"].as_str().unwrap()).await;
    assert_eq!(expired.status(), StatusCode::NOT_FOUND);
    assert!(expired.json::<Value>().await.unwrap().get("lease_token").is_none());
}

fn app_ttl_ms(lease: &Value) -> i64 {
    lease["ttl_ms"].as_i64().unwrap()
}

/// Rotation as the README gives it: add the new key second (published, not
/// signing), let edges fetch the keys, then move it first. Its tokens
/// verify against what edges fetched after the first step, not before it.
#[tokio::test]
async fn a_token_of_a_rotated_key_verifies_once_that_key_was_published() {
    let (old, new) = (new_key_pem(), new_key_pem());
    let dir = tempfile::tempdir().unwrap();
    let fetched = |app: TestApp, name: &'static str| {
        let path = dir.path().join(name);
        async move {
            std::fs::write(&path, jwks(&app).await.text().await.unwrap()).unwrap();
            path
        }
    };
    let before = fetched(signing_with(old.clone()).await, "before.json").await;
    let published = fetched(signing_with(old.clone() + &new).await, "published.json").await;
    let rotated = signing_with(new.clone() + &old).await;
    let token = rotated.acquire_ok("alice", "movie").await["lease_token"].as_str().unwrap().to_owned();
    let file = |path: &Path| path.to_str().unwrap().to_owned();
    verified(("jwks-file", &file(&published)), &token);
    let refused = verify(("jwks-file", &file(&before)), &token);
    assert!(refused["error"].as_str().unwrap().contains("ERR_JWKS_NO_MATCHING_KEY"), "{refused}");
}

#[tokio::test]
async fn an_hs256_token_verifies_with_the_secret_and_nothing_is_published() {
    let tokens = Arc::new(LeaseTokens::from_secret(SECRET.as_bytes()));
    let app = spawn_app_with(Backend::Embedded, move |s| s.lease_tokens = Some(tokens)).await;
    assert_eq!(jwks(&app).await.status(), StatusCode::NOT_FOUND);
    let lease = app.acquire_ok("alice", "movie").await;
    let token = verified(("secret", SECRET), lease["lease_token"].as_str().unwrap());
    assert_eq!((&token["header"]["alg"], &token["payload"]["lid"]), (&json!("HS256"), &lease["lease_id"]));
    let forged = verify(("secret", "another-secret-of-at-least-32-bytes"), lease["lease_token"].as_str().unwrap());
    assert!(forged.get("error").is_some(), "{forged}");
}

#[tokio::test]
async fn without_lease_tokens_nothing_is_signed_or_published() {
    let app = spawn_app(Backend::Embedded).await;
    assert_eq!(jwks(&app).await.status(), StatusCode::NOT_FOUND);
    let lease = app.acquire_ok("alice", "movie").await;
    assert!(lease.get("lease_token").is_none(), "{lease}");
}
