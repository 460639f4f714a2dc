//! The continuous auditor: a processor of its own consumer group
//! (`slotstream.audit`) over the booking and payment events, run by the
//! same driver as every processor. Its [`Ledger`] per task partition is its
//! state (persisted, so a restart resumes where it stopped); its timers are
//! the hold deadlines and payment pairings plus the slack. It writes no
//! record: each violation is logged and counted
//! (`slotstream_audit_violations_total{kind}`).

use crate::ledger::{Key, Kind, Ledger, Position, Record, Topic, Violation};
use bytes::Bytes;
use slotstream_domain::Millis;
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::payment::PaymentEvent;
use slotstream_runtime::internal_events::AuditEvents;
use slotstream_runtime::log::{ConsumedRecord, StateEntry, StateWrite};
use slotstream_runtime::{Output, Poison, Processor, Telemetry, TopicSpec, topics};
use slotstream_schemas::{Codec, Envelope};
use std::collections::HashMap;

/// See the module docs.
#[derive(Debug)]
pub struct AuditProcessor {
    codec: Codec,
    slack: Millis,
    parts: HashMap<u32, Ledger>,
    events: AuditEvents,
}

impl AuditProcessor {
    /// An auditor allowing `slack` milliseconds past a hold's deadline (and
    /// for a payment outcome to reach its booking), counting into
    /// `telemetry`.
    pub fn new(codec: Codec, slack: Millis, telemetry: &Telemetry) -> Self {
        Self {
            codec,
            slack,
            parts: HashMap::new(),
            events: AuditEvents::new(telemetry, &Kind::labels()),
        }
    }

    fn report(&self, found: Vec<Violation>) {
        for v in found {
            self.events.violation(v.kind.as_str(), &v);
        }
    }
}

/// Decodes a record of either audited topic and feeds it to `ledger`.
/// Undecodable records are skipped (the processors that own them
/// dead-letter them); `None` then.
pub(crate) fn feed(
    codec: &Codec,
    ledger: &mut Ledger,
    record: &ConsumedRecord,
) -> Option<Vec<Violation>> {
    let booking = &*record.topic == topics::BOOKING_EVENTS.name;
    let pos = Position {
        topic: if booking {
            Topic::BookingEvents
        } else {
            Topic::PaymentEvents
        },
        partition: record.partition,
        offset: record.offset,
    };
    if booking {
        match codec.decode::<Envelope<BookingEvent>>(&record.value) {
            Ok(env) => Some(ledger.booking_event(pos, env.occurred_at, &env.payload)),
            Err(e) => {
                tracing::warn!(at = %pos, error = %e, "audit: undecodable booking event skipped");
                None
            }
        }
    } else {
        match codec.decode::<Envelope<PaymentEvent>>(&record.value) {
            Ok(env) => Some(ledger.payment_event(pos, env.occurred_at, &env.payload)),
            Err(e) => {
                tracing::warn!(at = %pos, error = %e, "audit: undecodable payment event skipped");
                None
            }
        }
    }
}

impl Processor for AuditProcessor {
    fn group(&self) -> &'static str {
        topics::groups::AUDIT.name
    }

    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::AUDIT.inputs.to_vec()
    }

    fn restore(&mut self, partition: u32, state: Vec<StateEntry>) -> Result<(), Poison> {
        let mut ledger = Ledger::new(self.slack);
        for (k, v) in state {
            let rec: Record = postcard::from_bytes(&v).map_err(|e| {
                Poison::new(format!(
                    "audit state entry {} unreadable: {e}",
                    String::from_utf8_lossy(&k)
                ))
            })?;
            ledger.load(rec);
        }
        self.parts.insert(partition, ledger);
        Ok(())
    }

    fn revoke(&mut self, partition: u32) {
        self.parts.remove(&partition);
    }

    fn process(
        &mut self,
        record: &ConsumedRecord,
        _now: Millis,
        _out: &mut Output,
    ) -> Result<(), Poison> {
        let Some(ledger) = self.parts.get_mut(&record.partition) else {
            return Err(Poison::new(format!(
                "record for unassigned partition {}",
                record.partition
            )));
        };
        if let Some(found) = feed(&self.codec, ledger, record) {
            self.report(found);
        }
        Ok(())
    }

    fn next_deadline(&self, partition: u32) -> Option<Millis> {
        self.parts.get(&partition)?.next_due()
    }

    fn on_timer(&mut self, partition: u32, now: Millis, _out: &mut Output) {
        let Some(ledger) = self.parts.get_mut(&partition) else {
            return;
        };
        let found = ledger.due(now);
        self.report(found);
    }

    fn before_commit(&mut self, out: &mut Output) {
        for (&partition, ledger) in &mut self.parts {
            for key in ledger.take_dirty() {
                let value = ledger.record(&key).map(|rec| {
                    Bytes::from(
                        postcard::to_stdvec(&rec)
                            .unwrap_or_else(|e| panic!("audit record does not serialize: {e}")),
                    )
                });
                out.state.push(StateWrite {
                    partition,
                    key: Bytes::from(Key::encode(&key)),
                    value,
                });
            }
        }
    }
}
