//! When a booking leaves the booking processor's state: the *settle* rule,
//! and the eviction that applies it.
//!
//! State is bounded by what is live. A booking stays while anything can still
//! change it, read it or conflict with it; once it is settled it leaves every
//! index and the store (the caller writes tombstones for the keys
//! [`BookingPartition::evict_settled`] returns). The read views and the event
//! log keep it for good.
//!
//! The rule is one pure function of the stored booking, [`settles_at`], so a
//! partition restored from its records, or rebuilt by applying the events
//! topic and evicting at the same instants, evicts exactly the same bookings.

use super::messages::BookingStatus;
use super::model::Booking;
use super::partition::BookingPartition;
use crate::payment::PROVIDER_LATE_WINDOW;
use crate::state::{COMMAND_RETENTION, StateKey};
use crate::time::{DAY, HOUR, Millis};

/// How long a booking that ended unpaid (expired, failed or cancelled) stays
/// after its last change: the payment side keeps a canceled intent
/// [`PROVIDER_LATE_WINDOW`] after it canceled it, and a provider success
/// inside that window becomes a `PaymentCompleted` that this side must turn
/// into a `PaymentOrphaned` (the refund). One more day covers the payment
/// processor's cancel landing after the booking's change and both
/// processors' lag.
pub const LATE_PAYMENT_WINDOW: Millis = PROVIDER_LATE_WINDOW + DAY;

// The rule leans on these orders: a booking outlives its intent's late
// window, and its request's ledger answer.
const _: () = assert!(LATE_PAYMENT_WINDOW > PROVIDER_LATE_WINDOW);
const _: () = assert!(LATE_PAYMENT_WINDOW > COMMAND_RETENTION);

/// How long after its end a confirmed booking stays: new bookings start at
/// or after the deciding processor's `now`, so an ended booking cannot
/// conflict with them; the slack covers clocks of processors that take a
/// partition over being somewhat behind.
pub const END_SLACK: Millis = HOUR;

/// The instant from which nothing can touch `b` any more, or `None` while
/// something still can. A booking is *settled* at `now` when
/// `settles_at(b) <= Some(now)`:
///
/// - **Pending**: never. Its hold timer, a payment outcome or a cancellation
///   will move it.
/// - **Confirmed**: `max(created_at + COMMAND_RETENTION + 1, end + END_SLACK)`.
///   Until its start the owner may cancel it (the policy quotes a refund the
///   payment side needs), until its end it conflicts with new requests; after
///   its start a cancellation is refused, and its payment already succeeded,
///   so no payment event can change it.
/// - **Failed, Expired, Cancelled** (final):
///   `max(created_at + COMMAND_RETENTION + 1, updated_at + LATE_PAYMENT_WINDOW)`.
///   Nothing moves it, but an intent the payment side canceled can still be
///   paid late, and that `PaymentCompleted` must find the booking to be
///   orphaned and refunded.
///
/// In every case the booking outlives the idempotency ledger's entry for the
/// request that created it (answered at `created_at`, pruned once older than
/// [`COMMAND_RETENTION`]): the ledger keeps that answer as a reference to the
/// booking, and a retry inside the window must get the very same
/// `BookingHeld`.
///
/// After eviction the partition answers as if it never knew the booking: a
/// cancellation is `CancellationRejected{NotFound}`, a payment event does
/// nothing, and (once the ledger forgot its request too) a request proposing
/// its id is no longer refused as "booking_id is already taken".
pub fn settles_at(b: &Booking) -> Option<Millis> {
    let ledger = b
        .created_at
        .saturating_add(COMMAND_RETENTION)
        .saturating_add(1);
    let touchable_until = match b.status {
        BookingStatus::Pending => return None,
        BookingStatus::Confirmed => b.interval.end.saturating_add(END_SLACK),
        BookingStatus::Failed | BookingStatus::Expired | BookingStatus::Cancelled => {
            b.updated_at.saturating_add(LATE_PAYMENT_WINDOW)
        }
    };
    Some(ledger.max(touchable_until))
}

impl BookingPartition {
    /// Drops everything nothing can touch any more at `now` and returns the
    /// keys whose records must be deleted, sorted: first the idempotency
    /// answers older than [`COMMAND_RETENTION`] (as
    /// [`BookingPartition::prune_commands`] would), then every booking whose
    /// [`settles_at`] has come, out of every index.
    ///
    /// Pruning the ledger first, with the retention the rule builds on, is
    /// what makes it safe for the ledger to refer to a booking by its slot:
    /// no answer can outlive the booking it names. The cost is `O(k log n)`
    /// for `k` settled bookings: the settle index is ordered by instant, so
    /// nothing live is scanned. (The ledger prune is the ledger's own linear
    /// scan, run as rarely as before.)
    pub fn evict_settled(&mut self, now: Millis) -> Vec<StateKey> {
        let mut keys = self.ledger.prune(now.saturating_sub(COMMAND_RETENTION));
        while let Some(&(at, slot)) = self.settle.first() {
            if at > now {
                break;
            }
            self.settle.pop_first();
            if let Some(id) = self.evict(slot) {
                keys.push(StateKey::Booking(id));
            }
        }
        keys.sort();
        keys
    }
}
