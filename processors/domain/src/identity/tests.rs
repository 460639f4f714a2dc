use super::*;
use crate::time::{MINUTE, Millis};

const EMAIL: &str = "ann@example.com";

fn otp(n: u32) -> OtpIssue {
    OtpIssue {
        nonce: format!("nonce-{n}"),
        code_hash: format!("code-{n}"),
    }
}

fn register(n: u32, user: &str) -> IdentityCommand {
    IdentityCommand::RegisterUser(RegisterUser {
        command_id: format!("reg-{n}").as_str().into(),
        user_id: user.into(),
        email: EMAIL.into(),
        name: format!("Ann {n}"),
        role: Role::Customer,
        password_hash: format!("$argon2id$pw{n}"),
        otp: otp(n),
        requested_at: 0,
    })
}

fn verify(n: u32, code: &str) -> IdentityCommand {
    IdentityCommand::VerifyEmail(VerifyEmail {
        command_id: format!("ver-{n}").as_str().into(),
        email: EMAIL.into(),
        code_hash: code.into(),
        requested_at: 0,
    })
}

fn resend(n: u32) -> IdentityCommand {
    IdentityCommand::ResendOtp(ResendOtp {
        command_id: format!("res-{n}").as_str().into(),
        email: EMAIL.into(),
        otp: otp(100 + n),
        requested_at: 0,
    })
}

fn run(p: &mut IdentityPartition, cmd: &IdentityCommand, now: Millis) -> Decision<IdentityEvent> {
    let d = p.decide(cmd, now);
    for e in &d.events {
        p.apply(e);
    }
    d
}

fn registered() -> IdentityPartition {
    let mut p = IdentityPartition::new(IdentityConfig::default());
    run(&mut p, &register(1, "u1"), 0);
    p
}

fn verdict(d: &Decision<IdentityEvent>) -> Option<(VerificationRejectionReason, u32)> {
    match &d.reply {
        Some(IdentityEvent::VerificationRejected(r)) => Some((r.reason, r.attempts_left)),
        _ => None,
    }
}

#[test]
fn registration_creates_an_unverified_account_and_issues_a_code() {
    let mut p = IdentityPartition::new(IdentityConfig::default());
    let d = run(&mut p, &register(1, "u1"), 1_000);
    assert!(matches!(d.reply, Some(IdentityEvent::UserRegistered(_))));
    let [
        IdentityEvent::UserRegistered(_),
        IdentityEvent::UserOTPGenerated(g),
    ] = d.events.as_slice()
    else {
        panic!("{d:?}")
    };
    assert_eq!(g.expires_at, 1_000 + 10 * MINUTE);
    assert_eq!(g.otp_nonce, "nonce-1");
    let a = p.account(EMAIL).expect("account");
    assert!(!a.verified);
    let code = a.otp.as_ref().expect("code");
    assert_eq!(
        (code.code_hash.as_str(), code.attempts_left, code.issued_at),
        ("code-1", 5, 1_000)
    );
}

#[test]
fn re_registering_an_unverified_email_never_replaces_its_credentials_or_live_code() {
    let mut p = registered();
    run(&mut p, &verify(1, "wrong"), 0);
    let d = run(&mut p, &register(2, "u2"), MINUTE - 1);
    assert!(
        matches!(&d.reply, Some(IdentityEvent::ResendRejected(r))
            if r.reason == ResendRejectionReason::Throttled && r.retry_at == MINUTE),
        "{d:?}"
    );
    let a = p.account(EMAIL).expect("account");
    assert_eq!(
        (
            a.user_id.as_str(),
            a.password_hash.as_str(),
            a.name.as_str()
        ),
        ("u1", "$argon2id$pw1", "Ann 1")
    );
    let code = a.otp.as_ref().expect("the live code");
    assert_eq!(
        (code.code_hash.as_str(), code.attempts_left),
        ("code-1", 4),
        "the live code keeps its spent tries"
    );
}

#[test]
fn re_registering_after_the_resend_interval_is_a_resend_for_the_first_account() {
    let mut p = registered();
    let d = run(&mut p, &register(2, "u2"), MINUTE);
    let Some(IdentityEvent::UserOTPGenerated(g)) = &d.reply else {
        panic!("{d:?}")
    };
    assert_eq!((g.user_id.as_str(), g.name.as_str()), ("u1", "Ann 1"));
    assert!(
        !d.events
            .iter()
            .any(|e| matches!(e, IdentityEvent::UserRegistered(_)))
    );
    let a = p.account(EMAIL).expect("account");
    assert_eq!(a.password_hash, "$argon2id$pw1");
    assert_eq!(a.otp.as_ref().map(|o| o.code_hash.as_str()), Some("code-2"));
}

