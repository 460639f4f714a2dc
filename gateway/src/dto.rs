//! The JSON shapes of the public API (request bodies refuse unknown fields),
//! described for the OpenAPI document.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Integers as JSON (and JSON Schema) count them: `60` and `60.0` alike, a
/// number without a fraction; anything else is refused in the API's words.
pub mod integral {
    use serde::de::{Deserialize, Deserializer, Error};

    /// An integer type and how the API describes its range.
    pub trait Bounded: TryFrom<i64> + TryFrom<u64> {
        /// `must be ...` for a value that is not one.
        const MUST: &'static str;
    }
    impl Bounded for u8 {
        const MUST: &'static str = "must be an integer from 0 to 255";
    }
    impl Bounded for u32 {
        const MUST: &'static str = "must be an integer from 0 to 4294967295";
    }
    impl Bounded for i64 {
        const MUST: &'static str = "must be an integer";
    }

    fn of<T: Bounded, E: Error>(n: &serde_json::Number) -> Result<T, E> {
        let refused = || E::custom(T::MUST);
        if let Some(u) = n.as_u64() {
            return T::try_from(u).map_err(|_| refused());
        }
        if let Some(i) = n.as_i64() {
            return T::try_from(i).map_err(|_| refused());
        }
        match n.as_f64() {
            // Exactly representable and whole: 60.0 is the integer 60.
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                T::try_from(f as i64).map_err(|_| refused())
            }
            _ => Err(refused()),
        }
    }

    /// A required integer field.
    pub fn de<'de, D: Deserializer<'de>, T: Bounded>(d: D) -> Result<T, D::Error> {
        let n = serde_json::Number::deserialize(d).map_err(|_| D::Error::custom(T::MUST))?;
        of(&n)
    }

    /// An optional integer field (`null` or absent: `None`).
    pub fn opt<'de, D: Deserializer<'de>, T: Bounded>(d: D) -> Result<Option<T>, D::Error> {
        let n =
            Option::<serde_json::Number>::deserialize(d).map_err(|_| D::Error::custom(T::MUST))?;
        n.as_ref().map(of).transpose()
    }
}

/// Money in integer minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyDto {
    /// Minor units (cents).
    #[schema(example = 2500)]
    pub amount: i64,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
}

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    /// Books resources.
    Customer,
    /// Owns resources.
    Vendor,
}

/// `POST /v1/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address (case-insensitive; at most 254 characters).
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 10 to 1024 characters.
    #[schema(
        example = "correct horse battery staple",
        min_length = 10,
        max_length = 1024
    )]
    pub password: String,
    /// Display name, 1 to 200 characters, not blank.
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: String,
    /// `customer` or `vendor`.
    pub role: RoleDto,
}

/// Answer of a registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    /// The account's id.
    pub user_id: String,
    /// Normalized email.
    pub email: String,
    /// Always `pending_verification`: a 6-digit code was emailed.
    #[schema(example = "pending_verification")]
    pub status: &'static str,
}

/// `POST /v1/auth/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The registered email.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// The six digits from the email.
    #[schema(example = "042917", pattern = r"^\s*[0-9]{6}\s*$")]
    pub code: String,
}

/// Answer of a verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    /// The account's id.
    pub user_id: String,
    /// Always `verified`.
    #[schema(example = "verified")]
    pub status: &'static str,
}

/// `POST /v1/auth/resend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    /// The registered email.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
}

/// Answer of a resend (also for unknown addresses, so accounts cannot be probed).
#[derive(Debug, Serialize, ToSchema)]
pub struct ResendResponse {
    /// Normalized email.
    pub email: String,
    /// Always `pending_verification`.
    pub status: &'static str,
}

/// `POST /v1/auth/unlock`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    /// The locked account's email.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// The six digits from the lock notice.
    #[schema(example = "042917", pattern = r"^\s*[0-9]{6}\s*$")]
    pub code: String,
}

