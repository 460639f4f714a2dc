use crate::booking_reference::{
    DECIDE, GRACE, Kind, Reference, SLOT, T0, TTL, UNKNOWN_HOLD, kind, summary,
};
use proptest::prelude::*;
use slotstream_domain::booking::LATE_PAYMENT_WINDOW;
use slotstream_domain::booking::{
    BookingCommand, BookingConfig, BookingEvent, BookingPartition, BookingStatus, CancelBooking,
    RegisterResource, RequestBooking,
};
use slotstream_domain::fixtures;
use slotstream_domain::payment::{
    CheckoutOutcome, CheckoutSubmitted, PaymentCompleted, PaymentEvent, PaymentFailed,
    PaymentStatusUnknown,
};
use slotstream_domain::resource::{CancellationPolicy, Price, Resource};
use slotstream_domain::time::{DAY, HOUR, MINUTE};
use slotstream_domain::{Decision, Millis, Money, StateKey, StateRecord};
use std::collections::{BTreeMap, BTreeSet};

const RESOURCES: u8 = 3;
const USERS: u8 = 3;

fn resource(r: u8) -> Resource {
    Resource {
        name: format!("room {r}"),
        price: Price {
            amount: 100,
            currency: "EUR".into(),
            unit_minutes: 30,
        },
        max_minutes: 60,
        cancellation_policy: CancellationPolicy {
            full_refund_hours: 2,
            partial_refund_hours: 1,
            partial_refund_percent: 50,
        },
        created_at: T0,
        ..fixtures::resource(&format!("r{r}"), "vendor")
    }
}

#[derive(Clone, Debug)]
enum Op {
    Register {
        r: u8,
    },
    Request {
        r: u8,
        user: u8,
        slot: u8,
        len: u8,
        misaligned: bool,
        /// Hours ahead of the next slots (most requests: none), so some
        /// bookings end after their request's ledger window closes.
        ahead: u8,
    },
    Replay {
        pick: usize,
        same_body: bool,
    },
    Pay {
        pick: usize,
        succeeded: bool,
        own_payment: bool,
    },
    /// The payment side reports a checkout the customer submitted `lag`
    /// minutes ago (decided late: a stalled payment processor).
    Checkout {
        pick: usize,
        lag: u8,
        own_payment: bool,
    },
    /// The payment side says a checkout's outcome is unknown (the provider
    /// has not answered); the checkout was submitted `lag` minutes ago.
    Unknown {
        pick: usize,
        lag: u8,
    },
    Cancel {
        pick: usize,
        owner: bool,
    },
    ReplayCancel {
        pick: usize,
    },
    /// The clock moves; `tick` says whether the expiry timer fires too.
    /// Settled state is evicted at every move, as the processor does.
    Advance {
        minutes: u8,
        tick: bool,
    },
    /// The clock jumps hours or days: past hold expiries, ends, the ledger
    /// window and settle instants.
    Leap {
        hours: u8,
        tick: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..RESOURCES).prop_map(|r| Op::Register { r }),
        6 => (
            (0..RESOURCES, 0..USERS, 0u8..16, 0u8..6, prop::bool::weighted(0.1)),
            prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 24, 26, 30]),
        )
            .prop_map(|((r, user, slot, len, misaligned), ahead)| Op::Request {
                r,
                user,
                slot,
                len,
                misaligned,
                ahead,
            }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, same_body)| Op::Replay { pick, same_body }),
        3 => (any::<usize>(), prop::bool::weighted(0.7), prop::bool::weighted(0.85))
            .prop_map(|(pick, succeeded, own_payment)| Op::Pay { pick, succeeded, own_payment }),
        3 => (any::<usize>(), prop::sample::select(vec![0u8, 0, 1, 4, 10, 25]), prop::bool::weighted(0.9))
            .prop_map(|(pick, lag, own_payment)| Op::Checkout { pick, lag, own_payment }),
        2 => (any::<usize>(), prop::sample::select(vec![0u8, 1, 10, 40])).prop_map(|(pick, lag)| Op::Unknown { pick, lag }),
        2 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, owner)| Op::Cancel { pick, owner }),
        1 => any::<usize>().prop_map(|pick| Op::ReplayCancel { pick }),
        2 => (prop::sample::select(vec![5u8, 10, 15, 15, 30, 45, 60]), prop::bool::weighted(0.7))
            .prop_map(|(minutes, tick)| Op::Advance { minutes, tick }),
        1 => (prop::sample::select(vec![2u8, 6, 20, 24, 25, 26, 49, 72, 96, 97, 120]), prop::bool::weighted(0.7))
            .prop_map(|(hours, tick)| Op::Leap { hours, tick }),
    ]
}

