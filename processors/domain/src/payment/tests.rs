use super::*;
use crate::booking::{
    BookingCancelled, BookingEvent, BookingExpired, BookingFailed, BookingHeld, BookingRescheduled,
    PaymentOrphaned,
};
use crate::ids::PaymentId;
use crate::money::Money;
use crate::state::{Answer, COMMAND_RETENTION};
use crate::time::Millis;

fn url(id: &PaymentId) -> String {
    format!("https://pay.example/{id}")
}

fn held(n: u32, amount: i64) -> BookingEvent {
    BookingEvent::BookingHeld(BookingHeld {
        request_hash: String::new(),
        command_id: format!("c{n}").as_str().into(),
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r1".into(),
        vendor_id: "vendor".into(),
        user_id: "ann".into(),
        user_email: "ann@example.com".into(),
        start: 100,
        end: 200,
        amount: Money::new(amount, "EUR"),
        payment_id: format!("p{n}").as_str().into(),
        hold_expires_at: 50,
        held_at: 1,
    })
}

fn cancelled(n: u32, was_paid: bool, refund: i64) -> BookingEvent {
    BookingEvent::BookingCancelled(BookingCancelled {
        command_id: format!("x{n}").as_str().into(),
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r1".into(),
        user_id: "ann".into(),
        user_email: "ann@example.com".into(),
        payment_id: format!("p{n}").as_str().into(),
        was_paid,
        refund: Money::new(refund, "EUR"),
        cancelled_at: 5,
    })
}

fn expired(n: u32) -> BookingEvent {
    BookingEvent::BookingExpired(BookingExpired {
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r1".into(),
        user_id: "ann".into(),
        user_email: "ann@example.com".into(),
        payment_id: format!("p{n}").as_str().into(),
        expired_at: 50,
    })
}

fn failed_booking(n: u32) -> BookingEvent {
    BookingEvent::BookingFailed(BookingFailed {
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r1".into(),
        user_id: "ann".into(),
        user_email: "ann@example.com".into(),
        payment_id: format!("p{n}").as_str().into(),
        reason: "declined".into(),
        failed_at: 5,
    })
}

fn orphaned(n: u32) -> BookingEvent {
    BookingEvent::PaymentOrphaned(PaymentOrphaned {
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r1".into(),
        payment_id: format!("p{n}").as_str().into(),
        amount: Money::new(1000, "EUR"),
        orphaned_at: 5,
    })
}

fn checkout(n: u32, payment: u32, user: &str, hash: &str) -> PaymentCommand {
    PaymentCommand::SubmitCheckout(SubmitCheckout {
        command_id: format!("k{n}").as_str().into(),
        request_hash: hash.into(),
        payment_id: format!("p{payment}").as_str().into(),
        resource_id: "r1".into(),
        user_id: user.into(),
        outcome: CheckoutOutcome::Succeeded,
        appended_at: None,
        requested_at: 0,
    })
}

fn webhook(event: &str, payment: u32, outcome: CheckoutOutcome) -> PaymentCommand {
    webhook_of(event, payment, outcome, 7)
}

/// A provider report saying it happened at `occurred_at` (its clock).
fn webhook_of(
    event: &str,
    payment: u32,
    outcome: CheckoutOutcome,
    occurred_at: Millis,
) -> PaymentCommand {
    PaymentCommand::RecordProviderOutcome(RecordProviderOutcome {
        provider_event_id: event.into(),
        payment_id: format!("p{payment}").as_str().into(),
        resource_id: "r1".into(),
        outcome,
        reason: "declined".into(),
        occurred_at,
    })
}

fn react(p: &mut PaymentPartition, ev: &BookingEvent) -> Vec<PaymentEvent> {
    let out = p.react_to_booking(ev, &url, 3);
    for e in &out {
        p.apply(e);
    }
    out
}

fn run(p: &mut PaymentPartition, cmd: &PaymentCommand, now: Millis) -> Decision<PaymentEvent> {
    let d = p.decide(cmd, now);
    for e in &d.events {
        p.apply(e);
    }
    d
}

fn status(p: &PaymentPartition, n: u32) -> Option<PaymentStatus> {
    p.payment(&format!("p{n}").as_str().into())
        .map(|x| x.status)
}

