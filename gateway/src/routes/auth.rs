//! `/v1/auth/*`: registration with an emailed code, verification, resend,
//! login, unlock. The identity processor decides (one writer per email); the
//! gateway hashes passwords, derives code hashes and issues tokens, and asks
//! for a login lock when its failed-login count reaches the threshold
//! ([`crate::lockout`]).

use super::{json, pending_decision, unexpected};
use crate::dto::*;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiJson, ClientIp};
use crate::ids;
use crate::lockout::Lockout;
use crate::state::{Answer, AppState};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use slotstream_domain::identity::*;
use slotstream_runtime::otp;
use slotstream_runtime::topics;
use slotstream_runtime::views::{LoginLockView, UserView};
use slotstream_schemas::ReplyPayload;

/// Shortest accepted password, characters.
const MIN_PASSWORD: usize = 10;
/// Longest accepted password, characters (bounds the hashing work).
const MAX_PASSWORD: usize = 1024;
/// Retry-After once a code is burned: the resend throttle window.
const BURNED_RETRY_SECS: u64 = 60;

fn email_field(raw: &str, errors: &mut Vec<FieldError>) -> String {
    normalize_email(raw).unwrap_or_else(|| {
        errors.push(FieldError::new("email", "must be a valid email address"));
        String::new()
    })
}

fn finish(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn new_otp(st: &AppState, email: &str) -> OtpIssue {
    let nonce = otp::new_nonce();
    let code = otp::code_for(st.otp_secret(), &nonce);
    OtpIssue {
        code_hash: otp::hash_code(st.otp_secret(), email, &code),
        nonce,
    }
}

/// A fresh unlock code for `email`, made like a verification code and
/// hashed under its own label.
fn new_unlock(st: &AppState, email: &str) -> OtpIssue {
    let nonce = otp::new_nonce();
    let code = otp::code_for(st.otp_secret(), &nonce);
    OtpIssue {
        code_hash: otp::hash_unlock_code(st.otp_secret(), email, &code),
        nonce,
    }
}

/// Six digits, surrounding whitespace allowed (the schema's pattern).
fn code_field(raw: &str, errors: &mut Vec<FieldError>, what: &str) -> String {
    let code = raw.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new(
            "code",
            format!("must be the six digits from the {what}"),
        ));
    }
    code.to_owned()
}

fn identity_reply(command: &str, p: &ReplyPayload) -> Result<IdentityEvent, ApiError> {
    match p {
        ReplyPayload::Identity(e) => Ok(e.clone()),
        other => Err(unexpected(command, other)),
    }
}

