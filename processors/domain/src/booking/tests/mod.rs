//! Unit tests of the booking partition, by theme.

use super::*;
use crate::ids::{BookingId, PaymentId, UserId};
use crate::money::Money;
use crate::payment::{PaymentCompleted, PaymentEvent, PaymentFailed};
use crate::testkit::{T0, cancel, register, request, room};
use crate::time::{HOUR, Interval, MINUTE, Millis};

const TTL: Millis = 15 * MINUTE;
const DAY_LATER: Millis = 24 * HOUR;

/// How long a checkout submitted inside the hold keeps the slot, in
/// [`partition_with_grace`].
const DECIDE: Millis = 10 * MINUTE;
/// The grace of [`partition_with_grace`].
const GRACE: Millis = MINUTE / 2;

/// A partition with rooms `r1` and `r2`, releasing an unpaid hold at its
/// `hold_expires_at` exactly (no checkout grace): the rules that do not
/// depend on checkouts, at the instants the contract names.
fn partition() -> BookingPartition {
    partition_configured(no_grace())
}

/// The configuration of [`partition`] (a restore must use the same).
fn no_grace() -> BookingConfig {
    BookingConfig {
        checkout_grace: 0,
        ..BookingConfig::default()
    }
}

/// A partition with rooms `r1` and `r2` and the default timings: a hold
/// with no checkout seen is released `GRACE` after it expires, one with a
/// checkout submitted in time `DECIDE` after that submission.
fn partition_with_grace() -> BookingPartition {
    let cfg = BookingConfig::default();
    assert_eq!(
        (cfg.checkout_grace, cfg.payment_decision_timeout),
        (GRACE, DECIDE)
    );
    partition_configured(cfg)
}

fn partition_configured(cfg: BookingConfig) -> BookingPartition {
    let mut p = BookingPartition::new(cfg);
    for id in ["r1", "r2"] {
        run(&mut p, &register(room(id)), 0);
    }
    p
}

/// Decides and applies, as the processor does.
fn run(p: &mut BookingPartition, cmd: &BookingCommand, now: Millis) -> Decision<BookingEvent> {
    let d = p.decide(cmd, now);
    for e in &d.events {
        p.apply(e);
    }
    d
}

fn book(p: &mut BookingPartition, c: RequestBooking, now: Millis) -> Decision<BookingEvent> {
    run(p, &BookingCommand::RequestBooking(c), now)
}

fn react(p: &mut BookingPartition, ev: &PaymentEvent, now: Millis) -> Vec<BookingEvent> {
    let out = p.react_to_payment(ev, now);
    for e in &out {
        p.apply(e);
    }
    out
}

fn completed(booking: &str, payment: &str) -> PaymentEvent {
    PaymentEvent::PaymentCompleted(PaymentCompleted {
        provider_event_id: "evt".into(),
        payment_id: payment.into(),
        booking_id: booking.into(),
        resource_id: "r1".into(),
        user_id: "ann".into(),
        amount: Money::new(1000, "EUR"),
        completed_at: 0,
        recorded_at: Some(0),
    })
}

fn failed(booking: &str, payment: &str) -> PaymentEvent {
    PaymentEvent::PaymentFailed(PaymentFailed {
        provider_event_id: "evt".into(),
        payment_id: payment.into(),
        booking_id: booking.into(),
        resource_id: "r1".into(),
        user_id: "ann".into(),
        reason: "card declined".into(),
        failed_at: 0,
    })
}

fn rejection(d: &Decision<BookingEvent>) -> Option<(RejectionReason, String)> {
    match &d.reply {
        Some(BookingEvent::BookingRejected(r)) => Some((r.reason, r.detail.clone())),
        _ => None,
    }
}

fn status(p: &BookingPartition, id: &str) -> Option<BookingStatus> {
    p.booking(&BookingId::new(id)).map(|b| b.status)
}

mod lifecycle;
mod payment_started;
mod requests;
mod rescheduling;
mod scheduling;
mod settle;
mod state;
