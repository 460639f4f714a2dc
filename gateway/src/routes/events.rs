//! `GET /v1/events`: the booking and payment events of the caller's own
//! resources (a vendor, or its API key) or own bookings (a customer, or a
//! partner's end user), for partners who cannot receive webhooks
//! (ARCHITECTURE.md, "Events API").
//!
//! **Positions and the cursor.** An event's place is its log position
//! (topic, partition, offset); its id is derived from it. The views list
//! each audience's events per topic partition by offset. The cursor is the
//! last position handed out per topic partition (a consumer's offsets, as
//! Kafka keeps them): a page reads each partition after its position,
//! merges them by event time (ties by position), and moves each partition's
//! position past what it handed out. So nothing is skipped or repeated
//! however the partitions' projections interleave, each partition (so
//! each resource's, and each booking's, events) comes in log order, and
//! the same positions can later start a webhook replay.

use crate::consistency::ReadAfter;
use crate::dto::{EventDto, EventPage, EventQuery};
use crate::error::ApiError;
use crate::rfc3339;
use crate::routes::{json, view_error};
use crate::state::AppState;
use crate::tokens::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use slotstream_runtime::positions::{self, Position};
use slotstream_runtime::views::EVENT_TYPES;
use slotstream_runtime::{EventView, topics};
use std::collections::BTreeMap;

/// The cursor's version byte.
const CURSOR_VERSION: u8 = 1;
/// Default and largest page.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
/// Pages gathered per request at most when a filter skips many events.
const MAX_ROUNDS: usize = 8;

/// The topic partitions events are listed from.
fn partitions() -> impl Iterator<Item = (&'static str, u32)> {
    [topics::BOOKING_EVENTS, topics::PAYMENT_EVENTS]
        .into_iter()
        .flat_map(|t| (0..t.partitions).map(move |p| (t.name, p)))
}

/// The last offset handed out per topic partition.
type Cursor = BTreeMap<(&'static str, u32), u64>;

fn encode_cursor(c: &Cursor) -> String {
    let ps: Vec<Position> = c
        .iter()
        .map(|(&(topic, partition), &offset)| Position {
            topic,
            partition,
            offset,
        })
        .collect();
    let mut raw = vec![CURSOR_VERSION];
    raw.extend(positions::encode(&ps));
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(text: &str) -> Option<Cursor> {
    let raw = URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()?;
    let (&v, rest) = raw.split_first()?;
    if v != CURSOR_VERSION || rest.len() > 24 * 16 {
        return None;
    }
    // A cursor names each partition at most once (positions' own cap is
    // for tokens; cursors may name all 24).
    let mut out = Cursor::new();
    let mut at = 0;
    while at < rest.len() {
        let one = positions::decode_one(rest, &mut at).ok()?;
        if one.topic == topics::IDENTITY_EVENTS.name
            || out.insert((one.topic, one.partition), one.offset).is_some()
        {
            return None;
        }
    }
    Some(out)
}

/// An event's public id: its position, opaque.
pub fn event_id(e: &EventView) -> Option<String> {
    let spec = topics::by_name(&e.topic)?;
    let raw = positions::encode(&[Position {
        topic: spec.name,
        partition: e.partition,
        offset: e.offset,
    }]);
    Some(format!("evt_{}", URL_SAFE_NO_PAD.encode(raw)))
}

fn render(e: &EventView) -> EventDto {
    EventDto {
        id: event_id(e).unwrap_or_default(),
        kind: e.kind.clone(),
        created_at: rfc3339::format(e.created_at),
        resource_id: e.resource_id.to_string(),
        booking_id: e.booking_id.as_ref().map(ToString::to_string),
        payment_id: e.payment_id.as_ref().map(ToString::to_string),
        data: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
    }
}

/// The booking and payment events of the caller's resources or bookings,
/// oldest first, after `after`.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events; poll again from `next_cursor` for newer ones", body = EventPage),
        (status = 401, description = "`unauthorized`", body = crate::error::Problem),
        (status = 422, description = "`validation_failed` (after, types, limit)", body = crate::error::Problem),
    ))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    _read: ReadAfter,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<EventQuery>,
) -> Result<Response, ApiError> {
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be an integer from 1 to 200"))?,
    };
    let mut cursor = match q.after.as_deref().filter(|c| !c.is_empty()) {
        None => Cursor::new(),
        Some(c) => decode_cursor(c)
            .ok_or_else(|| ApiError::invalid("after", "must be a next_cursor this API returned"))?,
    };
    let types: Option<Vec<&str>> = match q.types.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for t in list.split(',').map(str::trim) {
                let known = EVENT_TYPES.iter().find(|k| **k == t).ok_or_else(|| {
                    ApiError::invalid(
                        "types",
                        format!(
                            "{t:?} is not an event type; one of {}",
                            EVENT_TYPES.join(", ")
                        ),
                    )
                })?;
                out.push(*known);
            }
            Some(out)
        }
    };
    let mut items = Vec::new();
    let mut has_more = false;
    for _ in 0..MAX_ROUNDS {
        let (more, full) = page(
            &st,
            &caller,
            &mut cursor,
            limit - items.len(),
            types.as_deref(),
            &mut items,
        )
        .await?;
        has_more = more;
        if !more || full {
            break;
        }
    }
    Ok(json(
        StatusCode::OK,
        &EventPage {
            items,
            next_cursor: encode_cursor(&cursor),
            has_more,
        },
    ))
}

