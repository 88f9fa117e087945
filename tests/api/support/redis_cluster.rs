//! A real Redis Cluster for one test: 3 primaries with a replica each, every
//! node a `redis-server --cluster-enabled yes` on a free loopback port in a
//! temp dir, joined by `redis-cli --cluster create`; stopped on drop.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::redis_server::RedisServer;

pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the six nodes, makes them a cluster, and waits (with a
    /// deadline) until every node sees all 16384 slots served.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::start_with_args(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed with redis-server (Debian: redis-tools)");
        assert!(created.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout));
        let cluster = RedisCluster { nodes };
        cluster.wait_until_whole(Duration::from_secs(20));
        cluster
    }

    /// Stops every node when the test process ends (see
    /// `RedisServer::stop_at_process_exit`).
    pub fn stop_at_process_exit(&self) {
        for node in &self.nodes {
            node.stop_at_process_exit();
        }
    }

    /// Waits until each primary has a replica in sync: a failover drill
    /// needs one ready to take over.
    pub fn wait_for_replicas(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let synced = self
                .nodes
                .iter()
                .filter(|n| {
                    let info = n.command(&["INFO", "replication"]);
                    info.contains("role:slave") && info.contains("master_link_status:up")
                })
                .count();
            if synced == 3 {
                return;
            }
            assert!(Instant::now() < deadline, "{synced} of 3 replicas in sync after {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The seed list the service is given (`STREAMLEASE_REDIS_CLUSTER`).
    pub fn url(&self) -> String {
        self.nodes.iter().map(|n| n.url()).collect::<Vec<_>>().join(",")
    }

    fn wait_until_whole(&self, limit: Duration) {
        self.wait_until_whole_among(self.nodes.iter().collect(), limit)
    }

    /// Waits (with a deadline) until the nodes other than `gone` (killed)
    /// see every slot served again: a replica took its place.
    pub fn wait_until_whole_without(&self, gone: &RedisServer, limit: Duration) {
        let survivors: Vec<&RedisServer> = self.nodes.iter().filter(|n| n.port != gone.port).collect();
        // Right after the kill every node still says "ok": first wait until
        // they all mark it failed, then until its slots are served again.
        let deadline = Instant::now() + limit;
        let gone_address = format!("127.0.0.1:{}@", gone.port);
        loop {
            let marked = survivors.iter().all(|n| {
                n.command(&["CLUSTER", "NODES"]).lines().any(|l| {
                    l.contains(&gone_address) && l.split(' ').nth(2).is_some_and(|f| f.split(',').any(|f| f == "fail"))
                })
            });
            if marked {
                break;
            }
            assert!(Instant::now() < deadline, "the killed node was not marked failed within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_until_whole_among(survivors, deadline.saturating_duration_since(Instant::now()))
    }

    fn wait_until_whole_among(&self, nodes: Vec<&RedisServer>, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let whole = nodes.iter().all(|n| {
                let info = n.command(&["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
            });
            if whole {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not form within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The primary serving `slot`, by its own account (`CLUSTER NODES`).
    pub fn owner_of_slot(&self, slot: u32) -> &RedisServer {
        let serves = |node: &RedisServer| {
            node.command(&["CLUSTER", "NODES"]).lines().filter(|l| l.contains("myself")).any(|l| {
                l.split(' ').skip(8).any(|range| {
                    let (a, b) = range.split_once('-').unwrap_or((range, range));
                    a.parse::<u32>().is_ok_and(|a| a <= slot) && b.parse::<u32>().is_ok_and(|b| slot <= b)
                })
            })
        };
        self.primaries().into_iter().find(|p| serves(p)).expect("a primary serves the slot")
    }

    /// The nodes that are primaries now.
    pub fn primaries(&self) -> Vec<&RedisServer> {
        self.nodes.iter().filter(|n| n.command(&["ROLE"]).starts_with("master")).collect()
    }
}
