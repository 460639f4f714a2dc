//! Registration, booking requests and their idempotency.

use super::*;

#[test]
fn a_new_resource_is_registered_and_a_retry_gets_the_same_answer() {
    let mut p = BookingPartition::new(BookingConfig::default());
    let first = run(&mut p, &register(room("r1")), 0);
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.reply, first.events.first().cloned());
    assert!(p.resource(&"r1".into()).is_some());
    let again = run(&mut p, &register(room("r1")), 5);
    assert!(again.events.is_empty());
    assert_eq!(again.reply, first.reply);
}

#[test]
fn registering_an_existing_resource_id_under_another_command_does_nothing() {
    let p = partition();
    let BookingCommand::RegisterResource(mut c) = register(room("r1")) else {
        unreachable!()
    };
    c.command_id = "another".into();
    assert!(p.decide(&BookingCommand::RegisterResource(c), 0).is_none());
}

#[test]
fn an_invalid_resource_is_not_registered() {
    let mut bad = room("r3");
    bad.slot_minutes = 0;
    assert!(partition().decide(&register(bad), 0).is_none());
}

#[test]
fn applying_a_registration_reports_the_resource_and_ledger_keys() {
    let mut p = BookingPartition::new(BookingConfig::default());
    let d = p.decide(&register(room("r1")), 0);
    let keys = p.apply(&d.events[0]);
    assert_eq!(
        keys,
        vec![
            StateKey::Resource("r1".into()),
            StateKey::Command("reg-r1".into())
        ]
    );
}

#[test]
fn a_free_aligned_slot_is_held_until_the_hold_expires_at_its_price() {
    let mut p = partition();
    let now = T0 - HOUR;
    let d = p.decide(
        &BookingCommand::RequestBooking(request(1, "r1", "ann", T0, 75)),
        now,
    );
    let Some(BookingEvent::BookingHeld(h)) = d.reply.clone() else {
        panic!("expected a hold, got {d:?}")
    };
    assert_eq!(d.events, vec![BookingEvent::BookingHeld(h.clone())]);
    assert_eq!(h.hold_expires_at, now + TTL);
    assert_eq!(
        h.amount,
        Money::new(2000, "EUR"),
        "75 minutes at 1000 per started hour"
    );
    assert_eq!(h.vendor_id, "vendor".into());
    let keys = p.apply(&d.events[0]);
    assert_eq!(
        keys,
        vec![
            StateKey::Booking("b1".into()),
            StateKey::Command("c1".into())
        ]
    );
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Pending));
    assert_eq!(
        p.busy(&"r1".into(), T0, T0 + HOUR),
        vec![(Interval::new(T0, T0 + 75 * MINUTE), "b1".into())]
    );
    assert_eq!(p.next_expiry(), Some(now + TTL));
}

#[test]
fn a_request_for_an_unknown_resource_is_rejected_as_not_found() {
    let mut p = partition();
    let d = book(&mut p, request(1, "nope", "ann", T0, 60), T0);
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::ResourceNotFound)
    );
    assert_eq!(d.events.len(), 1, "a rejection is an event too");
}

#[test]
fn every_broken_rule_is_an_invalid_request_naming_the_rule() {
    let cases: [(Millis, i64, &str); 5] = [
        (T0, 0, "after start"),
        (T0 - 15 * MINUTE, 60, "start in the past"),
        (T0 + 5 * MINUTE, 60, "aligned"),
        (T0, 61, "aligned"),
        (T0, 9 * 60, "too long"),
    ];
    for (n, (start, minutes, rule)) in cases.into_iter().enumerate() {
        let mut p = partition();
        let d = book(&mut p, request(n as u32, "r1", "ann", start, minutes), T0);
        let (reason, detail) = rejection(&d).expect("a rejection");
        assert_eq!(reason, RejectionReason::InvalidRequest);
        assert!(detail.contains(rule), "{detail:?} should name {rule:?}");
    }
}

