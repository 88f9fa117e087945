//! Who a player is: its token verified, with a shared secret (HS256) or
//! with the identity provider's public keys (RS256, ES256, EdDSA from a
//! JWKS), and what the token says of it. Tokens are never logged.

pub mod jwks;
mod verified;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::JwtSettings;
use crate::domain::Limits;
use jwks::{Jwks, Lookup};
use verified::Verified;

/// How far past `exp` a token is still accepted, for clocks that disagree
/// between the token issuer and this service.
const CLOCK_SKEW_S: u64 = 30;

/// What a verified token says of its player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`: the user the token acts for.
    pub user: String,
    /// The user's limits, from the claim `STREAMLEASE_JWT_LIMIT_CLAIM`
    /// names. Shared: a cached token hands it to every request.
    pub limit: Option<Arc<Limits>>,
}

/// Why a token was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 401. The reason is for tests and debug logs, never with the token.
    #[error("token refused: {0}")]
    Unauthorized(&'static str),
    /// 503: the token needs the IdP's keys, and none were ever loaded.
    #[error("the identity provider's keys are not loaded yet")]
    KeysUnavailable,
    /// 401: the limit claim (named here) is present but not a limit.
    #[error("the token's {0} claim is not a whole number from 1 to 1000")]
    BadLimitClaim(String),
}

/// What checking a token's signature found.
enum Signed {
    /// Genuine and valid now; with its `exp`.
    Valid(Identity, f64),
    Refused(Refusal),
    /// Signed with a key the set lacks.
    UnknownKey,
}

/// What checking a token at once found.
enum Checked {
    Done(Result<Identity, Refusal>),
    /// The token names a key the set lacks: fetching the set again may find it.
    UnknownKey,
}

/// Verifies player tokens, prepared once at startup.
pub struct Verifier {
    secret: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    /// One validation per allowed algorithm: a token never picks its own.
    validations: Vec<(Algorithm, Validation)>,
    max_lifetime_s: u64,
    limit_claim: Option<String>,
    verified: Verified,
}

/// What a token's payload says, as far as it is read.
struct Claims {
    sub: String,
    /// Numbers as JSON has them: `exp` may be fractional or beyond i64.
    exp: f64,
    iat: Option<f64>,
    /// Every other claim, read only when a limit claim is configured.
    rest: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Only `sub`, `exp` and `iat`: what is read when no limit claim is
/// configured, so no other claim is parsed.
#[derive(Deserialize)]
struct TimeClaims {
    sub: String,
    exp: f64,
    iat: Option<f64>,
}

#[derive(Deserialize)]
struct AllClaims {
    sub: String,
    exp: f64,
    iat: Option<f64>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl From<TimeClaims> for Claims {
    fn from(c: TimeClaims) -> Self {
        Claims { sub: c.sub, exp: c.exp, iat: c.iat, rest: None }
    }
}

impl From<AllClaims> for Claims {
    fn from(c: AllClaims) -> Self {
        Claims { sub: c.sub, exp: c.exp, iat: c.iat, rest: Some(c.rest) }
    }
}

impl Verifier {
    pub fn new(settings: &JwtSettings, jwks: Option<Arc<Jwks>>) -> Self {
        let validations = settings.algorithms.iter().map(|alg| (*alg, validation(settings, *alg))).collect();
        Verifier {
            secret: settings.secret.as_ref().map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes())),
            jwks,
            validations,
            max_lifetime_s: settings.max_lifetime.as_secs(),
            limit_claim: settings.limit_claim.clone(),
            verified: Verified::default(),
        }
    }

    /// False while tokens signed by the IdP cannot be checked: its keys were
    /// never loaded.
    pub fn is_ready(&self) -> bool {
        self.jwks.as_ref().is_none_or(|jwks| jwks.is_loaded())
    }

    /// The token's identity. A token naming a key the set lacks makes the
    /// set be fetched again, at most once per 30 s for all such tokens.
    pub async fn verify(&self, token: &str) -> Result<Identity, Refusal> {
        match self.check(token) {
            Checked::Done(answer) => answer,
            Checked::UnknownKey => {
                let refetched = match &self.jwks {
                    Some(jwks) => jwks.refetch_for_unknown_kid().await,
                    None => false,
                };
                match refetched.then(|| self.check(token)) {
                    Some(Checked::Done(answer)) => answer,
                    _ => Err(Refusal::Unauthorized("no key with this kid")),
                }
            }
        }
    }

    /// The answer when no fetch is needed, which is every token but one
    /// signed with a key the set lacks.
    pub fn verify_now(&self, token: &str) -> Option<Result<Identity, Refusal>> {
        match self.check(token) {
            Checked::Done(answer) => Some(answer),
            Checked::UnknownKey => None,
        }
    }

