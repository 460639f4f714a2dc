//! Unit tests of the booking partition, by theme.

use super::*;
use crate::ids::{BookingId, PaymentId};
use crate::money::Money;
use crate::payment::{PaymentCompleted, PaymentEvent, PaymentFailed};
use crate::testkit::{T0, cancel, register, request, room};
use crate::time::{HOUR, Interval, MINUTE, Millis};

const TTL: Millis = 15 * MINUTE;
const DAY_LATER: Millis = 24 * HOUR;

/// A partition with rooms `r1` and `r2`.
fn partition() -> BookingPartition {
    let mut p = BookingPartition::new(BookingConfig::default());
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
mod requests;
mod settle;
mod state;