#[test]
fn registering_again_and_again_buys_no_more_than_the_resend_limit_of_guesses() {
    let mut p = registered();
    let mut verdicts = Vec::new();
    for n in 0..30u32 {
        let now = Millis::from(n) * 1_000;
        run(&mut p, &register(100 + n, &format!("u{n}")), now);
        for k in 0..5u32 {
            verdicts.push(verdict(&run(
                &mut p,
                &verify(1_000 + n * 5 + k, "wrong"),
                now,
            )));
        }
    }
    let invalid = verdicts
        .iter()
        .filter(|v| matches!(v, Some((VerificationRejectionReason::Invalid, _))))
        .count();
    assert_eq!(
        invalid, 5,
        "30 registrations within a minute: one code, five tries"
    );
    assert_eq!(
        p.account(EMAIL).map(|a| a.password_hash.as_str()),
        Some("$argon2id$pw1")
    );
}

#[test]
fn a_verified_email_cannot_be_registered_again() {
    let mut p = registered();
    run(&mut p, &verify(1, "code-1"), MINUTE);
    let d = run(&mut p, &register(2, "u2"), 2 * MINUTE);
    assert!(
        matches!(d.reply, Some(IdentityEvent::RegistrationRejected(r)) if r.reason == RegistrationRejectionReason::EmailTaken)
    );
    assert_eq!(
        p.account(EMAIL).map(|a| a.password_hash.as_str()),
        Some("$argon2id$pw1")
    );
}

#[test]
fn the_right_code_verifies_the_email_once() {
    let mut p = registered();
    let d = run(&mut p, &verify(1, "code-1"), MINUTE);
    assert!(matches!(&d.reply, Some(IdentityEvent::EmailVerified(v)) if v.user_id == "u1".into()));
    let a = p.account(EMAIL).expect("account");
    assert!(a.verified);
    assert_eq!(a.otp, None, "a code is single use");
    let again = run(&mut p, &verify(2, "code-1"), MINUTE);
    assert_eq!(
        verdict(&again),
        Some((VerificationRejectionReason::NoPendingCode, 0))
    );
}

#[test]
fn a_code_dies_at_the_exact_instant_it_expires() {
    let mut p = registered();
    let ttl = IdentityConfig::default().otp_ttl;
    assert_eq!(
        verdict(&run(&mut p, &verify(1, "code-1"), ttl)),
        Some((VerificationRejectionReason::Expired, 5))
    );
    assert!(matches!(
        run(&mut p, &verify(2, "code-1"), ttl - 1).reply,
        Some(IdentityEvent::EmailVerified(_))
    ));
}

#[test]
fn five_wrong_codes_burn_it_and_the_fifth_still_answers_invalid() {
    let mut p = registered();
    for (n, left) in (1..=5).zip([4, 3, 2, 1, 0]) {
        let d = run(&mut p, &verify(n, "wrong"), MINUTE);
        assert_eq!(
            verdict(&d),
            Some((VerificationRejectionReason::Invalid, left)),
            "try {n}"
        );
    }
    assert_eq!(
        verdict(&run(&mut p, &verify(6, "code-1"), MINUTE)),
        Some((VerificationRejectionReason::Burned, 0))
    );
    assert!(!p.account(EMAIL).expect("account").verified);
}

#[test]
fn a_burned_code_is_reported_as_burned_even_after_it_expires() {
    let mut p = registered();
    for n in 1..=5 {
        run(&mut p, &verify(n, "wrong"), MINUTE);
    }
    let d = run(
        &mut p,
        &verify(6, "code-1"),
        IdentityConfig::default().otp_ttl,
    );
    assert_eq!(verdict(&d), Some((VerificationRejectionReason::Burned, 0)));
}

#[test]
fn verifying_an_unknown_email_has_no_pending_code() {
    let mut p = IdentityPartition::new(IdentityConfig::default());
    assert_eq!(
        verdict(&run(&mut p, &verify(1, "x"), 0)),
        Some((VerificationRejectionReason::NoPendingCode, 0))
    );
}

