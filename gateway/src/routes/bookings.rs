//! `/v1/bookings` and `/v1/vendor/bookings`. The booking processor decides;
//! the gateway only validates what it can know for sure beforehand.

use super::{created_decided, decided, json, page_limit, pending_decision, unexpected, view_error};
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
use slotstream_domain::booking::*;
use slotstream_domain::identity::Role;
use slotstream_domain::resource::{Resource, price_for, validate_booking};
use slotstream_domain::{BookingId, Interval, Millis, ResourceId};
use slotstream_runtime::topics;
use slotstream_runtime::views::{BookingView, PaymentView, RescheduleView};
use slotstream_schemas::ReplyPayload;

/// Latest instant a listing range may name: 9999-12-31T23:59:59.999Z.
const END_OF_TIME: Millis = 253_402_300_799_999;

/// Checks the rules that do not depend on the clock, so a synchronous 422 is
/// exactly what the processor would answer (the "start in the past" rule is
/// left to the processor: an idempotent retry after the start must still get
/// its first answer).
fn precheck(r: &Resource, iv: Interval) -> Result<(), ApiError> {
    validate_booking(r, iv, Millis::MIN)
        .and_then(|()| price_for(r, iv).map(|_| ()))
        .map_err(|v| ApiError::validation(vec![FieldError::new(v.field, v.message)]))
}

/// The rejection answer of a booking request.
fn rejected(e: &BookingRejected) -> ApiError {
    match e.reason {
        // The detail says which booking (and buffers) it hit and the
        // earliest start clear of them, when the resource has buffers.
        RejectionReason::SlotUnavailable => ApiError::conflict("slot_unavailable", &e.detail),
        RejectionReason::ResourceNotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            "no resource has this resource_id",
        ),
        RejectionReason::IdempotencyKeyReused => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request; use a new key",
        ),
        // The detail names the rule and what would pass (an instant or an
        // opening, RFC 3339 UTC).
        RejectionReason::OutsideHours => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside_opening_hours",
            &e.detail,
        ),
        RejectionReason::TooSoon => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_soon", &e.detail)
        }
        RejectionReason::TooFar => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_far_ahead", &e.detail)
        }
        RejectionReason::InvalidRequest => {
            // The domain writes "<field>: <message>".
            let (field, message) = e.detail.split_once(": ").unwrap_or(("body", &e.detail));
            ApiError::invalid(field, message)
        }
        // The reschedule's own refusals. The gateway asks only for a booking
        // its view shows the caller, so a processor that no longer knows it
        // has closed it (evicted days after its end): over, not absent.
        RejectionReason::BookingNotFound => ApiError::conflict(
            "not_reschedulable",
            "this booking can no longer be moved: it is over and closed",
        ),
        RejectionReason::NotReschedulable => ApiError::conflict("not_reschedulable", &e.detail),
        // The detail names the deadline that passed.
        RejectionReason::TooLateToModify => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "modification_notice_passed",
            &e.detail,
        ),
        RejectionReason::PriceChanged => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "price_change_not_supported",
            &e.detail,
        ),
    }
}

/// The 422 of a cancellation inside the resource's modify notice: the rule,
/// and the deadline that passed (from the resource's rules as the views
/// know them).
async fn too_late_to_cancel(st: &AppState, b: &BookingView) -> ApiError {
    let notice = st
        .resource(&b.resource_id)
        .await
        .ok()
        .flatten()
        .map(|r| r.rules);
    let detail = match notice {
        Some(rules) => format!(
            "cancellation notice: bookings of this resource can be cancelled until {} minutes before their start; the deadline for this one was {}",
            rules.modify_notice_minutes,
            rfc3339::format(rules.modify_deadline(b.start))
        ),
        None => {
            "cancellation notice: this booking is too close to its start to be cancelled".to_owned()
        }
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "cancellation_notice_passed",
        detail,
    )
}

fn outcome(reason: RejectionReason) -> &'static str {
    match reason {
        RejectionReason::SlotUnavailable => "slot_unavailable",
        RejectionReason::ResourceNotFound => "resource_not_found",
        RejectionReason::InvalidRequest => "invalid",
        RejectionReason::IdempotencyKeyReused => "idempotency_key_reused",
        RejectionReason::OutsideHours => "outside_opening_hours",
        RejectionReason::TooSoon => "too_soon",
        RejectionReason::TooFar => "too_far_ahead",
        RejectionReason::BookingNotFound => "not_reschedulable",
        RejectionReason::NotReschedulable => "not_reschedulable",
        RejectionReason::TooLateToModify => "modification_notice_passed",
        RejectionReason::PriceChanged => "price_change_not_supported",
    }
}

