//! The browser client's adapters in real players from npm, in headless
//! Chromium (`clients/js/test/browser/players.ts`), against the service
//! binary on another origin with CORS on: for each of video.js, hls.js and
//! Shaka Player, three tabs play, the fourth is offered the chooser by
//! device name, a terminated tab pauses with the reason, a duplicated tab
//! never plays a fourth stream, a closed tab frees its slot by beacon, the
//! next episode and an error recovery keep the lease, and disposing the
//! player releases it.

use std::path::Path;

use serde_json::json;

use crate::browser::{BROWSERS, CHROMIUM_HINT, Script};
use crate::helpers::ServiceProcess;
use crate::js_client::js_package;

#[tokio::test]
async fn the_videojs_plugin_in_chromium() {
    player_scenario("videojs").await;
}

#[tokio::test]
async fn the_hlsjs_adapter_in_chromium() {
    player_scenario("hlsjs").await;
}

#[tokio::test]
async fn the_shaka_adapter_in_chromium() {
    player_scenario("shaka").await;
}

async fn player_scenario(player: &str) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{CHROMIUM_HINT}");
    let package = js_package();
    let _browser = BROWSERS.acquire().await.expect("the semaphore is never closed");
    let mut script = Script::start(package, &chromium, &["build/test/browser/players.js", player]);
    let page_origin = script.next_line().await.strip_prefix("page ").expect("the script's page origin").to_owned();
    let service = ServiceProcess::start(&[
        ("STREAMLEASE_CORS_ORIGINS", &page_origin),
        ("STREAMLEASE_LEASE_TTL_MS", "10000"),
        ("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "1000"),
    ])
    .await;
    script.send(&json!({ "service": service.base }));
    let line = script.next_line().await;
    assert_eq!(line, "passed", "{}", script.stderr());
    let status = script.wait().await;
    assert!(status.success(), "the browser script exited with {status}\n{}", script.stderr());
    drop(service);
}
