use crate::payment_reference::{Reference, kind};
use proptest::prelude::*;
use slotstream_domain::booking::{
    BookingCancelled, BookingEvent, BookingExpired, BookingFailed, BookingHeld, BookingRescheduled,
    PaymentOrphaned,
};
use slotstream_domain::payment::{
    CheckoutOutcome, PaymentCommand, PaymentEvent, PaymentPartition, PaymentStatus,
    RecordProviderOutcome, SubmitCheckout,
};
use slotstream_domain::payment::{PROVIDER_LATE_WINDOW, QUIET_PERIOD, settles_at};
use slotstream_domain::time::{HOUR, MINUTE};
use slotstream_domain::{Decision, Millis, Money, PaymentId, StateKey, StateRecord};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
enum Op {
    /// A booking is held, starting `lead` hours from now.
    Hold {
        units: u8,
        lead: u8,
    },
    HoldAgain {
        pick: usize,
    },
    /// The customer checks out; the gateway appended the command `lag`
    /// minutes before the payment side decides it (a stalled processor).
    Checkout {
        pick: usize,
        payer: bool,
        outcome: bool,
        lag: u8,
    },
    ReplayCheckout {
        pick: usize,
        same_body: bool,
    },
    /// The provider reports an outcome that happened `age` hours ago (a
    /// redelivered webhook keeps its first instant).
    Webhook {
        pick: usize,
        succeeded: bool,
        event: u8,
        age: u8,
    },
    BookingEnds {
        pick: usize,
        how: u8,
        refund: u8,
    },
    /// The booking, still active and not yet started, is moved to start
    /// `lead` hours from now (the booking side's reschedule).
    Move {
        pick: usize,
        lead: u8,
    },
    /// The clock moves on by hours; settled state is evicted, as the
    /// processor does on its prune cadence, and due checks fire.
    Advance {
        hours: u8,
    },
    /// The clock moves on by seconds and due checks fire: the provider is
    /// asked about every checkout whose outcome is overdue.
    Tick {
        secs: u16,
    },
    /// The provider answers an ask about a checkout it took (the
    /// reconciler's report), with the outcome the customer submitted.
    ProviderAnswers {
        pick: usize,
    },
    /// The provider acknowledges a refund handed to it.
    RefundAcked {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..5, prop::sample::select(vec![0u8, 1, 5, 24, 30, 72]))
            .prop_map(|(units, lead)| Op::Hold { units, lead }),
        1 => any::<usize>().prop_map(|pick| Op::HoldAgain { pick }),
        3 => (any::<usize>(), prop::bool::weighted(0.85), any::<bool>(), prop::sample::select(vec![0u8, 0, 1, 14, 16, 61, 75]))
            .prop_map(|(pick, payer, outcome, lag)| Op::Checkout { pick, payer, outcome, lag }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, same_body)| Op::ReplayCheckout { pick, same_body }),
        4 => (any::<usize>(), prop::bool::weighted(0.7), 0u8..3, prop::sample::select(vec![0u8, 0, 2, 30, 70]))
            .prop_map(|(pick, succeeded, event, age)| Op::Webhook { pick, succeeded, event, age }),
        3 => (any::<usize>(), 0u8..5, 0u8..6).prop_map(|(pick, how, refund)| Op::BookingEnds { pick, how, refund }),
        2 => (any::<usize>(), prop::sample::select(vec![1u8, 5, 30, 72, 120, 200]))
            .prop_map(|(pick, lead)| Op::Move { pick, lead }),
        2 => prop::sample::select(vec![1u8, 6, 23, 24, 25, 26, 48, 71, 72, 73, 96])
            .prop_map(|hours| Op::Advance { hours }),
        3 => prop::sample::select(vec![1u16, 5, 9, 10, 11, 20, 40, 300, 1200])
            .prop_map(|secs| Op::Tick { secs }),
        2 => any::<usize>().prop_map(|pick| Op::ProviderAnswers { pick }),
        2 => any::<usize>().prop_map(|pick| Op::RefundAcked { pick }),
    ]
}

