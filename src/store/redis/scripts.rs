//! The lease scripts, as one Redis function library built once per process.
//!
//! Each `.lua` file starts with its shebang line, which declares what the
//! script may do; the rest is the script's body. The library is the shared
//! parts in order (`inputs.lua`: arguments and time; `codec.lua`: the
//! records; `prelude.lua`: the bookkeeping), then each body as a registered
//! function. Redis runs the library's top level once, at `FUNCTION LOAD`, so
//! a call pays for its own body only, not for defining the shared functions
//! (with `EVALSHA` it paid for that on every call: about 400 instructions a
//! function, 9k of a heartbeat's 105k in Redis; docs/performance.md).
//! `streamlease --print-redis-library` prints the text, and `scripts/` load
//! what it prints.
//!
//! Names carry a version, a hash of the text (`acquire_<version>` in library
//! `streamlease_<version>`), so instances of two builds sharing one Redis
//! during a rolling deploy each call their own code, as they did by SHA.
//! Redis keeps loaded libraries in its RDB and AOF and sends them to
//! replicas; the store loads the library at startup and again whenever Redis
//! answers that a function is not found (a restart without persistence,
//! `FUNCTION FLUSH`, a new cluster primary).
//!
//! The shebang's flags become the function's: Redis checks them before the
//! function runs instead of failing it halfway. On a read-only replica every
//! writing function is refused whole (READONLY). When Redis is out of memory
//! only the acquire (no flags) is refused (OOM): renewing, releasing,
//! revoking and counting (`flags=allow-oom`) never grow the data by more
//! than a record, so streams already playing go on and releases still free
//! memory. Listing (`flags=no-writes`) runs anywhere.

use std::sync::LazyLock;

use redis::{Cmd, ToRedisArgs};

const INPUTS: &str = include_str!("lua/inputs.lua");
const CODEC: &str = include_str!("lua/codec.lua");
const PRELUDE: &str = include_str!("lua/prelude.lua");

/// Every lease script: its file's name, how many keys it takes (the file's
/// header says which), and its text.
const FILES: [(&str, usize, &str); 7] = [
    ("acquire", 3, include_str!("lua/acquire.lua")),
    ("heartbeat", 3, include_str!("lua/heartbeat.lua")),
    ("release", 2, include_str!("lua/release.lua")),
    ("list", 2, include_str!("lua/list.lua")),
    ("revoke", 2, include_str!("lua/revoke.lua")),
    ("census", 2, include_str!("lua/census.lua")),
    ("census_lock", 1, include_str!("lua/census_lock.lua")),
];

/// The library's text (for `FUNCTION LOAD REPLACE`) and the name of each
/// file's function in it, in the order of `FILES`.
pub struct Library {
    pub text: String,
    names: [String; 7],
}

pub static LIBRARY: LazyLock<Library> = LazyLock::new(|| {
    let mut body = format!("local KEYS, ARGV\n{INPUTS}\n{CODEC}\n{PRELUDE}\n");
    let code: String = FILES.iter().map(|(name, _, file)| registered(name, file)).collect();
    let version = sha1_smol::Sha1::from(format!("{body}{code}")).digest().to_string()[..12].to_owned();
    body.push_str(&code.replace(VERSION_HERE, &version));
    let names = FILES.map(|(name, _, _)| format!("{name}_{version}"));
    Library { text: format!("#!lua name=streamlease_{version}\n{body}"), names }
});

/// Stands for the version in the text that the version is a hash of.
const VERSION_HERE: &str = "<version>";

/// One file's body as a function `<name>_<version>` with its shebang's
/// flags. `KEYS` and `ARGV`, which `EVAL` would set as globals, are the
/// library's locals, set on each call: Redis runs one call at a time.
fn registered(name: &str, file: &str) -> String {
    let (shebang, body) = file.split_once('\n').expect("a shebang line, then the script");
    let flags = shebang.strip_prefix("#!lua").expect("a lease script starts with its shebang").trim();
    let flags = match flags.strip_prefix("flags=") {
        Some(list) => list.split(',').map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", "),
        None => {
            assert!(flags.is_empty(), "{name}.lua: a shebang states flags=... or nothing");
            String::new()
        }
    };
    format!(
        "redis.register_function{{ function_name = '{name}_{VERSION_HERE}', flags = {{ {flags} }},\n\
         callback = function(keys, args)\nKEYS, ARGV = keys, args\n{body}\nend }}\n"
    )
}

