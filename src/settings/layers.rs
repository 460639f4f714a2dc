//! The configuration layers and the one table that maps each setting's flat
//! name (its `SLOTSTREAM_*` variable, lower-cased without the prefix, and its
//! TOML key before sections existed) to where it lives in [`Settings`].
//!
//! [`Settings`]: super::Settings

use figment::error::Kind;
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Flat names of the settings that live in a backend's section, with their
/// place there. Every other setting's flat name is its field name.
pub const SECTIONED: &[(&str, &str)] = &[
    ("durable", "embedded.durable"),
    ("retention_commands", "embedded.retention_commands"),
    ("retention_replies", "embedded.retention_replies"),
    ("retention_dead_letters", "embedded.retention_dead_letters"),
    ("retention_events", "embedded.retention_events"),
    ("kafka_brokers", "kafka.brokers"),
    ("schema_registry_url", "kafka.schema_registry_url"),
    ("namespace", "kafka.namespace"),
    ("instance", "kafka.instance"),
    ("kafka_commit_interval", "kafka.commit_interval"),
    ("kafka_transaction_timeout", "kafka.transaction_timeout"),
    ("kafka_replication_factor", "kafka.replication_factor"),
    ("librdkafka", "kafka.librdkafka"),
    ("scylla_nodes", "scylla.nodes"),
    ("scylla_keyspace", "scylla.keyspace"),
    ("scylla_replication_factor", "scylla.replication_factor"),
    ("scylla_local_dc", "scylla.local_dc"),
];

/// The flat name of the setting at `path` (`kafka.brokers` ->
/// `kafka_brokers`); the path itself for settings outside a section.
pub fn flat_name(path: &str) -> &str {
    SECTIONED
        .iter()
        .find(|(_, p)| *p == path)
        .map_or(path, |(flat, _)| flat)
}

/// A provider whose flat keys (`kafka_brokers`, `[librdkafka]`) move into
/// their section (`kafka.brokers`, `[kafka.librdkafka]`), so the
/// environment's names and files written before the sections keep working
/// beside files that use the sections. A setting given both ways in one
/// layer is an error.
#[derive(Debug)]
pub struct Sectioned<P>(pub P);

impl<P: Provider> Provider for Sectioned<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut data = self.0.data()?;
        for dict in data.values_mut() {
            move_into_sections(dict).map_err(|(key, msg)| Error::from(msg).with_path(&key))?;
        }
        Ok(data)
    }
}

/// Fails with the offending key and what is wrong with it.
fn move_into_sections(dict: &mut Dict) -> Result<(), (String, String)> {
    for (flat, path) in SECTIONED {
        let Some(value) = dict.remove(*flat) else {
            continue;
        };
        let (section, key) = path.split_once('.').expect("a section and a key");
        let entry = dict
            .entry(section.to_owned())
            .or_insert_with(|| Value::from(Dict::new()));
        let Value::Dict(_, inner) = entry else {
            return Err((section.to_owned(), format!("must be a table ([{section}])")));
        };
        if inner.contains_key(key) {
            return Err((
                (*flat).to_owned(),
                format!("is given twice, as `{flat}` and as `{path}`"),
            ));
        }
        inner.insert(key.to_owned(), value);
    }
    Ok(())
}

/// One line per problem: the setting's flat name, what is wrong, and where
/// the value came from (the environment variable, or the file and key).
pub fn describe(err: Error) -> String {
    err.into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let name = flat_name(&path);
            let origin = match &e.metadata {
                Some(m) if m.name.contains("environment") && !path.is_empty() => {
                    format!(" (SLOTSTREAM_{})", name.to_ascii_uppercase())
                }
                Some(m) => match &m.source {
                    Some(src) if !path.is_empty() => format!(" ({path} in {src})"),
                    Some(src) => format!(" (in {src})"),
                    None => format!(" (from {})", m.name),
                },
                None => String::new(),
            };
            match (&e.kind, name.is_empty()) {
                (_, true) => format!("{}{origin}", e.kind),
                (Kind::Message(m), false) => format!("{name} {m}{origin}"),
                (kind, false) => format!("{name}: {kind}{origin}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
