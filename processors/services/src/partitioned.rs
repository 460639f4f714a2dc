//! The one processor shell every aggregate uses.
//!
//! [`Partitioned`] owns one domain partition per assigned task partition and
//! runs the loop every aggregate shares: decode the record, decide (a
//! command) or react (another aggregate's event), apply each resulting event
//! and mark the state keys it changed, append the events and the answer,
//! evict what settled about once a minute, fire the partition's timer, and
//! write each dirty key once before the commit. What differs between
//! aggregates is a [`Wiring`]: its topics, how an answer travels in a reply,
//! which events ask for an effect, and what it reacts to.

use crate::support::{self, Dirty, PruneClock};
use slotstream_domain::{Aggregate, Command, Event, Millis};
use slotstream_runtime::log::{ConsumedRecord, StateEntry};
use slotstream_runtime::positions;
use slotstream_runtime::topics::Group;
use slotstream_runtime::{Effect, EffectReport, Output, Poison, Processor, TopicSpec};
use slotstream_schemas::{Codec, Contract, Envelope, ReplyPayload};
use std::collections::HashMap;

/// What an aggregate's processor adds to the shell.
pub trait Wiring: Send + 'static {
    /// The domain partition it drives.
    type Agg: Aggregate + Send;

    /// Its consumer group (id and inputs).
    const GROUP: &'static Group;
    /// The topic of its commands (every other input is reacted to).
    const COMMANDS: &'static str;
    /// The topic its events are appended to.
    const EVENTS: &'static str;

    /// A fresh, empty partition.
    fn partition(&self) -> Self::Agg;

    /// The reply that carries `answer` to the gateway that asked.
    fn reply(answer: <Self::Agg as Aggregate>::Event) -> ReplyPayload;

    /// The effect an event asks for (a provider call), if any.
    fn effect(_ev: &<Self::Agg as Aggregate>::Event) -> Option<Effect> {
        None
    }

    /// The events an effect's report causes on `part` at `now` (the
    /// provider's answer to the reconciler, its acknowledgement of a
    /// refund); the default ignores the report.
    fn report(
        &self,
        part: &Self::Agg,
        report: EffectReport,
        now: Millis,
    ) -> Vec<<Self::Agg as Aggregate>::Event> {
        let _ = (part, report, now);
        Vec::new()
    }

    /// The events a record of an input other than the commands causes
    /// (decoded here, decided by the domain's [`slotstream_domain::Reacts`]).
    /// An aggregate with no such input declares the record poison.
    ///
    /// # Errors
    /// [`Poison`] for a record that does not decode or has no business here.
    fn react(
        &self,
        part: &Self::Agg,
        codec: &Codec,
        record: &ConsumedRecord,
        now: Millis,
    ) -> Result<Vec<<Self::Agg as Aggregate>::Event>, Poison> {
        let _ = (part, codec, now);
        Err(Poison::new(format!(
            "{} consumes no topic {}",
            Self::GROUP.name,
            record.topic
        )))
    }
}

/// A stream processor made of one aggregate partition per task partition.
pub struct Partitioned<W: Wiring> {
    codec: Codec,
    wiring: W,
    parts: HashMap<u32, W::Agg>,
    dirty: Dirty,
    prune: PruneClock,
}

