//! What only the Redis store must prove: one round trip per operation, and
//! surviving Redis forgetting its functions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn acquire_heartbeat_and_release_each_cost_exactly_one_redis_command() {
    let app = spawn_app_with(Backend::Redis, |s| {
        s.terms.default_limit = 1;
        // The metrics census (SCAN and its scripts) runs once at startup, then
        // not again during this test.
        s.metrics_refresh = std::time::Duration::from_secs(3600);
    })
    .await;
    app.wait_for_censuses(1).await;
    let redis = app.redis();
    let mut monitor = redis.monitor();
    // Startup traffic (connection setup, FUNCTION LOAD, census) is not counted.
    monitor.client_commands_since_last(redis);
    let mut one_command = |what: &str| {
        let sent = monitor.client_commands_since_last(redis);
        assert_eq!(sent.len(), 1, "{what} sent {sent:#?}");
        assert!(sent[0].to_uppercase().contains("\"FCALL\""), "{what} sent {sent:?}");
    };

    let lease = id(&app.acquire_ok("alice", "a").await);
    one_command("acquire (created)");
    app.heartbeat("alice", &lease).await;
    one_command("heartbeat (renewed)");
    assert_eq!(app.acquire("alice", json!({"stream_id": "b"})).await.status(), StatusCode::CONFLICT);
    one_command("acquire (denied)");
    let evicting = app.acquire("alice", json!({"stream_id": "b", "on_limit": "evict_oldest"})).await;
    assert_eq!(evicting.status(), StatusCode::CREATED);
    one_command("acquire (evict_oldest)");
    app.heartbeat("alice", &lease).await;
    one_command("heartbeat (ended)");
    let current = id(&app.list("alice").await["leases"][0]);
    one_command("list");
    app.release("alice", &current).await;
    one_command("release");
    app.release("alice", &current).await;
    one_command("release (already gone)");
}

#[tokio::test]
async fn requests_still_succeed_after_redis_flushes_its_functions() {
    let app = spawn_app(Backend::Redis).await;
    let lease = id(&app.acquire_ok("alice", "a").await);
    assert_eq!(app.redis().command(&["FUNCTION", "FLUSH"]), "+OK");
    assert_eq!(app.heartbeat("alice", &lease).await.status(), StatusCode::OK);
    app.acquire_ok("alice", "b").await;
    assert_eq!(app.active("alice").await, 2);
}

#[tokio::test]
async fn every_key_of_a_user_shares_one_hash_tag() {
    let app = spawn_app(Backend::Redis).await;
    let lease = id(&app.acquire_ok("user:42@example", "a").await);
    app.release("user:42@example", &lease).await;
    app.acquire_ok("user:42@example", "b").await;
    app.put_limit("user:42@example", json!(5)).await;
    // Besides the fleet's own census and readiness keys, only the user's.
    let fleet = |k: &String| k.starts_with("sl:census:") || k == "sl:readyz";
    let keys: Vec<String> = app.redis().keys("*").into_iter().filter(|k| !fleet(k)).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("sl:{user:42@example}:")), "{keys:?}");
}

#[tokio::test]
async fn instances_with_different_key_prefixes_do_not_see_each_other() {
    let app = spawn_app_with(Backend::Redis, |s| s.terms.default_limit = 1).await;
    let other = spawn_sibling(&app, |s| {
        s.terms.default_limit = 1;
        s.key_prefix = "staging".into();
    })
    .await;
    app.acquire_ok("alice", "a").await;
    other.acquire_ok("alice", "a").await;
    let staging = app.redis().keys("staging:{*");
    assert!(!staging.is_empty() && staging.iter().all(|k| k.starts_with("staging:{alice}:")), "{staging:?}");
    // Each prefix has a census of its own.
    app.wait_for_censuses(1).await;
    other.wait_for_censuses(1).await;
    assert_eq!(app.redis().keys("*:census:lock"), ["sl:census:lock", "staging:census:lock"]);
}

