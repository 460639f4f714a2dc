//! The backward-compatibility guard: every current top-level schema must read
//! data written with its last published version in `schemas/compat/`
//! (BACKWARD, as a Confluent registry checks it), both by the schema checker
//! and by a real encode-with-old / decode-with-new round trip.
//!
//! After an intentional release, refresh the published versions with
//! `cargo run -p slotstream-schemas --example publish_compat` and commit them.

mod common;

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::to_avro_datum;
use apache_avro::types::Value;
use common::*;
use proptest::prelude::*;
use serde_json::{Value as Json, json};
use slotstream_domain::booking::BookingEvent;
use slotstream_schemas::{
    Codec, CodecError, CompiledSchemas, Contract, Envelope, SchemaResolver, subject_json,
};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("compat")
}

/// The published version of `subject`.
fn published(subject: &str) -> Schema {
    let path = compat_dir().join(format!("{subject}.json"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): every subject needs a published version; run \
             `cargo run -p slotstream-schemas --example publish_compat`",
            path.display()
        )
    });
    Schema::parse_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// BACKWARD: a reader on `new` can read everything written with `old`.
fn backward_compatible(old: &Schema, new: &Schema) -> Result<(), String> {
    SchemaCompatibility::can_read(old, new).map_err(|e| {
        // apache-avro reports a union mismatch without saying which branch:
        // check the branches of each union field one by one to name it.
        let mut why = vec![e.to_string()];
        if let (Schema::Record(o), Schema::Record(n)) = (old, new) {
            for (of, nf) in o.fields.iter().zip(&n.fields) {
                if let (Schema::Union(ou), Schema::Union(nu)) = (&of.schema, &nf.schema) {
                    for ob in ou.variants() {
                        let same = nu.variants().iter().find(|nb| nb.name() == ob.name());
                        let verdict = match same {
                            Some(nb) => {
                                SchemaCompatibility::can_read(ob, nb).map_err(|e| format!("{e:?}"))
                            }
                            None => Err("the branch is gone".to_owned()),
                        };
                        if let (Err(e), Some(name)) = (verdict, ob.name()) {
                            why.push(format!("{}: {}: {e}", of.name, name.name));
                        }
                    }
                }
            }
        }
        why.join("; ")
    })
}

