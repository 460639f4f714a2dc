//! The shape every aggregate has, as traits: what the one generic processor
//! shell (`slotstream-processors`' `Partitioned`) drives.
//!
//! An aggregate's *partition* holds all its state of one task partition. It
//! decides commands ([`Aggregate::decide`], never mutating), applies the
//! events it decided ([`Aggregate::apply`], the only mutation on the live
//! path, returning the [`StateKey`]s whose stored record changed), says what
//! to store under a key ([`Aggregate::record`], `None` = delete) and restores
//! itself from stored records ([`Aggregate::load`]). Every so often it drops
//! what nothing can change any more ([`Aggregate::evict_settled`]). Some
//! aggregates have a timer ([`Aggregate::next_deadline`] / [`Aggregate::due`]:
//! the hold expiry) and some react to another aggregate's events
//! ([`Reacts`]).
//!
//! Adding a command or an event to an aggregate therefore touches its
//! messages, its `decide` and `apply`, and the [`Command`] / [`Event`]
//! impls below (the command id and the partition key); the shell needs
//! nothing new.

use crate::booking::{BookingCommand, BookingEvent, BookingPartition};
use crate::decision::Decision;
use crate::identity::{IdentityCommand, IdentityEvent, IdentityPartition};
use crate::ids::{CommandId, PaymentId};
use crate::payment::{PaymentCommand, PaymentEvent, PaymentPartition};
use crate::state::{COMMAND_RETENTION, StateKey, StateRecord};
use crate::time::Millis;

/// A command an aggregate decides.
pub trait Command {
    /// The id its sender waits on for an answer; `None` for a command
    /// nobody waits on (a provider's verified webhook).
    fn command_id(&self) -> Option<&CommandId>;
}

/// An event an aggregate emits.
pub trait Event {
    /// The key it is appended under: the aggregate's partition key (a
    /// resource id, a normalized email), so it lands on the partition that
    /// owns what it is about.
    fn partition_key(&self) -> &str;
}

/// One aggregate's state of one task partition, and its decisions.
pub trait Aggregate {
    /// What it decides.
    type Command: Command;
    /// What it emits and applies.
    type Event: Event;

    /// Decides `cmd` at `now` without changing anything: the events to
    /// append and apply, and the answer. A replayed command id gets its
    /// original answer and no events.
    fn decide(&self, cmd: &Self::Command, now: Millis) -> Decision<Self::Event>;

    /// Applies one event; returns the keys whose stored record changed.
    fn apply(&mut self, ev: &Self::Event) -> Vec<StateKey>;

    /// The stored record under `key`; `None` means "delete it".
    fn record(&self, key: &StateKey) -> Option<StateRecord>;

    /// Restores one stored record; records of other aggregates are ignored.
    fn load(&mut self, rec: StateRecord);

    /// Drops what nothing can change any more at `now` (settled records,
    /// idempotency answers past their window); returns the keys to delete.
    fn evict_settled(&mut self, now: Millis) -> Vec<StateKey>;

    /// The earliest instant [`Aggregate::due`] has something, if any.
    fn next_deadline(&self) -> Option<Millis> {
        None
    }

    /// The earliest instant [`Aggregate::evict_settled`] would drop a
    /// record that settles, if one will: the shell wakes an idle partition
    /// for it, so state shrinks without waiting for the next record.
    fn next_eviction(&self) -> Option<Millis> {
        None
    }

    /// The events due at `now` (expired holds). Changes nothing.
    fn due(&self, _now: Millis) -> Vec<Self::Event> {
        Vec::new()
    }

    /// The deadline a due event fired for (a hold's expiry instant), so the
    /// shell can report how late it took effect.
    fn deadline_of(_event: &Self::Event) -> Option<Millis> {
        None
    }
}

/// An aggregate that reacts to another aggregate's events `I` (the booking
/// side to payment outcomes, the payment side to holds and cancellations).
pub trait Reacts<I>: Aggregate {
    /// What reacting needs from outside the partition (the checkout URL of a
    /// new payment intent), or `()`.
    type Env: ?Sized;

    /// The events `input` causes at `now`. Changes nothing.
    fn react(&self, input: &I, env: &Self::Env, now: Millis) -> Vec<Self::Event>;
}

