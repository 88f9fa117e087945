//! Redis Cluster: the conformance suite runs on one too (`redis_cluster` in
//! every `on_every_store!`); here, what only a cluster has.

use std::time::{Duration, Instant};

use crate::helpers::*;

/// Users spread over every primary, and the census still counts them all.
#[tokio::test]
async fn users_land_on_every_primary_and_the_census_counts_them_all() {
    let app = spawn_app_with(Backend::RedisCluster, |s| s.metrics_refresh = Duration::from_millis(100)).await;
    let users = 60;
    for n in 0..users {
        app.acquire_ok(&format!("user-{n}"), "movie").await;
    }
    let cluster = app.cluster.as_ref().unwrap();
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3);
    let held: Vec<usize> = primaries.iter().map(|p| p.keys("sl:{*}:l").len()).collect();
    assert!(held.iter().all(|&n| n > 0), "leases keys per primary: {held:?}");
    assert_eq!(held.iter().sum::<usize>(), users);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.metrics().await;
        if sample(&metrics, "streamlease_active_users") == Some(users as f64) {
            assert_eq!(sample(&metrics, "streamlease_active_leases"), Some(users as f64));
            break;
        }
        assert!(Instant::now() < deadline, "the census missed users:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The library is loaded on every primary; after a flush on all of them
/// the next calls load it again, with no failed request.
#[tokio::test]
async fn a_function_flush_on_every_primary_fails_no_request() {
    let app = spawn_app(Backend::RedisCluster).await;
    let app = &app;
    let acquires = (0..30).map(|n| async move {
        let user = format!("u{n}");
        let lease = id(&app.acquire_ok(&user, "s").await);
        (user, lease)
    });
    let leases: Vec<(String, String)> = futures::future::join_all(acquires).await;
    for primary in app.cluster.as_ref().unwrap().primaries() {
        assert_eq!(primary.command(&["FUNCTION", "FLUSH"]), "+OK");
    }
    for (user, lease) in &leases {
        assert_eq!(app.heartbeat(user, lease).await.status(), reqwest::StatusCode::OK);
    }
}

/// What players saw during a drill: the slowest answer, and every status.
#[derive(Default)]
struct Seen {
    slowest: Duration,
    statuses: std::collections::BTreeMap<u16, usize>,
}

/// Players heartbeating with their stream (so a lost lease is restored),
/// each every 50 ms, until `stop` is set; returns what they saw.
async fn players(app: &TestApp, leases: &[(String, String)], stop: &std::sync::atomic::AtomicBool) -> Seen {
    let seen = std::sync::Mutex::new(Seen::default());
    let seen = &seen;
    let player = |(user, lease): &'_ (String, String)| {
        let (user, lease) = (user.clone(), lease.clone());
        async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let answer = app.heartbeat_with(&user, &lease, serde_json::json!({"stream_id": "s"})).await;
                let status = answer.status();
                let took = sent.elapsed();
                {
                    let mut seen = seen.lock().unwrap();
                    seen.slowest = seen.slowest.max(took);
                    *seen.statuses.entry(status.as_u16()).or_default() += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    futures::future::join_all(leases.iter().map(player)).await;
    std::mem::take(&mut *seen.lock().unwrap())
}

/// 12 users at their limit of 3 (36 players) heartbeat while a primary is
/// killed and its replica takes over: every answer within a second (503
/// while the slot has no primary), and afterwards every player renews or is
/// restored, and no user is over the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_under_load_fails_over_with_no_user_over_the_limit() {
    let app = spawn_app(Backend::RedisCluster).await;
    let mut leases = Vec::new();
    for u in 0..12 {
        for _ in 0..3 {
            leases.push((format!("viewer-{u}"), id(&app.acquire_ok(&format!("viewer-{u}"), "s").await)));
        }
    }
    let cluster = app.cluster.clone().unwrap();
    cluster.wait_for_replicas(Duration::from_secs(20));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let drill = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Blocking calls to the nodes: on a thread of their own, so the
        // players' requests are never held up by the drill itself.
        tokio::task::spawn_blocking(move || {
            let victim = cluster.primaries()[0];
            victim.kill();
            cluster.wait_until_whole_without(victim, Duration::from_secs(20));
        })
        .await
        .unwrap();
        // Let every player go through a few heartbeats on the new primary.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (seen, ()) = tokio::join!(players(&app, &leases, &stop), drill);
    assert!(seen.slowest <= Duration::from_secs(1), "slowest answer {:?}", seen.slowest);
    assert!(seen.statuses.keys().all(|s| [200, 503].contains(s)), "statuses {:?}", seen.statuses);

    // Each player's next heartbeats renew its lease, or restore it if the
    // failover lost it, as soon as the service has learned the new layout.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (user, lease) in &leases {
        loop {
            let answer = app.heartbeat_with(user, lease, serde_json::json!({"stream_id": "s"})).await;
            if answer.status() == reqwest::StatusCode::OK {
                break;
            }
            assert_eq!(answer.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
            assert!(Instant::now() < deadline, "{user} {lease} still 503 five seconds after the failover");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for u in 0..12 {
        assert_eq!(app.active(&format!("viewer-{u}")).await, 3);
    }
}

/// Users whose keys sit in the lowest slots, where `redis-cli --cluster
/// reshard` starts moving.
fn users_in_low_slots(cluster: &crate::redis_cluster::RedisCluster, count: usize, below: u32) -> Vec<String> {
    let node = &cluster.nodes[0];
    (0..)
        .map(|n| format!("mover-{n}"))
        .filter(|user| {
            let slot: u32 = node
                .command(&["CLUSTER", "KEYSLOT", &format!("sl:{{{user}}}:l")])
                .trim_start_matches(':')
                .parse()
                .unwrap();
            slot < below
        })
        .take(count)
        .collect()
}

/// Slots that hold live users move to another primary while their players
/// heartbeat: no request fails and no lease is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_slots_with_live_users_under_traffic_fails_no_request() {
    let app = spawn_app(Backend::RedisCluster).await;
    let cluster = app.cluster.clone().unwrap();
    const SLOTS: u32 = 300;
    let users = users_in_low_slots(&cluster, 10, SLOTS);
    let mut leases = Vec::new();
    for user in &users {
        for _ in 0..3 {
            leases.push((user.clone(), id(&app.acquire_ok(user, "s").await)));
        }
    }
    let source = cluster.owner_of_slot(0);
    let target = cluster.primaries().into_iter().find(|p| p.port != source.port).unwrap();
    let (source_port, target_port) = (source.port, target.port);
    let (source_id, target_id) = (source.command(&["CLUSTER", "MYID"]), target.command(&["CLUSTER", "MYID"]));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let reshard = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let moved = tokio::task::spawn_blocking(move || {
            std::process::Command::new("redis-cli")
                .args(["--cluster", "reshard", &format!("127.0.0.1:{source_port}")])
                .args(["--cluster-from", &source_id, "--cluster-to", &target_id])
                .args(["--cluster-slots", &SLOTS.to_string(), "--cluster-yes"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(moved.status.success(), "reshard: {}", String::from_utf8_lossy(&moved.stdout));
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (seen, ()) = tokio::join!(players(&app, &leases, &stop), reshard);
    assert_eq!(seen.statuses.keys().collect::<Vec<_>>(), [&200], "statuses {:?}", seen.statuses);
    for user in &users {
        assert_eq!(app.active(user).await, 3, "{user}");
    }
    // The slots did move: the target serves slot 0 now.
    assert_eq!(app.cluster.as_ref().unwrap().owner_of_slot(0).port, target_port);
}

/// A foreign key of another type under our prefix is left out of the census
/// on a cluster as on a single Redis, not a failure of the whole census.
#[tokio::test]
async fn a_key_of_another_type_does_not_stop_the_census_on_a_cluster() {
    let app = spawn_app_with(Backend::RedisCluster, |s| s.metrics_refresh = Duration::from_millis(100)).await;
    app.acquire_ok("alice", "movie").await;
    let cluster = app.cluster.as_ref().unwrap();
    let slot: u32 =
        cluster.nodes[0].command(&["CLUSTER", "KEYSLOT", "sl:{mallory}:l"]).trim_start_matches(':').parse().unwrap();
    assert_eq!(cluster.owner_of_slot(slot).command(&["HSET", "sl:{mallory}:l", "not", "a lease"]), ":1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.metrics().await;
        if sample(&metrics, "streamlease_active_users") == Some(1.0) {
            assert_eq!(sample(&metrics, "streamlease_active_leases"), Some(1.0));
            break;
        }
        assert!(Instant::now() < deadline, "no census got past the foreign key:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
