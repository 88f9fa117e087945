//! Lease tokens: a short-lived, signed statement that a lease is live, so a
//! CDN edge, a segment proxy or a license proxy can refuse media to a player
//! that no longer holds one, checking offline against the keys at
//! `/.well-known/jwks.json`.
//!
//! A token is a compact JWS (`ES256` with a `kid`, or `HS256` for edges that
//! can only do HMAC) whose claims say who (`sub`), which lease (`lid`),
//! stream (`sid`), device (`dev`) and classes (`cls`), and until when
//! (`exp`, never past the lease's expiry). An ended lease stops being
//! renewed, so its media stops within one token lifetime: the lifetime is
//! the revocation delay.
//!
//! Signing costs more than the rest of a heartbeat, so a token is signed
//! anew only when the one the player holds (sent back in the `Lease-Token`
//! header) has less than half its life left. The held token is read, not
//! verified: a player lying about it can only go without a token it was
//! entitled to, or get one it was entitled to anyway.

mod keys;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::EcdsaKeyPair;
use serde::{Deserialize, Serialize};

use crate::domain::{ClassName, Lease, LeaseId, Millis, UserId};
pub use keys::KeyError;
#[cfg(any(test, feature = "testing"))]
pub use keys::new_key_pem;

/// The request header a player sends its current token back in.
pub const HELD_TOKEN_HEADER: &str = "lease-token";
/// Longest held token read; anything longer is ignored (and a new one signed).
const MAX_HELD_TOKEN: usize = 2048;

/// What signs lease tokens, and what `/.well-known/jwks.json` publishes.
pub struct LeaseTokens {
    signer: Signer,
    /// The JWKS document, built once: every key of the file, public parts only.
    published: Option<String>,
}

enum Signer {
    /// The first key of the file signs; `header` is its JWS header, encoded.
    Es256 {
        key: EcdsaKeyPair,
        header: String,
        rng: SystemRandom,
    },
    Hs256 {
        key: ring::hmac::Key,
        header: String,
    },
}

/// The claims of a lease token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a UserId,
    lid: LeaseId,
    sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dev: Option<&'a str>,
    #[serde(skip_serializing_if = "<[ClassName]>::is_empty")]
    cls: &'a [ClassName],
    iat: i64,
    exp: i64,
}

/// What the service reads of a token a player holds.
#[derive(Debug, Deserialize)]
struct Held {
    lid: LeaseId,
    iat: i64,
    exp: i64,
}

/// Names the algorithm, never a key.
impl std::fmt::Debug for LeaseTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithm = match self.signer {
            Signer::Es256 { .. } => "ES256",
            Signer::Hs256 { .. } => "HS256",
        };
        f.debug_struct("LeaseTokens").field("algorithm", &algorithm).finish_non_exhaustive()
    }
}

impl LeaseTokens {
    /// ES256 with the EC P-256 keys of a PEM file: the first signs, all are
    /// published (add a key, publish, then move it first: see the README).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let keys = keys::ec_keys(pem)?;
        let published = keys::jwks(&keys);
        let first = keys.into_iter().next().ok_or(KeyError::NoKey)?;
        let header = encode_json(&serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": first.kid}));
        let signer = Signer::Es256 { key: first.pair, header, rng: SystemRandom::new() };
        Ok(Self { signer, published: Some(published) })
    }

