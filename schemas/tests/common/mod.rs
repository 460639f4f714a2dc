//! Proptest strategies for every contract value, one strategy per union branch,
//! and deterministic samples drawn from them (one per branch).
#![allow(dead_code)] // each test binary uses a different part of it

mod booking;
mod identity;
mod payment;

pub use booking::*;
pub use identity::*;
pub use payment::*;

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union, ValueTree};
use proptest::test_runner::TestRunner;
use slotstream_domain::identity::{OtpIssue, Role};
use slotstream_domain::payment::CheckoutOutcome;
use slotstream_domain::resource::{CancellationPolicy, Price, Resource};
use slotstream_domain::schedule::{
    BookingRules, DateException, LocalDate, LocalRange, ScheduleSpec,
};
use slotstream_domain::{BookingId, CommandId, Money, PaymentId, ResourceId, UserId};
use slotstream_schemas::{DeadLetter, Envelope, Reply, ReplyPayload};

/// Any text, including the empty string and non-ASCII.
pub fn text() -> BoxedStrategy<String> {
    any::<String>().boxed()
}
/// Any instant, negative (before 1970) included.
pub fn ms() -> BoxedStrategy<i64> {
    any::<i64>().boxed()
}
/// A `u32` that fits an Avro `int` (larger ones are rejected on encode).
pub fn small_u32() -> BoxedStrategy<u32> {
    (0..=i32::MAX as u32).boxed()
}
pub fn command_id() -> BoxedStrategy<CommandId> {
    text().prop_map(CommandId).boxed()
}
pub fn booking_id() -> BoxedStrategy<BookingId> {
    text().prop_map(BookingId).boxed()
}
pub fn payment_id() -> BoxedStrategy<PaymentId> {
    text().prop_map(PaymentId).boxed()
}
pub fn resource_id() -> BoxedStrategy<ResourceId> {
    text().prop_map(ResourceId).boxed()
}
pub fn user_id() -> BoxedStrategy<UserId> {
    text().prop_map(UserId).boxed()
}
pub fn money() -> BoxedStrategy<Money> {
    (any::<i64>(), text())
        .prop_map(|(a, c)| Money::new(a, c))
        .boxed()
}
pub fn resource() -> BoxedStrategy<Resource> {
    let price =
        (any::<i64>(), text(), small_u32()).prop_map(|(amount, currency, unit_minutes)| Price {
            amount,
            currency,
            unit_minutes,
        });
    let policy =
        (small_u32(), small_u32(), any::<u8>()).prop_map(|(f, p, pct)| CancellationPolicy {
            full_refund_hours: f,
            partial_refund_hours: p,
            partial_refund_percent: pct,
        });
    (
        (resource_id(), user_id(), text(), text(), price, text()),
        (small_u32(), small_u32(), small_u32(), policy, ms()),
        (proptest::option::of(schedule().prop_map(Box::new)), rules()),
    )
        .prop_map(
            |(
                (id, vendor_id, name, kind, price, timezone),
                (slot, min, max, policy, at),
                (schedule, rules),
            )| {
                Resource {
                    id,
                    vendor_id,
                    name,
                    kind,
                    price,
                    timezone,
                    slot_minutes: slot,
                    min_minutes: min,
                    max_minutes: max,
                    cancellation_policy: policy,
                    created_at: at,
                    schedule,
                    rules,
                }
            },
        )
        .boxed()
}
fn local_ranges() -> impl Strategy<Value = Vec<LocalRange>> {
    proptest::collection::vec(
        (any::<u16>(), any::<u16>()).prop_map(|(start_minute, end_minute)| LocalRange {
            start_minute,
            end_minute,
        }),
        0..3,
    )
}
/// Any schedule the wire can carry (checked or not: the codec does not
/// validate), dates in the four-digit years ISO 8601 writes.
pub fn schedule() -> BoxedStrategy<ScheduleSpec> {
    let exception =
        ((0i16..=9999, any::<u8>(), any::<u8>()), local_ranges()).prop_map(|((y, m, d), hours)| {
            DateException {
                date: LocalDate::new(y, m % 100, d % 100),
                hours,
            }
        });
    (
        text(),
        proptest::collection::vec(local_ranges(), 7),
        proptest::collection::vec(exception, 0..3),
    )
        .prop_map(|(timezone, days, exceptions)| ScheduleSpec {
            timezone,
            weekly: days.try_into().unwrap_or_default(),
            exceptions,
        })
        .boxed()
}
/// Any rules, the default among them (written as null).
pub fn rules() -> BoxedStrategy<BookingRules> {
    prop_oneof![
        Just(BookingRules::default()),
        (
            (small_u32(), small_u32(), small_u32()),
            (proptest::option::of(small_u32()), small_u32()),
        )
            .prop_map(|((b, a, n), (h, m))| BookingRules {
                buffer_before_minutes: b,
                buffer_after_minutes: a,
                min_notice_minutes: n,
                max_horizon_minutes: h,
                modify_notice_minutes: m,
            })
    ]
    .boxed()
}
pub fn otp() -> BoxedStrategy<OtpIssue> {
    (text(), text())
        .prop_map(|(nonce, code_hash)| OtpIssue { nonce, code_hash })
        .boxed()
}
pub fn outcome() -> BoxedStrategy<CheckoutOutcome> {
    prop_oneof![
        Just(CheckoutOutcome::Succeeded),
        Just(CheckoutOutcome::Failed)
    ]
    .boxed()
}
pub fn role() -> BoxedStrategy<Role> {
    prop_oneof![Just(Role::Customer), Just(Role::Vendor)].boxed()
}

