//! Views and events to API JSON. Answers to commands are rendered from the
//! reply event alone (plus immutable booking facts), so a replayed request
//! gets the same body as the first one.

use crate::dto::*;
use crate::rfc3339;
use slotstream_domain::Money;
use slotstream_domain::booking::{BookingCancelled, BookingStatus};
use slotstream_domain::payment::PaymentStatus;
use slotstream_domain::resource::{CancellationPolicy, Resource};
use slotstream_domain::schedule::{BookingRules, LocalRange, ScheduleSpec};
use slotstream_runtime::views::{BookingView, PaymentView};

/// Money as JSON.
pub fn money(m: &Money) -> MoneyDto {
    MoneyDto {
        amount: m.amount,
        currency: m.currency.clone(),
    }
}

fn policy(p: &CancellationPolicy) -> PolicyDto {
    PolicyDto {
        full_refund_hours: p.full_refund_hours,
        partial_refund_hours: p.partial_refund_hours,
        partial_refund_percent: p.partial_refund_percent,
    }
}

/// A resource as JSON.
pub fn resource(r: &Resource) -> ResourceDto {
    ResourceDto {
        id: r.id.to_string(),
        vendor_id: r.vendor_id.to_string(),
        name: r.name.clone(),
        kind: r.kind.clone(),
        price: PriceDto {
            amount: r.price.amount,
            currency: r.price.currency.clone(),
            unit_minutes: r.price.unit_minutes,
        },
        timezone: r.timezone.clone(),
        slot_minutes: r.slot_minutes,
        min_minutes: r.min_minutes,
        max_minutes: r.max_minutes,
        cancellation_policy: policy(&r.cancellation_policy),
        created_at: rfc3339::format(r.created_at),
        schedule: r.schedule.as_deref().map(schedule),
        rules: rules(&r.rules),
    }
}

/// `minute` since local midnight as `HH:MM` (1440 is `24:00`).
fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn openings(hours: &[LocalRange]) -> Vec<OpeningDto> {
    hours
        .iter()
        .map(|r| OpeningDto {
            start: hhmm(r.start_minute),
            end: hhmm(r.end_minute),
        })
        .collect()
}

/// Opening hours as JSON.
pub fn schedule(s: &ScheduleSpec) -> ScheduleDto {
    let [mo, tu, we, th, fr, sa, su] = &s.weekly;
    ScheduleDto {
        weekly: WeekDto {
            monday: openings(mo),
            tuesday: openings(tu),
            wednesday: openings(we),
            thursday: openings(th),
            friday: openings(fr),
            saturday: openings(sa),
            sunday: openings(su),
        },
        exceptions: s
            .exceptions
            .iter()
            .map(|e| ExceptionDto {
                date: format!("{:04}-{:02}-{:02}", e.date.year, e.date.month, e.date.day),
                hours: openings(&e.hours),
            })
            .collect(),
    }
}

/// Booking rules as JSON (every field present; no horizon is null).
pub fn rules(r: &BookingRules) -> RulesDto {
    RulesDto {
        buffer_before_minutes: Some(r.buffer_before_minutes),
        buffer_after_minutes: Some(r.buffer_after_minutes),
        min_notice_minutes: Some(r.min_notice_minutes),
        max_horizon_minutes: r.max_horizon_minutes,
        modify_notice_minutes: Some(r.modify_notice_minutes),
    }
}

/// A resource's opening hours and rules as JSON.
pub fn schedule_answer(r: &Resource) -> ScheduleAnswerDto {
    ScheduleAnswerDto {
        resource_id: r.id.to_string(),
        timezone: r.timezone.clone(),
        schedule: r.schedule.as_deref().map(schedule),
        rules: rules(&r.rules),
    }
}

/// The payment status a booking implies when its payment row is not visible yet.
fn implied_payment_status(b: &BookingView) -> PaymentStatus {
    match b.status {
        BookingStatus::Pending => PaymentStatus::RequiresPayment,
        BookingStatus::Confirmed => PaymentStatus::Succeeded,
        BookingStatus::Failed => PaymentStatus::Failed,
        BookingStatus::Expired | BookingStatus::Cancelled => PaymentStatus::Canceled,
    }
}

fn refund_status(refund: &Money, refunded_so_far: Option<i64>) -> &'static str {
    match refunded_so_far {
        _ if refund.amount == 0 => "none",
        Some(done) if done >= refund.amount => "succeeded",
        _ => "pending",
    }
}

/// A booking as JSON; `payment` is its payment row when visible.
pub fn booking(b: &BookingView, payment: Option<&PaymentView>, checkout_url: String) -> BookingDto {
    let pay_status = payment.map_or_else(|| implied_payment_status(b), |p| p.status);
    let refund = match (&b.refund, b.status) {
        (Some(r), BookingStatus::Cancelled) => Some(RefundDto {
            amount: r.amount,
            currency: r.currency.clone(),
            status: refund_status(r, payment.map(|p| p.refunded_amount)),
        }),
        (None, BookingStatus::Cancelled) => Some(RefundDto {
            amount: 0,
            currency: b.amount.currency.clone(),
            status: "none",
        }),
        _ => None,
    };
    BookingDto {
        id: b.id.to_string(),
        resource_id: b.resource_id.to_string(),
        user_id: b.user_id.to_string(),
        start: rfc3339::format(b.start),
        end: rfc3339::format(b.end),
        status: b.status.as_str(),
        hold_expires_at: rfc3339::format(b.hold_expires_at),
        amount: money(&b.amount),
        payment: BookingPaymentDto {
            id: b.payment_id.to_string(),
            status: pay_status.as_str(),
            checkout_url: payment.map_or(checkout_url, |p| p.checkout_url.clone()),
        },
        refund,
        created_at: rfc3339::format(b.created_at),
        reschedules: b
            .reschedules
            .iter()
            .map(|m| RescheduleDto {
                from_start: rfc3339::format(m.from_start),
                from_end: rfc3339::format(m.from_end),
                to_start: rfc3339::format(m.to_start),
                to_end: rfc3339::format(m.to_end),
                by: m.by.to_string(),
                at: rfc3339::format(m.at),
            })
            .collect(),
    }
}

