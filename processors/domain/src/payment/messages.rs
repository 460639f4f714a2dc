//! Commands into and events out of the payment processor (topic keys: resource id,
//! so a payment lives on the same partition number as its booking).

use crate::ids::{BookingId, CommandId, PaymentId, ResourceId, UserId};
use crate::money::Money;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Status of a payment intent, as the public API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Waiting for the customer's checkout.
    RequiresPayment,
    /// Checkout submitted to the provider; outcome not reported yet.
    Processing,
    /// Paid.
    Succeeded,
    /// The provider declined it.
    Failed,
    /// Paid, then refunded in full.
    Refunded,
    /// Paid, then refunded in part.
    PartiallyRefunded,
    /// Given up before payment (booking expired, failed or cancelled unpaid).
    Canceled,
    /// Checkout submitted, and the provider has not said what became of
    /// it in time (a call that failed or timed out, an outcome that never
    /// arrived): the reconciler asks the provider by the payment's
    /// idempotency key until it knows.
    Unknown,
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [Self; 8] = [
        Self::RequiresPayment,
        Self::Processing,
        Self::Succeeded,
        Self::Failed,
        Self::Refunded,
        Self::PartiallyRefunded,
        Self::Canceled,
        Self::Unknown,
    ];

    /// Its name in the API, the views and every store
    /// (`"requires_payment"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPayment => "requires_payment",
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }

    /// The status named `name` ([`PaymentStatus::as_str`]; exact, lower case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The customer's checkout result at the sandbox provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckoutOutcome {
    /// The card went through.
    Succeeded,
    /// The card was declined.
    Failed,
}

/// Commands on the payment-commands topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentCommand {
    /// The customer finishes checkout (`POST /v1/payments/{id}/complete`).
    SubmitCheckout(SubmitCheckout),
    /// The provider reports an outcome (a verified webhook).
    RecordProviderOutcome(RecordProviderOutcome),
}

/// See [`PaymentCommand::SubmitCheckout`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitCheckout {
    /// Derived from (user, Idempotency-Key).
    pub command_id: CommandId,
    /// Hash of the request body, to detect key reuse.
    pub request_hash: String,
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking's resource (the partition key).
    pub resource_id: ResourceId,
    /// Who asks; must be the payer.
    pub user_id: UserId,
    /// The checkout result to submit.
    pub outcome: CheckoutOutcome,
    /// When the gateway appended it to the log, on the gateway's clock: the
    /// instant the customer's action counts (`CheckoutSubmitted::submitted_at`),
    /// however late the payment processor decides it. `None` in records
    /// written before the field existed: the processor's clock counts then.
    pub appended_at: Option<Millis>,
    /// When the gateway accepted it.
    pub requested_at: Millis,
}

/// See [`PaymentCommand::RecordProviderOutcome`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProviderOutcome {
    /// The provider's event id; a redelivered webhook has the same one.
    pub provider_event_id: String,
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking's resource (the partition key).
    pub resource_id: ResourceId,
    /// What happened.
    pub outcome: CheckoutOutcome,
    /// Provider's reason on failure.
    pub reason: String,
    /// When the provider says it happened.
    pub occurred_at: Millis,
}

/// Why a checkout submission was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckoutRejectionReason {
    /// No such payment, or not the caller's.
    NotFound,
    /// The payment is not waiting for payment any more.
    NotPending,
    /// The same command id arrived earlier with a different body.
    IdempotencyKeyReused,
}

/// Events on the payment-events topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentEvent {
    /// An intent exists for a held booking.
    PaymentIntentCreated(PaymentIntentCreated),
    /// The customer's checkout was accepted and passed to the provider.
    CheckoutSubmitted(CheckoutSubmitted),
    /// The customer's checkout was turned down; nothing changed.
    CheckoutRejected(CheckoutRejected),
    /// The provider took the money.
    PaymentCompleted(PaymentCompleted),
    /// The provider declined.
    PaymentFailed(PaymentFailed),
    /// The intent was given up before payment.
    PaymentCanceled(PaymentCanceled),
    /// Money went back to the customer.
    PaymentRefunded(PaymentRefunded),
    /// The provider has not said what became of a submitted checkout in
    /// time: the payment is `Unknown`, and the provider is asked (again).
    PaymentStatusUnknown(PaymentStatusUnknown),
    /// The provider has not acknowledged a refund in time: it is asked
    /// for it again, under the same refund id.
    RefundUnconfirmed(RefundUnconfirmed),
    /// The provider acknowledged a refund: nothing more to ask.
    RefundConfirmed(RefundConfirmed),
    /// The booking moved to another start: a paid cancellation can refund
    /// the payment until that start, so the payment stays until then.
    PaymentBookingRescheduled(PaymentBookingRescheduled),
}

