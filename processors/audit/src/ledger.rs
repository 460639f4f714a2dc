//! The auditor's own model of one task partition: the bookings it has seen
//! held and where they stand, an index of the active ones per resource,
//! and what each payment outcome is owed. Built from the events alone, with
//! none of the booking processor's code.
//!
//! Checks, for every event:
//! - **overlap**: a booking that becomes active (held, or confirmed after
//!   it had ended), or an active one moved (`BookingRescheduled`: its old
//!   interval is released and its new one taken), must not overlap an
//!   active booking of its resource;
//! - **hold_late**: every hold ends (confirmed, failed, expired, cancelled)
//!   at most `slack` after its deadline (`hold_expires_at`, or the later
//!   `pay_by` of a `BookingPaymentStarted`, or the later `held_until` of a
//!   `BookingPaymentDelayed`; the booking processor's
//!   checkout grace must stay below `slack`): the ending event's time is
//!   checked, and a hold still pending at its deadline plus `slack` is
//!   reported then;
//! - **payment_lost**: a `PaymentCompleted` is answered on the booking side
//!   (`BookingConfirmed` or `PaymentOrphaned`) within `slack`, and a
//!   `PaymentFailed` of a booking that is still pending (`BookingFailed`);
//! - **payment_repeated**: each payment has at most one outcome and its
//!   booking reacts to it at most once;
//! - **payment_unexplained**: a booking-side reaction to a payment whose
//!   outcome never appears within `slack`.
//!
//! Bookings and payments are forgotten once nothing can change them: an
//! ended booking four days after it ended (a provider may still complete
//! its canceled payment for three), a confirmed one a day after its end,
//! a settled payment a day after its last event. "After" is event time
//! (the newest event seen on the partition), so a replay forgets exactly
//! what the live auditor forgot.

use serde::{Deserialize, Serialize};
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::payment::PaymentEvent;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId};
use slotstream_runtime::topics;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// How long an ended booking is kept (a late payment may still arrive).
pub const ENDED_KEPT: Millis = 4 * DAY;
/// How long a confirmed booking is kept after its end.
pub const CONFIRMED_KEPT: Millis = DAY;
/// How long a payment is kept after its last event, once settled.
pub const PAYMENT_KEPT: Millis = DAY;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Two active bookings of one resource overlap.
    Overlap,
    /// A hold ended later than its deadline plus the slack, or not at all.
    HoldLate,
    /// A payment outcome never reached its booking.
    PaymentLost,
    /// A payment outcome appeared, or reached its booking, more than once.
    PaymentRepeated,
    /// The booking side reacted to a payment outcome that never appeared.
    PaymentUnexplained,
}

impl Kind {
    /// Every kind (the metric's label values).
    pub const ALL: [Kind; 5] = [
        Kind::Overlap,
        Kind::HoldLate,
        Kind::PaymentLost,
        Kind::PaymentRepeated,
        Kind::PaymentUnexplained,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Overlap => "overlap",
            Kind::HoldLate => "hold_late",
            Kind::PaymentLost => "payment_lost",
            Kind::PaymentRepeated => "payment_repeated",
            Kind::PaymentUnexplained => "payment_unexplained",
        }
    }

    /// [`Kind::ALL`] as label values.
    pub fn labels() -> [&'static str; 5] {
        Kind::ALL.map(Kind::as_str)
    }
}

/// Which of the two audited topics a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Topic {
    /// `slotstream.booking-events`.
    BookingEvents,
    /// `slotstream.payment-events`.
    PaymentEvents,
}

impl Topic {
    /// The topic's name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::BookingEvents => topics::BOOKING_EVENTS.name,
            Topic::PaymentEvents => topics::PAYMENT_EVENTS.name,
        }
    }
}

/// Where a record is in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// Its topic.
    pub topic: Topic,
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]@{}",
            self.topic.name(),
            self.partition,
            self.offset
        )
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: Kind,
    /// The earlier record involved (the held booking, the outcome).
    pub first: Position,
    /// The later record, when there is one (the overlapping hold, the
    /// late ending, the repeat).
    pub second: Option<Position>,
    /// A sentence naming the ids and times involved.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at {}",
            self.kind.as_str(),
            self.detail,
            self.first
        )?;
        if let Some(s) = self.second {
            write!(f, " and {s}")?;
        }
        Ok(())
    }
}

