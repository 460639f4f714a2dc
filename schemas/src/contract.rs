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

/// How many booking-event branches lead the reply union: the booking events
/// that existed when the replies were first laid out. Booking events added
/// since go after the identity events (a union only grows at its end).
const LEADING_BOOKING: u32 = 9;

/// The reply union is the first [`LEADING_BOOKING`] booking event branches,
/// the payment and identity event unions, then the later booking events,
/// laid end to end in that order. (An identity event added later would
/// have to go after those, the same way.)
impl AvroUnion for ReplyPayload {
    const BRANCHES: u32 = BookingEvent::BRANCHES + PaymentEvent::BRANCHES + IdentityEvent::BRANCHES;

    fn to_branch(&self) -> (u32, Value) {
        const PAYMENT: u32 = LEADING_BOOKING;
        const IDENTITY: u32 = PAYMENT + PaymentEvent::BRANCHES;
        const LATE_BOOKING: u32 = IDENTITY + IdentityEvent::BRANCHES;
        match self {
            Self::Booking(e) => {
                let (i, v) = e.to_branch();
                if i < LEADING_BOOKING {
                    (i, v)
                } else {
                    (LATE_BOOKING + i - LEADING_BOOKING, v)
                }
            }
            Self::Payment(e) => {
                let (i, v) = e.to_branch();
                (PAYMENT + i, v)
            }
            Self::Identity(e) => {
                let (i, v) = e.to_branch();
                (IDENTITY + i, v)
            }
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        const PAYMENT: u32 = LEADING_BOOKING;
        const IDENTITY: u32 = PAYMENT + PaymentEvent::BRANCHES;
        const LATE_BOOKING: u32 = IDENTITY + IdentityEvent::BRANCHES;
        Ok(match index {
            i if i < PAYMENT => Self::Booking(BookingEvent::from_branch(i, v)?),
            i if i < IDENTITY => Self::Payment(PaymentEvent::from_branch(i - PAYMENT, v)?),
            i if i < LATE_BOOKING => Self::Identity(IdentityEvent::from_branch(i - IDENTITY, v)?),
            i if i < Self::BRANCHES => Self::Booking(BookingEvent::from_branch(
                LEADING_BOOKING + i - LATE_BOOKING,
                v,
            )?),
            n => return Err(mapping(format!("Reply: no branch {n}"))),
        })
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
