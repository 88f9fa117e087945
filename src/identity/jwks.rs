//! The identity provider's public keys: a JWKS (RFC 7517), read from a file
//! or fetched from a URL, kept fresh, and bounded, since the IdP or anyone
//! between it and us decides what it holds.
//!
//! Refreshes come from two places: the schedule (the answer's
//! `Cache-Control: max-age`, held to 5 min – 24 h), and a token whose `kid`
//! the set lacks, at most once per `UNKNOWN_KID_REFETCH` so a flood of
//! made-up kids cannot turn into a flood of fetches. A failed fetch keeps
//! the last good set.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::logging::LineThrottle;

/// Largest JWKS document read: IdPs publish a few keys, a few KiB.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Most keys a set may hold.
pub const MAX_KEYS: usize = 100;
/// How long one fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A token with an unknown `kid` fetches the set again at most this often.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(30);
/// The schedule follows the answer's `max-age`, within these bounds.
const MIN_MAX_AGE: Duration = Duration::from_secs(5 * 60);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Until a first set is loaded, fetches are retried from this pause...
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// ...doubling up to this one; a loaded set that fails to refresh is
/// retried at this pace as well.
const LAST_RETRY: Duration = Duration::from_secs(30);

/// The signature algorithms a player token may use.
pub const SUPPORTED: [Algorithm; 4] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256];

/// Why a JWKS was not taken. Each cause gets its own rate-limited warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("could not fetch the JWKS: {0}")]
    Unreachable(String),
    #[error("the JWKS answer was HTTP {0}")]
    Status(u16),
    #[error("the JWKS is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a JSON object with a \"keys\" array: {0}")]
    NotAKeySet(String),
    #[error("the JWKS holds {0} keys, more than {MAX_KEYS}")]
    TooManyKeys(usize),
    #[error("the JWKS holds no key usable for RS256, ES256 or EdDSA signatures")]
    NoUsableKey,
}

impl JwksError {
    fn cause(&self) -> usize {
        match self {
            JwksError::Unreachable(_) => 0,
            JwksError::Status(_) => 1,
            JwksError::TooLarge => 2,
            JwksError::NotAKeySet(_) => 3,
            JwksError::TooManyKeys(_) => 4,
            JwksError::NoUsableKey => 5,
        }
    }
}