enum Input {
    Command(PaymentCommand),
    Booking(BookingEvent),
    /// The partition's check timer.
    Timer,
    /// The provider acknowledged refund `.1` of payment `.0`.
    RefundAck(PaymentId, String),
}

fn url(id: &PaymentId) -> String {
    format!("https://pay.example/{id}")
}

fn react(p: &PaymentPartition, input: &Input, now: Millis) -> Decision<PaymentEvent> {
    match input {
        Input::Command(c) => p.decide(c, now),
        Input::Booking(e) => Decision {
            events: p.react_to_booking(e, &url, now),
            reply: None,
        },
        Input::Timer => Decision {
            events: p.due_checks(now),
            reply: None,
        },
        Input::RefundAck(id, refund) => Decision {
            events: p.confirm_refund(id, refund, now),
            reply: None,
        },
    }
}

/// What the processor did, in order: events appended, evictions at instants.
#[derive(Clone)]
enum Logged {
    Event(Box<PaymentEvent>),
    Evict(Millis),
}

#[derive(Default)]
struct Harness {
    live: PaymentPartition,
    /// Applies every event and evicts at the same instants; never decides.
    replica: PaymentPartition,
    log: Vec<Logged>,
    store: BTreeMap<StateKey, StateRecord>,
    keys: BTreeSet<StateKey>,
}

impl Harness {
    fn restored(&self) -> PaymentPartition {
        let mut p = PaymentPartition::new();
        for rec in self.store.values().rev() {
            p.load(rec.clone());
        }
        p
    }

    fn step(&mut self, input: Input, now: Millis) -> Result<Decision<PaymentEvent>, TestCaseError> {
        let d = react(&self.live, &input, now);
        prop_assert_eq!(
            &react(&self.restored(), &input, now),
            &d,
            "a restored partition decides differently"
        );
        for e in &d.events {
            for key in self.live.apply(e) {
                match self.live.record(&key) {
                    Some(rec) => self.store.insert(key.clone(), rec),
                    None => self.store.remove(&key),
                };
                self.keys.insert(key);
            }
            self.replica.apply(e);
            self.log.push(Logged::Event(Box::new(e.clone())));
        }
        Ok(d)
    }

    /// Evicts what settled at `now` on the live partition (tombstones to
    /// the store) and on the replica, which must drop the same keys. Nothing
    /// evicted may still be refundable by the reference's account.
    fn evict(&mut self, now: Millis, reference: &Reference) -> Result<(), TestCaseError> {
        let keys = self.live.evict_settled(now);
        for key in &keys {
            if let StateKey::Payment(id) = key {
                let n: usize = id.as_str()[1..].parse().expect("p<n>");
                let r = reference.payments.iter().find(|r| r.n == n);
                prop_assert!(
                    r.is_some_and(|r| r.may_still_be_refunded(now).is_none()),
                    "{} evicted at {} while {:?}",
                    id,
                    now,
                    r.and_then(|r| r.may_still_be_refunded(now))
                );
            }
            prop_assert_eq!(self.live.record(key), None, "evicted {:?} remains", key);
            self.store.remove(key);
            self.keys.insert(key.clone());
        }
        prop_assert_eq!(self.replica.evict_settled(now), keys);
        self.log.push(Logged::Evict(now));
        Ok(())
    }

