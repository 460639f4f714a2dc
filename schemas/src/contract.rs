//! The values of topic records: envelopes around commands and events, replies to
//! waiting gateways, dead letters; and the [`Contract`] that ties each to its
//! subject and schema.

use crate::codec::CodecError;
use crate::declare::avro_record;
use crate::fields::{Avro, AvroUnion, mapping};
use crate::registry::SubjectIdx;
use apache_avro::Schema;
use apache_avro::types::Value;
use slotstream_domain::booking::{BookingCommand, BookingEvent};
use slotstream_domain::identity::{IdentityCommand, IdentityEvent};
use slotstream_domain::payment::{PaymentCommand, PaymentEvent};
use slotstream_domain::{CommandId, Millis};

/// A value that is the whole value of a topic record.
pub trait Contract: Sized {
    /// Confluent subject (TopicNameStrategy): `"<topic>-value"`.
    const SUBJECT: &'static str;
    /// The top-level schema, every reference resolved (parsed once per process).
    fn schema() -> &'static Schema;
    /// The Avro value, shaped like [`Contract::schema`].
    fn to_avro(&self) -> Value;
    /// Reads a value already resolved to [`Contract::schema`] (our reader schema).
    ///
    /// # Errors
    /// [`CodecError::Mapping`] when the value does not have the schema's shape
    /// or holds something the domain type cannot (a negative `u32`, an
    /// unknown enum symbol or union branch).
    fn from_avro(v: Value) -> Result<Self, CodecError>;
}

/// The value of a record on a command or event topic: one command or event
/// with the record's own id, time and reply address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<T> {
    /// Unique id of this record; consumers deduplicate on it.
    pub event_id: String,
    /// When the producer wrote it.
    pub occurred_at: Millis,
    /// The gateway instance waiting for the answer (its key on the replies
    /// topic), or `None` when nobody waits.
    pub reply_to: Option<String>,
    /// The command or event.
    pub payload: T,
}

/// The event that answers a command, whichever processor decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyPayload {
    /// A booking event.
    Booking(BookingEvent),
    /// A payment event.
    Payment(PaymentEvent),
    /// An identity event.
    Identity(IdentityEvent),
}

/// The value of a record on the replies topic (keyed by the waiting gateway's
/// instance id): the answer to one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Unique id of this record.
    pub event_id: String,
    /// When the producer wrote it.
    pub occurred_at: Millis,
    /// The command this answers (what the gateway waits on).
    pub command_id: CommandId,
    /// The answering event.
    pub payload: ReplyPayload,
}

/// The value of a record on the dead-letters topic (keyed by the original
/// topic): a record that could not be decoded or handled, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Topic the record came from.
    pub topic: String,
    /// Its partition (must fit an Avro `int`, as Kafka partitions do).
    pub partition: u32,
    /// Its offset (must fit an Avro `long`, as Kafka offsets do).
    pub offset: u64,
    /// Its key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
    /// Why it was dead-lettered.
    pub reason: String,
    /// When it was dead-lettered.
    pub dead_lettered_at: Millis,
}

/// Implements [`Contract`] for a type declared with `avro_record!`, on the
/// schema of `$subject`.
macro_rules! contract {
    ($ty:ty, $subject:ident) => {
        impl Contract for $ty {
            const SUBJECT: &'static str = SubjectIdx::$subject.subject();

            fn schema() -> &'static Schema {
                SubjectIdx::$subject.schema()
            }

            fn to_avro(&self) -> Value {
                Avro::to_value(self)
            }

            fn from_avro(v: Value) -> Result<Self, CodecError> {
                Avro::from_value(v)
            }
        }
    };
}

/// The envelope record of a command or event topic: one declaration for the
/// six (they differ only in their name and their payload union).
macro_rules! envelope_contract {
    ($payload:ty, $subject:ident, $record:literal) => {
        avro_record!(Envelope<$payload> as $record {
            event_id: Str,
            occurred_at: TimestampMillis,
            reply_to: Nullable<Str>,
            payload: Union,
        });
        contract!(Envelope<$payload>, $subject);
    };
}

envelope_contract!(BookingCommand, BookingCommands, "BookingCommandEnvelope");
envelope_contract!(BookingEvent, BookingEvents, "BookingEventEnvelope");
envelope_contract!(PaymentCommand, PaymentCommands, "PaymentCommandEnvelope");
envelope_contract!(PaymentEvent, PaymentEvents, "PaymentEventEnvelope");
envelope_contract!(IdentityCommand, IdentityCommands, "IdentityCommandEnvelope");
envelope_contract!(IdentityEvent, IdentityEvents, "IdentityEventEnvelope");