// ---------- the harness: live partition, log replica, stored records ----------

/// One input as the processor sees it.
enum Input {
    Command(BookingCommand),
    Payment(PaymentEvent),
    Tick,
}

/// Runs `input` on `p` without changing it.
fn react(p: &BookingPartition, input: &Input, now: Millis) -> Decision<BookingEvent> {
    match input {
        Input::Command(c) => p.decide(c, now),
        Input::Payment(e) => Decision {
            events: p.react_to_payment(e, now),
            reply: None,
        },
        Input::Tick => Decision {
            events: p.due_expiries(now),
            reply: None,
        },
    }
}

/// One entry of what a processor did, in order: an event appended, or an
/// eviction at an instant. Replaying the log means doing both again.
#[derive(Clone)]
enum Logged {
    Event(Box<BookingEvent>),
    Evict(Millis),
}

struct Harness {
    live: BookingPartition,
    /// Applies every event appended so far and evicts at the same instants,
    /// and never decides: the log replayed.
    replica: BookingPartition,
    log: Vec<Logged>,
    store: BTreeMap<StateKey, StateRecord>,
    keys: BTreeSet<StateKey>,
}

impl Harness {
    fn new() -> Self {
        let cfg = BookingConfig {
            hold_ttl: TTL,
            payment_decision_timeout: DECIDE,
            checkout_grace: GRACE,
            payment_unknown_hold: UNKNOWN_HOLD,
        };
        Self {
            live: BookingPartition::new(cfg),
            replica: BookingPartition::new(cfg),
            log: Vec::new(),
            store: BTreeMap::new(),
            keys: BTreeSet::new(),
        }
    }

    fn restored(&self) -> BookingPartition {
        let mut p = BookingPartition::new(BookingConfig {
            hold_ttl: TTL,
            payment_decision_timeout: DECIDE,
            checkout_grace: GRACE,
            payment_unknown_hold: UNKNOWN_HOLD,
        });
        // Reverse key order: bookings before their resources, ledger first.
        for rec in self.store.values().rev() {
            p.load(rec.clone());
        }
        p
    }

