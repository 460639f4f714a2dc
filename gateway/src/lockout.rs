//! Failed-login back-off and lock-out, per account and per client address.
//!
//! Every login attempt is counted as a failure *before* the password is
//! checked and forgiven when it turns out right, so a burst of concurrent
//! guesses cannot slip past the count. Per account (normalized email, known
//! or not, so the answers reveal nothing about which accounts exist):
//! `free_failures` consecutive failures pass at once; each further one makes
//! the next attempt wait (1 s, doubling, at most `max_backoff`); the
//! `lock_after`-th locks the account for `lock_for`, and every failure after
//! it locks it again, so past the threshold guessing runs at one try per
//! `lock_for` (NIST SP 800-63B §5.2.2 allows at most 100 consecutive
//! failures). A successful login clears the count. Per client address the
//! same back-off applies to failures across all accounts (password
//! spraying), without a lock.
//!
//! **What is shared and what is per gateway.** The counts and back-offs live
//! in this gateway's memory, on its clock: several gateways each keep their
//! own, and a restart forgets them. The *lock* is shared: the login handler
//! turns the `lock_after`-th failure into a `LockAccount` command, the
//! identity processor makes it a fact of the address (`AccountLocked`: one
//! lock and one notice to a verified owner, with an unlock code, however
//! many gateways ask), and every gateway refuses logins while the
//! login-locks view says the lock holds. Until the view shows it, this
//! gateway's own wait ([`Lockout::locked`]) holds the account here. A lock
//! lifts by itself at its end, or early with the emailed code (`POST
//! /v1/auth/unlock`): the gateway that took the code forgets its count
//! ([`Lockout::unlocked`]); another gateway forgets its count of that
//! account when it sees the view row of the lock it recorded, lifted
//! ([`Lockout::attempt`]).

use crate::error::ApiError;
use dashmap::DashMap;
use slotstream_domain::Millis;
use slotstream_runtime::LoginLockView;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

/// The failed-login policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Consecutive failures per account answered without delay (default 10).
    pub free_failures: u32,
    /// Consecutive failures that lock an account (default 50, at most 100).
    pub lock_after: u32,
    /// How long a lock lasts (default 15 min).
    pub lock_for: Duration,
    /// Longest back-off between two attempts before the lock (default 60 s).
    pub max_backoff: Duration,
    /// Failures per client address, across accounts, answered without delay
    /// (default 100); then the same back-off, without a lock.
    pub client_free_failures: u32,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            free_failures: 10,
            lock_after: 50,
            lock_for: Duration::from_secs(15 * 60),
            max_backoff: Duration::from_secs(60),
            client_free_failures: 100,
        }
    }
}

/// The consecutive failures of one key.
#[derive(Clone, Copy, Debug, Default)]
struct Strikes {
    failures: u32,
    not_before: Millis,
    last: Millis,
    /// The end of the shared lock this gateway last asked for (accounts
    /// only): how it recognises that lock's row in the view.
    shared_until: Option<Millis>,
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// The wait after the `n`-th consecutive failure, `free` of them free.
fn backoff(n: u32, free: u32, max: Duration) -> Millis {
    if n <= free {
        return 0;
    }
    let doublings = (n - free - 1).min(30);
    millis(max).min(1_000i64.saturating_mul(1i64 << doublings))
}

#[derive(Debug)]
struct Counter<K: Hash + Eq> {
    strikes: DashMap<K, Strikes>,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn new() -> Self {
        Self {
            strikes: DashMap::new(),
        }
    }

    /// Counts one attempt as failed (`wait` gives the delay after the n-th);
    /// `Err(ms)` when the key must wait that long first. Returns the count
    /// with this attempt and the state before it (for [`Counter::restore`]).
    fn strike(
        &self,
        key: &K,
        now: Millis,
        wait: impl Fn(u32) -> Millis,
    ) -> Result<(u32, Strikes), Millis> {
        let mut s = self.strikes.entry(key.clone()).or_default();
        if now < s.not_before {
            return Err(s.not_before - now);
        }
        let before = *s;
        s.failures = s.failures.saturating_add(1);
        s.not_before = now.saturating_add(wait(s.failures));
        s.last = now;
        Ok((s.failures, before))
    }

