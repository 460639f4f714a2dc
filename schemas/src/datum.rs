//! Avro binary datums against our own top-level schemas, with every named type
//! resolved once per process instead of once per record.
//!
//! apache-avro's `to_avro_datum` / `from_avro_datum` rebuild the schema's name
//! table on every call (about 25 µs for the replies schema, twice per encode),
//! which dominated the hot path. Here the writer walks the value and the schema
//! together, checking each value against its schema as it writes (so a value
//! that does not fit is an error, never wrong bytes), and the reader is
//! apache-avro's own decoder on a pre-resolved schema. `tests/wire.rs` checks
//! that this writer's bytes equal apache-avro's for every contract.

use crate::codec::CodecError;
use crate::registry::compiled_schemas;
use apache_avro::GenericSingleObjectReader;
use apache_avro::headers::HeaderBuilder;
use apache_avro::schema::{Name, RecordSchema, Schema};
use apache_avro::types::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

/// A top-level schema made ready for fast reading and writing.
pub(crate) struct Prepared {
    schema: &'static Schema,
    names: HashMap<&'static Name, &'static Schema>,
    reader: GenericSingleObjectReader,
}

/// Our datums carry no header of their own: the wire-format header is handled
/// by the codec, so the single-object reader is used with an empty one.
struct NoHeader;

impl HeaderBuilder for NoHeader {
    fn build_header(&self) -> Vec<u8> {
        Vec::new()
    }
}

static PREPARED: LazyLock<Vec<Prepared>> = LazyLock::new(|| {
    compiled_schemas()
        .filter_map(|schema| {
            let reader =
                GenericSingleObjectReader::new_with_header_builder(schema.clone(), NoHeader)
                    .ok()?;
            let mut names = HashMap::new();
            collect_names(schema, &mut names);
            Some(Prepared {
                schema,
                names,
                reader,
            })
        })
        .collect()
});

/// The prepared form of `schema` when it is one of our compiled schemas (the
/// same allocation); `None` for any other schema.
pub(crate) fn prepared(schema: &'static Schema) -> Option<&'static Prepared> {
    PREPARED.iter().find(|p| std::ptr::eq(p.schema, schema))
}

fn collect_names(schema: &'static Schema, names: &mut HashMap<&'static Name, &'static Schema>) {
    match schema {
        Schema::Record(r) => {
            names.insert(&r.name, schema);
            for f in &r.fields {
                collect_names(&f.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(&e.name, schema);
        }
        Schema::Fixed(f) => {
            names.insert(&f.name, schema);
        }
        Schema::Union(u) => u.variants().iter().for_each(|s| collect_names(s, names)),
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        _ => {}
    }
}

impl Prepared {
    /// Appends `value`'s Avro binary encoding to `out`; errors when the value
    /// does not fit the schema (wrong shape, out-of-range number).
    pub(crate) fn write(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.write_as(value, self.schema, out)
            .map_err(|what| CodecError::Mapping { what })
    }

    /// Decodes one datum from the front of `datum`, advancing it.
    pub(crate) fn read(&self, datum: &mut &[u8]) -> Result<Value, CodecError> {
        Ok(self.reader.read_value(datum)?)
    }

    fn write_as(&self, value: &Value, schema: &Schema, out: &mut Vec<u8>) -> Result<(), String> {
        match (value, schema) {
            (_, Schema::Ref { name }) => {
                let target = self
                    .names
                    .get(name)
                    .ok_or_else(|| format!("unresolved reference {}", name.fullname(None)))?;
                self.write_as(value, target, out)?;
            }
            (Value::Null, Schema::Null) => {}
            (Value::Boolean(b), Schema::Boolean) => out.push(u8::from(*b)),
            (Value::Int(n), Schema::Int) => zigzag(i64::from(*n), out),
            (Value::Long(n), Schema::Long)
            | (Value::TimestampMillis(n), Schema::TimestampMillis) => zigzag(*n, out),
            (Value::String(s), Schema::String) => length_prefixed(s.as_bytes(), out),
            (Value::Bytes(b), Schema::Bytes) => length_prefixed(b, out),
            (Value::Enum(index, symbol), Schema::Enum(e)) => match e.symbols.get(*index as usize) {
                Some(s) if s == symbol => zigzag(i64::from(*index), out),
                _ => return Err(format!("{symbol} is not symbol {index} of {}", e.name.name)),
            },
            (Value::Union(index, inner), Schema::Union(u)) => {
                let branch = u
                    .variants()
                    .get(*index as usize)
                    .ok_or_else(|| format!("the union has no branch {index}"))?;
                zigzag(i64::from(*index), out);
                self.write_as(inner, branch, out)?;
            }
            (Value::Record(fields), Schema::Record(r)) => self.write_record(fields, r, out)?,
            // One block of all the items, then the empty block that ends
            // the array (an empty array is that end marker alone).
            (Value::Array(items), Schema::Array(a)) => {
                if !items.is_empty() {
                    zigzag(i64::try_from(items.len()).unwrap_or(i64::MAX), out);
                    for item in items {
                        self.write_as(item, &a.items, out)?;
                    }
                }
                out.push(0);
            }
            (value, schema) => {
                return Err(format!(
                    "a {:?} value does not fit the schema's {:?}",
                    apache_avro::schema::SchemaKind::from(value),
                    apache_avro::schema::SchemaKind::from(schema)
                ));
            }
        }
        Ok(())
    }

    fn write_record(
        &self,
        fields: &[(String, Value)],
        r: &RecordSchema,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        if fields.len() != r.fields.len() {
            return Err(format!(
                "{} has {} fields, the value {}",
                r.name.name,
                r.fields.len(),
                fields.len()
            ));
        }
        for ((name, value), field) in fields.iter().zip(&r.fields) {
            if *name != field.name {
                return Err(format!(
                    "{}: field {name} where the schema has {}",
                    r.name.name, field.name
                ));
            }
            self.write_as(value, &field.schema, out)
                .map_err(|e| format!("{}.{name}: {e}", r.name.name))?;
        }
        Ok(())
    }
}

/// Avro `int`/`long`: zig-zag, then base-128 varint, least significant group first.
fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)).cast_unsigned();
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Avro `string`/`bytes`: the length as a `long`, then the bytes.
fn length_prefixed(b: &[u8], out: &mut Vec<u8>) {
    // A slice never exceeds isize::MAX bytes, so its length fits an i64.
    zigzag(i64::try_from(b.len()).unwrap_or(i64::MAX), out);
    out.extend_from_slice(b);
}
