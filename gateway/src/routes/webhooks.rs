//! `/v1/webhooks`: a vendor's webhook subscriptions. The identity processor
//! decides them in the owner's email partition, as API keys; the views
//! serve the listing. The signing secret is derived from the platform's
//! key and the subscription's id (`slotstream_runtime::webhooks`): the
//! creating answer shows it, and nothing stores it.
//!
//! `POST /v1/webhooks/payments` (the payment provider's callback) is
//! another route: axum prefers the static path to `{id}`.

use super::{json, pending_decision, unexpected, view_error};
use crate::dto::{CreateWebhookRequest, ProcessingDto, WebhookDto, WebhookList};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::ids;
use crate::rfc3339;
use crate::state::{Answer, AppState};
use crate::tokens::Caller;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use slotstream_domain::identity::{
    CreateWebhook, DeleteWebhook, IdentityCommand, IdentityEvent, Role,
};
use slotstream_runtime::views::EVENT_TYPES;
use slotstream_runtime::{WebhookView, topics, webhooks};
use slotstream_schemas::ReplyPayload;
use std::net::IpAddr;
use std::time::Duration;

/// Subscriptions one listing shows at most.
const MAX_LISTED: usize = 100;

/// The longest URL accepted.
const MAX_URL: usize = 2048;

/// How long resolving a URL's host may take before it is refused.
const RESOLVE_WAIT: Duration = Duration::from_secs(3);

fn vendor_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Vendor {
        Ok(())
    } else {
        Err(ApiError::forbidden("only vendors subscribe to webhooks"))
    }
}

/// The subscription's signing secret (the same on every gateway and in the
/// deliverer).
pub fn secret_of(st: &AppState, webhook_id: &str) -> String {
    webhooks::secret_for(st.cfg.otp_secret.expose_secret().as_bytes(), webhook_id)
}

fn dto(w: &WebhookView, secret: Option<String>) -> WebhookDto {
    WebhookDto {
        id: w.webhook_id.clone(),
        url: w.url.clone(),
        events: w.events.clone(),
        description: w.description.clone(),
        status: "enabled",
        created_at: rfc3339::format(w.created_at),
        secret,
    }
}

/// Why a URL is refused, as the field error says it.
async fn check_url(raw: &str, allow_private: bool) -> Result<String, String> {
    if raw.len() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    let uri: Uri = raw
        .parse()
        .map_err(|_| "must be an absolute http or https URL".to_owned())?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        Some("http") => 80,
        _ => return Err("must be an absolute http or https URL".to_owned()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "must name a host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("must not carry credentials".to_owned());
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err("must name a host".to_owned());
    }
    let port = uri.port_u16().unwrap_or(default_port);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            match tokio::time::timeout(RESOLVE_WAIT, lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                Ok(Err(_)) | Err(_) => return Err("its host does not resolve".to_owned()),
            }
        }
    };
    if addrs.is_empty() {
        return Err("its host does not resolve".to_owned());
    }
    if !allow_private && addrs.iter().any(|ip| webhooks::is_internal(*ip)) {
        return Err(
            "must not point at a loopback, private, link-local or unspecified address".to_owned(),
        );
    }
    Ok(raw.to_owned())
}

