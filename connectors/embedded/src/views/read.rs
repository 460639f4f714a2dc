//! View queries, each on its own read snapshot (MVCC: never blocks the writer).
//!
//! Listings return exactly `limit` items when that many match, and a cursor
//! only when at least one more item matches after the page.

use crate::keys::Reader;
use crate::schema::status_code;
use crate::store::Store;
use crate::views::write::{
    booking_row, catalog_key, event_prefix, position_key, resource_row, span_key, user_key,
};
use fjall::{Keyspace, Readable, Snapshot};
use serde::de::DeserializeOwned;
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId, UserId};
use slotstream_runtime::cursor::{self, Listing};
use slotstream_runtime::{
    ApiKeyView, BookingView, EventView, LoginLockView, Page, PaymentView, UserView, ViewError,
    WebhookView,
};
use std::ops::Bound;

fn transient(e: impl std::fmt::Display) -> ViewError {
    ViewError::Transient(e.to_string())
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ViewError> {
    postcard::from_bytes(bytes).map_err(|e| ViewError::Corrupt(format!("{what}: {e}")))
}

fn get_row<T: DeserializeOwned>(
    snap: &Snapshot,
    ks: &Keyspace,
    what: &str,
    id: &str,
) -> Result<Option<T>, ViewError> {
    match snap.get(ks, id.as_bytes()).map_err(transient)? {
        Some(v) => decode(what, &v).map(Some),
        None => Ok(None),
    }
}

fn corrupt_key(what: &str) -> ViewError {
    ViewError::Corrupt(format!("a {what} index key does not decode"))
}

/// Collects up to `limit` items and notices whether one more exists.
struct Pager<T> {
    limit: usize,
    items: Vec<T>,
    cursor: Option<String>,
    more: bool,
}

impl<T> Pager<T> {
    fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            items: Vec::with_capacity(limit.min(128)),
            cursor: None,
            more: false,
        }
    }

    /// False once the page is full and another match was seen: stop scanning.
    fn wants_more(&mut self) -> bool {
        if self.items.len() < self.limit {
            return true;
        }
        self.more = true;
        false
    }

    fn push(&mut self, item: T, cursor: impl FnOnce() -> String) {
        self.items.push(item);
        if self.items.len() == self.limit {
            self.cursor = Some(cursor());
        }
    }

    fn finish(self) -> Page<T> {
        Page {
            items: self.items,
            next_cursor: if self.more { self.cursor } else { None },
        }
    }
}

/// A booking by id.
pub(crate) fn booking(store: &Store, id: &BookingId) -> Result<Option<BookingView>, ViewError> {
    get_booking(&store.snapshot(), &store.ks.bookings, id.as_str())
}

/// A booking row, in either layout ([`booking_row`]).
fn get_booking(snap: &Snapshot, ks: &Keyspace, id: &str) -> Result<Option<BookingView>, ViewError> {
    match snap.get(ks, id.as_bytes()).map_err(transient)? {
        Some(v) => booking_row(&v)
            .map(Some)
            .map_err(|e| ViewError::Corrupt(format!("booking: {e}"))),
        None => Ok(None),
    }
}

/// A payment by id.
pub(crate) fn payment(store: &Store, id: &PaymentId) -> Result<Option<PaymentView>, ViewError> {
    get_row(
        &store.snapshot(),
        &store.ks.payments,
        "payment",
        id.as_str(),
    )
}

/// A user by normalized email.
pub(crate) fn user_by_email(store: &Store, email: &str) -> Result<Option<UserView>, ViewError> {
    get_row(&store.snapshot(), &store.ks.users, "user", email)
}

/// The login lock of a normalized email.
pub(crate) fn login_lock(store: &Store, email: &str) -> Result<Option<LoginLockView>, ViewError> {
    get_row(
        &store.snapshot(),
        &store.ks.login_locks,
        "login lock",
        email,
    )
}