/// A partition with payment `p1` (1000 EUR) completed.
fn paid() -> PaymentPartition {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    run(&mut p, &webhook("evt-1", 1, CheckoutOutcome::Succeeded), 7);
    p
}

#[test]
fn a_held_booking_gets_exactly_one_intent() {
    let mut p = PaymentPartition::new();
    let out = react(&mut p, &held(1, 1000));
    assert!(
        matches!(out.as_slice(), [PaymentEvent::PaymentIntentCreated(i)] if i.checkout_url == "https://pay.example/p1")
    );
    assert_eq!(status(&p, 1), Some(PaymentStatus::RequiresPayment));
    assert!(react(&mut p, &held(1, 1000)).is_empty());
}

#[test]
fn checkout_moves_a_payment_to_processing_and_a_retry_replays() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    let first = run(&mut p, &checkout(1, 1, "ann", "h"), 4);
    assert!(
        matches!(&first.reply, Some(PaymentEvent::CheckoutSubmitted(s)) if s.outcome == CheckoutOutcome::Succeeded)
    );
    assert_eq!(status(&p, 1), Some(PaymentStatus::Processing));
    let retry = run(&mut p, &checkout(1, 1, "ann", "h"), 5);
    assert!(retry.events.is_empty());
    assert_eq!(retry.reply, first.reply);
    let Some(StateRecord::Command(rec)) = p.record(&StateKey::Command("k1".into())) else {
        panic!("ledger entry")
    };
    assert_eq!(rec.request_hash, "h");
}

#[test]
fn checkout_with_a_reused_key_is_rejected_without_recording() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    run(&mut p, &checkout(1, 1, "ann", "h"), 4);
    let d = run(&mut p, &checkout(1, 1, "ann", "other"), 5);
    assert!(d.events.is_empty());
    assert!(
        matches!(d.reply, Some(PaymentEvent::CheckoutRejected(r)) if r.reason == CheckoutRejectionReason::IdempotencyKeyReused)
    );
    let Some(StateRecord::Command(rec)) = p.record(&StateKey::Command("k1".into())) else {
        panic!("ledger entry")
    };
    assert!(matches!(
        rec.answer,
        Answer::Payment(PaymentEvent::CheckoutSubmitted(_))
    ));
}

#[test]
fn checkout_of_someone_elses_or_a_missing_payment_is_not_found() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    for cmd in [checkout(1, 1, "bob", "h"), checkout(2, 9, "ann", "h")] {
        let d = run(&mut p, &cmd, 4);
        assert!(
            matches!(d.reply, Some(PaymentEvent::CheckoutRejected(r)) if r.reason == CheckoutRejectionReason::NotFound)
        );
    }
    assert_eq!(status(&p, 1), Some(PaymentStatus::RequiresPayment));
}

#[test]
fn checkout_of_a_payment_no_longer_requiring_payment_is_not_pending() {
    let mut p = paid();
    let d = run(&mut p, &checkout(1, 1, "ann", "h"), 8);
    assert!(
        matches!(d.reply, Some(PaymentEvent::CheckoutRejected(r)) if r.reason == CheckoutRejectionReason::NotPending)
    );
}

#[test]
fn a_success_completes_the_payment_and_a_redelivered_webhook_does_nothing() {
    let p = paid();
    assert_eq!(status(&p, 1), Some(PaymentStatus::Succeeded));
    assert_eq!(
        p.payment(&"p1".into()).map(|x| x.provider_events.clone()),
        Some(vec!["evt-1".to_owned()])
    );
    assert!(
        p.decide(&webhook("evt-1", 1, CheckoutOutcome::Succeeded), 9)
            .is_none()
    );
    assert!(
        p.decide(&webhook("evt-2", 1, CheckoutOutcome::Failed), 9)
            .is_none(),
        "a paid payment cannot fail"
    );
    assert!(
        p.decide(&webhook("evt-3", 9, CheckoutOutcome::Succeeded), 9)
            .is_none(),
        "unknown payment"
    );
}

#[test]
fn a_decline_fails_an_open_payment() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    run(&mut p, &checkout(1, 1, "ann", "h"), 4);
    let d = run(&mut p, &webhook("evt-1", 1, CheckoutOutcome::Failed), 8);
    assert!(matches!(d.reply, Some(PaymentEvent::PaymentFailed(f)) if f.reason == "declined"));
    assert_eq!(status(&p, 1), Some(PaymentStatus::Failed));
}

