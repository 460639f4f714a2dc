//! One-time codes without storing or shipping them in clear.
//!
//! The identity side draws a random nonce; the six-digit code is
//! `HMAC-SHA256(secret, "otp-code" || nonce)` reduced to six digits, so the
//! notification processor (which shares the secret) can put it in the email
//! while topics and state only ever hold the nonce and a keyed hash of the code.
//!
//! It lives in the runtime because it is a convention two processes share,
//! like the partitioner: the gateway (which issues codes and hashes what users
//! type) and the notification processor (which mails them).
//!
//! Login-unlock codes are made the same way, hashed under another label.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
        m.update(&[0]);
    }
    m.finalize().into_bytes().into()
}

/// The six-digit code for `nonce`.
pub fn code_for(secret: &[u8], nonce: &str) -> String {
    let d = mac(secret, &[b"otp-code", nonce.as_bytes()]);
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 1_000_000;
    format!("{n:06}")
}

/// The keyed hash of `code` for `email` (what state and commands carry).
pub fn hash_code(secret: &[u8], email: &str, code: &str) -> String {
    hex::encode(mac(
        secret,
        &[b"otp-hash", email.as_bytes(), code.as_bytes()],
    ))
}

/// The keyed hash of an unlock `code` for `email` (what the lock carries);
/// apart from [`hash_code`], so a verification code never unlocks.
pub fn hash_unlock_code(secret: &[u8], email: &str, code: &str) -> String {
    hex::encode(mac(
        secret,
        &[b"unlock-hash", email.as_bytes(), code.as_bytes()],
    ))
}

/// A fresh random nonce (128 bits).
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_six_digits_and_depends_on_the_nonce_and_the_secret() {
        let a = code_for(b"s1", "n1");
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(a, code_for(b"s1", "n1"));
        let others: Vec<String> = (0..20).map(|i| code_for(b"s1", &format!("n{i}"))).collect();
        assert!(others.iter().filter(|c| **c == a).count() < 3);
        assert_ne!(hash_code(b"s1", "e", &a), hash_code(b"s2", "e", &a));
    }

    #[test]
    fn the_hash_differs_per_email_and_code() {
        assert_ne!(
            hash_code(b"s", "a@x.io", "123456"),
            hash_code(b"s", "b@x.io", "123456")
        );
        assert_ne!(
            hash_code(b"s", "a@x.io", "123456"),
            hash_code(b"s", "a@x.io", "123457")
        );
    }

    #[test]
    fn an_unlock_hash_is_never_a_verification_hash() {
        assert_ne!(
            hash_unlock_code(b"s", "a@x.io", "123456"),
            hash_code(b"s", "a@x.io", "123456")
        );
        assert_eq!(
            hash_unlock_code(b"s", "a@x.io", "123456"),
            hash_unlock_code(b"s", "a@x.io", "123456")
        );
    }
}
