//! Small helpers to build Avro values and to take records apart strictly: every
//! field is read by name in schema order, and a field of the wrong type is a
//! [`CodecError::Mapping`], never a panic or a silent default.

use crate::codec::CodecError;
use apache_avro::types::Value;
use slotstream_domain::Millis;

/// The mapping between one domain type and its Avro value.
pub(crate) trait Avro: Sized {
    /// The Avro value, shaped like the type's schema.
    fn to_value(&self) -> Value;
    /// Reads the value back (after resolution to our schema).
    fn from_value(v: Value) -> Result<Self, CodecError>;
}

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

/// A short name of a value's kind, for error messages (never the value itself:
/// it may hold personal data).
fn kind(v: &Value) -> &'static str {
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

/// A record field.
pub(crate) fn field(name: &str, v: Value) -> (String, Value) {
    (name.to_owned(), v)
}

/// A string value.
pub(crate) fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// A `timestamp-millis` value.
pub(crate) fn timestamp(ms: Millis) -> Value {
    Value::TimestampMillis(ms)
}

/// An `int` holding a `u32`. A value above `i32::MAX` has no `int` encoding: it
/// is left as a `long`, which the validating encoder rejects with an error
/// instead of writing a wrong number.
pub(crate) fn int(n: u32) -> Value {
    i32::try_from(n).map_or(Value::Long(i64::from(n)), Value::Int)
}

/// A `long` holding a `u64`; above `i64::MAX` it is left as a `double`, which
/// the validating encoder rejects (see [`int`]).
pub(crate) fn long_u64(n: u64) -> Value {
    i64::try_from(n).map_or(Value::Double(n as f64), Value::Long)
}

/// An optional string as the union `["null", "string"]`.
pub(crate) fn opt_string(s: Option<&str>) -> Value {
    match s {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(s) => Value::Union(1, Box::new(string(s))),
    }
}