/// Answer of an unlock.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnlockResponse {
    /// Normalized email.
    pub email: String,
    /// Always `unlocked`: log in with the password.
    #[schema(example = "unlocked")]
    pub status: &'static str,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The registered email.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// The password.
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// HS256 JWT; send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// A resource's list price: `amount` per started `unit_minutes`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceDto {
    /// Minor units per unit.
    #[schema(example = 2500, minimum = 0)]
    #[serde(deserialize_with = "integral::de")]
    pub amount: i64,
    /// ISO 4217 code, upper case.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Length of one billing unit in minutes (an integer, at most a year).
    #[schema(example = 60, minimum = 1, maximum = 525600)]
    #[serde(deserialize_with = "integral::de")]
    pub unit_minutes: u32,
}

/// Refund rules on cancellation of a paid booking.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDto {
    /// Cancelled at least this many hours before start: full refund (at most
    /// a year, 8760).
    #[schema(example = 24, minimum = 0, maximum = 8760)]
    #[serde(deserialize_with = "integral::de")]
    pub full_refund_hours: u32,
    /// Cancelled at least this many hours before start: `partial_refund_percent`
    /// (at most `full_refund_hours`).
    #[schema(example = 2, minimum = 0, maximum = 8760)]
    #[serde(deserialize_with = "integral::de")]
    pub partial_refund_hours: u32,
    /// Percent refunded in the partial window (0 to 100).
    #[schema(example = 50, minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "integral::de")]
    pub partial_refund_percent: u8,
}

/// `POST /v1/resources`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceRequest {
    /// Display name, 1 to 200 characters, not blank.
    #[schema(example = "Court 1", min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Free-form kind (`room`, `court`, ...), 1 to 100 characters, not blank.
    #[schema(example = "court", min_length = 1, max_length = 100, pattern = r"\S")]
    pub kind: String,
    /// List price.
    pub price: PriceDto,
    /// IANA time zone, for display (default `UTC`).
    #[schema(
        example = "Europe/Paris",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9_+/-]+$"
    )]
    pub timezone: Option<String>,
    /// Starts and ends align to this many minutes (default 15).
    #[schema(example = 15, minimum = 1, maximum = 1440)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub slot_minutes: Option<u32>,
    /// Shortest booking in minutes: a multiple of `slot_minutes` (default 15).
    #[schema(example = 15, minimum = 1, maximum = 525600)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub min_minutes: Option<u32>,
    /// Longest booking in minutes: a multiple of `slot_minutes`, at least
    /// `min_minutes` (default 43200 = 30 days, at most 525600 = a year).
    #[schema(example = 43200, minimum = 1, maximum = 525600)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub max_minutes: Option<u32>,
    /// Default `{24, 2, 50}`.
    pub cancellation_policy: Option<PolicyDto>,
    /// Opening hours in `timezone` (which must then be an IANA zone);
    /// absent or null: always open.
    #[serde(default, deserialize_with = "object::opt")]
    pub schedule: Option<ScheduleDto>,
    /// Buffers, notice and horizon; absent: none.
    #[serde(default, deserialize_with = "object::opt")]
    pub rules: Option<RulesDto>,
}

/// A bookable resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDto {
    /// Its id.
    pub id: String,
    /// The vendor who owns it.
    pub vendor_id: String,
    /// Display name.
    pub name: String,
    /// Free-form kind.
    pub kind: String,
    /// List price.
    pub price: PriceDto,
    /// IANA time zone, for display.
    pub timezone: String,
    /// Slot alignment in minutes.
    pub slot_minutes: u32,
    /// Shortest booking in minutes.
    pub min_minutes: u32,
    /// Longest booking in minutes.
    pub max_minutes: u32,
    /// Refund rules.
    pub cancellation_policy: PolicyDto,
    /// When it was registered (RFC 3339, UTC).
    pub created_at: String,
    /// Opening hours in `timezone`; null: always open.
    pub schedule: Option<ScheduleDto>,
    /// Buffers, notice and horizon.
    pub rules: RulesDto,
}

