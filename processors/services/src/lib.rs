//! # slotstream-processors: the stream processors
//!
//! Each processor is a [`slotstream_runtime::Processor`]. The three that own
//! an aggregate (booking, payment, identity) are one shell,
//! [`Partitioned`], with a small [`Wiring`] each. Every processor decodes its input
//! records (Avro, Confluent framing), hands them to the pure domain core, and
//! turns the resulting events into output records, state-store writes, view
//! writes and effects. None of them calls another: they react to events and
//! emit events (choreography).
//!
//! | processor | group | consumes | produces | state (per task partition) |
//! |---|---|---|---|---|
//! | booking | `slotstream.booking` | booking-commands, payment-events | booking-events, replies | resources, bookings, availability + hold indexes, idempotency ledger |
//! | payment | `slotstream.payment` | booking-events, payment-commands | payment-events, replies; checkout + refund effects | payment intents, ledger |
//! | identity | `slotstream.identity` | identity-commands | identity-events, replies | accounts, OTP hashes, ledger |
//! | notification | `slotstream.notification.{booking,identity}` | booking-events / identity-events | email effects | none (emails are idempotent by event position) |
//! | views | `slotstream.views.{booking,identity}` | booking+payment events / identity-events | view writes | none (the views are the state) |

pub mod booking;
pub mod events;
pub mod identity;
pub mod notification;
pub mod partitioned;
pub mod payment;
mod support;
pub mod views;

pub use booking::BookingProcessor;
pub use identity::IdentityProcessor;
pub use notification::{BookingNotifications, IdentityNotifications};
pub use partitioned::{Partitioned, Wiring};
pub use payment::PaymentProcessor;
pub use support::dead_letter;
pub use views::{BookingViews, IdentityViews};
