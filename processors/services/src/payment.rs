//! The payment processor: owns payment intents. Co-partitioned with bookings
//! (keyed by resource id), it creates an intent for every held booking, passes
//! the customer's checkout to the provider, records the provider's outcome,
//! cancels intents of bookings that lapsed, and refunds per the booking
//! processor's policy quote.

use crate::support::{self, Dirty, PruneClock};
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::payment::{PaymentCommand, PaymentEvent, PaymentPartition};
use slotstream_domain::{Millis, PaymentId};
use slotstream_runtime::log::{ConsumedRecord, StateEntry};
use slotstream_runtime::{Effect, Output, Poison, Processor, TopicSpec, topics};
use slotstream_schemas::{Codec, Envelope, ReplyPayload};
use std::collections::HashMap;
use std::sync::Arc;

/// Builds the checkout URL of a payment (the provider's hosted page).
pub type CheckoutUrl = Arc<dyn Fn(&PaymentId) -> String + Send + Sync>;

/// See the module docs.
pub struct PaymentProcessor {
    codec: Codec,
    checkout_url: CheckoutUrl,
    parts: HashMap<u32, PaymentPartition>,
    dirty: Dirty,
    prune: PruneClock,
}

impl std::fmt::Debug for PaymentProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentProcessor")
            .field("partitions", &self.parts.len())
            .finish_non_exhaustive()
    }
}

impl PaymentProcessor {
    /// A processor with no partitions yet.
    pub fn new(codec: Codec, checkout_url: CheckoutUrl) -> Self {
        Self {
            codec,
            checkout_url,
            parts: HashMap::new(),
            dirty: Dirty::default(),
            prune: PruneClock::default(),
        }
    }

    fn part(&mut self, p: u32) -> Result<&mut PaymentPartition, Poison> {
        self.parts
            .get_mut(&p)
            .ok_or_else(|| Poison::new(format!("record for unassigned partition {p}")))
    }

    fn emit(&mut self, p: u32, events: Vec<PaymentEvent>, now: Millis, out: &mut Output) {
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        for ev in events {
            let keys = part.apply(&ev);
            self.dirty.mark(p, keys);
            if let Some(effect) = effect_of(&ev) {
                out.effects.push(effect);
            }
            let key = resource_key(&ev).to_owned();
            out.records.push(support::record(
                &self.codec,
                topics::PAYMENT_EVENTS.name,
                &key,
                &support::envelope(ev, now),
                now,
            ));
        }
    }
}

/// What the provider must be told about an event, if anything.
fn effect_of(ev: &PaymentEvent) -> Option<Effect> {
    match ev {
        PaymentEvent::CheckoutSubmitted(e) => Some(Effect::SubmitCheckout {
            payment_id: e.payment_id.clone(),
            resource_id: e.resource_id.clone(),
            outcome: e.outcome,
        }),
        PaymentEvent::PaymentRefunded(e) => Some(Effect::Refund {
            payment_id: e.payment_id.clone(),
            refund_id: e.refund_id.clone(),
            amount: e.amount.clone(),
        }),
        _ => None,
    }
}

fn resource_key(ev: &PaymentEvent) -> &str {
    match ev {
        PaymentEvent::PaymentIntentCreated(e) => e.resource_id.as_str(),
        PaymentEvent::CheckoutSubmitted(e) => e.resource_id.as_str(),
        PaymentEvent::CheckoutRejected(e) => e.resource_id.as_str(),
        PaymentEvent::PaymentCompleted(e) => e.resource_id.as_str(),
        PaymentEvent::PaymentFailed(e) => e.resource_id.as_str(),
        PaymentEvent::PaymentCanceled(e) => e.resource_id.as_str(),
        PaymentEvent::PaymentRefunded(e) => e.resource_id.as_str(),
    }
}

impl Processor for PaymentProcessor {
    fn group(&self) -> &'static str {
        topics::groups::PAYMENT.name
    }

    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::PAYMENT.inputs.to_vec()
    }

    fn restore(&mut self, partition: u32, state: Vec<StateEntry>) -> Result<(), Poison> {
        let mut part = PaymentPartition::new();
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
        if &*record.topic == topics::PAYMENT_COMMANDS.name {
            let env: Envelope<PaymentCommand> = support::decode(&self.codec, record)?;
            let decision = self.part(p)?.decide(&env.payload, now);
            if let (Some(answer), PaymentCommand::SubmitCheckout(cmd)) =
                (decision.reply, &env.payload)
            {
                out.records.extend(support::reply(
                    &self.codec,
                    env.reply_to.as_deref(),
                    &cmd.command_id,
                    ReplyPayload::Payment(answer),
                    now,
                ));
            }
            self.emit(p, decision.events, now, out);
        } else {
            let env: Envelope<BookingEvent> = support::decode(&self.codec, record)?;
            let url = self.checkout_url.clone();
            let events = self.part(p)?.react_to_booking(&env.payload, &*url, now);
            self.emit(p, events, now, out);
        }
        // About once a minute: old idempotency answers and settled payments
        // leave the state; their keys are deleted (tombstones) at commit.
        if self.prune.due(p, now) {
            let keys = self.part(p)?.evict_settled(now);
            self.dirty.mark(p, keys);
        }
        Ok(())
    }

    fn before_commit(&mut self, out: &mut Output) {
        let parts = &self.parts;
        self.dirty.flush(out, |p, key| {
            parts.get(&p).and_then(|part| part.record(key))
        });
    }
}
