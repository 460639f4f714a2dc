//! Fixtures for the unit tests.

use crate::booking::{BookingCommand, CancelBooking, RegisterResource, RequestBooking};
use crate::fixtures;
use crate::resource::Resource;
use crate::time::{DAY, MINUTE, Millis};

/// A day boundary in 2024: aligned to every slot size.
pub(crate) const T0: Millis = 19_723 * DAY;

/// A room: 15-minute slots, 15 min to 8 h, 1000 per started hour.
pub(crate) fn room(id: &str) -> Resource {
    Resource {
        max_minutes: 8 * 60,
        ..fixtures::resource(id, "vendor")
    }
}

pub(crate) fn register(resource: Resource) -> BookingCommand {
    BookingCommand::RegisterResource(RegisterResource {
        command_id: format!("reg-{}", resource.id).as_str().into(),
        resource,
    })
}

/// A request by `user` for `[start, start + minutes)` on room `r`; ids derive from `n`.
pub(crate) fn request(n: u32, r: &str, user: &str, start: Millis, minutes: i64) -> RequestBooking {
    RequestBooking {
        command_id: format!("c{n}").as_str().into(),
        request_hash: format!("h{n}"),
        booking_id: format!("b{n}").as_str().into(),
        payment_id: format!("p{n}").as_str().into(),
        resource_id: r.into(),
        user_id: user.into(),
        user_email: format!("{user}@example.com"),
        start,
        end: start + minutes * MINUTE,
        requested_at: 0,
    }
}

pub(crate) fn cancel(n: u32, booking: &str, r: &str, user: &str) -> BookingCommand {
    BookingCommand::CancelBooking(CancelBooking {
        command_id: format!("x{n}").as_str().into(),
        booking_id: booking.into(),
        resource_id: r.into(),
        user_id: user.into(),
        requested_at: 0,
    })
}