/// An API key by id.
pub(crate) fn api_key(store: &Store, key_id: &str) -> Result<Option<ApiKeyView>, ViewError> {
    get_row(&store.snapshot(), &store.ks.api_keys, "api key", key_id)
}

/// The first `limit` API keys of an owner, by key id.
pub(crate) fn api_keys_by_owner(
    store: &Store,
    owner: &UserId,
    limit: usize,
) -> Result<Vec<ApiKeyView>, ViewError> {
    let snap = store.snapshot();
    let head = crate::keys::Key::new().str(owner.as_str()).done();
    let mut keys = Vec::new();
    for guard in snap.prefix(&store.ks.api_keys_by_owner, &head) {
        if keys.len() >= limit {
            break;
        }
        let key = guard.key().map_err(transient)?;
        let mut rd = Reader::new(&key);
        let (_, id) = (rd.str(), rd.str());
        let Some(id) = id else {
            return Err(corrupt_key("api key"));
        };
        let k = get_row(&snap, &store.ks.api_keys, "api key", &id)?
            .ok_or_else(|| ViewError::Corrupt(format!("owner index names missing api key {id}")))?;
        keys.push(k);
    }
    Ok(keys)
}

/// A webhook subscription of an owner.
pub(crate) fn webhook(
    store: &Store,
    owner: &UserId,
    webhook_id: &str,
) -> Result<Option<WebhookView>, ViewError> {
    let key = crate::views::write::catalog_key(owner.as_str(), webhook_id);
    match store
        .snapshot()
        .get(&store.ks.webhooks, key)
        .map_err(transient)?
    {
        Some(v) => decode("webhook", &v).map(Some),
        None => Ok(None),
    }
}

/// The first `limit` webhook subscriptions of an owner, by id.
pub(crate) fn webhooks_by_owner(
    store: &Store,
    owner: &UserId,
    limit: usize,
) -> Result<Vec<WebhookView>, ViewError> {
    let snap = store.snapshot();
    let head = crate::keys::Key::new().str(owner.as_str()).done();
    let mut hooks = Vec::new();
    for guard in snap.prefix(&store.ks.webhooks, &head).take(limit) {
        let (_, v) = guard.into_inner().map_err(transient)?;
        hooks.push(decode("webhook", &v)?);
    }
    Ok(hooks)
}

/// The next offset the views apply of a topic partition.
pub(crate) fn applied(store: &Store, topic: &str, partition: u32) -> Result<u64, ViewError> {
    match store
        .snapshot()
        .get(&store.ks.positions, position_key(topic, partition))
        .map_err(transient)?
    {
        Some(v) => {
            let b: [u8; 8] = v
                .as_ref()
                .try_into()
                .map_err(|_| ViewError::Corrupt("an applied position is not 8 bytes".into()))?;
            Ok(u64::from_be_bytes(b))
        }
        None => Ok(0),
    }
}

