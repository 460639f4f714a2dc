//! Commands into and events out of the booking processor (topic keys: resource id).
//!
//! Every command that a client can retry carries a [`CommandId`]; every event that
//! answers a command carries the same id so a waiting gateway can match it.

use crate::ids::{BookingId, CommandId, PaymentId, ResourceId, UserId};
use crate::money::Money;
use crate::resource::{Resource, ResourceV1};
use crate::schedule::{BookingRules, ScheduleSpec};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Lifecycle of a booking. `Pending` holds the slot; `Confirmed` keeps it;
/// the other three are final and release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BookingStatus {
    /// Slot held until `hold_expires_at`, waiting for payment.
    Pending,
    /// Paid; the slot is the user's.
    Confirmed,
    /// Payment failed; slot released.
    Failed,
    /// Hold passed unpaid; slot released.
    Expired,
    /// Cancelled by its owner; slot released, refund per policy if paid.
    Cancelled,
}

impl BookingStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Confirmed,
        Self::Failed,
        Self::Expired,
        Self::Cancelled,
    ];

    /// Its name in the API, the views and every store (`"pending"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `name` ([`BookingStatus::as_str`]; exact, lower case).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True while the booking occupies its slot (pending or confirmed).
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Confirmed)
    }
}

/// Commands on the booking-commands topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingCommand {
    /// A vendor registers a resource.
    RegisterResource(RegisterResource),
    /// A customer asks for a slot.
    RequestBooking(RequestBooking),
    /// A booking's owner cancels it.
    CancelBooking(CancelBooking),
    /// A vendor replaces a resource's opening hours and rules.
    UpdateResourceSchedule(UpdateResourceSchedule),
    /// A booking's owner moves it to another interval of the same resource.
    RescheduleBooking(RescheduleBooking),
}

/// The owner moves a pending or confirmed booking to `[start, end)` on the
/// same resource. Decided in one step: the new interval is checked against
/// every rule with the booking's own interval left out, and the old one is
/// released by the same event that takes the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescheduleBooking {
    /// Derived from (user, booking, Idempotency-Key).
    pub command_id: CommandId,
    /// Hash of the request body: the same command id with another hash is a key reuse.
    pub request_hash: String,
    /// The booking to move.
    pub booking_id: BookingId,
    /// Its resource (the partition key).
    pub resource_id: ResourceId,
    /// Who asks; must be the booking's owner. (Not `user_id`: the Avro
    /// record would then carry every field of `CancelBooking`, and a
    /// resolver picking union branches by shape could take it for one.)
    pub requested_by: UserId,
    /// The new inclusive start.
    pub start: Millis,
    /// The new exclusive end.
    pub end: Millis,
    /// When the gateway accepted the request.
    pub requested_at: Millis,
}

/// A vendor replaces a resource's schedule and rules (validated by the
/// caller; the processor checks again and ignores a command that is not
/// the vendor's or breaks the rules, as it does a bad registration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResourceSchedule {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The resource (the partition key).
    pub resource_id: ResourceId,
    /// Who asks; must be the resource's vendor.
    pub vendor_id: UserId,
    /// The new opening hours; `None`: always open.
    pub schedule: Option<Box<ScheduleSpec>>,
    /// The new booking rules.
    pub rules: BookingRules,
    /// When the gateway accepted the request.
    pub requested_at: Millis,
}

/// A vendor registers a resource (validated by the caller against resource rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResource {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The resource, id and vendor included.
    pub resource: Resource,
}

/// A customer asks for `[start, end)` on a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestBooking {
    /// Derived from (user, Idempotency-Key).
    pub command_id: CommandId,
    /// Hash of the request body: the same command id with another hash is a key reuse.
    pub request_hash: String,
    /// Id the booking gets if it is accepted.
    pub booking_id: BookingId,
    /// Id its payment intent gets if it is accepted.
    pub payment_id: PaymentId,
    /// The resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
    /// When the gateway accepted the request.
    pub requested_at: Millis,
}

/// The owner cancels a booking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelBooking {
    /// Idempotency id.
    pub command_id: CommandId,
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource (the partition key).
    pub resource_id: ResourceId,
    /// Who asks; must be the owner.
    pub user_id: UserId,
    /// When the gateway accepted the request.
    pub requested_at: Millis,
}

/// Why a booking request was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectionReason {
    /// It overlaps a pending or confirmed booking.
    SlotUnavailable,
    /// No such resource.
    ResourceNotFound,
    /// It breaks the resource's rules (alignment, length, start in the past, ...).
    InvalidRequest,
    /// The same command id arrived earlier with a different body.
    IdempotencyKeyReused,
    /// Not wholly inside one opening of the resource's schedule.
    OutsideHours,
    /// The start is sooner than the resource's minimum notice.
    TooSoon,
    /// The start is further ahead than the resource's booking horizon.
    TooFar,
    /// (Reschedule) no such booking, or not the caller's.
    BookingNotFound,
    /// (Reschedule) the booking is not pending or confirmed, or has started.
    NotReschedulable,
    /// (Reschedule) inside the resource's modify notice before the booking's
    /// current start.
    TooLateToModify,
    /// (Reschedule) the new interval costs another amount than the booking's.
    PriceChanged,
}

