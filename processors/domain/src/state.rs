//! The per-partition state store's vocabulary: keys, stored records, and the
//! idempotency ledger's entries.
//!
//! Every aggregate's `apply` returns the [`StateKey`]s whose record changed;
//! `record(key)` gives the new [`StateRecord`] (or `None` to delete it), and
//! `load(record)` rebuilds a partition from them in any order.

use crate::booking::{Booking, BookingEvent, BookingEventV1, BookingV1, BookingV2};
use crate::identity::{Account, ApiKey, IdentityEvent, LoginLock, Webhook};
use crate::ids::{BookingId, CommandId, PaymentId, ResourceId};
use crate::payment::{Payment, PaymentEvent, PaymentV1, PaymentV2, PaymentV3};
use crate::resource::{Resource, ResourceV1};
use crate::time::{HOUR, Millis};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A key of the per-partition state store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StateKey {
    /// `r/<id>`: a resource.
    Resource(ResourceId),
    /// `b/<id>`: a booking.
    Booking(BookingId),
    /// `p/<id>`: a payment.
    Payment(PaymentId),
    /// `a/<email>`: an account, by normalized email.
    Account(String),
    /// `c/<id>`: an idempotency-ledger entry.
    Command(CommandId),
    /// `l/<email>`: a login lock, by normalized email.
    Lock(String),
    /// `k/<key id>`: an API key, by its id (stored in its owner's partition).
    ApiKey(String),
    /// `w/<webhook id>`: a webhook subscription (in its owner's partition).
    Webhook(String),
}

impl StateKey {
    /// The key as a string: a one-letter kind, a slash, then the id verbatim
    /// (`"r/<id>"`, `"b/<id>"`, `"p/<id>"`, `"a/<email>"`, `"c/<id>"`,
    /// `"l/<email>"`, `"k/<key id>"`).
    pub fn encode(&self) -> String {
        self.to_string()
    }

    /// Parses what [`StateKey::encode`] wrote; `None` for anything else.
    pub fn decode(s: &str) -> Option<StateKey> {
        let (kind, id) = s.split_once('/')?;
        Some(match kind {
            "r" => StateKey::Resource(ResourceId::new(id)),
            "b" => StateKey::Booking(BookingId::new(id)),
            "p" => StateKey::Payment(PaymentId::new(id)),
            "a" => StateKey::Account(id.to_owned()),
            "c" => StateKey::Command(CommandId::new(id)),
            "l" => StateKey::Lock(id.to_owned()),
            "k" => StateKey::ApiKey(id.to_owned()),
            "w" => StateKey::Webhook(id.to_owned()),
            _ => return None,
        })
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateKey::Resource(id) => write!(f, "r/{id}"),
            StateKey::Booking(id) => write!(f, "b/{id}"),
            StateKey::Payment(id) => write!(f, "p/{id}"),
            StateKey::Account(email) => write!(f, "a/{email}"),
            StateKey::Command(id) => write!(f, "c/{id}"),
            StateKey::Lock(email) => write!(f, "l/{email}"),
            StateKey::ApiKey(id) => write!(f, "k/{id}"),
            StateKey::Webhook(id) => write!(f, "w/{id}"),
        }
    }
}

