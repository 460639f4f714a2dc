//! API keys for server-to-server partners: the key's format, its hash, the
//! scopes each route needs, the per-gateway cache of the keys view, and the
//! per-key quotas.
//!
//! A key is `sk_live_<id>_<secret>`: `<id>` is 24 lower-case hex digits
//! (12 random bytes), the public part the gateway looks the key up by;
//! `<secret>` is 64 lower-case hex digits (32 bytes from the operating
//! system's CSPRNG). Only `sha256(key)` is stored or sent anywhere; the key
//! itself is shown once, in the answer that created it. `sk_live_` makes a
//! leaked key recognisable to secret scanners; the id names which key to
//! revoke.
//!
//! **Revocation is at once on every gateway.** A gateway keeps a key it read
//! from the view for [`crate::config::GatewayConfig::api_key_cache_ttl`] (5 s
//! by default), and every gateway also follows the identity events from
//! their end ([`watch_revocations`], one task per partition): an
//! `ApiKeyRevoked` is remembered for [`REVOCATION_MEMORY`] and laid over any
//! copy of the key, cached or read from a view that has not applied the
//! revocation yet. So a revoked key is refused by every gateway as soon as the
//! revocation's record reaches it (milliseconds after the decision; the time
//! of one log read on Kafka), not after the cache's ttl or the view's lag. A
//! gateway started after a revocation reads it from the view. (A view still
//! lagging behind a revocation made just before a gateway started is the one
//! window left; it is as long as the view's lag.)

use crate::config::RateQuota;
use crate::error::ApiError;
use crate::tokens::Caller;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use sha2::{Digest, Sha256};
use slotstream_domain::identity::Role;
use slotstream_domain::{Millis, UserId};
use slotstream_runtime::ApiKeyView;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What every key starts with.
pub const KEY_PREFIX: &str = "sk_live_";
/// Hex digits of a key id.
const ID_HEX: usize = 24;
/// Hex digits of a key's secret part.
const SECRET_HEX: usize = 64;

/// The header naming the partner's end user a request is made for.
pub const CUSTOMER_REF: &str = "x-customer-ref";

/// Every scope a key can hold, and what it allows:
///
/// | scope | routes |
/// |---|---|
/// | `bookings:read` | `GET /v1/bookings`, `GET /v1/bookings/{id}`, `GET /v1/vendor/bookings`, `GET /v1/events` |
/// | `bookings:write` | `POST /v1/bookings`, `POST /v1/bookings/{id}/cancel` |
/// | `resources:read` | `GET /v1/resources`, `/v1/resources/{id}`, its `availability`, `schedule`, `slots`; `GET /v1/slots` |
/// | `resources:write` | `POST /v1/resources`, `PUT /v1/resources/{id}/schedule` |
/// | `payments:read` | `GET /v1/payments/{id}` |
/// | `payments:write` | `POST /v1/payments/{id}/complete` |
///
/// Every other route refuses a key (403): the keys themselves are managed
/// with an account's token only.
pub const SCOPES: [&str; 6] = [
    "bookings:read",
    "bookings:write",
    "resources:read",
    "resources:write",
    "payments:read",
    "payments:write",
];

/// The scope a route needs from a key; `None`: keys are refused there.
pub fn required_scope(method: &Method, route: &str) -> Option<&'static str> {
    let read = method == Method::GET || method == Method::HEAD;
    Some(match (read, route) {
        (true, "/v1/bookings" | "/v1/bookings/{id}" | "/v1/vendor/bookings" | "/v1/events") => {
            "bookings:read"
        }
        (false, "/v1/bookings" | "/v1/bookings/{id}/cancel") if method == Method::POST => {
            "bookings:write"
        }
        (
            true,
            "/v1/resources"
            | "/v1/resources/{id}"
            | "/v1/resources/{id}/availability"
            | "/v1/resources/{id}/schedule"
            | "/v1/resources/{id}/slots"
            | "/v1/slots",
        ) => "resources:read",
        (false, "/v1/resources") if method == Method::POST => "resources:write",
        (false, "/v1/resources/{id}/schedule") if method == Method::PUT => "resources:write",
        (true, "/v1/payments/{id}") => "payments:read",
        (false, "/v1/payments/{id}/complete") if method == Method::POST => "payments:write",
        _ => return None,
    })
}

