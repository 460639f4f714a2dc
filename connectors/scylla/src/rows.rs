//! Typed CQL rows and their conversions to and from the runtime's views.
//!
//! Every column has a native CQL type (text, bigint, int, boolean,
//! timestamp, date) so a data team can read the tables with cqlsh; enums are
//! stored as the snake_case words the public API uses. A row that does not
//! convert back (an unknown status word, an out-of-range int) is reported as
//! [`ViewError::Corrupt`].

use scylla::value::{CqlDate, CqlTimestamp};
use scylla::{DeserializeRow, SerializeRow};
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::identity::Role;
use slotstream_domain::payment::PaymentStatus;
use slotstream_domain::resource::{CancellationPolicy, Price, Resource};
use slotstream_domain::schedule::{BookingRules, ScheduleSpec};
use slotstream_domain::time::DAY;
use slotstream_domain::{BookingId, Millis, Money, PaymentId, ResourceId, UserId};
use slotstream_runtime::{
    ApiKeyView, BookingView, LoginLockView, PaymentView, UserView, ViewError, WebhookView,
};

/// The booking columns, in the order every booking table declares them.
pub(crate) const BOOKING_COLUMNS: &[&str] = &[
    "booking_id",
    "resource_id",
    "vendor_id",
    "user_id",
    "starts_at",
    "ends_at",
    "status",
    "amount",
    "currency",
    "hold_expires_at",
    "payment_id",
    "refund_amount",
    "refund_currency",
    "created_at",
    "updated_at",
    "reschedules",
];

/// The resource columns, in the order every resource table declares them.
pub(crate) const RESOURCE_COLUMNS: &[&str] = &[
    "resource_id",
    "vendor_id",
    "name",
    "kind",
    "price_amount",
    "price_currency",
    "price_unit_minutes",
    "timezone",
    "slot_minutes",
    "min_minutes",
    "max_minutes",
    "full_refund_hours",
    "partial_refund_hours",
    "partial_refund_percent",
    "created_at",
    "scheduling",
];

/// The payment columns.
pub(crate) const PAYMENT_COLUMNS: &[&str] = &[
    "payment_id",
    "booking_id",
    "resource_id",
    "user_id",
    "status",
    "amount",
    "currency",
    "refunded_amount",
    "checkout_url",
    "updated_at",
];

/// The user columns.
pub(crate) const USER_COLUMNS: &[&str] = &[
    "email",
    "user_id",
    "name",
    "role",
    "password_hash",
    "verified",
    "created_at",
];

/// One booking as every booking table stores it.
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct BookingRow {
    pub booking_id: String,
    pub resource_id: String,
    pub vendor_id: String,
    pub user_id: String,
    pub starts_at: CqlTimestamp,
    pub ends_at: CqlTimestamp,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub hold_expires_at: CqlTimestamp,
    pub payment_id: String,
    pub refund_amount: Option<i64>,
    pub refund_currency: Option<String>,
    pub created_at: CqlTimestamp,
    pub updated_at: CqlTimestamp,
    /// Its moves as JSON (a list of `RescheduleView`s, oldest first); null
    /// for a booking never moved (and in rows written before the column).
    pub reschedules: Option<String>,
}

/// A booking row in a day-bucketed table (by resource or by vendor).
#[derive(Debug, SerializeRow)]
pub(crate) struct DayBookingRow<'a> {
    pub day: CqlDate,
    #[scylla(flatten)]
    pub booking: &'a BookingRow,
}

impl From<&BookingView> for BookingRow {
    fn from(b: &BookingView) -> Self {
        Self {
            booking_id: b.id.to_string(),
            resource_id: b.resource_id.to_string(),
            vendor_id: b.vendor_id.to_string(),
            user_id: b.user_id.to_string(),
            starts_at: CqlTimestamp(b.start),
            ends_at: CqlTimestamp(b.end),
            status: b.status.as_str().to_owned(),
            amount: b.amount.amount,
            currency: b.amount.currency.clone(),
            hold_expires_at: CqlTimestamp(b.hold_expires_at),
            payment_id: b.payment_id.to_string(),
            refund_amount: b.refund.as_ref().map(|m| m.amount),
            refund_currency: b.refund.as_ref().map(|m| m.currency.clone()),
            created_at: CqlTimestamp(b.created_at),
            updated_at: CqlTimestamp(b.updated_at),
            reschedules: (!b.reschedules.is_empty())
                .then(|| serde_json::to_string(&b.reschedules).unwrap_or_default()),
        }
    }
}

impl TryFrom<BookingRow> for BookingView {
    type Error = ViewError;