/// Book `[start, end)` on a resource; the slot is held until `hold_expires_at`.
#[utoipa::path(post, path = "/v1/bookings", tag = "bookings", request_body = CreateBookingRequest,
    params(("Idempotency-Key" = String, Header, description = "Required, 1 to 255 characters; a retry with the same key and body returns the first answer", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Held; pay at `payment.checkout_url`", body = BookingDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; repeat the request with the same Idempotency-Key after `Retry-After` to get the decision (nothing happens twice), or GET the booking later", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 400, description = "`idempotency_key_missing`", body = Problem),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`resource_not_found`", body = Problem),
        (status = 409, description = "`slot_unavailable`: the interval, or its buffers, overlap another pending or confirmed booking (the detail names the earliest start clear of it when the resource has buffers)", body = Problem),
        (status = 422, description = "`validation_failed`, `idempotency_key_reused`, or a scheduling rule of the resource: `outside_opening_hours` (the detail names the nearest opening long enough), `too_soon` (minimum notice; the detail names the earliest allowed start), `too_far_ahead` (booking horizon; the detail names the latest allowed start)", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<CreateBookingRequest>,
) -> Result<Response, ApiError> {
    st.limits.write(caller.user_id.as_str())?;
    let mut errors = Vec::new();
    let resource_id = body.resource_id.trim().to_owned();
    if resource_id.is_empty() || resource_id.len() > 200 {
        errors.push(FieldError::new("resource_id", "must be a resource id"));
    }
    let start = rfc3339::parse("start", &body.start)
        .map_err(|e| errors.push(e))
        .ok();
    let end = rfc3339::parse("end", &body.end)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(start), Some(end), true) = (start, end, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let iv = Interval::new(start, end);
    let resource_id = ResourceId(resource_id);
    // Unknown here may just mean the view lags: the processor decides then.
    if let Some(r) = st.resource(&resource_id).await? {
        precheck(&r, iv)?;
    } else if end <= start {
        return Err(ApiError::invalid("end", "must be after start"));
    }
    let command_id = ids::command_id(&caller.user_id, &key.0);
    let canonical =
        serde_json::json!({"resource_id": resource_id.as_str(), "start": start, "end": end});
    let request_hash = ids::request_hash(&canonical);
    let booking_id = ids::booking_id_for(&command_id, &request_hash);
    let cmd = BookingCommand::RequestBooking(RequestBooking {
        command_id: command_id.clone(),
        booking_id: booking_id.clone(),
        payment_id: ids::payment_id_for(&command_id, &request_hash),
        request_hash,
        resource_id: resource_id.clone(),
        user_id: caller.user_id.clone(),
        user_email: caller.email.clone(),
        start,
        end,
        requested_at: st.now(),
    });
    let (p, token) = match st
        .ask(
            "request_booking",
            topics::BOOKING_COMMANDS,
            resource_id.as_str(),
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => {
            return Ok(pending_decision(booking_id));
        }
        Answer::Replied(p, token) => (p, token),
    };
    match &*p {
        ReplyPayload::Booking(BookingEvent::BookingHeld(e)) => {
            st.metrics.decision("request_booking", "held");
            let view = BookingView::held(e);
            let url = st.checkout_url(&e.payment_id);
            let now = st.now();
            st.recent.payments.put(
                e.payment_id.clone(),
                PaymentView::for_hold(e, url.clone()),
                now,
            );
            // Keep a newer remembered state (a cancel) over the replayed hold.
            if st.recent.bookings.get(&e.booking_id, now).is_none() {
                st.recent
                    .bookings
                    .put(e.booking_id.clone(), view.clone(), now);
            }
            let location = format!("/v1/bookings/{}", e.booking_id);
            Ok(created_decided(
                &location,
                &render::booking(&view, None, url),
                token.as_ref(),
            ))
        }
        ReplyPayload::Booking(BookingEvent::BookingRejected(e)) => {
            st.metrics.decision("request_booking", outcome(e.reason));
            Err(rejected(e))
        }
        other => Err(unexpected("request_booking", other)),
    }
}

/// Renders a booking with its payment row (if visible).
async fn render_booking(st: &AppState, b: &BookingView) -> Result<BookingDto, ApiError> {
    let payment = st.payment(&b.payment_id).await?;
    Ok(render::booking(
        b,
        payment.as_ref(),
        st.checkout_url(&b.payment_id),
    ))
}

/// One booking: its owner's, or on one of the caller's resources.
#[utoipa::path(get, path = "/v1/bookings/{id}", tag = "bookings",
    params(("id" = String, Path, description = "Booking id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking", body = BookingDto),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    caller: Caller,
    _read: crate::consistency::ReadAfter,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let b = st
        .booking(&BookingId(id))
        .await?
        .filter(|b| b.user_id == caller.user_id || b.vendor_id == caller.user_id)
        .ok_or_else(|| ApiError::not_found("booking"))?;
    Ok(json(StatusCode::OK, &render_booking(&st, &b).await?))
}

/// The caller's bookings, newest first.
#[utoipa::path(get, path = "/v1/bookings", tag = "bookings", params(BookingQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of bookings", body = BookingPage),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 422, description = "`validation_failed` (status, limit, cursor)", body = Problem),
    ))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    _read: crate::consistency::ReadAfter,
    ApiQuery(q): ApiQuery<BookingQuery>,
) -> Result<Response, ApiError> {
    let limit = page_limit(q.limit.as_deref())?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(BookingStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "must be one of pending, confirmed, failed, expired, cancelled",
            )
        })?),
    };
    let page = st
        .views
        .bookings_by_user(
            &caller.user_id,
            status,
            limit,
            q.cursor.as_deref().filter(|c| !c.is_empty()),
        )
        .await
        .map_err(view_error)?;
    let mut items = Vec::with_capacity(page.items.len());
    for b in &page.items {
        items.push(render_booking(&st, b).await?);
    }
    Ok(json(
        StatusCode::OK,
        &BookingPage {
            items,
            next_cursor: page.next_cursor,
        },
    ))
}

