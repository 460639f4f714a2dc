//! The auditor's checks over hand-written event sequences: each violation
//! kind is found with the positions of the records involved, and the
//! lifecycles the platform really produces are clean.

use slotstream_audit::ledger::{Key, Ledger, Position, Topic};
use slotstream_audit::{Kind, Violation};
use slotstream_domain::booking::{
    BookingCancelled, BookingConfirmed, BookingEvent, BookingExpired, BookingFailed, BookingHeld,
    BookingPaymentDelayed, BookingPaymentStarted, PaymentOrphaned,
};
use slotstream_domain::payment::{PaymentCompleted, PaymentEvent, PaymentFailed};
use slotstream_domain::{BookingId, CommandId, Millis, Money, PaymentId, ResourceId, UserId};

const MIN: Millis = 60_000;
const HOUR: Millis = 60 * MIN;
const DAY: Millis = 24 * HOUR;
const T0: Millis = 1_800_000_000_000;
const SLACK: Millis = 2 * MIN;
const TTL: Millis = 15 * MIN;

/// Feeds events in order, numbering each topic's offsets, and collects
/// every violation.
struct Feed {
    ledger: Ledger,
    next: [u64; 2],
    found: Vec<Violation>,
}

impl Feed {
    fn new() -> Self {
        Self {
            ledger: Ledger::new(SLACK),
            next: [0, 0],
            found: Vec::new(),
        }
    }

    fn pos(&mut self, topic: Topic) -> Position {
        let i = topic as usize;
        let offset = self.next[i];
        self.next[i] += 1;
        Position {
            topic,
            partition: 3,
            offset,
        }
    }

    fn booking(&mut self, at: Millis, ev: BookingEvent) -> Position {
        let pos = self.pos(Topic::BookingEvents);
        let found = self.ledger.booking_event(pos, at, &ev);
        self.found.extend(found);
        pos
    }

    fn payment(&mut self, at: Millis, ev: PaymentEvent) -> Position {
        let pos = self.pos(Topic::PaymentEvents);
        let found = self.ledger.payment_event(pos, at, &ev);
        self.found.extend(found);
        pos
    }

    fn due(&mut self, now: Millis) {
        let found = self.ledger.due(now);
        self.found.extend(found);
    }

    fn kinds(&self) -> Vec<Kind> {
        self.found.iter().map(|v| v.kind).collect()
    }
}

fn held(id: &str, resource: &str, start: Millis, end: Millis, at: Millis) -> BookingEvent {
    BookingEvent::BookingHeld(BookingHeld {
        command_id: CommandId::new(format!("cmd-{id}")),
        request_hash: "h".into(),
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        vendor_id: UserId::new("vendor"),
        user_id: UserId::new("user"),
        user_email: "user@example.com".into(),
        start,
        end,
        amount: Money::new(2000, "EUR"),
        payment_id: PaymentId::new(format!("pay-{id}")),
        hold_expires_at: at + TTL,
        held_at: at,
    })
}

fn confirmed(id: &str, resource: &str, at: Millis) -> BookingEvent {
    BookingEvent::BookingConfirmed(BookingConfirmed {
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        user_email: "user@example.com".into(),
        payment_id: PaymentId::new(format!("pay-{id}")),
        start: 0,
        end: 0,
        amount: Money::new(2000, "EUR"),
        confirmed_at: at,
    })
}

fn failed(id: &str, resource: &str, at: Millis) -> BookingEvent {
    BookingEvent::BookingFailed(BookingFailed {
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        user_email: "user@example.com".into(),
        payment_id: PaymentId::new(format!("pay-{id}")),
        reason: "card_declined".into(),
        failed_at: at,
    })
}

fn expired(id: &str, resource: &str, deadline: Millis) -> BookingEvent {
    BookingEvent::BookingExpired(BookingExpired {
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        user_email: "user@example.com".into(),
        payment_id: PaymentId::new(format!("pay-{id}")),
        expired_at: deadline,
    })
}

