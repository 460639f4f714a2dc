//! Log positions of decisions, for consistency tokens (ARCHITECTURE.md,
//! "Consistency tokens").
//!
//! A processor cannot know the offsets of the events it emits: the backend
//! assigns them at commit. So the reply that answers a command carries a
//! **cite** header (`slotstream-cite`): "the `previous` records just before
//! me in this transaction are my decision; if there are none (a replayed
//! answer), name the last record of `floor`". The backend, as it commits,
//! replaces it with a **positions** header (`slotstream-positions`) naming
//! the offset of the last cited record per topic partition, or the floor
//! partition's last appended record. The gateway turns those bytes into a
//! token; the views record per topic partition the next offset they have
//! applied ([`crate::ViewWrite::Applied`]); a read with the token waits
//! until every named partition's applied offset is past the named offset.
//!
//! Encoding (compact, versioned by the token around it): per position, the
//! topic's one-byte code, then the partition and the offset as LEB128
//! varints. Only the topics whose events the views project have codes.

use crate::log::{Headers, OutRecord};
use crate::topics::{self, TopicSpec};
use bytes::Bytes;

/// The header a reply carries while its processor builds it.
pub const CITE: &str = "slotstream-cite";
/// The header the backend puts in its place at commit.
pub const POSITIONS: &str = "slotstream-positions";

/// The topics a position may name, with their stable one-byte codes.
/// Codes are part of every token ever issued: never renumber one.
pub const CODED: [(u8, TopicSpec); 3] = [
    (1, topics::BOOKING_EVENTS),
    (2, topics::PAYMENT_EVENTS),
    (3, topics::IDENTITY_EVENTS),
];

/// Where a decision's event landed (or a position at least that far).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The topic (one of [`CODED`]).
    pub topic: &'static str,
    /// Its partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
}

/// Why position bytes did not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    /// A topic code no release ever issued.
    #[error("unknown topic code {0}")]
    UnknownTopic(u8),
    /// A partition outside its topic's partition count.
    #[error("partition {1} of {0} does not exist")]
    NoSuchPartition(&'static str, u64),
    /// The bytes end inside a position or a varint overflows.
    #[error("truncated or overlong position")]
    Truncated,
    /// More positions than any decision names.
    #[error("too many positions")]
    TooMany,
}

/// Most positions one token may carry (a decision names a handful).
pub const MAX_POSITIONS: usize = 16;

/// The code of `topic`, if positions may name it.
pub fn code_of(topic: &str) -> Option<u8> {
    CODED.iter().find(|(_, t)| t.name == topic).map(|(c, _)| *c)
}

fn topic_of(code: u8) -> Option<TopicSpec> {
    CODED.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u64, PositionError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at).ok_or(PositionError::Truncated)?;
        *at += 1;
        let part = u64::from(b & 0x7f);
        if shift == 63 && part > 1 {
            return Err(PositionError::Truncated);
        }
        v |= part << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(PositionError::Truncated)
}

/// Encodes positions (topics without a code are left out).
pub fn encode(positions: &[Position]) -> Vec<u8> {
    let mut out = Vec::with_capacity(positions.len() * 6);
    for p in positions {
        if let Some(code) = code_of(p.topic) {
            out.push(code);
            put_varint(&mut out, u64::from(p.partition));
            put_varint(&mut out, p.offset);
        }
    }
    out
}

/// Decodes what [`encode`] wrote (at most [`MAX_POSITIONS`]).
pub fn decode(bytes: &[u8]) -> Result<Vec<Position>, PositionError> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        if out.len() == MAX_POSITIONS {
            return Err(PositionError::TooMany);
        }
        out.push(decode_one(bytes, &mut at)?);
    }
    Ok(out)
}

/// Decodes the one position at `*at`, moving `at` past it.
pub fn decode_one(bytes: &[u8], at: &mut usize) -> Result<Position, PositionError> {
    let code = *bytes.get(*at).ok_or(PositionError::Truncated)?;
    *at += 1;
    let spec = topic_of(code).ok_or(PositionError::UnknownTopic(code))?;
    let partition = get_varint(bytes, at)?;
    if partition >= u64::from(spec.partitions) {
        return Err(PositionError::NoSuchPartition(spec.name, partition));
    }
    let offset = get_varint(bytes, at)?;
    Ok(Position {
        topic: spec.name,
        partition: partition as u32,
        offset,
    })
}

/// What a citing record asks its backend to name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cite {
    /// How many records just before it in the same transaction are cited.
    pub previous: u16,
    /// The partition whose last record to name when `previous` is zero.
    pub floor: (&'static str, u32),
}