/// The request's checked fields: (url, events, description).
async fn validate(
    st: &AppState,
    body: CreateWebhookRequest,
) -> Result<(String, Vec<String>, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let url = match check_url(body.url.trim(), st.cfg.webhook_allow_private).await {
        Ok(u) => u,
        Err(why) => {
            errors.push(FieldError::new("url", why));
            String::new()
        }
    };
    let mut events = body.events;
    events.sort();
    events.dedup();
    if events.is_empty() {
        errors.push(FieldError::new(
            "events",
            "must name at least one event type, or \"*\"",
        ));
    }
    if let Some(bad) = events
        .iter()
        .find(|e| e.as_str() != "*" && !EVENT_TYPES.contains(&e.as_str()))
    {
        errors.push(FieldError::new(
            "events",
            format!(
                "{bad:?} is not an event type; use \"*\" or {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    if events.iter().any(|e| e == "*") {
        events = vec!["*".to_owned()];
    }
    let description = body.description.map(|d| d.trim().to_owned());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        errors.push(FieldError::new(
            "description",
            "must be at most 500 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((url, events, description.filter(|d| !d.is_empty())))
}

/// Subscribe a URL to the booking and payment events of your resources
/// (vendors, with their access token). The answer holds the signing
/// secret in `secret`, this once: every delivery carries
/// `Slotstream-Signature: t=<unix secs>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<body>")>`. The URL must be http(s) and must not resolve to a
/// loopback, private, link-local or unspecified address (unless the
/// operator allows it). A repeat with the same `Idempotency-Key` answers
/// 200 with the subscription first created, without its secret.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; a repeat with the same key answers the subscription first created (without its secret)", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `secret` is the signing secret, shown this once", body = WebhookDto),
        (status = 200, description = "A repeat: the subscription first created, without its secret", body = WebhookDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; repeat with the same Idempotency-Key after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "Seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
        (status = 422, description = "`validation_failed`: a URL that is not http(s), does not resolve or resolves to an internal address; unknown event types", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    st.limits.write(caller.user_id.as_str())?;
    let (url, events, description) = validate(&st, body).await?;
    let command_id = match IdempotencyKey::optional(&headers)? {
        Some(k) => ids::command_id(&caller.user_id, &format!("webhooks\0{}", k.0)),
        None => ids::fresh_command_id(),
    };
    let webhook_id = format!("wh_{}", uuid::Uuid::new_v4().simple());
    let cmd = IdentityCommand::CreateWebhook(CreateWebhook {
        command_id: command_id.clone(),
        webhook_id: webhook_id.clone(),
        owner_id: caller.user_id.clone(),
        owner_email: caller.email.clone(),
        url,
        events,
        description,
        requested_at: st.now(),
    });
    let answer = st
        .ask(
            "create_webhook",
            topics::IDENTITY_COMMANDS,
            &caller.email,
            &command_id,
            cmd,
        )
        .await?;
    let (reply, token) = match answer {
        Answer::Pending => return Ok(pending_decision(&webhook_id)),
        Answer::Replied(p, token) => (p, token),
    };
    let ReplyPayload::Identity(IdentityEvent::WebhookCreated(e)) = &*reply else {
        return Err(unexpected("create_webhook", &reply));
    };
    let view = WebhookView::created(e);
    // The reply of a repeat names the subscription first created: its
    // secret was shown then.
    if e.webhook_id == webhook_id {
        st.metrics.decision("create_webhook", "created");
        let secret = secret_of(&st, &view.webhook_id);
        Ok(super::created_decided(
            &format!("/v1/webhooks/{}", view.webhook_id),
            &dto(&view, Some(secret)),
            token.as_ref(),
        ))
    } else {
        Ok(super::decided(
            StatusCode::OK,
            &dto(&view, None),
            token.as_ref(),
        ))
    }
}

/// The caller's webhook subscriptions (vendors), by id; never a secret.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions", body = WebhookList),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
    ))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    _read: crate::consistency::ReadAfter,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    let hooks = st
        .views
        .webhooks_by_owner(&caller.user_id, MAX_LISTED)
        .await
        .map_err(view_error)?;
    let items = hooks.iter().map(|w| dto(w, None)).collect();
    Ok(json(StatusCode::OK, &WebhookList { items }))
}

/// One of the caller's webhook subscriptions (vendors); never its secret.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = WebhookDto),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
        (status = 404, description = "`not_found`: no subscription of yours has this id", body = Problem),
    ))]
pub async fn get_one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    _read: crate::consistency::ReadAfter,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    let hook = st
        .views
        .webhook(&caller.user_id, &id)
        .await
        .map_err(view_error)?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(json(StatusCode::OK, &dto(&hook, None)))
}

/// Delete one of the caller's webhook subscriptions (vendors): nothing
/// more is delivered to it. Deleting it again answers 404.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 202, description = "`pending_decision`: repeat after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "Seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
        (status = 404, description = "`not_found`: no subscription of yours has this id", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    st.limits.write(caller.user_id.as_str())?;
    let hook = st
        .views
        .webhook(&caller.user_id, &id)
        .await
        .map_err(view_error)?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    let command_id = ids::fresh_command_id();
    let cmd = IdentityCommand::DeleteWebhook(DeleteWebhook {
        command_id: command_id.clone(),
        webhook_id: hook.webhook_id.clone(),
        owner_email: hook.owner_email.clone(),
        requested_by: caller.user_id.clone(),
        requested_at: st.now(),
    });
    let answer = st
        .ask(
            "delete_webhook",
            topics::IDENTITY_COMMANDS,
            &hook.owner_email,
            &command_id,
            cmd,
        )
        .await?;
    let (reply, token) = match answer {
        Answer::Pending => return Ok(pending_decision(&hook.webhook_id)),
        Answer::Replied(p, token) => (p, token),
    };
    let ReplyPayload::Identity(IdentityEvent::WebhookDeleted(_)) = &*reply else {
        return Err(unexpected("delete_webhook", &reply));
    };
    st.metrics.decision("delete_webhook", "deleted");
    Ok(crate::consistency::with_header(
        StatusCode::NO_CONTENT.into_response(),
        token.as_ref(),
    ))
}
