//! The read-view port: what the gateway's GETs read, written only by the views
//! processor. Writes are upserts and patches that are idempotent, so a
//! redelivered event re-applies harmlessly where views and offsets can't share
//! a transaction (ScyllaDB); the embedded store applies them atomically with
//! the views processor's offsets.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use slotstream_domain::booking::{BookingHeld, BookingRescheduled, BookingStatus};
use slotstream_domain::identity::{ApiKeyCreated, Role, UserRegistered, WebhookCreated};
use slotstream_domain::payment::{PaymentIntentCreated, PaymentStatus};
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, Money, PaymentId, ResourceId, UserId};

/// A booking as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingView {
    /// Booking id.
    pub id: BookingId,
    /// Resource booked.
    pub resource_id: ResourceId,
    /// The resource's vendor.
    pub vendor_id: UserId,
    /// The customer.
    pub user_id: UserId,
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
    /// Lifecycle state.
    pub status: BookingStatus,
    /// Price.
    pub amount: Money,
    /// When the hold lapses if unpaid.
    pub hold_expires_at: Millis,
    /// Its payment (its status lives in the payment view: booking and payment
    /// events travel on different topics, so one row never mixes the two).
    pub payment_id: PaymentId,
    /// Refund owed on cancellation, if any.
    pub refund: Option<Money>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// Its moves, oldest first (empty for a booking never rescheduled).
    /// The last field: rows stored before it read as [`BookingViewV1`].
    pub reschedules: Vec<RescheduleView>,
}

/// One move of a booking: from which interval to which, by whom, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescheduleView {
    /// The interval it held before: inclusive start.
    pub from_start: Millis,
    /// The interval it held before: exclusive end.
    pub from_end: Millis,
    /// The interval it moved to: inclusive start.
    pub to_start: Millis,
    /// The interval it moved to: exclusive end.
    pub to_end: Millis,
    /// Who moved it.
    pub by: UserId,
    /// When the move was decided.
    pub at: Millis,
}

impl RescheduleView {
    /// The move a `BookingRescheduled` decided.
    pub fn of(e: &BookingRescheduled) -> Self {
        Self {
            from_start: e.previous_start,
            from_end: e.previous_end,
            to_start: e.start,
            to_end: e.end,
            by: e.rescheduled_by.clone(),
            at: e.rescheduled_at,
        }
    }
}

/// A booking row as stored before bookings showed their moves: read from
/// old stores (postcard rows are read by position), never written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingViewV1 {
    /// See [`BookingView::id`].
    pub id: BookingId,
    /// See [`BookingView::resource_id`].
    pub resource_id: ResourceId,
    /// See [`BookingView::vendor_id`].
    pub vendor_id: UserId,
    /// See [`BookingView::user_id`].
    pub user_id: UserId,
    /// See [`BookingView::start`].
    pub start: Millis,
    /// See [`BookingView::end`].
    pub end: Millis,
    /// See [`BookingView::status`].
    pub status: BookingStatus,
    /// See [`BookingView::amount`].
    pub amount: Money,
    /// See [`BookingView::hold_expires_at`].
    pub hold_expires_at: Millis,
    /// See [`BookingView::payment_id`].
    pub payment_id: PaymentId,
    /// See [`BookingView::refund`].
    pub refund: Option<Money>,
    /// See [`BookingView::created_at`].
    pub created_at: Millis,
    /// See [`BookingView::updated_at`].
    pub updated_at: Millis,
}

impl From<BookingViewV1> for BookingView {
    fn from(b: BookingViewV1) -> Self {
        Self {
            id: b.id,
            resource_id: b.resource_id,
            vendor_id: b.vendor_id,
            user_id: b.user_id,
            start: b.start,
            end: b.end,
            status: b.status,
            amount: b.amount,
            hold_expires_at: b.hold_expires_at,
            payment_id: b.payment_id,
            refund: b.refund,
            created_at: b.created_at,
            updated_at: b.updated_at,
            reschedules: Vec::new(),
        }
    }
}

impl BookingView {
    /// The row a `BookingHeld` creates: what the views processor stores and
    /// what the gateway shows before the views have caught up.
    pub fn held(e: &BookingHeld) -> Self {
        Self {
            id: e.booking_id.clone(),
            resource_id: e.resource_id.clone(),
            vendor_id: e.vendor_id.clone(),
            user_id: e.user_id.clone(),
            start: e.start,
            end: e.end,
            status: BookingStatus::Pending,
            amount: e.amount.clone(),
            hold_expires_at: e.hold_expires_at,
            payment_id: e.payment_id.clone(),
            refund: None,
            created_at: e.held_at,
            updated_at: e.held_at,
            reschedules: Vec::new(),
        }
    }

