//! The Confluent wire format, byte for byte, and the codec's typed errors.

mod common;

use apache_avro::types::Value;
use apache_avro::{Schema, from_avro_datum, to_avro_datum};
use common::*;
use proptest::prelude::*;
use slotstream_domain::booking::{BookingCommand, BookingEvent};
use slotstream_schemas::{
    Codec, CodecError, CompiledSchemas, Contract, DeadLetter, Envelope, Reply, SchemaResolver,
};
use std::fmt::Debug;
use std::sync::Arc;

#[test]
fn compiled_schema_ids_are_pinned_to_their_subjects() {
    let expected = [
        "slotstream.booking-commands-value",
        "slotstream.booking-events-value",
        "slotstream.dead-letters-value",
        "slotstream.identity-commands-value",
        "slotstream.identity-events-value",
        "slotstream.payment-commands-value",
        "slotstream.payment-events-value",
        "slotstream.replies-value",
    ];
    let resolver = CompiledSchemas::new();
    let subjects: Vec<&str> = CompiledSchemas::subjects()
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(subjects, expected);
    for (i, (subject, schema)) in CompiledSchemas::subjects().iter().enumerate() {
        let id = u32::try_from(i + 1).unwrap();
        assert_eq!(resolver.id_for(subject), Some(id));
        assert_eq!(resolver.schema_for(id).as_deref(), Some(*schema));
    }
    assert_eq!(resolver.id_for("slotstream.unknown-value"), None);
    assert!(resolver.schema_for(0).is_none());
    assert!(resolver.schema_for(9).is_none());
}

#[test]
fn each_contract_names_its_topic_value_subject() {
    assert_eq!(
        <Envelope<BookingCommand>>::SUBJECT,
        "slotstream.booking-commands-value"
    );
    assert_eq!(
        <Envelope<BookingEvent>>::SUBJECT,
        "slotstream.booking-events-value"
    );
    assert_eq!(Reply::SUBJECT, "slotstream.replies-value");
    assert_eq!(DeadLetter::SUBJECT, "slotstream.dead-letters-value");
    let subjects = CompiledSchemas::subjects();
    assert!(
        subjects
            .iter()
            .any(|(s, schema)| *s == Reply::SUBJECT && std::ptr::eq(*schema, Reply::schema()))
    );
}

/// Checks the frame of every sample against apache-avro itself.
struct FrameIsConfluent {
    codec: Codec,
    checked: usize,
}

impl Visit for FrameIsConfluent {
    fn visit<T: Contract + PartialEq + Debug + Clone>(&mut self, samples: Vec<T>) {
        let id = CompiledSchemas::new().id_for(T::SUBJECT).unwrap();
        for sample in samples {
            let bytes = self.codec.encode(&sample).unwrap();
            assert_eq!(bytes[0], 0, "magic byte");
            assert_eq!(bytes[1..5], id.to_be_bytes(), "big-endian schema id");
            let mut datum = &bytes[5..];
            let value = from_avro_datum(T::schema(), &mut datum, None).unwrap();
            assert!(datum.is_empty(), "the datum is the whole rest");
            assert_eq!(value, sample.to_avro());
            let reference = to_avro_datum(T::schema(), sample.to_avro()).unwrap();
            assert_eq!(bytes[5..], reference[..], "same bytes as apache-avro");
            self.checked += 1;
        }
    }
}

#[test]
fn every_record_is_magic_byte_big_endian_id_and_an_avro_datum() {
    let mut check = FrameIsConfluent {
        codec: Codec::embedded(),
        checked: 0,
    };
    visit_all(&mut check);
    assert_eq!(check.checked, 63);
}

proptest! {
    #[test]
    fn the_fast_writer_writes_what_apache_avro_writes(v in reply(any_of(reply_payload_branches()))) {
        let bytes = Codec::embedded().encode(&v).unwrap();
        let reference = to_avro_datum(Reply::schema(), v.to_avro()).unwrap();
        prop_assert_eq!(&bytes[5..], &reference[..]);
    }
}

fn letter() -> DeadLetter {
    dead_letter_samples().remove(0)
}

#[test]
fn fewer_than_five_bytes_are_too_short() {
    let codec = Codec::embedded();
    for len in 0..5 {
        let bytes = vec![0u8; len];
        assert_eq!(
            codec.decode::<DeadLetter>(&bytes),
            Err(CodecError::TooShort)
        );
    }
}

#[test]
fn a_first_byte_other_than_zero_is_a_bad_magic_byte() {
    let codec = Codec::embedded();
    let mut bytes = codec.encode(&letter()).unwrap().to_vec();
    bytes[0] = 0xc3;
    assert_eq!(
        codec.decode::<DeadLetter>(&bytes),
        Err(CodecError::BadMagic(0xc3))
    );
}

#[test]
fn an_id_the_resolver_does_not_know_is_reported() {
    let codec = Codec::embedded();
    let mut bytes = codec.encode(&letter()).unwrap().to_vec();
    bytes[1..5].copy_from_slice(&999u32.to_be_bytes());
    assert_eq!(
        codec.decode::<DeadLetter>(&bytes),
        Err(CodecError::UnknownSchemaId(999))
    );
}

