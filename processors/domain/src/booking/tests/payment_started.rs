//! A checkout submitted inside the hold keeps the slot for the payment's
//! decision; a hold with no checkout seen waits out the grace for one
//! decided late.

use super::*;
use crate::payment::{CheckoutOutcome, CheckoutSubmitted};

fn submitted(booking: &str, payment: &str, at: Millis) -> PaymentEvent {
    PaymentEvent::CheckoutSubmitted(CheckoutSubmitted {
        command_id: "k1".into(),
        request_hash: "h".into(),
        payment_id: payment.into(),
        booking_id: booking.into(),
        resource_id: "r1".into(),
        outcome: CheckoutOutcome::Succeeded,
        submitted_at: at,
    })
}

/// `p` with booking `b1` (payment `p1`) held at `T0`, its hold ending at
/// `T0 + TTL`.
fn held() -> BookingPartition {
    let mut p = partition_with_grace();
    book(&mut p, request(1, "r1", "ann", T0 + 2 * HOUR, 60), T0);
    p
}

fn expired_ids(p: &BookingPartition, now: Millis) -> Vec<(BookingId, Millis)> {
    p.due_expiries(now)
        .into_iter()
        .map(|e| match e {
            BookingEvent::BookingExpired(x) => (x.booking_id, x.expired_at),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_hold_with_no_checkout_seen_is_released_after_the_grace() {
    let p = held();
    assert!(
        expired_ids(&p, T0 + TTL).is_empty(),
        "not at the hold's end"
    );
    assert!(expired_ids(&p, T0 + TTL + GRACE - 1).is_empty());
    assert_eq!(
        expired_ids(&p, T0 + TTL + GRACE),
        [(BookingId::new("b1"), T0 + TTL + GRACE)]
    );
    assert_eq!(p.next_expiry(), Some(T0 + TTL + GRACE));
    let b = p.booking(&BookingId::new("b1")).expect("b1");
    assert_eq!(b.hold_expires_at, T0 + TTL, "the public deadline stays");
}

#[test]
fn a_checkout_submitted_inside_the_hold_moves_the_release_to_its_pay_by() {
    let mut p = held();
    // Submitted a second before the hold ends, decided a minute after.
    let at = T0 + TTL - 1_000;
    let out = react(&mut p, &submitted("b1", "p1", at), T0 + TTL + MINUTE);
    assert!(matches!(
        out.as_slice(),
        [BookingEvent::BookingPaymentStarted(e)]
            if e.submitted_at == at && e.pay_by == at + DECIDE && e.payment_id == PaymentId::new("p1")
    ));
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Pending));
    assert_eq!(p.next_expiry(), Some(at + DECIDE));
    assert!(expired_ids(&p, at + DECIDE - 1).is_empty());
    // The provider answers late, before pay_by: confirmed, not orphaned.
    let out = react(&mut p, &completed("b1", "p1"), at + DECIDE - 1);
    assert!(matches!(
        out.as_slice(),
        [BookingEvent::BookingConfirmed(_)]
    ));
    assert!(p.due_expiries(at + DECIDE).is_empty());
}

#[test]
fn pay_by_is_never_before_the_hold_deadline() {
    let mut p = held();
    let out = react(&mut p, &submitted("b1", "p1", T0 + MINUTE), T0 + MINUTE);
    assert!(matches!(
        out.as_slice(),
        [BookingEvent::BookingPaymentStarted(e)] if e.pay_by == T0 + TTL
    ));
    assert_eq!(p.next_expiry(), Some(T0 + TTL));
}

#[test]
fn a_checkout_submitted_at_or_after_the_hold_or_not_its_own_moves_nothing() {
    for (payment, at) in [
        ("p1", T0 + TTL),
        ("p1", T0 + TTL + 1),
        ("p-other", T0 + TTL - 1),
    ] {
        let mut p = held();
        let out = react(&mut p, &submitted("b1", payment, at), at);
        assert!(out.is_empty(), "{payment} at {at}: {out:?}");
        assert_eq!(p.next_expiry(), Some(T0 + TTL + GRACE));
    }
}

#[test]
fn only_the_first_checkout_moves_the_release_and_a_final_booking_ignores_it() {
    let mut p = held();
    let first = T0 + MINUTE * 10;
    react(&mut p, &submitted("b1", "p1", first), first);
    let again = react(
        &mut p,
        &submitted("b1", "p1", first + MINUTE),
        first + MINUTE,
    );
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(p.next_expiry(), Some(first + DECIDE));
    // Expired at its pay_by: a later checkout report changes nothing.
    for e in p.due_expiries(first + DECIDE) {
        p.apply(&e);
    }
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Expired));
    assert!(react(&mut p, &submitted("b1", "p1", first), first + DECIDE).is_empty());
}

