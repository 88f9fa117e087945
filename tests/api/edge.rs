//! The shipped edge (`deploy/edge/`) in front of a directory of HLS
//! segments: media only with a valid lease token for its stream; and in
//! Chromium, hls.js with the package's adapter playing through it only
//! with a lease.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use streamlease::domain::{Lease, LeaseId, StreamId, UserId};
use streamlease::lease_token::{LeaseTokens, new_key_pem};

use crate::browser::{BROWSERS, CHROMIUM_HINT, Script};
use crate::edge_server::Edge;
use crate::helpers::*;
use crate::js_client::js_package;

const SEGMENT: &[u8] = b"\x47not really MPEG-TS, but bytes the edge serves as they are";

/// A token signed by `tokens` for a lease of `stream` expiring `expires_in_ms`
/// from now (negative: expired), signed 30 s before that.
fn token_of(tokens: &LeaseTokens, stream: &str, expires_in_ms: i64) -> String {
    let expires_at = chrono::Utc::now().timestamp_millis() + expires_in_ms;
    let lease = Lease {
        lease_id: LeaseId::new_random(),
        stream_id: StreamId::try_from(stream).unwrap(),
        device_id: None,
        device_name: None,
        classes: vec![],
        acquired_at: expires_at - 30_000,
        expires_at,
    };
    tokens.sign(&UserId::try_from("alice").unwrap(), &lease, expires_at - 30_000).unwrap()
}

async fn get(edge: &Edge, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(edge.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// 403 with the edge's JSON body, saying `reason`.
async fn refused(response: reqwest::Response, reason: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "lease_token_refused", "reason": reason}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_serves_a_segment_only_to_a_valid_token_for_its_stream() {
    let key = new_key_pem();
    let tokens = Arc::new(LeaseTokens::from_pem(key.as_bytes()).unwrap());
    let signer = tokens.clone();
    let app = spawn_app_with(Backend::Embedded, move |s| s.lease_tokens = Some(signer)).await;
    let edge = Edge::start(&app.base, None);
    edge.add_stream("movie-42", 2, SEGMENT);
    edge.add_stream("news", 1, SEGMENT);

    let lease = app.acquire_ok("alice", "movie-42").await;
    let token = lease["lease_token"].as_str().unwrap();
    let served = get(&edge, "/media/movie-42/seg0.ts", Some(token)).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().as_ref(), SEGMENT);
    let playlist = get(&edge, "/media/movie-42/index.m3u8", Some(token)).await;
    assert_eq!(playlist.status(), StatusCode::OK);
    assert_eq!(playlist.headers()["content-type"], "application/vnd.apple.mpegurl");
    // The query parameter, for players that cannot set a header.
    let by_query = reqwest::get(edge.url(&format!("/media/movie-42/seg1.ts?lease_token={token}"))).await.unwrap();
    assert_eq!(by_query.status(), StatusCode::OK);

    refused(get(&edge, "/media/movie-42/seg0.ts", None).await, "no_token").await;
    refused(get(&edge, "/media/news/seg0.ts", Some(token)).await, "another_stream").await;
    refused(get(&edge, "/media/movie-42/seg0.ts", Some(&token_of(&tokens, "movie-42", -10_000))).await, "expired")
        .await;
    // The signature of another token's payload, or a changed one.
    let (head, signature) = token.rsplit_once('.').unwrap();
    let other = app.acquire_ok("bob", "movie-42").await;
    let foreign_signature = other["lease_token"].as_str().unwrap().rsplit_once('.').unwrap().1;
    refused(get(&edge, "/media/movie-42/seg0.ts", Some(&format!("{head}.{foreign_signature}"))).await, "bad_signature")
        .await;
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &signature[1..]);
    refused(get(&edge, "/media/movie-42/seg0.ts", Some(&forged)).await, "bad_signature").await;
    // Signed by a key the service never published.
    let stranger = LeaseTokens::from_pem(new_key_pem().as_bytes()).unwrap();
    let unpublished = token_of(&stranger, "movie-42", 30_000);
    refused(get(&edge, "/media/movie-42/seg0.ts", Some(&unpublished)).await, "unknown_key").await;
    refused(get(&edge, "/media/movie-42/seg0.ts", Some("not.a-token")).await, "malformed").await;
    refused(get(&edge, "/media/movie-42/seg0.ts", Some("a.b.c")).await, "malformed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_takes_hs256_tokens_with_the_shared_secret() {
    const SECRET: &str = "a-lease-token-secret-of-32-bytes!";
    let tokens = Arc::new(LeaseTokens::from_secret(SECRET.as_bytes()));
    let app = spawn_app_with(Backend::Embedded, move |s| s.lease_tokens = Some(tokens)).await;
    let edge = Edge::start(&app.base, Some(SECRET));
    edge.add_stream("movie-42", 1, SEGMENT);
    let lease = app.acquire_ok("alice", "movie-42").await;
    let served = get(&edge, "/media/movie-42/seg0.ts", lease["lease_token"].as_str()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let other = LeaseTokens::from_secret(b"another-secret-of-at-least-32-bytes");
    refused(get(&edge, "/media/movie-42/seg0.ts", Some(&token_of(&other, "movie-42", 30_000))).await, "bad_signature")
        .await;
}

/// Lease TTL of the browser test, so the token lifetime: short, so a
/// terminated lease's media stops within seconds.
const BROWSER_TTL_MS: u64 = 6_000;

#[tokio::test]
async fn in_chromium_hlsjs_plays_through_the_edge_only_with_a_lease() {
    through_the_edge_in_chromium("hlsjs").await;
}

#[tokio::test]
async fn in_chromium_shaka_plays_through_the_edge_with_its_lease_token() {
    through_the_edge_in_chromium("shaka").await;
}

#[tokio::test]
async fn in_chromium_videojs_plays_through_the_edge_with_its_lease_token() {
    through_the_edge_in_chromium("videojs").await;
}

async fn through_the_edge_in_chromium(player: &str) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(std::path::Path::new(&chromium).exists(), "{CHROMIUM_HINT}");
    let package = js_package();
    let _browser = BROWSERS.acquire().await.expect("the semaphore is never closed");
    let mut script = Script::start(package, &chromium, &["build/test/browser/edge.js", player]);
    let page_origin = script.next_line().await.strip_prefix("page ").expect("the script's page origin").to_owned();
    let keys = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(keys.path(), new_key_pem()).unwrap();
    let ttl = BROWSER_TTL_MS.to_string();
    let service = ServiceProcess::start(&[
        ("STREAMLEASE_CORS_ORIGINS", &page_origin),
        ("STREAMLEASE_LEASE_TTL_MS", &ttl),
        ("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "2000"),
        ("STREAMLEASE_LEASE_TOKEN_KEY_FILE", keys.path().to_str().unwrap()),
    ])
    .await;
    let edge = Edge::start(&service.base, None);
    let episode = package.join("test/media/episode-1");
    std::fs::create_dir_all(edge.media.join("episode-1")).unwrap();
    for file in std::fs::read_dir(&episode).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), edge.media.join("episode-1").join(file.file_name())).unwrap();
    }
    script.send(&json!({ "service": service.base, "edge": edge.base, "ttl_ms": BROWSER_TTL_MS }));
    let line = script.next_line().await;
    assert_eq!(line, "passed", "{}", script.stderr());
    let status = script.wait().await;
    assert!(status.success(), "the browser script exited with {status}\n{}", script.stderr());
}
