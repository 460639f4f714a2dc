//! The gateway's configuration: passed in by the composition root, never read
//! from globals.

use crate::lockout::LoginPolicy;
use crate::serve::ConnectionLimits;
use secrecy::SecretString;
use std::num::NonZeroU32;
use std::time::Duration;

/// A token bucket: `per_second` requests per second on average, up to `burst`
/// at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateQuota {
    /// Sustained rate (tokens added per second).
    pub per_second: NonZeroU32,
    /// Bucket size (requests allowed back to back).
    pub burst: NonZeroU32,
}

impl RateQuota {
    /// A quota of `per_second` with a bucket of `burst`; zeros become one.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// Rate limits, each answered with 429 `rate_limited` and `Retry-After`.
///
/// The defaults are sized for real clients and for the load benchmark, which
/// spreads its traffic over many users (one bucket each) but registers and
/// logs them in from one address:
///
/// | limit | key | default |
/// |---|---|---|
/// | `writes_per_user` | authenticated user | 100/s, burst 200: `POST` bookings, cancel, payment completion, resources |
/// | `auth_per_ip` | client IP address | 100/s, burst 500: every `/v1/auth/*` call |
/// | `api_key_default` | API key | 10/s, burst 20: every request with the key (a key may carry its own) |
///
/// Both are settings of the binary (`SLOTSTREAM_RATE_WRITES_PER_USER`,
/// `_WRITES_BURST`, `_AUTH_PER_IP`, `_AUTH_BURST`).
///
/// Password guessing is bounded by the failed-login back-off and lock-out
/// ([`crate::lockout::LoginPolicy`]), not by a rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Writes per authenticated user.
    pub writes_per_user: RateQuota,
    /// Auth calls per client IP.
    pub auth_per_ip: RateQuota,
    /// Requests per API key without a quota of its own.
    pub api_key_default: RateQuota,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            writes_per_user: RateQuota::new(100, 200),
            auth_per_ip: RateQuota::new(100, 500),
            api_key_default: RateQuota::new(10, 20),
        }
    }
}

/// Everything a gateway instance needs to know.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Unique per running instance: commands carry it as `reply_to`, and the
    /// replies for it land on partition `murmur2(gateway_id) % 4` of
    /// `slotstream.replies`.
    pub gateway_id: String,
    /// Public base URL (checkout links, the sandbox provider's webhooks).
    pub public_url: String,
    /// How long a request waits for its decision before answering 202
    /// `processing` (default 5 s).
    pub wait_budget: Duration,
    /// Shared with the payment provider; verifies `Slotstream-Signature`.
    pub webhook_secret: SecretString,
    /// HS256 key of access tokens.
    pub jwt_secret: SecretString,
    /// Key of OTP derivation and hashing (shared with the identity and
    /// notification processors).
    pub otp_secret: SecretString,
    /// Access token lifetime (default 15 min).
    pub jwt_ttl: Duration,
    /// Password hashes computed at once (default: the number of cores).
    pub argon2_concurrency: usize,
    /// Rate limits.
    pub rate: RateLimits,
    /// Failed-login back-off and lock-out.
    pub login: LoginPolicy,
    /// Connection limits of [`crate::Gateway::serve`].
    pub connections: ConnectionLimits,
    /// Whole-request deadline, answered 503 `timeout` (default 30 s; keep it
    /// above `wait_budget`).
    pub request_timeout: Duration,
    /// Largest request body accepted, bytes (default 64 KiB).
    pub body_limit: usize,
    /// Entries of the read-your-writes cache per kind (default 100 000).
    pub recent_capacity: usize,
    /// How long an entry of the read-your-writes cache is used (default 60 s).
    pub recent_ttl: Duration,
    /// How long a gateway uses an API key it read from the view (default
    /// 5 s). Revocations do not wait for it: every gateway follows them on
    /// the log ([`crate::api_keys::watch_revocations`]).
    pub api_key_cache_ttl: Duration,
    /// How long a read that sent a `Consistency-Token` waits for the views
    /// to apply the write it names before answering 503
    /// `consistency_timeout` (default 5 s).
    pub consistency_wait: Duration,
    /// Whether webhook URLs may point at loopback, private, link-local or
    /// unspecified addresses (default false: refused with 422, against
    /// SSRF; tests and local setups turn it on).
    pub webhook_allow_private: bool,
    /// The process's recorder and readiness (`/metrics`, `/readyz`); a
    /// fresh one of its own by default. `slotstream up` passes the
    /// platform's, so the gateway serves the processors' metrics too.
    pub telemetry: slotstream_runtime::Telemetry,
}

impl GatewayConfig {
    /// A configuration with the documented defaults for everything else.
    pub fn new(
        gateway_id: impl Into<String>,
        public_url: impl Into<String>,
        webhook_secret: SecretString,
        jwt_secret: SecretString,
        otp_secret: SecretString,
    ) -> Self {
        Self {
            gateway_id: gateway_id.into(),
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            wait_budget: Duration::from_secs(5),
            webhook_secret,
            jwt_secret,
            otp_secret,
            jwt_ttl: Duration::from_secs(15 * 60),
            argon2_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            rate: RateLimits::default(),
            login: LoginPolicy::default(),
            connections: ConnectionLimits::default(),
            request_timeout: Duration::from_secs(30),
            body_limit: 64 * 1024,
            recent_capacity: 100_000,
            recent_ttl: Duration::from_secs(60),
            api_key_cache_ttl: Duration::from_secs(5),
            consistency_wait: Duration::from_secs(5),
            webhook_allow_private: false,
            telemetry: slotstream_runtime::Telemetry::new(),
        }
    }

    /// A gateway id unique to this process start: `gw-<uuid v4>`.
    pub fn fresh_gateway_id() -> String {
        format!("gw-{}", uuid::Uuid::new_v4().simple())
    }
}
