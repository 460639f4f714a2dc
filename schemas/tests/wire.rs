//! The Confluent wire format, byte for byte, and the codec's typed errors.

mod common;

use apache_avro::types::Value;
use apache_avro::{Schema, from_avro_datum, to_avro_datum};
use common::*;
use proptest::prelude::*;
use slotstream_domain::booking::{BookingCommand, BookingEvent};
use slotstream_domain::identity::IdentityEvent;
use slotstream_domain::payment::{
    PaymentCommand, PaymentCompleted, PaymentEvent, PaymentIntentCreated, PaymentStatus,
};
use slotstream_domain::schedule::BookingRules;
use slotstream_schemas::{
    Codec, CodecError, CompiledSchemas, Contract, DeadLetter, Envelope, Reply, ReplyPayload,
    SchemaResolver,
};
use std::fmt::Debug;
use std::sync::Arc;

#[test]
fn compiled_schema_ids_are_pinned_to_their_subjects() {
    let expected = [
        ("slotstream.booking-commands-value", 20),
        ("slotstream.booking-events-value", 17),
        ("slotstream.dead-letters-value", 3),
        ("slotstream.identity-commands-value", 31),
        ("slotstream.identity-events-value", 32),
        ("slotstream.payment-commands-value", 13),
        ("slotstream.payment-events-value", 27),
        ("slotstream.replies-value", 34),
    ];
    let resolver = CompiledSchemas::new();
    let current: Vec<(&str, u32)> = CompiledSchemas::subjects()
        .iter()
        .map(|(s, _)| (*s, resolver.id_for(s).unwrap()))
        .collect();
    assert_eq!(current, expected);
    for (subject, schema) in CompiledSchemas::subjects() {
        let id = resolver.id_for(subject).unwrap();
        assert_eq!(resolver.schema_for(id).as_deref(), Some(*schema));
    }
    // Versions that were replaced keep their ids, and are read there.
    let retired: Vec<(u32, &str)> = CompiledSchemas::retired()
        .map(|(id, subject, _)| (id, subject))
        .collect();
    assert_eq!(
        retired,
        [
            (1, "slotstream.booking-commands-value"),
            (2, "slotstream.booking-events-value"),
            (4, "slotstream.identity-commands-value"),
            (5, "slotstream.identity-events-value"),
            (6, "slotstream.payment-commands-value"),
            (7, "slotstream.payment-events-value"),
            (8, "slotstream.replies-value"),
            (9, "slotstream.payment-events-value"),
            (10, "slotstream.replies-value"),
            (11, "slotstream.identity-commands-value"),
            (12, "slotstream.identity-events-value"),
            (14, "slotstream.payment-events-value"),
            (15, "slotstream.replies-value"),
            (16, "slotstream.booking-events-value"),
            (18, "slotstream.payment-events-value"),
            (19, "slotstream.replies-value"),
            (21, "slotstream.identity-commands-value"),
            (22, "slotstream.identity-events-value"),
            (28, "slotstream.replies-value")
        ]
    );
    for (id, subject, schema) in CompiledSchemas::retired() {
        assert_eq!(resolver.schema_for(id).as_deref(), Some(schema));
        let (_, now) = CompiledSchemas::subjects()
            .iter()
            .find(|(s, _)| *s == subject)
            .unwrap();
        assert_ne!(
            now.canonical_form(),
            schema.canonical_form(),
            "{id} was replaced"
        );
    }
    assert_eq!(resolver.id_for("slotstream.unknown-value"), None);
    assert!(resolver.schema_for(0).is_none());
    assert!(resolver.schema_for(23).is_none());
    assert!(resolver.schema_for(29).is_none());
    assert!(resolver.schema_for(40).is_none());
}

/// A payment event as a record written before `booking_start` and
/// `recorded_at` existed reads: without them.
fn without_new_fields(ev: PaymentEvent) -> PaymentEvent {
    match ev {
        PaymentEvent::PaymentIntentCreated(e) => {
            PaymentEvent::PaymentIntentCreated(PaymentIntentCreated {
                booking_start: None,
                hold_expires_at: None,
                ..e
            })
        }
        PaymentEvent::PaymentCompleted(e) => PaymentEvent::PaymentCompleted(PaymentCompleted {
            recorded_at: None,
            ..e
        }),
        other => other,
    }
}

