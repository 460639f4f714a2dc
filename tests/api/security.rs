//! Authentication at the gateway (forged, expired, tampered and unsigned
//! tokens), the login rate limit and the payment webhook's signature.

use crate::helpers::time::{HOUR, system_now_ms};
use crate::helpers::tokens::Forger;
use crate::helpers::{Role, TestApp, User, spawn_app, unique};
use serde_json::{Value, json};

/// A customer and a forger holding the data dir's JWT key.
async fn customer_and_forger(app: &TestApp) -> (User, Forger) {
    let user = app.register_and_login(Role::Customer).await;
    let forger = Forger::new(&app.dir(), &user.token);
    (user, forger)
}

/// `GET /v1/bookings` with `token` must be 401 `unauthorized`.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let r = app.get("/v1/bookings", Some(token)).await;
    assert_eq!(r.status, 401, "{what} was not refused: {}", r.text);
    r.problem(401, "unauthorized");
}

fn secs_from_now(s: i64) -> Value {
    json!(system_now_ms() / 1000 + s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_token_are_unauthorized() {
    let app = spawn_app().await;

    let list = app.get("/v1/bookings", None).await;
    let book = app
        .post("/v1/bookings", None, Some(&unique("key")), &json!({}))
        .await;
    let resource = app.post("/v1/resources", None, None, &json!({})).await;

    list.problem(401, "unauthorized");
    book.problem(401, "unauthorized");
    resource.problem(401, "unauthorized");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_token_is_unauthorized() {
    let app = spawn_app().await;

    assert_refused(&app, "not-a-jwt", "a garbage token").await;
    let basic = app
        .send(
            app.client
                .get(app.url("/v1/bookings"))
                .header("Authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    basic.problem(401, "unauthorized");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_the_platforms_key_is_accepted() {
    let app = spawn_app().await;
    let (user, forger) = customer_and_forger(&app).await;
    let claims = forger.claims_with("exp", secs_from_now(HOUR / 1000));

    let r = app.get("/v1/bookings", Some(&forger.sign(&claims))).await;

    // The control for every forged-token test below: only the flaw they
    // introduce can make those fail.
    r.expect(200, "a correctly signed token");
    assert!(
        forger.claims.to_string().contains(&user.id),
        "the token does not name its user: {}",
        forger.claims
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_unauthorized() {
    let app = spawn_app().await;
    let (_, forger) = customer_and_forger(&app).await;
    let mut claims = forger.claims_with("exp", secs_from_now(-HOUR / 1000));
    claims["iat"] = secs_from_now(-2 * HOUR / 1000);

    assert_refused(&app, &forger.sign(&claims), "an expired token").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_tampered_payload_is_unauthorized() {
    let app = spawn_app().await;
    let (_, forger) = customer_and_forger(&app).await;
    let claims = forger.claims_with("role", json!("vendor"));

    let token = forger.tampered(&claims);

    assert_refused(&app, &token, "a tampered token").await;
    let r = app
        .post(
            "/v1/resources",
            Some(&token),
            None,
            &crate::helpers::room("stolen"),
        )
        .await;
    r.problem(401, "unauthorized");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_alg_none_token_is_unauthorized() {
    let app = spawn_app().await;
    let (_, forger) = customer_and_forger(&app).await;

    assert_refused(&app, &Forger::unsigned(&forger.claims), "an alg:none token").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_another_key_is_unauthorized() {
    let app = spawn_app().await;
    let (_, forger) = customer_and_forger(&app).await;
    let other = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &forger.claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not the platform's key at all, really"),
    )
    .expect("signing");

    assert_refused(&app, &other, "a token signed with another key").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_is_unauthorized() {
    let app = spawn_app().await;
    let (_, forger) = customer_and_forger(&app).await;
    let claims = forger.claims_with("aud", json!("some-other-api"));

    assert_refused(&app, &forger.sign(&claims), "a token for another audience").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_another_issuer_is_unauthorized() {
    let app = spawn_app().await;
    let (_, forger) = customer_and_forger(&app).await;
    let claims = forger.claims_with("iss", json!("someone-else"));

    assert_refused(&app, &forger.sign(&claims), "a token from another issuer").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_from_one_address_is_rate_limited_with_retry_after() {
    let app = spawn_app().await;
    let body = json!({"email": "nobody@example.com", "password": "wrong password!"});

    // Bounded: one burst of 60 logins in flight together.
    let burst = (0..60).map(|_| app.post("/v1/auth/login", None, None, &body));
    let answers = futures_util::future::join_all(burst).await;

    for r in answers.iter().filter(|r| r.status != 429) {
        r.problem(401, "invalid_credentials");
    }
    let r = answers
        .iter()
        .find(|r| r.status == 429)
        .expect("a burst of 60 logins was never rate limited");
    r.problem(429, "rate_limited");
    let after: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(after >= 1, "Retry-After {after}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_webhook_with_a_bad_signature_is_rejected_and_changes_nothing() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &resource, start, start + HOUR)
        .await;
    let pay = b["payment"]["id"].as_str().expect("payment id");
    let now = system_now_ms() / 1000;
    let event = json!({
        "id": format!("evt_{pay}_succeeded"),
        "type": "payment_intent.succeeded",
        "data": {"payment_id": pay, "resource_id": resource, "reason": null},
        "created": now,
    });
    let req = app
        .client
        .post(app.url("/v1/webhooks/payments"))
        .header(
            "Slotstream-Signature",
            format!("t={now},v1={}", "0".repeat(64)),
        )
        .json(&event);

    let r = app.send(req).await;
    let unsigned = app.post("/v1/webhooks/payments", None, None, &event).await;

    assert!(
        (400..500).contains(&r.status),
        "a forged webhook was accepted: {} {}",
        r.status,
        r.text
    );
    r.assert_problem_shape();
    assert!(
        (400..500).contains(&unsigned.status),
        "an unsigned webhook was accepted: {} {}",
        unsigned.status,
        unsigned.text
    );
    unsigned.assert_problem_shape();
    let p = app
        .await_payment_status(&customer.token, pay, "requires_payment")
        .await;
    assert_eq!(p["id"], pay);
    let still = app
        .get(
            &format!("/v1/bookings/{}", b["id"].as_str().expect("id")),
            Some(&customer.token),
        )
        .await;
    assert_eq!(still.expect(200, "the booking")["status"], "pending");
    app.stop().await;
}