#[test]
fn money_taken_after_cancellation_still_completes_so_it_can_be_refunded() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    react(&mut p, &expired(1));
    assert_eq!(status(&p, 1), Some(PaymentStatus::Canceled));
    let d = run(&mut p, &webhook("evt-1", 1, CheckoutOutcome::Succeeded), 8);
    assert!(matches!(d.reply, Some(PaymentEvent::PaymentCompleted(_))));
    let out = react(&mut p, &orphaned(1));
    assert!(
        matches!(out.as_slice(), [PaymentEvent::PaymentRefunded(r)] if r.amount.amount == 1000 && r.status == PaymentStatus::Refunded)
    );
    assert_eq!(status(&p, 1), Some(PaymentStatus::Refunded));
    assert!(
        react(&mut p, &orphaned(1)).is_empty(),
        "nothing left to refund"
    );
}

#[test]
fn an_expired_failed_or_unpaid_cancelled_booking_cancels_its_open_payment() {
    for (n, ev) in [
        (1, expired(1)),
        (2, failed_booking(2)),
        (3, cancelled(3, false, 0)),
    ] {
        let mut p = PaymentPartition::new();
        react(&mut p, &held(n, 1000));
        let out = react(&mut p, &ev);
        assert!(
            matches!(out.as_slice(), [PaymentEvent::PaymentCanceled(_)]),
            "{ev:?}"
        );
        assert_eq!(status(&p, n), Some(PaymentStatus::Canceled));
        assert!(
            react(&mut p, &ev).is_empty(),
            "only an open payment is canceled"
        );
    }
}

