//! Turning an [`Email`] into an RFC 5322 message, and an email id into a name
//! that is safe both as a file name and as the left part of a `Message-ID`.

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use sha2::{Digest, Sha256};
use slotstream_runtime::{EffectError, Email};

use crate::MailError;

/// The sender used when none is configured.
pub const DEFAULT_FROM: &str = "Slotstream <no-reply@slotstream.local>";

/// The domain on the right of every `Message-ID` we generate.
pub const MESSAGE_ID_DOMAIN: &str = "slotstream.local";

/// Longest escaped id kept as is; longer ones are shortened with a hash so
/// file names stay far below the usual 255-byte limit.
const MAX_ESCAPED_LEN: usize = 150;
/// How much of a too-long escaped id is kept before the `~` and the hash.
const LONG_PREFIX_LEN: usize = MAX_ESCAPED_LEN - 1 - 64;

/// Maps an email id to a non-empty string of `[A-Za-z0-9_.~%-]` that is a
/// safe file name and a valid `dot-atom` for a `Message-ID`; the same id always
/// gives the same result and different ids give different results.
///
/// ASCII letters, digits, `_` and `-` are kept; a `.` is kept only between two
/// of those (so no leading dot, no `..`, no trailing dot); every other
/// byte of the UTF-8 encoding becomes `%XX` (upper-case hex), `%` included, so
/// the mapping can be undone and cannot collide. Results longer than 150 bytes
/// become their first 85 bytes, `~` (never produced otherwise) and the SHA-256
/// of the id in hex. An empty id maps to `%` alone, which no other id produces.
pub fn escape_id(id: &str) -> String {
    if id.is_empty() {
        return "%".to_owned();
    }
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    for (i, &b) in bytes.iter().enumerate() {
        let inner_dot = b == b'.'
            && i > 0
            && plain(bytes[i - 1])
            && bytes.get(i + 1).is_some_and(|&n| plain(n));
        if plain(b) || inner_dot {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push_str(&format!("{b:02X}"));
        }
    }
    if out.len() > MAX_ESCAPED_LEN {
        let digest = hex::encode(Sha256::digest(bytes));
        out.truncate(LONG_PREFIX_LEN);
        out.push('~');
        out.push_str(&digest);
    }
    out
}

/// The `Message-ID` header value for an email id: `<{escape_id(id)}@slotstream.local>`.
/// Stable, so receivers can drop a duplicate that slipped past our ledger.
pub fn message_id(id: &str) -> String {
    format!("<{}@{MESSAGE_ID_DOMAIN}>", escape_id(id))
}

/// Parses a configured sender (`Name <user@domain>` or `user@domain`).
pub(crate) fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    from.parse()
        .map_err(|e: lettre::address::AddressError| MailError::InvalidFrom {
            from: from.to_owned(),
            reason: e.to_string(),
        })
}

/// Builds the message for `email`. A malformed recipient can never be sent, so
/// it is a [`EffectError::Permanent`] failure.
pub(crate) fn compose(email: &Email, from: &Mailbox) -> Result<Message, EffectError> {
    if email.id.is_empty() {
        return Err(EffectError::Permanent(
            "email has an empty id, so it cannot be sent exactly once".into(),
        ));
    }
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e: lettre::address::AddressError| {
            EffectError::Permanent(format!("invalid recipient address {:?}: {e}", email.to))
        })?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.as_str())
        .date_now()
        .message_id(Some(message_id(&email.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(email.body.clone())
        .map_err(|e| EffectError::Permanent(format!("cannot build email {:?}: {e}", email.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_kept_as_they_are() {
        assert_eq!(
            escape_id("booking-confirmed_bk.42"),
            "booking-confirmed_bk.42"
        );
        assert_eq!(message_id("otp-1"), "<otp-1@slotstream.local>");
    }

    #[test]
    fn path_separators_and_dot_runs_are_escaped() {
        assert_eq!(escape_id("../etc/passwd"), "%2E%2E%2Fetc%2Fpasswd");
        assert_eq!(escape_id("."), "%2E");
        assert_eq!(escape_id("a..b."), "a%2E%2Eb%2E");
        assert_eq!(escape_id("50%"), "50%25");
    }

    #[test]
    fn non_ascii_is_escaped_byte_by_byte() {
        assert_eq!(escape_id("é:1"), "%C3%A9%3A1");
    }

    #[test]
    fn ids_that_differ_only_in_escapable_characters_do_not_collide() {
        let ids = ["a/b", "a%2Fb", "a_b", "a.b", "a..b", "a%b", "", "%"];
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            assert!(seen.insert(escape_id(id)), "collision for {id:?}");
        }
    }

    #[test]
    fn very_long_ids_are_shortened_with_a_hash_and_stay_distinct() {
        let a = "x".repeat(400);
        let b = format!("{}y", "x".repeat(399));
        let (ea, eb) = (escape_id(&a), escape_id(&b));
        assert_eq!(ea.len(), MAX_ESCAPED_LEN);
        assert!(ea.contains('~'));
        assert_ne!(ea, eb);
        assert_eq!(ea, escape_id(&a));
    }

    #[test]
    fn escaped_ids_use_only_file_and_message_id_safe_characters() {
        for id in ["a b<c>@d", "../..", "\u{0}\n", "日本", "~"] {
            let e = escape_id(id);
            assert!(!e.starts_with('.') && !e.ends_with('.') && !e.contains(".."));
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.~%-".contains(&b)),
                "{e}"
            );
        }
    }

    #[test]
    fn a_malformed_recipient_is_a_permanent_failure() {
        let email = Email {
            id: "x".into(),
            to: "not an address".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        let from = parse_from(DEFAULT_FROM).expect("default sender parses");
        assert!(matches!(
            compose(&email, &from),
            Err(EffectError::Permanent(_))
        ));
    }

    #[test]
    fn an_empty_id_is_a_permanent_failure() {
        let email = Email {
            id: String::new(),
            to: "a@example.com".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        let from = parse_from(DEFAULT_FROM).expect("default sender parses");
        assert!(matches!(
            compose(&email, &from),
            Err(EffectError::Permanent(_))
        ));
    }

    #[test]
    fn a_bad_sender_is_rejected_at_configuration() {
        assert!(matches!(
            parse_from("nobody"),
            Err(MailError::InvalidFrom { .. })
        ));
    }
}
