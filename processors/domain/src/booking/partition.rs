//! All booking state of one task partition: resources, bookings, the
//! availability and hold indexes, and the idempotency ledger.

use super::availability::Availability;
use super::messages::{BookingEvent, BookingHeld, BookingStatus};
use super::model::{Booking, BookingConfig};
use crate::ids::{BookingId, CommandId, ResourceId};
use crate::ledger::Ledger;
use crate::resource::Resource;
use crate::state::{Answer, StateKey, StateRecord};
use crate::time::{Interval, Millis};
use std::collections::{BTreeSet, HashMap};

/// A ledger answer as the booking side keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum StoredAnswer {
    /// The `BookingHeld` that created the booking in this slot, rebuilt from
    /// the booking when needed (its fields never change): the common answer
    /// costs no copy of the event.
    Held(usize),
    /// Any other answer, whole.
    Event(Box<BookingEvent>),
}

/// The booking state of one partition (many resources). `decide`-style
/// methods read it; [`BookingPartition::apply`] and
/// [`BookingPartition::load`] are the only ways it changes.
#[derive(Clone, Debug)]
pub struct BookingPartition {
    pub(super) cfg: BookingConfig,
    pub(super) resources: HashMap<ResourceId, Resource>,
    /// Every booking, in the order this partition learned of it. Indexes
    /// name bookings by their slot here.
    pub(super) slots: Vec<Booking>,
    pub(super) by_id: HashMap<BookingId, usize>,
    /// Active bookings per resource, by start.
    pub(super) availability: Availability,
    /// Pending bookings of the whole partition, by hold expiry.
    pub(super) holds: BTreeSet<(Millis, usize)>,
    pub(super) ledger: Ledger<StoredAnswer>,
}

/// The `BookingHeld` that created `b`.
pub(super) fn held_event(b: &Booking, command_id: &CommandId, request_hash: &str) -> BookingEvent {
    BookingEvent::BookingHeld(BookingHeld {
        command_id: command_id.clone(),
        request_hash: request_hash.to_owned(),
        booking_id: b.id.clone(),
        resource_id: b.resource_id.clone(),
        vendor_id: b.vendor_id.clone(),
        user_id: b.user_id.clone(),
        user_email: b.user_email.clone(),
        start: b.interval.start,
        end: b.interval.end,
        amount: b.amount.clone(),
        payment_id: b.payment_id.clone(),
        hold_expires_at: b.hold_expires_at,
        held_at: b.created_at,
    })
}

impl BookingPartition {
    /// An empty partition.
    pub fn new(cfg: BookingConfig) -> Self {
        Self {
            cfg,
            resources: HashMap::new(),
            slots: Vec::new(),
            by_id: HashMap::new(),
            availability: Availability::default(),
            holds: BTreeSet::new(),
            ledger: Ledger::default(),
        }
    }

    /// A registered resource.
    pub fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.get(id)
    }

    /// A booking, in whatever state.
    pub fn booking(&self, id: &BookingId) -> Option<&Booking> {
        self.by_id.get(id).and_then(|&slot| self.slots.get(slot))
    }

    /// Active (pending or confirmed) intervals of `resource` overlapping
    /// `[from, to)`, by start.
    pub fn busy(
        &self,
        resource: &ResourceId,
        from: Millis,
        to: Millis,
    ) -> Vec<(Interval, BookingId)> {
        self.availability
            .busy(resource, from, to)
            .into_iter()
            .filter_map(|(iv, slot)| self.slots.get(slot).map(|b| (iv, b.id.clone())))
            .collect()
    }

    /// The earliest hold expiry, if any booking is pending.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.holds.first().map(|(at, _)| *at)
    }

    /// A ledger answer as the event it stands for.
    pub(super) fn answer_event(
        &self,
        id: &CommandId,
        request_hash: &str,
        answer: &StoredAnswer,
    ) -> Option<BookingEvent> {
        match answer {
            StoredAnswer::Held(slot) => self
                .slots
                .get(*slot)
                .map(|b| held_event(b, id, request_hash)),
            StoredAnswer::Event(ev) => Some(BookingEvent::clone(ev)),
        }
    }

    /// The stored record under `key`; `None` means "delete it".
    pub fn record(&self, key: &StateKey) -> Option<StateRecord> {
        match key {
            StateKey::Resource(id) => self.resources.get(id).cloned().map(StateRecord::Resource),
            StateKey::Booking(id) => self.booking(id).cloned().map(StateRecord::Booking),
            StateKey::Command(id) => {
                let entry = self.ledger.get(id)?;
                let answer = self.answer_event(id, &entry.request_hash, &entry.answer)?;
                Some(StateRecord::Command(
                    entry.record(id, Answer::Booking(answer)),
                ))
            }
            StateKey::Payment(_) | StateKey::Account(_) => None,
        }
    }

    /// Restores one stored record, rebuilding every index it takes part in.
    /// Loads may come in any order; records of other aggregates are ignored.
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::Resource(r) => {
                self.resources.insert(r.id.clone(), r);
            }
            StateRecord::Booking(b) => {
                let slot = match self.by_id.get(&b.id) {
                    Some(&slot) => {
                        self.unindex(slot);
                        if let Some(stored) = self.slots.get_mut(slot) {
                            *stored = b;
                        }
                        slot
                    }
                    None => {
                        let slot = self.slots.len();
                        self.by_id.insert(b.id.clone(), slot);
                        self.slots.push(b);
                        slot
                    }
                };
                self.index(slot);
            }
            StateRecord::Command(c) => self.ledger.load(c, |answer| match answer {
                Answer::Booking(ev) => Some(StoredAnswer::Event(Box::new(ev))),
                Answer::Payment(_) | Answer::Identity(_) => None,
            }),
            StateRecord::Payment(_) | StateRecord::Account(_) => {}
        }
    }

    /// Drops idempotency records answered before `older_than` (the caller
    /// keeps them at least 24 h); returns the keys to delete.
    pub fn prune_commands(&mut self, older_than: Millis) -> Vec<StateKey> {
        self.ledger.prune(older_than)
    }

    /// Enters the booking in `slot` into the indexes its status calls for.
    pub(super) fn index(&mut self, slot: usize) {
        let Some(b) = self.slots.get(slot) else {
            return;
        };
        if b.status.is_active() {
            self.availability.occupy(&b.resource_id, b.interval, slot);
        }
        if b.status == BookingStatus::Pending {
            self.holds.insert((b.hold_expires_at, slot));
        }
    }

    /// Takes the booking in `slot` out of the availability and hold indexes.
    fn unindex(&mut self, slot: usize) {
        if let Some(b) = self.slots.get(slot) {
            self.availability.release(&b.resource_id, b.interval, slot);
            self.holds.remove(&(b.hold_expires_at, slot));
        }
    }
}
