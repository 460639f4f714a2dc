//! The login-lock records <-> Avro: `LockAccount`, `UnlockAccount`,
//! `AccountLocked`, `AccountUnlocked`, `UnlockRejected` and their enums.
//! Their union branches are declared with the other identity records in
//! `map_identity.rs`. Declarations: see `declare.rs`.

use crate::declare::{avro_enum, avro_record};
use slotstream_domain::identity::{
    AccountLocked, AccountUnlocked, LockAccount, LockReason, UnlockAccount, UnlockRejected,
    UnlockRejectionReason,
};

avro_enum!(LockReason {
    FailedLogins => "FAILED_LOGINS",
});

avro_enum!(UnlockRejectionReason {
    WrongCode => "WRONG_CODE",
    CodeBurned => "CODE_BURNED",
    NotLocked => "NOT_LOCKED",
});

avro_record!(LockAccount {
    command_id: Str,
    email: Str,
    reason: Enum,
    failed_attempts: Int,
    locked_until: TimestampMillis,
    unlock: Record,
    requested_at: TimestampMillis,
});

avro_record!(UnlockAccount {
    command_id: Str,
    email: Str,
    unlock_code_hash: Str,
    requested_at: TimestampMillis,
});

avro_record!(AccountLocked {
    command_id: Str,
    email: Str,
    user_id: Nullable<Str>,
    name: Nullable<Str>,
    reason: Enum,
    failed_attempts: Int,
    unlock_nonce: Str,
    unlock_code_hash: Str,
    locked_until: TimestampMillis,
    locked_at: TimestampMillis,
});

avro_record!(AccountUnlocked {
    command_id: Str,
    email: Str,
    user_id: Nullable<Str>,
    locked_until: TimestampMillis,
    unlocked_at: TimestampMillis,
});

avro_record!(UnlockRejected {
    command_id: Str,
    email: Str,
    reason: Enum,
    attempts_left: Int,
    locked_until: TimestampMillis,
    rejected_at: TimestampMillis,
});
