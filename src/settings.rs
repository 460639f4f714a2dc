//! One typed configuration, layered: compiled defaults < TOML file
//! (`--config` or `SLOTSTREAM_CONFIG`) < `SLOTSTREAM_*` environment < flags.
//!
//! Every value is parsed and checked once, by [`Settings::load`]: durations
//! are [`Duration`]s, contact points a list, and a value out of range stops
//! the start with a message naming the setting and where it came from.
//! Nothing parses a setting again where it is used.
//!
//! Settings of one backend live in its section ([`EmbeddedSettings`],
//! [`KafkaSettings`], [`ScyllaSettings`]; TOML tables `[embedded]`,
//! `[kafka]`, `[scylla]`). Their `SLOTSTREAM_*` variables keep their flat
//! names (`SLOTSTREAM_KAFKA_BROKERS` is `kafka.brokers`), and so may a TOML
//! file (`kafka_brokers = ...`, `[librdkafka]`): [`layers::SECTIONED`] is the
//! one table of those names.

mod duration;
pub mod layers;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use slotstream_gateway::{ConnectionLimits, LoginPolicy, RateLimits, RateQuota};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Which storage and log the platform runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// One process, durable embedded log and views under the data dir.
    Embedded,
    /// Kafka, a schema registry and ScyllaDB.
    Kafka,
}

