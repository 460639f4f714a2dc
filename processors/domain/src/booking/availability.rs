//! The availability index: per resource, its active bookings by start.
//!
//! Active intervals of a resource are pairwise disjoint (the invariant), so
//! sorted by start they are also sorted by end, and the only candidate to
//! overlap `[s, e)` among those starting before `e` is the last one: an
//! overlap test is one `O(log n)` range lookup. Bookings are named by their
//! slot in the partition's booking table, so the index holds no strings.

use crate::ids::ResourceId;
use crate::time::{Interval, Millis};
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Availability {
    by_resource: HashMap<ResourceId, BTreeMap<Millis, (Millis, usize)>>,
}

impl Availability {
    /// The active booking (its slot) that overlaps `iv` on `resource`, if any.
    pub(crate) fn conflict(&self, resource: &ResourceId, iv: Interval) -> Option<usize> {
        let (_, (end, slot)) = self
            .by_resource
            .get(resource)?
            .range(..iv.end)
            .next_back()?;
        (*end > iv.start).then_some(*slot)
    }

    /// The active booking (its slot) other than `except` that overlaps `iv`
    /// on `resource`, if any. Active intervals are disjoint and sorted, so
    /// only the last two starting before `iv.end` can overlap it: the last
    /// one, or, when that is `except`, the one before it (every earlier one
    /// ends before that one starts).
    pub(crate) fn conflict_except(
        &self,
        resource: &ResourceId,
        iv: Interval,
        except: usize,
    ) -> Option<usize> {
        self.by_resource
            .get(resource)?
            .range(..iv.end)
            .rev()
            .take(2)
            .find(|(_, (_, slot))| *slot != except)
            .and_then(|(_, (end, slot))| (*end > iv.start).then_some(*slot))
    }

    /// Marks `iv` taken by the booking in `slot`. The caller has checked
    /// there is no conflict.
    pub(crate) fn occupy(&mut self, resource: &ResourceId, iv: Interval, slot: usize) {
        debug_assert!(
            self.conflict(resource, iv).is_none(),
            "overlapping active bookings"
        );
        match self.by_resource.get_mut(resource) {
            Some(index) => {
                index.insert(iv.start, (iv.end, slot));
            }
            None => {
                let index = BTreeMap::from([(iv.start, (iv.end, slot))]);
                self.by_resource.insert(resource.clone(), index);
            }
        }
    }

    /// Frees `iv` if the booking in `slot` holds it.
    pub(crate) fn release(&mut self, resource: &ResourceId, iv: Interval, slot: usize) {
        if let Some(index) = self.by_resource.get_mut(resource) {
            if index.get(&iv.start).is_some_and(|(_, held)| *held == slot) {
                index.remove(&iv.start);
            }
            if index.is_empty() {
                self.by_resource.remove(resource);
            }
        }
    }

    /// Active intervals overlapping `[from, to)`, by start, with their slots.
    pub(crate) fn busy(
        &self,
        resource: &ResourceId,
        from: Millis,
        to: Millis,
    ) -> Vec<(Interval, usize)> {
        let Some(index) = self.by_resource.get(resource) else {
            return Vec::new();
        };
        if to <= from {
            return Vec::new();
        }
        let before = index
            .range(..from)
            .next_back()
            .filter(|(_, (end, _))| *end > from);
        before
            .into_iter()
            .chain(index.range(from..to))
            .map(|(start, (end, slot))| (Interval::new(*start, *end), *slot))
            .collect()
    }
}