/// Which event union a run of reply branches comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Booking,
    Payment,
    Identity,
}

/// The reply union, laid out as runs of one event union's branches:
/// `(source, first branch there, how many)`, in the reply union's order.
/// A union only grows at its end, so the events each union gained after the
/// replies were first laid out follow as new runs: the booking events
/// before the payment and identity events, then the later booking events
/// (`BookingPaymentStarted`, `BookingPaymentDelayed`), then the later payment
/// event (`PaymentStatusUnknown`), then `ResourceScheduleChanged`, then the
/// refund checks (`RefundUnconfirmed`, `RefundConfirmed`), then
/// `BookingRescheduled`, then the API-key events (`ApiKeyCreated`,
/// `ApiKeyRevoked`), then `PaymentBookingRescheduled` (never a reply: a
/// reaction to a booking's move; every event has a branch all the same),
/// then the webhook events (`WebhookCreated`, `WebhookDeleted`), the
/// identity union's end. The round-trip and wire tests check the layout
/// against `Reply.avsc`.
const REPLY_RUNS: [(Source, u32, u32); 11] = [
    (Source::Booking, 0, 9),
    (Source::Payment, 0, 7),
    (Source::Identity, 0, 9),
    (Source::Booking, 9, 2),
    (Source::Payment, 7, 1),
    (Source::Booking, 11, 1),
    (Source::Payment, 8, 2),
    (Source::Booking, 12, 1),
    (Source::Identity, 9, 2),
    (Source::Payment, 10, 1),
    (Source::Identity, 11, 2),
];

// The runs add up to every branch of the three unions (checked at build).
const _: () = {
    let (mut i, mut sum) = (0, 0);
    while i < REPLY_RUNS.len() {
        sum += REPLY_RUNS[i].2;
        i += 1;
    }
    assert!(sum == <ReplyPayload as AvroUnion>::BRANCHES);
};

impl AvroUnion for ReplyPayload {
    const BRANCHES: u32 = BookingEvent::BRANCHES + PaymentEvent::BRANCHES + IdentityEvent::BRANCHES;

    fn to_branch(&self) -> (u32, Value) {
        let (source, (i, v)) = match self {
            Self::Booking(e) => (Source::Booking, e.to_branch()),
            Self::Payment(e) => (Source::Payment, e.to_branch()),
            Self::Identity(e) => (Source::Identity, e.to_branch()),
        };
        let mut base = 0;
        for (s, first, len) in REPLY_RUNS {
            if s == source && (first..first + len).contains(&i) {
                return (base + i - first, v);
            }
            base += len;
        }
        // Every branch of the three unions is in a run (a unit test checks
        // that the runs cover them exactly); reaching here is a build defect.
        unreachable!("reply union has no run for branch {i}")
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        let mut base = 0;
        for (source, first, len) in REPLY_RUNS {
            if index < base + len {
                let i = first + index - base;
                return Ok(match source {
                    Source::Booking => Self::Booking(BookingEvent::from_branch(i, v)?),
                    Source::Payment => Self::Payment(PaymentEvent::from_branch(i, v)?),
                    Source::Identity => Self::Identity(IdentityEvent::from_branch(i, v)?),
                });
            }
            base += len;
        }
        Err(mapping(format!("Reply: no branch {index}")))
    }
}

#[cfg(test)]
mod reply_runs {
    use super::*;

    #[test]
    fn the_runs_cover_every_branch_of_each_union_once_in_order() {
        for (source, total) in [
            (Source::Booking, BookingEvent::BRANCHES),
            (Source::Payment, PaymentEvent::BRANCHES),
            (Source::Identity, IdentityEvent::BRANCHES),
        ] {
            let mut next = 0;
            for (s, first, len) in REPLY_RUNS {
                if s == source {
                    assert_eq!(first, next, "runs of a union follow each other");
                    next += len;
                }
            }
            assert_eq!(next, total, "every branch is in a run");
        }
        let sum: u32 = REPLY_RUNS.iter().map(|r| r.2).sum();
        assert_eq!(sum, ReplyPayload::BRANCHES);
    }
}

avro_record!(Reply {
    event_id: Str,
    occurred_at: TimestampMillis,
    command_id: Str,
    payload: Union,
});
contract!(Reply, Replies);

avro_record!(DeadLetter {
    topic: Str,
    partition: Int,
    offset: Long,
    key: Bytes,
    value: Bytes,
    reason: Str,
    dead_lettered_at: TimestampMillis,
});
contract!(DeadLetter, DeadLetters);
