//! The `.avsc` files themselves: all embedded, all parsed, all used, all
//! documented, and following the conventions data teams rely on.

use apache_avro::Schema;
use serde_json::Value as Json;
use slotstream_schemas::{CompiledSchemas, avsc_files, subject_json};
use std::collections::BTreeSet;
use std::path::Path;

fn avro_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("avro")
}

#[test]
fn every_file_in_the_avro_directory_is_embedded_and_nothing_else() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(avro_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let embedded: BTreeSet<String> = avsc_files().iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, embedded);
    for (name, json) in avsc_files() {
        let disk = std::fs::read_to_string(avro_dir().join(name)).unwrap();
        assert_eq!(&disk, json, "{name} is stale: rebuild");
    }
}

#[test]
fn the_files_parse_as_one_set_with_references_across_files() {
    let parsed = Schema::parse_list(avsc_files().iter().map(|(_, j)| *j)).unwrap();
    assert_eq!(parsed.len(), avsc_files().len());
    for (schema, (file, _)) in parsed.iter().zip(avsc_files()) {
        let name = schema.name().unwrap();
        assert_eq!(format!("{}.avsc", name.name), *file);
        assert_eq!(name.namespace.as_deref(), Some("com.slotstream.v1"));
    }
}

fn collect_names(schema: &Schema, out: &mut BTreeSet<String>) {
    match schema {
        Schema::Record(r) => {
            out.insert(r.name.name.clone());
            r.fields.iter().for_each(|f| collect_names(&f.schema, out));
        }
        Schema::Enum(e) => {
            out.insert(e.name.name.clone());
        }
        Schema::Union(u) => u.variants().iter().for_each(|s| collect_names(s, out)),
        Schema::Array(a) => collect_names(&a.items, out),
        _ => {}
    }
}

#[test]
fn every_file_is_used_by_some_topic_schema() {
    let mut used = BTreeSet::new();
    for (_, schema) in CompiledSchemas::subjects() {
        collect_names(schema, &mut used);
    }
    let files: BTreeSet<String> = avsc_files()
        .iter()
        .map(|(n, _)| n.trim_end_matches(".avsc").to_owned())
        .collect();
    assert_eq!(used, files);
}

#[test]
fn every_subject_is_a_topic_value_subject_with_self_contained_json() {
    let topics = [
        "booking-commands",
        "booking-events",
        "dead-letters",
        "identity-commands",
        "identity-events",
        "payment-commands",
        "payment-events",
        "replies",
    ];
    for ((subject, schema), topic) in CompiledSchemas::subjects().iter().zip(topics) {
        assert_eq!(*subject, format!("slotstream.{topic}-value"));
        let json = subject_json(subject).unwrap();
        assert_eq!(&Schema::parse_str(json).unwrap(), *schema);
    }
    assert!(subject_json("slotstream.nope-value").is_none());
}

/// Walks every record, field and enum of the JSON files.
fn check_json(file: &str, node: &Json, problems: &mut Vec<String>) {
    let Json::Object(obj) = node else { return };
    let doc_ok = obj
        .get("doc")
        .and_then(Json::as_str)
        .is_some_and(|d| !d.is_empty());
    match obj.get("type").and_then(Json::as_str) {
        Some("record") => {
            if !doc_ok {
                problems.push(format!("{file}: record without doc"));
            }
            for f in obj["fields"].as_array().unwrap() {
                check_field(file, f, problems);
            }
        }
        Some("enum") => {
            if !doc_ok {
                problems.push(format!("{file}: enum without doc"));
            }
            for s in obj["symbols"].as_array().unwrap() {
                let s = s.as_str().unwrap();
                let upper_snake = s.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                if !upper_snake {
                    problems.push(format!("{file}: symbol {s} is not UPPER_SNAKE"));
                }
            }
        }
        _ => {}
    }
}

fn check_field(file: &str, f: &Json, problems: &mut Vec<String>) {
    let name = f["name"].as_str().unwrap();
    let doc = f.get("doc").and_then(Json::as_str).unwrap_or_default();
    if doc.is_empty() {
        problems.push(format!("{file}.{name}: no doc"));
    }
    let t = &f["type"];
    let is_instant =
        name.ends_with("_at") || name.ends_with("_start") || name == "start" || name == "end";
    // An optional instant is `["null", {long, timestamp-millis}]`.
    let instant = match t {
        Json::Array(branches) if branches.len() == 2 && branches[0] == "null" => &branches[1],
        other => other,
    };
    let is_timestamp =
        instant.get("logicalType").and_then(Json::as_str) == Some("timestamp-millis");
    if is_instant && !(is_timestamp && instant["type"] == "long") {
        problems.push(format!(
            "{file}.{name}: an instant must be long/timestamp-millis"
        ));
    }
    if let Json::Array(branches) = t
        && branches.iter().any(|b| b == "null")
        && (branches[0] != "null" || f.get("default") != Some(&Json::Null))
    {
        problems.push(format!(
            "{file}.{name}: optional must be [\"null\", T] default null"
        ));
    }
}

#[test]
fn a_type_used_many_times_is_defined_once_per_subject_and_referenced_by_full_name() {
    let reply = subject_json("slotstream.replies-value").unwrap();
    assert_eq!(reply.matches("\"name\": \"Money\"").count(), 1);
    assert!(reply.matches("\"com.slotstream.v1.Money\"").count() >= 5);
}

#[test]
fn every_record_field_and_enum_is_documented_and_follows_the_conventions() {
    let mut problems = Vec::new();
    for (file, json) in avsc_files() {
        let node: Json = serde_json::from_str(json).unwrap();
        check_json(file, &node, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_convention_check_catches_an_undocumented_field_and_a_plain_long_instant() {
    let bad: Json = serde_json::json!({
        "type": "record", "name": "Bad", "doc": "x",
        "fields": [
            {"name": "a", "type": "string"},
            {"name": "created_at", "type": "long", "doc": "x"},
            {"name": "o", "type": ["string", "null"], "doc": "x"},
            {"name": "paid_at", "type": ["null", "long"], "default": null, "doc": "x"},
            {"name": "ok_at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}],
             "default": null, "doc": "x"}
        ]
    });
    let mut problems = Vec::new();
    check_json("Bad.avsc", &bad, &mut problems);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems.iter().any(|p| p.contains("paid_at")),
        "{problems:#?}"
    );
}
