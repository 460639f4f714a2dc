use proptest::prelude::*;
use slotstream_domain::identity::{
    IdentityCommand, IdentityConfig, IdentityEvent, IdentityPartition, LockAccount, LockReason,
    OtpIssue, RegisterUser, ResendOtp, ResendRejectionReason, Role, UnlockAccount,
    UnlockRejectionReason, VerificationRejectionReason, VerifyEmail,
};
use slotstream_domain::time::{MINUTE, Millis};
use slotstream_domain::{Decision, StateKey, StateRecord};
use std::collections::{BTreeMap, BTreeSet};

const EMAILS: u8 = 3;
const TTL: Millis = 10 * MINUTE;
const RESEND: Millis = MINUTE;
const TRIES: u32 = 5;

#[derive(Clone, Debug)]
enum Op {
    Register {
        e: u8,
        user: u8,
    },
    Verify {
        e: u8,
        right: bool,
    },
    Resend {
        e: u8,
    },
    Replay {
        pick: usize,
    },
    Advance {
        seconds: u16,
    },
    /// A gateway asks to lock address `e` (`EMAILS`: an address nobody
    /// registers) for `minutes`.
    Lock {
        e: u8,
        minutes: u8,
    },
    Unlock {
        e: u8,
        right: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..EMAILS, 0u8..3).prop_map(|(e, user)| Op::Register { e, user }),
        5 => (0..EMAILS, prop::bool::weighted(0.3)).prop_map(|(e, right)| Op::Verify { e, right }),
        2 => (0..EMAILS).prop_map(|e| Op::Resend { e }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
        2 => prop::sample::select(vec![10u16, 30, 60, 120, 300, 600]).prop_map(|seconds| Op::Advance { seconds }),
        // Locks on two addresses, one registrable and one nobody registers,
        // so that codes get burned within a case.
        2 => (prop::sample::select(vec![0, EMAILS]), prop::sample::select(vec![1u8, 5, 15]))
            .prop_map(|(e, minutes)| Op::Lock { e, minutes }),
        4 => (prop::sample::select(vec![0, EMAILS]), prop::bool::weighted(0.2))
            .prop_map(|(e, right)| Op::Unlock { e, right }),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Registered(String),
    Issued,
    Taken,
    Verified,
    VerifyRejected(VerificationRejectionReason, u32),
    ResendRejected(ResendRejectionReason, Millis),
    /// The verified owner named, the lock's end, its code's hash.
    Locked(Option<String>, Millis, String),
    Unlocked(Option<String>, Millis),
    UnlockRejected(UnlockRejectionReason, u32, Millis),
    /// API keys (this model sends none; named so a stray one shows).
    KeyCreated(String),
    KeyRevoked(String),
}

fn kind(ev: &IdentityEvent) -> Kind {
    match ev {
        IdentityEvent::UserRegistered(r) => Kind::Registered(r.user_id.0.clone()),
        IdentityEvent::UserOTPGenerated(_) => Kind::Issued,
        IdentityEvent::RegistrationRejected(_) => Kind::Taken,
        IdentityEvent::EmailVerified(_) => Kind::Verified,
        IdentityEvent::VerificationRejected(r) => Kind::VerifyRejected(r.reason, r.attempts_left),
        IdentityEvent::ResendRejected(r) => Kind::ResendRejected(r.reason, r.retry_at),
        IdentityEvent::AccountLocked(l) => Kind::Locked(
            l.user_id.as_ref().map(|u| u.0.clone()),
            l.locked_until,
            l.unlock_code_hash.clone(),
        ),
        IdentityEvent::AccountUnlocked(u) => {
            Kind::Unlocked(u.user_id.as_ref().map(|u| u.0.clone()), u.locked_until)
        }
        IdentityEvent::UnlockRejected(r) => {
            Kind::UnlockRejected(r.reason, r.attempts_left, r.locked_until)
        }
        IdentityEvent::ApiKeyCreated(k) => Kind::KeyCreated(k.key_id.clone()),
        IdentityEvent::ApiKeyRevoked(k) => Kind::KeyRevoked(k.key_id.clone()),
        IdentityEvent::WebhookCreated(w) => Kind::KeyCreated(format!("webhook {}", w.webhook_id)),
        IdentityEvent::WebhookDeleted(w) => Kind::KeyRevoked(format!("webhook {}", w.webhook_id)),
    }
}

/// A decision as (the events' kinds, the reply's kind).
fn summary(d: &Decision<IdentityEvent>) -> (Vec<Kind>, Option<Kind>) {
    (
        d.events.iter().map(kind).collect(),
        d.reply.as_ref().map(kind),
    )
}

#[derive(Clone, Debug)]
struct RefCode {
    hash: String,
    expires: Millis,
    tries: u32,
    issued: Millis,
}

#[derive(Clone, Debug)]
struct RefAccount {
    user: String,
    verified: bool,
    code: Option<RefCode>,
}

#[derive(Clone, Debug)]
struct RefLock {
    owner: Option<String>,
    hash: String,
    until: Millis,
    tries: u32,
    /// The answer that announced it.
    locked: Kind,
}

#[derive(Default)]
struct Reference {
    accounts: BTreeMap<u8, RefAccount>,
    /// Locks by address; one whose end passed is as good as none.
    locks: BTreeMap<u8, RefLock>,
    answers: Vec<(String, Kind)>,
}

impl Reference {
    fn replayed(&self, command: &str) -> Option<(Vec<Kind>, Option<Kind>)> {
        let (_, k) = self.answers.iter().find(|(c, _)| c == command)?;
        Some((Vec::new(), Some(k.clone())))
    }

