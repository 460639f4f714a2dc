//! The mapping traits, and the strict record reader the declarations expand
//! to: every field is read by name in schema order, and a field of the wrong
//! type is a [`CodecError::Mapping`] naming the record and the field, never a
//! panic or a silent default.

use crate::codec::CodecError;
use crate::kinds::Kind;
use apache_avro::types::Value;

/// The mapping between one domain type and its Avro value.
pub(crate) trait Avro: Sized {
    /// The Avro value, shaped like the type's schema.
    fn to_value(&self) -> Value;
    /// Reads the value back (after resolution to our schema).
    fn from_value(v: Value) -> Result<Self, CodecError>;
}

/// A type declared with `avro_record!`: an Avro record.
pub(crate) trait AvroRecord: Avro {}

/// A type declared with `avro_enum!`: an Avro enum.
pub(crate) trait AvroEnum: Avro {}

/// The mapping between a domain enum of records and an Avro union.
pub(crate) trait AvroUnion: Sized {
    /// Number of branches, so a larger union can embed this one at an offset.
    const BRANCHES: u32;
    /// The branch index and the branch's record.
    fn to_branch(&self) -> (u32, Value);
    /// Reads branch `index`'s record.
    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError>;
}

/// A [`CodecError::Mapping`] saying `what`.
pub(crate) fn mapping(what: impl Into<String>) -> CodecError {
    CodecError::Mapping { what: what.into() }
}

/// A record field. The value is built before its name is allocated (the
/// argument order): with the names first, encoding a `BookingHeld` envelope
/// took ~600 more instructions, most of them in glibc's `malloc`.
pub(crate) fn field(name: &str, v: Value) -> (String, Value) {
    (name.to_owned(), v)
}

/// A short name of a value's kind, for error messages (never the value itself:
/// it may hold personal data).
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Record(_) => "record",
        Value::TimestampMillis(_) => "timestamp-millis",
        _ => "other",
    }
}

/// Takes a record apart: `read` pulls each field in schema order, then the
/// record must be exhausted.
pub(crate) fn record<T>(
    name: &'static str,
    v: Value,
    read: impl FnOnce(&mut Fields) -> Result<T, CodecError>,
) -> Result<T, CodecError> {
    let fields = match v {
        Value::Record(fields) => fields,
        other => {
            return Err(mapping(format!(
                "{name}: a {} is not a record",
                kind(&other)
            )));
        }
    };
    let mut fields = Fields {
        record: name,
        iter: fields.into_iter(),
    };
    let out = read(&mut fields)?;
    match fields.iter.next() {
        None => Ok(out),
        Some((extra, _)) => Err(mapping(format!("{name}: unexpected field {extra}"))),
    }
}

/// The fields of one record, consumed in schema order.
pub(crate) struct Fields {
    record: &'static str,
    iter: std::vec::IntoIter<(String, Value)>,
}

impl Fields {
    /// The next field, which must be called `name`.
    fn value(&mut self, name: &str) -> Result<Value, CodecError> {
        match self.iter.next() {
            Some((n, v)) if n == name => Ok(v),
            Some((n, _)) => Err(mapping(format!(
                "{}: expected field {name}, found {n}",
                self.record
            ))),
            None => Err(mapping(format!("{}: missing field {name}", self.record))),
        }
    }

    /// The next field, which must be called `name`, read as the kind `K`.
    pub(crate) fn read<K: Kind<T>, T>(&mut self, name: &str) -> Result<T, CodecError> {
        K::read(self.value(name)?).map_err(|e| e.at(self.record, name))
    }
}