/// Marks `record` as citing the `previous` records before it, or `floor`.
pub fn cite(record: &mut OutRecord, previous: usize, floor: (&'static str, u32)) {
    let Some(code) = code_of(floor.0) else {
        return;
    };
    let mut v = Vec::with_capacity(8);
    v.extend_from_slice(&(previous.min(usize::from(u16::MAX)) as u16).to_be_bytes());
    v.push(code);
    put_varint(&mut v, u64::from(floor.1));
    record.headers.set(CITE, Bytes::from(v));
}

/// The cite a record carries, if any.
pub fn cite_of(headers: &Headers) -> Option<Cite> {
    let v = headers.get(CITE)?;
    let previous = u16::from_be_bytes([*v.first()?, *v.get(1)?]);
    let spec = topic_of(*v.get(2)?)?;
    let mut at = 3;
    let partition = get_varint(v, &mut at).ok()?;
    Some(Cite {
        previous,
        floor: (spec.name, u32::try_from(partition).ok()?),
    })
}

/// What the backend writes in place of a cite: `cited` are the positions
/// of the cited records, in order; `floor_last` the offset of the floor
/// partition's last record, if known. Per topic partition, the highest
/// cited offset; with nothing cited, the floor's last offset. Returns the
/// headers to write (the cite removed, the positions added when any).
pub fn resolve(
    headers: &Headers,
    cite: &Cite,
    cited: &[Position],
    floor_last: Option<u64>,
) -> Headers {
    let mut named: Vec<Position> = Vec::new();
    for p in cited {
        if code_of(p.topic).is_none() {
            continue;
        }
        match named
            .iter_mut()
            .find(|n| n.topic == p.topic && n.partition == p.partition)
        {
            Some(n) => n.offset = n.offset.max(p.offset),
            None => named.push(*p),
        }
    }
    if named.is_empty()
        && let Some(offset) = floor_last
    {
        named.push(Position {
            topic: cite.floor.0,
            partition: cite.floor.1,
            offset,
        });
    }
    let mut out: Headers = headers.iter().filter(|h| h.name != CITE).cloned().collect();
    named.truncate(MAX_POSITIONS);
    if !named.is_empty() {
        out.set(POSITIONS, Bytes::from(encode(&named)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(topic: &'static str, partition: u32, offset: u64) -> Position {
        Position {
            topic,
            partition,
            offset,
        }
    }

    #[test]
    fn positions_round_trip_and_stay_small() {
        let ps = vec![
            pos(topics::BOOKING_EVENTS.name, 11, 0),
            pos(topics::PAYMENT_EVENTS.name, 3, 1 << 40),
            pos(topics::IDENTITY_EVENTS.name, 5, 127),
        ];
        let bytes = encode(&ps);
        assert!(
            bytes.len() <= 3 * 2 + 1 + 6 + 1 + 2,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(decode(&bytes).unwrap(), ps);
        assert_eq!(
            decode(&encode(&[pos(topics::BOOKING_EVENTS.name, 0, u64::MAX)])).unwrap()[0].offset,
            u64::MAX
        );
    }

    #[test]
    fn bad_position_bytes_are_refused() {
        assert_eq!(decode(&[9, 0, 0]), Err(PositionError::UnknownTopic(9)));
        assert_eq!(decode(&[1, 0]), Err(PositionError::Truncated));
        assert_eq!(decode(&[1, 0x80]), Err(PositionError::Truncated));
        assert!(matches!(
            decode(&[1, 12, 0]),
            Err(PositionError::NoSuchPartition(_, 12))
        ));
        let overlong = [
            1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        assert_eq!(decode(&overlong), Err(PositionError::Truncated));
        let many: Vec<u8> = std::iter::repeat_n([1u8, 0, 0], 17).flatten().collect();
        assert_eq!(decode(&many), Err(PositionError::TooMany));
    }

    #[test]
    fn a_cite_resolves_to_the_last_cited_offset_per_partition_or_the_floor() {
        let mut r = OutRecord {
            topic: topics::REPLIES.name,
            partition: None,
            key: Bytes::new(),
            value: Bytes::new(),
            timestamp: 0,
            headers: Headers::new(),
        };
        r.headers.push("traceparent", Bytes::from_static(b"x"));
        cite(&mut r, 2, (topics::BOOKING_EVENTS.name, 4));
        let c = cite_of(&r.headers).unwrap();
        assert_eq!(c.previous, 2);
        assert_eq!(c.floor, (topics::BOOKING_EVENTS.name, 4));
        let cited = [
            pos(topics::BOOKING_EVENTS.name, 4, 7),
            pos(topics::BOOKING_EVENTS.name, 4, 8),
        ];
        let h = resolve(&r.headers, &c, &cited, Some(99));
        assert!(h.get(CITE).is_none());
        assert_eq!(h.get("traceparent").unwrap().as_ref(), b"x");
        assert_eq!(
            decode(h.get(POSITIONS).unwrap()).unwrap(),
            vec![pos(topics::BOOKING_EVENTS.name, 4, 8)]
        );
        let replay = resolve(&r.headers, &c, &[], Some(99));
        assert_eq!(
            decode(replay.get(POSITIONS).unwrap()).unwrap(),
            vec![pos(topics::BOOKING_EVENTS.name, 4, 99)]
        );
        assert!(resolve(&r.headers, &c, &[], None).get(POSITIONS).is_none());
    }
}
