//! Keyed rate limits (GCRA token buckets from `governor`): per user on writes,
//! per client IP on `/v1/auth/*` (failed logins: `crate::lockout`). Buckets of idle keys
//! are dropped by the housekeeping task, so memory follows active clients.

use crate::config::{RateLimits, RateQuota};
use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;

fn limiter<K: Hash + Eq + Clone>(q: RateQuota) -> DefaultKeyedRateLimiter<K> {
    RateLimiter::keyed(Quota::per_second(q.per_second).allow_burst(q.burst))
}

/// Every keyed limiter of one gateway.
#[derive(Debug)]
pub struct Limiters {
    writes: DefaultKeyedRateLimiter<String>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn check<K: Hash + Eq + Clone>(
    l: &DefaultKeyedRateLimiter<K>,
    clock: &DefaultClock,
    key: &K,
    what: &str,
) -> Result<(), ApiError> {
    l.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(clock.now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::rate_limited(
            secs,
            format!("too many {what}; retry after the number of seconds in Retry-After"),
        )
    })
}

impl Limiters {
    /// Limiters with these quotas.
    pub fn new(rate: &RateLimits) -> Self {
        Self {
            writes: limiter(rate.writes_per_user),
            auth: limiter(rate.auth_per_ip),
            clock: DefaultClock::default(),
        }
    }

    /// One write by `user`.
    pub fn write(&self, user: &str) -> Result<(), ApiError> {
        check(
            &self.writes,
            &self.clock,
            &user.to_owned(),
            "writes by this user",
        )
    }

    /// One auth call from `ip`.
    pub fn auth(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(
            &self.auth,
            &self.clock,
            &ip,
            "authentication requests from this address",
        )
    }

    /// Forgets buckets that are full again (idle keys).
    pub fn housekeep(&self) {
        self.writes.retain_recent();
        self.auth.retain_recent();
        self.writes.shrink_to_fit();
        self.auth.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_call_is_429_with_retry_after() {
        let l = Limiters::new(&RateLimits {
            writes_per_user: RateQuota::new(1, 3),
            ..RateLimits::default()
        });
        for _ in 0..3 {
            assert!(l.write("usr_1").is_ok());
        }
        let err = l.write("usr_1").unwrap_err();
        assert_eq!(err.code, "rate_limited");
        assert_eq!(err.status.as_u16(), 429);
        assert_eq!(err.retry_after, Some(1));
        // Buckets are per key.
        assert!(l.write("usr_2").is_ok());
    }

    #[test]
    fn auth_limits_are_keyed_by_ip() {
        let l = Limiters::new(&RateLimits {
            auth_per_ip: RateQuota::new(1, 1),
            ..RateLimits::default()
        });
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!(l.auth(ip).is_ok());
        assert!(l.auth(ip).is_err());
        assert!(l.auth([10, 0, 0, 1].into()).is_ok());
        l.housekeep();
    }
}