    fn try_from(r: BookingRow) -> Result<Self, ViewError> {
        let refund = match (r.refund_amount, r.refund_currency) {
            (Some(amount), Some(currency)) => Some(Money::new(amount, currency)),
            (None, None) => None,
            _ => return Err(corrupt("booking", &r.booking_id, "half a refund")),
        };
        let reschedules = match r.reschedules.as_deref() {
            None => Vec::new(),
            Some(json) => serde_json::from_str(json)
                .map_err(|e| corrupt("booking", &r.booking_id, &format!("reschedules: {e}")))?,
        };
        Ok(Self {
            status: BookingStatus::parse(&r.status)
                .ok_or_else(|| corrupt("booking", &r.booking_id, "unknown status"))?,
            id: BookingId(r.booking_id),
            resource_id: ResourceId(r.resource_id),
            vendor_id: UserId(r.vendor_id),
            user_id: UserId(r.user_id),
            start: r.starts_at.0,
            end: r.ends_at.0,
            amount: Money::new(r.amount, r.currency),
            hold_expires_at: r.hold_expires_at.0,
            payment_id: PaymentId(r.payment_id),
            refund,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
            reschedules,
        })
    }
}

/// One resource as every resource table stores it.
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct ResourceRow {
    pub resource_id: String,
    pub vendor_id: String,
    pub name: String,
    pub kind: String,
    pub price_amount: i64,
    pub price_currency: String,
    pub price_unit_minutes: i32,
    pub timezone: String,
    pub slot_minutes: i32,
    pub min_minutes: i32,
    pub max_minutes: i32,
    pub full_refund_hours: i32,
    pub partial_refund_hours: i32,
    pub partial_refund_percent: i32,
    pub created_at: CqlTimestamp,
    /// The schedule and rules as JSON (`{"schedule": .., "rules": ..}`);
    /// null for a resource with neither (and in rows written before
    /// resources had them).
    pub scheduling: Option<String>,
}

/// The `scheduling` column's JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct Scheduling {
    schedule: Option<Box<ScheduleSpec>>,
    rules: BookingRules,
}

/// A resource row in the single-partition catalog (every resource, by id).
#[derive(Debug, SerializeRow)]
pub(crate) struct CatalogRow<'a> {
    pub catalog: i32,
    #[scylla(flatten)]
    pub resource: &'a ResourceRow,
}

