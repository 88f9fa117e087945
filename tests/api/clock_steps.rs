//! Wall clocks that step: the instance's (NTP, an operator) and Redis' (a
//! failover to a host whose clock differs). A shim preloaded into the real
//! process (`support/clock_shim.c`) shifts its wall clock while it runs.
//! Redis alone judges expiry, so neither step may refuse acquires for
//! longer than one answer, nor start a withdraw of a lease never taken.

use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::redis_server::RedisServer;

const CC_HINT: &str = "a C compiler (cc) is needed to build the clock shim for these tests. Install it: \
     `sudo apt-get install gcc` (Debian/Ubuntu), `xcode-select --install` (macOS).";

/// The shim, built once per test run.
static SHIM: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("clock_shim.so");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/support/clock_shim.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(source)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("{CC_HINT} ({e})"));
    assert!(built.success(), "building the clock shim failed");
    (dir, library)
});

/// The file a shimmed process reads its clock's shift from.
struct ClockShift {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl ClockShift {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shift");
        std::fs::write(&path, 0i64.to_le_bytes()).unwrap();
        Self { _dir: dir, path }
    }

    /// Moves the shimmed wall clock to `ms` from the true time. Written in
    /// place: the process has the file mapped.
    fn set_ms(&self, ms: i64) {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&self.path).unwrap();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(&ms.to_le_bytes()).unwrap();
    }

    /// The environment that preloads the shim, reading this file.
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("LD_PRELOAD", SHIM.1.to_str().unwrap().to_owned()),
            ("CLOCK_SHIM_FILE", self.path.to_str().unwrap().to_owned()),
        ]
    }
}

async fn acquire_status(service: &ServiceProcess, user: &str) -> StatusCode {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/users/{user}/leases", service.base);
    client.post(url).json(&json!({"stream_id": "s"})).send().await.unwrap().status()
}

/// Withdraws the instance started (each is a store call, timed).
async fn withdraws(service: &ServiceProcess) -> f64 {
    let metrics = reqwest::get(format!("{}/metrics", service.base)).await.unwrap().text().await.unwrap();
    sample(&metrics, r#"streamlease_store_request_duration_seconds_count{operation="withdraw"}"#).unwrap_or(0.0)
}

#[tokio::test]
async fn the_instance_clock_stepping_back_refuses_no_acquire() {
    let redis = RedisServer::start();
    let shift = ClockShift::new();
    let [preload, file] = shift.env();
    let url = redis.url();
    let service = ServiceProcess::start(&[
        ("REDIS_URL", &url),
        (preload.0, &preload.1),
        (file.0, &file.1),
        // No census in the test's time: nothing else re-reads the clock.
        ("STREAMLEASE_METRICS_REFRESH_MS", "3600000"),
    ])
    .await;
    assert_eq!(acquire_status(&service, "before").await, StatusCode::CREATED);
    shift.set_ms(-2_000);
    for n in 0..5 {
        assert_eq!(acquire_status(&service, &format!("after-{n}")).await, StatusCode::CREATED, "acquire {n}");
    }
    shift.set_ms(5_000);
    assert_eq!(acquire_status(&service, "forward").await, StatusCode::CREATED);
    assert_eq!(withdraws(&service).await, 0.0);
}

#[tokio::test]
async fn redis_clock_jumping_costs_one_refused_acquire_and_no_withdraw() {
    let shift = ClockShift::new();
    let [preload, file] = shift.env();
    let redis = RedisServer::start_with_env(&[(preload.0, &preload.1), (file.0, &file.1)]);
    let url = redis.url();
    let service = ServiceProcess::start(&[("REDIS_URL", &url), ("STREAMLEASE_METRICS_REFRESH_MS", "3600000")]).await;
    assert_eq!(acquire_status(&service, "before").await, StatusCode::CREATED);
    // As if Redis failed over to a host 3 s ahead: our deadlines, 750 ms
    // ahead of Redis' time as we knew it, are now in its past.
    shift.set_ms(3_000);
    let first = acquire_status(&service, "first").await;
    assert!(matches!(first, StatusCode::CREATED | StatusCode::SERVICE_UNAVAILABLE), "{first}");
    for n in 0..5 {
        assert_eq!(acquire_status(&service, &format!("then-{n}")).await, StatusCode::CREATED, "acquire {n}");
    }
    assert_eq!(withdraws(&service).await, 0.0, "a late acquire took nothing: nothing to withdraw");
    let client = reqwest::Client::new();
    let list = client.get(format!("{}/v1/users/first/leases", service.base)).send().await.unwrap();
    let expected = if first == StatusCode::CREATED { 1 } else { 0 };
    assert_eq!(list.json::<serde_json::Value>().await.unwrap()["active"], expected);
}
