//! Every setting, declared once: its variable, its flag, its default, its
//! range and its help. `--help` and the operations guide's table come from
//! here; `Settings::from_declared` adds what needs several settings at once.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, Command, CommandFactory, Parser};

use crate::domain::{Classes, OnLimit};

use super::CorsOrigins;

/// Highest per-user limit, for both the default and overrides.
pub const MAX_LIMIT: u32 = 1000;

/// The settings as given, each checked on its own. A flag (`--max-streams`)
/// wins over its variable (`STREAMLEASE_MAX_STREAMS`); an empty variable
/// counts as unset. Not `Debug`: it holds the secrets in the clear.
#[derive(Parser)]
#[command(
    name = "streamlease",
    version,
    about = "Limits how many video streams a user watches at once.",
    after_help = "Each option is read from its variable when not given as a flag."
)]
pub struct Declared {
    /// listen address (ip:port)
    #[arg(long, env = "STREAMLEASE_BIND", default_value = "127.0.0.1:8080", value_parser = address)]
    pub bind: SocketAddr,

    /// Redis to share with other instances; unset: the embedded in-memory store (one instance only)
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// true: Redis Cluster; REDIS_URL is then a comma-separated list of seed nodes
    #[arg(long, env = "STREAMLEASE_REDIS_CLUSTER", default_value = "false", value_parser = flag(), action = ArgAction::Set)]
    pub redis_cluster: bool,

    /// PEM CA bundle trusted for rediss:// (unset: the system's roots)
    #[arg(long, env = "STREAMLEASE_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// PEM client certificate for rediss://, with the key below
    #[arg(long, env = "STREAMLEASE_REDIS_CLIENT_CERT_FILE")]
    pub redis_client_cert_file: Option<PathBuf>,

    /// PEM private key of that client certificate
    #[arg(long, env = "STREAMLEASE_REDIS_CLIENT_KEY_FILE")]
    pub redis_client_key_file: Option<PathBuf>,