#[test]
fn a_paid_cancellation_refunds_its_quote_and_numbers_the_refund() {
    let mut p = paid();
    let out = react(&mut p, &cancelled(1, true, 500));
    let [PaymentEvent::PaymentRefunded(r)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(r.amount, Money::new(500, "EUR"));
    assert_eq!(r.refunded_total, Money::new(500, "EUR"));
    assert_eq!(r.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(r.refund_id, "p1-r1");
    let stored = p.payment(&"p1".into()).cloned().expect("payment");
    assert_eq!(
        (stored.refunded, stored.refunds, stored.status),
        (500, 1, PaymentStatus::PartiallyRefunded)
    );
}

#[test]
fn refunds_never_exceed_what_was_paid() {
    let mut p = paid();
    react(&mut p, &cancelled(1, true, 700));
    let out = react(&mut p, &orphaned(1));
    let [PaymentEvent::PaymentRefunded(r)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (
            r.amount.amount,
            r.refunded_total.amount,
            r.refund_id.as_str()
        ),
        (300, 1000, "p1-r2")
    );
    assert_eq!(status(&p, 1), Some(PaymentStatus::Refunded));
    assert!(react(&mut p, &cancelled(1, true, 1)).is_empty());
    assert_eq!(p.payment(&"p1".into()).map(|x| x.refunded), Some(1000));
}

#[test]
fn a_zero_refund_quote_refunds_nothing() {
    let p = paid();
    assert!(
        p.react_to_booking(&cancelled(1, true, 0), &url, 3)
            .is_empty()
    );
}

#[test]
fn only_the_last_sixteen_webhook_ids_are_remembered() {
    let mut p = Payment {
        id: "p".into(),
        booking_id: "b".into(),
        resource_id: "r".into(),
        user_id: "u".into(),
        amount: Money::new(1, "EUR"),
        status: PaymentStatus::Succeeded,
        refunded: 0,
        checkout_url: String::new(),
        provider_events: (0..16).map(|i| i.to_string()).collect(),
        refunds: 0,
        created_at: 0,
        updated_at: 0,
        booking_start: None,
        paid_recorded_at: None,
        hold_expires_at: None,
        checkout: None,
        submitted_at: None,
        check_at: None,
        checks: 0,
        refund_pending: None,
    };
    super::apply::remember(&mut p, Some("new".into()));
    assert_eq!(p.provider_events.len(), 16);
    assert_eq!(p.provider_events.first().map(String::as_str), Some("1"));
    assert_eq!(p.provider_events.last().map(String::as_str), Some("new"));
}

#[test]
fn a_partition_loaded_from_its_records_decides_the_same() {
    let mut p = PaymentPartition::new();
    let mut keys = Vec::new();
    for ev in [held(1, 1000), held(2, 800)] {
        for e in p.react_to_booking(&ev, &url, 3) {
            keys.extend(p.apply(&e));
        }
    }
    for cmd in [
        checkout(1, 1, "ann", "h"),
        webhook("evt-1", 1, CheckoutOutcome::Succeeded),
    ] {
        for e in p.decide(&cmd, 4).events {
            keys.extend(p.apply(&e));
        }
    }
    let mut restored = PaymentPartition::new();
    for key in keys.iter().rev() {
        if let Some(rec) = p.record(key) {
            restored.load(rec);
        }
    }
    for key in &keys {
        assert_eq!(restored.record(key), p.record(key));
    }
    for cmd in [
        checkout(1, 1, "ann", "h"),
        checkout(1, 1, "ann", "x"),
        webhook("evt-1", 1, CheckoutOutcome::Succeeded),
    ] {
        assert_eq!(restored.decide(&cmd, 9), p.decide(&cmd, 9));
    }
    assert_eq!(
        restored.prune_commands(5),
        vec![StateKey::Command("k1".into())]
    );
}

// ---------- the settle rule and eviction ----------

fn checkout_reason(d: &Decision<PaymentEvent>) -> Option<CheckoutRejectionReason> {
    match &d.reply {
        Some(PaymentEvent::CheckoutRejected(r)) => Some(r.reason),
        _ => None,
    }
}

#[test]
fn settles_at_is_none_while_money_may_still_move_and_otherwise_the_documented_instant() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    let base = p.payment(&"p1".into()).cloned().expect("p1");
    assert_eq!(
        base.booking_start,
        Some(100),
        "the start came with the hold"
    );
    let with = |status| Payment {
        status,
        updated_at: 10,
        ..base.clone()
    };
    use PaymentStatus as S;
    for open in [S::RequiresPayment, S::Processing] {
        assert_eq!(settles_at(&with(open)), None, "{open:?}");
    }
    assert_eq!(
        settles_at(&with(S::Canceled)),
        Some(10 + PROVIDER_LATE_WINDOW)
    );
    for done in [S::Failed, S::Refunded, S::PartiallyRefunded] {
        assert_eq!(settles_at(&with(done)), Some(10 + QUIET_PERIOD), "{done:?}");
    }
}

#[test]
fn a_succeeded_payment_settles_a_quiet_period_after_the_later_of_its_start_and_its_recording() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    let base = p.payment(&"p1".into()).cloned().expect("p1");
    let paid = |start: Option<Millis>, recorded: Option<Millis>, updated: Millis| Payment {
        status: PaymentStatus::Succeeded,
        booking_start: start,
        paid_recorded_at: recorded,
        updated_at: updated,
        ..base.clone()
    };
    // Paid before its start: refundable by a cancellation until the start.
    assert_eq!(
        settles_at(&paid(Some(100), Some(10), 10)),
        Some(100 + QUIET_PERIOD)
    );
    // Paid after its start (a late success of a lapsed booking): the orphan
    // refund comes back a round trip after this side recorded it, whatever
    // instant the provider reported.
    assert_eq!(
        settles_at(&paid(Some(100), Some(500), 20)),
        Some(500 + QUIET_PERIOD)
    );
    // A provider clock ahead of ours only delays it.
    assert_eq!(
        settles_at(&paid(Some(100), Some(50), 900)),
        Some(900 + QUIET_PERIOD)
    );
    // Either instant unknown (stored or paid before it was recorded): never.
    assert_eq!(settles_at(&paid(None, Some(10), 10)), None);
    assert_eq!(settles_at(&paid(Some(100), None, 10)), None);
    assert_eq!(
        settles_at(&paid(Some(Millis::MAX), Some(1), 1)),
        Some(Millis::MAX)
    );
}

