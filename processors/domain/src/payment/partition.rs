//! All payment state of one task partition.

use super::messages::*;
use crate::decision::Decision;
use crate::ids::{BookingId, PaymentId, ResourceId, UserId};
use crate::ledger::Ledger;
use crate::money::Money;
use crate::state::{Answer, StateKey, StateRecord};
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// The payment state of one partition.
#[derive(Clone, Debug, Default)]
pub struct PaymentPartition {
    pub(super) payments: HashMap<PaymentId, Payment>,
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

    /// A payment, in whatever state.
    pub fn payment(&self, id: &PaymentId) -> Option<&Payment> {
        self.payments.get(id)
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

    /// Restores one stored record; records of other aggregates are ignored.
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::Payment(p) => {
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
    /// keys to delete.
    pub fn prune_commands(&mut self, older_than: Millis) -> Vec<StateKey> {
        self.ledger.prune(older_than)
    }
}
