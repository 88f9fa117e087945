//! Spawning the real service over real HTTP, on every store, and typed
//! helpers for the calls a player makes.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use streamlease::clock::{Clock, ManualClock};
use streamlease::config::{RedisTls, Settings};
use streamlease::domain::ledger::Terms;
use streamlease::startup::Application;
use streamlease::store::{EmbeddedStore, RedisStore, Store, StoreCounters};

use crate::redis_cluster::RedisCluster;
use crate::redis_server::{RedisServer, Tls};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// A Redis server of the test's own, which it may stop, inspect or flush.
    Redis,
    /// A Redis Cluster of 3 primaries, each with a replica.
    RedisCluster,
    /// The conformance suite's Redis: one server (plain, TLS or cluster) for
    /// every test of the run, each app on a key prefix of its own and on the
    /// test's clock (the scripts take the time as an argument), so time moves
    /// at once, as on the embedded store.
    Shared(SharedRedis),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedRedis {
    Plain,
    Tls,
    Cluster,
}

impl Backend {
    pub fn is_redis(self) -> bool {
        self != Backend::Embedded
    }
}

/// The shared servers, started by the first test that asks, stopped when
/// the test process ends.
static SHARED_REDIS: LazyLock<RedisServer> = LazyLock::new(|| {
    let redis = RedisServer::start();
    redis.stop_at_process_exit();
    redis
});
static SHARED_REDIS_TLS: LazyLock<RedisServer> = LazyLock::new(|| {
    let redis = tls_server();
    redis.stop_at_process_exit();
    redis
});
static SHARED_CLUSTER: LazyLock<RedisCluster> = LazyLock::new(|| {
    let cluster = RedisCluster::start();
    cluster.stop_at_process_exit();
    cluster
});
/// Key prefixes handed out so far: one per app on a shared server.
static SHARED_PREFIXES: AtomicU64 = AtomicU64::new(0);

fn tls_server() -> RedisServer {
    let certificates = &*crate::certificates::CERTIFICATES;
    RedisServer::start_tls(Tls {
        port: 0,
        cert: certificates.server_cert.clone(),
        key: certificates.server_key.clone(),
        ca: certificates.ca_cert.clone(),
        require_client_cert: false,
    })
}

/// One running app. Embedded apps and apps on the shared Redis servers run
/// on a manual clock the test moves (`clock`); an app on a Redis of its own
/// follows Redis' clock, so time there passes for real.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Option<Arc<ManualClock>>,
    pub redis: Option<Arc<RedisServer>>,
    pub cluster: Option<Arc<RedisCluster>>,
    /// Where `/metrics` is served when it has a listener of its own.
    pub metrics_base: Option<String>,
}

/// Settings for tests: ephemeral port, defaults otherwise, but with no
/// shedding: dozens of apps share this process and a busy machine, where a
/// loop runs late and calls pile up for reasons no test is about, and the
/// races fire hundreds of acquires at once on purpose (`overload.rs` and
/// `shedding.rs` test shedding).
pub fn test_settings() -> Settings {
    let mut settings = Settings::parse(["streamlease", "--bind=127.0.0.1:0"]).unwrap();
    settings.shed = streamlease::shedding::ShedBounds { store_calls: 0, lag_ms: 0 };
    settings
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    match backend {
        Backend::Embedded => spawn_app_on(None, tweak).await,
        Backend::Redis => spawn_app_on(Some(Arc::new(RedisServer::start())), tweak).await,
        Backend::RedisCluster => spawn_app_on_cluster(Arc::new(RedisCluster::start()), tweak).await,
        Backend::Shared(shared) => spawn_app_on_shared(shared, tweak).await,
    }
}

/// An app on a shared server, with a key prefix of its own, on a clock the
/// test moves. The clock starts an hour ahead of real time: Redis expires
/// keys by its own clock, and keys written for this one then outlive the run.
async fn spawn_app_on_shared(shared: SharedRedis, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let prefix = format!("t{}", SHARED_PREFIXES.fetch_add(1, Ordering::Relaxed));
    let mut settings = test_settings();
    settings.key_prefix = prefix;
    match shared {
        SharedRedis::Plain => settings.redis_url = Some(SHARED_REDIS.url()),
        SharedRedis::Tls => {
            settings.redis_url = Some(SHARED_REDIS_TLS.url());
            settings.redis_tls.ca_pem = Some(std::fs::read(&crate::certificates::CERTIFICATES.ca_cert).unwrap());
        }
        SharedRedis::Cluster => {
            settings.redis_url = Some(SHARED_CLUSTER.url());
            settings.redis_cluster = true;
        }
    }
    tweak(&mut settings);
    let clock = Arc::new(ManualClock::starting_now());
    clock.advance_ms(3_600_000);
    let listener = TcpListener::bind(settings.bind).unwrap();
    let app = Application::build_on_test_clock(listener, settings, clock.clone()).await.expect("app starts");
    let base = format!("http://{}", app.addr());
    let metrics_base = app.metrics_addr().map(|addr| format!("http://{addr}"));
    tokio::spawn(app.run_until_stopped());
    TestApp { base, client: reqwest::Client::new(), clock: Some(clock), redis: None, cluster: None, metrics_base }
}

