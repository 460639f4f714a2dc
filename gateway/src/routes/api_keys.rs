//! `/v1/api-keys`: a vendor's keys for server-to-server partners. Keys are
//! created, listed and revoked with an account's access token only (a key
//! never manages keys). The identity processor decides, in the owner's
//! email partition; the views serve the listing and every gateway's
//! authentication (see `crate::api_keys`).

use super::{json, pending_decision, unexpected, view_error};
use crate::api_keys::{self, SCOPES};
use crate::dto::{ApiKeyDto, ApiKeyList, CreateApiKeyRequest, ProcessingDto};
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::ids;
use crate::rfc3339;
use crate::state::{Answer, AppState};
use crate::tokens::Caller;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use slotstream_domain::identity::{
    CreateApiKey, IdentityCommand, IdentityEvent, RevokeApiKey, Role,
};
use slotstream_runtime::{ApiKeyView, topics};
use slotstream_schemas::ReplyPayload;

/// Keys one listing shows at most.
const MAX_LISTED: usize = 1000;

fn vendor_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Vendor {
        Ok(())
    } else {
        Err(ApiError::forbidden("only vendors hold API keys"))
    }
}

fn dto(st: &AppState, k: &ApiKeyView, secret: Option<String>) -> ApiKeyDto {
    let (rate_per_second, burst) = st.quotas.quota_of(k);
    let status = if k.revoked_at.is_some() {
        "revoked"
    } else if k.live_at(st.now()) {
        "active"
    } else {
        "expired"
    };
    ApiKeyDto {
        id: k.key_id.clone(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes.clone(),
        status,
        rate_per_second,
        burst,
        expires_at: k.expires_at.map(rfc3339::format),
        created_at: rfc3339::format(k.created_at),
        revoked_at: k.revoked_at.map(rfc3339::format),
        secret,
    }
}

/// The request's checked fields: (name, scopes, expires_at, rate, burst).
type Checked = (String, Vec<String>, Option<i64>, Option<u32>, Option<u32>);

fn validate(st: &AppState, body: CreateApiKeyRequest) -> Result<Checked, ApiError> {
    let mut errors = Vec::new();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 characters, not blank",
        ));
    }
    let mut scopes = body.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        errors.push(FieldError::new("scopes", "must name at least one scope"));
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        errors.push(FieldError::new(
            "scopes",
            format!("{bad:?} is not a scope; use {}", SCOPES.join(", ")),
        ));
    }
    let expires_at = match body
        .expires_at
        .as_deref()
        .map(|t| rfc3339::parse("expires_at", t))
    {
        Some(Ok(at)) if at <= st.now() => {
            errors.push(FieldError::new("expires_at", "must be in the future"));
            None
        }
        Some(Ok(at)) => Some(at),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        None => None,
    };
    if body
        .rate_per_second
        .is_some_and(|r| !(1..=10_000).contains(&r))
    {
        errors.push(FieldError::new(
            "rate_per_second",
            "must be from 1 to 10000",
        ));
    }
    if body.burst.is_some_and(|b| !(1..=100_000).contains(&b)) {
        errors.push(FieldError::new("burst", "must be from 1 to 100000"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok((name, scopes, expires_at, body.rate_per_second, body.burst))
}

/// Create an API key (vendors, with their access token). The answer holds
/// the key once, in `secret`: only its SHA-256 is kept. Use it as
/// `Authorization: Bearer sk_live_…`; with `X-Customer-Ref: <ref>` a
/// request acts for the partner's end user `<ref>` (own bookings, own
/// idempotency keys). A repeat with the same `Idempotency-Key` answers 200
/// with the key first created, without its secret.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional; a repeat with the same key answers the key first created (without its secret)", min_length = 1, max_length = 255, pattern = "^[!-~]([ -~]{0,253}[!-~])?$")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `secret` is the key, shown this once", body = ApiKeyDto),
        (status = 200, description = "A repeat: the key first created, without its secret", body = ApiKeyDto),
        (status = 202, description = "`pending_decision`: no decision within the wait; repeat with the same Idempotency-Key after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "Seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
        (status = 422, description = "`validation_failed`", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    st.limits.write(caller.user_id.as_str())?;
    let (name, scopes, expires_at, rate_per_second, burst) = validate(&st, body)?;
    let command_id = match IdempotencyKey::optional(&headers)? {
        Some(k) => ids::command_id(&caller.user_id, &format!("api-keys\0{}", k.0)),
        None => ids::fresh_command_id(),
    };
    let issued = api_keys::issue();
    let cmd = IdentityCommand::CreateApiKey(CreateApiKey {
        command_id: command_id.clone(),
        key_id: issued.key_id.clone(),
        owner_id: caller.user_id.clone(),
        owner_email: caller.email.clone(),
        name,
        prefix: issued.prefix.clone(),
        secret_hash: issued.hash.clone(),
        scopes,
        expires_at,
        rate_per_second,
        burst,
        requested_at: st.now(),
    });
    let answer = st
        .ask(
            "create_api_key",
            topics::IDENTITY_COMMANDS,
            &caller.email,
            &command_id,
            cmd,
        )
        .await?;
    let (reply, token) = match answer {
        Answer::Pending => return Ok(pending_decision(&issued.key_id)),
        Answer::Replied(p, token) => (p, token),
    };
    let ReplyPayload::Identity(IdentityEvent::ApiKeyCreated(e)) = &*reply else {
        return Err(unexpected("create_api_key", &reply));
    };
    let view = ApiKeyView::created(e);
    st.api_keys.put(view.clone());
    // The reply of a repeat names the key first created: its secret is
    // another one, never seen here.
    if e.secret_hash == issued.hash {
        st.metrics.decision("create_api_key", "created");
        let body = dto(&st, &view, Some(issued.key));
        Ok(super::created_decided(
            &format!("/v1/api-keys/{}", view.key_id),
            &body,
            token.as_ref(),
        ))
    } else {
        Ok(super::decided(
            StatusCode::OK,
            &dto(&st, &view, None),
            token.as_ref(),
        ))
    }
}

/// The caller's API keys (vendors, with their access token), by id,
/// revoked and expired ones included; never a key's secret.
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys", body = ApiKeyList),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
    ))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    _read: crate::consistency::ReadAfter,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    let keys = st
        .views
        .api_keys_by_owner(&caller.user_id, MAX_LISTED)
        .await
        .map_err(view_error)?;
    let items = keys.iter().map(|k| dto(&st, k, None)).collect();
    Ok(json(StatusCode::OK, &ApiKeyList { items }))
}

