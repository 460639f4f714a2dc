use proptest::prelude::*;
use slotstream_domain::identity::{
    IdentityCommand, IdentityConfig, IdentityEvent, IdentityPartition, OtpIssue, RegisterUser,
    ResendOtp, ResendRejectionReason, Role, VerificationRejectionReason, VerifyEmail,
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
    Register { e: u8, user: u8 },
    Verify { e: u8, right: bool },
    Resend { e: u8 },
    Replay { pick: usize },
    Advance { seconds: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..EMAILS, 0u8..3).prop_map(|(e, user)| Op::Register { e, user }),
        5 => (0..EMAILS, prop::bool::weighted(0.3)).prop_map(|(e, right)| Op::Verify { e, right }),
        2 => (0..EMAILS).prop_map(|e| Op::Resend { e }),
        1 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
        2 => prop::sample::select(vec![10u16, 30, 60, 120, 300, 600]).prop_map(|seconds| Op::Advance { seconds }),
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
}

fn kind(ev: &IdentityEvent) -> Kind {
    match ev {
        IdentityEvent::UserRegistered(r) => Kind::Registered(r.user_id.0.clone()),
        IdentityEvent::UserOTPGenerated(_) => Kind::Issued,
        IdentityEvent::RegistrationRejected(_) => Kind::Taken,
        IdentityEvent::EmailVerified(_) => Kind::Verified,
        IdentityEvent::VerificationRejected(r) => Kind::VerifyRejected(r.reason, r.attempts_left),
        IdentityEvent::ResendRejected(r) => Kind::ResendRejected(r.reason, r.retry_at),
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

#[derive(Default)]
struct Reference {
    accounts: BTreeMap<u8, RefAccount>,
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

    fn check(&self, reference: &Reference) -> Result<(), TestCaseError> {
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
                };
                let expected = reference.replayed(id.as_str());
                prop_assert!(expected.is_some(), "every sent command was answered");
                (cmd, expected.unwrap_or_default())
            }
            Op::Advance { seconds } => {
                now += i64::from(seconds) * 1_000;
                continue;
            }
        };
        let d = h.step(&cmd, now)?;
        prop_assert_eq!(summary(&d), expected, "{:?}", cmd);
        sent.push(cmd);
        h.check(&reference)?;
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
