//! The reconciler's timer: a submitted checkout whose outcome the provider
//! has not reported is asked about, by the payment's idempotency key, until
//! the provider says what became of it.
//!
//! A checkout is handed to the provider off the commit path (the driver
//! calls it after the `CheckoutSubmitted` commit, once, bounded by a
//! timeout), so a provider that is down, slow or loses its webhook stalls
//! nothing but its own payments. Whatever happened to that call, the
//! payment's check comes due [`ANSWER_WAIT`] after the submission; if no
//! outcome arrived by then, the payment becomes `Unknown`
//! ([`PaymentStatusUnknown`], attempt 1) and each further check asks again
//! ([`check_interval`] apart, doubling up to [`MAX_CHECK_INTERVAL`]). Every
//! ask is one `PaymentStatusUnknown` event, whose effect asks the provider;
//! an answer that settles it comes back as a `RecordProviderOutcome`, the
//! same command a webhook becomes, deduplicated by the provider's event id.
//! A payment stops being checked when its outcome is recorded, never
//! before: after the booking lapsed too, since money may have been taken.
//!
//! Refunds follow the same shape: `PaymentRefunded` is handed to the
//! provider after its commit and sets the check; until the provider
//! acknowledges it (`RefundConfirmed`, decided from the call's answer),
//! each check is a `RefundUnconfirmed` that hands it over again under the
//! same refund id, the provider's idempotency key.

impl PaymentPartition {
    /// The provider acknowledged refund `refund_id` of `payment_id`:
    /// `RefundConfirmed` if that refund is the one pending, else nothing (a
    /// repeated acknowledgement).
    pub fn confirm_refund(
        &self,
        payment_id: &crate::ids::PaymentId,
        refund_id: &str,
        now: Millis,
    ) -> Vec<PaymentEvent> {
        match self.payments.get(payment_id) {
            Some(p)
                if p.refund_pending
                    .as_ref()
                    .is_some_and(|r| r.refund_id == refund_id) =>
            {
                vec![PaymentEvent::RefundConfirmed(RefundConfirmed {
                    payment_id: p.id.clone(),
                    booking_id: p.booking_id.clone(),
                    resource_id: p.resource_id.clone(),
                    refund_id: refund_id.to_owned(),
                    confirmed_at: now,
                })]
            }
            _ => Vec::new(),
        }
    }
}

use super::messages::*;
use super::partition::PaymentPartition;
use crate::time::{MINUTE, Millis};

/// How long after a checkout's submission its outcome is expected before
/// the payment counts as unknown and the provider is asked.
pub const ANSWER_WAIT: Millis = 10_000;

/// The longest pause between two asks about one payment.
pub const MAX_CHECK_INTERVAL: Millis = 5 * MINUTE;

/// Most checks decided per timer firing: a provider that was down for a
/// while has many payments due at once, and one commit need not carry them
/// all (the rest are due at once and follow in the next rounds).
const CHECKS_PER_ROUND: usize = 256;

/// The pause after ask number `attempt` (1-based): [`ANSWER_WAIT`] doubled
/// per earlier ask, capped at [`MAX_CHECK_INTERVAL`].
pub fn check_interval(attempt: u32) -> Millis {
    let doublings = attempt.saturating_sub(1).min(16);
    ANSWER_WAIT
        .saturating_mul(1 << doublings)
        .min(MAX_CHECK_INTERVAL)
}

impl PaymentPartition {
    /// For every payment whose check is due at `now` (earliest first, at
    /// most [`CHECKS_PER_ROUND`]): a `RefundUnconfirmed` when a refund
    /// awaits the provider's acknowledgement, else a `PaymentStatusUnknown`.
    pub fn due_checks(&self, now: Millis) -> Vec<PaymentEvent> {
        self.checks
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(CHECKS_PER_ROUND)
            .filter_map(|(_, id)| {
                let p = self.payments.get(id)?;
                let attempt = p.checks.saturating_add(1);
                if let Some(r) = &p.refund_pending {
                    return Some(PaymentEvent::RefundUnconfirmed(RefundUnconfirmed {
                        payment_id: p.id.clone(),
                        booking_id: p.booking_id.clone(),
                        resource_id: p.resource_id.clone(),
                        refund_id: r.refund_id.clone(),
                        amount: r.amount.clone(),
                        attempt,
                        next_check_at: now.saturating_add(check_interval(attempt)),
                        checked_at: now,
                    }));
                }
                let (outcome, submitted_at) = (p.checkout?, p.submitted_at?);
                Some(PaymentEvent::PaymentStatusUnknown(PaymentStatusUnknown {
                    payment_id: p.id.clone(),
                    booking_id: p.booking_id.clone(),
                    resource_id: p.resource_id.clone(),
                    user_id: p.user_id.clone(),
                    outcome,
                    submitted_at,
                    attempt,
                    next_check_at: now.saturating_add(check_interval(attempt)),
                    checked_at: now,
                }))
            })
            .collect()
    }
}