    fn check(&self, reference: &Reference) -> Result<(), TestCaseError> {
        for r in &reference.payments {
            let live = self.live.payment(&format!("p{}", r.n).as_str().into());
            prop_assert!(
                live.is_some_and(|p| p.refunded <= p.amount.amount),
                "over-refunded p{}",
                r.n
            );
            let got = live.map(|p| {
                (
                    p.status,
                    p.refunded,
                    p.refunds,
                    settles_at(p),
                    p.check_at,
                    p.checks,
                )
            });
            prop_assert_eq!(
                got,
                Some((
                    r.status,
                    r.refunded,
                    r.refunds,
                    r.settles_at(),
                    r.check_at,
                    r.checks
                )),
                "payment p{}",
                r.n
            );
        }
        for r in &reference.evicted {
            if !reference.payments.iter().any(|x| x.n == r.n) {
                let id: PaymentId = format!("p{}", r.n).as_str().into();
                prop_assert!(self.live.payment(&id).is_none(), "p{} not evicted", r.n);
            }
        }
        prop_assert_eq!(self.live.payment_count(), reference.payments.len());
        let twin = self.restored();
        for key in &self.keys {
            prop_assert_eq!(self.replica.record(key), self.live.record(key));
            prop_assert_eq!(twin.record(key), self.live.record(key));
        }
        Ok(())
    }
}

/// How long the model's holds last.
const HOLD: Millis = 15 * MINUTE;

fn held(n: usize, amount: i64, start: Millis, hold_expires_at: Millis) -> BookingEvent {
    BookingEvent::BookingHeld(BookingHeld {
        request_hash: String::new(),
        command_id: format!("c{n}").as_str().into(),
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r".into(),
        vendor_id: "vendor".into(),
        user_id: format!("u{}", n % 2).as_str().into(),
        user_email: "u@example.com".into(),
        start,
        end: start + HOUR,
        amount: Money::new(amount, "EUR"),
        payment_id: format!("p{n}").as_str().into(),
        hold_expires_at,
        held_at: 0,
    })
}

fn ending(n: usize, how: u8, refund: i64) -> BookingEvent {
    let (booking_id, resource_id, payment_id) = (
        format!("b{n}").as_str().into(),
        "r".into(),
        format!("p{n}").as_str().into(),
    );
    let (user_id, user_email) = (
        format!("u{}", n % 2).as_str().into(),
        "u@example.com".to_owned(),
    );
    match how {
        0 => BookingEvent::BookingExpired(BookingExpired {
            booking_id,
            resource_id,
            user_id,
            user_email,
            payment_id,
            expired_at: 0,
        }),
        1 => BookingEvent::BookingFailed(BookingFailed {
            booking_id,
            resource_id,
            user_id,
            user_email,
            payment_id,
            reason: "declined".into(),
            failed_at: 0,
        }),
        2 | 3 => BookingEvent::BookingCancelled(BookingCancelled {
            command_id: format!("x{n}").as_str().into(),
            booking_id,
            resource_id,
            user_id,
            user_email,
            payment_id,
            was_paid: how == 3,
            refund: Money::new(if how == 3 { refund } else { 0 }, "EUR"),
            cancelled_at: 0,
        }),
        _ => BookingEvent::PaymentOrphaned(PaymentOrphaned {
            booking_id,
            resource_id,
            payment_id,
            amount: Money::new(refund, "EUR"),
            orphaned_at: 0,
        }),
    }
}

/// Booking `n` moved from `from` to `to` at `now`.
fn moved(n: usize, from: Millis, to: Millis, now: Millis) -> BookingEvent {
    BookingEvent::BookingRescheduled(BookingRescheduled {
        command_id: format!("m{n}-{now}").as_str().into(),
        request_hash: String::new(),
        booking_id: format!("b{n}").as_str().into(),
        resource_id: "r".into(),
        user_id: format!("u{}", n % 2).as_str().into(),
        user_email: "u@example.com".into(),
        previous_start: from,
        previous_end: from + HOUR,
        start: to,
        end: to + HOUR,
        rescheduled_by: format!("u{}", n % 2).as_str().into(),
        rescheduled_at: now,
    })
}

/// The provider acknowledges payment `n`'s pending refund (if any; an
/// acknowledgement of nothing pending changes nothing).
fn ack(
    h: &mut Harness,
    reference: &mut Reference,
    n: usize,
    now: Millis,
) -> Result<(), TestCaseError> {
    let refund = reference
        .payments
        .iter()
        .find(|p| p.n == n)
        .and_then(|p| p.refund_pending.clone())
        .unwrap_or_else(|| format!("p{n}-r9"));
    let d = h.step(
        Input::RefundAck(format!("p{n}").as_str().into(), refund),
        now,
    )?;
    prop_assert_eq!(
        d.events.iter().map(kind).collect::<Vec<_>>(),
        reference.ack_refund(n, now)
    );
    Ok(())
}

