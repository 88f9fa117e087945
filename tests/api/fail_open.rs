//! Fail-open mode: while Redis is down, players keep playing (degraded
//! answers); once it is back, their heartbeats restore real leases.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_keeps_playback_going_through_an_outage_and_restores_after() {
    let app = spawn_app_with(Backend::Redis, |s| s.fail_open = true).await;
    let movie = id(&app.acquire_ok("alice", "movie").await);
    app.redis().kill();

    let response = app.acquire("alice", json!({"stream_id": "news", "device_id": "tv"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let news: Value = response.json().await.unwrap();
    assert_eq!((news["degraded"].as_bool(), news["stream_id"].as_str()), (Some(true), Some("news")));
    assert!(news.get("active").is_none(), "unknown while the store is down: {news}");
    let news_id = id(&news);

    let beat = app.heartbeat_with("alice", &movie, json!({"stream_id": "movie"})).await;
    assert_eq!(beat.status(), StatusCode::OK);
    assert_eq!(beat.json::<Value>().await.unwrap()["degraded"], true);
    // A release is never acknowledged unless it happened.
    problem(app.release("alice", &movie).await, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;

    // Redis returns empty: heartbeats restore both leases for real.
    app.redis().restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    for (lease, body) in
        [(&movie, json!({"stream_id": "movie"})), (&news_id, json!({"stream_id": "news", "device_id": "tv"}))]
    {
        loop {
            let answer: Value = app.heartbeat_with("alice", lease, body.clone()).await.json().await.unwrap();
            if answer.get("degraded").is_some() && Instant::now() < deadline {
                continue;
            }
            assert_eq!(answer["restored"], true, "{answer}");
            break;
        }
    }
    assert_eq!(app.active("alice").await, 2);
    let metrics = app.metrics().await;
    let degraded =
        |op| sample(&metrics, &format!(r#"streamlease_lease_operations_total{{operation="{op}",outcome="degraded"}}"#));
    assert_eq!(degraded("acquire"), Some(1.0));
    assert!(degraded("heartbeat") >= Some(1.0));
}

/// No lease token is signed for a lease nobody recorded; the answer says so
/// with `lease_token: null`, and the restored lease gets one.
#[tokio::test]
async fn a_degraded_answer_carries_no_lease_token() {
    let tokens = std::sync::Arc::new(streamlease::lease_token::LeaseTokens::from_secret(&[7; 32]));
    let app = spawn_app_with(Backend::Redis, move |s| {
        s.fail_open = true;
        s.lease_tokens = Some(tokens);
    })
    .await;
    app.redis().kill();
    let degraded: Value = app.acquire("alice", json!({"stream_id": "s"})).await.json().await.unwrap();
    assert_eq!((&degraded["degraded"], &degraded["lease_token"]), (&json!(true), &Value::Null), "{degraded}");
    assert!(degraded.as_object().unwrap().contains_key("lease_token"), "said, not left out: {degraded}");
    app.redis().restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer: Value =
            app.heartbeat_with("alice", &id(&degraded), json!({"stream_id": "s"})).await.json().await.unwrap();
        if answer.get("degraded").is_some() && Instant::now() < deadline {
            continue;
        }
        assert!(answer["lease_token"].is_string(), "the restored lease's token: {answer}");
        break;
    }
}

#[tokio::test]
async fn without_fail_open_an_outage_is_503() {
    let app = spawn_app(Backend::Redis).await;
    app.redis().kill();
    let response = app.acquire("alice", json!({"stream_id": "s"})).await;
    problem(response, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
}