    fn answer(
        &mut self,
        command: &str,
        events: Vec<Kind>,
        reply: Kind,
    ) -> (Vec<Kind>, Option<Kind>) {
        self.answers.push((command.into(), reply.clone()));
        (events, Some(reply))
    }

    fn register(
        &mut self,
        command: &str,
        e: u8,
        user: &str,
        hash: &str,
        now: Millis,
    ) -> (Vec<Kind>, Option<Kind>) {
        if let Some(r) = self.replayed(command) {
            return r;
        }
        match self.accounts.get(&e) {
            Some(a) if a.verified => return self.answer(command, vec![Kind::Taken], Kind::Taken),
            // Registering a pending address again is a resend, nothing more.
            Some(_) => return self.resend(command, e, hash, now),
            None => {}
        }
        let code = RefCode {
            hash: hash.into(),
            expires: now + TTL,
            tries: TRIES,
            issued: now,
        };
        let account = self.accounts.entry(e).or_insert_with(|| RefAccount {
            user: user.into(),
            verified: false,
            code: None,
        });
        account.code = Some(code);
        let registered = Kind::Registered(account.user.clone());
        self.answer(command, vec![registered.clone(), Kind::Issued], registered)
    }

    fn verify(
        &mut self,
        command: &str,
        e: u8,
        hash: &str,
        now: Millis,
    ) -> (Vec<Kind>, Option<Kind>) {
        if let Some(r) = self.replayed(command) {
            return r;
        }
        use VerificationRejectionReason as R;
        let pending = self.accounts.get_mut(&e).filter(|a| !a.verified);
        let k = match pending {
            None => Kind::VerifyRejected(R::NoPendingCode, 0),
            Some(a) => match a.code.as_mut() {
                None => Kind::VerifyRejected(R::NoPendingCode, 0),
                Some(c) if c.tries == 0 => Kind::VerifyRejected(R::Burned, 0),
                Some(c) if now >= c.expires => Kind::VerifyRejected(R::Expired, c.tries),
                Some(c) if c.hash != hash => {
                    c.tries -= 1;
                    Kind::VerifyRejected(R::Invalid, c.tries)
                }
                Some(_) => {
                    a.verified = true;
                    a.code = None;
                    Kind::Verified
                }
            },
        };
        self.answer(command, vec![k.clone()], k)
    }

    fn resend(
        &mut self,
        command: &str,
        e: u8,
        hash: &str,
        now: Millis,
    ) -> (Vec<Kind>, Option<Kind>) {
        if let Some(r) = self.replayed(command) {
            return r;
        }
        let k = match self.accounts.get_mut(&e).filter(|a| !a.verified) {
            None => Kind::ResendRejected(ResendRejectionReason::NoPendingAccount, now),
            Some(a) => match &a.code {
                Some(c) if now < c.issued + RESEND => {
                    Kind::ResendRejected(ResendRejectionReason::Throttled, c.issued + RESEND)
                }
                _ => {
                    a.code = Some(RefCode {
                        hash: hash.into(),
                        expires: now + TTL,
                        tries: TRIES,
                        issued: now,
                    });
                    Kind::Issued
                }
            },
        };
        self.answer(command, vec![k.clone()], k)
    }
}

impl Reference {
    fn lock(
        &mut self,
        command: &str,
        e: u8,
        hash: &str,
        until: Millis,
        now: Millis,
    ) -> (Vec<Kind>, Option<Kind>) {
        if let Some(r) = self.replayed(command) {
            return r;
        }
        // A live lock answers with itself; nothing is filed or announced.
        if let Some(l) = self.locks.get(&e).filter(|l| now < l.until) {
            return (Vec::new(), Some(l.locked.clone()));
        }
        let owner = self
            .accounts
            .get(&e)
            .filter(|a| a.verified)
            .map(|a| a.user.clone());
        let locked = Kind::Locked(owner.clone(), until, hash.into());
        self.locks.insert(
            e,
            RefLock {
                owner,
                hash: hash.into(),
                until,
                tries: TRIES,
                locked: locked.clone(),
            },
        );
        self.answer(command, vec![locked.clone()], locked)
    }

