//! The slot planner: hands out `(resource, 15-minute slot)` pairs so that no
//! two booking requests of a run ever compete for the same time.
//!
//! Invariant: ticket `n` maps to resource `n % resources` and slot
//! `n / resources` (the slot starting `base + slot * 15 min`); the mapping is
//! a bijection, and tickets come from one atomic counter, so no pair is ever
//! handed out twice, however many workers ask at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of one slot: the resources the load generator creates use
/// `slot_minutes = 15` and `min_minutes = 15`.
pub const SLOT_SECS: u64 = 15 * 60;

const DAY_SECS: u64 = 24 * 60 * 60;

/// Why a planner could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// There is nothing to book on.
    #[error("the slot planner needs at least one resource; pass --resources 1 or more")]
    NoResources,
    /// The first slot would not start on a 15-minute boundary.
    #[error(
        "the first slot starts at {0} s after the epoch, which is not a multiple of 15 minutes"
    )]
    Misaligned(u64),
}

/// One booking to request: which resource, and the slot's bounds in RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSlot {
    /// The ticket this slot was planned for (0, 1, 2, ... in hand-out order).
    pub ticket: u64,
    /// Index of the resource (into the list of created resources).
    pub resource: usize,
    /// Start of the slot, seconds since the epoch (a multiple of 900).
    pub start_secs: u64,
    /// Start of the slot, e.g. `2030-01-02T00:15:00Z`.
    pub start: String,
    /// End of the slot (exclusive), 15 minutes after `start`.
    pub end: String,
}

/// Walks slots forward from a base time, round-robin over the resources.
#[derive(Debug)]
pub struct SlotPlanner {
    resources: u64,
    base_secs: u64,
    next: AtomicU64,
}

impl SlotPlanner {
    /// A planner whose first slot starts at `base_secs` (seconds since the epoch,
    /// aligned to 15 minutes) over `resources` resources.
    pub fn new(resources: usize, base_secs: u64) -> Result<Self, PlanError> {
        if resources == 0 {
            return Err(PlanError::NoResources);
        }
        if !base_secs.is_multiple_of(SLOT_SECS) {
            return Err(PlanError::Misaligned(base_secs));
        }
        Ok(Self {
            resources: resources as u64,
            base_secs,
            next: AtomicU64::new(0),
        })
    }

    /// A planner starting at tomorrow 00:00 UTC as seen from `now`, so every
    /// slot is in the future for the whole run.
    pub fn starting_tomorrow(resources: usize, now: SystemTime) -> Result<Self, PlanError> {
        Self::new(resources, tomorrow_midnight_utc(now))
    }

    /// The next slot; never the same `(resource, start)` twice per planner.
    pub fn next(&self) -> PlannedSlot {
        self.slot(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The slot planned for `ticket` (pure: the same ticket gives the same slot).
    pub fn slot(&self, ticket: u64) -> PlannedSlot {
        let resource = ticket % self.resources;
        let start_secs = self
            .base_secs
            .saturating_add((ticket / self.resources).saturating_mul(SLOT_SECS));
        PlannedSlot {
            ticket,
            // `resource < self.resources`, which came from a usize.
            resource: usize::try_from(resource).unwrap_or(usize::MAX),
            start_secs,
            start: rfc3339_utc(start_secs),
            end: rfc3339_utc(start_secs.saturating_add(SLOT_SECS)),
        }
    }
}

/// Seconds since the epoch of the next UTC midnight strictly after `now`.
pub fn tomorrow_midnight_utc(now: SystemTime) -> u64 {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    (secs / DAY_SECS + 1) * DAY_SECS
}

/// `secs` since the epoch as RFC 3339 in UTC with a `Z`, whole seconds.
pub fn rfc3339_utc(secs: u64) -> String {
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn parse(s: &str) -> u64 {
        let t = humantime::parse_rfc3339(s).expect("planner output is RFC 3339");
        t.duration_since(UNIX_EPOCH)
            .expect("after the epoch")
            .as_secs()
    }

    #[test]
    fn the_planner_never_hands_out_the_same_resource_and_slot_twice_across_threads() {
        let planner =
            Arc::new(SlotPlanner::new(7, 1_800_000_000 - 1_800_000_000 % SLOT_SECS).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = Arc::clone(&planner);
                std::thread::spawn(move || (0..5_000).map(|_| p.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = HashSet::new();
        let mut tickets = HashSet::new();
        for h in handles {
            for slot in h.join().unwrap() {
                assert!(
                    tickets.insert(slot.ticket),
                    "ticket {} handed out twice",
                    slot.ticket
                );
                assert!(
                    seen.insert((slot.resource, slot.start.clone())),
                    "resource {} slot {} handed out twice",
                    slot.resource,
                    slot.start
                );
            }
        }
        assert_eq!(seen.len(), 20_000);
        assert_eq!(tickets, (0..20_000).collect::<HashSet<u64>>());
    }

    #[test]
    fn every_slot_is_fifteen_minutes_long_and_aligned_to_fifteen_minutes() {
        let planner = SlotPlanner::new(3, 86_400 * 20_000).unwrap();
        for ticket in 0..1_000 {
            let slot = planner.slot(ticket);
            let (start, end) = (parse(&slot.start), parse(&slot.end));
            assert_eq!(
                start % SLOT_SECS,
                0,
                "{} is not on a 15-minute boundary",
                slot.start
            );
            assert_eq!(end - start, SLOT_SECS);
            assert_eq!(start, slot.start_secs);
        }
    }

    #[test]
    fn slots_are_rfc3339_in_utc_with_a_z() {
        let planner = SlotPlanner::new(2, 1_893_456_000).unwrap(); // 2030-01-01T00:00:00Z
        let first = planner.slot(0);
        assert_eq!(first.start, "2030-01-01T00:00:00Z");
        assert_eq!(first.end, "2030-01-01T00:15:00Z");
        let fifth = planner.slot(5);
        assert_eq!(
            (fifth.resource, fifth.start.as_str()),
            (1, "2030-01-01T00:30:00Z")
        );
    }

    #[test]
    fn resources_are_used_round_robin_before_the_next_slot() {
        let planner = SlotPlanner::new(3, 0).unwrap();
        let got: Vec<(usize, u64)> = (0..7)
            .map(|_| planner.next())
            .map(|s| (s.resource, s.start_secs))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 0),
                (1, 0),
                (2, 0),
                (0, 900),
                (1, 900),
                (2, 900),
                (0, 1800)
            ]
        );
    }

    #[test]
    fn the_first_slot_is_the_next_utc_midnight() {
        let now = UNIX_EPOCH + Duration::from_secs(1_893_456_000 + 13 * 3600 + 7); // 2030-01-01T13:00:07Z
        let planner = SlotPlanner::starting_tomorrow(1, now).unwrap();
        assert_eq!(planner.next().start, "2030-01-02T00:00:00Z");
        let at_midnight = UNIX_EPOCH + Duration::from_secs(1_893_456_000);
        assert_eq!(tomorrow_midnight_utc(at_midnight), 1_893_456_000 + DAY_SECS);
    }

    #[test]
    fn a_planner_refuses_zero_resources_and_a_misaligned_start() {
        assert_eq!(SlotPlanner::new(0, 0).unwrap_err(), PlanError::NoResources);
        assert_eq!(
            SlotPlanner::new(1, 60).unwrap_err(),
            PlanError::Misaligned(60)
        );
    }
}
