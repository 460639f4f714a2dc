//! The OpenAPI document, generated from the handlers' and DTOs' annotations.

use crate::dto::*;
use crate::error::PROBLEM_JSON;
use crate::error::{FieldError, Problem};
use crate::routes::{
    api_keys, auth, bookings, events, ops, payments, resources, schedule, webhooks,
};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, ObjectBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};

/// Adds the bearer scheme the secured operations name.
#[derive(Debug)]
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT, or an API key sk_live_…".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// Makes the error answers of every operation say what the server sends: the
/// `application/problem+json` media type (RFC 9457) with the `Problem` schema,
/// `Retry-After` on 429, and the statuses the shared machinery can answer any
/// operation with, whether or not its handler names them: a JSON body can be
/// malformed (400 `malformed_json`), too large (413), of another media type
/// (415) or invalid (422); a bearer token can be missing (401); any `/v1`
/// call can meet an outage or the request deadline (503).
#[derive(Debug)]
struct Problems;

/// Whether a shared status applies to an operation (at a path).
type Applies = fn(&Operation, &str) -> bool;

/// The statuses every operation of a kind can answer, with their codes.
const SHARED: &[(&str, &str, Applies)] = &[
    ("400", "`malformed_json`: the body is not JSON", |op, _| {
        op.request_body.is_some()
    }),
    (
        "401",
        "`unauthorized`: a valid bearer token is required",
        |op, _| op.security.is_some(),
    ),
    ("413", "`payload_too_large`", |op, _| {
        op.request_body.is_some()
    }),
    (
        "415",
        "`unsupported_media_type`: send `Content-Type: application/json`",
        |op, _| op.request_body.is_some(),
    ),
    ("422", "`validation_failed`", |op, _| {
        op.request_body.is_some()
            || op
                .parameters
                .iter()
                .flatten()
                .any(|p| !matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Path))
    }),
    (
        "503",
        "`unavailable` or `timeout`: retry (see Retry-After)",
        |_, path| path.starts_with("/v1/"),
    ),
];

fn problem(op: &mut Operation, status: &str) {
    let Some(RefOr::T(res)) = op.responses.responses.get_mut(status) else {
        return;
    };
    let schema = RefOr::Ref(Ref::from_schema_name("Problem"));
    res.content.clear();
    res.content
        .insert(PROBLEM_JSON.to_owned(), Content::new(Some(schema)));
    if status == "429" || status == "503" {
        let secs = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        res.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(secs)
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
}

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, what, applies) in SHARED {
                    if applies(op, path) && !op.responses.responses.contains_key(*status) {
                        op.responses
                            .responses
                            .insert((*status).to_owned(), RefOr::T(Response::new(*what)));
                    }
                }
                let errors: Vec<String> = op
                    .responses
                    .responses
                    .keys()
                    .filter(|s| s.starts_with('4') || s.starts_with('5'))
                    .cloned()
                    .collect();
                for status in errors {
                    problem(op, &status);
                }
            }
        }
    }
}

/// Consistency tokens (ARCHITECTURE.md, "Consistency tokens"): every
/// authenticated read takes an optional `Consistency-Token` header (400
/// `invalid_consistency_token`, 503 `consistency_timeout`), and the answers
/// of writes through a processor name the `Consistency-Token` header they
/// carry.
#[derive(Debug)]
struct Consistent;

