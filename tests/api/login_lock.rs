//! Login locks shared by every gateway (issue 13): the lock is a fact of the
//! address, its verified owner gets exactly one notice per lock with an
//! unlock code, wrong codes burn, the lock lifts with time, and addresses
//! without an account lock and answer alike without any email.
//!
//! A second gateway (its own memory, the same platform) stands for another
//! instance behind the load balancer, or this one after a restart. It counts
//! failures leniently ([`OTHER_LOCK_AFTER`]), so a lock it answers before
//! counting that many can only be the shared one.

use crate::hardening::{fail_until_locked, login_with};
use crate::helpers::outbox::{self, Email};
use crate::helpers::{
    OtherGateway, PASSWORD, PATIENCE, Resp, Role, TestApp, spawn_app_with, unique,
};
use serde_json::{Value, json};
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::topics;
use std::time::{Duration, Instant};

/// The lock time every test here configures, seconds.
const LOCK_SECS: u64 = 15 * 60;
/// Consecutive failures that lock, in these tests.
const LOCK_AFTER: usize = 4;
const WRONG: &str = "not the password at all";
/// The second gateway's own threshold: NIST's hundred, with no back-off
/// before it.
const OTHER_LOCK_AFTER: u32 = 100;

fn other_policy() -> slotstream_gateway::LoginPolicy {
    slotstream_gateway::LoginPolicy {
        free_failures: OTHER_LOCK_AFTER - 1,
        lock_after: OTHER_LOCK_AFTER,
        lock_for: Duration::from_secs(LOCK_SECS),
        max_backoff: Duration::from_secs(2),
        client_free_failures: 10_000,
    }
}

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.login_free_failures = 2;
        s.login_lock_after = LOCK_AFTER as u32;
        s.login_lock_for = Duration::from_secs(15 * 60);
        s.login_max_backoff = Duration::from_secs(2);
        s.login_client_free_failures = 1_000;
    })
    .await
}

async fn login_at(app: &TestApp, gw: &OtherGateway, email: &str, password: &str) -> Resp {
    app.post_at(
        gw,
        "/v1/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn unlock_at(app: &TestApp, gw: Option<&OtherGateway>, email: &str, code: &str) -> Resp {
    let body = json!({"email": email, "code": code});
    match gw {
        Some(gw) => app.post_at(gw, "/v1/auth/unlock", &body).await,
        None => app.post("/v1/auth/unlock", None, None, &body).await,
    }
}

fn retry_after(r: &Resp) -> u64 {
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds on {} {}", r.status, r.text))
}

/// Asserts the locked answer: 429 `rate_limited`, saying so, with a
/// Retry-After within the lock.
#[track_caller]
fn assert_locked(r: &Resp) {
    r.problem(429, "rate_limited");
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("locked"), "{}", r.text);
    assert!((1..=LOCK_SECS).contains(&retry_after(r)), "{}", r.text);
}

