//! Applying [`ViewWrite`]s. Every write reads the row it changes, writes the
//! query tables, and writes the row itself last: the row is the commit point,
//! so a crash midway leaves the previous row in place and the redelivered
//! write finds the same "before" and redoes the same steps. Patches of a row
//! that does not exist write nothing (no CQL `UPDATE`, which would upsert a
//! partial row): the full new row is written with `INSERT`.

use crate::APPLY_CONCURRENCY;
use crate::error;
use crate::read::{self, Owner};
use crate::rows::{
    ApiKeyRow, BookingRow, CatalogRow, DayBookingRow, LoginLockRow, PaymentRow, ResourceRow,
    UserRow, WebhookRow, day_of,
};
use crate::statements::Statements;
use futures_util::future::{BoxFuture, FutureExt, try_join_all};
use futures_util::{StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use slotstream_domain::UserId;
use slotstream_runtime::{BookingView, ViewError, ViewWrite};
use std::collections::HashMap;

/// The row a write changes: writes of one row keep their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RowKey<'a> {
    Booking(&'a str),
    Resource(&'a str),
    Payment(&'a str),
    User(&'a str),
    Lock(&'a str),
    ApiKey(&'a str),
    Webhook(&'a str),
    Position(&'a str),
    Event(&'a str),
}

fn row_key(w: &ViewWrite) -> RowKey<'_> {
    match w {
        ViewWrite::PutBooking(b) => RowKey::Booking(b.id.as_str()),
        ViewWrite::PatchBooking { id, .. } => RowKey::Booking(id.as_str()),
        ViewWrite::MoveBooking { id, .. } => RowKey::Booking(id.as_str()),
        ViewWrite::PutResource(r) => RowKey::Resource(r.id.as_str()),
        ViewWrite::PutPayment(p) => RowKey::Payment(p.id.as_str()),
        ViewWrite::PatchPayment { id, .. } => RowKey::Payment(id.as_str()),
        ViewWrite::PutUser(u) => RowKey::User(u.email.as_str()),
        ViewWrite::MarkVerified { email } => RowKey::User(email.as_str()),
        ViewWrite::PutLoginLock(l) => RowKey::Lock(l.email.as_str()),
        ViewWrite::LiftLoginLock { email, .. } => RowKey::Lock(email.as_str()),
        ViewWrite::PutApiKey(k) => RowKey::ApiKey(k.key_id.as_str()),
        ViewWrite::RevokeApiKey { key_id, .. } => RowKey::ApiKey(key_id.as_str()),
        ViewWrite::PutWebhook(w) => RowKey::Webhook(w.webhook_id.as_str()),
        ViewWrite::DeleteWebhook { webhook_id, .. } => RowKey::Webhook(webhook_id.as_str()),
        // Applied in phases of their own (`apply`), never chained.
        ViewWrite::Applied { topic, .. } => RowKey::Position(topic.as_str()),
        ViewWrite::PutEvent(e) => RowKey::Event(e.topic.as_str()),
    }
}

/// Splits a batch into per-row chains, in order of first appearance.
fn chains<'a>(writes: Vec<&'a ViewWrite>) -> Vec<Vec<&'a ViewWrite>> {
    let mut index: HashMap<RowKey<'a>, usize> = HashMap::new();
    let mut chains: Vec<Vec<&'a ViewWrite>> = Vec::new();
    for w in writes {
        let at = *index.entry(row_key(w)).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[at].push(w);
    }
    chains
}

/// Applies a batch: each row's writes in order, different rows concurrently.
pub(crate) async fn apply(
    session: &Session,
    st: &Statements,
    writes: &[ViewWrite],
) -> Result<(), ViewError> {
    // Built eagerly: a lazy `map` closure over borrowed chains trips the
    // compiler's `Send` check inside `async_trait`.
    // Three phases: the rows; then the events listing, which reads the
    // payment and resource rows to find an event's audience; then the
    // applied positions, which must never name a record whose rows are not
    // written yet (a consistency token would let a reader see them missing).
    let (rows, rest): (Vec<&ViewWrite>, Vec<&ViewWrite>) = writes
        .iter()
        .partition(|w| !matches!(w, ViewWrite::PutEvent(_) | ViewWrite::Applied { .. }));
    let (events, applied): (Vec<&ViewWrite>, Vec<&ViewWrite>) = rest
        .into_iter()
        .partition(|w| matches!(w, ViewWrite::PutEvent(_)));
    let runs: Vec<Step<'_>> = chains(rows)
        .into_iter()
        .map(|chain| apply_chain(session, st, chain))
        .collect();
    run_all(runs).await?;
    let runs: Vec<Step<'_>> = events
        .into_iter()
        .map(|w| apply_chain(session, st, vec![w]))
        .collect();
    run_all(runs).await?;
    let runs: Vec<Step<'_>> = applied
        .into_iter()
        .map(|w| apply_chain(session, st, vec![w]))
        .collect();
    run_all(runs).await
}

async fn run_all(runs: Vec<Step<'_>>) -> Result<(), ViewError> {
    futures_util::stream::iter(runs)
        .buffer_unordered(APPLY_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// One row's writes, in order. Boxed: the batch holds many of them.
fn apply_chain<'a>(
    session: &'a Session,
    st: &'a Statements,
    chain: Vec<&'a ViewWrite>,
) -> Step<'a> {
    async move {
        for w in chain {
            apply_one(session, st, w).await?;
        }
        Ok(())
    }
    .boxed()
}

async fn apply_one(session: &Session, st: &Statements, w: &ViewWrite) -> Result<(), ViewError> {
    match w {
        ViewWrite::PutBooking(b) => {
            let old = read::booking_row(session, st, b.id.as_str()).await?;
            put_booking(session, st, old, BookingRow::from(b)).await
        }
        ViewWrite::PatchBooking {
            id,
            status,
            refund,
            updated_at,
        } => {
            let Some(old) = read::booking_row(session, st, id.as_str()).await? else {
                return Ok(());
            };
            let mut new = old.clone();
            new.status = status.as_str().to_owned();
            if let Some(r) = refund {
                new.refund_amount = Some(r.amount);
                new.refund_currency = Some(r.currency.clone());
            }
            new.updated_at = CqlTimestamp(*updated_at);
            put_booking(session, st, Some(old), new).await
        }
        ViewWrite::MoveBooking {
            id,
            moved,
            updated_at,
        } => {
            let Some(old) = read::booking_row(session, st, id.as_str()).await? else {
                return Ok(());
            };
            let mut view = BookingView::try_from(old.clone())?;
            view.moved(moved);
            view.updated_at = *updated_at;
            put_booking(session, st, Some(old), BookingRow::from(&view)).await
        }
        ViewWrite::PutResource(r) => put_resource(session, st, ResourceRow::from(r)).await,
        ViewWrite::PutPayment(p) => exec(session, &st.put_payment, PaymentRow::from(p)).await,
        ViewWrite::PatchPayment {
            id,
            status,
            refunded_amount,
            updated_at,
        } => {
            let found = read::one::<PaymentRow>(session, &st.get_payment, (id.as_str(),)).await?;
            let Some(mut p) = found else {
                return Ok(());
            };
            p.status = status.as_str().to_owned();
            if let Some(amount) = refunded_amount {
                p.refunded_amount = *amount;
            }
            p.updated_at = CqlTimestamp(*updated_at);
            exec(session, &st.put_payment, p).await
        }
        ViewWrite::PutUser(u) => exec(session, &st.put_user, UserRow::from(u)).await,
        ViewWrite::MarkVerified { email } => {
            let found = read::one::<UserRow>(session, &st.get_user, (email.as_str(),)).await?;
            let Some(mut u) = found else {
                return Ok(());
            };
            u.verified = true;
            exec(session, &st.put_user, u).await
        }
        ViewWrite::PutLoginLock(l) => exec(session, &st.put_lock, LoginLockRow::from(l)).await,
        ViewWrite::LiftLoginLock { email, unlocked_at } => {
            let found = read::one::<LoginLockRow>(session, &st.get_lock, (email.as_str(),)).await?;
            let Some(mut l) = found else {
                return Ok(());
            };
            l.unlocked_at = Some(CqlTimestamp(*unlocked_at));
            exec(session, &st.put_lock, l).await
        }
        // The owner's listing first, the row by id (what authenticates)
        // last: the row is the commit point.
        ViewWrite::PutApiKey(k) => put_api_key(session, st, ApiKeyRow::from(k)).await,
        ViewWrite::Applied {
            topic,
            partition,
            next,
        } => {
            exec(
                session,
                &st.put_applied,
                (topic.as_str(), *partition as i32, *next as i64),
            )
            .await
        }
        ViewWrite::PutEvent(e) => put_event(session, st, e).await,
        ViewWrite::PutWebhook(w) => exec(session, &st.put_webhook, WebhookRow::from(w)).await,
        ViewWrite::DeleteWebhook {
            owner_id,
            webhook_id,
        } => {
            exec(
                session,
                &st.delete_webhook,
                (owner_id.as_str(), webhook_id.as_str()),
            )
            .await
        }
        ViewWrite::RevokeApiKey {
            key_id, revoked_at, ..
        } => {
            let found =
                read::one::<ApiKeyRow>(session, &st.get_api_key, (key_id.as_str(),)).await?;
            let Some(mut k) = found else {
                return Ok(());
            };
            k.revoked_at = Some(CqlTimestamp(*revoked_at));
            put_api_key(session, st, k).await
        }
    }
}

async fn put_event(
    session: &Session,
    st: &Statements,
    e: &slotstream_runtime::EventView,
) -> Result<(), ViewError> {
    let mut e = e.clone();
    if e.vendor_id.is_none()
        && let Some(r) =
            read::one::<ResourceRow>(session, &st.get_resource, (e.resource_id.as_str(),)).await?
    {
        e.vendor_id = Some(UserId(r.vendor_id));
    }
    if e.user_id.is_none()
        && let Some(pid) = &e.payment_id
        && let Some(p) = read::one::<PaymentRow>(session, &st.get_payment, (pid.as_str(),)).await?
    {
        e.user_id = Some(UserId(p.user_id));
    }
    let json = serde_json::to_string(&e)
        .map_err(|err| ViewError::Corrupt(format!("an event row does not serialize: {err}")))?;
    let mut audiences: Vec<&str> = e
        .user_id
        .iter()
        .chain(&e.vendor_id)
        .map(|u| u.as_str())
        .collect();
    audiences.dedup();
    for a in audiences {
        exec(
            session,
            &st.put_event,
            (
                a,
                e.topic.as_str(),
                e.partition as i32,
                e.offset as i64,
                json.as_str(),
            ),
        )
        .await?;
    }
    Ok(())
}

async fn put_api_key(session: &Session, st: &Statements, row: ApiKeyRow) -> Result<(), ViewError> {
    exec(session, &st.put_api_key_by_owner, row.clone()).await?;
    exec(session, &st.put_api_key, row).await
}

async fn exec(
    session: &Session,
    stmt: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<(), ViewError> {
    session
        .execute_unpaged(stmt, values)
        .await
        .map(|_| ())
        .map_err(error::execution)
}

type Step<'a> = BoxFuture<'a, Result<(), ViewError>>;

fn step<'a>(
    session: &'a Session,
    stmt: &'a PreparedStatement,
    values: impl SerializeRow + Send + 'a,
) -> Step<'a> {
    exec(session, stmt, values).boxed()
}

/// Writes `new` to every booking table, removing the entries of `old` whose
/// keys moved, then the row itself.
async fn put_booking(
    session: &Session,
    st: &Statements,
    old: Option<BookingRow>,
    new: BookingRow,
) -> Result<(), ViewError> {
    let owners = [
        Owner::Resource(new.resource_id.as_str()),
        Owner::Vendor(new.vendor_id.as_str()),
    ];
    let span = new.ends_at.0.saturating_sub(new.starts_at.0);
    let day = day_of(new.starts_at.0);
    let in_day = DayBookingRow { day, booking: &new };
    let mut steps: Vec<Step<'_>> = Vec::new();
    for owner in owners {
        if span > 0 {
            let values = (owner.scope(), owner.id(), span);
            steps.push(step(session, &st.put_span, values));
        }
        let values = (owner.scope(), owner.id(), day);
        steps.push(step(session, &st.put_day, values));
    }
    if let Some(old) = &old {
        let old_id = old.booking_id.as_str();
        if (&old.user_id, old.created_at) != (&new.user_id, new.created_at) {
            let key = (old.user_id.as_str(), old.created_at, old_id);
            steps.push(step(session, &st.by_user.delete, key));
        }
        if (&old.user_id, &old.status, old.created_at)
            != (&new.user_id, &new.status, new.created_at)
        {
            let key = (
                old.user_id.as_str(),
                old.status.as_str(),
                old.created_at,
                old_id,
            );
            steps.push(step(session, &st.by_user_status.delete, key));
        }
        let old_day = day_of(old.starts_at.0);
        let moved = old_day != day || old.starts_at != new.starts_at;
        if moved || old.resource_id != new.resource_id {
            let key = (old.resource_id.as_str(), old_day, old.starts_at, old_id);
            steps.push(step(session, &st.by_resource.delete, key));
        }
        if moved || old.vendor_id != new.vendor_id {
            let key = (old.vendor_id.as_str(), old_day, old.starts_at, old_id);
            steps.push(step(session, &st.by_vendor.delete, key));
        }
    }
    steps.push(step(session, &st.by_user.insert, &new));
    steps.push(step(session, &st.by_user_status.insert, &new));
    steps.push(step(session, &st.by_resource.insert, &in_day));
    steps.push(step(session, &st.by_vendor.insert, &in_day));
    try_join_all(steps).await?;
    exec(session, &st.put_booking, &new).await
}

/// Writes a resource to its listings (leaving the vendor's or kind's listing
/// it moved out of), then the row itself.
async fn put_resource(
    session: &Session,
    st: &Statements,
    new: ResourceRow,
) -> Result<(), ViewError> {
    let id = new.resource_id.as_str();
    let old = read::one::<ResourceRow>(session, &st.get_resource, (id,)).await?;
    let in_catalog = CatalogRow {
        catalog: 0,
        resource: &new,
    };
    let mut steps: Vec<Step<'_>> = Vec::new();
    if let Some(old) = &old {
        if old.vendor_id != new.vendor_id {
            let key = (old.vendor_id.as_str(), id);
            steps.push(step(session, &st.resources_by_vendor.delete, key));
        }
        if old.kind != new.kind {
            let key = (old.kind.as_str(), id);
            steps.push(step(session, &st.resources_by_kind.delete, key));
        }
    }
    steps.push(step(session, &st.resources_by_vendor.insert, &new));
    steps.push(step(session, &st.resources_by_kind.insert, &new));
    steps.push(step(session, &st.catalog.insert, &in_catalog));
    try_join_all(steps).await?;
    exec(session, &st.put_resource, &new).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_of_one_row_stay_in_order_and_rows_split_into_chains() {
        let verify = |e: &str| ViewWrite::MarkVerified { email: e.into() };
        let writes = [verify("a"), verify("b"), verify("a")];
        let got: Vec<Vec<&ViewWrite>> = chains(writes.iter().collect());
        assert_eq!(got, vec![vec![&writes[0], &writes[2]], vec![&writes[1]]]);
    }
}