/// A booking as the auditor tracks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Held, waiting for payment: active.
    Pending,
    /// Paid: active.
    Confirmed,
    /// Failed, expired or cancelled: inactive.
    Ended,
}

/// What the auditor keeps per booking (persisted by the continuous role).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRec {
    /// The booking.
    pub id: BookingId,
    /// Its resource.
    pub resource: ResourceId,
    /// Its interval, `[start, end)`.
    pub start: Millis,
    /// See `start`.
    pub end: Millis,
    /// Where it stands.
    pub status: Status,
    /// Its `BookingHeld`.
    pub held: Position,
    /// When its hold expires.
    pub deadline: Millis,
    /// A late hold was reported already.
    pub late_reported: bool,
    /// Event time of its last change.
    pub touched: Millis,
}

/// What the auditor keeps per payment (persisted by the continuous role).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRec {
    /// The payment.
    pub id: PaymentId,
    /// Its booking.
    pub booking: BookingId,
    /// Its outcome: completed (true) or failed, where, when.
    pub outcome: Option<(bool, Position, Millis)>,
    /// Booking-side reactions seen, and the first one's position.
    pub reactions: u32,
    /// See `reactions`.
    pub first_reaction: Option<Position>,
    /// When the pairing is checked (just past the outcome or first
    /// reaction plus the slack).
    pub check_at: Option<Millis>,
    /// A violation about the pairing was reported already.
    pub reported: bool,
    /// Event time of its last change.
    pub touched: Millis,
}

impl PaymentRec {
    fn settled(&self) -> bool {
        self.reported || (self.outcome.is_some() && self.reactions > 0)
    }
}

/// A persisted record of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// A booking.
    Booking(BookingRec),
    /// A payment.
    Payment(PaymentRec),
}

/// A state key: a booking or a payment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `b<booking id>`.
    Booking(BookingId),
    /// `p<payment id>`.
    Payment(PaymentId),
}

impl Key {
    /// The store key.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, id) = match self {
            Key::Booking(b) => (b'b', b.as_str()),
            Key::Payment(p) => (b'p', p.as_str()),
        };
        let mut k = Vec::with_capacity(1 + id.len());
        k.push(tag);
        k.extend_from_slice(id.as_bytes());
        k
    }
}

/// A check to run at an instant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    Hold(BookingId),
    Payment(PaymentId),
}

/// The auditor's model of one partition.
#[derive(Debug)]
pub struct Ledger {
    slack: Millis,
    bookings: HashMap<BookingId, BookingRec>,
    payments: HashMap<PaymentId, PaymentRec>,
    /// Active bookings per resource, by `(start, id)` → end.
    active: HashMap<ResourceId, BTreeMap<(Millis, BookingId), Millis>>,
    /// The longest active interval ever indexed per resource (bounds the
    /// overlap search).
    longest: HashMap<ResourceId, Millis>,
    due: BTreeSet<(Millis, Check)>,
    forget: BTreeSet<(Millis, Key)>,
    /// The newest event time seen.
    newest: Millis,
    dirty: BTreeSet<Key>,
}

impl Ledger {
    /// An empty ledger that allows holds and payment pairings `slack`
    /// milliseconds beyond their deadline.
    pub fn new(slack: Millis) -> Self {
        Self {
            slack,
            bookings: HashMap::new(),
            payments: HashMap::new(),
            active: HashMap::new(),
            longest: HashMap::new(),
            due: BTreeSet::new(),
            forget: BTreeSet::new(),
            newest: Millis::MIN,
            dirty: BTreeSet::new(),
        }
    }

    /// Bookings and payments currently tracked.
    pub fn len(&self) -> (usize, usize) {
        (self.bookings.len(), self.payments.len())
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.bookings.is_empty() && self.payments.is_empty()
    }