/// Everything configurable. A field's name outside the sections is its
/// `SLOTSTREAM_*` variable, lower-cased, without the prefix.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Gateway address (`SLOTSTREAM_LISTEN`).
    pub listen: String,
    /// Embedded log, views, keys, outbox (`SLOTSTREAM_DATA_DIR`).
    pub data_dir: PathBuf,
    /// How long an unpaid booking holds its slot (`15m`, `3s`).
    #[serde(with = "duration")]
    pub hold_ttl: Duration,
    /// How long a checkout submitted inside the hold keeps the slot for the
    /// payment's decision (`10m`).
    #[serde(with = "duration")]
    pub payment_decision_timeout: Duration,
    /// How long past `hold_expires_at` a booking with no checkout seen stays
    /// held (`30s`): must exceed the longest time a submitted checkout can
    /// take to be decided, the Kafka transaction timeout plus a restart.
    #[serde(with = "duration")]
    pub checkout_grace: Duration,
    /// How long after its submission a checkout whose payment became
    /// unknown (the provider did not answer in time) keeps the slot while
    /// the provider is asked (`30m`); never less than
    /// `payment_decision_timeout`. Unpaid then, the booking expires, and a
    /// payment that still succeeds is refunded.
    #[serde(with = "duration")]
    pub payment_unknown_hold: Duration,
    /// Random faults of the built-in sandbox payment provider, for demos
    /// and chaos runs: `unavailable=0.1,timeout=0.05,slow=0.1,lost_webhook=0.1`
    /// (each a chance per provider call). Unset: none.
    pub sandbox_faults: Option<String>,
    /// HS256 signing secret; generated once into the data dir when unset.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// SMTP server; unset writes `.eml` files to `<data_dir>/outbox/`.
    pub smtp_url: Option<String>,
    /// Sender address of every email.
    pub mail_from: String,
    /// `embedded` or `kafka`.
    pub backend: BackendKind,
    /// Public base URL of the gateway, used in checkout links (and, in
    /// distributed mode, where the payment processor's sandbox provider posts
    /// its webhooks: a gateway's address).
    pub public_url: Option<String>,
    /// Key for OTP derivation; generated into the data dir when unset. Every
    /// identity-notification process and gateway must share it.
    #[serde(skip_serializing)]
    pub otp_secret: Option<SecretString>,
    /// Key the payment provider signs webhooks with; generated into the data
    /// dir when unset. Every payment processor and gateway must share it.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<SecretString>,
    /// The embedded backend's settings (`[embedded]`).
    pub embedded: EmbeddedSettings,
    /// The Kafka backend's settings, with its schema registry (`[kafka]`).
    pub kafka: KafkaSettings,
    /// The distributed mode's read views (`[scylla]`).
    pub scylla: ScyllaSettings,
    /// Gateway: longest a connection may take to send a request head.
    #[serde(with = "duration")]
    pub http_header_timeout: Duration,
    /// Gateway: a connection silent this long either way is closed.
    #[serde(with = "duration")]
    pub http_idle_timeout: Duration,
    /// Gateway: most connections one client address holds at once.
    pub max_connections_per_client: usize,
    /// Gateway: how long a read sent with a `Consistency-Token` waits for
    /// the views to apply the write it names before answering 503
    /// `consistency_timeout` (`5s`).
    #[serde(with = "duration")]
    pub consistency_wait: Duration,
    /// Gateway: whether webhook URLs may point at loopback, private,
    /// link-local or unspecified addresses (`false`: refused, against SSRF;
    /// local setups and tests turn it on).
    pub webhook_allow_private: bool,
    /// Gateway: consecutive failed logins per account answered at once.
    pub login_free_failures: u32,
    /// Gateway: consecutive failed logins that lock an account (1 to 100).
    pub login_lock_after: u32,
    /// Gateway: how long a locked account stays locked.
    #[serde(with = "duration")]
    pub login_lock_for: Duration,
    /// Gateway: longest back-off between failed logins before the lock.
    #[serde(with = "duration")]
    pub login_max_backoff: Duration,
    /// Gateway: failed logins per client address, across accounts, answered
    /// at once before it backs off.
    pub login_client_free_failures: u32,
    /// Gateway: writes (bookings, cancellations, payment completions,
    /// resources) one user may make per second, sustained.
    pub rate_writes_per_user: u32,
    /// Gateway: writes one user may make back to back before the sustained
    /// rate applies.
    pub rate_writes_burst: u32,
    /// Gateway: `/v1/auth/*` calls one client address may make per second,
    /// sustained.
    pub rate_auth_per_ip: u32,
    /// Gateway: `/v1/auth/*` calls one client address may make back to back.
    pub rate_auth_burst: u32,
    /// Gateway: requests per second, sustained, of an API key created
    /// without a rate of its own.
    pub rate_api_key_per_second: u32,
    /// Gateway: requests back to back of an API key created without a
    /// burst of its own.
    pub rate_api_key_burst: u32,

    // ---- Operations: readiness and the auditor ----
    /// `/readyz`: a processor is ready once its partitions' state is
    /// restored and it is at most this many records behind the end of each
    /// input partition.
    pub ready_max_lag: u64,
    /// `slotstream up` runs the overlap auditor beside the processors
    /// (`SLOTSTREAM_AUDIT`; `false` leaves it out, for the few percent of
    /// throughput it costs on a small machine: BENCHMARKS.md; it can still
    /// run as its own process, `slotstream processor audit`).
    pub audit: bool,
    /// The auditor: how long after its deadline a hold may end, and how
    /// long a payment outcome may take to reach its booking (`2m`).
    #[serde(with = "duration")]
    pub audit_slack: Duration,
    /// Where spans go over OTLP (HTTP/protobuf), e.g.
    /// `http://collector:4318` (`/v1/traces` is added unless given). Unset:
    /// no spans are made and no trace context is written (ARCHITECTURE.md,
    /// "Traces").
    pub otlp_endpoint: Option<String>,
}

/// The embedded backend's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddedSettings {
    /// fsync every commit of the log (off only for benchmarks;
    /// `SLOTSTREAM_DURABLE`).
    pub durable: bool,
    /// How long the command topics keep records (`7d`; `None`: `forever`).
    /// Kafka topics get theirs from `init`.
    #[serde(with = "duration::or_forever")]
    pub retention_commands: Option<Duration>,
    /// How long the replies topic keeps records (`1h`).
    #[serde(with = "duration::or_forever")]
    pub retention_replies: Option<Duration>,
    /// How long the dead-letter topic keeps records (`30d`).
    #[serde(with = "duration::or_forever")]
    pub retention_dead_letters: Option<Duration>,
    /// How long the event topics keep records (`forever`: events are the
    /// source of truth the views and state are rebuilt from).
    #[serde(with = "duration::or_forever")]
    pub retention_events: Option<Duration>,
}

