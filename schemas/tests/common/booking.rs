//! Strategies for the booking commands and events, one per union branch.

use super::*;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use slotstream_domain::booking::*;

/// One strategy per `BookingCommand` branch, in union order.
pub fn booking_command_branches() -> Vec<BoxedStrategy<BookingCommand>> {
    vec![
        (command_id(), resource())
            .prop_map(|(command_id, resource)| {
                BookingCommand::RegisterResource(RegisterResource {
                    command_id,
                    resource,
                })
            })
            .boxed(),
        (
            (
                command_id(),
                text(),
                booking_id(),
                payment_id(),
                resource_id(),
            ),
            (user_id(), text(), ms(), ms(), ms()),
        )
            .prop_map(|((c, h, b, p, r), (u, e, s, end, at))| {
                BookingCommand::RequestBooking(RequestBooking {
                    command_id: c,
                    request_hash: h,
                    booking_id: b,
                    payment_id: p,
                    resource_id: r,
                    user_id: u,
                    user_email: e,
                    start: s,
                    end,
                    requested_at: at,
                })
            })
            .boxed(),
        (command_id(), booking_id(), resource_id(), user_id(), ms())
            .prop_map(|(c, b, r, u, at)| {
                BookingCommand::CancelBooking(CancelBooking {
                    command_id: c,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    requested_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), resource_id(), user_id()),
            (
                proptest::option::of(schedule().prop_map(Box::new)),
                rules(),
                ms(),
            ),
        )
            .prop_map(|((c, r, v), (schedule, rules, at))| {
                BookingCommand::UpdateResourceSchedule(UpdateResourceSchedule {
                    command_id: c,
                    resource_id: r,
                    vendor_id: v,
                    schedule,
                    rules,
                    requested_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), booking_id(), resource_id()),
            (user_id(), ms(), ms(), ms()),
        )
            .prop_map(|((c, h, b, r), (u, s, end, at))| {
                BookingCommand::RescheduleBooking(RescheduleBooking {
                    command_id: c,
                    request_hash: h,
                    booking_id: b,
                    resource_id: r,
                    requested_by: u,
                    start: s,
                    end,
                    requested_at: at,
                })
            })
            .boxed(),
    ]
}

/// One strategy per `BookingEvent` branch, in union order.
pub fn booking_event_branches() -> Vec<BoxedStrategy<BookingEvent>> {
    use BookingEvent as E;
    let reason = prop_oneof![
        Just(RejectionReason::SlotUnavailable),
        Just(RejectionReason::ResourceNotFound),
        Just(RejectionReason::InvalidRequest),
        Just(RejectionReason::IdempotencyKeyReused),
        Just(RejectionReason::OutsideHours),
        Just(RejectionReason::TooSoon),
        Just(RejectionReason::TooFar),
        Just(RejectionReason::BookingNotFound),
        Just(RejectionReason::NotReschedulable),
        Just(RejectionReason::TooLateToModify),
        Just(RejectionReason::PriceChanged),
    ];
    let cancel_reason = prop_oneof![
        Just(CancellationRejectionReason::NotFound),
        Just(CancellationRejectionReason::NotCancellable),
        Just(CancellationRejectionReason::TooLateToCancel),
    ];
    vec![
        (command_id(), resource())
            .prop_map(|(command_id, resource)| {
                E::ResourceRegistered(ResourceRegistered {
                    command_id,
                    resource,
                })
            })
            .boxed(),
        (
            (
                command_id(),
                text(),
                booking_id(),
                resource_id(),
                user_id(),
                user_id(),
            ),
            (text(), ms(), ms(), money(), payment_id(), ms(), ms()),
        )
            .prop_map(|((c, h, b, r, v, u), (e, s, end, m, p, exp, at))| {
                E::BookingHeld(BookingHeld {
                    command_id: c,
                    request_hash: h,
                    booking_id: b,
                    resource_id: r,
                    vendor_id: v,
                    user_id: u,
                    user_email: e,
                    start: s,
                    end,
                    amount: m,
                    payment_id: p,
                    hold_expires_at: exp,
                    held_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), booking_id(), resource_id(), user_id()),
            (reason, text(), ms()),
        )
            .prop_map(|((c, h, b, r, u), (reason, detail, at))| {
                E::BookingRejected(BookingRejected {
                    command_id: c,
                    request_hash: h,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    reason,
                    detail,
                    rejected_at: at,
                })
            })
            .boxed(),
        (
            (booking_id(), resource_id(), user_id(), text(), payment_id()),
            (ms(), ms(), money(), ms()),
        )
            .prop_map(|((b, r, u, e, p), (s, end, m, at))| {
                E::BookingConfirmed(BookingConfirmed {
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    user_email: e,
                    payment_id: p,
                    start: s,
                    end,
                    amount: m,
                    confirmed_at: at,
                })
            })
            .boxed(),
        (
            (booking_id(), resource_id(), user_id(), text()),
            (payment_id(), text(), ms()),
        )
            .prop_map(|((b, r, u, e), (p, reason, at))| {
                E::BookingFailed(BookingFailed {
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    user_email: e,
                    payment_id: p,
                    reason,
                    failed_at: at,
                })
            })
            .boxed(),
        (
            booking_id(),
            resource_id(),
            user_id(),
            text(),
            payment_id(),
            ms(),
        )
            .prop_map(|(b, r, u, e, p, at)| {
                E::BookingExpired(BookingExpired {
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    user_email: e,
                    payment_id: p,
                    expired_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), booking_id(), resource_id(), user_id(), text()),
            (payment_id(), any::<bool>(), money(), ms()),
        )
            .prop_map(|((c, b, r, u, e), (p, paid, m, at))| {
                E::BookingCancelled(BookingCancelled {
                    command_id: c,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    user_email: e,
                    payment_id: p,
                    was_paid: paid,
                    refund: m,
                    cancelled_at: at,
                })
            })
            .boxed(),
        (
            command_id(),
            booking_id(),
            resource_id(),
            user_id(),
            cancel_reason,
            ms(),
        )
            .prop_map(|(c, b, r, u, reason, at)| {
                E::CancellationRejected(CancellationRejected {
                    command_id: c,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    reason,
                    rejected_at: at,
                })
            })
            .boxed(),
        (booking_id(), resource_id(), payment_id(), money(), ms())
            .prop_map(|(b, r, p, m, at)| {
                E::PaymentOrphaned(PaymentOrphaned {
                    booking_id: b,
                    resource_id: r,
                    payment_id: p,
                    amount: m,
                    orphaned_at: at,
                })
            })
            .boxed(),
        (booking_id(), resource_id(), payment_id(), ms(), ms())
            .prop_map(|(b, r, p, at, pay_by)| {
                E::BookingPaymentStarted(BookingPaymentStarted {
                    booking_id: b,
                    resource_id: r,
                    payment_id: p,
                    submitted_at: at,
                    pay_by,
                })
            })
            .boxed(),
        (
            (booking_id(), resource_id(), user_id(), text()),
            (payment_id(), ms(), ms(), ms()),
        )
            .prop_map(|((b, r, u, email), (p, at, held_until, delayed_at))| {
                E::BookingPaymentDelayed(BookingPaymentDelayed {
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    user_email: email,
                    payment_id: p,
                    submitted_at: at,
                    held_until,
                    delayed_at,
                })
            })
            .boxed(),
        (
            command_id(),
            resource(),
            proptest::collection::vec(booking_id(), 0..3),
            ms(),
        )
            .prop_map(|(c, updated, outside_hours, at)| {
                E::ResourceScheduleChanged(ResourceScheduleChanged {
                    command_id: c,
                    updated,
                    outside_hours,
                    changed_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), booking_id(), resource_id(), user_id()),
            (text(), ms(), ms(), ms(), ms()),
            (user_id(), ms()),
        )
            .prop_map(|((c, h, b, r, u), (email, ps, pe, s, end), (by, at))| {
                E::BookingRescheduled(BookingRescheduled {
                    command_id: c,
                    request_hash: h,
                    booking_id: b,
                    resource_id: r,
                    user_id: u,
                    user_email: email,
                    previous_start: ps,
                    previous_end: pe,
                    start: s,
                    end,
                    rescheduled_by: by,
                    rescheduled_at: at,
                })
            })
            .boxed(),
    ]
}