    /// default limit of live leases per user (1..=1000)
    #[arg(long = "max-streams", value_name = "LIMIT", env = "STREAMLEASE_MAX_STREAMS", default_value = "3",
          value_parser = whole(1..=MAX_LIMIT as u64).map(|n| n as u32))]
    pub default_limit: u32,

    /// lease lifetime without a heartbeat, in ms (100..=86400000)
    #[arg(long = "lease-ttl-ms", env = "STREAMLEASE_LEASE_TTL_MS", default_value = "30000",
          value_parser = whole(100..=86_400_000).map(|n| n as i64))]
    pub lease_ttl_ms: i64,

    /// heartbeat interval told to players, in ms; must be less than the TTL (1..=86399999)
    #[arg(long = "heartbeat-interval-ms", env = "STREAMLEASE_HEARTBEAT_INTERVAL_MS", default_value = "10000",
          value_parser = whole(1..=86_399_999).map(|n| n as i64))]
    pub heartbeat_interval_ms: i64,

    /// per-class default limits, name=n or name=* (exempt: no limit, not counted in the total), comma-separated; at most 16 classes, names of a-z 0-9 _ -
    #[arg(long, env = "STREAMLEASE_CLASSES", value_parser = classes)]
    pub classes: Option<Classes>,

    /// at the limit: deny | evict_oldest
    #[arg(long, env = "STREAMLEASE_ON_LIMIT", default_value = "deny", value_parser = on_limit())]
    pub on_limit: OnLimit,

    /// Redis key prefix (1..64 of A-Z a-z 0-9 - _ . :)
    #[arg(long, env = "STREAMLEASE_KEY_PREFIX", default_value = "sl", value_parser = key_prefix)]
    pub key_prefix: String,

    /// bearer token for admin routes (also accepted on player routes); unset: admin routes open
    #[arg(long, env = "STREAMLEASE_ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// HS256 secret (32+ bytes); player routes then need a JWT whose sub is the user
    #[arg(long, env = "STREAMLEASE_JWT_SECRET", value_parser = jwt_secret)]
    pub jwt_secret: Option<String>,

    /// PEM file of EC P-256 private keys (PKCS#8): the first signs lease tokens (ES256), all are published at
    /// /.well-known/jwks.json
    #[arg(long, env = "STREAMLEASE_LEASE_TOKEN_KEY_FILE")]
    pub lease_token_key_file: Option<PathBuf>,

    /// HS256 secret (32+ bytes) that signs lease tokens instead, for edges that can only do HMAC
    #[arg(long, env = "STREAMLEASE_LEASE_TOKEN_SECRET", value_parser = jwt_secret)]
    pub lease_token_secret: Option<String>,

    /// the identity provider's JWKS (https, or http to a loopback address); player routes then need a JWT
    /// signed by one of its keys
    #[arg(long, env = "STREAMLEASE_JWT_JWKS_URL", value_parser = jwks_url)]
    pub jwt_jwks_url: Option<reqwest::Url>,

    /// a JWKS file of public keys player JWTs may be signed with, beside or instead of the URL's
    #[arg(long, env = "STREAMLEASE_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// the claim of a player JWT holding the user's limit (1..1000): a top-level name, or a dotted path such
    /// as ent.max_streams; an admin override wins over it
    #[arg(long, env = "STREAMLEASE_JWT_LIMIT_CLAIM", value_parser = claim_name)]
    pub jwt_limit_claim: Option<String>,

    /// comma-separated algorithms a player JWT may use, of RS256, ES256, EdDSA, HS256; unset: RS256,ES256,EdDSA
    /// with a JWKS and HS256 with a secret
    #[arg(long, env = "STREAMLEASE_JWT_ALGORITHMS", value_parser = algorithms)]
    pub jwt_algorithms: Option<Algorithms>,

    /// when set, a player JWT's aud must name this
    #[arg(long, env = "STREAMLEASE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// when set, a player JWT's iss must be this
    #[arg(long, env = "STREAMLEASE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// player JWTs living longer (exp - iat, or exp - now without iat) are refused, in s (60..=31536000)
    #[arg(long = "jwt-max-lifetime-s", env = "STREAMLEASE_JWT_MAX_LIFETIME_S", default_value = "86400",
          value_parser = whole(60..=31_536_000).map(Duration::from_secs))]
    pub jwt_max_lifetime: Duration,

    /// true: allow admin routes without a token while STREAMLEASE_JWT_SECRET is set
    #[arg(long, env = "STREAMLEASE_ADMIN_OPEN", default_value = "false", value_parser = flag(), action = ArgAction::Set)]
    pub admin_open: bool,

    /// comma-separated browser origins (https://app.example.com) allowed by CORS, or *; unset: CORS off
    #[arg(long, env = "STREAMLEASE_CORS_ORIGINS", value_parser = cors_origins)]
    pub cors_origins: Option<CorsOrigins>,

    /// when set, /metrics needs this bearer token
    #[arg(long, env = "STREAMLEASE_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// when set, /metrics is served on this ip:port only
    #[arg(long, env = "STREAMLEASE_METRICS_BIND", value_parser = address)]
    pub metrics_bind: Option<SocketAddr>,

    /// false: no per-user series (user ids never reach /metrics)
    #[arg(long, env = "STREAMLEASE_METRICS_PER_USER", default_value = "true", value_parser = flag(), action = ArgAction::Set)]
    pub metrics_per_user: bool,

    /// cap on per-user metric series (0..=10000000)
    #[arg(long, env = "STREAMLEASE_METRICS_MAX_USERS", default_value = "10000",
          value_parser = whole(0..=10_000_000).map(|n| n as usize))]
    pub metrics_max_users: usize,

    /// how often store-wide gauges are re-read, in ms (100..=3600000)
    #[arg(long = "metrics-refresh-ms", env = "STREAMLEASE_METRICS_REFRESH_MS", default_value = "5000",
          value_parser = millis(100..=3_600_000))]
    pub metrics_refresh: Duration,

    /// a census spends at most this share of its running time in round trips to Redis, in % (1..=100)
    #[arg(long, env = "STREAMLEASE_CENSUS_REDIS_PERCENT", default_value = "20",
          value_parser = whole(1..=100).map(|n| n as u8))]
    pub census_redis_percent: u8,

    /// true: while the store is down, acquires and heartbeats succeed with degraded: true
    #[arg(long, env = "STREAMLEASE_FAIL_OPEN", default_value = "false", value_parser = flag(), action = ArgAction::Set)]
    pub fail_open: bool,

    /// HTTP worker threads (1..=256); unset: as many as the CPUs available
    #[arg(long, env = "STREAMLEASE_WORKERS", value_parser = whole(1..=256).map(|n| n as usize))]
    pub workers: Option<usize>,

    /// store calls under way per worker past which heartbeats are answered 503 overloaded; acquires are shed
    /// past a quarter of it, releases past half; 0: off (0..=1000000)
    #[arg(long, env = "STREAMLEASE_SHED_STORE_CALLS", default_value = "2000",
          value_parser = whole(0..=1_000_000).map(|n| n as usize))]
    pub shed_store_calls: usize,

    /// how late a worker's event loop may run before heartbeats are answered 503 overloaded, in ms; acquires
    /// are shed past a quarter of it, releases past half; 0: off (0..=60000)
    #[arg(long, env = "STREAMLEASE_SHED_LAG_MS", default_value = "200", value_parser = whole(0..=60_000))]
    pub shed_lag_ms: u64,

    /// idle keep-alive connections close after this, in ms (1000..=3600000)
    #[arg(long = "keep-alive-ms", env = "STREAMLEASE_KEEP_ALIVE_MS", default_value = "60000",
          value_parser = millis(1_000..=3_600_000))]
    pub keep_alive: Duration,

    /// a client must send a request's head within this, then its body within this, in ms (100..=60000)
    #[arg(long = "request-timeout-ms", env = "STREAMLEASE_REQUEST_TIMEOUT_MS", default_value = "5000",
          value_parser = millis(100..=60_000))]
    pub request_timeout: Duration,

    /// a closing connection may linger this long, in ms (100..=60000)
    #[arg(long = "disconnect-timeout-ms", env = "STREAMLEASE_DISCONNECT_TIMEOUT_MS", default_value = "1000",
          value_parser = millis(100..=60_000))]
    pub disconnect_timeout: Duration,

    /// open connections at most, all workers together; more are answered 503; the default is lowered to fit
    /// the open-file limit (1..=1000000)
    #[arg(long, env = "STREAMLEASE_MAX_CONNECTIONS", default_value = "20000",
          value_parser = whole(1..=1_000_000).map(|n| n as usize))]
    pub max_connections: usize,

    /// on SIGTERM, in-flight requests may finish within this, in ms (0..=600000)
    #[arg(long = "shutdown-timeout-ms", env = "STREAMLEASE_SHUTDOWN_TIMEOUT_MS", default_value = "10000",
          value_parser = millis(0..=600_000))]
    pub shutdown_timeout: Duration,

    /// log filter (env_logger syntax)
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// print the Redis function library that holds the lease scripts, and exit (to load it by hand where the
    /// service's Redis user may not run FUNCTION LOAD)
    #[arg(long)]
    pub print_redis_library: bool,
}

