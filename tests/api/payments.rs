//! The sandbox payment: failure, completion after expiry, and who may touch
//! a payment.

use crate::helpers::time::{HOUR, time_of};
use crate::helpers::{Role, spawn_app, unique};
use serde_json::json;

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
async fn a_checkout_held_up_by_a_provider_outage_past_the_hold_still_confirms_the_booking() {
    let faults = slotstream_payments::SandboxFaults::new();
    let app = crate::helpers::spawn_app_with_faults(faults.clone()).await;
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
    app.advance(std::time::Duration::from_millis(
        u64::try_from(deadline - 60_000 - app.now_ms()).expect("ahead"),
    ));
    let token = app.login(&customer.email).await;
    // Past the gateway's memory of its own writes the payment is read from
    // the views, which may still be catching up (Kafka): wait for it.
    app.await_payment_status(&token, pay, "requires_payment")
        .await;

    // The provider is down: the payment processor cannot finish deciding
    // the checkout (its effect runs before its commit), so no decision
    // comes within the gateway's wait.
    faults.always(Some(slotstream_payments::Fault::Unavailable));
    let key = unique("pay");
    let r = app.complete(&token, pay, "succeeded", &key).await;
    assert_eq!(
        r.expect(202, "the checkout, undecided")["status"],
        "pending_decision"
    );
    // The hold's deadline passes while the provider is down; the slot is
    // not released inside the checkout grace.
    app.advance(std::time::Duration::from_secs(70));
    let token = app.login(&customer.email).await;
    let inside = app.get(&format!("/v1/bookings/{id}"), Some(&token)).await;
    assert_eq!(inside.expect(200, "the booking")["status"], "pending");

    // The provider is back: the checkout submitted a minute before the
    // deadline is decided, the booking confirmed, nothing refunded.
    faults.clear();
    app.await_booking_status(&token, id, "confirmed").await;
    app.await_payment_status(&token, pay, "succeeded").await;
    let again = app.complete(&token, pay, "succeeded", &key).await;
    assert_eq!(again.expect(202, "the replay")["status"], "processing");
    app.advance(app.settings.payment_decision_timeout + app.settings.checkout_grace);
    let token = app.login(&customer.email).await;
    let after = app.get(&format!("/v1/bookings/{id}"), Some(&token)).await;
    assert_eq!(after.expect(200, "the booking")["status"], "confirmed");
    let payment = app.get(&format!("/v1/payments/{pay}"), Some(&token)).await;
    assert_eq!(payment.expect(200, "the payment")["status"], "succeeded");
    app.stop().await;
}