#[test]
fn a_retried_verification_gets_its_original_answer() {
    let mut p = registered();
    let first = run(&mut p, &verify(1, "wrong"), MINUTE);
    let retry = run(&mut p, &verify(1, "wrong"), MINUTE);
    assert!(retry.events.is_empty());
    assert_eq!(retry.reply, first.reply);
    assert_eq!(
        p.account(EMAIL)
            .and_then(|a| a.otp.as_ref())
            .map(|o| o.attempts_left),
        Some(4)
    );
}

#[test]
fn a_resend_within_the_interval_is_throttled_until_a_minute_after_the_last_code() {
    let mut p = registered();
    let d = run(&mut p, &resend(1), MINUTE - 1);
    assert!(matches!(d.reply, Some(IdentityEvent::ResendRejected(r))
        if r.reason == ResendRejectionReason::Throttled && r.retry_at == MINUTE));
    let d = run(&mut p, &resend(2), MINUTE);
    assert!(matches!(d.reply, Some(IdentityEvent::UserOTPGenerated(_))));
}

#[test]
fn a_new_code_kills_the_old_one_and_resets_the_tries() {
    let mut p = registered();
    for n in 1..=3 {
        run(&mut p, &verify(n, "wrong"), MINUTE);
    }
    run(&mut p, &resend(1), 2 * MINUTE);
    let code = p.account(EMAIL).and_then(|a| a.otp.clone()).expect("code");
    assert_eq!(
        (code.code_hash.as_str(), code.attempts_left),
        ("code-101", 5)
    );
    assert_eq!(
        verdict(&run(&mut p, &verify(10, "code-1"), 2 * MINUTE)),
        Some((VerificationRejectionReason::Invalid, 4))
    );
    assert!(matches!(
        run(&mut p, &verify(11, "code-101"), 2 * MINUTE).reply,
        Some(IdentityEvent::EmailVerified(_))
    ));
}

#[test]
fn a_resend_without_an_unverified_account_is_refused() {
    let mut p = IdentityPartition::new(IdentityConfig::default());
    let d = run(&mut p, &resend(1), 0);
    assert!(
        matches!(d.reply, Some(IdentityEvent::ResendRejected(r)) if r.reason == ResendRejectionReason::NoPendingAccount)
    );
    let mut p = registered();
    run(&mut p, &verify(1, "code-1"), 0);
    let d = run(&mut p, &resend(2), 5 * MINUTE);
    assert!(
        matches!(d.reply, Some(IdentityEvent::ResendRejected(r)) if r.reason == ResendRejectionReason::NoPendingAccount)
    );
}

#[test]
fn a_partition_rebuilt_from_the_events_alone_verifies_the_issued_code() {
    // Applying the events alone (no decide on this partition) must rebuild
    // the code's hash: the event carries it.
    let source = IdentityPartition::new(IdentityConfig::default());
    let d = source.decide(&register(1, "u1"), 0);
    let mut fresh = IdentityPartition::new(IdentityConfig::default());
    for e in &d.events {
        fresh.apply(e);
    }
    let issued = otp(1).code_hash;
    assert_eq!(
        fresh
            .account(EMAIL)
            .and_then(|a| a.otp.as_ref())
            .map(|o| o.code_hash.clone()),
        Some(issued.clone())
    );
    assert!(matches!(
        fresh.decide(&verify(1, &issued), 0).reply,
        Some(IdentityEvent::EmailVerified(_))
    ));
}

#[test]
fn a_partition_loaded_from_its_records_decides_the_same() {
    let mut p = IdentityPartition::new(IdentityConfig::default());
    let mut keys = Vec::new();
    for (cmd, now) in [
        (register(1, "u1"), 0),
        (verify(1, "wrong"), 1),
        (resend(1), 2),
        (resend(2), 2 * MINUTE),
    ] {
        for e in p.decide(&cmd, now).events {
            keys.extend(p.apply(&e));
        }
    }
    let mut restored = IdentityPartition::new(IdentityConfig::default());
    for key in keys.iter().rev() {
        if let Some(rec) = p.record(key) {
            restored.load(rec);
        }
    }
    for key in &keys {
        assert_eq!(restored.record(key), p.record(key));
    }
    for cmd in [
        verify(1, "x"),
        verify(2, "code-102"),
        resend(3),
        register(3, "u9"),
    ] {
        assert_eq!(
            restored.decide(&cmd, 3 * MINUTE),
            p.decide(&cmd, 3 * MINUTE)
        );
    }
    assert_eq!(
        p.prune_commands(2).len(),
        2,
        "reg-1 and ver-1 were answered before t=2"
    );
}