/// One player's requests, each with its status (0: no answer) and latency.
type Answers = Vec<(u16, Duration)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_under_load_gets_quick_503s_and_service_returns_without_a_restart() {
    let app = spawn_app_with(Backend::Redis, |s| s.terms.default_limit = 100).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut players = Vec::new();
    for n in 0..16 {
        let lease = id(&app.acquire_ok("busy", &format!("s{n}")).await);
        let (client, base, stop, answered) = (app.client.clone(), app.base.clone(), stop.clone(), answered.clone());
        players.push(tokio::spawn(async move {
            let mut answers: Answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                for request in [
                    client.post(format!("{base}/v1/users/busy/leases/{lease}/heartbeat")),
                    client.post(format!("{base}/v1/users/p{n}/leases")).json(&json!({"stream_id": "s"})),
                ] {
                    let started = Instant::now();
                    let status = request.send().await.map_or(0, |r| r.status().as_u16());
                    answers.push((status, started.elapsed()));
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
            answers
        }));
    }
    let wait_for_answers = |n: usize| {
        let answered = answered.clone();
        async move {
            let target = answered.load(Ordering::SeqCst) + n;
            let deadline = Instant::now() + Duration::from_secs(10);
            while answered.load(Ordering::SeqCst) < target {
                assert!(Instant::now() < deadline, "requests stopped being answered");
                tokio::task::yield_now().await;
            }
        }
    };

    wait_for_answers(100).await;
    app.redis().kill();
    wait_for_answers(100).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    app.redis().restart();
    let back = Instant::now();
    loop {
        let response = app.acquire("probe", json!({"stream_id": "b"})).await;
        if response.status() == StatusCode::CREATED {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(2), "still {} after {:?}", response.status(), back.elapsed());
        tokio::task::yield_now().await;
    }
    wait_for_answers(100).await;
    stop.store(true, Ordering::SeqCst);

    let answers: Answers = futures::future::join_all(players).await.into_iter().flat_map(Result::unwrap).collect();
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(1), "slowest answer took {slowest:?}");
    let unexpected: Vec<_> = answers.iter().filter(|(s, _)| !matches!(s, 200 | 201 | 404 | 503)).collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert!(answers.iter().any(|(s, _)| *s == 503), "the outage was seen");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_flush_under_load_fails_no_request() {
    let app = spawn_app_with(Backend::Redis, |s| s.terms.default_limit = 1000).await;
    let mut leases = Vec::new();
    for n in 0..20 {
        leases.push(id(&app.acquire_ok("busy", &format!("s{n}")).await));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    // Players heartbeating and acquiring flat out while Redis forgets its functions.
    let players: Vec<_> = leases
        .into_iter()
        .enumerate()
        .map(|(n, lease)| {
            let (client, base, stop, answered) = (app.client.clone(), app.base.clone(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let heartbeat = format!("{base}/v1/users/busy/leases/{lease}/heartbeat");
                    statuses.push(client.post(heartbeat).send().await.unwrap().status().as_u16());
                    let acquire = client.post(format!("{base}/v1/users/other-{n}/leases"));
                    statuses.push(acquire.json(&json!({"stream_id": "s"})).send().await.unwrap().status().as_u16());
                    answered.fetch_add(2, Ordering::SeqCst);
                }
                statuses
            })
        })
        .collect();
    // At least 10 flushes, and on until the players made 200 calls (a busy
    // machine may answer few in 300 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    let loads_before = function_loads(&app);
    let mut flushes = 0;
    while flushes < 10 || answered.load(Ordering::SeqCst) < 200 {
        assert!(Instant::now() < deadline, "only {} calls answered", answered.load(Ordering::SeqCst));
        assert_eq!(app.redis().command(&["FUNCTION", "FLUSH"]), "+OK");
        flushes += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let statuses: Vec<u16> = futures::future::join_all(players).await.into_iter().flat_map(Result::unwrap).collect();
    assert!(statuses.len() >= 200, "only {} requests", statuses.len());
    let failed: Vec<&u16> = statuses.iter().filter(|s| !matches!(s, 200 | 201 | 409)).collect();
    assert!(failed.is_empty(), "{} of {} failed: {failed:?}", failed.len(), statuses.len());
    // The flushes did bite: the service loaded the library again after
    // "function not found" answers.
    let loads = function_loads(&app) - loads_before;
    assert!(loads > 0, "FUNCTION LOAD calls during the flushes: {loads}");
}

fn function_loads(app: &TestApp) -> u64 {
    let stats = app.redis().command(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_function|load:calls=")?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Every script checks its keys and arguments before it touches a key: a
/// caller with the wrong ones gets a BADARGS error naming them, and nothing
/// is written.
#[tokio::test]
async fn every_script_refuses_the_wrong_arguments_before_writing() {
    let server = crate::redis_server::RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let library = streamlease::store::redis::library();
    let loaded: String = redis::cmd("FUNCTION").arg("LOAD").arg(library).query_async(&mut conn).await.unwrap();
    assert!(loaded.starts_with("streamlease_"), "{loaded}");
    for (name, function) in streamlease::store::redis::lease_functions() {
        let refused = |result: redis::RedisResult<redis::Value>, case: &str| match result {
            Err(e) => assert_eq!(e.code(), Some("BADARGS"), "{name}, {case}: {e}"),
            Ok(v) => panic!("{name}, {case}: answered {v:?}"),
        };
        // No keys, no arguments.
        refused(redis::cmd("FCALL").arg(function).arg(0).query_async(&mut conn).await, "nothing");
        // The right numbers of keys and arguments, with words where numbers go.
        let (keys, args) = match name {
            "acquire" => (3, 9),
            "heartbeat" => (3, 4),
            "release" => (2, 4),
            "census" | "census_lock" => (if name == "census" { 2 } else { 1 }, 3),
            _ => (2, 2),
        };
        let mut call = redis::cmd("FCALL");
        call.arg(function).arg(keys);
        for k in 0..keys {
            call.arg(format!("sl:{{x}}:{k}"));
        }
        call.arg("");
        for _ in 1..args {
            call.arg("soon");
        }
        refused(call.query_async(&mut conn).await, "words for numbers");
    }
    assert_eq!(server.keys("*"), Vec::<String>::new(), "a refused call wrote nothing");
}

/// Where the service's Redis user may not load functions, an operator loads
/// the library the binary prints (`--print-redis-library`) as another user,
/// and the service runs on it.
#[tokio::test]
async fn a_redis_user_that_may_not_load_functions_runs_on_the_library_loaded_by_hand() {
    let redis = crate::redis_server::RedisServer::start_with_args(&[
        "--user",
        "player-api",
        "on",
        ">s3cret-pass",
        "~*",
        "&*",
        "+@all",
        "-function",
    ]);
    let url = format!("redis://player-api:s3cret-pass@127.0.0.1:{}", redis.port);
    let printed =
        std::process::Command::new(env!("CARGO_BIN_EXE_streamlease")).arg("--print-redis-library").output().unwrap();
    assert!(printed.status.success());
    let library = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(library, streamlease::store::redis::library(), "the binary prints what the store loads");

    // Not loaded yet: the user's FUNCTION LOAD is refused (NOPERM), and so
    // is the acquire, as a store error.
    let app = spawn_app_with(Backend::Embedded, |s| s.redis_url = Some(url.clone())).await;
    let refused = app.acquire("alice", json!({"stream_id": "a"})).await;
    assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["code"], "store_error");
    // Loaded by hand (as the default user): the same instance now serves.
    assert!(redis.command(&["FUNCTION", "LOAD", &library]).starts_with("streamlease_"));
    let lease = id(&app.acquire_ok("alice", "a").await);
    assert_eq!(app.heartbeat("alice", &lease).await.status(), StatusCode::OK);
}