/// One public key, with the one algorithm it verifies.
#[derive(Clone)]
struct PublicKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// The usable keys of one JWKS document.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    /// Reads a JWKS. Keys this service cannot use are left out: other key
    /// types and curves, keys for encryption (`use: enc`), and symmetric
    /// keys (`oct`), which a published set must never hold. A key's
    /// algorithm is its `alg` when it says one, else what its type implies.
    pub fn parse(document: &[u8]) -> Result<Self, JwksError> {
        if document.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(document).map_err(|e| JwksError::NotAKeySet(e.to_string()))?;
        if document.keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys(document.keys.len()));
        }
        let keys: Vec<PublicKey> = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| usable(&jwk))
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(KeySet { keys })
    }

    /// The key for a token signed with `algorithm` under `kid`. A token
    /// without a `kid` may use the set's only key of that algorithm.
    pub fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Option<&DecodingKey> {
        let mut fitting = self.keys.iter().filter(|k| k.algorithm == algorithm);
        match kid {
            Some(kid) => fitting.find(|k| k.kid.as_deref() == Some(kid)).map(|k| &k.key),
            None => match (fitting.next(), fitting.next()) {
                (Some(only), None) => Some(&only.key),
                _ => None,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySet({} keys)", self.len())
    }
}

fn usable(jwk: &Jwk) -> Option<PublicKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    // A key that names an algorithm is used for that one only.
    let named = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    if named != implied {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(PublicKey { kid: jwk.common.key_id.clone(), algorithm: named, key })
}

/// What a lookup found.
pub enum Lookup {
    Found(DecodingKey),
    /// The set is loaded and lacks this key.
    Unknown,
    /// No set was ever loaded (the IdP has not answered since startup).
    NotLoaded,
}

/// The keys in use: those of the file, and those last fetched from the URL.
pub struct Jwks {
    url: Option<reqwest::Url>,
    from_file: KeySet,
    fetched: RwLock<Option<Arc<KeySet>>>,
    /// Counts the sets taken: what was verified under an older one is
    /// verified again (see `verified.rs`).
    generation: AtomicU64,
    client: reqwest::Client,
    /// When an unknown `kid` last caused a fetch (ms on `started`'s clock),
    /// or `i64::MIN`.
    last_unknown_kid_fetch: AtomicI64,
    started: Instant,
    /// One warning a minute per cause (`JwksError::cause`).
    warnings: [LineThrottle; 6],
}

impl Jwks {
    /// Keys from `url` (fetched by `refresh`) and from the document `file`.
    pub fn new(url: Option<reqwest::Url>, file: Option<KeySet>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with rustls");
        let warnings = std::array::from_fn(|_| LineThrottle::new(60_000));
        Jwks {
            url,
            from_file: file.unwrap_or_default(),
            fetched: RwLock::new(None),
            generation: AtomicU64::new(0),
            client,
            last_unknown_kid_fetch: AtomicI64::new(i64::MIN),
            started: Instant::now(),
            warnings,
        }
    }

    /// Which key set is in use: it changes with every set fetched.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True once keys can be looked up: a file's, or a first fetch's.
    pub fn is_loaded(&self) -> bool {
        self.url.is_none() || self.current().is_some()
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.fetched.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn lookup(&self, kid: Option<&str>, algorithm: Algorithm) -> Lookup {
        let fetched = self.current();
        let found =
            fetched.as_deref().and_then(|set| set.find(kid, algorithm)).or_else(|| self.from_file.find(kid, algorithm));
        match found {
            Some(key) => Lookup::Found(key.clone()),
            None if self.is_loaded() => Lookup::Unknown,
            None => Lookup::NotLoaded,
        }
    }

    /// Fetches the set again for a token whose `kid` it lacks, unless one
    /// such fetch happened within `UNKNOWN_KID_REFETCH`. True when it fetched.
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        if self.url.is_none() {
            return false;
        }
        let now = self.started.elapsed().as_millis() as i64;
        let last = self.last_unknown_kid_fetch.load(Ordering::Relaxed);
        let due = last == i64::MIN || now - last >= UNKNOWN_KID_REFETCH.as_millis() as i64;
        // Of callers racing here, one fetches.
        if !due || self.last_unknown_kid_fetch.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return false;
        }
        self.refresh().await.is_ok()
    }

    /// Fetches the set from the URL and keeps it when it reads; returns how
    /// long it may be kept. A failure keeps the last good set and is logged,
    /// once a minute per cause, without the URL's query (it may carry a key).
    pub async fn refresh(&self) -> Result<Duration, JwksError> {
        let Some(url) = &self.url else { return Ok(MAX_MAX_AGE) };
        match self.fetch(url).await {
            Ok((set, max_age)) => {
                log::info!("JWKS: {} keys from {}", set.len(), shown(url));
                *self.fetched.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(set));
                self.generation.fetch_add(1, Ordering::Release);
                Ok(max_age)
            }
            Err(e) => {
                if self.warnings[e.cause()].admit(self.started.elapsed().as_millis() as i64) {
                    let keeping = if self.current().is_some() { "keeping the last good keys" } else { "no keys yet" };
                    log::warn!("JWKS {}: {e}; {keeping}", shown(url));
                }
                Err(e)
            }
        }
    }

    async fn fetch(&self, url: &reqwest::Url) -> Result<(KeySet, Duration), JwksError> {
        let unreachable = |e: reqwest::Error| JwksError::Unreachable(e.without_url().to_string());
        let mut response = self.client.get(url.clone()).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(JwksError::TooLarge);
        }
        let max_age = max_age(response.headers().get(reqwest::header::CACHE_CONTROL));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((KeySet::parse(&body)?, max_age))
    }

    /// Keeps the fetched set fresh for as long as the process runs: on the
    /// answer's schedule, and retrying failures with a growing pause.
    /// `first` is how the first fetch went (see `refresh`).
    pub fn keep_fresh(self: Arc<Self>, first: Result<Duration, JwksError>) -> Option<tokio::task::JoinHandle<()>> {
        self.url.as_ref()?;
        Some(tokio::spawn(async move {
            let (mut last, mut retry) = (first, FIRST_RETRY);
            loop {
                let pause = match last {
                    Ok(max_age) => {
                        retry = FIRST_RETRY;
                        max_age
                    }
                    Err(_) if self.current().is_some() => LAST_RETRY,
                    Err(_) => {
                        let pause = retry;
                        retry = (retry * 2).min(LAST_RETRY);
                        pause
                    }
                };
                tokio::time::sleep(pause).await;
                last = self.refresh().await;
            }
        }))
    }
}