// ----- login locks -----

const STRANGER: &str = "nobody@example.com";
const LOCK_FOR: Millis = 15 * MINUTE;

fn lock(n: u32, email: &str, now: Millis) -> IdentityCommand {
    IdentityCommand::LockAccount(LockAccount {
        command_id: format!("lock-{n}").as_str().into(),
        email: email.into(),
        reason: LockReason::FailedLogins,
        failed_attempts: 50,
        locked_until: now + LOCK_FOR,
        unlock: OtpIssue {
            nonce: format!("unlock-nonce-{n}"),
            code_hash: format!("unlock-{n}"),
        },
        requested_at: now,
    })
}

fn unlock(n: u32, email: &str, code: &str) -> IdentityCommand {
    IdentityCommand::UnlockAccount(UnlockAccount {
        command_id: format!("unl-{n}").as_str().into(),
        email: email.into(),
        unlock_code_hash: code.into(),
        requested_at: 0,
    })
}

fn verified() -> IdentityPartition {
    let mut p = registered();
    run(&mut p, &verify(1, "code-1"), 0);
    p
}

fn locked(d: &Decision<IdentityEvent>) -> &AccountLocked {
    match &d.reply {
        Some(IdentityEvent::AccountLocked(l)) => l,
        other => panic!("expected AccountLocked, got {other:?}"),
    }
}

fn unlock_verdict(d: &Decision<IdentityEvent>) -> Option<(UnlockRejectionReason, u32)> {
    match &d.reply {
        Some(IdentityEvent::UnlockRejected(r)) => Some((r.reason, r.attempts_left)),
        _ => None,
    }
}

#[test]
fn a_lock_of_a_verified_account_names_its_owner_for_the_notice() {
    let mut p = verified();
    let d = run(&mut p, &lock(1, EMAIL, MINUTE), MINUTE);
    let l = locked(&d);
    assert_eq!(d.events.len(), 1, "{d:?}");
    assert_eq!(
        (l.user_id.as_ref().map(|u| u.as_str()), l.name.as_deref()),
        (Some("u1"), Some("Ann 1"))
    );
    assert_eq!(
        (
            l.unlock_nonce.as_str(),
            l.unlock_code_hash.as_str(),
            l.locked_until,
            l.locked_at
        ),
        ("unlock-nonce-1", "unlock-1", MINUTE + LOCK_FOR, MINUTE)
    );
    let stored = p.lock(EMAIL).expect("the lock is state");
    assert_eq!(stored.attempts_left, 5);
}

#[test]
fn addresses_without_a_verified_account_lock_alike_but_name_nobody() {
    let mut p = registered(); // registered, not verified
    let pending = run(&mut p, &lock(1, EMAIL, 0), 0);
    let unknown = run(&mut p, &lock(2, STRANGER, 0), 0);
    for d in [&pending, &unknown] {
        let l = locked(d);
        assert_eq!((&l.user_id, &l.name), (&None, &None), "{d:?}");
        assert_eq!(d.events.len(), 1, "the lock is a fact all the same");
    }
    assert!(p.lock(STRANGER).is_some());
}

#[test]
fn a_lock_request_while_locked_answers_the_same_lock_and_changes_nothing() {
    let mut p = verified();
    let first = run(&mut p, &lock(1, EMAIL, 0), 0);
    // Another gateway reaches its threshold a minute later.
    let again = run(&mut p, &lock(2, EMAIL, MINUTE), MINUTE);
    assert!(
        again.events.is_empty(),
        "no second event, so no second notice"
    );
    assert_eq!(again.reply, first.reply, "the live lock, its end and code");
    assert_eq!(p.lock(EMAIL).map(|l| l.locked.locked_until), Some(LOCK_FOR));
    // Once it ran out, a request starts a new lock with a new code.
    let later = run(&mut p, &lock(3, EMAIL, LOCK_FOR), LOCK_FOR);
    assert_eq!(later.events.len(), 1);
    assert_eq!(locked(&later).unlock_code_hash, "unlock-3");
    assert_eq!(locked(&later).locked_until, 2 * LOCK_FOR);
}

