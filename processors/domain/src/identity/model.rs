//! The account record and the identity processor's configuration.

use super::messages::{
    AccountLocked, ApiKeyCreated, ApiKeyRevoked, Role, WebhookCreated, WebhookDeleted,
};
use crate::ids::UserId;
use crate::time::{MINUTE, Millis};
use serde::{Deserialize, Serialize};

/// How codes behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityConfig {
    /// How long a code lives.
    pub otp_ttl: Millis,
    /// Wrong tries before a code (verification or unlock) is burned.
    pub max_attempts: u32,
    /// Shortest time between two codes for one account.
    pub resend_interval: Millis,
}

impl Default for IdentityConfig {
    /// Ten minutes, five tries, one resend a minute.
    fn default() -> Self {
        Self {
            otp_ttl: 10 * MINUTE,
            max_attempts: 5,
            resend_interval: MINUTE,
        }
    }
}

/// The outstanding one-time code of an unverified account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Otp {
    /// Nonce the code derives from (the mailer re-derives the code).
    pub nonce: String,
    /// Keyed hash of the code; the code itself is never stored.
    pub code_hash: String,
    /// Dead at and after this instant.
    pub expires_at: Millis,
    /// Wrong tries left; 0 means burned.
    pub attempts_left: u32,
    /// When it was issued (resend throttle).
    pub issued_at: Millis,
}

/// One account, keyed by its normalized email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Its user id (kept across re-registrations while unverified).
    pub user_id: UserId,
    /// Normalized email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// True once the email is proven.
    pub verified: bool,
    /// The outstanding code, while unverified.
    pub otp: Option<Otp>,
    /// When it was first registered.
    pub created_at: Millis,
}

/// A lock on an address after failed logins, registered or not (so locks
/// reveal nothing about which accounts exist). It lifts by itself at
/// `locked.locked_until`, or with the emailed unlock code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginLock {
    /// The event that locked it; a lock request while it holds is answered
    /// with it, so a lock is announced (and its owner emailed) once.
    pub locked: AccountLocked,
    /// Wrong unlock codes left; 0 means burned.
    pub attempts_left: u32,
}

/// An API key as the identity side keeps it: the event that created it and,
/// once revoked, the one that revoked it (a repeated revocation answers with
/// it). Keys stay for as long as accounts do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// How it was created.
    pub created: ApiKeyCreated,
    /// How it was revoked, if it was.
    pub revoked: Option<ApiKeyRevoked>,
}

/// A webhook subscription as the identity side keeps it: the event that
/// created it and, once deleted, the one that deleted it (a repeated
/// deletion answers with it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// How it was created.
    pub created: WebhookCreated,
    /// How it was deleted, if it was.
    pub deleted: Option<WebhookDeleted>,
}
