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
/// something still can. A payment is *settled* at `now` when
/// `settles_at(p) <= Some(now)`:
///
/// - **RequiresPayment, Processing**: never. A checkout, a provider outcome
///   or the booking's lapse will move it.
/// - **Succeeded**: never (on this side's facts). A paid cancellation
///   refunds it up to the booking's start, and the payment record does not
///   know that start: the events it is built from do not carry it. See the
///   notes: bounding these needs the start on `PaymentIntentCreated`.
/// - **Canceled**: `updated_at + PROVIDER_LATE_WINDOW`. A late success still
///   completes it (to be orphaned and refunded in full).
/// - **Failed, Refunded, PartiallyRefunded**: `updated_at + QUIET_PERIOD`.
///   Nothing moves them: an outcome needs an open (or canceled) intent; a
///   refund comes from a paid cancellation (once per booking) or an orphaned
///   completion (a payment completes at most once), never both, so after one
///   refund no other can come; a cancel needs an open intent.
///
/// Ledger answers are kept whole, so the ledger never needs a payment.
/// After eviction the partition answers as if it never knew the payment: a
/// checkout is `CheckoutRejected{NotFound}`, a provider outcome and a
/// booking's lapse or cancellation do nothing.
pub fn settles_at(p: &Payment) -> Option<Millis> {
    match p.status {
        PaymentStatus::RequiresPayment | PaymentStatus::Processing | PaymentStatus::Succeeded => {
            None
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
                self.payments.remove(&id);
                keys.push(StateKey::Payment(id));
            }
        }
        keys.sort();
        keys
    }
}