/// Create an account; a 6-digit verification code is emailed.
///
/// Registering an address that awaits verification again changes nothing
/// about its account (the first password, name and role stand; the live code
/// keeps its tries) and answers the same 202: a new code is emailed, as by
/// `POST /v1/auth/resend`, unless one went out within the last 60 seconds.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, description = "Registered; verify with the emailed code", body = RegisterResponse),
        (status = 409, description = "`email_taken`: a verified account has this email", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn register(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let email = email_field(&body.email, &mut errors);
    let chars = body.password.chars().count();
    if chars < MIN_PASSWORD {
        errors.push(FieldError::new(
            "password",
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    } else if chars > MAX_PASSWORD {
        errors.push(FieldError::new(
            "password",
            format!("must be at most {MAX_PASSWORD} characters"),
        ));
    }
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    finish(errors)?;
    let role = match body.role {
        RoleDto::Customer => Role::Customer,
        RoleDto::Vendor => Role::Vendor,
    };
    let password_hash = st.passwords.hash(body.password).await?;
    let proposed = ids::new_user_id();
    let command_id = ids::fresh_command_id();
    let cmd = IdentityCommand::RegisterUser(RegisterUser {
        command_id: command_id.clone(),
        user_id: proposed.clone(),
        email: email.clone(),
        name,
        role,
        password_hash,
        otp: new_otp(&st, &email),
        requested_at: st.now(),
    });
    let answer = st
        .ask(
            "register_user",
            topics::IDENTITY_COMMANDS,
            &email,
            &command_id,
            cmd,
        )
        .await?;
    let user_id = match answer {
        Answer::Pending => proposed,
        Answer::Replied(p, _) => match identity_reply("register_user", &p)? {
            IdentityEvent::UserRegistered(e) => {
                st.metrics.decision("register_user", "registered");
                st.recent
                    .users
                    .put(e.email.clone(), UserView::registered(&e), st.now());
                e.user_id
            }
            // The address awaits verification already: its account is left as
            // it is (a code was sent again unless one went out within the
            // resend interval), and the answer is the same 202 as a first
            // registration, so it neither replaces credentials nor reveals
            // that the address was registered.
            IdentityEvent::UserOTPGenerated(e) => {
                st.metrics.decision("register_user", "pending_again");
                e.user_id
            }
            IdentityEvent::ResendRejected(_) => {
                st.metrics.decision("register_user", "pending_again");
                st.user(&email).await?.map_or(proposed, |u| u.user_id)
            }
            IdentityEvent::RegistrationRejected(_) => {
                st.metrics.decision("register_user", "email_taken");
                return Err(ApiError::conflict(
                    "email_taken",
                    "a verified account already uses this email; log in or use another address",
                ));
            }
            _ => return Err(unexpected("register_user", &p)),
        },
    };
    Ok(json(
        StatusCode::ACCEPTED,
        &RegisterResponse {
            user_id: user_id.to_string(),
            email,
            status: "pending_verification",
        },
    ))
}

/// Prove the email address with the emailed code.
#[utoipa::path(post, path = "/v1/auth/verify", tag = "auth", request_body = VerifyRequest,
    responses(
        (status = 200, description = "Verified", body = VerifyResponse),
        (status = 202, description = "`pending_decision`: no decision within the wait; retry after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 400, description = "`otp_invalid`: wrong code (or nothing to verify)", body = Problem),
        (status = 410, description = "`otp_expired`: request a new code", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`: 5 wrong codes burned this one; request a new code", body = Problem),
    ))]
pub async fn verify(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let email = email_field(&body.email, &mut errors);
    let code = code_field(&body.code, &mut errors, "email");
    finish(errors)?;
    let command_id = ids::fresh_command_id();
    let cmd = IdentityCommand::VerifyEmail(VerifyEmail {
        command_id: command_id.clone(),
        email: email.clone(),
        code_hash: otp::hash_code(st.otp_secret(), &email, &code),
        requested_at: st.now(),
    });
    let p = match st
        .ask(
            "verify_email",
            topics::IDENTITY_COMMANDS,
            &email,
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => {
            return Ok(pending_decision(email));
        }
        Answer::Replied(p, _) => p,
    };
    match identity_reply("verify_email", &p)? {
        IdentityEvent::EmailVerified(e) => {
            st.metrics.decision("verify_email", "verified");
            let now = st.now();
            let cached = st.recent.users.get(&e.email, now);
            let known = match cached {
                Some(u) => Some(u),
                None => st.views.user_by_email(&e.email).await.ok().flatten(),
            };
            if let Some(mut u) = known {
                u.verified = true;
                st.recent.users.put(e.email.clone(), u, now);
            }
            Ok(json(
                StatusCode::OK,
                &VerifyResponse {
                    user_id: e.user_id.to_string(),
                    status: "verified",
                },
            ))
        }
        IdentityEvent::VerificationRejected(r) => {
            let (status, code, detail) = match r.reason {
                VerificationRejectionReason::Expired => (
                    StatusCode::GONE,
                    "otp_expired",
                    "the code expired; request a new one at POST /v1/auth/resend".to_owned(),
                ),
                VerificationRejectionReason::Burned => {
                    st.metrics.decision("verify_email", "burned");
                    return Err(ApiError::rate_limited(
                        BURNED_RETRY_SECS,
                        "too many wrong codes: this code is burned; request a new one at POST /v1/auth/resend",
                    ));
                }
                VerificationRejectionReason::Invalid => (
                    StatusCode::BAD_REQUEST,
                    "otp_invalid",
                    format!("the code is wrong; {} attempts left", r.attempts_left),
                ),
                VerificationRejectionReason::NoPendingCode => (
                    StatusCode::BAD_REQUEST,
                    "otp_invalid",
                    "the code is wrong, or this address has nothing to verify".to_owned(),
                ),
            };
            st.metrics.decision("verify_email", code);
            Err(ApiError::new(status, code, detail))
        }
        _ => Err(unexpected("verify_email", &p)),
    }
}

/// Email a new code (the old one stops working).
#[utoipa::path(post, path = "/v1/auth/resend", tag = "auth", request_body = ResendRequest,
    responses(
        (status = 202, description = "A new code was emailed if this address awaits verification", body = ResendResponse),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`: asked again within 60 s; see Retry-After", body = Problem),
    ))]
pub async fn resend(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<ResendRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let email = email_field(&body.email, &mut errors);
    finish(errors)?;
    let command_id = ids::fresh_command_id();
    let cmd = IdentityCommand::ResendOtp(ResendOtp {
        command_id: command_id.clone(),
        email: email.clone(),
        otp: new_otp(&st, &email),
        requested_at: st.now(),
    });
    let answer = st
        .ask(
            "resend_otp",
            topics::IDENTITY_COMMANDS,
            &email,
            &command_id,
            cmd,
        )
        .await?;
    if let Answer::Replied(p, _) = answer {
        match identity_reply("resend_otp", &p)? {
            IdentityEvent::ResendRejected(r) if r.reason == ResendRejectionReason::Throttled => {
                st.metrics.decision("resend_otp", "throttled");
                let ms = r.retry_at.saturating_sub(st.now()).max(0);
                let secs = u64::try_from(ms).unwrap_or(0).div_ceil(1000);
                return Err(ApiError::rate_limited(
                    secs,
                    "a code was sent less than a minute ago; wait for Retry-After seconds",
                ));
            }
            // No pending account: answered like a success, so the endpoint
            // cannot be used to probe which addresses are registered.
            IdentityEvent::ResendRejected(_) | IdentityEvent::UserOTPGenerated(_) => {
                st.metrics.decision("resend_otp", "sent");
            }
            _ => return Err(unexpected("resend_otp", &p)),
        }
    }
    Ok(json(
        StatusCode::ACCEPTED,
        &ResendResponse {
            email,
            status: "pending_verification",
        },
    ))
}

/// Exchange email and password for an access token.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 403, description = "`email_not_verified`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`: too many auth calls from this address, or failed logins: \
            after 10 consecutive failures an account's next try waits (1 s, doubling, at most 60 s), the 50th \
            locks it for 15 minutes (each later failure locks it again); a client address failing across accounts \
            backs off likewise. A lock holds at every gateway; the owner of a verified account is emailed a \
            code that lifts it at once (`POST /v1/auth/unlock`); the answers are the same for addresses without \
            an account. A successful login clears the account's count. See Retry-After", body = Problem),
    ))]
