//! Model tests: random interleavings of commands, reactions and time, driven
//! exactly as a processor drives a partition (decide, then apply every event),
//! checked after every step against an independent brute-force reference, a
//! replica rebuilt from the event log alone, and a twin restored from the
//! stored records. Scheduling (`model/schedule.rs`) has a brute-force
//! reference of its own, which reads the wall clock minute by minute; the
//! booking partition with schedules and rules (`model/booking_schedule.rs`)
//! is checked against an oracle over its active bookings.

#[path = "model/booking.rs"]
mod booking;
#[path = "model/booking_reference.rs"]
mod booking_reference;
#[path = "model/booking_schedule.rs"]
mod booking_schedule;
#[path = "model/identity.rs"]
mod identity;
#[path = "model/payment.rs"]
mod payment;
#[path = "model/payment_reference.rs"]
mod payment_reference;
#[path = "model/schedule.rs"]
mod schedule;
