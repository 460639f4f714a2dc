//! Applying [`ViewWrite`]s to a writer's batch. Every write is an upsert or
//! a patch, so applying one twice leaves the same views.

use crate::keys::Key;
use crate::schema::status_code;
use crate::txn::Txn;
use crate::writer::ApplyError;
use fjall::Keyspace;
use serde::de::DeserializeOwned;
use slotstream_domain::resource::{Resource, ResourceV1};
use slotstream_runtime::{
    ApiKeyView, BookingView, BookingViewV1, LoginLockView, PaymentView, UserView, ViewWrite,
    WebhookView,
};

/// Applies one view write.
pub(crate) fn apply(t: &mut Txn<'_>, w: &ViewWrite) -> Result<(), ApplyError> {
    let store = t.store;
    let ks = &store.ks;
    match w {
        ViewWrite::PutResource(r) => put_resource(t, r),
        ViewWrite::PutBooking(b) => {
            if let Some(old) = get_booking(t, b.id.as_str())? {
                unindex_booking(t, &old);
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
        ViewWrite::MoveBooking {
            id,
            moved,
            updated_at,
        } => {
            let Some(mut b) = get_booking(t, id.as_str())? else {
                return Ok(());
            };
            unindex_booking(t, &b);
            b.moved(moved);
            b.updated_at = *updated_at;
            put_booking(t, &b)
        }
        ViewWrite::PutPayment(p) => put_row(t, &ks.payments, p.id.as_str(), p),
        ViewWrite::PatchPayment {
            id,
            status,
            refunded_amount,
            updated_at,
        } => {
            let Some(mut p) = get::<PaymentView>(t, &ks.payments, id.as_str())? else {
                return Ok(());
            };
            p.status = *status;
            if let Some(amount) = refunded_amount {
                p.refunded_amount = *amount;
            }
            p.updated_at = *updated_at;
            put_row(t, &ks.payments, p.id.as_str(), &p)
        }
        ViewWrite::PutUser(u) => put_row(t, &ks.users, u.email.as_str(), u),
        ViewWrite::MarkVerified { email } => {
            let Some(mut u) = get::<UserView>(t, &ks.users, email.as_str())? else {
                return Ok(());
            };
            u.verified = true;
            put_row(t, &ks.users, u.email.as_str(), &u)
        }
        ViewWrite::PutLoginLock(l) => put_row(t, &ks.login_locks, l.email.as_str(), l),
        ViewWrite::LiftLoginLock { email, unlocked_at } => {
            let Some(mut l) = get::<LoginLockView>(t, &ks.login_locks, email.as_str())? else {
                return Ok(());
            };
            l.unlocked_at = Some(*unlocked_at);
            put_row(t, &ks.login_locks, l.email.as_str(), &l)
        }
        ViewWrite::PutApiKey(k) => {
            t.insert(
                &ks.api_keys_by_owner,
                catalog_key(k.owner_id.as_str(), &k.key_id),
                Vec::new(),
            );
            put_row(t, &ks.api_keys, &k.key_id, k)
        }
        ViewWrite::Applied {
            topic,
            partition,
            next,
        } => {
            t.insert(
                &ks.positions,
                position_key(topic, *partition),
                next.to_be_bytes().to_vec(),
            );
            Ok(())
        }
        ViewWrite::PutEvent(e) => {
            let mut e = e.clone();
            if e.vendor_id.is_none()
                && let Some(raw) = t.get(&ks.resources, e.resource_id.as_str().as_bytes())?
            {
                e.vendor_id = Some(resource_row(&raw)?.vendor_id);
            }
            if e.user_id.is_none()
                && let Some(pid) = &e.payment_id
                && let Some(p) = get::<PaymentView>(t, &ks.payments, pid.as_str())?
            {
                e.user_id = Some(p.user_id);
            }
            let raw = postcard::to_stdvec(&e)?;
            let mut audiences: Vec<&str> = e
                .user_id
                .iter()
                .chain(&e.vendor_id)
                .map(|u| u.as_str())
                .collect();
            audiences.dedup();
            for a in audiences {
                t.insert(
                    &ks.events,
                    event_key(a, &e.topic, e.partition, e.offset),
                    raw.clone(),
                );
            }
            Ok(())
        }
        ViewWrite::PutWebhook(w) => {
            let raw = postcard::to_stdvec::<WebhookView>(w)?;
            t.insert(
                &ks.webhooks,
                catalog_key(w.owner_id.as_str(), &w.webhook_id),
                raw,
            );
            Ok(())
        }
        ViewWrite::DeleteWebhook {
            owner_id,
            webhook_id,
        } => {
            t.remove(&ks.webhooks, catalog_key(owner_id.as_str(), webhook_id));
            Ok(())
        }
        ViewWrite::RevokeApiKey {
            key_id, revoked_at, ..
        } => {
            let Some(mut k) = get::<ApiKeyView>(t, &ks.api_keys, key_id)? else {
                return Ok(());
            };
            k.revoked_at = Some(*revoked_at);
            put_row(t, &ks.api_keys, key_id, &k)
        }
    }
}

/// A row by id, as this batch would leave it.
fn get<T: DeserializeOwned>(t: &Txn<'_>, ks: &Keyspace, id: &str) -> Result<Option<T>, ApplyError> {
    match t.get(ks, id.as_bytes())? {
        Some(raw) => Ok(Some(postcard::from_bytes(&raw)?)),
        None => Ok(None),
    }
}

/// A booking row by id, as this batch would leave it ([`booking_row`]).
fn get_booking(t: &Txn<'_>, id: &str) -> Result<Option<BookingView>, ApplyError> {
    match t.get(&t.store.ks.bookings, id.as_bytes())? {
        Some(raw) => Ok(Some(booking_row(&raw)?)),
        None => Ok(None),
    }
}

/// A stored booking row: the current layout, or the one written before
/// bookings showed their moves (it ended at `updated_at`, so reading it as
/// the current layout runs out of bytes; it then reads as the old layout,
/// to its very last byte, with no moves). Old rows are never rewritten in
/// bulk: each is upgraded when it next changes, so opening an old data dir
/// needs no migration step and a crash can leave nothing half-done.
pub(crate) fn booking_row(raw: &[u8]) -> Result<BookingView, postcard::Error> {
    postcard::from_bytes::<BookingView>(raw).or_else(|e| {
        match postcard::take_from_bytes::<BookingViewV1>(raw) {
            Ok((old, [])) => Ok(BookingView::from(old)),
            _ => Err(e),
        }
    })
}

fn put_row<T: serde::Serialize>(
    t: &mut Txn<'_>,
    ks: &Keyspace,
    id: &str,
    row: &T,
) -> Result<(), ApplyError> {
    let raw = postcard::to_stdvec(row)?;
    t.insert(ks, id.as_bytes().to_vec(), raw);
    Ok(())
}

/// The (owner, start, id) key of the by-resource and by-vendor indexes.
pub(crate) fn span_key(owner: &str, start: i64, id: &str) -> Vec<u8> {
    Key::new().str(owner).i64(start).str(id).done()
}

/// The (user, `!created_at`, id) key of the by-user index.
pub(crate) fn user_key(user: &str, created_at: i64, id: &str) -> Vec<u8> {
    Key::new().str(user).i64(!created_at).str(id).done()
}

/// The (topic, partition) key of the applied positions.
pub(crate) fn position_key(topic: &str, partition: u32) -> Vec<u8> {
    Key::new().str(topic).u32(partition).done()
}

/// The (audience, topic, partition, offset) key of the events listing
/// (the offset as an `i64`: offsets stay far below 2^63).
pub(crate) fn event_key(audience: &str, topic: &str, partition: u32, offset: u64) -> Vec<u8> {
    event_prefix(audience, topic, partition)
        .i64(offset as i64)
        .done()
}

/// The key prefix of one audience's events of one partition.
pub(crate) fn event_prefix(audience: &str, topic: &str, partition: u32) -> Key {
    Key::new().str(audience).str(topic).u32(partition)
}

/// The (owner, resource id) key of the resource catalogue indexes.
pub(crate) fn catalog_key(owner: &str, id: &str) -> Vec<u8> {
    Key::new().str(owner).str(id).done()
}

/// Writes the row and every index entry, and widens the resource's and the
/// vendor's spans.
fn put_booking(t: &mut Txn<'_>, b: &BookingView) -> Result<(), ApplyError> {
    let store = t.store;
    let ks = &store.ks;
    put_patched_booking(t, b)?;
    let id = b.id.as_str();
    let end = b.end.to_be_bytes().to_vec();
    t.insert(
        &ks.bookings_by_resource,
        span_key(b.resource_id.as_str(), b.start, id),
        end.clone(),
    );
    t.insert(
        &ks.bookings_by_vendor,
        span_key(b.vendor_id.as_str(), b.start, id),
        end,
    );
    let len = b.end.saturating_sub(b.start);
    for (spans, owner) in [
        (&ks.booking_span, b.resource_id.as_str()),
        (&ks.vendor_span, b.vendor_id.as_str()),
    ] {
        let widest = t
            .get(spans, owner.as_bytes())?
            .and_then(|v| v.try_into().ok().map(i64::from_be_bytes))
            .unwrap_or(0);
        if len > widest {
            t.insert(spans, owner.as_bytes().to_vec(), len.to_be_bytes().to_vec());
        }
    }
    Ok(())
}

/// Rewrites a patched booking: the row and the by-user entry (its value is
/// the status). A patch never moves the interval, resource or vendor, so the
/// other index entries and the spans stay as they are (a move goes through
/// `unindex_booking` and `put_booking`).
fn put_patched_booking(t: &mut Txn<'_>, b: &BookingView) -> Result<(), ApplyError> {
    let store = t.store;
    let ks = &store.ks;
    let id = b.id.as_str();
    put_row(t, &ks.bookings, id, b)?;
    t.insert(
        &ks.bookings_by_user,
        user_key(b.user_id.as_str(), b.created_at, id),
        vec![status_code(b.status)],
    );
    Ok(())
}

/// Removes the index entries of a booking's previous version.
fn unindex_booking(t: &mut Txn<'_>, old: &BookingView) {
    let store = t.store;
    let ks = &store.ks;
    let id = old.id.as_str();
    t.remove(
        &ks.bookings_by_user,
        user_key(old.user_id.as_str(), old.created_at, id),
    );
    t.remove(
        &ks.bookings_by_resource,
        span_key(old.resource_id.as_str(), old.start, id),
    );
    t.remove(
        &ks.bookings_by_vendor,
        span_key(old.vendor_id.as_str(), old.start, id),
    );
}

/// A stored resource row: the current layout, or the one written before
/// resources had schedules and rules (its last field was `created_at`, so
/// reading it as the current layout runs out of bytes; it then reads as the
/// old layout, to its very last byte, upgraded to a resource without
/// either).
pub(crate) fn resource_row(raw: &[u8]) -> Result<Resource, postcard::Error> {
    postcard::from_bytes::<Resource>(raw).or_else(|e| {
        match postcard::take_from_bytes::<ResourceV1>(raw) {
            Ok((old, [])) => Ok(Resource::from(old)),
            _ => Err(e),
        }
    })
}

fn put_resource(t: &mut Txn<'_>, r: &Resource) -> Result<(), ApplyError> {
    let store = t.store;
    let ks = &store.ks;
    let id = r.id.as_str();
    let old = match t.get(&ks.resources, id.as_bytes())? {
        Some(raw) => Some(resource_row(&raw)?),
        None => None,
    };
    if let Some(old) = old {
        t.remove(
            &ks.resources_by_vendor,
            catalog_key(old.vendor_id.as_str(), id),
        );
        t.remove(&ks.resources_by_kind, catalog_key(old.kind.as_str(), id));
    }
    put_row(t, &ks.resources, id, r)?;
    t.insert(
        &ks.resources_by_vendor,
        catalog_key(r.vendor_id.as_str(), id),
        Vec::new(),
    );
    t.insert(
        &ks.resources_by_kind,
        catalog_key(r.kind.as_str(), id),
        Vec::new(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_domain::resource::{CancellationPolicy, Price};
    use slotstream_domain::schedule::BookingRules;

    #[test]
    fn booking_rows_of_both_layouts_read() {
        use slotstream_domain::booking::BookingStatus;
        use slotstream_domain::{BookingId, Money, PaymentId, ResourceId, UserId};
        use slotstream_runtime::RescheduleView;
        let old = BookingViewV1 {
            id: BookingId::new("b1"),
            resource_id: ResourceId::new("r1"),
            vendor_id: UserId::new("v"),
            user_id: UserId::new("u"),
            start: 10,
            end: 20,
            status: BookingStatus::Confirmed,
            amount: Money::new(500, "EUR"),
            hold_expires_at: 5,
            payment_id: PaymentId::new("p1"),
            refund: None,
            created_at: 1,
            updated_at: 2,
        };
        let raw = postcard::to_stdvec(&old).unwrap();
        let upgraded = booking_row(&raw).unwrap();
        assert_eq!(upgraded, BookingView::from(old));
        assert!(upgraded.reschedules.is_empty());
        let mut moved = upgraded.clone();
        let m = RescheduleView {
            from_start: 10,
            from_end: 20,
            to_start: 30,
            to_end: 40,
            by: UserId::new("u"),
            at: 3,
        };
        moved.moved(&m);
        moved.moved(&m);
        assert_eq!((moved.start, moved.end), (30, 40));
        assert_eq!(moved.reschedules, [m]);
        let raw = postcard::to_stdvec(&moved).unwrap();
        assert_eq!(booking_row(&raw).unwrap(), moved);
        assert!(booking_row(&raw[..raw.len() - 2]).is_err());
    }

    #[test]
    fn resource_rows_of_both_layouts_read() {
        let old = ResourceV1 {
            id: "r1".into(),
            vendor_id: "v".into(),
            name: "Room".into(),
            kind: "room".into(),
            price: Price {
                amount: 1000,
                currency: "EUR".into(),
                unit_minutes: 60,
            },
            timezone: "UTC".into(),
            slot_minutes: 15,
            min_minutes: 15,
            max_minutes: 60,
            cancellation_policy: CancellationPolicy::default(),
            created_at: 7,
        };
        let raw = postcard::to_stdvec(&old).unwrap();
        let upgraded = resource_row(&raw).unwrap();
        assert_eq!(upgraded, Resource::from(old));
        assert_eq!(upgraded.schedule, None);
        let current = Resource {
            rules: BookingRules {
                buffer_after_minutes: 10,
                ..BookingRules::default()
            },
            ..upgraded
        };
        let raw = postcard::to_stdvec(&current).unwrap();
        assert_eq!(resource_row(&raw).unwrap(), current);
        assert!(resource_row(&raw[..raw.len() - 3]).is_err());
    }
}