/// The Kafka backend's settings, with the schema registry's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSettings {
    /// Bootstrap servers (`SLOTSTREAM_KAFKA_BROKERS`).
    pub brokers: Option<String>,
    /// Confluent-compatible schema registry URL
    /// (`SLOTSTREAM_SCHEMA_REGISTRY_URL`).
    pub schema_registry_url: Option<String>,
    /// A prefix for every topic, consumer group and schema subject
    /// (`<namespace>.slotstream.booking-events`), so several deployments (or
    /// test runs) share one Kafka cluster; empty for none
    /// (`SLOTSTREAM_NAMESPACE`).
    pub namespace: String,
    /// This process's id in transactional ids and client ids; unset picks a
    /// random one per start (`SLOTSTREAM_INSTANCE`).
    pub instance: Option<String>,
    /// How long a processor keeps collecting records after the first before
    /// committing its transaction (latency vs throughput; `0ms` allowed).
    #[serde(with = "duration")]
    pub commit_interval: Duration,
    /// How long a processor's open transaction may live
    /// (`transaction.timeout.ms`, at least 1 s); also how long a crashed
    /// processor's last open transaction can hold back read_committed
    /// readers.
    #[serde(with = "duration")]
    pub transaction_timeout: Duration,
    /// Replication factor of the topics `init` creates.
    pub replication_factor: i16,
    /// Raw librdkafka properties passed through to every client (TOML
    /// `[kafka.librdkafka]`, or `[librdkafka]`).
    pub librdkafka: BTreeMap<String, String>,
}

/// The distributed mode's read views on ScyllaDB (or Cassandra).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScyllaSettings {
    /// Contact points, `host:port` (`SLOTSTREAM_SCYLLA_NODES`,
    /// comma-separated).
    #[serde(with = "duration::nodes")]
    pub nodes: Vec<String>,
    /// The keyspace of the read views.
    pub keyspace: String,
    /// Replication factor of the keyspace `init` creates.
    pub replication_factor: u32,
    /// The local datacenter, for DC-aware token-aware routing.
    pub local_dc: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let login = LoginPolicy::default();
        let connections = ConnectionLimits::default();
        let rate = RateLimits::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            hold_ttl: Duration::from_secs(15 * 60),
            payment_decision_timeout: Duration::from_secs(10 * 60),
            checkout_grace: Duration::from_secs(30),
            payment_unknown_hold: Duration::from_secs(30 * 60),
            sandbox_faults: None,
            jwt_secret: None,
            smtp_url: None,
            mail_from: "Slotstream <no-reply@slotstream.local>".into(),
            backend: BackendKind::Embedded,
            public_url: None,
            otp_secret: None,
            webhook_secret: None,
            embedded: EmbeddedSettings::default(),
            kafka: KafkaSettings::default(),
            scylla: ScyllaSettings::default(),
            http_header_timeout: connections.header_read_timeout,
            http_idle_timeout: connections.idle_timeout,
            max_connections_per_client: connections.max_connections_per_client,
            consistency_wait: Duration::from_secs(5),
            webhook_allow_private: false,
            login_free_failures: login.free_failures,
            login_lock_after: login.lock_after,
            login_lock_for: login.lock_for,
            login_max_backoff: login.max_backoff,
            login_client_free_failures: login.client_free_failures,
            rate_writes_per_user: rate.writes_per_user.per_second.get(),
            rate_writes_burst: rate.writes_per_user.burst.get(),
            rate_auth_per_ip: rate.auth_per_ip.per_second.get(),
            rate_auth_burst: rate.auth_per_ip.burst.get(),
            rate_api_key_per_second: rate.api_key_default.per_second.get(),
            rate_api_key_burst: rate.api_key_default.burst.get(),
            ready_max_lag: slotstream_runtime::telemetry::DEFAULT_READY_MAX_LAG,
            audit: true,
            audit_slack: Duration::from_secs(120),
            otlp_endpoint: None,
        }
    }
}