impl<W: Wiring> std::fmt::Debug for Partitioned<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partitioned")
            .field("group", &W::GROUP.name)
            .field("partitions", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl<W: Wiring> Partitioned<W> {
    /// A processor with no partitions yet.
    pub fn with(codec: Codec, wiring: W) -> Self {
        Self {
            codec,
            wiring,
            parts: HashMap::new(),
            dirty: Dirty::default(),
            prune: PruneClock::default(),
        }
    }

    /// The state of one partition (tests and benchmarks inspect it).
    pub fn partition(&self, p: u32) -> Option<&W::Agg> {
        self.parts.get(&p)
    }

    /// Applies `events` in order, marks what they changed, and appends them
    /// (with the effects they ask for).
    fn emit(
        &mut self,
        p: u32,
        events: Vec<<W::Agg as Aggregate>::Event>,
        now: Millis,
        out: &mut Output,
    ) where
        Envelope<<W::Agg as Aggregate>::Event>: Contract,
    {
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        for ev in events {
            self.dirty.mark(p, part.apply(&ev));
            if let Some(effect) = W::effect(&ev) {
                if effect.after_commit() {
                    out.after_commit.push((p, effect));
                } else {
                    out.effects.push(effect);
                }
            }
            let key = ev.partition_key().to_owned();
            out.records.push(support::record(
                &self.codec,
                W::EVENTS,
                &key,
                &support::envelope(ev, now),
                now,
            ));
        }
    }
}

impl<W: Wiring> Processor for Partitioned<W>
where
    Envelope<<W::Agg as Aggregate>::Command>: Contract,
    Envelope<<W::Agg as Aggregate>::Event>: Contract,
{
    fn group(&self) -> &'static str {
        W::GROUP.name
    }

    fn inputs(&self) -> Vec<TopicSpec> {
        W::GROUP.inputs.to_vec()
    }

    fn restore(&mut self, partition: u32, state: Vec<StateEntry>) -> Result<(), Poison> {
        let mut part = self.wiring.partition();
        for rec in support::restore_records(state)? {
            part.load(rec);
        }
        self.parts.insert(partition, part);
        Ok(())
    }

    fn revoke(&mut self, partition: u32) {
        self.parts.remove(&partition);
    }

    fn process(
        &mut self,
        record: &ConsumedRecord,
        now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        let p = record.partition;
        let part = self
            .parts
            .get(&p)
            .ok_or_else(|| Poison::new(format!("record for unassigned partition {p}")))?;
        let events = if &*record.topic == W::COMMANDS {
            let env: Envelope<<W::Agg as Aggregate>::Command> =
                support::decode(&self.codec, record)?;
            let decision = part.decide(&env.payload, now);
            let reply = match (decision.reply, env.payload.command_id()) {
                (Some(answer), Some(id)) => support::reply(
                    &self.codec,
                    env.reply_to.as_deref(),
                    id,
                    W::reply(answer),
                    now,
                ),
                _ => None,
            };
            // The reply follows the decision's events and cites them, so
            // the backend can name their offsets in it (a consistency
            // token); a replayed answer, with no events, cites the
            // partition's last record instead.
            let before = out.records.len();
            self.emit(p, decision.events, now, out);
            if let Some(mut reply) = reply {
                positions::cite(&mut reply, out.records.len() - before, (W::EVENTS, p));
                out.records.push(reply);
            }
            Vec::new()
        } else {
            self.wiring.react(part, &self.codec, record, now)?
        };
        self.emit(p, events, now, out);
        // About once a minute: settled records and old idempotency answers
        // leave the state; their keys are deleted (tombstones) at commit.
        if self.prune.due(p, now)
            && let Some(part) = self.parts.get_mut(&p)
        {
            self.dirty.mark(p, part.evict_settled(now));
        }
        Ok(())
    }

    fn next_deadline(&self, partition: u32) -> Option<Millis> {
        let part = self.parts.get(&partition)?;
        // A partition no record reaches still sheds what settles: it wakes
        // for its next eviction, at most once a minute (the prune cadence).
        let evict = part
            .next_eviction()
            .map(|at| match self.prune.next(partition) {
                Some(allowed) => at.max(allowed),
                None => at,
            });
        match (part.next_deadline(), evict) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, partition: u32, now: Millis, out: &mut Output) {
        let Some(part) = self.parts.get(&partition) else {
            return;
        };
        let events = part.due(now);
        // Each deadline, for the driver's lateness metric.
        out.fired
            .extend(events.iter().filter_map(<W::Agg as Aggregate>::deadline_of));
        self.emit(partition, events, now, out);
        if self.prune.due(partition, now)
            && let Some(part) = self.parts.get_mut(&partition)
        {
            self.dirty.mark(partition, part.evict_settled(now));
        }
    }

    fn on_report(&mut self, partition: u32, report: EffectReport, now: Millis, out: &mut Output) {
        let Some(part) = self.parts.get(&partition) else {
            return;
        };
        // Nobody waits on it: a report has no reply.
        let events = self.wiring.report(part, report, now);
        self.emit(partition, events, now, out);
    }

    fn before_commit(&mut self, out: &mut Output) {
        let parts = &self.parts;
        self.dirty.flush(out, |p, key| {
            parts.get(&p).and_then(|part| part.record(key))
        });
    }
}