    /// Moves it as `m` says and notes the move in its lineage, once (an
    /// event applied again adds nothing).
    pub fn moved(&mut self, m: &RescheduleView) {
        self.start = m.to_start;
        self.end = m.to_end;
        if !self.reschedules.contains(m) {
            self.reschedules.push(m.clone());
        }
    }
}

/// A payment as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    /// Payment id.
    pub id: PaymentId,
    /// Its booking.
    pub booking_id: BookingId,
    /// The booking's resource (routes commands about it).
    pub resource_id: ResourceId,
    /// The payer.
    pub user_id: UserId,
    /// Status.
    pub status: PaymentStatus,
    /// Amount due or paid.
    pub amount: Money,
    /// Refunded so far, minor units.
    pub refunded_amount: i64,
    /// Where to pay.
    pub checkout_url: String,
    /// Last change.
    pub updated_at: Millis,
}

impl PaymentView {
    /// The row a `PaymentIntentCreated` creates (the views processor).
    pub fn intent(e: &PaymentIntentCreated) -> Self {
        Self::requires_payment(
            (&e.payment_id, &e.booking_id, &e.resource_id, &e.user_id),
            &e.amount,
            e.checkout_url.clone(),
            e.created_at,
        )
    }

    /// The row the intent of a `BookingHeld` will create, at `checkout_url`:
    /// what the gateway shows before the views have caught up.
    pub fn for_hold(e: &BookingHeld, checkout_url: String) -> Self {
        Self::requires_payment(
            (&e.payment_id, &e.booking_id, &e.resource_id, &e.user_id),
            &e.amount,
            checkout_url,
            e.held_at,
        )
    }

    fn requires_payment(
        (id, booking_id, resource_id, user_id): (&PaymentId, &BookingId, &ResourceId, &UserId),
        amount: &Money,
        checkout_url: String,
        at: Millis,
    ) -> Self {
        Self {
            id: id.clone(),
            booking_id: booking_id.clone(),
            resource_id: resource_id.clone(),
            user_id: user_id.clone(),
            status: PaymentStatus::RequiresPayment,
            amount: amount.clone(),
            refunded_amount: 0,
            checkout_url,
            updated_at: at,
        }
    }
}

/// A user as login and the gateway need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// User id.
    pub user_id: UserId,
    /// Normalized email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Email proven.
    pub verified: bool,
    /// Registration time.
    pub created_at: Millis,
}

impl UserView {
    /// The row a `UserRegistered` creates (unverified): what the views
    /// processor stores and what the gateway remembers for its own reads.
    pub fn registered(e: &UserRegistered) -> Self {
        Self {
            user_id: e.user_id.clone(),
            email: e.email.clone(),
            name: e.name.clone(),
            role: e.role,
            password_hash: e.password_hash.clone(),
            verified: false,
            created_at: e.registered_at,
        }
    }
}

/// A login lock as every gateway reads it (by normalized email, for any
/// address, registered or not: locks reveal nothing about which accounts
/// exist). A row stays after its lock ended; [`LoginLockView::holds_at`]
/// says whether it is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginLockView {
    /// Normalized email.
    pub email: String,
    /// When the lock lifts (lifted) by itself.
    pub locked_until: Millis,
    /// When it was lifted early with the emailed code, if it was.
    pub unlocked_at: Option<Millis>,
}

impl LoginLockView {
    /// Whether the lock is in force at `now`: not lifted with the code and
    /// `now < locked_until`.
    pub fn holds_at(&self, now: Millis) -> bool {
        self.unlocked_at.is_none() && now < self.locked_until
    }
}

/// An API key as every gateway reads it to authenticate a request (by id,
/// the public part of the key) and as its owner lists it (by owner). It
/// holds the SHA-256 of the key, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    /// The key's id.
    pub key_id: String,
    /// The vendor who owns it and whom it acts as.
    pub owner_id: UserId,
    /// The owner's normalized email (routes commands about the key).
    pub owner_email: String,
    /// The owner's label.
    pub name: String,
    /// The recognisable public prefix (`sk_live_<key_id>`).
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub secret_hash: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// When it stops working by itself, if ever.
    pub expires_at: Option<Millis>,
    /// Its own sustained rate (`None`: the gateway's default).
    pub rate_per_second: Option<u32>,
    /// Its own burst (`None`: the gateway's default).
    pub burst: Option<u32>,
    /// When it was created.
    pub created_at: Millis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
}