    fn unlock(
        &mut self,
        command: &str,
        e: u8,
        hash: &str,
        now: Millis,
    ) -> (Vec<Kind>, Option<Kind>) {
        if let Some(r) = self.replayed(command) {
            return r;
        }
        use UnlockRejectionReason as R;
        let k = match self.locks.get_mut(&e).filter(|l| now < l.until) {
            None => Kind::UnlockRejected(R::NotLocked, 0, now),
            Some(l) if l.tries == 0 => Kind::UnlockRejected(R::CodeBurned, 0, l.until),
            Some(l) if l.hash != hash => {
                l.tries -= 1;
                Kind::UnlockRejected(R::WrongCode, l.tries, l.until)
            }
            Some(l) => {
                let k = Kind::Unlocked(l.owner.clone(), l.until);
                self.locks.remove(&e);
                k
            }
        };
        self.answer(command, vec![k.clone()], k)
    }
}

struct Harness {
    live: IdentityPartition,
    replica: IdentityPartition,
    store: BTreeMap<StateKey, StateRecord>,
    keys: BTreeSet<StateKey>,
}

impl Harness {
    fn restored(&self) -> IdentityPartition {
        let mut p = IdentityPartition::new(IdentityConfig::default());
        for rec in self.store.values().rev() {
            p.load(rec.clone());
        }
        p
    }

    fn step(
        &mut self,
        cmd: &IdentityCommand,
        now: Millis,
    ) -> Result<Decision<IdentityEvent>, TestCaseError> {
        let d = self.live.decide(cmd, now);
        prop_assert_eq!(
            &self.restored().decide(cmd, now),
            &d,
            "a restored partition decides differently"
        );
        for e in &d.events {
            for key in self.live.apply(e) {
                match self.live.record(&key) {
                    Some(rec) => self.store.insert(key.clone(), rec),
                    None => self.store.remove(&key),
                };
                self.keys.insert(key);
            }
            self.replica.apply(e);
        }
        Ok(d)
    }

    /// What the processor does on its prune cadence: run-out locks leave
    /// the state (and the store).
    fn prune(&mut self, now: Millis) {
        for key in self.live.prune_locks(now) {
            self.store.remove(&key);
            self.keys.insert(key);
        }
        self.replica.prune_locks(now);
    }

