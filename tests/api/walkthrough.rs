//! The README's curl walkthrough, run verbatim against both stores, so the
//! documentation cannot drift from the service.

use std::process::Command;

use crate::helpers::ServiceProcess;
use crate::redis_server::RedisServer;

/// The shell block between the walkthrough markers in README.md.
fn walkthrough() -> String {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("<!-- walkthrough:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- walkthrough:end -->").next())
        .expect("README has walkthrough markers");
    block.lines().filter(|l| !l.starts_with("```")).collect::<Vec<_>>().join("\n")
}

/// Runs the walkthrough against `base` (it is written for 127.0.0.1:8080)
/// and checks that each step's answer shows up, in order.
fn run_walkthrough(base: &str) {
    assert!(Command::new("curl").arg("--version").output().is_ok(), "curl is needed: apt-get install curl");
    let script = walkthrough().replace("http://127.0.0.1:8080", base);
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "walkthrough failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let steps = [
        r#""stream_id":"movie-42","device_id":"tv""#, // 2. heartbeat
        r#""stream_id":"news","device_id":"laptop""#, // 3. laptop acquires
        r#""code":"limit_reached""#,                  // 4. tablet refused
        r#""terminated":["#,                          // 5. tablet takes the phone's slot
        r#""code":"lease_ended""#,                    // 6. phone learns why
        r#""reason":"terminated""#,
        "204",                                                                // 7. TV releases
        r#""reason":"released""#,                                             // 8. late TV heartbeat
        r#""user_id":"alice","limit":3,"limit_source":"default","active":2"#, // 9. what alice watches
    ];
    let mut rest = stdout.as_ref();
    for step in steps {
        let at = rest.find(step).unwrap_or_else(|| panic!("missing {step} in walkthrough output:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_works_on_the_embedded_store() {
    let service = ServiceProcess::start(&[]).await;
    let base = service.base.clone();
    tokio::task::spawn_blocking(move || run_walkthrough(&base)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_works_on_redis() {
    let redis = RedisServer::start();
    let service = ServiceProcess::start(&[("REDIS_URL", &redis.url())]).await;
    let base = service.base.clone();
    tokio::task::spawn_blocking(move || run_walkthrough(&base)).await.unwrap();
}