#[test]
fn a_canceled_intent_still_completes_inside_the_late_window_then_leaves() {
    let mut p = PaymentPartition::new();
    for n in [1, 2] {
        react(&mut p, &held(n, 1000));
        react(&mut p, &expired(n));
    }
    let settle = 3 + PROVIDER_LATE_WINDOW;
    assert_eq!(p.next_settle(), Some(settle));
    assert!(p.evict_settled(settle - 1).is_empty());
    let late = run(
        &mut p,
        &webhook("evt-1", 1, CheckoutOutcome::Succeeded),
        settle - 1,
    );
    assert!(matches!(
        late.reply,
        Some(PaymentEvent::PaymentCompleted(_))
    ));
    assert_eq!(
        p.evict_settled(settle),
        vec![StateKey::Payment("p2".into())],
        "p1 succeeded: it waits for its refund"
    );
    assert_eq!(p.record(&StateKey::Payment("p2".into())), None);
    assert_eq!(p.payment_count(), 1);
    assert!(
        run(
            &mut p,
            &webhook("evt-2", 2, CheckoutOutcome::Succeeded),
            settle
        )
        .is_none()
    );
    assert!(react(&mut p, &expired(2)).is_empty());
    let out = react(&mut p, &orphaned(1));
    assert!(matches!(out.as_slice(), [PaymentEvent::PaymentRefunded(_)]));
}

#[test]
fn a_failed_or_refunded_payment_leaves_after_the_quiet_period() {
    let mut p = paid();
    react(&mut p, &held(2, 800));
    run(&mut p, &webhook("evt-2", 2, CheckoutOutcome::Failed), 7);
    react(&mut p, &cancelled(1, true, 1000));
    assert_eq!(status(&p, 1), Some(PaymentStatus::Refunded));
    // Not before the provider acknowledged the refund (at 3).
    assert!(
        !p.clone()
            .evict_settled(Millis::MAX / 2)
            .contains(&StateKey::Payment("p1".into()))
    );
    acknowledge(&mut p, 1, 3);
    let before = run(&mut p, &checkout(1, 2, "ann", "h"), 8);
    assert_eq!(
        checkout_reason(&before),
        Some(CheckoutRejectionReason::NotPending)
    );
    // p1 refunded at 3, p2 failed at 7.
    assert_eq!(
        p.evict_settled(3 + QUIET_PERIOD),
        vec![StateKey::Payment("p1".into())]
    );
    assert_eq!(
        p.evict_settled(7 + QUIET_PERIOD),
        vec![StateKey::Payment("p2".into())]
    );
    // (k1 was answered at 8, inside the window: the ledger keeps it.)
    assert_eq!((p.payment_count(), p.next_settle()), (0, None));
    let after = run(&mut p, &checkout(2, 2, "ann", "h"), 8 + QUIET_PERIOD);
    assert_eq!(
        checkout_reason(&after),
        Some(CheckoutRejectionReason::NotFound)
    );
    let replay = run(&mut p, &checkout(1, 2, "ann", "h"), 8 + QUIET_PERIOD);
    assert_eq!(replay.reply, before.reply, "the ledger still replays");
    assert_eq!(
        p.evict_settled(8 + QUIET_PERIOD + COMMAND_RETENTION + 1),
        vec![
            StateKey::Command("k1".into()),
            StateKey::Command("k2".into())
        ]
    );
}

#[test]
fn a_succeeded_payment_stays_refundable_through_its_start_and_the_quiet_period() {
    // p1: held at 3 for a booking starting at 100, paid, recorded at 7.
    let mut p = paid();
    let settle = 100 + QUIET_PERIOD;
    assert_eq!(p.next_settle(), Some(settle));
    assert!(p.evict_settled(settle - 1).is_empty());
    // A cancellation decided just before the start and consumed up to a
    // quiet period later still refunds it.
    let late_cancel = p.clone();
    let out = late_cancel.react_to_booking(&cancelled(1, true, 400), &url, settle - 1);
    assert!(matches!(out.as_slice(), [PaymentEvent::PaymentRefunded(r)] if r.amount.amount == 400));
    // Untouched, it leaves then, and is forgotten by every path.
    assert_eq!(
        p.evict_settled(settle),
        vec![StateKey::Payment("p1".into())]
    );
    assert_eq!(p.record(&StateKey::Payment("p1".into())), None);
    assert_eq!((p.payment_count(), p.next_settle()), (0, None));
    assert!(
        p.react_to_booking(&cancelled(1, true, 400), &url, settle)
            .is_empty()
    );
    assert!(p.react_to_booking(&orphaned(1), &url, settle).is_empty());
    assert!(
        p.decide(&webhook("evt-1", 1, CheckoutOutcome::Succeeded), settle)
            .is_none()
    );
    assert_eq!(
        checkout_reason(&p.decide(&checkout(1, 1, "ann", "h"), settle)),
        Some(CheckoutRejectionReason::NotFound)
    );
}

