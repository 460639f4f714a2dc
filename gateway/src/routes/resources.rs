//! `/v1/resources`: vendors register resources; anyone signed in reads them
//! and their busy time.

use super::{
    created_decided, json, page_limit, pending_decision, schedule, unexpected, view_error,
};
use crate::dto::*;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey};
use crate::ids;
use crate::render;
use crate::rfc3339;
use crate::state::{Answer, AppState};
use crate::tokens::Caller;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use slotstream_domain::booking::{BookingCommand, BookingEvent, RegisterResource};
use slotstream_domain::identity::Role;
use slotstream_domain::resource::{CancellationPolicy, Price, Resource, defaults};
use slotstream_domain::time::DAY;
use slotstream_domain::{ResourceId, UserId};
use slotstream_runtime::topics;
use slotstream_schemas::ReplyPayload;

/// Widest availability window, days.
const MAX_RANGE_DAYS: i64 = 366;
/// Longest billing unit, minutes (a year).
const MAX_UNIT_MINUTES: u32 = 525_600;
/// Longest refund window, hours (a year).
const MAX_POLICY_HOURS: u32 = 8_760;
/// Most busy intervals one availability answer lists.
const MAX_BUSY: usize = 10_000;

fn timezone_ok(tz: &str) -> bool {
    (1..=64).contains(&tz.len())
        && tz
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-/".contains(&b))
}

/// Register a bookable resource (vendors only). An optional `Idempotency-Key`
/// makes retries return the same resource. With a `schedule`, the resource
/// is bookable only in its opening hours (local to `timezone`, which must
/// then be an IANA zone); `rules` add buffers, notice and a horizon.
#[utoipa::path(post, path = "/v1/resources", tag = "resources", request_body = CreateResourceRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; retries with the same key return the same resource", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = ResourceDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; retry after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: customers cannot register resources", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateResourceRequest>,
) -> Result<Response, ApiError> {
    if caller.role != Role::Vendor {
        return Err(ApiError::forbidden("only vendors can register resources"));
    }
    st.limits.write(caller.user_id.as_str())?;
    let (command_id, id) = match IdempotencyKey::optional(&headers)? {
        Some(k) => {
            let c = ids::command_id(&caller.user_id, &format!("resources\0{}", k.0));
            let id = ids::resource_id_for(&c);
            (c, id)
        }
        None => (ids::fresh_command_id(), ids::new_resource_id()),
    };
    // Bounds of the record formats (Avro `int`) and of sense: a year.
    let mut errors = Vec::new();
    if body.price.unit_minutes > MAX_UNIT_MINUTES {
        errors.push(FieldError::new(
            "price.unit_minutes",
            format!("must be at most {MAX_UNIT_MINUTES} (a year)"),
        ));
    }
    if let Some(p) = &body.cancellation_policy {
        for (field, hours) in [
            ("cancellation_policy.full_refund_hours", p.full_refund_hours),
            (
                "cancellation_policy.partial_refund_hours",
                p.partial_refund_hours,
            ),
        ] {
            if hours > MAX_POLICY_HOURS {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {MAX_POLICY_HOURS} (a year)"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let timezone = body
        .timezone
        .unwrap_or_else(|| defaults::TIMEZONE.to_owned());
    if !timezone_ok(&timezone) {
        return Err(ApiError::invalid(
            "timezone",
            "must be an IANA time zone name such as Europe/Paris",
        ));
    }
    let resource = Resource {
        id: id.clone(),
        vendor_id: caller.user_id.clone(),
        name: body.name.trim().to_owned(),
        kind: body.kind.trim().to_owned(),
        price: Price {
            amount: body.price.amount,
            currency: body.price.currency,
            unit_minutes: body.price.unit_minutes,
        },
        timezone,
        slot_minutes: body.slot_minutes.unwrap_or(defaults::SLOT_MINUTES),
        min_minutes: body.min_minutes.unwrap_or(defaults::MIN_MINUTES),
        max_minutes: body.max_minutes.unwrap_or(defaults::MAX_MINUTES),
        cancellation_policy: body.cancellation_policy.map_or_else(
            CancellationPolicy::default,
            |p| CancellationPolicy {
                full_refund_hours: p.full_refund_hours,
                partial_refund_hours: p.partial_refund_hours,
                partial_refund_percent: p.partial_refund_percent,
            },
        ),
        created_at: st.now(),
        schedule: None,
        rules: schedule::booking_rules(body.rules.as_ref()),
    };
    let resource = Resource {
        schedule: body
            .schedule
            .as_ref()
            .map(|s| schedule::schedule_spec("schedule", &resource.timezone, s))
            .transpose()?
            .map(Box::new),
        ..resource
    };
    schedule::validate(&resource)?;
    let cmd = BookingCommand::RegisterResource(RegisterResource {
        command_id: command_id.clone(),
        resource,
    });
    match st
        .ask(
            "register_resource",
            topics::BOOKING_COMMANDS,
            id.as_str(),
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => Ok(pending_decision(id)),
        Answer::Replied(p, token) => match &*p {
            ReplyPayload::Booking(BookingEvent::ResourceRegistered(e)) => {
                st.metrics.decision("register_resource", "registered");
                st.recent
                    .resources
                    .put(e.resource.id.clone(), e.resource.clone(), st.now());
                let location = format!("/v1/resources/{}", e.resource.id);
                Ok(created_decided(
                    &location,
                    &render::resource(&e.resource),
                    token.as_ref(),
                ))
            }
            other => Err(unexpected("register_resource", other)),
        },
    }
}

/// One resource.
#[utoipa::path(get, path = "/v1/resources/{id}", tag = "resources",
    params(("id" = String, Path, description = "Resource id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The resource", body = ResourceDto),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    _caller: Caller,
    read: crate::consistency::ReadAfter,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = st
        .resource_for(&ResourceId(id), &read)
        .await?
        .ok_or_else(|| ApiError::not_found("resource"))?;
    Ok(json(StatusCode::OK, &render::resource(&r)))
}

/// Resources, by id, optionally of one vendor and/or kind.
#[utoipa::path(get, path = "/v1/resources", tag = "resources", params(ResourceQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of resources", body = ResourcePage),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 422, description = "`validation_failed` (limit, cursor)", body = Problem),
    ))]