    /// Loads a persisted record (restore), rebuilding the indexes.
    pub fn load(&mut self, rec: Record) {
        match rec {
            Record::Booking(b) => {
                self.newest = self.newest.max(b.touched);
                if b.status != Status::Ended {
                    self.index(&b);
                }
                if b.status == Status::Pending && !b.late_reported {
                    self.due
                        .insert((b.deadline + self.slack + 1, Check::Hold(b.id.clone())));
                }
                self.schedule_forget_booking(&b);
                self.bookings.insert(b.id.clone(), b);
            }
            Record::Payment(p) => {
                self.newest = self.newest.max(p.touched);
                if let Some(at) = p.check_at
                    && !p.settled()
                {
                    self.due.insert((at, Check::Payment(p.id.clone())));
                }
                if p.settled() {
                    self.forget
                        .insert((p.touched + PAYMENT_KEPT, Key::Payment(p.id.clone())));
                }
                self.payments.insert(p.id.clone(), p);
            }
        }
    }

    /// The record under `key`, if it is still tracked.
    pub fn record(&self, key: &Key) -> Option<Record> {
        match key {
            Key::Booking(b) => self.bookings.get(b).cloned().map(Record::Booking),
            Key::Payment(p) => self.payments.get(p).cloned().map(Record::Payment),
        }
    }

    /// The keys changed since the last call.
    pub fn take_dirty(&mut self) -> BTreeSet<Key> {
        std::mem::take(&mut self.dirty)
    }

    /// The newest event time seen (`Millis::MIN` before any).
    pub fn newest(&self) -> Millis {
        self.newest
    }

    /// The earliest instant [`Ledger::due`] has a check to run.
    pub fn next_due(&self) -> Option<Millis> {
        self.due.first().map(|(at, _)| *at)
    }

    fn index(&mut self, b: &BookingRec) {
        self.active
            .entry(b.resource.clone())
            .or_default()
            .insert((b.start, b.id.clone()), b.end);
        let longest = self.longest.entry(b.resource.clone()).or_insert(0);
        *longest = (*longest).max(b.end - b.start);
    }

    fn unindex(&mut self, b: &BookingRec) {
        if let Some(idx) = self.active.get_mut(&b.resource) {
            idx.remove(&(b.start, b.id.clone()));
            if idx.is_empty() {
                self.active.remove(&b.resource);
                self.longest.remove(&b.resource);
            }
        }
    }

    /// Active bookings of `resource` overlapping `[start, end)`, other than `id`.
    fn overlapping(
        &self,
        resource: &ResourceId,
        start: Millis,
        end: Millis,
        id: &BookingId,
    ) -> Vec<BookingId> {
        let Some(idx) = self.active.get(resource) else {
            return Vec::new();
        };
        let from = start.saturating_sub(self.longest.get(resource).copied().unwrap_or(0));
        let empty = BookingId::new(String::new());
        idx.range((from, empty.clone())..(end, empty))
            .filter(|((s, other), e)| *s < end && **e > start && other != id)
            .map(|((_, other), _)| other.clone())
            .collect()
    }

    /// Makes `b` active, reporting every active booking it overlaps.
    fn activate(&mut self, b: &BookingRec, at: Position, out: &mut Vec<Violation>) {
        for other in self.overlapping(&b.resource, b.start, b.end, &b.id) {
            let Some(o) = self.bookings.get(&other) else {
                continue;
            };
            out.push(Violation {
                kind: Kind::Overlap,
                first: o.held,
                second: Some(at),
                detail: format!(
                    "bookings {} [{}, {}) and {} [{}, {}) of resource {} are both active",
                    o.id, o.start, o.end, b.id, b.start, b.end, b.resource
                ),
            });
        }
        self.index(b);
    }

    fn schedule_forget_booking(&mut self, b: &BookingRec) {
        let at = match b.status {
            Status::Pending => return,
            Status::Confirmed => b.end.max(b.touched) + CONFIRMED_KEPT,
            Status::Ended => b.touched + ENDED_KEPT,
        };
        self.forget.insert((at, Key::Booking(b.id.clone())));
    }

