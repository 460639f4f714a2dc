//! What a vendor declares (a [`ScheduleSpec`]) and its checked, compiled
//! form (a [`Schedule`]).

use jiff::civil::Date;
use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most ranges one weekday or one exception date may have.
pub const MAX_RANGES_PER_DAY: usize = 48;
/// Most dated exceptions one schedule may have.
pub const MAX_EXCEPTIONS: usize = 1000;
/// Minutes in a day; a range may end at 24:00 (`1440`).
const DAY_MINUTES: u16 = 1440;

/// A local time range `[start, end)` within one day, in minutes since local
/// midnight: `0 <= start < end <= 1440` (1440 is 24:00, the next midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalRange {
    /// Opening, minutes since local midnight.
    pub start_minute: u16,
    /// Closing (exclusive), minutes since local midnight; at most 1440.
    pub end_minute: u16,
}

impl LocalRange {
    /// `[start, end)` from hours and minutes, e.g. `hm(9, 0, 17, 30)`.
    pub const fn hm(start_h: u16, start_m: u16, end_h: u16, end_m: u16) -> Self {
        Self {
            start_minute: start_h * 60 + start_m,
            end_minute: end_h * 60 + end_m,
        }
    }
}

/// A calendar date in the resource's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalDate {
    /// Year, 1900 to 8999.
    pub year: i16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, from 1.
    pub day: u8,
}

impl LocalDate {
    /// The date `year-month-day` (checked when the schedule is compiled).
    pub const fn new(year: i16, month: u8, day: u8) -> Self {
        Self { year, month, day }
    }
}

/// Hours that replace the weekly ones on one date: no ranges means closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateException {
    /// The local date.
    pub date: LocalDate,
    /// Its opening hours that day; empty: closed all day.
    pub hours: Vec<LocalRange>,
}

/// A resource's opening hours as declared: plain data, what travels and is
/// stored. [`Schedule::new`] checks and compiles it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// IANA time zone name (`Europe/Berlin`); the hours are local to it.
    pub timezone: String,
    /// Opening hours per weekday, Monday first; an empty day is closed.
    /// Within a day, ranges must not overlap (they may touch).
    pub weekly: [Vec<LocalRange>; 7],
    /// Dated exceptions, at most one per date.
    pub exceptions: Vec<DateException>,
}

/// A broken schedule or rule: which field, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSchedule {
    /// The offending field (`weekly[2][0]`, `exceptions[4].date`, ...).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl InvalidSchedule {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A checked schedule, ready to answer: its zone resolved from the bundled
/// tz database and its ranges sorted.
#[derive(Clone, Debug)]
pub struct Schedule {
    spec: ScheduleSpec,
    pub(crate) tz: TimeZone,
    /// Per weekday (Monday = 0), sorted `(start, end)` minutes.
    pub(crate) weekly: [Vec<(u16, u16)>; 7],
    pub(crate) exceptions: BTreeMap<Date, Vec<(u16, u16)>>,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for Schedule {}

fn ranges(field: &str, hours: &[LocalRange]) -> Result<Vec<(u16, u16)>, InvalidSchedule> {
    if hours.len() > MAX_RANGES_PER_DAY {
        return Err(InvalidSchedule::new(
            field,
            format!("at most {MAX_RANGES_PER_DAY} ranges a day"),
        ));
    }
    let mut out = Vec::with_capacity(hours.len());
    for (i, r) in hours.iter().enumerate() {
        if r.start_minute >= r.end_minute || r.end_minute > DAY_MINUTES {
            return Err(InvalidSchedule::new(
                format!("{field}[{i}]"),
                "a range needs 0 <= start_minute < end_minute <= 1440",
            ));
        }
        out.push((r.start_minute, r.end_minute));
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(InvalidSchedule::new(
            field,
            "ranges of one day must not overlap",
        ));
    }
    Ok(out)
}

impl Schedule {
    /// Checks `spec` and compiles it: a zone of the bundled IANA database
    /// (names match without regard to ASCII case), ranges within a day and
    /// disjoint, valid dates from 1900 to 8999, one exception per date, and
    /// the size limits.
    pub fn new(spec: ScheduleSpec) -> Result<Self, InvalidSchedule> {
        // The bundled database by name, not the process-wide one: that one
        // would read the system's zoneinfo first if any crate in the build
        // turned on jiff's default features.
        let tz = TimeZoneDatabase::bundled()
            .get(&spec.timezone)
            .map_err(|_| InvalidSchedule::new("timezone", "not a known IANA time zone name"))?;
        let mut weekly: [Vec<(u16, u16)>; 7] = Default::default();
        for (day, hours) in spec.weekly.iter().enumerate() {
            weekly[day] = ranges(&format!("weekly[{day}]"), hours)?;
        }
        if spec.exceptions.len() > MAX_EXCEPTIONS {
            return Err(InvalidSchedule::new(
                "exceptions",
                format!("at most {MAX_EXCEPTIONS} exceptions"),
            ));
        }
        let mut exceptions = BTreeMap::new();
        for (i, ex) in spec.exceptions.iter().enumerate() {
            let d = ex.date;
            let in_range = (1900..=8999).contains(&d.year) && d.month <= 12 && d.day <= 31;
            let date = in_range
                .then(|| Date::new(d.year, d.month as i8, d.day as i8).ok())
                .flatten()
                .ok_or_else(|| {
                    InvalidSchedule::new(
                        format!("exceptions[{i}].date"),
                        "not a valid date between 1900 and 8999",
                    )
                })?;
            let hours = ranges(&format!("exceptions[{i}].hours"), &ex.hours)?;
            if exceptions.insert(date, hours).is_some() {
                return Err(InvalidSchedule::new(
                    format!("exceptions[{i}].date"),
                    "this date already has an exception",
                ));
            }
        }
        Ok(Self {
            spec,
            tz,
            weekly,
            exceptions,
        })
    }

    /// What it was compiled from.
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    /// The sorted `(start, end)` minute ranges of local date `date`.
    pub(crate) fn hours_on(&self, date: Date) -> &[(u16, u16)] {
        match self.exceptions.get(&date) {
            Some(hours) => hours,
            None => &self.weekly[date.weekday().to_monday_zero_offset() as usize],
        }
    }
}
