//! All booking state of one task partition: resources, live bookings, the
//! availability, hold and settle indexes, and the idempotency ledger.

use super::availability::Availability;
use super::messages::{BookingEvent, BookingHeld, BookingStatus};
use super::model::{Booking, BookingConfig};
use super::settle::settles_at;
use crate::ids::{BookingId, CommandId, ResourceId};
use crate::ledger::Ledger;
use crate::resource::{Resource, validate_scheduling};
use crate::schedule::Schedule;
use crate::state::{Answer, StateKey, StateRecord};
use crate::time::{Interval, Millis};
use std::collections::{BTreeSet, HashMap};

/// A ledger answer as the booking side keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum StoredAnswer {
    /// The `BookingHeld` that created the booking in this slot, rebuilt from
    /// the booking when needed (its fields never change): the common answer
    /// costs no copy of the event. A booking outlives this answer (see
    /// [`settles_at`](super::settles_at)), so the slot is never reused while
    /// the answer exists.
    Held(usize),
    /// Any other answer, whole.
    Event(Box<BookingEvent>),
}

/// The booking state of one partition (many resources). `decide`-style
/// methods read it; [`BookingPartition::apply`], [`BookingPartition::load`]
/// and the time-driven [`BookingPartition::evict_settled`] are the only ways
/// it changes.
///
/// Live bookings sit in a slab (`slots`, with a free list) and every index
/// names them by slot: an index entry is a number, not a copy of an id, and a
/// settled booking's slot is reused by the next one, so memory follows the
/// live set. Lookups by id are one hash probe, an overlap test is one
/// `O(log n)` B-tree range (see `availability`), and the hold and settle
/// indexes are B-trees ordered by instant, so the timer and eviction touch
/// only what is due: every decision stays `O(log n)` in the live bookings.
#[derive(Clone, Debug)]
pub struct BookingPartition {
    pub(super) cfg: BookingConfig,
    pub(super) resources: HashMap<ResourceId, Resource>,
    /// The compiled schedules of the resources that have one (compiled once,
    /// when the resource is applied or loaded, never per decision).
    pub(super) schedules: HashMap<ResourceId, Schedule>,
    /// Live bookings by slot; `None` is a free slot (listed in `free`).
    pub(super) slots: Vec<Option<Booking>>,
    /// Free slots, reused last-freed first.
    pub(super) free: Vec<usize>,
    pub(super) by_id: HashMap<BookingId, usize>,
    /// Active bookings per resource, by start.
    pub(super) availability: Availability,
    /// Pending bookings of the whole partition, by the instant they are
    /// released unpaid ([`BookingConfig::releases_at`]).
    pub(super) holds: BTreeSet<(Millis, usize)>,
    /// Bookings that will settle, by [`settles_at`].
    pub(super) settle: BTreeSet<(Millis, usize)>,
    pub(super) ledger: Ledger<StoredAnswer>,
}

