//! The booking processor's decisions. Nothing here mutates the partition.

use super::messages::*;
use super::model::Booking;
use super::partition::BookingPartition;
use super::partition::StoredAnswer;
use crate::decision::Decision;
use crate::ids::CommandId;
use crate::ids::{BookingId, ResourceId};
use crate::ledger::Seen;
use crate::money::Money;
use crate::payment::PaymentEvent;
use crate::resource::{
    Resource, price_for, refund_for, validate_booking, validate_resource, validate_scheduling,
};
use crate::schedule::{Busy, Refusal, Schedule, check};
use crate::time::{Interval, Millis};

/// An instant as RFC 3339 UTC (`2026-03-29T01:00:00Z`), for details.
fn instant(at: Millis) -> String {
    jiff::Timestamp::from_millisecond(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// The rejection reason and detail of a scheduling refusal: which rule,
/// and what would pass.
fn refusal(r: Refusal, rules: &crate::schedule::BookingRules) -> (RejectionReason, String) {
    match r {
        Refusal::EmptyInterval => (
            RejectionReason::InvalidRequest,
            "end: must be after start".to_owned(),
        ),
        Refusal::TooSoon { earliest_start } => (
            RejectionReason::TooSoon,
            format!(
                "minimum notice: bookings of this resource need {} minutes' notice; the earliest allowed start is {}",
                rules.min_notice_minutes,
                instant(earliest_start)
            ),
        ),
        Refusal::TooFar { latest_start } => (
            RejectionReason::TooFar,
            format!(
                "booking horizon: this resource takes bookings at most {} minutes ahead; the latest allowed start is {}",
                rules.max_horizon_minutes.unwrap_or(0),
                instant(latest_start)
            ),
        ),
        Refusal::OutsideHours { nearest } => (
            RejectionReason::OutsideHours,
            match nearest {
                Some(o) => format!(
                    "opening hours: the interval is not inside one opening of the resource; the nearest opening long enough is {} to {}",
                    instant(o.start),
                    instant(o.end)
                ),
                None => "opening hours: the interval is not inside one opening of the resource, and no opening long enough lies within two weeks of it".to_owned(),
            },
        ),
        Refusal::Unavailable { busy, clear_from } => (
            RejectionReason::SlotUnavailable,
            format!(
                "the interval or its buffers ({} minutes before, {} after) overlap a pending or confirmed booking busy from {} to {}; the earliest start clear of it is {}",
                rules.buffer_before_minutes,
                rules.buffer_after_minutes,
                instant(busy.start),
                instant(busy.end),
                instant(clear_from)
            ),
        ),
        Refusal::TooLateToModify { deadline } => (
            RejectionReason::InvalidRequest,
            format!("start: changes were possible until {}", instant(deadline)),
        ),
    }
}

fn rejection(
    c: &RequestBooking,
    reason: RejectionReason,
    detail: impl Into<String>,
    now: Millis,
) -> BookingEvent {
    BookingEvent::BookingRejected(BookingRejected {
        command_id: c.command_id.clone(),
        request_hash: c.request_hash.clone(),
        booking_id: c.booking_id.clone(),
        resource_id: c.resource_id.clone(),
        user_id: c.user_id.clone(),
        reason,
        detail: detail.into(),
        rejected_at: now,
    })
}

impl BookingPartition {
    /// The reply to a replayed command: its original answer, nothing new.
    fn replay(&self, id: &CommandId, hash: &str, answer: &StoredAnswer) -> Decision<BookingEvent> {
        self.answer_event(id, hash, answer)
            .map_or_else(Decision::none, Decision::reply_only)
    }

    /// Decides one command at `now`. See the crate docs and the public
    /// contract for the rules; in short:
    ///
    /// - `RegisterResource`: a new id is registered. A replayed command id gets
    ///   its original answer. A resource id that already exists under another
    ///   command, or a resource that breaks [`validate_resource`], gets no
    ///   events and no reply: the gateway generates fresh ids and validates
    ///   first, so only a forged or buggy command lands there.
    /// - `RequestBooking`: replay check, then resource, rules, price, overlap;
    ///   rejections are events too, so a retry gets the same answer.
    /// - `CancelBooking`: replay check, then owner, state and start time.
    pub fn decide(&self, cmd: &BookingCommand, now: Millis) -> Decision<BookingEvent> {
        match cmd {
            BookingCommand::RegisterResource(c) => self.decide_register(c),
            BookingCommand::RequestBooking(c) => self.decide_request(c, now),
            BookingCommand::CancelBooking(c) => self.decide_cancel(c, now),
            BookingCommand::UpdateResourceSchedule(c) => self.decide_schedule(c, now),
            BookingCommand::RescheduleBooking(c) => self.decide_reschedule(c, now),
        }
    }

    /// `UpdateResourceSchedule`: a replayed command id gets its original
    /// answer; an unknown resource, another vendor's, or a schedule or rules
    /// that break [`validate_resource`] get no events and no reply (the
    /// gateway checks all three first, as for a registration). Otherwise the
    /// resource takes the new schedule and rules, and the answer lists its
    /// active bookings, not yet ended, that now lie outside the hours. No
    /// booking is cancelled or changed.
    fn decide_schedule(&self, c: &UpdateResourceSchedule, now: Millis) -> Decision<BookingEvent> {
        if let Some(entry) = self.ledger.get(&c.command_id) {
            return self.replay(&c.command_id, &entry.request_hash, &entry.answer);
        }
        let Some(current) = self.resources.get(&c.resource_id) else {
            return Decision::none();
        };
        if current.vendor_id != c.vendor_id {
            return Decision::none();
        }
        let updated = Resource {
            schedule: c.schedule.clone(),
            rules: c.rules,
            ..current.clone()
        };
        if validate_resource(&updated).is_err() {
            return Decision::none();
        }
        let outside_hours = match validate_scheduling(&updated) {
            Ok(Some(schedule)) => self.outside_hours(&c.resource_id, &schedule, now),
            _ => Vec::new(),
        };
        Decision::answer(BookingEvent::ResourceScheduleChanged(
            ResourceScheduleChanged {
                command_id: c.command_id.clone(),
                updated,
                outside_hours,
                changed_at: now,
            },
        ))
    }

    /// Active bookings of `resource` ending after `now` that are not wholly
    /// inside one opening of `schedule`, by start: one pass over the
    /// openings between the first start and the last end.
    fn outside_hours(
        &self,
        resource: &ResourceId,
        schedule: &Schedule,
        now: Millis,
    ) -> Vec<BookingId> {
        let live = self
            .availability
            .busy(resource, now.saturating_add(1), Millis::MAX);
        let (Some(first), Some(last)) = (live.first(), live.last()) else {
            return Vec::new();
        };
        let open = schedule.open_intervals(Interval::new(first.0.start, last.0.end));
        live.iter()
            .filter(|(iv, _)| {
                let i = open.partition_point(|o| o.end < iv.end);
                !open
                    .get(i)
                    .is_some_and(|o| o.start <= iv.start && iv.end <= o.end)
            })
            .filter_map(|(_, slot)| self.slot(*slot).map(|b| b.id.clone()))
            .collect()
    }

    fn decide_register(&self, c: &RegisterResource) -> Decision<BookingEvent> {
        if let Some(entry) = self.ledger.get(&c.command_id) {
            return self.replay(&c.command_id, &entry.request_hash, &entry.answer);
        }
        if self.resources.contains_key(&c.resource.id) || validate_resource(&c.resource).is_err() {
            return Decision::none();
        }
        Decision::answer(BookingEvent::ResourceRegistered(ResourceRegistered {
            command_id: c.command_id.clone(),
            resource: c.resource.clone(),
        }))
    }

    fn decide_request(&self, c: &RequestBooking, now: Millis) -> Decision<BookingEvent> {
        match self.ledger.check(&c.command_id, &c.request_hash) {
            Seen::Replay(answer) => return self.replay(&c.command_id, &c.request_hash, answer),
            // Reply only: the first answer stays the one in the ledger.
            Seen::Reused => {
                return Decision::reply_only(rejection(
                    c,
                    RejectionReason::IdempotencyKeyReused,
                    "this Idempotency-Key was already used with a different request; use a new key",
                    now,
                ));
            }
            Seen::Fresh => {}
        }
        Decision::answer(self.judge_request(c, now))
    }

    fn judge_request(&self, c: &RequestBooking, now: Millis) -> BookingEvent {
        let Some(resource) = self.resources.get(&c.resource_id) else {
            return rejection(
                c,
                RejectionReason::ResourceNotFound,
                "no resource has this id",
                now,
            );
        };
        let iv = Interval::new(c.start, c.end);
        let amount =
            match validate_booking(resource, iv, now).and_then(|()| price_for(resource, iv)) {
                Ok(amount) => amount,
                Err(v) => return rejection(c, RejectionReason::InvalidRequest, v.to_string(), now),
            };
        if self.by_id.contains_key(&c.booking_id) {
            return rejection(
                c,
                RejectionReason::InvalidRequest,
                "booking_id is already taken",
                now,
            );
        }
        if resource.unrestricted() {
            // Today's rule, at today's cost: no schedule or buffer to consult.
            if self.availability.conflict(&c.resource_id, iv).is_some() {
                return rejection(
                    c,
                    RejectionReason::SlotUnavailable,
                    "the interval overlaps a pending or confirmed booking; choose another time",
                    now,
                );
            }
        } else if let Err((reason, detail)) = self.check_scheduling(resource, iv, now, None) {
            return rejection(c, reason, detail, now);
        }
        BookingEvent::BookingHeld(BookingHeld {
            command_id: c.command_id.clone(),
            request_hash: c.request_hash.clone(),
            booking_id: c.booking_id.clone(),
            resource_id: c.resource_id.clone(),
            vendor_id: resource.vendor_id.clone(),
            user_id: c.user_id.clone(),
            user_email: c.user_email.clone(),
            start: c.start,
            end: c.end,
            amount,
            payment_id: c.payment_id.clone(),
            hold_expires_at: now.saturating_add(self.cfg.hold_ttl),
            held_at: now,
        })
    }

    /// The scheduling rules of a restricted resource for `iv` at `now`, in
    /// the order of [`check`]: notice, horizon, opening hours, then
    /// conflicts with buffers. The availability index holds raw intervals,
    /// so it is asked with `iv` widened by `before + after` on each side:
    /// a raw booking overlaps that exactly when the two buffered intervals
    /// overlap (the resource's buffers apply to every booking alike).
    /// `except`: the slot of a booking being moved, whose own interval is
    /// left out of the conflicts.
    fn check_scheduling(
        &self,
        resource: &Resource,
        iv: Interval,
        now: Millis,
        except: Option<usize>,
    ) -> Result<(), (RejectionReason, String)> {
        let rules = &resource.rules;
        // A schedule that no longer compiles (a zone the bundled tz
        // database lost) is closed: nothing to offer, nothing to book.
        let schedule = match &resource.schedule {
            None => None,
            Some(_) => match self.schedules.get(&resource.id) {
                Some(s) => Some(s),
                None => return Err(refusal(Refusal::OutsideHours { nearest: None }, rules)),
            },
        };
        check(schedule, rules, &Busy::default(), now, iv).map_err(|r| refusal(r, rules))?;
        let gap = rules.buffer_before().saturating_add(rules.buffer_after());
        let widened = Interval::new(iv.start.saturating_sub(gap), iv.end.saturating_add(gap));
        let conflict = match except {
            None => self.availability.conflict(&resource.id, widened),
            Some(own) => self
                .availability
                .conflict_except(&resource.id, widened, own),
        };
        if let Some(other) = conflict.and_then(|slot| self.slot(slot)) {
            let span = rules.buffered(other.interval);
            return Err(refusal(
                Refusal::Unavailable {
                    busy: span,
                    clear_from: span.end.saturating_add(rules.buffer_before()),
                },
                rules,
            ));
        }
        Ok(())
    }

    /// `RescheduleBooking`: replay check (same ledger rules as a request:
    /// the first answer to a key, a key reused with another body refused),
    /// then, in order: the booking exists and is the caller's on that
    /// resource (`BookingNotFound`); it is pending or confirmed and has not
    /// started (`NotReschedulable`); the modify notice before its current
    /// start (`TooLateToModify`); the new interval against the resource's
    /// rules (`InvalidRequest`) and at the same price (`PriceChanged`); then
    /// every scheduling rule (notice, horizon, hours) and conflicts with
    /// buffers, the booking's own interval left out (`TooSoon`, `TooFar`,
    /// `OutsideHours`, `SlotUnavailable`). Accepted: `BookingRescheduled`,
    /// which releases the old interval and takes the new one at once.
    fn decide_reschedule(&self, c: &RescheduleBooking, now: Millis) -> Decision<BookingEvent> {
        let reject = |reason, detail: &str| {
            BookingEvent::BookingRejected(BookingRejected {
                command_id: c.command_id.clone(),
                request_hash: c.request_hash.clone(),
                booking_id: c.booking_id.clone(),
                resource_id: c.resource_id.clone(),
                user_id: c.requested_by.clone(),
                reason,
                detail: detail.to_owned(),
                rejected_at: now,
            })
        };
        match self.ledger.check(&c.command_id, &c.request_hash) {
            Seen::Replay(answer) => return self.replay(&c.command_id, &c.request_hash, answer),
            Seen::Reused => {
                return Decision::reply_only(reject(
                    RejectionReason::IdempotencyKeyReused,
                    "this Idempotency-Key was already used with a different request; use a new key",
                ));
            }
            Seen::Fresh => {}
        }
        Decision::answer(match self.judge_reschedule(c, now) {
            Ok(ev) => ev,
            Err((reason, detail)) => reject(reason, &detail),
        })
    }

    fn judge_reschedule(
        &self,
        c: &RescheduleBooking,
        now: Millis,
    ) -> Result<BookingEvent, (RejectionReason, String)> {
        let slot = self.by_id.get(&c.booking_id).copied();
        // Someone else's booking reads exactly like a missing one.
        let (Some(slot), Some(b)) = (slot, slot.and_then(|s| self.slot(s))) else {
            return Err((
                RejectionReason::BookingNotFound,
                "no such booking".to_owned(),
            ));
        };
        if b.user_id != c.requested_by || b.resource_id != c.resource_id {
            return Err((
                RejectionReason::BookingNotFound,
                "no such booking".to_owned(),
            ));
        }
        if !b.status.is_active() || now >= b.interval.start {
            return Err((
                RejectionReason::NotReschedulable,
                format!(
                    "this booking is {} and can no longer be rescheduled: only a pending or confirmed booking that has not started can",
                    b.status.as_str()
                ),
            ));
        }
        let Some(resource) = self.resources.get(&b.resource_id) else {
            return Err((
                RejectionReason::ResourceNotFound,
                "no resource has this id".to_owned(),
            ));
        };
        let rules = &resource.rules;
        if let Err(r) = rules.check_modify(b.interval.start, now) {
            let deadline = match r {
                Refusal::TooLateToModify { deadline } => deadline,
                _ => b.interval.start,
            };
            return Err((
                RejectionReason::TooLateToModify,
                format!(
                    "modification notice: bookings of this resource can be changed until {} minutes before their start; the deadline for this one was {}",
                    rules.modify_notice_minutes,
                    instant(deadline)
                ),
            ));
        }
        let iv = Interval::new(c.start, c.end);
        let amount = validate_booking(resource, iv, now)
            .and_then(|()| price_for(resource, iv))
            .map_err(|v| (RejectionReason::InvalidRequest, v.to_string()))?;
        if amount != b.amount {
            return Err((
                RejectionReason::PriceChanged,
                format!(
                    "price: the new interval costs {} {} where the booking costs {} {}; a reschedule must keep the price (cancel and book again instead)",
                    amount.amount, amount.currency, b.amount.amount, b.amount.currency
                ),
            ));
        }
        if resource.unrestricted() {
            if self
                .availability
                .conflict_except(&resource.id, iv, slot)
                .is_some()
            {
                return Err((
                    RejectionReason::SlotUnavailable,
                    "the interval overlaps a pending or confirmed booking; choose another time"
                        .to_owned(),
                ));
            }
        } else {
            self.check_scheduling(resource, iv, now, Some(slot))?;
        }
        Ok(BookingEvent::BookingRescheduled(BookingRescheduled {
            command_id: c.command_id.clone(),
            request_hash: c.request_hash.clone(),
            booking_id: b.id.clone(),
            resource_id: b.resource_id.clone(),
            user_id: b.user_id.clone(),
            user_email: b.user_email.clone(),
            previous_start: b.interval.start,
            previous_end: b.interval.end,
            start: c.start,
            end: c.end,
            rescheduled_by: c.requested_by.clone(),
            rescheduled_at: now,
        }))
    }

    fn decide_cancel(&self, c: &CancelBooking, now: Millis) -> Decision<BookingEvent> {
        // Cancellation has no request body hash: any retry replays.
        if let Some(entry) = self.ledger.get(&c.command_id) {
            return self.replay(&c.command_id, &entry.request_hash, &entry.answer);
        }
        let reject = |reason| {
            BookingEvent::CancellationRejected(CancellationRejected {
                command_id: c.command_id.clone(),
                booking_id: c.booking_id.clone(),
                resource_id: c.resource_id.clone(),
                user_id: c.user_id.clone(),
                reason,
                rejected_at: now,
            })
        };
        let event = match self.booking(&c.booking_id) {
            Some(b) if b.user_id == c.user_id && b.resource_id == c.resource_id => {
                let rules = self.resources.get(&b.resource_id).map(|r| &r.rules);
                if !b.status.is_active() || now >= b.interval.start {
                    reject(CancellationRejectionReason::NotCancellable)
                } else if rules.is_some_and(|r| r.check_modify(b.interval.start, now).is_err()) {
                    reject(CancellationRejectionReason::TooLateToCancel)
                } else {
                    let was_paid = b.status == BookingStatus::Confirmed;
                    let refund = if was_paid {
                        let policy = self
                            .resources
                            .get(&b.resource_id)
                            .map(|r| r.cancellation_policy)
                            .unwrap_or_default();
                        refund_for(&policy, &b.amount, b.interval.start, now)
                    } else {
                        Money::zero(b.amount.currency.clone())
                    };
                    BookingEvent::BookingCancelled(BookingCancelled {
                        command_id: c.command_id.clone(),
                        booking_id: b.id.clone(),
                        resource_id: b.resource_id.clone(),
                        user_id: b.user_id.clone(),
                        user_email: b.user_email.clone(),
                        payment_id: b.payment_id.clone(),
                        was_paid,
                        refund,
                        cancelled_at: now,
                    })
                }
            }
            // Someone else's booking is reported exactly like a missing one,
            // and so is one that settled and left (see `settles_at`): past
            // its start or final, it was refused anyway, and the partition
            // keeps no trace to tell it from one it never knew.
            _ => reject(CancellationRejectionReason::NotFound),
        };
        Decision::answer(event)
    }

    /// Reaction to a payment event. `PaymentCompleted` confirms a pending
    /// booking paid by its own payment (even past `hold_expires_at`, as long
    /// as the expiry has not been applied), and orphans the payment otherwise
    /// (booking expired, failed, cancelled, or paid by another payment) so it
    /// is refunded in full; a repeat of the completion that confirmed it does
    /// nothing. `PaymentFailed` fails a pending booking. `CheckoutSubmitted`
    /// of a pending booking's own payment, submitted before its
    /// `hold_expires_at`, is `BookingPaymentStarted`: the slot stays held
    /// for the payment's decision until `pay_by` (the submission plus the
    /// payment decision timeout, never before `hold_expires_at`); only the
    /// first such checkout moves it. `PaymentStatusUnknown` of a pending
    /// booking's own payment whose checkout was seen is
    /// `BookingPaymentDelayed` the first time (the slot stays held until
    /// the submission plus the unknown-payment hold, while the payment side
    /// asks the provider); later asks move nothing. Anything else, or an unknown booking:
    /// nothing. A booking that settled and left is unknown;
    /// `settles_at` keeps one whose intent the payment side canceled until
    /// after that side stops accepting a late success for it, so its
    /// `PaymentCompleted` is still orphaned (and refunded).
    pub fn react_to_payment(&self, ev: &PaymentEvent, now: Millis) -> Vec<BookingEvent> {
        match ev {
            PaymentEvent::PaymentCompleted(p) => {
                let Some(b) = self.booking(&p.booking_id) else {
                    return Vec::new();
                };
                let own = b.payment_id == p.payment_id;
                match b.status {
                    BookingStatus::Pending if own => {
                        vec![BookingEvent::BookingConfirmed(BookingConfirmed {
                            booking_id: b.id.clone(),
                            resource_id: b.resource_id.clone(),
                            user_id: b.user_id.clone(),
                            user_email: b.user_email.clone(),
                            payment_id: p.payment_id.clone(),
                            start: b.interval.start,
                            end: b.interval.end,
                            amount: p.amount.clone(),
                            confirmed_at: now,
                        })]
                    }
                    BookingStatus::Confirmed if own => Vec::new(),
                    _ => vec![BookingEvent::PaymentOrphaned(PaymentOrphaned {
                        booking_id: b.id.clone(),
                        resource_id: b.resource_id.clone(),
                        payment_id: p.payment_id.clone(),
                        amount: p.amount.clone(),
                        orphaned_at: now,
                    })],
                }
            }
            PaymentEvent::CheckoutSubmitted(c) => match self.booking(&c.booking_id) {
                Some(b)
                    if b.status == BookingStatus::Pending
                        && b.payment_id == c.payment_id
                        && b.pay_by.is_none()
                        && c.submitted_at < b.hold_expires_at =>
                {
                    let pay_by = c
                        .submitted_at
                        .saturating_add(self.cfg.payment_decision_timeout)
                        .max(b.hold_expires_at);
                    vec![BookingEvent::BookingPaymentStarted(BookingPaymentStarted {
                        booking_id: b.id.clone(),
                        resource_id: b.resource_id.clone(),
                        payment_id: b.payment_id.clone(),
                        submitted_at: c.submitted_at,
                        pay_by,
                    })]
                }
                _ => Vec::new(),
            },
            PaymentEvent::PaymentStatusUnknown(u) => match self.booking(&u.booking_id) {
                Some(b) if b.status == BookingStatus::Pending && b.payment_id == u.payment_id => {
                    let held_until = b.pay_by.unwrap_or(b.hold_expires_at);
                    let until = u
                        .submitted_at
                        .saturating_add(self.cfg.payment_unknown_hold)
                        .max(held_until);
                    if b.pay_by.is_none() || until <= held_until {
                        return Vec::new();
                    }
                    vec![BookingEvent::BookingPaymentDelayed(BookingPaymentDelayed {
                        booking_id: b.id.clone(),
                        resource_id: b.resource_id.clone(),
                        user_id: b.user_id.clone(),
                        user_email: b.user_email.clone(),
                        payment_id: b.payment_id.clone(),
                        submitted_at: u.submitted_at,
                        held_until: until,
                        delayed_at: now,
                    })]
                }
                _ => Vec::new(),
            },
            PaymentEvent::PaymentFailed(p) => match self.booking(&p.booking_id) {
                Some(b) if b.status == BookingStatus::Pending && b.payment_id == p.payment_id => {
                    vec![BookingEvent::BookingFailed(BookingFailed {
                        booking_id: b.id.clone(),
                        resource_id: b.resource_id.clone(),
                        user_id: b.user_id.clone(),
                        user_email: b.user_email.clone(),
                        payment_id: b.payment_id.clone(),
                        reason: p.reason.clone(),
                        failed_at: now,
                    })]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// `BookingExpired` for every pending booking released at or before
    /// `now` ([`BookingConfig::releases_at`](super::BookingConfig::releases_at):
    /// `pay_by` once a checkout submitted in time was seen, else
    /// `hold_expires_at` plus the checkout grace), earliest first (ties by
    /// booking id, so the order does not depend on how the partition was
    /// built); `expired_at` is that instant.
    pub fn due_expiries(&self, now: Millis) -> Vec<BookingEvent> {
        let mut due: Vec<(Millis, &Booking)> = self
            .holds
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter_map(|&(at, slot)| self.slot(slot).map(|b| (at, b)))
            .collect();
        due.sort_by(|(a, x), (b, y)| (a, &x.id).cmp(&(b, &y.id)));
        due.into_iter()
            .map(|(at, b)| {
                BookingEvent::BookingExpired(BookingExpired {
                    booking_id: b.id.clone(),
                    resource_id: b.resource_id.clone(),
                    user_id: b.user_id.clone(),
                    user_email: b.user_email.clone(),
                    payment_id: b.payment_id.clone(),
                    expired_at: at,
                })
            })
            .collect()
    }
}