#[test]
fn the_emailed_code_lifts_the_lock_once() {
    let mut p = verified();
    run(&mut p, &lock(1, EMAIL, 0), 0);
    let d = run(&mut p, &unlock(1, EMAIL, "unlock-1"), MINUTE);
    assert!(
        matches!(&d.reply, Some(IdentityEvent::AccountUnlocked(u))
            if u.user_id == Some("u1".into()) && u.unlocked_at == MINUTE),
        "{d:?}"
    );
    assert!(p.lock(EMAIL).is_none(), "the lock is gone");
    assert_eq!(
        unlock_verdict(&run(&mut p, &unlock(2, EMAIL, "unlock-1"), MINUTE)),
        Some((UnlockRejectionReason::NotLocked, 0))
    );
    // A new lock may follow at once, with its own code.
    assert_eq!(run(&mut p, &lock(2, EMAIL, MINUTE), MINUTE).events.len(), 1);
}

#[test]
fn five_wrong_unlock_codes_burn_it_until_the_lock_runs_out() {
    let mut p = verified();
    run(&mut p, &lock(1, EMAIL, 0), 0);
    for (n, left) in (1..=5).zip([4, 3, 2, 1, 0]) {
        assert_eq!(
            unlock_verdict(&run(&mut p, &unlock(n, EMAIL, "wrong"), MINUTE)),
            Some((UnlockRejectionReason::WrongCode, left)),
            "try {n}"
        );
    }
    let d = run(&mut p, &unlock(6, EMAIL, "unlock-1"), MINUTE);
    assert_eq!(
        unlock_verdict(&d),
        Some((UnlockRejectionReason::CodeBurned, 0))
    );
    let Some(IdentityEvent::UnlockRejected(r)) = &d.reply else {
        unreachable!()
    };
    assert_eq!(r.locked_until, LOCK_FOR, "for Retry-After");
    assert!(p.lock(EMAIL).is_some(), "still locked");
    // The lock lifts with time; a new lock gets a fresh code and tries.
    run(&mut p, &lock(2, EMAIL, LOCK_FOR), LOCK_FOR);
    assert!(matches!(
        run(&mut p, &unlock(7, EMAIL, "unlock-2"), LOCK_FOR).reply,
        Some(IdentityEvent::AccountUnlocked(_))
    ));
}

#[test]
fn a_lock_runs_out_at_the_exact_instant_it_ends() {
    let mut p = verified();
    run(&mut p, &lock(1, EMAIL, 0), 0);
    assert_eq!(
        unlock_verdict(&run(&mut p, &unlock(1, EMAIL, "unlock-1"), LOCK_FOR)),
        Some((UnlockRejectionReason::NotLocked, 0))
    );
    assert!(matches!(
        run(&mut p, &unlock(2, EMAIL, "unlock-1"), LOCK_FOR - 1).reply,
        Some(IdentityEvent::AccountUnlocked(_))
    ));
}

#[test]
fn known_and_unknown_addresses_get_the_same_lock_and_unlock_answers() {
    // What a client can learn from the answers: reasons, tries and times.
    let script = |p: &mut IdentityPartition, email: &str| {
        let mut seen = Vec::new();
        let l = run(p, &lock(1, email, 0), 0);
        seen.push(format!("{}", locked(&l).locked_until));
        let again = run(p, &lock(2, email, 1), 1);
        seen.push(format!(
            "{} {}",
            again.events.len(),
            locked(&again).locked_until
        ));
        for n in 0..7 {
            let d = run(p, &unlock(n, email, "wrong"), 2);
            seen.push(format!("{:?}", unlock_verdict(&d)));
        }
        let late = run(p, &unlock(9, email, "wrong"), LOCK_FOR);
        seen.push(format!("{:?}", unlock_verdict(&late)));
        seen
    };
    let known = script(&mut verified(), EMAIL);
    let unknown = script(&mut verified(), STRANGER);
    assert_eq!(known, unknown);
    assert!(known.iter().any(|s| s.contains("CodeBurned")), "{known:?}");
}

