//! A resource's opening hours and booking rules (`/v1/resources/{id}/schedule`)
//! and free slots, of one resource (`/v1/resources/{id}/slots`) or across
//! resources (`/v1/slots`).
//!
//! The booking processor that owns the resource's partition decides every
//! change and every booking; the slots answers run the same rules
//! (`slotstream_domain::schedule::free_slots`) over the views
//! ([`crate::slot_search`]), so they are hints that agree with the decision
//! unless the views lag or another booking lands first.

use super::{json, pending_decision, unexpected, view_error};
use crate::dto::*;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey};
use crate::ids;
use crate::render;
use crate::rfc3339;
use crate::slot_search::{self, MAX_SLOT_DAYS};
use crate::state::{Answer, AppState};
use crate::tokens::Caller;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use slotstream_domain::booking::{BookingCommand, BookingEvent, UpdateResourceSchedule};
use slotstream_domain::identity::Role;
use slotstream_domain::resource::{Resource, validate_resource};
use slotstream_domain::schedule::{
    BookingRules, DateException, LocalDate, LocalRange, ScheduleSpec,
};
use slotstream_domain::time::DAY;
use slotstream_domain::{Interval, ResourceId, UserId};
use slotstream_runtime::topics;
use slotstream_schemas::ReplyPayload;

/// Parses `HH:MM` (00:00 to 24:00) as minutes since midnight.
fn minute_of(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<u16> {
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        v.get(r)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<u16>().ok())
    };
    let parsed = (b.len() == 5 && b[2] == b':')
        .then(|| digits(0..2).zip(digits(3..5)))
        .flatten()
        .filter(|&(h, m)| m < 60 && (h < 24 || (h == 24 && m == 0)));
    match parsed {
        Some((h, m)) => Some(h * 60 + m),
        None => {
            errors.push(FieldError::new(
                field,
                "must be a time HH:MM from 00:00 to 24:00",
            ));
            None
        }
    }
}

fn ranges(field: &str, hours: &[OpeningDto], errors: &mut Vec<FieldError>) -> Vec<LocalRange> {
    hours
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let start = minute_of(&format!("{field}[{i}].start"), &o.start, errors);
            let end = minute_of(&format!("{field}[{i}].end"), &o.end, errors);
            Some(LocalRange {
                start_minute: start?,
                end_minute: end?,
            })
        })
        .collect()
}

/// Parses `YYYY-MM-DD` (whether the date exists is the schedule's check).
fn date_of(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<LocalDate> {
    let b = v.as_bytes();
    let num = |r: std::ops::Range<usize>| {
        v.get(r)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<i16>().ok())
    };
    let parsed = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| Some((num(0..4)?, num(5..7)?, num(8..10)?)))
        .flatten();
    match parsed {
        Some((y, m, d)) => Some(LocalDate::new(y, m as u8, d as u8)),
        None => {
            errors.push(FieldError::new(field, "must be a date YYYY-MM-DD"));
            None
        }
    }
}

/// The domain's schedule for `dto` in zone `timezone`, or the offending
/// fields (named as the request names them, under `prefix`).
pub fn schedule_spec(
    prefix: &str,
    timezone: &str,
    dto: &ScheduleDto,
) -> Result<ScheduleSpec, ApiError> {
    let mut errors = Vec::new();
    let w = &dto.weekly;
    let days = [
        ("monday", &w.monday),
        ("tuesday", &w.tuesday),
        ("wednesday", &w.wednesday),
        ("thursday", &w.thursday),
        ("friday", &w.friday),
        ("saturday", &w.saturday),
        ("sunday", &w.sunday),
    ];
    let weekly =
        days.map(|(name, hours)| ranges(&format!("{prefix}.weekly.{name}"), hours, &mut errors));
    let exceptions = dto
        .exceptions
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let field = format!("{prefix}.exceptions[{i}]");
            let date = date_of(&format!("{field}.date"), &e.date, &mut errors);
            let hours = ranges(&format!("{field}.hours"), &e.hours, &mut errors);
            Some(DateException { date: date?, hours })
        })
        .collect();
    if errors.is_empty() {
        Ok(ScheduleSpec {
            timezone: timezone.to_owned(),
            weekly,
            exceptions,
        })
    } else {
        Err(ApiError::validation(errors))
    }
}

