//! Consistency tokens: a write's answer names its decision's log position;
//! any gateway instance given it waits for the views to hold that write.

use crate::helpers::time::HOUR;
use crate::helpers::{OtherGateway, Resp, Role, TestApp, spawn_app};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::{Duration, Instant};

/// `GET path` at `other` with a bearer token and a consistency token.
async fn read_at(
    app: &TestApp,
    other: &OtherGateway,
    path: &str,
    bearer: &str,
    token: &str,
) -> Resp {
    app.send(
        app.client
            .get(other.url(path))
            .bearer_auth(bearer)
            .header("Consistency-Token", token),
    )
    .await
}

/// The token of a write's answer (a header: the body of a replayed request
/// must repeat the first answer's, and a replay may name a later position).
#[track_caller]
fn token_of(r: &Resp) -> String {
    assert!(
        r.body.get("consistency_token").is_none(),
        "no token in the body: {}",
        r.text
    );
    r.header("consistency-token")
        .expect("a Consistency-Token header")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_gateway_is_read_with_its_token_on_another() {
    let app = spawn_app().await;
    let other = app.second_gateway_configured(|_| {}).await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;

    // A resource made here is read there with its token.
    let made = app
        .post(
            "/v1/resources",
            Some(&vendor.token),
            None,
            &crate::helpers::room("Token room"),
        )
        .await;
    let resource = made.expect(201, "resource")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let t = token_of(&made);
    let r = read_at(
        &app,
        &other,
        &format!("/v1/resources/{resource}"),
        &vendor.token,
        &t,
    )
    .await;
    assert_eq!(r.expect(200, "resource there")["id"], resource.as_str());

    // A booking held here is there, with its payment, at once.
    let start = app.slot_after(60);
    let held = app
        .book(&customer.token, "tok-1", &resource, start, start + HOUR)
        .await;
    let b = held.expect(201, "booking").clone();
    let t = token_of(&held);
    let id = b["id"].as_str().expect("booking id");
    let r = read_at(
        &app,
        &other,
        &format!("/v1/bookings/{id}"),
        &customer.token,
        &t,
    )
    .await;
    assert_eq!(r.expect(200, "booking there")["status"], "pending");
    let pid = b["payment"]["id"].as_str().expect("payment id");
    let r = read_at(
        &app,
        &other,
        &format!("/v1/payments/{pid}"),
        &customer.token,
        &t,
    )
    .await;
    assert_eq!(r.expect(200, "payment there")["status"], "requires_payment");
    let list = read_at(&app, &other, "/v1/bookings?limit=100", &customer.token, &t).await;
    let items = list.expect(200, "list there")["items"]
        .as_array()
        .expect("items")
        .clone();
    assert!(
        items.iter().any(|i| i["id"] == id),
        "the new booking in {}",
        list.text
    );

    // Its cancellation here is seen there as cancelled, never as pending.
    let cancelled = app.cancel(&customer.token, id).await;
    assert_eq!(cancelled.expect(200, "cancel")["status"], "cancelled");
    let t = token_of(&cancelled);
    let r = read_at(
        &app,
        &other,
        &format!("/v1/bookings/{id}"),
        &customer.token,
        &t,
    )
    .await;
    assert_eq!(r.expect(200, "cancelled there")["status"], "cancelled");
    let busy = read_at(
        &app,
        &other,
        &format!(
            "/v1/resources/{resource}/availability?from={}&to={}",
            crate::helpers::time::rfc3339(start),
            crate::helpers::time::rfc3339(start + HOUR)
        ),
        &customer.token,
        &t,
    )
    .await;
    assert_eq!(
        busy.expect(200, "availability")["busy"],
        serde_json::json!([]),
        "the slot is free there"
    );
    other.stop().await;
    app.stop().await;
}

/// A well-formed token naming a position no write has reached yet.
fn far_future_token() -> String {
    // Version 1; booking-events (code 1), partition 0, offset 2^40 (varint).
    let mut raw = vec![1u8, 1, 0];
    let mut v: u64 = 1 << 40;
    while v >= 0x80 {
        raw.push((v as u8) | 0x80);
        v >>= 7;
    }
    raw.push(v as u8);
    URL_SAFE_NO_PAD.encode(raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_views_never_reach_answers_503_with_retry_after_within_the_bound() {
    let app = spawn_app().await;
    let bound = Duration::from_millis(400);
    let other = app
        .second_gateway_configured(|cfg| cfg.consistency_wait = bound)
        .await;
    let customer = app.register_and_login(Role::Customer).await;

    let started = Instant::now();
    let r = read_at(
        &app,
        &other,
        "/v1/bookings",
        &customer.token,
        &far_future_token(),
    )
    .await;
    let took = started.elapsed();

    r.problem(503, "consistency_timeout");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(took >= bound, "answered after {took:?}, before the bound");
    assert!(
        took < bound + Duration::from_secs(3),
        "answered after {took:?}"
    );
    other.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_token_is_a_400() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;
    for bad in [
        "not a token",
        "AQ",
        &URL_SAFE_NO_PAD.encode([9u8, 1, 0, 0]),
        &URL_SAFE_NO_PAD.encode([1u8, 42, 0, 0]),
    ] {
        let r = app
            .send(
                app.client
                    .get(app.url("/v1/bookings"))
                    .bearer_auth(&customer.token)
                    .header("Consistency-Token", bad),
            )
            .await;
        r.problem(400, "invalid_consistency_token");
    }
    app.stop().await;
}