/// A lease script, called by name: its place in `FILES`.
#[derive(Clone, Copy)]
pub struct Function(usize);

pub const ACQUIRE: Function = Function(0);
pub const HEARTBEAT: Function = Function(1);
pub const RELEASE: Function = Function(2);
pub const LIST: Function = Function(3);
pub const REVOKE: Function = Function(4);
pub const CENSUS: Function = Function(5);
pub const CENSUS_LOCK: Function = Function(6);

impl Function {
    /// Its name in Redis: `<file>_<version>`.
    pub fn name(&self) -> &'static str {
        &LIBRARY.names[self.0]
    }

    /// A call with no keys or arguments yet.
    pub fn call(&self) -> Call {
        // Room for the heartbeat's parts, so that building it copies each
        // part once (its hot path); longer calls grow it.
        let mut cmd = Cmd::with_capacity(16, 256);
        cmd.arg("FCALL").arg(self.name()).arg(FILES[self.0].1);
        Call(cmd)
    }

    /// A call with its first key.
    pub fn key<T: ToRedisArgs>(&self, key: T) -> Call {
        let mut call = self.call();
        call.key(key);
        call
    }
}

/// An `FCALL` being built: as many keys as the function takes, then its
/// arguments, as with `redis::ScriptInvocation`. The function checks what
/// it was given (`inputs.lua`), so a call built wrong fails loudly.
pub struct Call(Cmd);

impl Call {
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        self.0.arg(key);
        self
    }

    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.0.arg(arg);
        self
    }

    pub fn cmd(&self) -> &Cmd {
        &self.0
    }

    pub fn into_cmd(self) -> Cmd {
        self.0
    }
}

/// Every script by its file's name, for tests that call them directly.
#[cfg(any(test, feature = "testing"))]
pub fn named() -> [(&'static str, Function); 7] {
    std::array::from_fn(|i| (FILES[i].0, Function(i)))
}

/// `FUNCTION LOAD REPLACE` of the library, which a cluster connection sends
/// to every primary. Replacing is loading the same text again where it is
/// already loaded.
pub fn load() -> Cmd {
    redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(&LIBRARY.text).to_owned()
}

/// Whether Redis answered that it does not hold the function called (the
/// library is not loaded there).
pub fn not_found(code: Option<&str>, detail: Option<&str>) -> bool {
    code == Some("ERR") && detail.is_some_and(|d| d.starts_with("Function not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_is_registered_once_under_its_versioned_name_with_its_flags() {
        let text = &LIBRARY.text;
        let version = text.lines().next().unwrap().strip_prefix("#!lua name=streamlease_").unwrap();
        assert!(version.len() == 12 && version.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
        assert!(!text.contains(VERSION_HERE));
        for (name, _, _) in FILES {
            let registered = format!("function_name = '{name}_{version}'");
            assert_eq!(text.matches(&registered).count(), 1, "{name}");
        }
        assert!(text.contains(&format!("'heartbeat_{version}', flags = {{ 'allow-oom' }}")));
        assert!(text.contains(&format!("'list_{version}', flags = {{ 'no-writes' }}")));
        assert!(text.contains(&format!("'acquire_{version}', flags = {{  }}")));
    }

    #[test]
    fn a_call_is_fcall_of_the_versioned_name_with_its_keys_then_its_arguments() {
        let mut call = HEARTBEAT.key("k1");
        call.key("k2").key("k3").arg("").arg(30_000);
        let cmd = call.cmd();
        let parts: Vec<String> = cmd.args_iter().map(|a| format!("{a:?}")).collect();
        let expected = ["FCALL", HEARTBEAT.name(), "3", "k1", "k2", "k3", "", "30000"];
        let expected: Vec<String> =
            expected.iter().map(|s| format!("{:?}", redis::Arg::Simple(s.as_bytes()))).collect();
        assert_eq!(parts, expected);
    }
}
