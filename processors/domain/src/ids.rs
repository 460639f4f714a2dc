//! Opaque identifiers. The core never generates them: ids arrive inside commands.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string as this id.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

opaque_id!(
    /// A registered user (customer or vendor).
    UserId
);
opaque_id!(
    /// A bookable resource; the partition key of the booking and payment topics.
    ResourceId
);
opaque_id!(
    /// One booking of one resource.
    BookingId
);
opaque_id!(
    /// One payment intent; exactly one per booking.
    PaymentId
);
opaque_id!(
    /// Identifies a command for idempotency: derived from (user, Idempotency-Key)
    /// for client-keyed calls, random otherwise.
    CommandId
);
