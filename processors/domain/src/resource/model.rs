//! What a vendor registers: a bookable resource and its rules.

use crate::ids::{ResourceId, UserId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// The list price of a resource: `amount` per started `unit_minutes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Minor units per unit.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Length of one billing unit in minutes.
    pub unit_minutes: u32,
}

/// How much of a paid booking is refunded when its owner cancels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationPolicy {
    /// Cancelled at least this many hours before start: full refund.
    pub full_refund_hours: u32,
    /// Cancelled at least this many hours before start: `partial_refund_percent`.
    pub partial_refund_hours: u32,
    /// Percent (0..=100) refunded in the partial window.
    pub partial_refund_percent: u8,
}

impl Default for CancellationPolicy {
    fn default() -> Self {
        Self {
            full_refund_hours: 24,
            partial_refund_hours: 2,
            partial_refund_percent: 50,
        }
    }
}

/// A bookable resource as the booking processor knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Its id; also the partition key of everything about it.
    pub id: ResourceId,
    /// The vendor who owns it.
    pub vendor_id: UserId,
    /// Display name.
    pub name: String,
    /// Free-form kind ("room", "court", ...); booking logic never looks at it.
    pub kind: String,
    /// List price.
    pub price: Price,
    /// IANA time zone name, for display only (all times are UTC instants).
    pub timezone: String,
    /// Bookings start and end on multiples of this many minutes since the epoch.
    pub slot_minutes: u32,
    /// Shortest booking in minutes.
    pub min_minutes: u32,
    /// Longest booking in minutes.
    pub max_minutes: u32,
    /// Refund rules on cancellation.
    pub cancellation_policy: CancellationPolicy,
    /// When it was registered.
    pub created_at: Millis,
}

/// Defaults from the public contract.
pub mod defaults {
    /// Default slot alignment in minutes.
    pub const SLOT_MINUTES: u32 = 15;
    /// Default shortest booking in minutes.
    pub const MIN_MINUTES: u32 = 15;
    /// Default longest booking in minutes (30 days).
    pub const MAX_MINUTES: u32 = 43_200;
    /// Default time zone.
    pub const TIMEZONE: &str = "UTC";
}
