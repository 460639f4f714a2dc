//! The payment processor's decisions and reactions. Nothing here mutates the
//! partition.

use super::messages::*;
use super::partition::{PaymentPartition, is_open, is_paid, replay};
use crate::booking::{BookingEvent, BookingRescheduled};
use crate::decision::Decision;
use crate::ids::PaymentId;
use crate::ledger::Seen;
use crate::money::Money;
use crate::time::Millis;

impl PaymentPartition {
    /// Reaction to a booking event: `BookingHeld` creates the intent (once
    /// per payment id); `BookingExpired`, `BookingFailed` and an unpaid
    /// `BookingCancelled` cancel it while no checkout was submitted (a
    /// submitted one waits for the provider's word); a paid
    /// `BookingCancelled` refunds its quote; `PaymentOrphaned` refunds
    /// everything not yet refunded; `BookingRescheduled` of a booking whose
    /// payment is open or paid gives it the new start
    /// (`PaymentBookingRescheduled`). Refunds are capped at what is left.
    pub fn react_to_booking(
        &self,
        ev: &BookingEvent,
        checkout_url: &dyn Fn(&PaymentId) -> String,
        now: Millis,
    ) -> Vec<PaymentEvent> {
        match ev {
            BookingEvent::BookingHeld(b) if !self.payments.contains_key(&b.payment_id) => {
                vec![PaymentEvent::PaymentIntentCreated(PaymentIntentCreated {
                    payment_id: b.payment_id.clone(),
                    booking_id: b.booking_id.clone(),
                    resource_id: b.resource_id.clone(),
                    user_id: b.user_id.clone(),
                    amount: b.amount.clone(),
                    checkout_url: checkout_url(&b.payment_id),
                    created_at: now,
                    booking_start: Some(b.start),
                    hold_expires_at: Some(b.hold_expires_at),
                })]
            }
            BookingEvent::BookingExpired(b) => self.cancel(&b.payment_id, now),
            BookingEvent::BookingFailed(b) => self.cancel(&b.payment_id, now),
            BookingEvent::BookingCancelled(b) if !b.was_paid => self.cancel(&b.payment_id, now),
            BookingEvent::BookingCancelled(b) => self.refund(&b.payment_id, b.refund.amount, now),
            BookingEvent::PaymentOrphaned(o) => self.refund(&o.payment_id, i64::MAX, now),
            BookingEvent::BookingRescheduled(r) => self.moved(r),
            _ => Vec::new(),
        }
    }

    /// Tells the booking's payment its new start, while a paid cancellation
    /// may still refund it (open or paid) and it holds another start.
    fn moved(&self, r: &BookingRescheduled) -> Vec<PaymentEvent> {
        match self.payment_of(&r.booking_id) {
            Some(p)
                if (is_open(p.status) || is_paid(p.status)) && p.booking_start != Some(r.start) =>
            {
                vec![PaymentEvent::PaymentBookingRescheduled(
                    PaymentBookingRescheduled {
                        payment_id: p.id.clone(),
                        booking_id: p.booking_id.clone(),
                        resource_id: p.resource_id.clone(),
                        booking_start: r.start,
                        rescheduled_at: r.rescheduled_at,
                    },
                )]
            }
            _ => Vec::new(),
        }
    }

    /// Cancels an intent nobody submitted a checkout for. A submitted one
    /// (processing or unknown) is not canceled: money may have been taken,
    /// so it stays until the provider says what became of it (a success
    /// then completes it, the booking side orphans it, and it is refunded).
    fn cancel(&self, id: &PaymentId, now: Millis) -> Vec<PaymentEvent> {
        match self.payments.get(id) {
            Some(p) if p.status == PaymentStatus::RequiresPayment => {
                vec![PaymentEvent::PaymentCanceled(PaymentCanceled {
                    payment_id: p.id.clone(),
                    booking_id: p.booking_id.clone(),
                    resource_id: p.resource_id.clone(),
                    canceled_at: now,
                })]
            }
            _ => Vec::new(),
        }
    }

    fn refund(&self, id: &PaymentId, wanted: i64, now: Millis) -> Vec<PaymentEvent> {
        let Some(p) = self.payments.get(id).filter(|p| is_paid(p.status)) else {
            return Vec::new();
        };
        let left = (p.amount.amount - p.refunded).max(0);
        let amount = wanted.min(left);
        if amount <= 0 {
            return Vec::new();
        }
        let total = p.refunded + amount;
        let status = if total == p.amount.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        vec![PaymentEvent::PaymentRefunded(PaymentRefunded {
            payment_id: p.id.clone(),
            booking_id: p.booking_id.clone(),
            resource_id: p.resource_id.clone(),
            user_id: p.user_id.clone(),
            amount: Money::new(amount, p.amount.currency.clone()),
            refunded_total: Money::new(total, p.amount.currency.clone()),
            status,
            refund_id: format!("{}-r{}", p.id, p.refunds + 1),
            refunded_at: now,
        })]
    }

