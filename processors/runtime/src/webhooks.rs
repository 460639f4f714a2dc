//! Vendor webhooks: the signing secret of a subscription and the
//! `Slotstream-Signature` header, Stripe-style.
//!
//! **No secret is stored.** A subscription's secret is
//! `whsec_` + hex `HMAC-SHA256(platform key, "vendor-webhook-secret" || id)`,
//! so the gateway (which shows it once, when it creates the subscription)
//! and the deliverer (which signs) derive the same one from the id, and
//! commands, events, state and views never hold it. The platform key is the
//! OTP key (`SLOTSTREAM_OTP_SECRET` or `<data_dir>/keys/otp.key`), under a
//! label of its own: it already never leaves the platform's processes.
//! Rotating it changes every subscription's secret.
//!
//! **Signature.** `Slotstream-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`, keyed by the whole `whsec_…`
//! string. A receiver recomputes it over the raw body and refuses a
//! timestamp more than a tolerance (5 minutes) away from its clock, which
//! bounds replays of a captured delivery.
//!
//! It lives in the runtime, as [`crate::otp`] does: a convention two
//! processes share.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

type HmacSha256 = Hmac<Sha256>;

/// The header a delivery carries.
pub const SIGNATURE_HEADER: &str = "Slotstream-Signature";

/// How far a receiver lets a signature's timestamp be from its clock.
pub const TOLERANCE_SECS: u64 = 300;

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m
}

/// The signing secret of subscription `webhook_id` under the platform key.
pub fn secret_for(platform_key: &[u8], webhook_id: &str) -> String {
    let d = mac(
        platform_key,
        &[b"vendor-webhook-secret\0", webhook_id.as_bytes()],
    );
    format!("whsec_{}", hex::encode(d.finalize().into_bytes()))
}

/// The `Slotstream-Signature` value of `body` sent at `t` (unix seconds).
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let d = mac(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(d.finalize().into_bytes()))
}

/// Why a signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<secs>,v1=<hex>` (refuse the delivery).
    #[error("the signature header does not read as t=<secs>,v1=<hex>")]
    Malformed,
    /// Its timestamp is more than the tolerance away from now (a replay,
    /// or a clock far off: refuse).
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No `v1` signature matches the body (refuse).
    #[error("no signature matches the body")]
    Mismatch,
}

/// Checks a `Slotstream-Signature` value against the raw `body`, at `now`
/// (unix seconds), allowing `tolerance` seconds either way. Every `v1`
/// is tried (a secret rotation may send two); comparison is constant-time.
///
/// # Errors
/// See [`SignatureError`].
pub fn verify(
    header: &str,
    secret: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<u64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if t.abs_diff(now) > tolerance {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body]);
    if sigs
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Whether a delivery may not go to `ip` unless an operator allows private
/// targets (SSRF): loopback, private (RFC 1918, unique-local `fc00::/7`),
/// shared (`100.64.0.0/10`), link-local (`169.254.0.0/16`, `fe80::/10`:
/// cloud metadata lives there), unspecified, broadcast, multicast, and the
/// IPv4 an IPv6 address maps or translates (`::ffff:a.b.c.d`,
/// `64:ff9b::a.b.c.d`) by the same rules.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let seg = ip.segments();
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4] {
        let [.., a, b, c, d] = ip.octets();
        return internal_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"platform key of thirty-two bytes!";

    #[test]
    fn internal_addresses_are_told_from_public_ones() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip} is internal");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn a_secret_is_stable_per_id_and_differs_between_ids_and_keys() {
        let a = secret_for(KEY, "wh_a");
        assert_eq!(a, secret_for(KEY, "wh_a"));
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64, "{a}");
        assert_ne!(a, secret_for(KEY, "wh_b"));
        assert_ne!(a, secret_for(b"another platform key", "wh_a"));
    }

    #[test]
    fn a_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // Computed outside this code: `printf '1700000000.{}' | openssl dgst
        // -sha256 -hmac whsec_test` (and Python's hmac module agrees).
        assert_eq!(
            sign("whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn a_receiver_accepts_its_signature_within_five_minutes_and_nothing_else() {
        let body = br#"{"id":"evt_1","type":"booking.held"}"#;
        let h = sign("whsec_x", 1_000, body);
        assert_eq!(verify(&h, "whsec_x", body, 1_000, TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(&h, "whsec_x", body, 1_300, TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(&h, "whsec_x", body, 700, TOLERANCE_SECS), Ok(()));
        assert_eq!(
            verify(&h, "whsec_x", body, 1_301, TOLERANCE_SECS),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&h, "whsec_x", body, 699, TOLERANCE_SECS),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&h, "whsec_y", body, 1_000, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, "whsec_x", b"{}", 1_000, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        // A timestamp moved forward without re-signing does not verify.
        let moved = h.replacen("t=1000", "t=1001", 1);
        assert_eq!(
            verify(&moved, "whsec_x", body, 1_000, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        for bad in [
            "",
            "t=1000",
            "v1=00",
            "t=x,v1=00",
            "t=1000,v1=zz",
            "garbage",
        ] {
            assert_eq!(
                verify(bad, "whsec_x", body, 1_000, TOLERANCE_SECS),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