/// Why a cancellation was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancellationRejectionReason {
    /// No such booking, or not the caller's.
    NotFound,
    /// Already in a final state, or at/after its start.
    NotCancellable,
    /// Active and not started, but inside the resource's modify notice.
    TooLateToCancel,
}

/// Events on the booking-events topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingEvent {
    /// A resource exists and takes bookings.
    ResourceRegistered(ResourceRegistered),
    /// A request won its slot; the slot is held until `hold_expires_at`.
    BookingHeld(BookingHeld),
    /// A request was turned down; nothing changed.
    BookingRejected(BookingRejected),
    /// Payment succeeded.
    BookingConfirmed(BookingConfirmed),
    /// Payment failed; slot released.
    BookingFailed(BookingFailed),
    /// The hold passed unpaid; slot released.
    BookingExpired(BookingExpired),
    /// The owner cancelled; slot released; `refund` is owed if it was paid.
    BookingCancelled(BookingCancelled),
    /// A cancellation was turned down; nothing changed.
    CancellationRejected(CancellationRejected),
    /// A payment succeeded for a booking that is no longer pending (it expired,
    /// failed or was cancelled first): the whole amount must go back.
    PaymentOrphaned(PaymentOrphaned),
    /// Its customer submitted a checkout before the hold's deadline: the
    /// slot stays held for the payment's decision until `pay_by`. The
    /// booking stays pending.
    BookingPaymentStarted(BookingPaymentStarted),
    /// The provider has not said what became of the booking's submitted
    /// checkout in time (its payment is unknown): the slot stays held
    /// longer, until the new `pay_by`, while the payment side asks the
    /// provider. The customer is told their payment is being confirmed.
    /// The booking stays pending.
    BookingPaymentDelayed(BookingPaymentDelayed),
    /// A resource's schedule and rules were replaced; no booking changed.
    ResourceScheduleChanged(ResourceScheduleChanged),
    /// A booking moved to another interval of its resource: the old interval
    /// is released and the new one taken by this one event. Its id, status,
    /// payment and amount stay.
    BookingRescheduled(BookingRescheduled),
}

/// See [`BookingEvent::BookingRescheduled`]. A refused reschedule is a
/// [`BookingRejected`] naming the booking (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRescheduled {
    /// The rescheduling command.
    pub command_id: CommandId,
    /// Hash of that request's body (idempotency: a replay must match it).
    pub request_hash: String,
    /// The booking (its id does not change).
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// The interval it held until now: inclusive start.
    pub previous_start: Millis,
    /// The interval it held until now: exclusive end.
    pub previous_end: Millis,
    /// The new inclusive start.
    pub start: Millis,
    /// The new exclusive end.
    pub end: Millis,
    /// Who moved it (the owner).
    pub rescheduled_by: UserId,
    /// When it was decided.
    pub rescheduled_at: Millis,
}

/// See [`BookingEvent::ResourceScheduleChanged`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceScheduleChanged {
    /// The updating command.
    pub command_id: CommandId,
    /// The resource as it is after the change.
    pub updated: Resource,
    /// The resource's active bookings, not yet ended at the change, that lie
    /// outside the new hours (they stay booked), by start.
    pub outside_hours: Vec<BookingId>,
    /// When the change was decided.
    pub changed_at: Millis,
}

/// See [`BookingEvent::ResourceRegistered`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRegistered {
    /// The registering command.
    pub command_id: CommandId,
    /// The resource.
    pub resource: Resource,
}

/// See [`BookingEvent::BookingHeld`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingHeld {
    /// The request that won.
    pub command_id: CommandId,
    /// Hash of that request's body (idempotency: a replay must match it).
    pub request_hash: String,
    /// The new booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The resource's vendor.
    pub vendor_id: UserId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
    /// Price of the booking.
    pub amount: Money,
    /// The payment intent to create for it.
    pub payment_id: PaymentId,
    /// Unpaid past this instant, the hold expires.
    pub hold_expires_at: Millis,
    /// When the decision was made.
    pub held_at: Millis,
}

/// See [`BookingEvent::BookingRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRejected {
    /// The request turned down.
    pub command_id: CommandId,
    /// Hash of that request's body (idempotency: a replay must match it).
    pub request_hash: String,
    /// The id the booking would have had.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Why.
    pub reason: RejectionReason,
    /// Human-readable detail (which rule failed).
    pub detail: String,
    /// When the decision was made.
    pub rejected_at: Millis,
}

/// See [`BookingEvent::BookingConfirmed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingConfirmed {
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// The payment that confirmed it.
    pub payment_id: PaymentId,
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
    /// What was paid.
    pub amount: Money,
    /// When.
    pub confirmed_at: Millis,
}