/// A stored record (serialized by the caller with postcard, in the
/// processors' stores and Kafka changelogs).
///
/// Postcard writes a variant as its position and a struct as its fields in
/// order, with no names: **never reorder or remove variants, and never add a
/// field to a stored struct**. A new layout is a new variant appended at the
/// end; the old variant stays, is read, and is converted on load (as
/// [`StateRecord::PaymentV1`] is). The tests below pin the positions and
/// bytes written by earlier releases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateRecord {
    /// Under [`StateKey::Resource`], as stored before resources had
    /// schedules and rules: read, never written (loads as a [`Resource`]).
    ResourceV1(ResourceV1),
    /// Under [`StateKey::Booking`], as stored before checkouts moved the
    /// hold's deadline: read, never written (loads as a [`Booking`]).
    BookingV1(BookingV1),
    /// Under [`StateKey::Payment`], as stored before payments knew their
    /// booking's start: read, never written (loads as a [`Payment`]).
    PaymentV1(PaymentV1),
    /// Under [`StateKey::Account`].
    Account(Account),
    /// Under [`StateKey::Command`].
    Command(CommandRecord),
    /// Under [`StateKey::Payment`], as stored before payments knew their
    /// booking's hold deadline: read, never written (loads as a [`Payment`]).
    PaymentV2(PaymentV2),
    /// Under [`StateKey::Lock`] (a new variant goes last: stored records
    /// name variants by position).
    Lock(LoginLock),
    /// Under [`StateKey::Payment`], as stored before payments could be
    /// unknown and reconciled: read, never written (loads as a [`Payment`]).
    PaymentV3(PaymentV3),
    /// Under [`StateKey::Booking`], as stored before reschedules (no
    /// lineage): read, never written (loads as a [`Booking`]).
    BookingV2(BookingV2),
    /// Under [`StateKey::Payment`]: the current layout.
    Payment(Payment),
    /// Under [`StateKey::Resource`]: the current layout.
    Resource(Resource),
    /// Under [`StateKey::Booking`]: the current layout.
    Booking(Booking),
    /// Under [`StateKey::ApiKey`] (appended after `Booking`, 11).
    ApiKey(ApiKey),
    /// Under [`StateKey::Webhook`] (appended after `ApiKey`, 12).
    Webhook(Webhook),
}

impl StateRecord {
    /// The key this record is stored under.
    pub fn key(&self) -> StateKey {
        match self {
            StateRecord::ResourceV1(r) => StateKey::Resource(r.id.clone()),
            StateRecord::Resource(r) => StateKey::Resource(r.id.clone()),
            StateRecord::BookingV1(b) => StateKey::Booking(b.id.clone()),
            StateRecord::BookingV2(b) => StateKey::Booking(b.id.clone()),
            StateRecord::Booking(b) => StateKey::Booking(b.id.clone()),
            StateRecord::PaymentV1(p) => StateKey::Payment(p.id.clone()),
            StateRecord::PaymentV2(p) => StateKey::Payment(p.id.clone()),
            StateRecord::PaymentV3(p) => StateKey::Payment(p.id.clone()),
            StateRecord::Payment(p) => StateKey::Payment(p.id.clone()),
            StateRecord::Account(a) => StateKey::Account(a.email.clone()),
            StateRecord::Command(c) => StateKey::Command(c.command_id.clone()),
            StateRecord::Lock(l) => StateKey::Lock(l.locked.email.clone()),
            StateRecord::ApiKey(k) => StateKey::ApiKey(k.created.key_id.clone()),
            StateRecord::Webhook(w) => StateKey::Webhook(w.created.webhook_id.clone()),
        }
    }
}

/// How long the idempotency ledgers keep a first answer: the public contract
/// keeps an Idempotency-Key at least 24 hours; one more hour covers clock skew
/// between gateways. The processors prune their ledgers with it, and the
/// booking and payment partitions' `evict_settled` prune with it too, because
/// what may leave their state depends on what the ledger may still replay.
pub const COMMAND_RETENTION: Millis = 25 * HOUR;

/// One idempotency-ledger entry: the first answer given to a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// The command.
    pub command_id: CommandId,
    /// Hash of the request body it came with (`""` for commands without
    /// one: an empty hash matches any retry).
    pub request_hash: String,
    /// The answer, replayed to every retry with the same hash.
    pub answer: Answer,
    /// When it was answered; entries are pruned by this instant.
    pub at: Millis,
}

