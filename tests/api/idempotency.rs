//! `Idempotency-Key` on `POST /v1/bookings` and `POST /v1/payments/{id}/complete`:
//! a retry gets the first answer again and nothing happens twice.

use crate::helpers::time::{HOUR, time_of};
use crate::helpers::{Role, rfc3339, spawn_app, unique};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_booking_with_the_same_key_and_body_returns_the_first_answer_and_books_once() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let key = unique("key");

    let first = app
        .book(&customer.token, &key, &resource, start, start + HOUR)
        .await;
    let again = app
        .book(&customer.token, &key, &resource, start, start + HOUR)
        .await;

    first.expect(201, "the first request");
    assert_eq!(
        again.status, first.status,
        "the retry's status; body {}",
        again.text
    );
    assert_eq!(again.body, first.body, "the retry's body");
    let mine = app
        .await_get("/v1/bookings", &customer.token, |r| {
            r.body["items"].as_array().is_some_and(|i| !i.is_empty())
        })
        .await;
    assert_eq!(
        mine.body["items"].as_array().map(Vec::len),
        Some(1),
        "bookings: {}",
        mine.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_refused_booking_returns_the_same_refusal() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    app.book_ok(&alice.token, &resource, start, start + HOUR)
        .await;
    let key = unique("key");

    let first = app
        .book(&bob.token, &key, &resource, start, start + HOUR)
        .await;
    let again = app
        .book(&bob.token, &key, &resource, start, start + HOUR)
        .await;

    first.problem(409, "slot_unavailable");
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["code"], first.body["code"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_booking_key_with_another_body_is_refused_with_idempotency_key_reused() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let key = unique("key");
    app.book(&customer.token, &key, &resource, start, start + HOUR)
        .await
        .expect(201, "the first request");

    let r = app
        .book(
            &customer.token,
            &key,
            &resource,
            start + 2 * HOUR,
            start + 3 * HOUR,
        )
        .await;

    r.problem(422, "idempotency_key_reused");
    let mine = app
        .await_get("/v1/bookings", &customer.token, |r| {
            r.body["items"].as_array().is_some_and(|i| !i.is_empty())
        })
        .await;
    assert_eq!(
        mine.body["items"].as_array().map(Vec::len),
        Some(1),
        "bookings: {}",
        mine.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_from_another_user_is_a_different_request() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let alice = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let key = unique("shared-key");

    let a = app
        .book(&alice.token, &key, &resource, start, start + HOUR)
        .await;
    let b = app
        .book(&bob.token, &key, &resource, start + HOUR, start + 2 * HOUR)
        .await;

    a.expect(201, "alice");
    b.expect(201, "bob");
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(b.body["user_id"], bob.id.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_without_an_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let body =
        json!({"resource_id": resource, "start": rfc3339(start), "end": rfc3339(start + HOUR)});

    let r = app
        .post("/v1/bookings", Some(&customer.token), None, &body)
        .await;

    r.problem(400, "idempotency_key_missing");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_longer_than_255_characters_is_refused_and_books_nothing() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);

    let r = app
        .book(
            &customer.token,
            &"k".repeat(256),
            &resource,
            start,
            start + HOUR,
        )
        .await;

    assert!(
        (400..500).contains(&r.status),
        "a 256-character key was accepted: {} {}",
        r.status,
        r.text
    );
    r.assert_problem_shape();
    let mine = app.get("/v1/bookings", Some(&customer.token)).await;
    assert_eq!(mine.expect(200, "my bookings")["items"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_payment_completion_returns_the_first_answer_and_confirms_once() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");
    let key = unique("pay");

    let first = app.complete(&customer.token, pay, "succeeded", &key).await;
    app.await_booking_status(&customer.token, b["id"].as_str().expect("id"), "confirmed")
        .await;
    let again = app.complete(&customer.token, pay, "succeeded", &key).await;

    first.expect(202, "the first completion");
    assert_eq!(
        (first.body["status"].as_str(), first.header("retry-after")),
        (Some("processing"), None),
        "an accepted checkout says processing, not pending_decision"
    );
    assert_eq!(
        again.status, first.status,
        "the retry's status; body {}",
        again.text
    );
    assert_eq!(again.body, first.body, "the retry's body");
    app.await_email_containing(&customer.email, &["confirm"])
        .await;
    app.await_payment_status(&customer.token, pay, "succeeded")
        .await;
    let confirmations = app
        .emails_to(&customer.email)
        .await
        .iter()
        .filter(|m| m.to_lowercase().contains("confirm"))
        .count();
    assert_eq!(
        confirmations,
        1,
        "confirmation emails: {:#?}",
        app.emails_to(&customer.email).await
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_a_payment_key_with_another_outcome_is_refused_with_idempotency_key_reused() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");
    let key = unique("pay");
    app.complete(&customer.token, pay, "succeeded", &key)
        .await
        .expect(202, "the first completion");

    let r = app.complete(&customer.token, pay, "failed", &key).await;

    r.problem(422, "idempotency_key_reused");
    app.await_booking_status(&customer.token, b["id"].as_str().expect("id"), "confirmed")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_completion_without_an_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");

    let r = app
        .post(
            &format!("/v1/payments/{pay}/complete"),
            Some(&customer.token),
            None,
            &json!({"outcome": "succeeded"}),
        )
        .await;

    r.problem(400, "idempotency_key_missing");
    let p = app
        .await_payment_status(&customer.token, pay, "requires_payment")
        .await;
    assert_eq!(p["id"], pay);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_answer_says_pending_decision_and_its_replay_gets_the_first_decision() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    // A gateway that barely waits: every decision arrives after its answer
    // (sending alone, one fsync, outlasts its budget).
    let impatient = app
        .second_gateway_configured(|cfg| cfg.wait_budget = Duration::from_millis(1))
        .await;
    let keyed = |path: &str, key: &str, body: &serde_json::Value| {
        app.client
            .post(impatient.url(path))
            .bearer_auth(&customer.token)
            .header("Idempotency-Key", key)
            .json(body)
    };

    // A decision can still beat a 1 ms wait (on a quiet machine with a fast
    // disk it often does): each try books another slot, until one is
    // answered undecided; 50 tries make a run of decided ones vanishingly
    // unlikely.
    let mut tries = 0;
    let (key, start, undecided) = loop {
        tries += 1;
        let start = app.slot_after(24 * 60) + tries * 2 * HOUR;
        let key = unique("key");
        let booking =
            json!({"resource_id": resource, "start": rfc3339(start), "end": rfc3339(start + HOUR)});
        let r = app.send(keyed("/v1/bookings", &key, &booking)).await;
        if r.status != 201 || tries == 50 {
            break (key, start, r);
        }
    };
    let decided = app
        .book(&customer.token, &key, &resource, start, start + HOUR)
        .await;
    let again = app
        .book(&customer.token, &key, &resource, start, start + HOUR)
        .await;

    let body = undecided.expect(202, "no decision within the wait");
    assert_eq!(body["status"], "pending_decision", "{}", undecided.text);
    assert_eq!(undecided.header("retry-after"), Some("1"));
    let held = decided.expect(201, "the replay once decided");
    assert_eq!(
        held["id"], body["id"],
        "the undecided answer named the booking"
    );
    assert_eq!(
        again.body, decided.body,
        "every later replay: the first decision"
    );

    // The same for a checkout: each try pays another booking.
    let mut tries = 0;
    let (held, pay, pay_key, undecided) = loop {
        tries += 1;
        let start = app.slot_after(24 * 60) + (60 + tries) * 2 * HOUR;
        let held = app
            .book_ok(&customer.token, &resource, start, start + HOUR)
            .await;
        let pay = held["payment"]["id"]
            .as_str()
            .expect("payment id")
            .to_owned();
        // The other gateway finds the intent in the view only (this one
        // also answers from its memory of the 201).
        let seen = std::time::Instant::now();
        while app
            .send(
                app.client
                    .get(impatient.url(&format!("/v1/payments/{pay}")))
                    .bearer_auth(&customer.token),
            )
            .await
            .status
            != 200
        {
            assert!(seen.elapsed() < Duration::from_secs(10), "the payment view");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pay_key = unique("pay");
        let path = format!("/v1/payments/{pay}/complete");
        let r = app
            .send(keyed(&path, &pay_key, &json!({"outcome": "succeeded"})))
            .await;
        if r.body["status"] != "processing" || tries == 50 {
            break (held, pay, pay_key, r);
        }
    };
    let decided = app
        .complete(&customer.token, &pay, "succeeded", &pay_key)
        .await;

    let body = undecided.expect(202, "no checkout decision within the wait");
    assert_eq!(
        (body["status"].as_str(), body["id"].as_str()),
        (Some("pending_decision"), Some(pay.as_str())),
        "{}",
        undecided.text
    );
    assert_eq!(undecided.header("retry-after"), Some("1"));
    let accepted = decided.expect(202, "the replay once decided");
    assert_eq!(accepted["status"], "processing", "{}", decided.text);
    app.await_booking_status(
        &customer.token,
        held["id"].as_str().expect("id"),
        "confirmed",
    )
    .await;
    impatient.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_days_later_for_another_slot_books_anew_and_leaves_the_old_booking_as_it_was()
{
    // The ledger forgets a key after 25 h, and a finished booking leaves the
    // booking processor's state four days after its end; its view row stays.
    // A client reusing the old key then must get a new booking, never the
    // old booking's id (which would overwrite the old row in the views).
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let key = unique("key");
    let old = app
        .book(&customer.token, &key, &resource, start, start + HOUR)
        .await
        .expect(201, "the first booking")
        .clone();
    let old_id = old["id"].as_str().expect("id").to_owned();

    // Well past the ledger's 25 h and the booking's end plus four days.
    app.advance(Duration::from_secs(7 * 24 * 3600));
    let token = app.login(&customer.email).await;
    let vendor_token = app.login(&vendor.email).await;
    // A record through the resource's partition lets the processor prune.
    let nudge = app.slot_after(24 * 60);
    app.book_ok(&vendor_token, &resource, nudge, nudge + HOUR)
        .await;

    let later = app.slot_after(48 * 60);
    let again = app.book(&token, &key, &resource, later, later + HOUR).await;
    let again = again.expect(201, "the old key for a new slot");
    assert_ne!(again["id"], old["id"], "{again}");
    assert_eq!(time_of(&again["start"]), later);

    let before = app
        .await_get(&format!("/v1/bookings/{old_id}"), &token, |r| {
            r.status == 200
        })
        .await;
    assert_eq!(time_of(&before.body["start"]), start, "{}", before.text);
    assert_eq!(before.body["id"], json!(old_id));
    // Its owner still sees it, and hears that it is over, not missing.
    app.cancel(&token, &old_id)
        .await
        .problem(409, "not_cancellable");
    let body = json!({"start": rfc3339(later + 2 * HOUR), "end": rfc3339(later + 3 * HOUR)});
    app.post(
        &format!("/v1/bookings/{old_id}/reschedule"),
        Some(&token),
        Some(&unique("move")),
        &body,
    )
    .await
    .problem(409, "not_reschedulable");
    app.stop().await;
}
