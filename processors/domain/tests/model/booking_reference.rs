//! The booking model's reference: plain vectors and linear scans, written
//! from the public contract without looking at the partition's indexes.
//!
//! It forgets what the contract says settles, the brute-force way: at every
//! eviction instant it walks all its bookings and answers, drops the answers
//! older than the ledger window and moves every settled booking to
//! `evicted`, after which it answers for them as for bookings it never knew.

use slotstream_domain::booking::{
    BookingEvent, BookingStatus, CancellationRejectionReason, END_SLACK, LATE_PAYMENT_WINDOW,
    RejectionReason, RequestBooking,
};
use slotstream_domain::time::{DAY, HOUR, MINUTE};
use slotstream_domain::{COMMAND_RETENTION, Decision, Millis};

pub const T0: Millis = 19_723 * DAY;
pub const SLOT: Millis = 15 * MINUTE;
pub const TTL: Millis = 20 * MINUTE;
/// How long a checkout submitted in time keeps the slot for its decision.
pub const DECIDE: Millis = 30 * MINUTE;
/// How long past its hold a booking with no checkout seen stays held.
pub const GRACE: Millis = 5 * MINUTE;
/// How long a checkout whose payment became unknown keeps the slot.
pub const UNKNOWN_HOLD: Millis = 90 * MINUTE;

/// What a decision or reaction amounted to, as both sides describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Nothing,
    Registered,
    Held,
    Rejected(RejectionReason),
    Cancelled { was_paid: bool, refund: i64 },
    CancelRejected(CancellationRejectionReason),
    Confirmed,
    Failed,
    Orphaned,
    Expired(String),
    PaymentStarted { pay_by: Millis },
    PaymentDelayed { until: Millis },
    ScheduleChanged,
    Rescheduled,
}

pub fn kind(ev: &BookingEvent) -> Kind {
    match ev {
        BookingEvent::ResourceRegistered(_) => Kind::Registered,
        BookingEvent::BookingHeld(_) => Kind::Held,
        BookingEvent::BookingRejected(r) => Kind::Rejected(r.reason),
        BookingEvent::BookingCancelled(c) => Kind::Cancelled {
            was_paid: c.was_paid,
            refund: c.refund.amount,
        },
        BookingEvent::CancellationRejected(r) => Kind::CancelRejected(r.reason),
        BookingEvent::BookingConfirmed(_) => Kind::Confirmed,
        BookingEvent::BookingFailed(_) => Kind::Failed,
        BookingEvent::PaymentOrphaned(_) => Kind::Orphaned,
        BookingEvent::BookingExpired(e) => Kind::Expired(e.booking_id.0.clone()),
        BookingEvent::BookingPaymentStarted(e) => Kind::PaymentStarted { pay_by: e.pay_by },
        BookingEvent::BookingPaymentDelayed(e) => Kind::PaymentDelayed {
            until: e.held_until,
        },
        BookingEvent::ResourceScheduleChanged(_) => Kind::ScheduleChanged,
        BookingEvent::BookingRescheduled(_) => Kind::Rescheduled,
    }
}

/// A decision as (events were emitted, what the reply was).
pub fn summary(d: &Decision<BookingEvent>) -> (bool, Kind) {
    (
        !d.events.is_empty(),
        d.reply.as_ref().map_or(Kind::Nothing, kind),
    )
}

#[derive(Clone, Debug)]
pub struct RefBooking {
    pub id: String,
    pub payment: String,
    pub resource: u8,
    pub user: u8,
    pub start: Millis,
    pub end: Millis,
    pub amount: i64,
    pub status: BookingStatus,
    pub hold_until: Millis,
    /// Once a checkout submitted before `hold_until` was seen: when it was
    /// submitted, and until when the slot waits for its decision.
    pub checkout: Option<(Millis, Millis)>,
    /// When it was held.
    pub created: Millis,
    /// When its status last changed.
    pub updated: Millis,
}

impl RefBooking {
    /// When a pending booking is released unpaid: its checkout's pay-by
    /// once one submitted in time was seen, else its hold plus the grace
    /// for a checkout decided late.
    pub fn release_at(&self) -> Millis {
        self.checkout
            .map_or(self.hold_until + GRACE, |(_, pay_by)| pay_by)
    }