/// The same event with both new fields set, so dropping them shows.
fn with_new_fields(ev: PaymentEvent) -> PaymentEvent {
    match ev {
        PaymentEvent::PaymentIntentCreated(e) => {
            PaymentEvent::PaymentIntentCreated(PaymentIntentCreated {
                booking_start: Some(1_700_000_000_000),
                hold_expires_at: Some(1_699_000_000_000),
                ..e
            })
        }
        PaymentEvent::PaymentCompleted(e) => PaymentEvent::PaymentCompleted(PaymentCompleted {
            recorded_at: Some(1_700_000_000_001),
            ..e
        }),
        other => other,
    }
}

/// Frames `sample` as the retired schema `id` would have written it and
/// decodes it with the embedded codec.
fn written_under<T: Contract + Debug>(id: u32, sample: &T) -> Result<T, CodecError> {
    let old = CompiledSchemas::new().schema_for(id).unwrap();
    let value = sample.to_avro().resolve(&old).unwrap();
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend(to_avro_datum(&old, value).unwrap());
    Codec::embedded().decode::<T>(&bytes)
}

/// An API-key event, or a webhook event (added after them).
fn is_api_key_event(ev: &IdentityEvent) -> bool {
    is_webhook_event(ev)
        || matches!(
            ev,
            IdentityEvent::ApiKeyCreated(_) | IdentityEvent::ApiKeyRevoked(_)
        )
}

fn is_webhook_event(ev: &IdentityEvent) -> bool {
    matches!(
        ev,
        IdentityEvent::WebhookCreated(_) | IdentityEvent::WebhookDeleted(_)
    )
}

/// The release before webhook subscriptions wrote identity commands,
/// identity events and replies under ids 21, 22 and 28; after the upgrade
/// every one of them still decodes, unchanged, and the new kinds do not fit
/// the old schemas.
#[test]
fn records_written_before_webhooks_still_decode() {
    use slotstream_domain::identity::IdentityCommand;
    let mut read = 0;
    for sample in envelope_samples(identity_command_branches()) {
        if matches!(
            sample.payload,
            IdentityCommand::CreateWebhook(_) | IdentityCommand::DeleteWebhook(_)
        ) {
            let old = CompiledSchemas::new().schema_for(21).unwrap();
            assert!(sample.to_avro().resolve(&old).is_err(), "{sample:?}");
            continue;
        }
        assert_eq!(written_under(21, &sample), Ok(sample.clone()));
        read += 1;
    }
    for sample in envelope_samples(identity_event_branches()) {
        if is_webhook_event(&sample.payload) {
            let old = CompiledSchemas::new().schema_for(22).unwrap();
            assert!(sample.to_avro().resolve(&old).is_err(), "{sample:?}");
            continue;
        }
        assert_eq!(written_under(22, &sample), Ok(sample.clone()));
        read += 1;
    }
    for sample in reply_samples() {
        if matches!(&sample.payload, ReplyPayload::Identity(ev) if is_webhook_event(ev)) {
            let old = CompiledSchemas::new().schema_for(28).unwrap();
            assert!(sample.to_avro().resolve(&old).is_err(), "{sample:?}");
            continue;
        }
        assert_eq!(written_under(28, &sample), Ok(sample.clone()));
        read += 1;
    }
    assert_eq!(read, 7 + 11 + 35);
}

/// Reply samples a release before API keys could write.
fn replies_before_api_keys() -> Vec<Reply> {
    reply_samples()
        .into_iter()
        .filter(|r| !matches!(&r.payload, ReplyPayload::Identity(ev) if is_api_key_event(ev)))
        .collect()
}