    fn check(&self, token: &str) -> Checked {
        let now = chrono::Utc::now().timestamp() as f64;
        let keys = self.jwks.as_ref().map_or(0, |jwks| jwks.generation());
        if let Some(identity) = self.verified.get(token, now, keys) {
            return Checked::Done(Ok(identity));
        }
        match self.check_signature(token, now) {
            Signed::Valid(identity, exp) => {
                self.verified.insert(token, &identity, exp + CLOCK_SKEW_S as f64, keys);
                Checked::Done(Ok(identity))
            }
            Signed::Refused(refusal) => Checked::Done(Err(refusal)),
            Signed::UnknownKey => Checked::UnknownKey,
        }
    }

    /// The full check: header, key, signature, times, claims.
    fn check_signature(&self, token: &str, now: f64) -> Signed {
        let refused = |why| Signed::Refused(Refusal::Unauthorized(why));
        let Ok(header) = jsonwebtoken::decode_header(token) else { return refused("not a signed JWT") };
        let Some((_, validation)) = self.validations.iter().find(|(alg, _)| *alg == header.alg) else {
            return refused("alg not allowed");
        };
        // `crit` lists extensions the recipient must understand; we
        // understand none, so such a token must be refused (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return refused("crit");
        }
        let key = if header.alg == Algorithm::HS256 {
            match &self.secret {
                Some(secret) => secret.clone(),
                None => return refused("no secret"),
            }
        } else {
            let Some(jwks) = &self.jwks else { return refused("no key set") };
            match jwks.lookup(header.kid.as_deref(), header.alg) {
                Lookup::Found(key) => key,
                Lookup::Unknown => return Signed::UnknownKey,
                Lookup::NotLoaded => return Signed::Refused(Refusal::KeysUnavailable),
            }
        };
        let decoded: jsonwebtoken::errors::Result<Claims> = match &self.limit_claim {
            Some(_) => jsonwebtoken::decode::<AllClaims>(token, &key, validation).map(|d| d.claims.into()),
            None => jsonwebtoken::decode::<TimeClaims>(token, &key, validation).map(|d| d.claims.into()),
        };
        let Ok(claims) = decoded else { return refused("signature, times or claims") };
        let from = claims.iat.unwrap_or(now);
        if claims.exp - from > self.max_lifetime_s as f64 {
            return refused("lives longer than allowed");
        }
        let limit = match (&self.limit_claim, &claims.rest) {
            (Some(name), Some(rest)) => match limit_in(rest, name) {
                Ok(limit) => limit,
                Err(()) => return Signed::Refused(Refusal::BadLimitClaim(name.to_string())),
            },
            _ => None,
        };
        Signed::Valid(Identity { user: claims.sub, limit: limit.map(Arc::new) }, claims.exp)
    }
}

/// The limits a token's claims hold under `name`: a top-level claim of
/// that name (namespaced claims such as `https://example.com/max_streams`
/// hold dots), else a dotted path into nested objects (`ent.max_streams`).
/// The claim is the total limit, or `{"limit": n, "classes": {"uhd": n}}` as
/// `PUT …/limit` takes it. `Ok(None)` when absent; `Err` when present and
/// not one of those (see `Limits::from_json`).
fn limit_in(claims: &serde_json::Map<String, serde_json::Value>, name: &str) -> Result<Option<Limits>, ()> {
    let found = claims.get(name).or_else(|| {
        let mut path = name.split('.');
        let first = claims.get(path.next()?)?;
        path.try_fold(first, |value, step| value.get(step))
    });
    let Some(value) = found else { return Ok(None) };
    Limits::from_json(value, crate::config::MAX_LIMIT).map(Some).map_err(drop)
}

fn validation(settings: &JwtSettings, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    let mut required = vec!["exp", "sub"];
    validation.leeway = CLOCK_SKEW_S;
    // A token not yet valid is not valid (RFC 7519 §4.1.5).
    validation.validate_nbf = true;
    match &settings.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        // No audience configured: `aud` is not ours to judge.
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = &settings.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    validation
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::limit_in;
    use crate::domain::Limits;

    #[test]
    fn the_limit_claim_is_a_top_level_name_or_a_dotted_path() {
        let claims = json!({
            "https://video.example.com/max_streams": 4,
            "ent": {"max_streams": 2, "plan": {"streams": 7.0}},
            "tiny": 0,
            "text": "2",
        });
        let claims = claims.as_object().unwrap();
        // Namespaced claims (Auth0 asks for them) hold dots: the whole name first.
        let total = |n| Ok(Some(Limits::total(n)));
        assert_eq!(limit_in(claims, "https://video.example.com/max_streams"), total(4));
        assert_eq!(limit_in(claims, "ent.max_streams"), total(2));
        assert_eq!(limit_in(claims, "ent.plan.streams"), total(7), "7.0 is the integer 7");
        assert_eq!(limit_in(claims, "absent"), Ok(None));
        assert_eq!(limit_in(claims, "ent.absent"), Ok(None));
        for bad in ["tiny", "text", "ent", "ent.plan"] {
            assert_eq!(limit_in(claims, bad), Err(()), "{bad}");
        }
    }
}
