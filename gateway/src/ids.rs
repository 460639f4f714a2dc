//! Ids the gateway makes, and the derivations that make client retries
//! idempotent.
//!
//! A keyed request's command id is `hex(sha256(user_id || 0x00 || key))[..32]`
//! and the booking and payment ids it proposes are derived from that command
//! id *and the request hash*, so a retry proposes exactly the same ids and the
//! processor's ledger recognises it. The hash is in the derivation because the
//! ledger forgets a key after 25 h while a booking lives on (until four days
//! after it ends): a client reusing an old key for another interval must not
//! propose the id of a booking the processor has since evicted, or the views
//! would overwrite that booking's row with the new one. The same key with the
//! same body proposes the same ids, and is either a retry the ledger answers,
//! or (after 25 h) a request for the same interval, which the processor
//! refuses while the booking is live and which asks for the past once the
//! booking could have been evicted. The request hash is the SHA-256 of the validated body in
//! canonical JSON (keys sorted, no whitespace), so a retry that differs only in
//! formatting, key order or time-zone notation is the *same* request.

use serde_json::Value;
use sha2::{Digest, Sha256};
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn fresh() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The command id of a request with `Idempotency-Key: key` by `user`.
pub fn command_id(user: &UserId, key: &str) -> CommandId {
    let mut h = sha256_hex(&[user.as_str().as_bytes(), &[0], key.as_bytes()]);
    h.truncate(32);
    CommandId(h)
}

/// A command id for a request without an idempotency key.
pub fn fresh_command_id() -> CommandId {
    CommandId(fresh())
}

fn derived(prefix: &str, purpose: &[u8], cmd: &CommandId, request_hash: Option<&str>) -> String {
    let h = match request_hash {
        Some(hash) => sha256_hex(&[
            purpose,
            &[0],
            cmd.as_str().as_bytes(),
            &[0],
            hash.as_bytes(),
        ]),
        None => sha256_hex(&[purpose, &[0], cmd.as_str().as_bytes()]),
    };
    format!("{prefix}{}", &h[..32])
}

/// The booking id a keyed booking request proposes: from its command id and
/// its request hash (see the module's docs for why both).
pub fn booking_id_for(cmd: &CommandId, request_hash: &str) -> BookingId {
    BookingId(derived("bk_", b"booking", cmd, Some(request_hash)))
}

/// The payment id a keyed booking request proposes, from the same two.
pub fn payment_id_for(cmd: &CommandId, request_hash: &str) -> PaymentId {
    PaymentId(derived("pay_", b"payment", cmd, Some(request_hash)))
}

/// The resource id a keyed resource registration proposes. Resources are
/// never evicted, so the command id alone is enough: a key reused after the
/// ledger forgot it proposes the id of a live resource, which is refused.
pub fn resource_id_for(cmd: &CommandId) -> ResourceId {
    ResourceId(derived("res_", b"resource", cmd, None))
}

/// A fresh resource id.
pub fn new_resource_id() -> ResourceId {
    ResourceId(format!("res_{}", fresh()))
}

/// A fresh user id.
pub fn new_user_id() -> UserId {
    UserId(format!("usr_{}", fresh()))
}

/// Canonical JSON: object keys sorted, no insignificant whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// `hex(sha256(canonical JSON of body))`.
pub fn request_hash(body: &Value) -> String {
    sha256_hex(&[canonical_json(body).as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_command_id_is_the_first_32_hex_digits_of_sha256_of_user_nul_key() {
        let id = command_id(&UserId::from("usr_1"), "key-1");
        let full = hex::encode(Sha256::digest(b"usr_1\0key-1"));
        assert_eq!(id.as_str(), &full[..32]);
        assert_ne!(id, command_id(&UserId::from("usr_2"), "key-1"));
        assert_ne!(id, command_id(&UserId::from("usr_1"), "key-2"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            command_id(&UserId::from("ab"), "c"),
            command_id(&UserId::from("a"), "bc")
        );
    }

    #[test]
    fn a_retry_proposes_the_same_booking_and_payment_ids() {
        let cmd = command_id(&UserId::from("usr_1"), "k");
        let body = request_hash(&json!({"start": 1, "end": 2}));
        assert_eq!(
            booking_id_for(&cmd, &body),
            booking_id_for(&cmd.clone(), &body)
        );
        assert_eq!(payment_id_for(&cmd, &body), payment_id_for(&cmd, &body));
        assert!(booking_id_for(&cmd, &body).as_str().starts_with("bk_"));
        assert!(payment_id_for(&cmd, &body).as_str().starts_with("pay_"));
        assert_eq!(booking_id_for(&cmd, &body).as_str().len(), 3 + 32);
        let other = command_id(&UserId::from("usr_1"), "k2");
        assert_ne!(booking_id_for(&cmd, &body), booking_id_for(&other, &body));
        assert_ne!(
            payment_id_for(&cmd, &body).as_str()[4..],
            booking_id_for(&cmd, &body).as_str()[3..]
        );
    }

    #[test]
    fn a_key_reused_for_another_body_proposes_other_ids() {
        // After the ledger forgot the key, the old booking may have left the
        // processor's state while its view row stays: the new request must
        // not propose the old ids.
        let cmd = command_id(&UserId::from("usr_1"), "k");
        let first = request_hash(&json!({"start": 1, "end": 2}));
        let second = request_hash(&json!({"start": 3, "end": 4}));
        assert_ne!(booking_id_for(&cmd, &first), booking_id_for(&cmd, &second));
        assert_ne!(payment_id_for(&cmd, &first), payment_id_for(&cmd, &second));
    }

    #[test]
    fn fresh_ids_have_their_prefix_and_differ() {
        assert!(new_user_id().as_str().starts_with("usr_"));
        assert!(new_resource_id().as_str().starts_with("res_"));
        assert_ne!(new_resource_id(), new_resource_id());
        assert_ne!(fresh_command_id(), fresh_command_id());
    }

    #[test]
    fn the_request_hash_ignores_key_order_and_whitespace_but_not_values() {
        let a = json!({"resource_id": "res_1", "start": 1, "nested": {"b": [1, 2], "a": null}});
        let b: Value = serde_json::from_str(
            r#"{ "nested" : {"a":null,"b":[1,2]}, "start":1, "resource_id":"res_1" }"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"nested":{"a":null,"b":[1,2]},"resource_id":"res_1","start":1}"#
        );
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(
            request_hash(&a),
            request_hash(&json!({"resource_id": "res_1", "start": 2}))
        );
        assert_eq!(request_hash(&a).len(), 64);
    }

    #[test]
    fn canonical_json_escapes_strings() {
        assert_eq!(
            canonical_json(&json!({"q\"k": "a\nb"})),
            r#"{"q\"k":"a\nb"}"#
        );
    }
}
