//! The resolver against the schema registry `scripts/engines/registry.sh`
//! starts (SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL). Without it the tests fail,
//! saying how to start one: nothing passes by skipping.

use slotstream_registry::{RegistryOptions, RegistryResolver};
use slotstream_schemas::{Codec, CompiledSchemas, DeadLetter, SchemaResolver};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn registry_url() -> String {
    std::env::var("SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL").expect(
        "SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL is unset: start a registry with \
         `eval \"$(scripts/engines/registry.sh start)\"` (scripts/test.sh does)",
    )
}

fn namespace() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("reg{nanos:x}x{}", N.fetch_add(1, Ordering::Relaxed))
}

fn options() -> RegistryOptions {
    let mut o = RegistryOptions::new(registry_url());
    o.namespace = namespace();
    o
}

fn get_json(url: &str) -> serde_json::Value {
    let body = std::thread::scope(|s| {
        s.spawn(|| {
            reqwest::blocking::get(url)
                .and_then(|r| r.error_for_status())
                .and_then(|r| r.text())
        })
        .join()
        .expect("thread")
    })
    .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}: {body}"))
}

fn letter() -> DeadLetter {
    DeadLetter {
        topic: "slotstream.booking-commands".into(),
        partition: 1,
        offset: 7,
        key: b"r-1".to_vec(),
        value: vec![1, 2, 3],
        reason: "test".into(),
        dead_lettered_at: 1_700_000_000_000,
    }
}

#[test]
fn every_subject_is_registered_under_its_namespaced_topic_name() {
    let opts = options();
    let resolver = RegistryResolver::connect(opts.clone()).expect("connect");
    let url = registry_url();
    let subjects = get_json(&format!("{url}/subjects"));
    let subjects: Vec<&str> = subjects
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for (subject, _) in CompiledSchemas::subjects() {
        let wire = format!("{}.{subject}", opts.namespace);
        assert!(
            subjects.contains(&wire.as_str()),
            "{wire} not in {subjects:?}"
        );
        let id = resolver.id_for(subject).expect("an id for every subject");
        let by_id = get_json(&format!("{url}/schemas/ids/{id}"));
        let text = by_id["schema"].as_str().expect("schema text");
        let registered = apache_avro::Schema::parse_str(text).expect("registered schema parses");
        let ours = resolver.schema_for(id).expect("our schema by id");
        assert_eq!(
            registered.canonical_form(),
            ours.canonical_form(),
            "{subject}"
        );
    }
}

#[test]
fn subjects_get_backward_compatibility() {
    let opts = options();
    RegistryResolver::connect(opts.clone()).expect("connect");
    let url = registry_url();
    let subject = format!("{}.slotstream.booking-events-value", opts.namespace);
    let config = get_json(&format!("{url}/config/{subject}"));
    let level = config["compatibilityLevel"]
        .as_str()
        .or_else(|| config["compatibility"].as_str())
        .unwrap_or_default();
    assert_eq!(level, "BACKWARD", "{config}");
}

#[test]
fn a_second_start_gets_the_same_ids_and_reads_the_first_ones_records() {
    let opts = options();
    let first = Arc::new(RegistryResolver::connect(opts.clone()).expect("first"));
    let second = Arc::new(RegistryResolver::connect(opts).expect("second"));
    for (subject, _) in CompiledSchemas::subjects() {
        assert_eq!(first.id_for(subject), second.id_for(subject), "{subject}");
    }
    let bytes = Codec::new(first.clone()).encode(&letter()).expect("encode");
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    assert_eq!(Some(id), first.id_for("slotstream.dead-letters-value"));
    let back: DeadLetter = Codec::new(second).decode(&bytes).expect("decode");
    assert_eq!(back, letter());
}

#[test]
fn an_id_the_registry_never_issued_is_unknown_not_a_panic() {
    let resolver = RegistryResolver::connect(options()).expect("connect");
    assert!(resolver.schema_for(u32::MAX - 7).is_none());
    // Asked again within the retry window: still unknown, answered from the miss cache.
    assert!(resolver.schema_for(u32::MAX - 7).is_none());
    let mut bytes = Codec::new(Arc::new(resolver))
        .encode(&letter())
        .expect("encode")
        .to_vec();
    bytes[1..5].copy_from_slice(&(u32::MAX - 7).to_be_bytes());
    let err = Codec::embedded().decode::<DeadLetter>(&bytes).unwrap_err();
    assert!(err.to_string().contains("schema"), "{err}");
}

#[test]
fn an_unreachable_registry_is_a_clear_error() {
    let mut opts = RegistryOptions::new("http://127.0.0.1:9");
    opts.timeout = std::time::Duration::from_secs(2);
    let err = RegistryResolver::connect(opts).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1:9") && text.contains("reachable"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_connects_and_is_dropped_inside_an_async_runtime() {
    let opts = options();
    let resolver = tokio::task::spawn_blocking(move || RegistryResolver::connect(opts))
        .await
        .expect("join")
        .expect("connect");
    let codec = Codec::new(Arc::new(resolver));
    let bytes = codec.encode(&letter()).expect("encode");
    assert_eq!(
        codec.decode::<DeadLetter>(&bytes).expect("decode"),
        letter()
    );
    drop(codec);
}

#[test]
fn a_schema_the_registry_finds_incompatible_stops_the_start_with_its_reason() {
    let opts = options();
    let url = registry_url();
    let subject = format!("{}.slotstream.dead-letters-value", opts.namespace);
    // An earlier "version" that lacks fields ours requires without defaults:
    // under BACKWARD, our schema could not read its records.
    let old = serde_json::json!({
        "schema": serde_json::json!({
            "type": "record", "name": "DeadLetter", "namespace": "com.slotstream.v1",
            "fields": [{"name": "topic", "type": "string"}]
        }).to_string()
    });
    // Apicurio's in-memory store answers 409 now and then when other tests
    // write their own subjects at the same instant (a storage conflict, not
    // a verdict on this subject): the setup tries a bounded number of times,
    // and the test fails with the last answer if it never gets through.
    let setup = || {
        std::thread::scope(|s| {
            s.spawn(|| {
                let client = reqwest::blocking::Client::new();
                let put = client
                    .put(format!("{url}/config/{subject}"))
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .body(r#"{"compatibility":"BACKWARD"}"#)
                    .send()?;
                if !put.status().is_success() {
                    return Ok(Some(format!(
                        "PUT config: {} {}",
                        put.status(),
                        put.text()?
                    )));
                }
                let post = client
                    .post(format!("{url}/subjects/{subject}/versions"))
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .body(old.to_string())
                    .send()?;
                if !post.status().is_success() {
                    return Ok(Some(format!(
                        "POST version: {} {}",
                        post.status(),
                        post.text()?
                    )));
                }
                Ok::<_, reqwest::Error>(None)
            })
            .join()
            .expect("thread")
        })
    };
    let mut last = None;
    for attempt in 0..5u64 {
        match setup().expect("the registry answers") {
            None => {
                last = None;
                break;
            }
            Some(answer) => {
                assert!(
                    answer.contains("409"),
                    "the old version registers: {answer}"
                );
                last = Some(answer);
                std::thread::sleep(std::time::Duration::from_millis(100 * (attempt + 1)));
            }
        }
    }
    assert!(last.is_none(), "the old version registers: {last:?}");
    let err = RegistryResolver::connect(opts).unwrap_err();
    assert!(
        matches!(err, slotstream_registry::RegistryError::Refused { ref subject, .. } if subject.ends_with("dead-letters-value")),
        "{err}"
    );
}
