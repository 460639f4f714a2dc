//! Free-slot search over the read views: one resource's answer
//! ([`resource_slots`], `GET /v1/resources/{id}/slots`) and the same answer
//! for each resource of a kind or vendor ([`search`], `GET /v1/slots`).
//!
//! Both run `slotstream_domain::schedule::free_slots`, the function the
//! booking processor's decision agrees with, over the resource's schedule
//! and rules and its pending and confirmed bookings as the views know them.
//! They are hints: the processor decides, so a slot taken meanwhile is
//! refused with `slot_unavailable`. Every answer is bounded: a window of at
//! most [`MAX_SLOT_DAYS`], at most [`MAX_SLOTS`] slots, [`MAX_BUSY`]
//! bookings read per resource, and a search page scans at most
//! [`MAX_SCAN`] resources.

use crate::dto::{SlotDto, SlotSearchPage, SlotsDto};
use crate::rfc3339;
use slotstream_domain::resource::Resource;
use slotstream_domain::schedule::{Busy, Schedule, WallClock, free_slots};
use slotstream_domain::time::MINUTE;
use slotstream_domain::{Interval, Millis, ResourceId, UserId};
use slotstream_runtime::cursor;
use slotstream_runtime::{ViewError, ViewStore};

/// Widest slot search window, days.
pub const MAX_SLOT_DAYS: i64 = 62;
/// Most slots one answer lists (one resource's, or a whole search page's).
pub const MAX_SLOTS: usize = 10_000;
/// Most bookings one resource's slot search reads from the views.
pub const MAX_BUSY: usize = 20_000;
/// Most resources one search page looks at.
pub const MAX_SCAN: usize = 1_000;
/// Resources whose bookings a search page reads at once.
const CONCURRENT_READS: usize = 16;

/// Whether a booking of `minutes` fits resource `r`'s grid and limits.
pub fn fits(r: &Resource, minutes: u32) -> bool {
    minutes >= r.min_minutes
        && minutes <= r.max_minutes
        && minutes.is_multiple_of(r.slot_minutes.max(1))
}

/// Resource `r`'s answer: every start in `window` on its slot grid at which
/// the booking processor would accept a booking of `minutes` at `now`
/// (opening hours, buffers, notice, horizon, other bookings as `views` know
/// them), each in UTC and on the resource's wall clock. `minutes` must fit
/// the resource ([`fits`]); the window is the caller's to bound.
///
/// # Errors
/// A failed view read.
pub async fn resource_slots(
    views: &dyn ViewStore,
    r: &Resource,
    window: Interval,
    minutes: u32,
    now: Millis,
) -> Result<SlotsDto, ViewError> {
    let duration = Millis::from(minutes) * MINUTE;
    let schedule = match r.schedule.as_deref() {
        None => None,
        // Validated at registration; one that no longer compiles offers
        // nothing (the processor treats it as closed).
        Some(spec) => match Schedule::new(spec.clone()) {
            Ok(s) => Some(s),
            Err(_) => return Ok(answer(r, window, minutes, &[])),
        },
    };
    // A booking conflicts with a start `s` when the two buffered intervals
    // overlap: read every booking overlapping the window widened by the
    // longest reach of a slot and both buffers.
    let gap = r.rules.buffer_before() + r.rules.buffer_after();
    let (from, to) = (window.start - gap, window.end + duration + gap);
    let mut busy = Vec::new();
    let mut page_cursor: Option<String> = None;
    loop {
        let page = views
            .bookings_by_resource(&r.id, from, to, 500, page_cursor.as_deref())
            .await?;
        busy.extend(
            page.items
                .iter()
                .filter(|b| b.status.is_active())
                .map(|b| Interval::new(b.start, b.end)),
        );
        page_cursor = page.next_cursor;
        if page_cursor.is_none() || busy.len() >= MAX_BUSY {
            break;
        }
    }
    let busy = Busy::buffered(&r.rules, busy);
    let step = Millis::from(r.slot_minutes.max(1)) * MINUTE;
    let starts = free_slots(
        schedule.as_ref(),
        &r.rules,
        &busy,
        now,
        window,
        duration,
        step,
    );
    Ok(answer(r, window, minutes, &starts))
}

