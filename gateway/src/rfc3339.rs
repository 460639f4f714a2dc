//! RFC 3339 timestamps at the edge: any offset accepted on input, UTC `Z` on
//! output, millisecond precision inside (the domain's `Millis`).

use crate::error::FieldError;
use slotstream_domain::Millis;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Parses `value` of `field`; finer than a millisecond is refused rather than
/// silently truncated (a slot boundary must be exact).
pub fn parse(field: &str, value: &str) -> Result<Millis, FieldError> {
    let dt = OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|_| {
        FieldError::new(
            field,
            "must be an RFC 3339 timestamp such as 2030-01-31T09:00:00Z",
        )
    })?;
    let nanos = dt.unix_timestamp_nanos();
    if nanos % 1_000_000 != 0 {
        return Err(FieldError::new(
            field,
            "must have at most millisecond precision",
        ));
    }
    Millis::try_from(nanos / 1_000_000).map_err(|_| FieldError::new(field, "is out of range"))
}

/// Formats `ms` as RFC 3339 in UTC (`...Z`), with fractional seconds only when
/// they are not zero.
pub fn format(ms: Millis) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000);
    match dt.ok().and_then(|d| d.format(&Rfc3339).ok()) {
        Some(s) => s,
        // Only for instants outside years 1..=9999, which no valid record holds.
        None => format!("{ms}ms-since-epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_offset_notations_of_one_instant_parse_equal() {
        let z = parse("start", "2030-01-31T09:00:00Z").unwrap();
        assert_eq!(z, 1_896_080_400_000);
        assert_eq!(parse("start", "2030-01-31T10:00:00+01:00").unwrap(), z);
        assert_eq!(parse("start", "2030-01-31t09:00:00z").unwrap(), z);
        assert_eq!(parse("start", "2030-01-31T09:00:00.250Z").unwrap(), z + 250);
    }

    #[test]
    fn output_is_utc_with_a_z_and_round_trips() {
        assert_eq!(format(1_896_080_400_000), "2030-01-31T09:00:00Z");
        assert_eq!(format(1_896_080_400_250), "2030-01-31T09:00:00.25Z");
        for ms in [0, 1, 999, 1_896_080_400_250, -86_400_000] {
            assert_eq!(parse("t", &format(ms)).unwrap(), ms);
        }
    }

    #[test]
    fn garbage_and_sub_millisecond_precision_are_field_errors() {
        for bad in [
            "",
            "tomorrow",
            "2030-01-31",
            "2030-01-31 09:00:00",
            "2030-13-01T00:00:00Z",
            "1896080400000",
        ] {
            let e = parse("end", bad).unwrap_err();
            assert_eq!(e.field, "end", "{bad:?}");
        }
        let e = parse("start", "2030-01-31T09:00:00.0000001Z").unwrap_err();
        assert!(e.message.contains("millisecond"));
    }

    #[test]
    fn out_of_range_instants_still_format() {
        assert!(!format(Millis::MAX).is_empty());
        assert!(!format(Millis::MIN).is_empty());
    }
}