/// The `BookingHeld` that created `b` (with the interval it was held
/// with, however often it moved since).
pub(super) fn held_event(b: &Booking, command_id: &CommandId, request_hash: &str) -> BookingEvent {
    let held = b.held_interval();
    BookingEvent::BookingHeld(BookingHeld {
        command_id: command_id.clone(),
        request_hash: request_hash.to_owned(),
        booking_id: b.id.clone(),
        resource_id: b.resource_id.clone(),
        vendor_id: b.vendor_id.clone(),
        user_id: b.user_id.clone(),
        user_email: b.user_email.clone(),
        start: held.start,
        end: held.end,
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
            schedules: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            availability: Availability::default(),
            holds: BTreeSet::new(),
            settle: BTreeSet::new(),
            ledger: Ledger::default(),
        }
    }

    /// A registered resource.
    pub fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.get(id)
    }

    /// The compiled schedule of a resource that has one. `None` for a
    /// resource without a schedule (always open), and for one whose schedule
    /// no longer compiles (a zone the bundled tz database lost): the
    /// decision treats that one as closed.
    pub fn schedule(&self, id: &ResourceId) -> Option<&Schedule> {
        self.schedules.get(id)
    }

    /// Stores (or replaces) a resource and its compiled schedule.
    pub(super) fn put_resource(&mut self, r: Resource) {
        match validate_scheduling(&r) {
            Ok(Some(schedule)) => {
                self.schedules.insert(r.id.clone(), schedule);
            }
            Ok(None) | Err(_) => {
                self.schedules.remove(&r.id);
            }
        }
        self.resources.insert(r.id.clone(), r);
    }

    /// A live booking, in whatever state; `None` once it settled and left.
    pub fn booking(&self, id: &BookingId) -> Option<&Booking> {
        self.by_id.get(id).and_then(|&slot| self.slot(slot))
    }

    /// How many bookings the partition holds (live ones: settled bookings
    /// have left).
    pub fn booking_count(&self) -> usize {
        self.by_id.len()
    }

    /// The booking in `slot`, if the slot is taken.
    pub(super) fn slot(&self, slot: usize) -> Option<&Booking> {
        self.slots.get(slot).and_then(Option::as_ref)
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
            .filter_map(|(iv, slot)| self.slot(slot).map(|b| (iv, b.id.clone())))
            .collect()
    }

    /// The earliest instant a pending booking is released unpaid, if any is
    /// pending.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.holds.first().map(|(at, _)| *at)
    }

    /// The earliest instant a live booking settles, if any will.
    pub fn next_settle(&self) -> Option<Millis> {
        self.settle.first().map(|(at, _)| *at)
    }

    /// A ledger answer as the event it stands for.
    pub(super) fn answer_event(
        &self,
        id: &CommandId,
        request_hash: &str,
        answer: &StoredAnswer,
    ) -> Option<BookingEvent> {
        match answer {
            StoredAnswer::Held(slot) => self.slot(*slot).map(|b| held_event(b, id, request_hash)),
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
            StateKey::Payment(_)
            | StateKey::Account(_)
            | StateKey::Lock(_)
            | StateKey::ApiKey(_)
            | StateKey::Webhook(_) => None,
        }
    }

    /// Restores one stored record, rebuilding every index it takes part in
    /// (the settle index included). Loads may come in any order; records of
    /// other aggregates are ignored. The store holds live bookings only
    /// (settled ones were deleted); one already settled at load time leaves
    /// at the next [`BookingPartition::evict_settled`].
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::ResourceV1(r) => self.load(StateRecord::Resource(r.into())),
            StateRecord::Resource(r) => self.put_resource(r),
            StateRecord::BookingV1(b) => self.load(StateRecord::Booking(b.into())),
            StateRecord::BookingV2(b) => self.load(StateRecord::Booking(b.into())),
            StateRecord::Booking(b) => match self.by_id.get(&b.id).copied() {
                Some(slot) => {
                    self.unindex(slot);
                    if let Some(stored) = self.slots.get_mut(slot) {
                        *stored = Some(b);
                    }
                    self.index(slot);
                }
                None => {
                    self.insert(b);
                }
            },
            StateRecord::Command(c) => self.ledger.load(c, |answer| match answer {
                Answer::Booking(ev) => Some(StoredAnswer::Event(Box::new(ev))),
                Answer::BookingV1(ev) => Some(StoredAnswer::Event(Box::new(ev.into()))),
                Answer::Payment(_) | Answer::Identity(_) => None,
            }),
            StateRecord::Payment(_)
            | StateRecord::PaymentV1(_)
            | StateRecord::PaymentV2(_)
            | StateRecord::PaymentV3(_)
            | StateRecord::Account(_)
            | StateRecord::Lock(_)
            | StateRecord::ApiKey(_)
            | StateRecord::Webhook(_) => {}
        }
    }

    /// Drops idempotency records answered before `older_than` (the caller
    /// keeps them at least 24 h); returns the keys to delete.
    /// [`BookingPartition::evict_settled`] does this too, with
    /// [`COMMAND_RETENTION`](crate::COMMAND_RETENTION).
    pub fn prune_commands(&mut self, older_than: Millis) -> Vec<StateKey> {
        self.ledger.prune(older_than)
    }

    /// Puts a new booking in a free slot (or a new one) and indexes it;
    /// returns its slot.
    pub(super) fn insert(&mut self, b: Booking) -> usize {
        let id = b.id.clone();
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(b);
                slot
            }
            None => {
                self.slots.push(Some(b));
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id, slot);
        self.index(slot);
        slot
    }

    /// Takes the booking in `slot` out of every index and the slab; returns
    /// its id.
    pub(super) fn evict(&mut self, slot: usize) -> Option<BookingId> {
        self.unindex(slot);
        let b = self.slots.get_mut(slot)?.take()?;
        self.by_id.remove(&b.id);
        self.free.push(slot);
        Some(b.id)
    }

    /// Enters the booking in `slot` into the indexes its status calls for.
    pub(super) fn index(&mut self, slot: usize) {
        let Some(b) = self.slots.get(slot).and_then(Option::as_ref) else {
            return;
        };
        if b.status.is_active() {
            self.availability.occupy(&b.resource_id, b.interval, slot);
        }
        if b.status == BookingStatus::Pending {
            self.holds.insert((self.cfg.releases_at(b), slot));
        }
        if let Some(at) = settles_at(b) {
            self.settle.insert((at, slot));
        }
    }

    /// Takes the booking in `slot` out of the availability, hold and settle
    /// indexes (call it before changing the booking, with its old fields).
    pub(super) fn unindex(&mut self, slot: usize) {
        if let Some(b) = self.slots.get(slot).and_then(Option::as_ref) {
            self.availability.release(&b.resource_id, b.interval, slot);
            self.holds.remove(&(self.cfg.releases_at(b), slot));
            if let Some(at) = settles_at(b) {
                self.settle.remove(&(at, slot));
            }
        }
    }
}
