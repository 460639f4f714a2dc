//! Commands into and events out of the identity processor (topic keys: the
//! normalized email, so one address has exactly one writer).
//!
//! OTP codes never travel or rest in clear: the gateway and the processor only
//! see `code_hash` (a keyed hash); the notification processor re-derives the
//! code from `otp_nonce` with a secret it shares with the identity side.

use crate::ids::{CommandId, UserId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Books resources.
    Customer,
    /// Owns resources.
    Vendor,
}

/// A fresh one-time code, made by the caller (randomness is an argument).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpIssue {
    /// Random nonce the code is derived from.
    pub nonce: String,
    /// Keyed hash of the six-digit code.
    pub code_hash: String,
}

/// Commands on the identity-commands topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityCommand {
    /// Sign up (again while still unverified: a resend that changes nothing else).
    RegisterUser(RegisterUser),
    /// Prove the email address with a code.
    VerifyEmail(VerifyEmail),
    /// Ask for a new code.
    ResendOtp(ResendOtp),
    /// Lock an address after failed logins (a gateway reached its threshold).
    LockAccount(LockAccount),
    /// Lift a lock with the code emailed to the owner.
    UnlockAccount(UnlockAccount),
    /// Create an API key for a vendor (keyed by the owner's email).
    CreateApiKey(CreateApiKey),
    /// Revoke an API key (keyed by the owner's email).
    RevokeApiKey(RevokeApiKey),
    /// Subscribe a vendor's URL to its events (keyed by the owner's email).
    CreateWebhook(CreateWebhook),
    /// Delete a webhook subscription (keyed by the owner's email).
    DeleteWebhook(DeleteWebhook),
}

/// See [`IdentityCommand::RegisterUser`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterUser {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Id for the user if the email is new.
    pub user_id: UserId,
    /// Normalized (trimmed, lower-cased) email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Requested role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The first code.
    pub otp: OtpIssue,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityCommand::VerifyEmail`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyEmail {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Keyed hash of the submitted code.
    pub code_hash: String,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityCommand::ResendOtp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendOtp {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// The replacement code.
    pub otp: OtpIssue,
    /// When.
    pub requested_at: Millis,
}

/// Why an address is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LockReason {
    /// Consecutive failed logins reached a gateway's threshold.
    FailedLogins,
}

/// See [`IdentityCommand::LockAccount`]. Sent for any address, registered or
/// not, so the answers reveal nothing about which accounts exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockAccount {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Why.
    pub reason: LockReason,
    /// Consecutive failed logins the gateway counted.
    pub failed_attempts: u32,
    /// When the lock lifts by itself (the gateway's clock plus its lock time).
    pub locked_until: Millis,
    /// The unlock code, made by the gateway like a verification code.
    pub unlock: OtpIssue,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityCommand::UnlockAccount`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockAccount {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Keyed hash of the submitted unlock code.
    pub unlock_code_hash: String,
    /// When.
    pub requested_at: Millis,
}

/// Why a registration was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegistrationRejectionReason {
    /// A verified account has this email.
    EmailTaken,
}

/// Why a verification was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VerificationRejectionReason {
    /// Wrong code.
    Invalid,
    /// The code's ten minutes are over.
    Expired,
    /// Five wrong codes burned it; a new one must be requested.
    Burned,
    /// No account, or no outstanding code (already verified).
    NoPendingCode,
}

/// Why a resend was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResendRejectionReason {
    /// Asked again within the throttle window.
    Throttled,
    /// No unverified account has this email.
    NoPendingAccount,
}

/// Events on the identity-events topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityEvent {
    /// An unverified account was created.
    UserRegistered(UserRegistered),
    /// A code was issued (the seed's `UserOTPGenerated`).
    UserOTPGenerated(UserOtpGenerated),
    /// The email is proven.
    EmailVerified(EmailVerified),
    /// A registration was turned down.
    RegistrationRejected(RegistrationRejected),
    /// A wrong, expired or burned code.
    VerificationRejected(VerificationRejected),
    /// A resend was turned down.
    ResendRejected(ResendRejected),
    /// An address was locked after failed logins.
    AccountLocked(AccountLocked),
    /// A lock was lifted with the emailed code.
    AccountUnlocked(AccountUnlocked),
    /// A wrong or burned unlock code, or nothing to unlock.
    UnlockRejected(UnlockRejected),
    /// An API key was created (its secret's hash only, never the secret).
    ApiKeyCreated(ApiKeyCreated),
    /// An API key was revoked; it authenticates nothing any more.
    ApiKeyRevoked(ApiKeyRevoked),
    /// A webhook subscription was created (no secret: it is derived).
    WebhookCreated(WebhookCreated),
    /// A webhook subscription was deleted; nothing more is delivered to it.
    WebhookDeleted(WebhookDeleted),
}