/// Up to `limit` events of one audience and partition after `after`.
pub(crate) fn events(
    store: &Store,
    audience: &UserId,
    topic: &str,
    partition: u32,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<EventView>, ViewError> {
    let snap = store.snapshot();
    let head = event_prefix(audience.as_str(), topic, partition);
    let lo = match after {
        Some(o) => head.i64(o as i64 + 1).done(),
        None => head.done(),
    };
    let prefix = event_prefix(audience.as_str(), topic, partition).done();
    let mut out = Vec::new();
    for guard in snap.range(&store.ks.events, (Bound::Included(lo), Bound::Unbounded)) {
        if out.len() >= limit {
            break;
        }
        let (key, value) = guard.into_inner().map_err(transient)?;
        if !key.starts_with(&prefix) {
            break;
        }
        out.push(decode::<EventView>("event", &value)?);
    }
    Ok(out)
}

fn decode_resource(bytes: &[u8]) -> Result<Resource, ViewError> {
    resource_row(bytes).map_err(|e| ViewError::Corrupt(format!("resource: {e}")))
}

fn get_resource(snap: &Snapshot, ks: &Keyspace, id: &str) -> Result<Option<Resource>, ViewError> {
    match snap.get(ks, id.as_bytes()).map_err(transient)? {
        Some(v) => decode_resource(&v).map(Some),
        None => Ok(None),
    }
}

/// A resource by id.
pub(crate) fn resource(store: &Store, id: &ResourceId) -> Result<Option<Resource>, ViewError> {
    get_resource(&store.snapshot(), &store.ks.resources, id.as_str())
}

/// A user's bookings, newest first, optionally of one status.
pub(crate) fn bookings_by_user(
    store: &Store,
    user: &UserId,
    status: Option<BookingStatus>,
    limit: usize,
    after: Option<&str>,
) -> Result<Page<BookingView>, ViewError> {
    let after = after
        .map(|c| cursor::decode(Listing::User, c))
        .transpose()?;
    let snap = store.snapshot();
    let u = user.as_str();
    let prefix = crate::keys::Key::new().str(u).done();
    let lo = match &after {
        Some((inv, id)) => Bound::Excluded(user_key(u, !*inv, id)),
        None => Bound::Included(prefix.clone()),
    };
    let wanted = status.map(status_code);
    let mut page = Pager::new(limit);
    for guard in snap.range(&store.ks.bookings_by_user, (lo, Bound::Unbounded)) {
        let (key, code) = guard.into_inner().map_err(transient)?;
        if !key.starts_with(&prefix) {
            break;
        }
        if wanted.is_some_and(|w| code.first() != Some(&w)) {
            continue;
        }
        if !page.wants_more() {
            break;
        }
        let mut r = Reader::new(&key);
        let (_, inv, id) = (r.str(), r.i64(), r.str());
        let (Some(inv), Some(id)) = (inv, id) else {
            return Err(corrupt_key("by-user"));
        };
        let b: BookingView = get_booking(&snap, &store.ks.bookings, &id)?
            .ok_or_else(|| ViewError::Corrupt(format!("user index names missing booking {id}")))?;
        page.push(b, || cursor::encode(Listing::User, inv, &id));
    }
    Ok(page.finish())
}

/// Bookings of a resource whose `[start, end)` overlaps `[from, to)`, by start.
pub(crate) fn bookings_by_resource(
    store: &Store,
    resource: &ResourceId,
    from: Millis,
    to: Millis,
    limit: usize,
    after: Option<&str>,
) -> Result<Page<BookingView>, ViewError> {
    let index = (&store.ks.bookings_by_resource, &store.ks.booking_span);
    overlapping(store, index, resource.as_str(), (from, to), limit, after)
}

/// Bookings on any resource of a vendor overlapping `[from, to)`, by start.
pub(crate) fn bookings_by_vendor(
    store: &Store,
    vendor: &UserId,
    from: Millis,
    to: Millis,
    limit: usize,
    after: Option<&str>,
) -> Result<Page<BookingView>, ViewError> {
    let index = (&store.ks.bookings_by_vendor, &store.ks.vendor_span);
    overlapping(store, index, vendor.as_str(), (from, to), limit, after)
}

/// An (owner, start, id) -> end index and the owner's longest booking.
type OverlapIndex<'a> = (&'a Keyspace, &'a Keyspace);

/// Bookings of `owner` in `index` whose `[start, end)` overlaps `[from, to)`.
fn overlapping(
    store: &Store,
    (index, spans): OverlapIndex,
    owner: &str,
    (from, to): (Millis, Millis),
    limit: usize,
    after: Option<&str>,
) -> Result<Page<BookingView>, ViewError> {
    let after = after
        .map(|c| cursor::decode(Listing::Resource, c))
        .transpose()?;
    let mut page = Pager::new(limit);
    if from >= to {
        return Ok(page.finish());
    }
    let snap = store.snapshot();
    let r = owner;
    // No booking of `r` is longer than its span, so none starting at or
    // before `from - span` can reach past `from`.
    let span = snap
        .get(spans, r.as_bytes())
        .map_err(transient)?
        .and_then(|v| v.as_ref().try_into().ok().map(i64::from_be_bytes))
        .unwrap_or(0);
    let lo = match &after {
        Some((start, id)) => Bound::Excluded(span_key(r, *start, id)),
        None => Bound::Included(span_key(r, from.saturating_sub(span), "")),
    };
    let hi = Bound::Excluded(span_key(r, to, ""));
    for guard in snap.range(index, (lo, hi)) {
        let (key, end) = guard.into_inner().map_err(transient)?;
        let end = end
            .as_ref()
            .try_into()
            .map(i64::from_be_bytes)
            .map_err(|_| corrupt_key("overlap"))?;
        if end <= from {
            continue;
        }
        if !page.wants_more() {
            break;
        }
        let mut rd = Reader::new(&key);
        let (_, start, id) = (rd.str(), rd.i64(), rd.str());
        let (Some(start), Some(id)) = (start, id) else {
            return Err(corrupt_key("overlap"));
        };
        let b: BookingView = get_booking(&snap, &store.ks.bookings, &id)?.ok_or_else(|| {
            ViewError::Corrupt(format!("overlap index names missing booking {id}"))
        })?;
        page.push(b, || cursor::encode(Listing::Resource, start, &id));
    }
    Ok(page.finish())
}

/// Resources, optionally of one vendor and/or kind, by id.
pub(crate) fn resources(
    store: &Store,
    vendor: Option<&UserId>,
    kind: Option<&str>,
    limit: usize,
    after: Option<&str>,
) -> Result<Page<Resource>, ViewError> {
    let after = after.map(cursor::decode_catalog).transpose()?;
    let snap = store.snapshot();
    let mut page = Pager::new(limit);
    // With a vendor, walk the vendor index (filtering by kind); else the kind
    // index; else the rows themselves. All three are ordered by id.
    let prefix = vendor
        .map(|v| (&store.ks.resources_by_vendor, v.as_str()))
        .or_else(|| kind.map(|k| (&store.ks.resources_by_kind, k)));
    match prefix {
        Some((index, fixed)) => {
            let head = crate::keys::Key::new().str(fixed).done();
            let lo = match &after {
                Some(id) => Bound::Excluded(catalog_key(fixed, id)),
                None => Bound::Included(head.clone()),
            };
            for guard in snap.range(index, (lo, Bound::Unbounded)) {
                let key = guard.key().map_err(transient)?;
                if !key.starts_with(&head) {
                    break;
                }
                let mut rd = Reader::new(&key);
                let (_, id) = (rd.str(), rd.str());
                let Some(id) = id else {
                    return Err(corrupt_key("resource"));
                };
                let r: Resource =
                    get_resource(&snap, &store.ks.resources, &id)?.ok_or_else(|| {
                        ViewError::Corrupt(format!("resource index names missing resource {id}"))
                    })?;
                if kind.is_some_and(|k| r.kind != k) {
                    continue;
                }
                if !page.wants_more() {
                    break;
                }
                page.push(r, || cursor::encode_catalog(&id));
            }
        }
        None => {
            let lo: Bound<Vec<u8>> = match &after {
                Some(id) => Bound::Excluded(id.as_bytes().to_vec()),
                None => Bound::Unbounded,
            };
            for guard in snap.range(&store.ks.resources, (lo, Bound::Unbounded)) {
                let (key, value) = guard.into_inner().map_err(transient)?;
                if !page.wants_more() {
                    break;
                }
                let id = String::from_utf8_lossy(&key).into_owned();
                page.push(decode_resource(&value)?, || cursor::encode_catalog(&id));
            }
        }
    }
    Ok(page.finish())
}
