//! How events change a payment partition.

use super::check::ANSWER_WAIT;
use super::messages::*;
use super::partition::{Payment, PaymentPartition, PendingRefund, is_open, is_paid};
use super::settle::settles_at;
use crate::ids::{CommandId, PaymentId};
use crate::state::StateKey;
use crate::time::Millis;

/// How many provider webhook ids a payment remembers.
const SEEN_PROVIDER_EVENTS: usize = 16;

impl PaymentPartition {
    /// Applies one event; returns the keys whose stored record changed.
    pub fn apply(&mut self, ev: &PaymentEvent) -> Vec<StateKey> {
        let mut keys = Vec::with_capacity(2);
        match ev {
            PaymentEvent::PaymentIntentCreated(e) => {
                if !self.payments.contains_key(&e.payment_id) {
                    self.payments.insert(
                        e.payment_id.clone(),
                        Payment {
                            id: e.payment_id.clone(),
                            booking_id: e.booking_id.clone(),
                            resource_id: e.resource_id.clone(),
                            user_id: e.user_id.clone(),
                            amount: e.amount.clone(),
                            status: PaymentStatus::RequiresPayment,
                            refunded: 0,
                            checkout_url: e.checkout_url.clone(),
                            provider_events: Vec::new(),
                            refunds: 0,
                            created_at: e.created_at,
                            updated_at: e.created_at,
                            booking_start: e.booking_start,
                            paid_recorded_at: None,
                            hold_expires_at: e.hold_expires_at,
                            checkout: None,
                            submitted_at: None,
                            check_at: None,
                            checks: 0,
                            refund_pending: None,
                        },
                    );
                    self.by_booking
                        .insert(e.booking_id.clone(), e.payment_id.clone());
                    keys.push(StateKey::Payment(e.payment_id.clone()));
                }
            }
            PaymentEvent::CheckoutSubmitted(e) => {
                self.update(&e.payment_id, e.submitted_at, &mut keys, |p| {
                    (p.status == PaymentStatus::RequiresPayment).then(|| {
                        p.status = PaymentStatus::Processing;
                        p.checkout = Some(e.outcome);
                        p.submitted_at = Some(e.submitted_at);
                        p.check_at = Some(e.submitted_at.saturating_add(ANSWER_WAIT));
                    })
                });
                self.file(
                    &e.command_id,
                    &e.request_hash,
                    e.submitted_at,
                    ev,
                    &mut keys,
                );
            }
            PaymentEvent::CheckoutRejected(e) => {
                if e.reason != CheckoutRejectionReason::IdempotencyKeyReused {
                    self.file(&e.command_id, &e.request_hash, e.rejected_at, ev, &mut keys);
                }
            }
            PaymentEvent::PaymentCompleted(e) => {
                let webhook = Some(e.provider_event_id.clone());
                self.update(&e.payment_id, e.completed_at, &mut keys, |p| {
                    let ok = is_open(p.status) || p.status == PaymentStatus::Canceled;
                    ok.then(|| {
                        p.status = PaymentStatus::Succeeded;
                        p.paid_recorded_at = e.recorded_at;
                        p.check_at = None;
                        remember(p, webhook);
                    })
                });
            }
            PaymentEvent::PaymentFailed(e) => {
                let webhook = Some(e.provider_event_id.clone());
                self.update(&e.payment_id, e.failed_at, &mut keys, |p| {
                    is_open(p.status).then(|| {
                        p.status = PaymentStatus::Failed;
                        p.check_at = None;
                        remember(p, webhook);
                    })
                });
            }
            PaymentEvent::PaymentCanceled(e) => {
                self.update(&e.payment_id, e.canceled_at, &mut keys, |p| {
                    (p.status == PaymentStatus::RequiresPayment)
                        .then(|| p.status = PaymentStatus::Canceled)
                });
            }
            PaymentEvent::RefundUnconfirmed(e) => {
                self.update(&e.payment_id, e.checked_at, &mut keys, |p| {
                    let pending = p
                        .refund_pending
                        .as_ref()
                        .is_some_and(|r| r.refund_id == e.refund_id);
                    pending.then(|| {
                        p.checks = e.attempt;
                        p.check_at = Some(e.next_check_at);
                    })
                });
            }
            PaymentEvent::RefundConfirmed(e) => {
                self.update(&e.payment_id, e.confirmed_at, &mut keys, |p| {
                    let pending = p
                        .refund_pending
                        .as_ref()
                        .is_some_and(|r| r.refund_id == e.refund_id);
                    pending.then(|| {
                        p.refund_pending = None;
                        p.check_at = None;
                    })
                });
            }
            PaymentEvent::PaymentStatusUnknown(e) => {
                self.update(&e.payment_id, e.checked_at, &mut keys, |p| {
                    let checking =
                        matches!(p.status, PaymentStatus::Processing | PaymentStatus::Unknown);
                    checking.then(|| {
                        p.status = PaymentStatus::Unknown;
                        p.checks = e.attempt;
                        p.check_at = Some(e.next_check_at);
                    })
                });
            }
            PaymentEvent::PaymentBookingRescheduled(e) => {
                // Not a change of the payment as its payer sees it:
                // `updated_at` stays; only the settle instant moves.
                if let Some(old) = self.payments.get(&e.payment_id).cloned() {
                    let mut moved = old.clone();
                    moved.booking_start = Some(e.booking_start);
                    self.unindex(&old);
                    self.index(&moved);
                    self.payments.insert(e.payment_id.clone(), moved);
                    keys.push(StateKey::Payment(e.payment_id.clone()));
                }
            }
            PaymentEvent::PaymentRefunded(e) => {
                self.update(&e.payment_id, e.refunded_at, &mut keys, |p| {
                    is_paid(p.status).then(|| {
                        p.refunded = e.refunded_total.amount.clamp(0, p.amount.amount);
                        p.refunds += 1;
                        p.status = e.status;
                        // Handed to the provider after the commit; asked
                        // again until it acknowledges.
                        p.refund_pending = Some(PendingRefund {
                            refund_id: e.refund_id.clone(),
                            amount: e.amount.clone(),
                        });
                        p.check_at = Some(e.refunded_at.saturating_add(ANSWER_WAIT));
                        p.checks = 0;
                    })
                });
            }
        }
        keys
    }

