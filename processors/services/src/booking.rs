//! The booking processor: the single writer for everything about a resource.
//!
//! Partitioned by resource id, it serializes every availability decision of a
//! resource on one thread, so "no two active bookings overlap" is a property
//! of one in-memory index, not of a distributed lock. It holds slots while
//! payment is pending, reacts to payment outcomes, expires unpaid holds on its
//! partition timer, and applies the cancellation policy.

use crate::support::{self, Dirty, PruneClock};
use slotstream_domain::booking::{BookingConfig, BookingEvent, BookingPartition};
use slotstream_domain::payment::PaymentEvent;
use slotstream_domain::{Millis, booking::BookingCommand};
use slotstream_runtime::log::{ConsumedRecord, StateEntry};
use slotstream_runtime::{Output, Poison, Processor, TopicSpec, topics};
use slotstream_schemas::{Codec, Envelope, ReplyPayload};
use std::collections::HashMap;

/// See the module docs.
#[derive(Debug)]
pub struct BookingProcessor {
    codec: Codec,
    cfg: BookingConfig,
    parts: HashMap<u32, BookingPartition>,
    dirty: Dirty,
    prune: PruneClock,
}

impl BookingProcessor {
    /// A processor with no partitions yet.
    pub fn new(codec: Codec, cfg: BookingConfig) -> Self {
        Self {
            codec,
            cfg,
            parts: HashMap::new(),
            dirty: Dirty::default(),
            prune: PruneClock::default(),
        }
    }

    /// The state of one partition (tests and benchmarks inspect it).
    pub fn partition(&self, p: u32) -> Option<&BookingPartition> {
        self.parts.get(&p)
    }

    fn part(&mut self, p: u32) -> Result<&mut BookingPartition, Poison> {
        self.parts
            .get_mut(&p)
            .ok_or_else(|| Poison::new(format!("record for unassigned partition {p}")))
    }

    /// Applies `events` in order and writes them out.
    fn emit(&mut self, p: u32, events: Vec<BookingEvent>, now: Millis, out: &mut Output) {
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        for ev in events {
            let keys = part.apply(&ev);
            self.dirty.mark(p, keys);
            let key = resource_key(&ev).to_owned();
            out.records.push(support::record(
                &self.codec,
                topics::BOOKING_EVENTS.name,
                &key,
                &support::envelope(ev, now),
                now,
            ));
        }
    }
}

/// The partition key of an event: its resource id.
fn resource_key(ev: &BookingEvent) -> &str {
    match ev {
        BookingEvent::ResourceRegistered(e) => e.resource.id.as_str(),
        BookingEvent::BookingHeld(e) => e.resource_id.as_str(),
        BookingEvent::BookingRejected(e) => e.resource_id.as_str(),
        BookingEvent::BookingConfirmed(e) => e.resource_id.as_str(),
        BookingEvent::BookingFailed(e) => e.resource_id.as_str(),
        BookingEvent::BookingExpired(e) => e.resource_id.as_str(),
        BookingEvent::BookingCancelled(e) => e.resource_id.as_str(),
        BookingEvent::CancellationRejected(e) => e.resource_id.as_str(),
        BookingEvent::PaymentOrphaned(e) => e.resource_id.as_str(),
    }
}

fn command_id(cmd: &BookingCommand) -> &slotstream_domain::CommandId {
    match cmd {
        BookingCommand::RegisterResource(c) => &c.command_id,
        BookingCommand::RequestBooking(c) => &c.command_id,
        BookingCommand::CancelBooking(c) => &c.command_id,
    }
}

impl Processor for BookingProcessor {
    fn group(&self) -> &'static str {
        topics::groups::BOOKING.name
    }

    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::BOOKING.inputs.to_vec()
    }

    fn restore(&mut self, partition: u32, state: Vec<StateEntry>) -> Result<(), Poison> {
        let mut part = BookingPartition::new(self.cfg);
        for rec in support::restore_records(state)? {
            part.load(rec);
        }
        self.parts.insert(partition, part);
        Ok(())
    }

    fn revoke(&mut self, partition: u32) {
        self.parts.remove(&partition);
    }

    fn process(
        &mut self,
        record: &ConsumedRecord,
        now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        let p = record.partition;
        if &*record.topic == topics::BOOKING_COMMANDS.name {
            let env: Envelope<BookingCommand> = support::decode(&self.codec, record)?;
            let decision = self.part(p)?.decide(&env.payload, now);
            if let Some(answer) = decision.reply {
                out.records.extend(support::reply(
                    &self.codec,
                    env.reply_to.as_deref(),
                    command_id(&env.payload),
                    ReplyPayload::Booking(answer),
                    now,
                ));
            }
            self.emit(p, decision.events, now, out);
        } else {
            let env: Envelope<PaymentEvent> = support::decode(&self.codec, record)?;
            let events = self.part(p)?.react_to_payment(&env.payload, now);
            self.emit(p, events, now, out);
        }
        // About once a minute: old idempotency answers and settled bookings
        // leave the state; their keys are deleted (tombstones) at commit.
        if self.prune.due(p, now) {
            let keys = self.part(p)?.evict_settled(now);
            self.dirty.mark(p, keys);
        }
        Ok(())
    }

    fn next_deadline(&self, partition: u32) -> Option<Millis> {
        self.parts.get(&partition)?.next_expiry()
    }

    fn on_timer(&mut self, partition: u32, now: Millis, out: &mut Output) {
        let Some(part) = self.parts.get(&partition) else {
            return;
        };
        let events = part.due_expiries(now);
        // Each expiry's deadline, for the driver's lateness metric.
        out.fired.extend(events.iter().filter_map(|ev| match ev {
            BookingEvent::BookingExpired(e) => Some(e.expired_at),
            _ => None,
        }));
        self.emit(partition, events, now, out);
    }

    fn before_commit(&mut self, out: &mut Output) {
        let parts = &self.parts;
        self.dirty.flush(out, |p, key| {
            parts.get(&p).and_then(|part| part.record(key))
        });
    }
}