#[test]
fn run_out_locks_are_pruned_and_restored_partitions_decide_the_same() {
    let mut p = verified();
    let mut keys = Vec::new();
    for (cmd, now) in [
        (lock(1, EMAIL, 0), 0),
        (unlock(1, EMAIL, "wrong"), 1),
        (lock(2, STRANGER, MINUTE), MINUTE),
    ] {
        for e in p.decide(&cmd, now).events {
            keys.extend(p.apply(&e));
        }
    }
    let mut restored = IdentityPartition::new(IdentityConfig::default());
    for key in &keys {
        if let Some(rec) = p.record(key) {
            restored.load(rec);
        }
    }
    // Not the account itself (not among these keys): the lock decides alone.
    assert_eq!(restored.lock(EMAIL), p.lock(EMAIL));
    assert_eq!(restored.lock(EMAIL).map(|l| l.attempts_left), Some(4));
    for cmd in [unlock(5, EMAIL, "unlock-1"), unlock(6, STRANGER, "x")] {
        assert_eq!(restored.decide(&cmd, 2), p.decide(&cmd, 2));
    }
    assert!(p.prune_locks(LOCK_FOR - 1).is_empty(), "both still hold");
    assert_eq!(
        p.prune_locks(LOCK_FOR),
        vec![StateKey::Lock(EMAIL.into())],
        "the first ran out"
    );
    assert_eq!(p.record(&StateKey::Lock(EMAIL.into())), None, "deleted");
    assert!(p.lock(STRANGER).is_some());
    assert_eq!(
        unlock_verdict(&p.decide(&unlock(7, EMAIL, "unlock-1"), LOCK_FOR)),
        Some((UnlockRejectionReason::NotLocked, 0)),
        "a pruned lock answers as a run-out one"
    );
}

// --- API keys ----------------------------------------------------------------

const VENDOR: &str = "vera@example.com";

/// A partition holding the verified vendor `v1` at [`VENDOR`] and the
/// verified customer `c1` at [`EMAIL`].
fn with_vendor() -> IdentityPartition {
    let mut p = IdentityPartition::new(IdentityConfig::default());
    let mut reg = |email: &str, user: &str, role: Role, n: u32| {
        run(
            &mut p,
            &IdentityCommand::RegisterUser(RegisterUser {
                command_id: format!("reg-{user}").as_str().into(),
                user_id: user.into(),
                email: email.into(),
                name: user.into(),
                role,
                password_hash: "$argon2id$x".into(),
                otp: otp(n),
                requested_at: 0,
            }),
            0,
        );
        run(
            &mut p,
            &IdentityCommand::VerifyEmail(VerifyEmail {
                command_id: format!("ver-{user}").as_str().into(),
                email: email.into(),
                code_hash: format!("code-{n}"),
                requested_at: 0,
            }),
            0,
        );
    };
    reg(VENDOR, "v1", Role::Vendor, 1);
    reg(EMAIL, "c1", Role::Customer, 2);
    p
}

fn create_key(cmd: &str, key: &str, owner: &str, email: &str) -> IdentityCommand {
    IdentityCommand::CreateApiKey(CreateApiKey {
        command_id: cmd.into(),
        key_id: key.into(),
        owner_id: owner.into(),
        owner_email: email.into(),
        name: "partner".into(),
        prefix: format!("sk_live_{key}"),
        secret_hash: "ab".repeat(32),
        scopes: vec!["bookings:write".into(), "resources:read".into()],
        expires_at: Some(5_000),
        rate_per_second: Some(2),
        burst: None,
        requested_at: 0,
    })
}

fn revoke_key(cmd: &str, key: &str, by: &str) -> IdentityCommand {
    IdentityCommand::RevokeApiKey(RevokeApiKey {
        command_id: cmd.into(),
        key_id: key.into(),
        owner_email: VENDOR.into(),
        requested_by: by.into(),
        requested_at: 0,
    })
}

#[test]
fn a_verified_vendor_gets_a_key_holding_only_the_secrets_hash() {
    let mut p = with_vendor();
    let d = run(&mut p, &create_key("ck-1", "k1", "v1", VENDOR), 70);
    let Some(IdentityEvent::ApiKeyCreated(e)) = &d.reply else {
        panic!("created: {d:?}")
    };
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (e.key_id.as_str(), e.owner_id.as_str(), e.created_at),
        ("k1", "v1", 70)
    );
    assert_eq!(e.secret_hash, "ab".repeat(32));
    assert_eq!(
        (e.expires_at, e.rate_per_second, e.burst),
        (Some(5_000), Some(2), None)
    );
    let stored = p.api_key("k1").expect("kept");
    assert_eq!((&stored.created, &stored.revoked), (e, &None));
    // The event's partition key is the owner's email: one writer per owner.
    assert_eq!(crate::Event::partition_key(&d.events[0]), VENDOR);
}

