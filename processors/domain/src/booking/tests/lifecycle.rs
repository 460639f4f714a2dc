//! Payment outcomes, expiry, cancellation and the transition table.

use super::*;

#[test]
fn expiry_releases_the_slot_for_immediate_rebooking() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    assert!(p.due_expiries(T0 + TTL - 1).is_empty());
    let due = p.due_expiries(T0 + TTL);
    assert_eq!(due.len(), 1, "a hold expires at its exact instant");
    for e in &due {
        p.apply(e);
    }
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Expired));
    assert_eq!(p.next_expiry(), None);
    let d = book(&mut p, request(2, "r1", "bob", T0 + HOUR, 60), T0 + TTL);
    assert!(matches!(d.reply, Some(BookingEvent::BookingHeld(_))));
}

#[test]
fn due_expiries_come_earliest_first_and_stop_at_now() {
    let mut p = partition();
    book(
        &mut p,
        request(1, "r1", "ann", T0 + HOUR, 60),
        T0 + 2 * MINUTE,
    );
    book(&mut p, request(2, "r2", "ann", T0 + HOUR, 60), T0);
    book(
        &mut p,
        request(3, "r1", "ann", T0 + 3 * HOUR, 60),
        T0 + 10 * MINUTE,
    );
    assert_eq!(p.next_expiry(), Some(T0 + TTL));
    let ids: Vec<BookingId> = p
        .due_expiries(T0 + TTL + 5 * MINUTE)
        .into_iter()
        .map(|e| match e {
            BookingEvent::BookingExpired(x) => x.booking_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, vec![BookingId::new("b2"), BookingId::new("b1")]);
}

#[test]
fn payment_confirms_a_pending_booking_even_past_its_hold_time() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let out = react(&mut p, &completed("b1", "p1"), T0 + TTL + MINUTE);
    assert!(
        matches!(out.as_slice(), [BookingEvent::BookingConfirmed(c)] if c.payment_id == PaymentId::new("p1"))
    );
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Confirmed));
    assert!(
        p.due_expiries(T0 + DAY_LATER).is_empty(),
        "a confirmed booking never expires"
    );
    assert_eq!(
        p.busy(&"r1".into(), T0, T0 + 2 * HOUR).len(),
        1,
        "it keeps its slot"
    );
}

#[test]
fn a_repeated_completion_does_nothing_and_another_payment_is_orphaned() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    react(&mut p, &completed("b1", "p1"), T0);
    assert!(react(&mut p, &completed("b1", "p1"), T0).is_empty());
    let out = react(&mut p, &completed("b1", "p-other"), T0);
    assert!(
        matches!(out.as_slice(), [BookingEvent::PaymentOrphaned(o)] if o.payment_id == PaymentId::new("p-other"))
    );
}

#[test]
fn a_payment_for_a_booking_that_is_no_longer_pending_is_orphaned() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    for e in p.due_expiries(T0 + TTL) {
        p.apply(&e);
    }
    let out = react(&mut p, &completed("b1", "p1"), T0 + TTL);
    assert!(
        matches!(out.as_slice(), [BookingEvent::PaymentOrphaned(o)] if o.amount.amount == 1000)
    );
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Expired));
}

#[test]
fn a_failed_payment_fails_the_booking_and_frees_the_slot() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let out = react(&mut p, &failed("b1", "p1"), T0);
    assert!(
        matches!(out.as_slice(), [BookingEvent::BookingFailed(f)] if f.reason == "card declined")
    );
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Failed));
    assert!(p.busy(&"r1".into(), T0, T0 + 3 * HOUR).is_empty());
    assert_eq!(p.next_expiry(), None);
    assert!(
        react(&mut p, &failed("b1", "p1"), T0).is_empty(),
        "only a pending booking fails"
    );
}

#[test]
fn payment_events_for_unknown_bookings_do_nothing() {
    let p = partition();
    assert!(p.react_to_payment(&completed("nope", "p1"), T0).is_empty());
    assert!(p.react_to_payment(&failed("nope", "p1"), T0).is_empty());
}