/// The provider acknowledges every pending refund.
fn ack_all(h: &mut Harness, reference: &mut Reference, now: Millis) -> Result<(), TestCaseError> {
    let pending: Vec<usize> = reference
        .payments
        .iter()
        .filter(|p| p.refund_pending.is_some())
        .map(|p| p.n)
        .collect();
    for n in pending {
        ack(h, reference, n, now)?;
    }
    Ok(())
}

/// Fires the check timer at `now` on both sides.
fn fire(h: &mut Harness, reference: &mut Reference, now: Millis) -> Result<(), TestCaseError> {
    let d = h.step(Input::Timer, now)?;
    prop_assert_eq!(
        d.events.iter().map(kind).collect::<Vec<_>>(),
        reference.due(now)
    );
    prop_assert!(
        h.live.next_check().is_none_or(|at| at > now),
        "a due check stayed due"
    );
    Ok(())
}

/// The provider answers an ask about payment `n`: the outcome the customer
/// submitted, under the provider's event id for it (as its webhook would).
fn answer(
    h: &mut Harness,
    reference: &mut Reference,
    n: usize,
    now: Millis,
) -> Result<(), TestCaseError> {
    let Some(succeeded) = reference
        .payments
        .iter()
        .find(|p| p.n == n)
        .and_then(|p| p.checkout)
    else {
        return Ok(());
    };
    let id = format!("evt-{n}-ask-{succeeded}");
    let c = RecordProviderOutcome {
        provider_event_id: id.clone(),
        payment_id: format!("p{n}").as_str().into(),
        resource_id: "r".into(),
        outcome: if succeeded {
            CheckoutOutcome::Succeeded
        } else {
            CheckoutOutcome::Failed
        },
        reason: String::new(),
        occurred_at: now,
    };
    let d = h.step(
        Input::Command(PaymentCommand::RecordProviderOutcome(c)),
        now,
    )?;
    prop_assert_eq!(
        d.events.iter().map(kind).collect::<Vec<_>>(),
        reference.webhook(n, succeeded, &id, now, now)
    );
    Ok(())
}

fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::default();
    let mut reference = Reference::default();
    let mut holds: Vec<(usize, i64, Millis, Millis)> = Vec::new();
    let mut checkouts: Vec<(SubmitCheckout, usize, bool)> = Vec::new();
    // Bookings that ended (the booking side moves only active ones).
    let mut ended: BTreeSet<usize> = BTreeSet::new();
    let mut now: Millis = 1_000;
    for (step, op) in ops.into_iter().enumerate() {
        let pick_hold = |pick: usize| holds.get(pick % holds.len().max(1)).copied();
        match op {
            Op::Hold { units, lead } => {
                let amount = i64::from(units) * 250;
                let start = now + i64::from(lead) * HOUR;
                let hold = now + HOLD;
                let d = h.step(Input::Booking(held(step, amount, start, hold)), now)?;
                prop_assert_eq!(
                    d.events.iter().map(kind).collect::<Vec<_>>(),
                    reference.hold(step, amount, start, hold, now)
                );
                holds.push((step, amount, start, hold));
            }
            Op::HoldAgain { pick } => {
                let Some((n, amount, start, hold)) = pick_hold(pick) else {
                    continue;
                };
                let d = h.step(Input::Booking(held(n, amount, start, hold)), now)?;
                prop_assert_eq!(
                    d.events.iter().map(kind).collect::<Vec<_>>(),
                    reference.hold(n, amount, start, hold, now)
                );
            }
            Op::Checkout {
                pick,
                payer,
                outcome,
                lag,
            } => {
                let n = pick_hold(pick).map_or(999, |(n, _, _, _)| n);
                let appended = now - i64::from(lag) * MINUTE;
                let user = if payer { n % 2 } else { n % 2 + 1 };
                let c = SubmitCheckout {
                    command_id: format!("k{step}").as_str().into(),
                    request_hash: format!("h{step}"),
                    payment_id: format!("p{n}").as_str().into(),
                    resource_id: "r".into(),
                    user_id: format!("u{user}").as_str().into(),
                    outcome: if outcome {
                        CheckoutOutcome::Succeeded
                    } else {
                        CheckoutOutcome::Failed
                    },
                    appended_at: Some(appended),
                    requested_at: appended,
                };
                let d = h.step(
                    Input::Command(PaymentCommand::SubmitCheckout(c.clone())),
                    now,
                )?;
                let got = (!d.events.is_empty(), d.reply.as_ref().map(kind));
                let (emitted, k) = reference.checkout(
                    &format!("k{step}"),
                    &c.request_hash,
                    n,
                    payer,
                    outcome,
                    appended,
                    now,
                );
                prop_assert_eq!(got, (emitted, Some(k)));
                checkouts.push((c, n, payer));
            }
            Op::ReplayCheckout { pick, same_body } => {
                if checkouts.is_empty() {
                    continue;
                }
                let (mut c, n, payer) = checkouts[pick % checkouts.len()].clone();
                if !same_body {
                    c.request_hash.push_str("-changed");
                }
                let d = h.step(
                    Input::Command(PaymentCommand::SubmitCheckout(c.clone())),
                    now,
                )?;
                let got = (!d.events.is_empty(), d.reply.as_ref().map(kind));
                let appended = c.appended_at.unwrap_or(now);
                let (emitted, k) = reference.checkout(
                    c.command_id.as_str(),
                    &c.request_hash,
                    n,
                    payer,
                    c.outcome == CheckoutOutcome::Succeeded,
                    appended,
                    now,
                );
                prop_assert_eq!(got, (emitted, Some(k)));
            }
            Op::Webhook {
                pick,
                succeeded,
                event,
                age,
            } => {
                let Some((n, _, _, _)) = pick_hold(pick) else {
                    continue;
                };
                let occurred = now - i64::from(age) * HOUR;
                let id = format!("evt-{n}-{event}");
                let c = RecordProviderOutcome {
                    provider_event_id: id.clone(),
                    payment_id: format!("p{n}").as_str().into(),
                    resource_id: "r".into(),
                    outcome: if succeeded {
                        CheckoutOutcome::Succeeded
                    } else {
                        CheckoutOutcome::Failed
                    },
                    reason: "declined".into(),
                    occurred_at: occurred,
                };
                let d = h.step(
                    Input::Command(PaymentCommand::RecordProviderOutcome(c)),
                    now,
                )?;
                prop_assert_eq!(
                    d.events.iter().map(kind).collect::<Vec<_>>(),
                    reference.webhook(n, succeeded, &id, occurred, now)
                );
            }
            Op::BookingEnds { pick, how, refund } => {
                let Some((n, amount, _, _)) = pick_hold(pick) else {
                    continue;
                };
                let refund = i64::from(refund) * 200;
                ended.insert(n);
                let d = h.step(Input::Booking(ending(n, how, refund)), now)?;
                let expected = match how {
                    0..=2 => reference.cancel(n, now),
                    3 => reference.refund(n, refund, now),
                    _ => reference.refund(n, amount, now),
                };
                prop_assert_eq!(d.events.iter().map(kind).collect::<Vec<_>>(), expected);
            }
            Op::Move { pick, lead } => {
                let i = pick % holds.len().max(1);
                let Some((n, amount, start, hold)) = holds.get(i).copied() else {
                    continue;
                };
                if now >= start || ended.contains(&n) {
                    continue;
                }
                let to = now + i64::from(lead) * HOUR;
                let d = h.step(Input::Booking(moved(n, start, to, now)), now)?;
                prop_assert_eq!(
                    d.events.iter().map(kind).collect::<Vec<_>>(),
                    reference.moved(n, to)
                );
                holds[i] = (n, amount, to, hold);
            }
            Op::Advance { hours } => {
                now += i64::from(hours) * HOUR;
                h.evict(now, &reference)?;
                reference.evict(now);
                fire(&mut h, &mut reference, now)?;
            }
            Op::Tick { secs } => {
                now += i64::from(secs) * 1000;
                fire(&mut h, &mut reference, now)?;
            }
            Op::ProviderAnswers { pick } => {
                let Some((n, _, _, _)) = pick_hold(pick) else {
                    continue;
                };
                answer(&mut h, &mut reference, n, now)?;
            }
            Op::RefundAcked { pick } => {
                let Some((n, _, _, _)) = pick_hold(pick) else {
                    continue;
                };
                ack(&mut h, &mut reference, n, now)?;
            }
        }
        h.check(&reference)?;
    }
    // (6) reconciled. The provider answers every checkout still being
    // asked about; none is left unknown, and none is asked about again.
    let asked: Vec<usize> = reference
        .payments
        .iter()
        .filter(|p| p.check_at.is_some())
        .map(|p| p.n)
        .collect();
    for n in asked {
        answer(&mut h, &mut reference, n, now)?;
    }
    ack_all(&mut h, &mut reference, now)?;
    h.check(&reference)?;
    prop_assert_eq!(h.live.next_check(), None);
    prop_assert!(
        reference
            .payments
            .iter()
            .all(|p| !matches!(p.status, PaymentStatus::Processing | PaymentStatus::Unknown)),
        "unreconciled: {:?}",
        reference.payments
    );
    // (5) bounded. Far past every start, recording and window, untouched
    // payments have left unless still open: a succeeded one settles on its
    // own, without a refund.
    let latest = holds
        .iter()
        .map(|&(_, _, start, _)| start)
        .max()
        .unwrap_or(now);
    now = now.max(latest) + PROVIDER_LATE_WINDOW.max(QUIET_PERIOD) + HOUR;
    h.evict(now, &reference)?;
    reference.evict(now);
    h.check(&reference)?;
    prop_assert!(
        reference
            .payments
            .iter()
            .all(|p| p.status == PaymentStatus::RequiresPayment),
        "settled payments stayed: {:?}",
        reference.payments
    );
    // Then every booking ends (open intents are canceled, taken money is
    // refunded in full), and far past every window the partition and its
    // store hold no payment and no answer.
    for (n, amount, _, _) in holds.clone() {
        for how in [0, 4] {
            let d = h.step(Input::Booking(ending(n, how, amount)), now)?;
            let expected = match how {
                0 => reference.cancel(n, now),
                _ => reference.refund(n, amount, now),
            };
            prop_assert_eq!(d.events.iter().map(kind).collect::<Vec<_>>(), expected);
        }
    }
    // The provider acknowledges those refunds too.
    ack_all(&mut h, &mut reference, now)?;
    now += PROVIDER_LATE_WINDOW.max(QUIET_PERIOD) + HOUR;
    h.evict(now, &reference)?;
    reference.evict(now);
    h.check(&reference)?;
    prop_assert_eq!(h.live.payment_count(), 0);
    prop_assert_eq!(h.live.next_settle(), None);
    prop_assert!(
        h.store.is_empty(),
        "the store still holds {:?}",
        h.store.keys()
    );
    // The log replayed from scratch, evicting at the same instants.
    let mut fresh = PaymentPartition::new();
    for entry in &h.log {
        match entry {
            Logged::Event(e) => {
                fresh.apply(e);
            }
            Logged::Evict(at) => {
                fresh.evict_settled(*at);
            }
        }
    }
    for key in &h.keys {
        prop_assert_eq!(fresh.record(key), h.live.record(key));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn payment_partition_agrees_with_a_brute_force_model(ops in prop::collection::vec(op(), 1..60)) {
        run_model(ops)?;
    }
}
