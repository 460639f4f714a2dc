//! Moving a booking: one decision, one event that releases the old interval
//! and takes the new one, every rule checked with the booking's own
//! interval left out.

use super::*;
use crate::resource::Resource;
use crate::schedule::BookingRules;

fn move_to(n: u32, booking: &str, user: &str, start: Millis, minutes: i64) -> BookingCommand {
    BookingCommand::RescheduleBooking(RescheduleBooking {
        command_id: format!("m{n}").as_str().into(),
        request_hash: format!("mh{n}-{start}-{minutes}"),
        booking_id: booking.into(),
        resource_id: "r1".into(),
        requested_by: user.into(),
        start,
        end: start + minutes * MINUTE,
        requested_at: 0,
    })
}

fn moved(d: &Decision<BookingEvent>) -> &BookingRescheduled {
    match &d.reply {
        Some(BookingEvent::BookingRescheduled(e)) => e,
        other => panic!("expected a reschedule, got {other:?}"),
    }
}

fn busy(p: &BookingPartition) -> Vec<(Interval, BookingId)> {
    p.busy(&"r1".into(), 0, Millis::MAX)
}

#[test]
fn a_move_releases_the_old_interval_and_takes_the_new_one_in_one_event() {
    let mut p = partition();
    let start = T0 + DAY_LATER;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    let d = run(
        &mut p,
        &move_to(1, "b1", "ann", start + 3 * HOUR, 60),
        T0 + MINUTE,
    );
    assert_eq!(d.events.len(), 1, "one event");
    let e = moved(&d);
    assert_eq!((e.previous_start, e.previous_end), (start, start + HOUR));
    assert_eq!((e.start, e.end), (start + 3 * HOUR, start + 4 * HOUR));
    assert_eq!(e.rescheduled_by, UserId::new("ann"));
    let new = Interval::new(start + 3 * HOUR, start + 4 * HOUR);
    assert_eq!(busy(&p), [(new, BookingId::new("b1"))]);
    let b = p.booking(&"b1".into()).unwrap();
    assert_eq!(b.status, BookingStatus::Pending);
    assert_eq!(b.reschedules.len(), 1);
    assert_eq!(b.reschedules[0].from, Interval::new(start, start + HOUR));
    assert_eq!(b.reschedules[0].at, T0 + MINUTE);
    // The old interval is free at once; the new one is not.
    let d = book(&mut p, request(2, "r1", "bob", start, 60), T0 + 2 * MINUTE);
    assert!(matches!(d.reply, Some(BookingEvent::BookingHeld(_))));
    let d = book(
        &mut p,
        request(3, "r1", "bob", start + 3 * HOUR, 60),
        T0 + 2 * MINUTE,
    );
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::SlotUnavailable);
}

#[test]
fn a_move_overlapping_its_own_interval_is_no_conflict_but_a_neighbour_is() {
    let mut p = partition();
    let start = T0 + DAY_LATER;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    book(&mut p, request(2, "r1", "bob", start - 2 * HOUR, 60), T0);
    // Half an hour later: it overlaps only itself.
    let d = run(
        &mut p,
        &move_to(1, "b1", "ann", start + 30 * MINUTE, 60),
        T0,
    );
    moved(&d);
    // Earlier, onto bob's booking, passing over its own old place.
    let d = run(
        &mut p,
        &move_to(2, "b1", "ann", start - 90 * MINUTE, 120),
        T0,
    );
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::PriceChanged);
    let d = run(
        &mut p,
        &move_to(3, "b1", "ann", start - 90 * MINUTE, 60),
        T0,
    );
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::SlotUnavailable);
    assert_eq!(
        p.booking(&"b1".into()).unwrap().interval,
        Interval::new(start + 30 * MINUTE, start + 90 * MINUTE),
        "a refusal moves nothing"
    );
}

#[test]
fn only_the_owner_moves_an_active_booking_that_has_not_started() {
    let mut p = partition();
    let start = T0 + DAY_LATER;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    book(&mut p, request(2, "r1", "ann", start + 2 * HOUR, 60), T0);
    let d = run(&mut p, &move_to(1, "b1", "bob", start + 5 * HOUR, 60), T0);
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::BookingNotFound);
    let d = run(&mut p, &move_to(2, "nope", "ann", start + 5 * HOUR, 60), T0);
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::BookingNotFound);
    run(&mut p, &cancel(1, "b2", "r1", "ann"), T0);
    let d = run(&mut p, &move_to(3, "b2", "ann", start + 5 * HOUR, 60), T0);
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::NotReschedulable);
    // Confirmed moves too; not once it has started.
    react(&mut p, &completed("b1", "p1"), T0 + MINUTE);
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Confirmed));
    let d = run(
        &mut p,
        &move_to(4, "b1", "ann", start + 5 * HOUR, 60),
        T0 + 2 * MINUTE,
    );
    moved(&d);
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Confirmed));
    let d = run(
        &mut p,
        &move_to(5, "b1", "ann", start + 7 * HOUR, 60),
        start + 5 * HOUR,
    );
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::NotReschedulable);
}