    /// One booking event at `pos`, stamped `at` (its envelope's time).
    pub fn booking_event(
        &mut self,
        pos: Position,
        at: Millis,
        ev: &BookingEvent,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        self.newest = self.newest.max(at);
        match ev {
            // A repeated hold of a known booking changes nothing.
            BookingEvent::BookingHeld(e) if !self.bookings.contains_key(&e.booking_id) => {
                let b = BookingRec {
                    id: e.booking_id.clone(),
                    resource: e.resource_id.clone(),
                    start: e.start,
                    end: e.end,
                    status: Status::Pending,
                    held: pos,
                    deadline: e.hold_expires_at,
                    late_reported: false,
                    touched: at,
                };
                self.activate(&b, pos, &mut out);
                self.due
                    .insert((b.deadline + self.slack + 1, Check::Hold(b.id.clone())));
                self.dirty.insert(Key::Booking(b.id.clone()));
                self.bookings.insert(b.id.clone(), b);
            }
            BookingEvent::BookingConfirmed(e) => {
                self.transition(&e.booking_id, Status::Confirmed, pos, at, &mut out);
                self.reaction(&e.payment_id, &e.booking_id, pos, at, &mut out);
            }
            BookingEvent::BookingFailed(e) => {
                self.transition(&e.booking_id, Status::Ended, pos, at, &mut out);
                self.reaction(&e.payment_id, &e.booking_id, pos, at, &mut out);
            }
            BookingEvent::BookingExpired(e) => {
                self.transition(&e.booking_id, Status::Ended, pos, at, &mut out);
            }
            BookingEvent::BookingCancelled(e) => {
                self.transition(&e.booking_id, Status::Ended, pos, at, &mut out);
            }
            BookingEvent::PaymentOrphaned(e) => {
                self.reaction(&e.payment_id, &e.booking_id, pos, at, &mut out);
            }
            // A checkout submitted inside the hold moves its deadline, and
            // so does its payment becoming unknown.
            BookingEvent::BookingPaymentStarted(e) => self.extend(&e.booking_id, e.pay_by, at),
            BookingEvent::BookingPaymentDelayed(e) => self.extend(&e.booking_id, e.held_until, at),
            BookingEvent::BookingRescheduled(e) => {
                self.reschedule(&e.booking_id, e.start, e.end, pos, at, &mut out);
            }
            _ => {}
        }
        self.forget_settled();
        out
    }

    /// An active booking moves to `[start, end)`: its old interval leaves
    /// the index and the new one must not overlap another active booking.
    /// An ended or unknown booking is not indexed, so nothing moves.
    fn reschedule(
        &mut self,
        id: &BookingId,
        start: Millis,
        end: Millis,
        pos: Position,
        at: Millis,
        out: &mut Vec<Violation>,
    ) {
        let Some(mut b) = self.bookings.get(id).cloned() else {
            return;
        };
        if b.status == Status::Ended {
            return;
        }
        self.unindex(&b);
        b.start = start;
        b.end = end;
        b.touched = at;
        self.activate(&b, pos, out);
        self.schedule_forget_booking(&b);
        self.dirty.insert(Key::Booking(b.id.clone()));
        self.bookings.insert(b.id.clone(), b);
    }

    /// A pending booking's deadline moves later, to `until`.
    fn extend(&mut self, id: &BookingId, until: Millis, at: Millis) {
        if let Some(b) = self.bookings.get_mut(id)
            && b.status == Status::Pending
            && until > b.deadline
        {
            b.deadline = until;
            b.touched = at;
            self.due
                .insert((b.deadline + self.slack + 1, Check::Hold(b.id.clone())));
            self.dirty.insert(Key::Booking(b.id.clone()));
        }
    }