/// An optional instant as the union `["null", timestamp-millis]`.
pub(crate) fn opt_timestamp(ms: Option<Millis>) -> Value {
    match ms {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(ms) => Value::Union(1, Box::new(timestamp(ms))),
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
    pub(crate) fn value(&mut self, name: &str) -> Result<Value, CodecError> {
        match self.iter.next() {
            Some((n, v)) if n == name => Ok(v),
            Some((n, _)) => Err(mapping(format!(
                "{}: expected field {name}, found {n}",
                self.record
            ))),
            None => Err(mapping(format!("{}: missing field {name}", self.record))),
        }
    }

    fn wrong(&self, name: &str, expected: &str, found: &Value) -> CodecError {
        mapping(format!(
            "{}.{name}: expected {expected}, found {}",
            self.record,
            kind(found)
        ))
    }

    /// A `string` field.
    pub(crate) fn string(&mut self, name: &str) -> Result<String, CodecError> {
        match self.value(name)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong(name, "string", &other)),
        }
    }

    /// A `["null", "string"]` field.
    pub(crate) fn opt_string(&mut self, name: &str) -> Result<Option<String>, CodecError> {
        match self.value(name)? {
            Value::Union(_, inner) => match *inner {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s)),
                other => Err(self.wrong(name, "null or string", &other)),
            },
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(self.wrong(name, "null or string", &other)),
        }
    }

    /// A `timestamp-millis` field (a plain `long` is accepted too).
    pub(crate) fn timestamp(&mut self, name: &str) -> Result<Millis, CodecError> {
        match self.value(name)? {
            Value::TimestampMillis(n) | Value::Long(n) => Ok(n),
            other => Err(self.wrong(name, "timestamp-millis", &other)),
        }
    }

    /// A `["null", timestamp-millis]` field (a plain `long` branch is
    /// accepted too).
    pub(crate) fn opt_timestamp(&mut self, name: &str) -> Result<Option<Millis>, CodecError> {
        let v = match self.value(name)? {
            Value::Union(_, inner) => *inner,
            other => other,
        };
        match v {
            Value::Null => Ok(None),
            Value::TimestampMillis(n) | Value::Long(n) => Ok(Some(n)),
            other => Err(self.wrong(name, "null or timestamp-millis", &other)),
        }
    }

    /// A `long` field.
    pub(crate) fn long(&mut self, name: &str) -> Result<i64, CodecError> {
        match self.value(name)? {
            Value::Long(n) => Ok(n),
            other => Err(self.wrong(name, "long", &other)),
        }
    }

    /// A `long` field holding a `u64`.
    pub(crate) fn long_u64(&mut self, name: &str) -> Result<u64, CodecError> {
        let n = self.long(name)?;
        u64::try_from(n).map_err(|_| mapping(format!("{}.{name}: {n} is negative", self.record)))
    }

    /// An `int` field holding a `u32`.
    pub(crate) fn u32(&mut self, name: &str) -> Result<u32, CodecError> {
        match self.value(name)? {
            Value::Int(n) => u32::try_from(n)
                .map_err(|_| mapping(format!("{}.{name}: {n} is not a u32", self.record))),
            other => Err(self.wrong(name, "int", &other)),
        }
    }

    /// An `int` field holding a `u8`.
    pub(crate) fn u8(&mut self, name: &str) -> Result<u8, CodecError> {
        match self.value(name)? {
            Value::Int(n) => u8::try_from(n)
                .map_err(|_| mapping(format!("{}.{name}: {n} is not a u8", self.record))),
            other => Err(self.wrong(name, "int", &other)),
        }
    }

    /// A `boolean` field.
    pub(crate) fn boolean(&mut self, name: &str) -> Result<bool, CodecError> {
        match self.value(name)? {
            Value::Boolean(b) => Ok(b),
            other => Err(self.wrong(name, "boolean", &other)),
        }
    }

    /// A `bytes` field.
    pub(crate) fn bytes(&mut self, name: &str) -> Result<Vec<u8>, CodecError> {
        match self.value(name)? {
            Value::Bytes(b) => Ok(b),
            other => Err(self.wrong(name, "bytes", &other)),
        }
    }

    /// A field of a type with its own [`Avro`] mapping (record or enum).
    pub(crate) fn nested<T: Avro>(&mut self, name: &str) -> Result<T, CodecError> {
        T::from_value(self.value(name)?)
    }

    /// A union field whose branches map to the domain enum `T`.
    pub(crate) fn union<T: AvroUnion>(&mut self, name: &str) -> Result<T, CodecError> {
        match self.value(name)? {
            Value::Union(index, inner) => T::from_branch(index, *inner),
            other => Err(self.wrong(name, "union", &other)),
        }
    }
}

/// Implements [`Avro`] for a fieldless domain enum as an Avro enum; the symbol
/// list (in order) must match the `.avsc` file, which the round-trip tests check.
macro_rules! avro_enum {
    ($ty:ty, $name:literal { $($variant:ident = $index:literal => $symbol:literal),+ $(,)? }) => {
        impl $crate::fields::Avro for $ty {
            fn to_value(&self) -> apache_avro::types::Value {
                let (index, symbol) = match self {
                    $(<$ty>::$variant => ($index, $symbol),)+
                };
                apache_avro::types::Value::Enum(index, symbol.to_owned())
            }

            fn from_value(
                v: apache_avro::types::Value,
            ) -> Result<Self, $crate::codec::CodecError> {
                match v {
                    apache_avro::types::Value::Enum(_, symbol) => match symbol.as_str() {
                        $($symbol => Ok(<$ty>::$variant),)+
                        other => Err($crate::fields::mapping(format!(
                            "{}: unknown symbol {other}",
                            $name
                        ))),
                    },
                    _ => Err($crate::fields::mapping(format!("{}: not an enum", $name))),
                }
            }
        }
    };
}
pub(crate) use avro_enum;