#[test]
fn a_refunded_payment_settles_from_its_refund_not_its_start() {
    let mut p = paid();
    let out = react(&mut p, &cancelled(1, true, 400));
    assert!(matches!(out.as_slice(), [PaymentEvent::PaymentRefunded(_)]));
    assert_eq!(p.next_settle(), None, "its refund is not acknowledged yet");
    acknowledge(&mut p, 1, 4);
    assert_eq!(p.next_settle(), Some(4 + QUIET_PERIOD));
}

/// The provider acknowledges payment `n`'s first refund at `at`.
fn acknowledge(p: &mut PaymentPartition, n: u32, at: Millis) {
    let out = p.confirm_refund(&format!("p{n}").as_str().into(), &format!("p{n}-r1"), at);
    assert!(
        matches!(out.as_slice(), [PaymentEvent::RefundConfirmed(_)]),
        "{out:?}"
    );
    for e in &out {
        p.apply(e);
    }
}

#[test]
fn a_redelivered_success_with_an_old_instant_is_kept_until_its_orphan_refund_can_arrive() {
    // The booking lapsed at once; the provider's success, stamped 7 on its
    // clock, reaches this side days later, just inside the late window.
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    react(&mut p, &expired(1));
    let recorded = 3 + PROVIDER_LATE_WINDOW - 1;
    let d = run(
        &mut p,
        &webhook_of("evt-1", 1, CheckoutOutcome::Succeeded, 7),
        recorded,
    );
    let Some(PaymentEvent::PaymentCompleted(c)) = &d.reply else {
        panic!("{d:?}")
    };
    assert_eq!((c.completed_at, c.recorded_at), (7, Some(recorded)));
    let stored = p.payment(&"p1".into()).cloned().expect("p1");
    assert_eq!(
        (stored.updated_at, stored.paid_recorded_at),
        (7, Some(recorded))
    );
    // By the provider's instant (or the start, 100) it would be long gone.
    assert!(p.evict_settled(recorded + QUIET_PERIOD - 1).is_empty());
    let out = react(&mut p, &orphaned(1));
    assert!(
        matches!(out.as_slice(), [PaymentEvent::PaymentRefunded(r)] if r.amount.amount == 1000)
    );
}

#[test]
fn a_payment_stored_in_the_old_layout_loads_and_never_settles_while_paid() {
    let paid = paid();
    let Some(StateRecord::Payment(current)) = paid.record(&StateKey::Payment("p1".into())) else {
        panic!("p1 is stored in the current layout")
    };
    let old = PaymentV1 {
        id: current.id.clone(),
        booking_id: current.booking_id.clone(),
        resource_id: current.resource_id.clone(),
        user_id: current.user_id.clone(),
        amount: current.amount.clone(),
        status: current.status,
        refunded: current.refunded,
        checkout_url: current.checkout_url.clone(),
        provider_events: current.provider_events.clone(),
        refunds: current.refunds,
        created_at: current.created_at,
        updated_at: current.updated_at,
    };
    let mut p = PaymentPartition::new();
    p.load(StateRecord::PaymentV1(old));
    let loaded = p.payment(&"p1".into()).cloned().expect("p1");
    assert_eq!(
        loaded,
        Payment {
            booking_start: None,
            paid_recorded_at: None,
            hold_expires_at: None,
            ..current
        }
    );
    assert_eq!(p.next_settle(), None);
    assert!(p.evict_settled(Millis::MAX / 2).is_empty());
    // Its refund still works, stores it in the current layout and settles it.
    let out = react(&mut p, &cancelled(1, true, 400));
    assert!(matches!(out.as_slice(), [PaymentEvent::PaymentRefunded(_)]));
    assert!(matches!(
        p.record(&StateKey::Payment("p1".into())),
        Some(StateRecord::Payment(_))
    ));
    // It settles once the provider acknowledged the refund, not before.
    assert_eq!(p.next_settle(), None);
    let ack = p.confirm_refund(&"p1".into(), "p1-r1", 5);
    assert!(
        matches!(ack.as_slice(), [PaymentEvent::RefundConfirmed(_)]),
        "{ack:?}"
    );
    for e in &ack {
        p.apply(e);
    }
    assert!(p.confirm_refund(&"p1".into(), "p1-r1", 6).is_empty());
    assert_eq!(p.next_settle(), Some(5 + QUIET_PERIOD));
}

