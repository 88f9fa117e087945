//! The limit holds under races: hundreds of concurrent acquires for one
//! user, spread over several service processes sharing one Redis, with and
//! without classes.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::ServiceProcess;
use crate::redis_cluster::RedisCluster;
use crate::redis_server::RedisServer;

const ROUNDS: usize = 20;
const CONCURRENT: usize = 500;
const LIMIT: u64 = 3;

#[derive(Debug, Default, PartialEq)]
struct Tally {
    created: usize,
    renewed: usize,
    denied: usize,
    other: Vec<u16>,
    /// The largest `active` any answer reported.
    most_active: u64,
}

/// Fires `CONCURRENT` acquires for `user` at once, round-robin over `bases`.
/// An acquire answered 503 (the service refused it rather than run late, as
/// it does on a machine too busy to keep its deadline) or 408 (its body did
/// not arrive in time, so it was never read) is sent again, as a player
/// would: each one ends admitted or denied.
async fn race(client: &reqwest::Client, bases: &[String], user: &str, body: Value) -> Tally {
    let calls = (0..CONCURRENT).map(|i| {
        let url = format!("{}/v1/users/{user}/leases", bases[i % bases.len()]);
        let (client, body) = (client.clone(), body.clone());
        async move {
            for _ in 0..50 {
                let response = client.post(&url).json(&body).send().await.expect("request completes");
                if response.status() != 503 && response.status() != 408 {
                    return response;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("acquire {i} answered 503 or 408 fifty times");
        }
    });
    let mut tally = Tally::default();
    for response in join_all(calls).await {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        tally.most_active = tally.most_active.max(body["active"].as_u64().unwrap_or(0));
        match status {
            201 => tally.created += 1,
            200 => tally.renewed += 1,
            409 => tally.denied += 1,
            other => tally.other.push(other),
        }
    }
    tally
}

async fn active(client: &reqwest::Client, base: &str, user: &str) -> u64 {
    let list: Value = client.get(format!("{base}/v1/users/{user}/leases")).send().await.unwrap().json().await.unwrap();
    list["active"].as_u64().unwrap()
}

async fn exactly_the_limit_is_admitted(bases: &[String]) {
    let client = reqwest::Client::new();
    for round in 0..ROUNDS {
        let user = format!("racer-{round}");
        let tally = race(&client, bases, &user, json!({"stream_id": "s"})).await;
        let expected = Tally {
            created: LIMIT as usize,
            denied: CONCURRENT - LIMIT as usize,
            most_active: LIMIT,
            ..Tally::default()
        };
        assert_eq!(tally, expected, "round {round}");
        assert_eq!(active(&client, &bases[0], &user).await, LIMIT, "round {round}");
    }
}

/// Racers of one round of the class race: half name `uhd`, half no class.
const PER_KIND: usize = 300;

/// 300 acquires of class `uhd` (limit 1) and 300 with no class (total 3)
/// for one user, interleaved, at once, each round. The `uhd` racers ask for
/// `evict_oldest`, so every round must end with exactly one `uhd` lease
/// (under `deny`, whether any `uhd` gets in before the total fills is up to
/// the race) and exactly three in total: each `uhd` admission ends the `uhd`
/// lease before it, or the oldest plain one when the total is full, in the
/// same atomic step. No answer may report more than three live.
async fn a_class_and_the_total_hold_together(bases: &[String]) {
    let client = reqwest::Client::new();
    for round in 0..ROUNDS {
        let user = format!("classed-{round}");
        let calls = (0..2 * PER_KIND).map(|i| {
            let url = format!("{}/v1/users/{user}/leases", bases[i % bases.len()]);
            let body = if i % 2 == 0 {
                json!({"stream_id": "uhd", "classes": ["uhd"], "on_limit": "evict_oldest"})
            } else {
                json!({"stream_id": "sd"})
            };
            let client = client.clone();
            async move {
                for _ in 0..50 {
                    let response = client.post(&url).json(&body).send().await.expect("request completes");
                    if response.status() != 503 && response.status() != 408 {
                        let status = response.status().as_u16();
                        return (status, response.json::<Value>().await.unwrap_or_default());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                panic!("acquire {i} answered 503 or 408 fifty times");
            }
        });
        let answers = join_all(calls).await;
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "round {round}: {statuses:?}");
        let most_active = answers.iter().filter_map(|(_, body)| body["active"].as_u64()).max();
        assert_eq!(most_active, Some(LIMIT), "round {round}");
        let uhd_admitted = answers.iter().filter(|(status, body)| *status == 201 && body["classes"] == json!(["uhd"]));
        assert_eq!(uhd_admitted.count(), PER_KIND, "round {round}: every uhd racer evicts its way in");
        let list: Value =
            client.get(format!("{}/v1/users/{user}/leases", bases[0])).send().await.unwrap().json().await.unwrap();
        let leases = list["leases"].as_array().unwrap();
        let uhd_live = leases.iter().filter(|l| l["classes"] == json!(["uhd"])).count();
        assert_eq!((uhd_live, leases.len()), (1, LIMIT as usize), "round {round}: {list}");
    }
}

/// Three service processes with `env`, racing as above.
async fn three_instances_admit_exactly_the_limit(env: &[(&str, &str)]) {
    let mut services = Vec::new();
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("STREAMLEASE_CLASSES", "uhd=1")]).collect();
    for _ in 0..3 {
        services.push(ServiceProcess::start(&env).await);
    }
    let bases: Vec<String> = services.iter().map(|s| s.base.clone()).collect();
    exactly_the_limit_is_admitted(&bases).await;
    a_class_and_the_total_hold_together(&bases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_sharing_redis_admit_exactly_the_limit_in_every_round() {
    let redis = RedisServer::start();
    three_instances_admit_exactly_the_limit(&[("REDIS_URL", &redis.url())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_sharing_a_redis_cluster_admit_exactly_the_limit_in_every_round() {
    let cluster = RedisCluster::start();
    three_instances_admit_exactly_the_limit(&[("REDIS_URL", &cluster.url()), ("STREAMLEASE_REDIS_CLUSTER", "true")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_admits_exactly_the_limit_in_every_round() {
    let service = ServiceProcess::start(&[]).await;
    exactly_the_limit_is_admitted(std::slice::from_ref(&service.base)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_acquires_from_one_device_share_one_lease() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = ServiceProcess::start(&[("REDIS_URL", url.as_str())]).await;
    let b = ServiceProcess::start(&[("REDIS_URL", url.as_str())]).await;
    let client = reqwest::Client::new();
    let bases = [a.base.clone(), b.base.clone()];
    let tally = race(&client, &bases, "one-device", json!({"stream_id": "s", "device_id": "tv"})).await;
    assert_eq!((tally.created, tally.renewed, tally.denied), (1, CONCURRENT - 1, 0), "{tally:?}");
    assert_eq!(active(&client, &bases[0], "one-device").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_evictions_never_leave_the_user_over_the_limit() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a = ServiceProcess::start(&[("REDIS_URL", url.as_str()), ("STREAMLEASE_ON_LIMIT", "evict_oldest")]).await;
    let b = ServiceProcess::start(&[("REDIS_URL", url.as_str()), ("STREAMLEASE_ON_LIMIT", "evict_oldest")]).await;
    let client = reqwest::Client::new();
    let bases = [a.base.clone(), b.base.clone()];
    let tally = race(&client, &bases, "evicter", json!({"stream_id": "s"})).await;
    assert_eq!((tally.created, tally.most_active), (CONCURRENT, LIMIT), "{tally:?}");
    assert_eq!(active(&client, &bases[0], "evicter").await, LIMIT);
}