/// The release before API keys wrote identity commands and identity
/// events under ids 11 and 12; after the upgrade every one of them still
/// decodes, unchanged, and the new kinds do not fit the old schemas (so
/// nothing old can hold one). (Its replies, under 15, are read by the
/// schedules test.)
#[test]
fn records_written_before_api_keys_still_decode() {
    use slotstream_domain::identity::IdentityCommand;
    let mut read = 0;
    for sample in envelope_samples(identity_command_branches()) {
        if matches!(
            sample.payload,
            IdentityCommand::CreateApiKey(_)
                | IdentityCommand::RevokeApiKey(_)
                | IdentityCommand::CreateWebhook(_)
                | IdentityCommand::DeleteWebhook(_)
        ) {
            let old = CompiledSchemas::new().schema_for(11).unwrap();
            assert!(sample.to_avro().resolve(&old).is_err(), "{sample:?}");
            continue;
        }
        assert_eq!(written_under(11, &sample), Ok(sample.clone()));
        read += 1;
    }
    for sample in envelope_samples(identity_event_branches()) {
        if is_api_key_event(&sample.payload) {
            continue;
        }
        assert_eq!(written_under(12, &sample), Ok(sample.clone()));
        read += 1;
    }
    assert_eq!(read, 5 + 9);
}

/// Whether a record only exists since payments can be unknown
/// (`PaymentStatusUnknown`, `BookingPaymentDelayed`, the `UNKNOWN` status),
/// or since the payment side learns a booking's move
/// (`PaymentBookingRescheduled`): nothing written under an earlier id can
/// hold one.
fn since_unknown_payments(payload: &ReplyPayload) -> bool {
    matches!(
        payload,
        ReplyPayload::Booking(BookingEvent::BookingPaymentDelayed(_))
            | ReplyPayload::Payment(
                PaymentEvent::PaymentStatusUnknown(_)
                    | PaymentEvent::RefundUnconfirmed(_)
                    | PaymentEvent::RefundConfirmed(_)
                    | PaymentEvent::PaymentBookingRescheduled(_)
            )
    ) || matches!(
        payload,
        ReplyPayload::Payment(PaymentEvent::PaymentRefunded(r)) if r.status == PaymentStatus::Unknown
    )
}

/// An embedded log written by the previous release holds payment events
/// and replies under ids 7 and 8; after the upgrade they still decode, the
/// fields that release did not write reading as absent.
#[test]
fn records_written_under_a_retired_id_still_decode() {
    let mut new_fields = 0;
    for mut sample in envelope_samples(payment_event_branches()) {
        if since_unknown_payments(&ReplyPayload::Payment(sample.payload.clone())) {
            continue;
        }
        sample.payload = with_new_fields(sample.payload);
        let expected = Envelope {
            payload: without_new_fields(sample.payload.clone()),
            ..sample.clone()
        };
        new_fields += usize::from(expected != sample);
        assert_eq!(written_under(7, &sample), Ok(expected));
    }
    for mut sample in replies_before_api_keys() {
        // The login-lock answers did not exist in that release: nothing
        // written under id 8 can hold one.
        if matches!(
            &sample.payload,
            ReplyPayload::Identity(
                IdentityEvent::AccountLocked(_)
                    | IdentityEvent::AccountUnlocked(_)
                    | IdentityEvent::UnlockRejected(_)
            ) | ReplyPayload::Booking(BookingEvent::BookingPaymentStarted(_))
        ) || since_unknown_payments(&sample.payload)
        {
            continue;
        }
        if is_scheduling(&mut sample.payload) {
            continue;
        }
        let mut expected = sample.clone();
        if let ReplyPayload::Payment(ev) = sample.payload.clone() {
            sample.payload = ReplyPayload::Payment(with_new_fields(ev.clone()));
            expected.payload = ReplyPayload::Payment(without_new_fields(ev));
            new_fields += usize::from(expected != sample);
        }
        before_schedules(&mut expected.payload);
        assert_eq!(written_under(8, &sample), Ok(expected));
    }
    assert_eq!(new_fields, 4, "two records of each subject had new fields");
}

