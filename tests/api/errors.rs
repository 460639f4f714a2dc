//! Whatever a client sends, the answer is a problem+json with a stable `code`,
//! never a 500 and never an internal message.

use crate::helpers::{Resp, Role, TestApp, User, spawn_app, unique};
use serde_json::json;

/// A vendor's room and a customer to book it.
async fn setup(app: &TestApp) -> (User, String) {
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    (customer, app.create_room(&vendor.token).await)
}

/// A client error with the problem+json shape, whatever its status.
#[track_caller]
fn assert_client_problem(r: &Resp, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx, got {} {}",
        r.status,
        r.text
    );
    r.assert_problem_shape();
    for leak in [
        "panicked",
        "stack backtrace",
        "src/",
        "called `Result::unwrap()`",
    ] {
        assert!(
            !r.text.contains(leak),
            "{what}: the body leaks internals: {}",
            r.text
        );
    }
}

async fn raw_booking(app: &TestApp, token: &str, content_type: &str, body: &'static str) -> Resp {
    let req = app
        .client
        .post(app.url("/v1/bookings"))
        .bearer_auth(token)
        .header("Idempotency-Key", unique("key"))
        .header("Content-Type", content_type)
        .body(body);
    app.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_problem_with_a_code() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;

    let r = raw_booking(
        &app,
        &customer.token,
        "application/json",
        "{\"resource_id\": ",
    )
    .await;

    assert_client_problem(&r, "malformed JSON");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_a_problem_with_a_code() {
    let app = spawn_app().await;
    let (customer, resource) = setup(&app).await;
    let start = app.slot_after(60);
    let body = json!({
        "resource_id": resource, "start": crate::helpers::rfc3339(start),
        "end": crate::helpers::rfc3339(start + 3_600_000), "discount": 100,
    });

    let r = app
        .post(
            "/v1/bookings",
            Some(&customer.token),
            Some(&unique("key")),
            &body,
        )
        .await;

    assert_client_problem(&r, "an unknown field");
    assert!(
        r.text.contains("discount"),
        "the unknown field is not named in {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_field_is_refused_with_validation_failed() {
    let app = spawn_app().await;
    let (customer, resource) = setup(&app).await;

    let r = app
        .post(
            "/v1/bookings",
            Some(&customer.token),
            Some(&unique("key")),
            &json!({"resource_id": resource}),
        )
        .await;

    r.problem(422, "validation_failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_content_type_is_a_problem_with_a_code() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;

    let r = raw_booking(&app, &customer.token, "text/plain", "{}").await;

    assert_client_problem(&r, "a text/plain body");
    assert_eq!(r.status, 415, "{}", r.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_the_wrong_json_type_is_a_problem_with_a_code() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;

    let r = raw_booking(&app, &customer.token, "application/json", "[1, 2, 3]").await;

    assert_client_problem(&r, "a JSON array body");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_a_problem_not_a_crash() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;
    let big = format!("{{\"resource_id\": \"{}\"}}", "x".repeat(100 * 1024));
    let attempt = || {
        app.client
            .post(app.url("/v1/bookings"))
            .bearer_auth(&customer.token)
            .header("Idempotency-Key", unique("key"))
            .header("Content-Type", "application/json")
            .body(big.clone())
    };

    // A server may answer 413 from the headers and close before the body is
    // all written, so the client sees a broken pipe instead of the answer:
    // a bounded retry of that transport race, never of an HTTP answer.
    let mut last_error = None;
    let mut answer = None;
    for _ in 0..5 {
        match app.try_send(attempt()).await {
            Ok(r) => {
                answer = Some(r);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }

    let r = answer.unwrap_or_else(|| panic!("no answer to a 100 KiB body: {last_error:?}"));
    assert_client_problem(&r, "a 100 KiB body");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_is_a_problem_404() {
    let app = spawn_app().await;

    let r = app.get("/v1/no-such-thing", None).await;
    let deep = app.get("/nowhere/at/all", None).await;

    assert_eq!(r.status, 404, "{}", r.text);
    r.assert_problem_shape();
    assert_eq!(deep.status, 404, "{}", deep.text);
    deep.assert_problem_shape();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_problem() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;

    let r = app
        .send(
            app.client
                .delete(app.url("/v1/bookings"))
                .bearer_auth(&customer.token),
        )
        .await;

    assert_client_problem(&r, "DELETE /v1/bookings");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strange_ids_in_paths_are_not_found_rather_than_errors() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;
    let long = "b".repeat(5000);

    for id in [
        "%00",
        "%FF",
        "..%2F..%2Fetc%2Fpasswd",
        "%F0%9F%98%80",
        long.as_str(),
        "'%20OR%201=1",
    ] {
        let r = app
            .get(&format!("/v1/bookings/{id}"), Some(&customer.token))
            .await;
        assert_client_problem(&r, &format!("GET /v1/bookings/{}", &id[..id.len().min(40)]));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_parameters_are_refused_with_validation_failed() {
    let app = spawn_app().await;
    let (customer, _) = setup(&app).await;

    let zero = app.get("/v1/bookings?limit=0", Some(&customer.token)).await;
    let words = app
        .get("/v1/bookings?limit=many", Some(&customer.token))
        .await;
    let cursor = app
        .get(
            "/v1/bookings?cursor=not-a-real-cursor",
            Some(&customer.token),
        )
        .await;

    zero.problem(422, "validation_failed");
    words.problem(422, "validation_failed");
    assert_client_problem(&cursor, "a forged cursor");
    app.stop().await;
}
