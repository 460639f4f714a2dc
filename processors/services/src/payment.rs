//! The payment processor: owns payment intents. Co-partitioned with bookings
//! (keyed by resource id), it creates an intent for every held booking, passes
//! the customer's checkout to the provider, records the provider's outcome,
//! cancels intents of bookings that lapsed, and refunds per the booking
//! processor's policy quote. The loop is the shared shell's
//! ([`Partitioned`]); this file says what is the payment side's own: the
//! provider calls its events ask for.

use crate::partitioned::{Partitioned, Wiring};
use crate::support;
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::payment::{
    PaymentCommand, PaymentEvent, PaymentPartition, RecordProviderOutcome,
};
use slotstream_domain::{Millis, PaymentId, Reacts};
use slotstream_runtime::log::ConsumedRecord;
use slotstream_runtime::topics::{self, Group};
use slotstream_runtime::{Effect, EffectReport, Poison};
use slotstream_schemas::{Codec, Envelope, ReplyPayload};
use std::sync::Arc;

/// Builds the checkout URL of a payment (the provider's hosted page).
pub type CheckoutUrl = Arc<dyn Fn(&PaymentId) -> String + Send + Sync>;

/// See the module docs.
pub type PaymentProcessor = Partitioned<Payment>;

/// The payment side's wiring: payment commands in, booking events reacted
/// to, payment events and provider calls out.
pub struct Payment {
    checkout_url: CheckoutUrl,
}

impl std::fmt::Debug for Payment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payment").finish_non_exhaustive()
    }
}

impl PaymentProcessor {
    /// A processor with no partitions yet.
    pub fn new(codec: Codec, checkout_url: CheckoutUrl) -> Self {
        Partitioned::with(codec, Payment { checkout_url })
    }
}

impl Wiring for Payment {
    type Agg = PaymentPartition;
    const GROUP: &'static Group = &topics::groups::PAYMENT;
    const COMMANDS: &'static str = topics::PAYMENT_COMMANDS.name;
    const EVENTS: &'static str = topics::PAYMENT_EVENTS.name;

    fn partition(&self) -> PaymentPartition {
        PaymentPartition::new()
    }

    fn reply(answer: PaymentEvent) -> ReplyPayload {
        ReplyPayload::Payment(answer)
    }

    /// What the provider must be told about an event, if anything.
    fn effect(ev: &PaymentEvent) -> Option<Effect> {
        match ev {
            PaymentEvent::CheckoutSubmitted(e) => Some(Effect::SubmitCheckout {
                payment_id: e.payment_id.clone(),
                resource_id: e.resource_id.clone(),
                outcome: e.outcome,
            }),
            PaymentEvent::PaymentStatusUnknown(e) => Some(Effect::ReconcilePayment {
                payment_id: e.payment_id.clone(),
                resource_id: e.resource_id.clone(),
                outcome: e.outcome,
            }),
            PaymentEvent::PaymentRefunded(e) => Some(Effect::Refund {
                payment_id: e.payment_id.clone(),
                resource_id: e.resource_id.clone(),
                refund_id: e.refund_id.clone(),
                amount: e.amount.clone(),
            }),
            PaymentEvent::RefundUnconfirmed(e) => Some(Effect::Refund {
                payment_id: e.payment_id.clone(),
                resource_id: e.resource_id.clone(),
                refund_id: e.refund_id.clone(),
                amount: e.amount.clone(),
            }),
            _ => None,
        }
    }

    /// The provider's answer to the reconciler: the outcome its webhook
    /// would have reported, under the same event id (so whichever arrives
    /// second changes nothing).
    /// A refund's acknowledgement confirms it.
    fn report(
        &self,
        part: &PaymentPartition,
        report: EffectReport,
        now: Millis,
    ) -> Vec<PaymentEvent> {
        match report {
            EffectReport::PaymentSettled {
                payment_id,
                resource_id,
                outcome,
            } => {
                let cmd = PaymentCommand::RecordProviderOutcome(RecordProviderOutcome {
                    provider_event_id: outcome.event_id,
                    payment_id,
                    resource_id,
                    outcome: outcome.outcome,
                    reason: outcome.reason,
                    occurred_at: outcome.occurred_at,
                });
                part.decide(&cmd, now).events
            }
            EffectReport::RefundAccepted {
                payment_id,
                refund_id,
                ..
            } => part.confirm_refund(&payment_id, &refund_id, now),
        }
    }

    fn react(
        &self,
        part: &PaymentPartition,
        codec: &Codec,
        record: &ConsumedRecord,
        now: Millis,
    ) -> Result<Vec<PaymentEvent>, Poison> {
        let env: Envelope<BookingEvent> = support::decode(codec, record)?;
        Ok(part.react(&env.payload, &*self.checkout_url, now))
    }
}

