//! The lease scripts, built once per process. Each `.lua` file starts with
//! its shebang line; the built script is that line, the shared parts in
//! order (`inputs.lua`: arguments and time; `codec.lua`: the records;
//! `prelude.lua`: the bookkeeping), then the rest of the file. A file may
//! place the prelude later (see `PRELUDE_HERE`). redis-rs sends the script
//! by EVALSHA and loads it only when Redis answers NOSCRIPT (after a restart
//! or SCRIPT FLUSH). `scripts/lib/common.sh` builds them the same way.
//!
//! The shebang declares what a script may do, so Redis checks it before the
//! script runs instead of failing it halfway. On a read-only replica every
//! writing script is refused whole (READONLY). When Redis is out of memory
//! only the acquire (`#!lua`) is refused (OOM): renewing, releasing,
//! revoking and counting (`flags=allow-oom`) never grow the data by more
//! than a record, so streams already playing go on and releases still free
//! memory. Listing (`flags=no-writes`) runs anywhere.

use std::sync::LazyLock;

use redis::Script;

const INPUTS: &str = include_str!("lua/inputs.lua");
const CODEC: &str = include_str!("lua/codec.lua");
const PRELUDE: &str = include_str!("lua/prelude.lua");

/// A script may place the prelude later with a line of its own reading
/// `-- @prelude`: code above it runs without the prelude's cost (defining
/// its functions on every call), for a hot path that needs only the inputs
/// and the codec.
const PRELUDE_HERE: &str = "\n-- @prelude\n";

fn build(file: &str) -> Script {
    Script::new(&source(file))
}

fn source(file: &str) -> String {
    let (shebang, body) = file.split_once('\n').expect("a shebang line, then the script");
    assert!(shebang.starts_with("#!lua"), "a lease script starts with its shebang");
    let (ahead, rest) = body.split_once(PRELUDE_HERE).unwrap_or(("", body));
    format!("{shebang}\n{INPUTS}\n{CODEC}\n{ahead}\n{PRELUDE}\n{rest}")
}

pub static ACQUIRE: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/acquire.lua")));
pub static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/heartbeat.lua")));
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/release.lua")));
pub static LIST: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/list.lua")));
pub static REVOKE: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/revoke.lua")));
pub static CENSUS: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/census.lua")));
pub static CENSUS_LOCK: LazyLock<Script> = LazyLock::new(|| build(include_str!("lua/census_lock.lua")));

pub fn all() -> [&'static Script; 7] {
    named().map(|(_, script)| script)
}

/// Every script with its file's name.
pub fn named() -> [(&'static str, &'static Script); 7] {
    [
        ("acquire", &ACQUIRE),
        ("heartbeat", &HEARTBEAT),
        ("release", &RELEASE),
        ("list", &LIST),
        ("revoke", &REVOKE),
        ("census", &CENSUS),
        ("census_lock", &CENSUS_LOCK),
    ]
}
