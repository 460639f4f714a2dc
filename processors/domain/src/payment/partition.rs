//! All payment state of one task partition.

use super::check::ANSWER_WAIT;
use super::messages::*;
use super::settle::settles_at;
use crate::decision::Decision;
use crate::ids::{BookingId, PaymentId, ResourceId, UserId};
use crate::ledger::Ledger;
use crate::money::Money;
use crate::state::{Answer, StateKey, StateRecord};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// One payment intent as the payment processor stores it (as
/// [`StateRecord::Payment`]).
///
/// Stored records are postcard: fields are read by position, so a field
/// cannot be added to a stored struct in place. A new layout is a new
/// struct under a new `StateRecord` variant; the old one stays readable and
/// is converted on load (see [`PaymentV1`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Its id.
    pub id: PaymentId,
    /// The booking it pays for.
    pub booking_id: BookingId,
    /// The booking's resource (the partition key).
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// What is due.
    pub amount: Money,
    /// Where it is in its lifecycle.
    pub status: PaymentStatus,
    /// Minor units refunded so far (never more than `amount`).
    pub refunded: i64,
    /// Where the customer pays.
    pub checkout_url: String,
    /// Provider webhook ids already handled, the last 16.
    pub provider_events: Vec<String>,
    /// How many refunds were issued (numbers the refund ids).
    pub refunds: u32,
    /// When the intent was created.
    pub created_at: Millis,
    /// When it last changed (for a provider outcome: the provider's instant).
    pub updated_at: Millis,
    /// Its booking's start, until which a paid cancellation may refund it;
    /// `None` for intents stored before it was known ([`PaymentV1`]).
    pub booking_start: Option<Millis>,
    /// When this side recorded the success, on its own clock (`updated_at`
    /// then holds the provider's instant); `None` until paid, or when paid
    /// before the instant was recorded.
    pub paid_recorded_at: Option<Millis>,
    /// Its booking's hold deadline: a checkout submitted at or after it is
    /// refused. `None` for intents stored or created before it was known
    /// ([`PaymentV1`], [`PaymentV2`]): no deadline is checked then.
    pub hold_expires_at: Option<Millis>,
    /// What the customer submitted at checkout (the reconciler submits it
    /// again if the provider never received it); `None` before a checkout,
    /// and for payments stored before it was kept ([`PaymentV3`]).
    pub checkout: Option<CheckoutOutcome>,
    /// When the customer submitted the checkout.
    pub submitted_at: Option<Millis>,
    /// When the provider is next asked about this checkout, while its
    /// outcome is not known; `None` once it is (or before a checkout).
    pub check_at: Option<Millis>,
    /// How many times the provider was asked so far (about the checkout,
    /// or about the pending refund, whichever `check_at` is for).
    pub checks: u32,
    /// A refund decided and not yet acknowledged by the provider: while it
    /// is, `check_at` is when it is handed over again.
    pub refund_pending: Option<PendingRefund>,
}

/// A refund the provider has not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRefund {
    /// Its id, the provider's idempotency key.
    pub refund_id: String,
    /// How much.
    pub amount: Money,
}

/// A payment as stored before payments could be `Unknown` and reconciled
/// (the layout of [`StateRecord::PaymentV3`]): read from old stores, never
/// written. A `Processing` one loads with its check due at its last change
/// plus [`ANSWER_WAIT`], and is reconciled by asking the provider; its
/// checkout outcome is taken as a success (the one outcome a customer's
/// submitted checkout can have cost money for; the provider's answer
/// decides).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentV3 {
    /// See [`Payment::id`].
    pub id: PaymentId,
    /// See [`Payment::booking_id`].
    pub booking_id: BookingId,
    /// See [`Payment::resource_id`].
    pub resource_id: ResourceId,
    /// See [`Payment::user_id`].
    pub user_id: UserId,
    /// See [`Payment::amount`].
    pub amount: Money,
    /// See [`Payment::status`].
    pub status: PaymentStatus,
    /// See [`Payment::refunded`].
    pub refunded: i64,
    /// See [`Payment::checkout_url`].
    pub checkout_url: String,
    /// See [`Payment::provider_events`].
    pub provider_events: Vec<String>,
    /// See [`Payment::refunds`].
    pub refunds: u32,
    /// See [`Payment::created_at`].
    pub created_at: Millis,
    /// See [`Payment::updated_at`].
    pub updated_at: Millis,
    /// See [`Payment::booking_start`].
    pub booking_start: Option<Millis>,
    /// See [`Payment::paid_recorded_at`].
    pub paid_recorded_at: Option<Millis>,
    /// See [`Payment::hold_expires_at`].
    pub hold_expires_at: Option<Millis>,
}