/// Bookings on the caller's resources (all of them, or the one named by
/// `resource_id`) overlapping `[from, to)`, by start.
#[utoipa::path(get, path = "/v1/vendor/bookings", tag = "bookings", params(VendorBookingQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of bookings", body = BookingPage),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: customers", body = Problem),
        (status = 404, description = "`not_found`: not one of the caller's resources", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
    ))]
pub async fn vendor_list(
    State(st): State<AppState>,
    caller: Caller,
    _read: crate::consistency::ReadAfter,
    ApiQuery(q): ApiQuery<VendorBookingQuery>,
) -> Result<Response, ApiError> {
    if caller.role != Role::Vendor {
        return Err(ApiError::forbidden(
            "only vendors can list bookings of their resources",
        ));
    }
    let limit = page_limit(q.limit.as_deref())?;
    let resource_id = q.resource_id.filter(|s| !s.is_empty()).map(ResourceId);
    let from = q
        .from
        .as_deref()
        .map(|v| rfc3339::parse("from", v))
        .transpose()
        .map_err(|e| ApiError::validation(vec![e]))?;
    let to =
        q.to.as_deref()
            .map(|v| rfc3339::parse("to", v))
            .transpose()
            .map_err(|e| ApiError::validation(vec![e]))?;
    let (from, to) = (from.unwrap_or(0), to.unwrap_or(END_OF_TIME));
    if to <= from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let page = match resource_id {
        Some(resource_id) => {
            st.resource(&resource_id)
                .await?
                .filter(|r| r.vendor_id == caller.user_id)
                .ok_or_else(|| ApiError::not_found("resource"))?;
            st.views
                .bookings_by_resource(&resource_id, from, to, limit, cursor)
                .await
        }
        None => {
            st.views
                .bookings_by_vendor(&caller.user_id, from, to, limit, cursor)
                .await
        }
    }
    .map_err(view_error)?;
    let mut items = Vec::with_capacity(page.items.len());
    for b in &page.items {
        items.push(render_booking(&st, b).await?);
    }
    Ok(json(
        StatusCode::OK,
        &BookingPage {
            items,
            next_cursor: page.next_cursor,
        },
    ))
}

