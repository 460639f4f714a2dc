//! The booking processor: the single writer for everything about a resource.
//!
//! Partitioned by resource id, it serializes every availability decision of a
//! resource on one thread, so "no two active bookings overlap" is a property
//! of one in-memory index, not of a distributed lock. It holds slots while
//! payment is pending, reacts to payment outcomes, expires unpaid holds on its
//! partition timer, and applies the cancellation policy. The loop is the
//! shared shell's ([`Partitioned`]); this file says what is the booking
//! side's own.

use crate::partitioned::{Partitioned, Wiring};
use crate::support;
use slotstream_domain::booking::{BookingConfig, BookingEvent, BookingPartition};
use slotstream_domain::payment::PaymentEvent;
use slotstream_domain::{Millis, Reacts};
use slotstream_runtime::Poison;
use slotstream_runtime::log::ConsumedRecord;
use slotstream_runtime::topics::{self, Group};
use slotstream_schemas::{Codec, Envelope, ReplyPayload};

/// See the module docs.
pub type BookingProcessor = Partitioned<Booking>;

/// The booking side's wiring: booking commands in, payment events reacted
/// to, booking events out.
#[derive(Debug)]
pub struct Booking {
    cfg: BookingConfig,
}

impl BookingProcessor {
    /// A processor with no partitions yet.
    pub fn new(codec: Codec, cfg: BookingConfig) -> Self {
        Partitioned::with(codec, Booking { cfg })
    }
}

impl Wiring for Booking {
    type Agg = BookingPartition;
    const GROUP: &'static Group = &topics::groups::BOOKING;
    const COMMANDS: &'static str = topics::BOOKING_COMMANDS.name;
    const EVENTS: &'static str = topics::BOOKING_EVENTS.name;

    fn partition(&self) -> BookingPartition {
        BookingPartition::new(self.cfg)
    }

    fn reply(answer: BookingEvent) -> ReplyPayload {
        ReplyPayload::Booking(answer)
    }

    fn react(
        &self,
        part: &BookingPartition,
        codec: &Codec,
        record: &ConsumedRecord,
        now: Millis,
    ) -> Result<Vec<BookingEvent>, Poison> {
        let env: Envelope<PaymentEvent> = support::decode(codec, record)?;
        Ok(part.react(&env.payload, &(), now))
    }
}
