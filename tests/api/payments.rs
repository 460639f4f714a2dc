//! The sandbox payment: failure, completion after expiry, and who may touch
//! a payment.

use crate::helpers::time::{HOUR, time_of};
use crate::helpers::{Role, spawn_app, unique};
use serde_json::json;
use slotstream_domain::payment::PaymentEvent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_fails_the_booking_releases_the_slot_and_emails_the_customer() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&alice.token, &resource, start, start + HOUR)
        .await;
    let (id, pay) = (
        b["id"].as_str().expect("id"),
        b["payment"]["id"].as_str().expect("payment id"),
    );

    app.complete(&alice.token, pay, "failed", &unique("pay"))
        .await
        .expect(202, "complete with failure");

    app.await_booking_status(&alice.token, id, "failed").await;
    app.await_payment_status(&alice.token, pay, "failed").await;
    app.book(&bob.token, &unique("key"), &resource, start, start + HOUR)
        .await
        .expect(201, "rebook the released slot");
    app.await_email_containing(&alice.email, &["fail"]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_payment_after_its_hold_expired_is_refused_with_payment_not_pending() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let (id, pay) = (
        b["id"].as_str().expect("id"),
        b["payment"]["id"].as_str().expect("payment id"),
    );
    app.advance_past_unpaid_hold();
    let token = app.login(&customer.email).await;
    app.await_booking_status(&token, id, "expired").await;
    app.await_payment_status(&token, pay, "canceled").await;

    let r = app.complete(&token, pay, "succeeded", &unique("pay")).await;

    r.problem(409, "payment_not_pending");
    let still = app.get(&format!("/v1/bookings/{id}"), Some(&token)).await;
    assert_eq!(still.expect(200, "the booking")["status"], "expired");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_paid_payment_again_is_refused_with_payment_not_pending() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_and_pay(&customer.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");
    app.await_payment_status(&customer.token, pay, "succeeded")
        .await;

    let r = app
        .complete(&customer.token, pay, "failed", &unique("pay"))
        .await;

    r.problem(409, "payment_not_pending");
    let p = app
        .get(&format!("/v1/payments/{pay}"), Some(&customer.token))
        .await;
    assert_eq!(p.expect(200, "the payment")["status"], "succeeded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customer_can_neither_read_nor_complete_my_payment() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let mallory = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&alice.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");
    app.await_payment_status(&alice.token, pay, "requires_payment")
        .await;

    let read = app
        .get(&format!("/v1/payments/{pay}"), Some(&mallory.token))
        .await;
    let complete = app
        .complete(&mallory.token, pay, "succeeded", &unique("pay"))
        .await;

    read.problem(404, "not_found");
    assert_eq!(
        complete.status, 404,
        "mallory completed alice's payment: {}",
        complete.text
    );
    complete.assert_problem_shape();
    let p = app
        .get(&format!("/v1/payments/{pay}"), Some(&alice.token))
        .await;
    assert_eq!(
        p.expect(200, "alice's payment")["status"],
        "requires_payment"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_payment_is_not_found() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;

    let read = app
        .get("/v1/payments/pay_does_not_exist", Some(&customer.token))
        .await;
    let complete = app
        .complete(
            &customer.token,
            "pay_does_not_exist",
            "succeeded",
            &unique("pay"),
        )
        .await;

    assert_eq!(read.status, 404, "{}", read.text);
    read.assert_problem_shape();
    assert_eq!(complete.status, 404, "{}", complete.text);
    complete.assert_problem_shape();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_other_than_succeeded_or_failed_is_refused() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");
    let path = format!("/v1/payments/{pay}/complete");

    let r = app
        .post(
            &path,
            Some(&customer.token),
            Some(&unique("pay")),
            &json!({"outcome": "maybe"}),
        )
        .await;

    r.problem(422, "validation_failed");
    let p = app
        .await_payment_status(&customer.token, pay, "requires_payment")
        .await;
    assert_eq!(p["id"], pay);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_url_of_a_held_booking_opens_a_checkout_page() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let url = b["payment"]["checkout_url"].as_str().expect("checkout_url");

    let page = app.send(app.client.get(url)).await;

    assert_eq!(page.status, 200, "GET {url}: {}", page.text);
    assert!(
        page.text
            .contains(b["payment"]["id"].as_str().expect("payment id")),
        "the page does not name the payment"
    );
    app.stop().await;
}

/// Appends a `SubmitCheckout` the gateway wrote at `appended_at` straight
/// to the log, as a command held back by a failover reaches the payment
/// processor only now (no gateway waits for its answer).
async fn checkout_appended_at(
    app: &crate::helpers::TestApp,
    booking: &serde_json::Value,
    appended_at: i64,
) {
    use slotstream_domain::payment::{CheckoutOutcome, PaymentCommand, SubmitCheckout};
    use slotstream_runtime::{OutRecord, topics};
    use slotstream_schemas::Envelope;
    let platform = &app.app.platform;
    let resource = booking["resource_id"].as_str().expect("resource id");
    let cmd = PaymentCommand::SubmitCheckout(SubmitCheckout {
        command_id: unique("late-checkout").as_str().into(),
        request_hash: "late".into(),
        payment_id: booking["payment"]["id"]
            .as_str()
            .expect("payment id")
            .into(),
        resource_id: resource.into(),
        user_id: booking["user_id"].as_str().expect("user id").into(),
        outcome: CheckoutOutcome::Succeeded,
        appended_at: Some(appended_at),
        requested_at: appended_at,
    });
    let env = Envelope {
        event_id: unique("evt"),
        occurred_at: appended_at,
        reply_to: None,
        payload: cmd,
    };
    platform
        .backend()
        .producer()
        .send(vec![OutRecord {
            topic: topics::PAYMENT_COMMANDS.name,
            partition: None,
            key: bytes::Bytes::copy_from_slice(resource.as_bytes()),
            value: platform.codec.encode(&env).expect("encodes"),
            timestamp: appended_at,
            headers: slotstream_runtime::Headers::new(),
        }])
        .await
        .expect("appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_submitted_inside_the_hold_but_decided_after_it_confirms_the_booking() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let (id, pay) = (
        b["id"].as_str().expect("id"),
        b["payment"]["id"].as_str().expect("payment id"),
    );
    app.await_payment_status(&customer.token, pay, "requires_payment")
        .await;
    let deadline = time_of(&b["hold_expires_at"]);

    // The clock passes the hold's deadline; the checkout the customer
    // submitted a second before it reaches the payment processor only now.
    app.advance(std::time::Duration::from_millis(
        u64::try_from(deadline + 10_000 - app.now_ms()).expect("ahead"),
    ));
    checkout_appended_at(&app, &b, deadline - 1_000).await;
    let token = app.login(&customer.email).await;

    app.await_booking_status(&token, id, "confirmed").await;
    app.await_payment_status(&token, pay, "succeeded").await;
    // Long past every deadline it stays confirmed and paid: never expired,
    // never refunded.
    app.advance(app.settings.payment_decision_timeout + app.settings.checkout_grace);
    let token = app.login(&customer.email).await;
    let booking = app.get(&format!("/v1/bookings/{id}"), Some(&token)).await;
    assert_eq!(booking.expect(200, "the booking")["status"], "confirmed");
    assert_eq!(
        booking.body["hold_expires_at"], b["hold_expires_at"],
        "the public deadline did not move"
    );
    let payment = app.get(&format!("/v1/payments/{pay}"), Some(&token)).await;
    assert_eq!(payment.expect(200, "the payment")["status"], "succeeded");
    app.await_email_containing(&customer.email, &["confirm"])
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_submitted_after_the_hold_is_refused_even_before_the_slot_is_released() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let (id, pay) = (
        b["id"].as_str().expect("id"),
        b["payment"]["id"].as_str().expect("payment id"),
    );
    app.await_payment_status(&customer.token, pay, "requires_payment")
        .await;
    let deadline = time_of(&b["hold_expires_at"]);

    // Inside the checkout grace: the slot is still held, but a checkout
    // made now comes too late.
    app.advance(std::time::Duration::from_millis(
        u64::try_from(deadline + 1_000 - app.now_ms()).expect("ahead"),
    ));
    let token = app.login(&customer.email).await;
    // Past the gateway's memory of its own writes the payment is read from
    // the views, which may still be catching up (Kafka): wait for it.
    app.await_payment_status(&token, pay, "requires_payment")
        .await;
    let r = app.complete(&token, pay, "succeeded", &unique("pay")).await;

    r.problem(409, "payment_not_pending");
    app.advance(app.settings.checkout_grace);
    let token = app.login(&customer.email).await;
    app.await_booking_status(&token, id, "expired").await;
    app.await_payment_status(&token, pay, "canceled").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_leaves_the_payment_unknown_and_its_slot_held_until_the_reconciler_learns_the_outcome()
 {
    use slotstream_domain::payment::{ANSWER_WAIT, MAX_CHECK_INTERVAL, check_interval};
    let ms = |m: i64| std::time::Duration::from_millis(u64::try_from(m).expect("positive"));
    let faults = slotstream_payments::SandboxFaults::new();
    let app = crate::helpers::spawn_app_with_faults(faults.clone()).await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let rival = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let (id, pay) = (
        b["id"].as_str().expect("id"),
        b["payment"]["id"].as_str().expect("payment id"),
    );

    // The provider is down. The checkout is decided at once all the same:
    // the call to the provider runs after the commit, off its path.
    faults.always(Some(slotstream_payments::Fault::Unavailable));
    let key = unique("pay");
    let r = app.complete(&customer.token, pay, "succeeded", &key).await;
    assert_eq!(r.expect(202, "the checkout")["status"], "processing");

    // No outcome by the check: the payment is unknown, and the customer is
    // told it is being confirmed.
    app.advance(ms(ANSWER_WAIT) + std::time::Duration::from_secs(1));
    let token = app.login(&customer.email).await;
    app.await_payment_status(&token, pay, "unknown").await;
    app.await_email_containing(&customer.email, &["confirming your payment", id])
        .await;

    // A minute of outage, well past the hold, its grace and the payment
    // decision timeout: the slot stays held, and bookings keep flowing.
    app.advance(
        app.settings.hold_ttl
            + app.settings.checkout_grace
            + app.settings.payment_decision_timeout
            + std::time::Duration::from_secs(60),
    );
    let token = app.login(&customer.email).await;
    let rival_token = app.login(&rival.email).await;
    let held = app.get(&format!("/v1/bookings/{id}"), Some(&token)).await;
    assert_eq!(held.expect(200, "the booking")["status"], "pending");
    app.book(&rival_token, &unique("key"), &resource, start, start + HOUR)
        .await
        .problem(409, "slot_unavailable");
    app.book_ok(&rival_token, &resource, start + HOUR, start + 2 * HOUR)
        .await;
    assert_eq!(
        app.get(&format!("/v1/payments/{pay}"), Some(&token))
            .await
            .expect(200, "the payment")["status"],
        "unknown"
    );

    // The provider is back. At its next ask (the third: one at the first
    // check, one when the clock jumped over the outage, 20 s apart from
    // then) the reconciler finds it never took the checkout, hands it over
    // again, and the outcome arrives, inside the hold.
    faults.clear();
    app.advance(ms(check_interval(2)) + std::time::Duration::from_secs(1));
    let token = app.login(&customer.email).await;
    app.await_booking_status(&token, id, "confirmed").await;
    let paid = app.await_payment_status(&token, pay, "succeeded").await;
    assert_eq!(paid["refunded_amount"]["amount"], 0, "{paid}");
    app.await_email_containing(&customer.email, &["is confirmed", id])
        .await;
    // A replay of the checkout: its first decision.
    let again = app.complete(&token, pay, "succeeded", &key).await;
    assert_eq!(again.expect(202, "the replay")["status"], "processing");
    // Long after, nothing moved: confirmed, paid once, nothing refunded.
    app.advance(app.settings.payment_unknown_hold + ms(MAX_CHECK_INTERVAL));
    let token = app.login(&customer.email).await;
    let after = app.get(&format!("/v1/bookings/{id}"), Some(&token)).await;
    assert_eq!(after.expect(200, "the booking")["status"], "confirmed");
    let payment = app.get(&format!("/v1/payments/{pay}"), Some(&token)).await;
    let payment = payment.expect(200, "the payment");
    assert_eq!(
        (&payment["status"], &payment["refunded_amount"]["amount"]),
        (&json!("succeeded"), &json!(0))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_call_that_hangs_stalls_only_its_own_payment() {
    let faults = slotstream_payments::SandboxFaults::new();
    let app = crate::helpers::spawn_app_with_faults(faults.clone()).await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    // Two bookings of one resource: one partition, one payment processor.
    let stuck = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let other = app
        .book_ok(&customer.token, &resource, start + HOUR, start + 2 * HOUR)
        .await;
    let pay = |b: &serde_json::Value| b["payment"]["id"].as_str().expect("payment id").to_owned();
    let (stuck_pay, other_pay) = (pay(&stuck), pay(&other));

    // The provider hangs on the next call for far longer than the test: it
    // would hold the partition's commits back if the call were on their path.
    faults.next(
        1,
        slotstream_payments::Fault::Timeout(std::time::Duration::from_secs(3600)),
    );
    app.complete(&customer.token, &stuck_pay, "succeeded", &unique("pay"))
        .await
        .expect(202, "the stuck checkout");
    app.await_payment_status(&customer.token, &stuck_pay, "processing")
        .await;
    // The next payment on the same partition goes through meanwhile.
    app.complete(&customer.token, &other_pay, "succeeded", &unique("pay"))
        .await
        .expect(202, "the other checkout");
    app.await_booking_status(
        &customer.token,
        other["id"].as_str().expect("id"),
        "confirmed",
    )
    .await;
    let still = app
        .get(&format!("/v1/payments/{stuck_pay}"), Some(&customer.token))
        .await;
    assert_eq!(
        still.expect(200, "the stuck payment")["status"],
        "processing"
    );

    // Its check comes due: the provider, answering again, is asked, and
    // the stuck payment resolves too.
    app.advance(std::time::Duration::from_millis(
        u64::try_from(slotstream_domain::payment::ANSWER_WAIT).expect("positive") + 1_000,
    ));
    let token = app.login(&customer.email).await;
    app.await_booking_status(&token, stuck["id"].as_str().expect("id"), "confirmed")
        .await;
    app.await_payment_status(&token, &stuck_pay, "succeeded")
        .await;
    app.stop().await;
}

/// Every payment event of the resource's partition so far, decoded.
async fn payment_events(app: &crate::helpers::TestApp, resource: &str) -> Vec<PaymentEvent> {
    let topic = slotstream_runtime::topics::PAYMENT_EVENTS;
    let p = slotstream_runtime::partitioner::partition_for(resource.as_bytes(), topic.partitions);
    let tp = slotstream_runtime::TopicPartition::new(topic.name, p);
    let reader = app.app.platform.backend().reader();
    let (mut from, mut out) = (0, Vec::new());
    loop {
        let got = reader
            .read(&tp, from, 10_000, std::time::Duration::ZERO)
            .await
            .expect("the payment events are readable");
        let Some(last) = got.last() else { break };
        from = last.offset + 1;
        for r in &got {
            let env: slotstream_schemas::Envelope<PaymentEvent> = app
                .app
                .platform
                .codec
                .decode(&r.value)
                .expect("a payment event");
            out.push(env.payload);
        }
    }
    out
}

/// Bounded poll of the resource's payment events until one satisfies `pick`.
async fn await_payment_event(
    app: &crate::helpers::TestApp,
    resource: &str,
    mut pick: impl FnMut(&PaymentEvent) -> bool,
) -> PaymentEvent {
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        if let Some(e) = payment_events(app, resource)
            .await
            .into_iter()
            .find(|e| pick(e))
        {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such payment event within {:?}",
            crate::helpers::PATIENCE
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_held_up_by_a_provider_outage_stalls_nothing_and_is_handed_over_again_until_acknowledged()
 {
    use slotstream_domain::payment::ANSWER_WAIT;
    let faults = slotstream_payments::SandboxFaults::new();
    let app = crate::helpers::spawn_app_with_faults(faults.clone()).await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(48 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let (id, pay) = (
        b["id"].as_str().expect("id"),
        b["payment"]["id"].as_str().expect("payment id"),
    );
    app.complete(&customer.token, pay, "succeeded", &unique("pay"))
        .await
        .expect(202, "the checkout");
    app.await_booking_status(&customer.token, id, "confirmed")
        .await;

    // The provider goes down; the paid booking is cancelled: its refund
    // cannot be handed over.
    faults.always(Some(slotstream_payments::Fault::Unavailable));
    app.cancel(&customer.token, id)
        .await
        .expect(200, "the cancellation");
    let refund_id = match await_payment_event(
        &app,
        &resource,
        |e| matches!(e, PaymentEvent::PaymentRefunded(r) if r.payment_id.as_str() == pay),
    )
    .await
    {
        PaymentEvent::PaymentRefunded(r) => r.refund_id,
        other => unreachable!("{other:?}"),
    };
    // The payment partition goes on: a new booking of the same resource
    // gets its payment intent while the refund waits.
    let other = app
        .book_ok(&customer.token, &resource, start + HOUR, start + 2 * HOUR)
        .await;
    let other_pay = other["payment"]["id"].as_str().expect("payment id");
    app.await_payment_status(&customer.token, other_pay, "requires_payment")
        .await;
    // Unacknowledged at its check: handed over again, still refused.
    app.advance(std::time::Duration::from_millis(
        u64::try_from(ANSWER_WAIT).expect("positive") + 1_000,
    ));
    await_payment_event(&app, &resource, |e| {
        matches!(e, PaymentEvent::RefundUnconfirmed(r) if r.refund_id == refund_id && r.attempt == 1)
    })
    .await;
    assert!(
        !payment_events(&app, &resource)
            .await
            .iter()
            .any(|e| matches!(e, PaymentEvent::RefundConfirmed(_))),
        "no acknowledgement while the provider is down"
    );

    // The provider is back: the next ask hands the same refund over, once
    // acknowledged.
    faults.clear();
    app.advance(std::time::Duration::from_millis(
        u64::try_from(2 * ANSWER_WAIT).expect("positive"),
    ));
    await_payment_event(
        &app,
        &resource,
        |e| matches!(e, PaymentEvent::RefundConfirmed(r) if r.refund_id == refund_id),
    )
    .await;
    let refunds: Vec<PaymentEvent> = payment_events(&app, &resource)
        .await
        .into_iter()
        .filter(|e| matches!(e, PaymentEvent::PaymentRefunded(r) if r.payment_id.as_str() == pay))
        .collect();
    assert_eq!(refunds.len(), 1, "one refund decided: {refunds:?}");
    app.stop().await;
}
