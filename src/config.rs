//! Settings from the environment, checked once at startup: a bad value stops
//! the process with one line naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::domain::OnLimit;
use crate::domain::ledger::Terms;
use crate::shedding::ShedBounds;

/// Highest per-user limit, for both the default and overrides.
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub redis_url: Option<String>,
    /// `REDIS_URL` lists the seed nodes of a Redis Cluster.
    pub redis_cluster: bool,
    /// Certificates for `rediss://`: a CA to trust, a client certificate.
    pub redis_tls: RedisTls,
    /// The limit of a user without an override (`STREAMLEASE_MAX_STREAMS`).
    pub default_limit: u32,
    pub lease_ttl_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub on_limit: OnLimit,
    pub key_prefix: String,
    /// Secrets are typed, so a `{:?}` of the settings prints `[REDACTED]`.
    pub admin_token: Option<SecretString>,
    pub jwt: Option<JwtSettings>,
    /// Admin routes without a token while player routes need a JWT: only
    /// when the operator says so explicitly.
    pub admin_open: bool,
    pub metrics: MetricsAccess,
    /// Browser origins allowed to call the player routes; `None`: CORS off.
    pub cors_origins: Option<CorsOrigins>,
    pub metrics_max_users: usize,
    pub metrics_refresh: Duration,
    /// At most this percentage of a census' running time is spent in its
    /// round trips to Redis; it pauses between pages for the rest.
    pub census_redis_percent: u8,
    /// While the store is down, answer acquires and heartbeats with
    /// `degraded: true` instead of 503, so playback goes on.
    pub fail_open: bool,
    /// HTTP worker threads (each runs its own event loop).
    pub workers: usize,
    /// Per worker: store calls under way, and how late its loop may run,
    /// past which even heartbeats are shed; acquires at a quarter, releases
    /// at half (`shedding.rs`).
    pub shed: ShedBounds,
    pub http: HttpLimits,
}

/// TLS material for `rediss://`, read from files at startup. Without a CA,
/// the system's roots are trusted.
#[derive(Debug, Clone, Default)]
pub struct RedisTls {
    /// PEM: the CA certificates that may sign Redis' certificate.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM: a client certificate and its key, for a Redis that asks for one.
    pub client: Option<ClientCertificate>,
}

#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_pem: Vec<u8>,
    /// Typed as a secret, so a `{:?}` of the settings never prints it.
    pub key_pem: secrecy::SecretSlice<u8>,
}

/// How player JWTs are checked (HS256).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: SecretString,
    /// When set, a token's `aud` must name it; when unset, `aud` is not read.
    pub audience: Option<String>,
    /// When set, a token's `iss` must equal it.
    pub issuer: Option<String>,
    /// Tokens that live longer (`exp − iat`, or `exp − now` without `iat`)
    /// are refused: a leaked long-lived token would open the user's leases
    /// for as long as it says.
    pub max_lifetime: Duration,
}

/// `STREAMLEASE_JWT_MAX_LIFETIME_S`'s default: a day.
pub const DEFAULT_JWT_MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// Who may read `/metrics`, where, and what it shows.
#[derive(Debug, Clone)]
pub struct MetricsAccess {
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// When set, `/metrics` is served on this address only, not on `bind`.
    pub bind: Option<SocketAddr>,
    /// `streamlease_user_active_leases` (user ids as labels) on or off.
    pub per_user: bool,
}

/// Which origins CORS lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin (tokens, not cookies, guard the routes).
    Any,
    /// Serialized origins, `scheme://host[:port]`, lowercased as browsers
    /// send them.
    List(Vec<String>),
}

