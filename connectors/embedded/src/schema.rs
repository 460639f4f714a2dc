//! The layout of the embedded database: keyspace names, key and value
//! encodings. Changing any of them changes the on-disk format: bump
//! [`FORMAT_VERSION`].

use crate::keys::{Key, Reader};
use slotstream_domain::booking::BookingStatus;
use slotstream_runtime::topics::{self, TopicSpec};

/// Version of the layout, stored in the `meta` keyspace under
/// [`FORMAT_KEY`]. Versions 1–3 were redb files (`slotstream.redb`, and
/// from 3 on `views.redb`); they are migrated at open (`migrate.rs`).
pub(crate) const FORMAT_VERSION: u64 = 4;

/// The key of the format version in the `meta` keyspace.
pub(crate) const FORMAT_KEY: &str = "format";

/// The database's directory inside the data directory.
pub(crate) const DB_DIR: &str = "store";

/// Where a migration builds the database before renaming it to [`DB_DIR`].
pub(crate) const DB_DIR_TMP: &str = "store.migrating";

/// An empty file whose presence at open clears the views (and the view
/// groups' offsets, state and epochs) so they are rebuilt from the log.
pub(crate) const REBUILD_VIEWS: &str = "REBUILD_VIEWS";

/// The keyspace of one topic partition.
pub(crate) fn log_keyspace(topic: &str, partition: u32) -> String {
    format!("log.{topic}.{partition}")
}

/// The topics the embedded log holds: every platform topic.
pub(crate) fn all_topics() -> &'static [TopicSpec] {
    &topics::ALL
}

/// Index of a topic in [`all_topics`], if it is one.
pub(crate) fn topic_index(name: &str) -> Option<usize> {
    all_topics().iter().position(|t| t.name == name)
}

/// A log record's value: timestamp (i64 BE), key length (u32 BE), key, value.
pub(crate) fn encode_record(timestamp: i64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + key.len() + value.len());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

/// The timestamp, key and value of a stored record; `None` if corrupt.
pub(crate) fn decode_record(raw: &[u8]) -> Option<(i64, &[u8], &[u8])> {
    let (ts, rest) = raw.split_first_chunk::<8>()?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    let key = rest.get(..len)?;
    Some((i64::from_be_bytes(*ts), key, &rest[len..]))
}

/// The committed-offset key of (group, topic, partition).
pub(crate) fn offset_key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    Key::new().str(group).str(topic).u32(partition).done()
}

/// The epoch key of (group, member).
pub(crate) fn member_key(group: &str, member: u32) -> Vec<u8> {
    Key::new().str(group).u32(member).done()
}

/// (group, member) of an epoch key.
pub(crate) fn decode_member(key: &[u8]) -> Option<(String, u32)> {
    let mut r = Reader::new(key);
    Some((r.str()?, r.u32()?))
}

/// The prefix of every state entry of a group's task partition.
pub(crate) fn state_prefix(group: &str, partition: u32) -> Vec<u8> {
    Key::new().str(group).u32(partition).done()
}

/// The prefix of every key (offsets, epochs, state) of a group.
pub(crate) fn group_prefix(group: &str) -> Vec<u8> {
    Key::new().str(group).done()
}

/// A big-endian u64 value.
pub(crate) fn decode_u64(raw: &[u8]) -> Option<u64> {
    raw.try_into().ok().map(u64::from_be_bytes)
}

/// A stable one-byte code per booking status, for the by-user index.
pub(crate) fn status_code(status: BookingStatus) -> u8 {
    match status {
        BookingStatus::Pending => 0,
        BookingStatus::Confirmed => 1,
        BookingStatus::Failed => 2,
        BookingStatus::Expired => 3,
        BookingStatus::Cancelled => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_distinct() {
        let all = [
            BookingStatus::Pending,
            BookingStatus::Confirmed,
            BookingStatus::Failed,
            BookingStatus::Expired,
            BookingStatus::Cancelled,
        ];
        let mut codes: Vec<u8> = all.iter().map(|s| status_code(*s)).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn every_platform_topic_has_an_index() {
        for t in topics::ALL {
            assert_eq!(
                all_topics()[topic_index(t.name).expect("known")].name,
                t.name
            );
        }
        assert_eq!(topic_index("no.such.topic"), None);
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let raw = encode_record(-5, b"key", b"value");
        assert_eq!(decode_record(&raw), Some((-5, &b"key"[..], &b"value"[..])));
        assert_eq!(decode_record(&raw[..10]), None);
    }

    #[test]
    fn a_groups_state_prefix_covers_only_its_partition() {
        let p1 = state_prefix("g", 1);
        assert!(p1.starts_with(&group_prefix("g")));
        assert!(!state_prefix("g", 2).starts_with(&p1));
        assert!(!state_prefix("gg", 1).starts_with(&group_prefix("g")));
    }
}