#[test]
fn a_key_is_created_for_a_verified_vendor_of_that_address_only() {
    let mut p = with_vendor();
    // A customer, a user id that is not the address's, an unknown address.
    for cmd in [
        create_key("ck-1", "k1", "c1", EMAIL),
        create_key("ck-2", "k2", "c1", VENDOR),
        create_key("ck-3", "k3", "v1", "nobody@example.com"),
    ] {
        assert!(run(&mut p, &cmd, 1).is_none(), "{cmd:?}");
    }
    // An unverified vendor.
    run(
        &mut p,
        &IdentityCommand::RegisterUser(RegisterUser {
            command_id: "reg-v2".into(),
            user_id: "v2".into(),
            email: "new@example.com".into(),
            name: "New".into(),
            role: Role::Vendor,
            password_hash: "$argon2id$x".into(),
            otp: otp(9),
            requested_at: 0,
        }),
        0,
    );
    assert!(
        run(
            &mut p,
            &create_key("ck-4", "k4", "v2", "new@example.com"),
            1
        )
        .is_none()
    );
    assert!(p.api_key("k1").is_none() && p.api_key("k4").is_none());
}

#[test]
fn a_repeated_creation_answers_the_first_key_and_a_taken_id_is_ignored() {
    let mut p = with_vendor();
    let first = run(&mut p, &create_key("ck-1", "k1", "v1", VENDOR), 1);
    // The same command again (another gateway drew another id): the first key.
    let again = run(&mut p, &create_key("ck-1", "k9", "v1", VENDOR), 2);
    assert!(again.events.is_empty());
    assert_eq!(again.reply, first.reply);
    assert!(p.api_key("k9").is_none());
    // Another command naming an existing id changes nothing.
    assert!(run(&mut p, &create_key("ck-2", "k1", "v1", VENDOR), 3).is_none());
}

#[test]
fn only_the_owner_revokes_and_a_revocation_is_answered_once() {
    let mut p = with_vendor();
    run(&mut p, &create_key("ck-1", "k1", "v1", VENDOR), 1);
    assert!(run(&mut p, &revoke_key("rk-1", "k1", "c1"), 2).is_none());
    assert!(run(&mut p, &revoke_key("rk-2", "nope", "v1"), 2).is_none());
    assert_eq!(p.api_key("k1").map(|k| k.revoked.is_some()), Some(false));

    let d = run(&mut p, &revoke_key("rk-3", "k1", "v1"), 3);
    let Some(IdentityEvent::ApiKeyRevoked(r)) = &d.reply else {
        panic!("revoked: {d:?}")
    };
    assert_eq!((r.revoked_at, r.revoked_by.as_str()), (3, "v1"));
    assert_eq!(d.events.len(), 1);
    // Revoking again (a new command) answers with that revocation.
    let again = run(&mut p, &revoke_key("rk-4", "k1", "v1"), 9);
    assert!(again.events.is_empty());
    assert_eq!(again.reply, d.reply);
}

#[test]
fn keys_survive_a_restore_from_their_records() {
    let mut p = with_vendor();
    let mut dirty = Vec::new();
    for (cmd, at) in [
        (create_key("ck-1", "k1", "v1", VENDOR), 1),
        (revoke_key("rk-1", "k1", "v1"), 2),
        (create_key("ck-2", "k2", "v1", VENDOR), 3),
    ] {
        for e in p.decide(&cmd, at).events {
            dirty.extend(p.apply(&e));
        }
    }
    assert!(dirty.contains(&StateKey::ApiKey("k1".into())));
    let mut restored = IdentityPartition::new(IdentityConfig::default());
    for key in [
        StateKey::Account(VENDOR.into()),
        StateKey::ApiKey("k1".into()),
        StateKey::ApiKey("k2".into()),
        StateKey::Command("ck-2".into()),
    ] {
        let rec = p.record(&key).expect("stored");
        // Through postcard, as the stores keep it.
        let bytes = postcard::to_stdvec(&rec).expect("encode");
        restored.load(postcard::from_bytes(&bytes).expect("decode"));
    }
    assert_eq!(restored.api_key("k1"), p.api_key("k1"));
    assert_eq!(restored.api_key("k2"), p.api_key("k2"));
    assert_eq!(
        restored.decide(&revoke_key("rk-9", "k1", "v1"), 5),
        p.decide(&revoke_key("rk-9", "k1", "v1"), 5)
    );
    let replay = restored.decide(&create_key("ck-2", "k7", "v1", VENDOR), 6);
    assert!(matches!(replay.reply, Some(IdentityEvent::ApiKeyCreated(ref e)) if e.key_id == "k2"));
}