    /// One payment event at `pos`, stamped `at`.
    pub fn payment_event(
        &mut self,
        pos: Position,
        at: Millis,
        ev: &PaymentEvent,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        self.newest = self.newest.max(at);
        match ev {
            PaymentEvent::PaymentCompleted(e) => {
                self.outcome(&e.payment_id, &e.booking_id, true, pos, at, &mut out)
            }
            PaymentEvent::PaymentFailed(e) => {
                self.outcome(&e.payment_id, &e.booking_id, false, pos, at, &mut out)
            }
            _ => {}
        }
        self.forget_settled();
        out
    }

    /// A booking moves to `to` at `pos`. Unknown bookings (held before
    /// what the auditor read) are ignored.
    fn transition(
        &mut self,
        id: &BookingId,
        to: Status,
        pos: Position,
        at: Millis,
        out: &mut Vec<Violation>,
    ) {
        let Some(mut b) = self.bookings.get(id).cloned() else {
            return;
        };
        if b.status == Status::Pending && to != Status::Pending {
            let late = at - b.deadline;
            if late > self.slack && !b.late_reported {
                b.late_reported = true;
                out.push(Violation {
                    kind: Kind::HoldLate,
                    first: b.held,
                    second: Some(pos),
                    detail: format!(
                        "the hold of booking {} ended {} ms after its deadline (slack {} ms)",
                        b.id, late, self.slack
                    ),
                });
            }
        }
        match (&b.status, &to) {
            (Status::Ended, Status::Confirmed) => self.activate(&b, pos, out),
            (Status::Pending | Status::Confirmed, Status::Ended) => self.unindex(&b),
            _ => {}
        }
        b.status = to;
        b.touched = at;
        self.schedule_forget_booking(&b);
        self.dirty.insert(Key::Booking(b.id.clone()));
        self.bookings.insert(b.id.clone(), b);
    }

    fn payment(&mut self, id: &PaymentId, booking: &BookingId) -> &mut PaymentRec {
        self.payments
            .entry(id.clone())
            .or_insert_with(|| PaymentRec {
                id: id.clone(),
                booking: booking.clone(),
                outcome: None,
                reactions: 0,
                first_reaction: None,
                check_at: None,
                reported: false,
                touched: Millis::MIN,
            })
    }

    fn outcome(
        &mut self,
        id: &PaymentId,
        booking: &BookingId,
        completed: bool,
        pos: Position,
        at: Millis,
        out: &mut Vec<Violation>,
    ) {
        let slack = self.slack;
        let p = self.payment(id, booking);
        p.touched = at;
        if let Some((_, first, _)) = p.outcome {
            p.reported = true;
            out.push(Violation {
                kind: Kind::PaymentRepeated,
                first,
                second: Some(pos),
                detail: format!("payment {id} of booking {booking} has a second outcome"),
            });
        } else {
            p.outcome = Some((completed, pos, at));
            if p.reactions == 0 && p.check_at.is_none() {
                p.check_at = Some(at + slack + 1);
            }
        }
        let check = (!p.settled()).then_some(p.check_at).flatten();
        let settled = p.settled();
        if let Some(c) = check {
            self.due.insert((c, Check::Payment(id.clone())));
        }
        if settled {
            self.forget
                .insert((at + PAYMENT_KEPT, Key::Payment(id.clone())));
        }
        self.dirty.insert(Key::Payment(id.clone()));
    }

    fn reaction(
        &mut self,
        id: &PaymentId,
        booking: &BookingId,
        pos: Position,
        at: Millis,
        out: &mut Vec<Violation>,
    ) {
        let slack = self.slack;
        let p = self.payment(id, booking);
        p.touched = at;
        p.reactions += 1;
        match p.first_reaction {
            Some(first) => {
                p.reported = true;
                out.push(Violation {
                    kind: Kind::PaymentRepeated,
                    first,
                    second: Some(pos),
                    detail: format!(
                        "booking {booking} reacted {} times to the outcome of payment {id}",
                        p.reactions
                    ),
                });
            }
            None => p.first_reaction = Some(pos),
        }
        if p.outcome.is_none() && p.check_at.is_none() {
            p.check_at = Some(at + slack + 1);
        }
        let check = (!p.settled()).then_some(p.check_at).flatten();
        let settled = p.settled();
        if let Some(c) = check {
            self.due.insert((c, Check::Payment(id.clone())));
        }
        if settled {
            self.forget
                .insert((at + PAYMENT_KEPT, Key::Payment(id.clone())));
        }
        self.dirty.insert(Key::Payment(id.clone()));
    }

