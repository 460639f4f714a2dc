//! Access tokens: HS256 JWTs, the algorithm pinned so `alg: none` and
//! algorithm-confusion tokens are refused; `exp`, `nbf` and `iat` checked
//! against the gateway's clock (not the OS clock) so it behaves under a test
//! clock too. A token that is not valid yet (`nbf`) or claims to be issued in
//! the future (`iat`) beyond a small clock-skew allowance is refused: no
//! genuine issuer makes one, so it is forged or minted by a broken clock.

use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use slotstream_domain::identity::Role;
use slotstream_domain::{Millis, UserId};
use std::time::Duration;

/// `iss` of every token.
pub const ISSUER: &str = "slotstream";
/// `aud` of every token.
pub const AUDIENCE: &str = "slotstream-api";
/// Clock skew tolerated on `exp`, seconds.
const LEEWAY_SECS: i64 = 5;
/// Clock skew tolerated on `nbf` and `iat` (gateways' clocks differ a little),
/// seconds.
pub const FUTURE_LEEWAY_SECS: i64 = 30;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// `customer` or `vendor`.
    pub role: String,
    /// Normalized email (notifications go there).
    pub email: String,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// Issued at, Unix seconds; never later than now.
    pub iat: i64,
    /// Not valid before, Unix seconds (optional; we never set it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Who is calling, from a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// Their normalized email.
    pub email: String,
}

/// Issues and verifies tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Tokens signed with `secret`, living `ttl`.
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Checked below against the injected clock instead.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl,
        }
    }

    /// Lifetime of new tokens.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `user` issued at `now`.
    pub fn issue(
        &self,
        user: &UserId,
        role: Role,
        email: &str,
        now: Millis,
    ) -> Result<String, ApiError> {
        let iat = now.div_euclid(1000);
        let claims = Claims {
            sub: user.to_string(),
            role: role.as_str().to_owned(),
            email: email.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat,
            nbf: None,
            exp: iat.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    /// The caller a token names, if it is genuine, ours, and live at `now`.
    pub fn verify(&self, token: &str, now: Millis) -> Result<Caller, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::unauthorized())?;
        let c = data.claims;
        let secs = now.div_euclid(1000);
        let from_the_future = |t: i64| t > secs.saturating_add(FUTURE_LEEWAY_SECS);
        if c.exp.saturating_add(LEEWAY_SECS) <= secs
            || from_the_future(c.iat)
            || c.nbf.is_some_and(from_the_future)
        {
            return Err(ApiError::unauthorized());
        }
        let Some(role) = Role::parse(&c.role) else {
            return Err(ApiError::unauthorized());
        };
        Ok(Caller {
            user_id: UserId(c.sub),
            role,
            email: c.email,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const NOW: Millis = 1_900_000_000_000;

    fn tokens() -> Tokens {
        Tokens::new(
            &SecretString::from("0123456789abcdef0123456789abcdef"),
            Duration::from_secs(900),
        )
    }

    fn good() -> String {
        tokens()
            .issue(&UserId::from("usr_1"), Role::Vendor, "v@x.io", NOW)
            .unwrap()
    }

    #[test]
    fn an_issued_token_verifies_to_its_caller_until_it_expires() {
        let t = tokens();
        let caller = t.verify(&good(), NOW + 1_000).unwrap();
        assert_eq!(caller.user_id.as_str(), "usr_1");
        assert_eq!(caller.role, Role::Vendor);
        assert_eq!(caller.email, "v@x.io");
        assert!(t.verify(&good(), NOW + 899_000).is_ok());
        assert_eq!(
            t.verify(&good(), NOW + 906_000).unwrap_err().code,
            "unauthorized"
        );
    }

    #[test]
    fn its_claims_name_issuer_audience_and_times() {
        let tok = good();
        let payload = tok.split('.').nth(1).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iss"], "slotstream");
        assert_eq!(claims["aud"], "slotstream-api");
        assert_eq!(claims["sub"], "usr_1");
        assert_eq!(claims["role"], "vendor");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            900
        );
    }

    #[test]
    fn a_token_with_alg_none_is_refused() {
        let tok = good();
        let payload = tok.split('.').nth(1).unwrap();
        let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for forged in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert_eq!(
                tokens().verify(&forged, NOW).unwrap_err().code,
                "unauthorized"
            );
        }
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let tok = good();
        let mut parts: Vec<String> = tok.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = "usr_admin".into();
        parts[1] = B64.encode(claims.to_string());
        assert!(tokens().verify(&parts.join("."), NOW).is_err());
    }

    #[test]
    fn tokens_of_another_key_issuer_or_algorithm_are_refused() {
        let other = Tokens::new(
            &SecretString::from("another-secret-another-secret-xx"),
            Duration::from_secs(900),
        );
        let tok = other
            .issue(&UserId::from("usr_1"), Role::Customer, "c@x.io", NOW)
            .unwrap();
        assert!(tokens().verify(&tok, NOW).is_err());

        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let mut claims = Claims {
            sub: "usr_1".into(),
            role: "customer".into(),
            email: "c@x.io".into(),
            iss: "someone-else".into(),
            aud: AUDIENCE.into(),
            iat: NOW / 1000,
            nbf: None,
            exp: NOW / 1000 + 60,
        };
        let wrong_iss =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(tokens().verify(&wrong_iss, NOW).is_err());
        claims.iss = ISSUER.into();
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &key).unwrap();
        assert!(tokens().verify(&hs512, NOW).is_err());
        claims.role = "admin".into();
        let bad_role = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(tokens().verify(&bad_role, NOW).is_err());
    }

    #[test]
    fn a_token_not_yet_valid_or_issued_in_the_future_is_refused_beyond_the_leeway() {
        let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let at = |iat: i64, nbf: Option<i64>| {
            let claims = Claims {
                sub: "usr_1".into(),
                role: "customer".into(),
                email: "c@x.io".into(),
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                iat,
                nbf,
                exp: NOW / 1000 + 3_600,
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let now = NOW / 1000;
        let skew = FUTURE_LEEWAY_SECS;
        assert!(tokens().verify(&at(now + skew, None), NOW).is_ok());
        assert!(tokens().verify(&at(now, Some(now + skew)), NOW).is_ok());
        assert!(tokens().verify(&at(now + skew + 1, None), NOW).is_err());
        assert!(tokens().verify(&at(now + 86_400, None), NOW).is_err());
        assert!(
            tokens()
                .verify(&at(now, Some(now + skew + 1)), NOW)
                .is_err()
        );
        let no_iat = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "usr_1", "role": "customer", "email": "c@x.io",
                "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}),
            &key,
        )
        .unwrap();
        assert!(tokens().verify(&no_iat, NOW).is_err(), "iat is required");
    }

    #[test]
    fn garbage_is_refused() {
        for t in ["", "abc", "a.b.c", "....", "Bearer x"] {
            assert!(tokens().verify(t, NOW).is_err(), "{t:?}");
        }
    }
}