/// Cancel a booking (its owner, before it starts); refunds per the policy.
#[utoipa::path(post, path = "/v1/bookings/{id}/cancel", tag = "bookings",
    params(("id" = String, Path, description = "Booking id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Optional; a retry with the same key returns the first answer", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled, with its refund", body = BookingDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; repeat after `Retry-After` (with the same Idempotency-Key, if one was sent) or GET the booking later", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`not_cancellable`: already final, or at/after its start", body = Problem),
        (status = 422, description = "`cancellation_notice_passed`: inside the resource's cancellation notice; the detail names the deadline", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn cancel(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    st.limits.write(caller.user_id.as_str())?;
    let booking_id = BookingId(id);
    let command_id = match IdempotencyKey::optional(&headers)? {
        Some(k) => ids::command_id(&caller.user_id, &format!("cancel\0{booking_id}\0{}", k.0)),
        None => ids::fresh_command_id(),
    };
    let b = st
        .booking(&booking_id)
        .await?
        .filter(|b| b.user_id == caller.user_id)
        .ok_or_else(|| ApiError::not_found("booking"))?;
    let cmd = BookingCommand::CancelBooking(CancelBooking {
        command_id: command_id.clone(),
        booking_id: booking_id.clone(),
        resource_id: b.resource_id.clone(),
        user_id: caller.user_id.clone(),
        requested_at: st.now(),
    });
    let (p, token) = match st
        .ask(
            "cancel_booking",
            topics::BOOKING_COMMANDS,
            b.resource_id.as_str(),
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => {
            return Ok(pending_decision(booking_id));
        }
        Answer::Replied(p, token) => (p, token),
    };
    match &*p {
        ReplyPayload::Booking(BookingEvent::BookingCancelled(e)) => {
            st.metrics.decision("cancel_booking", "cancelled");
            let (after, dto) = render::cancelled(&b, e, st.checkout_url(&b.payment_id));
            st.recent.bookings.put(booking_id, after, st.now());
            Ok(decided(StatusCode::OK, &dto, token.as_ref()))
        }
        ReplyPayload::Booking(BookingEvent::CancellationRejected(e)) => match e.reason {
            // The view showed the caller this booking, so a processor that
            // no longer knows it has closed it (evicted days after its
            // end): the owner hears it is over, not that it never existed.
            CancellationRejectionReason::NotFound => {
                st.metrics.decision("cancel_booking", "not_cancellable");
                Err(ApiError::conflict(
                    "not_cancellable",
                    "this booking can no longer be cancelled: it is over and closed",
                ))
            }
            CancellationRejectionReason::NotCancellable => {
                st.metrics.decision("cancel_booking", "not_cancellable");
                Err(ApiError::conflict(
                    "not_cancellable",
                    "this booking can no longer be cancelled: it is final, or it has started",
                ))
            }
            CancellationRejectionReason::TooLateToCancel => {
                st.metrics
                    .decision("cancel_booking", "cancellation_notice_passed");
                Err(too_late_to_cancel(&st, &b).await)
            }
        },
        other => Err(unexpected("cancel_booking", other)),
    }
}

/// Move a booking (its owner; pending or confirmed, before its start) to
/// another interval of the same resource, keeping its id, status, payment
/// and price.
#[utoipa::path(post, path = "/v1/bookings/{id}/reschedule", tag = "bookings", request_body = RescheduleBookingRequest,
    params(("id" = String, Path, description = "Booking id"),
        ("Idempotency-Key" = String, Header, description = "Required, 1 to 255 characters; a retry with the same key and body returns the first answer", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved: the booking at its new interval (the previous one is released in the same decision)", body = BookingDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; repeat the request with the same Idempotency-Key after `Retry-After` to get the decision (nothing happens twice), or GET the booking later", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 400, description = "`idempotency_key_missing`", body = Problem),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`: no such booking, or not the caller's", body = Problem),
        (status = 409, description = "`slot_unavailable`: the new interval, or its buffers, overlap another pending or confirmed booking (the booking's own interval does not count); `not_reschedulable`: the booking is final, or has started", body = Problem),
        (status = 422, description = "`validation_failed`, `idempotency_key_reused`, `price_change_not_supported` (the new interval costs another amount: cancel and book again instead), `modification_notice_passed` (inside the resource's modification notice before the booking's current start; the detail names the deadline), or a scheduling rule for the new interval: `outside_opening_hours`, `too_soon`, `too_far_ahead`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn reschedule(
    State(st): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RescheduleBookingRequest>,
) -> Result<Response, ApiError> {
    st.limits.write(caller.user_id.as_str())?;
    let mut errors = Vec::new();
    let start = rfc3339::parse("start", &body.start)
        .map_err(|e| errors.push(e))
        .ok();
    let end = rfc3339::parse("end", &body.end)
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(start), Some(end), true) = (start, end, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let booking_id = BookingId(id);
    let b = st
        .booking(&booking_id)
        .await?
        .filter(|b| b.user_id == caller.user_id)
        .ok_or_else(|| ApiError::not_found("booking"))?;
    let iv = Interval::new(start, end);
    if let Some(r) = st.resource(&b.resource_id).await? {
        precheck(&r, iv)?;
    } else if end <= start {
        return Err(ApiError::invalid("end", "must be after start"));
    }
    let command_id = ids::command_id(
        &caller.user_id,
        &format!("reschedule\0{booking_id}\0{}", key.0),
    );
    let canonical = serde_json::json!({"start": start, "end": end});
    let cmd = BookingCommand::RescheduleBooking(RescheduleBooking {
        command_id: command_id.clone(),
        request_hash: ids::request_hash(&canonical),
        booking_id: booking_id.clone(),
        resource_id: b.resource_id.clone(),
        requested_by: caller.user_id.clone(),
        start,
        end,
        requested_at: st.now(),
    });
    let (p, token) = match st
        .ask(
            "reschedule_booking",
            topics::BOOKING_COMMANDS,
            b.resource_id.as_str(),
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => {
            return Ok(pending_decision(booking_id));
        }
        Answer::Replied(p, token) => (p, token),
    };
    match &*p {
        ReplyPayload::Booking(BookingEvent::BookingRescheduled(e)) => {
            st.metrics.decision("reschedule_booking", "rescheduled");
            let mut after = b.clone();
            after.moved(&RescheduleView::of(e));
            after.updated_at = after.updated_at.max(e.rescheduled_at);
            // Remember the move only when the row read was the booking just
            // before it (a replayed answer may be older than the row).
            if (b.start, b.end) == (e.previous_start, e.previous_end) {
                st.recent
                    .bookings
                    .put(booking_id.clone(), after.clone(), st.now());
            }
            Ok(decided(
                StatusCode::OK,
                &render_booking(&st, &after).await?,
                token.as_ref(),
            ))
        }
        ReplyPayload::Booking(BookingEvent::BookingRejected(e)) => {
            st.metrics.decision("reschedule_booking", outcome(e.reason));
            Err(rejected(e))
        }
        other => Err(unexpected("reschedule_booking", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_domain::CommandId;
    use slotstream_domain::fixtures;

    fn resource() -> Resource {
        Resource {
            max_minutes: 120,
            ..fixtures::resource("res_1", "usr_v")
        }
    }

    #[test]
    fn the_precheck_refuses_clock_free_rule_breaks_but_not_past_starts() {
        let r = resource();
        let h = 3_600_000;
        assert!(
            precheck(&r, Interval::new(h, 2 * h)).is_ok(),
            "a start long past is the processor's call"
        );
        assert_eq!(
            precheck(&r, Interval::new(2 * h, h)).unwrap_err().errors[0].field,
            "end"
        );
        assert_eq!(
            precheck(&r, Interval::new(h + 60_000, 2 * h))
                .unwrap_err()
                .errors[0]
                .field,
            "start"
        );
        assert!(
            precheck(&r, Interval::new(h, 4 * h)).unwrap_err().errors[0]
                .message
                .contains("too long")
        );
    }

    #[test]
    fn rejections_map_to_the_contract_codes() {
        let mut e = BookingRejected {
            command_id: CommandId::from("c"),
            request_hash: "h".into(),
            booking_id: "bk".into(),
            resource_id: "res".into(),
            user_id: "usr".into(),
            reason: RejectionReason::SlotUnavailable,
            detail: String::new(),
            rejected_at: 0,
        };
        assert_eq!(
            (rejected(&e).status.as_u16(), rejected(&e).code),
            (409, "slot_unavailable")
        );
        e.reason = RejectionReason::ResourceNotFound;
        assert_eq!(
            (rejected(&e).status.as_u16(), rejected(&e).code),
            (404, "resource_not_found")
        );
        e.reason = RejectionReason::IdempotencyKeyReused;
        assert_eq!(
            (rejected(&e).status.as_u16(), rejected(&e).code),
            (422, "idempotency_key_reused")
        );
        for (reason, status, code) in [
            (RejectionReason::BookingNotFound, 409, "not_reschedulable"),
            (RejectionReason::NotReschedulable, 409, "not_reschedulable"),
            (
                RejectionReason::TooLateToModify,
                422,
                "modification_notice_passed",
            ),
            (
                RejectionReason::PriceChanged,
                422,
                "price_change_not_supported",
            ),
        ] {
            e.reason = reason;
            assert_eq!(
                (rejected(&e).status.as_u16(), rejected(&e).code),
                (status, code)
            );
            assert_eq!(outcome(reason), code);
        }
        e.reason = RejectionReason::InvalidRequest;
        e.detail = "start: start in the past: choose a later start".into();
        let err = rejected(&e);
        assert_eq!((err.status.as_u16(), err.code), (422, "validation_failed"));
        assert_eq!(err.errors[0].field, "start");
        assert_eq!(
            err.errors[0].message,
            "start in the past: choose a later start"
        );
    }
}