    /// Runs the checks due at or before `now`: holds still pending past
    /// their deadline plus the slack, payment outcomes still unanswered.
    pub fn due(&mut self, now: Millis) -> Vec<Violation> {
        let mut out = Vec::new();
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            let Some((_, check)) = self.due.pop_first() else {
                break;
            };
            match check {
                Check::Hold(id) => {
                    let Some(b) = self.bookings.get_mut(&id) else {
                        continue;
                    };
                    // A moved deadline has its own, later check.
                    if b.status == Status::Pending
                        && !b.late_reported
                        && now > b.deadline + self.slack
                    {
                        b.late_reported = true;
                        out.push(Violation {
                            kind: Kind::HoldLate,
                            first: b.held,
                            second: None,
                            detail: format!(
                                "the hold of booking {} is still pending {} ms after its deadline (slack {} ms)",
                                b.id,
                                now - b.deadline,
                                self.slack
                            ),
                        });
                        self.dirty.insert(Key::Booking(id));
                    }
                }
                Check::Payment(id) => self.check_payment(&id, now, &mut out),
            }
        }
        out
    }

    fn check_payment(&mut self, id: &PaymentId, now: Millis, out: &mut Vec<Violation>) {
        let Some(p) = self.payments.get(id) else {
            return;
        };
        if p.settled() {
            return;
        }
        let booking = self.bookings.get(&p.booking);
        let found = match (p.outcome, p.first_reaction) {
            (Some((completed, at, _)), None) => {
                // A completion is always answered (confirmed or orphaned)
                // while the booking is known; a failure only when it finds
                // the booking pending.
                let owed = booking.is_some_and(|b| completed || b.status == Status::Pending);
                owed.then(|| Violation {
                    kind: Kind::PaymentLost,
                    first: at,
                    second: None,
                    detail: format!(
                        "the {} of payment {} never reached booking {}",
                        if completed { "completion" } else { "failure" },
                        p.id,
                        p.booking
                    ),
                })
            }
            (None, Some(at)) if booking.is_some() => Some(Violation {
                kind: Kind::PaymentUnexplained,
                first: at,
                second: None,
                detail: format!(
                    "booking {} reacted to payment {}, which has no outcome",
                    p.booking, p.id
                ),
            }),
            _ => None,
        };
        let Some(v) = found else {
            return;
        };
        out.push(v);
        if let Some(p) = self.payments.get_mut(id) {
            p.reported = true;
            self.forget
                .insert((p.touched.max(now) + PAYMENT_KEPT, Key::Payment(id.clone())));
        }
        self.dirty.insert(Key::Payment(id.clone()));
    }

    /// Forgets what is due to be forgotten by the newest event time.
    fn forget_settled(&mut self) {
        while let Some((at, _)) = self.forget.first() {
            if *at > self.newest {
                break;
            }
            let Some((at, key)) = self.forget.pop_first() else {
                break;
            };
            // Entries go stale when a record changes; only the current
            // schedule forgets.
            let current = match &key {
                Key::Booking(id) => self.bookings.get(id).map(|b| match b.status {
                    Status::Pending => Millis::MAX,
                    Status::Confirmed => b.end.max(b.touched) + CONFIRMED_KEPT,
                    Status::Ended => b.touched + ENDED_KEPT,
                }),
                Key::Payment(id) => self.payments.get(id).map(|p| {
                    if p.settled() {
                        at.max(p.touched + PAYMENT_KEPT)
                    } else {
                        Millis::MAX
                    }
                }),
            };
            if current != Some(at) {
                continue;
            }
            match &key {
                Key::Booking(id) => {
                    if let Some(b) = self.bookings.remove(id) {
                        self.unindex(&b);
                    }
                }
                Key::Payment(id) => {
                    self.payments.remove(id);
                }
            }
            self.dirty.insert(key);
        }
    }
}
