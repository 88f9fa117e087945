//! Liveness, readiness, metrics.

use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_every_store;

async fn healthz_readyz_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    let kind = if backend.is_redis() { "redis" } else { "embedded" };
    assert_eq!(ready, serde_json::json!({"status": "ready", "store": kind}));
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
}

async fn probes_may_send_head(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.bytes().await.unwrap().len(), 0, "{path}: a HEAD answer has no body");
    }
}

on_every_store!(healthz_readyz_and_metrics_answer,);

mod http {
    use super::*;
    crate::on_one_store!(probes_may_send_head,);
}

#[tokio::test]
async fn readyz_is_503_store_unavailable_while_redis_does_not_answer() {
    // Nothing listens on this port once the probe listener is gone.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(Backend::Embedded, |s| s.redis_url = Some(format!("redis://127.0.0.1:{port}"))).await;
    let started = std::time::Instant::now();
    let response = app.get("/readyz").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(response.headers().contains_key("retry-after"));
    problem(response, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let response = app.acquire("alice", serde_json::json!({"stream_id": "s"})).await;
    problem(response, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable").await;
}
