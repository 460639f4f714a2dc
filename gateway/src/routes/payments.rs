//! `/v1/payments`, the provider's webhook and the sandbox checkout page.

use super::{json, pending_decision, processing, unexpected};
use crate::dto::*;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::ids;
use crate::render;
use crate::state::{Answer, AppState};
use crate::tokens::Caller;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use secrecy::ExposeSecret;
use slotstream_domain::PaymentId;
use slotstream_domain::identity::Role;
use slotstream_domain::payment::*;
use slotstream_payments::webhook::{self, ProviderEvent, SIGNATURE_HEADER, TOLERANCE_SECS};
use slotstream_runtime::topics;
use slotstream_runtime::views::PaymentView;
use slotstream_schemas::ReplyPayload;
use std::time::{Duration, Instant};

/// Longest pause between two looks at the payment view while it catches up.
const MAX_POLL: Duration = Duration::from_millis(100);

/// The payment as the views show it, if `caller` may see it.
///
/// An id the view does not know is answered at once, unless this gateway
/// itself just created that payment for this caller (its 201 can be a few
/// milliseconds ahead of the view): only then does it wait, up to the wait
/// budget, for the view to show it. So an unknown id costs one view read,
/// like another customer's payment: the answer time tells nothing, and no
/// request is held for seconds. Existence is never taken from the gateway's
/// memory alone.
async fn intent_for(
    st: &AppState,
    id: &PaymentId,
    caller: &Caller,
) -> Result<Option<PaymentView>, ApiError> {
    let mine = |p: &PaymentView| p.user_id == caller.user_id;
    let read = || async {
        st.views
            .payment(id)
            .await
            .map_err(|e| ApiError::unavailable(&e))
    };
    if let Some(v) = read().await? {
        // The newer of the view and this gateway's memory, as GETs see it.
        return Ok(st.newer_payment(id, Some(v)).filter(mine));
    }
    if !st
        .recent
        .payments
        .get(id, st.now())
        .is_some_and(|p| mine(&p))
    {
        return Ok(None);
    }
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let left = st.cfg.wait_budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(ApiError::unavailable(
                &"the payment is still being set up; retry with the same Idempotency-Key",
            ));
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_POLL);
        if let Some(v) = read().await? {
            return Ok(st.newer_payment(id, Some(v)).filter(mine));
        }
    }
}

/// One payment: its payer's, or on one of the caller's resources.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "Payment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The payment", body = PaymentDto),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    caller: Caller,
    read: crate::consistency::ReadAfter,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = PaymentId(id);
    let p = match (st.payment(&id).await?, &read.0) {
        (Some(p), _) => p,
        // A booking's token names its hold; its payment is created by the
        // payment processor right after. Wait for the row within the same
        // bound rather than answer 404 for a payment that is on its way.
        (None, Some(_)) => st.payment_soon(&id).await?,
        (None, None) => return Err(ApiError::not_found("payment")),
    };
    // Whoever may read the booking may read its payment: its payer, and the
    // vendor of the booked resource (who sees the payment's status on the
    // booking already).
    let visible = p.user_id == caller.user_id
        || (caller.role == Role::Vendor
            && st
                .booking(&p.booking_id)
                .await?
                .is_some_and(|b| b.vendor_id == caller.user_id));
    if !visible {
        return Err(ApiError::not_found("payment"));
    }
    Ok(json(StatusCode::OK, &render::payment(&p)))
}

