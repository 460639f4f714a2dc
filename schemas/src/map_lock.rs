//! The login-lock records <-> Avro: `LockAccount`, `UnlockAccount`,
//! `AccountLocked`, `AccountUnlocked`, `UnlockRejected` and their enums.
//! Their union branches are declared with the other identity records in
//! `map_identity.rs`.

use crate::codec::CodecError;
use crate::fields::{Avro, avro_enum, field, int, opt_string, record, string, timestamp};
use apache_avro::types::Value;
use slotstream_domain::identity::{
    AccountLocked, AccountUnlocked, LockAccount, LockReason, UnlockAccount, UnlockRejected,
    UnlockRejectionReason,
};
use slotstream_domain::{CommandId, UserId};

avro_enum!(LockReason, "LockReason" {
    FailedLogins = 0 => "FAILED_LOGINS",
});

avro_enum!(UnlockRejectionReason, "UnlockRejectionReason" {
    WrongCode = 0 => "WRONG_CODE",
    CodeBurned = 1 => "CODE_BURNED",
    NotLocked = 2 => "NOT_LOCKED",
});

impl Avro for LockAccount {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("reason", self.reason.to_value()),
            field("failed_attempts", int(self.failed_attempts)),
            field("locked_until", timestamp(self.locked_until)),
            field("unlock", self.unlock.to_value()),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("LockAccount", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                reason: f.nested("reason")?,
                failed_attempts: f.u32("failed_attempts")?,
                locked_until: f.timestamp("locked_until")?,
                unlock: f.nested("unlock")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for UnlockAccount {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("unlock_code_hash", string(&self.unlock_code_hash)),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("UnlockAccount", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                unlock_code_hash: f.string("unlock_code_hash")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for AccountLocked {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field(
                "user_id",
                opt_string(self.user_id.as_ref().map(UserId::as_str)),
            ),
            field("name", opt_string(self.name.as_deref())),
            field("reason", self.reason.to_value()),
            field("failed_attempts", int(self.failed_attempts)),
            field("unlock_nonce", string(&self.unlock_nonce)),
            field("unlock_code_hash", string(&self.unlock_code_hash)),
            field("locked_until", timestamp(self.locked_until)),
            field("locked_at", timestamp(self.locked_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("AccountLocked", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                user_id: f.opt_string("user_id")?.map(UserId),
                name: f.opt_string("name")?,
                reason: f.nested("reason")?,
                failed_attempts: f.u32("failed_attempts")?,
                unlock_nonce: f.string("unlock_nonce")?,
                unlock_code_hash: f.string("unlock_code_hash")?,
                locked_until: f.timestamp("locked_until")?,
                locked_at: f.timestamp("locked_at")?,
            })
        })
    }
}

impl Avro for AccountUnlocked {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field(
                "user_id",
                opt_string(self.user_id.as_ref().map(UserId::as_str)),
            ),
            field("locked_until", timestamp(self.locked_until)),
            field("unlocked_at", timestamp(self.unlocked_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("AccountUnlocked", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                user_id: f.opt_string("user_id")?.map(UserId),
                locked_until: f.timestamp("locked_until")?,
                unlocked_at: f.timestamp("unlocked_at")?,
            })
        })
    }
}

impl Avro for UnlockRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("reason", self.reason.to_value()),
            field("attempts_left", int(self.attempts_left)),
            field("locked_until", timestamp(self.locked_until)),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("UnlockRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                reason: f.nested("reason")?,
                attempts_left: f.u32("attempts_left")?,
                locked_until: f.timestamp("locked_until")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}