// --- booking -------------------------------------------------------------

impl Command for BookingCommand {
    fn command_id(&self) -> Option<&CommandId> {
        Some(match self {
            Self::RegisterResource(c) => &c.command_id,
            Self::RequestBooking(c) => &c.command_id,
            Self::CancelBooking(c) => &c.command_id,
            Self::UpdateResourceSchedule(c) => &c.command_id,
            Self::RescheduleBooking(c) => &c.command_id,
        })
    }
}

impl Event for BookingEvent {
    fn partition_key(&self) -> &str {
        match self {
            Self::ResourceRegistered(e) => e.resource.id.as_str(),
            Self::BookingHeld(e) => e.resource_id.as_str(),
            Self::BookingRejected(e) => e.resource_id.as_str(),
            Self::BookingConfirmed(e) => e.resource_id.as_str(),
            Self::BookingFailed(e) => e.resource_id.as_str(),
            Self::BookingExpired(e) => e.resource_id.as_str(),
            Self::BookingCancelled(e) => e.resource_id.as_str(),
            Self::CancellationRejected(e) => e.resource_id.as_str(),
            Self::PaymentOrphaned(e) => e.resource_id.as_str(),
            Self::BookingPaymentStarted(e) => e.resource_id.as_str(),
            Self::BookingPaymentDelayed(e) => e.resource_id.as_str(),
            Self::ResourceScheduleChanged(e) => e.updated.id.as_str(),
            Self::BookingRescheduled(e) => e.resource_id.as_str(),
        }
    }
}

impl Aggregate for BookingPartition {
    type Command = BookingCommand;
    type Event = BookingEvent;

    fn decide(&self, cmd: &BookingCommand, now: Millis) -> Decision<BookingEvent> {
        BookingPartition::decide(self, cmd, now)
    }
    fn apply(&mut self, ev: &BookingEvent) -> Vec<StateKey> {
        BookingPartition::apply(self, ev)
    }
    fn record(&self, key: &StateKey) -> Option<StateRecord> {
        BookingPartition::record(self, key)
    }
    fn load(&mut self, rec: StateRecord) {
        BookingPartition::load(self, rec);
    }
    fn evict_settled(&mut self, now: Millis) -> Vec<StateKey> {
        BookingPartition::evict_settled(self, now)
    }
    fn next_deadline(&self) -> Option<Millis> {
        self.next_expiry()
    }
    fn next_eviction(&self) -> Option<Millis> {
        self.next_settle()
    }
    fn due(&self, now: Millis) -> Vec<BookingEvent> {
        self.due_expiries(now)
    }
    fn deadline_of(event: &BookingEvent) -> Option<Millis> {
        match event {
            BookingEvent::BookingExpired(e) => Some(e.expired_at),
            _ => None,
        }
    }
}

impl Reacts<PaymentEvent> for BookingPartition {
    type Env = ();
    fn react(&self, input: &PaymentEvent, _env: &(), now: Millis) -> Vec<BookingEvent> {
        self.react_to_payment(input, now)
    }
}

// --- payment -------------------------------------------------------------

impl Command for PaymentCommand {
    fn command_id(&self) -> Option<&CommandId> {
        match self {
            Self::SubmitCheckout(c) => Some(&c.command_id),
            // A verified webhook: the provider is answered by the gateway
            // once the command is appended, nobody waits on a decision.
            Self::RecordProviderOutcome(_) => None,
        }
    }
}

impl Event for PaymentEvent {
    fn partition_key(&self) -> &str {
        match self {
            Self::PaymentIntentCreated(e) => e.resource_id.as_str(),
            Self::CheckoutSubmitted(e) => e.resource_id.as_str(),
            Self::CheckoutRejected(e) => e.resource_id.as_str(),
            Self::PaymentCompleted(e) => e.resource_id.as_str(),
            Self::PaymentFailed(e) => e.resource_id.as_str(),
            Self::PaymentCanceled(e) => e.resource_id.as_str(),
            Self::PaymentRefunded(e) => e.resource_id.as_str(),
            Self::PaymentStatusUnknown(e) => e.resource_id.as_str(),
            Self::RefundUnconfirmed(e) => e.resource_id.as_str(),
            Self::RefundConfirmed(e) => e.resource_id.as_str(),
            Self::PaymentBookingRescheduled(e) => e.resource_id.as_str(),
        }
    }
}