/// A booking event as read from a release before schedules: a resource
/// without schedule or rules.
fn before_schedules_event(ev: &mut BookingEvent) {
    if let BookingEvent::ResourceRegistered(e) = ev {
        e.resource.schedule = None;
        e.resource.rules = BookingRules::default();
    }
}

fn before_schedules(p: &mut ReplyPayload) {
    if let ReplyPayload::Booking(ev) = p {
        before_schedules_event(ev);
    }
}

/// True for the event no release before schedules could write; a
/// rejection with one of the new reasons gets an old reason instead.
fn new_with_schedules(ev: &mut BookingEvent) -> bool {
    use slotstream_domain::booking::{CancellationRejectionReason as C, RejectionReason as R};
    if new_with_reschedules(ev) {
        return true;
    }
    match ev {
        BookingEvent::ResourceScheduleChanged(_) => return true,
        BookingEvent::BookingRejected(e)
            if matches!(e.reason, R::OutsideHours | R::TooSoon | R::TooFar) =>
        {
            e.reason = R::InvalidRequest;
        }
        BookingEvent::CancellationRejected(e) if e.reason == C::TooLateToCancel => {
            e.reason = C::NotCancellable;
        }
        _ => {}
    }
    false
}

/// True for the event no release before reschedules could write; a
/// rejection with one of the reschedule reasons gets an old reason instead.
fn new_with_reschedules(ev: &mut BookingEvent) -> bool {
    use slotstream_domain::booking::RejectionReason as R;
    match ev {
        BookingEvent::BookingRescheduled(_) => return true,
        BookingEvent::BookingRejected(e)
            if matches!(
                e.reason,
                R::BookingNotFound | R::NotReschedulable | R::TooLateToModify | R::PriceChanged
            ) =>
        {
            e.reason = R::InvalidRequest;
        }
        _ => {}
    }
    false
}

fn is_scheduling(p: &mut ReplyPayload) -> bool {
    match p {
        ReplyPayload::Booking(ev) => new_with_schedules(ev),
        _ => false,
    }
}

/// The release before schedules and unknown payments wrote booking
/// commands, booking events and replies under ids 1, 16 and 15; after the
/// upgrade they still decode, a resource reading as one without schedule
/// or rules.
#[test]
fn records_written_before_schedules_still_decode() {
    let mut stripped = 0;
    for sample in envelope_samples(booking_command_branches()) {
        let mut expected = sample.clone();
        match &mut expected.payload {
            BookingCommand::UpdateResourceSchedule(_) | BookingCommand::RescheduleBooking(_) => {
                continue;
            }
            BookingCommand::RegisterResource(c) => {
                c.resource.schedule = None;
                c.resource.rules = BookingRules::default();
            }
            _ => {}
        }
        stripped += usize::from(expected != sample);
        assert_eq!(written_under(1, &sample), Ok(expected));
    }
    for mut sample in envelope_samples(booking_event_branches()) {
        if new_with_schedules(&mut sample.payload)
            || since_unknown_payments(&ReplyPayload::Booking(sample.payload.clone()))
        {
            continue;
        }
        let mut expected = sample.clone();
        before_schedules_event(&mut expected.payload);
        stripped += usize::from(expected != sample);
        assert_eq!(written_under(16, &sample), Ok(expected));
    }
    for mut sample in replies_before_api_keys() {
        if is_scheduling(&mut sample.payload) || since_unknown_payments(&sample.payload) {
            continue;
        }
        let mut expected = sample.clone();
        before_schedules(&mut expected.payload);
        assert_eq!(written_under(15, &sample), Ok(expected));
    }
    assert!(stripped >= 1, "samples with schedules or rules: {stripped}");
}

/// A record as the release before the hold deadline was shared wrote it:
/// without `SubmitCheckout.appended_at` and
/// `PaymentIntentCreated.hold_expires_at`.
fn before_hold_deadline<T: Clone>(sample: &T, strip: impl Fn(&mut T)) -> T {
    let mut old = sample.clone();
    strip(&mut old);
    old
}

