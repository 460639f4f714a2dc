//! The one resource fixture of every test suite and benchmark (feature
//! `fixtures`; this crate's own unit tests have it too).
//!
//! Start from [`resource`] and override only what a test is about, with
//! struct update syntax:
//!
//! ```
//! # use slotstream_domain::fixtures;
//! # use slotstream_domain::resource::Resource;
//! let court = Resource {
//!     max_minutes: 120,
//!     price: fixtures::hourly(2500),
//!     ..fixtures::resource("res_1", "usr_v")
//! };
//! assert_eq!(court.price.amount, 2500);
//! ```

use crate::ids::{ResourceId, UserId};
use crate::resource::{CancellationPolicy, Price, Resource, defaults};
use crate::schedule::BookingRules;

/// A room of `vendor`: named "Room", kind "room", [`hourly`]`(1000)` (10.00
/// EUR per started hour), UTC, 15-minute slots, from 15 minutes up to the
/// contract's default longest booking (30 days), the default cancellation
/// policy (full refund 24 h ahead, 50 % 2 h ahead), registered at instant 0,
/// no schedule (always open) and the default rules (no buffer, notice or
/// horizon).
pub fn resource(id: &str, vendor: &str) -> Resource {
    Resource {
        id: ResourceId::new(id),
        vendor_id: UserId::new(vendor),
        name: "Room".into(),
        kind: "room".into(),
        price: hourly(1000),
        timezone: defaults::TIMEZONE.into(),
        slot_minutes: defaults::SLOT_MINUTES,
        min_minutes: defaults::MIN_MINUTES,
        max_minutes: defaults::MAX_MINUTES,
        cancellation_policy: CancellationPolicy::default(),
        created_at: 0,
        schedule: None,
        rules: BookingRules::default(),
    }
}

/// `amount` euro cents per started hour.
pub fn hourly(amount: i64) -> Price {
    Price {
        amount,
        currency: "EUR".into(),
        unit_minutes: 60,
    }
}
