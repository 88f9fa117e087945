//! Redis Cluster: the conformance suite runs on one too (`redis_cluster` in
//! every `on_both_stores!`); here, what only a cluster has.

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

/// Scripts are loaded on every primary; after a flush on all of them the
/// next calls load them again, with no failed request.
#[tokio::test]
async fn a_script_flush_on_every_primary_fails_no_request() {
    let app = spawn_app(Backend::RedisCluster).await;
    let app = &app;
    let acquires = (0..30).map(|n| async move {
        let user = format!("u{n}");
        let lease = id(&app.acquire_ok(&user, "s").await);
        (user, lease)
    });
    let leases: Vec<(String, String)> = futures::future::join_all(acquires).await;
    for primary in app.cluster.as_ref().unwrap().primaries() {
        assert_eq!(primary.command(&["SCRIPT", "FLUSH"]), "+OK");
    }
    for (user, lease) in &leases {
        assert_eq!(app.heartbeat(user, lease).await.status(), reqwest::StatusCode::OK);
    }
}