/// A new key: shown once, then only its hash exists.
pub struct IssuedKey {
    /// Its id.
    pub key_id: String,
    /// `sk_live_<id>`: what listings show.
    pub prefix: String,
    /// The whole key (the caller's only copy).
    pub key: String,
    /// `sha256(key)`, lower-case hex.
    pub hash: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Draws a new key from the operating system's CSPRNG.
pub fn issue() -> IssuedKey {
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = [0u8; SECRET_HEX / 2];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let prefix = format!("{KEY_PREFIX}{key_id}");
    let key = format!("{prefix}_{}", hex::encode(secret));
    let hash = hash(&key);
    IssuedKey {
        key_id,
        prefix,
        key,
        hash,
    }
}

/// `sha256(key)`, lower-case hex.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The id of a well-formed key; `None` for anything else.
pub fn parse(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_of = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (hex_of(id, ID_HEX) && hex_of(secret, SECRET_HEX)).then_some(id)
}

/// Compares two strings in time independent of where they differ (their
/// lengths are public: both are SHA-256 in hex).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The key of a request's `Authorization: Bearer sk_...`, if it names one.
pub fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with("sk_")).then_some(token)
}

/// A request authenticated by a key (a request extension, read by the
/// [`Caller`] extractor).
#[derive(Clone, Debug)]
pub struct KeyAuth {
    /// The key as the views know it.
    pub key: ApiKeyView,
}

impl KeyAuth {
    /// The caller a key acts as on `route`: its owner, or with
    /// `X-Customer-Ref: <ref>` the owner's end user `partner:<owner>:<ref>`
    /// (a customer of its own: idempotency keys, ownership and "my
    /// bookings" are per end user). 403 when the key lacks the route's
    /// scope, or the route takes no keys.
    pub fn caller(
        &self,
        method: &Method,
        route: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Caller, ApiError> {
        let Some(scope) = route.and_then(|r| required_scope(method, r)) else {
            return Err(ApiError::forbidden(
                "API keys cannot be used on this route; use an account's access token",
            ));
        };
        if !self.key.scopes.iter().any(|s| s == scope) {
            return Err(ApiError::forbidden(format!(
                "this API key lacks the `{scope}` scope"
            )));
        }
        let owner = &self.key.owner_id;
        match customer_ref(headers)? {
            Some(r) => Ok(Caller {
                user_id: UserId(format!("partner:{owner}:{r}")),
                role: Role::Customer,
                email: self.key.owner_email.clone(),
            }),
            None => Ok(Caller {
                user_id: owner.clone(),
                role: Role::Vendor,
                email: self.key.owner_email.clone(),
            }),
        }
    }
}

/// The `X-Customer-Ref` header: 1 to 64 of `A-Z a-z 0-9 . _ -`.
fn customer_ref(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(v) = headers.get(CUSTOMER_REF) else {
        return Ok(None);
    };
    let ok = v.to_str().ok().filter(|s| {
        (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    ok.map(Some).ok_or_else(|| {
        ApiError::invalid(
            "X-Customer-Ref",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        )
    })
}

/// How long a gateway remembers a revocation it read from the identity
/// events: far longer than any view takes to apply it.
pub const REVOCATION_MEMORY: Duration = Duration::from_secs(3600);

/// The keys this gateway read or wrote lately, by id, and the revocations it
/// learnt from the log.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ApiKeyView, Instant)>>,
    /// Key id → (revoked at, when this gateway learnt it).
    revoked: Mutex<HashMap<String, (Millis, Instant)>>,
}

impl KeyCache {
    /// A cache keeping entries `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            revoked: Mutex::new(HashMap::new()),
        }
    }

    /// A key read within the last `ttl`, with any revocation learnt since.
    pub fn get(&self, key_id: &str) -> Option<ApiKeyView> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let key = entries
            .get(key_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(k, _)| k.clone())?;
        drop(entries);
        Some(self.overlay(key))
    }

