//! Overload: past its bound of store calls under way, an instance answers
//! 503 `overloaded` at once instead of queueing, new acquires first and
//! heartbeats last (the order itself is unit-tested in `shedding.rs`).
//! Redis is frozen so that calls stay under way.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn past_its_bound_an_acquire_is_refused_at_once_while_heartbeats_still_go_through() {
    // Heartbeats are shed past 8 calls under way, acquires past 2.
    let app = spawn_app_with(Backend::Redis, |s| {
        s.workers = 1;
        s.shed.store_calls = 8;
    })
    .await;
    let lease = id(&app.acquire_ok("alice", "s").await);
    app.redis().pause();
    let waiting: Vec<_> = (0..2)
        .map(|n| {
            let request = app.client.post(app.url(&format!("/v1/users/u{n}/leases"))).json(&json!({"stream_id": "s"}));
            tokio::spawn(request.send())
        })
        .collect();
    // Until both are under way, a probe may join them; then one is shed.
    let deadline = Instant::now() + Duration::from_secs(1);
    let (shed, took) = loop {
        let started = Instant::now();
        let probe = app.client.post(app.url("/v1/users/probe/leases")).json(&json!({"stream_id": "s"}));
        if let Ok(answer) = probe.timeout(Duration::from_millis(100)).send().await {
            break (answer, started.elapsed());
        }
        assert!(Instant::now() < deadline, "no acquire was shed");
    };
    assert!(took < Duration::from_millis(50), "a shed answer took {took:?}");
    assert_eq!(shed.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    let body = problem(shed, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
    assert!(body["detail"].as_str().unwrap().contains("retry"), "{body}");
    // A heartbeat is not shed yet: it waits on the frozen Redis with the rest.
    let heartbeat = tokio::spawn(app.client.post(app.url(&format!("/v1/users/alice/leases/{lease}/heartbeat"))).send());
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.redis().resume();
    let heartbeat = heartbeat.await.unwrap().unwrap();
    assert_ne!(heartbeat.status(), StatusCode::SERVICE_UNAVAILABLE, "the heartbeat was refused");
    // The first two calls under way (these or probes) were answered by the store.
    let answered: Vec<Value> = futures::future::join_all(waiting.into_iter().map(|w| async {
        let answer = w.await.unwrap().unwrap();
        answer.json().await.unwrap()
    }))
    .await;
    assert!(answered.iter().any(|body| body["code"] != "overloaded"), "{answered:?}");
    let metrics = app.metrics().await;
    let shed = |op: &str| {
        sample(&metrics, &format!(r#"streamlease_lease_operations_total{{operation="{op}",outcome="shed"}}"#))
    };
    assert!(shed("acquire") >= Some(1.0), "{metrics}");
    assert_eq!(shed("heartbeat"), Some(0.0));
}
