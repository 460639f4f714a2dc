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
use slotstream_domain::payment::{PaymentEvent, PaymentPartition};
use slotstream_domain::{Millis, PaymentId, Reacts};
use slotstream_runtime::log::ConsumedRecord;
use slotstream_runtime::topics::{self, Group};
use slotstream_runtime::{Effect, Poison};
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
            PaymentEvent::PaymentRefunded(e) => Some(Effect::Refund {
                payment_id: e.payment_id.clone(),
                refund_id: e.refund_id.clone(),
                amount: e.amount.clone(),
            }),
            _ => None,
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