    /// Runs `change` on a payment and moves it in the settle index; `change`
    /// returns `None` when the event does not fit the payment's state (a bug
    /// in whoever decided it: ignored).
    fn update(
        &mut self,
        id: &PaymentId,
        at: Millis,
        keys: &mut Vec<StateKey>,
        change: impl FnOnce(&mut Payment) -> Option<()>,
    ) {
        let Some(p) = self.payments.get_mut(id) else {
            debug_assert!(
                self.payments.contains_key(id),
                "event for unknown payment {id}"
            );
            return;
        };
        let before = settles_at(p);
        let check_before = p.check_at;
        let changed = change(p).is_some();
        debug_assert!(
            changed,
            "payment event does not fit payment {id} in {:?}",
            p.status
        );
        if changed {
            p.updated_at = at;
            // Its settle instant follows its new status and time.
            if let Some(t) = before {
                self.settle.remove(&(t, id.clone()));
            }
            if let Some(t) = settles_at(p) {
                self.settle.insert((t, id.clone()));
            }
            if check_before != p.check_at {
                if let Some(t) = check_before {
                    self.checks.remove(&(t, id.clone()));
                }
                if let Some(t) = p.check_at {
                    self.checks.insert((t, id.clone()));
                }
            }
            keys.push(StateKey::Payment(id.clone()));
        }
    }

    fn file(
        &mut self,
        id: &CommandId,
        request_hash: &str,
        at: Millis,
        ev: &PaymentEvent,
        keys: &mut Vec<StateKey>,
    ) {
        let filed = self
            .ledger
            .file(id, at, || (request_hash.to_owned(), Box::new(ev.clone())));
        keys.extend(filed);
    }
}

/// Notes a handled webhook id, keeping the last [`SEEN_PROVIDER_EVENTS`].
pub(super) fn remember(p: &mut Payment, webhook: Option<String>) {
    if let Some(id) = webhook {
        p.provider_events.push(id);
        let extra = p.provider_events.len().saturating_sub(SEEN_PROVIDER_EVENTS);
        p.provider_events.drain(..extra);
    }
}