#[test]
fn a_partition_restored_from_live_records_settles_the_same() {
    let mut p = PaymentPartition::new();
    let mut keys = Vec::new();
    for ev in [held(1, 1000), held(2, 800), expired(2)] {
        for e in p.react_to_booking(&ev, &url, 3) {
            keys.extend(p.apply(&e));
        }
    }
    for e in p
        .decide(&webhook("evt-1", 1, CheckoutOutcome::Failed), 4)
        .events
    {
        keys.extend(p.apply(&e));
    }
    let mut restored = PaymentPartition::new();
    for key in keys.iter().rev() {
        if let Some(rec) = p.record(key) {
            restored.load(rec);
        }
    }
    assert_eq!(restored.next_settle(), p.next_settle());
    let at = 7 + QUIET_PERIOD;
    assert_eq!(restored.evict_settled(at), p.evict_settled(at));
    let at = 3 + PROVIDER_LATE_WINDOW;
    assert_eq!(restored.evict_settled(at), p.evict_settled(at));
    assert_eq!(restored.payment_count(), 0);
    assert_eq!(p.payment_count(), 0);
}

/// `checkout(1, 1, "ann", "h")` as the gateway appended it at `at`.
fn checkout_appended(at: Option<Millis>) -> PaymentCommand {
    let PaymentCommand::SubmitCheckout(c) = checkout(1, 1, "ann", "h") else {
        unreachable!()
    };
    PaymentCommand::SubmitCheckout(SubmitCheckout {
        appended_at: at,
        ..c
    })
}

#[test]
fn the_intent_carries_its_booking_hold_deadline() {
    let mut p = PaymentPartition::new();
    let out = react(&mut p, &held(1, 1000));
    assert!(matches!(
        &out[..],
        [PaymentEvent::PaymentIntentCreated(e)] if e.hold_expires_at == Some(50)
    ));
    assert_eq!(
        p.payment(&"p1".into()).map(|x| x.hold_expires_at),
        Some(Some(50))
    );
}

#[test]
fn a_checkout_counts_when_the_gateway_appended_it_not_when_it_is_decided() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    // Appended at 40, inside the hold (50); decided at 58, after it.
    let d = run(&mut p, &checkout_appended(Some(40)), 58);
    assert!(matches!(
        &d.events[..],
        [PaymentEvent::CheckoutSubmitted(e)] if e.submitted_at == 40
    ));
    assert_eq!(status(&p, 1), Some(PaymentStatus::Processing));
}

#[test]
fn a_checkout_appended_at_or_after_the_hold_deadline_is_not_pending() {
    for appended in [Some(50), Some(51), None] {
        let mut p = PaymentPartition::new();
        react(&mut p, &held(1, 1000));
        let d = run(&mut p, &checkout_appended(appended), 55);
        assert!(
            matches!(
                &d.events[..],
                [PaymentEvent::CheckoutRejected(e)] if e.reason == CheckoutRejectionReason::NotPending
            ),
            "appended at {appended:?}: {:?}",
            d.events
        );
        assert_eq!(status(&p, 1), Some(PaymentStatus::RequiresPayment));
    }
}

#[test]
fn a_gateway_stamp_from_the_future_counts_as_the_decision_instant() {
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    let d = run(&mut p, &checkout_appended(Some(49)), 30);
    assert!(matches!(
        &d.events[..],
        [PaymentEvent::CheckoutSubmitted(e)] if e.submitted_at == 30
    ));
}

#[test]
fn an_intent_without_a_known_hold_deadline_takes_any_checkout() {
    let mut p = PaymentPartition::new();
    let Some(PaymentEvent::PaymentIntentCreated(e)) =
        p.react_to_booking(&held(1, 1000), &url, 3).pop()
    else {
        panic!("an intent")
    };
    p.apply(&PaymentEvent::PaymentIntentCreated(PaymentIntentCreated {
        hold_expires_at: None,
        ..e
    }));
    let d = run(&mut p, &checkout_appended(Some(70)), 80);
    assert!(matches!(
        &d.events[..],
        [PaymentEvent::CheckoutSubmitted(e)] if e.submitted_at == 70
    ));
}

// ---------- a booking's move ----------

