//! # slotstream-schemas: the Avro contracts and the Confluent wire-format codec
//!
//! This crate owns what crosses a topic: one `.avsc` file per record or enum in
//! `schemas/avro/`, one top-level schema per topic value (its Confluent subject is
//! `<topic>-value`), and the mapping between those Avro records and the domain's
//! commands and events, declared once per record (`declare.rs`).
//!
//! The invariant it keeps: **every record it writes is a Confluent wire-format
//! frame (`0x00`, schema id as big-endian `u32`, Avro binary datum) that any
//! Confluent deserializer decodes with the schema registered under that id, and
//! every record written by a BACKWARD-compatible version of a subject decodes
//! into the same domain value**. Decoding never panics, whatever the bytes.
//!
//! ```
//! use slotstream_schemas::{Codec, DeadLetter};
//!
//! let codec = Codec::embedded();
//! let letter = DeadLetter {
//!     topic: "slotstream.booking-commands".into(),
//!     partition: 3,
//!     offset: 42,
//!     key: b"resource-1".to_vec(),
//!     value: vec![0xde, 0xad],
//!     reason: "unknown schema id 99".into(),
//!     dead_lettered_at: 1_700_000_000_000,
//! };
//! let bytes = codec.encode(&letter)?;
//! assert_eq!(bytes[0], 0);
//! assert_eq!(codec.decode::<DeadLetter>(&bytes)?, letter);
//! # Ok::<(), slotstream_schemas::CodecError>(())
//! ```

mod codec;
mod contract;
mod datum;
mod declare;
mod fields;
mod kinds;
mod map_booking;
mod map_identity;
mod map_keys;
mod map_lock;
mod map_payment;
mod map_shared;
mod registry;

pub use codec::{Codec, CodecError};
pub use contract::{Contract, DeadLetter, Envelope, Reply, ReplyPayload};
pub use registry::{CompiledSchemas, SchemaResolver, avsc_files, subject_json};
