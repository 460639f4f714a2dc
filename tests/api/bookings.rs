//! Booking: the hold, the success path, overlaps, validation, who may see
//! what, and hold expiry.

use crate::helpers::time::{HOUR, time_of};
use crate::helpers::{MINUTE, Role, rfc3339, room, spawn_app, unique};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_held_pending_with_a_payment_to_complete() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let (start, end) = (
        app.slot_after(24 * 60),
        app.slot_after(24 * 60) + 90 * MINUTE,
    );
    let now = app.now_ms();

    let r = app
        .book(&customer.token, &unique("key"), &resource, start, end)
        .await;

    let b = r.expect(201, "book");
    assert!(
        b["id"].as_str().is_some_and(|s| !s.is_empty()),
        "id in {}",
        r.text
    );
    assert_eq!(b["resource_id"], resource.as_str());
    assert_eq!(b["user_id"], customer.id.as_str());
    assert_eq!(time_of(&b["start"]), start);
    assert_eq!(time_of(&b["end"]), end);
    assert_eq!(b["status"], "pending");
    let hold = time_of(&b["hold_expires_at"]);
    assert!(
        (hold - (now + 15 * MINUTE)).abs() <= 1000,
        "hold_expires_at {} is not now + 15 min",
        b["hold_expires_at"]
    );
    // 90 minutes at 20.00 per started hour: two units.
    assert_eq!(b["amount"], json!({"amount": 4000, "currency": "EUR"}));
    assert!(
        b["payment"]["id"].as_str().is_some_and(|s| !s.is_empty()),
        "payment.id in {}",
        r.text
    );
    assert_eq!(b["payment"]["status"], "requires_payment");
    assert!(
        b["payment"]["checkout_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "checkout_url in {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_got_201_sees_its_booking_at_once() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(60);

    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let r = app
        .get(
            &format!("/v1/bookings/{}", b["id"].as_str().expect("id")),
            Some(&customer.token),
        )
        .await;

    let got = r.expect(200, "GET the booking right after 201");
    assert_eq!(got["id"], b["id"]);
    assert_eq!(got["status"], "pending");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_a_held_booking_confirms_it_and_emails_the_customer() {
    let app = spawn_app().await;
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

    let r = app
        .complete(&customer.token, pay, "succeeded", &unique("pay"))
        .await;

    r.expect(202, "complete checkout");
    let confirmed = app
        .await_booking_status(&customer.token, id, "confirmed")
        .await;
    assert_eq!(time_of(&confirmed["start"]), start);
    let p = app
        .await_payment_status(&customer.token, pay, "succeeded")
        .await;
    assert_eq!(p["id"], pay);
    assert_eq!(p["booking_id"], id);
    assert_eq!(p["amount"], json!({"amount": 2000, "currency": "EUR"}));
    assert_eq!(p["refunded_amount"]["amount"], 0, "refunded_amount in {p}");
    app.await_email_containing(&customer.email, &["confirm"])
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_booking_is_refused_with_slot_unavailable_and_creates_no_payment() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    app.book_ok(&alice.token, &resource, start, start + 2 * HOUR)
        .await;

    let r = app
        .book(
            &bob.token,
            &unique("key"),
            &resource,
            start + HOUR,
            start + 3 * HOUR,
        )
        .await;

    r.problem(409, "slot_unavailable");
    assert!(
        r.body.get("payment").is_none(),
        "a refused booking carries a payment: {}",
        r.text
    );
    let path = format!("/v1/vendor/bookings?resource_id={resource}");
    let list = app
        .await_get(&path, &vendor.token, |r| {
            r.status == 200 && !r.body["items"].as_array().is_none_or(Vec::is_empty)
        })
        .await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "vendor sees {}",
        list.text
    );
    let bobs = app.get("/v1/bookings", Some(&bob.token)).await;
    assert_eq!(bobs.expect(200, "bob's bookings")["items"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_that_meet_at_a_boundary_do_not_overlap() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let ten = app.slot_after(24 * 60);

    let before = app
        .book(&customer.token, &unique("key"), &resource, ten - HOUR, ten)
        .await;
    let after = app
        .book(&customer.token, &unique("key"), &resource, ten, ten + HOUR)
        .await;

    before.expect(201, "the booking ending at the boundary");
    after.expect(201, "the booking starting at the boundary");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_amount_is_the_price_for_every_started_unit() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);

    let short = app
        .book_ok(&customer.token, &resource, start, start + 15 * MINUTE)
        .await;
    let long = app
        .book_ok(
            &customer.token,
            &resource,
            start + HOUR,
            start + HOUR + 75 * MINUTE,
        )
        .await;

    assert_eq!(
        short["amount"]["amount"], 2000,
        "15 minutes is one started hour"
    );
    assert_eq!(
        long["amount"]["amount"], 4000,
        "75 minutes is two started hours"
    );
    app.stop().await;
}

/// Books `[start, end)` on a resource made from `body` and expects 422.
async fn refused_as_invalid(
    body: serde_json::Value,
    start_after_min: i64,
    start_shift: i64,
    len: i64,
    field: &str,
) {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_resource(&vendor.token, body).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let start = app.slot_after(start_after_min) + start_shift;

    let r = app
        .book(
            &customer.token,
            &unique("key"),
            &resource,
            start,
            start + len,
        )
        .await;

    r.problem(422, "validation_failed");
    assert!(
        r.text.contains(field),
        "the offending field {field:?} is not named in {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_end_is_not_after_its_start_is_refused() {
    refused_as_invalid(room("r"), 60, 0, 0, "end").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_starting_in_the_past_is_refused() {
    refused_as_invalid(room("r"), 0, -HOUR, 30 * MINUTE, "start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_not_aligned_to_the_slot_size_is_refused() {
    refused_as_invalid(room("r"), 60, 5 * MINUTE, 30 * MINUTE, "start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_shorter_than_the_minimum_is_refused() {
    let mut body = room("r");
    body["min_minutes"] = json!(60);
    refused_as_invalid(body, 60, 0, 30 * MINUTE, "end").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_longer_than_the_maximum_is_refused() {
    let mut body = room("r");
    body["max_minutes"] = json!(60);
    refused_as_invalid(body, 60, 0, 75 * MINUTE, "end").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_an_unknown_resource_is_refused_with_resource_not_found() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;
    let start = app.slot_after(60);

    let r = app
        .book(
            &customer.token,
            &unique("key"),
            "res_does_not_exist",
            start,
            start + HOUR,
        )
        .await;

    r.problem(404, "resource_not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_that_is_not_rfc_3339_is_refused_with_validation_failed() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let end = rfc3339(app.slot_after(120));
    let body = json!({"resource_id": resource, "start": "tomorrow at ten", "end": end});

    let r = app
        .post(
            "/v1/bookings",
            Some(&customer.token),
            Some(&unique("key")),
            &body,
        )
        .await;

    r.problem(422, "validation_failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customers_booking_is_not_found() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let mallory = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(60);
    let b = app
        .book_ok(&alice.token, &resource, start, start + HOUR)
        .await;
    let path = format!("/v1/bookings/{}", b["id"].as_str().expect("id"));
    app.await_get(&path, &alice.token, |r| r.status == 200)
        .await;

    let r = app.get(&path, Some(&mallory.token)).await;
    let unknown = app
        .get("/v1/bookings/bk_does_not_exist", Some(&mallory.token))
        .await;

    r.problem(404, "not_found");
    unknown.problem(404, "not_found");
    assert_eq!(
        r.body["detail"], unknown.body["detail"],
        "the answer must not reveal that the booking exists"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resources_vendor_can_read_a_booking_on_it_but_another_vendor_cannot() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let other = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let path = format!("/v1/bookings/{}", b["id"].as_str().expect("id"));

    let seen = app
        .await_get(&path, &vendor.token, |r| r.status == 200)
        .await;
    let hidden = app.get(&path, Some(&other.token)).await;

    assert_eq!(seen.body["id"], b["id"]);
    hidden.problem(404, "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_bookings_list_only_mine_and_filters_by_status() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(48 * 60);
    let paid = app
        .book_and_pay(&alice.token, &resource, start, start + HOUR)
        .await;
    let held = app
        .book_ok(&alice.token, &resource, start + HOUR, start + 2 * HOUR)
        .await;
    app.book_ok(&bob.token, &resource, start + 2 * HOUR, start + 3 * HOUR)
        .await;

    let all = app
        .await_get("/v1/bookings?limit=100", &alice.token, |r| {
            r.body["items"].as_array().is_some_and(|i| i.len() >= 2)
        })
        .await;
    let confirmed = app
        .await_get("/v1/bookings?status=confirmed", &alice.token, |r| {
            r.body["items"].as_array().is_some_and(|i| !i.is_empty())
        })
        .await;

    let mut ids: Vec<_> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].clone())
        .collect();
    ids.sort_by_key(ToString::to_string);
    let mut expected = vec![paid["id"].clone(), held["id"].clone()];
    expected.sort_by_key(ToString::to_string);
    assert_eq!(ids, expected, "alice's list: {}", all.text);
    let statuses: Vec<_> = confirmed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![paid["id"].clone()],
        "status=confirmed: {}",
        confirmed.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_hold_expires_after_its_ttl_and_the_slot_can_be_booked_at_once() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&alice.token, &resource, start, start + HOUR)
        .await;

    // Just past its hold_expires_at the slot is still held: the checkout
    // grace waits for a checkout submitted in time but decided late.
    app.advance(Duration::from_secs(15 * 60 + 1));
    let (alice_token, bob_token) = (app.login(&alice.email).await, app.login(&bob.email).await);
    app.book(&bob_token, &unique("key"), &resource, start, start + HOUR)
        .await
        .problem(409, "slot_unavailable");
    // The view may still be applying the booking on Kafka: await it, and
    // it must be pending (an expired hold here would never turn pending).
    app.await_booking_status(&alice_token, b["id"].as_str().expect("id"), "pending")
        .await;

    app.advance(app.settings.checkout_grace);
    // Tokens issued before the jump may have expired on the moved clock.
    let (alice_token, bob_token) = (app.login(&alice.email).await, app.login(&bob.email).await);

    app.await_booking_status(&alice_token, b["id"].as_str().expect("id"), "expired")
        .await;
    app.book(&bob_token, &unique("key"), &resource, start, start + HOUR)
        .await
        .expect(201, "rebook the released slot");
    app.await_email_containing(&alice.email, &["expire"]).await;
    app.stop().await;
}
