//! Registration by email + OTP, verification, resend and login.

use crate::helpers::{PASSWORD, Role, spawn_app, unique};
use serde_json::json;
use std::time::Duration;

fn fresh_email() -> String {
    format!("{}@example.com", unique("auth"))
}

#[tokio::test]
async fn registering_answers_pending_verification_and_emails_a_six_digit_code() {
    let app = spawn_app().await;
    let email = fresh_email();

    let r = app.register(&email, PASSWORD, Role::Customer).await;

    let body = r.expect(202, "register");
    assert!(
        body["user_id"].as_str().is_some_and(|s| !s.is_empty()),
        "user_id in {}",
        r.text
    );
    assert_eq!(body["email"], email.as_str());
    assert_eq!(body["status"], "pending_verification");
    let code = app.verification_code(&email, &[]).await;
    assert_eq!(code.len(), 6);
    app.stop().await;
}

#[tokio::test]
async fn a_verified_user_logs_in_and_the_token_opens_the_api() {
    let app = spawn_app().await;
    let email = fresh_email();
    let user_id = app
        .register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register")["user_id"]
        .clone();
    let code = app.verification_code(&email, &[]).await;

    let v = app.verify(&email, &code).await;

    assert_eq!(v.expect(200, "verify")["status"], "verified");
    assert_eq!(v.body["user_id"], user_id);
    let token = app.login(&email).await;
    let login = app
        .post(
            "/v1/auth/login",
            None,
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let body = login.expect(200, "login");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_in"].as_u64().is_some_and(|s| s > 0),
        "expires_in in {}",
        login.text
    );
    app.get("/v1/bookings", Some(&token))
        .await
        .expect(200, "my bookings with the new token");
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_code_is_refused_with_otp_invalid_and_the_right_one_still_works() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    let code = app.verification_code(&email, &[]).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    app.verify(&email, wrong).await.problem(400, "otp_invalid");
    app.verify(&email, &code)
        .await
        .expect(200, "verify with the right code");
    app.stop().await;
}

#[tokio::test]
async fn a_code_older_than_ten_minutes_is_refused_with_otp_expired() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    let code = app.verification_code(&email, &[]).await;

    app.advance(Duration::from_secs(10 * 60 + 1));

    app.verify(&email, &code).await.problem(410, "otp_expired");
    app.stop().await;
}

#[tokio::test]
async fn five_wrong_codes_burn_the_code_so_even_the_right_one_is_rate_limited() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    let code = app.verification_code(&email, &[]).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    for attempt in 1..=5 {
        let r = app.verify(&email, wrong).await;
        assert_eq!(r.status, 400, "wrong code #{attempt}: {}", r.text);
    }
    let r = app.verify(&email, &code).await;

    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some(), "429 without Retry-After");
    app.stop().await;
}

#[tokio::test]
async fn after_a_burned_code_a_newly_requested_code_verifies() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    let old = app.verification_code(&email, &[]).await;
    let wrong = if old == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        app.verify(&email, wrong).await;
    }
    app.advance(Duration::from_secs(61));

    app.post("/v1/auth/resend", None, None, &json!({"email": email}))
        .await
        .expect(202, "resend");
    let new = app
        .verification_code(&email, std::slice::from_ref(&old))
        .await;

    app.verify(&email, &new)
        .await
        .expect(200, "verify with the new code");
    app.stop().await;
}

#[tokio::test]
async fn asking_for_another_code_within_a_minute_is_refused_with_retry_after() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    app.verification_code(&email, &[]).await;

    let r = app
        .post("/v1/auth/resend", None, None, &json!({"email": email}))
        .await;

    r.problem(429, "rate_limited");
    let after: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(
        (1..=60).contains(&after),
        "Retry-After {after} is not within the 60 s throttle"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_resent_code_works_and_the_old_one_no_longer_does() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    let old = app.verification_code(&email, &[]).await;
    app.advance(Duration::from_secs(61));

    app.post("/v1/auth/resend", None, None, &json!({"email": email}))
        .await
        .expect(202, "resend");
    let new = app
        .verification_code(&email, std::slice::from_ref(&old))
        .await;

    app.verify(&email, &old).await.problem(400, "otp_invalid");
    app.verify(&email, &new)
        .await
        .expect(200, "verify with the resent code");
    app.stop().await;
}

#[tokio::test]
async fn logging_in_before_verification_is_refused_with_email_not_verified() {
    let app = spawn_app().await;
    let email = fresh_email();
    app.register(&email, PASSWORD, Role::Customer)
        .await
        .expect(202, "register");
    // The account exists once its code was generated.
    app.verification_code(&email, &[]).await;

    let r = app
        .post(
            "/v1/auth/login",
            None,
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;

    r.problem(403, "email_not_verified");
    assert!(r.body.get("access_token").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_or_unknown_email_is_refused_with_invalid_credentials() {
    let app = spawn_app().await;
    let user = app.register_and_login(Role::Customer).await;

    let wrong = app
        .post(
            "/v1/auth/login",
            None,
            None,
            &json!({"email": user.email, "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/login",
            None,
            None,
            &json!({"email": fresh_email(), "password": PASSWORD}),
        )
        .await;

    wrong.problem(401, "invalid_credentials");
    unknown.problem(401, "invalid_credentials");
    assert_eq!(
        wrong.body["detail"], unknown.body["detail"],
        "the answer must not reveal which emails exist"
    );
    app.stop().await;
}

#[tokio::test]
async fn registering_a_verified_email_again_is_refused_with_email_taken() {
    let app = spawn_app().await;
    let user = app.register_and_login(Role::Customer).await;

    let r = app
        .register(&user.email, "another long password", Role::Vendor)
        .await;

    r.problem(409, "email_taken");
    app.stop().await;
}

#[tokio::test]
async fn a_password_shorter_than_ten_characters_is_refused_with_validation_failed() {
    let app = spawn_app().await;
    let email = fresh_email();

    let r = app.register(&email, "short1234", Role::Customer).await;

    r.problem(422, "validation_failed");
    assert!(
        r.text.contains("password"),
        "the offending field is not named in {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_role_is_refused_with_validation_failed() {
    let app = spawn_app().await;
    let body =
        json!({"email": fresh_email(), "password": PASSWORD, "name": "Eve", "role": "admin"});

    let r = app.post("/v1/auth/register", None, None, &body).await;

    r.problem(422, "validation_failed");
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_email_is_refused_with_validation_failed() {
    let app = spawn_app().await;

    let r = app.register("not-an-email", PASSWORD, Role::Customer).await;

    r.problem(422, "validation_failed");
    assert!(
        r.text.contains("email"),
        "the offending field is not named in {}",
        r.text
    );
    app.stop().await;
}