pub async fn list(
    State(st): State<AppState>,
    _caller: Caller,
    _read: crate::consistency::ReadAfter,
    ApiQuery(q): ApiQuery<ResourceQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(q.limit.as_deref())?;
    let vendor = q.vendor_id.map(UserId);
    let page = st
        .views
        .resources(
            vendor.as_ref(),
            q.kind.as_deref(),
            limit,
            q.cursor.as_deref().filter(|c| !c.is_empty()),
        )
        .await
        .map_err(view_error)?;
    Ok(json(
        StatusCode::OK,
        &ResourcePage {
            items: page.items.iter().map(render::resource).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

/// Parses a required `[from, to)` range of at most [`MAX_RANGE_DAYS`].
pub fn range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), ApiError> {
    let mut errors = Vec::new();
    let mut parse = |field: &str, v: Option<&str>| match v {
        None => {
            errors.push(FieldError::new(field, "is required (RFC 3339)"));
            None
        }
        Some(v) => rfc3339::parse(field, v).map_err(|e| errors.push(e)).ok(),
    };
    let (from, to) = (parse("from", from), parse("to", to));
    match (from, to) {
        (Some(f), Some(t)) if t <= f => errors.push(FieldError::new("to", "must be after from")),
        (Some(f), Some(t)) if t - f > MAX_RANGE_DAYS * DAY => errors.push(FieldError::new(
            "to",
            format!("must be at most {MAX_RANGE_DAYS} days after from"),
        )),
        (Some(f), Some(t)) => return Ok((f, t)),
        _ => {}
    }
    Err(ApiError::validation(errors))
}

/// Busy intervals (pending and confirmed bookings) of a resource in `[from, to)`.
#[utoipa::path(get, path = "/v1/resources/{id}/availability", tag = "resources",
    params(("id" = String, Path, description = "Resource id"), RangeQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Busy time", body = AvailabilityDto),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 422, description = "`validation_failed` (from, to)", body = Problem),
    ))]
pub async fn availability(
    State(st): State<AppState>,
    _caller: Caller,
    read: crate::consistency::ReadAfter,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = range(q.from.as_deref(), q.to.as_deref())?;
    let id = ResourceId(id);
    if st.resource_for(&id, &read).await?.is_none() {
        return Err(ApiError::not_found("resource"));
    }
    let mut busy = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = st
            .views
            .bookings_by_resource(&id, from, to, 100, cursor.as_deref())
            .await
            .map_err(view_error)?;
        busy.extend(
            page.items
                .iter()
                .filter(|b| b.status.is_active())
                .map(|b| (b.start, b.end)),
        );
        cursor = page.next_cursor;
        if cursor.is_none() || busy.len() >= MAX_BUSY {
            break;
        }
    }
    busy.sort_unstable();
    busy.truncate(MAX_BUSY);
    Ok(json(
        StatusCode::OK,
        &AvailabilityDto {
            resource_id: id.to_string(),
            from: rfc3339::format(from),
            to: rfc3339::format(to),
            busy: busy
                .into_iter()
                .map(|(s, e)| IntervalDto {
                    start: rfc3339::format(s),
                    end: rfc3339::format(e),
                })
                .collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_needs_both_ends_in_order_and_at_most_366_days() {
        assert_eq!(
            range(Some("2030-01-01T00:00:00Z"), Some("2030-01-02T00:00:00Z"))
                .unwrap()
                .1
                - 1_893_456_000_000,
            DAY
        );
        let e = range(None, Some("x")).unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["from", "to"]);
        let e = range(Some("2030-01-02T00:00:00Z"), Some("2030-01-02T00:00:00Z")).unwrap_err();
        assert_eq!(e.errors[0].message, "must be after from");
        assert!(range(Some("2030-01-01T00:00:00Z"), Some("2031-01-03T00:00:00Z")).is_err());
    }

    #[test]
    fn time_zone_names_are_checked_for_shape() {
        assert!(timezone_ok("Europe/Paris"));
        assert!(timezone_ok("UTC"));
        assert!(timezone_ok("Etc/GMT+2"));
        assert!(!timezone_ok(""));
        assert!(!timezone_ok("Europe/Paris<script>"));
    }
}
