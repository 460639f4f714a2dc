//! How events change an identity partition. `apply` is the only mutation on
//! the live path; it trusts that `decide` only emitted legal events.

use super::messages::*;
use super::model::{Account, ApiKey, LoginLock, Otp, Webhook};
use super::partition::IdentityPartition;
use crate::state::StateKey;

impl IdentityPartition {
    /// Applies one event; returns the keys whose stored record changed.
    pub fn apply(&mut self, ev: &IdentityEvent) -> Vec<StateKey> {
        let mut keys = Vec::with_capacity(2);
        let (id, at) = match ev {
            IdentityEvent::UserRegistered(e) => {
                self.register(e);
                keys.push(StateKey::Account(e.email.clone()));
                (&e.command_id, e.registered_at)
            }
            IdentityEvent::UserOTPGenerated(e) => {
                let code_hash = e.code_hash.clone();
                let attempts_left = self.cfg.max_attempts;
                self.change(&e.email, &mut keys, |a| {
                    a.otp = Some(Otp {
                        nonce: e.otp_nonce.clone(),
                        code_hash,
                        expires_at: e.expires_at,
                        attempts_left,
                        issued_at: e.generated_at,
                    });
                });
                (&e.command_id, e.generated_at)
            }
            IdentityEvent::EmailVerified(e) => {
                self.change(&e.email, &mut keys, |a| {
                    a.verified = true;
                    a.otp = None;
                });
                (&e.command_id, e.verified_at)
            }
            IdentityEvent::VerificationRejected(e) => {
                if e.reason == VerificationRejectionReason::Invalid {
                    self.change(&e.email, &mut keys, |a| {
                        if let Some(otp) = &mut a.otp {
                            otp.attempts_left = e.attempts_left;
                        }
                    });
                }
                (&e.command_id, e.rejected_at)
            }
            IdentityEvent::RegistrationRejected(e) => (&e.command_id, e.rejected_at),
            IdentityEvent::ResendRejected(e) => (&e.command_id, e.rejected_at),
            IdentityEvent::AccountLocked(e) => {
                self.put_lock(LoginLock {
                    locked: e.clone(),
                    attempts_left: self.cfg.max_attempts,
                });
                keys.push(StateKey::Lock(e.email.clone()));
                (&e.command_id, e.locked_at)
            }
            IdentityEvent::AccountUnlocked(e) => {
                self.drop_lock(&e.email);
                keys.push(StateKey::Lock(e.email.clone()));
                (&e.command_id, e.unlocked_at)
            }
            IdentityEvent::UnlockRejected(e) => {
                if e.reason == UnlockRejectionReason::WrongCode
                    && let Some(lock) = self.locks.get_mut(&e.email)
                {
                    lock.attempts_left = e.attempts_left;
                    keys.push(StateKey::Lock(e.email.clone()));
                }
                (&e.command_id, e.rejected_at)
            }
            IdentityEvent::ApiKeyCreated(e) => {
                self.keys.insert(
                    e.key_id.clone(),
                    ApiKey {
                        created: e.clone(),
                        revoked: None,
                    },
                );
                keys.push(StateKey::ApiKey(e.key_id.clone()));
                (&e.command_id, e.created_at)
            }
            IdentityEvent::ApiKeyRevoked(e) => {
                if let Some(k) = self.keys.get_mut(&e.key_id) {
                    k.revoked = Some(e.clone());
                    keys.push(StateKey::ApiKey(e.key_id.clone()));
                }
                (&e.command_id, e.revoked_at)
            }
            IdentityEvent::WebhookCreated(e) => {
                self.webhooks.insert(
                    e.webhook_id.clone(),
                    Webhook {
                        created: e.clone(),
                        deleted: None,
                    },
                );
                keys.push(StateKey::Webhook(e.webhook_id.clone()));
                (&e.command_id, e.created_at)
            }
            IdentityEvent::WebhookDeleted(e) => {
                if let Some(w) = self.webhooks.get_mut(&e.webhook_id) {
                    w.deleted = Some(e.clone());
                    keys.push(StateKey::Webhook(e.webhook_id.clone()));
                }
                (&e.command_id, e.deleted_at)
            }
        };
        keys.extend(
            self.ledger
                .file(id, at, || (String::new(), Box::new(ev.clone()))),
        );
        keys
    }

    fn register(&mut self, e: &UserRegistered) {
        match self.accounts.get_mut(&e.email) {
            // Only logs written before re-registration became a resend carry
            // this; they are replayed as they were decided.
            Some(a) => {
                debug_assert!(
                    !a.verified,
                    "UserRegistered over verified account {}",
                    e.email
                );
                a.name = e.name.clone();
                a.role = e.role;
                a.password_hash = e.password_hash.clone();
            }
            None => {
                self.accounts.insert(
                    e.email.clone(),
                    Account {
                        user_id: e.user_id.clone(),
                        email: e.email.clone(),
                        name: e.name.clone(),
                        role: e.role,
                        password_hash: e.password_hash.clone(),
                        verified: false,
                        otp: None,
                        created_at: e.registered_at,
                    },
                );
            }
        }
    }

    /// Stores a lock, replacing (and unindexing) the address's earlier one.
    pub(super) fn put_lock(&mut self, lock: LoginLock) {
        let email = lock.locked.email.clone();
        self.drop_lock(&email);
        self.lock_ends
            .insert((lock.locked.locked_until, email.clone()));
        self.locks.insert(email, lock);
    }

    fn drop_lock(&mut self, email: &str) {
        if let Some(old) = self.locks.remove(email) {
            self.lock_ends
                .remove(&(old.locked.locked_until, email.to_owned()));
        }
    }

    fn change(&mut self, email: &str, keys: &mut Vec<StateKey>, f: impl FnOnce(&mut Account)) {
        let Some(a) = self.accounts.get_mut(email) else {
            debug_assert!(
                self.accounts.contains_key(email),
                "event for unknown account {email}"
            );
            return;
        };
        f(a);
        keys.push(StateKey::Account(email.to_owned()));
    }
}