fn strip_payment_event(ev: &mut PaymentEvent) {
    if let PaymentEvent::PaymentIntentCreated(e) = ev {
        e.hold_expires_at = None;
    }
}

/// The previous release wrote payment commands, payment events and replies
/// under ids 6, 9 and 10; after the upgrade they still decode, the new
/// fields reading as absent.
#[test]
fn records_written_before_the_hold_deadline_was_shared_still_decode() {
    let mut new_fields = 0;
    for mut sample in envelope_samples(payment_command_branches()) {
        if let PaymentCommand::SubmitCheckout(c) = &mut sample.payload {
            c.appended_at = Some(1_700_000_000_000);
        }
        let expected = before_hold_deadline(&sample, |s| {
            if let PaymentCommand::SubmitCheckout(c) = &mut s.payload {
                c.appended_at = None;
            }
        });
        new_fields += usize::from(expected != sample);
        assert_eq!(written_under(6, &sample), Ok(expected));
    }
    for mut sample in envelope_samples(payment_event_branches()) {
        if since_unknown_payments(&ReplyPayload::Payment(sample.payload.clone())) {
            continue;
        }
        sample.payload = with_new_fields(sample.payload);
        let expected = before_hold_deadline(&sample, |s| strip_payment_event(&mut s.payload));
        new_fields += usize::from(expected != sample);
        assert_eq!(written_under(9, &sample), Ok(expected));
    }
    for mut sample in envelope_samples(booking_event_branches()) {
        if matches!(
            sample.payload,
            BookingEvent::BookingPaymentStarted(_) | BookingEvent::BookingPaymentDelayed(_)
        ) || new_with_schedules(&mut sample.payload)
        {
            continue; // not in that release
        }
        let mut expected = sample.clone();
        before_schedules_event(&mut expected.payload);
        assert_eq!(written_under(2, &sample), Ok(expected));
    }
    for mut sample in replies_before_api_keys() {
        if matches!(
            sample.payload,
            ReplyPayload::Booking(BookingEvent::BookingPaymentStarted(_))
        ) || since_unknown_payments(&sample.payload)
            || is_scheduling(&mut sample.payload)
        {
            continue; // not in that release
        }
        if let ReplyPayload::Payment(ev) = &sample.payload {
            sample.payload = ReplyPayload::Payment(with_new_fields(ev.clone()));
        }
        let expected = before_hold_deadline(&sample, |s| {
            if let ReplyPayload::Payment(ev) = &mut s.payload {
                strip_payment_event(ev);
            }
            before_schedules(&mut s.payload);
        });
        new_fields += usize::from(expected != sample);
        assert_eq!(written_under(10, &sample), Ok(expected));
    }
    assert!(new_fields >= 2, "samples with the new fields: {new_fields}");
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
    assert_eq!(check.checked, 93);
}

proptest! {
    #[test]
    fn the_fast_writer_writes_what_apache_avro_writes(v in reply(any_of(reply_payload_branches()))) {
        let bytes = Codec::embedded().encode(&v).unwrap();
        let reference = to_avro_datum(Reply::schema(), v.to_avro()).unwrap();
        prop_assert_eq!(&bytes[5..], &reference[..]);
    }
}

/// The frame's datum is apache-avro's datum of the same value.
fn writes_what_apache_avro_writes<T: Contract>(v: &T) -> Result<(), TestCaseError> {
    let bytes = Codec::embedded().encode(v).unwrap();
    let reference = to_avro_datum(T::schema(), v.to_avro()).unwrap();
    prop_assert_eq!(&bytes[5..], &reference[..]);
    Ok(())
}

