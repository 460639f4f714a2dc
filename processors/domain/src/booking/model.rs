//! The booking record and the booking processor's configuration.

use super::messages::BookingStatus;
use crate::ids::{BookingId, PaymentId, ResourceId, UserId};
use crate::money::Money;
use crate::time::{Interval, MINUTE, Millis};
use serde::{Deserialize, Serialize};

/// How the booking processor behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingConfig {
    /// How long an unpaid booking holds its slot (`hold_expires_at`).
    pub hold_ttl: Millis,
    /// How long a checkout submitted inside the hold keeps the slot for the
    /// payment's decision: `pay_by = submitted_at + this` (never before
    /// `hold_expires_at`).
    pub payment_decision_timeout: Millis,
    /// How long after `hold_expires_at` a booking with no checkout seen is
    /// still held: must exceed the longest time a submitted checkout can
    /// take to be decided (the Kafka transaction timeout plus a restart).
    pub checkout_grace: Millis,
    /// How long a checkout whose payment became unknown (the provider did
    /// not answer in time) keeps the slot: `pay_by` moves to
    /// `submitted_at` plus this (never earlier than it was) while the
    /// provider is asked. The bound on how long an undecidable payment
    /// holds a slot.
    pub payment_unknown_hold: Millis,
}

impl Default for BookingConfig {
    /// Holds last 15 minutes, a payment decision may take 10 (30 once the
    /// payment is unknown), and a checkout 30 seconds to be decided.
    fn default() -> Self {
        Self {
            hold_ttl: 15 * MINUTE,
            payment_decision_timeout: 10 * MINUTE,
            checkout_grace: MINUTE / 2,
            payment_unknown_hold: 30 * MINUTE,
        }
    }
}

impl BookingConfig {
    /// The instant a pending `b` is released unpaid: its `pay_by` once a
    /// checkout submitted inside the hold was seen, else `hold_expires_at`
    /// plus the grace for a checkout decided late.
    pub fn releases_at(&self, b: &Booking) -> Millis {
        b.pay_by
            .unwrap_or_else(|| b.hold_expires_at.saturating_add(self.checkout_grace))
    }
}

/// One booking as the booking processor stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Its id.
    pub id: BookingId,
    /// The booked resource.
    pub resource_id: ResourceId,
    /// The resource's vendor.
    pub vendor_id: UserId,
    /// The customer who owns the booking.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// The booked time, `[start, end)`.
    pub interval: Interval,
    /// Where it is in its lifecycle.
    pub status: BookingStatus,
    /// Its price.
    pub amount: Money,
    /// Its payment intent.
    pub payment_id: PaymentId,
    /// The hold's deadline as the customer was told it (never moves).
    pub hold_expires_at: Millis,
    /// When it was held.
    pub created_at: Millis,
    /// When its status last changed.
    pub updated_at: Millis,
    /// Set by `BookingPaymentStarted`: a checkout submitted before
    /// `hold_expires_at` was seen, and the slot stays held for its decision
    /// until this instant. `None` while no such checkout was seen.
    pub pay_by: Option<Millis>,
    /// Its lineage: every interval it held before, oldest first, with who
    /// moved it and when (`BookingRescheduled`). Empty for a booking never
    /// moved; the first entry's interval is the one it was held with.
    pub reschedules: Vec<Reschedule>,
}

/// One move of a booking (see [`Booking::reschedules`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reschedule {
    /// The interval it left.
    pub from: Interval,
    /// Who moved it.
    pub by: UserId,
    /// When.
    pub at: Millis,
}

impl Booking {
    /// The interval it was held with (before any reschedule).
    pub fn held_interval(&self) -> Interval {
        self.reschedules.first().map_or(self.interval, |r| r.from)
    }
}

/// A booking as stored before reschedules (the layout of
/// [`StateRecord::BookingV2`](crate::StateRecord::BookingV2)): read from old
/// stores, never written; it loads as a [`Booking`] never moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingV2 {
    /// See [`Booking::id`].
    pub id: BookingId,
    /// See [`Booking::resource_id`].
    pub resource_id: ResourceId,
    /// See [`Booking::vendor_id`].
    pub vendor_id: UserId,
    /// See [`Booking::user_id`].
    pub user_id: UserId,
    /// See [`Booking::user_email`].
    pub user_email: String,
    /// See [`Booking::interval`].
    pub interval: Interval,
    /// See [`Booking::status`].
    pub status: BookingStatus,
    /// See [`Booking::amount`].
    pub amount: Money,
    /// See [`Booking::payment_id`].
    pub payment_id: PaymentId,
    /// See [`Booking::hold_expires_at`].
    pub hold_expires_at: Millis,
    /// See [`Booking::created_at`].
    pub created_at: Millis,
    /// See [`Booking::updated_at`].
    pub updated_at: Millis,
    /// See [`Booking::pay_by`].
    pub pay_by: Option<Millis>,
}

impl From<BookingV2> for Booking {
    fn from(b: BookingV2) -> Self {
        Booking {
            id: b.id,
            resource_id: b.resource_id,
            vendor_id: b.vendor_id,
            user_id: b.user_id,
            user_email: b.user_email,
            interval: b.interval,
            status: b.status,
            amount: b.amount,
            payment_id: b.payment_id,
            hold_expires_at: b.hold_expires_at,
            created_at: b.created_at,
            updated_at: b.updated_at,
            pay_by: b.pay_by,
            reschedules: Vec::new(),
        }
    }
}

/// A booking as stored before checkouts moved the hold's deadline (the
/// layout of [`StateRecord::BookingV1`](crate::StateRecord::BookingV1)):
/// read from old stores, never written; it loads as a [`Booking`] with no
/// checkout seen, and its next change stores it in the current layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingV1 {
    /// See [`Booking::id`].
    pub id: BookingId,
    /// See [`Booking::resource_id`].
    pub resource_id: ResourceId,
    /// See [`Booking::vendor_id`].
    pub vendor_id: UserId,
    /// See [`Booking::user_id`].
    pub user_id: UserId,
    /// See [`Booking::user_email`].
    pub user_email: String,
    /// See [`Booking::interval`].
    pub interval: Interval,
    /// See [`Booking::status`].
    pub status: BookingStatus,
    /// See [`Booking::amount`].
    pub amount: Money,
    /// See [`Booking::payment_id`].
    pub payment_id: PaymentId,
    /// See [`Booking::hold_expires_at`].
    pub hold_expires_at: Millis,
    /// See [`Booking::created_at`].
    pub created_at: Millis,
    /// See [`Booking::updated_at`].
    pub updated_at: Millis,
}

impl From<BookingV1> for Booking {
    fn from(b: BookingV1) -> Self {
        Booking {
            id: b.id,
            resource_id: b.resource_id,
            vendor_id: b.vendor_id,
            user_id: b.user_id,
            user_email: b.user_email,
            interval: b.interval,
            status: b.status,
            amount: b.amount,
            payment_id: b.payment_id,
            hold_expires_at: b.hold_expires_at,
            created_at: b.created_at,
            updated_at: b.updated_at,
            pay_by: None,
            reschedules: Vec::new(),
        }
    }
}
