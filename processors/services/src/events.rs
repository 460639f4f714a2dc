//! The events listing (`GET /v1/events`): which booking and payment events
//! a partner sees, under which public type, with which payload. The views
//! processor adds one [`EventView`] per such event; the store files it
//! under the booking's customer and the resource's vendor (finding
//! whichever the event does not name from the payment or resource row).
//!
//! An event's id is its log position (topic, partition, offset), so it is
//! the same on every read and replays never make a second one.

use serde_json::{Value, json};
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::payment::PaymentEvent;
use slotstream_domain::{BookingId, Millis, Money, PaymentId, ResourceId, UserId};
use slotstream_runtime::EventView;
use slotstream_runtime::log::ConsumedRecord;

/// RFC 3339 in UTC, with milliseconds only when there are some.
fn time(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339_millis(t).to_string()
    }
}

fn money(m: &Money) -> Value {
    json!({"amount": m.amount, "currency": m.currency})
}

struct Draft {
    kind: &'static str,
    at: Millis,
    resource: ResourceId,
    booking: Option<BookingId>,
    payment: Option<PaymentId>,
    user: Option<UserId>,
    vendor: Option<UserId>,
    payload: Value,
}

impl Draft {
    fn into_view(self, record: &ConsumedRecord) -> EventView {
        EventView {
            topic: record.topic.to_string(),
            partition: record.partition,
            offset: record.offset,
            kind: self.kind.to_owned(),
            created_at: self.at,
            resource_id: self.resource,
            booking_id: self.booking,
            payment_id: self.payment,
            user_id: self.user,
            vendor_id: self.vendor,
            payload: self.payload.to_string(),
        }
    }
}

/// The listed event of a booking-events record, if it is one partners see.
pub fn booking_event(ev: &BookingEvent, record: &ConsumedRecord) -> Option<EventView> {
    let booking =
        |kind, at, b: &BookingId, r: &ResourceId, u: &UserId, p: &PaymentId, payload| Draft {
            kind,
            at,
            resource: r.clone(),
            booking: Some(b.clone()),
            payment: Some(p.clone()),
            user: Some(u.clone()),
            vendor: None,
            payload,
        };
    let d = match ev {
        BookingEvent::ResourceRegistered(e) => Draft {
            kind: "resource.created",
            at: e.resource.created_at,
            resource: e.resource.id.clone(),
            booking: None,
            payment: None,
            user: None,
            vendor: Some(e.resource.vendor_id.clone()),
            payload: json!({"resource_id": e.resource.id, "name": e.resource.name, "kind": e.resource.kind}),
        },
        BookingEvent::ResourceScheduleChanged(e) => Draft {
            kind: "resource.schedule_changed",
            at: e.changed_at,
            resource: e.updated.id.clone(),
            booking: None,
            payment: None,
            user: None,
            vendor: Some(e.updated.vendor_id.clone()),
            payload: json!({"resource_id": e.updated.id, "outside_hours": e.outside_hours}),
        },
        BookingEvent::BookingHeld(e) => Draft {
            vendor: Some(e.vendor_id.clone()),
            ..booking(
                "booking.held",
                e.held_at,
                &e.booking_id,
                &e.resource_id,
                &e.user_id,
                &e.payment_id,
                json!({"booking_id": e.booking_id, "resource_id": e.resource_id, "status": "pending",
                    "start": time(e.start), "end": time(e.end), "amount": money(&e.amount),
                    "hold_expires_at": time(e.hold_expires_at), "payment_id": e.payment_id}),
            )
        },
        BookingEvent::BookingConfirmed(e) => booking(
            "booking.confirmed",
            e.confirmed_at,
            &e.booking_id,
            &e.resource_id,
            &e.user_id,
            &e.payment_id,
            json!({"booking_id": e.booking_id, "status": "confirmed", "start": time(e.start),
                "end": time(e.end), "amount": money(&e.amount)}),
        ),
        BookingEvent::BookingFailed(e) => booking(
            "booking.failed",
            e.failed_at,
            &e.booking_id,
            &e.resource_id,
            &e.user_id,
            &e.payment_id,
            json!({"booking_id": e.booking_id, "status": "failed"}),
        ),
        BookingEvent::BookingExpired(e) => booking(
            "booking.expired",
            e.expired_at,
            &e.booking_id,
            &e.resource_id,
            &e.user_id,
            &e.payment_id,
            json!({"booking_id": e.booking_id, "status": "expired"}),
        ),
        BookingEvent::BookingCancelled(e) => booking(
            "booking.cancelled",
            e.cancelled_at,
            &e.booking_id,
            &e.resource_id,
            &e.user_id,
            &e.payment_id,
            json!({"booking_id": e.booking_id, "status": "cancelled", "refund": money(&e.refund)}),
        ),
        BookingEvent::BookingRescheduled(e) => Draft {
            payment: None,
            ..booking(
                "booking.rescheduled",
                e.rescheduled_at,
                &e.booking_id,
                &e.resource_id,
                &e.user_id,
                &PaymentId(String::new()),
                json!({"booking_id": e.booking_id, "start": time(e.start), "end": time(e.end),
                    "previous_start": time(e.previous_start), "previous_end": time(e.previous_end)}),
            )
        },
        BookingEvent::BookingPaymentDelayed(e) => booking(
            "booking.payment_delayed",
            e.delayed_at,
            &e.booking_id,
            &e.resource_id,
            &e.user_id,
            &e.payment_id,
            json!({"booking_id": e.booking_id, "status": "pending", "held_until": time(e.held_until)}),
        ),
        BookingEvent::BookingRejected(_)
        | BookingEvent::CancellationRejected(_)
        | BookingEvent::PaymentOrphaned(_)
        | BookingEvent::BookingPaymentStarted(_) => return None,
    };
    Some(d.into_view(record))
}