/// `max-age` of a `Cache-Control` header, held to 5 min – 24 h; 5 min
/// without one, so a rotated key is found within that at the latest.
fn max_age(header: Option<&reqwest::header::HeaderValue>) -> Duration {
    let seconds = header.and_then(|v| v.to_str().ok()).and_then(|v| {
        v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.trim_matches('"').parse::<u64>().ok())
    });
    seconds.map_or(MIN_MAX_AGE, Duration::from_secs).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
}

/// A URL for the logs: without its query and fragment.
fn shown(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = r#"{"kty":"RSA","kid":"r1","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;
    const EC: &str = r#"{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const ED: &str = r#"{"kty":"OKP","kid":"d1","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    fn set(keys: &[&str]) -> Result<KeySet, JwksError> {
        KeySet::parse(format!(r#"{{"keys":[{}]}}"#, keys.join(",")).as_bytes())
    }

    #[test]
    fn each_key_verifies_the_one_algorithm_its_type_implies() {
        let keys = set(&[RSA, EC, ED]).unwrap();
        assert_eq!(keys.len(), 3);
        assert!(keys.find(Some("r1"), Algorithm::RS256).is_some());
        assert!(keys.find(Some("e1"), Algorithm::ES256).is_some());
        assert!(keys.find(Some("d1"), Algorithm::EdDSA).is_some());
        // An RSA key never verifies an HS256 or ES256 token, whatever the token says.
        assert!(keys.find(Some("r1"), Algorithm::HS256).is_none());
        assert!(keys.find(Some("r1"), Algorithm::ES256).is_none());
        assert!(keys.find(Some("nope"), Algorithm::RS256).is_none());
        // Without a kid: the only key of that algorithm.
        assert!(keys.find(None, Algorithm::RS256).is_some());
    }

    #[test]
    fn keys_this_service_must_not_use_are_left_out() {
        let oct = r#"{"kty":"oct","kid":"s","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}"#;
        let enc = RSA.replace(r#""kid":"r1""#, r#""kid":"r2","use":"enc""#);
        let p384 = r#"{"kty":"EC","kid":"p","crv":"P-384","x":"AAAA","y":"AAAA"}"#;
        let mislabelled = RSA.replace(r#""kid":"r1""#, r#""kid":"r3","alg":"ES256""#);
        let unknown_type = r#"{"kty":"XYZ","kid":"x"}"#;
        let keys = set(&[oct, &enc, p384, &mislabelled, unknown_type, EC]).unwrap();
        assert_eq!(keys.len(), 1, "only the EC key");
        assert!(keys.find(Some("s"), Algorithm::HS256).is_none());
        assert_eq!(set(&[oct]).err(), Some(JwksError::NoUsableKey));
    }

    #[test]
    fn a_key_set_is_bounded() {
        let many: Vec<&str> = std::iter::repeat_n(EC, MAX_KEYS + 1).collect();
        assert_eq!(set(&many).err(), Some(JwksError::TooManyKeys(MAX_KEYS + 1)));
        assert!(set(&many[..MAX_KEYS]).is_ok());
        let huge = format!(r#"{{"keys":[{EC}],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        assert_eq!(KeySet::parse(huge.as_bytes()).err(), Some(JwksError::TooLarge));
        for junk in ["", "[]", "{}", r#"{"keys":{}}"#, "null", "\u{0}"] {
            assert!(matches!(KeySet::parse(junk.as_bytes()), Err(JwksError::NotAKeySet(_))), "{junk:?}");
        }
    }

    #[test]
    fn the_schedule_follows_max_age_within_bounds() {
        let header = |v: &'static str| reqwest::header::HeaderValue::from_static(v);
        assert_eq!(max_age(None), MIN_MAX_AGE);
        assert_eq!(max_age(Some(&header("public, max-age=3600"))), Duration::from_secs(3600));
        assert_eq!(max_age(Some(&header("max-age=10"))), MIN_MAX_AGE);
        assert_eq!(max_age(Some(&header("max-age=9999999"))), MAX_MAX_AGE);
        assert_eq!(max_age(Some(&header("no-store"))), MIN_MAX_AGE);
    }
}
