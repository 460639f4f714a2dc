//! Every command and event survives encode -> decode unchanged, whatever its
//! field values (any text, any instant, every enum symbol, every union branch).

mod common;

use common::*;
use proptest::prelude::*;
use slotstream_schemas::{Codec, Contract};
use std::fmt::Debug;

fn round_trip<T: Contract + PartialEq + Debug>(codec: &Codec, v: &T) -> Result<(), TestCaseError> {
    let bytes = codec
        .encode(v)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let back: T = codec
        .decode(&bytes)
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&back, v);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_booking_command_envelope_round_trips(v in envelope(any_of(booking_command_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_booking_event_envelope_round_trips(v in envelope(any_of(booking_event_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_payment_command_envelope_round_trips(v in envelope(any_of(payment_command_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_payment_event_envelope_round_trips(v in envelope(any_of(payment_event_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_identity_command_envelope_round_trips(v in envelope(any_of(identity_command_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_identity_event_envelope_round_trips(v in envelope(any_of(identity_event_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_reply_round_trips(v in reply(any_of(reply_payload_branches()))) {
        round_trip(&Codec::embedded(), &v)?;
    }

    #[test]
    fn any_dead_letter_round_trips(v in dead_letter()) {
        round_trip(&Codec::embedded(), &v)?;
    }
}

struct RoundTripsEveryBranch {
    codec: Codec,
    records: usize,
}

impl Visit for RoundTripsEveryBranch {
    fn visit<T: Contract + PartialEq + Debug + Clone>(&mut self, samples: Vec<T>) {
        for sample in samples {
            let bytes = self.codec.encode(&sample).expect("every sample encodes");
            let back: T = self.codec.decode(&bytes).expect("every sample decodes");
            assert_eq!(back, sample, "{} did not round-trip", T::SUBJECT);
            self.records += 1;
        }
    }
}

#[test]
fn one_sample_of_every_union_branch_round_trips() {
    let mut check = RoundTripsEveryBranch {
        codec: Codec::embedded(),
        records: 0,
    };
    visit_all(&mut check);
    // 5 + 13 + 2 + 11 + 9 + 13 envelope branches, 37 reply branches, 3 dead letters.
    assert_eq!(check.records, 53 + 37 + 3);
}
