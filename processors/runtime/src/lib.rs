//! # slotstream-runtime: ports and the processor driver
//!
//! The ports are modelled on Kafka's semantics so that the embedded backend and
//! the Kafka backend are interchangeable: topics with a fixed number of
//! partitions, records placed by murmur2 of their key, offsets, consumer groups,
//! and one atomic commit of *outputs + state changes + consumed offsets*.
//!
//! Processors are synchronous state machines ([`Processor`]); the [`driver`]
//! owns the async loop, batching, timers, effects and dead-lettering. Nothing
//! in a processor knows which backend runs it.

pub mod clock;
pub mod cursor;
pub mod driver;
pub mod internal_events;
pub mod log;
pub mod otp;
pub mod partitioner;
pub mod ports;
pub mod positions;
pub mod processor;
pub mod telemetry;
pub mod topics;
pub mod trace;
pub mod views;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use log::{
    Backend, ConsumedRecord, Header, Headers, LogError, LogReader, OutRecord, Poll, Producer,
    RecordPosition, Session, StateEntry, StateWrite, TopicPartition, Transaction,
};
pub use ports::{
    Effect, EffectError, EffectReport, Email, Mailer, PaymentProvider, ProviderOutcome,
    ProviderStatus, SentLedger,
};
pub use processor::{Output, Poison, Processor};
pub use telemetry::{MemberReadiness, Readiness, Telemetry};
pub use topics::TopicSpec;
pub use views::{
    ApiKeyView, BookingView, BookingViewV1, EventView, LoginLockView, Page, PaymentView,
    RescheduleView, UserView, ViewError, ViewStore, ViewWrite, WebhookView,
};
