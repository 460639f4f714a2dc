//! The seed's workflows through the real embedded log and every processor,
//! without HTTP: commands in, replies, events, views and emails out.

mod common;

use common::*;
use slotstream_domain::booking::*;
use slotstream_domain::identity::*;
use slotstream_domain::payment::*;
use slotstream_domain::time::{HOUR, MINUTE};
use slotstream_domain::{BookingId, CommandId, Money, PaymentId, ResourceId, UserId};
use slotstream_runtime::otp;
use slotstream_runtime::topics;
use slotstream_schemas::ReplyPayload;

async fn register(t: &TestPlatform, id: &str) {
    let cid = CommandId::new(format!("reg-{id}"));
    t.command(
        topics::BOOKING_COMMANDS.name,
        id,
        BookingCommand::RegisterResource(RegisterResource {
            command_id: cid.clone(),
            resource: resource(id, "vendor-1"),
        }),
    )
    .await;
    match t.reply(&cid).await {
        ReplyPayload::Booking(BookingEvent::ResourceRegistered(e)) => {
            assert_eq!(e.resource.id.as_str(), id)
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

fn request(n: &str, resource: &str, user: &str, start: i64, end: i64) -> RequestBooking {
    RequestBooking {
        command_id: CommandId::new(format!("cmd-{n}")),
        request_hash: format!("hash-{resource}-{start}-{end}"),
        booking_id: BookingId::new(format!("bk-{n}")),
        payment_id: PaymentId::new(format!("pay-{n}")),
        resource_id: ResourceId::new(resource),
        user_id: UserId::new(user),
        user_email: format!("{user}@example.com"),
        start,
        end,
        requested_at: T0,
    }
}

async fn book(t: &TestPlatform, req: RequestBooking) -> BookingEvent {
    let cid = req.command_id.clone();
    let key = req.resource_id.to_string();
    t.command(
        topics::BOOKING_COMMANDS.name,
        &key,
        BookingCommand::RequestBooking(req),
    )
    .await;
    match t.reply(&cid).await {
        ReplyPayload::Booking(e) => e,
        other => panic!("unexpected reply {other:?}"),
    }
}

async fn pay(
    t: &TestPlatform,
    payment: &str,
    resource: &str,
    user: &str,
    outcome: CheckoutOutcome,
) -> PaymentEvent {
    let cid = CommandId::new(format!("checkout-{payment}"));
    t.command(
        topics::PAYMENT_COMMANDS.name,
        resource,
        PaymentCommand::SubmitCheckout(SubmitCheckout {
            command_id: cid.clone(),
            request_hash: format!("{outcome:?}"),
            payment_id: PaymentId::new(payment),
            resource_id: ResourceId::new(resource),
            user_id: UserId::new(user),
            outcome,
            appended_at: Some(t.clock.now_ms()),
            requested_at: t.clock.now_ms(),
        }),
    )
    .await;
    match t.reply(&cid).await {
        ReplyPayload::Payment(e) => e,
        other => panic!("unexpected reply {other:?}"),
    }
}

async fn intent_created(t: &TestPlatform, payment: &str) {
    t.payment_event(|e| match &e.payload {
        PaymentEvent::PaymentIntentCreated(p) if p.payment_id.as_str() == payment => {
            Some(e.payload.clone())
        }
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_booking_is_confirmed_viewed_and_emailed() {
    let t = TestPlatform::start().await;
    register(&t, "room-1").await;
    let start = T0 + 48 * HOUR;
    let held = book(&t, request("1", "room-1", "alice", start, start + 2 * HOUR)).await;
    let BookingEvent::BookingHeld(h) = held else {
        panic!("not held: {held:?}")
    };
    assert_eq!(h.amount, Money::new(5000, "EUR"), "2 hours at 25.00/hour");
    assert_eq!(h.hold_expires_at, T0 + 15 * MINUTE);

    intent_created(&t, "pay-1").await;
    let submitted = pay(&t, "pay-1", "room-1", "alice", CheckoutOutcome::Succeeded).await;
    assert!(
        matches!(submitted, PaymentEvent::CheckoutSubmitted(_)),
        "{submitted:?}"
    );

    let confirmed = t
        .booking_event(|e| match &e.payload {
            BookingEvent::BookingConfirmed(c) if c.booking_id.as_str() == "bk-1" => {
                Some(e.payload.clone())
            }
            _ => None,
        })
        .await;
    assert!(matches!(confirmed, BookingEvent::BookingConfirmed(_)));

    let mails = t.emails_to("alice@example.com", 1).await;
    assert!(mails[0].contains("confirmed"), "{}", mails[0]);

    // The views catch up: the booking is confirmed and the payment succeeded.
    views_show_paid(&t, "1").await;
    let views = t.p().views();
    let b = views.booking(&BookingId::new("bk-1")).await.expect("view");
    let p = views.payment(&PaymentId::new("pay-1")).await.expect("view");
    assert_eq!(b.expect("booking row").user_id.as_str(), "alice");
    assert_eq!(p.expect("payment row").amount.amount, 5000);
}

/// Waits until the views show booking `bk-<n>` confirmed and its payment
/// `pay-<n>` succeeded.
async fn views_show_paid(t: &TestPlatform, n: &str) {
    let views = t.p().views();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let b = views.booking(&BookingId::new(format!("bk-{n}"))).await;
        let p = views.payment(&PaymentId::new(format!("pay-{n}"))).await;
        if let (Some(b), Some(p)) = (b.expect("view"), p.expect("view"))
            && b.status == BookingStatus::Confirmed
            && p.status == PaymentStatus::Succeeded
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "views did not catch up"
        );
        tokio::task::yield_now().await;
    }
}

/// A new checkout (its own Idempotency-Key) for `payment`: why it was
/// refused.
async fn checkout_refused(
    t: &TestPlatform,
    key: &str,
    payment: &str,
    resource: &str,
    user: &str,
) -> CheckoutRejectionReason {
    let cid = CommandId::new(key);
    t.command(
        topics::PAYMENT_COMMANDS.name,
        resource,
        PaymentCommand::SubmitCheckout(SubmitCheckout {
            command_id: cid.clone(),
            request_hash: "again".into(),
            payment_id: PaymentId::new(payment),
            resource_id: ResourceId::new(resource),
            user_id: UserId::new(user),
            outcome: CheckoutOutcome::Succeeded,
            appended_at: Some(t.clock.now_ms()),
            requested_at: t.clock.now_ms(),
        }),
    )
    .await;
    match t.reply(&cid).await {
        ReplyPayload::Payment(PaymentEvent::CheckoutRejected(r)) => r.reason,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A succeeded payment leaves the payment processor's state (and its store)
/// a quiet period after its booking's start, on the prune cadence; a restart
/// restores it gone; the views keep it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_succeeded_payment_settles_after_its_start_and_stays_in_the_views() {
    let t = TestPlatform::start().await;
    register(&t, "room-q").await;
    let start = T0 + 2 * HOUR;
    let held = book(&t, request("q1", "room-q", "quinn", start, start + HOUR)).await;
    assert!(matches!(held, BookingEvent::BookingHeld(_)), "{held:?}");
    intent_created(&t, "pay-q1").await;
    let submitted = pay(&t, "pay-q1", "room-q", "quinn", CheckoutOutcome::Succeeded).await;
    assert!(matches!(submitted, PaymentEvent::CheckoutSubmitted(_)));
    views_show_paid(&t, "q1").await;
    let refused = checkout_refused(&t, "again-1", "pay-q1", "room-q", "quinn").await;
    assert_eq!(refused, CheckoutRejectionReason::NotPending, "still known");

    // Past the start and the quiet period: the first record on the partition
    // is decided, then the prune cadence evicts; from the next one on the
    // payment is unknown.
    t.clock.advance(start - T0 + QUIET_PERIOD + MINUTE);
    let first = checkout_refused(&t, "again-2", "pay-q1", "room-q", "quinn").await;
    assert!(
        matches!(
            first,
            CheckoutRejectionReason::NotPending | CheckoutRejectionReason::NotFound
        ),
        "{first:?}"
    );
    let refused = checkout_refused(&t, "again-3", "pay-q1", "room-q", "quinn").await;
    assert_eq!(refused, CheckoutRejectionReason::NotFound, "evicted");

    // Its store entry was deleted: a restart does not bring it back.
    let t = t.restart().await;
    let refused = checkout_refused(&t, "again-4", "pay-q1", "room-q", "quinn").await;
    assert_eq!(
        refused,
        CheckoutRejectionReason::NotFound,
        "restored without it"
    );
    let row = t
        .p()
        .views()
        .payment(&PaymentId::new("pay-q1"))
        .await
        .expect("view")
        .expect("the views keep it");
    assert_eq!(row.status, PaymentStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_marked_for_rebuild_are_rebuilt_from_the_log() {
    let t = TestPlatform::start().await;
    register(&t, "room-v").await;
    let start = T0 + 30 * HOUR;
    let held = book(&t, request("v1", "room-v", "vic", start, start + HOUR)).await;
    assert!(matches!(held, BookingEvent::BookingHeld(_)), "{held:?}");
    intent_created(&t, "pay-v1").await;
    pay(&t, "pay-v1", "room-v", "vic", CheckoutOutcome::Succeeded).await;
    views_show_paid(&t, "v1").await;

    let t = t
        .restart_with(|dir| {
            slotstream_embedded::EmbeddedBackend::rebuild_views_at_next_open(dir)
                .expect("mark the views for a rebuild")
        })
        .await;
    views_show_paid(&t, "v1").await;
    let listed = t
        .p()
        .views()
        .bookings_by_user(&UserId::new("vic"), None, 10, None)
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1, "the by-user index was rebuilt too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_request_is_refused_and_creates_no_payment() {
    let t = TestPlatform::start().await;
    register(&t, "court-1").await;
    let s = T0 + 5 * HOUR;
    assert!(matches!(
        book(&t, request("a", "court-1", "alice", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    let refused = book(
        &t,
        request("b", "court-1", "bob", s + 30 * MINUTE, s + 90 * MINUTE),
    )
    .await;
    match refused {
        BookingEvent::BookingRejected(r) => assert_eq!(r.reason, RejectionReason::SlotUnavailable),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Touching intervals do not overlap: [s+1h, s+2h) fits right after.
    assert!(matches!(
        book(&t, request("c", "court-1", "bob", s + HOUR, s + 2 * HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    // The payment processor handles the resource's partition in order: once
    // the later booking's intent exists, the refused one would have had one too.
    intent_created(&t, "pay-c").await;
    let intents: Vec<_> = t
        .all::<slotstream_schemas::Envelope<PaymentEvent>>(topics::PAYMENT_EVENTS)
        .await
        .into_iter()
        .filter(|(_, e)| matches!(&e.payload, PaymentEvent::PaymentIntentCreated(p) if p.payment_id.as_str() == "pay-b"))
        .collect();
    assert!(intents.is_empty(), "a refused booking got a payment intent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_hold_expires_releases_the_slot_and_cancels_the_intent() {
    let t = TestPlatform::start().await;
    register(&t, "chair-1").await;
    let s = T0 + 3 * HOUR;
    assert!(matches!(
        book(&t, request("x", "chair-1", "carol", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    intent_created(&t, "pay-x").await;
    // No checkout seen: released at the hold's end plus the checkout grace.
    let grace = i64::try_from(t.settings.checkout_grace.as_millis()).expect("ms");
    t.clock.advance(15 * MINUTE + grace);
    t.booking_event(|e| match &e.payload {
        BookingEvent::BookingExpired(x) if x.booking_id.as_str() == "bk-x" => {
            Some(e.payload.clone())
        }
        _ => None,
    })
    .await;
    t.payment_event(|e| match &e.payload {
        PaymentEvent::PaymentCanceled(x) if x.payment_id.as_str() == "pay-x" => {
            Some(e.payload.clone())
        }
        _ => None,
    })
    .await;
    let again = book(&t, request("y", "chair-1", "dave", s, s + HOUR)).await;
    assert!(
        matches!(again, BookingEvent::BookingHeld(_)),
        "released slot not bookable: {again:?}"
    );
    let mails = t.emails_to("carol@example.com", 1).await;
    assert!(mails[0].contains("expired"), "{}", mails[0]);
    // Paying for the expired hold is refused: the intent is no longer pending.
    let late = pay(&t, "pay-x", "chair-1", "carol", CheckoutOutcome::Succeeded).await;
    match late {
        PaymentEvent::CheckoutRejected(r) => {
            assert_eq!(r.reason, CheckoutRejectionReason::NotPending)
        }
        other => panic!("expected NotPending, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_fails_the_booking_and_frees_the_slot() {
    let t = TestPlatform::start().await;
    register(&t, "desk-1").await;
    let s = T0 + 2 * HOUR;
    assert!(matches!(
        book(&t, request("f", "desk-1", "erin", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    intent_created(&t, "pay-f").await;
    pay(&t, "pay-f", "desk-1", "erin", CheckoutOutcome::Failed).await;
    t.booking_event(|e| match &e.payload {
        BookingEvent::BookingFailed(x) if x.booking_id.as_str() == "bk-f" => {
            Some(e.payload.clone())
        }
        _ => None,
    })
    .await;
    assert!(matches!(
        book(&t, request("g", "desk-1", "frank", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    let mails = t.emails_to("erin@example.com", 1).await;
    assert!(
        mails[0].to_lowercase().contains("payment failed"),
        "{}",
        mails[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_paid_booking_refunds_per_policy_and_emails_the_amount() {
    let t = TestPlatform::start().await;
    register(&t, "room-9").await;
    // 10 hours ahead: inside the partial window (2h..24h) -> 50%.
    let s = T0 + 10 * HOUR;
    assert!(matches!(
        book(&t, request("p", "room-9", "gina", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    intent_created(&t, "pay-p").await;
    pay(&t, "pay-p", "room-9", "gina", CheckoutOutcome::Succeeded).await;
    t.booking_event(|e| {
        matches!(&e.payload, BookingEvent::BookingConfirmed(c) if c.booking_id.as_str() == "bk-p")
            .then(|| e.payload.clone())
    })
    .await;
    let cid = CommandId::new("cancel-p");
    t.command(
        topics::BOOKING_COMMANDS.name,
        "room-9",
        BookingCommand::CancelBooking(CancelBooking {
            command_id: cid.clone(),
            booking_id: BookingId::new("bk-p"),
            resource_id: ResourceId::new("room-9"),
            user_id: UserId::new("gina"),
            requested_at: t.clock.now_ms(),
        }),
    )
    .await;
    match t.reply(&cid).await {
        ReplyPayload::Booking(BookingEvent::BookingCancelled(c)) => {
            assert!(c.was_paid);
            assert_eq!(c.refund, Money::new(1250, "EUR"), "half of 25.00");
        }
        other => panic!("unexpected {other:?}"),
    }
    let refunded = t
        .payment_event(|e| matches!(&e.payload, PaymentEvent::PaymentRefunded(r) if r.payment_id.as_str() == "pay-p").then(|| e.payload.clone()))
        .await;
    let PaymentEvent::PaymentRefunded(r) = refunded else {
        unreachable!()
    };
    assert_eq!(r.amount.amount, 1250);
    assert_eq!(r.status, PaymentStatus::PartiallyRefunded);
    let mails = t.emails_to("gina@example.com", 2).await;
    assert!(
        mails
            .iter()
            .any(|m| m.contains("cancelled") && m.contains("12.50 EUR")),
        "{mails:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_gets_the_first_answer_and_a_reused_key_is_refused() {
    let t = TestPlatform::start().await;
    register(&t, "room-r").await;
    let s = T0 + 4 * HOUR;
    let first = book(&t, request("r1", "room-r", "hank", s, s + HOUR)).await;
    let BookingEvent::BookingHeld(h1) = &first else {
        panic!("{first:?}")
    };
    // The same command again, e.g. a client retry after a timeout.
    let second = book(&t, request("r1", "room-r", "hank", s, s + HOUR)).await;
    assert_eq!(
        first, second,
        "a replay must answer exactly as the first time"
    );
    // Same command id, different body.
    let mut other = request("r1", "room-r", "hank", s + HOUR, s + 2 * HOUR);
    other.booking_id = BookingId::new("bk-other");
    match book(&t, other).await {
        BookingEvent::BookingRejected(r) => {
            assert_eq!(r.reason, RejectionReason::IdempotencyKeyReused)
        }
        e => panic!("expected key reuse, got {e:?}"),
    }
    let helds = t
        .all::<slotstream_schemas::Envelope<BookingEvent>>(topics::BOOKING_EVENTS)
        .await
        .into_iter()
        .filter(|(_, e)| matches!(&e.payload, BookingEvent::BookingHeld(x) if x.booking_id == h1.booking_id))
        .count();
    assert_eq!(helds, 1, "the booking was held once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_dead_lettered_and_the_partition_goes_on() {
    let t = TestPlatform::start().await;
    register(&t, "room-z").await;
    t.send_raw(
        topics::BOOKING_COMMANDS.name,
        "room-z",
        bytes::Bytes::from_static(b"\x00\x00\x00\x00\x01garbage"),
    )
    .await;
    let s = T0 + 6 * HOUR;
    // A good command behind the poison one on the same partition is decided.
    assert!(matches!(
        book(&t, request("z", "room-z", "ivan", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    let letters = t
        .all::<slotstream_schemas::DeadLetter>(topics::DEAD_LETTERS)
        .await;
    assert_eq!(
        letters.len(),
        1,
        "exactly the poison record is dead-lettered"
    );
    let (_, l) = &letters[0];
    assert_eq!(l.topic, topics::BOOKING_COMMANDS.name);
    assert_eq!(
        l.partition,
        partition_of("room-z", topics::BOOKING_COMMANDS)
    );
    assert_eq!(l.value, b"\x00\x00\x00\x00\x01garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_sends_a_code_that_verifies_the_email() {
    let t = TestPlatform::start().await;
    let secret = t.p().keys.otp_bytes();
    let email = "jane@example.com";
    let nonce = otp::new_nonce();
    let code = otp::code_for(&secret, &nonce);
    let cid = CommandId::new("reg-jane");
    t.command(
        topics::IDENTITY_COMMANDS.name,
        email,
        IdentityCommand::RegisterUser(RegisterUser {
            command_id: cid.clone(),
            user_id: UserId::new("u-jane"),
            email: email.into(),
            name: "Jane".into(),
            role: Role::Customer,
            password_hash: "$argon2id$placeholder".into(),
            otp: OtpIssue {
                nonce,
                code_hash: otp::hash_code(&secret, email, &code),
            },
            requested_at: t.clock.now_ms(),
        }),
    )
    .await;
    assert!(matches!(
        t.reply(&cid).await,
        ReplyPayload::Identity(IdentityEvent::UserRegistered(_))
    ));
    let mails = t.emails_to(email, 1).await;
    assert!(mails[0].contains("verification code"), "{}", mails[0]);
    assert!(mails[0].contains(&code), "the email carries the code");

    let verify = |code: &str, n: &str| {
        IdentityCommand::VerifyEmail(VerifyEmail {
            command_id: CommandId::new(n),
            email: email.into(),
            code_hash: otp::hash_code(&secret, email, code),
            requested_at: t.clock.now_ms(),
        })
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    t.command(topics::IDENTITY_COMMANDS.name, email, verify(wrong, "v1"))
        .await;
    match t.reply(&CommandId::new("v1")).await {
        ReplyPayload::Identity(IdentityEvent::VerificationRejected(r)) => {
            assert_eq!(r.reason, VerificationRejectionReason::Invalid);
            assert_eq!(r.attempts_left, 4);
        }
        other => panic!("{other:?}"),
    }
    t.command(topics::IDENTITY_COMMANDS.name, email, verify(&code, "v2"))
        .await;
    assert!(matches!(
        t.reply(&CommandId::new("v2")).await,
        ReplyPayload::Identity(IdentityEvent::EmailVerified(_))
    ));
    let views = t.p().views();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !views
        .user_by_email(email)
        .await
        .expect("view")
        .is_some_and(|u| u.verified)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "users view did not catch up"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_timers_survive_a_restart() {
    let t = TestPlatform::start().await;
    register(&t, "room-s").await;
    let s = T0 + 8 * HOUR;
    assert!(matches!(
        book(&t, request("s1", "room-s", "kim", s, s + HOUR)).await,
        BookingEvent::BookingHeld(_)
    ));
    let t = t.restart().await;
    // The hold is still there after the restart...
    match book(&t, request("s2", "room-s", "lee", s, s + HOUR)).await {
        BookingEvent::BookingRejected(r) => assert_eq!(r.reason, RejectionReason::SlotUnavailable),
        other => panic!("the restart forgot a hold: {other:?}"),
    }
    // ...and its expiry timer still fires.
    t.clock.advance(16 * MINUTE);
    t.booking_event(|e| {
        matches!(&e.payload, BookingEvent::BookingExpired(x) if x.booking_id.as_str() == "bk-s1")
            .then(|| e.payload.clone())
    })
    .await;
    let expired = t
        .all::<slotstream_schemas::Envelope<BookingEvent>>(topics::BOOKING_EVENTS)
        .await
        .into_iter()
        .filter(|(_, e)| matches!(&e.payload, BookingEvent::BookingExpired(x) if x.booking_id.as_str() == "bk-s1"))
        .count();
    assert_eq!(expired, 1, "a hold expires exactly once");
}