/// The listed event of a payment-events record, if it is one partners see.
pub fn payment_event(ev: &PaymentEvent, record: &ConsumedRecord) -> Option<EventView> {
    let pay =
        |kind, at, p: &PaymentId, b: &BookingId, r: &ResourceId, u: Option<&UserId>, payload| {
            Draft {
                kind,
                at,
                resource: r.clone(),
                booking: Some(b.clone()),
                payment: Some(p.clone()),
                user: u.cloned(),
                vendor: None,
                payload,
            }
        };
    let d = match ev {
        PaymentEvent::PaymentIntentCreated(e) => pay(
            "payment.created",
            e.created_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            Some(&e.user_id),
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id,
                "status": "requires_payment", "amount": money(&e.amount)}),
        ),
        PaymentEvent::CheckoutSubmitted(e) => pay(
            "payment.processing",
            e.submitted_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            None,
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id, "status": "processing"}),
        ),
        PaymentEvent::PaymentCompleted(e) => pay(
            "payment.succeeded",
            e.completed_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            Some(&e.user_id),
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id,
                "status": "succeeded", "amount": money(&e.amount)}),
        ),
        PaymentEvent::PaymentFailed(e) => pay(
            "payment.failed",
            e.failed_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            Some(&e.user_id),
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id, "status": "failed"}),
        ),
        PaymentEvent::PaymentCanceled(e) => pay(
            "payment.canceled",
            e.canceled_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            None,
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id, "status": "canceled"}),
        ),
        PaymentEvent::PaymentRefunded(e) => pay(
            "payment.refunded",
            e.refunded_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            Some(&e.user_id),
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id,
                "status": e.status.as_str(), "amount": money(&e.amount),
                "refunded_amount": money(&e.refunded_total)}),
        ),
        PaymentEvent::PaymentStatusUnknown(e) if e.attempt <= 1 => pay(
            "payment.unknown",
            e.checked_at,
            &e.payment_id,
            &e.booking_id,
            &e.resource_id,
            Some(&e.user_id),
            json!({"payment_id": e.payment_id, "booking_id": e.booking_id, "status": "unknown"}),
        ),
        // The payment side's note of a move partners already see as
        // `booking.rescheduled`.
        PaymentEvent::CheckoutRejected(_)
        | PaymentEvent::PaymentBookingRescheduled(_)
        | PaymentEvent::PaymentStatusUnknown(_)
        | PaymentEvent::RefundUnconfirmed(_)
        | PaymentEvent::RefundConfirmed(_) => return None,
    };
    Some(d.into_view(record))
}