fn cancelled(id: &str, resource: &str, at: Millis) -> BookingEvent {
    BookingEvent::BookingCancelled(BookingCancelled {
        command_id: CommandId::new(format!("cancel-{id}")),
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        user_email: "user@example.com".into(),
        payment_id: PaymentId::new(format!("pay-{id}")),
        was_paid: true,
        refund: Money::new(2000, "EUR"),
        cancelled_at: at,
    })
}

fn orphaned(id: &str, resource: &str, at: Millis) -> BookingEvent {
    BookingEvent::PaymentOrphaned(PaymentOrphaned {
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        payment_id: PaymentId::new(format!("pay-{id}")),
        amount: Money::new(2000, "EUR"),
        orphaned_at: at,
    })
}

fn completed(id: &str, resource: &str, at: Millis) -> PaymentEvent {
    PaymentEvent::PaymentCompleted(PaymentCompleted {
        payment_id: PaymentId::new(format!("pay-{id}")),
        provider_event_id: format!("evt-{id}"),
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        amount: Money::new(2000, "EUR"),
        completed_at: at,
        recorded_at: Some(at),
    })
}

fn payment_failed(id: &str, resource: &str, at: Millis) -> PaymentEvent {
    PaymentEvent::PaymentFailed(PaymentFailed {
        payment_id: PaymentId::new(format!("pay-{id}")),
        provider_event_id: format!("evt-{id}"),
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        reason: "card_declined".into(),
        failed_at: at,
    })
}

const START: Millis = T0 + DAY;

#[test]
fn two_overlapping_holds_are_reported_with_both_positions() {
    let mut f = Feed::new();
    let first = f.booking(T0, held("b1", "r1", START, START + 2 * HOUR, T0));
    // Adjacent and on another resource: fine.
    f.booking(T0, held("b2", "r1", START + 2 * HOUR, START + 3 * HOUR, T0));
    f.booking(T0, held("b3", "r2", START, START + 2 * HOUR, T0));
    assert!(f.found.is_empty(), "{:?}", f.found);
    let second = f.booking(
        T0 + 1,
        held("b4", "r1", START + HOUR, START + 90 * MIN, T0 + 1),
    );
    assert_eq!(f.kinds(), vec![Kind::Overlap]);
    let v = &f.found[0];
    assert_eq!((v.first, v.second), (first, Some(second)));
    assert!(
        v.to_string().contains("slotstream.booking-events[3]@0"),
        "{v}"
    );
    assert!(
        v.to_string().contains("slotstream.booking-events[3]@3"),
        "{v}"
    );
}

#[test]
fn a_long_booking_that_began_earlier_is_found_too() {
    let mut f = Feed::new();
    f.booking(T0, held("long", "r1", START, START + 10 * DAY, T0));
    f.booking(
        T0,
        held("short", "r1", START + 3 * DAY, START + 3 * DAY + HOUR, T0),
    );
    assert_eq!(f.kinds(), vec![Kind::Overlap]);
}

#[test]
fn a_slot_freed_by_expiry_failure_or_cancellation_can_be_held_again() {
    let mut f = Feed::new();
    let (s, e) = (START, START + HOUR);
    f.booking(T0, held("b1", "r1", s, e, T0));
    f.booking(T0 + TTL, expired("b1", "r1", T0 + TTL));
    f.booking(T0 + TTL, held("b2", "r1", s, e, T0 + TTL));
    f.payment(T0 + TTL + 1, payment_failed("b2", "r1", T0 + TTL + 1));
    f.booking(T0 + TTL + 2, failed("b2", "r1", T0 + TTL + 2));
    f.booking(T0 + TTL + 3, held("b3", "r1", s, e, T0 + TTL + 3));
    f.payment(T0 + TTL + 4, completed("b3", "r1", T0 + TTL + 4));
    f.booking(T0 + TTL + 5, confirmed("b3", "r1", T0 + TTL + 5));
    f.booking(T0 + HOUR, cancelled("b3", "r1", T0 + HOUR));
    f.booking(T0 + HOUR, held("b4", "r1", s, e, T0 + HOUR));
    f.due(T0 + 2 * HOUR);
    // b4 is still pending an hour after its deadline: that one is late.
    assert_eq!(f.kinds(), vec![Kind::HoldLate], "{:?}", f.found);
    assert!(f.found[0].to_string().contains("b4"), "{}", f.found[0]);
}

