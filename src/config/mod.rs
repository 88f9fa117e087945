//! Settings from the command line and the environment, checked once at
//! startup: a bad value stops the process with one line naming the variable.
//! Each setting is declared once, in `declared.rs`; this module checks what
//! needs several of them and reads the files they name.

mod declared;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Command, FromArgMatches};
use secrecy::SecretString;

use crate::domain::OnLimit;
use crate::domain::ledger::Terms;
use crate::lease_token::LeaseTokens;
use crate::shedding::ShedBounds;

pub use declared::{Declared, MAX_LIMIT, Variable, variables};

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub redis_url: Option<String>,
    /// `REDIS_URL` lists the seed nodes of a Redis Cluster.
    pub redis_cluster: bool,
    /// Certificates for `rediss://`: a CA to trust, a client certificate.
    pub redis_tls: RedisTls,
    /// The TTL, the heartbeat interval and the default limit.
    pub terms: Terms,
    pub on_limit: OnLimit,
    pub key_prefix: String,
    /// Secrets are typed, so a `{:?}` of the settings prints `[REDACTED]`.
    pub admin_token: Option<SecretString>,
    pub jwt: Option<JwtSettings>,
    /// What signs lease tokens, when they are on.
    pub lease_tokens: Option<Arc<LeaseTokens>>,
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
    /// env_logger's filter (`RUST_LOG`).
    pub log_filter: String,
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

/// How player JWTs are checked.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// HS256 tokens are checked with this.
    pub secret: Option<SecretString>,
    /// RS256, ES256 and EdDSA tokens with the keys published here...
    pub jwks_url: Option<reqwest::Url>,
    /// ...and those of this file, read at startup.
    pub jwks_file: Option<crate::identity::jwks::KeySet>,
    /// The algorithms a token may use; never the token's own choice.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// The claim holding the user's limit (`STREAMLEASE_JWT_LIMIT_CLAIM`).
    pub limit_claim: Option<String>,
    /// When set, a token's `aud` must name it; when unset, `aud` is not read.
    pub audience: Option<String>,
    /// When set, a token's `iss` must equal it.
    pub issuer: Option<String>,
    /// Tokens that live longer (`exp − iat`, or `exp − now` without `iat`)
    /// are refused: a leaked long-lived token would open the user's leases
    /// for as long as it says.
    pub max_lifetime: Duration,
}

impl JwtSettings {
    /// HS256 tokens checked with `secret`, and the other settings at their defaults.
    pub fn with_secret(secret: &str) -> Self {
        JwtSettings {
            secret: Some(secret.into()),
            jwks_url: None,
            jwks_file: None,
            algorithms: vec![jsonwebtoken::Algorithm::HS256],
            limit_claim: None,
            audience: None,
            issuer: None,
            max_lifetime: Duration::from_secs(86_400),
        }
    }
}

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
    pub var: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(var: &str, problem: impl Into<String>) -> Self {
        ConfigError { var: var.to_owned(), problem: problem.into() }
    }
}

/// Why the command line does not start the service.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `--help` or `--version`: this text goes to stdout, and the exit code is 0.
    #[error("{0}")]
    Asked(String),
    /// `--print-redis-library`: the store's library goes to stdout (the
    /// store knows it, not the configuration), and the exit code is 0.
    #[error("--print-redis-library")]
    AskedForRedisLibrary,
    /// A bad setting: one line on stderr, exit code 2.
    #[error(transparent)]
    Bad(#[from] ConfigError),
    /// A command line that names no setting (an unknown argument): one line
    /// on stderr, exit code 2.
    #[error("{0}")]
    Usage(String),
}

