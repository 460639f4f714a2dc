//! Strategies for the payment commands and events, one per union branch.

use super::*;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use slotstream_domain::payment::*;

/// One strategy per `PaymentCommand` branch, in union order.
pub fn payment_command_branches() -> Vec<BoxedStrategy<PaymentCommand>> {
    vec![
        (
            (command_id(), text(), payment_id(), resource_id()),
            (user_id(), outcome(), proptest::option::of(ms()), ms()),
        )
            .prop_map(|((c, h, p, r), (u, o, appended, at))| {
                PaymentCommand::SubmitCheckout(SubmitCheckout {
                    command_id: c,
                    request_hash: h,
                    payment_id: p,
                    resource_id: r,
                    user_id: u,
                    outcome: o,
                    appended_at: appended,
                    requested_at: at,
                })
            })
            .boxed(),
        (text(), payment_id(), resource_id(), outcome(), text(), ms())
            .prop_map(|(id, p, r, o, reason, at)| {
                PaymentCommand::RecordProviderOutcome(RecordProviderOutcome {
                    provider_event_id: id,
                    payment_id: p,
                    resource_id: r,
                    outcome: o,
                    reason,
                    occurred_at: at,
                })
            })
            .boxed(),
    ]
}

/// One strategy per `PaymentEvent` branch, in union order.
pub fn payment_event_branches() -> Vec<BoxedStrategy<PaymentEvent>> {
    use PaymentEvent as E;
    let reject = prop_oneof![
        Just(CheckoutRejectionReason::NotFound),
        Just(CheckoutRejectionReason::NotPending),
        Just(CheckoutRejectionReason::IdempotencyKeyReused),
    ];
    let status = prop_oneof![
        Just(PaymentStatus::RequiresPayment),
        Just(PaymentStatus::Processing),
        Just(PaymentStatus::Succeeded),
        Just(PaymentStatus::Failed),
        Just(PaymentStatus::Refunded),
        Just(PaymentStatus::PartiallyRefunded),
        Just(PaymentStatus::Canceled),
        Just(PaymentStatus::Unknown),
    ];
    vec![
        (
            payment_id(),
            booking_id(),
            resource_id(),
            user_id(),
            money(),
            text(),
            ms(),
            proptest::option::of(ms()),
            proptest::option::of(ms()),
        )
            .prop_map(|(p, b, r, u, m, url, at, start, hold)| {
                E::PaymentIntentCreated(PaymentIntentCreated {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    amount: m,
                    checkout_url: url,
                    created_at: at,
                    booking_start: start,
                    hold_expires_at: hold,
                })
            })
            .boxed(),
        (
            command_id(),
            text(),
            payment_id(),
            booking_id(),
            resource_id(),
            outcome(),
            ms(),
        )
            .prop_map(|(c, h, p, b, r, o, at)| {
                E::CheckoutSubmitted(CheckoutSubmitted {
                    command_id: c,
                    request_hash: h,
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    outcome: o,
                    submitted_at: at,
                })
            })
            .boxed(),
        (
            command_id(),
            text(),
            payment_id(),
            resource_id(),
            reject,
            ms(),
        )
            .prop_map(|(c, h, p, r, reason, at)| {
                E::CheckoutRejected(CheckoutRejected {
                    command_id: c,
                    request_hash: h,
                    payment_id: p,
                    resource_id: r,
                    reason,
                    rejected_at: at,
                })
            })
            .boxed(),
        (
            payment_id(),
            text(),
            booking_id(),
            resource_id(),
            user_id(),
            money(),
            ms(),
            proptest::option::of(ms()),
        )
            .prop_map(|(p, pe, b, r, u, m, at, recorded)| {
                E::PaymentCompleted(PaymentCompleted {
                    payment_id: p,
                    provider_event_id: pe,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    amount: m,
                    completed_at: at,
                    recorded_at: recorded,
                })
            })
            .boxed(),
        (
            payment_id(),
            text(),
            booking_id(),
            resource_id(),
            user_id(),
            text(),
            ms(),
        )
            .prop_map(|(p, pe, b, r, u, reason, at)| {
                E::PaymentFailed(PaymentFailed {
                    payment_id: p,
                    provider_event_id: pe,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    reason,
                    failed_at: at,
                })
            })
            .boxed(),
        (payment_id(), booking_id(), resource_id(), ms())
            .prop_map(|(p, b, r, at)| {
                E::PaymentCanceled(PaymentCanceled {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    canceled_at: at,
                })
            })
            .boxed(),
        (
            (payment_id(), booking_id(), resource_id(), user_id()),
            (money(), money(), status, text(), ms()),
        )
            .prop_map(|((p, b, r, u), (m, total, status, refund_id, at))| {
                E::PaymentRefunded(PaymentRefunded {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    amount: m,
                    refunded_total: total,
                    status,
                    refund_id,
                    refunded_at: at,
                })
            })
            .boxed(),
        (
            (payment_id(), booking_id(), resource_id(), user_id()),
            (outcome(), ms(), small_u32(), ms(), ms()),
        )
            .prop_map(|((p, b, r, u), (o, at, attempt, next, checked))| {
                E::PaymentStatusUnknown(PaymentStatusUnknown {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    outcome: o,
                    submitted_at: at,
                    attempt,
                    next_check_at: next,
                    checked_at: checked,
                })
            })
            .boxed(),
        (
            (payment_id(), booking_id(), resource_id(), text()),
            (money(), small_u32(), ms(), ms()),
        )
            .prop_map(|((p, b, r, refund_id), (m, attempt, next, checked))| {
                E::RefundUnconfirmed(RefundUnconfirmed {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    refund_id,
                    amount: m,
                    attempt,
                    next_check_at: next,
                    checked_at: checked,
                })
            })
            .boxed(),
        (payment_id(), booking_id(), resource_id(), text(), ms())
            .prop_map(|(p, b, r, refund_id, at)| {
                E::RefundConfirmed(RefundConfirmed {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    refund_id,
                    confirmed_at: at,
                })
            })
            .boxed(),
        (payment_id(), booking_id(), resource_id(), ms(), ms())
            .prop_map(|(p, b, r, start, at)| {
                E::PaymentBookingRescheduled(PaymentBookingRescheduled {
                    payment_id: p,
                    booking_id: b,
                    resource_id: r,
                    booking_start: start,
                    rescheduled_at: at,
                })
            })
            .boxed(),
    ]
}