/// A vendor's webhook subscription, as its owner lists it and the deliverer
/// reads it (by owner). No secret: the signing secret is derived from the
/// platform's key and the id where it is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    /// The subscription's id (`wh_…`).
    pub webhook_id: String,
    /// The vendor who owns it.
    pub owner_id: UserId,
    /// The owner's normalized email (routes commands about it).
    pub owner_email: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types delivered (`*` for all).
    pub events: Vec<String>,
    /// The owner's note.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Millis,
}

impl WebhookView {
    /// The row a `WebhookCreated` creates (the views processor, and the
    /// gateway that answered it).
    pub fn created(e: &WebhookCreated) -> Self {
        Self {
            webhook_id: e.webhook_id.clone(),
            owner_id: e.owner_id.clone(),
            owner_email: e.owner_email.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            created_at: e.created_at,
        }
    }
}

impl ApiKeyView {
    /// The row an `ApiKeyCreated` creates (the views processor, and the
    /// gateway that answered it).
    pub fn created(e: &ApiKeyCreated) -> Self {
        Self {
            key_id: e.key_id.clone(),
            owner_id: e.owner_id.clone(),
            owner_email: e.owner_email.clone(),
            name: e.name.clone(),
            prefix: e.prefix.clone(),
            secret_hash: e.secret_hash.clone(),
            scopes: e.scopes.clone(),
            expires_at: e.expires_at,
            rate_per_second: e.rate_per_second,
            burst: e.burst,
            created_at: e.created_at,
            revoked_at: None,
        }
    }

    /// Whether it authenticates at `now`: not revoked and not expired.
    pub fn live_at(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// One booking or payment event as the events API lists it (to the
/// resource's vendor and to the booking's customer). Its id is its log
/// position, so it is stable and orders the events of one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// The topic it was read from (booking or payment events).
    pub topic: String,
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: u64,
    /// The public type, e.g. `booking.confirmed`.
    pub kind: String,
    /// When it happened.
    pub created_at: Millis,
    /// The resource it concerns.
    pub resource_id: ResourceId,
    /// The booking it concerns, if any.
    pub booking_id: Option<BookingId>,
    /// The payment it concerns, if any.
    pub payment_id: Option<PaymentId>,
    /// The booking's customer, when the event names it (else the store
    /// finds it from the payment row).
    pub user_id: Option<UserId>,
    /// The resource's vendor, when the event names it (else the store finds
    /// it from the resource row).
    pub vendor_id: Option<UserId>,
    /// The public payload, JSON.
    pub payload: String,
}

/// The public types of listed events (`EventView::kind`).
pub const EVENT_TYPES: [&str; 16] = [
    "resource.created",
    "resource.schedule_changed",
    "booking.held",
    "booking.confirmed",
    "booking.failed",
    "booking.expired",
    "booking.cancelled",
    "booking.rescheduled",
    "booking.payment_delayed",
    "payment.created",
    "payment.processing",
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "payment.refunded",
    "payment.unknown",
];

/// A change to the views. Every variant is idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewWrite {
    /// Insert or replace a resource.
    PutResource(Resource),
    /// Insert or replace a booking.
    PutBooking(BookingView),
    /// Change a booking's status fields (no-op if the booking is unknown).
    PatchBooking {
        /// Which.
        id: BookingId,
        /// New lifecycle state.
        status: BookingStatus,
        /// Refund owed, if set.
        refund: Option<Money>,
        /// When.
        updated_at: Millis,
    },
    /// Move a booking to another interval (no-op if the booking is
    /// unknown): its row and every listing ordered by its interval.
    MoveBooking {
        /// Which.
        id: BookingId,
        /// The move: the new interval is `to_start..to_end`; the entry is
        /// added to the booking's lineage unless it is there already.
        moved: RescheduleView,
        /// When.
        updated_at: Millis,
    },
    /// Insert or replace a payment.
    PutPayment(PaymentView),
    /// Change a payment's status (no-op if unknown).
    PatchPayment {
        /// Which.
        id: PaymentId,
        /// New status.
        status: PaymentStatus,
        /// Refunded so far, if it changed.
        refunded_amount: Option<i64>,
        /// When.
        updated_at: Millis,
    },
    /// Insert or replace a user (registration, re-registration).
    PutUser(UserView),
    /// Mark a user's email verified (no-op if unknown).
    MarkVerified {
        /// Normalized email.
        email: String,
    },
    /// Insert or replace an address's login lock (a new lock).
    PutLoginLock(LoginLockView),
    /// Mark an address's lock lifted with the emailed code (no-op if it has
    /// no row). Events of one address are projected in order, so the row is
    /// the lock that was lifted.
    LiftLoginLock {
        /// Normalized email.
        email: String,
        /// When.
        unlocked_at: Millis,
    },
    /// Insert or replace an API key (its creation).
    PutApiKey(ApiKeyView),
    /// Mark an API key revoked (no-op if it has no row).
    RevokeApiKey {
        /// Which key.
        key_id: String,
        /// Its owner (the by-owner listing's partition).
        owner_id: UserId,
        /// When.
        revoked_at: Millis,
    },
    /// Insert or replace a webhook subscription (its creation).
    PutWebhook(WebhookView),
    /// Remove a webhook subscription (its deletion; no-op if it has no row).
    DeleteWebhook {
        /// Its owner (the row's partition).
        owner_id: UserId,
        /// Which subscription.
        webhook_id: String,
    },
    /// Records that the views have applied `topic`/`partition` up to (not
    /// including) offset `next`: what a consistency token waits for. A
    /// views processor writes it last in each commit, after the rows of
    /// those records.
    Applied {
        /// The topic.
        topic: String,
        /// Its partition.
        partition: u32,
        /// The next offset to apply.
        next: u64,
    },
    /// Adds an event to the events listing of its vendor and customer.
    PutEvent(EventView),
}

