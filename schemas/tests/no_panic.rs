//! Decoding never panics, whatever the bytes: random input, truncated records,
//! corrupted records, and records read through another subject's schema.

mod common;

use common::*;
use proptest::prelude::*;
use slotstream_domain::booking::{BookingCommand, BookingEvent};
use slotstream_domain::identity::{IdentityCommand, IdentityEvent};
use slotstream_domain::payment::{PaymentCommand, PaymentEvent};
use slotstream_schemas::{Codec, CodecError, Contract, DeadLetter, Envelope, Reply};
use std::fmt::Debug;

/// Decodes `bytes` as `T`; when that succeeds, the value must survive another
/// encode/decode unchanged (what we accept, we can faithfully write back).
fn decode_is_total<T: Contract + PartialEq + Debug>(codec: &Codec, bytes: &[u8]) -> bool {
    match codec.decode::<T>(bytes) {
        Ok(v) => {
            let again = codec.encode(&v).and_then(|b| codec.decode::<T>(&b));
            again.as_ref() == Ok(&v)
        }
        Err(_) => true,
    }
}

/// Runs [`decode_is_total`] for every contract type.
fn decode_any(codec: &Codec, bytes: &[u8]) -> bool {
    decode_is_total::<Envelope<BookingCommand>>(codec, bytes)
        && decode_is_total::<Envelope<BookingEvent>>(codec, bytes)
        && decode_is_total::<Envelope<PaymentCommand>>(codec, bytes)
        && decode_is_total::<Envelope<PaymentEvent>>(codec, bytes)
        && decode_is_total::<Envelope<IdentityCommand>>(codec, bytes)
        && decode_is_total::<Envelope<IdentityEvent>>(codec, bytes)
        && decode_is_total::<Reply>(codec, bytes)
        && decode_is_total::<DeadLetter>(codec, bytes)
}

/// A wire-format header with a known id (1..=10, retired ones included) or an
/// unknown one.
fn header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (1u32..=10).prop_map(|id| [&[0u8][..], &id.to_be_bytes()].concat()),
        1 => any::<[u8; 5]>().prop_map(|h| h.to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(decode_any(&Codec::embedded(), &bytes));
    }

    #[test]
    fn random_datums_behind_a_valid_header_never_panic(
        header in header(),
        datum in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let bytes = [header, datum].concat();
        prop_assert!(decode_any(&Codec::embedded(), &bytes));
    }
}

/// Every strict prefix of every sample fails to decode, with any subject's
/// schema, and a corrupted byte anywhere never panics.
struct Mangle {
    codec: Codec,
    prefixes: usize,
}

impl Visit for Mangle {
    fn visit<T: Contract + PartialEq + Debug + Clone>(&mut self, samples: Vec<T>) {
        for sample in samples {
            let bytes = self.codec.encode(&sample).unwrap();
            for len in 0..bytes.len() {
                let prefix = &bytes[..len];
                assert!(
                    self.codec.decode::<T>(prefix).is_err(),
                    "{} prefix of {len} bytes decoded",
                    T::SUBJECT
                );
                assert!(decode_any(&self.codec, prefix));
                self.prefixes += 1;
            }
            for i in 5..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut corrupt = bytes.to_vec();
                    corrupt[i] ^= flip;
                    assert!(decode_any(&self.codec, &corrupt));
                }
            }
        }
    }
}

#[test]
fn truncated_records_are_errors_and_corrupted_ones_never_panic() {
    let mut mangle = Mangle {
        codec: Codec::embedded(),
        prefixes: 0,
    };
    visit_all(&mut mangle);
    assert!(mangle.prefixes > 1000, "{} prefixes", mangle.prefixes);
}

#[test]
fn a_huge_declared_string_length_is_an_error_not_an_allocation_failure() {
    // event_id declares 2^62 bytes, far past apache-avro's allocation limit.
    let mut bytes = vec![0, 0, 0, 0, 1];
    bytes.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    let codec = Codec::embedded();
    assert!(matches!(
        codec.decode::<Envelope<BookingCommand>>(&bytes),
        Err(CodecError::Avro(_))
    ));
}