/// An envelope around any payload `payload` generates.
pub fn envelope<T: std::fmt::Debug + Clone + 'static>(
    payload: BoxedStrategy<T>,
) -> BoxedStrategy<Envelope<T>> {
    (text(), ms(), proptest::option::of(text()), payload)
        .prop_map(|(event_id, occurred_at, reply_to, payload)| Envelope {
            event_id,
            occurred_at,
            reply_to,
            payload,
        })
        .boxed()
}

/// Any branch of `branches`.
pub fn any_of<T: std::fmt::Debug + 'static>(branches: Vec<BoxedStrategy<T>>) -> BoxedStrategy<T> {
    Union::new(branches).boxed()
}

/// One strategy per reply-union branch (booking, payment, identity events).
pub fn reply_payload_branches() -> Vec<BoxedStrategy<ReplyPayload>> {
    // The events added after the replies were laid out go last: two later
    // booking events, then the later payment event, then the scheduling one
    // and the rescheduling one, then the refund checks, then the API-key
    // events, then the payment's move, then the webhook events (each run is
    // checked against the union's order by REPLY_RUNS).
    let mut booking: Vec<_> = booking_event_branches()
        .into_iter()
        .map(|s| s.prop_map(ReplyPayload::Booking).boxed())
        .collect();
    let mut late_booking = booking.split_off(9);
    let scheduling = late_booking.split_off(2);
    let mut payment: Vec<_> = payment_event_branches()
        .into_iter()
        .map(|s| s.prop_map(ReplyPayload::Payment).boxed())
        .collect();
    let mut late_payment = payment.split_off(7);
    let mut refund_checks = late_payment.split_off(1);
    let payment_moved = refund_checks.split_off(2);
    let mut identity: Vec<_> = identity_event_branches()
        .into_iter()
        .map(|s| s.prop_map(ReplyPayload::Identity).boxed())
        .collect();
    let api_keys = identity.split_off(9);
    booking
        .into_iter()
        .chain(payment)
        .chain(identity)
        .chain(late_booking)
        .chain(late_payment)
        .chain(scheduling)
        .chain(refund_checks)
        .chain(api_keys)
        .chain(payment_moved)
        .collect()
}

/// Any reply.
pub fn reply(payload: BoxedStrategy<ReplyPayload>) -> BoxedStrategy<Reply> {
    (text(), ms(), command_id(), payload)
        .prop_map(|(event_id, occurred_at, command_id, payload)| Reply {
            event_id,
            occurred_at,
            command_id,
            payload,
        })
        .boxed()
}

/// Any dead letter whose numbers fit their Avro types.
pub fn dead_letter() -> BoxedStrategy<DeadLetter> {
    (
        text(),
        small_u32(),
        0..=i64::MAX as u64,
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..64),
        text(),
        ms(),
    )
        .prop_map(
            |(topic, partition, offset, key, value, reason, at)| DeadLetter {
                topic,
                partition,
                offset,
                key,
                value,
                reason,
                dead_lettered_at: at,
            },
        )
        .boxed()
}

/// One deterministic value drawn from `strategy`.
pub fn draw<T: std::fmt::Debug>(runner: &mut TestRunner, strategy: &BoxedStrategy<T>) -> T {
    strategy
        .new_tree(runner)
        .expect("the strategy generates values")
        .current()
}

/// One envelope per branch of `branches`, deterministic.
pub fn envelope_samples<T: std::fmt::Debug + Clone + 'static>(
    branches: Vec<BoxedStrategy<T>>,
) -> Vec<Envelope<T>> {
    let mut runner = TestRunner::deterministic();
    branches
        .into_iter()
        .map(|b| draw(&mut runner, &envelope(b)))
        .collect()
}

/// One reply per reply-union branch, deterministic.
pub fn reply_samples() -> Vec<Reply> {
    let mut runner = TestRunner::deterministic();
    reply_payload_branches()
        .into_iter()
        .map(|b| draw(&mut runner, &reply(b)))
        .collect()
}

/// A few dead letters, deterministic.
pub fn dead_letter_samples() -> Vec<DeadLetter> {
    let mut runner = TestRunner::deterministic();
    (0..3).map(|_| draw(&mut runner, &dead_letter())).collect()
}

/// Something to do with the samples of one contract type.
pub trait Visit {
    /// Called once per contract type with one sample per union branch.
    fn visit<T>(&mut self, samples: Vec<T>)
    where
        T: slotstream_schemas::Contract + PartialEq + std::fmt::Debug + Clone;
}

/// Calls `v` with the samples of every contract type (8 subjects).
pub fn visit_all(v: &mut impl Visit) {
    v.visit(envelope_samples(booking_command_branches()));
    v.visit(envelope_samples(booking_event_branches()));
    v.visit(envelope_samples(payment_command_branches()));
    v.visit(envelope_samples(payment_event_branches()));
    v.visit(envelope_samples(identity_command_branches()));
    v.visit(envelope_samples(identity_event_branches()));
    v.visit(reply_samples());
    v.visit(dead_letter_samples());
}