impl Aggregate for PaymentPartition {
    type Command = PaymentCommand;
    type Event = PaymentEvent;

    fn decide(&self, cmd: &PaymentCommand, now: Millis) -> Decision<PaymentEvent> {
        PaymentPartition::decide(self, cmd, now)
    }
    fn apply(&mut self, ev: &PaymentEvent) -> Vec<StateKey> {
        PaymentPartition::apply(self, ev)
    }
    fn record(&self, key: &StateKey) -> Option<StateRecord> {
        PaymentPartition::record(self, key)
    }
    fn load(&mut self, rec: StateRecord) {
        PaymentPartition::load(self, rec);
    }
    fn evict_settled(&mut self, now: Millis) -> Vec<StateKey> {
        PaymentPartition::evict_settled(self, now)
    }
    fn next_deadline(&self) -> Option<Millis> {
        self.next_check()
    }
    fn next_eviction(&self) -> Option<Millis> {
        self.next_settle()
    }
    fn due(&self, now: Millis) -> Vec<PaymentEvent> {
        self.due_checks(now)
    }
}

impl Reacts<BookingEvent> for PaymentPartition {
    /// Builds a new intent's checkout URL (the provider's hosted page).
    type Env = dyn Fn(&PaymentId) -> String + Send + Sync;
    fn react(&self, input: &BookingEvent, env: &Self::Env, now: Millis) -> Vec<PaymentEvent> {
        self.react_to_booking(input, env, now)
    }
}

// --- identity ------------------------------------------------------------

impl Command for IdentityCommand {
    fn command_id(&self) -> Option<&CommandId> {
        Some(match self {
            Self::RegisterUser(c) => &c.command_id,
            Self::VerifyEmail(c) => &c.command_id,
            Self::ResendOtp(c) => &c.command_id,
            Self::LockAccount(c) => &c.command_id,
            Self::UnlockAccount(c) => &c.command_id,
            Self::CreateApiKey(c) => &c.command_id,
            Self::RevokeApiKey(c) => &c.command_id,
            Self::CreateWebhook(c) => &c.command_id,
            Self::DeleteWebhook(c) => &c.command_id,
        })
    }
}

impl Event for IdentityEvent {
    fn partition_key(&self) -> &str {
        match self {
            Self::UserRegistered(e) => &e.email,
            Self::UserOTPGenerated(e) => &e.email,
            Self::EmailVerified(e) => &e.email,
            Self::RegistrationRejected(e) => &e.email,
            Self::VerificationRejected(e) => &e.email,
            Self::ResendRejected(e) => &e.email,
            Self::AccountLocked(e) => &e.email,
            Self::AccountUnlocked(e) => &e.email,
            Self::UnlockRejected(e) => &e.email,
            Self::ApiKeyCreated(e) => &e.owner_email,
            Self::ApiKeyRevoked(e) => &e.owner_email,
            Self::WebhookCreated(e) => &e.owner_email,
            Self::WebhookDeleted(e) => &e.owner_email,
        }
    }
}

impl Aggregate for IdentityPartition {
    type Command = IdentityCommand;
    type Event = IdentityEvent;

    fn decide(&self, cmd: &IdentityCommand, now: Millis) -> Decision<IdentityEvent> {
        IdentityPartition::decide(self, cmd, now)
    }
    fn apply(&mut self, ev: &IdentityEvent) -> Vec<StateKey> {
        IdentityPartition::apply(self, ev)
    }
    fn record(&self, key: &StateKey) -> Option<StateRecord> {
        IdentityPartition::record(self, key)
    }
    fn load(&mut self, rec: StateRecord) {
        IdentityPartition::load(self, rec);
    }
    /// Accounts stay (they are live for as long as they exist); idempotency
    /// answers past their window and login locks past their end leave.
    fn evict_settled(&mut self, now: Millis) -> Vec<StateKey> {
        let mut keys = self.prune_commands(now.saturating_sub(COMMAND_RETENTION));
        keys.extend(self.prune_locks(now));
        keys
    }
}
