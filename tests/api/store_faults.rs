//! When Redis answers, but not as hoped: out of memory, read-only, corrupt
//! data, a stall. Each gets its own answer, and none of them leaks a slot.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

fn errors_of(metrics: &str, kind: &str, operation: &str) -> f64 {
    sample(metrics, &format!(r#"streamlease_store_errors_total{{kind="{kind}",operation="{operation}"}}"#))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn out_of_memory_refuses_new_leases_by_name_while_playing_streams_go_on() {
    let app = spawn_app_with(Backend::Redis, |s| s.fail_open = true).await;
    let playing = id(&app.acquire_ok("alice", "movie").await);
    assert_eq!(app.redis().command(&["CONFIG", "SET", "maxmemory", "1"]), "+OK");

    let refused = app.acquire("alice", json!({"stream_id": "news"})).await;
    assert_eq!(refused.headers()["retry-after"], "5");
    let body = problem(refused, StatusCode::SERVICE_UNAVAILABLE, "store_out_of_memory").await;
    assert!(body["detail"].as_str().unwrap().contains("out of memory"), "{body}");
    // Not an outage: fail-open does not hand out leases the store refused.
    assert!(body.get("degraded").is_none());
    let ready = app.get("/readyz").await;
    problem(ready, StatusCode::SERVICE_UNAVAILABLE, "store_out_of_memory").await;
    // Renewing and releasing never grow the data, so they still work.
    assert_eq!(app.heartbeat("alice", &playing).await.status(), StatusCode::OK);
    assert_eq!(app.release("alice", &playing).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(errors_of(&app.metrics().await, "out_of_memory", "acquire"), 1.0);

    assert_eq!(app.redis().command(&["CONFIG", "SET", "maxmemory", "0"]), "+OK");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.acquire_ok("alice", "news").await;
}

#[tokio::test]
async fn a_read_only_replica_is_named_and_not_ready() {
    let app = spawn_app(Backend::Redis).await;
    let playing = id(&app.acquire_ok("alice", "movie").await);
    // Nothing listens there: the replica never syncs and stays read-only.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    app.redis().command(&["REPLICAOF", "127.0.0.1", &nowhere.to_string()]);

    let refused = app.acquire("alice", json!({"stream_id": "news"})).await;
    problem(refused, StatusCode::SERVICE_UNAVAILABLE, "store_read_only").await;
    problem(app.heartbeat("alice", &playing).await, StatusCode::SERVICE_UNAVAILABLE, "store_read_only").await;
    problem(app.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE, "store_read_only").await;
    // Reads still work on a replica.
    assert_eq!(app.active("alice").await, 1);

    app.redis().command(&["REPLICAOF", "NO", "ONE"]);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(app.heartbeat("alice", &playing).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn corrupt_data_is_a_500_store_error_that_never_fails_open() {
    let app = spawn_app_with(Backend::Redis, |s| s.fail_open = true).await;
    let redis = app.redis();
    redis.command(&["SET", "sl:{alice}:l", "not a lease record"]);
    redis.command(&["HSET", "sl:{bob}:l", "a", "hash"]);
    redis.command(&["SET", "sl:{carol}:limit", "many"]);
    for user in ["alice", "bob", "carol"] {
        let response = app.acquire(user, json!({"stream_id": "s"})).await;
        assert!(response.headers().get("retry-after").is_none(), "{user}");
        let body = problem(response, StatusCode::INTERNAL_SERVER_ERROR, "store_error").await;
        assert!(body.get("degraded").is_none(), "{user}: a broken limit must not turn into free leases");
    }
    let metrics = app.metrics().await;
    assert_eq!(errors_of(&metrics, "corrupt", "acquire"), 2.0, "alice's record and carol's limit");
    assert_eq!(errors_of(&metrics, "failed", "acquire"), 1.0, "bob's key of the wrong type");
    assert_eq!(errors_of(&metrics, "unavailable", "acquire"), 0.0);
    // Nothing was written for any of them.
    assert_eq!(redis.command(&["GET", "sl:{alice}:l"]), "not a lease record");
}

#[tokio::test]
async fn the_census_leaves_out_a_corrupt_user_and_counts_it() {
    let app = spawn_app_with(Backend::Redis, |s| s.metrics_refresh = Duration::from_millis(100)).await;
    app.acquire_ok("alice", "movie").await;
    app.acquire_ok("alice", "news").await;
    app.redis().command(&["SET", "sl:{mallory}:l", "garbage|x"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.metrics().await;
        let alice = sample(&metrics, r#"streamlease_user_active_leases{user_id="alice"}"#);
        let skipped = sample(&metrics, "streamlease_census_skipped_users_total").unwrap_or(0.0);
        if alice == Some(2.0) && skipped >= 1.0 {
            assert_eq!(sample(&metrics, "streamlease_active_leases"), Some(2.0));
            break;
        }
        assert!(Instant::now() < deadline, "the census did not go past the corrupt user:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Redis frozen by SIGSTOP answers nothing; the acquires get 503. When it
/// resumes it runs what queued up, and none of those acquires may take a
/// slot: their players were told they failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquire_answered_503_never_keeps_a_slot() {
    let app = spawn_app(Backend::Redis).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.redis().pause();
    let attempts = (0..5).map(|n| app.acquire("alice", json!({"stream_id": format!("s{n}")})));
    let answers = futures::future::join_all(attempts).await;
    app.redis().resume();
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    // The list call queues behind whatever Redis still has to run.
    assert_eq!(app.active("alice").await, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = app.redis().keys("sl:{alice}:l");
        if keys.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "a lease nobody knows of is stored: {keys:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..3 {
        let lease: Value = app.acquire_ok("alice", &format!("after{n}")).await;
        assert_eq!(lease["active"], n + 1);
    }
}
