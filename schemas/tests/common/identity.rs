//! Strategies for the identity commands and events, one per union branch.

use super::*;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use slotstream_domain::identity::*;

/// One strategy per `IdentityCommand` branch, in union order.
pub fn identity_command_branches() -> Vec<BoxedStrategy<IdentityCommand>> {
    vec![
        (
            (command_id(), user_id(), text(), text()),
            (role(), text(), otp(), ms()),
        )
            .prop_map(|((c, u, email, name), (role, hash, otp, at))| {
                IdentityCommand::RegisterUser(RegisterUser {
                    command_id: c,
                    user_id: u,
                    email,
                    name,
                    role,
                    password_hash: hash,
                    otp,
                    requested_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), text(), ms())
            .prop_map(|(c, email, code_hash, at)| {
                IdentityCommand::VerifyEmail(VerifyEmail {
                    command_id: c,
                    email,
                    code_hash,
                    requested_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), otp(), ms())
            .prop_map(|(c, email, otp, at)| {
                IdentityCommand::ResendOtp(ResendOtp {
                    command_id: c,
                    email,
                    otp,
                    requested_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), small_u32(), ms(), otp(), ms())
            .prop_map(|(c, email, failed, until, unlock, at)| {
                IdentityCommand::LockAccount(LockAccount {
                    command_id: c,
                    email,
                    reason: LockReason::FailedLogins,
                    failed_attempts: failed,
                    locked_until: until,
                    unlock,
                    requested_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), text(), ms())
            .prop_map(|(c, email, hash, at)| {
                IdentityCommand::UnlockAccount(UnlockAccount {
                    command_id: c,
                    email,
                    unlock_code_hash: hash,
                    requested_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), user_id(), text(), text()),
            (text(), text(), proptest::collection::vec(text(), 0..4)),
            (
                proptest::option::of(ms()),
                proptest::option::of(small_u32()),
                proptest::option::of(small_u32()),
                ms(),
            ),
        )
            .prop_map(
                |(
                    (c, key_id, owner_id, owner_email, name),
                    (prefix, hash, scopes),
                    (exp, rate, burst, at),
                )| {
                    IdentityCommand::CreateApiKey(CreateApiKey {
                        command_id: c,
                        key_id,
                        owner_id,
                        owner_email,
                        name,
                        prefix,
                        secret_hash: hash,
                        scopes,
                        expires_at: exp,
                        rate_per_second: rate,
                        burst,
                        requested_at: at,
                    })
                },
            )
            .boxed(),
        (command_id(), text(), text(), user_id(), ms())
            .prop_map(|(c, key_id, owner_email, by, at)| {
                IdentityCommand::RevokeApiKey(RevokeApiKey {
                    command_id: c,
                    key_id,
                    owner_email,
                    requested_by: by,
                    requested_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), user_id(), text()),
            (
                text(),
                proptest::collection::vec(text(), 0..3),
                proptest::option::of(text()),
                ms(),
            ),
        )
            .prop_map(
                |((c, webhook_id, owner_id, owner_email), (url, events, description, at))| {
                    IdentityCommand::CreateWebhook(CreateWebhook {
                        command_id: c,
                        webhook_id,
                        owner_id,
                        owner_email,
                        url,
                        events,
                        description,
                        requested_at: at,
                    })
                },
            )
            .boxed(),
        (command_id(), text(), text(), user_id(), ms())
            .prop_map(|(c, webhook_id, owner_email, by, at)| {
                IdentityCommand::DeleteWebhook(DeleteWebhook {
                    command_id: c,
                    webhook_id,
                    owner_email,
                    requested_by: by,
                    requested_at: at,
                })
            })
            .boxed(),
    ]
}

/// One strategy per `IdentityEvent` branch, in union order.
pub fn identity_event_branches() -> Vec<BoxedStrategy<IdentityEvent>> {
    use IdentityEvent as E;
    let verify = prop_oneof![
        Just(VerificationRejectionReason::Invalid),
        Just(VerificationRejectionReason::Expired),
        Just(VerificationRejectionReason::Burned),
        Just(VerificationRejectionReason::NoPendingCode),
    ];
    let resend = prop_oneof![
        Just(ResendRejectionReason::Throttled),
        Just(ResendRejectionReason::NoPendingAccount),
    ];
    let unlock = prop_oneof![
        Just(UnlockRejectionReason::WrongCode),
        Just(UnlockRejectionReason::CodeBurned),
        Just(UnlockRejectionReason::NotLocked),
    ];
    let owner = proptest::option::of((user_id(), text()));
    vec![
        (
            (command_id(), user_id(), text(), text()),
            (role(), text(), ms()),
        )
            .prop_map(|((c, u, email, name), (role, hash, at))| {
                E::UserRegistered(UserRegistered {
                    command_id: c,
                    user_id: u,
                    email,
                    name,
                    role,
                    password_hash: hash,
                    registered_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), user_id(), text(), text()),
            (text(), text(), ms(), ms()),
        )
            .prop_map(|((c, u, email, name), (nonce, hash, exp, at))| {
                E::UserOTPGenerated(UserOtpGenerated {
                    command_id: c,
                    user_id: u,
                    email,
                    name,
                    otp_nonce: nonce,
                    code_hash: hash,
                    expires_at: exp,
                    generated_at: at,
                })
            })
            .boxed(),
        (command_id(), user_id(), text(), ms())
            .prop_map(|(c, u, email, at)| {
                E::EmailVerified(EmailVerified {
                    command_id: c,
                    user_id: u,
                    email,
                    verified_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), ms())
            .prop_map(|(c, email, at)| {
                E::RegistrationRejected(RegistrationRejected {
                    command_id: c,
                    email,
                    reason: RegistrationRejectionReason::EmailTaken,
                    rejected_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), verify, small_u32(), ms())
            .prop_map(|(c, email, reason, left, at)| {
                E::VerificationRejected(VerificationRejected {
                    command_id: c,
                    email,
                    reason,
                    attempts_left: left,
                    rejected_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), resend, ms(), ms())
            .prop_map(|(c, email, reason, retry, at)| {
                E::ResendRejected(ResendRejected {
                    command_id: c,
                    email,
                    reason,
                    retry_at: retry,
                    rejected_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), owner, small_u32()),
            (text(), text(), ms(), ms()),
        )
            .prop_map(|((c, email, owner, failed), (nonce, hash, until, at))| {
                let (user_id, name) = owner.unzip();
                E::AccountLocked(AccountLocked {
                    command_id: c,
                    email,
                    user_id,
                    name,
                    reason: LockReason::FailedLogins,
                    failed_attempts: failed,
                    unlock_nonce: nonce,
                    unlock_code_hash: hash,
                    locked_until: until,
                    locked_at: at,
                })
            })
            .boxed(),
        (
            command_id(),
            text(),
            proptest::option::of(user_id()),
            ms(),
            ms(),
        )
            .prop_map(|(c, email, user_id, until, at)| {
                E::AccountUnlocked(AccountUnlocked {
                    command_id: c,
                    email,
                    user_id,
                    locked_until: until,
                    unlocked_at: at,
                })
            })
            .boxed(),
        (command_id(), text(), unlock, small_u32(), ms(), ms())
            .prop_map(|(c, email, reason, left, until, at)| {
                E::UnlockRejected(UnlockRejected {
                    command_id: c,
                    email,
                    reason,
                    attempts_left: left,
                    locked_until: until,
                    rejected_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), user_id(), text(), text()),
            (text(), text(), proptest::collection::vec(text(), 0..4)),
            (
                proptest::option::of(ms()),
                proptest::option::of(small_u32()),
                proptest::option::of(small_u32()),
                ms(),
            ),
        )
            .prop_map(
                |(
                    (c, key_id, owner_id, owner_email, name),
                    (prefix, hash, scopes),
                    (exp, rate, burst, at),
                )| {
                    E::ApiKeyCreated(ApiKeyCreated {
                        command_id: c,
                        key_id,
                        owner_id,
                        owner_email,
                        name,
                        prefix,
                        secret_hash: hash,
                        scopes,
                        expires_at: exp,
                        rate_per_second: rate,
                        burst,
                        created_at: at,
                    })
                },
            )
            .boxed(),
        (command_id(), text(), user_id(), text(), user_id(), ms())
            .prop_map(|(c, key_id, owner_id, owner_email, by, at)| {
                E::ApiKeyRevoked(ApiKeyRevoked {
                    command_id: c,
                    key_id,
                    owner_id,
                    owner_email,
                    revoked_by: by,
                    revoked_at: at,
                })
            })
            .boxed(),
        (
            (command_id(), text(), user_id(), text()),
            (
                text(),
                proptest::collection::vec(text(), 0..3),
                proptest::option::of(text()),
                ms(),
            ),
        )
            .prop_map(
                |((c, webhook_id, owner_id, owner_email), (url, events, description, at))| {
                    E::WebhookCreated(WebhookCreated {
                        command_id: c,
                        webhook_id,
                        owner_id,
                        owner_email,
                        url,
                        events,
                        description,
                        created_at: at,
                    })
                },
            )
            .boxed(),
        (command_id(), text(), user_id(), text(), user_id(), ms())
            .prop_map(|(c, webhook_id, owner_id, owner_email, by, at)| {
                E::WebhookDeleted(WebhookDeleted {
                    command_id: c,
                    webhook_id,
                    owner_id,
                    owner_email,
                    deleted_by: by,
                    deleted_at: at,
                })
            })
            .boxed(),
    ]
}