#[cfg(test)]
mod tests {
    //! The processor around the domain's settle rule: what it writes to the
    //! state store (the embedded store's keyspace or the Kafka changelog,
    //! which take the same `StateWrite`s: `None` is a delete there and a
    //! tombstone here) and what a restore from those writes holds.

    use super::*;
    use bytes::Bytes;
    use slotstream_domain::booking::{BookingCancelled, BookingHeld};
    use slotstream_domain::payment::PaymentCommand;
    use slotstream_domain::payment::{
        CheckoutOutcome, Payment, PaymentV1, QUIET_PERIOD, RecordProviderOutcome,
    };
    use slotstream_domain::time::{DAY, HOUR, MINUTE};
    use slotstream_domain::{Money, StateKey, StateRecord};
    use slotstream_runtime::{Output, Processor};
    use std::collections::BTreeMap;

    const T0: Millis = 1_700_000_000_000;

    /// The processor on partition 0, and the store its commits built:
    /// every `StateWrite` applied in order, as a restore reads it back (the
    /// last value per key wins, a delete or tombstone removes the key).
    struct Rig {
        proc: PaymentProcessor,
        store: BTreeMap<Bytes, Bytes>,
        deleted: Vec<String>,
        offset: u64,
    }

    impl Rig {
        fn new(store: BTreeMap<Bytes, Bytes>) -> Self {
            let mut proc = PaymentProcessor::new(
                Codec::embedded(),
                Arc::new(|id: &PaymentId| format!("https://pay.example/{id}")),
            );
            let state = store.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            proc.restore(0, state).expect("restore");
            Self {
                proc,
                store,
                deleted: Vec::new(),
                offset: 0,
            }
        }

        /// Processes one record and commits: returns the payment events.
        fn feed<T: slotstream_schemas::Contract>(
            &mut self,
            topic: &'static str,
            value: T,
            now: Millis,
        ) -> Vec<PaymentEvent> {
            let codec = Codec::embedded();
            let record = ConsumedRecord {
                topic: topic.into(),
                partition: 0,
                offset: self.offset,
                key: Bytes::from_static(b"room-1"),
                value: codec.encode(&value).expect("encode"),
                timestamp: now,
                headers: slotstream_runtime::Headers::new(),
            };
            self.offset += 1;
            let mut out = Output::default();
            self.proc.process(&record, now, &mut out).expect("process");
            self.proc.before_commit(&mut out);
            for w in out.state {
                assert_eq!(w.partition, 0);
                match w.value {
                    Some(v) => self.store.insert(w.key, v),
                    None => {
                        self.deleted
                            .push(String::from_utf8_lossy(&w.key).into_owned());
                        self.store.remove(&w.key)
                    }
                };
            }
            out.records
                .iter()
                .filter(|r| r.topic == topics::PAYMENT_EVENTS.name)
                .map(|r| {
                    codec
                        .decode::<Envelope<PaymentEvent>>(&r.value)
                        .expect("decode")
                        .payload
                })
                .collect()
        }

        fn booking(&mut self, ev: BookingEvent, now: Millis) -> Vec<PaymentEvent> {
            self.feed(topics::BOOKING_EVENTS.name, support::envelope(ev, now), now)
        }

        fn webhook(&mut self, id: &str, occurred_at: Millis, now: Millis) -> Vec<PaymentEvent> {
            let cmd = PaymentCommand::RecordProviderOutcome(RecordProviderOutcome {
                provider_event_id: format!("evt-{id}"),
                payment_id: PaymentId::new(id),
                resource_id: "room-1".into(),
                outcome: CheckoutOutcome::Succeeded,
                reason: String::new(),
                occurred_at,
            });
            self.feed(
                topics::PAYMENT_COMMANDS.name,
                support::envelope(cmd, now),
                now,
            )
        }

        fn stored(&self, id: &str) -> Option<StateRecord> {
            let v = self.store.get(format!("p/{id}").as_bytes())?;
            Some(postcard::from_bytes(v).expect("a stored record"))
        }
    }

    fn held(n: &str, start: Millis, now: Millis) -> BookingEvent {
        BookingEvent::BookingHeld(BookingHeld {
            command_id: format!("cmd-{n}").as_str().into(),
            request_hash: "h".into(),
            booking_id: format!("bk-{n}").as_str().into(),
            resource_id: "room-1".into(),
            vendor_id: "vendor".into(),
            user_id: "ann".into(),
            user_email: "ann@example.com".into(),
            start,
            end: start + HOUR,
            amount: Money::new(1000, "EUR"),
            payment_id: format!("pay-{n}").as_str().into(),
            hold_expires_at: now + 15 * MINUTE,
            held_at: now,
        })
    }

