//! The Confluent wire format: `0x00`, the writer schema's id (big-endian `u32`),
//! then the Avro binary datum.

use crate::contract::Contract;
use crate::datum::prepared;
use crate::registry::{CompiledSchemas, SchemaResolver};
use apache_avro::{from_avro_datum, to_avro_datum};
use bytes::Bytes;
use std::sync::Arc;

/// Length of the wire-format header: the magic byte and the schema id.
const HEADER_LEN: usize = 5;
/// The Confluent magic byte.
const MAGIC: u8 = 0;

/// Why a record could not be encoded or decoded. Decoding errors mean the record
/// is poison for this consumer: dead-letter it, do not retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Fewer than 5 bytes: not a wire-format record at all.
    #[error(
        "record too short for the Confluent wire format (needs 5 header bytes); dead-letter it"
    )]
    TooShort,
    /// The first byte is not the Confluent magic byte 0.
    #[error(
        "bad magic byte {0:#04x} (expected 0x00): not written with a Confluent serializer; dead-letter it"
    )]
    BadMagic(u8),
    /// The resolver knows no schema with this id.
    #[error(
        "unknown schema id {0}: register the writer's schema or point the resolver at the right registry"
    )]
    UnknownSchemaId(u32),
    /// The resolver has no id for this subject, so nothing can be written to it.
    #[error("no schema id for subject {0}: register the subject's schema before producing to it")]
    NoSchemaFor(String),
    /// The Avro layer refused the datum (corrupt bytes, incompatible writer
    /// schema, a value that does not fit its Avro type).
    #[error(
        "avro: {0}; the record is corrupt or its writer schema is not compatible, dead-letter it"
    )]
    Avro(String),
    /// The Avro value is well-formed but does not fit the domain type.
    #[error("value does not fit the domain: {what}; dead-letter it and check the writer's schema")]
    Mapping {
        /// What did not fit, e.g. `DeadLetter.partition: -1 is not a u32`.
        what: String,
    },
}

/// Longest apache-avro message kept in [`CodecError::Avro`].
const MAX_AVRO_MESSAGE: usize = 240;

impl From<apache_avro::Error> for CodecError {
    /// Keeps apache-avro's message unless it embeds record data (many of its
    /// messages print the offending value, which may hold emails or password
    /// hashes and would end up in dead letters and logs): then only the error
    /// kind is kept.
    fn from(e: apache_avro::Error) -> Self {
        let text = e.to_string();
        let embeds_data = text.contains("String(\"") || text.contains("Bytes([");
        if !embeds_data && text.len() <= MAX_AVRO_MESSAGE {
            return Self::Avro(text);
        }
        let debug = format!("{:?}", e.details());
        let kind: String = debug
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        Self::Avro(format!("{kind} (details withheld: they embed record data)"))
    }
}

/// Encodes and decodes [`Contract`] values in the Confluent wire format.
///
/// Records written with our own schema decode without schema resolution;
/// records written with any other schema the resolver knows are resolved from
/// that writer schema to ours (Avro schema resolution), so older and newer
/// compatible producers can share a topic.
#[derive(Clone, Debug)]
pub struct Codec {
    resolver: Arc<dyn SchemaResolver>,
}

/// The largest string, byte string or array item count a decoded datum may
/// declare (see [`Codec::new`]).
const MAX_ALLOCATION: usize = 4 << 20;

impl Codec {
    /// A codec whose ids come from `resolver`.
    pub fn new(resolver: Arc<dyn SchemaResolver>) -> Self {
        // apache-avro reserves an array's declared item count up front, up
        // to its default limit of 512 Mi items (tens of GB of `Value`s): a
        // corrupted length would abort the process on allocation. No record
        // of ours comes near this bound (a string, a byte string or an
        // array of at most 4 Mi; a dead letter's value is one log record).
        // The limit is process-wide and set once; the first setting wins.
        apache_avro::util::max_allocation_bytes(MAX_ALLOCATION);
        Self { resolver }
    }

    /// A codec on the compiled-in schemas ([`CompiledSchemas`]), for embedded mode.
    pub fn embedded() -> Self {
        Self::new(Arc::new(CompiledSchemas::new()))
    }

    /// Encodes `v` as `0x00`, the id of `T::SUBJECT`'s writer schema (big-endian),
    /// and the Avro binary datum.
    ///
    /// # Errors
    /// [`CodecError::NoSchemaFor`] when the resolver has no id for the subject;
    /// [`CodecError::Mapping`] when a number does not fit its Avro type (a
    /// `u32` above `i32::MAX`, a `u64` above `i64::MAX`).
    pub fn encode<T: Contract>(&self, v: &T) -> Result<Bytes, CodecError> {
        let id = self
            .resolver
            .id_for(T::SUBJECT)
            .ok_or_else(|| CodecError::NoSchemaFor(T::SUBJECT.to_owned()))?;
        let value = v.to_avro();
        let mut out = Vec::with_capacity(256);
        out.push(MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        match prepared(T::schema()) {
            Some(p) => p.write(&value, &mut out)?,
            // A contract on a schema of its own: apache-avro validates and
            // encodes (an out-of-range number, see `fields::int`, fails there).
            None => out.extend_from_slice(&to_avro_datum(T::schema(), value)?),
        }
        Ok(Bytes::from(out))
    }

    /// Decodes a wire-format record written with any schema id the resolver
    /// knows. Never panics: every malformed input is an error.
    ///
    /// # Errors
    /// [`CodecError::TooShort`], [`CodecError::BadMagic`] and
    /// [`CodecError::UnknownSchemaId`] for a bad header; [`CodecError::Avro`]
    /// for a corrupt datum, trailing bytes or a writer schema ours cannot read;
    /// [`CodecError::Mapping`] for a value that does not fit the domain type.
    pub fn decode<T: Contract>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let (header, mut datum) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(CodecError::TooShort)?;
        let [magic, id @ ..] = *header;
        if magic != MAGIC {
            return Err(CodecError::BadMagic(magic));
        }
        let id = u32::from_be_bytes(id);
        let value = if self.resolver.id_for(T::SUBJECT) == Some(id) {
            // Written with our own schema: no resolution needed.
            match prepared(T::schema()) {
                Some(p) => p.read(&mut datum)?,
                None => from_avro_datum(T::schema(), &mut datum, None)?,
            }
        } else {
            let writer = self
                .resolver
                .schema_for(id)
                .ok_or(CodecError::UnknownSchemaId(id))?;
            from_avro_datum(&writer, &mut datum, Some(T::schema()))?
        };
        if !datum.is_empty() {
            return Err(CodecError::Avro(format!(
                "{} bytes left after the datum",
                datum.len()
            )));
        }
        T::from_avro(value)
    }
}
