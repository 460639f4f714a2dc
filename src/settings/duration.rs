//! Durations in configuration: human-readable strings (`15m`, `3s`, `1h30m`,
//! `7d`; humantime's units), parsed once when the settings load.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};
use std::fmt;
use std::time::Duration;

fn parse(v: &str) -> Result<Duration, String> {
    humantime::parse_duration(v.trim())
        .map_err(|e| format!("{v:?}: {e} (a duration such as 15m, 3s, 1h30m or 7d)"))
}

/// Accepts strings only: a bare number has no unit, and guessing one would
/// be wrong half the time.
struct Text;

impl Visitor<'_> for Text {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 15m, 3s, 1h30m or 7d")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}

/// `#[serde(with = "duration")]`: a [`Duration`] written as `15m`.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// See [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = d.deserialize_str(Text)?;
    parse(&text).map_err(de::Error::custom)
}

/// `#[serde(with = "duration::or_forever")]`: how long records are kept,
/// `None` for `forever`.
pub mod or_forever {
    use super::*;

    const FOREVER: &str = "forever";

    /// `forever` or the duration.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            None => s.serialize_str(FOREVER),
            Some(d) => super::serialize(d, s),
        }
    }

    /// See [`serialize`]; `forever` in any case.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = d.deserialize_str(Text)?;
        if text.trim().eq_ignore_ascii_case(FOREVER) {
            return Ok(None);
        }
        parse(&text)
            .map(Some)
            .map_err(|e| de::Error::custom(format!("{e}, or \"{FOREVER}\"")))
    }
}

/// Contact points: a comma-separated string (`host:port,host:port`, as the
/// environment gives them) or a list; blanks dropped.
pub mod nodes {
    use super::*;

    /// Comma-joined.
    pub fn serialize<S: Serializer>(nodes: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&nodes.join(","))
    }

    /// See the module.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        let all = match Form::deserialize(d)? {
            Form::One(s) => vec![s],
            Form::Many(v) => v,
        };
        Ok(all
            .iter()
            .flat_map(|s| s.split(','))
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect())
    }
}
