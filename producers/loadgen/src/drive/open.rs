//! The open loop: request `k` is due at `start + k / rate`, whatever the
//! answers, paced by a thread of its own.
//!
//! Invariant: the schedule never moves. When the in-flight cap is full a due
//! send waits for a slot, and that wait is part of its latency (it counts from
//! the due time). So late sends are visible, and the sends still waiting at
//! the end are counted as dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{Shared, StopReason, due_before};

/// A send more than this behind its schedule counts as late.
const LATE_AFTER: Duration = Duration::from_millis(1);
/// Longest the pacer sleeps before looking at the stop signal again.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Returns `(late, dropped)`: measured sends that left more than 1 ms behind
/// schedule, and sends due before the run ended that never left.
pub(super) async fn open_loop(
    shared: &Arc<Shared>,
    rate: f64,
    max_in_flight: usize,
    start: Instant,
    end: Instant,
) -> (u64, u64) {
    let cap = max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(cap));
    let pacer = {
        let (shared, permits) = (Arc::clone(shared), Arc::clone(&permits));
        let handle = Handle::current();
        tokio::task::spawn_blocking(move || pace(&shared, &handle, &permits, rate, (start, end)))
    };
    let paced = match pacer.await {
        Ok(paced) => paced,
        // The pacer only stops early by panicking; stop everything and report what was measured.
        Err(_) => {
            shared.stop.trigger(StopReason::Interrupted);
            Paced {
                late: 0,
                sent: 0,
                stopped_at: Instant::now(),
            }
        }
    };
    // Wait for every answer in flight: all permits back means all tasks done.
    let _ = permits
        .acquire_many(u32::try_from(cap).unwrap_or(u32::MAX))
        .await;
    let due = due_before(paced.stopped_at.min(end) - start, rate);
    (paced.late, due.saturating_sub(paced.sent))
}

/// What the pacer did.
struct Paced {
    late: u64,
    sent: u64,
    stopped_at: Instant,
}

/// Sends request `k` at `start + k / rate` until told to stop, on a thread of
/// its own: an OS sleep wakes within tens of microseconds, where tokio's timer
/// wheel ticks in whole milliseconds, a bias that would land in every
/// open-loop latency. When the in-flight cap is full the send waits for a
/// slot (and is late); the schedule does not move.
fn pace(
    shared: &Arc<Shared>,
    handle: &Handle,
    permits: &Arc<Semaphore>,
    rate: f64,
    (start, end): (Instant, Instant),
) -> Paced {
    let (start, end) = (start.into_std(), end.into_std());
    let measure_from = shared.measure_from.into_std();
    let (mut late, mut sent) = (0u64, 0u64);
    'run: loop {
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        if due >= end {
            // The schedule is exact here, the deadline timer is not: stop on the schedule.
            shared.stop.trigger(StopReason::Duration);
            break;
        }
        loop {
            if shared.stop.reason().is_some() {
                break 'run;
            }
            let now = std::time::Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep((due - now).min(STOP_POLL));
        }
        let permit = match Arc::clone(permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waited = handle.block_on(async {
                    tokio::select! {
                        permit = Arc::clone(permits).acquire_owned() => permit.ok(),
                        () = shared.stop.stopped() => None,
                    }
                });
                match waited {
                    Some(permit) => permit,
                    None => break,
                }
            }
        };
        if shared.stop.reason().is_some() || !shared.claim() {
            break;
        }
        let now = std::time::Instant::now();
        if now >= measure_from {
            late += u64::from(now.saturating_duration_since(due) > LATE_AFTER);
        }
        let task = Arc::clone(shared);
        let due = Instant::from_std(due);
        handle.spawn(async move {
            task.exchange(due).await;
            drop(permit);
        });
        sent += 1;
    }
    Paced {
        late,
        sent,
        stopped_at: Instant::now(),
    }
}