impl From<PaymentV3> for Payment {
    fn from(p: PaymentV3) -> Self {
        let processing = p.status == PaymentStatus::Processing;
        Payment {
            id: p.id,
            booking_id: p.booking_id,
            resource_id: p.resource_id,
            user_id: p.user_id,
            amount: p.amount,
            status: p.status,
            refunded: p.refunded,
            checkout_url: p.checkout_url,
            provider_events: p.provider_events,
            refunds: p.refunds,
            created_at: p.created_at,
            updated_at: p.updated_at,
            booking_start: p.booking_start,
            paid_recorded_at: p.paid_recorded_at,
            hold_expires_at: p.hold_expires_at,
            checkout: processing.then_some(CheckoutOutcome::Succeeded),
            submitted_at: processing.then_some(p.updated_at),
            check_at: processing.then(|| p.updated_at.saturating_add(ANSWER_WAIT)),
            checks: 0,
            refund_pending: None,
        }
    }
}

/// A payment as stored before payments knew their booking's hold deadline
/// (the layout of [`StateRecord::PaymentV2`]): read from old stores, never
/// written. It loads as a [`Payment`] without a hold deadline; the next
/// change stores it in the current layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentV2 {
    /// See [`Payment::id`].
    pub id: PaymentId,
    /// See [`Payment::booking_id`].
    pub booking_id: BookingId,
    /// See [`Payment::resource_id`].
    pub resource_id: ResourceId,
    /// See [`Payment::user_id`].
    pub user_id: UserId,
    /// See [`Payment::amount`].
    pub amount: Money,
    /// See [`Payment::status`].
    pub status: PaymentStatus,
    /// See [`Payment::refunded`].
    pub refunded: i64,
    /// See [`Payment::checkout_url`].
    pub checkout_url: String,
    /// See [`Payment::provider_events`].
    pub provider_events: Vec<String>,
    /// See [`Payment::refunds`].
    pub refunds: u32,
    /// See [`Payment::created_at`].
    pub created_at: Millis,
    /// See [`Payment::updated_at`].
    pub updated_at: Millis,
    /// See [`Payment::booking_start`].
    pub booking_start: Option<Millis>,
    /// See [`Payment::paid_recorded_at`].
    pub paid_recorded_at: Option<Millis>,
}

impl From<PaymentV2> for Payment {
    fn from(p: PaymentV2) -> Self {
        PaymentV3 {
            id: p.id,
            booking_id: p.booking_id,
            resource_id: p.resource_id,
            user_id: p.user_id,
            amount: p.amount,
            status: p.status,
            refunded: p.refunded,
            checkout_url: p.checkout_url,
            provider_events: p.provider_events,
            refunds: p.refunds,
            created_at: p.created_at,
            updated_at: p.updated_at,
            booking_start: p.booking_start,
            paid_recorded_at: p.paid_recorded_at,
            hold_expires_at: None,
        }
        .into()
    }
}

/// A payment as stored before payments knew their booking's start (the
/// layout of [`StateRecord::PaymentV1`]): read from old stores, never
/// written. It loads as a [`Payment`] without a booking start, so once paid
/// it never settles (nothing on this side says until when a paid
/// cancellation may still refund it); every other status settles as before.
/// The next change of such a payment stores it in the current layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentV1 {
    /// See [`Payment::id`].
    pub id: PaymentId,
    /// See [`Payment::booking_id`].
    pub booking_id: BookingId,
    /// See [`Payment::resource_id`].
    pub resource_id: ResourceId,
    /// See [`Payment::user_id`].
    pub user_id: UserId,
    /// See [`Payment::amount`].
    pub amount: Money,
    /// See [`Payment::status`].
    pub status: PaymentStatus,
    /// See [`Payment::refunded`].
    pub refunded: i64,
    /// See [`Payment::checkout_url`].
    pub checkout_url: String,
    /// See [`Payment::provider_events`].
    pub provider_events: Vec<String>,
    /// See [`Payment::refunds`].
    pub refunds: u32,
    /// See [`Payment::created_at`].
    pub created_at: Millis,
    /// See [`Payment::updated_at`].
    pub updated_at: Millis,
}

impl From<PaymentV1> for Payment {
    fn from(p: PaymentV1) -> Self {
        PaymentV3 {
            id: p.id,
            booking_id: p.booking_id,
            resource_id: p.resource_id,
            user_id: p.user_id,
            amount: p.amount,
            status: p.status,
            refunded: p.refunded,
            checkout_url: p.checkout_url,
            provider_events: p.provider_events,
            refunds: p.refunds,
            created_at: p.created_at,
            updated_at: p.updated_at,
            booking_start: None,
            paid_recorded_at: None,
            hold_expires_at: None,
        }
        .into()
    }
}