#[test]
fn every_subject_has_a_published_version_and_nothing_else_is_published() {
    let files: BTreeSet<String> = std::fs::read_dir(compat_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let subjects: BTreeSet<String> = CompiledSchemas::subjects()
        .iter()
        .map(|(s, _)| format!("{s}.json"))
        .collect();
    assert_eq!(files, subjects);
}

#[test]
fn every_current_schema_can_read_its_published_version() {
    let mut problems = Vec::new();
    for (subject, current) in CompiledSchemas::subjects() {
        if let Err(e) = backward_compatible(&published(subject), current) {
            problems.push(format!("{subject}: {e}"));
        }
    }
    assert!(
        problems.is_empty(),
        "incompatible with the published schema (see schemas/README.md): {problems:#?}"
    );
}

/// The embedded backend's log holds records of every published version
/// under the compiled id it had: a subject whose schema changed since its
/// last publication must keep that version readable under its old id
/// (`RETIRED` in `src/registry.rs`), or the records already written with it
/// stop decoding after the upgrade.
#[test]
fn every_published_version_is_still_read_under_a_compiled_id() {
    for (subject, current) in CompiledSchemas::subjects() {
        let published = published(subject).canonical_form();
        let readable = current.canonical_form() == published
            || CompiledSchemas::retired()
                .any(|(_, s, schema)| s == *subject && schema.canonical_form() == published);
        assert!(
            readable,
            "{subject}: its published version has no compiled id any more; retire it \
             (schemas/README.md, releasing a schema change)"
        );
    }
}

/// Resolves our own ids plus each published version under id 100 + index.
#[derive(Debug)]
struct WithPublished {
    published: Vec<Arc<Schema>>,
}

impl SchemaResolver for WithPublished {
    fn id_for(&self, subject: &str) -> Option<u32> {
        CompiledSchemas::new().id_for(subject)
    }

    fn schema_for(&self, id: u32) -> Option<Arc<Schema>> {
        match id.checked_sub(100) {
            Some(i) => self.published.get(usize::try_from(i).ok()?).cloned(),
            None => CompiledSchemas::new().schema_for(id),
        }
    }
}

/// Writes every sample with the published schema, reads it with the current one.
struct OldWriterNewReader {
    codec: Codec,
    decoded: usize,
}

impl Visit for OldWriterNewReader {
    fn visit<T: Contract + PartialEq + Debug + Clone>(&mut self, samples: Vec<T>) {
        let index = CompiledSchemas::subjects()
            .iter()
            .position(|(s, _)| *s == T::SUBJECT)
            .unwrap();
        let old = published(T::SUBJECT);
        let unchanged = old.canonical_form() == T::schema().canonical_form();
        for sample in samples {
            // The sample as the old schema would have written it; a sample the
            // old schema cannot express (a newer branch) is skipped.
            let Ok(old_value) = sample.to_avro().resolve(&old) else {
                assert!(
                    !unchanged,
                    "{}: a sample does not fit its own schema",
                    T::SUBJECT
                );
                continue;
            };
            let mut bytes = vec![0];
            bytes.extend_from_slice(&(100 + u32::try_from(index).unwrap()).to_be_bytes());
            bytes.extend(to_avro_datum(&old, old_value).unwrap());
            let decoded = self.codec.decode::<T>(&bytes);
            match decoded {
                Ok(v) if unchanged => assert_eq!(v, sample, "{}", T::SUBJECT),
                Ok(_) => {}
                Err(e) => panic!(
                    "{}: the current schema cannot read old data: {e}",
                    T::SUBJECT
                ),
            }
            self.decoded += 1;
        }
    }
}

#[test]
fn records_written_with_the_published_schemas_decode_with_the_current_ones() {
    let published = CompiledSchemas::subjects()
        .iter()
        .map(|(s, _)| Arc::new(published(s)))
        .collect();
    let mut check = OldWriterNewReader {
        codec: Codec::new(Arc::new(WithPublished { published })),
        decoded: 0,
    };
    visit_all(&mut check);
    assert!(
        check.decoded >= 8,
        "only {} samples exercised",
        check.decoded
    );
}

/// The current booking-events schema as JSON.
fn booking_events_json() -> Json {
    serde_json::from_str(subject_json(Envelope::<BookingEvent>::SUBJECT).unwrap()).unwrap()
}

/// The branches of the envelope's payload union.
fn payload_branches(json: &mut Json) -> &mut Vec<Json> {
    let fields = json["fields"].as_array_mut().unwrap();
    let payload = fields.iter_mut().find(|f| f["name"] == "payload").unwrap();
    payload["type"].as_array_mut().unwrap()
}

/// The current booking-events schema with `change` applied to the JSON of its
/// BookingHeld record.
fn booking_events_with(change: impl FnOnce(&mut Json)) -> Schema {
    let mut json = booking_events_json();
    let held = payload_branches(&mut json)
        .iter_mut()
        .find(|b| b["name"] == "BookingHeld")
        .unwrap();
    change(held);
    Schema::parse_str(&json.to_string()).unwrap()
}

/// A booking-events schema from the future: BookingHeld has an optional `note`
/// and a new event kind is appended to the payload union.
fn future_booking_events() -> Schema {
    let mut json = booking_events_json();
    let branches = payload_branches(&mut json);
    let held = branches
        .iter_mut()
        .find(|b| b["name"] == "BookingHeld")
        .unwrap();
    held["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "note", "type": ["null", "string"], "default": null, "doc": "new"}));
    branches.push(json!({
        "type": "record", "name": "BookingSplit", "namespace": "com.slotstream.v1",
        "fields": [{"name": "booking_id", "type": "string"}, {"name": "at", "type": "long"}]
    }));
    Schema::parse_str(&json.to_string()).unwrap()
}

#[test]
fn the_guard_reports_a_new_field_without_a_default() {
    let current = Envelope::<BookingEvent>::schema();
    let broken = booking_events_with(|held| {
        held["fields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "discount_code", "type": "string", "doc": "new"}));
    });
    let err = backward_compatible(current, &broken).unwrap_err();
    assert!(err.contains("discount_code"), "{err}");
    // And a real read of old data with that schema fails the same way.
    let sample = envelope_samples(booking_event_branches()).remove(1);
    let datum = to_avro_datum(current, sample.to_avro()).unwrap();
    assert!(apache_avro::from_avro_datum(current, &mut &datum[..], Some(&broken)).is_err());
}

#[test]
fn the_guard_reports_a_removed_enum_symbol_and_a_changed_field_type() {
    let current = Envelope::<BookingEvent>::schema();
    let narrowed = booking_events_with(|held| {
        held["fields"][0]["type"] = json!("int"); // command_id: string -> int
    });
    assert!(backward_compatible(current, &narrowed).is_err());
    let mut json: Json =
        serde_json::from_str(subject_json("slotstream.payment-commands-value").unwrap()).unwrap();
    let submit = &mut json["fields"][3]["type"][0];
    let outcome = submit["fields"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["name"] == "outcome")
        .unwrap();
    outcome["type"]["symbols"] = json!(["SUCCEEDED"]);
    let fewer_symbols = Schema::parse_str(&json.to_string()).unwrap();
    let (_, payment_commands) = CompiledSchemas::subjects()[5];
    assert!(backward_compatible(payment_commands, &fewer_symbols).is_err());
}

/// Sets BookingHeld's new `note` field when `envelope` holds a BookingHeld;
/// true when it did.
fn set_note(envelope: &mut Value, note: &str) -> bool {
    if let Value::Record(fields) = envelope
        && let Value::Union(_, payload) = &mut fields[3].1
        && let Value::Record(held) = payload.as_mut()
        && let Some((name, value)) = held.last_mut()
        && name == "note"
    {
        *value = Value::Union(1, Box::new(Value::String(note.to_owned())));
        return true;
    }
    false
}

#[test]
fn the_guard_accepts_an_optional_field_with_a_default_and_a_branch_added_at_the_end() {
    let current = Envelope::<BookingEvent>::schema();
    assert_eq!(
        backward_compatible(current, &future_booking_events()),
        Ok(())
    );
}

/// A future producer adds an optional field to BookingHeld and a new event at
/// the end of the union; consumers on today's schemas keep reading everything
/// they know, and a record of the unknown kind is an error, never a panic.
#[test]
fn todays_consumers_read_records_from_a_compatible_future_version() {
    let future = Arc::new(future_booking_events());

    #[derive(Debug)]
    struct Future(Arc<Schema>);
    impl SchemaResolver for Future {
        fn id_for(&self, subject: &str) -> Option<u32> {
            CompiledSchemas::new().id_for(subject)
        }
        fn schema_for(&self, id: u32) -> Option<Arc<Schema>> {
            (id == 77).then(|| Arc::clone(&self.0))
        }
    }
    let codec = Codec::new(Arc::new(Future(Arc::clone(&future))));
    let frame = |datum: Vec<u8>| [vec![0, 0, 0, 0, 77], datum].concat();

    let mut notes = 0;
    for sample in envelope_samples(booking_event_branches()) {
        let mut value = sample.to_avro().resolve(&future).unwrap();
        notes += usize::from(set_note(&mut value, "written by the future"));
        let bytes = frame(to_avro_datum(&future, value).unwrap());
        assert_eq!(codec.decode::<Envelope<BookingEvent>>(&bytes), Ok(sample));
    }
    assert_eq!(notes, 1, "the BookingHeld sample carried a note");

    let mut unknown = envelope_samples(booking_event_branches())
        .remove(0)
        .to_avro();
    if let Value::Record(fields) = &mut unknown {
        // The branch after today's last one: the future's new kind.
        let next = u32::try_from(booking_event_branches().len()).unwrap();
        fields[3].1 = Value::Union(
            next,
            Box::new(Value::Record(vec![
                ("booking_id".into(), "b".into()),
                ("at".into(), Value::Long(1)),
            ])),
        );
    }
    let bytes = frame(to_avro_datum(&future, unknown).unwrap());
    assert!(matches!(
        codec.decode::<Envelope<BookingEvent>>(&bytes),
        Err(CodecError::Avro(_))
    ));
}

/// apache-avro's resolver picks a union branch by shape, not by index (the
/// README's rule: a new record must not have the fields of an earlier
/// branch, or a superset of them): any value, resolved against its own
/// current schema, must come back as itself, on its own branch.
fn resolves_to_itself<T: Contract>(v: &T) -> Result<(), TestCaseError> {
    let value = v.to_avro();
    let resolved = value
        .clone()
        .resolve(T::schema())
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", T::SUBJECT)))?;
    prop_assert_eq!(
        resolved,
        value,
        "{}: resolved to another branch",
        T::SUBJECT
    );
    Ok(())
}

proptest! {
    #[test]
    fn booking_commands_resolve_to_their_own_branch(v in envelope(any_of(booking_command_branches()))) {
        resolves_to_itself(&v)?;
    }

    #[test]
    fn booking_events_resolve_to_their_own_branch(v in envelope(any_of(booking_event_branches()))) {
        resolves_to_itself(&v)?;
    }

    #[test]
    fn payment_commands_resolve_to_their_own_branch(v in envelope(any_of(payment_command_branches()))) {
        resolves_to_itself(&v)?;
    }

    #[test]
    fn payment_events_resolve_to_their_own_branch(v in envelope(any_of(payment_event_branches()))) {
        resolves_to_itself(&v)?;
    }

    #[test]
    fn identity_commands_resolve_to_their_own_branch(v in envelope(any_of(identity_command_branches()))) {
        resolves_to_itself(&v)?;
    }

    #[test]
    fn identity_events_resolve_to_their_own_branch(v in envelope(any_of(identity_event_branches()))) {
        resolves_to_itself(&v)?;
    }

    #[test]
    fn replies_resolve_to_their_own_branch(v in reply(any_of(reply_payload_branches()))) {
        resolves_to_itself(&v)?;
    }
}
