//! The ops files in `deploy/` kept true: the rules pass promtool and their
//! unit tests, and the dashboard's queries name what exists. A real
//! Prometheus (with the shipped rules) scrapes two instances under player
//! load: every panel's query returns data, and with Redis killed the store
//! alert reaches a webhook through a real Alertmanager, and resolves once
//! Redis is back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::ServiceProcess;
use crate::redis_server::{RedisServer, free_port};

/// Where this test says the runbooks are published (the external label
/// `runbook_base`).
const RUNBOOKS: &str = "https://runbooks.example.com/streamlease";

const HINT: &str = "this test needs Prometheus, promtool, Alertmanager and amtool. Install them: \
     `sudo apt-get install prometheus prometheus-alertmanager` (Debian/Ubuntu), \
     `brew install prometheus alertmanager` (macOS).";
const STORE_ALERT: &str = "StreamleaseStoreUnavailable";

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(path)
}

/// The first of `names` found on the PATH (Debian names Alertmanager
/// `prometheus-alertmanager`).
fn program(names: &[&str]) -> String {
    for name in names {
        if Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
            return name.to_string();
        }
    }
    panic!("{} not found: {HINT}", names.join(" or "));
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new(program(&["promtool"])).args(args).output().expect("run promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {} failed:\n{text}", args.join(" "));
    text
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = deploy("prometheus/streamlease.rules.yml");
    let checked = promtool(&["check", "rules", rules.to_str().unwrap()]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", deploy("prometheus/streamlease.test.yml").to_str().unwrap()]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn the_compose_stacks_prometheus_and_alertmanager_configs_are_valid() {
    let checked = promtool(&["check", "config", deploy("ops/prometheus.yml").to_str().unwrap()]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let amtool = program(&["amtool"]);
    let output = Command::new(amtool).args(["check-config"]).arg(deploy("ops/alertmanager.yml")).output().unwrap();
    assert!(output.status.success(), "amtool check-config: {}", String::from_utf8_lossy(&output.stderr));
}

fn dashboard_queries() -> Vec<(String, String)> {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/dashboards/streamlease.json")).unwrap())
            .expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap().to_owned();
        let targets = panel["targets"].as_array().expect("every panel has queries");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            queries.push((title.clone(), target["expr"].as_str().expect("expr").to_owned()));
        }
    }
    queries
}

