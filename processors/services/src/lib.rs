//! The booking, payment, identity, notification and views processors.