    /// Takes back a strike that was not answered after all.
    fn restore(&self, key: &K, before: Strikes) {
        if let Some(mut s) = self.strikes.get_mut(key) {
            *s = before;
        }
    }

    fn forgive(&self, key: &K) {
        self.strikes.remove(key);
    }

    /// Takes back one counted attempt (the client of a successful login: its
    /// other failures stand, so one good account cannot wash a spray).
    fn undo_one(&self, key: &K) {
        if let Some(mut s) = self.strikes.get_mut(key) {
            s.failures = s.failures.saturating_sub(1);
        }
    }

    fn forget_before(&self, horizon: Millis, now: Millis) {
        self.strikes
            .retain(|_, s| s.last >= horizon || s.not_before > now);
        self.strikes.shrink_to_fit();
    }
}

/// An attempt let through: counted as failed until [`Lockout::succeeded`].
#[derive(Debug)]
#[must_use = "a successful login must be reported with Lockout::succeeded"]
pub struct Attempt {
    email: String,
    client: IpAddr,
    /// The account's consecutive failures, this attempt included.
    pub failures: u32,
    /// Whether this attempt, if it fails, locks the account (the
    /// `lock_after`-th consecutive failure or any later one).
    pub locks: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct Lockout {
    policy: LoginPolicy,
    accounts: Counter<String>,
    clients: Counter<IpAddr>,
}

fn too_many(wait_ms: Millis, locked: bool) -> ApiError {
    let secs = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000).max(1);
    let detail = if locked {
        "too many failed logins: this account is locked until the number of seconds in Retry-After \
         has passed; the owner of a registered account is emailed a code that unlocks it at once \
         (POST /v1/auth/unlock)"
    } else {
        "too many failed logins; retry after the number of seconds in Retry-After"
    };
    ApiError::rate_limited(secs, detail)
}

impl Lockout {
    /// A lock-out with `policy`.
    pub fn new(policy: LoginPolicy) -> Self {
        Self {
            policy,
            accounts: Counter::new(),
            clients: Counter::new(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &LoginPolicy {
        &self.policy
    }

    fn account_wait(&self, n: u32) -> Millis {
        let p = &self.policy;
        if n >= p.lock_after {
            millis(p.lock_for)
        } else {
            backoff(n, p.free_failures, p.max_backoff)
        }
    }

    /// The answer to a login on an account whose shared lock holds for
    /// `wait_ms` more: the same 429 as this gateway's own lock.
    pub fn locked_answer(wait_ms: Millis) -> ApiError {
        too_many(wait_ms, true)
    }

    /// Lets one login attempt on `email` from `client` through (counting it
    /// as failed), or answers 429 `rate_limited` with `Retry-After`.
    ///
    /// `shared` is the account's row in the login-locks view (the caller has
    /// already refused a lock that holds): when it shows the shared lock this
    /// gateway recorded, or a later one, lifted with the emailed code, the
    /// account's count here starts over.
    pub fn attempt(
        &self,
        email: &str,
        client: IpAddr,
        now: Millis,
        shared: Option<&LoginLockView>,
    ) -> Result<Attempt, ApiError> {
        let p = self.policy;
        let key = email.to_owned();
        if let Some(row) = shared {
            self.lifted(&key, row);
        }
        let (failures, before) = self
            .accounts
            .strike(&key, now, |n| self.account_wait(n))
            .map_err(|ms| too_many(ms, ms > millis(p.max_backoff)))?;
        // An attempt the client may not make yet does not count against the
        // account either.
        if let Err(ms) = self.clients.strike(&client, now, |n| {
            backoff(n, p.client_free_failures, p.max_backoff)
        }) {
            self.accounts.restore(&key, before);
            return Err(too_many(ms, false));
        }
        Ok(Attempt {
            email: key,
            client,
            failures,
            locks: failures >= p.lock_after,
        })
    }

    /// Forgets the account's count if `row` shows the shared lock recorded
    /// here (or a later one) lifted with the code.
    fn lifted(&self, email: &String, row: &LoginLockView) {
        let Some(mut s) = self.accounts.strikes.get_mut(email) else {
            return;
        };
        if let Some(mine) = s.shared_until
            && row.unlocked_at.is_some()
            && row.locked_until >= mine
        {
            *s = Strikes::default();
        }
    }

    /// The attempt's password was right: its account starts over, and it no
    /// longer counts against its client.
    pub fn succeeded(&self, attempt: Attempt) {
        self.accounts.forgive(&attempt.email);
        self.clients.undo_one(&attempt.client);
    }

    /// The shared lock of `email` (the one this gateway asked for, or one
    /// that already held) ends at `until`: this gateway's wait ends with it.
    pub fn locked(&self, email: &str, until: Millis) {
        if let Some(mut s) = self.accounts.strikes.get_mut(email) {
            s.not_before = until;
            s.shared_until = Some(until);
        }
    }

    /// The shared lock of `email` was lifted with the code through this
    /// gateway: its count starts over here at once.
    pub fn unlocked(&self, email: &str) {
        self.accounts.forgive(&email.to_owned());
    }

    /// Forgets counts idle for a day whose waits are over.
    pub fn housekeep(&self, now: Millis) {
        let horizon = now.saturating_sub(24 * 3_600_000);
        self.accounts.forget_before(horizon, now);
        self.clients.forget_before(horizon, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn policy() -> LoginPolicy {
        LoginPolicy {
            free_failures: 3,
            lock_after: 7,
            lock_for: Duration::from_secs(900),
            max_backoff: Duration::from_secs(4),
            client_free_failures: 1_000,
        }
    }

    /// Fails as fast as allowed; returns (failures let through, retry-afters).
    fn hammer(l: &Lockout, email: &str, now: &mut Millis, tries: u32) -> Vec<u64> {
        let mut waits = Vec::new();
        for _ in 0..tries {
            match l.attempt(email, IP, *now, None) {
                Ok(_) => waits.push(0),
                Err(e) => {
                    let s = e.retry_after.unwrap();
                    waits.push(s);
                    *now += i64::try_from(s).unwrap() * 1000;
                }
            }
        }
        waits
    }

    #[test]
    fn failures_back_off_then_lock_and_every_later_failure_locks_again() {
        let l = Lockout::new(policy());
        let mut now = 0;
        let waits = hammer(&l, "a@x.io", &mut now, 14);
        // 3 free; then 1 s, 2 s, 4 s (capped); the 7th locks for 900 s; after
        // it one try, which locks again.
        assert_eq!(waits, [0, 0, 0, 0, 1, 0, 2, 0, 4, 0, 900, 0, 900, 0]);
        let e = l.attempt("a@x.io", IP, now, None).unwrap_err();
        assert!(e.detail.contains("locked"), "{e}");
        assert!(l.attempt("b@x.io", IP, now, None).is_ok(), "per account");
    }

    #[test]
    fn a_success_clears_the_count() {
        let l = Lockout::new(policy());
        let mut now = 0;
        hammer(&l, "a@x.io", &mut now, 4);
        let a = l.attempt("a@x.io", IP, now + 10_000, None).unwrap();
        l.succeeded(a);
        for _ in 0..3 {
            assert!(l.attempt("a@x.io", IP, now + 10_000, None).is_ok());
        }
    }

    #[test]
    fn a_burst_of_concurrent_attempts_is_counted_before_any_answer() {
        let l = Lockout::new(policy());
        let through = (0..50)
            .filter(|_| l.attempt("a@x.io", IP, 0, None).is_ok())
            .count();
        assert_eq!(
            through, 4,
            "three free and the one that starts the back-off"
        );
    }

    #[test]
    fn one_client_failing_across_many_accounts_backs_off() {
        let l = Lockout::new(LoginPolicy {
            client_free_failures: 5,
            ..policy()
        });
        let through = (0..20)
            .filter(|n| l.attempt(&format!("u{n}@x.io"), IP, 0, None).is_ok())
            .count();
        assert_eq!(through, 6);
        assert!(l.attempt("v@x.io", [10, 0, 0, 9].into(), 0, None).is_ok());
    }

    /// Fails `email` until it locks; returns the lock's end.
    fn lock(l: &Lockout, email: &str, now: &mut Millis) -> Millis {
        loop {
            match l.attempt(email, IP, *now, None) {
                Ok(a) if a.locks => {
                    let until = *now + 900_000;
                    l.locked(email, until);
                    return until;
                }
                Ok(_) => {}
                Err(e) => *now += i64::try_from(e.retry_after.unwrap()).unwrap() * 1000,
            }
        }
    }

    fn row(until: Millis, unlocked_at: Option<Millis>) -> LoginLockView {
        LoginLockView {
            email: "a@x.io".into(),
            locked_until: until,
            unlocked_at,
        }
    }

    #[test]
    fn the_attempt_that_locks_says_so() {
        let l = Lockout::new(policy());
        let mut now = 0;
        let locks: Vec<bool> = (0..7)
            .map(|_| {
                now += 10_000;
                l.attempt("a@x.io", IP, now, None).unwrap().locks
            })
            .collect();
        assert_eq!(locks, [false, false, false, false, false, false, true]);
    }

    #[test]
    fn the_shared_lock_sets_the_wait_here() {
        let l = Lockout::new(policy());
        let mut now = 0;
        let until = lock(&l, "a@x.io", &mut now);
        // Another gateway's lock already held and ends earlier than ours would.
        l.locked("a@x.io", until - 60_000);
        let e = l.attempt("a@x.io", IP, now, None).unwrap_err();
        assert_eq!(e.retry_after, Some(840));
        assert!(e.detail.contains("locked"), "{e}");
        assert!(l.attempt("a@x.io", IP, until - 60_000, None).is_ok());
    }

    #[test]
    fn a_lock_lifted_with_the_code_elsewhere_starts_the_count_over_here() {
        let l = Lockout::new(policy());
        let mut now = 0;
        let until = lock(&l, "a@x.io", &mut now);
        let lifted = row(until, Some(now + 1));
        let first = l.attempt("a@x.io", IP, now + 2, Some(&lifted)).unwrap();
        assert_eq!((first.failures, first.locks), (1, false));
        assert!(l.attempt("a@x.io", IP, now + 2, Some(&lifted)).is_ok());
        assert!(l.attempt("a@x.io", IP, now + 2, Some(&lifted)).is_ok());
    }

    #[test]
    fn a_lock_that_ran_out_keeps_the_count_so_the_next_failure_locks_again() {
        let l = Lockout::new(policy());
        let mut now = 0;
        let until = lock(&l, "a@x.io", &mut now);
        let ran_out = row(until, None);
        let a = l.attempt("a@x.io", IP, until, Some(&ran_out)).unwrap();
        assert_eq!((a.failures, a.locks), (8, true));
    }

    #[test]
    fn an_older_lock_lifted_does_not_lift_the_one_recorded_here() {
        let l = Lockout::new(policy());
        let mut now = 0;
        let until = lock(&l, "a@x.io", &mut now);
        let older = row(until - 1, Some(now));
        assert!(l.attempt("a@x.io", IP, now, Some(&older)).is_err());
    }

    #[test]
    fn unlocking_through_this_gateway_starts_the_count_over() {
        let l = Lockout::new(policy());
        let mut now = 0;
        lock(&l, "a@x.io", &mut now);
        l.unlocked("a@x.io");
        let a = l.attempt("a@x.io", IP, now, None).unwrap();
        assert_eq!(a.failures, 1);
    }

    #[test]
    fn idle_counts_are_forgotten_after_a_day() {
        let l = Lockout::new(policy());
        let mut now = 0;
        hammer(&l, "a@x.io", &mut now, 2);
        l.housekeep(now + 25 * 3_600_000);
        assert!(l.accounts.strikes.is_empty());
    }
}