    /// The contract's settle rule, spelled out case by case: never while
    /// pending; a confirmed one once its end (plus slack) has passed and the
    /// ledger forgot its request; a final one once a late payment can no
    /// longer reach it and the ledger forgot its request.
    pub fn settled(&self, now: Millis) -> bool {
        let ledger_forgot = now > self.created + COMMAND_RETENTION;
        match self.status {
            BookingStatus::Pending => false,
            BookingStatus::Confirmed => ledger_forgot && now >= self.end + END_SLACK,
            _ => ledger_forgot && now >= self.updated + LATE_PAYMENT_WINDOW,
        }
    }
}

#[derive(Default)]
pub struct Reference {
    pub registered: Vec<u8>,
    /// Live bookings: what the partition must still know.
    pub bookings: Vec<RefBooking>,
    /// Bookings that settled and left, oldest first.
    pub evicted: Vec<RefBooking>,
    /// (command id, request hash, first answer, answered at).
    pub answers: Vec<(String, String, Kind, Millis)>,
}

impl Reference {
    fn answer(&self, command: &str) -> Option<(&String, &String, &Kind)> {
        self.answers
            .iter()
            .find(|(c, _, _, _)| c == command)
            .map(|(c, h, k, _)| (c, h, k))
    }

    /// Forgets, at `now`, the answers older than the ledger window and every
    /// settled booking.
    pub fn evict(&mut self, now: Millis) {
        self.answers
            .retain(|(_, _, _, at)| *at >= now - COMMAND_RETENTION);
        let (gone, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.bookings)
            .into_iter()
            .partition(|b| b.settled(now));
        self.bookings = live;
        self.evicted.extend(gone);
    }

    /// Every booking ever held, live or evicted, for picking targets.
    pub fn all(&self) -> Vec<RefBooking> {
        self.bookings.iter().chain(&self.evicted).cloned().collect()
    }

    pub fn register(&mut self, r: u8, command: &str) -> (bool, Kind) {
        if let Some((_, _, k)) = self.answer(command) {
            return (false, k.clone());
        }
        if self.registered.contains(&r) {
            return (false, Kind::Nothing);
        }
        self.registered.push(r);
        // Filed at the resource's creation instant, as the event says.
        self.answers
            .push((command.into(), String::new(), Kind::Registered, T0));
        (true, Kind::Registered)
    }

    pub fn request(&mut self, c: &RequestBooking, r: u8, user: u8, now: Millis) -> (bool, Kind) {
        if let Some((_, hash, k)) = self.answer(c.command_id.as_str()) {
            return if *hash == c.request_hash {
                (false, k.clone())
            } else {
                (false, Kind::Rejected(RejectionReason::IdempotencyKeyReused))
            };
        }
        let (start, end) = (c.start, c.end);
        let minutes = (end - start) / MINUTE;
        let k = if !self.registered.contains(&r) {
            Kind::Rejected(RejectionReason::ResourceNotFound)
        } else if end <= start
            || start < now
            || start % SLOT != 0
            || end % SLOT != 0
            || !(15..=60).contains(&minutes)
            || self.bookings.iter().any(|b| b.id == c.booking_id.0)
        {
            Kind::Rejected(RejectionReason::InvalidRequest)
        } else if self
            .bookings
            .iter()
            .any(|b| b.resource == r && b.status.is_active() && b.start < end && start < b.end)
        {
            Kind::Rejected(RejectionReason::SlotUnavailable)
        } else {
            self.bookings.push(RefBooking {
                id: c.booking_id.0.clone(),
                payment: c.payment_id.0.clone(),
                resource: r,
                user,
                start,
                end,
                amount: 100 * ((minutes + 29) / 30),
                status: BookingStatus::Pending,
                hold_until: now + TTL,
                checkout: None,
                created: now,
                updated: now,
            });
            Kind::Held
        };
        self.answers.push((
            c.command_id.0.clone(),
            c.request_hash.clone(),
            k.clone(),
            now,
        ));
        (true, k)
    }

