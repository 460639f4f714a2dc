//! Forging access tokens the way an attacker (or a leaked key) would, to
//! check the gateway refuses every one that is not exactly right.
//!
//! The signing key is the data dir's `keys/jwt.key`; which bytes of it the
//! gateway signs with is found by checking candidates against a real token's
//! signature, so a forged token signed "correctly" is a working control: the
//! negative tests only prove something because that control is accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use std::path::Path;

/// A key that verifies the gateway's own tokens, and a real token's claims.
#[derive(Clone)]
pub struct Forger {
    key: Vec<u8>,
    /// The claims of the real token the key was found with.
    pub claims: Value,
    real: String,
}

impl std::fmt::Debug for Forger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forger")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl Forger {
    /// Finds the key bytes in `<data_dir>/keys/jwt.key` that verify `real_token`.
    pub fn new(data_dir: &Path, real_token: &str) -> Self {
        let path = data_dir.join("keys").join("jwt.key");
        let stored = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let trimmed = stored.trim();
        let mut candidates = vec![trimmed.as_bytes().to_vec(), stored.as_bytes().to_vec()];
        if let Ok(raw) = hex::decode(trimmed) {
            candidates.push(raw);
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        for key in candidates {
            if let Ok(data) =
                jsonwebtoken::decode::<Value>(real_token, &DecodingKey::from_secret(&key), &v)
            {
                return Self {
                    key,
                    claims: data.claims,
                    real: real_token.to_owned(),
                };
            }
        }
        panic!(
            "no reading of {} verifies the gateway's own HS256 token",
            path.display()
        );
    }

    /// A token over `claims`, correctly signed with HS256.
    pub fn sign(&self, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.key),
        )
        .expect("signing a JSON object cannot fail")
    }

    /// The real token's claims with `field` set to `value`.
    pub fn claims_with(&self, field: &str, value: Value) -> Value {
        let mut c = self.claims.clone();
        c[field] = value;
        c
    }

    /// The real token with its payload replaced by `claims` and its original
    /// header and signature kept.
    pub fn tampered(&self, claims: &Value) -> String {
        let mut parts = self.real.split('.');
        let (header, _, sig) = (
            parts.next().unwrap_or_default(),
            parts.next(),
            parts.next().unwrap_or_default(),
        );
        format!("{header}.{}.{sig}", b64(&claims.to_string()))
    }

    /// An unsigned token (`alg: none`) over `claims`.
    pub fn unsigned(claims: &Value) -> String {
        format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&claims.to_string())
        )
    }
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s.as_bytes())
}
