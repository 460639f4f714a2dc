//! Field kinds: how one Avro field type maps to and from a Rust value.
//!
//! A record declaration (see [`crate::declare`]) names one kind per field,
//! spelled after the field's type in the `.avsc` file (`start:
//! TimestampMillis`, `reply_to: Nullable<Str>`); the kind writes the field's
//! Avro value and reads it back strictly. A kind is a zero-sized type with a
//! [`Kind`] impl per Rust type it can hold, so `Int` serves `u32` and `u8`
//! fields alike and the compiler picks the impl from the field's type.
//!
//! A field type with no kind yet (an array, a map, another logical type) gets
//! a new zero-sized type and its [`Kind`] impls here; the prepared writer
//! (`datum.rs`) must also know the Avro type.

use crate::codec::CodecError;
use crate::fields::{AvroEnum, AvroRecord, AvroUnion, kind};
use apache_avro::types::Value;
use slotstream_domain::schedule::LocalDate;
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};
use std::marker::PhantomData;

/// Writes and reads one field's value as the Avro type `Self` stands for.
pub(crate) trait Kind<T> {
    /// The field's Avro value.
    fn write(v: &T) -> Value;
    /// Reads the field's value; the record reader adds the record and field
    /// names to the error.
    fn read(v: Value) -> Result<T, FieldError>;
}

/// Why one field's value did not fit. Never carries the value itself (it may
/// be personal data), only its kind or a number.
#[derive(Debug)]
pub(crate) enum FieldError {
    /// The value has another Avro type.
    Wrong {
        expected: &'static str,
        found: &'static str,
        /// The field is `["null", expected]`.
        nullable: bool,
    },
    /// The value has the right type, but the Rust type cannot hold it.
    Range(String),
    /// A nested record, enum or union did not fit; its error names its own
    /// record and field.
    Nested(CodecError),
}

impl FieldError {
    fn wrong(expected: &'static str, found: &Value) -> Self {
        Self::Wrong {
            expected,
            found: kind(found),
            nullable: false,
        }
    }

    /// The mapping error for field `field` of record `record`.
    pub(crate) fn at(self, record: &str, field: &str) -> CodecError {
        let what = match self {
            Self::Wrong {
                expected,
                found,
                nullable,
            } => {
                let null = if nullable { "null or " } else { "" };
                format!("{record}.{field}: expected {null}{expected}, found {found}")
            }
            Self::Range(why) => format!("{record}.{field}: {why}"),
            Self::Nested(CodecError::Mapping { what }) => format!("{record}.{field}: {what}"),
            Self::Nested(other) => return other,
        };
        CodecError::Mapping { what }
    }
}

/// Avro `string`, for `String` and the domain's string ids.
#[derive(Debug)]
pub(crate) struct Str;

/// A Rust type that is a string on the wire.
pub(crate) trait Text: Sized {
    fn text(&self) -> &str;
    fn from_text(s: String) -> Self;
}

impl Text for String {
    fn text(&self) -> &str {
        self
    }
    fn from_text(s: String) -> Self {
        s
    }
}

macro_rules! text_ids {
    ($($id:ident),+) => {$(
        impl Text for $id {
            fn text(&self) -> &str {
                self.as_str()
            }
            fn from_text(s: String) -> Self {
                $id(s)
            }
        }
    )+};
}
text_ids!(CommandId, BookingId, PaymentId, ResourceId, UserId);

impl<T: Text> Kind<T> for Str {
    fn write(v: &T) -> Value {
        Value::String(v.text().to_owned())
    }
    fn read(v: Value) -> Result<T, FieldError> {
        match v {
            Value::String(s) => Ok(T::from_text(s)),
            other => Err(FieldError::wrong("string", &other)),
        }
    }
}

/// Avro `long` with `logicalType: timestamp-millis` (a plain `long` is read
/// too, as written by an older schema without the logical type).
#[derive(Debug)]
pub(crate) struct TimestampMillis;

impl Kind<i64> for TimestampMillis {
    fn write(v: &i64) -> Value {
        Value::TimestampMillis(*v)
    }
    fn read(v: Value) -> Result<i64, FieldError> {
        match v {
            Value::TimestampMillis(n) | Value::Long(n) => Ok(n),
            other => Err(FieldError::wrong("timestamp-millis", &other)),
        }
    }
}

/// Avro `long`, for `i64` and `u64`.
#[derive(Debug)]
pub(crate) struct Long;

impl Kind<i64> for Long {
    fn write(v: &i64) -> Value {
        Value::Long(*v)
    }
    fn read(v: Value) -> Result<i64, FieldError> {
        match v {
            Value::Long(n) => Ok(n),
            other => Err(FieldError::wrong("long", &other)),
        }
    }
}

impl Kind<u64> for Long {
    /// Above `i64::MAX` the value is left as a `double`, which the validating
    /// writer rejects with an error instead of writing a wrong number.
    fn write(v: &u64) -> Value {
        i64::try_from(*v).map_or(Value::Double(*v as f64), Value::Long)
    }
    fn read(v: Value) -> Result<u64, FieldError> {
        let n = <Self as Kind<i64>>::read(v)?;
        u64::try_from(n).map_err(|_| FieldError::Range(format!("{n} is negative")))
    }
}