#[test]
fn a_hold_that_ends_past_its_deadline_and_the_slack_is_late() {
    let mut f = Feed::new();
    let held_at = f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.booking(T0, held("b2", "r1", START + HOUR, START + 2 * HOUR, T0));
    // Within the slack: fine.
    f.booking(T0 + TTL + SLACK, expired("b1", "r1", T0 + TTL));
    assert!(f.found.is_empty(), "{:?}", f.found);
    let late = f.booking(T0 + TTL + SLACK + 1, expired("b2", "r1", T0 + TTL));
    assert_eq!(f.kinds(), vec![Kind::HoldLate]);
    assert_eq!(f.found[0].second, Some(late));
    assert_ne!(f.found[0].first, held_at, "the late one is b2's hold");
}

#[test]
fn a_hold_still_pending_past_its_deadline_is_reported_once() {
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.due(T0 + TTL + SLACK);
    assert!(f.found.is_empty(), "due exactly at the slack: not yet late");
    assert_eq!(f.ledger.next_due(), Some(T0 + TTL + SLACK + 1));
    f.due(T0 + TTL + SLACK + 1);
    assert_eq!(f.kinds(), vec![Kind::HoldLate]);
    // Its expiry, when it finally comes, is not reported a second time.
    f.booking(T0 + HOUR, expired("b1", "r1", T0 + TTL));
    f.due(T0 + DAY);
    assert_eq!(f.kinds(), vec![Kind::HoldLate]);
}

#[test]
fn every_payment_outcome_must_reach_its_booking_exactly_once() {
    // Completed, then confirmed: clean, whichever topic is read first.
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.booking(T0 + 5, confirmed("b1", "r1", T0 + 5));
    f.payment(T0 + 4, completed("b1", "r1", T0 + 4));
    // A payment failing after the hold expired needs no answer.
    f.booking(T0, held("b2", "r1", START + HOUR, START + 2 * HOUR, T0));
    f.booking(T0 + TTL, expired("b2", "r1", T0 + TTL));
    f.payment(T0 + TTL + 1, payment_failed("b2", "r1", T0 + TTL + 1));
    // A late completion of an expired booking is orphaned: one answer.
    f.booking(T0, held("b3", "r1", START + 2 * HOUR, START + 3 * HOUR, T0));
    f.booking(T0 + TTL, expired("b3", "r1", T0 + TTL));
    f.payment(T0 + TTL + 2, completed("b3", "r1", T0 + TTL + 2));
    f.booking(T0 + TTL + 3, orphaned("b3", "r1", T0 + TTL + 3));
    f.due(T0 + DAY);
    assert!(f.found.is_empty(), "{:?}", f.found);

    // Lost: a completion nobody answered.
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    let outcome = f.payment(T0 + 1, completed("b1", "r1", T0 + 1));
    f.booking(T0 + TTL, expired("b1", "r1", T0 + TTL));
    f.due(T0 + 1 + SLACK);
    assert!(f.found.is_empty(), "within the slack: not yet lost");
    f.due(T0 + 2 + SLACK);
    assert_eq!(f.kinds(), vec![Kind::PaymentLost]);
    assert_eq!(f.found[0].first, outcome);

    // A failure that never failed the pending booking is lost too.
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.payment(T0 + 1, payment_failed("b1", "r1", T0 + 1));
    f.due(T0 + 2 + SLACK);
    assert_eq!(f.kinds(), vec![Kind::PaymentLost]);

    // Repeated: the booking answers one completion twice.
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.payment(T0 + 1, completed("b1", "r1", T0 + 1));
    let first = f.booking(T0 + 2, confirmed("b1", "r1", T0 + 2));
    let again = f.booking(T0 + 3, orphaned("b1", "r1", T0 + 3));
    assert_eq!(f.kinds(), vec![Kind::PaymentRepeated]);
    assert_eq!((f.found[0].first, f.found[0].second), (first, Some(again)));

    // Unexplained: confirmed without any payment outcome.
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.booking(T0 + 2, confirmed("b1", "r1", T0 + 2));
    f.due(T0 + 3 + SLACK);
    assert_eq!(f.kinds(), vec![Kind::PaymentUnexplained]);
}

