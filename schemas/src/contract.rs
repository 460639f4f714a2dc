//! The values of topic records: envelopes around commands and events, replies to
//! waiting gateways, dead letters; and the [`Contract`] that ties each to its
//! subject and schema.

use crate::codec::CodecError;
use crate::fields::{AvroUnion, field, long_u64, mapping, opt_string, record, string, timestamp};
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

fn envelope_to_avro<T: AvroUnion>(e: &Envelope<T>) -> Value {
    let (index, payload) = e.payload.to_branch();
    Value::Record(vec![
        field("event_id", string(&e.event_id)),
        field("occurred_at", timestamp(e.occurred_at)),
        field("reply_to", opt_string(e.reply_to.as_deref())),
        field("payload", Value::Union(index, Box::new(payload))),
    ])
}

fn envelope_from_avro<T: AvroUnion>(
    name: &'static str,
    v: Value,
) -> Result<Envelope<T>, CodecError> {
    record(name, v, |f| {
        Ok(Envelope {
            event_id: f.string("event_id")?,
            occurred_at: f.timestamp("occurred_at")?,
            reply_to: f.opt_string("reply_to")?,
            payload: f.union("payload")?,
        })
    })
}

macro_rules! envelope_contract {
    ($payload:ty, $subject:ident, $record:literal) => {
        impl Contract for Envelope<$payload> {
            const SUBJECT: &'static str = SubjectIdx::$subject.subject();

            fn schema() -> &'static Schema {
                SubjectIdx::$subject.schema()
            }

            fn to_avro(&self) -> Value {
                envelope_to_avro(self)
            }

            fn from_avro(v: Value) -> Result<Self, CodecError> {
                envelope_from_avro($record, v)
            }
        }
    };
}

envelope_contract!(BookingCommand, BookingCommands, "BookingCommandEnvelope");
envelope_contract!(BookingEvent, BookingEvents, "BookingEventEnvelope");
envelope_contract!(PaymentCommand, PaymentCommands, "PaymentCommandEnvelope");
envelope_contract!(PaymentEvent, PaymentEvents, "PaymentEventEnvelope");
envelope_contract!(IdentityCommand, IdentityCommands, "IdentityCommandEnvelope");
envelope_contract!(IdentityEvent, IdentityEvents, "IdentityEventEnvelope");

/// The reply union is the booking, payment and identity event unions laid end
/// to end, in that order.
impl AvroUnion for ReplyPayload {
    const BRANCHES: u32 = BookingEvent::BRANCHES + PaymentEvent::BRANCHES + IdentityEvent::BRANCHES;

    fn to_branch(&self) -> (u32, Value) {
        const PAYMENT: u32 = BookingEvent::BRANCHES;
        const IDENTITY: u32 = PAYMENT + PaymentEvent::BRANCHES;
        match self {
            Self::Booking(e) => e.to_branch(),
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
        const PAYMENT: u32 = BookingEvent::BRANCHES;
        const IDENTITY: u32 = PAYMENT + PaymentEvent::BRANCHES;
        Ok(match index {
            i if i < PAYMENT => Self::Booking(BookingEvent::from_branch(i, v)?),
            i if i < IDENTITY => Self::Payment(PaymentEvent::from_branch(i - PAYMENT, v)?),
            i if i < Self::BRANCHES => Self::Identity(IdentityEvent::from_branch(i - IDENTITY, v)?),
            n => return Err(mapping(format!("Reply: no branch {n}"))),
        })
    }
}

impl Contract for Reply {
    const SUBJECT: &'static str = SubjectIdx::Replies.subject();

    fn schema() -> &'static Schema {
        SubjectIdx::Replies.schema()
    }

    fn to_avro(&self) -> Value {
        let (index, payload) = self.payload.to_branch();
        Value::Record(vec![
            field("event_id", string(&self.event_id)),
            field("occurred_at", timestamp(self.occurred_at)),
            field("command_id", string(self.command_id.as_str())),
            field("payload", Value::Union(index, Box::new(payload))),
        ])
    }

    fn from_avro(v: Value) -> Result<Self, CodecError> {
        record("Reply", v, |f| {
            Ok(Self {
                event_id: f.string("event_id")?,
                occurred_at: f.timestamp("occurred_at")?,
                command_id: CommandId(f.string("command_id")?),
                payload: f.union("payload")?,
            })
        })
    }
}

impl Contract for DeadLetter {
    const SUBJECT: &'static str = SubjectIdx::DeadLetters.subject();

    fn schema() -> &'static Schema {
        SubjectIdx::DeadLetters.schema()
    }

    fn to_avro(&self) -> Value {
        Value::Record(vec![
            field("topic", string(&self.topic)),
            field("partition", crate::fields::int(self.partition)),
            field("offset", long_u64(self.offset)),
            field("key", Value::Bytes(self.key.clone())),
            field("value", Value::Bytes(self.value.clone())),
            field("reason", string(&self.reason)),
            field("dead_lettered_at", timestamp(self.dead_lettered_at)),
        ])
    }

    fn from_avro(v: Value) -> Result<Self, CodecError> {
        record("DeadLetter", v, |f| {
            Ok(Self {
                topic: f.string("topic")?,
                partition: f.u32("partition")?,
                offset: f.long_u64("offset")?,
                key: f.bytes("key")?,
                value: f.bytes("value")?,
                reason: f.string("reason")?,
                dead_lettered_at: f.timestamp("dead_lettered_at")?,
            })
        })
    }
}