/// Avro `int`, for `u32` and `u8`.
#[derive(Debug)]
pub(crate) struct Int;

impl Int {
    fn read_i32(v: Value) -> Result<i32, FieldError> {
        match v {
            Value::Int(n) => Ok(n),
            other => Err(FieldError::wrong("int", &other)),
        }
    }
}

impl Kind<u32> for Int {
    /// Above `i32::MAX` the value is left as a `long`, which the validating
    /// writer rejects with an error instead of writing a wrong number.
    fn write(v: &u32) -> Value {
        i32::try_from(*v).map_or(Value::Long(i64::from(*v)), Value::Int)
    }
    fn read(v: Value) -> Result<u32, FieldError> {
        let n = Self::read_i32(v)?;
        u32::try_from(n).map_err(|_| FieldError::Range(format!("{n} is not a u32")))
    }
}

impl Kind<u8> for Int {
    fn write(v: &u8) -> Value {
        Value::Int(i32::from(*v))
    }
    fn read(v: Value) -> Result<u8, FieldError> {
        let n = Self::read_i32(v)?;
        u8::try_from(n).map_err(|_| FieldError::Range(format!("{n} is not a u8")))
    }
}

/// Avro `boolean`.
#[derive(Debug)]
pub(crate) struct Boolean;

impl Kind<bool> for Boolean {
    fn write(v: &bool) -> Value {
        Value::Boolean(*v)
    }
    fn read(v: Value) -> Result<bool, FieldError> {
        match v {
            Value::Boolean(b) => Ok(b),
            other => Err(FieldError::wrong("boolean", &other)),
        }
    }
}

/// Avro `bytes`.
#[derive(Debug)]
pub(crate) struct Bytes;

impl Kind<Vec<u8>> for Bytes {
    fn write(v: &Vec<u8>) -> Value {
        Value::Bytes(v.clone())
    }
    fn read(v: Value) -> Result<Vec<u8>, FieldError> {
        match v {
            Value::Bytes(b) => Ok(b),
            other => Err(FieldError::wrong("bytes", &other)),
        }
    }
}

/// A named Avro record declared with `avro_record!`.
#[derive(Debug)]
pub(crate) struct Record;

impl<T: AvroRecord> Kind<T> for Record {
    fn write(v: &T) -> Value {
        v.to_value()
    }
    fn read(v: Value) -> Result<T, FieldError> {
        T::from_value(v).map_err(FieldError::Nested)
    }
}

/// A named Avro record declared with `avro_record!`, held in a `Box`.
#[derive(Debug)]
pub(crate) struct BoxedRecord;

impl<T: AvroRecord> Kind<Box<T>> for BoxedRecord {
    fn write(v: &Box<T>) -> Value {
        v.to_value()
    }
    fn read(v: Value) -> Result<Box<T>, FieldError> {
        T::from_value(v).map(Box::new).map_err(FieldError::Nested)
    }
}

/// A named Avro enum declared with `avro_enum!`.
#[derive(Debug)]
pub(crate) struct Enum;

impl<T: AvroEnum> Kind<T> for Enum {
    fn write(v: &T) -> Value {
        v.to_value()
    }
    fn read(v: Value) -> Result<T, FieldError> {
        T::from_value(v).map_err(FieldError::Nested)
    }
}

/// An Avro union of records, declared with `avro_union!` (or by hand).
#[derive(Debug)]
pub(crate) struct Union;

impl<T: AvroUnion> Kind<T> for Union {
    fn write(v: &T) -> Value {
        let (index, branch) = v.to_branch();
        Value::Union(index, Box::new(branch))
    }
    fn read(v: Value) -> Result<T, FieldError> {
        match v {
            Value::Union(index, inner) => T::from_branch(index, *inner).map_err(FieldError::Nested),
            other => Err(FieldError::wrong("union", &other)),
        }
    }
}

/// The union `["null", K]` (null first, so it can default to null), for an
/// `Option`.
#[derive(Debug)]
pub(crate) struct Nullable<K>(PhantomData<K>);

impl<K: Kind<T>, T> Kind<Option<T>> for Nullable<K> {
    fn write(v: &Option<T>) -> Value {
        match v {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(v) => Value::Union(1, Box::new(K::write(v))),
        }
    }
    /// Reads the union's value, or a bare null or value (as schema
    /// resolution may leave it).
    fn read(v: Value) -> Result<Option<T>, FieldError> {
        let v = match v {
            Value::Union(_, inner) => *inner,
            bare => bare,
        };
        match v {
            Value::Null => Ok(None),
            v => K::read(v).map(Some).map_err(|e| match e {
                FieldError::Wrong {
                    expected, found, ..
                } => FieldError::Wrong {
                    expected,
                    found,
                    nullable: true,
                },
                other => other,
            }),
        }
    }
}