#[test]
fn a_price_overflow_is_an_invalid_request() {
    let mut p = BookingPartition::new(BookingConfig::default());
    let mut r = room("r1");
    r.price.amount = i64::MAX / 2;
    run(&mut p, &register(r), 0);
    let d = book(&mut p, request(1, "r1", "ann", T0, 180), T0);
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::InvalidRequest)
    );
}

#[test]
fn an_overlapping_request_is_rejected_as_slot_unavailable() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    for (n, start, minutes) in [
        (2, T0 + HOUR, 60),
        (3, T0 + 45 * MINUTE, 30),
        (4, T0 + 90 * MINUTE, 60),
        (5, T0, 180),
    ] {
        let d = book(&mut p, request(n, "r1", "bob", start, minutes), T0);
        assert_eq!(
            rejection(&d).map(|r| r.0),
            Some(RejectionReason::SlotUnavailable),
            "request {n}"
        );
    }
    let other_room = book(&mut p, request(6, "r2", "bob", T0 + HOUR, 60), T0);
    assert!(matches!(
        other_room.reply,
        Some(BookingEvent::BookingHeld(_))
    ));
}

#[test]
fn intervals_that_only_touch_do_not_overlap() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let before = book(&mut p, request(2, "r1", "bob", T0, 60), T0);
    let after = book(&mut p, request(3, "r1", "bob", T0 + 2 * HOUR, 60), T0);
    assert!(matches!(before.reply, Some(BookingEvent::BookingHeld(_))));
    assert!(matches!(after.reply, Some(BookingEvent::BookingHeld(_))));
    assert_eq!(p.busy(&"r1".into(), T0, T0 + 3 * HOUR).len(), 3);
}

#[test]
fn a_reused_booking_id_is_refused_rather_than_overwritten() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0, 60), T0);
    let mut again = request(2, "r1", "ann", T0 + HOUR, 60);
    again.booking_id = "b1".into();
    let d = book(&mut p, again, T0);
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::InvalidRequest)
    );
    assert_eq!(p.booking(&"b1".into()).map(|b| b.interval.start), Some(T0));
}

#[test]
fn a_retry_with_the_same_key_and_body_gets_the_original_answer_and_changes_nothing() {
    let mut p = partition();
    let first = book(&mut p, request(1, "r1", "ann", T0, 60), T0);
    let retry = p.decide(
        &BookingCommand::RequestBooking(request(1, "r1", "ann", T0, 60)),
        T0 + MINUTE,
    );
    assert!(retry.events.is_empty());
    assert_eq!(retry.reply, first.reply);
}

#[test]
fn a_replayed_rejection_stays_a_rejection_after_the_slot_frees() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let lost = book(&mut p, request(2, "r1", "bob", T0 + HOUR, 60), T0);
    run(&mut p, &cancel(1, "b1", "r1", "ann"), T0);
    let retry = book(&mut p, request(2, "r1", "bob", T0 + HOUR, 60), T0);
    assert!(retry.events.is_empty());
    assert_eq!(retry.reply, lost.reply);
}

#[test]
fn the_same_key_with_another_body_is_a_reuse_answered_but_not_recorded() {
    let mut p = partition();
    let first = book(&mut p, request(1, "r1", "ann", T0, 60), T0);
    let mut other = request(1, "r1", "ann", T0 + HOUR, 60);
    other.request_hash = "different".into();
    let d = book(&mut p, other, T0);
    assert!(d.events.is_empty());
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::IdempotencyKeyReused)
    );
    let Some(StateRecord::Command(rec)) = p.record(&StateKey::Command("c1".into())) else {
        panic!("the first answer is in the ledger")
    };
    assert_eq!(Some(BookingEvent::clone(&first.events[0])), first.reply);
    assert_eq!(rec.request_hash, "h1");
    assert_eq!(rec.at, T0);
    assert!(matches!(
        rec.answer,
        crate::Answer::Booking(BookingEvent::BookingHeld(_))
    ));
}
