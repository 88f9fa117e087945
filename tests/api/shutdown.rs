//! Graceful shutdown: SIGTERM under load lets in-flight requests finish,
//! refuses new ones, and exits 0 within the shutdown timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::helpers::ServiceProcess;
use crate::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_keeps_every_acknowledged_acquire_and_exits_0() {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut service =
        ServiceProcess::start(&[("REDIS_URL", url.as_str()), ("STREAMLEASE_SHUTDOWN_TIMEOUT_MS", "3000")]).await;
    let client = reqwest::Client::new();
    let answered = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..400)
        .map(|i| {
            let (client, answered) = (client.clone(), answered.clone());
            let url = format!("{}/v1/users/stop-{i}/leases", service.base);
            tokio::spawn(async move {
                let status = client.post(url).json(&json!({"stream_id": "s"})).send().await.map(|r| r.status());
                answered.fetch_add(1, Ordering::SeqCst);
                (i, status)
            })
        })
        .collect();
    // Mid-load: some answered, the rest on their way.
    let deadline = Instant::now() + Duration::from_secs(10);
    while answered.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "no answers");
        tokio::task::yield_now().await;
    }
    service.terminate();
    let exit = service.wait_exit(Duration::from_secs(5)).await;
    assert!(exit.is_some_and(|s| s.success()), "exit: {exit:?}");

    let results: Vec<_> = join_all(calls).await.into_iter().map(Result::unwrap).collect();
    let acknowledged: Vec<usize> =
        results.iter().filter(|(_, s)| s.as_ref().is_ok_and(|s| s.as_u16() == 201)).map(|(i, _)| *i).collect();
    assert!(acknowledged.len() >= 50, "only {} acknowledged", acknowledged.len());
    for i in &acknowledged {
        assert_eq!(redis.command(&["EXISTS", &format!("sl:{{stop-{i}}}:l")]), ":1", "acquire {i} was acknowledged");
    }
    // Anything not acknowledged failed cleanly: no 5xx.
    assert!(results.iter().all(|(_, s)| s.as_ref().map_or(true, |s| !s.is_server_error())), "{results:?}");
}

/// Shutdown is an input: `run_until(shutdown)` in this process, with no
/// signal. Requests answered before it are kept, the server stops taking
/// connections, and `run_until` returns within the shutdown timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_until_stops_when_told_and_returns() {
    let mut settings = crate::helpers::test_settings();
    settings.http.shutdown_timeout = Duration::from_secs(2);
    let listener = std::net::TcpListener::bind(settings.bind).unwrap();
    let app = streamlease::startup::Application::build_on(
        listener,
        settings,
        Arc::new(streamlease::clock::ManualClock::starting_now()),
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let acquired = client.post(format!("{base}/v1/users/alice/leases")).json(&json!({"stream_id": "s"})).send();
    assert_eq!(acquired.await.unwrap().status(), 201);

    let asked = Instant::now();
    stop.send(()).unwrap();
    let returned = tokio::time::timeout(Duration::from_secs(5), running).await;
    assert!(matches!(returned, Ok(Ok(Ok(())))), "run_until: {returned:?}");
    assert!(asked.elapsed() < Duration::from_secs(3), "took {:?}", asked.elapsed());
    let after = reqwest::Client::new().get(format!("{base}/healthz")).send().await;
    assert!(after.is_err(), "still serving after shutdown: {after:?}");
}
