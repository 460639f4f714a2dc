//! Options and the librdkafka configuration of every client this crate makes.

use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// How the Kafka backend connects and behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `bootstrap.servers`, e.g. `"127.0.0.1:9092"`.
    pub brokers: String,
    /// `""` or e.g. `"t42"`: prefixes every topic and group id on the wire as
    /// `"{namespace}.{name}"`. Records handed to processors carry the
    /// unprefixed name.
    pub namespace: String,
    /// A stable-ish id of this process: the `transactional.id` suffix and
    /// `client.id`. Two live sessions of one group need different instances;
    /// a new session with the same instance fences the old one.
    pub instance: String,
    /// How long a poll keeps collecting records after the first one before
    /// returning the batch (zero: return what is there). Trades latency for
    /// bigger transactions. Default 5 ms.
    pub commit_interval: Duration,
    /// `transaction.timeout.ms`, and the bound on every blocking
    /// transactional call. Default 30 s.
    pub transaction_timeout: Duration,
    /// Replication factor of the topics [`crate::ensure_topics`] creates. Default 1.
    pub replication_factor: i16,
    /// Raw librdkafka properties applied last to every client (security,
    /// tuning): they override anything this crate sets.
    pub librdkafka: BTreeMap<String, String>,
}

impl KafkaOptions {
    /// Defaults for `brokers`: no namespace, a random instance id, 5 ms
    /// commit interval, 30 s transaction timeout, replication factor 1.
    pub fn new(brokers: impl Into<String>) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            brokers: brokers.into(),
            namespace: String::new(),
            instance: id[..12].to_owned(),
            commit_interval: Duration::from_millis(5),
            transaction_timeout: Duration::from_secs(30),
            replication_factor: 1,
            librdkafka: BTreeMap::new(),
        }
    }

    /// The on-wire name of a topic or group.
    pub(crate) fn wire(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.namespace)
        }
    }

    /// The platform name of an on-wire topic, if it is in this namespace.
    pub(crate) fn unwire<'a>(&self, wire: &'a str) -> Option<&'a str> {
        if self.namespace.is_empty() {
            Some(wire)
        } else {
            wire.strip_prefix(self.namespace.as_str())?
                .strip_prefix('.')
        }
    }

    /// The platform-level changelog topic name of `group`.
    pub(crate) fn changelog(group: &str) -> String {
        format!("{group}-changelog")
    }

    /// What every client shares: brokers and client id.
    fn base(&self, role: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("slotstream-{role}-{}", self.instance))
            // Broker-side errors are reported through results; keep
            // librdkafka's own logging for real trouble only.
            .set("log_level", "4");
        cfg
    }

    /// Applies the raw overrides, last.
    fn finish(&self, mut cfg: ClientConfig) -> ClientConfig {
        for (k, v) in &self.librdkafka {
            cfg.set(k, v);
        }
        cfg
    }

    /// The command producer: idempotent (no duplicates or reordering on
    /// retry), `acks=all` (durable on every in-sync replica), a short linger
    /// so concurrent gateway requests share a batch without adding latency.
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut cfg = self.base("producer");
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("message.timeout.ms", "30000");
        self.finish(cfg)
    }

    /// A session's transactional producer (EOS v2: fencing is by
    /// `transactional.id`, offsets are bound to the consumer's group metadata).
    pub(crate) fn transactional(&self, group: &str) -> ClientConfig {
        let mut cfg = self.base("txn");
        let timeout = self.transaction_timeout.as_millis().max(1000).to_string();
        cfg.set(
            "transactional.id",
            format!("{}.{}", self.wire(group), self.instance),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("transaction.timeout.ms", &timeout)
        .set("message.timeout.ms", &timeout);
        self.finish(cfg)
    }

    /// A group member: the KIP-848 consumer protocol with the server-side
    /// `range` assignor, which gives partition `p` of every input topic to
    /// the same member (co-partitioning), incrementally (no stop-the-world
    /// rebalance). Offsets are committed only inside transactions.
    pub(crate) fn group_consumer(&self, group: &str) -> ClientConfig {
        let mut cfg = self.base("consumer");
        cfg.set("group.id", self.wire(group))
            .set("group.protocol", "consumer")
            .set("group.remote.assignor", "range")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            // Lag and readiness come from the statistics (GroupContext::stats).
            .set("statistics.interval.ms", "500");
        self.finish(cfg)
    }

    /// A consumer for direct reads (`read_committed`) of assigned
    /// partitions; with `eof`, it reports reaching the end of a partition
    /// (restores). librdkafka needs a `group.id` to `assign`; this one never
    /// joins its group (no `subscribe`) and never commits.
    pub(crate) fn plain_consumer(&self, eof: bool) -> ClientConfig {
        let mut cfg = self.base("reader");
        cfg.set(
            "group.id",
            self.wire(&format!("slotstream.reader.{}", self.instance)),
        )
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", if eof { "true" } else { "false" })
        .set("fetch.wait.max.ms", "100");
        self.finish(cfg)
    }

    /// A consumer that only reads a group's committed offsets (never joins).
    pub(crate) fn offsets_consumer(&self, group: &str) -> ClientConfig {
        let mut cfg = self.base("offsets");
        cfg.set("group.id", self.wire(group))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed");
        self.finish(cfg)
    }

    /// The admin client.
    pub(crate) fn admin(&self) -> ClientConfig {
        self.finish(self.base("admin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_with_the_namespace_and_back() {
        let mut opts = KafkaOptions::new("b");
        assert_eq!(opts.wire("slotstream.replies"), "slotstream.replies");
        opts.namespace = "t42".into();
        assert_eq!(opts.wire("slotstream.replies"), "t42.slotstream.replies");
        assert_eq!(
            opts.unwire("t42.slotstream.replies"),
            Some("slotstream.replies")
        );
        assert_eq!(opts.unwire("t4.slotstream.replies"), None);
        assert_eq!(opts.unwire("t42slotstream"), None);
    }

    #[test]
    fn raw_overrides_win_over_the_crates_settings() {
        let mut opts = KafkaOptions::new("b");
        opts.librdkafka.insert("linger.ms".into(), "20".into());
        assert_eq!(opts.producer().get("linger.ms"), Some("20"));
        assert_eq!(opts.producer().get("acks"), Some("all"));
    }

    #[test]
    fn transactional_ids_name_namespace_group_and_instance() {
        let mut opts = KafkaOptions::new("b");
        opts.namespace = "ns".into();
        opts.instance = "i1".into();
        assert_eq!(
            opts.transactional("slotstream.booking")
                .get("transactional.id"),
            Some("ns.slotstream.booking.i1")
        );
    }
}
