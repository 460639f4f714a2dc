//! Plumbing shared by the processors: encoding outputs, persisting the domain's
//! state records, building reply records.

use bytes::Bytes;
use slotstream_domain::{CommandId, Millis, StateKey, StateRecord};
use slotstream_runtime::driver::DeadLetterEncoder;
use slotstream_runtime::log::{ConsumedRecord, OutRecord, StateEntry, StateWrite};
use slotstream_runtime::topics;
use slotstream_runtime::{Output, Poison};
use slotstream_schemas::{Codec, Contract, DeadLetter, Envelope, Reply, ReplyPayload};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A fresh event id (UUIDv7: time-ordered, unique).
pub(crate) fn event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Decodes a record value or declares it poison.
pub(crate) fn decode<T: Contract>(codec: &Codec, record: &ConsumedRecord) -> Result<T, Poison> {
    codec
        .decode::<T>(&record.value)
        .map_err(|e| Poison::new(format!("undecodable {}: {e}", T::SUBJECT)))
}

/// Encodes `value` as a record for `topic` keyed by `key`.
pub(crate) fn record<T: Contract>(
    codec: &Codec,
    topic: &'static str,
    key: &str,
    value: &T,
    now: Millis,
) -> OutRecord {
    // Our own values always fit our own schemas; a failure here is a bug in
    // the mapping, and crashing the processor beats writing garbage.
    let value = codec
        .encode(value)
        .unwrap_or_else(|e| panic!("encoding {} failed: {e}", T::SUBJECT));
    OutRecord {
        topic,
        partition: None,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value,
        timestamp: now,
        headers: slotstream_runtime::Headers::new(),
    }
}

/// Wraps an event in an envelope.
pub(crate) fn envelope<T>(payload: T, now: Millis) -> Envelope<T> {
    Envelope {
        event_id: event_id(),
        occurred_at: now,
        reply_to: None,
        payload,
    }
}

/// The reply record for the gateway waiting on `command_id`, if it asked.
pub(crate) fn reply(
    codec: &Codec,
    reply_to: Option<&str>,
    command_id: &CommandId,
    payload: ReplyPayload,
    now: Millis,
) -> Option<OutRecord> {
    let gateway = reply_to?;
    let reply = Reply {
        event_id: event_id(),
        occurred_at: now,
        command_id: command_id.clone(),
        payload,
    };
    Some(record(codec, topics::REPLIES.name, gateway, &reply, now))
}

/// Keys changed during a batch, written once each before the commit.
#[derive(Debug, Default)]
pub(crate) struct Dirty(BTreeSet<(u32, StateKey)>);

impl Dirty {
    /// Remembers that `keys` of `partition` changed.
    pub(crate) fn mark(&mut self, partition: u32, keys: Vec<StateKey>) {
        for k in keys {
            self.0.insert((partition, k));
        }
    }

    /// Writes each dirty key's current record (or a delete) into `out`.
    pub(crate) fn flush(
        &mut self,
        out: &mut Output,
        mut lookup: impl FnMut(u32, &StateKey) -> Option<StateRecord>,
    ) {
        for (partition, parsed) in std::mem::take(&mut self.0) {
            let key = parsed.encode();
            let value =
                lookup(partition, &parsed).map(|rec| {
                    Bytes::from(postcard::to_stdvec(&rec).unwrap_or_else(|e| {
                        panic!("state record for {key} does not serialize: {e}")
                    }))
                });
            out.state.push(StateWrite {
                partition,
                key: Bytes::from(key.into_bytes()),
                value,
            });
        }
    }
}

/// Decodes a restored state store into domain records.
pub(crate) fn restore_records(entries: Vec<StateEntry>) -> Result<Vec<StateRecord>, Poison> {
    entries
        .into_iter()
        .map(|(k, v)| {
            postcard::from_bytes::<StateRecord>(&v).map_err(|e| {
                Poison::new(format!(
                    "state entry {} unreadable: {e}",
                    String::from_utf8_lossy(&k)
                ))
            })
        })
        .collect()
}

/// Tracks when each partition was last pruned, to prune about once a minute
/// (the booking and payment processors evict settled state on the same
/// cadence).
#[derive(Debug, Default)]
pub(crate) struct PruneClock(std::collections::HashMap<u32, Millis>);

impl PruneClock {
    /// The earliest instant `partition` may be pruned again: a minute after
    /// its last pruning, or at once if it has none yet.
    pub(crate) fn next(&self, partition: u32) -> Option<Millis> {
        self.0
            .get(&partition)
            .map(|last| last + slotstream_domain::time::MINUTE)
    }

    /// True (and remembers `now`) when `partition` is due for pruning.
    pub(crate) fn due(&mut self, partition: u32, now: Millis) -> bool {
        let last = self.0.entry(partition).or_insert(now);
        if now - *last >= slotstream_domain::time::MINUTE {
            *last = now;
            true
        } else {
            false
        }
    }
}

/// The dead-letter encoder handed to the driver: poison records are kept
/// whole (key and value bytes) with the reason, on the dead-letter topic.
pub fn dead_letter(codec: Codec) -> DeadLetterEncoder {
    Arc::new(
        move |record: &ConsumedRecord, poison: &Poison, now: Millis| {
            let letter = DeadLetter {
                topic: record.topic.to_string(),
                partition: record.partition,
                offset: record.offset,
                key: record.key.to_vec(),
                value: record.value.to_vec(),
                reason: poison.reason.clone(),
                dead_lettered_at: now,
            };
            self::record(
                &codec,
                topics::DEAD_LETTERS.name,
                &record.topic,
                &letter,
                now,
            )
        },
    )
}