/// The domain's rules for `dto` (absent fields: zero, no horizon).
pub fn booking_rules(dto: Option<&RulesDto>) -> BookingRules {
    dto.map_or_else(BookingRules::default, |r| BookingRules {
        buffer_before_minutes: r.buffer_before_minutes.unwrap_or(0),
        buffer_after_minutes: r.buffer_after_minutes.unwrap_or(0),
        min_notice_minutes: r.min_notice_minutes.unwrap_or(0),
        max_horizon_minutes: r.max_horizon_minutes,
        modify_notice_minutes: r.modify_notice_minutes.unwrap_or(0),
    })
}

/// Checks a resource's schedule and rules as the processor will, with the
/// schedule's errors named after the request's fields (`schedule.weekly...`
/// for the compiled schedule's `weekly[0]...`).
pub fn validate(r: &Resource) -> Result<(), ApiError> {
    validate_resource(r).map_err(|v| {
        let (field, message) = match v.field {
            "schedule" | "rules" => match v.message.split_once(": ") {
                Some((inner, m)) => (format!("{}.{}", v.field, day_names(inner)), m.to_owned()),
                None => (v.field.to_owned(), v.message.clone()),
            },
            other => (other.to_owned(), v.message.clone()),
        };
        ApiError::validation(vec![FieldError::new(field, message)])
    })
}

/// `weekly[2]...` as the API spells it: `weekly.wednesday...`.
fn day_names(inner: &str) -> String {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    match inner.strip_prefix("weekly[") {
        Some(rest) => match rest.split_once(']') {
            Some((d, tail)) => match d.parse::<usize>().ok().and_then(|d| DAYS.get(d)) {
                Some(day) => format!("weekly.{day}{tail}"),
                None => inner.to_owned(),
            },
            None => inner.to_owned(),
        },
        None => inner.to_owned(),
    }
}

/// A resource's opening hours and booking rules.
#[utoipa::path(get, path = "/v1/resources/{id}/schedule", tag = "resources",
    params(("id" = String, Path, description = "Resource id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Opening hours (null: always open) and rules", body = ScheduleAnswerDto),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
    ))]
pub async fn get_schedule(
    State(st): State<AppState>,
    _caller: Caller,
    read: crate::consistency::ReadAfter,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = st
        .resource_for(&ResourceId(id), &read)
        .await?
        .ok_or_else(|| ApiError::not_found("resource"))?;
    Ok(json(StatusCode::OK, &render::schedule_answer(&r)))
}