fn answer(r: &Resource, window: Interval, minutes: u32, starts: &[Millis]) -> SlotsDto {
    let duration = Millis::from(minutes) * MINUTE;
    // The zone is looked up once per answer, not once per slot.
    let clock = WallClock::new(&r.timezone);
    let local = |at: Millis| {
        clock
            .as_ref()
            .and_then(|c| c.rfc3339(at))
            .unwrap_or_else(|| rfc3339::format(at))
    };
    SlotsDto {
        resource_id: r.id.to_string(),
        timezone: r.timezone.clone(),
        from: rfc3339::format(window.start),
        to: rfc3339::format(window.end),
        duration_minutes: minutes,
        slots: starts
            .iter()
            .take(MAX_SLOTS)
            .map(|&s| SlotDto {
                start: rfc3339::format(s),
                end: rfc3339::format(s + duration),
                local_start: local(s),
                local_end: local(s + duration),
            })
            .collect(),
        truncated: starts.len() > MAX_SLOTS,
    }
}

/// What a cross-resource search asks.
#[derive(Clone, Debug)]
pub struct Search {
    /// Only resources of this vendor.
    pub vendor: Option<UserId>,
    /// Only resources of this kind.
    pub kind: Option<String>,
    /// Starts in this window (at most [`MAX_SLOT_DAYS`]).
    pub window: Interval,
    /// Booking length, minutes.
    pub minutes: u32,
    /// Most resources listed.
    pub limit: usize,
    /// After the resource a previous page's `next_cursor` names.
    pub cursor: Option<String>,
}

/// One page of a search at `now`: the matching resources, by id, from the
/// cursor on, each that `minutes` fits and that has at least one free slot
/// listed with exactly its [`resource_slots`] answer. A page ends after
/// `limit` resources listed, before a resource whose slots would take the
/// page past [`MAX_SLOTS`] (unless it is the first), or after [`MAX_SCAN`]
/// resources looked at; `next_cursor` then resumes after the last resource
/// looked at, so a page may list fewer than `limit` (even none) and still
/// have a next one. `fresher` gives a resource the caller knows newer than
/// the views (the gateway's own recent writes), so each answer is the one
/// the per-resource route gives.
///
/// # Errors
/// A failed view read, or a cursor the views did not issue
/// ([`ViewError::BadCursor`]).
pub async fn search(
    views: &dyn ViewStore,
    q: &Search,
    fresher: &(dyn Fn(&ResourceId) -> Option<Resource> + Sync),
    now: Millis,
) -> Result<SlotSearchPage, ViewError> {
    let mut page = SlotSearchPage {
        from: rfc3339::format(q.window.start),
        to: rfc3339::format(q.window.end),
        duration_minutes: q.minutes,
        items: Vec::new(),
        next_cursor: None,
    };
    let mut slots = 0;
    let mut scanned = 0;
    let mut last: Option<ResourceId> = None;
    let mut listing_cursor = q.cursor.clone();
    loop {
        let want = (MAX_SCAN - scanned).min(100);
        let listed = views
            .resources(
                q.vendor.as_ref(),
                q.kind.as_deref(),
                want,
                listing_cursor.as_deref(),
            )
            .await?;
        let resources: Vec<Resource> = listed
            .items
            .into_iter()
            .map(|r| fresher(&r.id).unwrap_or(r))
            .collect();
        if resources.is_empty() {
            return Ok(page);
        }
        for chunk in resources.chunks(CONCURRENT_READS) {
            let answers = futures_util::future::try_join_all(chunk.iter().map(|r| async move {
                if fits(r, q.minutes) {
                    resource_slots(views, r, q.window, q.minutes, now)
                        .await
                        .map(Some)
                } else {
                    Ok(None)
                }
            }))
            .await?;
            for (r, found) in chunk.iter().zip(answers) {
                let found = found.filter(|a| !a.slots.is_empty());
                let n = found.as_ref().map_or(0, |a| a.slots.len());
                let full = page.items.len() >= q.limit
                    || (n > 0 && !page.items.is_empty() && slots + n > MAX_SLOTS);
                if let (true, Some(id)) = (full, &last) {
                    // `r` is the next page's first.
                    page.next_cursor = Some(cursor::encode_catalog(id.as_str()));
                    return Ok(page);
                }
                scanned += 1;
                last = Some(r.id.clone());
                if let Some(a) = found {
                    slots += n;
                    page.items.push(a);
                }
            }
        }
        listing_cursor = listed.next_cursor;
        match (&listing_cursor, &last) {
            (None, _) => return Ok(page),
            (Some(_), Some(id)) if scanned >= MAX_SCAN => {
                page.next_cursor = Some(cursor::encode_catalog(id.as_str()));
                return Ok(page);
            }
            _ => {}
        }
    }
}