/// Minutes and hours are `u32` in the domain and `int` in CQL; the domain's
/// rules keep them far below `i32::MAX`, so saturating is never lossy for a
/// valid resource.
fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl From<&Resource> for ResourceRow {
    fn from(r: &Resource) -> Self {
        let p = &r.cancellation_policy;
        Self {
            resource_id: r.id.to_string(),
            vendor_id: r.vendor_id.to_string(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            price_amount: r.price.amount,
            price_currency: r.price.currency.clone(),
            price_unit_minutes: int(r.price.unit_minutes),
            timezone: r.timezone.clone(),
            slot_minutes: int(r.slot_minutes),
            min_minutes: int(r.min_minutes),
            max_minutes: int(r.max_minutes),
            full_refund_hours: int(p.full_refund_hours),
            partial_refund_hours: int(p.partial_refund_hours),
            partial_refund_percent: i32::from(p.partial_refund_percent),
            created_at: CqlTimestamp(r.created_at),
            scheduling: (!r.unrestricted()).then(|| {
                serde_json::to_string(&Scheduling {
                    schedule: r.schedule.clone(),
                    rules: r.rules,
                })
                .unwrap_or_default()
            }),
        }
    }
}

impl TryFrom<ResourceRow> for Resource {
    type Error = ViewError;

    fn try_from(r: ResourceRow) -> Result<Self, ViewError> {
        let id = r.resource_id;
        let scheduling = match r.scheduling.as_deref() {
            None => Scheduling {
                schedule: None,
                rules: BookingRules::default(),
            },
            Some(json) => serde_json::from_str(json)
                .map_err(|e| corrupt("resource", &id, &format!("scheduling: {e}")))?,
        };
        let uint = |v: i32, what: &str| {
            u32::try_from(v).map_err(|_| corrupt("resource", &id, &format!("negative {what}")))
        };
        Ok(Self {
            price: Price {
                amount: r.price_amount,
                currency: r.price_currency,
                unit_minutes: uint(r.price_unit_minutes, "price_unit_minutes")?,
            },
            slot_minutes: uint(r.slot_minutes, "slot_minutes")?,
            min_minutes: uint(r.min_minutes, "min_minutes")?,
            max_minutes: uint(r.max_minutes, "max_minutes")?,
            cancellation_policy: CancellationPolicy {
                full_refund_hours: uint(r.full_refund_hours, "full_refund_hours")?,
                partial_refund_hours: uint(r.partial_refund_hours, "partial_refund_hours")?,
                partial_refund_percent: u8::try_from(r.partial_refund_percent)
                    .map_err(|_| corrupt("resource", &id, "partial_refund_percent out of range"))?,
            },
            vendor_id: UserId(r.vendor_id),
            name: r.name,
            kind: r.kind,
            timezone: r.timezone,
            created_at: r.created_at.0,
            id: ResourceId(id),
            schedule: scheduling.schedule,
            rules: scheduling.rules,
        })
    }
}

/// One payment.
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct PaymentRow {
    pub payment_id: String,
    pub booking_id: String,
    pub resource_id: String,
    pub user_id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub refunded_amount: i64,
    pub checkout_url: String,
    pub updated_at: CqlTimestamp,
}

impl From<&PaymentView> for PaymentRow {
    fn from(p: &PaymentView) -> Self {
        Self {
            payment_id: p.id.to_string(),
            booking_id: p.booking_id.to_string(),
            resource_id: p.resource_id.to_string(),
            user_id: p.user_id.to_string(),
            status: p.status.as_str().to_owned(),
            amount: p.amount.amount,
            currency: p.amount.currency.clone(),
            refunded_amount: p.refunded_amount,
            checkout_url: p.checkout_url.clone(),
            updated_at: CqlTimestamp(p.updated_at),
        }
    }
}

impl TryFrom<PaymentRow> for PaymentView {
    type Error = ViewError;

    fn try_from(r: PaymentRow) -> Result<Self, ViewError> {
        Ok(Self {
            status: PaymentStatus::parse(&r.status)
                .ok_or_else(|| corrupt("payment", &r.payment_id, "unknown status"))?,
            id: PaymentId(r.payment_id),
            booking_id: BookingId(r.booking_id),
            resource_id: ResourceId(r.resource_id),
            user_id: UserId(r.user_id),
            amount: Money::new(r.amount, r.currency),
            refunded_amount: r.refunded_amount,
            checkout_url: r.checkout_url,
            updated_at: r.updated_at.0,
        })
    }
}

/// One user, keyed by normalized email.
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct UserRow {
    pub email: String,
    pub user_id: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub verified: bool,
    pub created_at: CqlTimestamp,
}

impl From<&UserView> for UserRow {
    fn from(u: &UserView) -> Self {
        Self {
            email: u.email.clone(),
            user_id: u.user_id.to_string(),
            name: u.name.clone(),
            role: u.role.as_str().to_owned(),
            password_hash: u.password_hash.clone(),
            verified: u.verified,
            created_at: CqlTimestamp(u.created_at),
        }
    }
}

impl TryFrom<UserRow> for UserView {
    type Error = ViewError;

    fn try_from(r: UserRow) -> Result<Self, ViewError> {
        let Some(role) = Role::parse(&r.role) else {
            return Err(corrupt("user", &r.email, "unknown role"));
        };
        Ok(Self {
            user_id: UserId(r.user_id),
            email: r.email,
            name: r.name,
            role,
            password_hash: r.password_hash,
            verified: r.verified,
            created_at: r.created_at.0,
        })
    }
}

/// The login-lock columns.
pub(crate) const LOGIN_LOCK_COLUMNS: &[&str] = &["email", "locked_until", "unlocked_at"];

/// One login lock, keyed by normalized email (any address, registered or not).
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct LoginLockRow {
    pub email: String,
    pub locked_until: CqlTimestamp,
    pub unlocked_at: Option<CqlTimestamp>,
}

impl From<&LoginLockView> for LoginLockRow {
    fn from(l: &LoginLockView) -> Self {
        Self {
            email: l.email.clone(),
            locked_until: CqlTimestamp(l.locked_until),
            unlocked_at: l.unlocked_at.map(CqlTimestamp),
        }
    }
}

impl From<LoginLockRow> for LoginLockView {
    fn from(r: LoginLockRow) -> Self {
        Self {
            email: r.email,
            locked_until: r.locked_until.0,
            unlocked_at: r.unlocked_at.map(|t| t.0),
        }
    }
}

/// The webhook subscription columns, in the order `webhooks_by_owner`
/// declares them.
pub(crate) const WEBHOOK_COLUMNS: &[&str] = &[
    "owner_id",
    "webhook_id",
    "owner_email",
    "url",
    "events",
    "description",
    "created_at",
];

/// One webhook subscription (no secret: it is derived where needed).
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct WebhookRow {
    pub owner_id: String,
    pub webhook_id: String,
    pub owner_email: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: CqlTimestamp,
}

impl From<&WebhookView> for WebhookRow {
    fn from(w: &WebhookView) -> Self {
        Self {
            owner_id: w.owner_id.0.clone(),
            webhook_id: w.webhook_id.clone(),
            owner_email: w.owner_email.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            description: w.description.clone(),
            created_at: CqlTimestamp(w.created_at),
        }
    }
}

impl From<WebhookRow> for WebhookView {
    fn from(r: WebhookRow) -> Self {
        Self {
            webhook_id: r.webhook_id,
            owner_id: UserId(r.owner_id),
            owner_email: r.owner_email,
            url: r.url,
            events: r.events,
            description: r.description,
            created_at: r.created_at.0,
        }
    }
}

/// The API-key columns, in the order both API-key tables declare them.
pub(crate) const API_KEY_COLUMNS: &[&str] = &[
    "key_id",
    "owner_id",
    "owner_email",
    "name",
    "prefix",
    "secret_hash",
    "scopes",
    "expires_at",
    "rate_per_second",
    "burst",
    "created_at",
    "revoked_at",
];

/// One API key (the SHA-256 of the key, never the key).
#[derive(Clone, Debug, DeserializeRow, SerializeRow)]
pub(crate) struct ApiKeyRow {
    pub key_id: String,
    pub owner_id: String,
    pub owner_email: String,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<CqlTimestamp>,
    pub rate_per_second: Option<i32>,
    pub burst: Option<i32>,
    pub created_at: CqlTimestamp,
    pub revoked_at: Option<CqlTimestamp>,
}

/// A quota as a CQL `int` (they came through Avro `int`s: they fit).
fn quota_int(q: Option<u32>) -> Option<i32> {
    q.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

impl From<&ApiKeyView> for ApiKeyRow {
    fn from(k: &ApiKeyView) -> Self {
        Self {
            key_id: k.key_id.clone(),
            owner_id: k.owner_id.0.clone(),
            owner_email: k.owner_email.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            secret_hash: k.secret_hash.clone(),
            scopes: k.scopes.clone(),
            expires_at: k.expires_at.map(CqlTimestamp),
            rate_per_second: quota_int(k.rate_per_second),
            burst: quota_int(k.burst),
            created_at: CqlTimestamp(k.created_at),
            revoked_at: k.revoked_at.map(CqlTimestamp),
        }
    }
}

impl TryFrom<ApiKeyRow> for ApiKeyView {
    type Error = ViewError;

    fn try_from(r: ApiKeyRow) -> Result<Self, ViewError> {
        let quota = |v: Option<i32>| {
            v.map(u32::try_from)
                .transpose()
                .map_err(|_| corrupt("api key", &r.key_id, "negative quota"))
        };
        let (rate_per_second, burst) = (quota(r.rate_per_second)?, quota(r.burst)?);
        Ok(Self {
            key_id: r.key_id,
            owner_id: UserId(r.owner_id),
            owner_email: r.owner_email,
            name: r.name,
            prefix: r.prefix,
            secret_hash: r.secret_hash,
            scopes: r.scopes,
            expires_at: r.expires_at.map(|t| t.0),
            rate_per_second,
            burst,
            created_at: r.created_at.0,
            revoked_at: r.revoked_at.map(|t| t.0),
        })
    }
}

fn corrupt(what: &str, id: &str, why: &str) -> ViewError {
    ViewError::Corrupt(format!("{what} {id}: {why}"))
}

/// CQL `date` counts days with 1970-01-01 at 2^31.
const EPOCH_DAY: i64 = 1 << 31;

/// The UTC day holding instant `at`, as a CQL `date` (clamped to its range,
/// which spans millions of years either side of any real booking).
pub(crate) fn day_of(at: Millis) -> CqlDate {
    let day = at.div_euclid(DAY).saturating_add(EPOCH_DAY);
    CqlDate(u32::try_from(day.clamp(0, i64::from(u32::MAX))).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_split_at_utc_midnight_and_clamp_at_the_extremes() {
        assert_eq!(day_of(0), CqlDate(1 << 31));
        assert_eq!(day_of(DAY - 1), CqlDate(1 << 31));
        assert_eq!(day_of(-1), CqlDate((1 << 31) - 1));
        assert_eq!(day_of(i64::MAX), CqlDate(u32::MAX));
        assert_eq!(day_of(i64::MIN), CqlDate(0));
    }
}