impl Kind<u16> for Int {
    fn write(v: &u16) -> Value {
        Value::Int(i32::from(*v))
    }
    fn read(v: Value) -> Result<u16, FieldError> {
        let n = Self::read_i32(v)?;
        u16::try_from(n).map_err(|_| FieldError::Range(format!("{n} is not a u16")))
    }
}

/// Avro `array` of `K`, for a `Vec`.
#[derive(Debug)]
pub(crate) struct Array<K>(PhantomData<K>);

impl<K: Kind<T>, T> Kind<Vec<T>> for Array<K> {
    fn write(v: &Vec<T>) -> Value {
        Value::Array(v.iter().map(K::write).collect())
    }
    fn read(v: Value) -> Result<Vec<T>, FieldError> {
        match v {
            Value::Array(items) => items.into_iter().map(K::read).collect(),
            other => Err(FieldError::wrong("array", &other)),
        }
    }
}

/// An Avro `array` of exactly seven arrays of `K`, one per weekday (Monday
/// first), for `[Vec<T>; 7]`.
#[derive(Debug)]
pub(crate) struct Week<K>(PhantomData<K>);

impl<K: Kind<T>, T> Kind<[Vec<T>; 7]> for Week<K> {
    fn write(v: &[Vec<T>; 7]) -> Value {
        Value::Array(v.iter().map(Array::<K>::write).collect())
    }
    fn read(v: Value) -> Result<[Vec<T>; 7], FieldError> {
        let days = Array::<Array<K>>::read(v)?;
        let n = days.len();
        days.try_into()
            .map_err(|_| FieldError::Range(format!("{n} days where a week has 7")))
    }
}

/// A calendar date as an ISO 8601 `string` (`2026-12-24`), for
/// [`LocalDate`]. Whether the date exists is the schedule's check.
#[derive(Debug)]
pub(crate) struct IsoDate;

impl Kind<LocalDate> for IsoDate {
    fn write(d: &LocalDate) -> Value {
        Value::String(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
    }
    fn read(v: Value) -> Result<LocalDate, FieldError> {
        let s = <Str as Kind<String>>::read(v)?;
        let bad = || FieldError::Range("not a date of the form YYYY-MM-DD".to_owned());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| {
            s.get(r)
                .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|t| t.parse::<u16>().ok())
                .ok_or_else(bad)
        };
        let year = i16::try_from(num(0..4)?).map_err(|_| bad())?;
        let month = u8::try_from(num(5..7)?).map_err(|_| bad())?;
        let day = u8::try_from(num(8..10)?).map_err(|_| bad())?;
        Ok(LocalDate::new(year, month, day))
    }
}

/// The union `["null", K]` for a value with a default: the default is
/// written as null, and null reads as the default (records written before
/// the field existed read as the default too).
#[derive(Debug)]
pub(crate) struct OrDefault<K>(PhantomData<K>);

impl<K: Kind<T>, T: Default + PartialEq> Kind<T> for OrDefault<K> {
    fn write(v: &T) -> Value {
        if *v == T::default() {
            Value::Union(0, Box::new(Value::Null))
        } else {
            Value::Union(1, Box::new(K::write(v)))
        }
    }
    fn read(v: Value) -> Result<T, FieldError> {
        Nullable::<K>::read(v).map(Option::unwrap_or_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: FieldError) -> String {
        match e.at("Rec", "f") {
            CodecError::Mapping { what } => what,
            other => panic!("not a mapping error: {other:?}"),
        }
    }

    #[test]
    fn a_nullable_field_writes_null_first_and_reads_bare_or_in_a_union() {
        type N = Nullable<TimestampMillis>;
        assert_eq!(N::write(&None), Value::Union(0, Box::new(Value::Null)));
        assert_eq!(
            N::write(&Some(7)),
            Value::Union(1, Box::new(Value::TimestampMillis(7)))
        );
        for (v, expected) in [
            (Value::Union(0, Box::new(Value::Null)), None),
            (
                Value::Union(1, Box::new(Value::TimestampMillis(7))),
                Some(7),
            ),
            (Value::Null, None),
            (Value::Long(7), Some(7)),
        ] {
            assert_eq!(N::read(v).unwrap(), expected);
        }
        let wrong = N::read(Value::Union(1, Box::new(Value::String("x".into())))).unwrap_err();
        assert_eq!(
            message(wrong),
            "Rec.f: expected null or timestamp-millis, found string"
        );
    }

    #[test]
    fn numbers_out_of_the_rust_range_say_so() {
        assert_eq!(
            message(<Int as Kind<u8>>::read(Value::Int(256)).unwrap_err()),
            "Rec.f: 256 is not a u8"
        );
        assert_eq!(
            message(<Long as Kind<u64>>::read(Value::Long(-1)).unwrap_err()),
            "Rec.f: -1 is negative"
        );
        assert_eq!(
            <Int as Kind<u32>>::write(&u32::MAX),
            Value::Long(4_294_967_295)
        );
    }
}
