//! One typed configuration, layered: compiled defaults < TOML file
//! (`--config` or `SLOTSTREAM_CONFIG`) < `SLOTSTREAM_*` environment < flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use slotstream_gateway::{ConnectionLimits, LoginPolicy};
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

/// Everything configurable. Field names are the `SLOTSTREAM_*` variables,
/// lower-cased, without the prefix.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Gateway address (`SLOTSTREAM_LISTEN`).
    pub listen: String,
    /// Embedded log, views, keys, outbox (`SLOTSTREAM_DATA_DIR`).
    pub data_dir: PathBuf,
    /// How long an unpaid booking holds its slot, e.g. `15m`, `3s`.
    pub hold_ttl: String,
    /// HS256 signing secret; generated once into the data dir when unset.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// SMTP server; unset writes `.eml` files to `<data_dir>/outbox/`.
    pub smtp_url: Option<String>,
    /// Sender address of every email.
    pub mail_from: String,
    /// `embedded` or `kafka`.
    pub backend: BackendKind,
    /// Kafka bootstrap servers (distributed mode).
    pub kafka_brokers: Option<String>,
    /// Confluent-compatible schema registry URL (distributed mode).
    pub schema_registry_url: Option<String>,
    /// ScyllaDB / Cassandra contact points (distributed mode).
    pub scylla_nodes: Option<String>,
    /// Raw librdkafka properties passed through to every client.
    pub librdkafka: BTreeMap<String, String>,
    /// fsync every commit of the embedded log (off only for benchmarks).
    pub durable: bool,
    /// Embedded mode: how long the command topics keep records (`7d`;
    /// `forever` keeps them). Kafka topics get theirs from `init`.
    pub retention_commands: String,
    /// Embedded mode: how long the replies topic keeps records (`1h`).
    pub retention_replies: String,
    /// Embedded mode: how long the dead-letter topic keeps records (`30d`).
    pub retention_dead_letters: String,
    /// Embedded mode: how long the event topics keep records (`forever`:
    /// events are the source of truth the views and state are rebuilt from).
    pub retention_events: String,
    /// Public base URL of the gateway, used in checkout links (and, in
    /// distributed mode, where the payment processor's sandbox provider posts
    /// its webhooks: a gateway's address).
    pub public_url: Option<String>,
    /// Distributed mode: a prefix for every topic, consumer group and schema
    /// subject (`<namespace>.slotstream.booking-events`), so several
    /// deployments (or test runs) share one Kafka cluster; empty for none.
    pub namespace: String,
    /// Distributed mode: this process's id in transactional ids and client ids;
    /// unset picks a random one per start.
    pub instance: Option<String>,
    /// Distributed mode: how long a processor keeps collecting records after
    /// the first before committing its transaction (latency vs throughput).
    pub kafka_commit_interval: String,
    /// Distributed mode: how long a processor's open transaction may live
    /// (`transaction.timeout.ms`); also how long a crashed processor's last
    /// open transaction can hold back read_committed readers.
    pub kafka_transaction_timeout: String,
    /// Distributed mode: replication factor of the topics `init` creates.
    pub kafka_replication_factor: i16,
    /// Distributed mode: the keyspace of the read views.
    pub scylla_keyspace: String,
    /// Distributed mode: replication factor of the keyspace `init` creates.
    pub scylla_replication_factor: u32,
    /// Distributed mode: the local datacenter, for DC-aware token-aware routing.
    pub scylla_local_dc: Option<String>,
    /// Key for OTP derivation; generated into the data dir when unset. Every
    /// identity-notification process and gateway must share it.
    #[serde(skip_serializing)]
    pub otp_secret: Option<SecretString>,
    /// Key the payment provider signs webhooks with; generated into the data
    /// dir when unset. Every payment processor and gateway must share it.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<SecretString>,
    /// Gateway: longest a connection may take to send a request head.
    pub http_header_timeout: String,
    /// Gateway: a connection silent this long either way is closed.
    pub http_idle_timeout: String,
    /// Gateway: most connections one client address holds at once.
    pub max_connections_per_client: usize,
    /// Gateway: consecutive failed logins per account answered at once.
    pub login_free_failures: u32,
    /// Gateway: consecutive failed logins that lock an account (1 to 100).
    pub login_lock_after: u32,
    /// Gateway: how long a locked account stays locked.
    pub login_lock_for: String,
    /// Gateway: longest back-off between failed logins before the lock.
    pub login_max_backoff: String,
    /// Gateway: failed logins per client address, across accounts, answered
    /// at once before it backs off.
    pub login_client_free_failures: u32,

    // ---- Operations: readiness and the auditor ----
    /// `/readyz`: a processor is ready once its partitions' state is
    /// restored and it is at most this many records behind the end of each
    /// input partition.
    pub ready_max_lag: u64,
    /// The auditor: how long after its deadline a hold may end, and how
    /// long a payment outcome may take to reach its booking (`2m`).
    pub audit_slack: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            hold_ttl: "15m".into(),
            jwt_secret: None,
            smtp_url: None,
            mail_from: "Slotstream <no-reply@slotstream.local>".into(),
            backend: BackendKind::Embedded,
            kafka_brokers: None,
            schema_registry_url: None,
            scylla_nodes: None,
            librdkafka: BTreeMap::new(),
            durable: true,
            retention_commands: "7d".into(),
            retention_replies: "1h".into(),
            retention_dead_letters: "30d".into(),
            retention_events: "forever".into(),
            public_url: None,
            namespace: String::new(),
            instance: None,
            kafka_commit_interval: "5ms".into(),
            kafka_transaction_timeout: "10s".into(),
            kafka_replication_factor: 1,
            scylla_keyspace: "slotstream".into(),
            scylla_replication_factor: 1,
            scylla_local_dc: None,
            otp_secret: None,
            webhook_secret: None,
            http_header_timeout: "10s".into(),
            http_idle_timeout: "60s".into(),
            max_connections_per_client: 1024,
            login_free_failures: 10,
            login_lock_after: 50,
            login_lock_for: "15m".into(),
            login_max_backoff: "60s".into(),
            login_client_free_failures: 100,
            ready_max_lag: slotstream_runtime::telemetry::DEFAULT_READY_MAX_LAG,
            audit_slack: "2m".into(),
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value has the wrong type or the file does not parse.
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults < optional TOML file < `SLOTSTREAM_*` environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let file = file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("SLOTSTREAM_CONFIG").map(PathBuf::from));
        if let Some(f) = file {
            if !f.exists() {
                return Err(SettingsError::Invalid(format!(
                    "config file {} does not exist",
                    f.display()
                )));
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Env::prefixed("SLOTSTREAM_").ignore(&["CONFIG"]));
        let s: Settings = fig
            .extract()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        s.hold_ttl()?;
        s.kafka_commit_interval()?;
        s.kafka_transaction_timeout()?;
        s.retention()?;
        s.login_policy()?;
        s.connection_limits()?;
        s.audit_slack()?;
        Ok(s)
    }

    /// The auditor's slack as a duration.
    pub fn audit_slack(&self) -> Result<Duration, SettingsError> {
        humantime::parse_duration(&self.audit_slack)
            .map_err(|e| SettingsError::Invalid(format!("audit_slack {:?}: {e}", self.audit_slack)))
    }

    /// The embedded log's retention per topic, from the four
    /// `retention_*` settings.
    pub fn retention(&self) -> Result<slotstream_embedded::Retention, SettingsError> {
        use slotstream_runtime::topics;
        let parse = |name: &str, value: &str| -> Result<Option<Duration>, SettingsError> {
            if value.trim().eq_ignore_ascii_case("forever") {
                return Ok(None);
            }
            let d = humantime::parse_duration(value).map_err(|e| {
                SettingsError::Invalid(format!("{name} {value:?}: {e} (or \"forever\")"))
            })?;
            if d < Duration::from_secs(60) {
                return Err(SettingsError::Invalid(format!(
                    "{name} must be at least 1m (or \"forever\")"
                )));
            }
            Ok(Some(d))
        };
        let commands = parse("retention_commands", &self.retention_commands)?;
        let replies = parse("retention_replies", &self.retention_replies)?;
        let dead = parse("retention_dead_letters", &self.retention_dead_letters)?;
        let events = parse("retention_events", &self.retention_events)?;
        let mut r = slotstream_embedded::Retention::platform();
        for t in topics::ALL {
            let keep = match t.name {
                n if n == topics::REPLIES.name => replies,
                n if n == topics::DEAD_LETTERS.name => dead,
                n if n.ends_with("-events") => events,
                _ => commands,
            };
            r = r.with(t.name, keep);
        }
        Ok(r)
    }

    /// The hold TTL as a duration.
    pub fn hold_ttl(&self) -> Result<Duration, SettingsError> {
        let d = humantime::parse_duration(&self.hold_ttl)
            .map_err(|e| SettingsError::Invalid(format!("hold_ttl {:?}: {e}", self.hold_ttl)))?;
        if d.is_zero() {
            return Err(SettingsError::Invalid("hold_ttl must be positive".into()));
        }
        Ok(d)
    }

    /// The Kafka transaction commit interval as a duration (`0ms` allowed).
    pub fn kafka_commit_interval(&self) -> Result<Duration, SettingsError> {
        humantime::parse_duration(&self.kafka_commit_interval).map_err(|e| {
            SettingsError::Invalid(format!(
                "kafka_commit_interval {:?}: {e}",
                self.kafka_commit_interval
            ))
        })
    }

    /// The Kafka transaction timeout as a duration.
    pub fn kafka_transaction_timeout(&self) -> Result<Duration, SettingsError> {
        let d = humantime::parse_duration(&self.kafka_transaction_timeout).map_err(|e| {
            SettingsError::Invalid(format!(
                "kafka_transaction_timeout {:?}: {e}",
                self.kafka_transaction_timeout
            ))
        })?;
        if d < Duration::from_secs(1) {
            return Err(SettingsError::Invalid(
                "kafka_transaction_timeout must be at least 1s".into(),
            ));
        }
        Ok(d)
    }

    /// The gateway's failed-login back-off and lock-out.
    pub fn login_policy(&self) -> Result<LoginPolicy, SettingsError> {
        let p = LoginPolicy {
            free_failures: self.login_free_failures,
            lock_after: self.login_lock_after,
            lock_for: positive("login_lock_for", &self.login_lock_for)?,
            max_backoff: positive("login_max_backoff", &self.login_max_backoff)?,
            client_free_failures: self.login_client_free_failures,
        };
        if !(1..=100).contains(&p.lock_after) {
            return Err(SettingsError::Invalid(
                "login_lock_after must be 1 to 100 (NIST SP 800-63B)".into(),
            ));
        }
        if p.free_failures >= p.lock_after {
            return Err(SettingsError::Invalid(
                "login_free_failures must be below login_lock_after".into(),
            ));
        }
        Ok(p)
    }

    /// The gateway's connection timeouts and per-client cap.
    pub fn connection_limits(&self) -> Result<ConnectionLimits, SettingsError> {
        if self.max_connections_per_client == 0 {
            return Err(SettingsError::Invalid(
                "max_connections_per_client must be at least 1".into(),
            ));
        }
        Ok(ConnectionLimits {
            header_read_timeout: positive("http_header_timeout", &self.http_header_timeout)?,
            idle_timeout: positive("http_idle_timeout", &self.http_idle_timeout)?,
            max_connections_per_client: self.max_connections_per_client,
        })
    }

    /// A distributed-mode setting that must be present.
    pub fn required(&self, name: &str, value: &Option<String>) -> Result<String, SettingsError> {
        value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                SettingsError::Invalid(format!(
                    "backend kafka needs {name} (set SLOTSTREAM_{})",
                    name.to_ascii_uppercase()
                ))
            })
    }

    /// Where checkout links point.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// A positive duration setting.
