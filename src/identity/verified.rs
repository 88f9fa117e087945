//! Tokens already verified. A player sends the same token with every
//! heartbeat, every few seconds for the token's whole life, and checking an
//! RS256 signature costs several times the rest of a heartbeat
//! (docs/performance.md): so each token's signature is checked once, and
//! its identity kept until it expires.
//!
//! An entry is found by the whole token, never by a hash of it, so no other
//! token can pass for a verified one. It holds until the token's `exp` (with
//! the same clock skew as a full check), and only while the key set it was
//! verified under is the one in use: a key withdrawn from the JWKS stops
//! its tokens at the next refresh, as a full check would.

use dashmap::DashMap;

use super::Identity;

/// Most tokens kept. Past it the cache starts over: it holds at most this
/// many tokens of at most `MAX_TOKEN_BYTES`, whatever clients send.
const MAX_ENTRIES: usize = 10_000;
/// Longer tokens are checked every time rather than kept.
const MAX_TOKEN_BYTES: usize = 4096;

struct Entry {
    identity: Identity,
    /// The token's `exp` plus the allowed clock skew, in seconds.
    valid_until: f64,
    /// The key set's generation it was verified under (`Jwks::generation`).
    keys: u64,
}

#[derive(Default)]
pub struct Verified {
    entries: DashMap<Box<str>, Entry>,
}

impl Verified {
    /// The identity of `token`, when it was verified under the key set
    /// `keys` and is still valid at `now` (seconds since the epoch).
    pub fn get(&self, token: &str, now: f64, keys: u64) -> Option<Identity> {
        let entry = self.entries.get(token)?;
        (entry.keys == keys && now <= entry.valid_until).then(|| entry.identity.clone())
    }

    pub fn insert(&self, token: &str, identity: &Identity, valid_until: f64, keys: u64) {
        if token.len() > MAX_TOKEN_BYTES {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(token.into(), Entry { identity: identity.clone(), valid_until, keys });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity { user: "alice".into(), limit: Some(std::sync::Arc::new(crate::domain::Limits::total(2))) }
    }

    #[test]
    fn a_token_is_kept_until_it_expires_under_the_keys_it_was_verified_with() {
        let verified = Verified::default();
        verified.insert("t.o.k", &alice(), 100.0, 1);
        assert_eq!(verified.get("t.o.k", 100.0, 1), Some(alice()));
        assert_eq!(verified.get("t.o.k", 100.5, 1), None, "expired");
        assert_eq!(verified.get("t.o.k", 50.0, 2), None, "the key set changed since");
        assert_eq!(verified.get("t.o.K", 50.0, 1), None, "another token");
    }

    #[test]
    fn the_cache_is_bounded() {
        let verified = Verified::default();
        for n in 0..MAX_ENTRIES + 10 {
            verified.insert(&format!("token-{n}"), &alice(), 100.0, 1);
        }
        assert!(verified.entries.len() <= MAX_ENTRIES);
        verified.insert(&"x".repeat(MAX_TOKEN_BYTES + 1), &alice(), 100.0, 1);
        assert_eq!(verified.get(&"x".repeat(MAX_TOKEN_BYTES + 1), 0.0, 1), None, "too long to keep");
    }
}
