//! Pure rules over a [`Resource`]: validation, price and refund quote.

use super::model::{CancellationPolicy, Resource};
use crate::money::Money;
use crate::schedule::{Schedule, ScheduleSpec};
use crate::time::{HOUR, Interval, MINUTE, Millis};

/// Longest booking any resource may allow: one year, in minutes.
pub const MAX_BOOKING_MINUTES: u32 = 525_600;

/// A broken rule: which field, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleViolation {
    /// The offending field, as the public API names it (`start`, `price.currency`, ...).
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl RuleViolation {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

fn check(
    ok: bool,
    field: &'static str,
    message: impl FnOnce() -> String,
) -> Result<(), RuleViolation> {
    if ok {
        Ok(())
    } else {
        Err(RuleViolation::new(field, message()))
    }
}

fn text_len_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max
}

/// Checks a resource as a vendor submits it; the first broken rule wins.
pub fn validate_resource(r: &Resource) -> Result<(), RuleViolation> {
    check(text_len_ok(&r.name, 200), "name", || {
        "must be 1 to 200 characters and not blank".into()
    })?;
    check(text_len_ok(&r.kind, 100), "kind", || {
        "must be 1 to 100 characters and not blank".into()
    })?;
    check(r.price.amount >= 0, "price.amount", || {
        "must be zero or more (integer minor units)".into()
    })?;
    let cur = r.price.currency.as_bytes();
    check(
        cur.len() == 3 && cur.iter().all(u8::is_ascii_uppercase),
        "price.currency",
        || "must be a three-letter upper-case ISO 4217 code such as EUR".into(),
    )?;
    check(r.price.unit_minutes >= 1, "price.unit_minutes", || {
        "must be at least 1".into()
    })?;
    let slot = r.slot_minutes;
    check((1..=1440).contains(&slot), "slot_minutes", || {
        "must be between 1 and 1440".into()
    })?;
    for (field, value) in [
        ("min_minutes", r.min_minutes),
        ("max_minutes", r.max_minutes),
    ] {
        check(value >= slot && value % slot == 0, field, || {
            format!("must be a positive multiple of slot_minutes ({slot})")
        })?;
    }
    check(r.min_minutes <= r.max_minutes, "min_minutes", || {
        "must not exceed max_minutes".into()
    })?;
    check(r.max_minutes <= MAX_BOOKING_MINUTES, "max_minutes", || {
        format!("must be at most {MAX_BOOKING_MINUTES} (one year)")
    })?;
    let p = &r.cancellation_policy;
    check(
        p.partial_refund_hours <= p.full_refund_hours,
        "cancellation_policy.partial_refund_hours",
        || "must not exceed full_refund_hours".into(),
    )?;
    check(
        p.partial_refund_percent <= 100,
        "cancellation_policy.partial_refund_percent",
        || "must be between 0 and 100".into(),
    )?;
    validate_scheduling(r).map(|_| ())
}

/// Checks a resource's schedule and rules, and compiles the schedule:
/// the rules within their limits, the schedule valid
/// ([`Schedule::new`]) and in the resource's own `timezone`. The message
/// names the offending part (`weekly[2][0]: ...`).
pub fn validate_scheduling(r: &Resource) -> Result<Option<Schedule>, RuleViolation> {
    r.rules
        .validate()
        .map_err(|e| RuleViolation::new("rules", e.to_string()))?;
    let Some(spec) = &r.schedule else {
        return Ok(None);
    };
    check(spec.timezone == r.timezone, "schedule", || {
        format!("timezone: must be the resource's timezone ({})", r.timezone)
    })?;
    Schedule::new(ScheduleSpec::clone(spec))
        .map(Some)
        .map_err(|e| RuleViolation::new("schedule", e.to_string()))
}

/// Checks a requested interval against the resource's rules at `now`, in this
/// order: end after start, start not in the past, both aligned to
/// `slot_minutes` (multiples of it since the epoch), length within
/// `min_minutes..=max_minutes`.
pub fn validate_booking(r: &Resource, iv: Interval, now: Millis) -> Result<(), RuleViolation> {
    check(iv.end > iv.start, "end", || "must be after start".into())?;
    check(iv.start >= now, "start", || {
        "start in the past: choose a start at or after the current time".into()
    })?;
    let slot = i64::from(r.slot_minutes) * MINUTE;
    check(slot > 0, "resource_id", || {
        "the resource has no valid slot_minutes; ask its vendor to fix it".into()
    })?;
    let aligned = |field, at: Millis| {
        check(at.rem_euclid(slot) == 0, field, || {
            format!("must be aligned to {} minute slots", r.slot_minutes)
        })
    };
    aligned("start", iv.start)?;
    aligned("end", iv.end)?;
    // end > start >= now: no overflow unless `now` itself is absurd.
    let len = iv.end.checked_sub(iv.start).unwrap_or(Millis::MAX);
    check(len >= i64::from(r.min_minutes) * MINUTE, "end", || {
        format!("booking too short: at least {} minutes", r.min_minutes)
    })?;
    check(len <= i64::from(r.max_minutes) * MINUTE, "end", || {
        format!("booking too long: at most {} minutes", r.max_minutes)
    })
}

/// The price of booking `iv`: `price.amount * ceil(duration / unit_minutes)`,
/// with checked arithmetic.
pub fn price_for(r: &Resource, iv: Interval) -> Result<Money, RuleViolation> {
    let unit = i64::from(r.price.unit_minutes) * MINUTE;
    check(unit > 0, "resource_id", || {
        "the resource has no valid price.unit_minutes; ask its vendor to fix it".into()
    })?;
    let len = iv
        .end
        .checked_sub(iv.start)
        .filter(|len| *len > 0)
        .ok_or_else(|| RuleViolation::new("end", "must be after start"))?;
    let units = len / unit + i64::from(len % unit != 0);
    let amount = r
        .price
        .amount
        .checked_mul(units)
        .filter(|a| *a >= 0)
        .ok_or_else(|| {
            RuleViolation::new(
                "end",
                "the price of this interval is out of range; book a shorter one",
            )
        })?;
    Ok(Money::new(amount, r.price.currency.clone()))
}

/// What a paid booking starting at `start` refunds if cancelled at `now`:
/// everything at least `full_refund_hours` before start, `partial_refund_percent`
/// (rounded down) at least `partial_refund_hours` before, nothing later. At or
/// after start it is not cancellable at all; this quote is then zero.
pub fn refund_for(
    policy: &CancellationPolicy,
    amount: &Money,
    start: Millis,
    now: Millis,
) -> Money {
    let before = start.saturating_sub(now);
    let full = i64::from(policy.full_refund_hours) * HOUR;
    let partial = i64::from(policy.partial_refund_hours) * HOUR;
    let refund = if before <= 0 {
        0
    } else if before >= full {
        amount.amount
    } else if before >= partial {
        let part =
            i128::from(amount.amount) * i128::from(policy.partial_refund_percent.min(100)) / 100;
        i64::try_from(part).unwrap_or(0)
    } else {
        0
    };
    Money::new(refund, amount.currency.clone())
}
