//! All identity state of one task partition: accounts by normalized email.

use super::messages::*;
use super::model::{Account, IdentityConfig, Otp};
use crate::decision::Decision;
use crate::ids::{CommandId, UserId};
use crate::ledger::Ledger;
use crate::state::{Answer, StateKey, StateRecord};
use crate::time::Millis;
use std::collections::HashMap;

/// The identity state of one partition.
#[derive(Clone, Debug)]
pub struct IdentityPartition {
    cfg: IdentityConfig,
    accounts: HashMap<String, Account>,
    ledger: Ledger<Box<IdentityEvent>>,
}

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
    /// An empty partition.
    pub fn new(cfg: IdentityConfig) -> Self {
        Self {
            cfg,
            accounts: HashMap::new(),
            ledger: Ledger::default(),
        }
    }

    /// The account of a normalized email.
    pub fn account(&self, email: &str) -> Option<&Account> {
        self.accounts.get(email)
    }

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
    pub fn decide(&self, cmd: &IdentityCommand, now: Millis) -> Decision<IdentityEvent> {
        let id = match cmd {
            IdentityCommand::RegisterUser(c) => &c.command_id,
            IdentityCommand::VerifyEmail(c) => &c.command_id,
            IdentityCommand::ResendOtp(c) => &c.command_id,
        };
        if let Some(rec) = self.ledger.get(id) {
            return replay(&rec.answer);
        }
        match cmd {
            IdentityCommand::RegisterUser(c) => self.decide_register(c, now),
            IdentityCommand::VerifyEmail(c) => Decision::answer(self.decide_verify(c, now)),
            IdentityCommand::ResendOtp(c) => self.decide_resend(c, now),
        }
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

    /// The stored record under `key`; `None` means "delete it".
    pub fn record(&self, key: &StateKey) -> Option<StateRecord> {
        match key {
            StateKey::Account(email) => self.accounts.get(email).cloned().map(StateRecord::Account),
            StateKey::Command(id) => {
                let e = self.ledger.get(id)?;
                Some(StateRecord::Command(e.record(
                    id,
                    Answer::Identity(IdentityEvent::clone(&e.answer)),
                )))
            }
            _ => None,
        }
    }

    /// Restores one stored record; records of other aggregates are ignored.
    pub fn load(&mut self, rec: StateRecord) {
        match rec {
            StateRecord::Account(a) => {
                self.accounts.insert(a.email.clone(), a);
            }
            StateRecord::Command(c) => self.ledger.load(c, |answer| match answer {
                Answer::Identity(ev) => Some(Box::new(ev)),
                _ => None,
            }),
            _ => {}
        }
    }

    /// Drops idempotency records answered before `older_than`; returns the
    /// keys to delete.
    pub fn prune_commands(&mut self, older_than: Millis) -> Vec<StateKey> {
        self.ledger.prune(older_than)
    }
}
