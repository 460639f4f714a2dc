//! The findings of the black-box security probe (issue 13), one test each:
//! re-registration cannot take over a pending account or buy code guesses,
//! failed logins back off and lock, unknown payment ids answer at once,
//! idle and slow connections are cut and one client's connections are
//! capped, tokens from the future are refused, every answer carries the
//! security headers, and the API's answers match its description.

use crate::helpers::time::{HOUR, system_now_ms};
use crate::helpers::tokens::Forger;
use crate::helpers::{PASSWORD, Resp, Role, TestApp, spawn_app, spawn_app_with, unique};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DAY: i64 = 24 * HOUR;

fn fresh_email() -> String {
    format!("{}@example.com", unique("probe"))
}

pub(crate) async fn login_with(app: &TestApp, email: &str, password: &str) -> Resp {
    app.post(
        "/v1/auth/login",
        None,
        None,
        &json!({"email": email, "password": password}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_a_pending_address_again_keeps_its_password_and_buys_no_code_guesses() {
    let app = spawn_app().await;
    let email = fresh_email();
    let first = app.register(&email, PASSWORD, Role::Customer).await;
    let user_id = first.expect(202, "register")["user_id"].clone();
    let code = app.verification_code(&email, &[]).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.verify(&email, wrong).await.problem(400, "otp_invalid");
    }

    // The attacker registers the address again with a password of their own.
    let again = app
        .register(&email, "the attacker's own password", Role::Vendor)
        .await;

    let body = again.expect(202, "registering again answers like a first registration");
    assert_eq!(body["user_id"], user_id);
    assert_eq!(body["status"], "pending_verification");
    // No fresh code and no fresh tries: the burned code stays burned.
    app.verify(&email, &code).await.problem(429, "rate_limited");
    app.advance(Duration::from_secs(61));
    app.post("/v1/auth/resend", None, None, &json!({"email": email}))
        .await
        .expect(202, "resend after the interval");
    let fresh = app.verification_code(&email, &[code]).await;
    app.verify(&email, &fresh).await.expect(200, "verify");
    login_with(&app, &email, "the attacker's own password")
        .await
        .problem(401, "invalid_credentials");
    app.login(&email).await;
    app.stop().await;
}

/// Fails logins on `email` as fast as allowed, moving the clock by each
/// Retry-After, until the wait is at least `lock` seconds; returns the
/// failures answered 401 before that.
pub(crate) async fn fail_until_locked(app: &TestApp, email: &str, lock: u64) -> usize {
    let mut failures = 0;
    for _ in 0..200 {
        let r = login_with(app, email, "not the password at all").await;
        if r.status == 401 {
            r.problem(401, "invalid_credentials");
            failures += 1;
            continue;
        }
        r.problem(429, "rate_limited");
        let wait: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        if wait >= lock {
            return failures;
        }
        app.advance(Duration::from_secs(wait));
    }
    panic!("200 failed logins and the account never locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_back_off_then_lock_the_account_until_the_lock_lifts() {
    let app = spawn_app_with(|s| {
        s.login_free_failures = 3;
        s.login_lock_after = 6;
        s.login_lock_for = Duration::from_secs(15 * 60);
        s.login_max_backoff = Duration::from_secs(5);
    })
    .await;
    let user = app.register_and_login(Role::Customer).await;

    let failures = fail_until_locked(&app, &user.email, 15 * 60).await;

    assert_eq!(
        failures, 6,
        "locked after exactly login_lock_after failures"
    );
    let locked = login_with(&app, &user.email, PASSWORD).await;
    locked.problem(429, "rate_limited");
    assert!(
        locked.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("locked"),
        "{}",
        locked.text
    );
    // Past the lock the clock is also past the gateway's memory of the
    // account it registered a moment ago: wait until the views have it
    // (on Kafka they may lag behind), as a later login reads it there.
    let views = app.app.platform.views();
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    while !views
        .user_by_email(&user.email)
        .await
        .expect("the users view is readable")
        .is_some_and(|u| u.verified)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the users view never had {}",
            user.email
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.advance(Duration::from_secs(15 * 60));
    login_with(&app, &user.email, PASSWORD)
        .await
        .expect(200, "the lock lifts with time");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_lock_comes_within_nists_hundred_failures_for_known_and_unknown_accounts() {
    // Only the account lock is under test here, not the client's back-off.
    let app = spawn_app_with(|s| s.login_client_free_failures = 1_000).await;
    let user = app.register_and_login(Role::Customer).await;

    let known = fail_until_locked(&app, &user.email, 15 * 60).await;
    let unknown = fail_until_locked(&app, &fresh_email(), 15 * 60).await;

    assert!(known <= 100, "{known} failures before the lock");
    assert_eq!(
        known, unknown,
        "the lock must not reveal which accounts exist"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_failing_logins_across_many_accounts_backs_off() {
    let app = spawn_app_with(|s| s.login_client_free_failures = 5).await;

    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(login_with(&app, &fresh_email(), "not the password at all").await);
    }

    let refused: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(&refused[..6], &[401; 6], "{refused:?}");
    answers[7].problem(429, "rate_limited");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_payment_id_is_404_as_fast_as_another_customers_payment() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let owner = app.register_and_login(Role::Customer).await;
    let other = app.register_and_login(Role::Customer).await;
    let room = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app.book_ok(&owner.token, &room, start, start + HOUR).await;
    let theirs = b["payment"]["id"].as_str().expect("payment id");

    let timed = |id: String| {
        let app = &app;
        let token = other.token.clone();
        async move {
            let started = Instant::now();
            let r = app.complete(&token, &id, "succeeded", &unique("pay")).await;
            (r, started.elapsed())
        }
    };
    let (existing, t_existing) = timed(theirs.to_owned()).await;
    let (unknown, t_unknown) = timed(format!("pay_{}", "0".repeat(32))).await;

    existing.problem(404, "not_found");
    unknown.problem(404, "not_found");
    // The gateway's wait budget is 5 s; an answer that waited on it is an
    // existence oracle and a cheap way to hold connections.
    for (what, t) in [("another's", t_existing), ("an unknown", t_unknown)] {
        assert!(
            t < Duration::from_millis(2_500),
            "{what} payment took {t:?}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_not_yet_valid_or_issued_in_the_future_are_unauthorized() {
    let app = spawn_app().await;
    let user = app.register_and_login(Role::Customer).await;
    let forger = Forger::new(&app.dir(), &user.token);
    let now = system_now_ms() / 1000;
    let mut from_tomorrow = forger.claims_with("iat", json!(now + DAY / 1000));
    from_tomorrow["exp"] = json!(now + (DAY + HOUR) / 1000);
    let tokens = [
        forger.sign(&forger.claims_with("nbf", json!(now - 60))),
        forger.sign(&forger.claims_with("nbf", json!(now + HOUR / 1000))),
        forger.sign(&from_tomorrow),
    ];

    let [control, not_yet, future] = [
        app.get("/v1/bookings", Some(&tokens[0])).await,
        app.get("/v1/bookings", Some(&tokens[1])).await,
        app.get("/v1/bookings", Some(&tokens[2])).await,
    ];

    control.expect(200, "a token valid since a minute ago");
    not_yet.problem(401, "unauthorized");
    future.problem(401, "unauthorized");
    app.stop().await;
}

/// Asserts the headers every answer carries.
#[track_caller]
fn assert_hardened(r: &Resp, what: &str) {
    let h = |n: &str| r.header(n).unwrap_or_default().to_ascii_lowercase();
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("x-frame-options"), "deny", "{what}");
    assert!(
        h("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}: {:?}",
        h("content-security-policy")
    );
    assert!(h("cache-control").contains("no-store"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_and_the_docs_load_nothing_third_party() {
    let app = spawn_app().await;
    let user = app.register_and_login(Role::Customer).await;

    let token = login_with(&app, &user.email, PASSWORD).await;
    let docs = app.get("/docs", None).await;
    let checkout = app.get("/v1/sandbox/checkout/pay_x", None).await;
    let answers = [
        (token, "the token response"),
        (app.get("/healthz", None).await, "healthz"),
        (app.get("/openapi.json", None).await, "the OpenAPI document"),
        (app.get("/nowhere", None).await, "a 404"),
        (
            app.get("/v1/bookings", Some(&user.token)).await,
            "a listing",
        ),
        (app.get("/docs/app.js", None).await, "the docs script"),
    ];

    for (r, what) in &answers {
        assert_hardened(r, what);
    }
    assert_hardened(&docs, "the docs page");
    assert_hardened(&checkout, "the checkout page");
    assert_eq!(answers[0].0.header("pragma"), Some("no-cache"));
    for (page, what) in [(&docs, "docs"), (&checkout, "checkout")] {
        assert!(
            !page.text.contains("src=\"http") && !page.text.contains("src='http"),
            "the {what} page loads a script from elsewhere"
        );
    }
    app.stop().await;
}

/// Reads until the server closes the connection (or `limit` passes);
/// whether it closed in time.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_partial_request_lines_and_slow_headers_are_cut() {
    let app = spawn_app_with(|s| {
        s.http_header_timeout = Duration::from_secs(1);
        s.http_idle_timeout = Duration::from_secs(2);
    })
    .await;
    let bound = Duration::from_secs(8);

    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    let mut partial = TcpStream::connect(app.addr).await.expect("connect");
    partial.write_all(b"GET /healthz HTT").await.expect("write");
    let mut kept = TcpStream::connect(app.addr).await.expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");

    assert!(
        closed_within(&mut silent, bound).await,
        "a silent connection stayed open"
    );
    assert!(
        closed_within(&mut partial, bound).await,
        "a partial request line stayed open"
    );
    assert!(
        closed_within(&mut kept, bound).await,
        "an idle keep-alive connection stayed open"
    );

    // Headers trickling in, a line at a time, keep the connection busy but
    // never finish: the head's deadline cuts it.
    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut cut = false;
    for n in 0..40 {
        if slow
            .write_all(format!("X-Slow-{n}: y\r\n").as_bytes())
            .await
            .is_err()
            || closed_within(&mut slow, Duration::from_millis(200)).await
        {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "slow headers kept the connection open for {:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_more_connections_than_its_cap() {
    let app = spawn_app_with(|s| s.max_connections_per_client = 4).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    // The test's own client may hold a pooled connection already, so count
    // what is served: at most 4, and the next one is closed unanswered.
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..10 {
        let mut c = TcpStream::connect(app.addr).await.expect("connect");
        let _ = c.write_all(request).await;
        let mut status = [0u8; 12];
        let answer = tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut status)).await;
        match answer {
            Ok(Ok(_)) => {
                assert_eq!(&status, b"HTTP/1.1 200");
                held.push(c);
            }
            Ok(Err(_)) => {
                refused = true;
                break;
            }
            Err(_) => panic!("a connection was neither served nor closed within 5 s"),
        }
    }

    assert!(
        refused,
        "{} connections from one client were served",
        held.len()
    );
    assert!(held.len() <= 4, "{} connections served", held.len());
    drop(held);
    // Slots come back once connections close: a bounded poll for a new one
    // being served.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.client.get(app.url("/healthz")).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection served after the others closed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_query_parameter_and_a_float_for_an_integer_are_422_in_the_apis_words() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;

    let repeated = app
        .get("/v1/resources?limit=1&limit=2", Some(&vendor.token))
        .await;
    let mut body = crate::helpers::room(&unique("room"));
    body["price"]["unit_minutes"] = json!(60.5);
    let float = app
        .post("/v1/resources", Some(&vendor.token), None, &body)
        .await;

    repeated.problem(422, "validation_failed");
    assert_eq!(repeated.body["errors"][0]["field"], "limit");
    float.problem(422, "validation_failed");
    assert_eq!(float.body["errors"][0]["field"], "price.unit_minutes");
    let message = float.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("must be an integer"), "{message}");
    assert!(!float.text.contains("expected"), "{}", float.text);
    // A number without a fraction is an integer, as JSON Schema counts it.
    let mut whole = crate::helpers::room(&unique("room"));
    whole["price"]["unit_minutes"] = json!(60.0);
    app.post("/v1/resources", Some(&vendor.token), None, &whole)
        .await
        .expect(201, "60.0 minutes");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_who_sees_a_booking_also_sees_its_payment_and_nobody_else_does() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let stranger = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let room = app.create_room(&vendor.token).await;
    let start = app.slot_after(24 * 60);
    let b = app
        .book_ok(&customer.token, &room, start, start + HOUR)
        .await;
    let booking = format!("/v1/bookings/{}", b["id"].as_str().expect("id"));
    let payment = format!("/v1/payments/{}", b["payment"]["id"].as_str().expect("id"));

    let seen = app
        .await_get(&payment, &vendor.token, |r| r.status == 200)
        .await;
    let as_booking = app.get(&booking, Some(&vendor.token)).await;

    assert_eq!(seen.body["booking_id"], b["id"]);
    as_booking.expect(200, "the vendor reads the booking");
    app.get(&payment, Some(&stranger.token))
        .await
        .problem(404, "not_found");
    app.get(&booking, Some(&stranger.token))
        .await
        .problem(404, "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_in_the_description_is_problem_json() {
    let app = spawn_app().await;

    let doc: Value = serde_json::from_str(&app.get("/openapi.json", None).await.text)
        .expect("/openapi.json is JSON");

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            for (status, res) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let types: Vec<&String> = res["content"]
                        .as_object()
                        .map(|c| c.keys().collect())
                        .unwrap_or_default();
                    assert_eq!(
                        types,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} error answers described");
    let availability = &doc["paths"]["/v1/resources/{id}/availability"]["get"]["parameters"];
    for name in ["from", "to"] {
        let p = availability
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .expect("the parameter");
        assert_eq!(p["required"], true, "{name} is required");
    }
    app.stop().await;
}