/// The payment state of one partition: live payments (settled ones have
/// left, see [`settles_at`](super::settles_at)), the settle index and the
/// idempotency ledger.
#[derive(Clone, Debug, Default)]
pub struct PaymentPartition {
    pub(super) payments: HashMap<PaymentId, Payment>,
    /// The live payment of each booking (one per booking), so a booking's
    /// move finds its payment without a scan.
    pub(super) by_booking: HashMap<BookingId, PaymentId>,
    /// Payments that will settle, by [`settles_at`]. Only final payments are
    /// here, so the ids it copies are few next to the live set.
    pub(super) settle: BTreeSet<(Millis, PaymentId)>,
    /// Payments whose checkout outcome is not known yet, by when the
    /// provider is next asked ([`Payment::check_at`]).
    pub(super) checks: BTreeSet<(Millis, PaymentId)>,
    pub(super) ledger: Ledger<Box<PaymentEvent>>,
}

/// The reply to a replayed command: its original answer, nothing new.
pub(super) fn replay(answer: &PaymentEvent) -> Decision<PaymentEvent> {
    Decision::reply_only(answer.clone())
}

/// Still waiting for money: may be submitted, completed or failed (and
/// canceled while no checkout was submitted).
pub(super) fn is_open(status: PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::RequiresPayment | PaymentStatus::Processing | PaymentStatus::Unknown
    )
}

/// Money was taken and not all of it went back: may be refunded.
pub(super) fn is_paid(status: PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded
    )
}

impl PaymentPartition {
    /// An empty partition.
    pub fn new() -> Self {
        Self::default()
    }

    /// A live payment, in whatever state; `None` once it settled and left.
    pub fn payment(&self, id: &PaymentId) -> Option<&Payment> {
        self.payments.get(id)
    }

    /// The live payment of a booking, if any.
    pub fn payment_of(&self, booking: &BookingId) -> Option<&Payment> {
        self.by_booking
            .get(booking)
            .and_then(|id| self.payments.get(id))
    }

    /// How many payments the partition holds (live ones).
    pub fn payment_count(&self) -> usize {
        self.payments.len()
    }

    /// The earliest instant a live payment settles, if any will.
    pub fn next_settle(&self) -> Option<Millis> {
        self.settle.first().map(|(at, _)| *at)
    }

    /// The earliest instant the provider must be asked about a checkout.
    pub fn next_check(&self) -> Option<Millis> {
        self.checks.first().map(|(at, _)| *at)
    }

    /// Enters a payment into the settle and check indexes, as it applies.
    pub(super) fn index(&mut self, p: &Payment) {
        if let Some(at) = settles_at(p) {
            self.settle.insert((at, p.id.clone()));
        }
        if let Some(at) = p.check_at {
            self.checks.insert((at, p.id.clone()));
        }
    }

    /// Takes a payment out of both indexes (with its old fields).
    pub(super) fn unindex(&mut self, p: &Payment) {
        if let Some(at) = settles_at(p) {
            self.settle.remove(&(at, p.id.clone()));
        }
        if let Some(at) = p.check_at {
            self.checks.remove(&(at, p.id.clone()));
        }
    }

    /// The stored record under `key`; `None` means "delete it".
    pub fn record(&self, key: &StateKey) -> Option<StateRecord> {
        match key {
            StateKey::Payment(id) => self.payments.get(id).cloned().map(StateRecord::Payment),
            StateKey::Command(id) => {
                let e = self.ledger.get(id)?;
                Some(StateRecord::Command(
                    e.record(id, Answer::Payment(PaymentEvent::clone(&e.answer))),
                ))
            }
            _ => None,
        }
    }

    /// Restores one stored record, rebuilding the settle index; records of
    /// other aggregates are ignored. A payment in the old layout
    /// ([`StateRecord::PaymentV1`]) loads without a booking start. The store holds live payments only
    /// (settled ones were deleted); one already settled at load time leaves
    /// at the next [`PaymentPartition::evict_settled`].
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::PaymentV1(p) => self.load(StateRecord::Payment(p.into())),
            StateRecord::PaymentV2(p) => self.load(StateRecord::Payment(p.into())),
            StateRecord::PaymentV3(p) => self.load(StateRecord::Payment(p.into())),
            StateRecord::Payment(p) => {
                if let Some(old) = self.payments.remove(&p.id) {
                    self.unindex(&old);
                }
                self.index(&p);
                self.by_booking.insert(p.booking_id.clone(), p.id.clone());
                self.payments.insert(p.id.clone(), p);
            }
            StateRecord::Command(c) => self.ledger.load(c, |answer| match answer {
                Answer::Payment(ev) => Some(Box::new(ev)),
                _ => None,
            }),
            _ => {}
        }
    }

    /// Drops idempotency records answered before `older_than`; returns the
    /// keys to delete. [`PaymentPartition::evict_settled`] does this too,
    /// with [`COMMAND_RETENTION`](crate::COMMAND_RETENTION).
    pub fn prune_commands(&mut self, older_than: Millis) -> Vec<StateKey> {
        self.ledger.prune(older_than)
    }
}
