//! View queries, each on its own read snapshot (MVCC: never blocks the writer).
//!
//! Listings return exactly `limit` items when that many match, and a cursor
//! only when at least one more item matches after the page.

use crate::schema::{self, status_code};
use crate::store::Store;
use redb::{ReadOnlyTable, TableDefinition};
use serde::de::DeserializeOwned;
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId, UserId};
use slotstream_runtime::cursor::{self, Listing};
use slotstream_runtime::{BookingView, Page, PaymentView, UserView, ViewError};
use std::ops::Bound;

fn transient(e: impl Into<redb::Error>) -> ViewError {
    ViewError::Transient(e.into().to_string())
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ViewError> {
    postcard::from_bytes(bytes).map_err(|e| ViewError::Corrupt(format!("{what}: {e}")))
}

fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    store: &Store,
    def: TableDefinition<K, V>,
) -> Result<ReadOnlyTable<K, V>, ViewError> {
    let txn = store.begin_read().map_err(transient)?;
    txn.open_table(def).map_err(transient)
}

fn get_row<T: DeserializeOwned>(
    table: &ReadOnlyTable<&'static str, &'static [u8]>,
    what: &str,
    id: &str,
) -> Result<Option<T>, ViewError> {
    match table.get(id).map_err(transient)? {
        Some(g) => decode(what, g.value()).map(Some),
        None => Ok(None),
    }
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
    get_row(&open(store, schema::BOOKINGS)?, "booking", id.as_str())
}

/// A payment by id.
pub(crate) fn payment(store: &Store, id: &PaymentId) -> Result<Option<PaymentView>, ViewError> {
    get_row(&open(store, schema::PAYMENTS)?, "payment", id.as_str())
}

/// A user by normalized email.
pub(crate) fn user_by_email(store: &Store, email: &str) -> Result<Option<UserView>, ViewError> {
    get_row(&open(store, schema::USERS)?, "user", email)
}

/// A resource by id.
pub(crate) fn resource(store: &Store, id: &ResourceId) -> Result<Option<Resource>, ViewError> {
    get_row(&open(store, schema::RESOURCES)?, "resource", id.as_str())
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
    let txn = store.begin_read().map_err(transient)?;
    let index = txn
        .open_table(schema::BOOKINGS_BY_USER)
        .map_err(transient)?;
    let rows = txn.open_table(schema::BOOKINGS).map_err(transient)?;
    let u = user.as_str();
    let lo = match &after {
        Some((inv, id)) => Bound::Excluded((u, *inv, id.as_str())),
        None => Bound::Included((u, i64::MIN, "")),
    };
    let wanted = status.map(status_code);
    let mut page = Pager::new(limit);
    for entry in index.range((lo, Bound::Unbounded)).map_err(transient)? {
        let (key, code) = entry.map_err(transient)?;
        let (owner, inv, id) = key.value();
        if owner != u {
            break;
        }
        if wanted.is_some_and(|w| w != code.value()) {
            continue;
        }
        if !page.wants_more() {
            break;
        }
        let b: BookingView = get_row(&rows, "booking", id)?
            .ok_or_else(|| ViewError::Corrupt(format!("user index names missing booking {id}")))?;
        page.push(b, || cursor::encode(Listing::User, inv, id));
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
    let index = (schema::BOOKINGS_BY_RESOURCE, schema::BOOKING_SPAN);
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
    let index = (schema::BOOKINGS_BY_VENDOR, schema::VENDOR_SPAN);
    overlapping(store, index, vendor.as_str(), (from, to), limit, after)
}

/// An (owner, start, id) -> end index and the owner's longest booking.
type OverlapIndex = (
    redb::TableDefinition<'static, (&'static str, i64, &'static str), i64>,
    redb::TableDefinition<'static, &'static str, i64>,
);

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
    let txn = store.begin_read().map_err(transient)?;
    let spans = txn.open_table(spans).map_err(transient)?;
    let index = txn.open_table(index).map_err(transient)?;
    let rows = txn.open_table(schema::BOOKINGS).map_err(transient)?;
    let r = owner;
    // No booking of `r` is longer than its span, so none starting at or
    // before `from - span` can reach past `from`.
    let span = spans.get(r).map_err(transient)?.map_or(0, |g| g.value());
    let lo = match &after {
        Some((start, id)) => Bound::Excluded((r, *start, id.as_str())),
        None => Bound::Included((r, from.saturating_sub(span), "")),
    };
    let hi = Bound::Excluded((r, to, ""));
    for entry in index.range((lo, hi)).map_err(transient)? {
        let (key, end) = entry.map_err(transient)?;
        let (_, start, id) = key.value();
        if end.value() <= from {
            continue;
        }
        if !page.wants_more() {
            break;
        }
        let b: BookingView = get_row(&rows, "booking", id)?.ok_or_else(|| {
            ViewError::Corrupt(format!("overlap index names missing booking {id}"))
        })?;
        page.push(b, || cursor::encode(Listing::Resource, start, id));
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
    let txn = store.begin_read().map_err(transient)?;
    let rows = txn.open_table(schema::RESOURCES).map_err(transient)?;
    let mut page = Pager::new(limit);
    // With a vendor, walk the vendor index (filtering by kind); else the kind
    // index; else the rows themselves. All three are ordered by id.
    let prefix = vendor
        .map(|v| (schema::RESOURCES_BY_VENDOR, v.as_str()))
        .or_else(|| kind.map(|k| (schema::RESOURCES_BY_KIND, k)));
    match prefix {
        Some((def, fixed)) => {
            let index = txn.open_table(def).map_err(transient)?;
            let lo = match &after {
                Some(id) => Bound::Excluded((fixed, id.as_str())),
                None => Bound::Included((fixed, "")),
            };
            for entry in index.range((lo, Bound::Unbounded)).map_err(transient)? {
                let (key, _) = entry.map_err(transient)?;
                let (owner, id) = key.value();
                if owner != fixed {
                    break;
                }
                let r: Resource = get_row(&rows, "resource", id)?.ok_or_else(|| {
                    ViewError::Corrupt(format!("resource index names missing resource {id}"))
                })?;
                if kind.is_some_and(|k| r.kind != k) {
                    continue;
                }
                if !page.wants_more() {
                    break;
                }
                page.push(r, || cursor::encode_catalog(id));
            }
        }
        None => {
            let lo: Bound<&str> = match &after {
                Some(id) => Bound::Excluded(id.as_str()),
                None => Bound::Unbounded,
            };
            for entry in rows
                .range::<&str>((lo, Bound::Unbounded))
                .map_err(transient)?
            {
                let (key, value) = entry.map_err(transient)?;
                if !page.wants_more() {
                    break;
                }
                let id = key.value();
                page.push(decode("resource", value.value())?, || {
                    cursor::encode_catalog(id)
                });
            }
        }
    }
    Ok(page.finish())
}