/// See [`IdentityEvent::UserRegistered`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The user.
    pub user_id: UserId,
    /// Normalized email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// When.
    pub registered_at: Millis,
}

/// See [`IdentityEvent::UserOTPGenerated`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOtpGenerated {
    /// The command that caused it (register or resend).
    pub command_id: CommandId,
    /// The user.
    pub user_id: UserId,
    /// Normalized email.
    pub email: String,
    /// Display name, for the email's greeting.
    pub name: String,
    /// Nonce the code derives from.
    pub otp_nonce: String,
    /// Keyed hash of the code (never the code itself).
    pub code_hash: String,
    /// Dead after this instant.
    pub expires_at: Millis,
    /// When.
    pub generated_at: Millis,
}

/// See [`IdentityEvent::EmailVerified`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailVerified {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The user.
    pub user_id: UserId,
    /// Normalized email.
    pub email: String,
    /// When.
    pub verified_at: Millis,
}

/// See [`IdentityEvent::RegistrationRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRejected {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Why.
    pub reason: RegistrationRejectionReason,
    /// When.
    pub rejected_at: Millis,
}

/// See [`IdentityEvent::VerificationRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRejected {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Why.
    pub reason: VerificationRejectionReason,
    /// Wrong tries left on the current code (0 once burned).
    pub attempts_left: u32,
    /// When.
    pub rejected_at: Millis,
}

/// See [`IdentityEvent::ResendRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendRejected {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Why.
    pub reason: ResendRejectionReason,
    /// Earliest instant a resend is allowed (for Retry-After).
    pub retry_at: Millis,
    /// When.
    pub rejected_at: Millis,
}

/// See [`IdentityEvent::AccountLocked`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLocked {
    /// The command that locked it.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// The verified account's user, who is emailed the notice; `None` for an
    /// address without a verified account (locked alike, nobody is emailed).
    pub user_id: Option<UserId>,
    /// That account's display name, for the notice's greeting.
    pub name: Option<String>,
    /// Why.
    pub reason: LockReason,
    /// Consecutive failed logins that led to it.
    pub failed_attempts: u32,
    /// Nonce the unlock code derives from (the notice re-derives the code).
    pub unlock_nonce: String,
    /// Keyed hash of the unlock code (never the code itself).
    pub unlock_code_hash: String,
    /// When the lock lifts by itself.
    pub locked_until: Millis,
    /// When.
    pub locked_at: Millis,
}

/// See [`IdentityEvent::AccountUnlocked`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountUnlocked {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// The verified account's user, if any (as in [`AccountLocked`]).
    pub user_id: Option<UserId>,
    /// The lifted lock's end (which lock it was).
    pub locked_until: Millis,
    /// When.
    pub unlocked_at: Millis,
}

/// Why an unlock was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnlockRejectionReason {
    /// Wrong code.
    WrongCode,
    /// Five wrong codes burned it; the lock lifts with time.
    CodeBurned,
    /// The address is not locked (never was, lifted, or expired).
    NotLocked,
}

/// See [`IdentityEvent::UnlockRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlockRejected {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Normalized email.
    pub email: String,
    /// Why.
    pub reason: UnlockRejectionReason,
    /// Wrong tries left on the unlock code (0 once burned or not locked).
    pub attempts_left: u32,
    /// When the lock lifts by itself (`rejected_at` when not locked).
    pub locked_until: Millis,
    /// When.
    pub rejected_at: Millis,
}

