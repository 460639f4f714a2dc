//! When a payment leaves the payment processor's state: the *settle* rule,
//! and the eviction that applies it. Same shape as the booking side's
//! (`crate::booking::settles_at`): one pure function of the stored payment,
//! an index ordered by it, and tombstones for what leaves.

use super::messages::PaymentStatus;
use super::partition::{Payment, PaymentPartition};
use crate::state::{COMMAND_RETENTION, StateKey};
use crate::time::{DAY, Millis};

/// How long after the payment side canceled an intent it still accepts the
/// provider's report that the money was taken after all (the customer paid
/// as the booking lapsed; webhooks are retried for days). Such a success
/// becomes `PaymentCompleted`, which the booking side orphans and this side
/// refunds. A report later than this finds no intent and changes nothing, so
/// the window should cover the provider's webhook retry horizon (Stripe:
/// three days).
pub const PROVIDER_LATE_WINDOW: Millis = 3 * DAY;

/// How long a payment that nothing can change stays after its last change:
/// the idempotency window, so a new checkout for it within the window still
/// hears `NotPending` rather than `NotFound`.
pub const QUIET_PERIOD: Millis = COMMAND_RETENTION;

/// The instant from which nothing can touch `p` any more, or `None` while
/// something still can (a refund awaiting the provider's acknowledgement
/// included). A payment is *settled* at `now` when
/// `settles_at(p) <= Some(now)`:
///
/// - **RequiresPayment, Processing, Unknown**: never. A checkout, a provider
///   outcome (a webhook or the reconciler's answer) or the booking's lapse
///   will move it; a submitted checkout stays until the provider has said
///   what became of it.
/// - **Succeeded**: `max(booking_start, paid_recorded_at, updated_at) +
///   QUIET_PERIOD`; never when the booking's start or the instant this side
///   recorded the success is unknown (payments stored or paid before either
///   was recorded, see [`PaymentV1`](super::PaymentV1)). `booking_start` is
///   the booking's *current* start: a move (`BookingRescheduled`) becomes
///   `PaymentBookingRescheduled`, which sets it, so a booking moved later
///   keeps its payment until its new start. The booking side decides a move
///   only before the old start, and this side consumes the move before any
///   later cancellation of the same booking (both on the booking-events
///   partition of its resource, in order), so the start a cancellation is
///   checked against is never later than the one held here. What can still
///   touch a succeeded payment, path by path:
///   - *A paid cancellation* refunds it (the policy's quote). The booking
///     side decides one only before the booking's start (`now >= start` is
///     `NotCancellable`), and once per booking. The quiet period after the
///     start covers this side consuming that `BookingCancelled` late: its
///     lag, a partition moving to another instance, the deciding clock
///     being behind.
///   - *An orphaned completion* refunds it in full. When the booking lapsed
///     (hold expired, cancelled unpaid) before the booking side saw this
///     payment's `PaymentCompleted`, it answers `PaymentOrphaned`: one round
///     trip after this side recorded the completion, at `paid_recorded_at`
///     (its own clock). The quiet period covers that round trip.
///     `updated_at` would not do: for a completion it is the provider's
///     instant, and a webhook redelivered for days (the case
///     [`PROVIDER_LATE_WINDOW`] exists for) keeps its first one.
///   - *A late or repeated provider webhook* changes nothing whether the
///     payment is known or not: a repeated success is deduplicated or finds
///     it not open, a failure needs an open payment. Eviction does not
///     change that answer.
///   - *The booking's lapse* (expired, failed, cancelled unpaid) cancels
///     only an open intent: nothing, before eviction or after.
///   - *A new checkout* for it (another Idempotency-Key) hears `NotPending`
///     while the payment is here and `NotFound` after: the quiet period
///     keeps `NotPending` for the idempotency window after its last change,
///     on either clock. A retried checkout replays its first answer from
///     the ledger, which never needs the payment.
///
///   A paid cancellation needs a confirmed booking and an orphan a lapsed
///   one, so at most one of them comes; either moves the payment to
///   Refunded or PartiallyRefunded, which settle on their own.
/// - **Canceled**: `updated_at + PROVIDER_LATE_WINDOW`. A late success still
///   completes it (to be orphaned and refunded in full).
/// - **Failed, Refunded, PartiallyRefunded**: `updated_at + QUIET_PERIOD`.
///   Nothing moves them: an outcome needs an open (or canceled) intent; a
///   refund comes from a paid cancellation (once per booking) or an orphaned
///   completion (a payment completes at most once), never both, so after one
///   refund no other can come; a cancel needs an open intent.
///
/// Every window is measured on this processor's clock at eviction, so each
/// assumes this side consumes what the booking side decided within it (a
/// day for a succeeded payment's refund): a partition that was down or
/// behind for longer can evict a payment before the refund for it arrives.
///
/// Ledger answers are kept whole, so the ledger never needs a payment.
/// After eviction the partition answers as if it never knew the payment: a
/// checkout is `CheckoutRejected{NotFound}`, a provider outcome and a
/// booking's lapse or cancellation do nothing.
pub fn settles_at(p: &Payment) -> Option<Millis> {
    // A refund the provider has not acknowledged keeps it: it is handed
    // over again until it is.
    if p.refund_pending.is_some() {
        return None;
    }
    match p.status {
        PaymentStatus::RequiresPayment | PaymentStatus::Processing | PaymentStatus::Unknown => None,
        PaymentStatus::Succeeded => {
            let refundable_until = p.booking_start?.max(p.paid_recorded_at?);
            Some(
                refundable_until
                    .max(p.updated_at)
                    .saturating_add(QUIET_PERIOD),
            )
        }
        PaymentStatus::Canceled => Some(p.updated_at.saturating_add(PROVIDER_LATE_WINDOW)),
        PaymentStatus::Failed | PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => {
            Some(p.updated_at.saturating_add(QUIET_PERIOD))
        }
    }
}

impl PaymentPartition {
    /// Drops everything nothing can touch any more at `now` and returns the
    /// keys whose records must be deleted, sorted: the idempotency answers
    /// older than [`COMMAND_RETENTION`] (as
    /// [`PaymentPartition::prune_commands`] would), and every payment whose
    /// [`settles_at`] has come. `O(k log n)` for `k` settled payments: the
    /// settle index is ordered by instant.
    pub fn evict_settled(&mut self, now: Millis) -> Vec<StateKey> {
        let mut keys = self.ledger.prune(now.saturating_sub(COMMAND_RETENTION));
        while let Some((at, _)) = self.settle.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.settle.pop_first() {
                if let Some(p) = self.payments.remove(&id) {
                    self.by_booking.remove(&p.booking_id);
                }
                keys.push(StateKey::Payment(id));
            }
        }
        keys.sort();
        keys
    }
}