impl Modify for Consistent {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        let string = || ObjectBuilder::new().schema_type(Type::String);
        for (path, item) in &mut openapi.paths.paths {
            let writes = path.starts_with("/v1/")
                && !path.starts_with("/v1/auth/")
                && path != "/v1/webhooks/payments";
            if let Some(op) = item
                .get
                .as_mut()
                .filter(|op| op.security.is_some() && path.starts_with("/v1/"))
            {
                op.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name("Consistency-Token")
                        .parameter_in(ParameterIn::Header)
                        .required(utoipa::openapi::Required::False)
                        .description(Some(
                            "The `consistency_token` of a write's answer, from any gateway instance: the read waits \
                             (up to 5 s by default) until the views hold that write, then answers; past the bound, \
                             503 `consistency_timeout` with `Retry-After` (never an older answer). Without it, reads \
                             are eventually consistent.",
                        ))
                        .schema(Some(string().max_length(Some(360))))
                        .build(),
                );
                op.responses.responses.entry("400".to_owned()).or_insert_with(|| {
                    RefOr::T(Response::new(
                        "`invalid_consistency_token`: the Consistency-Token header is not a token this API issued",
                    ))
                });
                op.responses.responses.insert(
                    "503".to_owned(),
                    RefOr::T(Response::new(
                        "`unavailable`, `timeout`, or `consistency_timeout` (the views did not apply the write a \
                         Consistency-Token names within the bound): retry (see Retry-After)",
                    )),
                );
            }
            if !writes {
                continue;
            }
            for op in [&mut item.post, &mut item.put, &mut item.delete]
                .into_iter()
                .flatten()
            {
                for status in ["200", "201", "202", "204"] {
                    if let Some(RefOr::T(res)) = op.responses.responses.get_mut(status) {
                        res.headers.insert(
                            "Consistency-Token".to_owned(),
                            HeaderBuilder::new()
                                .schema(string())
                                .description(Some(
                                    "When the answer comes from a decision: the log position of that decision, \
                                     opaque; send it back in a `Consistency-Token` header on reads, on any gateway \
                                     instance (a replayed request may get a later position than the first answer)",
                                ))
                                .build(),
                        );
                    }
                }
            }
        }
    }
}