/// Connection handling, set deliberately rather than left to the framework.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// How long an idle keep-alive connection stays open. Longer than the
    /// heartbeat interval, so a player reuses one connection.
    pub keep_alive: Duration,
    /// How long a client may take to send a request's head, and again its
    /// body once the head is in.
    pub request_timeout: Duration,
    /// How long a closing connection may take to go away.
    pub disconnect_timeout: Duration,
    /// Open connections at most, over all workers; more are answered 503.
    pub max_connections: usize,
    /// Whether `max_connections` was set, rather than left to its default:
    /// a default is lowered to fit the descriptors the process may open,
    /// a setting that does not fit stops startup (`descriptors.rs`).
    pub max_connections_set: bool,
    /// On SIGTERM/SIGINT: how long in-flight requests may take to finish.
    pub shutdown_timeout: Duration,
}

/// One bad variable: `{var}: {problem}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

/// The variables, their defaults and meaning; `--help` prints this table.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("STREAMLEASE_BIND", "127.0.0.1:8080", "listen address (ip:port)"),
    ("REDIS_URL", "unset", "Redis to share with other instances; unset: embedded in-memory store (one instance only)"),
    (
        "STREAMLEASE_REDIS_CLUSTER",
        "false",
        "true: Redis Cluster; REDIS_URL is then a comma-separated list of seed nodes",
    ),
    ("STREAMLEASE_REDIS_CA_FILE", "unset", "PEM CA bundle trusted for rediss:// (system roots otherwise)"),
    ("STREAMLEASE_REDIS_CLIENT_CERT_FILE", "unset", "PEM client certificate for rediss://, with the key below"),
    ("STREAMLEASE_REDIS_CLIENT_KEY_FILE", "unset", "PEM private key of that client certificate"),
    ("STREAMLEASE_MAX_STREAMS", "3", "default limit of live leases per user (1..1000)"),
    ("STREAMLEASE_LEASE_TTL_MS", "30000", "lease lifetime without a heartbeat (100..86400000)"),
    ("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "10000", "heartbeat interval told to players; must be < the TTL"),
    ("STREAMLEASE_ON_LIMIT", "deny", "at the limit: deny | evict_oldest"),
    ("STREAMLEASE_KEY_PREFIX", "sl", "Redis key prefix (1..64 of A-Z a-z 0-9 - _ . :)"),
    (
        "STREAMLEASE_ADMIN_TOKEN",
        "unset",
        "bearer token for admin routes (also accepted on player routes); unset: admin routes open",
    ),
    (
        "STREAMLEASE_JWT_SECRET",
        "unset",
        "HS256 secret (32+ bytes); player routes then need a JWT whose sub is the user",
    ),
    ("STREAMLEASE_JWT_AUDIENCE", "unset", "when set, a player JWT's aud must name this"),
    ("STREAMLEASE_JWT_ISSUER", "unset", "when set, a player JWT's iss must be this"),
    (
        "STREAMLEASE_JWT_MAX_LIFETIME_S",
        "86400",
        "player JWTs living longer (exp - iat, or exp - now without iat) are refused (60..31536000)",
    ),
    ("STREAMLEASE_ADMIN_OPEN", "false", "true: allow admin routes without a token while STREAMLEASE_JWT_SECRET is set"),
    (
        "STREAMLEASE_CORS_ORIGINS",
        "unset",
        "comma-separated browser origins (https://app.example.com) allowed by CORS, or *; unset: CORS off",
    ),
    ("STREAMLEASE_METRICS_TOKEN", "unset", "when set, /metrics needs this bearer token"),
    ("STREAMLEASE_METRICS_BIND", "unset", "when set, /metrics is served on this ip:port only"),
    ("STREAMLEASE_METRICS_PER_USER", "true", "false: no per-user series (user ids never reach /metrics)"),
    ("STREAMLEASE_METRICS_MAX_USERS", "10000", "cap on per-user metric series"),
    ("STREAMLEASE_METRICS_REFRESH_MS", "5000", "how often store-wide gauges are re-read (100..3600000)"),
    (
        "STREAMLEASE_CENSUS_REDIS_PERCENT",
        "20",
        "a census spends at most this share of its running time in round trips to Redis (1..100)",
    ),
    (
        "STREAMLEASE_FAIL_OPEN",
        "false",
        "true: while the store is down, acquires and heartbeats succeed with degraded: true",
    ),
    ("STREAMLEASE_WORKERS", "cores", "HTTP worker threads (1..256); default: the CPUs available"),
    (
        "STREAMLEASE_SHED_STORE_CALLS",
        "2000",
        "store calls under way per worker past which heartbeats are answered 503 overloaded; acquires are shed \
         past a quarter of it, releases past half (0: off; 0..1000000)",
    ),
    (
        "STREAMLEASE_SHED_LAG_MS",
        "200",
        "how late a worker's event loop may run before heartbeats are answered 503 overloaded; acquires are \
         shed past a quarter of it, releases past half (0: off; 0..60000)",
    ),
    ("STREAMLEASE_KEEP_ALIVE_MS", "60000", "idle keep-alive connections close after this (1000..3600000)"),
    (
        "STREAMLEASE_REQUEST_TIMEOUT_MS",
        "5000",
        "a client must send a request's head within this, then its body within this (100..60000)",
    ),
    ("STREAMLEASE_DISCONNECT_TIMEOUT_MS", "1000", "a closing connection may linger this long (100..60000)"),
    (
        "STREAMLEASE_MAX_CONNECTIONS",
        "20000",
        "open connections at most, all workers together (1..1000000); more are answered 503; \
         the default is lowered to fit the open-file limit",
    ),
    ("STREAMLEASE_SHUTDOWN_TIMEOUT_MS", "10000", "on SIGTERM, in-flight requests may finish within this (0..600000)"),
    ("RUST_LOG", "info", "log filter (env_logger syntax)"),
];

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process
    /// environment. An empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let lease_ttl_ms = number(&var, "STREAMLEASE_LEASE_TTL_MS", 30_000, 100..=86_400_000)?;
        let heartbeat_interval_ms = number(&var, "STREAMLEASE_HEARTBEAT_INTERVAL_MS", 10_000, 1..=u64::MAX)?;
        if heartbeat_interval_ms >= lease_ttl_ms {
            return Err(ConfigError {
                var: "STREAMLEASE_HEARTBEAT_INTERVAL_MS",
                problem: format!(
                    "must be less than STREAMLEASE_LEASE_TTL_MS ({lease_ttl_ms}), got {heartbeat_interval_ms}"
                ),
            });
        }
        let redis_url = var("REDIS_URL");
        let redis_cluster = flag(var("STREAMLEASE_REDIS_CLUSTER"), "STREAMLEASE_REDIS_CLUSTER")?;
        if let Some(url) = &redis_url {
            // One URL, or a cluster's seeds separated by commas.
            let urls: Vec<&str> = if redis_cluster { redis_seeds(url).collect() } else { vec![url] };
            // The URL itself is not echoed: it may carry a password.
            for (n, one) in urls.into_iter().enumerate() {
                redis::Client::open(one).map_err(|e| ConfigError {
                    var: "REDIS_URL",
                    problem: format!("entry {} is not a Redis URL: {e}", n + 1),
                })?;
            }
        }
        let redis_tls = redis_tls(&var, redis_url.as_deref())?;
        let admin_token = var("STREAMLEASE_ADMIN_TOKEN").map(SecretString::from);
        let max_lifetime = Duration::from_secs(number(
            &var,
            "STREAMLEASE_JWT_MAX_LIFETIME_S",
            DEFAULT_JWT_MAX_LIFETIME.as_secs(),
            60..=31_536_000,
        )?);
        let jwt = jwt_secret(var("STREAMLEASE_JWT_SECRET"))?.map(|secret| JwtSettings {
            secret,
            audience: var("STREAMLEASE_JWT_AUDIENCE"),
            issuer: var("STREAMLEASE_JWT_ISSUER"),
            max_lifetime,
        });
        let admin_open = flag(var("STREAMLEASE_ADMIN_OPEN"), "STREAMLEASE_ADMIN_OPEN")?;
        if jwt.is_some() && admin_token.is_none() && !admin_open {
            return Err(ConfigError {
                var: "STREAMLEASE_ADMIN_TOKEN",
                problem: "must be set when STREAMLEASE_JWT_SECRET is, or admin routes would be open to anyone \
                          (set STREAMLEASE_ADMIN_OPEN=true to allow that on purpose)"
                    .into(),
            });
        }
        let cors_origins = cors_origins(var("STREAMLEASE_CORS_ORIGINS"))?;
        if cors_origins == Some(CorsOrigins::Any) && jwt.is_none() {
            return Err(ConfigError {
                var: "STREAMLEASE_CORS_ORIGINS",
                problem: "* needs STREAMLEASE_JWT_SECRET: without player tokens any web page could act for any \
                          user"
                    .into(),
            });
        }
        let metrics = MetricsAccess {
            token: var("STREAMLEASE_METRICS_TOKEN").map(SecretString::from),
            bind: match var("STREAMLEASE_METRICS_BIND") {
                Some(_) => Some(parsed(&var, "STREAMLEASE_METRICS_BIND", "", "an ip:port address")?),
                None => None,
            },
            per_user: flag_or(var("STREAMLEASE_METRICS_PER_USER"), "STREAMLEASE_METRICS_PER_USER", true)?,
        };
        Ok(Settings {
            bind: parsed(&var, "STREAMLEASE_BIND", "127.0.0.1:8080", "an ip:port address")?,
            redis_url,
            redis_cluster,
            redis_tls,
            default_limit: number(&var, "STREAMLEASE_MAX_STREAMS", 3, 1..=MAX_LIMIT as u64)? as u32,
            lease_ttl_ms,
            heartbeat_interval_ms,
            on_limit: on_limit(var("STREAMLEASE_ON_LIMIT"))?,
            key_prefix: key_prefix(var("STREAMLEASE_KEY_PREFIX"))?,
            admin_token,
            jwt,
            admin_open,
            metrics,
            cors_origins,
            metrics_max_users: number(&var, "STREAMLEASE_METRICS_MAX_USERS", 10_000, 0..=10_000_000)? as usize,
            metrics_refresh: Duration::from_millis(number(
                &var,
                "STREAMLEASE_METRICS_REFRESH_MS",
                5_000,
                100..=3_600_000,
            )?),
            census_redis_percent: number(&var, "STREAMLEASE_CENSUS_REDIS_PERCENT", 20, 1..=100)? as u8,
            fail_open: flag(var("STREAMLEASE_FAIL_OPEN"), "STREAMLEASE_FAIL_OPEN")?,
            workers: number(&var, "STREAMLEASE_WORKERS", available_cores(), 1..=256)? as usize,
            shed: ShedBounds {
                store_calls: number(&var, "STREAMLEASE_SHED_STORE_CALLS", 2000, 0..=1_000_000)? as usize,
                lag_ms: number(&var, "STREAMLEASE_SHED_LAG_MS", 200, 0..=60_000)?,
            },
            http: HttpLimits {
                keep_alive: millis(&var, "STREAMLEASE_KEEP_ALIVE_MS", 60_000, 1_000..=3_600_000)?,
                request_timeout: millis(&var, "STREAMLEASE_REQUEST_TIMEOUT_MS", 5_000, 100..=60_000)?,
                disconnect_timeout: millis(&var, "STREAMLEASE_DISCONNECT_TIMEOUT_MS", 1_000, 100..=60_000)?,
                max_connections: number(&var, "STREAMLEASE_MAX_CONNECTIONS", 20_000, 1..=1_000_000)? as usize,
                max_connections_set: var("STREAMLEASE_MAX_CONNECTIONS").is_some(),
                shutdown_timeout: millis(&var, "STREAMLEASE_SHUTDOWN_TIMEOUT_MS", 10_000, 0..=600_000)?,
            },
        })
    }

    pub fn terms(&self) -> Terms {
        Terms { ttl_ms: self.lease_ttl_ms as i64, default_limit: self.default_limit }
    }

    /// The `--help` text.
    pub fn help() -> String {
        let mut text = String::from(
            "streamlease: limits how many video streams a user watches at once.\n\n\
             Usage: streamlease [--help | --version]\n\nConfiguration (environment):\n",
        );
        for (name, default, meaning) in VARIABLES {
            text.push_str(&format!("  {name:<36} {default:<16} {meaning}\n"));
        }
        text
    }
}