/// The first answer to a command, whichever aggregate gave it.
///
/// Stored whole (postcard, see [`StateRecord`]), so the events a ledger
/// keeps must keep their layout. The payment ledger keeps only
/// `CheckoutSubmitted` and `CheckoutRejected`; `PaymentIntentCreated` and
/// `PaymentCompleted`, which gained fields, are never stored here. The
/// booking ledger keeps `ResourceRegistered`, whose resource gained a
/// schedule and rules: booking answers are written under
/// [`Answer::Booking`], appended after the layout before them
/// ([`Answer::BookingV1`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// A booking-side answer as stored before resources had schedules:
    /// read, never written (loads as a [`BookingEvent`]).
    BookingV1(BookingEventV1),
    /// A payment-side answer.
    Payment(PaymentEvent),
    /// An identity-side answer.
    Identity(IdentityEvent),
    /// A booking-side answer: the current layout.
    Booking(BookingEvent),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_kind_round_trips_through_its_string_form() {
        let keys = [
            StateKey::Resource("room/1".into()),
            StateKey::Booking("b-1".into()),
            StateKey::Payment("p-1".into()),
            StateKey::Account("ann@example.com".into()),
            StateKey::Command("c-1".into()),
            StateKey::Command("".into()),
            StateKey::Lock("ann@example.com".into()),
            StateKey::ApiKey("0123abcd".into()),
        ];
        for key in keys {
            assert_eq!(StateKey::decode(&key.encode()), Some(key.clone()));
        }
        assert_eq!(StateKey::Resource("x".into()).encode(), "r/x");
        assert_eq!(StateKey::Account("a@b.c".into()).encode(), "a/a@b.c");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A succeeded payment `p1` (1000 EUR, webhook `evt-1`, created at 3,
    /// updated at 7) and the ledger entry of checkout `k1`, as the release
    /// before payments knew their booking's start stored them.
    const OLD_PAYMENT: &str =
        "0202703102623102723103616e6ed00f034555520200017501056576742d3100060e";
    const OLD_CHECKOUT_ANSWER: &str = "04026b3101680101026b310168027031026231027231000808";

    #[test]
    fn records_stored_by_the_previous_release_still_decode() {
        let Ok(StateRecord::PaymentV1(p)) = postcard::from_bytes(&hex(OLD_PAYMENT)) else {
            panic!("an old payment reads as the old layout")
        };
        assert_eq!(
            (p.id.as_str(), p.status, p.amount.amount, p.updated_at),
            ("p1", crate::payment::PaymentStatus::Succeeded, 1000, 7)
        );
        assert_eq!(p.provider_events, vec!["evt-1".to_owned()]);
        let Ok(StateRecord::Command(c)) = postcard::from_bytes(&hex(OLD_CHECKOUT_ANSWER)) else {
            panic!("an old ledger entry reads")
        };
        assert!(matches!(
            c.answer,
            Answer::Payment(PaymentEvent::CheckoutSubmitted(ref s)) if s.submitted_at == 4
        ));
        // Re-encoding the old layout gives the very same bytes.
        let again = postcard::to_stdvec(&StateRecord::PaymentV1(p)).expect("encode");
        assert_eq!(again, hex(OLD_PAYMENT));
    }

    #[test]
    fn a_payment_is_written_in_the_current_layout_under_its_own_variant() {
        let old: StateRecord = postcard::from_bytes(&hex(OLD_PAYMENT)).expect("old");
        let StateRecord::PaymentV1(v1) = old else {
            panic!("old layout")
        };
        let mut current = Payment::from(v1);
        current.booking_start = Some(100);
        current.paid_recorded_at = Some(8);
        current.hold_expires_at = Some(50);
        let rec = StateRecord::Payment(current);
        let bytes = postcard::to_stdvec(&rec).expect("encode");
        assert_eq!(bytes[0], 9, "the variant appended after Booking");
        assert_eq!(
            postcard::from_bytes::<StateRecord>(&bytes).ok(),
            Some(rec.clone())
        );
        assert_eq!(rec.key(), StateKey::Payment("p1".into()));
    }

    /// The release before payments could be unknown stored a payment as
    /// variant 7: the V2 fields, then `hold_expires_at`. Such a record
    /// still reads; one in `Processing` loads with its provider check due
    /// `ANSWER_WAIT` after its last change, so the reconciler asks about it.
    #[test]
    fn a_payment_stored_before_payments_could_be_unknown_still_decodes_and_is_checked() {
        let mut stored = vec![7];
        stored.extend_from_slice(&hex(OLD_PAYMENT)[1..]);
        // booking_start Some(50), paid_recorded_at None, hold_expires_at Some(60).
        stored.extend_from_slice(&[1, 100, 0, 1, 120]);
        let Ok(StateRecord::PaymentV3(mut p)) = postcard::from_bytes(&stored) else {
            panic!("the previous layout reads as PaymentV3")
        };
        assert_eq!(
            (p.booking_start, p.paid_recorded_at, p.hold_expires_at),
            (Some(50), None, Some(60))
        );
        let paid = Payment::from(p.clone());
        assert_eq!((paid.check_at, paid.checkout), (None, None));
        p.status = crate::payment::PaymentStatus::Processing;
        let at = p.updated_at;
        let open = Payment::from(p);
        assert_eq!(
            (open.check_at, open.submitted_at, open.checks),
            (Some(at + crate::payment::ANSWER_WAIT), Some(at), 0)
        );
        assert_eq!(
            open.checkout,
            Some(crate::payment::CheckoutOutcome::Succeeded)
        );
    }

    /// The previous release stored a payment as variant 5: the V1 fields,
    /// then `booking_start` and `paid_recorded_at`. Such a record still
    /// reads, and loads without a hold deadline.
    #[test]
    fn a_payment_stored_before_the_hold_deadline_was_known_still_decodes() {
        let mut stored = vec![5];
        stored.extend_from_slice(&hex(OLD_PAYMENT)[1..]);
        // Some(50), Some(4): postcard writes an option's tag, then the
        // zigzag varint of the i64 (50 -> 100, 4 -> 8).
        stored.extend_from_slice(&[1, 100, 1, 8]);
        let Ok(StateRecord::PaymentV2(p)) = postcard::from_bytes(&stored) else {
            panic!("the previous layout reads as PaymentV2")
        };
        assert_eq!((p.booking_start, p.paid_recorded_at), (Some(50), Some(4)));
        let loaded = Payment::from(p);
        assert_eq!(loaded.hold_expires_at, None);
        assert_eq!(
            postcard::to_stdvec(&StateRecord::PaymentV2(PaymentV2 {
                id: loaded.id.clone(),
                booking_id: loaded.booking_id.clone(),
                resource_id: loaded.resource_id.clone(),
                user_id: loaded.user_id.clone(),
                amount: loaded.amount.clone(),
                status: loaded.status,
                refunded: loaded.refunded,
                checkout_url: loaded.checkout_url.clone(),
                provider_events: loaded.provider_events.clone(),
                refunds: loaded.refunds,
                created_at: loaded.created_at,
                updated_at: loaded.updated_at,
                booking_start: loaded.booking_start,
                paid_recorded_at: loaded.paid_recorded_at,
            }))
            .ok(),
            Some(stored),
            "re-encoding gives the stored bytes"
        );
    }

    /// The fixture resource (`r1` of vendor `v`) as the release before
    /// schedules stored it: variant 0, then the fields of [`ResourceV1`].
    fn old_resource() -> ResourceV1 {
        let r = crate::fixtures::resource("r1", "v");
        ResourceV1 {
            id: r.id,
            vendor_id: r.vendor_id,
            name: r.name,
            kind: r.kind,
            price: r.price,
            timezone: r.timezone,
            slot_minutes: r.slot_minutes,
            min_minutes: r.min_minutes,
            max_minutes: r.max_minutes,
            cancellation_policy: r.cancellation_policy,
            created_at: r.created_at,
        }
    }

    const OLD_RESOURCE: &str =
        "00027231017604526f6f6d04726f6f6dd00f034555523c035554430f0fc0d10218023200";

    #[test]
    fn a_resource_stored_before_schedules_still_decodes_and_upgrades() {
        let bytes = hex(OLD_RESOURCE);
        let Ok(StateRecord::ResourceV1(old)) = postcard::from_bytes(&bytes) else {
            panic!("an old resource reads as the old layout")
        };
        assert_eq!(old, old_resource());
        assert_eq!(
            postcard::to_stdvec(&StateRecord::ResourceV1(old.clone())).ok(),
            Some(bytes)
        );
        let up = Resource::from(old);
        assert_eq!(up, crate::fixtures::resource("r1", "v"));
        assert!(up.unrestricted());
        // The current layout goes under the variant appended last.
        let now = postcard::to_stdvec(&StateRecord::Resource(up.clone())).expect("encode");
        assert_eq!(now[0], 10);
        assert_eq!(
            postcard::from_bytes::<StateRecord>(&now).ok(),
            Some(StateRecord::Resource(up))
        );
    }

    #[test]
    fn a_registration_answer_stored_before_schedules_still_decodes() {
        use crate::booking::{BookingEventV1, ResourceRegisteredV1};
        let rec = StateRecord::Command(CommandRecord {
            command_id: "k1".into(),
            request_hash: String::new(),
            answer: Answer::BookingV1(BookingEventV1::ResourceRegistered(ResourceRegisteredV1 {
                command_id: "k1".into(),
                resource: old_resource(),
            })),
            at: 5,
        });
        let bytes = postcard::to_stdvec(&rec).expect("encode");
        // Variant 4 (Command), then the id, the empty hash, then answer
        // variant 0 and event variant 0: the old `Answer::Booking` layout.
        assert_eq!(&bytes[..6], &[4, 2, b'k', b'1', 0, 0]);
        assert_eq!(bytes[6], 0);
        let Ok(StateRecord::Command(c)) = postcard::from_bytes(&bytes) else {
            panic!("reads")
        };
        let Answer::BookingV1(ev) = c.answer else {
            panic!("old layout")
        };
        let BookingEvent::ResourceRegistered(e) = BookingEvent::from(ev) else {
            panic!("a registration")
        };
        assert_eq!(e.resource, crate::fixtures::resource("r1", "v"));
    }

    #[test]
    fn an_api_key_is_stored_under_the_variant_appended_after_booking() {
        let rec = StateRecord::ApiKey(ApiKey {
            created: crate::identity::ApiKeyCreated {
                command_id: "c".into(),
                key_id: "k1".into(),
                owner_id: "v".into(),
                owner_email: "v@example.com".into(),
                name: "n".into(),
                prefix: "sk_live_k1".into(),
                secret_hash: "00".into(),
                scopes: vec!["bookings:write".into()],
                expires_at: None,
                rate_per_second: Some(5),
                burst: None,
                created_at: 1,
            },
            revoked: None,
        });
        let bytes = postcard::to_stdvec(&rec).expect("encode");
        assert_eq!(bytes[0], 12);
        assert_eq!(
            postcard::from_bytes::<StateRecord>(&bytes).ok(),
            Some(rec.clone())
        );
        assert_eq!(rec.key(), StateKey::ApiKey("k1".into()));
    }

    #[test]
    fn a_webhook_is_stored_under_the_variant_appended_after_api_key() {
        let rec = StateRecord::Webhook(Webhook {
            created: crate::identity::WebhookCreated {
                command_id: "c".into(),
                webhook_id: "wh1".into(),
                owner_id: "v".into(),
                owner_email: "v@example.com".into(),
                url: "https://example.com/h".into(),
                events: vec!["*".into()],
                description: None,
                created_at: 1,
            },
            deleted: None,
        });
        let bytes = postcard::to_stdvec(&rec).expect("encode");
        assert_eq!(bytes[0], 13);
        assert_eq!(
            postcard::from_bytes::<StateRecord>(&bytes).ok(),
            Some(rec.clone())
        );
        assert_eq!(rec.key(), StateKey::Webhook("wh1".into()));
        assert_eq!(
            StateKey::decode(&rec.key().encode()),
            Some(StateKey::Webhook("wh1".into()))
        );
    }

    #[test]
    fn strings_that_are_not_keys_do_not_decode() {
        assert_eq!(StateKey::decode("x/1"), None);
        assert_eq!(StateKey::decode("r1"), None);
        assert_eq!(StateKey::decode(""), None);
    }
}
