//! The processor shell driven without I/O: records in, an `Output` out.
//!
//! Every aggregate's processor is `Partitioned<its wiring>`, so these tests
//! drive the one loop through the booking, payment and identity wirings:
//! decode, decide or react, apply, append events and the answer, write dirty
//! state once before the commit, restore from those writes, fire timers, and
//! declare poison what it cannot handle.

use bytes::Bytes;
use slotstream_domain::booking::{
    BookingCommand, BookingConfig, BookingEvent, RegisterResource, RequestBooking,
};
use slotstream_domain::fixtures;
use slotstream_domain::identity::IdentityConfig;
use slotstream_domain::payment::{
    ANSWER_WAIT, CheckoutOutcome, PaymentCommand, PaymentEvent, SubmitCheckout,
};
use slotstream_domain::resource::Resource;
use slotstream_domain::time::{DAY, MINUTE};
use slotstream_domain::{Millis, PaymentId};
use slotstream_processors::{BookingProcessor, IdentityProcessor, PaymentProcessor};
use slotstream_runtime::log::{ConsumedRecord, StateEntry};
use slotstream_runtime::{Effect, EffectReport, Output, Processor, ProviderOutcome, topics};
use slotstream_schemas::{Codec, Contract, Envelope, Reply, ReplyPayload};
use std::sync::Arc;

const NOW: Millis = 19_723 * DAY;
const GATEWAY: &str = "gw-test";
const HOLD: Millis = 15 * MINUTE;

/// The one fixture room, registered at `NOW` so its idempotency answer is
/// not yet prunable when the tests move the clock a minute.
fn room(id: &str) -> Resource {
    Resource {
        created_at: NOW,
        ..fixtures::resource(id, "vendor")
    }
}

fn request(n: u32, start: Millis) -> BookingCommand {
    BookingCommand::RequestBooking(RequestBooking {
        command_id: format!("c{n}").as_str().into(),
        request_hash: format!("h{n}"),
        booking_id: format!("b{n}").as_str().into(),
        payment_id: format!("p{n}").as_str().into(),
        resource_id: "r1".into(),
        user_id: "u1".into(),
        user_email: "u1@example.com".into(),
        start,
        end: start + 60 * MINUTE,
        requested_at: NOW,
    })
}

fn record<T>(codec: &Codec, topic: &str, offset: u64, payload: T) -> ConsumedRecord
where
    Envelope<T>: Contract,
{
    let env = Envelope {
        event_id: format!("e{offset}"),
        occurred_at: NOW,
        reply_to: Some(GATEWAY.to_owned()),
        payload,
    };
    ConsumedRecord {
        topic: Arc::from(topic),
        partition: 0,
        offset,
        key: Bytes::from_static(b"r1"),
        value: codec.encode(&env).expect("our own envelope encodes"),
        timestamp: NOW,
        headers: slotstream_runtime::Headers::new(),
    }
}

fn events<T>(codec: &Codec, out: &Output, topic: &str) -> Vec<T>
where
    Envelope<T>: Contract,
{
    out.records
        .iter()
        .filter(|r| r.topic == topic)
        .map(|r| codec.decode::<Envelope<T>>(&r.value).unwrap().payload)
        .collect()
}

fn replies(codec: &Codec, out: &Output) -> Vec<Reply> {
    out.records
        .iter()
        .filter(|r| r.topic == topics::REPLIES.name)
        .inspect(|r| assert_eq!(&r.key[..], GATEWAY.as_bytes(), "a reply goes to who asked"))
        .map(|r| codec.decode::<Reply>(&r.value).unwrap())
        .collect()
}

fn booking() -> (Codec, BookingProcessor) {
    let codec = Codec::embedded();
    let mut p = BookingProcessor::new(
        codec.clone(),
        BookingConfig {
            hold_ttl: HOLD,
            ..BookingConfig::default()
        },
    );
    p.restore(0, Vec::new()).unwrap();
    (codec, p)
}

/// The shell's state writes as a restored store hands them back.
fn entries(out: &Output) -> Vec<StateEntry> {
    out.state
        .iter()
        .filter_map(|w| Some((w.key.clone(), w.value.clone()?)))
        .collect()
}