/// Finish checkout at the sandbox provider; the outcome arrives by webhook.
#[utoipa::path(post, path = "/v1/payments/{id}/complete", tag = "payments", request_body = CompletePaymentRequest,
    params(("id" = String, Path, description = "Payment id"),
        ("Idempotency-Key" = String, Header, description = "Required, 1 to 255 characters", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "`processing`: submitted to the provider, the outcome arrives later (GET the payment); or `pending_decision`: no decision within the wait, repeat the request with the same Idempotency-Key after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "With `pending_decision`: seconds to wait before repeating the request"))),
        (status = 400, description = "`idempotency_key_missing`", body = Problem),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 404, description = "`not_found`", body = Problem),
        (status = 409, description = "`payment_not_pending`", body = Problem),
        (status = 422, description = "`validation_failed` or `idempotency_key_reused`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn complete(
    State(st): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompletePaymentRequest>,
) -> Result<Response, ApiError> {
    st.limits.write(caller.user_id.as_str())?;
    let payment_id = PaymentId(id);
    // The checkout goes out only once the payment *view* shows the intent: the
    // views processor writes it after the payment processor committed the
    // intent, so the command cannot overtake it. (The intent arrives on the
    // booking-events topic and the checkout on payment-commands; two topics
    // promise no order between them, and on Kafka they really arrive either
    // way round.) The gateway's own memory of the 201 is not enough for that.
    let p = intent_for(&st, &payment_id, &caller)
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let (outcome, name) = match body.outcome {
        OutcomeDto::Succeeded => (CheckoutOutcome::Succeeded, "succeeded"),
        OutcomeDto::Failed => (CheckoutOutcome::Failed, "failed"),
    };
    let command_id = ids::command_id(&caller.user_id, &key.0);
    let canonical = serde_json::json!({"payment_id": payment_id.as_str(), "outcome": name});
    // The customer's action counts when this gateway writes it to the log:
    // stamped as the record is built, just before the append, on the clock
    // that also stamps the record.
    let written_at = st.now();
    let cmd = PaymentCommand::SubmitCheckout(SubmitCheckout {
        command_id: command_id.clone(),
        request_hash: ids::request_hash(&canonical),
        payment_id: payment_id.clone(),
        resource_id: p.resource_id.clone(),
        user_id: caller.user_id.clone(),
        outcome,
        appended_at: Some(written_at),
        requested_at: written_at,
    });
    let accepted = |token| processing(&payment_id, token);
    let (reply, token) = match st
        .ask(
            "submit_checkout",
            topics::PAYMENT_COMMANDS,
            p.resource_id.as_str(),
            &command_id,
            cmd,
        )
        .await?
    {
        Answer::Pending => return Ok(pending_decision(&payment_id)),
        Answer::Replied(r, token) => (r, token),
    };
    match &*reply {
        ReplyPayload::Payment(PaymentEvent::CheckoutSubmitted(e)) => {
            st.metrics.decision("submit_checkout", "submitted");
            let now = st.now();
            let mut row = p.clone();
            if row.status == PaymentStatus::RequiresPayment {
                row.status = PaymentStatus::Processing;
                row.updated_at = row.updated_at.max(e.submitted_at);
                st.recent.payments.put(payment_id.clone(), row, now);
            }
            Ok(accepted(token.as_ref()))
        }
        ReplyPayload::Payment(PaymentEvent::CheckoutRejected(e)) => {
            let err = match e.reason {
                CheckoutRejectionReason::NotFound => ApiError::not_found("payment"),
                CheckoutRejectionReason::NotPending => ApiError::conflict(
                    "payment_not_pending",
                    "this payment is not waiting for payment any more; GET it for its status",
                ),
                CheckoutRejectionReason::IdempotencyKeyReused => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used with a different request; use a new key",
                ),
            };
            st.metrics.decision("submit_checkout", err.code);
            Err(err)
        }
        other => Err(unexpected("submit_checkout", other)),
    }
}

/// The payment provider reports an outcome (signed; see `Slotstream-Signature`).
#[utoipa::path(post, path = "/v1/webhooks/payments", tag = "payments",
    params(("Slotstream-Signature" = String, Header, description = "`t=<unix secs>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`")),
    request_body(content = WebhookEventDto, description = "The provider event; the signature covers its raw bytes", content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded (redeliveries are harmless)", body = WebhookAck),
        (status = 400, description = "`webhook_signature_invalid` or `malformed_json`", body = Problem),
        (status = 503, description = "`unavailable`: retry the delivery", body = Problem),
    ))]
pub async fn webhook(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let secret = st.cfg.webhook_secret.expose_secret().as_bytes();
    webhook::verify(
        secret,
        signature,
        &body,
        st.now().div_euclid(1000),
        TOLERANCE_SECS,
    )
    .map_err(|e| ApiError::bad_request("webhook_signature_invalid", e.to_string()))?;
    let event: ProviderEvent = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("not a provider event: {e}"))
    })?;
    let ack = || json(StatusCode::OK, &WebhookAck { received: true });
    let Some(outcome) = event.outcome() else {
        // Event types we do not handle are acknowledged, as providers expect.
        return Ok(ack());
    };
    let resource_id = event.data.resource_id.clone();
    let cmd = PaymentCommand::RecordProviderOutcome(RecordProviderOutcome {
        provider_event_id: event.id,
        payment_id: event.data.payment_id,
        resource_id: resource_id.clone(),
        outcome,
        reason: event.data.reason,
        occurred_at: event.created.saturating_mul(1000),
    });
    st.send(topics::PAYMENT_COMMANDS, resource_id.as_str(), cmd, None)
        .await?;
    Ok(ack())
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The sandbox provider's hosted checkout page.
#[utoipa::path(get, path = "/v1/sandbox/checkout/{id}", tag = "payments",
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, description = "An HTML page with a pay and a decline button", content_type = "text/html")))]
pub async fn checkout_page(Path(id): Path<String>) -> Response {
    let id = escape(&id);
    let page = include_str!("checkout.html").replace("{{PAYMENT_ID}}", &id);
    let mut res = Html(page).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_page_escapes_the_id() {
        assert_eq!(
            escape(r#"<script>"x"&'"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;"
        );
        assert_eq!(escape("pay_123"), "pay_123");
    }
}