#[test]
fn a_reloaded_ledger_finds_what_the_original_would() {
    let mut f = Feed::new();
    let first = f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.payment(T0 + 1, completed("b1", "r1", T0 + 1));
    let mut twin = Ledger::new(SLACK);
    for key in f.ledger.take_dirty() {
        if let Some(rec) = f.ledger.record(&key) {
            twin.load(rec);
        }
    }
    let pos = Position {
        topic: Topic::BookingEvents,
        partition: 3,
        offset: 9,
    };
    let found = twin.booking_event(
        pos,
        T0 + 2,
        &held("b2", "r1", START + 30 * MIN, START + 2 * HOUR, T0 + 2),
    );
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].kind, found[0].first), (Kind::Overlap, first));
    // The unanswered completion is still owed after the reload.
    let late = twin.due(T0 + 2 + SLACK + 1);
    assert!(late.iter().any(|v| v.kind == Kind::PaymentLost), "{late:?}");
}

#[test]
fn settled_bookings_and_payments_are_forgotten_by_event_time() {
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", START, START + HOUR, T0));
    f.payment(T0 + 1, completed("b1", "r1", T0 + 1));
    f.booking(T0 + 2, confirmed("b1", "r1", T0 + 2));
    f.booking(T0, held("b2", "r1", START + HOUR, START + 2 * HOUR, T0));
    f.booking(T0 + TTL, expired("b2", "r1", T0 + TTL));
    assert_eq!(f.ledger.len(), (2, 1));
    f.ledger.take_dirty();
    // Four days after b2 ended (and a day after b1's end): both go.
    f.booking(
        T0 + TTL + 4 * DAY,
        held(
            "b3",
            "r9",
            START + 10 * DAY,
            START + 10 * DAY + HOUR,
            T0 + TTL + 4 * DAY,
        ),
    );
    assert_eq!(f.ledger.len(), (1, 0), "only b3 is left");
    let dirty = f.ledger.take_dirty();
    for id in ["b1", "b2"] {
        let key = Key::Booking(BookingId::new(id));
        assert!(dirty.contains(&key), "{id} deleted from the store");
        assert!(f.ledger.record(&key).is_none());
    }
    assert!(f.found.is_empty(), "{:?}", f.found);
}

fn payment_started(id: &str, resource: &str, submitted: Millis, pay_by: Millis) -> BookingEvent {
    BookingEvent::BookingPaymentStarted(BookingPaymentStarted {
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        payment_id: PaymentId::new(format!("pay-{id}")),
        submitted_at: submitted,
        pay_by,
    })
}

#[test]
fn a_checkout_submitted_in_time_moves_the_deadline_the_hold_is_checked_against() {
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", T0 + DAY, T0 + DAY + HOUR, T0));
    let pay_by = T0 + TTL - MIN + 10 * MIN;
    f.booking(
        T0 + TTL + MIN,
        payment_started("b1", "r1", T0 + TTL - MIN, pay_by),
    );
    // Past the hold's own deadline plus the slack: not late any more.
    f.due(T0 + TTL + SLACK + 1);
    assert!(f.found.is_empty(), "{:?}", f.found);
    f.booking(pay_by, expired("b1", "r1", pay_by));
    f.due(pay_by + DAY);
    assert!(f.found.is_empty(), "{:?}", f.found);

    // Without an end, a moved deadline is still checked.
    let mut f = Feed::new();
    f.booking(T0, held("b2", "r1", T0 + DAY, T0 + DAY + HOUR, T0));
    f.booking(
        T0 + MIN,
        payment_started("b2", "r1", T0 + MIN, T0 + 11 * MIN + TTL),
    );
    f.due(T0 + 11 * MIN + TTL + SLACK + 1);
    assert_eq!(f.kinds(), [Kind::HoldLate]);
}