impl Settings {
    /// Settings from the command line and the environment: flags first, then
    /// variables, then the declared defaults.
    pub fn parse<I, T>(args: I) -> Result<Self, Refusal>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        // A variable set empty counts as unset, as it did in the shell.
        let mut command = Declared::command_line().mut_args(|arg| {
            let empty = arg.get_env().and_then(std::env::var_os).is_some_and(|value| value.is_empty());
            if empty { arg.env(None) } else { arg }
        });
        // Built first, so an error's argument can be told by its name.
        command.build();
        let matches = command.clone().try_get_matches_from(args).map_err(|e| refusal(&command, e))?;
        let declared = Declared::from_arg_matches(&matches).map_err(|e| refusal(&command, e))?;
        if declared.print_redis_library {
            return Err(Refusal::AskedForRedisLibrary);
        }
        let max_connections_set = matches.value_source("max_connections") != Some(ValueSource::DefaultValue);
        Ok(Self::from_declared(declared, max_connections_set)?)
    }

    /// The checks that need more than one setting, and the files named.
    fn from_declared(d: Declared, max_connections_set: bool) -> Result<Self, ConfigError> {
        if d.heartbeat_interval_ms >= d.lease_ttl_ms {
            return Err(ConfigError::new(
                "STREAMLEASE_HEARTBEAT_INTERVAL_MS",
                format!(
                    "must be less than STREAMLEASE_LEASE_TTL_MS ({}), got {}",
                    d.lease_ttl_ms, d.heartbeat_interval_ms
                ),
            ));
        }
        if let Some(url) = &d.redis_url {
            // One URL, or a cluster's seeds separated by commas.
            let urls: Vec<&str> = if d.redis_cluster { redis_seeds(url).collect() } else { vec![url] };
            // The URL itself is not echoed: it may carry a password.
            for (n, one) in urls.into_iter().enumerate() {
                redis::Client::open(one)
                    .map_err(|e| ConfigError::new("REDIS_URL", format!("entry {} is not a Redis URL: {e}", n + 1)))?;
            }
        }
        let redis_tls = redis_tls(&d)?;
        let lease_tokens = lease_tokens(d.lease_token_key_file.as_deref(), d.lease_token_secret.as_deref())?;
        let admin_token = d.admin_token.map(SecretString::from);
        let jwt = jwt_settings(
            d.jwt_secret,
            d.jwt_jwks_url,
            d.jwt_jwks_file,
            d.jwt_algorithms,
            (d.jwt_audience, d.jwt_issuer, d.jwt_max_lifetime, d.jwt_limit_claim),
        )?;
        if jwt.is_some() && admin_token.is_none() && !d.admin_open {
            return Err(ConfigError::new(
                "STREAMLEASE_ADMIN_TOKEN",
                "must be set when player tokens are (STREAMLEASE_JWT_SECRET or a JWKS), or admin routes would \
                 be open to anyone (set STREAMLEASE_ADMIN_OPEN=true to allow that on purpose)",
            ));
        }
        if d.cors_origins == Some(CorsOrigins::Any) && jwt.is_none() {
            return Err(ConfigError::new(
                "STREAMLEASE_CORS_ORIGINS",
                "* needs player tokens (STREAMLEASE_JWT_SECRET or a JWKS): without them any web page could act \
                 for any user",
            ));
        }
        Ok(Settings {
            bind: d.bind,
            redis_url: d.redis_url,
            redis_cluster: d.redis_cluster,
            redis_tls,
            terms: Terms {
                ttl_ms: d.lease_ttl_ms,
                heartbeat_interval_ms: d.heartbeat_interval_ms,
                default_limit: d.default_limit,
                classes: d.classes.unwrap_or_default(),
            },
            on_limit: d.on_limit,
            key_prefix: d.key_prefix,
            admin_token,
            jwt,
            lease_tokens,
            admin_open: d.admin_open,
            metrics: MetricsAccess {
                token: d.metrics_token.map(SecretString::from),
                bind: d.metrics_bind,
                per_user: d.metrics_per_user,
            },
            cors_origins: d.cors_origins,
            metrics_max_users: d.metrics_max_users,
            metrics_refresh: d.metrics_refresh,
            census_redis_percent: d.census_redis_percent,
            fail_open: d.fail_open,
            workers: d.workers.unwrap_or_else(available_cores),
            shed: ShedBounds { store_calls: d.shed_store_calls, lag_ms: d.shed_lag_ms },
            http: HttpLimits {
                keep_alive: d.keep_alive,
                request_timeout: d.request_timeout,
                disconnect_timeout: d.disconnect_timeout,
                max_connections: d.max_connections,
                max_connections_set,
                shutdown_timeout: d.shutdown_timeout,
            },
            log_filter: d.log_filter,
        })
    }
}