/// A page of resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    /// The resources, by id.
    pub items: Vec<ResourceDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/resources` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceQuery {
    /// Only this vendor's resources.
    pub vendor_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A time range `[start, end)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntervalDto {
    /// Inclusive start (RFC 3339, UTC).
    pub start: String,
    /// Exclusive end (RFC 3339, UTC).
    pub end: String,
}

/// `GET /v1/resources/{id}/availability` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Inclusive start (RFC 3339).
    #[param(required = true, value_type = String, format = DateTime, example = "2030-01-31T00:00:00Z")]
    pub from: Option<String>,
    /// Exclusive end (RFC 3339): after `from`, at most 366 days after it.
    #[param(required = true, value_type = String, format = DateTime, example = "2030-02-01T00:00:00Z")]
    pub to: Option<String>,
}

/// Busy time of a resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityDto {
    /// The resource.
    pub resource_id: String,
    /// Start of the range asked (RFC 3339, UTC).
    pub from: String,
    /// End of the range asked.
    pub to: String,
    /// Intervals held by pending or confirmed bookings, by start.
    pub busy: Vec<IntervalDto>,
}

/// `POST /v1/bookings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    /// The resource to book.
    #[schema(
        example = "res_0123456789abcdef",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub resource_id: String,
    /// Inclusive start (RFC 3339, at most millisecond precision), aligned to
    /// the resource's slots, not in the past.
    #[schema(example = "2030-01-31T09:00:00Z", format = DateTime)]
    pub start: String,
    /// Exclusive end (RFC 3339), aligned to the resource's slots, after `start`.
    #[schema(example = "2030-01-31T10:00:00Z", format = DateTime)]
    pub end: String,
}

/// `POST /v1/bookings/{id}/reschedule`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBookingRequest {
    /// The new inclusive start (RFC 3339, at most millisecond precision),
    /// aligned to the resource's slots, not in the past.
    #[schema(example = "2030-01-31T11:00:00Z", format = DateTime)]
    pub start: String,
    /// The new exclusive end (RFC 3339), aligned to the resource's slots,
    /// after `start`.
    #[schema(example = "2030-01-31T12:00:00Z", format = DateTime)]
    pub end: String,
}

/// A booking's payment, as shown on the booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPaymentDto {
    /// Payment id.
    pub id: String,
    /// `requires_payment`, `processing`, `unknown` (the provider has not said
    /// what became of the checkout yet; it is being asked), `succeeded`,
    /// `failed`, `refunded`, `partially_refunded`, `canceled`.
    pub status: &'static str,
    /// Where the customer pays.
    pub checkout_url: String,
}

/// The refund of a cancelled booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundDto {
    /// Minor units refunded (zero when unpaid or too late for a refund).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `none` (nothing to refund), `pending` (ordered from the provider) or `succeeded`.
    pub status: &'static str,
}

/// A booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingDto {
    /// Booking id.
    pub id: String,
    /// The resource.
    pub resource_id: String,
    /// The customer.
    pub user_id: String,
    /// Inclusive start (RFC 3339, UTC).
    pub start: String,
    /// Exclusive end (RFC 3339, UTC).
    pub end: String,
    /// `pending`, `confirmed`, `failed`, `expired` or `cancelled`.
    pub status: &'static str,
    /// Pay before this instant (RFC 3339, UTC): a checkout submitted before
    /// it keeps the slot until the payment is decided, however late the
    /// decision; a checkout after it is refused (409 `payment_not_pending`).
    /// Unpaid, the booking expires shortly after it (the checkout grace,
    /// 30 s by default). It never moves.
    pub hold_expires_at: String,
    /// Price.
    pub amount: MoneyDto,
    /// Its payment.
    pub payment: BookingPaymentDto,
    /// Present once cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundDto>,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// Its moves (`POST /v1/bookings/{id}/reschedule`), oldest first; empty
    /// for a booking never moved. `start` and `end` are the last move's
    /// `to_start` and `to_end`.
    pub reschedules: Vec<RescheduleDto>,
}