#[test]
fn the_moved_release_is_stored_and_restored() {
    let mut p = held();
    let at = T0 + 5 * MINUTE;
    let out = p.react_to_payment(&submitted("b1", "p1", at), at);
    let keys: Vec<StateKey> = out.iter().flat_map(|e| p.apply(e)).collect();
    assert_eq!(keys, [StateKey::Booking(BookingId::new("b1"))]);
    let Some(StateRecord::Booking(stored)) = p.record(&keys[0]) else {
        panic!("a stored booking")
    };
    assert_eq!(stored.pay_by, Some(at + DECIDE));
    let mut restored = BookingPartition::new(BookingConfig::default());
    restored.load(StateRecord::Booking(stored.clone()));
    assert_eq!(restored.next_expiry(), Some(at + DECIDE));
    // The layout before pay_by loads as a booking with no checkout seen.
    let old = crate::booking::BookingV1 {
        id: stored.id.clone(),
        resource_id: stored.resource_id.clone(),
        vendor_id: stored.vendor_id.clone(),
        user_id: stored.user_id.clone(),
        user_email: stored.user_email.clone(),
        interval: stored.interval,
        status: stored.status,
        amount: stored.amount.clone(),
        payment_id: stored.payment_id.clone(),
        hold_expires_at: stored.hold_expires_at,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    };
    let bytes = postcard::to_stdvec(&StateRecord::BookingV1(old)).expect("encode");
    assert_eq!(bytes[0], 1, "the old layout keeps its variant");
    let mut from_old = BookingPartition::new(BookingConfig::default());
    from_old.load(postcard::from_bytes(&bytes).expect("decode"));
    assert_eq!(from_old.next_expiry(), Some(stored.hold_expires_at + GRACE));
    let new = postcard::to_stdvec(&StateRecord::Booking(stored.clone())).expect("encode");
    assert_eq!(
        new[0], 11,
        "the current layout: the variant appended after Resource"
    );
    // The layout before reschedules (variant 8) loads as a booking never moved.
    let v2 = crate::booking::BookingV2 {
        id: stored.id.clone(),
        resource_id: stored.resource_id.clone(),
        vendor_id: stored.vendor_id.clone(),
        user_id: stored.user_id.clone(),
        user_email: stored.user_email.clone(),
        interval: stored.interval,
        status: stored.status,
        amount: stored.amount.clone(),
        payment_id: stored.payment_id.clone(),
        hold_expires_at: stored.hold_expires_at,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        pay_by: stored.pay_by,
    };
    let bytes = postcard::to_stdvec(&StateRecord::BookingV2(v2)).expect("encode");
    assert_eq!(
        bytes[0], 8,
        "the layout before reschedules keeps its variant"
    );
    let Ok(StateRecord::BookingV2(read)) = postcard::from_bytes(&bytes) else {
        panic!("reads as the old layout")
    };
    assert_eq!(crate::booking::Booking::from(read), stored);
    let mut from_v2 = BookingPartition::new(BookingConfig::default());
    from_v2.load(postcard::from_bytes(&bytes).expect("decode"));
    assert_eq!(from_v2.next_expiry(), Some(at + DECIDE));
}