/// A store on `backend` with `terms`, and the manual clock it runs on, for
/// the conformance suite. On a shared server it has a key prefix of its own,
/// and its clock starts an hour ahead of real time (see `spawn_app_on_shared`).
pub fn store_on(backend: Backend, terms: Terms) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    clock.advance_ms(3_600_000);
    let shared = match backend {
        Backend::Embedded => {
            let expired = prometheus::IntCounter::new("expired", "test").unwrap();
            return (Store::Embedded(EmbeddedStore::start(terms, clock.clone(), expired)), clock);
        }
        Backend::Shared(shared) => shared,
        other => panic!("the conformance suite runs on the shared servers, not {other:?}"),
    };
    let prefix = format!("t{}", SHARED_PREFIXES.fetch_add(1, Ordering::Relaxed));
    let mut tls = RedisTls::default();
    let (url, cluster) = match shared {
        SharedRedis::Plain => (SHARED_REDIS.url(), false),
        SharedRedis::Tls => {
            tls.ca_pem = Some(std::fs::read(&crate::certificates::CERTIFICATES.ca_cert).unwrap());
            (SHARED_REDIS_TLS.url(), false)
        }
        SharedRedis::Cluster => (SHARED_CLUSTER.url(), true),
    };
    let store = RedisStore::connect(&url, cluster, &tls, &prefix, terms, StoreCounters::detached())
        .expect("a store")
        .with_test_clock(clock.clone() as Arc<dyn Clock>);
    (Store::Redis(store), clock)
}

/// Another app on the same Redis as `other`: a second service instance.
pub async fn spawn_sibling(other: &TestApp, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    match &other.cluster {
        Some(cluster) => spawn_app_on_cluster(cluster.clone(), tweak).await,
        None => spawn_app_on(other.redis.clone(), tweak).await,
    }
}

/// An app on a Redis Cluster, given every node as a seed.
pub async fn spawn_app_on_cluster(cluster: Arc<RedisCluster>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let url = cluster.url();
    let mut app = spawn_app_on(None, |s| {
        s.redis_url = Some(url);
        s.redis_cluster = true;
        tweak(s)
    })
    .await;
    app.clock = None;
    app.cluster = Some(cluster);
    app
}

async fn spawn_app_on(redis: Option<Arc<RedisServer>>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    settings.redis_url = redis.as_ref().map(|r| r.url());
    tweak(&mut settings);
    let settings_redis_url = settings.redis_url.clone();
    let clock = Arc::new(ManualClock::starting_now());
    let listener = TcpListener::bind(settings.bind).unwrap();
    let app = Application::build_on(listener, settings, clock.clone()).await.expect("app starts");
    let base = format!("http://{}", app.addr());
    let metrics_base = app.metrics_addr().map(|addr| format!("http://{addr}"));
    tokio::spawn(app.run_until_stopped());
    let clock = (redis.is_none() && settings_redis_url.is_none()).then_some(clock);
    TestApp { base, client: reqwest::Client::new(), clock, redis, cluster: None, metrics_base }
}

impl TestApp {
    pub fn redis(&self) -> &RedisServer {
        self.redis.as_deref().expect("a Redis-backed app")
    }

