//! The queries. Lookups by key are one single-partition read; listings stream
//! their partitions in clustering order (the driver pages), keep the rows that
//! match, and stop once they hold one row more than the page: that extra row
//! is how a page knows a next one exists, so a cursor is handed out only when
//! at least one more item follows.

use crate::error::{self, undecodable};
use crate::rows::{
    ApiKeyRow, BookingRow, LoginLockRow, PaymentRow, ResourceRow, UserRow, WebhookRow, day_of,
};
use crate::statements::{DayTable, Statements};
use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::errors::NextRowError;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlDate, CqlTimestamp, CqlValue};
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{Millis, UserId};
use slotstream_runtime::cursor::{self, Listing};
use slotstream_runtime::{
    ApiKeyView, BookingView, LoginLockView, Page, PaymentView, UserView, ViewError, WebhookView,
};

/// Largest page a listing returns, whatever `limit` asks.
pub(crate) const MAX_LIMIT: usize = 10_000;

/// A row type that owns its data (what paged streams hand out).
pub(crate) trait OwnedRow: for<'f, 'm> DeserializeRow<'f, 'm> {}
impl<T: for<'f, 'm> DeserializeRow<'f, 'm>> OwnedRow for T {}

fn next_row(e: NextRowError) -> ViewError {
    match e {
        NextRowError::NextPageError(e) => ViewError::Transient(e.to_string()),
        NextRowError::RowDeserializationError(e) => undecodable(e),
        other => ViewError::Transient(other.to_string()),
    }
}

/// The single row a key lookup finds, if any.
pub(crate) async fn one<R: OwnedRow>(
    session: &Session,
    stmt: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<Option<R>, ViewError> {
    let result = session
        .execute_unpaged(stmt, values)
        .await
        .map_err(error::execution)?
        .into_rows_result()
        .map_err(undecodable)?;
    result.maybe_first_row::<R>().map_err(undecodable)
}

/// A booking by id.
pub(crate) async fn booking(
    session: &Session,
    st: &Statements,
    id: &str,
) -> Result<Option<BookingView>, ViewError> {
    booking_row(session, st, id)
        .await?
        .map(BookingView::try_from)
        .transpose()
}

/// The stored row of a booking (the writer's read-before-write).
pub(crate) async fn booking_row(
    session: &Session,
    st: &Statements,
    id: &str,
) -> Result<Option<BookingRow>, ViewError> {
    one(session, &st.get_booking, (id,)).await
}

/// A resource by id.
pub(crate) async fn resource(
    session: &Session,
    st: &Statements,
    id: &str,
) -> Result<Option<Resource>, ViewError> {
    one::<ResourceRow>(session, &st.get_resource, (id,))
        .await?
        .map(Resource::try_from)
        .transpose()
}

/// A payment by id.
pub(crate) async fn payment(
    session: &Session,
    st: &Statements,
    id: &str,
) -> Result<Option<PaymentView>, ViewError> {
    one::<PaymentRow>(session, &st.get_payment, (id,))
        .await?
        .map(PaymentView::try_from)
        .transpose()
}

/// A user by normalized email.
pub(crate) async fn user(
    session: &Session,
    st: &Statements,
    email: &str,
) -> Result<Option<UserView>, ViewError> {
    one::<UserRow>(session, &st.get_user, (email,))
        .await?
        .map(UserView::try_from)
        .transpose()
}

/// The login lock of a normalized email.
pub(crate) async fn login_lock(
    session: &Session,
    st: &Statements,
    email: &str,
) -> Result<Option<LoginLockView>, ViewError> {
    Ok(one::<LoginLockRow>(session, &st.get_lock, (email,))
        .await?
        .map(LoginLockView::from))
}

/// An API key by id.
pub(crate) async fn api_key(
    session: &Session,
    st: &Statements,
    key_id: &str,
) -> Result<Option<ApiKeyView>, ViewError> {
    one::<ApiKeyRow>(session, &st.get_api_key, (key_id,))
        .await?
        .map(ApiKeyView::try_from)
        .transpose()
}

/// The first `limit` API keys of an owner, by key id.
pub(crate) async fn api_keys_by_owner(
    session: &Session,
    st: &Statements,
    owner: &UserId,
    limit: usize,
) -> Result<Vec<ApiKeyView>, ViewError> {
    let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
    let mut rows = session
        .execute_iter(st.api_keys_by_owner.clone(), (owner.as_str(), limit))
        .await
        .map_err(error::pager)?
        .rows_stream::<ApiKeyRow>()
        .map_err(undecodable)?;
    let mut keys = Vec::new();
    while let Some(row) = rows.try_next().await.map_err(next_row)? {
        keys.push(ApiKeyView::try_from(row)?);
    }
    Ok(keys)
}

/// A webhook subscription of an owner.
pub(crate) async fn webhook(
    session: &Session,
    st: &Statements,
    owner: &UserId,
    webhook_id: &str,
) -> Result<Option<WebhookView>, ViewError> {
    Ok(
        one::<WebhookRow>(session, &st.get_webhook, (owner.as_str(), webhook_id))
            .await?
            .map(WebhookView::from),
    )
}

/// The first `limit` webhook subscriptions of an owner, by id.
pub(crate) async fn webhooks_by_owner(
    session: &Session,
    st: &Statements,
    owner: &UserId,
    limit: usize,
) -> Result<Vec<WebhookView>, ViewError> {
    let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
    let mut rows = session
        .execute_iter(st.webhooks_by_owner.clone(), (owner.as_str(), limit))
        .await
        .map_err(error::pager)?
        .rows_stream::<WebhookRow>()
        .map_err(undecodable)?;
    let mut hooks = Vec::new();
    while let Some(row) = rows.try_next().await.map_err(next_row)? {
        hooks.push(WebhookView::from(row));
    }
    Ok(hooks)
}

/// The next offset the views apply of a topic partition (0: none yet).
pub(crate) async fn applied(
    session: &Session,
    st: &Statements,
    topic: &str,
    partition: u32,
) -> Result<u64, ViewError> {
    let found = one::<(i64,)>(session, &st.get_applied, (topic, partition as i32)).await?;
    Ok(found.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0)))
}