    fn check(&self, reference: &Reference, now: Millis) -> Result<(), TestCaseError> {
        for e in 0..=EMAILS {
            let live = self
                .live
                .lock(&email(e))
                .filter(|l| now < l.locked.locked_until)
                .map(|l| {
                    (
                        l.attempts_left,
                        l.locked.locked_until,
                        l.locked.unlock_code_hash.clone(),
                    )
                });
            let want = reference
                .locks
                .get(&e)
                .filter(|l| now < l.until)
                .map(|l| (l.tries, l.until, l.hash.clone()));
            prop_assert_eq!(live, want, "lock of {}", e);
        }
        for (e, r) in &reference.accounts {
            let live = self.live.account(&email(*e));
            let got = live.map(|a| {
                (
                    a.user_id.0.clone(),
                    a.verified,
                    a.otp.as_ref().map(|o| (o.attempts_left, o.expires_at)),
                )
            });
            let want = (
                r.user.clone(),
                r.verified,
                r.code.as_ref().map(|c| (c.tries, c.expires)),
            );
            prop_assert_eq!(got, Some(want), "account {}", e);
        }
        let twin = self.restored();
        for key in &self.keys {
            prop_assert_eq!(self.replica.record(key), self.live.record(key));
            prop_assert_eq!(twin.record(key), self.live.record(key));
        }
        Ok(())
    }
}

fn email(e: u8) -> String {
    format!("user{e}@example.com")
}

fn e_of(email: &str) -> u8 {
    email
        .trim_start_matches("user")
        .trim_end_matches("@example.com")
        .parse()
        .unwrap_or(u8::MAX)
}

fn run_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness {
        live: IdentityPartition::new(IdentityConfig::default()),
        replica: IdentityPartition::new(IdentityConfig::default()),
        store: BTreeMap::new(),
        keys: BTreeSet::new(),
    };
    let mut reference = Reference::default();
    let mut sent: Vec<IdentityCommand> = Vec::new();
    let mut now: Millis = 1_700_000_000_000;
    for (n, op) in ops.into_iter().enumerate() {
        let issue = OtpIssue {
            nonce: format!("nonce{n}"),
            code_hash: format!("code{n}"),
        };
        let (cmd, expected) = match op {
            Op::Register { e, user } => {
                let cmd = IdentityCommand::RegisterUser(RegisterUser {
                    command_id: format!("c{n}").as_str().into(),
                    user_id: format!("u{n}-{user}").as_str().into(),
                    email: email(e),
                    name: format!("User {user}"),
                    role: Role::Customer,
                    password_hash: format!("pw{n}"),
                    otp: issue,
                    requested_at: now,
                });
                let expected = reference.register(
                    &format!("c{n}"),
                    e,
                    &format!("u{n}-{user}"),
                    &format!("code{n}"),
                    now,
                );
                (cmd, expected)
            }
            Op::Verify { e, right } => {
                let current = reference
                    .accounts
                    .get(&e)
                    .and_then(|a| a.code.as_ref())
                    .map(|c| c.hash.clone());
                let hash = if right {
                    current.unwrap_or_default()
                } else {
                    "wrong".to_owned()
                };
                let cmd = IdentityCommand::VerifyEmail(VerifyEmail {
                    command_id: format!("c{n}").as_str().into(),
                    email: email(e),
                    code_hash: hash.clone(),
                    requested_at: now,
                });
                (cmd, reference.verify(&format!("c{n}"), e, &hash, now))
            }
            Op::Resend { e } => {
                let cmd = IdentityCommand::ResendOtp(ResendOtp {
                    command_id: format!("c{n}").as_str().into(),
                    email: email(e),
                    otp: issue,
                    requested_at: now,
                });
                (
                    cmd,
                    reference.resend(&format!("c{n}"), e, &format!("code{n}"), now),
                )
            }
            Op::Replay { pick } => {
                let Some(cmd) = sent.get(pick % sent.len().max(1)).cloned() else {
                    continue;
                };
                let id = match &cmd {
                    IdentityCommand::RegisterUser(c) => c.command_id.clone(),
                    IdentityCommand::VerifyEmail(c) => c.command_id.clone(),
                    IdentityCommand::ResendOtp(c) => c.command_id.clone(),
                    IdentityCommand::LockAccount(c) => c.command_id.clone(),
                    IdentityCommand::UnlockAccount(c) => c.command_id.clone(),
                    IdentityCommand::CreateApiKey(c) => c.command_id.clone(),
                    IdentityCommand::RevokeApiKey(c) => c.command_id.clone(),
                    IdentityCommand::CreateWebhook(c) => c.command_id.clone(),
                    IdentityCommand::DeleteWebhook(c) => c.command_id.clone(),
                };
                let expected = match (&cmd, reference.replayed(id.as_str())) {
                    (_, Some(first)) => first,
                    // A lock request answered by a live lock left nothing
                    // to replay: it is decided again.
                    (IdentityCommand::LockAccount(c), None) => reference.lock(
                        id.as_str(),
                        e_of(&c.email),
                        &c.unlock.code_hash,
                        c.locked_until,
                        now,
                    ),
                    (_, None) => {
                        prop_assert!(false, "every other sent command was answered");
                        unreachable!()
                    }
                };
                (cmd, expected)
            }
            Op::Advance { seconds } => {
                now += i64::from(seconds) * 1_000;
                h.prune(now);
                continue;
            }
            Op::Lock { e, minutes } => {
                let until = now + i64::from(minutes) * MINUTE;
                let cmd = IdentityCommand::LockAccount(LockAccount {
                    command_id: format!("c{n}").as_str().into(),
                    email: email(e),
                    reason: LockReason::FailedLogins,
                    failed_attempts: 50,
                    locked_until: until,
                    unlock: issue,
                    requested_at: now,
                });
                (
                    cmd,
                    reference.lock(&format!("c{n}"), e, &format!("code{n}"), until, now),
                )
            }
            Op::Unlock { e, right } => {
                let current = reference
                    .locks
                    .get(&e)
                    .map(|l| l.hash.clone())
                    .filter(|_| right);
                let hash = current.unwrap_or_else(|| "wrong".to_owned());
                let cmd = IdentityCommand::UnlockAccount(UnlockAccount {
                    command_id: format!("c{n}").as_str().into(),
                    email: email(e),
                    unlock_code_hash: hash.clone(),
                    requested_at: now,
                });
                (cmd, reference.unlock(&format!("c{n}"), e, &hash, now))
            }
        };
        let d = h.step(&cmd, now)?;
        prop_assert_eq!(summary(&d), expected, "{:?}", cmd);
        sent.push(cmd);
        h.check(&reference, now)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn identity_partition_agrees_with_a_brute_force_model(ops in prop::collection::vec(op(), 1..60)) {
        run_model(ops)?;
    }
}