// --- Webhook subscriptions ---------------------------------------------------

fn create_hook(cmd: &str, id: &str, owner: &str, email: &str) -> IdentityCommand {
    IdentityCommand::CreateWebhook(CreateWebhook {
        command_id: cmd.into(),
        webhook_id: id.into(),
        owner_id: owner.into(),
        owner_email: email.into(),
        url: "https://hooks.example.com/in".into(),
        events: vec!["booking.confirmed".into()],
        description: Some("crm".into()),
        requested_at: 0,
    })
}

fn delete_hook(cmd: &str, id: &str, by: &str) -> IdentityCommand {
    IdentityCommand::DeleteWebhook(DeleteWebhook {
        command_id: cmd.into(),
        webhook_id: id.into(),
        owner_email: VENDOR.into(),
        requested_by: by.into(),
        requested_at: 0,
    })
}

#[test]
fn a_verified_vendor_subscribes_and_nobody_else_does() {
    let mut p = with_vendor();
    for cmd in [
        create_hook("cw-1", "wh1", "c1", EMAIL),
        create_hook("cw-2", "wh2", "c1", VENDOR),
        create_hook("cw-3", "wh3", "v1", "nobody@example.com"),
        create_hook("cw-4", "", "v1", VENDOR),
    ] {
        assert!(run(&mut p, &cmd, 1).is_none(), "{cmd:?}");
    }
    let d = run(&mut p, &create_hook("cw-5", "wh5", "v1", VENDOR), 70);
    let Some(IdentityEvent::WebhookCreated(e)) = &d.reply else {
        panic!("created: {d:?}")
    };
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (e.webhook_id.as_str(), e.owner_id.as_str(), e.created_at),
        ("wh5", "v1", 70)
    );
    assert_eq!(crate::Event::partition_key(&d.events[0]), VENDOR);
    assert_eq!(
        p.webhook("wh5").map(|w| (&w.created, &w.deleted)),
        Some((e, &None))
    );
    // The same command again answers the first subscription; a taken id
    // decides nothing.
    let again = run(&mut p, &create_hook("cw-5", "wh9", "v1", VENDOR), 71);
    assert!(again.events.is_empty());
    assert_eq!(again.reply, d.reply);
    assert!(run(&mut p, &create_hook("cw-6", "wh5", "v1", VENDOR), 72).is_none());
}

#[test]
fn only_the_owner_deletes_a_subscription_once_and_it_survives_a_restore() {
    let mut p = with_vendor();
    let mut dirty = Vec::new();
    for e in p
        .decide(&create_hook("cw-1", "wh1", "v1", VENDOR), 1)
        .events
    {
        dirty.extend(p.apply(&e));
    }
    assert!(run(&mut p, &delete_hook("dw-1", "wh1", "c1"), 2).is_none());
    assert!(run(&mut p, &delete_hook("dw-2", "nope", "v1"), 2).is_none());
    let d = p.decide(&delete_hook("dw-3", "wh1", "v1"), 3);
    let Some(IdentityEvent::WebhookDeleted(r)) = &d.reply else {
        panic!("deleted: {d:?}")
    };
    assert_eq!((r.deleted_at, r.deleted_by.as_str()), (3, "v1"));
    for e in &d.events {
        dirty.extend(p.apply(e));
    }
    assert!(dirty.contains(&StateKey::Webhook("wh1".into())));
    let again = run(&mut p, &delete_hook("dw-4", "wh1", "v1"), 9);
    assert!(again.events.is_empty());
    assert_eq!(again.reply, d.reply);

    let mut restored = IdentityPartition::new(IdentityConfig::default());
    for key in [
        StateKey::Account(VENDOR.into()),
        StateKey::Webhook("wh1".into()),
    ] {
        let rec = p.record(&key).expect("stored");
        let bytes = postcard::to_stdvec(&rec).expect("encode");
        restored.load(postcard::from_bytes(&bytes).expect("decode"));
    }
    assert_eq!(restored.webhook("wh1"), p.webhook("wh1"));
    assert!(restored.webhook("wh1").is_some_and(|w| w.deleted.is_some()));
}