/// The seeds of a `REDIS_URL`: one URL, or a cluster's, separated by commas.
pub fn redis_seeds(url: &str) -> impl Iterator<Item = &str> {
    url.split(',').map(str::trim)
}

/// True when every seed of a `REDIS_URL` speaks TLS (`rediss://`).
pub fn is_tls_url(url: &str) -> bool {
    redis_seeds(url).all(|seed| seed.starts_with("rediss://"))
}

/// Reads the TLS files named by the environment; they only make sense for a
/// `rediss://` URL, so naming them for any other is a mistake worth stopping for.
fn redis_tls(var: &impl Fn(&str) -> Option<String>, url: Option<&str>) -> Result<RedisTls, ConfigError> {
    let read = |name: &'static str| -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(path) = var(name) else { return Ok(None) };
        if !url.is_some_and(is_tls_url) {
            return Err(ConfigError { var: name, problem: "is only used with a rediss:// REDIS_URL".into() });
        }
        let pem = std::fs::read(&path).map_err(|e| ConfigError { var: name, problem: format!("{path}: {e}") })?;
        if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(ConfigError { var: name, problem: format!("{path}: no PEM block in it") });
        }
        Ok(Some(pem))
    };
    let ca_pem = read("STREAMLEASE_REDIS_CA_FILE")?;
    let client = match (read("STREAMLEASE_REDIS_CLIENT_CERT_FILE")?, read("STREAMLEASE_REDIS_CLIENT_KEY_FILE")?) {
        (Some(cert_pem), Some(key)) => Some(ClientCertificate { cert_pem, key_pem: key.into() }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError {
                var: "STREAMLEASE_REDIS_CLIENT_KEY_FILE",
                problem: "must be set with STREAMLEASE_REDIS_CLIENT_CERT_FILE".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError {
                var: "STREAMLEASE_REDIS_CLIENT_CERT_FILE",
                problem: "must be set with STREAMLEASE_REDIS_CLIENT_KEY_FILE".into(),
            });
        }
    };
    Ok(RedisTls { ca_pem, client })
}