    /// Remembers a key as read or written now.
    pub fn put(&self, key: ApiKeyView) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(key.key_id.clone(), (key, Instant::now()));
    }

    /// Records that `key_id` was revoked at `revoked_at` (from the log): the
    /// cached copy goes, and every copy read later shows the revocation.
    pub fn revoke(&self, key_id: &str, revoked_at: Millis) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key_id);
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_id.to_owned(), (revoked_at, Instant::now()));
    }

    /// `key` with a revocation this gateway learnt laid over it (a view may
    /// not have applied it yet).
    pub fn overlay(&self, mut key: ApiKeyView) -> ApiKeyView {
        if key.revoked_at.is_none()
            && let Some((at, _)) = self
                .revoked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key.key_id)
        {
            key.revoked_at = Some(*at);
        }
        key
    }

    /// Forgets entries older than the ttl, and revocations older than
    /// [`REVOCATION_MEMORY`].
    pub fn purge(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
        drop(entries);
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, learnt)| learnt.elapsed() < REVOCATION_MEMORY);
    }
}

/// Records read per call of the revocation watcher.
const WATCH_BATCH: usize = 512;
/// How long one read of the watcher waits for new records.
const WATCH_WAIT: Duration = Duration::from_secs(5);

/// Follows one identity-events partition from `from` and hands every
/// `ApiKeyRevoked` to `cache`, until the log closes or the gateway is gone.
pub async fn watch_revocations(
    cache: std::sync::Weak<crate::state::Inner>,
    reader: std::sync::Arc<dyn slotstream_runtime::LogReader>,
    codec: slotstream_schemas::Codec,
    tp: slotstream_runtime::TopicPartition,
    from: u64,
) {
    use slotstream_domain::identity::IdentityEvent;
    use slotstream_runtime::LogError;
    use slotstream_schemas::Envelope;
    let mut next = from;
    let mut backoff = Duration::from_millis(10);
    loop {
        match reader.read(&tp, next, WATCH_BATCH, WATCH_WAIT).await {
            Ok(records) => {
                backoff = Duration::from_millis(10);
                let Some(inner) = cache.upgrade() else {
                    return;
                };
                for r in records {
                    next = r.offset + 1;
                    // Poison is the identity processors' to dead-letter;
                    // this watcher only looks for revocations.
                    if let Ok(env) = codec.decode::<Envelope<IdentityEvent>>(&r.value)
                        && let IdentityEvent::ApiKeyRevoked(e) = env.payload
                    {
                        tracing::info!(key_id = %e.key_id, "API key revoked; refused from now on");
                        inner.api_keys.revoke(&e.key_id, e.revoked_at);
                    }
                }
            }
            Err(LogError::Closed) => return,
            Err(e) => {
                tracing::warn!(error = %e, partition = tp.partition, "reading identity events failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
        if cache.strong_count() == 0 {
            return;
        }
    }
}

/// Checks a presented key against its stored row at `now`: the same 401
/// for a wrong secret, a revoked key and an expired one.
pub fn check(key: &str, stored: Option<ApiKeyView>, now: Millis) -> Result<ApiKeyView, ApiError> {
    let stored = stored.ok_or_else(ApiError::unauthorized)?;
    if !same(&hash(key), &stored.secret_hash) || !stored.live_at(now) {
        return Err(ApiError::unauthorized());
    }
    Ok(stored)
}

/// One key's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Where a key's quota stands after a request: the `RateLimit-*` headers
/// (draft-ietf-httpapi-ratelimit-headers) and, when refused, `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    /// `RateLimit-Limit`: the bucket's size.
    pub limit: u32,
    /// `RateLimit-Remaining`: requests left at once.
    pub remaining: u32,
    /// `RateLimit-Reset`: seconds until the bucket is full again.
    pub reset: u64,
    /// Seconds until one request is allowed, when this one was refused.
    pub retry_after: Option<u64>,
}

impl QuotaState {
    /// Sets the `RateLimit-*` headers (and `Retry-After` when refused).
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

/// Per-key token buckets, each with the key's own quota or the default.
#[derive(Debug)]
pub struct Quotas {
    default: RateQuota,
    buckets: Mutex<HashMap<String, Bucket>>,
}

fn ceil_secs(s: f64) -> u64 {
    // Quotas are at least one token a second, so this is small.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = s.max(0.0).ceil() as u64;
    n
}

impl Quotas {
    /// Buckets with `default` for keys without a quota of their own.
    pub fn new(default: RateQuota) -> Self {
        Self {
            default,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The (rate, burst) a key gets.
    pub fn quota_of(&self, key: &ApiKeyView) -> (u32, u32) {
        (
            key.rate_per_second
                .filter(|r| *r > 0)
                .unwrap_or(self.default.per_second.get()),
            key.burst
                .filter(|b| *b > 0)
                .unwrap_or(self.default.burst.get()),
        )
    }

    /// Takes one request from the key's bucket at `now`.
    pub fn take(&self, key: &ApiKeyView, now: Instant) -> QuotaState {
        let (rate, burst) = self.quota_of(key);
        let (rate_f, burst_f) = (f64::from(rate), f64::from(burst));
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let b = buckets.entry(key.key_id.clone()).or_insert(Bucket {
            tokens: burst_f,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate_f).min(burst_f);
        b.at = now;
        let retry_after = if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            None
        } else {
            Some(ceil_secs((1.0 - b.tokens) / rate_f).max(1))
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let remaining = b.tokens.floor().max(0.0) as u32;
        QuotaState {
            limit: burst,
            remaining,
            reset: ceil_secs((burst_f - b.tokens) / rate_f),
            retry_after,
        }
    }

    /// Forgets buckets idle for a minute (full again by then at any quota
    /// of a burst up to 60 per second of rate).
    pub fn housekeep(&self, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.retain(|_, b| now.saturating_duration_since(b.at) < Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(rate: Option<u32>, burst: Option<u32>) -> ApiKeyView {
        let k = issue();
        ApiKeyView {
            key_id: k.key_id,
            owner_id: UserId("usr_v".into()),
            owner_email: "v@example.com".into(),
            name: "n".into(),
            prefix: k.prefix,
            secret_hash: k.hash,
            scopes: vec!["bookings:write".into()],
            expires_at: Some(1_000),
            rate_per_second: rate,
            burst,
            created_at: 0,
            revoked_at: None,
        }
    }

    #[test]
    fn a_key_parses_to_its_id_and_hashes_to_what_is_stored() {
        let k = issue();
        assert!(k.key.starts_with("sk_live_"));
        assert_eq!(k.key.len(), 8 + 24 + 1 + 64);
        assert_eq!(parse(&k.key), Some(k.key_id.as_str()));
        assert_eq!(hash(&k.key), k.hash);
        assert_ne!(issue().key, k.key, "fresh randomness each time");
        assert!(!format!("{k:?}").contains(&k.key), "Debug hides the key");
        for bad in [
            "",
            "sk_live_",
            "sk_test_0123",
            &k.key[..k.key.len() - 1],
            &k.key.to_uppercase(),
            &format!("{}x", k.key),
            &k.key.replace("sk_live_", "sk_live__"),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_wrong_secret_a_revoked_key_and_an_expired_one_are_all_401() {
        let k = issue();
        let mut stored = view(None, None);
        stored.secret_hash = k.hash.clone();
        assert!(check(&k.key, Some(stored.clone()), 999).is_ok());
        assert_eq!(
            check(&k.key, Some(stored.clone()), 1_000)
                .unwrap_err()
                .status,
            401
        );
        let other = issue();
        assert_eq!(
            check(&other.key, Some(stored.clone()), 0)
                .unwrap_err()
                .status,
            401
        );
        stored.revoked_at = Some(5);
        assert_eq!(check(&k.key, Some(stored), 0).unwrap_err().status, 401);
        assert_eq!(check(&k.key, None, 0).unwrap_err().status, 401);
    }

    #[test]
    fn a_revocation_read_from_the_log_overrides_cached_and_stale_copies() {
        let k = issue();
        let mut stored = view(None, None);
        stored.secret_hash = k.hash.clone();
        let cache = KeyCache::new(Duration::from_secs(60));
        cache.put(stored.clone());
        assert!(check(&k.key, cache.get(&stored.key_id), 0).is_ok());

        cache.revoke(&stored.key_id, 7);
        assert_eq!(cache.get(&stored.key_id), None, "the cached copy goes");
        // A view that has not applied the revocation yet still answers
        // the old row: the gateway lays what it learnt over it.
        let stale = cache.overlay(stored.clone());
        assert_eq!(stale.revoked_at, Some(7));
        assert_eq!(
            check(&k.key, Some(stale.clone()), 0).unwrap_err().status,
            401
        );
        // Cached again from that stale row, it stays revoked.
        cache.put(stored.clone());
        assert_eq!(
            cache.get(&stored.key_id).and_then(|v| v.revoked_at),
            Some(7)
        );
        // Other keys are untouched.
        let other = view(None, None);
        assert_eq!(cache.overlay(other).revoked_at, None);
        // Purging keeps a fresh revocation.
        cache.purge();
        assert_eq!(cache.overlay(stored).revoked_at, Some(7));
    }

    #[test]
    fn each_route_group_needs_its_scope_and_key_management_takes_none() {
        assert_eq!(
            required_scope(&Method::POST, "/v1/bookings"),
            Some("bookings:write")
        );
        assert_eq!(
            required_scope(&Method::GET, "/v1/bookings"),
            Some("bookings:read")
        );
        assert_eq!(
            required_scope(&Method::GET, "/v1/resources/{id}/slots"),
            Some("resources:read")
        );
        assert_eq!(
            required_scope(&Method::GET, "/v1/slots"),
            Some("resources:read")
        );
        assert_eq!(
            required_scope(&Method::PUT, "/v1/resources/{id}/schedule"),
            Some("resources:write")
        );
        assert_eq!(required_scope(&Method::POST, "/v1/api-keys"), None);
        assert_eq!(required_scope(&Method::DELETE, "/v1/bookings/{id}"), None);
        for s in SCOPES {
            assert!(s.contains(':'));
        }
    }

    #[test]
    fn a_customer_ref_makes_the_caller_a_stable_end_user_of_the_owner() {
        let auth = KeyAuth {
            key: view(None, None),
        };
        let mut h = HeaderMap::new();
        let owner = auth
            .caller(&Method::POST, Some("/v1/bookings"), &h)
            .unwrap();
        assert_eq!(
            (owner.user_id.as_str(), owner.role),
            ("usr_v", Role::Vendor)
        );
        h.insert(CUSTOMER_REF, "cust-42".parse().unwrap());
        let end_user = auth
            .caller(&Method::POST, Some("/v1/bookings"), &h)
            .unwrap();
        assert_eq!(end_user.user_id.as_str(), "partner:usr_v:cust-42");
        assert_eq!(end_user.role, Role::Customer);
        let err = auth
            .caller(&Method::GET, Some("/v1/bookings"), &h)
            .unwrap_err();
        assert_eq!(err.status, 403, "no bookings:read");
        h.insert(CUSTOMER_REF, "a b".parse().unwrap());
        let err = auth
            .caller(&Method::POST, Some("/v1/bookings"), &h)
            .unwrap_err();
        assert_eq!(err.errors[0].field, "X-Customer-Ref");
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_wait_and_refills() {
        let q = Quotas::new(RateQuota::new(10, 20));
        let key = view(Some(1), Some(2));
        let t0 = Instant::now();
        let first = q.take(&key, t0);
        assert_eq!(
            (first.limit, first.remaining, first.retry_after),
            (2, 1, None)
        );
        assert_eq!(q.take(&key, t0).remaining, 0);
        let refused = q.take(&key, t0);
        assert_eq!(
            (refused.remaining, refused.retry_after, refused.reset),
            (0, Some(1), 2)
        );
        assert_eq!(q.take(&key, t0 + Duration::from_secs(1)).retry_after, None);
        // Another key has a bucket of its own, at the default quota.
        let other = view(None, None);
        assert_eq!(q.take(&other, t0).limit, 20);
        q.housekeep(t0 + Duration::from_secs(120));
        assert_eq!(q.take(&key, t0 + Duration::from_secs(120)).remaining, 1);
    }
}
