//! The settle rule and eviction: what leaves the partition, when, and what
//! the partition answers afterwards.

use super::*;
use crate::payment::PROVIDER_LATE_WINDOW;
use crate::state::COMMAND_RETENTION;

/// The partition's view of booking `id`, from every index at once.
fn present(p: &BookingPartition, id: &str) -> bool {
    let by_id = p.booking(&BookingId::new(id)).is_some();
    let busy = p
        .busy(&"r1".into(), T0 - DAY_LATER, T0 + 30 * DAY_LATER)
        .iter()
        .any(|(_, b)| b.as_str() == id);
    by_id || busy
}

/// `evict_settled`, without the registrations' ledger answers (filed at 0,
/// they leave at the first call).
fn evict(p: &mut BookingPartition, now: Millis) -> Vec<StateKey> {
    p.evict_settled(now)
        .into_iter()
        .filter(|k| !matches!(k, StateKey::Command(c) if c.as_str().starts_with("reg-")))
        .collect()
}

fn cancel_reason(d: &Decision<BookingEvent>) -> Option<CancellationRejectionReason> {
    match &d.reply {
        Some(BookingEvent::CancellationRejected(r)) => Some(r.reason),
        _ => None,
    }
}

#[test]
fn settles_at_is_none_while_pending_and_otherwise_the_documented_instant() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + 3 * DAY_LATER, 60), T0);
    let b = p.booking(&"b1".into()).cloned().expect("b1");
    assert_eq!(settles_at(&b), None, "a pending booking never settles");
    let ledger = T0 + COMMAND_RETENTION + 1;
    let end = T0 + 3 * DAY_LATER + HOUR;
    let confirmed = Booking {
        status: BookingStatus::Confirmed,
        ..b.clone()
    };
    assert_eq!(settles_at(&confirmed), Some(end + END_SLACK));
    let soon = Booking {
        interval: Interval::new(T0 + HOUR, T0 + 2 * HOUR),
        ..confirmed
    };
    assert_eq!(
        settles_at(&soon),
        Some(ledger),
        "the hold's ledger answer outlives an early end"
    );
    for status in [
        BookingStatus::Failed,
        BookingStatus::Expired,
        BookingStatus::Cancelled,
    ] {
        let done = Booking {
            status,
            updated_at: T0 + TTL,
            ..b.clone()
        };
        assert_eq!(settles_at(&done), Some(T0 + TTL + LATE_PAYMENT_WINDOW));
    }
}

#[test]
fn a_settled_booking_leaves_every_index_and_its_key_is_returned() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    for e in p.due_expiries(T0 + TTL) {
        p.apply(&e);
    }
    let settle = T0 + TTL + LATE_PAYMENT_WINDOW;
    assert_eq!(p.next_settle(), Some(settle));
    assert_eq!(
        evict(&mut p, settle - 1),
        vec![StateKey::Command("c1".into())],
        "its request's answer leaves with the ledger window"
    );
    assert!(present(&p, "b1"), "inside its window the booking stays");
    assert_eq!(evict(&mut p, settle), vec![StateKey::Booking("b1".into())]);
    assert!(!present(&p, "b1"));
    assert_eq!(p.record(&StateKey::Booking("b1".into())), None);
    assert_eq!(p.record(&StateKey::Command("c1".into())), None);
    assert_eq!((p.booking_count(), p.next_settle()), (0, None));
    assert_eq!(p.next_expiry(), None);
    assert!(evict(&mut p, settle + DAY_LATER).is_empty(), "only once");
}

#[test]
fn a_confirmed_booking_holds_its_slot_until_its_end_and_leaves_after() {
    let mut p = partition();
    let start = T0 + 2 * DAY_LATER;
    book(&mut p, request(1, "r1", "ann", start, 60), T0);
    react(&mut p, &completed("b1", "p1"), T0 + MINUTE);
    let end = start + HOUR;
    // Past the ledger window, before its end: it still conflicts.
    assert_eq!(
        evict(&mut p, end - MINUTE),
        vec![StateKey::Command("c1".into())]
    );
    let probe = request(2, "r1", "bob", end - 15 * MINUTE, 15);
    let d = p.decide(&BookingCommand::RequestBooking(probe), end - 30 * MINUTE);
    assert_eq!(
        rejection(&d).map(|(r, _)| r),
        Some(RejectionReason::SlotUnavailable)
    );
    // Started: not cancellable, still there.
    let late = run(&mut p, &cancel(1, "b1", "r1", "ann"), end - MINUTE);
    assert_eq!(
        cancel_reason(&late),
        Some(CancellationRejectionReason::NotCancellable)
    );
    assert!(evict(&mut p, end + END_SLACK - 1).is_empty());
    assert_eq!(status(&p, "b1"), Some(BookingStatus::Confirmed));
    assert_eq!(
        evict(&mut p, end + END_SLACK),
        vec![StateKey::Booking("b1".into())]
    );
    assert!(!present(&p, "b1"));
}