/// The answer to a cancellation: the booking as the event leaves it, with the
/// payment status the event implies.
pub fn cancelled(
    b: &BookingView,
    e: &BookingCancelled,
    checkout_url: String,
) -> (BookingView, BookingDto) {
    let mut after = b.clone();
    after.status = BookingStatus::Cancelled;
    after.refund = Some(e.refund.clone());
    after.updated_at = after.updated_at.max(e.cancelled_at);
    let pay_status = match (e.was_paid, e.refund.amount) {
        (false, _) => PaymentStatus::Canceled,
        (true, 0) => PaymentStatus::Succeeded,
        (true, r) if r >= b.amount.amount => PaymentStatus::Refunded,
        (true, _) => PaymentStatus::PartiallyRefunded,
    };
    let mut dto = booking(&after, None, checkout_url);
    dto.payment.status = pay_status.as_str();
    if let Some(r) = dto.refund.as_mut() {
        r.status = refund_status(&e.refund, None);
    }
    (after, dto)
}

/// A payment as JSON.
pub fn payment(p: &PaymentView) -> PaymentDto {
    PaymentDto {
        id: p.id.to_string(),
        booking_id: p.booking_id.to_string(),
        status: p.status.as_str(),
        amount: money(&p.amount),
        refunded_amount: MoneyDto {
            amount: p.refunded_amount,
            currency: p.amount.currency.clone(),
        },
        checkout_url: p.checkout_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_domain::CommandId;
    use slotstream_domain::booking::BookingHeld;

    fn held() -> BookingHeld {
        BookingHeld {
            command_id: CommandId::from("c1"),
            request_hash: "h1".into(),
            booking_id: "bk_1".into(),
            resource_id: "res_1".into(),
            vendor_id: "usr_v".into(),
            user_id: "usr_c".into(),
            user_email: "c@x.io".into(),
            start: 1_896_080_400_000,
            end: 1_896_084_000_000,
            amount: Money::new(2500, "EUR"),
            payment_id: "pay_1".into(),
            hold_expires_at: 1_896_000_900_000,
            held_at: 1_896_000_000_000,
        }
    }

    #[test]
    fn a_held_booking_renders_exactly_as_the_contract_shows_it() {
        let b = BookingView::held(&held());
        let v = serde_json::to_value(booking(
            &b,
            None,
            "http://gw/v1/sandbox/checkout/pay_1".into(),
        ))
        .unwrap();
        assert_eq!(v["id"], "bk_1");
        assert_eq!(v["status"], "pending");
        assert_eq!(v["start"], "2030-01-31T09:00:00Z");
        assert_eq!(v["end"], "2030-01-31T10:00:00Z");
        assert_eq!(
            v["amount"],
            serde_json::json!({"amount": 2500, "currency": "EUR"})
        );
        assert_eq!(v["payment"]["status"], "requires_payment");
        assert_eq!(
            v["payment"]["checkout_url"],
            "http://gw/v1/sandbox/checkout/pay_1"
        );
        assert!(v.get("refund").is_none());
    }

    #[test]
    fn a_cancelled_paid_booking_shows_its_refund_and_payment_status() {
        let b = BookingView::held(&held());
        let e = BookingCancelled {
            command_id: CommandId::from("c2"),
            booking_id: "bk_1".into(),
            resource_id: "res_1".into(),
            user_id: "usr_c".into(),
            user_email: "c@x.io".into(),
            payment_id: "pay_1".into(),
            was_paid: true,
            refund: Money::new(1250, "EUR"),
            cancelled_at: 1_896_000_100_000,
        };
        let (after, dto) = cancelled(&b, &e, String::new());
        assert_eq!(after.status, BookingStatus::Cancelled);
        let v = serde_json::to_value(dto).unwrap();
        assert_eq!(v["status"], "cancelled");
        assert_eq!(
            v["refund"],
            serde_json::json!({"amount": 1250, "currency": "EUR", "status": "pending"})
        );
        assert_eq!(v["payment"]["status"], "partially_refunded");

        let mut pay = PaymentView::for_hold(&held(), String::new());
        pay.status = PaymentStatus::PartiallyRefunded;
        pay.refunded_amount = 1250;
        let v = serde_json::to_value(booking(&after, Some(&pay), String::new())).unwrap();
        assert_eq!(v["refund"]["status"], "succeeded");
    }

    #[test]
    fn a_payment_renders_refunds_as_money() {
        let mut p = PaymentView::for_hold(&held(), "u".into());
        p.refunded_amount = 100;
        let v = serde_json::to_value(payment(&p)).unwrap();
        assert_eq!(v["status"], "requires_payment");
        assert_eq!(
            v["refunded_amount"],
            serde_json::json!({"amount": 100, "currency": "EUR"})
        );
        assert_eq!(v["booking_id"], "bk_1");
    }
}