/// A clap error as one line naming the variable; `--help` and `--version`
/// as the text to print.
fn refusal(command: &Command, e: clap::Error) -> Refusal {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(list)) if !list.is_empty() => Some(list.join(", ")),
        _ => None,
    };
    let var = context(ContextKind::InvalidArg).and_then(|shown| declared::variable_of(command, &shown));
    let expected = context(ContextKind::ValidValue);
    match (e.kind(), var) {
        // From the declaration as it stands: `parse` hides variables set empty.
        (ErrorKind::DisplayHelp, _) => Refusal::Asked(Declared::command_line().render_help().to_string()),
        (ErrorKind::DisplayVersion, _) => Refusal::Asked(e.render().to_string()),
        // Our own parsers' messages say what was expected and never echo a secret.
        (ErrorKind::ValueValidation, Some(var)) => {
            let problem = std::error::Error::source(&e).map_or_else(|| "is not valid".to_owned(), |s| s.to_string());
            ConfigError { var, problem }.into()
        }
        (ErrorKind::InvalidValue, Some(var)) if expected.is_some() => {
            let got = context(ContextKind::InvalidValue).unwrap_or_default();
            ConfigError { var, problem: format!("expected one of {}, got {got:?}", expected.unwrap_or_default()) }
                .into()
        }
        (_, var) => {
            // clap's own first line, which names no value for these kinds.
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
            match var {
                Some(var) => ConfigError { var, problem: line }.into(),
                None => Refusal::Usage(format!("{line}; try --help")),
            }
        }
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

/// Player tokens: checked with a secret, with a JWKS, or both; each
/// algorithm allowed needs its kind of key.
fn jwt_settings(
    secret: Option<String>,
    jwks_url: Option<reqwest::Url>,
    jwks_file: Option<PathBuf>,
    algorithms: Option<declared::Algorithms>,
    (audience, issuer, max_lifetime, limit_claim): (Option<String>, Option<String>, Duration, Option<String>),
) -> Result<Option<JwtSettings>, ConfigError> {
    use jsonwebtoken::Algorithm;
    let jwks_file = match jwks_file {
        None => None,
        Some(path) => {
            let var = "STREAMLEASE_JWT_JWKS_FILE";
            let shown = path.display();
            let document = std::fs::read(&path).map_err(|e| ConfigError::new(var, format!("{shown}: {e}")))?;
            let keys = crate::identity::jwks::KeySet::parse(&document)
                .map_err(|e| ConfigError::new(var, format!("{shown}: {e}")))?;
            Some(keys)
        }
    };
    let has_jwks = jwks_url.is_some() || jwks_file.is_some();
    if secret.is_none() && !has_jwks {
        for (var, given) in [
            ("STREAMLEASE_JWT_ALGORITHMS", algorithms.is_some()),
            ("STREAMLEASE_JWT_LIMIT_CLAIM", limit_claim.is_some()),
        ] {
            if given {
                return Err(ConfigError::new(var, "is only used with STREAMLEASE_JWT_SECRET or a JWKS"));
            }
        }
        return Ok(None);
    }
    let algorithms = match algorithms {
        Some(declared::Algorithms(given)) => {
            for algorithm in &given {
                let (needs, has) = match algorithm {
                    Algorithm::HS256 => ("STREAMLEASE_JWT_SECRET", secret.is_some()),
                    _ => ("STREAMLEASE_JWT_JWKS_URL or STREAMLEASE_JWT_JWKS_FILE", has_jwks),
                };
                if !has {
                    return Err(ConfigError::new("STREAMLEASE_JWT_ALGORITHMS", format!("{algorithm:?} needs {needs}")));
                }
            }
            given
        }
        None => {
            let mut all = Vec::new();
            if has_jwks {
                all.extend([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]);
            }
            if secret.is_some() {
                all.push(Algorithm::HS256);
            }
            all
        }
    };
    Ok(Some(JwtSettings {
        secret: secret.map(SecretString::from),
        jwks_url,
        jwks_file,
        algorithms,
        limit_claim,
        audience,
        issuer,
        max_lifetime,
    }))
}

/// The lease token signer: ES256 with the keys of a file, or HS256 with a
/// secret; not both.
fn lease_tokens(key_file: Option<&Path>, secret: Option<&str>) -> Result<Option<Arc<LeaseTokens>>, ConfigError> {
    const FILE: &str = "STREAMLEASE_LEASE_TOKEN_KEY_FILE";
    match (key_file, secret) {
        (Some(_), Some(_)) => Err(ConfigError::new(FILE, "and STREAMLEASE_LEASE_TOKEN_SECRET exclude each other")),
        (None, Some(secret)) => Ok(Some(Arc::new(LeaseTokens::from_secret(secret.as_bytes())))),
        (Some(path), None) => {
            let shown = path.display();
            let pem = std::fs::read(path).map_err(|e| ConfigError::new(FILE, format!("{shown}: {e}")))?;
            let tokens = LeaseTokens::from_pem(&pem).map_err(|e| ConfigError::new(FILE, format!("{shown}: {e}")))?;
            Ok(Some(Arc::new(tokens)))
        }
        (None, None) => Ok(None),
    }
}

/// Reads the TLS files named; they only make sense for a `rediss://` URL,
/// so naming them for any other is a mistake worth stopping for.
fn redis_tls(d: &Declared) -> Result<RedisTls, ConfigError> {
    let read = |name: &str, path: &Option<PathBuf>| -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(path) = path else { return Ok(None) };
        if !d.redis_url.as_deref().is_some_and(is_tls_url) {
            return Err(ConfigError::new(name, "is only used with a rediss:// REDIS_URL"));
        }
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| ConfigError::new(name, format!("{shown}: {e}")))?;
        if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(ConfigError::new(name, format!("{shown}: no PEM block in it")));
        }
        Ok(Some(pem))
    };
    let ca_pem = read("STREAMLEASE_REDIS_CA_FILE", &d.redis_ca_file)?;
    let cert = read("STREAMLEASE_REDIS_CLIENT_CERT_FILE", &d.redis_client_cert_file)?;
    let key = read("STREAMLEASE_REDIS_CLIENT_KEY_FILE", &d.redis_client_key_file)?;
    let client = match (cert, key) {
        (Some(cert_pem), Some(key)) => Some(ClientCertificate { cert_pem, key_pem: key.into() }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new(
                "STREAMLEASE_REDIS_CLIENT_KEY_FILE",
                "must be set with STREAMLEASE_REDIS_CLIENT_CERT_FILE",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "STREAMLEASE_REDIS_CLIENT_CERT_FILE",
                "must be set with STREAMLEASE_REDIS_CLIENT_KEY_FILE",
            ));
        }
    };
    Ok(RedisTls { ca_pem, client })
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings from variables, given as the flags they declare (so the
    /// process environment stays out of it).
    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let declared = variables();
        let flags = vars.iter().map(|(name, value)| {
            let var = declared.iter().find(|v| v.name == *name).unwrap_or_else(|| panic!("{name} is not declared"));
            format!("{}={value}", var.flag)
        });
        match Settings::parse(std::iter::once("streamlease".to_owned()).chain(flags)) {
            Ok(settings) => Ok(settings),
            Err(Refusal::Bad(e)) => Err(e),
            Err(other) => panic!("not a run: {other}"),
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!((s.terms.default_limit, s.terms.ttl_ms, s.terms.heartbeat_interval_ms), (3, 30_000, 10_000));
        assert_eq!((s.on_limit, s.key_prefix.as_str()), (OnLimit::Deny, "sl"));
        assert_eq!(s.redis_url, None);
        assert!(!s.redis_cluster && s.redis_tls.ca_pem.is_none() && s.redis_tls.client.is_none());
        assert!(s.admin_token.is_none() && s.jwt.is_none() && !s.admin_open);
        assert!(s.metrics.token.is_none() && s.metrics.bind.is_none() && s.metrics.per_user);
        assert_eq!((s.metrics_max_users, s.metrics_refresh), (10_000, Duration::from_secs(5)));
        assert_eq!(s.census_redis_percent, 20);
        assert!(!s.fail_open && s.cors_origins.is_none());
        assert_eq!(s.workers, available_cores());
        assert_eq!((s.shed.store_calls, s.shed.lag_ms), (2000, 200));
        let http = s.http;
        assert_eq!(
            (http.keep_alive, http.request_timeout, http.disconnect_timeout, http.shutdown_timeout),
            (Duration::from_secs(60), Duration::from_secs(5), Duration::from_secs(1), Duration::from_secs(10))
        );
        assert_eq!((http.max_connections, http.max_connections_set), (20_000, false));
        assert_eq!(s.log_filter, "info");
        let with_jwt = settings(&[
            ("STREAMLEASE_JWT_SECRET", "a-secret-of-at-least-32-bytes-long!"),
            ("STREAMLEASE_ADMIN_TOKEN", "admin"),
        ])
        .unwrap();
        assert_eq!(with_jwt.jwt.unwrap().max_lifetime, Duration::from_secs(86_400));
    }

    /// A range is written twice in one declaration, in the parser and in the
    /// help: probing each bound proves they say the same.
    #[test]
    fn each_range_in_the_help_is_the_one_applied() {
        let mut probed = 0;
        for var in variables() {
            let Some((lo, hi)) = stated_range(&var.help) else { continue };
            let accepts = |n: u64| {
                // Keep the interval under the TTL while probing the TTL and the interval.
                let mut vars = vec![(var.name.as_str(), n.to_string())];
                if var.name == "STREAMLEASE_LEASE_TTL_MS" {
                    vars.push(("STREAMLEASE_HEARTBEAT_INTERVAL_MS", "1".into()));
                } else if var.name == "STREAMLEASE_HEARTBEAT_INTERVAL_MS" {
                    vars.push(("STREAMLEASE_LEASE_TTL_MS", "86400000".into()));
                }
                let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                match settings(&vars) {
                    Ok(_) => true,
                    Err(e) if e.var == var.name => false,
                    Err(e) => panic!("{}={n}: {e}", var.name),
                }
            };
            assert!(accepts(lo) && accepts(hi), "{}: refuses a bound of ({lo}..={hi})", var.name);
            assert!(!accepts(hi + 1), "{}: accepts {} past ({lo}..={hi})", var.name, hi + 1);
            if lo > 0 {
                assert!(!accepts(lo - 1), "{}: accepts {} below ({lo}..={hi})", var.name, lo - 1);
            }
            probed += 1;
        }
        assert!(probed >= 15, "only {probed} ranges found in the help");
    }

    /// `(lo..=hi)` in a help text.
    fn stated_range(help: &str) -> Option<(u64, u64)> {
        let inside = help.rsplit_once('(')?.1.split_once(')')?.0;
        let (lo, hi) = inside.split_once("..=")?;
        Some((lo.parse().ok()?, hi.parse().ok()?))
    }

    /// The configuration table of docs/operations.md lists exactly the
    /// declared variables, each with its declared default and range.
    #[test]
    fn the_operations_guide_documents_every_variable_its_default_and_its_range() {
        let guide = include_str!("../../docs/operations.md");
        let table = guide.split("## Configuration").nth(1).unwrap().split("\n## ").next().unwrap();
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| `")).collect();
        let declared = variables();
        for row in &rows {
            let names = row.split('|').nth(1).unwrap();
            for name in names.split(',').map(|n| n.trim().trim_matches('`')) {
                assert!(declared.iter().any(|v| v.name == name), "docs/operations.md documents {name}, not declared");
            }
        }
        for var in declared {
            let row = rows
                .iter()
                .find(|l| l.split('|').nth(1).is_some_and(|c| c.contains(&format!("`{}`", var.name))))
                .unwrap_or_else(|| panic!("{} has no row in docs/operations.md", var.name));
            let documented = row.split('|').nth(2).unwrap().trim().trim_matches('`');
            let default = var.default.as_deref().unwrap_or("unset");
            assert_eq!(
                documented, default,
                "{}: docs/operations.md says {documented}, --help says {default}",
                var.name
            );
            if let Some((lo, hi)) = stated_range(&var.help) {
                assert!(row.contains(&format!("({lo}–{hi}")), "{}: docs/operations.md lacks ({lo}–{hi}", var.name);
            }
        }
    }

    #[test]
    fn lease_tokens_take_a_key_file_or_a_secret_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, crate::lease_token::new_key_pem()).unwrap();
        let key = key.to_str().unwrap();
        let secret = ("STREAMLEASE_LEASE_TOKEN_SECRET", "a-lease-token-secret-of-32-bytes!");
        assert!(settings(&[("STREAMLEASE_LEASE_TOKEN_KEY_FILE", key)]).unwrap().lease_tokens.is_some());
        assert!(settings(&[secret]).unwrap().lease_tokens.is_some());
        assert!(settings(&[]).unwrap().lease_tokens.is_none());
        let both = settings(&[("STREAMLEASE_LEASE_TOKEN_KEY_FILE", key), secret]).unwrap_err();
        assert_eq!(both.var, "STREAMLEASE_LEASE_TOKEN_KEY_FILE", "{both}");
        assert!(!format!("{:?}", settings(&[secret]).unwrap()).contains(secret.1), "the secret in a debug print");
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
            ("STREAMLEASE_REDIS_CA_FILE", "/etc/hostname"),
            ("STREAMLEASE_WORKERS", "257"),
            ("STREAMLEASE_JWT_JWKS_URL", "http://idp.example.com/jwks"),
            ("STREAMLEASE_JWT_JWKS_URL", "ftp://127.0.0.1/jwks"),
            ("STREAMLEASE_JWT_JWKS_URL", "not a url"),
            ("STREAMLEASE_JWT_JWKS_FILE", "/nonexistent/jwks.json"),
            ("STREAMLEASE_JWT_JWKS_FILE", "/etc/hostname"),
            ("STREAMLEASE_JWT_ALGORITHMS", "RS512"),
            ("STREAMLEASE_JWT_ALGORITHMS", "RS256"),
            // Without player tokens there is no claim to read.
            ("STREAMLEASE_JWT_LIMIT_CLAIM", "max_streams"),
            ("STREAMLEASE_JWT_LIMIT_CLAIM", "ent..max_streams"),
            ("STREAMLEASE_CLASSES", "uhd"),
            ("STREAMLEASE_CLASSES", "total=1"),
            ("STREAMLEASE_LEASE_TOKEN_KEY_FILE", "/nonexistent/key.pem"),
            ("STREAMLEASE_LEASE_TOKEN_KEY_FILE", "/etc/hostname"),
            ("STREAMLEASE_LEASE_TOKEN_SECRET", "too-short-secret"),
        ];
        for (var, value) in cases {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}: {err}");
            assert!(!err.problem.contains('\n'), "one line: {err}");
        }
        for var in ["STREAMLEASE_JWT_SECRET", "STREAMLEASE_LEASE_TOKEN_SECRET"] {
            let err = settings(&[(var, "too-short-secret")]).unwrap_err();
            assert!(!err.to_string().contains("too-short-secret"), "a secret must never be echoed: {err}");
        }
        let err = settings(&[("STREAMLEASE_ON_LIMIT", "kick")]).unwrap_err();
        assert_eq!(err.problem, r#"expected one of deny, evict_oldest, got "kick""#);
        let err = settings(&[("STREAMLEASE_MAX_STREAMS", "1001")]).unwrap_err();
        assert_eq!(err.problem, "must be in 1..=1000, got 1001");
    }

    #[test]
    fn flags_are_true_false_1_or_0_and_nothing_looser() {
        for (value, expected) in [("true", true), ("1", true), ("false", false), ("0", false)] {
            assert_eq!(settings(&[("STREAMLEASE_FAIL_OPEN", value)]).unwrap().fail_open, expected);
        }
    }

    #[test]
    fn a_connection_limit_given_is_remembered_as_given() {
        assert!(!settings(&[]).unwrap().http.max_connections_set);
        let s = settings(&[("STREAMLEASE_MAX_CONNECTIONS", "20000")]).unwrap();
        assert!(s.http.max_connections_set, "given, even when equal to the default");
    }

    #[test]
    fn help_and_version_are_asked_for_not_refused() {
        for arg in ["--help", "--version"] {
            match Settings::parse(["streamlease", arg]) {
                Err(Refusal::Asked(text)) => assert!(text.contains("streamlease"), "{text}"),
                other => panic!("{arg}: {other:?}"),
            }
        }
        let help = match Settings::parse(["streamlease", "--help"]) {
            Err(Refusal::Asked(text)) => text,
            _ => unreachable!(),
        };
        for var in variables() {
            assert!(help.contains(&format!("[env: {}]", var.name)), "{} missing from --help", var.name);
        }
        assert!(matches!(
            Settings::parse(["streamlease", "--print-redis-library"]),
            Err(Refusal::AskedForRedisLibrary)
        ));
        match Settings::parse(["streamlease", "--frobnicate"]) {
            Err(Refusal::Usage(line)) => assert!(line.contains("--frobnicate") && !line.contains('\n'), "{line}"),
            other => panic!("{other:?}"),
        }
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
    fn each_algorithm_allowed_needs_its_kind_of_key() {
        let secret = ("STREAMLEASE_JWT_SECRET", "a-secret-of-at-least-32-bytes-long!");
        let jwks = ("STREAMLEASE_JWT_JWKS_URL", "https://idp.example.com/.well-known/jwks.json");
        let admin = ("STREAMLEASE_ADMIN_TOKEN", "admin");
        let algorithms = |vars: &[(&str, &str)]| settings(vars).map(|s| s.jwt.unwrap().algorithms);
        use jsonwebtoken::Algorithm::*;
        assert_eq!(algorithms(&[secret, admin]).unwrap(), vec![HS256]);
        assert_eq!(algorithms(&[jwks, admin]).unwrap(), vec![RS256, ES256, EdDSA]);
        assert_eq!(algorithms(&[jwks, secret, admin]).unwrap(), vec![RS256, ES256, EdDSA, HS256]);
        assert_eq!(algorithms(&[jwks, admin, ("STREAMLEASE_JWT_ALGORITHMS", "ES256, ES256")]).unwrap(), vec![ES256]);
        let err = settings(&[jwks, admin, ("STREAMLEASE_JWT_ALGORITHMS", "ES256,HS256")]).unwrap_err();
        assert_eq!(
            (err.var.as_str(), err.problem.as_str()),
            ("STREAMLEASE_JWT_ALGORITHMS", "HS256 needs STREAMLEASE_JWT_SECRET")
        );
        let err = settings(&[secret, admin, ("STREAMLEASE_JWT_ALGORITHMS", "RS256")]).unwrap_err();
        assert_eq!(err.var, "STREAMLEASE_JWT_ALGORITHMS");
        // http only to this machine.
        assert!(settings(&[("STREAMLEASE_JWT_JWKS_URL", "http://127.0.0.1:9/jwks"), admin]).is_ok());
        assert!(settings(&[("STREAMLEASE_JWT_JWKS_URL", "http://[::1]:9/jwks"), admin]).is_ok());
        // A JWKS makes player tokens, so admin routes need their own token.
        assert_eq!(settings(&[jwks]).unwrap_err().var, "STREAMLEASE_ADMIN_TOKEN");
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