pub async fn login(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let email = email_field(&body.email, &mut errors);
    finish(errors)?;
    let now = st.now();
    let shared = st.login_lock(&email).await?;
    if let Some(lock) = shared.as_ref().filter(|l| l.holds_at(now)) {
        st.metrics.decision("login", "locked");
        return Err(Lockout::locked_answer(lock.locked_until - now));
    }
    let attempt = st
        .lockout
        .attempt(&email, client, now, shared.as_ref())
        .inspect_err(|_| {
            st.metrics.decision("login", "backed_off");
        })?;
    let user = st.user(&email).await?;
    let ok = st
        .passwords
        .verify(
            body.password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let user = match user {
        Some(u) if ok => {
            st.lockout.succeeded(attempt);
            u
        }
        _ => {
            if attempt.locks {
                lock_account(&st, &email, attempt.failures).await?;
            }
            st.metrics.decision("login", "invalid_credentials");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the email or the password is wrong",
            ));
        }
    };
    if !user.verified {
        st.metrics.decision("login", "email_not_verified");
        return Err(
            ApiError::forbidden("verify your email first (POST /v1/auth/verify)")
                .with_code("email_not_verified"),
        );
    }
    let token = st
        .tokens
        .issue(&user.user_id, user.role, &user.email, st.now())?;
    st.metrics.decision("login", "ok");
    let mut res = json(
        StatusCode::OK,
        &TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: st.tokens.ttl().as_secs(),
        },
    );
    // RFC 6749 §5.1: a response carrying a token is never stored by a cache,
    // whatever layer sits in front of this gateway.
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// Asks the identity processor to lock `email` after `failures` consecutive
/// failed logins (whether or not it has an account: the same path, the same
/// answer), and holds this gateway's own wait until the lock's end. A lock
/// that already holds is answered with itself: one lock, one notice.
async fn lock_account(st: &AppState, email: &str, failures: u32) -> Result<(), ApiError> {
    let now = st.now();
    let lock_for = st.lockout.policy().lock_for.as_millis();
    let proposed = now.saturating_add(i64::try_from(lock_for).unwrap_or(i64::MAX));
    let command_id = ids::fresh_command_id();
    let cmd = IdentityCommand::LockAccount(LockAccount {
        command_id: command_id.clone(),
        email: email.to_owned(),
        reason: LockReason::FailedLogins,
        failed_attempts: failures,
        locked_until: proposed,
        unlock: new_unlock(st, email),
        requested_at: now,
    });
    let answer = st
        .ask(
            "lock_account",
            topics::IDENTITY_COMMANDS,
            email,
            &command_id,
            cmd,
        )
        .await?;
    let until = match answer {
        // Decided later: the proposed end is the likeliest one.
        Answer::Pending => proposed,
        Answer::Replied(p, _) => match identity_reply("lock_account", &p)? {
            IdentityEvent::AccountLocked(e) => {
                st.metrics.decision("lock_account", "locked");
                let row = LoginLockView {
                    email: e.email.clone(),
                    locked_until: e.locked_until,
                    unlocked_at: None,
                };
                st.recent.locks.put(e.email, row, now);
                e.locked_until
            }
            _ => return Err(unexpected("lock_account", &p)),
        },
    };
    st.lockout.locked(email, until);
    tracing::warn!(failures, "login: account locked after consecutive failures");
    Ok(())
}