impl Default for EmbeddedSettings {
    /// The policy `slotstream init` gives the Kafka topics.
    fn default() -> Self {
        use slotstream_runtime::topics;
        Self {
            durable: true,
            retention_commands: topics::retention(&topics::BOOKING_COMMANDS),
            retention_replies: topics::retention(&topics::REPLIES),
            retention_dead_letters: topics::retention(&topics::DEAD_LETTERS),
            retention_events: topics::retention(&topics::BOOKING_EVENTS),
        }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: None,
            schema_registry_url: None,
            namespace: String::new(),
            instance: None,
            commit_interval: Duration::from_millis(5),
            transaction_timeout: Duration::from_secs(10),
            replication_factor: 1,
            librdkafka: BTreeMap::new(),
        }
    }
}

impl Default for ScyllaSettings {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            keyspace: "slotstream".into(),
            replication_factor: 1,
            local_dc: None,
        }
    }
}

/// The command line's settings: the top layer, over the environment.
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
pub struct Flags {
    /// Data directory (overrides `SLOTSTREAM_DATA_DIR`).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Gateway address (overrides `SLOTSTREAM_LISTEN`).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Writes one user may make per second, sustained (overrides
    /// `SLOTSTREAM_RATE_WRITES_PER_USER`).
    #[arg(long, global = true, value_name = "PER_SECOND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_writes_per_user: Option<u32>,
    /// Writes one user may make back to back (overrides
    /// `SLOTSTREAM_RATE_WRITES_BURST`).
    #[arg(long, global = true, value_name = "REQUESTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_writes_burst: Option<u32>,
    /// `/v1/auth/*` calls per client address per second, sustained
    /// (overrides `SLOTSTREAM_RATE_AUTH_PER_IP`).
    #[arg(long, global = true, value_name = "PER_SECOND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_auth_per_ip: Option<u32>,
    /// `/v1/auth/*` calls per client address back to back (overrides
    /// `SLOTSTREAM_RATE_AUTH_BURST`).
    #[arg(long, global = true, value_name = "REQUESTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_auth_burst: Option<u32>,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value has the wrong type or is out of range, or the file does not
    /// parse.
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> SettingsError {
    SettingsError::Invalid(msg.into())
}

impl Settings {
    /// Defaults < optional TOML file < `SLOTSTREAM_*` environment, checked.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        Self::load_with(file, &Flags::default())
    }

