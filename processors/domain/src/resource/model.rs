//! What a vendor registers: a bookable resource and its rules.

use crate::ids::{ResourceId, UserId};
use crate::schedule::{BookingRules, ScheduleSpec};
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
    /// IANA time zone name: the zone of its `schedule` (all times on the
    /// wire are UTC instants).
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
    /// Weekly opening hours with dated exceptions, in `timezone`; `None`:
    /// always open (bookable at any aligned instant). Boxed: most resources
    /// have none, and every event carrying a resource stays small.
    pub schedule: Option<Box<ScheduleSpec>>,
    /// Buffers, notice and horizon; the default changes nothing.
    pub rules: BookingRules,
}

impl Resource {
    /// True when neither a schedule nor a rule restricts its bookings: the
    /// booking decision then skips the scheduling checks altogether.
    pub fn unrestricted(&self) -> bool {
        self.schedule.is_none() && self.rules == BookingRules::default()
    }
}

/// A [`Resource`] as stored before resources had schedules and rules (the
/// postcard layout of that release): read, never written. It upgrades to a
/// resource without either.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceV1 {
    /// See [`Resource::id`].
    pub id: ResourceId,
    /// See [`Resource::vendor_id`].
    pub vendor_id: UserId,
    /// See [`Resource::name`].
    pub name: String,
    /// See [`Resource::kind`].
    pub kind: String,
    /// See [`Resource::price`].
    pub price: Price,
    /// See [`Resource::timezone`].
    pub timezone: String,
    /// See [`Resource::slot_minutes`].
    pub slot_minutes: u32,
    /// See [`Resource::min_minutes`].
    pub min_minutes: u32,
    /// See [`Resource::max_minutes`].
    pub max_minutes: u32,
    /// See [`Resource::cancellation_policy`].
    pub cancellation_policy: CancellationPolicy,
    /// See [`Resource::created_at`].
    pub created_at: Millis,
}

impl From<ResourceV1> for Resource {
    fn from(r: ResourceV1) -> Self {
        Self {
            id: r.id,
            vendor_id: r.vendor_id,
            name: r.name,
            kind: r.kind,
            price: r.price,
            timezone: r.timezone,
            slot_minutes: r.slot_minutes,
            min_minutes: r.min_minutes,
            max_minutes: r.max_minutes,
            cancellation_policy: r.cancellation_policy,
            created_at: r.created_at,
            schedule: None,
            rules: BookingRules::default(),
        }
    }
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
