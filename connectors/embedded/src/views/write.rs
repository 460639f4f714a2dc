//! Applying [`ViewWrite`]s inside a write transaction. Every write is an
//! upsert or a patch, so applying one twice leaves the same views.

use crate::schema::status_code;
use crate::tables::Tables;
use crate::writer::ApplyError;
use redb::ReadableTable;
use serde::de::DeserializeOwned;
use slotstream_domain::resource::Resource;
use slotstream_runtime::{BookingView, PaymentView, UserView, ViewWrite};

/// Applies one view write.
pub(crate) fn apply(t: &mut Tables<'_>, w: &ViewWrite) -> Result<(), ApplyError> {
    match w {
        ViewWrite::PutResource(r) => put_resource(t, r),
        ViewWrite::PutBooking(b) => {
            if let Some(old) = get_booking(t, b.id.as_str())? {
                unindex_booking(t, &old)?;
            }
            put_booking(t, b)
        }
        ViewWrite::PatchBooking {
            id,
            status,
            refund,
            updated_at,
        } => {
            let Some(mut b) = get_booking(t, id.as_str())? else {
                return Ok(());
            };
            b.status = *status;
            if let Some(r) = refund {
                b.refund = Some(r.clone());
            }
            b.updated_at = *updated_at;
            put_patched_booking(t, &b)
        }
        ViewWrite::PutPayment(p) => put_payment(t, p),
        ViewWrite::PatchPayment {
            id,
            status,
            refunded_amount,
            updated_at,
        } => {
            let found = t
                .payments()?
                .get(id.as_str())?
                .map(|g| decode::<PaymentView>(g.value()));
            let Some(mut p) = found.transpose()? else {
                return Ok(());
            };
            p.status = *status;
            if let Some(amount) = refunded_amount {
                p.refunded_amount = *amount;
            }
            p.updated_at = *updated_at;
            put_payment(t, &p)
        }
        ViewWrite::PutUser(u) => put_user(t, u),
        ViewWrite::MarkVerified { email } => {
            let found = t
                .users()?
                .get(email.as_str())?
                .map(|g| decode::<UserView>(g.value()));
            let Some(mut u) = found.transpose()? else {
                return Ok(());
            };
            u.verified = true;
            put_user(t, &u)
        }
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

fn get_booking(t: &mut Tables<'_>, id: &str) -> Result<Option<BookingView>, ApplyError> {
    let found = t
        .bookings()?
        .get(id)?
        .map(|g| decode::<BookingView>(g.value()));
    Ok(found.transpose()?)
}

/// Writes the row and every index entry, and widens the resource's and the
/// vendor's spans.
fn put_booking(t: &mut Tables<'_>, b: &BookingView) -> Result<(), ApplyError> {
    put_patched_booking(t, b)?;
    let id = b.id.as_str();
    t.bookings_by_resource()?
        .insert((b.resource_id.as_str(), b.start, id), b.end)?;
    t.bookings_by_vendor()?
        .insert((b.vendor_id.as_str(), b.start, id), b.end)?;
    let len = b.end.saturating_sub(b.start);
    let spans = t.booking_span()?;
    let widest = spans.get(b.resource_id.as_str())?.map_or(0, |g| g.value());
    if len > widest {
        spans.insert(b.resource_id.as_str(), len)?;
    }
    let spans = t.vendor_span()?;
    let widest = spans.get(b.vendor_id.as_str())?.map_or(0, |g| g.value());
    if len > widest {
        spans.insert(b.vendor_id.as_str(), len)?;
    }
    Ok(())
}

/// Rewrites a patched booking: the row and the by-user entry (its value is
/// the status). A patch never moves the interval, resource or vendor, so the
/// other index entries and the spans stay as they are.
fn put_patched_booking(t: &mut Tables<'_>, b: &BookingView) -> Result<(), ApplyError> {
    let id = b.id.as_str();
    let row = postcard::to_stdvec(b)?;
    t.bookings()?.insert(id, &row[..])?;
    t.bookings_by_user()?.insert(
        (b.user_id.as_str(), !b.created_at, id),
        status_code(b.status),
    )?;
    Ok(())
}

/// Removes the index entries of a booking's previous version.
fn unindex_booking(t: &mut Tables<'_>, old: &BookingView) -> Result<(), ApplyError> {
    let id = old.id.as_str();
    t.bookings_by_user()?
        .remove((old.user_id.as_str(), !old.created_at, id))?;
    t.bookings_by_resource()?
        .remove((old.resource_id.as_str(), old.start, id))?;
    t.bookings_by_vendor()?
        .remove((old.vendor_id.as_str(), old.start, id))?;
    Ok(())
}

fn put_resource(t: &mut Tables<'_>, r: &Resource) -> Result<(), ApplyError> {
    let id = r.id.as_str();
    let found = t
        .resources()?
        .get(id)?
        .map(|g| decode::<Resource>(g.value()));
    if let Some(old) = found.transpose()? {
        t.resources_by_vendor()?
            .remove((old.vendor_id.as_str(), id))?;
        t.resources_by_kind()?.remove((old.kind.as_str(), id))?;
    }
    let row = postcard::to_stdvec(r)?;
    t.resources()?.insert(id, &row[..])?;
    t.resources_by_vendor()?
        .insert((r.vendor_id.as_str(), id), ())?;
    t.resources_by_kind()?.insert((r.kind.as_str(), id), ())?;
    Ok(())
}

fn put_payment(t: &mut Tables<'_>, p: &PaymentView) -> Result<(), ApplyError> {
    let row = postcard::to_stdvec(p)?;
    t.payments()?.insert(p.id.as_str(), &row[..])?;
    Ok(())
}

fn put_user(t: &mut Tables<'_>, u: &UserView) -> Result<(), ApplyError> {
    let row = postcard::to_stdvec(u)?;
    t.users()?.insert(u.email.as_str(), &row[..])?;
    Ok(())
}