/// One move of a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct RescheduleDto {
    /// The interval it left: inclusive start (RFC 3339, UTC).
    pub from_start: String,
    /// The interval it left: exclusive end.
    pub from_end: String,
    /// The interval it moved to: inclusive start.
    pub to_start: String,
    /// The interval it moved to: exclusive end.
    pub to_end: String,
    /// Who moved it (a user id).
    pub by: String,
    /// When the move was decided (RFC 3339, UTC).
    pub at: String,
}

/// A page of bookings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    /// The bookings.
    pub items: Vec<BookingDto>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/bookings` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookingQuery {
    /// Only bookings in this status.
    #[param(
        pattern = "^(pending|confirmed|failed|expired|cancelled)?$",
        example = "confirmed"
    )]
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// `GET /v1/vendor/bookings` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VendorBookingQuery {
    /// Only this one of the caller's resources (default: all of them).
    pub resource_id: Option<String>,
    /// Bookings overlapping `[from, to)` (RFC 3339); default: all time.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// See `from`; after it.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A 202 answer: accepted (`processing`), or no decision yet
/// (`pending_decision`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessingDto {
    /// The booking, payment, resource or account id; `GET` it later.
    #[schema(example = "bk_3f9c2a7d1e")]
    pub id: String,
    /// `processing`: accepted, the outcome arrives later (a checkout
    /// submitted to the provider). `pending_decision`: no decision arrived
    /// within the gateway's wait (the answer carries `Retry-After`); the
    /// request is on the log and will be decided: repeat it with the same
    /// Idempotency-Key for the decision (nothing happens twice).
    #[schema(example = "pending_decision")]
    pub status: ProcessingStatus,
}

/// What a 202 answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingStatus {
    /// Accepted; the outcome arrives later.
    Processing,
    /// Not decided within the gateway's wait; retry after `Retry-After`.
    PendingDecision,
}

/// The customer's checkout result at the sandbox provider.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeDto {
    /// The card goes through.
    Succeeded,
    /// The card is declined.
    Failed,
}

/// `POST /v1/payments/{id}/complete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePaymentRequest {
    /// What the customer's card does.
    pub outcome: OutcomeDto,
}

/// A payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDto {
    /// Payment id.
    pub id: String,
    /// Its booking.
    pub booking_id: String,
    /// `requires_payment`, `processing`, `unknown` (the provider has not said
    /// what became of the checkout yet; it is being asked), `succeeded`,
    /// `failed`, `refunded`, `partially_refunded`, `canceled`.
    pub status: &'static str,
    /// Amount due or paid.
    pub amount: MoneyDto,
    /// Refunded so far.
    pub refunded_amount: MoneyDto,
    /// Where the customer pays.
    pub checkout_url: String,
}

/// What a provider event says happened, for `POST /v1/webhooks/payments`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookDataDto {
    /// The payment.
    pub payment_id: String,
    /// Its booking's resource.
    pub resource_id: String,
    /// Why a payment failed (empty on success).
    #[serde(default)]
    pub reason: String,
}

/// A provider event, as signed and sent by the payment provider.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookEventDto {
    /// The provider's event id (redeliveries repeat it).
    #[schema(example = "evt_pay_0123_succeeded")]
    pub id: String,
    /// `payment_intent.succeeded` or `payment_intent.payment_failed`; other
    /// types are acknowledged and ignored.
    #[serde(rename = "type")]
    #[schema(example = "payment_intent.succeeded")]
    pub kind: String,
    /// What it concerns.
    pub data: WebhookDataDto,
    /// When it happened, Unix seconds.
    #[schema(example = 1_900_000_000)]
    pub created: i64,
}