fn available_cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

fn parsed<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.parse().map_err(|_| ConfigError { var: name, problem: format!("expected {expected}, got {raw:?}") })
}

fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let n: u64 = parsed(var, name, &default.to_string(), "a whole number")?;
    if range.contains(&n) {
        Ok(n)
    } else {
        let problem = format!("must be in {}..={}, got {n}", range.start(), range.end());
        Err(ConfigError { var: name, problem })
    }
}

fn millis(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    number(var, name, default, range).map(Duration::from_millis)
}

/// Never echoes the secret: this error goes to stderr and logs.
fn jwt_secret(raw: Option<String>) -> Result<Option<SecretString>, ConfigError> {
    match raw {
        Some(secret) if secret.len() < 32 => Err(ConfigError {
            var: "STREAMLEASE_JWT_SECRET",
            problem: format!("must be at least 32 bytes, got {}", secret.len()),
        }),
        other => Ok(other.map(SecretString::from)),
    }
}

fn flag(raw: Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    flag_or(raw, name, false)
}

fn flag_or(raw: Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match raw.as_deref() {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ConfigError { var: name, problem: format!("expected true or false, got {other:?}") }),
    }
}

fn on_limit(raw: Option<String>) -> Result<OnLimit, ConfigError> {
    match raw.as_deref().unwrap_or("deny") {
        "deny" => Ok(OnLimit::Deny),
        "evict_oldest" => Ok(OnLimit::EvictOldest),
        other => Err(ConfigError {
            var: "STREAMLEASE_ON_LIMIT",
            problem: format!("expected deny or evict_oldest, got {other:?}"),
        }),
    }
}

