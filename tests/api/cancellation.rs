//! Cancellation under the default policy (full refund ≥ 24 h before start,
//! 50 % ≥ 2 h before, nothing later, not at or after start).

use crate::helpers::time::HOUR;
use crate::helpers::{Resp, Role, TestApp, User, spawn_app, unique};
use serde_json::{Value, json};

/// A vendor's room and a customer with a confirmed one-hour booking (20.00
/// EUR) starting `minutes` from now.
async fn paid_booking(app: &TestApp, minutes: i64) -> (User, Value) {
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(minutes);
    let b = app
        .book_and_pay(&customer.token, &resource, start, start + HOUR)
        .await;
    app.await_payment_status(
        &customer.token,
        b["payment"]["id"].as_str().expect("payment id"),
        "succeeded",
    )
    .await;
    (customer, b)
}

/// Asserts a 200 cancellation with `refund` of `amount` EUR minor units.
#[track_caller]
fn assert_cancelled_with_refund(r: &Resp, booking: &Value, amount: i64) {
    let body = r.expect(200, "cancel");
    assert_eq!(body["id"], booking["id"]);
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["refund"]["amount"], amount, "refund in {}", r.text);
    assert_eq!(body["refund"]["currency"], "EUR", "refund in {}", r.text);
    assert!(
        body["refund"]["status"].is_string(),
        "refund.status in {}",
        r.text
    );
}

fn id(b: &Value) -> &str {
    b["id"].as_str().expect("booking id")
}

fn payment(b: &Value) -> &str {
    b["payment"]["id"].as_str().expect("payment id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_more_than_a_day_ahead_refunds_in_full() {
    let app = spawn_app().await;
    let (customer, b) = paid_booking(&app, 48 * 60).await;

    let r = app.cancel(&customer.token, id(&b)).await;

    assert_cancelled_with_refund(&r, &b, 2000);
    let p = app
        .await_payment_status(&customer.token, payment(&b), "refunded")
        .await;
    assert_eq!(
        p["refunded_amount"],
        json!({"amount": 2000, "currency": "EUR"})
    );
    app.await_booking_status(&customer.token, id(&b), "cancelled")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_between_two_hours_and_a_day_ahead_refunds_half() {
    let app = spawn_app().await;
    let (customer, b) = paid_booking(&app, 5 * 60).await;

    let r = app.cancel(&customer.token, id(&b)).await;

    assert_cancelled_with_refund(&r, &b, 1000);
    let p = app
        .await_payment_status(&customer.token, payment(&b), "partially_refunded")
        .await;
    assert_eq!(
        p["refunded_amount"],
        json!({"amount": 1000, "currency": "EUR"})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_less_than_two_hours_ahead_refunds_nothing() {
    let app = spawn_app().await;
    let (customer, b) = paid_booking(&app, 60).await;

    let r = app.cancel(&customer.token, id(&b)).await;

    assert_cancelled_with_refund(&r, &b, 0);
    app.await_booking_status(&customer.token, id(&b), "cancelled")
        .await;
    let p = app
        .get(
            &format!("/v1/payments/{}", payment(&b)),
            Some(&customer.token),
        )
        .await;
    assert_eq!(p.expect(200, "the payment")["status"], "succeeded");
    assert_eq!(p.body["refunded_amount"]["amount"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_cannot_be_cancelled_once_it_has_started() {
    let app = spawn_app().await;
    let (customer, b) = paid_booking(&app, 60).await;
    let start = crate::helpers::time::time_of(&b["start"]);
    app.clock.set(start);
    let token = app.login(&customer.email).await;

    let r = app.cancel(&token, id(&b)).await;

    r.problem(409, "not_cancellable");
    let still = app
        .get(&format!("/v1/bookings/{}", id(&b)), Some(&token))
        .await;
    assert_eq!(still.expect(200, "the booking")["status"], "confirmed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_twice_is_refused_with_not_cancellable() {
    let app = spawn_app().await;
    let (customer, b) = paid_booking(&app, 48 * 60).await;
    app.cancel(&customer.token, id(&b))
        .await
        .expect(200, "the first cancel");

    let r = app.cancel(&customer.token, id(&b)).await;

    r.problem(409, "not_cancellable");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_pending_booking_refunds_nothing_and_releases_the_slot() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(48 * 60);
    let b = app
        .book_ok(&alice.token, &resource, start, start + HOUR)
        .await;

    let r = app.cancel(&alice.token, id(&b)).await;

    assert_cancelled_with_refund(&r, &b, 0);
    app.book(&bob.token, &unique("key"), &resource, start, start + HOUR)
        .await
        .expect(201, "rebook the released slot");
    app.await_booking_status(&alice.token, id(&b), "cancelled")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cancellation_email_states_the_refund_amount() {
    let app = spawn_app().await;
    let (customer, b) = paid_booking(&app, 5 * 60).await;

    app.cancel(&customer.token, id(&b))
        .await
        .expect(200, "cancel");

    let mail = app
        .await_email(&customer.email, |m| {
            let t = m.text().to_ascii_lowercase();
            t.contains("cancel")
                && (t.contains("10.00") || t.contains("10,00") || t.contains("1000"))
        })
        .await;
    assert!(
        mail.text().contains("EUR") || mail.text().contains('€'),
        "no currency in {}",
        mail.text()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customer_cannot_cancel_my_booking() {
    let app = spawn_app().await;
    let (alice, b) = paid_booking(&app, 48 * 60).await;
    let mallory = app.register_and_login(Role::Customer).await;

    let r = app.cancel(&mallory.token, id(&b)).await;

    r.problem(404, "not_found");
    let still = app
        .get(&format!("/v1/bookings/{}", id(&b)), Some(&alice.token))
        .await;
    assert_eq!(still.expect(200, "the booking")["status"], "confirmed");
    app.stop().await;
}
