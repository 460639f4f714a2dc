//! The layout of the embedded database: keyspace names, key and value
//! encodings. Changing any of them changes the on-disk format: bump
//! [`FORMAT_VERSION`].

use crate::keys::{Key, Reader};
use bytes::Bytes;
use slotstream_domain::booking::BookingStatus;
use slotstream_runtime::Headers;
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

/// Set in a stored record's key length when headers follow the key.
/// Records of earlier releases never have it (their keys are far shorter
/// than 2 GiB), so they read unchanged: no format version bump, no
/// migration.
const HEADERS_FLAG: u32 = 1 << 31;

/// A log record's value: timestamp (i64 BE), key length (u32 BE), key,
/// value. With headers, the key length has [`HEADERS_FLAG`] set and the
/// headers sit between key and value: their count (u16 BE), then each
/// header's name length (u16 BE), name, value length (u32 BE) and value.
/// Without headers the bytes are exactly those of earlier releases, and
/// encoding costs the one buffer it always did.
pub(crate) fn encode_record(
    timestamp: i64,
    key: &[u8],
    headers: &Headers,
    value: &[u8],
) -> Vec<u8> {
    let extra = if headers.is_empty() {
        0
    } else {
        2 + headers
            .iter()
            .map(|h| 6 + h.name.len() + h.value.len())
            .sum::<usize>()
    };
    let mut out = Vec::with_capacity(12 + key.len() + extra + value.len());
    out.extend_from_slice(&timestamp.to_be_bytes());
    debug_assert!(
        (key.len() as u64) < u64::from(HEADERS_FLAG),
        "a key of 2 GiB"
    );
    if headers.is_empty() {
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key);
    } else {
        out.extend_from_slice(&(key.len() as u32 | HEADERS_FLAG).to_be_bytes());
        out.extend_from_slice(key);
        // Header names and values are small (a traceparent is 55 bytes);
        // the writer refuses a record whose headers do not fit these widths.
        out.extend_from_slice(&(headers.len() as u16).to_be_bytes());
        for h in headers {
            out.extend_from_slice(&(h.name.len() as u16).to_be_bytes());
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(&(h.value.len() as u32).to_be_bytes());
            out.extend_from_slice(&h.value);
        }
    }
    out.extend_from_slice(value);
    out
}

/// Whether [`encode_record`] can store these headers.
pub(crate) fn headers_fit(headers: &Headers) -> bool {
    headers.len() <= usize::from(u16::MAX)
        && headers
            .iter()
            .all(|h| h.name.len() <= usize::from(u16::MAX) && h.value.len() <= u32::MAX as usize)
}

/// A stored record, borrowed from its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stored<'a> {
    pub timestamp: i64,
    pub key: &'a [u8],
    /// The encoded headers (empty when there are none).
    headers: &'a [u8],
    pub value: &'a [u8],
}

impl Stored<'_> {
    /// The headers, decoded (no allocation when there are none).
    pub(crate) fn headers(&self) -> Option<Headers> {
        let mut out = Headers::new();
        let mut rest = self.headers;
        if rest.is_empty() {
            return Some(out);
        }
        let (count, r) = rest.split_first_chunk::<2>()?;
        rest = r;
        for _ in 0..u16::from_be_bytes(*count) {
            let (len, r) = rest.split_first_chunk::<2>()?;
            let len = usize::from(u16::from_be_bytes(*len));
            let name = std::str::from_utf8(r.get(..len)?).ok()?;
            let (vlen, r) = r[len..].split_first_chunk::<4>()?;
            let vlen = u32::from_be_bytes(*vlen) as usize;
            let value = r.get(..vlen)?;
            out.push(name.to_owned(), Bytes::copy_from_slice(value));
            rest = &r[vlen..];
        }
        rest.is_empty().then_some(out)
    }
}

/// A stored record's parts; `None` if corrupt.
pub(crate) fn decode_record(raw: &[u8]) -> Option<Stored<'_>> {
    let (ts, rest) = raw.split_first_chunk::<8>()?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len);
    let flagged = len & HEADERS_FLAG != 0;
    let len = (len & !HEADERS_FLAG) as usize;
    let key = rest.get(..len)?;
    let mut rest = &rest[len..];
    let mut headers: &[u8] = &[];
    if flagged {
        // Walk the lengths to find where the value starts.
        let (count, mut r) = rest.split_first_chunk::<2>()?;
        for _ in 0..u16::from_be_bytes(*count) {
            let (nlen, after) = r.split_first_chunk::<2>()?;
            let after = after.get(usize::from(u16::from_be_bytes(*nlen))..)?;
            let (vlen, after) = after.split_first_chunk::<4>()?;
            r = after.get(u32::from_be_bytes(*vlen) as usize..)?;
        }
        let used = rest.len() - r.len();
        headers = &rest[..used];
        rest = r;
    }
    Some(Stored {
        timestamp: i64::from_be_bytes(*ts),
        key,
        headers,
        value: rest,
    })
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

    fn parts(raw: &[u8]) -> Option<(i64, &[u8], Headers, &[u8])> {
        let r = decode_record(raw)?;
        Some((r.timestamp, r.key, r.headers()?, r.value))
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let raw = encode_record(-5, b"key", &Headers::new(), b"value");
        assert_eq!(
            parts(&raw),
            Some((-5, &b"key"[..], Headers::new(), &b"value"[..]))
        );
        assert_eq!(decode_record(&raw[..10]), None);
    }

    #[test]
    fn a_record_without_headers_is_stored_as_earlier_releases_stored_it() {
        // The bytes the previous release wrote for (ts -5, "key", "value"),
        // written out by hand so a change to the encoder cannot hide here.
        let old: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb, // timestamp -5
            0, 0, 0, 3, b'k', b'e', b'y', // key
            b'v', b'a', b'l', b'u', b'e', // value
        ];
        assert_eq!(
            parts(old),
            Some((-5, &b"key"[..], Headers::new(), &b"value"[..]))
        );
        assert_eq!(encode_record(-5, b"key", &Headers::new(), b"value"), old);
    }

    #[test]
    fn headers_round_trip_and_a_cut_record_is_corrupt() {
        let mut headers = Headers::new();
        headers.push(
            "traceparent",
            &b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"[..],
        );
        headers.push("empty", Bytes::new());
        headers.push("traceparent", &b"\x00\xff"[..]);
        let raw = encode_record(7, b"", &headers, b"v");
        assert_eq!(parts(&raw), Some((7, &b""[..], headers, &b"v"[..])));
        // Every prefix that ends inside the headers is refused.
        for cut in 12..raw.len() - 1 {
            assert_eq!(parts(&raw[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn a_groups_state_prefix_covers_only_its_partition() {
        let p1 = state_prefix("g", 1);
        assert!(p1.starts_with(&group_prefix("g")));
        assert!(!state_prefix("g", 2).starts_with(&p1));
        assert!(!state_prefix("gg", 1).starts_with(&group_prefix("g")));
    }
}