    /// Lets `ms` pass for the store: the manual clock moves at once on the
    /// embedded store; on Redis, real time must pass (tests keep it short).
    pub async fn let_time_pass(&self, ms: i64) {
        match &self.clock {
            Some(clock) => clock.advance_ms(ms),
            None => tokio::time::sleep(Duration::from_millis(ms.max(0) as u64)).await,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn acquire(&self, user: &str, body: Value) -> Response {
        self.client.post(self.url(&format!("/v1/users/{user}/leases"))).json(&body).send().await.unwrap()
    }

    /// Acquires a lease for `stream` and returns its body, asserting 201.
    pub async fn acquire_ok(&self, user: &str, stream: &str) -> Value {
        let response = self.acquire(user, json!({ "stream_id": stream })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn heartbeat(&self, user: &str, lease: &str) -> Response {
        self.client.post(self.url(&format!("/v1/users/{user}/leases/{lease}/heartbeat"))).send().await.unwrap()
    }

    /// A heartbeat carrying a body (`{stream_id, device_id?}` allows a restore).
    pub async fn heartbeat_with(&self, user: &str, lease: &str, body: Value) -> Response {
        let url = self.url(&format!("/v1/users/{user}/leases/{lease}/heartbeat"));
        self.client.post(url).json(&body).send().await.unwrap()
    }

    pub async fn release(&self, user: &str, lease: &str) -> Response {
        self.client.delete(self.url(&format!("/v1/users/{user}/leases/{lease}"))).send().await.unwrap()
    }

    pub async fn list(&self, user: &str) -> Value {
        let response = self.client.get(self.url(&format!("/v1/users/{user}/leases"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn active(&self, user: &str) -> u64 {
        self.list(user).await["active"].as_u64().unwrap()
    }

    pub async fn put_limit(&self, user: &str, limit: Value) -> Response {
        let url = self.url(&format!("/v1/users/{user}/limit"));
        self.client.put(url).json(&json!({ "limit": limit })).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// Waits (with a deadline) until the metrics census ran `n` times.
    pub async fn wait_for_censuses(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = sample(
                &self.metrics().await,
                r#"streamlease_store_request_duration_seconds_count{operation="census"}"#,
            );
            if done.unwrap_or(0.0) >= n as f64 {
                return;
            }
            assert!(Instant::now() < deadline, "no census after 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Polls `/metrics` until `check` holds, or fails after `limit`.
pub async fn eventually(app: &TestApp, limit: Duration, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        let exposition = app.metrics().await;
        if check(&exposition) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}:\n{exposition}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `request` as raw bytes on a new connection and returns all the
/// server answers until it closes (or 5 s pass): for requests no HTTP
/// client library would send as written.
pub async fn raw_http(app: &TestApp, request: &str) -> String {
    raw_bytes(app.base.trim_start_matches("http://"), request.as_bytes()).await
}

pub async fn raw_bytes(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open: {}", String::from_utf8_lossy(&answer));
    String::from_utf8_lossy(&answer).into_owned()
}

/// The value of the sample `series` (name and labels exactly as exposed).
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Reads a problem+json answer and checks its status and code.
pub async fn problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

pub fn id(lease: &Value) -> String {
    lease["lease_id"].as_str().expect("lease_id").to_owned()
}

/// The service binary as its own process, for tests that need several
/// processes or the real `main`.
pub struct ServiceProcess {
    pub base: String,
    child: Child,
    /// Every line the process wrote to stderr so far.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServiceProcess {
    /// Starts the binary on an ephemeral port and waits (with a deadline) for
    /// the address it logs and for `/healthz`.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_streamlease"))
            .env("STREAMLEASE_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn,streamlease::startup=info")
            // A busy test machine runs every loop late now and then; no test
            // of a spawned binary is about shedding (see `test_settings`).
            .env("STREAMLEASE_SHED_LAG_MS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn streamlease");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        // Keeps draining stderr after the address is found, so the service
        // never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(20)).expect("service logged its address");
        let process = ServiceProcess { base, child, log };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            let answer = client.get(format!("{}/healthz", self.base)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} did not become healthy", self.base);
    }
}

impl ServiceProcess {
    /// Sends SIGTERM, as a deploy would.
    pub fn terminate(&self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM failed");
    }

    /// Waits (polling, with a deadline) for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a module `$module`, one test per listed `async fn name(backend:
/// Backend)`, run on `$backend`.
#[macro_export]
macro_rules! tests_on {
    ($module:ident, $backend:expr, $($name:ident),* $(,)?) => {
        mod $module {
            $(#[tokio::test]
            async fn $name() {
                super::$name($backend).await
            })*
        }
    };
}

/// Declares each listed `async fn name(backend: Backend)` as one test on
/// the embedded store: HTTP behaviour (what a route makes of the store's
/// outcomes, validation, auth, framing) is tested once; the rules behind it
/// run on every store in `conformance.rs`.
#[macro_export]
macro_rules! on_one_store {
    ($($name:ident),* $(,)?) => {
        $crate::tests_on!(embedded, $crate::helpers::Backend::Embedded, $($name),*);
    };
}

/// Declares each listed `async fn name(backend: Backend)` as four tests,
/// one per store: embedded, Redis, Redis over TLS, Redis Cluster (the
/// Redis ones on the shared servers): the store conformance suite, and the
/// HTTP tests about the store itself.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        $crate::tests_on!(embedded, $crate::helpers::Backend::Embedded, $($name),*);
        $crate::tests_on!(redis, $crate::helpers::Backend::Shared($crate::helpers::SharedRedis::Plain), $($name),*);
        $crate::tests_on!(redis_tls, $crate::helpers::Backend::Shared($crate::helpers::SharedRedis::Tls), $($name),*);
        $crate::tests_on!(
            redis_cluster,
            $crate::helpers::Backend::Shared($crate::helpers::SharedRedis::Cluster),
            $($name),*
        );
    };
}