#[test]
fn only_the_owner_can_cancel_and_others_see_not_found() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let reason = |d: Decision<BookingEvent>| match d.reply {
        Some(BookingEvent::CancellationRejected(r)) => Some(r.reason),
        _ => None,
    };
    assert_eq!(
        reason(run(&mut p, &cancel(1, "b1", "r1", "bob"), T0)),
        Some(CancellationRejectionReason::NotFound)
    );
    assert_eq!(
        reason(run(&mut p, &cancel(2, "zz", "r1", "ann"), T0)),
        Some(CancellationRejectionReason::NotFound)
    );
    assert_eq!(
        reason(run(&mut p, &cancel(3, "b1", "r2", "ann"), T0)),
        Some(CancellationRejectionReason::NotFound)
    );
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Pending));
}

#[test]
fn a_booking_is_not_cancellable_at_its_start_or_in_a_final_state() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let at_start = run(&mut p, &cancel(1, "b1", "r1", "ann"), T0 + HOUR);
    assert!(
        matches!(at_start.reply, Some(BookingEvent::CancellationRejected(r)) if r.reason == CancellationRejectionReason::NotCancellable)
    );
    run(&mut p, &cancel(2, "b1", "r1", "ann"), T0);
    let twice = run(&mut p, &cancel(3, "b1", "r1", "ann"), T0);
    assert!(
        matches!(twice.reply, Some(BookingEvent::CancellationRejected(r)) if r.reason == CancellationRejectionReason::NotCancellable)
    );
}

#[test]
fn cancelling_a_pending_booking_refunds_nothing_and_frees_the_slot() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let d = run(&mut p, &cancel(1, "b1", "r1", "ann"), T0);
    let Some(BookingEvent::BookingCancelled(c)) = d.reply else {
        panic!("{d:?}")
    };
    assert!(!c.was_paid);
    assert_eq!(c.refund, Money::zero("EUR"));
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Cancelled));
    assert!(p.busy(&"r1".into(), T0, T0 + 3 * HOUR).is_empty());
    assert_eq!(p.next_expiry(), None);
}

#[test]
fn cancelling_a_confirmed_booking_quotes_the_policy_refund() {
    let mut p = partition();
    let start = T0 + 30 * HOUR;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    book(&mut p, request(2, "r1", "ann", start + HOUR, 60), T0);
    react(&mut p, &completed("b1", "p1"), T0);
    react(&mut p, &completed("b2", "p2"), T0);
    let quote = |d: Decision<BookingEvent>| match d.reply {
        Some(BookingEvent::BookingCancelled(c)) if c.was_paid => Some(c.refund.amount),
        _ => None,
    };
    assert_eq!(
        quote(run(
            &mut p,
            &cancel(1, "b1", "r1", "ann"),
            start - 24 * HOUR
        )),
        Some(1000)
    );
    assert_eq!(
        quote(run(
            &mut p,
            &cancel(2, "b2", "r1", "ann"),
            start + HOUR - 3 * HOUR
        )),
        Some(500)
    );
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Cancelled));
}

#[test]
fn a_retried_cancellation_gets_its_original_answer() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let first = run(&mut p, &cancel(1, "b1", "r1", "ann"), T0);
    let retry = run(&mut p, &cancel(1, "b1", "r1", "ann"), T0 + MINUTE);
    assert!(retry.events.is_empty());
    assert_eq!(retry.reply, first.reply);
}

#[test]
fn the_transition_table_is_exactly_the_contract_lifecycle() {
    use BookingEventKind as K;
    use BookingStatus as S;
    let all = [
        S::Pending,
        S::Confirmed,
        S::Failed,
        S::Expired,
        S::Cancelled,
    ];
    let expected = |from: S, kind: K| match (from, kind) {
        (S::Pending, K::Confirmed) => Some(S::Confirmed),
        (S::Pending, K::Failed) => Some(S::Failed),
        (S::Pending, K::Expired) => Some(S::Expired),
        (S::Pending, K::Cancelled) => Some(S::Cancelled),
        (S::Confirmed, K::Cancelled) => Some(S::Cancelled),
        _ => None,
    };
    let mut legal = 0;
    for from in all {
        for kind in BookingEventKind::ALL {
            assert_eq!(
                next_status(from, kind),
                expected(from, kind),
                "{from:?} --{kind:?}-->"
            );
            legal += usize::from(expected(from, kind).is_some());
        }
    }
    assert_eq!(legal, TRANSITIONS.len());
}