#[test]
fn the_modification_notice_counts_from_the_old_start_and_the_rules_apply_to_the_new_one() {
    let mut p = BookingPartition::new(no_grace());
    let r = Resource {
        rules: BookingRules {
            buffer_after_minutes: 30,
            min_notice_minutes: 60,
            modify_notice_minutes: 120,
            ..BookingRules::default()
        },
        ..room("r1")
    };
    run(&mut p, &register(r), 0);
    let start = T0 + 10 * HOUR;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    book(&mut p, request(2, "r1", "bob", start + 4 * HOUR, 60), T0);
    // Far from the old start, but the new start is inside the notice.
    let d = run(&mut p, &move_to(1, "b1", "ann", T0 + 30 * MINUTE, 60), T0);
    assert_eq!(rejection(&d).unwrap().0, RejectionReason::TooSoon);
    // Buffers count around the new interval: ending 15 min before bob's
    // start leaves less than the 30 min after.
    let d = run(
        &mut p,
        &move_to(2, "b1", "ann", start + 165 * MINUTE, 60),
        T0,
    );
    let (reason, detail) = rejection(&d).unwrap();
    assert_eq!(reason, RejectionReason::SlotUnavailable);
    assert!(detail.contains("30 after"), "{detail}");
    // Its own buffers never block it: 15 minutes later is fine.
    moved(&run(
        &mut p,
        &move_to(3, "b1", "ann", start + 15 * MINUTE, 60),
        T0,
    ));
    // 2 h before the (new) current start the notice has passed, whatever
    // the target.
    let late = start + 15 * MINUTE - 2 * HOUR;
    let d = run(&mut p, &move_to(4, "b1", "ann", start + 8 * HOUR, 60), late);
    let (reason, detail) = rejection(&d).unwrap();
    assert_eq!(reason, RejectionReason::TooLateToModify);
    assert!(detail.contains("120 minutes"), "{detail}");
}

#[test]
fn a_repeated_move_replays_its_answer_and_a_reused_key_is_refused() {
    let mut p = partition();
    let start = T0 + DAY_LATER;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    let first = run(&mut p, &move_to(1, "b1", "ann", start + HOUR, 60), T0);
    moved(&first);
    // The same command again: the same answer, no new event.
    let again = run(
        &mut p,
        &move_to(1, "b1", "ann", start + HOUR, 60),
        T0 + MINUTE,
    );
    assert!(again.events.is_empty());
    assert_eq!(again.reply, first.reply);
    // Same key, another body: refused, reply only, the ledger unchanged.
    let reused = run(
        &mut p,
        &move_to(1, "b1", "ann", start + 3 * HOUR, 60),
        T0 + MINUTE,
    );
    assert!(reused.events.is_empty());
    assert_eq!(
        rejection(&reused).unwrap().0,
        RejectionReason::IdempotencyKeyReused
    );
    assert_eq!(
        p.booking(&"b1".into()).unwrap().interval,
        Interval::new(start + HOUR, start + 2 * HOUR)
    );
    // The request that created it still replays its first hold, at the
    // interval it was held with.
    let held = book(&mut p, request(1, "r1", "ann", start, 60), T0 + 2 * MINUTE);
    match held.reply {
        Some(BookingEvent::BookingHeld(h)) => assert_eq!((h.start, h.end), (start, start + HOUR)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_moved_booking_is_stored_and_restored_with_its_lineage() {
    let mut p = partition();
    let start = T0 + DAY_LATER;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    let d = p.decide(&move_to(1, "b1", "ann", start + HOUR, 60), T0);
    let keys: Vec<StateKey> = d.events.iter().flat_map(|e| p.apply(e)).collect();
    assert!(keys.contains(&StateKey::Booking("b1".into())));
    assert!(keys.contains(&StateKey::Command("m1".into())));
    let mut restored = BookingPartition::new(no_grace());
    for k in &keys {
        restored.load(p.record(k).expect("stored"));
    }
    assert_eq!(restored.booking(&"b1".into()), p.booking(&"b1".into()));
    assert_eq!(busy(&restored), busy(&p));
    let bytes = postcard::to_stdvec(&p.record(&StateKey::Booking("b1".into())).unwrap()).unwrap();
    assert_eq!(bytes[0], 11, "the current booking layout");
    // The replay of the move comes from the restored ledger.
    let again = restored.decide(&move_to(1, "b1", "ann", start + HOUR, 60), T0 + MINUTE);
    assert_eq!(again.reply, d.reply);
}
