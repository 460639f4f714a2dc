//! The provider's webhook format, Stripe-like: a JSON event signed with
//! HMAC-SHA256 over `"<unix seconds>.<raw body>"`, sent in the
//! `Slotstream-Signature: t=<secs>,v1=<hex>` header.
//!
//! Signing the timestamp with the body makes a captured delivery useless once
//! it is older than the tolerance (replay protection); several `v1=` entries
//! are accepted so a secret can be rotated without dropping deliveries.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use slotstream_domain::payment::CheckoutOutcome;
use slotstream_domain::{PaymentId, ResourceId};

type HmacSha256 = Hmac<Sha256>;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Slotstream-Signature";
/// How far a delivery's timestamp may be from the receiver's clock, in seconds.
pub const TOLERANCE_SECS: i64 = 300;
/// Event type of a successful payment.
pub const SUCCEEDED: &str = "payment_intent.succeeded";
/// Event type of a declined payment.
pub const FAILED: &str = "payment_intent.payment_failed";

/// A provider event as delivered to `POST /v1/webhooks/payments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEvent {
    /// Stable event id: a redelivery carries the same one.
    pub id: String,
    /// [`SUCCEEDED`] or [`FAILED`]; receivers acknowledge and ignore others.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the event is about.
    pub data: ProviderEventData,
    /// When the provider created it, Unix seconds.
    pub created: i64,
}

/// The object of a [`ProviderEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEventData {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking's resource (routes the outcome to the right partition).
    pub resource_id: ResourceId,
    /// Why it failed (empty on success).
    #[serde(default)]
    pub reason: String,
}

impl ProviderEvent {
    /// The checkout outcome this event reports, if it is a payment outcome.
    pub fn outcome(&self) -> Option<CheckoutOutcome> {
        match self.kind.as_str() {
            SUCCEEDED => Some(CheckoutOutcome::Succeeded),
            FAILED => Some(CheckoutOutcome::Failed),
            _ => None,
        }
    }

    /// The event type reporting `outcome`.
    pub fn kind_for(outcome: CheckoutOutcome) -> &'static str {
        match outcome {
            CheckoutOutcome::Succeeded => SUCCEEDED,
            CheckoutOutcome::Failed => FAILED,
        }
    }
}

/// Why a delivery's signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is absent or not `t=<secs>,v1=<hex>`.
    #[error("signature header malformed: expected `t=<unix seconds>,v1=<hex hmac>`")]
    Malformed,
    /// The timestamp is too far from now (a replay, or a badly skewed clock).
    #[error(
        "signature timestamp outside the {TOLERANCE_SECS} s tolerance: resend with a fresh signature"
    )]
    Stale,
    /// No `v1` value matches the body under the shared secret.
    #[error("signature does not match the body: check the webhook secret")]
    Mismatch,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header value signing `body` at Unix second `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Checks a header value against `body` at Unix second `now`: the timestamp
/// within `tolerance_secs`, and one `v1` tag equal (in constant time) to the
/// HMAC of `"<t>.<body>"`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => tags.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {} // other schemes: ignored, as Stripe's receivers do
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, t, body);
    if tags
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000;

    #[test]
    fn a_signature_made_now_verifies() {
        let h = sign(b"secret", NOW, b"{\"a\":1}");
        assert!(h.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(
            verify(b"secret", &h, b"{\"a\":1}", NOW + 10, TOLERANCE_SECS),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_or_secret_does_not_verify() {
        let h = sign(b"secret", NOW, b"body");
        assert_eq!(
            verify(b"secret", &h, b"bodY", NOW, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &h, b"body", NOW, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_or_future_timestamp_is_stale() {
        let h = sign(b"s", NOW, b"b");
        assert_eq!(
            verify(b"s", &h, b"b", NOW + 301, TOLERANCE_SECS),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"s", &h, b"b", NOW - 301, TOLERANCE_SECS),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(b"s", &h, b"b", NOW + 300, TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn a_forged_timestamp_breaks_the_signature() {
        let h = sign(b"s", NOW - 3600, b"b");
        let forged = h.replace(&format!("t={}", NOW - 3600), &format!("t={NOW}"));
        assert_eq!(
            verify(b"s", &forged, b"b", NOW, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for h in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(b"s", h, b"b", 1, TOLERANCE_SECS),
                Err(SignatureError::Malformed),
                "{h:?}"
            );
        }
    }

    #[test]
    fn any_matching_v1_entry_is_enough_for_secret_rotation() {
        let good = sign(b"new", NOW, b"b");
        let tag = good.split("v1=").nth(1).unwrap_or_default();
        let h = format!("t={NOW},v1={},v1={tag}", "00".repeat(32));
        assert_eq!(verify(b"new", &h, b"b", NOW, TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn events_round_trip_as_stripe_like_json() {
        let ev = ProviderEvent {
            id: "evt_pay_1_failed".into(),
            kind: FAILED.into(),
            data: ProviderEventData {
                payment_id: "pay_1".into(),
                resource_id: "res_1".into(),
                reason: "card_declined".into(),
            },
            created: NOW,
        };
        let json = serde_json::to_value(&ev).unwrap_or_default();
        assert_eq!(json["type"], FAILED);
        assert_eq!(json["data"]["payment_id"], "pay_1");
        let back: ProviderEvent = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, ev);
        assert_eq!(back.outcome(), Some(CheckoutOutcome::Failed));
    }
}