    fn step(&mut self, input: Input, now: Millis) -> Result<Decision<BookingEvent>, TestCaseError> {
        let twin = self.restored();
        let d = react(&self.live, &input, now);
        prop_assert_eq!(
            &react(&twin, &input, now),
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

    /// Evicts what settled at `now`, on the live partition (its tombstones
    /// go to the store) and on the replica, which must drop the same keys.
    fn evict(&mut self, now: Millis) -> Result<(), TestCaseError> {
        let keys = self.live.evict_settled(now);
        for key in &keys {
            prop_assert_eq!(self.live.record(key), None, "evicted {:?} remains", key);
            self.store.remove(key);
            self.keys.insert(key.clone());
        }
        prop_assert_eq!(
            self.replica.evict_settled(now),
            keys,
            "the replica evicts differently"
        );
        self.log.push(Logged::Evict(now));
        Ok(())
    }

    fn check(&self, reference: &Reference, now: Millis) -> Result<(), TestCaseError> {
        // (1) no two active bookings of a resource overlap.
        for r in 0..RESOURCES {
            let rid = format!("r{r}").as_str().into();
            let active: Vec<_> = reference
                .bookings
                .iter()
                .filter_map(|b| self.live.booking(&b.id.as_str().into()))
                .filter(|b| b.resource_id == rid && b.status.is_active())
                .collect();
            for (i, a) in active.iter().enumerate() {
                for b in &active[i + 1..] {
                    prop_assert!(
                        !a.interval.overlaps(&b.interval),
                        "{} overlaps {}",
                        a.id,
                        b.id
                    );
                }
            }
            let mut expected: Vec<(Millis, Millis, String)> = reference
                .bookings
                .iter()
                .filter(|b| b.resource == r && b.status.is_active())
                .map(|b| (b.start, b.end, b.id.clone()))
                .collect();
            expected.sort();
            let busy: Vec<(Millis, Millis, String)> = self
                .live
                .busy(&rid, T0 - DAY, now + 2 * DAY)
                .into_iter()
                .map(|(iv, id)| (iv.start, iv.end, id.0))
                .collect();
            prop_assert_eq!(busy, expected);
        }
        // (2) every booking's status agrees with the reference, and what the
        // reference evicted the partition no longer holds.
        for b in &reference.bookings {
            let live = self.live.booking(&b.id.as_str().into()).map(|x| x.status);
            prop_assert_eq!(live, Some(b.status), "status of {}", b.id);
        }
        for b in &reference.evicted {
            if !reference.bookings.iter().any(|x| x.id == b.id) {
                let id = b.id.as_str().into();
                prop_assert!(self.live.booking(&id).is_none(), "{} not evicted", b.id);
                prop_assert_eq!(self.live.record(&StateKey::Booking(id)), None);
            }
        }
        prop_assert_eq!(self.live.booking_count(), reference.bookings.len());
        let next = reference
            .bookings
            .iter()
            .filter(|b| b.status == BookingStatus::Pending)
            .map(|b| b.release_at())
            .min();
        prop_assert_eq!(self.live.next_expiry(), next);
        // (3) the log replayed from the start rebuilds every record.
        for key in &self.keys {
            prop_assert_eq!(
                self.replica.record(key),
                self.live.record(key),
                "replayed record {:?}",
                key
            );
        }
        // (4) the stored records rebuild every record.
        let twin = self.restored();
        for key in &self.keys {
            prop_assert_eq!(
                twin.record(key),
                self.live.record(key),
                "restored record {:?}",
                key
            );
        }
        Ok(())
    }
}

/// The clock has moved to `now`: the expiry timer fires if `tick`, checked
/// against the reference, then settled state is evicted on both sides.
fn advance(
    h: &mut Harness,
    reference: &mut Reference,
    now: Millis,
    tick: bool,
) -> Result<(), TestCaseError> {
    if tick {
        let d = h.step(Input::Tick, now)?;
        let got: Vec<Kind> = d.events.iter().map(kind).collect();
        // Spelled out apart from the reference's rule: a booking is
        // released unpaid only past its hold plus the grace, and, once a
        // checkout submitted inside the hold was seen, only past that
        // checkout's decision timeout.
        for ev in &d.events {
            let BookingEvent::BookingExpired(e) = ev else {
                continue;
            };
            let b = reference
                .bookings
                .iter()
                .find(|b| b.id == e.booking_id.0)
                .expect("an expired booking is known");
            prop_assert!(e.expired_at <= now);
            prop_assert!(e.expired_at >= b.hold_until, "released inside its hold");
            match b.checkout {
                Some((submitted, until)) => prop_assert!(
                    e.expired_at >= submitted + DECIDE && e.expired_at >= until,
                    "released while a checkout submitted in time awaited its decision"
                ),
                None => prop_assert!(
                    e.expired_at >= b.hold_until + GRACE,
                    "released before a late-decided checkout could arrive"
                ),
            }
        }
        prop_assert_eq!(got, reference.expire(now));
    }
    h.evict(now)?;
    reference.evict(now);
    Ok(())
}

fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::new();
    let mut reference = Reference::default();
    let mut now = T0;
    let mut requests: Vec<(RequestBooking, u8, u8)> = Vec::new();
    let mut cancels: Vec<(CancelBooking, u8)> = Vec::new();
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Register { r } => {
                let cmd = RegisterResource {
                    command_id: format!("reg{r}").as_str().into(),
                    resource: resource(r),
                };
                let d = h.step(Input::Command(BookingCommand::RegisterResource(cmd)), now)?;
                prop_assert_eq!(summary(&d), reference.register(r, &format!("reg{r}")));
            }
            Op::Request {
                r,
                user,
                slot,
                len,
                misaligned,
                ahead,
            } => {
                // Slots from the next aligned instant on (at T0: from T0).
                let base = now + (SLOT - now.rem_euclid(SLOT)) % SLOT + i64::from(ahead) * HOUR;
                let start = base + i64::from(slot) * SLOT + if misaligned { 7 * MINUTE } else { 0 };
                let c = RequestBooking {
                    command_id: format!("c{n}").as_str().into(),
                    request_hash: format!("h{n}"),
                    booking_id: format!("b{n}").as_str().into(),
                    payment_id: format!("p{n}").as_str().into(),
                    resource_id: format!("r{r}").as_str().into(),
                    user_id: format!("u{user}").as_str().into(),
                    user_email: format!("u{user}@example.com"),
                    start,
                    end: start + i64::from(len) * SLOT,
                    requested_at: now,
                };
                let d = h.step(
                    Input::Command(BookingCommand::RequestBooking(c.clone())),
                    now,
                )?;
                prop_assert_eq!(summary(&d), reference.request(&c, r, user, now));
                requests.push((c, r, user));
            }
            Op::Replay { pick, same_body } => {
                if requests.is_empty() {
                    continue;
                }
                let (mut c, r, user) = requests[pick % requests.len()].clone();
                if !same_body {
                    c.request_hash.push_str("-changed");
                    c.start += SLOT;
                    c.end += SLOT;
                }
                let d = h.step(
                    Input::Command(BookingCommand::RequestBooking(c.clone())),
                    now,
                )?;
                prop_assert_eq!(summary(&d), reference.request(&c, r, user, now));
            }
            Op::Pay {
                pick,
                succeeded,
                own_payment,
            } => {
                let all = reference.all();
                if all.is_empty() {
                    continue;
                }
                let b = all[pick % all.len()].clone();
                let payment = if own_payment {
                    b.payment.clone()
                } else {
                    format!("stray{n}")
                };
                let ev = if succeeded {
                    PaymentEvent::PaymentCompleted(PaymentCompleted {
                        provider_event_id: "evt".into(),
                        payment_id: payment.as_str().into(),
                        booking_id: b.id.as_str().into(),
                        resource_id: format!("r{}", b.resource).as_str().into(),
                        user_id: format!("u{}", b.user).as_str().into(),
                        amount: Money::new(b.amount, "EUR"),
                        completed_at: now,
                        recorded_at: Some(now),
                    })
                } else {
                    PaymentEvent::PaymentFailed(PaymentFailed {
                        provider_event_id: "evt".into(),
                        payment_id: payment.as_str().into(),
                        booking_id: b.id.as_str().into(),
                        resource_id: format!("r{}", b.resource).as_str().into(),
                        user_id: format!("u{}", b.user).as_str().into(),
                        reason: "declined".into(),
                        failed_at: now,
                    })
                };
                let d = h.step(Input::Payment(ev), now)?;
                let got: Vec<Kind> = d.events.iter().map(kind).collect();
                prop_assert_eq!(got, reference.pay(&b.id, &payment, succeeded, now));
            }
            Op::Checkout {
                pick,
                lag,
                own_payment,
            } => {
                let all = reference.all();
                if all.is_empty() {
                    continue;
                }
                let b = all[pick % all.len()].clone();
                let payment = if own_payment {
                    b.payment.clone()
                } else {
                    format!("stray{n}")
                };
                let submitted = now - i64::from(lag) * MINUTE;
                let ev = PaymentEvent::CheckoutSubmitted(CheckoutSubmitted {
                    command_id: format!("k{n}").as_str().into(),
                    request_hash: format!("k{n}"),
                    payment_id: payment.as_str().into(),
                    booking_id: b.id.as_str().into(),
                    resource_id: format!("r{}", b.resource).as_str().into(),
                    outcome: CheckoutOutcome::Succeeded,
                    submitted_at: submitted,
                });
                let d = h.step(Input::Payment(ev), now)?;
                let got: Vec<Kind> = d.events.iter().map(kind).collect();
                prop_assert_eq!(got, reference.checkout(&b.id, &payment, submitted));
            }
            Op::Unknown { pick, lag } => {
                let all = reference.all();
                if all.is_empty() {
                    continue;
                }
                let b = all[pick % all.len()].clone();
                // As the payment side decides it: for a checkout it took.
                let submitted = b.checkout.map_or(now - i64::from(lag) * MINUTE, |(s, _)| s);
                let ev = PaymentEvent::PaymentStatusUnknown(PaymentStatusUnknown {
                    payment_id: b.payment.as_str().into(),
                    booking_id: b.id.as_str().into(),
                    resource_id: format!("r{}", b.resource).as_str().into(),
                    user_id: format!("u{}", b.user).as_str().into(),
                    outcome: CheckoutOutcome::Succeeded,
                    submitted_at: submitted,
                    attempt: 1,
                    next_check_at: now + MINUTE,
                    checked_at: now,
                });
                let d = h.step(Input::Payment(ev), now)?;
                let got: Vec<Kind> = d.events.iter().map(kind).collect();
                prop_assert_eq!(got, reference.unknown(&b.id, &b.payment, submitted));
            }
            Op::Cancel { pick, owner } => {
                let all = reference.all();
                let (booking, r, user) = match all.get(pick % all.len().max(1)) {
                    Some(b) => (
                        b.id.clone(),
                        b.resource,
                        if owner { b.user } else { (b.user + 1) % USERS },
                    ),
                    None => ("nobody".to_owned(), 0, 0),
                };
                let c = CancelBooking {
                    command_id: format!("x{n}").as_str().into(),
                    booking_id: booking.as_str().into(),
                    resource_id: format!("r{r}").as_str().into(),
                    user_id: format!("u{user}").as_str().into(),
                    requested_at: now,
                };
                let d = h.step(
                    Input::Command(BookingCommand::CancelBooking(c.clone())),
                    now,
                )?;
                prop_assert_eq!(
                    summary(&d),
                    reference.cancel(&format!("x{n}"), &booking, user, now)
                );
                cancels.push((c, user));
            }
            Op::ReplayCancel { pick } => {
                if cancels.is_empty() {
                    continue;
                }
                let (c, user) = cancels[pick % cancels.len()].clone();
                let d = h.step(
                    Input::Command(BookingCommand::CancelBooking(c.clone())),
                    now,
                )?;
                let expected =
                    reference.cancel(c.command_id.as_str(), c.booking_id.as_str(), user, now);
                prop_assert_eq!(summary(&d), expected);
            }
            Op::Advance { minutes, tick } => {
                now += i64::from(minutes) * MINUTE;
                advance(&mut h, &mut reference, now, tick)?;
            }
            Op::Leap { hours, tick } => {
                now += i64::from(hours) * HOUR;
                advance(&mut h, &mut reference, now, tick)?;
            }
        }
        h.check(&reference, now)?;
    }
    // (5) bounded: far past everything, every hold expired and every booking
    // settled, the partition and its store hold no booking and no answer.
    now += DAY;
    advance(&mut h, &mut reference, now, true)?;
    now += LATE_PAYMENT_WINDOW + DAY;
    advance(&mut h, &mut reference, now, true)?;
    h.check(&reference, now)?;
    prop_assert_eq!(h.live.booking_count(), 0);
    prop_assert!(reference.bookings.is_empty());
    prop_assert_eq!(h.live.next_settle(), None);
    prop_assert_eq!(h.live.next_expiry(), None);
    let kept: Vec<&StateKey> = h
        .store
        .keys()
        .filter(|k| !matches!(k, StateKey::Resource(_)))
        .collect();
    prop_assert!(kept.is_empty(), "the store still holds {:?}", kept);
    // (6) every slot was released at most once, and never both kept by a
    // confirmation and released by an expiry or a failure.
    let mut ended: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &h.log {
        let Logged::Event(e) = entry else { continue };
        let id = match e.as_ref() {
            BookingEvent::BookingExpired(x) => &x.booking_id,
            BookingEvent::BookingFailed(x) => &x.booking_id,
            BookingEvent::BookingConfirmed(x) => &x.booking_id,
            _ => continue,
        };
        *ended.entry(id.0.clone()).or_default() += 1;
    }
    prop_assert!(
        ended.values().all(|&n| n == 1),
        "a booking ended twice: {:?}",
        ended
    );
    // (3) once more from scratch: a fresh partition fed the whole log,
    // evicting at the same instants.
    let mut fresh = BookingPartition::new(BookingConfig {
        hold_ttl: TTL,
        payment_decision_timeout: DECIDE,
        checkout_grace: GRACE,
        payment_unknown_hold: UNKNOWN_HOLD,
    });
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
    prop_assert_eq!(fresh.booking_count(), h.live.booking_count());
    for key in &h.keys {
        prop_assert_eq!(fresh.record(key), h.live.record(key));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn booking_partition_agrees_with_a_brute_force_model(ops in prop::collection::vec(op(), 1..80)) {
        run_model(ops)?;
    }
}
