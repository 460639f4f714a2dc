//! # slotstream-gateway: the REST gateway
//!
//! The gateway owns the public HTTP contract (`shared/docs/api-contract.md`):
//! it authenticates (argon2id passwords, HS256 JWTs), rate-limits, validates,
//! then writes **commands** to the log through [`Producer`] and answers from
//! the processors' **replies** and the **read views** ([`ViewStore`]). It never
//! decides availability, and it holds no state that matters: every decision is
//! the processors', so it runs unchanged when they live in other processes
//! over Kafka, and any number of gateways can run side by side.
//!
//! The invariants it keeps:
//! - **a command is never sent before its reply can be observed**: the waiter
//!   is registered first, and the reply router reads this gateway's replies
//!   partition from the offset it had when the gateway started;
//! - **a retried idempotent request proposes the same command**: command,
//!   booking and payment ids and the request hash are derived from (user,
//!   `Idempotency-Key`, canonical body), and answers are rendered from the reply
//!   event alone, so the status and body repeat;
//! - **no input causes a 500 or a panic**: every rejection, including
//!   extractor, routing, limit and timeout errors, is `application/problem+json`
//!   with a stable `code`, and 5xx bodies never carry internals.
//!
//! See [`routes`] for the endpoints, [`replies`] for request-reply over the
//! log and [`recent`] for read-your-writes.

pub mod api_keys;
pub mod config;
pub mod consistency;
pub mod dto;
pub mod error;
pub mod extract;
pub mod ids;
pub mod limits;
pub mod lockout;
pub mod metrics;
pub mod openapi;
pub mod passwords;
pub mod recent;
pub mod render;
pub mod replies;
pub mod rfc3339;
pub mod routes;
pub mod serve;
pub mod slot_search;
pub mod state;
pub mod tokens;

pub use config::{GatewayConfig, RateLimits, RateQuota};
pub use error::ApiError;
pub use lockout::LoginPolicy;
pub use serve::ConnectionLimits;

use crate::limits::Limiters;
use crate::lockout::Lockout;
use crate::metrics::Metrics;
use crate::passwords::Passwords;
use crate::recent::Recent;
use crate::replies::Replies;
use crate::state::{AppState, Inner, RecentWrites};
use crate::tokens::Tokens;
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::{Clock, LogError, LogReader, Producer, TopicPartition, ViewStore, topics};
use slotstream_schemas::Codec;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often idle rate-limit buckets and expired cache entries are dropped.
const HOUSEKEEPING: Duration = Duration::from_secs(30);

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The replies partition's end offset could not be read.
    #[error("cannot read the replies topic: {0}; check that the log is up and the topics exist")]
    Log(#[from] LogError),
    /// A configuration value is unusable.
    #[error("gateway configuration invalid: {0}")]
    Config(String),
    /// The password hasher could not be initialised.
    #[error("password hashing unavailable: {0}")]
    Hashing(String),
}

/// A running gateway: its reply router and housekeeping run until the last
/// router built from it is dropped.
#[derive(Debug)]
pub struct Gateway {
    state: AppState,
}

fn check(cfg: &GatewayConfig) -> Result<(), GatewayError> {
    let bad = |m: &str| Err(GatewayError::Config(m.to_owned()));
    if cfg.gateway_id.is_empty() {
        return bad("gateway_id must not be empty (use GatewayConfig::fresh_gateway_id())");
    }
    if cfg.wait_budget.is_zero() {
        return bad("wait_budget must be positive");
    }
    if cfg.request_timeout <= cfg.wait_budget {
        return bad("request_timeout must be longer than wait_budget");
    }
    let login = &cfg.login;
    if login.lock_after == 0 || login.lock_after > 100 {
        return bad("login.lock_after must be 1 to 100 (NIST SP 800-63B)");
    }
    if login.free_failures >= login.lock_after {
        return bad("login.free_failures must be below login.lock_after");
    }
    let conns = &cfg.connections;
    if conns.max_connections_per_client == 0
        || conns.header_read_timeout.is_zero()
        || conns.idle_timeout.is_zero()
    {
        return bad("connection limits and timeouts must be positive");
    }
    if cfg.jwt_ttl.as_secs() == 0 {
        return bad("jwt_ttl must be at least one second");
    }
    Ok(())
}