proptest! {
    #[test]
    fn every_booking_command_is_written_as_apache_avro_writes_it(
        v in envelope(any_of(booking_command_branches()))
    ) {
        writes_what_apache_avro_writes(&v)?;
    }

    #[test]
    fn every_booking_event_is_written_as_apache_avro_writes_it(
        v in envelope(any_of(booking_event_branches()))
    ) {
        writes_what_apache_avro_writes(&v)?;
    }

    #[test]
    fn every_payment_command_is_written_as_apache_avro_writes_it(
        v in envelope(any_of(payment_command_branches()))
    ) {
        writes_what_apache_avro_writes(&v)?;
    }

    #[test]
    fn every_payment_event_is_written_as_apache_avro_writes_it(
        v in envelope(any_of(payment_event_branches()))
    ) {
        writes_what_apache_avro_writes(&v)?;
    }

    #[test]
    fn every_identity_command_is_written_as_apache_avro_writes_it(
        v in envelope(any_of(identity_command_branches()))
    ) {
        writes_what_apache_avro_writes(&v)?;
    }

    #[test]
    fn every_identity_event_is_written_as_apache_avro_writes_it(
        v in envelope(any_of(identity_event_branches()))
    ) {
        writes_what_apache_avro_writes(&v)?;
    }

    #[test]
    fn every_dead_letter_is_written_as_apache_avro_writes_it(v in dead_letter()) {
        writes_what_apache_avro_writes(&v)?;
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

/// The field named `name` of a record value.
fn field_mut<'a>(v: &'a mut Value, name: &str) -> &'a mut Value {
    let v = match v {
        Value::Union(_, inner) => &mut **inner,
        v => v,
    };
    let Value::Record(fields) = v else {
        panic!("not a record");
    };
    &mut fields.iter_mut().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn a_mapping_error_names_the_path_from_the_envelope_to_the_field() {
    let command = envelope_samples(booking_command_branches()).remove(0);
    let mut value = command.to_avro();
    let price = field_mut(
        field_mut(field_mut(&mut value, "payload"), "resource"),
        "price",
    );
    *field_mut(price, "unit_minutes") = Value::Int(-1);
    let mut bytes = vec![0, 0, 0, 0, 20];
    bytes.extend(to_avro_datum(<Envelope<BookingCommand>>::schema(), value).unwrap());
    match Codec::embedded().decode::<Envelope<BookingCommand>>(&bytes) {
        Err(CodecError::Mapping { what }) => assert_eq!(
            what,
            "BookingCommandEnvelope.payload: RegisterResource.resource: Resource.price: \
             Price.unit_minutes: -1 is not a u32"
        ),
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

/// The release before the payment side learnt a booking's moves wrote
/// payment events and replies under ids 18 and 19; after the upgrade every
/// record it could write still decodes, unchanged, and the new event does
/// not fit the old schemas.
#[test]
fn records_written_before_payments_learnt_moves_still_decode() {
    let moved = |p: &ReplyPayload| {
        matches!(
            p,
            ReplyPayload::Payment(PaymentEvent::PaymentBookingRescheduled(_))
        )
    };
    let mut read = 0;
    for sample in envelope_samples(payment_event_branches()) {
        if moved(&ReplyPayload::Payment(sample.payload.clone())) {
            let old = CompiledSchemas::new().schema_for(18).unwrap();
            assert!(sample.to_avro().resolve(&old).is_err(), "{sample:?}");
            continue;
        }
        assert_eq!(written_under(18, &sample), Ok(sample.clone()));
        read += 1;
    }
    for sample in reply_samples() {
        // Nor could it write the webhook events, which came later still.
        if moved(&sample.payload)
            || matches!(&sample.payload, ReplyPayload::Identity(ev) if is_webhook_event(ev))
        {
            continue;
        }
        assert_eq!(written_under(19, &sample), Ok(sample.clone()));
        read += 1;
    }
    assert_eq!(read, 10 + 34);
}

/// The same release wrote payment events under id 14; after the upgrade
/// every record it could write still decodes, unchanged.
#[test]
fn payment_events_written_before_payments_could_be_unknown_still_decode() {
    let mut read = 0;
    for sample in envelope_samples(payment_event_branches()) {
        if since_unknown_payments(&ReplyPayload::Payment(sample.payload.clone())) {
            continue;
        }
        assert_eq!(written_under(14, &sample), Ok(sample.clone()));
        read += 1;
    }
    assert!(read >= 6, "records read: {read}");
}
