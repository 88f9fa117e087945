//! The signing keys of a PEM file, and the JWKS that publishes them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// Most keys a file may hold: a few for rotation, never a key store.
const MAX_KEYS: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("holds no private key (PEM \"PRIVATE KEY\" or \"EC PRIVATE KEY\")")]
    NoKey,
    #[error("holds more than {MAX_KEYS} keys")]
    TooMany,
    #[error("key {0} is not readable PEM")]
    Pem(usize),
    #[error("key {0} is not an EC P-256 key in PKCS#8 (convert one with `openssl pkcs8 -topk8 -nocrypt -in key.pem`)")]
    NotP256(usize),
}

/// One signing key: the pair, and its `kid` (the RFC 7638 thumbprint).
pub struct EcKey {
    pub pair: EcdsaKeyPair,
    pub kid: String,
    x: String,
    y: String,
}

/// Every key of `pem`, in file order.
pub fn ec_keys(pem: &[u8]) -> Result<Vec<EcKey>, KeyError> {
    let mut keys = Vec::new();
    for (n, der) in PrivateKeyDer::pem_slice_iter(pem).enumerate() {
        let number = n + 1;
        if number > MAX_KEYS {
            return Err(KeyError::TooMany);
        }
        let der = der.map_err(|_| KeyError::Pem(number))?;
        let PrivateKeyDer::Pkcs8(pkcs8) = der else { return Err(KeyError::NotP256(number)) };
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.secret_pkcs8_der(),
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|_| KeyError::NotP256(number))?;
        // An uncompressed point: 0x04, then X and Y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        let thumbprint = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = B64.encode(ring::digest::digest(&ring::digest::SHA256, thumbprint.as_bytes()));
        keys.push(EcKey { pair, kid, x, y });
    }
    if keys.is_empty() {
        return Err(KeyError::NoKey);
    }
    Ok(keys)
}

/// The JWKS document of `keys`: public parts only.
pub fn jwks(keys: &[EcKey]) -> String {
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y, "kid": k.kid, "alg": "ES256", "use": "sig"})
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// A new P-256 key in PKCS#8 PEM, as `openssl genpkey -algorithm EC -pkeyopt
/// ec_paramgen_curve:P-256` writes one: for tests that need keys of their own.
#[cfg(any(test, feature = "testing"))]
pub fn new_key_pem() -> String {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &ring::rand::SystemRandom::new())
        .expect("a new key");
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_published_by_its_thumbprint_and_none_with_its_private_part() {
        let keys = ec_keys((new_key_pem() + &new_key_pem()).as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0].kid, keys[1].kid);
        let published: serde_json::Value = serde_json::from_str(&jwks(&keys)).unwrap();
        let published = published["keys"].as_array().unwrap();
        assert_eq!(published.len(), 2);
        for key in published {
            assert_eq!(
                (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
                (Some("EC"), Some("P-256"), Some("ES256"))
            );
            assert!(key.get("d").is_none(), "a private part was published: {key}");
        }
    }

    #[test]
    fn a_file_of_other_keys_or_none_is_refused_with_a_reason() {
        assert_eq!(ec_keys(b"").err(), Some(KeyError::NoKey));
        assert_eq!(ec_keys(b"not a key").err(), Some(KeyError::NoKey));
        // A PKCS#8 key of another kind: Ed25519.
        let ed25519 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(ed25519.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        assert_eq!(ec_keys(pem.as_bytes()).err(), Some(KeyError::NotP256(1)));
    }
}