/// Acknowledgement of a webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    /// Always true.
    pub received: bool,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: &'static str,
    /// Each processor (consumer-group member) this process runs; empty for
    /// a gateway alone.
    pub processors: Vec<ProcessorReadiness>,
}

/// One processor's readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessorReadiness {
    /// Its consumer group, e.g. `slotstream.booking`.
    pub group: String,
    /// Its member index within the process.
    pub member: u32,
    /// State restored and inputs read to within the lag bound.
    pub ready: bool,
    /// Whether the process's readiness waits for it (the auditor, off the
    /// request path, does not in `slotstream up`).
    pub gates: bool,
}

/// One opening within a local day, `[start, end)` as `HH:MM` wall-clock
/// times; `end` may be `24:00` (the next midnight).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpeningDto {
    /// Opening, `HH:MM` (00:00 to 23:59).
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// Closing (exclusive), `HH:MM` (00:01 to 24:00), after `start`.
    #[schema(example = "17:30", pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub end: String,
}

/// Opening hours per weekday; an absent or empty day is closed. Within a
/// day, openings must not overlap (they may touch).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WeekDto {
    /// Mondays.
    #[serde(deserialize_with = "object::list")]
    pub monday: Vec<OpeningDto>,
    /// Tuesdays.
    #[serde(deserialize_with = "object::list")]
    pub tuesday: Vec<OpeningDto>,
    /// Wednesdays.
    #[serde(deserialize_with = "object::list")]
    pub wednesday: Vec<OpeningDto>,
    /// Thursdays.
    #[serde(deserialize_with = "object::list")]
    pub thursday: Vec<OpeningDto>,
    /// Fridays.
    #[serde(deserialize_with = "object::list")]
    pub friday: Vec<OpeningDto>,
    /// Saturdays.
    #[serde(deserialize_with = "object::list")]
    pub saturday: Vec<OpeningDto>,
    /// Sundays.
    #[serde(deserialize_with = "object::list")]
    pub sunday: Vec<OpeningDto>,
}

/// Hours that replace the weekday's on one local date.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDto {
    /// The local date, `YYYY-MM-DD` (1900 to 8999).
    #[schema(
        example = "2030-12-24",
        format = Date,
        pattern = "^(19[0-9]{2}|[2-8][0-9]{3})-[0-9]{2}-[0-9]{2}$"
    )]
    pub date: String,
    /// Its openings; empty: closed all day.
    #[serde(default, deserialize_with = "object::list")]
    pub hours: Vec<OpeningDto>,
}

/// A resource's opening hours, local to its `timezone`. A local opening
/// covers the real time from the first moment the wall clock reads its
/// start to the first moment it reads its end: on a spring-forward day the
/// skipped hour is never open, on a fall-back day a repeated hour is open
/// once per occurrence.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDto {
    /// The weekly hours.
    #[serde(default, deserialize_with = "object::req")]
    pub weekly: WeekDto,
    /// Dated exceptions (holidays, special hours), at most one per date and
    /// 1000 in all.
    #[serde(default, deserialize_with = "object::list")]
    pub exceptions: Vec<ExceptionDto>,
}

/// Booking rules beyond opening hours, in minutes. All default to zero (no
/// buffer, bookable from now on) and the horizon to none.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDto {
    /// Busy time before each booking, for conflicts only: not charged, not
    /// part of the booking's time (at most 10080, a week).
    #[schema(example = 10, minimum = 0, maximum = 10080)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub buffer_before_minutes: Option<u32>,
    /// Busy time after each booking, for conflicts only (at most 10080).
    #[schema(example = 15, minimum = 0, maximum = 10080)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub buffer_after_minutes: Option<u32>,
    /// A booking must start at least this long after the request.
    #[schema(example = 120, minimum = 0, maximum = 2628000)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub min_notice_minutes: Option<u32>,
    /// A booking must start at most this long after the request; null: no
    /// limit. Not shorter than `min_notice_minutes`.
    #[schema(example = 86400, minimum = 0, maximum = 2628000)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub max_horizon_minutes: Option<u32>,
    /// Cancelling is refused from this long before the start on.
    #[schema(example = 1440, minimum = 0, maximum = 2628000)]
    #[serde(default, deserialize_with = "integral::opt")]
    pub modify_notice_minutes: Option<u32>,
}

