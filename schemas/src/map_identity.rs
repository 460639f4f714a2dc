//! Identity commands and events <-> their Avro records (the login-lock
//! records' own mappings are in `map_lock.rs`).

use crate::codec::CodecError;
use crate::fields::{Avro, AvroUnion, field, int, mapping, record, string, timestamp};
use apache_avro::types::Value;
use slotstream_domain::identity::{
    EmailVerified, IdentityCommand, IdentityEvent, RegisterUser, RegistrationRejected, ResendOtp,
    ResendRejected, UserOtpGenerated, UserRegistered, VerificationRejected, VerifyEmail,
};
use slotstream_domain::{CommandId, UserId};

impl AvroUnion for IdentityCommand {
    const BRANCHES: u32 = 5;

    fn to_branch(&self) -> (u32, Value) {
        match self {
            Self::RegisterUser(c) => (0, c.to_value()),
            Self::VerifyEmail(c) => (1, c.to_value()),
            Self::ResendOtp(c) => (2, c.to_value()),
            Self::LockAccount(c) => (3, c.to_value()),
            Self::UnlockAccount(c) => (4, c.to_value()),
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        Ok(match index {
            0 => Self::RegisterUser(Avro::from_value(v)?),
            1 => Self::VerifyEmail(Avro::from_value(v)?),
            2 => Self::ResendOtp(Avro::from_value(v)?),
            3 => Self::LockAccount(Avro::from_value(v)?),
            4 => Self::UnlockAccount(Avro::from_value(v)?),
            n => return Err(mapping(format!("IdentityCommand: no branch {n}"))),
        })
    }
}

impl AvroUnion for IdentityEvent {
    const BRANCHES: u32 = 9;

    fn to_branch(&self) -> (u32, Value) {
        match self {
            Self::UserRegistered(e) => (0, e.to_value()),
            Self::UserOTPGenerated(e) => (1, e.to_value()),
            Self::EmailVerified(e) => (2, e.to_value()),
            Self::RegistrationRejected(e) => (3, e.to_value()),
            Self::VerificationRejected(e) => (4, e.to_value()),
            Self::ResendRejected(e) => (5, e.to_value()),
            Self::AccountLocked(e) => (6, e.to_value()),
            Self::AccountUnlocked(e) => (7, e.to_value()),
            Self::UnlockRejected(e) => (8, e.to_value()),
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        Ok(match index {
            0 => Self::UserRegistered(Avro::from_value(v)?),
            1 => Self::UserOTPGenerated(Avro::from_value(v)?),
            2 => Self::EmailVerified(Avro::from_value(v)?),
            3 => Self::RegistrationRejected(Avro::from_value(v)?),
            4 => Self::VerificationRejected(Avro::from_value(v)?),
            5 => Self::ResendRejected(Avro::from_value(v)?),
            6 => Self::AccountLocked(Avro::from_value(v)?),
            7 => Self::AccountUnlocked(Avro::from_value(v)?),
            8 => Self::UnlockRejected(Avro::from_value(v)?),
            n => return Err(mapping(format!("IdentityEvent: no branch {n}"))),
        })
    }
}

impl Avro for RegisterUser {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("email", string(&self.email)),
            field("name", string(&self.name)),
            field("role", self.role.to_value()),
            field("password_hash", string(&self.password_hash)),
            field("otp", self.otp.to_value()),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("RegisterUser", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                user_id: UserId(f.string("user_id")?),
                email: f.string("email")?,
                name: f.string("name")?,
                role: f.nested("role")?,
                password_hash: f.string("password_hash")?,
                otp: f.nested("otp")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for VerifyEmail {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("code_hash", string(&self.code_hash)),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("VerifyEmail", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                code_hash: f.string("code_hash")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for ResendOtp {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("otp", self.otp.to_value()),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("ResendOtp", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                otp: f.nested("otp")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for UserRegistered {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("email", string(&self.email)),
            field("name", string(&self.name)),
            field("role", self.role.to_value()),
            field("password_hash", string(&self.password_hash)),
            field("registered_at", timestamp(self.registered_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("UserRegistered", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                user_id: UserId(f.string("user_id")?),
                email: f.string("email")?,
                name: f.string("name")?,
                role: f.nested("role")?,
                password_hash: f.string("password_hash")?,
                registered_at: f.timestamp("registered_at")?,
            })
        })
    }
}

impl Avro for UserOtpGenerated {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("email", string(&self.email)),
            field("name", string(&self.name)),
            field("otp_nonce", string(&self.otp_nonce)),
            field("code_hash", string(&self.code_hash)),
            field("expires_at", timestamp(self.expires_at)),
            field("generated_at", timestamp(self.generated_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("UserOTPGenerated", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                user_id: UserId(f.string("user_id")?),
                email: f.string("email")?,
                name: f.string("name")?,
                otp_nonce: f.string("otp_nonce")?,
                code_hash: f.string("code_hash")?,
                expires_at: f.timestamp("expires_at")?,
                generated_at: f.timestamp("generated_at")?,
            })
        })
    }
}

impl Avro for EmailVerified {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("email", string(&self.email)),
            field("verified_at", timestamp(self.verified_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("EmailVerified", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                user_id: UserId(f.string("user_id")?),
                email: f.string("email")?,
                verified_at: f.timestamp("verified_at")?,
            })
        })
    }
}

impl Avro for RegistrationRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("reason", self.reason.to_value()),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("RegistrationRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                reason: f.nested("reason")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}

impl Avro for VerificationRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("reason", self.reason.to_value()),
            field("attempts_left", int(self.attempts_left)),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("VerificationRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                reason: f.nested("reason")?,
                attempts_left: f.u32("attempts_left")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}

impl Avro for ResendRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("email", string(&self.email)),
            field("reason", self.reason.to_value()),
            field("retry_at", timestamp(self.retry_at)),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("ResendRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                email: f.string("email")?,
                reason: f.nested("reason")?,
                retry_at: f.timestamp("retry_at")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}