/// `*`, or a list of origins. Each must be what a browser sends in `Origin`
/// (no path, no trailing slash), or it would never match; case is folded.
fn cors_origins(raw: Option<String>) -> Result<Option<CorsOrigins>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.trim() == "*" {
        return Ok(Some(CorsOrigins::Any));
    }
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let origin = entry.to_ascii_lowercase();
        if !is_origin(&origin) {
            return Err(ConfigError {
                var: "STREAMLEASE_CORS_ORIGINS",
                problem: format!("expected origins like https://app.example.com or * (no path), got {entry:?}"),
            });
        }
        origins.push(origin);
    }
    if origins.is_empty() {
        return Err(ConfigError { var: "STREAMLEASE_CORS_ORIGINS", problem: "lists no origin".into() });
    }
    Ok(Some(CorsOrigins::List(origins)))
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

fn key_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let prefix = raw.unwrap_or_else(|| "sl".to_owned());
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    if prefix.len() <= 64 && prefix.bytes().all(ok_char) {
        Ok(prefix)
    } else {
        Err(ConfigError {
            var: "STREAMLEASE_KEY_PREFIX",
            problem: format!("expected 1..64 of A-Z a-z 0-9 - _ . :, got {prefix:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!((s.default_limit, s.lease_ttl_ms, s.heartbeat_interval_ms), (3, 30_000, 10_000));
        assert_eq!((s.on_limit, s.key_prefix.as_str()), (OnLimit::Deny, "sl"));
        assert_eq!(s.redis_url, None);
        assert!(s.admin_token.is_none() && s.jwt.is_none() && !s.admin_open);
        assert!(s.metrics.token.is_none() && s.metrics.bind.is_none() && s.metrics.per_user);
        assert_eq!((s.metrics_max_users, s.metrics_refresh), (10_000, Duration::from_secs(5)));
        assert_eq!(s.census_redis_percent, 20);
        assert!(s.workers >= 1);
        for (name, default, _) in VARIABLES {
            assert!(Settings::help().contains(name), "{name} missing from --help");
            assert!(!default.is_empty());
        }
    }

    /// A default is written twice, in `VARIABLES` (for `--help` and the
    /// docs) and in the parsing: setting each variable to its documented
    /// default must change nothing.
    #[test]
    fn each_documented_default_is_the_one_applied() {
        let unset = format!("{:?}", Settings::from_lookup(|_| None).unwrap());
        for (name, default, _) in VARIABLES {
            if matches!(*default, "unset" | "cores") {
                continue;
            }
            let mut set = Settings::from_lookup(|n| (n == *name).then(|| default.to_string()))
                .unwrap_or_else(|e| panic!("{name}={default}: {e}"));
            // Whether the limit was given is remembered (a given one is not
            // resized to the open-file limit): that is the one difference.
            set.http.max_connections_set = false;
            assert_eq!(format!("{set:?}"), unset, "{name}: the documented default {default} is not the one applied");
        }
    }

    /// The configuration table of docs/operations.md names every variable
    /// with the default `--help` gives.
    #[test]
    fn the_operations_guide_documents_every_variable_and_its_default() {
        let guide = include_str!("../docs/operations.md");
        for (name, default, _) in VARIABLES {
            let row = guide
                .lines()
                .find(|l| l.starts_with("| `") && l.split('|').nth(1).is_some_and(|c| c.contains(&format!("`{name}`"))))
                .unwrap_or_else(|| panic!("{name} has no row in docs/operations.md"));
            let documented = row.split('|').nth(2).unwrap().trim().trim_matches('`');
            assert_eq!(documented, *default, "{name}: docs/operations.md says {documented}, --help says {default}");
        }
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("STREAMLEASE_BIND", "localhost"),
            ("REDIS_URL", "http://nope"),
            ("STREAMLEASE_MAX_STREAMS", "0"),
            ("STREAMLEASE_MAX_STREAMS", "three"),
            ("STREAMLEASE_LEASE_TTL_MS", "-5"),
            ("STREAMLEASE_ON_LIMIT", "kick"),
            ("STREAMLEASE_KEY_PREFIX", "a{b}"),
            ("STREAMLEASE_METRICS_REFRESH_MS", "1"),
            ("STREAMLEASE_CENSUS_REDIS_PERCENT", "0"),
            ("STREAMLEASE_JWT_SECRET", "too-short-secret"),
            ("STREAMLEASE_FAIL_OPEN", "yes"),
            ("STREAMLEASE_METRICS_BIND", "metrics-host"),
            ("STREAMLEASE_METRICS_PER_USER", "off"),
            ("STREAMLEASE_ADMIN_OPEN", "please"),
            ("STREAMLEASE_CORS_ORIGINS", "https://app.example.com/"),
            ("STREAMLEASE_CORS_ORIGINS", "app.example.com"),
            ("STREAMLEASE_CORS_ORIGINS", "https://a.example.com, ftp://b.example.com"),
            ("STREAMLEASE_CORS_ORIGINS", "https://*.example.com"),
            ("STREAMLEASE_CORS_ORIGINS", " , "),
            ("STREAMLEASE_CORS_ORIGINS", "*"),
            ("STREAMLEASE_JWT_MAX_LIFETIME_S", "0"),
        ];
        for (var, value) in cases {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
        let err = settings(&[("STREAMLEASE_JWT_SECRET", "too-short-secret")]).unwrap_err();
        assert!(!err.to_string().contains("too-short-secret"), "a secret must never be echoed: {err}");
    }

    #[test]
    fn a_jwt_secret_without_an_admin_token_is_refused_unless_admin_routes_are_opened_on_purpose() {
        let secret = ("STREAMLEASE_JWT_SECRET", "a-secret-of-at-least-32-bytes-long!");
        let err = settings(&[secret]).unwrap_err();
        assert_eq!(err.var, "STREAMLEASE_ADMIN_TOKEN");
        assert!(settings(&[secret, ("STREAMLEASE_ADMIN_TOKEN", "admin")]).is_ok());
        assert!(settings(&[secret, ("STREAMLEASE_ADMIN_OPEN", "true")]).unwrap().admin_open);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = settings(&[
            ("STREAMLEASE_JWT_SECRET", "jwt-secret-jwt-secret-jwt-secret-jwt"),
            ("STREAMLEASE_ADMIN_TOKEN", "admin-token-value"),
            ("STREAMLEASE_METRICS_TOKEN", "metrics-token-value"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        for secret in ["jwt-secret-jwt", "admin-token-value", "metrics-token-value"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn cors_origins_are_folded_to_what_browsers_send() {
        assert_eq!(settings(&[]).unwrap().cors_origins, None);
        let s = settings(&[(
            "STREAMLEASE_CORS_ORIGINS",
            "https://App.Example.com, http://127.0.0.1:8000,http://[::1]:3000",
        )])
        .unwrap();
        let expected = ["https://app.example.com", "http://127.0.0.1:8000", "http://[::1]:3000"];
        assert_eq!(s.cors_origins, Some(CorsOrigins::List(expected.map(String::from).to_vec())));
        let with_tokens = [
            ("STREAMLEASE_CORS_ORIGINS", "*"),
            ("STREAMLEASE_JWT_SECRET", "a-secret-of-at-least-32-bytes-long!"),
            ("STREAMLEASE_ADMIN_TOKEN", "admin"),
        ];
        assert_eq!(settings(&with_tokens).unwrap().cors_origins, Some(CorsOrigins::Any));
    }

    #[test]
    fn the_heartbeat_interval_must_be_shorter_than_the_ttl() {
        let err = settings(&[("STREAMLEASE_LEASE_TTL_MS", "5000"), ("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "5000")])
            .unwrap_err();
        assert_eq!(err.var, "STREAMLEASE_HEARTBEAT_INTERVAL_MS");
    }
}