fn rescheduled(n: u32, from: Millis, to: Millis, at: Millis) -> BookingEvent {
    BookingEvent::BookingRescheduled(BookingRescheduled {
        command_id: format!("m{n}-{to}").as_str().into(),
        request_hash: String::new(),
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r1".into(),
        user_id: "ann".into(),
        user_email: "ann@example.com".into(),
        previous_start: from,
        previous_end: from + 100,
        start: to,
        end: to + 100,
        rescheduled_by: "ann".into(),
        rescheduled_at: at,
    })
}

#[test]
fn a_booking_moved_later_keeps_its_payment_until_its_new_start_so_a_paid_cancellation_refunds() {
    let later = 100 + 3 * QUIET_PERIOD;
    let mut moved = paid();
    let updated = moved.payment(&"p1".into()).expect("p1").updated_at;
    let out = react(&mut moved, &rescheduled(1, 100, later, 8));
    assert!(
        matches!(out.as_slice(), [PaymentEvent::PaymentBookingRescheduled(e)]
            if e.booking_start == later && e.payment_id.as_str() == "p1"),
        "{out:?}"
    );
    let p1 = moved.payment(&"p1".into()).cloned().expect("p1");
    assert_eq!(p1.booking_start, Some(later));
    assert_eq!(
        (p1.status, p1.updated_at),
        (PaymentStatus::Succeeded, updated),
        "the payer's view of it did not change"
    );
    assert_eq!(settles_at(&p1), Some(later + QUIET_PERIOD));
    // Told again (a redelivery): nothing new.
    assert!(react(&mut moved, &rescheduled(1, 100, later, 8)).is_empty());

    // Without the move, the payment would leave a quiet period after the
    // original start, and a paid cancellation before the new start would
    // refund nothing.
    let mut unmoved = paid();
    let original = 100 + QUIET_PERIOD;
    assert_eq!(
        unmoved.evict_settled(original),
        [StateKey::Payment("p1".into())]
    );
    assert!(react(&mut unmoved, &cancelled(1, true, 400)).is_empty());
    // With it, the payment stays and the cancellation is refunded.
    assert!(moved.evict_settled(original).is_empty());
    let refund = react(&mut moved, &cancelled(1, true, 400));
    assert!(
        matches!(refund.as_slice(), [PaymentEvent::PaymentRefunded(r)] if r.amount.amount == 400),
        "{refund:?}"
    );
}

#[test]
fn only_an_open_or_paid_payment_of_a_known_booking_learns_its_move() {
    // An open intent learns it (paid later, it settles after the new start).
    let mut p = PaymentPartition::new();
    react(&mut p, &held(1, 1000));
    assert_eq!(react(&mut p, &rescheduled(1, 100, 900, 8)).len(), 1);
    run(&mut p, &webhook("evt-1", 1, CheckoutOutcome::Succeeded), 9);
    let p1 = p.payment(&"p1".into()).cloned().expect("p1");
    assert_eq!(settles_at(&p1), Some(900 + QUIET_PERIOD));
    // A booking this side does not know, and a canceled intent: nothing.
    assert!(react(&mut p, &rescheduled(7, 100, 900, 8)).is_empty());
    react(&mut p, &held(2, 1000));
    react(&mut p, &expired(2));
    assert_eq!(status(&p, 2), Some(PaymentStatus::Canceled));
    assert!(react(&mut p, &rescheduled(2, 100, 900, 8)).is_empty());

    // Restored from its records, the partition still finds the payment of
    // a booking, with the start it learnt.
    let mut restored = PaymentPartition::new();
    for id in ["p1", "p2"] {
        if let Some(rec) = p.record(&StateKey::Payment(id.into())) {
            restored.load(rec);
        }
    }
    assert_eq!(
        restored
            .payment_of(&"b1".into())
            .and_then(|p| p.booking_start),
        Some(900)
    );
    let again = restored.react_to_booking(&rescheduled(1, 900, 1900, 10), &url, 10);
    assert!(
        matches!(again.as_slice(), [PaymentEvent::PaymentBookingRescheduled(e)] if e.booking_start == 1900),
        "{again:?}"
    );
    // Once it settled and left, its booking no longer finds it.
    let gone = restored.evict_settled(Millis::MAX / 2);
    assert!(gone.contains(&StateKey::Payment("p1".into())));
    assert!(restored.payment_of(&"b1".into()).is_none());
}
