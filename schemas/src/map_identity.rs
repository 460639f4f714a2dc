//! Identity commands and events <-> their Avro records (the login-lock
//! records are declared in `map_lock.rs`, the API-key and webhook ones in `map_keys.rs`). Declarations: see `declare.rs`.

use crate::declare::{avro_record, avro_union};
use slotstream_domain::identity::{
    EmailVerified, IdentityCommand, IdentityEvent, RegisterUser, RegistrationRejected, ResendOtp,
    ResendRejected, UserOtpGenerated, UserRegistered, VerificationRejected, VerifyEmail,
};

avro_union!(IdentityCommand {
    RegisterUser,
    VerifyEmail,
    ResendOtp,
    LockAccount,
    UnlockAccount,
    CreateApiKey,
    RevokeApiKey,
    CreateWebhook,
    DeleteWebhook,
});

avro_union!(IdentityEvent {
    UserRegistered,
    UserOTPGenerated,
    EmailVerified,
    RegistrationRejected,
    VerificationRejected,
    ResendRejected,
    AccountLocked,
    AccountUnlocked,
    UnlockRejected,
    ApiKeyCreated,
    ApiKeyRevoked,
    WebhookCreated,
    WebhookDeleted,
});

avro_record!(RegisterUser {
    command_id: Str,
    user_id: Str,
    email: Str,
    name: Str,
    role: Enum,
    password_hash: Str,
    otp: Record,
    requested_at: TimestampMillis,
});

avro_record!(VerifyEmail {
    command_id: Str,
    email: Str,
    code_hash: Str,
    requested_at: TimestampMillis,
});

avro_record!(ResendOtp {
    command_id: Str,
    email: Str,
    otp: Record,
    requested_at: TimestampMillis,
});

avro_record!(UserRegistered {
    command_id: Str,
    user_id: Str,
    email: Str,
    name: Str,
    role: Enum,
    password_hash: Str,
    registered_at: TimestampMillis,
});

avro_record!(UserOtpGenerated as "UserOTPGenerated" {
    command_id: Str,
    user_id: Str,
    email: Str,
    name: Str,
    otp_nonce: Str,
    code_hash: Str,
    expires_at: TimestampMillis,
    generated_at: TimestampMillis,
});

avro_record!(EmailVerified {
    command_id: Str,
    user_id: Str,
    email: Str,
    verified_at: TimestampMillis,
});

avro_record!(RegistrationRejected {
    command_id: Str,
    email: Str,
    reason: Enum,
    rejected_at: TimestampMillis,
});

avro_record!(VerificationRejected {
    command_id: Str,
    email: Str,
    reason: Enum,
    attempts_left: Int,
    rejected_at: TimestampMillis,
});

avro_record!(ResendRejected {
    command_id: Str,
    email: Str,
    reason: Enum,
    retry_at: TimestampMillis,
    rejected_at: TimestampMillis,
});