impl Declared {
    /// The command line, with no variable's value ever shown in `--help`:
    /// some are secrets.
    pub fn command_line() -> Command {
        Self::command().mut_args(|arg| arg.hide_env_values(true))
    }
}

/// One declared variable, as `--help` documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    /// `None`: unset unless given.
    pub default: Option<String>,
    pub help: String,
    pub flag: String,
}

/// Every declared variable, in `--help` order.
pub fn variables() -> Vec<Variable> {
    Declared::command_line()
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_str()?.to_owned();
            Some(Variable {
                name,
                default: arg.get_default_values().first().map(|d| d.to_string_lossy().into_owned()),
                help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
                flag: format!("--{}", arg.get_long()?),
            })
        })
        .collect()
}

/// The variable behind an argument as clap names it in an error
/// (`--max-streams <MAX_STREAMS>`).
pub(super) fn variable_of(command: &Command, shown: &str) -> Option<String> {
    let arg: &Arg = command.get_arguments().find(|a| a.to_string() == shown)?;
    Some(arg.get_env()?.to_string_lossy().into_owned())
}

/// A whole number within `range`.
fn whole(range: RangeInclusive<u64>) -> impl TypedValueParser<Value = u64> {
    move |raw: &str| -> Result<u64, String> {
        match raw.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            Ok(n) => Err(format!("must be in {}..={}, got {n}", range.start(), range.end())),
            Err(_) => Err(format!("expected a whole number, got {raw:?}")),
        }
    }
}