fn positive(name: &str, raw: &str) -> Result<Duration, SettingsError> {
    let d = humantime::parse_duration(raw)
        .map_err(|e| SettingsError::Invalid(format!("{name} {raw:?}: {e}")))?;
    if d.is_zero() {
        return Err(SettingsError::Invalid(format!("{name} must be positive")));
    }
    Ok(d)
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
        assert_eq!(s.hold_ttl().unwrap(), Duration::from_secs(900));
        assert_eq!(s.backend, BackendKind::Embedded);
        assert!(s.smtp_url.is_none());
    }

    #[test]
    fn a_toml_file_is_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "hold_ttl = \"3s\"\nlisten = \"127.0.0.1:9000\"\n")?;
            jail.set_env("SLOTSTREAM_LISTEN", "127.0.0.1:9100");
            let s = Settings::load(Some(std::path::Path::new("s.toml"))).unwrap();
            assert_eq!(s.hold_ttl().unwrap(), Duration::from_secs(3));
            assert_eq!(s.listen, "127.0.0.1:9100");
            Ok(())
        });
    }

    #[test]
    fn gateway_limits_default_to_the_documented_values_and_are_checked() {
        let s = Settings::default();
        assert_eq!(s.login_policy().unwrap(), LoginPolicy::default());
        assert_eq!(s.connection_limits().unwrap(), ConnectionLimits::default());
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
        assert_eq!(Settings::default().retention().unwrap(), {
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
            let r = Settings::load(None).unwrap().retention().unwrap();
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
}