/// Registers room `r1` and holds it for `request(1, NOW + DAY)`, into `out`.
fn hold_one(p: &mut BookingProcessor, codec: &Codec, out: &mut Output) {
    let cmds = topics::BOOKING_COMMANDS.name;
    let register = BookingCommand::RegisterResource(RegisterResource {
        command_id: "reg".into(),
        resource: room("r1"),
    });
    p.process(&record(codec, cmds, 0, register), NOW, out)
        .unwrap();
    p.process(&record(codec, cmds, 1, request(1, NOW + DAY)), NOW, out)
        .unwrap();
}

#[test]
fn a_command_is_decided_applied_appended_answered_and_stored_once() {
    let (codec, mut p) = booking();
    let mut out = Output::default();
    hold_one(&mut p, &codec, &mut out);

    let evs: Vec<BookingEvent> = events(&codec, &out, topics::BOOKING_EVENTS.name);
    assert!(matches!(evs[0], BookingEvent::ResourceRegistered(_)));
    let BookingEvent::BookingHeld(held) = &evs[1] else {
        panic!("expected a hold, got {:?}", evs[1]);
    };
    assert_eq!(held.hold_expires_at, NOW + HOLD);
    assert_eq!(evs.len(), 2);
    for r in out
        .records
        .iter()
        .filter(|r| r.topic == topics::BOOKING_EVENTS.name)
    {
        assert_eq!(&r.key[..], b"r1", "events are keyed by their resource");
    }
    let answers = replies(&codec, &out);
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1].command_id, "c1".into());
    assert!(matches!(
        &answers[1].payload,
        ReplyPayload::Booking(BookingEvent::BookingHeld(h)) if h.booking_id == held.booking_id
    ));

    // Nothing is stored until the commit; then each changed key once.
    assert!(out.state.is_empty());
    p.before_commit(&mut out);
    let mut keys: Vec<_> = out.state.iter().map(|w| w.key.clone()).collect();
    let written = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), written, "a key is written once per commit");
    assert!(out.state.iter().all(|w| w.value.is_some()));
    assert_eq!(
        p.partition(0).unwrap().booking_count(),
        1,
        "the hold is in the live state"
    );
}

#[test]
fn a_replayed_command_gets_its_first_answer_and_changes_nothing() {
    let (codec, mut p) = booking();
    let cmds = topics::BOOKING_COMMANDS.name;
    let mut out = Output::default();
    hold_one(&mut p, &codec, &mut out);
    p.before_commit(&mut out);
    let first = replies(&codec, &out).pop().unwrap();

    let mut again = Output::default();
    p.process(
        &record(&codec, cmds, 2, request(1, NOW + DAY)),
        NOW + MINUTE,
        &mut again,
    )
    .unwrap();
    assert!(events::<BookingEvent>(&codec, &again, topics::BOOKING_EVENTS.name).is_empty());
    let second = replies(&codec, &again).pop().unwrap();
    assert_eq!(second.payload, first.payload);
    p.before_commit(&mut again);
    assert!(
        again.state.is_empty(),
        "a replay changes no state: {:?}",
        again.state
    );
}

#[test]
fn a_restored_partition_decides_as_the_one_that_wrote_the_state() {
    let (codec, mut p) = booking();
    let cmds = topics::BOOKING_COMMANDS.name;
    let mut out = Output::default();
    hold_one(&mut p, &codec, &mut out);
    p.before_commit(&mut out);

    let mut restored = BookingProcessor::new(
        codec.clone(),
        BookingConfig {
            hold_ttl: HOLD,
            ..BookingConfig::default()
        },
    );
    restored.restore(0, entries(&out)).unwrap();
    // No checkout seen: released a checkout grace after the hold's end.
    let grace = BookingConfig::default().checkout_grace;
    assert_eq!(restored.next_deadline(0), Some(NOW + HOLD + grace));

    // The same slot again, by another command: both refuse it alike.
    let conflict = record(&codec, cmds, 2, request(2, NOW + DAY));
    let (mut a, mut b) = (Output::default(), Output::default());
    p.process(&conflict, NOW, &mut a).unwrap();
    restored.process(&conflict, NOW, &mut b).unwrap();
    let (ra, rb) = (replies(&codec, &a), replies(&codec, &b));
    assert!(matches!(
        &ra[0].payload,
        ReplyPayload::Booking(BookingEvent::BookingRejected(_))
    ));
    assert_eq!(ra[0].payload, rb[0].payload);
}