/// See [`PaymentEvent::PaymentIntentCreated`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntentCreated {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// What is due.
    pub amount: Money,
    /// Where the customer pays.
    pub checkout_url: String,
    /// When.
    pub created_at: Millis,
    /// The booking's start (from its `BookingHeld`): its owner may cancel it
    /// until then, and a paid cancellation refunds this payment, so this is
    /// how long a paid payment must stay refundable (see
    /// [`settles_at`](super::settles_at)). `None` only in events written
    /// before the field existed: such a payment, once paid, never settles.
    pub booking_start: Option<Millis>,
    /// The booking's hold deadline (from its `BookingHeld`): a checkout
    /// submitted at or after it is refused (`NotPending`), as for a booking
    /// that expired. `None` in events written before the field existed: no
    /// deadline is checked on this side then.
    pub hold_expires_at: Option<Millis>,
}

/// See [`PaymentEvent::CheckoutSubmitted`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSubmitted {
    /// The submitting command.
    pub command_id: CommandId,
    /// Hash of that request's body (idempotency).
    pub request_hash: String,
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The checkout result handed to the provider.
    pub outcome: CheckoutOutcome,
    /// When the customer submitted it: the gateway's append instant
    /// (`SubmitCheckout::appended_at`, never later than the decision), not
    /// when this side decided it. Before its booking's hold deadline, the
    /// booking side keeps the slot for the payment's decision.
    pub submitted_at: Millis,
}

/// See [`PaymentEvent::CheckoutRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRejected {
    /// The submitting command.
    pub command_id: CommandId,
    /// Hash of that request's body (idempotency).
    pub request_hash: String,
    /// The payment.
    pub payment_id: PaymentId,
    /// The partition key.
    pub resource_id: ResourceId,
    /// Why.
    pub reason: CheckoutRejectionReason,
    /// When.
    pub rejected_at: Millis,
}

/// See [`PaymentEvent::PaymentCompleted`] (the seed's `PaymentCompleted`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    /// The payment.
    pub payment_id: PaymentId,
    /// The provider event that reported it (a redelivery has the same id).
    pub provider_event_id: String,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// What was taken.
    pub amount: Money,
    /// When, as the provider reports it (a redelivered webhook keeps its
    /// first instant, which may be days old).
    pub completed_at: Millis,
    /// When this side accepted the report, on its own clock: the orphan
    /// refund of a payment that completed after its booking lapsed comes
    /// back relative to this instant, not to `completed_at` (see
    /// [`settles_at`](super::settles_at)). `None` only in events written
    /// before the field existed: such a payment never settles while paid.
    pub recorded_at: Option<Millis>,
}

/// See [`PaymentEvent::PaymentFailed`] (the seed's `PaymentFailed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// The payment.
    pub payment_id: PaymentId,
    /// The provider event that reported it (a redelivery has the same id).
    pub provider_event_id: String,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// Provider's reason.
    pub reason: String,
    /// When.
    pub failed_at: Millis,
}

/// See [`PaymentEvent::PaymentCanceled`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCanceled {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// When.
    pub canceled_at: Millis,
}

/// See [`PaymentEvent::PaymentBookingRescheduled`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentBookingRescheduled {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The booking's new start.
    pub booking_start: Millis,
    /// When the booking side decided the move.
    pub rescheduled_at: Millis,
}

/// See [`PaymentEvent::PaymentRefunded`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// This refund.
    pub amount: Money,
    /// All refunds of this payment so far, this one included.
    pub refunded_total: Money,
    /// `Refunded` or `PartiallyRefunded`.
    pub status: PaymentStatus,
    /// The provider's refund id (its idempotency key).
    pub refund_id: String,
    /// When.
    pub refunded_at: Millis,
}

/// See [`PaymentEvent::PaymentStatusUnknown`]. Decided by the payment
/// processor's check timer, never by a command: each one asks the provider
/// once, by the payment's idempotency key, what became of the checkout
/// (and submits it again if the provider never received it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentStatusUnknown {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// What the customer submitted (sent again if the provider never got it).
    pub outcome: CheckoutOutcome,
    /// When the customer submitted the checkout.
    pub submitted_at: Millis,
    /// Which ask this is: 1 for the first, when the payment became unknown.
    pub attempt: u32,
    /// When the provider is asked again if this ask brings no answer.
    pub next_check_at: Millis,
    /// When this side decided it (its clock).
    pub checked_at: Millis,
}

/// See [`PaymentEvent::RefundUnconfirmed`]. Decided by the payment
/// processor's check timer: each one hands the refund to the provider once
/// more (idempotent by its refund id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundUnconfirmed {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The refund, as `PaymentRefunded` named it (the provider's key).
    pub refund_id: String,
    /// How much.
    pub amount: Money,
    /// Which ask this is, from 1.
    pub attempt: u32,
    /// When it is asked again if this ask brings no acknowledgement.
    pub next_check_at: Millis,
    /// When this side decided it.
    pub checked_at: Millis,
}

/// See [`PaymentEvent::RefundConfirmed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundConfirmed {
    /// The payment.
    pub payment_id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource.
    pub resource_id: ResourceId,
    /// The refund the provider acknowledged.
    pub refund_id: String,
    /// When this side recorded the acknowledgement.
    pub confirmed_at: Millis,
}