    /// [`Settings::load`] with the command line's `flags` over the rest.
    pub fn load_with(file: Option<&std::path::Path>, flags: &Flags) -> Result<Self, SettingsError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let file = file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("SLOTSTREAM_CONFIG").map(PathBuf::from));
        if let Some(f) = file {
            if !f.exists() {
                return Err(invalid(format!(
                    "config file {} does not exist",
                    f.display()
                )));
            }
            fig = fig.merge(layers::Sectioned(Toml::file(f)));
        }
        fig = fig
            .merge(layers::Sectioned(
                Env::prefixed("SLOTSTREAM_").ignore(&["CONFIG"]),
            ))
            .merge(Serialized::defaults(flags));
        let s: Settings = fig.extract().map_err(|e| invalid(layers::describe(e)))?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every bound a value's type does not: positive durations,
    /// retention of at least a minute, the lock-out's limits, non-zero
    /// rates, and what the kafka backend needs. [`Settings::load`] calls it;
    /// the platform calls it again on start for settings built in code.
    pub fn validate(&self) -> Result<(), SettingsError> {
        positive("hold_ttl", self.hold_ttl)?;
        positive("payment_decision_timeout", self.payment_decision_timeout)?;
        positive("checkout_grace", self.checkout_grace)?;
        if self.payment_unknown_hold < self.payment_decision_timeout {
            return Err(invalid(
                "payment_unknown_hold must be at least payment_decision_timeout (an unknown payment holds its slot longer, never shorter)",
            ));
        }
        if let Some(spec) = &self.sandbox_faults {
            slotstream_payments::SandboxFaults::parse(spec)
                .map_err(|e| invalid(format!("sandbox_faults: {e}")))?;
        }
        let e = &self.embedded;
        for (name, keep) in [
            ("retention_commands", e.retention_commands),
            ("retention_replies", e.retention_replies),
            ("retention_dead_letters", e.retention_dead_letters),
            ("retention_events", e.retention_events),
        ] {
            if keep.is_some_and(|d| d < Duration::from_secs(60)) {
                return Err(invalid(format!(
                    "{name} must be at least 1m (or \"forever\")"
                )));
            }
        }
        if self.kafka.transaction_timeout < Duration::from_secs(1) {
            return Err(invalid("kafka_transaction_timeout must be at least 1s"));
        }
        // A checkout submitted in time can reach its decision as late as the
        // Kafka transaction timeout (a crashed writer's open transaction holds
        // read_committed readers back that long), plus a restart.
        if self.backend == BackendKind::Kafka
            && self.checkout_grace <= self.kafka.transaction_timeout
        {
            return Err(invalid(
                "checkout_grace must exceed kafka_transaction_timeout (a checkout decided that late must still find its booking)",
            ));
        }
        if !(1..=100).contains(&self.login_lock_after) {
            return Err(invalid(
                "login_lock_after must be 1 to 100 (NIST SP 800-63B)",
            ));
        }
        if self.login_free_failures >= self.login_lock_after {
            return Err(invalid(
                "login_free_failures must be below login_lock_after",
            ));
        }
        positive("login_lock_for", self.login_lock_for)?;
        positive("login_max_backoff", self.login_max_backoff)?;
        positive("consistency_wait", self.consistency_wait)?;
        if self.max_connections_per_client == 0 {
            return Err(invalid("max_connections_per_client must be at least 1"));
        }
        positive("http_header_timeout", self.http_header_timeout)?;
        positive("http_idle_timeout", self.http_idle_timeout)?;
        positive("audit_slack", self.audit_slack)?;
        if let Some(url) = &self.otlp_endpoint
            && !url.starts_with("http://")
        {
            return Err(invalid(format!(
                "otlp_endpoint must be an http:// URL (OTLP over HTTP/protobuf, \
                 without TLS: put a collector beside the process), not {url:?}"
            )));
        }
        for (name, n) in [
            ("rate_writes_per_user", self.rate_writes_per_user),
            ("rate_writes_burst", self.rate_writes_burst),
            ("rate_auth_per_ip", self.rate_auth_per_ip),
            ("rate_auth_burst", self.rate_auth_burst),
            ("rate_api_key_per_second", self.rate_api_key_per_second),
            ("rate_api_key_burst", self.rate_api_key_burst),
        ] {
            if n == 0 {
                return Err(invalid(format!("{name} must be at least 1")));
            }
        }
        if self.backend == BackendKind::Kafka {
            required("kafka_brokers", self.kafka.brokers.as_deref())?;
            required(
                "schema_registry_url",
                self.kafka.schema_registry_url.as_deref(),
            )?;
            if self.scylla.nodes.is_empty() {
                return Err(needs("scylla_nodes"));
            }
        }
        Ok(())
    }

    /// The embedded log's retention per topic.
    pub fn retention(&self) -> slotstream_embedded::Retention {
        use slotstream_runtime::topics;
        let e = &self.embedded;
        let mut r = slotstream_embedded::Retention::platform();
        for t in topics::ALL {
            let keep = match t.name {
                n if n == topics::REPLIES.name => e.retention_replies,
                n if n == topics::DEAD_LETTERS.name => e.retention_dead_letters,
                n if n.ends_with("-events") => e.retention_events,
                _ => e.retention_commands,
            };
            r = r.with(t.name, keep);
        }
        r
    }

    /// The gateway's failed-login back-off and lock-out.
    pub fn login_policy(&self) -> LoginPolicy {
        LoginPolicy {
            free_failures: self.login_free_failures,
            lock_after: self.login_lock_after,
            lock_for: self.login_lock_for,
            max_backoff: self.login_max_backoff,
            client_free_failures: self.login_client_free_failures,
        }
    }

    /// The gateway's connection timeouts and per-client cap.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: self.http_header_timeout,
            idle_timeout: self.http_idle_timeout,
            max_connections_per_client: self.max_connections_per_client,
        }
    }

    /// The gateway's rate limits.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            writes_per_user: RateQuota::new(self.rate_writes_per_user, self.rate_writes_burst),
            auth_per_ip: RateQuota::new(self.rate_auth_per_ip, self.rate_auth_burst),
            api_key_default: RateQuota::new(self.rate_api_key_per_second, self.rate_api_key_burst),
        }
    }

    /// Where checkout links point.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// A distributed-mode setting that must be present: its value, or the
