//! The lease scripts, built once per process. Each is a shebang line, the
//! shared prelude, then the operation; redis-rs sends it by EVALSHA and
//! loads it only when Redis answers NOSCRIPT (after a restart or SCRIPT
//! FLUSH).
//!
//! The shebang declares what a script may do, so Redis checks it before the
//! script runs instead of failing it halfway. On a read-only replica every
//! writing script is refused whole (READONLY). When Redis is out of memory
//! only the acquire is refused (OOM): renewing, releasing, revoking and
//! counting never grow the data by more than a record, so streams already
//! playing go on and releases still free memory.

use std::sync::LazyLock;

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

/// Adds leases: refused up front on OOM and on a read-only replica.
const GROWS: &str = "#!lua";
/// Rewrites or shrinks what is there: refused only on a read-only replica.
const KEEPS: &str = "#!lua flags=allow-oom";
/// Reads only: runs on a replica and when Redis is out of memory.
const READS: &str = "#!lua flags=no-writes";

fn build(flags: &str, body: &str) -> Script {
    Script::new(&format!("{flags}\n{PRELUDE}\n{body}"))
}

pub static ACQUIRE: LazyLock<Script> = LazyLock::new(|| build(GROWS, include_str!("lua/acquire.lua")));
pub static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| build(KEEPS, include_str!("lua/heartbeat.lua")));
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| build(KEEPS, include_str!("lua/release.lua")));
pub static LIST: LazyLock<Script> = LazyLock::new(|| build(READS, include_str!("lua/list.lua")));
pub static REVOKE: LazyLock<Script> = LazyLock::new(|| build(KEEPS, include_str!("lua/revoke.lua")));
pub static CENSUS: LazyLock<Script> = LazyLock::new(|| build(KEEPS, include_str!("lua/census.lua")));

pub fn all() -> [&'static Script; 6] {
    [&ACQUIRE, &HEARTBEAT, &RELEASE, &LIST, &REVOKE, &CENSUS]
}