#[test]
fn a_replayed_request_inside_the_ledger_window_answers_identically() {
    let mut p = partition();
    let c = request(1, "r1", "ann", T0 + HOUR, 60);
    let first = book(&mut p, c.clone(), T0);
    react(&mut p, &completed("b1", "p1"), T0 + MINUTE);
    // The booking ended long ago, but the answer that names it is still
    // in the ledger: neither leaves before the window closes.
    let last = T0 + COMMAND_RETENTION;
    assert!(evict(&mut p, last).is_empty());
    let retry = p.decide(&BookingCommand::RequestBooking(c.clone()), last);
    assert!(retry.events.is_empty());
    assert_eq!(retry.reply, first.reply);
    assert_eq!(
        evict(&mut p, last + 1),
        vec![
            StateKey::Booking("b1".into()),
            StateKey::Command("c1".into())
        ]
    );
    // Both gone: the retry is decided afresh, and its start is past.
    let fresh = p.decide(&BookingCommand::RequestBooking(c), last + 1);
    assert_eq!(
        rejection(&fresh).map(|(r, _)| r),
        Some(RejectionReason::InvalidRequest)
    );
}

#[test]
fn a_cancellation_of_an_evicted_booking_is_not_found() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    let first = run(&mut p, &cancel(1, "b1", "r1", "ann"), T0 + MINUTE);
    assert!(matches!(
        first.reply,
        Some(BookingEvent::BookingCancelled(_))
    ));
    let settle = T0 + MINUTE + LATE_PAYMENT_WINDOW;
    let before = run(&mut p, &cancel(2, "b1", "r1", "ann"), settle - 1);
    assert_eq!(
        cancel_reason(&before),
        Some(CancellationRejectionReason::NotCancellable)
    );
    evict(&mut p, settle);
    let after = run(&mut p, &cancel(3, "b1", "r1", "ann"), settle);
    assert_eq!(
        cancel_reason(&after),
        Some(CancellationRejectionReason::NotFound)
    );
    assert_eq!(after.events.len(), 1, "a rejection is an event, filed");
}

#[test]
fn a_late_payment_is_orphaned_until_the_booking_settles_and_ignored_after() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    for e in p.due_expiries(T0 + TTL) {
        p.apply(&e);
    }
    // The latest success the payment side still accepts, processed late.
    let late = T0 + TTL + PROVIDER_LATE_WINDOW + HOUR;
    assert_eq!(
        evict(&mut p, late),
        vec![StateKey::Command("c1".into())],
        "only the ledger answer"
    );
    let out = p.react_to_payment(&completed("b1", "p1"), late);
    assert!(matches!(out.as_slice(), [BookingEvent::PaymentOrphaned(_)]));
    evict(&mut p, T0 + TTL + LATE_PAYMENT_WINDOW);
    assert!(
        p.react_to_payment(&completed("b1", "p1"), T0 + TTL + LATE_PAYMENT_WINDOW)
            .is_empty()
    );
    assert!(
        p.react_to_payment(&failed("b1", "p1"), T0 + TTL + LATE_PAYMENT_WINDOW)
            .is_empty()
    );
}

#[test]
fn a_freed_slot_is_reused_and_every_index_names_the_new_booking() {
    let mut p = partition();
    book(&mut p, request(1, "r1", "ann", T0 + HOUR, 60), T0);
    run(&mut p, &cancel(1, "b1", "r1", "ann"), T0);
    let later = T0 + LATE_PAYMENT_WINDOW;
    evict(&mut p, later);
    assert_eq!(p.booking_count(), 0);
    let c = request(2, "r1", "bob", later + HOUR, 60);
    let held = book(&mut p, c.clone(), later);
    assert_eq!(p.booking_count(), 1);
    let busy = p.busy(&"r1".into(), later, later + DAY_LATER);
    assert_eq!(busy.len(), 1);
    assert_eq!(busy.first().map(|(_, id)| id.as_str()), Some("b2"));
    assert_eq!(p.next_expiry(), Some(later + TTL));
    let replay = p.decide(&BookingCommand::RequestBooking(c), later);
    assert_eq!(replay.reply, held.reply);
    let due = p.due_expiries(later + TTL);
    assert!(
        matches!(due.as_slice(), [BookingEvent::BookingExpired(e)] if e.booking_id.as_str() == "b2")
    );
}

#[test]
fn a_partition_restored_from_live_records_settles_the_same() {
    let mut p = partition();
    let mut keys = vec![
        StateKey::Resource("r1".into()),
        StateKey::Resource("r2".into()),
        StateKey::Command("reg-r1".into()),
        StateKey::Command("reg-r2".into()),
    ];
    let mut step = |p: &mut BookingPartition, cmd: BookingCommand, now| {
        let d = p.decide(&cmd, now);
        for e in &d.events {
            keys.extend(p.apply(e));
        }
    };
    step(
        &mut p,
        BookingCommand::RequestBooking(request(1, "r1", "ann", T0 + HOUR, 60)),
        T0,
    );
    step(
        &mut p,
        BookingCommand::RequestBooking(request(2, "r1", "bob", T0 + 5 * DAY_LATER, 60)),
        T0,
    );
    step(&mut p, cancel(3, "b1", "r1", "ann"), T0 + MINUTE);
    let mut restored = BookingPartition::new(no_grace());
    for key in keys.iter().rev() {
        if let Some(rec) = p.record(key) {
            restored.load(rec);
        }
    }
    assert_eq!(restored.next_settle(), p.next_settle());
    let at = T0 + MINUTE + LATE_PAYMENT_WINDOW;
    assert_eq!(restored.evict_settled(at), p.evict_settled(at));
    for key in &keys {
        assert_eq!(restored.record(key), p.record(key));
    }
    assert_eq!(restored.booking_count(), 1, "the pending b2 stays");
}