/// `PUT /v1/resources/{id}/schedule`: replaces the opening hours and the
/// rules together.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// The new opening hours, with their exceptions; null or absent: always
    /// open.
    #[serde(default, deserialize_with = "object::opt")]
    pub schedule: Option<ScheduleDto>,
    /// The new rules; absent: none.
    #[serde(default, deserialize_with = "object::opt")]
    pub rules: Option<RulesDto>,
}

/// A resource's opening hours and rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleAnswerDto {
    /// The resource.
    pub resource_id: String,
    /// The IANA zone the hours are local to.
    pub timezone: String,
    /// Opening hours; null: always open.
    pub schedule: Option<ScheduleDto>,
    /// Buffers, notice and horizon.
    pub rules: RulesDto,
}

/// The answer to a schedule change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleChangedDto {
    /// The resource's opening hours and rules now.
    #[serde(flatten)]
    pub current: ScheduleAnswerDto,
    /// Active bookings, not yet ended, that lie outside the new hours. They
    /// were not cancelled: the vendor decides what to do with them.
    pub outside_hours: Vec<String>,
}

/// `GET /v1/resources/{id}/slots` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// First start to consider (RFC 3339).
    #[param(required = true, value_type = String, format = DateTime, example = "2030-01-31T00:00:00Z")]
    pub from: Option<String>,
    /// Starts before this (RFC 3339): after `from`, at most 62 days after it.
    #[param(required = true, value_type = String, format = DateTime, example = "2030-02-07T00:00:00Z")]
    pub to: Option<String>,
    /// Length of the booking in minutes: a multiple of the resource's
    /// `slot_minutes` within its `min_minutes` and `max_minutes`.
    #[param(required = true, value_type = u32, example = 60)]
    pub duration: Option<String>,
}

/// A bookable interval.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotDto {
    /// Start (RFC 3339, UTC).
    pub start: String,
    /// End (RFC 3339, UTC).
    pub end: String,
    /// Start on the resource's wall clock, with its UTC offset then.
    pub local_start: String,
    /// End on the resource's wall clock, with its UTC offset then.
    pub local_end: String,
}

/// Free slots of a resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotsDto {
    /// The resource.
    pub resource_id: String,
    /// The zone of `local_start` and `local_end`.
    pub timezone: String,
    /// The window asked (RFC 3339, UTC).
    pub from: String,
    /// End of the window (exclusive, for starts).
    pub to: String,
    /// Length of each slot in minutes.
    pub duration_minutes: u32,
    /// Every start on the resource's slot grid in the window that the
    /// booking processor would accept now (opening hours, buffers, notice,
    /// horizon, other bookings as the views know them), by start.
    pub slots: Vec<SlotDto>,
    /// True when the answer stopped at its limit (10 000 slots): ask again
    /// from the last start.
    pub truncated: bool,
}