/// `streamlease:…` names used in `expr`.
fn recorded_names(expr: &str) -> Vec<&str> {
    expr.match_indices("streamlease:")
        .map(|(start, _)| {
            let rest = &expr[start..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn every_dashboard_query_names_a_streamlease_metric_or_a_recorded_rule() {
    let rules = std::fs::read_to_string(deploy("prometheus/streamlease.rules.yml")).unwrap();
    let queries = dashboard_queries();
    assert!(queries.len() >= 14, "{queries:?}");
    for (title, expr) in queries {
        assert!(expr.contains("streamlease_") || expr.contains("streamlease:"), "{title}: {expr}");
        for name in recorded_names(&expr) {
            assert!(rules.contains(&format!("record: {name}\n")), "{title}: {name} is not a recording rule");
        }
    }
}

/// A server process of this test (Prometheus, Alertmanager), in a temp dir,
/// killed on drop.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
}

impl Daemon {
    fn start(program: &str, args: impl FnOnce(&Path, u16) -> Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(program)
            .args(args(dir.path(), port))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}. {HINT}"));
        Daemon { child, dir, base: format!("http://127.0.0.1:{port}") }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = client.get(format!("{}/-/ready", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not become ready:\n{}", self.base, self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped rules with every `for:` cut to 1 s, so an alert fires in
/// seconds; `promtool test rules` checks the real durations.
fn rules_for_a_quick_test() -> String {
    let rules = std::fs::read_to_string(deploy("prometheus/streamlease.rules.yml")).unwrap();
    rules
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 1s", &line[..line.len() - line.trim_start().len()]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Receives Alertmanager's webhook posts and hands over their JSON bodies.
fn webhook() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(json) = serde_json::from_slice(&body)
            {
                let _ = tx.send(json);
            }
            let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

/// Players on both instances: acquires (some denied at the limit),
/// heartbeats, releases, and leases abandoned to expire. Runs until aborted.
async fn player_load(bases: [String; 2]) {
    let client = reqwest::Client::new();
    let mut held: Vec<(String, String)> = Vec::new();
    for round in 0u64.. {
        let base = &bases[(round % 2) as usize];
        let user = format!("viewer{}", round % 5);
        let body = json!({"stream_id": format!("s{round}"), "device_id": format!("d{}", round % 23)});
        if let Ok(answer) = client.post(format!("{base}/v1/users/{user}/leases")).json(&body).send().await
            && answer.status() == reqwest::StatusCode::CREATED
            && let Ok(lease) = answer.json::<Value>().await
        {
            held.push((user, lease["lease_id"].as_str().unwrap_or_default().to_owned()));
        }
        let mut kept = Vec::new();
        for (user, lease) in held.drain(..) {
            let url = format!("{base}/v1/users/{user}/leases/{lease}/heartbeat");
            let answer = client.post(url).send().await;
            // 503 while Redis is down: keep the lease and try again.
            if answer.is_ok_and(|a| a.status().is_success() || a.status().is_server_error()) {
                kept.push((user, lease));
            }
        }
        held = kept;
        if round % 4 == 0 && !held.is_empty() {
            let (user, lease) = held.remove(0);
            let _ = client.delete(format!("{base}/v1/users/{user}/leases/{lease}")).send().await;
        }
        if round % 5 == 0 && !held.is_empty() {
            // Abandoned: never renewed again, so it expires.
            held.pop();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn query(client: &reqwest::Client, prometheus: &str, expr: &str) -> Vec<Value> {
    let answer = client.get(format!("{prometheus}/api/v1/query")).query(&[("query", expr)]).send().await;
    let Ok(answer) = answer else { return Vec::new() };
    let body: Value = answer.json().await.unwrap_or_default();
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Waits for a webhook post about `alert` with `status` (firing, resolved).
async fn notified(posts: &mut mpsc::UnboundedReceiver<Value>, alert: &str, status: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let post = tokio::time::timeout_at(deadline, posts.recv())
            .await
            .unwrap_or_else(|_| panic!("no {status} notification of {alert} within {limit:?}"))
            .expect("webhook open");
        if post["status"] == status && post["groupLabels"]["alertname"] == alert {
            return post;
        }
    }
}

#[tokio::test]
async fn prometheus_and_alertmanager_see_two_instances_every_panel_has_data_and_the_store_alert_fires_and_resolves() {
    let prometheus_bin = program(&["prometheus"]);
    let alertmanager_bin = program(&["prometheus-alertmanager", "alertmanager"]);
    let client = reqwest::Client::new();
    let redis = Arc::new(RedisServer::start());
    let env = [
        ("REDIS_URL", redis.url()),
        ("STREAMLEASE_METRICS_REFRESH_MS", "500".into()),
        ("STREAMLEASE_LEASE_TTL_MS", "2000".into()),
        ("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "500".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let instances = [ServiceProcess::start(&env).await, ServiceProcess::start(&env).await];
    let bases = [instances[0].base.clone(), instances[1].base.clone()];
    let load = tokio::spawn(player_load(bases.clone()));

    let (hook, mut posts) = webhook();
    let alertmanager = Daemon::start(&alertmanager_bin, |dir, port| {
        let config = format!(
            "route: {{receiver: test, group_by: [alertname], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers:\n  - name: test\n    webhook_configs: [{{url: \"{hook}\", send_resolved: true}}]\n"
        );
        std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
        vec![
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            // No gossip port: one Alertmanager, on loopback only.
            "--cluster.listen-address=".into(),
        ]
    });
    alertmanager.wait_ready(&client).await;
    let am = alertmanager.base.trim_start_matches("http://").to_owned();
    let targets: Vec<String> = bases.iter().map(|b| format!("\"{}\"", b.trim_start_matches("http://"))).collect();
    let prometheus = Daemon::start(&prometheus_bin, |dir, port| {
        std::fs::write(dir.join("streamlease.rules.yml"), rules_for_a_quick_test()).unwrap();
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{runbook_base: \"{RUNBOOKS}\"}}}}\n\
             rule_files: [streamlease.rules.yml]\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: [\"{am}\"]}}]}}]}}\n\
             scrape_configs:\n  - job_name: streamlease\n    static_configs: [{{targets: [{}]}}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    });
    prometheus.wait_ready(&client).await;
    let prom = prometheus.base.clone();

    // Both instances scraped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(&client, &prom, r#"sum(up{job="streamlease"})"#).await.first().map(|r| r["value"][1].clone())
        != Some(json!("2"))
    {
        assert!(Instant::now() < deadline, "Prometheus did not scrape both instances:\n{}", prometheus.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every panel's query answers with data (rates need a few scrapes).
    let deadline = Instant::now() + Duration::from_secs(60);
    for (title, expr) in dashboard_queries() {
        loop {
            let result = query(&client, &prom, &expr).await;
            let has_number = result.iter().any(|r| r["value"][1].as_str().is_some_and(|v| v != "NaN"));
            if has_number {
                break;
            }
            assert!(Instant::now() < deadline, "panel {title:?}: {expr} returned no data: {result:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    redis.kill();
    let firing = notified(&mut posts, STORE_ALERT, "firing", Duration::from_secs(60)).await;
    let instances_alerted: Vec<&str> =
        firing["alerts"].as_array().unwrap().iter().filter_map(|a| a["labels"]["instance"].as_str()).collect();
    assert!(!instances_alerted.is_empty(), "{firing}");
    assert!(firing["alerts"][0]["annotations"]["summary"].as_str().unwrap().contains("cannot use its store"));
    // A link that works from a notification: absolute, under the one base.
    let runbook = firing["alerts"][0]["annotations"]["runbook_url"].as_str().unwrap();
    assert_eq!(runbook, format!("{RUNBOOKS}/operations.md#streamleasestoreunavailable"));

    redis.restart();
    // The error rate's 1-minute window must drain before it resolves.
    notified(&mut posts, STORE_ALERT, "resolved", Duration::from_secs(150)).await;
    load.abort();
}