#[test]
fn bytes_after_the_datum_are_rejected() {
    let codec = Codec::embedded();
    let mut bytes = codec.encode(&letter()).unwrap().to_vec();
    bytes.push(0);
    assert!(matches!(
        codec.decode::<DeadLetter>(&bytes),
        Err(CodecError::Avro(_))
    ));
}

#[test]
fn a_record_of_another_subject_does_not_decode_as_this_one() {
    let codec = Codec::embedded();
    let event = envelope_samples(booking_event_branches()).remove(1);
    let bytes = codec.encode(&event).unwrap();
    assert!(codec.decode::<Envelope<BookingCommand>>(&bytes).is_err());
    assert!(codec.decode::<DeadLetter>(&bytes).is_err());
}

/// A registry-like resolver: other ids, and nothing for the dead letters.
#[derive(Debug)]
struct Registry;

impl SchemaResolver for Registry {
    fn id_for(&self, subject: &str) -> Option<u32> {
        let i = CompiledSchemas::subjects()
            .iter()
            .position(|(s, _)| *s == subject && *s != DeadLetter::SUBJECT)?;
        Some(1000 + u32::try_from(i).unwrap())
    }

    fn schema_for(&self, id: u32) -> Option<Arc<Schema>> {
        let i = usize::try_from(id.checked_sub(1000)?).ok()?;
        let (_, schema) = CompiledSchemas::subjects().get(i)?;
        Some(Arc::new((*schema).clone()))
    }
}

#[test]
fn ids_come_from_the_resolver() {
    let codec = Codec::new(Arc::new(Registry));
    let reply = reply_samples().remove(0);
    let bytes = codec.encode(&reply).unwrap();
    assert_eq!(bytes[1..5], 1007u32.to_be_bytes());
    assert_eq!(codec.decode::<Reply>(&bytes).unwrap(), reply);
    // The embedded codec knows no id 1007.
    assert_eq!(
        Codec::embedded().decode::<Reply>(&bytes),
        Err(CodecError::UnknownSchemaId(1007))
    );
}

#[test]
fn a_subject_without_an_id_cannot_be_written() {
    let codec = Codec::new(Arc::new(Registry));
    assert_eq!(
        codec.encode(&letter()),
        Err(CodecError::NoSchemaFor(DeadLetter::SUBJECT.to_owned()))
    );
}

#[test]
fn numbers_too_large_for_their_avro_type_fail_to_encode() {
    let codec = Codec::embedded();
    let big_partition = DeadLetter {
        partition: u32::MAX,
        ..letter()
    };
    assert!(matches!(
        codec.encode(&big_partition),
        Err(CodecError::Mapping { what }) if what.contains("partition")
    ));
    let big_offset = DeadLetter {
        offset: u64::MAX,
        ..letter()
    };
    assert!(matches!(
        codec.encode(&big_offset),
        Err(CodecError::Mapping { what }) if what.contains("offset")
    ));
    let largest = DeadLetter {
        partition: i32::MAX as u32,
        offset: i64::MAX as u64,
        ..letter()
    };
    assert_eq!(
        codec.decode::<DeadLetter>(&codec.encode(&largest).unwrap()),
        Ok(largest)
    );
}

#[test]
fn a_negative_partition_on_the_wire_is_a_mapping_error() {
    let mut value = letter().to_avro();
    if let Value::Record(fields) = &mut value {
        fields[1].1 = Value::Int(-1);
    }
    let mut bytes = vec![0, 0, 0, 0, 3];
    bytes.extend(to_avro_datum(DeadLetter::schema(), value).unwrap());
    match Codec::embedded().decode::<DeadLetter>(&bytes) {
        Err(CodecError::Mapping { what }) => assert!(what.contains("partition"), "{what}"),
        other => panic!("expected a mapping error, got {other:?}"),
    }
}

#[test]
fn codec_errors_say_what_to_do() {
    let messages = [
        CodecError::TooShort.to_string(),
        CodecError::BadMagic(7).to_string(),
        CodecError::UnknownSchemaId(9).to_string(),
        CodecError::NoSchemaFor("x-value".into()).to_string(),
        CodecError::Avro("eof".into()).to_string(),
        CodecError::Mapping { what: "x".into() }.to_string(),
    ];
    for m in &messages {
        assert!(
            m.contains("dead-letter") || m.contains("register") || m.contains("point"),
            "{m}"
        );
    }
    assert!(messages[1].contains("0x07"));
}

#[test]
fn avro_errors_never_carry_record_data() {
    use slotstream_domain::booking::BookingEvent as E;
    use slotstream_schemas::ReplyPayload;
    let mut reply = reply_samples().remove(1);
    let ReplyPayload::Booking(E::BookingHeld(held)) = &mut reply.payload else {
        panic!("sample 1 is a BookingHeld reply");
    };
    held.user_email = "secret@example.com".into();
    let codec = Codec::embedded();
    let bytes = codec.encode(&reply).unwrap();
    // A reply is no booking command: resolving it fails deep in the payload.
    match codec.decode::<Envelope<BookingCommand>>(&bytes) {
        Err(CodecError::Avro(message)) => {
            assert!(!message.contains("secret"), "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected an Avro error, got {other:?}"),
    }
}
