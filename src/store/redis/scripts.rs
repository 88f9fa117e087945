//! The lease scripts, built once per process. Each is the shared prelude
//! followed by the operation; redis-rs sends it by EVALSHA and loads it only
//! when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).

use std::sync::LazyLock;

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn build(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

pub static ACQUIRE: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/acquire.lua")));
pub static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/heartbeat.lua")));
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/release.lua")));
pub static LIST: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/list.lua")));
pub static REVOKE: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/revoke.lua")));
pub static CENSUS: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/census.lua")));

pub fn all() -> [&'static Script; 6] {
    [&ACQUIRE, &HEARTBEAT, &RELEASE, &LIST, &REVOKE, &CENSUS]
}
