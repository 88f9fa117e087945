//! The demo player in real headless Chromium (`clients/js/test/browser/e2e.ts`,
//! driven by playwright-core), against the service binary on another origin
//! with CORS and player JWTs on: four tabs of one user, the limit chooser,
//! termination, a beacon release on tab close and, on Redis, an outage.
//!
//! This side owns the service and Redis; the script owns the browser. They
//! talk in lines over the script's stdin and stdout (see e2e.ts).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::ServiceProcess;
use crate::js_client::js_package;
use crate::redis_server::RedisServer;

pub const CHROMIUM_HINT: &str = "chromium is not installed, and the browser test needs it. Install it: \
     `sudo apt-get install chromium` (Debian), or set CHROMIUM=/path/to/chromium or chrome.";
const JWT_SECRET: &str = "browser-test-secret-browser-test-secret";
const TTL_MS: u64 = 10_000;
/// How long Redis stays down in the outage step.
const OUTAGE: Duration = Duration::from_secs(3);
/// The whole scenario, generous for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// Chromium runs are heavy: two at a time at most, however many test
/// threads (on two cores, the second one uses what the rest of the suite
/// leaves idle once it is done).
pub static BROWSERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// On Redis, which the test stops for a while: the one store whose outage
/// players must ride out. (What the browser sees is the same on either store.)
#[tokio::test]
async fn four_tabs_in_chromium_on_redis_through_an_outage() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{CHROMIUM_HINT}");
    let package = js_package();
    let _browser = BROWSERS.acquire().await.expect("the semaphore is never closed");
    let mut script = Script::start(package, &chromium, &["build/test/browser/e2e.js"]);

    let page_origin = script.next_line().await.strip_prefix("page ").expect("the script's page origin").to_owned();
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let ttl = TTL_MS.to_string();
    let service = ServiceProcess::start(&[
        ("REDIS_URL", &redis_url),
        ("STREAMLEASE_CORS_ORIGINS", &page_origin),
        ("STREAMLEASE_JWT_SECRET", JWT_SECRET),
        ("STREAMLEASE_ADMIN_TOKEN", "browser-test-admin"),
        ("STREAMLEASE_LEASE_TTL_MS", &ttl),
        ("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "1000"),
    ])
    .await;
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    script.send(&json!({
        "service": service.base,
        "jwtSecret": JWT_SECRET,
        "redis": true,
        "artifacts": artifacts,
        "ttlMs": TTL_MS,
    }));

    loop {
        let line = script.next_line().await;
        match line.as_str() {
            "passed" => break,
            "redis stop" => {
                redis.kill();
                script.send_line("redis stopped");
                // The outage itself: how long players must ride it out.
                tokio::time::sleep(OUTAGE).await;
                redis.restart();
                script.send_line("redis started");
            }
            other => panic!("unexpected line from the browser script: {other:?}"),
        }
    }
    let status = script.wait().await;
    assert!(status.success(), "the browser script exited with {status}\n{}", script.stderr());
    drop(service);
}

/// A node process running a browser script (`clients/js/test/browser/`).
pub struct Script {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Script {
    pub fn start(package: &Path, chromium: &str, args: &[&str]) -> Self {
        let mut child = Command::new("node")
            .args(args)
            .current_dir(package)
            .env("CHROMIUM", chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node");
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Script { child, stdin, lines, stderr }
    }

    pub async fn next_line(&mut self) -> String {
        match tokio::time::timeout(DEADLINE, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the browser script ended early:\n{}", self.stderr()),
            Err(_) => panic!("the browser script said nothing for {DEADLINE:?}:\n{}", self.stderr()),
        }
    }

    pub fn send(&mut self, value: &serde_json::Value) {
        self.send_line(&value.to_string());
    }

    fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").and_then(|_| self.stdin.flush()).expect("write to the browser script");
    }

    pub async fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for node") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the browser script did not exit after passing:\n{}", self.stderr());
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        // Killing node closes the browser's pipe, and Chromium exits with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