    pub fn cancel(&mut self, command: &str, booking: &str, user: u8, now: Millis) -> (bool, Kind) {
        if let Some((_, _, k)) = self.answer(command) {
            return (false, k.clone());
        }
        let k = match self
            .bookings
            .iter_mut()
            .find(|b| b.id == booking && b.user == user)
        {
            None => Kind::CancelRejected(CancellationRejectionReason::NotFound),
            Some(b) if !b.status.is_active() || now >= b.start => {
                Kind::CancelRejected(CancellationRejectionReason::NotCancellable)
            }
            Some(b) => {
                let was_paid = b.status == BookingStatus::Confirmed;
                let before = b.start - now;
                let refund = match (was_paid, before) {
                    (false, _) => 0,
                    (true, t) if t >= 2 * HOUR => b.amount,
                    (true, t) if t >= HOUR => b.amount / 2,
                    (true, _) => 0,
                };
                b.status = BookingStatus::Cancelled;
                b.updated = now;
                Kind::Cancelled { was_paid, refund }
            }
        };
        self.answers
            .push((command.into(), String::new(), k.clone(), now));
        (true, k)
    }

    pub fn pay(&mut self, booking: &str, payment: &str, succeeded: bool, now: Millis) -> Vec<Kind> {
        let Some(b) = self.bookings.iter_mut().find(|b| b.id == booking) else {
            return Vec::new();
        };
        let own = b.payment == payment;
        match (succeeded, b.status) {
            (true, BookingStatus::Pending) if own => {
                b.status = BookingStatus::Confirmed;
                b.updated = now;
                vec![Kind::Confirmed]
            }
            (true, BookingStatus::Confirmed) if own => Vec::new(),
            (true, _) => vec![Kind::Orphaned],
            (false, BookingStatus::Pending) if own => {
                b.status = BookingStatus::Failed;
                b.updated = now;
                vec![Kind::Failed]
            }
            (false, _) => Vec::new(),
        }
    }

    /// A checkout of `payment` for `booking`, submitted at `submitted`:
    /// the first one of a pending booking's own payment submitted before
    /// its hold ends keeps the slot until `submitted + DECIDE`, never
    /// shorter than the hold itself.
    pub fn checkout(&mut self, booking: &str, payment: &str, submitted: Millis) -> Vec<Kind> {
        let Some(b) = self.bookings.iter_mut().find(|b| b.id == booking) else {
            return Vec::new();
        };
        if b.status != BookingStatus::Pending
            || b.payment != payment
            || b.checkout.is_some()
            || submitted >= b.hold_until
        {
            return Vec::new();
        }
        let pay_by = (submitted + DECIDE).max(b.hold_until);
        b.checkout = Some((submitted, pay_by));
        vec![Kind::PaymentStarted { pay_by }]
    }

    /// The payment side says `payment`'s outcome is unknown (its checkout
    /// was submitted at `submitted`): a pending booking of that payment
    /// whose checkout was seen keeps its slot until `submitted +
    /// UNKNOWN_HOLD`, the first time only (the release never moves earlier).
    pub fn unknown(&mut self, booking: &str, payment: &str, submitted: Millis) -> Vec<Kind> {
        let Some(b) = self.bookings.iter_mut().find(|b| b.id == booking) else {
            return Vec::new();
        };
        let Some((seen, pay_by)) = b.checkout else {
            return Vec::new();
        };
        let until = (submitted + UNKNOWN_HOLD).max(pay_by);
        if b.status != BookingStatus::Pending || b.payment != payment || until <= pay_by {
            return Vec::new();
        }
        b.checkout = Some((seen, until));
        vec![Kind::PaymentDelayed { until }]
    }

    pub fn expire(&mut self, now: Millis) -> Vec<Kind> {
        let mut due: Vec<&mut RefBooking> = self
            .bookings
            .iter_mut()
            .filter(|b| b.status == BookingStatus::Pending && b.release_at() <= now)
            .collect();
        due.sort_by(|a, b| (a.release_at(), &a.id).cmp(&(b.release_at(), &b.id)));
        due.into_iter()
            .map(|b| {
                b.status = BookingStatus::Expired;
                b.updated = b.release_at();
                Kind::Expired(b.id.clone())
            })
            .collect()
    }
}