/// The whole public API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Slotstream",
        description = "Resource booking as a streaming choreography. Errors are `application/problem+json` \
            (RFC 9457) with a stable `code`. Timestamps are RFC 3339 (UTC on output); money is integer minor units. \
            `POST /v1/bookings`, `POST /v1/bookings/{id}/reschedule` and `POST /v1/payments/{id}/complete` require an `Idempotency-Key`: the same key, \
            user and body return the first answer again; another body answers 422 `idempotency_key_reused`. \
            Reads are eventually consistent (milliseconds); this gateway also serves what it has just answered, \
            so a client that got 201 sees its booking at once. Rate limits answer 429 `rate_limited` with `Retry-After`. \
            A 202 `pending_decision` (with `Retry-After`) means no decision arrived within the gateway's wait: \
            the request will be decided; repeat it with the same Idempotency-Key for the first decision. \
            A 202 `processing` means accepted, with the outcome to come (a checkout at the provider)."
    ),
    paths(
        auth::register, auth::verify, auth::resend, auth::login, auth::unlock,
        resources::create, resources::get_one, resources::list, resources::availability,
        schedule::get_schedule, schedule::put_schedule, schedule::slots, schedule::search,
        bookings::create, bookings::get_one, bookings::list, bookings::cancel, bookings::reschedule, bookings::vendor_list,
        payments::get_one, payments::complete, payments::webhook, payments::checkout_page,
        api_keys::create, api_keys::list, api_keys::revoke, events::list,
        webhooks::create, webhooks::list, webhooks::get_one, webhooks::delete,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi, ops::docs, ops::docs_script, ops::docs_style,
    ),
    components(schemas(
        Problem, FieldError, MoneyDto, RoleDto, RegisterRequest, RegisterResponse, VerifyRequest, VerifyResponse,
        ResendRequest, ResendResponse, LoginRequest, TokenResponse, UnlockRequest, UnlockResponse, PriceDto, PolicyDto, CreateResourceRequest,
        ResourceDto, ResourcePage, IntervalDto, AvailabilityDto, CreateBookingRequest, RescheduleBookingRequest, BookingPaymentDto, RefundDto,
        BookingDto, RescheduleDto, BookingPage, ProcessingDto, ProcessingStatus, OutcomeDto, CompletePaymentRequest, PaymentDto, WebhookAck, Health, Readiness, ProcessorReadiness,
        WebhookEventDto, WebhookDataDto, OpeningDto, WeekDto, ExceptionDto, ScheduleDto, RulesDto,
        ScheduleRequest, ScheduleAnswerDto, ScheduleChangedDto, SlotDto, SlotsDto, SlotSearchPage,
        CreateApiKeyRequest, ApiKeyDto, ApiKeyList, EventDto, EventPage,
        CreateWebhookRequest, WebhookDto, WebhookList,
    )),
    modifiers(&Bearer, &Consistent, &Problems),
    tags(
        (name = "auth", description = "Registration, email verification, login, unlocking a locked login"),
        (name = "resources", description = "Bookable resources, their opening hours and rules, busy time and free slots"),
        (name = "bookings", description = "Holding, reading, rescheduling and cancelling bookings"),
        (name = "payments", description = "The sandbox provider's checkout, payments and webhooks"),
        (name = "api-keys", description = "Keys for server-to-server partners: `Authorization: Bearer sk_live_…`, scopes per route group, `X-Customer-Ref` for the partner's end users, per-key quotas with `RateLimit-*` headers"),
        (name = "webhooks", description = "Your resources' booking and payment events POSTed to your URL, signed with `Slotstream-Signature: t=…,v1=HMAC-SHA256(secret, \"t.body\")` (subscriptions; deliveries are not built yet)"),
        (name = "events", description = "The booking and payment events of your resources or bookings, oldest first, with a cursor to poll from (for partners without webhooks)"),
        (name = "operations", description = "Liveness, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_every_contract_endpoint_and_the_bearer_scheme() {
        let doc: serde_json::Value =
            serde_json::from_str(&ApiDoc::openapi().to_json().unwrap()).unwrap();
        for (path, method) in [
            ("/v1/auth/register", "post"),
            ("/v1/auth/verify", "post"),
            ("/v1/auth/resend", "post"),
            ("/v1/auth/login", "post"),
            ("/v1/auth/unlock", "post"),
            ("/v1/resources", "post"),
            ("/v1/resources", "get"),
            ("/v1/resources/{id}", "get"),
            ("/v1/resources/{id}/availability", "get"),
            ("/v1/resources/{id}/schedule", "get"),
            ("/v1/resources/{id}/schedule", "put"),
            ("/v1/resources/{id}/slots", "get"),
            ("/v1/slots", "get"),
            ("/v1/vendor/bookings", "get"),
            ("/v1/bookings", "post"),
            ("/v1/bookings", "get"),
            ("/v1/bookings/{id}", "get"),
            ("/v1/bookings/{id}/cancel", "post"),
            ("/v1/bookings/{id}/reschedule", "post"),
            ("/v1/payments/{id}", "get"),
            ("/v1/payments/{id}/complete", "post"),
            ("/v1/webhooks/payments", "post"),
            ("/v1/webhooks", "post"),
            ("/v1/webhooks", "get"),
            ("/v1/webhooks/{id}", "get"),
            ("/v1/webhooks/{id}", "delete"),
            ("/healthz", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing"
            );
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(
            doc["components"]["schemas"]["BookingDto"]["properties"]["hold_expires_at"].is_object()
        );
    }

    #[test]
    fn an_undecided_answer_is_described_apart_from_an_accepted_one() {
        let doc: serde_json::Value =
            serde_json::from_str(&ApiDoc::openapi().to_json().unwrap()).unwrap();
        let status = &doc["components"]["schemas"]["ProcessingStatus"];
        let words: Vec<&str> = status["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(words, ["processing", "pending_decision"]);
        for (path, method) in [
            ("/v1/bookings", "post"),
            ("/v1/bookings/{id}/cancel", "post"),
            ("/v1/bookings/{id}/reschedule", "post"),
            ("/v1/payments/{id}/complete", "post"),
        ] {
            let accepted = &doc["paths"][path][method]["responses"]["202"];
            assert!(
                accepted["headers"]["Retry-After"].is_object(),
                "{method} {path}: {accepted}"
            );
        }
    }

    #[test]
    fn unlock_is_described_with_every_answer_and_its_constraints() {
        let doc: serde_json::Value =
            serde_json::from_str(&ApiDoc::openapi().to_json().unwrap()).unwrap();
        let op = &doc["paths"]["/v1/auth/unlock"]["post"];
        let mut statuses: Vec<&str> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .map(String::as_str)
            .collect();
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            ["200", "202", "400", "413", "415", "422", "429", "503"]
        );
        for status in ["400", "429"] {
            assert!(
                op["responses"][status]["content"]["application/problem+json"].is_object(),
                "{status}"
            );
        }
        assert!(op["responses"]["429"]["headers"]["Retry-After"].is_object());
        let body = &doc["components"]["schemas"]["UnlockRequest"];
        assert_eq!(body["properties"]["code"]["pattern"], r"^\s*[0-9]{6}\s*$");
        assert_eq!(body["properties"]["email"]["format"], "email");
        assert_eq!(body["properties"]["email"]["maxLength"], 254);
        assert_eq!(body["additionalProperties"], false);
        let mut required: Vec<&str> = body["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["code", "email"]);
    }
}