/// See [`BookingEvent::BookingFailed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingFailed {
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// The failed payment.
    pub payment_id: PaymentId,
    /// Provider's reason.
    pub reason: String,
    /// When.
    pub failed_at: Millis,
}

/// See [`BookingEvent::BookingExpired`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingExpired {
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// Its (unpaid) payment intent, now to be cancelled.
    pub payment_id: PaymentId,
    /// When the hold expired.
    pub expired_at: Millis,
}

/// See [`BookingEvent::BookingCancelled`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingCancelled {
    /// The cancelling command.
    pub command_id: CommandId,
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// Its payment.
    pub payment_id: PaymentId,
    /// True when it was confirmed (paid) at cancellation.
    pub was_paid: bool,
    /// Refund owed per the cancellation policy (zero when unpaid).
    pub refund: Money,
    /// When.
    pub cancelled_at: Millis,
}

/// See [`BookingEvent::CancellationRejected`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationRejected {
    /// The cancelling command.
    pub command_id: CommandId,
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// Who asked.
    pub user_id: UserId,
    /// Why.
    pub reason: CancellationRejectionReason,
    /// When.
    pub rejected_at: Millis,
}

/// See [`BookingEvent::BookingPaymentStarted`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingPaymentStarted {
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// Its payment, whose checkout was submitted.
    pub payment_id: PaymentId,
    /// When the customer submitted the checkout (before `hold_expires_at`).
    pub submitted_at: Millis,
    /// Unpaid past this instant, the booking expires: `submitted_at` plus
    /// the payment decision timeout, never before `hold_expires_at`.
    pub pay_by: Millis,
}

/// See [`BookingEvent::BookingPaymentDelayed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingPaymentDelayed {
    /// The booking.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The customer.
    pub user_id: UserId,
    /// Where the notice goes.
    pub user_email: String,
    /// Its payment, whose outcome is unknown.
    pub payment_id: PaymentId,
    /// When the customer submitted the checkout.
    pub submitted_at: Millis,
    /// The new release instant (the booking's new `pay_by`): `submitted_at`
    /// plus the unknown-payment hold, never before the previous `pay_by`.
    /// Named apart from `BookingPaymentStarted.pay_by` so the two Avro
    /// records differ in shape.
    pub held_until: Millis,
    /// When it was decided.
    pub delayed_at: Millis,
}

/// See [`BookingEvent::PaymentOrphaned`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentOrphaned {
    /// The booking that was no longer pending.
    pub booking_id: BookingId,
    /// Its resource.
    pub resource_id: ResourceId,
    /// The payment to refund in full.
    pub payment_id: PaymentId,
    /// The amount paid.
    pub amount: Money,
    /// When it was noticed.
    pub orphaned_at: Millis,
}

/// A [`BookingEvent`] as the idempotency ledger stored it before resources
/// had schedules and rules: the same variants in the same order, with
/// `ResourceRegistered` holding a [`ResourceV1`]. Read, never written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum BookingEventV1 {
    ResourceRegistered(ResourceRegisteredV1),
    BookingHeld(BookingHeld),
    BookingRejected(BookingRejected),
    BookingConfirmed(BookingConfirmed),
    BookingFailed(BookingFailed),
    BookingExpired(BookingExpired),
    BookingCancelled(BookingCancelled),
    CancellationRejected(CancellationRejected),
    PaymentOrphaned(PaymentOrphaned),
    BookingPaymentStarted(BookingPaymentStarted),
}

/// [`ResourceRegistered`] in the layout of [`BookingEventV1`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRegisteredV1 {
    /// The registering command.
    pub command_id: CommandId,
    /// The resource, in its old layout.
    pub resource: ResourceV1,
}

impl From<BookingEventV1> for BookingEvent {
    fn from(ev: BookingEventV1) -> Self {
        match ev {
            BookingEventV1::ResourceRegistered(e) => Self::ResourceRegistered(ResourceRegistered {
                command_id: e.command_id,
                resource: e.resource.into(),
            }),
            BookingEventV1::BookingHeld(e) => Self::BookingHeld(e),
            BookingEventV1::BookingRejected(e) => Self::BookingRejected(e),
            BookingEventV1::BookingConfirmed(e) => Self::BookingConfirmed(e),
            BookingEventV1::BookingFailed(e) => Self::BookingFailed(e),
            BookingEventV1::BookingExpired(e) => Self::BookingExpired(e),
            BookingEventV1::BookingCancelled(e) => Self::BookingCancelled(e),
            BookingEventV1::CancellationRejected(e) => Self::CancellationRejected(e),
            BookingEventV1::PaymentOrphaned(e) => Self::PaymentOrphaned(e),
            BookingEventV1::BookingPaymentStarted(e) => Self::BookingPaymentStarted(e),
        }
    }
}