/// Up to `limit` events of one audience and topic partition after `after`.
pub(crate) async fn events(
    session: &Session,
    st: &Statements,
    audience: &UserId,
    topic: &str,
    partition: u32,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<slotstream_runtime::EventView>, ViewError> {
    let after = after.map_or(-1, |o| o as i64);
    let limit = i32::try_from(limit.clamp(1, MAX_LIMIT)).unwrap_or(i32::MAX);
    let mut rows = session
        .execute_iter(
            st.events.clone(),
            (audience.as_str(), topic, partition as i32, after, limit),
        )
        .await
        .map_err(error::pager)?
        .rows_stream::<(String,)>()
        .map_err(undecodable)?;
    let mut out = Vec::new();
    while let Some((json,)) = rows.try_next().await.map_err(next_row)? {
        out.push(
            serde_json::from_str(&json)
                .map_err(|e| ViewError::Corrupt(format!("an event row: {e}")))?,
        );
    }
    Ok(out)
}

/// Gathers up to `limit + 1` matching rows from one or more scans.
struct Collector<R> {
    limit: usize,
    rows: Vec<R>,
}

impl<R: OwnedRow> Collector<R> {
    fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, MAX_LIMIT);
        Self {
            limit,
            rows: Vec::with_capacity(limit.min(128) + 1),
        }
    }

    fn full(&self) -> bool {
        self.rows.len() > self.limit
    }

    /// Streams `stmt`'s rows in clustering order, keeping those that pass.
    async fn drain(
        &mut self,
        session: &Session,
        stmt: &PreparedStatement,
        values: impl SerializeRow,
        keep: impl Fn(&R) -> bool,
    ) -> Result<(), ViewError> {
        if self.full() {
            return Ok(());
        }
        let mut stmt = stmt.clone();
        // One page usually holds the whole answer; filtered scans page on.
        let page = i32::try_from(self.limit + 1).unwrap_or(i32::MAX).min(1000);
        stmt.set_page_size(page);
        let mut rows = session
            .execute_iter(stmt, values)
            .await
            .map_err(error::pager)?
            .rows_stream::<R>()
            .map_err(undecodable)?;
        while let Some(row) = rows.try_next().await.map_err(next_row)? {
            if keep(&row) {
                self.rows.push(row);
                if self.full() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The page: the first `limit` rows, and a cursor after the last of them
    /// when another row matched.
    fn finish<T>(
        mut self,
        cursor: impl Fn(&R) -> String,
        convert: impl Fn(R) -> Result<T, ViewError>,
    ) -> Result<Page<T>, ViewError> {
        let more = self.full();
        self.rows.truncate(self.limit);
        let next_cursor = if more {
            self.rows.last().map(cursor)
        } else {
            None
        };
        let items = self
            .rows
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

fn text(s: &str) -> CqlValue {
    CqlValue::Text(s.to_owned())
}

/// A user's bookings, newest first (ties by id), optionally of one status.
pub(crate) async fn bookings_by_user(
    session: &Session,
    st: &Statements,
    user: &UserId,
    status: Option<BookingStatus>,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<BookingView>, ViewError> {
    let after = cursor
        .map(|c| cursor::decode(Listing::User, c))
        .transpose()?;
    let mut key = vec![text(user.as_str())];
    let table = match status {
        Some(s) => {
            key.push(text(s.as_str()));
            &st.by_user_status
        }
        None => &st.by_user,
    };
    let mut page = Collector::<BookingRow>::new(limit);
    let all = |_: &BookingRow| true;
    match after {
        None => page.drain(session, &table.first, &key, all).await?,
        Some((created, id)) => {
            let at = CqlValue::Timestamp(CqlTimestamp(created));
            let ties = [key.clone(), vec![at.clone(), CqlValue::Text(id)]].concat();
            page.drain(session, &table.ties, ties, all).await?;
            let older = [key, vec![at]].concat();
            page.drain(session, &table.older, older, all).await?;
        }
    }
    page.finish(
        |r| cursor::encode(Listing::User, r.created_at.0, &r.booking_id),
        BookingView::try_from,
    )
}

/// Whose bookings an overlap query lists.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner<'a> {
    /// One resource's.
    Resource(&'a str),
    /// Every resource of one vendor.
    Vendor(&'a str),
}

impl<'a> Owner<'a> {
    /// The `scope` column of `booking_spans` and `booking_days`.
    pub(crate) fn scope(self) -> &'static str {
        match self {
            Self::Resource(_) => "resource",
            Self::Vendor(_) => "vendor",
        }
    }

    pub(crate) fn id(self) -> &'a str {
        match self {
            Self::Resource(id) | Self::Vendor(id) => id,
        }
    }

    pub(crate) fn table(self, st: &Statements) -> &DayTable {
        match self {
            Self::Resource(_) => &st.by_resource,
            Self::Vendor(_) => &st.by_vendor,
        }
    }

    fn listing(self) -> Listing {
        match self {
            Self::Resource(_) => Listing::Resource,
            Self::Vendor(_) => Listing::Vendor,
        }
    }
}

/// Bookings of `owner` whose `[start, end)` overlaps `[from, to)`, by
/// (start, id). Reads only the day buckets `booking_days` lists between the
/// day of `from - span` (no booking of the owner is longer than its span, so
/// none starting earlier reaches `from`) and the day of `to - 1`.
pub(crate) async fn overlapping(
    session: &Session,
    st: &Statements,
    owner: Owner<'_>,
    (from, to): (Millis, Millis),
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<BookingView>, ViewError> {
    let after = cursor
        .map(|c| cursor::decode(owner.listing(), c))
        .transpose()?;
    let mut page = Collector::<BookingRow>::new(limit);
    if from < to {
        // Rows qualify when `starts_at > floor` (plus the cursor's ties).
        let floor = match &after {
            Some((start, _)) => *start,
            None => {
                let span = one::<(i64,)>(session, &st.get_span, (owner.scope(), owner.id()))
                    .await?
                    .map_or(0, |(s,)| s.max(0));
                from.saturating_sub(span).saturating_sub(1)
            }
        };
        let first_day = day_of(floor.saturating_add(i64::from(after.is_none())));
        let days = (owner.scope(), owner.id(), first_day, day_of(to - 1));
        let mut days = session
            .execute_iter(st.list_days.clone(), days)
            .await
            .map_err(error::pager)?
            .rows_stream::<(CqlDate,)>()
            .map_err(undecodable)?;
        let table = owner.table(st);
        let overlaps = |r: &BookingRow| r.ends_at.0 > from;
        while let Some((day,)) = days.try_next().await.map_err(next_row)? {
            let key = (owner.id(), day);
            if let Some((start, id)) = &after
                && day == first_day
            {
                let ties = (key.0, key.1, CqlTimestamp(*start), id.as_str());
                page.drain(session, &table.ties, ties, overlaps).await?;
            }
            let slice = (key.0, key.1, CqlTimestamp(floor), CqlTimestamp(to));
            page.drain(session, &table.slice, slice, overlaps).await?;
            if page.full() {
                break;
            }
        }
    }
    let listing = owner.listing();
    page.finish(
        |r| cursor::encode(listing, r.starts_at.0, &r.booking_id),
        BookingView::try_from,
    )
}

/// Resources, optionally of one vendor and/or kind, by id.
pub(crate) async fn resources(
    session: &Session,
    st: &Statements,
    vendor: Option<&UserId>,
    kind: Option<&str>,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<Resource>, ViewError> {
    // Ids are never empty, so "after the empty id" is "from the first one".
    let after = cursor
        .map(cursor::decode_catalog)
        .transpose()?
        .unwrap_or_default();
    let mut page = Collector::<ResourceRow>::new(limit);
    match (vendor, kind) {
        // A vendor has few resources: filter its partition by kind.
        (Some(v), kind) => {
            let of_kind = |r: &ResourceRow| kind.is_none_or(|k| r.kind == k);
            let values = (v.as_str(), after.as_str());
            let stmt = &st.resources_by_vendor.after;
            page.drain(session, stmt, values, of_kind).await?;
        }
        (None, Some(k)) => {
            let values = (k, after.as_str());
            let stmt = &st.resources_by_kind.after;
            page.drain(session, stmt, values, |_| true).await?;
        }
        (None, None) => {
            let values = (0_i32, after.as_str());
            page.drain(session, &st.catalog.after, values, |_| true)
                .await?;
        }
    }
    page.finish(
        |r| cursor::encode_catalog(&r.resource_id),
        Resource::try_from,
    )
}