    /// Decides one command at `now`.
    ///
    /// `SubmitCheckout`: replay check (command id + request hash); unknown
    /// payment or not the payer's: `NotFound`; not `RequiresPayment`, or
    /// submitted at or after its booking's hold deadline: `NotPending` (as
    /// for a booking that expired); else `CheckoutSubmitted`, whose
    /// `submitted_at` is the gateway's append instant (`appended_at`, capped
    /// at `now`; `now` for commands without it).
    ///
    /// `RecordProviderOutcome`: a webhook id already seen or an unknown
    /// payment: nothing. `Succeeded` while requiring payment, processing or
    /// canceled: `PaymentCompleted` (the money was taken even if canceled;
    /// the booking side orphans and refunds it), stamped with the provider's
    /// instant (`completed_at`) and `now` (`recorded_at`). `Failed` while requiring
    /// payment or processing: `PaymentFailed`. Otherwise nothing.
    pub fn decide(&self, cmd: &PaymentCommand, now: Millis) -> Decision<PaymentEvent> {
        match cmd {
            PaymentCommand::SubmitCheckout(c) => self.decide_checkout(c, now),
            PaymentCommand::RecordProviderOutcome(c) => self.decide_outcome(c, now),
        }
    }

    fn decide_checkout(&self, c: &SubmitCheckout, now: Millis) -> Decision<PaymentEvent> {
        let reject = |reason| {
            PaymentEvent::CheckoutRejected(CheckoutRejected {
                command_id: c.command_id.clone(),
                request_hash: c.request_hash.clone(),
                payment_id: c.payment_id.clone(),
                resource_id: c.resource_id.clone(),
                reason,
                rejected_at: now,
            })
        };
        match self.ledger.check(&c.command_id, &c.request_hash) {
            Seen::Replay(answer) => return replay(answer),
            Seen::Reused => {
                return Decision::reply_only(reject(CheckoutRejectionReason::IdempotencyKeyReused));
            }
            Seen::Fresh => {}
        }
        // The customer's action counts when the gateway appended it; a stamp
        // ahead of this side's clock (a gateway clock running fast) counts as now.
        let submitted_at = c.appended_at.map_or(now, |at| at.min(now));
        let event = match self.payments.get(&c.payment_id) {
            Some(p) if p.user_id == c.user_id && p.resource_id == c.resource_id => {
                let in_time = p.hold_expires_at.is_none_or(|h| submitted_at < h);
                if p.status == PaymentStatus::RequiresPayment && in_time {
                    PaymentEvent::CheckoutSubmitted(CheckoutSubmitted {
                        command_id: c.command_id.clone(),
                        request_hash: c.request_hash.clone(),
                        payment_id: p.id.clone(),
                        booking_id: p.booking_id.clone(),
                        resource_id: p.resource_id.clone(),
                        outcome: c.outcome,
                        submitted_at,
                    })
                } else {
                    reject(CheckoutRejectionReason::NotPending)
                }
            }
            _ => reject(CheckoutRejectionReason::NotFound),
        };
        Decision::answer(event)
    }

    fn decide_outcome(&self, c: &RecordProviderOutcome, now: Millis) -> Decision<PaymentEvent> {
        let Some(p) = self.payments.get(&c.payment_id) else {
            return Decision::none();
        };
        if p.provider_events.contains(&c.provider_event_id) {
            return Decision::none();
        }
        let event = match (c.outcome, p.status) {
            (CheckoutOutcome::Succeeded, s) if is_open(s) || s == PaymentStatus::Canceled => {
                PaymentEvent::PaymentCompleted(PaymentCompleted {
                    payment_id: p.id.clone(),
                    provider_event_id: c.provider_event_id.clone(),
                    booking_id: p.booking_id.clone(),
                    resource_id: p.resource_id.clone(),
                    user_id: p.user_id.clone(),
                    amount: p.amount.clone(),
                    completed_at: c.occurred_at,
                    recorded_at: Some(now),
                })
            }
            (CheckoutOutcome::Failed, s) if is_open(s) => {
                PaymentEvent::PaymentFailed(PaymentFailed {
                    payment_id: p.id.clone(),
                    provider_event_id: c.provider_event_id.clone(),
                    booking_id: p.booking_id.clone(),
                    resource_id: p.resource_id.clone(),
                    user_id: p.user_id.clone(),
                    reason: c.reason.clone(),
                    failed_at: c.occurred_at,
                })
            }
            _ => return Decision::none(),
        };
        Decision::answer(event)
    }
}
