//! The booking record and the booking processor's configuration.

use super::messages::BookingStatus;
use crate::ids::{BookingId, PaymentId, ResourceId, UserId};
use crate::money::Money;
use crate::time::{Interval, MINUTE, Millis};
use serde::{Deserialize, Serialize};

/// How the booking processor behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingConfig {
    /// How long an unpaid booking holds its slot.
    pub hold_ttl: Millis,
}

impl Default for BookingConfig {
    /// Holds last 15 minutes.
    fn default() -> Self {
        Self {
            hold_ttl: 15 * MINUTE,
        }
    }
}

/// One booking as the booking processor stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Its id.
    pub id: BookingId,
    /// The booked resource.
    pub resource_id: ResourceId,
    /// The resource's vendor.
    pub vendor_id: UserId,
    /// The customer who owns the booking.
    pub user_id: UserId,
    /// Where notifications go.
    pub user_email: String,
    /// The booked time, `[start, end)`.
    pub interval: Interval,
    /// Where it is in its lifecycle.
    pub status: BookingStatus,
    /// Its price.
    pub amount: Money,
    /// Its payment intent.
    pub payment_id: PaymentId,
    /// Unpaid past this instant, the hold expires.
    pub hold_expires_at: Millis,
    /// When it was held.
    pub created_at: Millis,
    /// When its status last changed.
    pub updated_at: Millis,
}