/// Replace a resource's opening hours (weekly hours and dated exceptions,
/// local to the resource's `timezone`) and its booking rules, in one
/// request (its vendor only). Existing bookings are never cancelled: the
/// answer lists the active ones now outside the hours. New rules apply to
/// requests decided after the change.
#[utoipa::path(put, path = "/v1/resources/{id}/schedule", tag = "resources", request_body = ScheduleRequest,
    params(("id" = String, Path, description = "Resource id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Optional; retries with the same key return the first answer", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; `outside_hours` lists the active bookings now outside the hours", body = ScheduleChangedDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; retry after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not the resource's vendor", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn put_schedule(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ScheduleRequest>,
) -> Result<Response, ApiError> {
    let id = ResourceId(id);
    let current = st
        .resource(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("resource"))?;
    if caller.role != Role::Vendor || current.vendor_id != caller.user_id {
        return Err(ApiError::forbidden(
            "only the resource's vendor can change its schedule",
        ));
    }
    st.limits.write(caller.user_id.as_str())?;
    let schedule = body
        .schedule
        .as_ref()
        .map(|s| schedule_spec("schedule", &current.timezone, s))
        .transpose()?
        .map(Box::new);
    let rules = booking_rules(body.rules.as_ref());
    let updated = Resource {
        schedule: schedule.clone(),
        rules,
        ..current.clone()
    };
    validate(&updated)?;
    let command_id = match IdempotencyKey::optional(&headers)? {
        Some(k) => ids::command_id(&caller.user_id, &format!("schedule\0{id}\0{}", k.0)),
        None => ids::fresh_command_id(),
    };
    let cmd = BookingCommand::UpdateResourceSchedule(UpdateResourceSchedule {
        command_id: command_id.clone(),
        resource_id: id.clone(),
        vendor_id: caller.user_id.clone(),
        schedule,
        rules,
        requested_at: st.now(),
    });
    match st
        .ask(
            "update_schedule",
            topics::BOOKING_COMMANDS,
            id.as_str(),
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => Ok(pending_decision(id)),
        Answer::Replied(p, token) => match &*p {
            ReplyPayload::Booking(BookingEvent::ResourceScheduleChanged(e)) => {
                st.metrics.decision("update_schedule", "changed");
                st.recent
                    .resources
                    .put(e.updated.id.clone(), e.updated.clone(), st.now());
                Ok(super::decided(
                    StatusCode::OK,
                    &ScheduleChangedDto {
                        current: render::schedule_answer(&e.updated),
                        outside_hours: e.outside_hours.iter().map(ToString::to_string).collect(),
                    },
                    token.as_ref(),
                ))
            }
            other => Err(unexpected("update_schedule", other)),
        },
    }
}

/// Parses a slot search's window: `[from, to)`, at most [`MAX_SLOT_DAYS`].
fn slot_window(
    from: Option<&str>,
    to: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<Interval> {
    let mut parse = |field: &str, v: Option<&str>| match v {
        None => {
            errors.push(FieldError::new(field, "is required (RFC 3339)"));
            None
        }
        Some(v) => rfc3339::parse(field, v).map_err(|e| errors.push(e)).ok(),
    };
    let (from, to) = (parse("from", from), parse("to", to));
    let (f, t) = from.zip(to)?;
    if t <= f {
        errors.push(FieldError::new("to", "must be after from"));
        None
    } else if t - f > MAX_SLOT_DAYS * DAY {
        errors.push(FieldError::new(
            "to",
            format!("must be at most {MAX_SLOT_DAYS} days after from"),
        ));
        None
    } else {
        Some(Interval::new(f, t))
    }
}

/// Parses a slot search's `duration`, a whole number of minutes.
fn slot_minutes(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<u32> {
    match raw.map(str::parse::<u32>) {
        None => {
            errors.push(FieldError::new("duration", "is required (minutes)"));
            None
        }
        Some(Err(_)) => {
            errors.push(FieldError::new(
                "duration",
                "must be a whole number of minutes",
            ));
            None
        }
        Some(Ok(d)) => Some(d),
    }
}

/// Parses the slot query against resource `r`: the window (at most
/// [`MAX_SLOT_DAYS`]) and the duration in minutes, which must fit `r`.
fn slot_query(r: &Resource, q: &SlotsQuery) -> Result<(Interval, u32), ApiError> {
    let mut errors = Vec::new();
    let window = slot_window(q.from.as_deref(), q.to.as_deref(), &mut errors);
    let duration = slot_minutes(q.duration.as_deref(), &mut errors);
    if duration.is_some_and(|d| !slot_search::fits(r, d)) {
        errors.push(FieldError::new(
            "duration",
            format!(
                "must be a multiple of {} minutes from {} to {}",
                r.slot_minutes, r.min_minutes, r.max_minutes
            ),
        ));
    }
    match (window, duration) {
        (Some(w), Some(d)) if errors.is_empty() => Ok((w, d)),
        // The contract's one answer to invalid fields, as the availability
        // query gives it.
        _ => Err(ApiError::validation(errors)),
    }
}

/// Longest duration a cross-resource search takes, minutes (a year, the
/// longest billing unit).
const MAX_SEARCH_MINUTES: u32 = 525_600;

/// Parses `GET /v1/slots`: filters, window, duration (1 to a year; whether
/// it fits is each resource's question), limit.
fn search_query(q: SlotSearchQuery) -> Result<slot_search::Search, ApiError> {
    let mut errors = Vec::new();
    let window = slot_window(q.from.as_deref(), q.to.as_deref(), &mut errors);
    let mut duration = slot_minutes(q.duration.as_deref(), &mut errors);
    if duration.is_some_and(|d| d == 0 || d > MAX_SEARCH_MINUTES) {
        errors.push(FieldError::new(
            "duration",
            format!("must be from 1 to {MAX_SEARCH_MINUTES} minutes"),
        ));
        duration = None;
    }
    let limit = match super::page_limit(q.limit.as_deref()) {
        Ok(l) => Some(l),
        Err(e) => {
            errors.extend(e.errors);
            None
        }
    };
    match (window, duration, limit) {
        (Some(window), Some(minutes), Some(limit)) if errors.is_empty() => {
            Ok(slot_search::Search {
                vendor: q.vendor_id.map(UserId),
                kind: q.kind,
                window,
                minutes,
                limit,
                cursor: q.cursor.filter(|c| !c.is_empty()),
            })
        }
        _ => Err(ApiError::validation(errors)),
    }
}

/// The start instants a booking of `duration` minutes could take on a
/// resource in `[from, to)`: inside its opening hours, clear of other
/// pending or confirmed bookings and both bookings' buffers, and within its
/// minimum notice and horizon as of now, on its slot grid. Each in UTC and
/// on the resource's wall clock. A hint: the booking processor decides, so
/// a slot taken meanwhile is refused with `slot_unavailable`.
#[utoipa::path(get, path = "/v1/resources/{id}/slots", tag = "resources",
    params(("id" = String, Path, description = "Resource id"), SlotsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Bookable starts, by start", body = SlotsDto),
        (status = 422, description = "`validation_failed` (from, to, duration)", body = Problem),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
    ))]
pub async fn slots(
    State(st): State<AppState>,
    _caller: Caller,
    read: crate::consistency::ReadAfter,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<Response, ApiError> {
    let id = ResourceId(id);
    let r = st
        .resource_for(&id, &read)
        .await?
        .ok_or_else(|| ApiError::not_found("resource"))?;
    let (window, minutes) = slot_query(&r, &q)?;
    let answer = slot_search::resource_slots(&*st.views, &r, window, minutes, st.now())
        .await
        .map_err(view_error)?;
    Ok(json(StatusCode::OK, &answer))
}

/// Free slots across resources: for each resource of `kind` and/or
/// `vendor_id` (both optional), by id, that has a free slot of `duration`
/// minutes in `[from, to)`, the answer `GET /v1/resources/{id}/slots` gives
/// (same rules, same bookings). Resources whose grid or limits do not allow
/// `duration` are left out. Paginated: follow `next_cursor`; each page looks
/// at no more than 1 000 resources and lists no more than `limit` of them
/// and 10 000 slots in all. A hint, as each resource's own answer.
#[utoipa::path(get, path = "/v1/slots", tag = "resources",
    params(SlotSearchQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of resources with free slots, by resource id", body = SlotSearchPage),
        (status = 422, description = "`validation_failed` (from, to, duration, limit, cursor)", body = Problem),
        (status = 401, description = "`unauthorized`", body = Problem),
    ))]
pub async fn search(
    State(st): State<AppState>,
    _caller: Caller,
    read: crate::consistency::ReadAfter,
    ApiQuery(q): ApiQuery<SlotSearchQuery>,
) -> Result<Response, ApiError> {
    let q = search_query(q)?;
    let now = st.now();
    // With a consistency token the views have applied the write it names:
    // their rows, not a remembered copy that may be older.
    let fresher = |id: &ResourceId| {
        if read.0.is_some() {
            None
        } else {
            st.recent.resources.get(id, now)
        }
    };
    let page = slot_search::search(&*st.views, &q, &fresher, now)
        .await
        .map_err(view_error)?;
    Ok(json(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_domain::fixtures;

    #[test]
    fn wall_clock_times_and_dates_parse_strictly() {
        let mut errors = Vec::new();
        assert_eq!(minute_of("t", "09:30", &mut errors), Some(570));
        assert_eq!(minute_of("t", "24:00", &mut errors), Some(1440));
        assert!(errors.is_empty());
        for bad in ["24:01", "9:30", "09:60", "0930", "ab:cd", "09:30:00"] {
            assert_eq!(minute_of("t", bad, &mut errors), None, "{bad}");
        }
        assert_eq!(errors.len(), 6);
        assert_eq!(
            date_of("d", "2030-12-24", &mut errors),
            Some(LocalDate::new(2030, 12, 24))
        );
        assert_eq!(date_of("d", "2030-1-24", &mut errors), None);
    }

    #[test]
    fn a_schedule_error_names_the_request_field() {
        let r = Resource {
            timezone: "Europe/Paris".into(),
            ..fixtures::resource("r", "v")
        };
        let overlapping = ScheduleDto {
            weekly: WeekDto {
                wednesday: vec![
                    OpeningDto {
                        start: "09:00".into(),
                        end: "12:00".into(),
                    },
                    OpeningDto {
                        start: "11:00".into(),
                        end: "13:00".into(),
                    },
                ],
                ..WeekDto::default()
            },
            exceptions: Vec::new(),
        };
        let spec = schedule_spec("schedule", &r.timezone, &overlapping).unwrap();
        let e = validate(&Resource {
            schedule: Some(Box::new(spec)),
            ..r.clone()
        })
        .unwrap_err();
        assert_eq!(e.errors[0].field, "schedule.weekly.wednesday");
        let bad_time = ScheduleDto {
            exceptions: vec![ExceptionDto {
                date: "2030-02-30".into(),
                hours: vec![OpeningDto {
                    start: "25:00".into(),
                    end: "26:00".into(),
                }],
            }],
            ..ScheduleDto::default()
        };
        let e = schedule_spec("schedule", &r.timezone, &bad_time).unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "schedule.exceptions[0].hours[0].start",
                "schedule.exceptions[0].hours[0].end"
            ]
        );
    }

    #[test]
    fn a_slot_query_needs_a_bounded_window_and_a_fitting_duration() {
        let r = fixtures::resource("r", "v");
        let q = |from: &str, to: &str, d: &str| SlotsQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            duration: Some(d.into()),
        };
        let ok = slot_query(&r, &q("2030-01-01T00:00:00Z", "2030-03-04T00:00:00Z", "60"));
        assert_eq!(ok.map(|(_, d)| d), Ok(60));
        let e =
            slot_query(&r, &q("2030-01-01T00:00:00Z", "2030-03-04T00:00:01Z", "60")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "validation_failed"));
        assert_eq!(e.errors[0].field, "to");
        let e =
            slot_query(&r, &q("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z", "50")).unwrap_err();
        assert_eq!(e.errors[0].field, "duration");
        let e = slot_query(
            &r,
            &SlotsQuery {
                from: None,
                to: None,
                duration: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.errors.len(), 3);
    }

    #[test]
    fn a_search_query_needs_a_window_a_positive_duration_and_a_page_size() {
        let q = |d: &str, limit: Option<&str>| SlotSearchQuery {
            kind: Some("court".into()),
            vendor_id: None,
            from: Some("2030-01-01T00:00:00Z".into()),
            to: Some("2030-01-08T00:00:00Z".into()),
            duration: Some(d.into()),
            limit: limit.map(Into::into),
            cursor: Some(String::new()),
        };
        let ok = search_query(q("50", None)).unwrap();
        assert_eq!((ok.minutes, ok.limit, ok.cursor), (50, 20, None));
        assert_eq!(ok.kind.as_deref(), Some("court"));
        for (d, limit, field) in [
            ("0", None, "duration"),
            ("525601", None, "duration"),
            ("1.5", None, "duration"),
            ("60", Some("0"), "limit"),
            ("60", Some("101"), "limit"),
        ] {
            let e = search_query(q(d, limit)).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (422, "validation_failed"));
            assert_eq!(e.errors[0].field, field, "{d} {limit:?}");
        }
        let e = search_query(SlotSearchQuery {
            to: Some("2030-03-05T00:00:00Z".into()),
            ..q("60", None)
        })
        .unwrap_err();
        assert_eq!(e.errors[0].field, "to");
    }
}
