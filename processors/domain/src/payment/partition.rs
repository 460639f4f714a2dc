//! All payment state of one task partition.

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

/// One payment intent as the payment processor stores it.
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
    /// When it last changed.
    pub updated_at: Millis,
}

/// The payment state of one partition: live payments (settled ones have
/// left, see [`settles_at`](super::settles_at)), the settle index and the
/// idempotency ledger.
#[derive(Clone, Debug, Default)]
pub struct PaymentPartition {
    pub(super) payments: HashMap<PaymentId, Payment>,
    /// Payments that will settle, by [`settles_at`]. Only final payments are
    /// here, so the ids it copies are few next to the live set.
    pub(super) settle: BTreeSet<(Millis, PaymentId)>,
    pub(super) ledger: Ledger<Box<PaymentEvent>>,
}

/// The reply to a replayed command: its original answer, nothing new.
pub(super) fn replay(answer: &PaymentEvent) -> Decision<PaymentEvent> {
    Decision::reply_only(answer.clone())
}

/// Still waiting for money: may be submitted, completed, failed or canceled.
pub(super) fn is_open(status: PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::RequiresPayment | PaymentStatus::Processing
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

    /// How many payments the partition holds (live ones).
    pub fn payment_count(&self) -> usize {
        self.payments.len()
    }

    /// The earliest instant a live payment settles, if any will.
    pub fn next_settle(&self) -> Option<Millis> {
        self.settle.first().map(|(at, _)| *at)
    }

    /// Enters a payment into the settle index, if it will settle.
    pub(super) fn index(&mut self, p: &Payment) {
        if let Some(at) = settles_at(p) {
            self.settle.insert((at, p.id.clone()));
        }
    }

    /// Takes a payment out of the settle index (with its old fields).
    pub(super) fn unindex(&mut self, p: &Payment) {
        if let Some(at) = settles_at(p) {
            self.settle.remove(&(at, p.id.clone()));
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
    /// other aggregates are ignored. The store holds live payments only
    /// (settled ones were deleted); one already settled at load time leaves
    /// at the next [`PaymentPartition::evict_settled`].
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::Payment(p) => {
                if let Some(old) = self.payments.remove(&p.id) {
                    self.unindex(&old);
                }
                self.index(&p);
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
