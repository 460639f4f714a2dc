//! The sandbox payment: failure, completion after expiry, and who may touch
//! a payment.

use crate::helpers::time::HOUR;
use crate::helpers::{Role, spawn_app, unique};
use serde_json::json;
use std::time::Duration;

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
    app.advance(Duration::from_secs(15 * 60 + 1));
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