/// Revoke one of the caller's API keys (vendors, with their access token).
/// It stops working on this gateway at once and on every other one within
/// 5 seconds of the views showing it. Revoking a revoked key answers the
/// same.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = ApiKeyDto),
        (status = 202, description = "`pending_decision`: repeat after `Retry-After`", body = ProcessingDto, headers(("Retry-After" = u64, description = "Seconds to wait before repeating the request"))),
        (status = 401, description = "`unauthorized`", body = Problem),
        (status = 403, description = "`forbidden`: not a vendor, or called with an API key", body = Problem),
        (status = 404, description = "`not_found`: no key of yours has this id", body = Problem),
        (status = 429, description = "`rate_limited`", body = Problem),
    ))]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    vendor_only(&caller)?;
    st.limits.write(caller.user_id.as_str())?;
    let key = st
        .api_key(&id)
        .await?
        .filter(|k| k.owner_id == caller.user_id)
        .ok_or_else(|| ApiError::not_found("API key"))?;
    let command_id = ids::fresh_command_id();
    let cmd = IdentityCommand::RevokeApiKey(RevokeApiKey {
        command_id: command_id.clone(),
        key_id: key.key_id.clone(),
        owner_email: key.owner_email.clone(),
        requested_by: caller.user_id.clone(),
        requested_at: st.now(),
    });
    let answer = st
        .ask(
            "revoke_api_key",
            topics::IDENTITY_COMMANDS,
            &key.owner_email,
            &command_id,
            cmd,
        )
        .await?;
    let (reply, token) = match answer {
        Answer::Pending => return Ok(pending_decision(&key.key_id)),
        Answer::Replied(p, token) => (p, token),
    };
    let ReplyPayload::Identity(IdentityEvent::ApiKeyRevoked(e)) = &*reply else {
        return Err(unexpected("revoke_api_key", &reply));
    };
    let mut revoked = key;
    revoked.revoked_at = Some(e.revoked_at);
    // This gateway refuses the key from now on.
    st.api_keys.put(revoked.clone());
    st.metrics.decision("revoke_api_key", "revoked");
    Ok(super::decided(
        StatusCode::OK,
        &dto(&st, &revoked, None),
        token.as_ref(),
    ))
}