#[test]
fn the_timer_expires_an_unpaid_hold_once() {
    let (codec, mut p) = booking();
    let mut out = Output::default();
    hold_one(&mut p, &codec, &mut out);
    let due = p.next_deadline(0).expect("a hold has a deadline");

    let mut early = Output::default();
    p.on_timer(0, due - 1, &mut early);
    assert!(
        early.records.is_empty(),
        "nothing is due before the deadline"
    );

    let mut fired = Output::default();
    p.on_timer(0, due, &mut fired);
    let evs: Vec<BookingEvent> = events(&codec, &fired, topics::BOOKING_EVENTS.name);
    assert!(matches!(evs.as_slice(), [BookingEvent::BookingExpired(_)]));
    // No hold deadline is left; the next one is the booking's settling,
    // after its end.
    let next = p.next_deadline(0);
    assert!(next.is_some_and(|at| at > NOW + DAY), "{next:?}");
}

#[test]
fn an_idle_partition_wakes_to_drop_what_settled() {
    let (codec, mut p) = booking();
    let mut out = Output::default();
    hold_one(&mut p, &codec, &mut out);
    let expiry = p.next_deadline(0).expect("a hold has a deadline");
    let mut fired = Output::default();
    p.on_timer(0, expiry, &mut fired);
    p.before_commit(&mut fired);
    assert!(
        fired.state.iter().all(|w| w.value.is_some()),
        "an expired booking is kept until it settles"
    );

    // No record reaches the partition any more; it still wakes for the
    // instant the expired booking settles, and drops it then.
    let settle = p
        .next_deadline(0)
        .expect("the expired booking's settle instant is a deadline");
    assert!(settle > NOW + DAY, "settles after its end: {settle}");
    let mut woke = Output::default();
    p.on_timer(0, settle, &mut woke);
    p.before_commit(&mut woke);
    let deleted: Vec<_> = woke.state.iter().filter(|w| w.value.is_none()).collect();
    assert!(!deleted.is_empty(), "the settled booking leaves the state");
    assert_eq!(p.next_deadline(0), None, "nothing is left to settle");
}

#[test]
fn poison_is_declared_not_panicked() {
    let (codec, mut p) = booking();
    let mut out = Output::default();
    let garbage = ConsumedRecord {
        topic: Arc::from(topics::BOOKING_COMMANDS.name),
        partition: 0,
        offset: 0,
        key: Bytes::new(),
        value: Bytes::from_static(b"\x00\x00\x00\x00\x01not avro"),
        timestamp: NOW,
        headers: slotstream_runtime::Headers::new(),
    };
    let err = p.process(&garbage, NOW, &mut out).unwrap_err();
    assert!(err.reason.contains("undecodable"), "{}", err.reason);

    let mut elsewhere = record(&codec, topics::BOOKING_COMMANDS.name, 1, request(1, NOW));
    elsewhere.partition = 7;
    let err = p.process(&elsewhere, NOW, &mut out).unwrap_err();
    assert!(
        err.reason.contains("unassigned partition 7"),
        "{}",
        err.reason
    );

    let mut identity = IdentityProcessor::new(codec.clone(), IdentityConfig::default());
    identity.restore(0, Vec::new()).unwrap();
    let stray = record(&codec, topics::BOOKING_COMMANDS.name, 0, request(1, NOW));
    let err = identity.process(&stray, NOW, &mut out).unwrap_err();
    assert!(err.reason.contains("consumes no topic"), "{}", err.reason);
    assert!(out.records.is_empty(), "poison produces nothing");
}