/// `GET /v1/slots` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotSearchQuery {
    /// Only resources of this kind.
    pub kind: Option<String>,
    /// Only resources of this vendor.
    pub vendor_id: Option<String>,
    /// First start to consider (RFC 3339).
    #[param(required = true, value_type = String, format = DateTime, example = "2030-01-31T00:00:00Z")]
    pub from: Option<String>,
    /// Starts before this (RFC 3339): after `from`, at most 62 days after it.
    #[param(required = true, value_type = String, format = DateTime, example = "2030-02-07T00:00:00Z")]
    pub to: Option<String>,
    /// Length of the booking in minutes, 1 to 525600. Resources whose
    /// `slot_minutes`, `min_minutes` and `max_minutes` do not allow it are
    /// not listed.
    #[param(required = true, value_type = u32, minimum = 1, maximum = 525_600, example = 60)]
    pub duration: Option<String>,
    /// Most resources listed, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Free slots across resources: a page of the resources that have any.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotSearchPage {
    /// The window asked (RFC 3339, UTC).
    pub from: String,
    /// End of the window (exclusive, for starts).
    pub to: String,
    /// Length of each slot in minutes.
    pub duration_minutes: u32,
    /// By resource id, each resource with at least one free slot, with
    /// the answer `GET /v1/resources/{id}/slots` gives for it. At most
    /// `limit` resources and 10 000 slots in all (one resource's own
    /// answer may reach 10 000 and say `truncated`).
    pub items: Vec<SlotsDto>,
    /// Pass as `cursor` for the next page; absent on the last page. A page
    /// looks at no more than 1 000 resources, so it may list fewer than
    /// `limit` (even none) and still have a next one.
    pub next_cursor: Option<String>,
}

/// Nested request objects must be JSON objects: serde's derived `Deserialize`
/// would also build a struct from an array of its fields in order
/// (`"rules": [null, null]`), which the OpenAPI description does not allow.
mod object {
    use serde::Deserialize;
    use serde::de::{DeserializeOwned, Deserializer, Error};
    use serde_json::Value;

    fn one<T: DeserializeOwned, E: Error>(v: Value) -> Result<T, E> {
        match v {
            Value::Object(_) => serde_json::from_value(v).map_err(E::custom),
            other => Err(E::custom(format!(
                "expected an object, found {}",
                kind(&other)
            ))),
        }
    }

    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// An optional object (null or absent: `None`).
    pub fn opt<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => one(v).map(Some),
        }
    }

    /// A required object.
    pub fn req<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
        one(Value::deserialize(d)?)
    }

    /// An array of objects.
    pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Array(items) => items.into_iter().map(one).collect(),
            other => Err(D::Error::custom(format!(
                "expected an array, found {}",
                kind(&other)
            ))),
        }
    }
}

/// `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label, 1 to 100 characters, not blank.
    #[schema(
        example = "booking partner",
        min_length = 1,
        max_length = 100,
        pattern = r"\S"
    )]
    pub name: String,
    /// What the key may do, at least one of `bookings:read`,
    /// `bookings:write`, `resources:read`, `resources:write`,
    /// `payments:read`, `payments:write`.
    #[schema(
        schema_with = scope_list,
        example = json!(["bookings:write", "resources:read"])
    )]
    pub scopes: Vec<String>,
    /// When the key stops working by itself (RFC 3339, in the future);
    /// absent: never.
    #[serde(default)]
    #[schema(example = "2030-01-01T00:00:00Z", format = DateTime)]
    pub expires_at: Option<String>,
    /// Sustained requests per second (1 to 10000); absent: the gateway's
    /// default.
    #[serde(default, deserialize_with = "integral::opt")]
    #[schema(minimum = 1, maximum = 10000)]
    pub rate_per_second: Option<u32>,
    /// Requests allowed back to back (1 to 100000); absent: the gateway's
    /// default.
    #[serde(default, deserialize_with = "integral::opt")]
    #[schema(minimum = 1, maximum = 100000)]
    pub burst: Option<u32>,
}

/// The OpenAPI schema of a key's scopes: a non-empty array of the scope
/// names the gateway knows (so a client sees them, and a generator only
/// makes those).
fn scope_list() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([
                    "bookings:read",
                    "bookings:write",
                    "resources:read",
                    "resources:write",
                    "payments:read",
                    "payments:write",
                ])),
        )
        .min_items(Some(1))
        .build()
}

/// An API key as its owner sees it: never the key itself, except `secret`
/// in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDto {
    /// The key's id (the part after `sk_live_`).
    pub id: String,
    /// The owner's label.
    pub name: String,
    /// `sk_live_<id>`: how the key begins.
    pub prefix: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// `active`, `revoked` or `expired`.
    #[schema(example = "active")]
    pub status: &'static str,
    /// Sustained requests per second it gets.
    pub rate_per_second: u32,
    /// Requests it may make back to back.
    pub burst: u32,
    /// When it stops working by itself, if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it was revoked, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The whole key, in the answer that created it and nowhere else:
    /// store it now, it cannot be shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "sk_live_0123456789abcdef01234567_…")]
    pub secret: Option<String>,
}