    fn paid_cancel(n: &str, now: Millis) -> BookingEvent {
        BookingEvent::BookingCancelled(BookingCancelled {
            command_id: format!("cancel-{n}").as_str().into(),
            booking_id: format!("bk-{n}").as_str().into(),
            resource_id: "room-1".into(),
            user_id: "ann".into(),
            user_email: "ann@example.com".into(),
            payment_id: format!("pay-{n}").as_str().into(),
            was_paid: true,
            refund: Money::new(400, "EUR"),
            cancelled_at: now,
        })
    }

    #[test]
    fn a_succeeded_payment_is_tombstoned_a_quiet_period_after_its_start_and_restores_without_it() {
        let mut rig = Rig::new(BTreeMap::new());
        let start = T0 + 2 * DAY;
        let created = rig.booking(held("1", start, T0), T0);
        assert!(
            matches!(created.as_slice(), [PaymentEvent::PaymentIntentCreated(e)] if e.booking_start == Some(start)),
            "{created:?}"
        );
        // The provider reports a success that happened a minute earlier.
        let paid_at = T0 + MINUTE;
        let done = rig.webhook("pay-1", T0, paid_at);
        assert!(
            matches!(done.as_slice(), [PaymentEvent::PaymentCompleted(e)] if e.completed_at == T0 && e.recorded_at == Some(paid_at)),
            "{done:?}"
        );
        let Some(StateRecord::Payment(p)) = rig.stored("pay-1") else {
            panic!("stored in the current layout")
        };
        assert_eq!(
            (p.booking_start, p.paid_recorded_at),
            (Some(start), Some(paid_at))
        );
        // Another booking on the partition keeps records (and the prune
        // cadence) coming; just before the settle instant nothing leaves.
        let settle = start + QUIET_PERIOD;
        rig.booking(held("2", settle + DAY, settle - MINUTE), settle - MINUTE);
        assert!(rig.stored("pay-1").is_some());
        assert!(rig.deleted.is_empty(), "{:?}", rig.deleted);
        rig.booking(held("3", settle + DAY, settle), settle);
        assert_eq!(rig.deleted, vec!["p/pay-1".to_owned()]);
        assert_eq!(rig.stored("pay-1"), None);
        // A restore from what was written has forgotten it: a late paid
        // cancellation finds nothing to refund; the others are still there.
        let mut restored = Rig::new(rig.store.clone());
        assert!(
            restored
                .booking(paid_cancel("1", settle), settle)
                .is_empty()
        );
        assert!(restored.stored("pay-2").is_some() && restored.stored("pay-3").is_some());
    }

    #[test]
    fn a_payment_stored_by_the_previous_release_restores_and_is_rewritten_on_its_next_change() {
        // pay-1 succeeded, as the previous release stored it (no booking start).
        let old = Payment {
            id: "pay-1".into(),
            booking_id: "bk-1".into(),
            resource_id: "room-1".into(),
            user_id: "ann".into(),
            amount: Money::new(1000, "EUR"),
            status: slotstream_domain::payment::PaymentStatus::Succeeded,
            refunded: 0,
            checkout_url: "u".into(),
            provider_events: vec!["evt-pay-1".into()],
            refunds: 0,
            created_at: T0,
            updated_at: T0,
            booking_start: None,
            paid_recorded_at: None,
            hold_expires_at: None,
            checkout: None,
            submitted_at: None,
            check_at: None,
            checks: 0,
            refund_pending: None,
        };
        let v1 = PaymentV1 {
            id: old.id.clone(),
            booking_id: old.booking_id.clone(),
            resource_id: old.resource_id.clone(),
            user_id: old.user_id.clone(),
            amount: old.amount.clone(),
            status: old.status,
            refunded: old.refunded,
            checkout_url: old.checkout_url.clone(),
            provider_events: old.provider_events.clone(),
            refunds: old.refunds,
            created_at: old.created_at,
            updated_at: old.updated_at,
        };
        let bytes = postcard::to_stdvec(&StateRecord::PaymentV1(v1)).expect("encode");
        assert_eq!(bytes[0], 2, "the old variant's position");
        let key = Bytes::from(StateKey::Payment("pay-1".into()).encode().into_bytes());
        let mut rig = Rig::new(BTreeMap::from([(key, Bytes::from(bytes))]));
        // Never settled while paid (its start is unknown), so a cancellation
        // a year on still refunds it; the refund stores the new layout.
        let later = T0 + 365 * DAY;
        rig.booking(held("2", later + DAY, later - MINUTE), later - MINUTE);
        assert!(rig.deleted.is_empty());
        let refund = rig.booking(paid_cancel("1", later), later);
        assert!(
            matches!(refund.as_slice(), [PaymentEvent::PaymentRefunded(r)] if r.amount.amount == 400),
            "{refund:?}"
        );
        assert!(matches!(
            rig.stored("pay-1"),
            Some(StateRecord::Payment(p)) if p.refunded == 400 && p.booking_start.is_none()
        ));
    }
}
