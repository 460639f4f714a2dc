//! # slotstream
//!
//! The binary's library half: configuration and the composition root, so the
//! end-to-end tests and benchmarks start the platform exactly as `slotstream up`
//! does. See ARCHITECTURE.md for the map of topics and processors.

pub mod app;
pub mod ops;
pub mod platform;
pub mod settings;
pub mod storage;
pub mod traces;

pub use app::App;
pub use platform::{Platform, Role};
pub use settings::Settings;