#[test]
fn an_unknown_payment_moves_the_deadline_again_and_the_longer_hold_is_checked() {
    let mut f = Feed::new();
    f.booking(T0, held("b1", "r1", T0 + DAY, T0 + DAY + HOUR, T0));
    let pay_by = T0 + 11 * MIN;
    f.booking(T0 + MIN, payment_started("b1", "r1", T0 + MIN, pay_by));
    let held_until = T0 + MIN + 3 * HOUR;
    f.booking(
        T0 + 2 * MIN,
        BookingEvent::BookingPaymentDelayed(BookingPaymentDelayed {
            booking_id: BookingId::new("b1"),
            resource_id: ResourceId::new("r1"),
            user_id: UserId::new("u"),
            user_email: "u@example.com".into(),
            payment_id: PaymentId::new("pay-b1"),
            submitted_at: T0 + MIN,
            held_until,
            delayed_at: T0 + 2 * MIN,
        }),
    );
    // Long past pay_by plus the slack, inside the new deadline: not late.
    f.due(pay_by + SLACK + HOUR);
    assert!(f.found.is_empty(), "{:?}", f.found);
    // Past the new deadline plus the slack, still pending: late.
    f.due(held_until + SLACK + 1);
    assert_eq!(f.kinds(), [Kind::HoldLate]);
}

fn rescheduled(
    id: &str,
    resource: &str,
    from: (Millis, Millis),
    to: (Millis, Millis),
    at: Millis,
) -> BookingEvent {
    BookingEvent::BookingRescheduled(slotstream_domain::booking::BookingRescheduled {
        command_id: CommandId::new(format!("move-{id}-{at}")),
        request_hash: "h".into(),
        booking_id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new("user"),
        user_email: "user@example.com".into(),
        previous_start: from.0,
        previous_end: from.1,
        start: to.0,
        end: to.1,
        rescheduled_by: UserId::new("user"),
        rescheduled_at: at,
    })
}

#[test]
fn a_reschedule_frees_the_old_interval_and_checks_the_new_one() {
    let mut f = Feed::new();
    let (a, b, c) = (T0 + DAY, T0 + DAY + HOUR, T0 + DAY + 2 * HOUR);
    f.booking(T0, held("b1", "r1", a, b, T0));
    f.booking(T0, held("b2", "r1", b, c, T0));
    // b1 moves away; a booking of its old interval is no overlap.
    f.booking(
        T0 + MIN,
        rescheduled("b1", "r1", (a, b), (c, c + HOUR), T0 + MIN),
    );
    f.booking(T0 + MIN, held("b3", "r1", a, b, T0 + MIN));
    assert_eq!(f.kinds(), [], "the old interval was released");
    // b2 moved onto b1's new interval: that is an overlap, at the move.
    let moved = f.booking(
        T0 + 2 * MIN,
        rescheduled("b2", "r1", (b, c), (c, c + HOUR), T0 + 2 * MIN),
    );
    assert_eq!(f.kinds(), [Kind::Overlap]);
    assert_eq!(f.found[0].second, Some(moved));
    // A moved booking that ends frees its new interval, not the old one.
    f.found.clear();
    f.booking(T0 + 3 * MIN, cancelled("b1", "r1", T0 + 3 * MIN));
    f.booking(T0 + 3 * MIN, held("b4", "r1", b, c, T0 + 3 * MIN));
    assert_eq!(f.kinds(), [], "b2 left b..c");
    f.booking(T0 + 4 * MIN, held("b5", "r1", c, c + HOUR, T0 + 4 * MIN));
    assert_eq!(f.kinds(), [Kind::Overlap], "b2 still holds c..c+1h");
}