    /// HS256 with a shared secret; nothing is published.
    pub fn from_secret(secret: &[u8]) -> Self {
        let header = encode_json(&serde_json::json!({"alg": "HS256", "typ": "JWT"}));
        Self {
            signer: Signer::Hs256 { key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret), header },
            published: None,
        }
    }

    /// The JWKS document of the public keys; `None` with HMAC.
    pub fn published(&self) -> Option<&str> {
        self.published.as_deref()
    }

    /// A token for `lease` of `user`, live until its expiry, issued at
    /// `now`; `None` when the lease is not live at `now` (no token for it).
    pub fn sign(&self, user: &UserId, lease: &Lease, now: Millis) -> Option<String> {
        // Whole seconds, rounded down: `exp` never passes the lease's expiry.
        let (iat, exp) = (now.div_euclid(1000), lease.expires_at.div_euclid(1000));
        if exp <= iat {
            return None;
        }
        let claims = Claims {
            sub: user,
            lid: lease.lease_id,
            sid: lease.stream_id.as_str(),
            dev: lease.device_id.as_ref().map(|d| d.as_str()),
            cls: &lease.classes,
            iat,
            exp,
        };
        let header = match &self.signer {
            Signer::Es256 { header, .. } | Signer::Hs256 { header, .. } => header,
        };
        let mut token = String::with_capacity(512);
        token.push_str(header);
        token.push('.');
        B64.encode_string(serde_json::to_vec(&claims).ok()?, &mut token);
        let signature = match &self.signer {
            Signer::Es256 { key, rng, .. } => key.sign(rng, token.as_bytes()).ok()?.as_ref().to_vec(),
            Signer::Hs256 { key, .. } => ring::hmac::sign(key, token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        B64.encode_string(signature, &mut token);
        Some(token)
    }

    /// Whether the player holding `held` (the `Lease-Token` header) needs a
    /// new token for `lease` at `now`: unless `held` is a token for this
    /// lease with at least half its life left.
    pub fn needs_new(held: Option<&[u8]>, lease: LeaseId, now: Millis) -> bool {
        let Some(held) = held.filter(|h| h.len() <= MAX_HELD_TOKEN) else { return true };
        let Some(claims) = read_unverified(held) else { return true };
        let now_s = now.div_euclid(1000);
        claims.lid != lease || 2 * (claims.exp - now_s) < claims.exp - claims.iat
    }
}

/// The claims of a token, signature unchecked (see the module comment).
fn read_unverified(token: &[u8]) -> Option<Held> {
    let mut parts = token.split(|b| *b == b'.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let json = B64.decode(payload).ok()?;
    serde_json::from_slice(&json).ok()
}

fn encode_json(value: &serde_json::Value) -> String {
    B64.encode(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StreamId;

    fn lease(expires_at: Millis) -> Lease {
        Lease {
            lease_id: LeaseId::new_random(),
            stream_id: StreamId::try_from("movie-42").unwrap(),
            device_id: None,
            device_name: None,
            classes: vec![ClassName::try_from("uhd").unwrap()],
            acquired_at: 0,
            expires_at,
        }
    }

    fn claims_of(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn a_token_says_which_lease_and_ends_no_later_than_it() {
        let tokens = LeaseTokens::from_secret(&[7; 32]);
        let user = UserId::try_from("alice").unwrap();
        let lease = lease(1_700_000_030_999);
        let token = tokens.sign(&user, &lease, 1_700_000_000_500).unwrap();
        let claims = claims_of(&token);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["lid"], lease.lease_id.to_string());
        assert_eq!((claims["sid"].as_str(), &claims["cls"]), (Some("movie-42"), &serde_json::json!(["uhd"])));
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(1_700_000_000), Some(1_700_000_030)));
        assert!(claims.get("dev").is_none(), "no device, no dev claim");
        // A lease within its last second, or past its expiry: no token.
        assert_eq!(tokens.sign(&user, &lease, 1_700_000_030_000), None);
        assert_eq!(tokens.sign(&user, &lease, 1_700_000_031_000), None);
    }

    #[test]
    fn a_held_token_is_signed_anew_once_less_than_half_its_life_is_left() {
        let tokens = LeaseTokens::from_secret(&[7; 32]);
        let user = UserId::try_from("alice").unwrap();
        let lease = lease(30_000_000);
        let held = tokens.sign(&user, &lease, 0).unwrap();
        let id = lease.lease_id;
        assert!(!LeaseTokens::needs_new(Some(held.as_bytes()), id, 10_000_000), "two thirds left");
        assert!(!LeaseTokens::needs_new(Some(held.as_bytes()), id, 15_000_000), "half left");
        assert!(LeaseTokens::needs_new(Some(held.as_bytes()), id, 15_001_000), "less than half");
        assert!(LeaseTokens::needs_new(Some(held.as_bytes()), LeaseId::new_random(), 0), "another lease's");
        for junk in [&b""[..], b"a.b.c", b"..", &[b'a'; 4096]] {
            assert!(LeaseTokens::needs_new(Some(junk), id, 0));
        }
        assert!(LeaseTokens::needs_new(None, id, 0));
    }
}