fn millis(range: RangeInclusive<u64>) -> impl TypedValueParser<Value = Duration> {
    whole(range).map(Duration::from_millis)
}

/// `true`/`false`, or `1`/`0`: nothing looser, so a typo stops startup.
fn flag() -> impl TypedValueParser<Value = bool> {
    PossibleValuesParser::new(["true", "false", "1", "0"]).map(|v| v == "true" || v == "1")
}

fn on_limit() -> impl TypedValueParser<Value = OnLimit> {
    PossibleValuesParser::new(["deny", "evict_oldest"])
        .map(|v| if v == "deny" { OnLimit::Deny } else { OnLimit::EvictOldest })
}

fn classes(raw: &str) -> Result<Classes, String> {
    Classes::parse(raw, MAX_LIMIT)
}

fn address(raw: &str) -> Result<SocketAddr, String> {
    raw.parse().map_err(|_| format!("expected an ip:port address, got {raw:?}"))
}

/// A claim name or dotted path: printable, at most 256 bytes.
fn claim_name(raw: &str) -> Result<String, String> {
    if raw.len() <= 256 && !raw.chars().any(char::is_control) && !raw.split('.').any(str::is_empty) {
        Ok(raw.to_owned())
    } else {
        Err(format!("expected a claim name or a dotted path of at most 256 bytes, got {raw:?}"))
    }
}

/// The algorithms of `STREAMLEASE_JWT_ALGORITHMS`, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithms(pub Vec<jsonwebtoken::Algorithm>);

fn algorithms(raw: &str) -> Result<Algorithms, String> {
    let mut chosen = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let algorithm = crate::identity::jwks::SUPPORTED
            .into_iter()
            .find(|a| format!("{a:?}") == name)
            .ok_or_else(|| format!("expected RS256, ES256, EdDSA or HS256, got {name:?}"))?;
        if !chosen.contains(&algorithm) {
            chosen.push(algorithm);
        }
    }
    if chosen.is_empty() {
        return Err("lists no algorithm".into());
    }
    Ok(Algorithms(chosen))
}

/// https, or http to this machine only: keys fetched in the clear from
/// elsewhere could be swapped on the way.
fn jwks_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("must be https, or http to a loopback address".into()),
    }
}

/// A shared secret (player tokens, lease tokens). Never echoes it: this
/// error goes to stderr and logs.
fn jwt_secret(raw: &str) -> Result<String, String> {
    if raw.len() < 32 { Err(format!("must be at least 32 bytes, got {}", raw.len())) } else { Ok(raw.to_owned()) }
}

fn key_prefix(raw: &str) -> Result<String, String> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(ok_char) {
        Ok(raw.to_owned())
    } else {
        Err(format!("expected 1..64 of A-Z a-z 0-9 - _ . :, got {raw:?}"))
    }
}

/// `*`, or a list of origins. Each must be what a browser sends in `Origin`
/// (no path, no trailing slash), or it would never match; case is folded.
fn cors_origins(raw: &str) -> Result<CorsOrigins, String> {
    if raw.trim() == "*" {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let origin = entry.to_ascii_lowercase();
        if !is_origin(&origin) {
            return Err(format!("expected origins like https://app.example.com or * (no path), got {entry:?}"));
        }
        origins.push(origin);
    }
    if origins.is_empty() {
        return Err("lists no origin".into());
    }
    Ok(CorsOrigins::List(origins))
}

/// `http(s)://host[:port]`, with a DNS name, an IPv4 address or a
/// bracketed IPv6 address as the host.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')),
    };
    port_ok && host_ok
}
