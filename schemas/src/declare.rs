//! One declaration per Avro type, from which both directions of its mapping
//! are generated. (The example is text, not a doctest: the macros are
//! crate-private; `map_booking.rs` holds this very declaration, compiled.)
//!
//! ```text
//! avro_record!(BookingFailed {
//!     booking_id: Str,
//!     resource_id: Str,
//!     user_id: Str,
//!     user_email: Str,
//!     payment_id: Str,
//!     reason: Str,
//!     failed_at: TimestampMillis,
//! });
//! ```
//!
//! - [`avro_record!`] lists a struct's fields in the order of the `.avsc`
//!   record, each with its [kind](crate::kinds) (the field's Avro type:
//!   `Str`, `Long`, `Int`, `Boolean`, `Bytes`, `TimestampMillis`, `Record`,
//!   `Enum`, `Union`, `Nullable<K>`). It implements `Avro`: `to_value` builds
//!   the record's fields in that order for the prepared writer (`datum.rs`),
//!   `from_value` reads them back strictly (a name out of order, a missing or
//!   extra field, a value of another type is an error naming the record and
//!   the field). The Avro field name is the Rust field name; the record name
//!   (used in errors) is the type's unless given: `UserOtpGenerated as
//!   "UserOTPGenerated" { … }`.
//! - [`avro_union!`] lists a domain enum's variants in the order of the
//!   union's branches; each variant holds a declared record.
//! - [`avro_enum!`] lists a fieldless enum's variants with their symbols, in
//!   the order of the `.avsc` symbols.
//!
//! The order is the wire's (a branch or symbol index is its position), so a
//! declaration is written like its `.avsc` file and grows only at the end.
//!
//! **What checks a declaration.** The compiler: every struct field and enum
//! variant is named exactly once (a struct literal and an exhaustive match
//! are generated), and each kind must suit its field's Rust type (`Int` on a
//! `String` field does not compile). The schema: the prepared writer checks
//! every field name, in order, and every value's type against the `.avsc`
//! on each write, and `tests/wire.rs` encodes every record and compares the
//! bytes with apache-avro's.
//!
//! **Why `macro_rules!` and not a derive.** The domain types live in the pure
//! core, which must not depend on Avro, so a derive on them (serde's way)
//! would put Avro attributes where they are not allowed; the declarations
//! have to live here, beside the codec, as a list of fields. Expanding such a
//! list into a struct literal and a `vec!` is what `macro_rules!` does
//! plainly: the three macros fit in this file, read without a proc-macro
//! crate, and cost no `syn`/`quote` build. The per-type logic is in the
//! kinds, which are ordinary typed Rust, not macro code.

/// Implements `Avro` (and `AvroRecord`) for a struct as an Avro record; see
/// the module doc.
macro_rules! avro_record {
    (@impl $ty:ty, $name:expr,
        { $($field:ident: $kind:ident $(<$inner:ident>)?),+ $(,)? }) => {
        impl $crate::fields::Avro for $ty {
            fn to_value(&self) -> apache_avro::types::Value {
                apache_avro::types::Value::Record(vec![$(
                    $crate::fields::field(
                        stringify!($field),
                        <$crate::kinds::$kind$(<$crate::kinds::$inner>)?
                            as $crate::kinds::Kind<_>>::write(&self.$field),
                    ),
                )+])
            }

            fn from_value(
                v: apache_avro::types::Value,
            ) -> Result<Self, $crate::codec::CodecError> {
                $crate::fields::record($name, v, |f| {
                    Ok(Self {$(
                        $field: f.read::<$crate::kinds::$kind$(<$crate::kinds::$inner>)?, _>(
                            stringify!($field),
                        )?,
                    )+})
                })
            }
        }

        impl $crate::fields::AvroRecord for $ty {}
    };
    ($ty:ident { $($fields:tt)* }) => {
        $crate::declare::avro_record!(@impl $ty, stringify!($ty), { $($fields)* });
    };
    ($ty:ty as $name:literal { $($fields:tt)* }) => {
        $crate::declare::avro_record!(@impl $ty, $name, { $($fields)* });
    };
}
pub(crate) use avro_record;

/// Implements `AvroUnion` for an enum whose variants each hold one record,
/// branch `i` being the `i`-th variant listed; see the module doc.
macro_rules! avro_union {
    ($ty:ident { $($variant:ident),+ $(,)? }) => {
        const _: () = {
            /// Branch indices: the position in the declaration.
            enum Branch {
                $($variant,)+
            }

            impl $crate::fields::AvroUnion for $ty {
                const BRANCHES: u32 = [$(Branch::$variant),+].len() as u32;

                fn to_branch(&self) -> (u32, apache_avro::types::Value) {
                    match self {$(
                        Self::$variant(r) => {
                            (Branch::$variant as u32, $crate::fields::Avro::to_value(r))
                        }
                    )+}
                }

                fn from_branch(
                    index: u32,
                    v: apache_avro::types::Value,
                ) -> Result<Self, $crate::codec::CodecError> {
                    $(if index == Branch::$variant as u32 {
                        return Ok(Self::$variant($crate::fields::Avro::from_value(v)?));
                    })+
                    Err($crate::fields::mapping(format!(
                        "{}: no branch {index}",
                        stringify!($ty)
                    )))
                }
            }
        };
    };
}
pub(crate) use avro_union;

/// Implements `Avro` (and `AvroEnum`) for a fieldless enum as an Avro enum,
/// symbol `i` being the `i`-th listed; see the module doc.
macro_rules! avro_enum {
    ($ty:ident { $($variant:ident => $symbol:literal),+ $(,)? }) => {
        const _: () = {
            /// Symbol indices: the position in the declaration.
            enum Symbol {
                $($variant,)+
            }

            impl $crate::fields::Avro for $ty {
                fn to_value(&self) -> apache_avro::types::Value {
                    let (index, symbol) = match self {
                        $(Self::$variant => (Symbol::$variant as u32, $symbol),)+
                    };
                    apache_avro::types::Value::Enum(index, symbol.to_owned())
                }

                fn from_value(
                    v: apache_avro::types::Value,
                ) -> Result<Self, $crate::codec::CodecError> {
                    match v {
                        apache_avro::types::Value::Enum(_, symbol) => match symbol.as_str() {
                            $($symbol => Ok(Self::$variant),)+
                            other => Err($crate::fields::mapping(format!(
                                "{}: unknown symbol {other}",
                                stringify!($ty)
                            ))),
                        },
                        other => Err($crate::fields::mapping(format!(
                            "{}: a {} is not an enum",
                            stringify!($ty),
                            $crate::fields::kind(&other)
                        ))),
                    }
                }
            }

            impl $crate::fields::AvroEnum for $ty {}
        };
    };
}
pub(crate) use avro_enum;