impl Gateway {
    /// Starts the reply router (from the replies partition's current end) and
    /// the housekeeping task; the gateway can answer once this returns.
    pub async fn start(
        cfg: GatewayConfig,
        producer: Arc<dyn Producer>,
        reader: Arc<dyn LogReader>,
        views: Arc<dyn ViewStore>,
        clock: Arc<dyn Clock>,
        codec: Codec,
    ) -> Result<Self, GatewayError> {
        check(&cfg)?;
        let partition = partition_for(cfg.gateway_id.as_bytes(), topics::REPLIES.partitions);
        let tp = TopicPartition::new(topics::REPLIES.name, partition);
        let from = reader.end_offset(&tp).await?;
        let passwords = Passwords::new(cfg.argon2_concurrency)
            .await
            .map_err(GatewayError::Hashing)?;
        let ttl = i64::try_from(cfg.recent_ttl.as_millis()).unwrap_or(i64::MAX);
        let cap = cfg.recent_capacity;
        let replies = Arc::new(Replies::default());
        replies.mark_alive();
        let inner = Arc::new(Inner {
            tokens: Tokens::new(&cfg.jwt_secret, cfg.jwt_ttl),
            limits: Limiters::new(&cfg.rate),
            api_keys: api_keys::KeyCache::new(cfg.api_key_cache_ttl),
            quotas: api_keys::Quotas::new(cfg.rate.api_key_default),
            lockout: Lockout::new(cfg.login),
            recent: RecentWrites {
                bookings: Recent::new(cap, ttl),
                payments: Recent::new(cap, ttl),
                resources: Recent::new(cap, ttl),
                users: Recent::new(cap, ttl),
                locks: Recent::new(cap, ttl),
            },
            replies: replies.clone(),
            passwords,
            metrics: Metrics::new(cfg.telemetry.clone()),
            producer,
            views,
            reader: reader.clone(),
            clock,
            codec: codec.clone(),
            tasks: std::sync::Mutex::new(Vec::new()),
            cfg,
        });
        let router = tokio::spawn(replies::route(
            replies,
            reader,
            codec,
            tp,
            from,
            inner.cfg.gateway_id.clone(),
        ));
        let housekeeping = tokio::spawn(housekeep(Arc::downgrade(&inner)));
        let mut watchers = Vec::new();
        for p in 0..topics::IDENTITY_EVENTS.partitions {
            let tp = TopicPartition::new(topics::IDENTITY_EVENTS.name, p);
            let from = inner.reader.end_offset(&tp).await?;
            watchers.push(tokio::spawn(api_keys::watch_revocations(
                Arc::downgrade(&inner),
                inner.reader.clone(),
                inner.codec.clone(),
                tp,
                from,
            )));
        }
        if let Ok(mut tasks) = inner.tasks.lock() {
            tasks.push(router.abort_handle());
            tasks.push(housekeeping.abort_handle());
            tasks.extend(watchers.iter().map(tokio::task::JoinHandle::abort_handle));
        }
        tracing::info!(gateway_id = %inner.cfg.gateway_id, partition, from, "gateway started");
        Ok(Self {
            state: AppState(inner),
        })
    }

    /// The whole API as an axum router (state applied). Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so per-IP limits
    /// see client addresses, or use [`Gateway::serve`].
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// This instance's id (the `reply_to` of its commands).
    pub fn gateway_id(&self) -> &str {
        &self.state.cfg.gateway_id
    }

    /// Serves the API on `listener` until `shutdown` resolves, then stops
    /// accepting connections and drains the requests in flight; with the
    /// configured header-read and idle timeouts and per-client connection cap
    /// ([`serve::serve`]).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = self.state.cfg.connections;
        serve::serve(listener, self.router(), limits, shutdown).await
    }
}

/// Drops idle limiter buckets and expired cache entries, and keeps the
/// histograms' storage bounded, while the gateway lives.
async fn housekeep(state: Weak<Inner>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(st) = state.upgrade() else { return };
        let now = st.clock.now();
        st.limits.housekeep();
        st.quotas.housekeep(std::time::Instant::now());
        st.api_keys.purge();
        st.lockout.housekeep(now);
        st.recent.bookings.purge(now);
        st.recent.payments.purge(now);
        st.recent.resources.purge(now);
        st.recent.users.purge(now);
        st.recent.locks.purge(now);
        st.metrics.upkeep();
    }
}
