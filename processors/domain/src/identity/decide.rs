//! The identity processor's decisions. Nothing here mutates the partition.

use super::messages::*;
use super::model::Account;
use super::partition::IdentityPartition;
use crate::decision::Decision;
use crate::ids::{CommandId, UserId};
use crate::time::Millis;

fn replay(answer: &IdentityEvent) -> Decision<IdentityEvent> {
    Decision::reply_only(answer.clone())
}

/// Compares two hashes in time independent of where they differ.
fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl IdentityPartition {
    /// Decides one command at `now`. A replayed command id gets its original
    /// answer. Then:
    ///
    /// - `RegisterUser`: a verified account has the email: `EmailTaken`; an
    ///   unverified one: decided exactly as a `ResendOtp` (its password, name
    ///   and role are never replaced, its live code keeps its tries, and a new
    ///   code is issued only outside `resend_interval`), so registering again
    ///   can neither take over the pending account nor buy more code guesses;
    ///   else `UserRegistered` and `UserOTPGenerated`, the reply being
    ///   `UserRegistered`.
    /// - `VerifyEmail`, first match wins: no unverified account or no code:
    ///   `NoPendingCode`; no tries left: `Burned`; `now >= expires_at`:
    ///   `Expired`; wrong code: `Invalid` with one try less (the fifth wrong
    ///   code answers `Invalid` with 0 left; any try after it is `Burned`);
    ///   right code: `EmailVerified`.
    /// - `ResendOtp`: no unverified account: `NoPendingAccount`; within
    ///   `resend_interval` of the last code: `Throttled` with `retry_at`; else
    ///   `UserOTPGenerated` (the old code dies, the tries reset).
    /// - `LockAccount`, for any address, registered or not: while a lock
    ///   holds (`now < locked_until`), the answer is that lock's own
    ///   `AccountLocked`, and nothing happens (one lock, one notice, one
    ///   code); else `AccountLocked` until the command's `locked_until`,
    ///   naming the verified account's user and name when there is one (the
    ///   notification processor emails only them).
    /// - `UnlockAccount`, first match wins: no lock holding at `now`:
    ///   `NotLocked`; no tries left: `CodeBurned`; wrong code: `WrongCode`
    ///   with one try less (as verification codes: the fifth wrong one still
    ///   answers `WrongCode` with 0 left); right code: `AccountUnlocked`.
    pub fn decide(&self, cmd: &IdentityCommand, now: Millis) -> Decision<IdentityEvent> {
        let id = match cmd {
            IdentityCommand::RegisterUser(c) => &c.command_id,
            IdentityCommand::VerifyEmail(c) => &c.command_id,
            IdentityCommand::ResendOtp(c) => &c.command_id,
            IdentityCommand::LockAccount(c) => &c.command_id,
            IdentityCommand::UnlockAccount(c) => &c.command_id,
            IdentityCommand::CreateApiKey(c) => &c.command_id,
            IdentityCommand::RevokeApiKey(c) => &c.command_id,
            IdentityCommand::CreateWebhook(c) => &c.command_id,
            IdentityCommand::DeleteWebhook(c) => &c.command_id,
        };
        if let Some(rec) = self.ledger.get(id) {
            return replay(&rec.answer);
        }
        match cmd {
            IdentityCommand::RegisterUser(c) => self.decide_register(c, now),
            IdentityCommand::VerifyEmail(c) => Decision::answer(self.decide_verify(c, now)),
            IdentityCommand::ResendOtp(c) => self.decide_resend(c, now),
            IdentityCommand::LockAccount(c) => self.decide_lock(c, now),
            IdentityCommand::UnlockAccount(c) => Decision::answer(self.decide_unlock(c, now)),
            IdentityCommand::CreateApiKey(c) => self.decide_create_key(c, now),
            IdentityCommand::RevokeApiKey(c) => self.decide_revoke_key(c, now),
            IdentityCommand::CreateWebhook(c) => self.decide_create_webhook(c, now),
            IdentityCommand::DeleteWebhook(c) => self.decide_delete_webhook(c, now),
        }
    }

    /// `CreateApiKey`: `ApiKeyCreated` when the owner is a verified vendor
    /// account of this address with this user id and the key id is new.
    /// Otherwise nothing and no answer, as for a resource registration the
    /// gateway should not have sent: the gateway takes the owner from its
    /// token and draws the id, so neither happens from a genuine request.
    fn decide_create_key(&self, c: &CreateApiKey, now: Millis) -> Decision<IdentityEvent> {
        let owner_ok = self.accounts.get(&c.owner_email).is_some_and(|a| {
            a.verified && a.user_id == c.owner_id && a.role == super::messages::Role::Vendor
        });
        if !owner_ok || self.keys.contains_key(&c.key_id) || c.key_id.is_empty() {
            return Decision::none();
        }
        Decision::answer(IdentityEvent::ApiKeyCreated(ApiKeyCreated {
            command_id: c.command_id.clone(),
            key_id: c.key_id.clone(),
            owner_id: c.owner_id.clone(),
            owner_email: c.owner_email.clone(),
            name: c.name.clone(),
            prefix: c.prefix.clone(),
            secret_hash: c.secret_hash.clone(),
            scopes: c.scopes.clone(),
            expires_at: c.expires_at,
            rate_per_second: c.rate_per_second,
            burst: c.burst,
            created_at: now,
        }))
    }

    /// `RevokeApiKey`: a key of this owner revoked by its owner is
    /// `ApiKeyRevoked`; one already revoked answers with its revocation and
    /// nothing happens. An unknown key, or anyone but the owner: nothing
    /// and no answer (the gateway answers 404 from the view first).
    fn decide_revoke_key(&self, c: &RevokeApiKey, now: Millis) -> Decision<IdentityEvent> {
        let Some(key) = self
            .keys
            .get(&c.key_id)
            .filter(|k| k.created.owner_email == c.owner_email)
        else {
            return Decision::none();
        };
        if key.created.owner_id != c.requested_by {
            return Decision::none();
        }
        if let Some(done) = &key.revoked {
            return Decision::reply_only(IdentityEvent::ApiKeyRevoked(done.clone()));
        }
        Decision::answer(IdentityEvent::ApiKeyRevoked(ApiKeyRevoked {
            command_id: c.command_id.clone(),
            key_id: c.key_id.clone(),
            owner_id: key.created.owner_id.clone(),
            owner_email: c.owner_email.clone(),
            revoked_by: c.requested_by.clone(),
            revoked_at: now,
        }))
    }

    /// `CreateWebhook`: `WebhookCreated` when the owner is a verified vendor
    /// account of this address with this user id and the id is new;
    /// otherwise nothing and no answer (as `CreateApiKey`).
    fn decide_create_webhook(&self, c: &CreateWebhook, now: Millis) -> Decision<IdentityEvent> {
        let owner_ok = self.accounts.get(&c.owner_email).is_some_and(|a| {
            a.verified && a.user_id == c.owner_id && a.role == super::messages::Role::Vendor
        });
        if !owner_ok || self.webhooks.contains_key(&c.webhook_id) || c.webhook_id.is_empty() {
            return Decision::none();
        }
        Decision::answer(IdentityEvent::WebhookCreated(WebhookCreated {
            command_id: c.command_id.clone(),
            webhook_id: c.webhook_id.clone(),
            owner_id: c.owner_id.clone(),
            owner_email: c.owner_email.clone(),
            url: c.url.clone(),
            events: c.events.clone(),
            description: c.description.clone(),
            created_at: now,
        }))
    }

    /// `DeleteWebhook`: a subscription of this owner deleted by its owner is
    /// `WebhookDeleted`; one already deleted answers with its deletion and
    /// nothing happens. Unknown, or anyone but the owner: nothing.
    fn decide_delete_webhook(&self, c: &DeleteWebhook, now: Millis) -> Decision<IdentityEvent> {
        let Some(hook) = self
            .webhooks
            .get(&c.webhook_id)
            .filter(|w| w.created.owner_email == c.owner_email)
        else {
            return Decision::none();
        };
        if hook.created.owner_id != c.requested_by {
            return Decision::none();
        }
        if let Some(done) = &hook.deleted {
            return Decision::reply_only(IdentityEvent::WebhookDeleted(done.clone()));
        }
        Decision::answer(IdentityEvent::WebhookDeleted(WebhookDeleted {
            command_id: c.command_id.clone(),
            webhook_id: c.webhook_id.clone(),
            owner_id: hook.created.owner_id.clone(),
            owner_email: c.owner_email.clone(),
            deleted_by: c.requested_by.clone(),
            deleted_at: now,
        }))
    }

    fn decide_lock(&self, c: &LockAccount, now: Millis) -> Decision<IdentityEvent> {
        if let Some(live) = self.live_lock(&c.email, now) {
            return Decision::reply_only(IdentityEvent::AccountLocked(live.locked.clone()));
        }
        let owner = self.accounts.get(&c.email).filter(|a| a.verified);
        Decision::answer(IdentityEvent::AccountLocked(AccountLocked {
            command_id: c.command_id.clone(),
            email: c.email.clone(),
            user_id: owner.map(|a| a.user_id.clone()),
            name: owner.map(|a| a.name.clone()),
            reason: c.reason,
            failed_attempts: c.failed_attempts,
            unlock_nonce: c.unlock.nonce.clone(),
            unlock_code_hash: c.unlock.code_hash.clone(),
            locked_until: c.locked_until,
            locked_at: now,
        }))
    }

    fn decide_unlock(&self, c: &UnlockAccount, now: Millis) -> IdentityEvent {
        let reject = |reason, attempts_left, locked_until| {
            IdentityEvent::UnlockRejected(UnlockRejected {
                command_id: c.command_id.clone(),
                email: c.email.clone(),
                reason,
                attempts_left,
                locked_until,
                rejected_at: now,
            })
        };
        let Some(lock) = self.live_lock(&c.email, now) else {
            return reject(UnlockRejectionReason::NotLocked, 0, now);
        };
        let until = lock.locked.locked_until;
        if lock.attempts_left == 0 {
            return reject(UnlockRejectionReason::CodeBurned, 0, until);
        }
        let stored = &lock.locked.unlock_code_hash;
        if stored.is_empty() || !same_hash(stored, &c.unlock_code_hash) {
            return reject(
                UnlockRejectionReason::WrongCode,
                lock.attempts_left - 1,
                until,
            );
        }
        IdentityEvent::AccountUnlocked(AccountUnlocked {
            command_id: c.command_id.clone(),
            email: c.email.clone(),
            user_id: lock.locked.user_id.clone(),
            locked_until: until,
            unlocked_at: now,
        })
    }

    fn decide_register(&self, c: &RegisterUser, now: Millis) -> Decision<IdentityEvent> {
        let existing = self.accounts.get(&c.email);
        if existing.is_some_and(|a| a.verified) {
            return Decision::answer(IdentityEvent::RegistrationRejected(RegistrationRejected {
                command_id: c.command_id.clone(),
                email: c.email.clone(),
                reason: RegistrationRejectionReason::EmailTaken,
                rejected_at: now,
            }));
        }
        if let Some(account) = existing {
            return self.reissue(&c.command_id, account, &c.otp, now);
        }
        let registered = IdentityEvent::UserRegistered(UserRegistered {
            command_id: c.command_id.clone(),
            user_id: c.user_id.clone(),
            email: c.email.clone(),
            name: c.name.clone(),
            role: c.role,
            password_hash: c.password_hash.clone(),
            registered_at: now,
        });
        let code = self.issue(&c.command_id, &c.user_id, &c.email, &c.name, &c.otp, now);
        Decision {
            reply: Some(registered.clone()),
            events: vec![registered, code],
        }
    }

    fn issue(
        &self,
        id: &CommandId,
        user: &UserId,
        email: &str,
        name: &str,
        otp: &OtpIssue,
        now: Millis,
    ) -> IdentityEvent {
        IdentityEvent::UserOTPGenerated(UserOtpGenerated {
            command_id: id.clone(),
            user_id: user.clone(),
            email: email.to_owned(),
            name: name.to_owned(),
            otp_nonce: otp.nonce.clone(),
            code_hash: otp.code_hash.clone(),
            expires_at: now.saturating_add(self.cfg.otp_ttl),
            generated_at: now,
        })
    }

    fn decide_verify(&self, c: &VerifyEmail, now: Millis) -> IdentityEvent {
        let reject = |reason, attempts_left| {
            IdentityEvent::VerificationRejected(VerificationRejected {
                command_id: c.command_id.clone(),
                email: c.email.clone(),
                reason,
                attempts_left,
                rejected_at: now,
            })
        };
        let account = self.accounts.get(&c.email).filter(|a| !a.verified);
        let Some((account, otp)) = account.and_then(|a| a.otp.as_ref().map(|o| (a, o))) else {
            return reject(VerificationRejectionReason::NoPendingCode, 0);
        };
        if otp.attempts_left == 0 {
            return reject(VerificationRejectionReason::Burned, 0);
        }
        if now >= otp.expires_at {
            return reject(VerificationRejectionReason::Expired, otp.attempts_left);
        }
        // An empty stored hash (rebuilt from events alone) never matches.
        if otp.code_hash.is_empty() || !same_hash(&otp.code_hash, &c.code_hash) {
            return reject(VerificationRejectionReason::Invalid, otp.attempts_left - 1);
        }
        IdentityEvent::EmailVerified(EmailVerified {
            command_id: c.command_id.clone(),
            user_id: account.user_id.clone(),
            email: c.email.clone(),
            verified_at: now,
        })
    }

    fn decide_resend(&self, c: &ResendOtp, now: Millis) -> Decision<IdentityEvent> {
        match self.accounts.get(&c.email).filter(|a| !a.verified) {
            Some(account) => self.reissue(&c.command_id, account, &c.otp, now),
            None => Decision::answer(IdentityEvent::ResendRejected(ResendRejected {
                command_id: c.command_id.clone(),
                email: c.email.clone(),
                reason: ResendRejectionReason::NoPendingAccount,
                retry_at: now,
                rejected_at: now,
            })),
        }
    }

    /// A new code for an unverified `account` (a resend, or a registration
    /// of its address again): `Throttled` within `resend_interval` of the
    /// last code, else `UserOTPGenerated` (the old code dies, the tries
    /// reset). The account's credentials are left as they are.
    fn reissue(
        &self,
        id: &CommandId,
        account: &Account,
        otp: &OtpIssue,
        now: Millis,
    ) -> Decision<IdentityEvent> {
        if let Some(live) = &account.otp {
            let retry_at = live.issued_at.saturating_add(self.cfg.resend_interval);
            if now < retry_at {
                return Decision::answer(IdentityEvent::ResendRejected(ResendRejected {
                    command_id: id.clone(),
                    email: account.email.clone(),
                    reason: ResendRejectionReason::Throttled,
                    retry_at,
                    rejected_at: now,
                }));
            }
        }
        Decision::answer(self.issue(
            id,
            &account.user_id,
            &account.email,
            &account.name,
            otp,
            now,
        ))
    }
}