/// Why a view read failed.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The store is unreachable or overloaded; retrying may help.
    #[error("view store temporarily unavailable: {0} (retry)")]
    Transient(String),
    /// A stored row could not be read (corruption or an incompatible version).
    #[error("view store returned unreadable data: {0}")]
    Corrupt(String),
    /// A pagination cursor that this store did not issue.
    #[error("invalid cursor")]
    BadCursor,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Opaque cursor for the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Queries over the read views.
#[async_trait]
pub trait ViewStore: Send + Sync + std::fmt::Debug {
    /// Applies writes (the views processor's path when not going through a
    /// `Transaction`). Idempotent.
    async fn apply(&self, writes: &[ViewWrite]) -> Result<(), ViewError>;
    /// A booking by id.
    async fn booking(&self, id: &BookingId) -> Result<Option<BookingView>, ViewError>;
    /// A user's bookings, newest first, optionally of one status.
    async fn bookings_by_user(
        &self,
        user: &UserId,
        status: Option<BookingStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError>;
    /// Bookings of a resource whose interval overlaps `[from, to)`, by start.
    async fn bookings_by_resource(
        &self,
        resource: &ResourceId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError>;
    /// Bookings on any resource of a vendor whose interval overlaps
    /// `[from, to)`, by start.
    async fn bookings_by_vendor(
        &self,
        vendor: &UserId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError>;
    /// A resource by id.
    async fn resource(&self, id: &ResourceId) -> Result<Option<Resource>, ViewError>;
    /// Resources, optionally of one vendor and/or kind, by id.
    async fn resources(
        &self,
        vendor: Option<&UserId>,
        kind: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Resource>, ViewError>;
    /// A payment by id.
    async fn payment(&self, id: &PaymentId) -> Result<Option<PaymentView>, ViewError>;
    /// A user by normalized email.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserView>, ViewError>;
    /// The login lock of a normalized email (in force or not), if any.
    async fn login_lock(&self, email: &str) -> Result<Option<LoginLockView>, ViewError>;
    /// An API key by id (revoked and expired ones included).
    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyView>, ViewError>;
    /// The first `limit` API keys of an owner, by key id (revoked ones
    /// included).
    async fn api_keys_by_owner(
        &self,
        owner: &UserId,
        limit: usize,
    ) -> Result<Vec<ApiKeyView>, ViewError>;
    /// A webhook subscription of `owner` by id (deleted ones are gone).
    async fn webhook(
        &self,
        owner: &UserId,
        webhook_id: &str,
    ) -> Result<Option<WebhookView>, ViewError>;
    /// The first `limit` webhook subscriptions of an owner, by id.
    async fn webhooks_by_owner(
        &self,
        owner: &UserId,
        limit: usize,
    ) -> Result<Vec<WebhookView>, ViewError>;
    /// The next offset the views will apply of `topic`/`partition` (what
    /// they applied is below it); 0 when they applied nothing there.
    async fn applied(&self, topic: &str, partition: u32) -> Result<u64, ViewError>;
    /// Up to `limit` events of `topic`/`partition` listed to `audience` (a
    /// vendor or a customer), by offset, after offset `after` (from the
    /// start when `None`).
    async fn events(
        &self,
        audience: &UserId,
        topic: &str,
        partition: u32,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<EventView>, ViewError>;
}