/// See [`IdentityCommand::CreateApiKey`]. Keyed by the owner's normalized
/// email, so the partition that holds the owner's account decides it (and
/// checks the owner is a verified vendor) and every key of one owner has one
/// writer. The gateway draws the id and the secret; only the secret's hash
/// travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateApiKey {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The key's id (the public part of the key, parsed from it at use).
    pub key_id: String,
    /// The vendor who owns it and whom it acts as.
    pub owner_id: UserId,
    /// The owner's normalized email (the topic key).
    pub owner_email: String,
    /// A label the owner chose.
    pub name: String,
    /// The key's recognisable public prefix (`sk_live_<key_id>`).
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key; the key itself is never sent.
    pub secret_hash: String,
    /// What it may do (`bookings:write`, `resources:read`, ...).
    pub scopes: Vec<String>,
    /// When it stops working by itself, if ever.
    pub expires_at: Option<Millis>,
    /// Its own sustained rate, requests per second (`None`: the default).
    pub rate_per_second: Option<u32>,
    /// Its own burst (`None`: the default).
    pub burst: Option<u32>,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityCommand::RevokeApiKey`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeApiKey {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Which key.
    pub key_id: String,
    /// Its owner's normalized email (the topic key).
    pub owner_email: String,
    /// Who asks: only the owner may.
    pub requested_by: UserId,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityEvent::ApiKeyCreated`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyCreated {
    /// The command that created it.
    pub command_id: CommandId,
    /// The key's id.
    pub key_id: String,
    /// Its owner (a vendor).
    pub owner_id: UserId,
    /// The owner's normalized email.
    pub owner_email: String,
    /// The owner's label.
    pub name: String,
    /// The recognisable public prefix.
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub secret_hash: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// When it stops working by itself, if ever.
    pub expires_at: Option<Millis>,
    /// Its own sustained rate (`None`: the gateway's default).
    pub rate_per_second: Option<u32>,
    /// Its own burst (`None`: the gateway's default).
    pub burst: Option<u32>,
    /// When.
    pub created_at: Millis,
}

/// See [`IdentityEvent::ApiKeyRevoked`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRevoked {
    /// The command that revoked it.
    pub command_id: CommandId,
    /// The key's id.
    pub key_id: String,
    /// Its owner.
    pub owner_id: UserId,
    /// The owner's normalized email.
    pub owner_email: String,
    /// Who revoked it.
    pub revoked_by: UserId,
    /// When.
    pub revoked_at: Millis,
}

/// See [`IdentityCommand::CreateWebhook`]. Keyed by the owner's normalized
/// email, as [`CreateApiKey`]: the partition holding the owner's account
/// checks it is a verified vendor. No secret travels: the signing secret is
/// derived from the platform's key and the subscription id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWebhook {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The subscription's id (`wh_…`, drawn by the gateway).
    pub webhook_id: String,
    /// The vendor who subscribes.
    pub owner_id: UserId,
    /// The owner's normalized email (the topic key).
    pub owner_email: String,
    /// Where deliveries are POSTed (checked by the gateway).
    pub url: String,
    /// Event types delivered (`booking.confirmed`, ...; `*` for all).
    pub events: Vec<String>,
    /// The owner's note.
    pub description: Option<String>,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityCommand::DeleteWebhook`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteWebhook {
    /// Idempotency id.
    pub command_id: CommandId,
    /// Which subscription.
    pub webhook_id: String,
    /// Its owner's normalized email (the topic key).
    pub owner_email: String,
    /// Who asks: only the owner may.
    pub requested_by: UserId,
    /// When.
    pub requested_at: Millis,
}

/// See [`IdentityEvent::WebhookCreated`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCreated {
    /// The command that created it.
    pub command_id: CommandId,
    /// The subscription's id.
    pub webhook_id: String,
    /// Its owner (a vendor).
    pub owner_id: UserId,
    /// The owner's normalized email.
    pub owner_email: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types delivered (`*` for all).
    pub events: Vec<String>,
    /// The owner's note.
    pub description: Option<String>,
    /// When.
    pub created_at: Millis,
}

/// See [`IdentityEvent::WebhookDeleted`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDeleted {
    /// The command that deleted it.
    pub command_id: CommandId,
    /// The subscription's id.
    pub webhook_id: String,
    /// Its owner.
    pub owner_id: UserId,
    /// The owner's normalized email.
    pub owner_email: String,
    /// Who deleted it.
    pub deleted_by: UserId,
    /// When.
    pub deleted_at: Millis,
}