/// One round: reads each partition after the cursor, walks the merged
/// events, adds those of `types` to `items` (up to `want`) and moves the
/// cursor past every event walked. Returns (more may follow, the page is
/// full).
async fn page(
    st: &AppState,
    caller: &Caller,
    cursor: &mut Cursor,
    want: usize,
    types: Option<&[&str]>,
    items: &mut Vec<EventDto>,
) -> Result<(bool, bool), ApiError> {
    let reads = partitions().map(|(topic, partition)| {
        let after = cursor.get(&(topic, partition)).copied();
        let views = st.views.clone();
        let user = caller.user_id.clone();
        async move {
            views
                .events(&user, topic, partition, after, want)
                .await
                .map(|evs| (topic, partition, evs))
        }
    });
    let fetched = futures_util::future::try_join_all(reads)
        .await
        .map_err(view_error)?;
    // A k-way merge of the partitions' events, each in log (offset)
    // order, taking the head with the earliest time: time only interleaves
    // partitions, it never reorders one (a provider's whole-second clock can
    // date an event before the one it follows). A partition that filled
    // its read may hold more: once its events are all taken, the walk
    // stops, so none of its later events is passed over.
    let mut heads = vec![0usize; fetched.len()];
    let mut added = 0;
    let mut more = false;
    loop {
        if added == want {
            more = true;
            break;
        }
        if fetched
            .iter()
            .zip(&heads)
            .any(|((_, _, evs), &h)| evs.len() >= want && h == evs.len())
        {
            more = true;
            break;
        }
        let next = fetched
            .iter()
            .enumerate()
            .filter_map(|(i, (topic, _, evs))| {
                evs.get(heads[i])
                    .map(|e| ((e.created_at, *topic, e.partition, e.offset), i))
            })
            .min();
        let Some((_, i)) = next else {
            break;
        };
        let (topic, _, evs) = &fetched[i];
        let e = &evs[heads[i]];
        heads[i] += 1;
        cursor.insert((topic, e.partition), e.offset);
        if types.is_none_or(|ts| ts.contains(&e.kind.as_str())) {
            items.push(render(e));
            added += 1;
        }
    }
    Ok((more, added == want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let mut c = Cursor::new();
        c.insert((topics::BOOKING_EVENTS.name, 3), 17);
        c.insert((topics::PAYMENT_EVENTS.name, 11), 1 << 33);
        assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        assert_eq!(
            decode_cursor(&encode_cursor(&Cursor::new())),
            Some(Cursor::new())
        );
        assert_eq!(decode_cursor("%%"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode([2u8])), None);
        // The same partition twice, an identity partition.
        assert_eq!(
            decode_cursor(&URL_SAFE_NO_PAD.encode([1u8, 1, 0, 0, 1, 0, 1])),
            None
        );
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode([1u8, 3, 0, 0])), None);
    }
}