/// The caller's API keys, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys, revoked and expired ones included.
    pub items: Vec<ApiKeyDto>,
}

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed: `https://` (or `http://`), whose host
    /// must not resolve to a loopback, private, link-local or unspecified
    /// address unless the operator allows it.
    #[schema(
        example = "https://partner.example.com/slotstream/hooks",
        max_length = 2048
    )]
    pub url: String,
    /// Event types to deliver (those of `GET /v1/events`), or `["*"]` for
    /// all.
    #[schema(example = json!(["booking.confirmed", "booking.cancelled", "payment.refunded"]))]
    pub events: Vec<String>,
    /// A note for yourself (at most 500 characters).
    #[serde(default)]
    #[schema(example = "production CRM sync", max_length = 500)]
    pub description: Option<String>,
}

/// A webhook subscription as its owner sees it: never its secret, except
/// `secret` in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    /// The subscription's id.
    #[schema(example = "wh_5f0c6b1d9a8e4c7fb2a13d4e5f607182")]
    pub id: String,
    /// Where deliveries go.
    #[schema(example = "https://partner.example.com/slotstream/hooks")]
    pub url: String,
    /// Event types delivered (`*`: all).
    #[schema(example = json!(["booking.confirmed", "booking.cancelled"]))]
    pub events: Vec<String>,
    /// Your note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `enabled`.
    #[schema(example = "enabled")]
    pub status: &'static str,
    /// When it was created.
    pub created_at: String,
    /// The signing secret, in the answer that created the subscription and
    /// nowhere else: store it now. Verify each delivery's
    /// `Slotstream-Signature: t=<secs>,v1=<hex>` as HMAC-SHA256 keyed by
    /// this string over `"<t>.<raw body>"`, and refuse a `t` more than
    /// 5 minutes from your clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_9c1b…")]
    pub secret: Option<String>,
}

/// The caller's webhook subscriptions, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// The subscriptions.
    pub items: Vec<WebhookDto>,
}

/// `GET /v1/events` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// A previous page's `next_cursor`; absent: from the oldest event.
    pub after: Option<String>,
    /// Comma-separated event types to list (others are skipped); absent:
    /// every type.
    #[param(example = "booking.confirmed,booking.cancelled")]
    pub types: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// One booking or payment event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDto {
    /// Stable id, derived from the event's log position.
    #[schema(example = "evt_AQcU")]
    pub id: String,
    /// `resource.created`, `resource.schedule_changed`, `booking.held`,
    /// `booking.confirmed`, `booking.failed`, `booking.expired`,
    /// `booking.cancelled`, `booking.rescheduled`,
    /// `booking.payment_delayed`, `payment.created`, `payment.processing`,
    /// `payment.succeeded`, `payment.failed`, `payment.canceled`,
    /// `payment.refunded` or `payment.unknown`.
    #[serde(rename = "type")]
    #[schema(example = "booking.confirmed")]
    pub kind: String,
    /// When it happened (RFC 3339, UTC).
    pub created_at: String,
    /// The resource.
    pub resource_id: String,
    /// The booking, if the event is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    /// The payment, if the event names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// What changed: ids, the new status, and the fields of that change.
    #[schema(value_type = Object, example = json!({"booking_id": "bk_3f9c2a7d1e", "status": "confirmed"}))]
    pub data: serde_json::Value,
}

/// A page of events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub items: Vec<EventDto>,
    /// Where the next page starts: always present, so a partner polls from
    /// it for events that happen later.
    pub next_cursor: String,
    /// Whether more events were already there past this page.
    pub has_more: bool,
}
