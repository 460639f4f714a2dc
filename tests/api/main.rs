//! The end-to-end suite: the whole product over real HTTP, tested against the
//! public contract (`docs/api-contract.md`): status codes, problem+json
//! `code`s, bodies and headers; never implementation details.
//!
//! Every test starts its own product on port 0 with a fresh data dir and a
//! manual clock (`helpers::spawn_app`), and stops it at the end. Nothing
//! sleeps to synchronise: observable states are awaited with bounded polls.

mod helpers;

mod api_keys;
mod auth;
mod bookings;
mod cancellation;
mod chaos;
mod concurrency;
mod consistency;
mod distributed;
mod docs;
mod errors;
mod events;
mod hardening;
mod idempotency;
mod login_lock;
mod operations;
mod payments;
mod rate_limits;
mod rescheduling;
mod resources;
mod scheduling;
mod security;
mod slot_search;
mod webhooks;