#[test]
fn the_payment_wiring_reacts_to_holds_and_asks_the_provider() {
    let codec = Codec::embedded();
    let url = Arc::new(|id: &PaymentId| format!("https://pay.test/{id}"));
    let mut p = PaymentProcessor::new(codec.clone(), url);
    p.restore(0, Vec::new()).unwrap();

    // A hold, as the booking side emitted it.
    let (bcodec, mut b) = booking();
    let mut out = Output::default();
    hold_one(&mut b, &bcodec, &mut out);
    let held = events::<BookingEvent>(&bcodec, &out, topics::BOOKING_EVENTS.name)
        .into_iter()
        .find(|e| matches!(e, BookingEvent::BookingHeld(_)))
        .unwrap();

    let mut pout = Output::default();
    p.process(
        &record(&codec, topics::BOOKING_EVENTS.name, 0, held),
        NOW,
        &mut pout,
    )
    .unwrap();
    let evs: Vec<PaymentEvent> = events(&codec, &pout, topics::PAYMENT_EVENTS.name);
    let [PaymentEvent::PaymentIntentCreated(intent)] = evs.as_slice() else {
        panic!("expected one intent, got {evs:?}");
    };
    assert_eq!(intent.checkout_url, "https://pay.test/p1");
    assert!(
        replies(&codec, &pout).is_empty(),
        "a reaction answers nobody"
    );

    let checkout = PaymentCommand::SubmitCheckout(SubmitCheckout {
        command_id: "k1".into(),
        request_hash: "hk1".into(),
        payment_id: "p1".into(),
        resource_id: "r1".into(),
        user_id: "u1".into(),
        outcome: CheckoutOutcome::Succeeded,
        appended_at: Some(NOW),
        requested_at: NOW,
    });
    let mut cout = Output::default();
    p.process(
        &record(&codec, topics::PAYMENT_COMMANDS.name, 0, checkout),
        NOW,
        &mut cout,
    )
    .unwrap();
    // The provider call runs after the commit, off its path, on behalf of
    // the partition that asked.
    assert!(cout.effects.is_empty(), "{:?}", cout.effects);
    assert!(matches!(
        cout.after_commit.as_slice(),
        [(0, Effect::SubmitCheckout { payment_id, .. })] if payment_id.as_str() == "p1"
    ));
    let answers = replies(&codec, &cout);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].command_id, "k1".into());

    // No outcome by the check: the payment is unknown and the provider is
    // asked, again after the commit.
    let due = NOW + ANSWER_WAIT;
    assert_eq!(p.next_deadline(0), Some(due));
    let mut tout = Output::default();
    p.on_timer(0, due, &mut tout);
    let evs: Vec<PaymentEvent> = events(&codec, &tout, topics::PAYMENT_EVENTS.name);
    assert!(
        matches!(evs.as_slice(), [PaymentEvent::PaymentStatusUnknown(u)] if u.attempt == 1),
        "{evs:?}"
    );
    assert!(matches!(
        tout.after_commit.as_slice(),
        [(0, Effect::ReconcilePayment { payment_id, outcome: CheckoutOutcome::Succeeded, .. })]
            if payment_id.as_str() == "p1"
    ));
    assert!(p.next_deadline(0).is_some_and(|d| d > due));

    // The provider's answer comes back as a report: the payment completes,
    // under the provider's event id, and is not asked about any more.
    let mut rout = Output::default();
    p.on_report(
        0,
        EffectReport::PaymentSettled {
            payment_id: "p1".into(),
            resource_id: "r1".into(),
            outcome: ProviderOutcome {
                event_id: "evt_p1_succeeded".into(),
                outcome: CheckoutOutcome::Succeeded,
                reason: String::new(),
                occurred_at: NOW,
            },
        },
        due + 1,
        &mut rout,
    );
    let evs: Vec<PaymentEvent> = events(&codec, &rout, topics::PAYMENT_EVENTS.name);
    assert!(
        matches!(evs.as_slice(), [PaymentEvent::PaymentCompleted(c)] if c.provider_event_id == "evt_p1_succeeded"),
        "{evs:?}"
    );
    assert!(replies(&codec, &rout).is_empty(), "a report answers nobody");
    // Its one deadline left is when it settles (after the booking's start),
    // no longer a check.
    let next = p.next_deadline(0);
    assert!(next.is_some_and(|at| at > NOW + DAY), "{next:?}");
}