/// error naming its variable.
pub fn required<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, SettingsError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| needs(name))
}

fn needs(name: &str) -> SettingsError {
    invalid(format!(
        "backend kafka needs {name} (set SLOTSTREAM_{})",
        name.to_ascii_uppercase()
    ))
}

fn positive(name: &str, d: Duration) -> Result<(), SettingsError> {
    if d.is_zero() {
        return Err(invalid(format!("{name} must be positive")));
    }
    Ok(())
}

#[cfg(test)]
// figment's Jail API fixes the closure's (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_public_contract() {
        let s = Settings::default();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.hold_ttl, Duration::from_secs(900));
        assert_eq!(s.payment_decision_timeout, Duration::from_secs(600));
        assert_eq!(s.checkout_grace, Duration::from_secs(30));
        assert_eq!(s.backend, BackendKind::Embedded);
        assert!(s.smtp_url.is_none());
    }

    #[test]
    fn a_toml_file_is_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "hold_ttl = \"3s\"\nlisten = \"127.0.0.1:9000\"\n")?;
            jail.set_env("SLOTSTREAM_LISTEN", "127.0.0.1:9100");
            let s = Settings::load(Some(std::path::Path::new("s.toml"))).unwrap();
            assert_eq!(s.hold_ttl, Duration::from_secs(3));
            assert_eq!(s.listen, "127.0.0.1:9100");
            Ok(())
        });
    }

    #[test]
    fn gateway_limits_default_to_the_documented_values_and_are_checked() {
        let s = Settings::default();
        assert_eq!(s.login_policy(), LoginPolicy::default());
        assert_eq!(s.connection_limits(), ConnectionLimits::default());
        assert_eq!(s.rate_limits(), RateLimits::default());
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLOTSTREAM_LOGIN_LOCK_AFTER", "101");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("login_lock_after"), "{err}");
            jail.set_env("SLOTSTREAM_LOGIN_LOCK_AFTER", "20");
            jail.set_env("SLOTSTREAM_HTTP_IDLE_TIMEOUT", "0s");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("http_idle_timeout"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn on_kafka_the_checkout_grace_must_exceed_the_transaction_timeout() {
        let mut s = Settings {
            backend: BackendKind::Kafka,
            checkout_grace: Duration::from_secs(10),
            ..Settings::default()
        };
        s.kafka.brokers = Some("k:9092".into());
        s.kafka.schema_registry_url = Some("http://r:8081".into());
        s.scylla.nodes = vec!["s:9042".into()];
        let err = s.validate().unwrap_err();
        assert!(err.to_string().contains("checkout_grace"), "{err}");
        s.checkout_grace = Duration::from_secs(11);
        s.validate().unwrap();
        // The embedded backend has no transactions to wait out.
        s.backend = BackendKind::Embedded;
        s.checkout_grace = Duration::from_millis(1);
        s.validate().unwrap();
    }

    #[test]
    fn a_bad_hold_ttl_is_reported() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLOTSTREAM_HOLD_TTL", "soon");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("hold_ttl"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn retention_defaults_to_the_kafka_topics_policy_and_is_configurable() {
        let platform = slotstream_embedded::Retention::platform();
        assert_eq!(Settings::default().retention(), {
            // Same policy, listed in the settings' order.
            let mut p = platform.clone();
            for t in slotstream_runtime::topics::ALL {
                p = p.with(t.name, slotstream_runtime::topics::retention(&t));
            }
            p
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLOTSTREAM_RETENTION_REPLIES", "2h");
            jail.set_env("SLOTSTREAM_RETENTION_COMMANDS", "forever");
            let r = Settings::load(None).unwrap().retention();
            let of = |name: &str| r.topics.iter().find(|(t, _)| t == name).unwrap().1;
            assert_eq!(of("slotstream.replies"), Some(Duration::from_secs(7200)));
            assert_eq!(of("slotstream.booking-commands"), None);
            assert_eq!(of("slotstream.booking-events"), None);
            jail.set_env("SLOTSTREAM_RETENTION_EVENTS", "5s");
            let err = Settings::load(None).unwrap_err();
            assert!(err.to_string().contains("retention_events"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn every_documented_duration_form_loads() {
        figment::Jail::expect_with(|jail| {
            for (value, want) in [
                ("7d", Some(7 * 86_400)),
                ("30d", Some(30 * 86_400)),
                ("1h", Some(3_600)),
                ("1m", Some(60)),
                ("1h 30m", Some(5_400)),
                ("1h30m", Some(5_400)),
                ("forever", None),
                ("Forever", None),
            ] {
                jail.set_env("SLOTSTREAM_RETENTION_DEAD_LETTERS", value);
                let s = Settings::load(None).unwrap();
                assert_eq!(
                    s.embedded.retention_dead_letters,
                    want.map(Duration::from_secs),
                    "{value}"
                );
            }
            jail.set_env("SLOTSTREAM_HOLD_TTL", "3s");
            jail.set_env("SLOTSTREAM_KAFKA_COMMIT_INTERVAL", "0ms");
            jail.set_env("SLOTSTREAM_LOGIN_LOCK_FOR", "15m");
            jail.set_env("SLOTSTREAM_PAYMENT_DECISION_TIMEOUT", "2m");
            jail.set_env("SLOTSTREAM_CHECKOUT_GRACE", "45s");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.hold_ttl, Duration::from_secs(3));
            assert_eq!(s.payment_decision_timeout, Duration::from_secs(120));
            assert_eq!(s.checkout_grace, Duration::from_secs(45));
            assert_eq!(s.kafka.commit_interval, Duration::ZERO);
            assert_eq!(s.login_lock_for, Duration::from_secs(900));
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_setting_and_where_it_came_from() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLOTSTREAM_KAFKA_COMMIT_INTERVAL", "soon");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(
                err.contains("kafka_commit_interval \"soon\"")
                    && err.contains("SLOTSTREAM_KAFKA_COMMIT_INTERVAL"),
                "{err}"
            );
            jail.set_env("SLOTSTREAM_KAFKA_COMMIT_INTERVAL", "5ms");
            jail.set_env("SLOTSTREAM_RETENTION_EVENTS", "someday");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(
                err.contains("retention_events \"someday\"") && err.contains("\"forever\""),
                "{err}"
            );
            jail.set_env("SLOTSTREAM_RETENTION_EVENTS", "forever");
            jail.create_file("s.toml", "[kafka]\ntransaction_timeout = 10\n")?;
            let err = Settings::load(Some(std::path::Path::new("s.toml")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("kafka_transaction_timeout")
                    && err.contains("kafka.transaction_timeout in"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn backend_settings_load_from_sections_flat_keys_and_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "sections.toml",
                "backend = \"kafka\"\n\
                 [kafka]\nbrokers = \"k1:9092\"\nschema_registry_url = \"http://r:8081\"\n\
                 namespace = \"ns\"\ncommit_interval = \"20ms\"\n\
                 [kafka.librdkafka]\n\"security.protocol\" = \"SASL_SSL\"\n\
                 [scylla]\nnodes = [\"s1:9042\", \"s2:9042\"]\nkeyspace = \"views\"\n\
                 [embedded]\ndurable = false\n",
            )?;
            jail.create_file(
                "flat.toml",
                "backend = \"kafka\"\nkafka_brokers = \"k1:9092\"\n\
                 schema_registry_url = \"http://r:8081\"\nnamespace = \"ns\"\n\
                 kafka_commit_interval = \"20ms\"\nscylla_nodes = \"s1:9042, s2:9042\"\n\
                 scylla_keyspace = \"views\"\ndurable = false\n\
                 [librdkafka]\n\"security.protocol\" = \"SASL_SSL\"\n",
            )?;
            let sections = Settings::load(Some(std::path::Path::new("sections.toml"))).unwrap();
            let flat = Settings::load(Some(std::path::Path::new("flat.toml"))).unwrap();
            for s in [&sections, &flat] {
                assert_eq!(s.kafka.brokers.as_deref(), Some("k1:9092"));
                assert_eq!(s.kafka.namespace, "ns");
                assert_eq!(s.kafka.commit_interval, Duration::from_millis(20));
                assert_eq!(s.kafka.librdkafka["security.protocol"], "SASL_SSL");
                assert_eq!(s.scylla.nodes, ["s1:9042", "s2:9042"]);
                assert_eq!(s.scylla.keyspace, "views");
                assert!(!s.embedded.durable);
            }
            assert_eq!(sections.kafka, flat.kafka);

            // The environment's flat names beat either form of the file.
            jail.set_env("SLOTSTREAM_KAFKA_BROKERS", "k2:9092");
            jail.set_env("SLOTSTREAM_SCYLLA_NODES", "s3:9042");
            jail.set_env("SLOTSTREAM_DURABLE", "true");
            let s = Settings::load(Some(std::path::Path::new("sections.toml"))).unwrap();
            assert_eq!(s.kafka.brokers.as_deref(), Some("k2:9092"));
            assert_eq!(s.kafka.commit_interval, Duration::from_millis(20));
            assert_eq!(s.scylla.nodes, ["s3:9042"]);
            assert!(s.embedded.durable);

            jail.create_file(
                "both.toml",
                "kafka_brokers = \"a:1\"\n[kafka]\nbrokers = \"b:1\"\n",
            )?;
            let err = Settings::load(Some(std::path::Path::new("both.toml")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("kafka_brokers") && err.contains("twice"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_kafka_backend_is_refused_at_load_without_its_engines() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLOTSTREAM_BACKEND", "kafka");
            jail.set_env("SLOTSTREAM_KAFKA_BROKERS", "k:9092");
            jail.set_env("SLOTSTREAM_SCHEMA_REGISTRY_URL", "http://r:8081");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("SLOTSTREAM_SCYLLA_NODES"), "{err}");
            jail.set_env("SLOTSTREAM_SCYLLA_NODES", "s:9042");
            assert!(Settings::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn rate_limits_come_from_the_file_the_environment_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "rate_writes_per_user = 500\nrate_writes_burst = 1000\n",
            )?;
            jail.set_env("SLOTSTREAM_RATE_AUTH_PER_IP", "50");
            jail.set_env("SLOTSTREAM_RATE_WRITES_BURST", "2000");
            let file = Some(std::path::Path::new("s.toml"));
            let r = Settings::load(file).unwrap().rate_limits();
            assert_eq!(r.writes_per_user, RateQuota::new(500, 2000));
            assert_eq!(r.auth_per_ip, RateQuota::new(50, 500));

            let flags = Flags {
                rate_writes_per_user: Some(5_000),
                rate_auth_burst: Some(9),
                ..Flags::default()
            };
            let r = Settings::load_with(file, &flags).unwrap().rate_limits();
            assert_eq!(r.writes_per_user, RateQuota::new(5_000, 2000));
            assert_eq!(r.auth_per_ip, RateQuota::new(50, 9));

            let zero = Flags {
                rate_writes_burst: Some(0),
                ..Flags::default()
            };
            let err = Settings::load_with(file, &zero).unwrap_err();
            assert!(err.to_string().contains("rate_writes_burst"), "{err}");
            Ok(())
        });
    }
}