/// Lift a login lock with the code emailed to the account's owner.
///
/// A wrong code and an address that is not locked get the same answer, for
/// every address, registered or not. Five wrong codes burn the lock's code;
/// the lock then lifts by itself at its end.
#[utoipa::path(post, path = "/v1/auth/unlock", tag = "auth", request_body = UnlockRequest,
    responses(
        (status = 200, description = "Unlocked: log in with the password", body = UnlockResponse),
        (status = 202, description = "`pending_decision`: no decision within the wait; retry after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 400, description = "`otp_invalid`: the code is wrong, or this address is not locked", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`: 5 wrong codes burned this lock's code (the lock lifts by \
            itself after Retry-After), or too many auth calls from this address", body = Problem),
    ))]
pub async fn unlock(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<UnlockRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let email = email_field(&body.email, &mut errors);
    let code = code_field(&body.code, &mut errors, "lock notice");
    finish(errors)?;
    let command_id = ids::fresh_command_id();
    let now = st.now();
    let cmd = IdentityCommand::UnlockAccount(UnlockAccount {
        command_id: command_id.clone(),
        email: email.clone(),
        unlock_code_hash: otp::hash_unlock_code(st.otp_secret(), &email, &code),
        requested_at: now,
    });
    let p = match st
        .ask(
            "unlock_account",
            topics::IDENTITY_COMMANDS,
            &email,
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => return Ok(pending_decision(email)),
        Answer::Replied(p, _) => p,
    };
    match identity_reply("unlock_account", &p)? {
        IdentityEvent::AccountUnlocked(e) => {
            st.metrics.decision("unlock_account", "unlocked");
            st.lockout.unlocked(&e.email);
            let row = LoginLockView {
                email: e.email.clone(),
                locked_until: e.locked_until,
                unlocked_at: Some(e.unlocked_at),
            };
            st.recent.locks.put(e.email.clone(), row, now);
            Ok(json(
                StatusCode::OK,
                &UnlockResponse {
                    email: e.email,
                    status: "unlocked",
                },
            ))
        }
        IdentityEvent::UnlockRejected(r) if r.reason == UnlockRejectionReason::CodeBurned => {
            st.metrics.decision("unlock_account", "burned");
            let ms = r.locked_until.saturating_sub(st.now()).max(1);
            let secs = u64::try_from(ms).unwrap_or(1).div_ceil(1000);
            Err(ApiError::rate_limited(
                secs,
                "too many wrong codes: this unlock code is burned; the lock lifts by itself after Retry-After",
            ))
        }
        IdentityEvent::UnlockRejected(_) => {
            st.metrics.decision("unlock_account", "otp_invalid");
            Err(ApiError::bad_request(
                "otp_invalid",
                "the code is wrong, or this address is not locked",
            ))
        }
        _ => Err(unexpected("unlock_account", &p)),
    }
}