/// Bounded poll of wrong-password logins at `gw` until it refuses the
/// address as locked (its view caught up). The wrong tries it makes on the
/// way count at `gw` only; fewer than its own threshold, so the refusal is
/// the shared lock's.
async fn await_locked_at(app: &TestApp, gw: &OtherGateway, email: &str) -> Resp {
    let deadline = Instant::now() + PATIENCE;
    let mut tries = 0;
    loop {
        let r = login_at(app, gw, email, WRONG).await;
        if r.status == 429 {
            assert!(
                tries < OTHER_LOCK_AFTER - 1,
                "{tries} failures counted there"
            );
            return r;
        }
        r.problem(401, "invalid_credentials");
        tries += 1;
        assert!(
            Instant::now() < deadline && tries < OTHER_LOCK_AFTER - 1,
            "the other gateway did not see the lock of {email} within {tries} tries"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn is_notice(m: &Email) -> bool {
    m.subject.to_ascii_lowercase().contains("locked")
}

/// The lock notices to `email` so far, oldest first.
async fn notices(app: &TestApp, email: &str) -> Vec<Email> {
    app.mails(email)
        .await
        .into_iter()
        .filter(is_notice)
        .collect()
}

/// Bounded poll for a lock notice to `email` whose code is not in `known`;
/// returns the notice and its code.
async fn await_notice(app: &TestApp, email: &str, known: &[String]) -> (Email, String) {
    let mail = app
        .await_email(email, |m| {
            is_notice(m) && outbox::six_digits(&m.body).is_some_and(|c| !known.contains(&c))
        })
        .await;
    let code = outbox::six_digits(&mail.body).expect("a six-digit code in the notice");
    (mail, code)
}

/// A code that is not `code`.
fn other_than(code: &str, n: u32) -> String {
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap_or(0) + 1 + n) % 1_000_000
    );
    assert_ne!(wrong, code);
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_mails_one_notice_holds_at_every_gateway_and_the_emailed_code_lifts_it() {
    let app = app().await;
    let user = app.register_and_login(Role::Customer).await;
    let other = app.second_gateway(other_policy()).await;

    let failures = fail_until_locked(&app, &user.email, LOCK_SECS).await;
    let (notice, code) = await_notice(&app, &user.email, &[]).await;
    let elsewhere = await_locked_at(&app, &other, &user.email).await;
    let right_elsewhere = login_at(&app, &other, &user.email, PASSWORD).await;
    let right_here = login_with(&app, &user.email, PASSWORD).await;

    assert_eq!(failures, LOCK_AFTER);
    let body = notice.body.to_ascii_lowercase();
    for part in [
        "failed to sign in",
        "4 times",
        "locked until",
        "/v1/auth/unlock",
    ] {
        assert!(
            body.contains(part),
            "{part:?} in the notice: {}",
            notice.body
        );
    }
    assert_locked(&elsewhere);
    assert_locked(&right_elsewhere);
    assert_locked(&right_here);

    // The owner unlocks through the other gateway, and gets in there at once
    // and here once the view shows the lift (this gateway's own wait ends
    // with it).
    let unlocked = unlock_at(&app, Some(&other), &user.email, &code).await;
    let body = unlocked.expect(200, "unlock with the emailed code");
    assert_eq!(body["status"], "unlocked");
    assert_eq!(body["email"], user.email.as_str());
    login_at(&app, &other, &user.email, PASSWORD)
        .await
        .expect(200, "the right password at the gateway that unlocked");
    let here = {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let r = login_with(&app, &user.email, PASSWORD).await;
            if r.status != 429 || Instant::now() >= deadline {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    here.expect(200, "the right password where the lock was counted");
    unlock_at(&app, None, &user.email, &code)
        .await
        .problem(400, "otp_invalid");

    // A second lock: one more notice, with a new code. Notices go out in the
    // order of the address's events, so a duplicate of the first would be
    // there by now.
    fail_until_locked(&app, &user.email, LOCK_SECS).await;
    let (_, second) = await_notice(&app, &user.email, std::slice::from_ref(&code)).await;
    assert_ne!(second, code);
    assert_eq!(
        notices(&app, &user.email).await.len(),
        2,
        "one notice per lock"
    );
    other.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_unlock_codes_are_refused_then_burn_it_and_the_lock_lifts_with_time() {
    let app = app().await;
    let user = app.register_and_login(Role::Customer).await;
    let other = app.second_gateway(other_policy()).await;
    fail_until_locked(&app, &user.email, LOCK_SECS).await;
    let (_, code) = await_notice(&app, &user.email, &[]).await;
    await_locked_at(&app, &other, &user.email).await;

    let mut wrong = Vec::new();
    for n in 0..5 {
        wrong.push(unlock_at(&app, None, &user.email, &other_than(&code, n)).await);
    }
    let burned = unlock_at(&app, None, &user.email, &code).await;
    let still = login_with(&app, &user.email, PASSWORD).await;

    for r in &wrong {
        r.problem(400, "otp_invalid");
    }
    burned.problem(429, "rate_limited");
    assert!(
        burned.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("burned"),
        "{}",
        burned.text
    );
    assert!((1..=LOCK_SECS).contains(&retry_after(&burned)));
    assert_locked(&still);

    // The lock's end lifts it at every gateway, without a code.
    app.advance(Duration::from_secs(LOCK_SECS));
    login_with(&app, &user.email, PASSWORD)
        .await
        .expect(200, "the lock lifts with time here");
    login_at(&app, &other, &user.email, PASSWORD)
        .await
        .expect(200, "and at the other gateway");
    unlock_at(&app, None, &user.email, &code)
        .await
        .problem(400, "otp_invalid");
    other.stop().await;
    app.stop().await;
}

/// A fresh address without an account whose identity events share a
/// partition with `email`'s, so that `email`'s later notice proves the
/// notification processor has handled everything before it for that one.
fn stranger_beside(email: &str) -> String {
    let partitions = topics::IDENTITY_EVENTS.partitions;
    let target = partition_for(email.as_bytes(), partitions);
    (0..1_000)
        .map(|_| format!("{}@example.com", unique("stranger")))
        .find(|s| partition_for(s.as_bytes(), partitions) == target)
        .expect("an address on the same partition")
}

/// What a client compares of two answers: status and body (Retry-After
/// depends on when each lock began).
fn problem_of(r: &Resp) -> (u16, Value) {
    (r.status, r.body.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_addresses_lock_and_answer_like_accounts_and_nobody_is_emailed() {
    let app = app().await;
    let user = app.register_and_login(Role::Customer).await;
    let stranger = stranger_beside(&user.email);
    let other = app.second_gateway(other_policy()).await;

    let unknown_failures = fail_until_locked(&app, &stranger, LOCK_SECS).await;
    let known_failures = fail_until_locked(&app, &user.email, LOCK_SECS).await;
    let locked_unknown = login_with(&app, &stranger, PASSWORD).await;
    let locked_known = login_with(&app, &user.email, PASSWORD).await;
    let unknown_elsewhere = await_locked_at(&app, &other, &stranger).await;
    let known_elsewhere = await_locked_at(&app, &other, &user.email).await;
    let (_, code) = await_notice(&app, &user.email, &[]).await;
    let wrong = other_than(&code, 0);
    let mut unlocks = Vec::new();
    for _ in 0..6 {
        let known = unlock_at(&app, None, &user.email, &wrong).await;
        let unknown = unlock_at(&app, None, &stranger, &wrong).await;
        unlocks.push((known, unknown));
    }

    assert_eq!(unknown_failures, known_failures);
    for (known, unknown) in [
        (&locked_known, &locked_unknown),
        (&known_elsewhere, &unknown_elsewhere),
    ] {
        assert_locked(known);
        assert_locked(unknown);
        assert_eq!(problem_of(known), problem_of(unknown));
    }
    for (n, (known, unknown)) in unlocks.iter().enumerate() {
        let expected = if n < 5 { 400 } else { 429 };
        assert_eq!(known.status, expected, "try {n}: {}", known.text);
        assert_eq!(problem_of(known), problem_of(unknown), "try {n}");
    }
    // The stranger's lock came first on the same partition, and the
    // account's notice is out: the stranger's was handled, without email.
    assert!(
        app.mails(&stranger).await.is_empty(),
        "an address without an account got email"
    );
    other.stop().await;
    app.stop().await;
}
