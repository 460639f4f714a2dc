//! Read-your-writes: the read views are filled asynchronously by the views
//! processor, milliseconds behind the decisions. A client that got 201 from
//! this gateway and GETs at once must still see what it was told, so the
//! gateway remembers what it just answered — bookings, payments, resources,
//! accounts — in small bounded caches (capacity and time-to-live from the
//! config, by default 100 000 entries for 60 s per kind), and a read takes the
//! newer of the view's row and the remembered one. The resource cache also
//! keeps the ones read from the view: it takes a view read off the booking
//! hot path. A resource changes only by a schedule change, which this
//! gateway remembers as it answers it; another gateway may show the old
//! hours until its copy's time-to-live runs out (the processor decides with
//! the new ones at once).
//!
//! The cache is per instance: behind a load balancer without affinity a read
//! may reach another gateway, where the view alone answers (it catches up in
//! milliseconds under normal load).

use slotstream_domain::Millis;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

/// A bounded map whose entries expire `ttl` after insertion; oldest evicted first.
#[derive(Debug)]
pub struct Recent<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
    ttl: Millis,
}

#[derive(Debug)]
struct Inner<K, V> {
    map: HashMap<K, (V, Millis)>,
    /// Insertion order; may hold stale entries of re-inserted keys, which are
    /// recognised by their timestamp and skipped.
    order: VecDeque<(K, Millis)>,
}

impl<K: Hash + Eq + Clone, V: Clone> Recent<K, V> {
    /// An empty cache of at most `capacity` entries living `ttl` ms.
    pub fn new(capacity: usize, ttl: Millis) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock leaves a consistent map (every
        // operation is a few std calls), so poisoning is safe to ignore.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers `value` under `key` at `now`.
    pub fn put(&self, key: K, value: V, now: Millis) {
        let mut g = self.lock();
        g.map.insert(key.clone(), (value, now));
        g.order.push_back((key, now));
        Self::evict(&mut g, self.capacity, now - self.ttl);
    }

    /// Changes a remembered value in place (keeping its age), if present.
    pub fn update(&self, key: &K, f: impl FnOnce(&mut V)) {
        if let Some((v, _)) = self.lock().map.get_mut(key) {
            f(v);
        }
    }

    /// The value under `key` if remembered less than `ttl` ago.
    pub fn get(&self, key: &K, now: Millis) -> Option<V> {
        let g = self.lock();
        let (v, at) = g.map.get(key)?;
        (now - *at < self.ttl).then(|| v.clone())
    }

    /// Drops expired entries (the housekeeping task calls this).
    pub fn purge(&self, now: Millis) {
        let mut g = self.lock();
        Self::evict(&mut g, self.capacity, now - self.ttl);
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict(g: &mut Inner<K, V>, capacity: usize, expired_before: Millis) {
        while let Some((k, at)) = g.order.front() {
            if g.order.len() <= capacity && *at > expired_before {
                break;
            }
            let current = g.map.get(k).is_some_and(|(_, t)| t == at);
            if current {
                g.map.remove(k);
            }
            g.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_until_its_ttl_passes() {
        let c = Recent::new(10, 1_000);
        c.put("a", 1, 5_000);
        assert_eq!(c.get(&"a", 5_999), Some(1));
        assert_eq!(c.get(&"a", 6_000), None);
        c.purge(6_000);
        assert!(c.is_empty());
    }

    #[test]
    fn the_oldest_entries_go_first_when_full() {
        let c = Recent::new(3, 60_000);
        for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
            c.put(k, i, i as Millis);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&"a", 10), None);
        assert_eq!(c.get(&"d", 10), Some(3));
    }

    #[test]
    fn a_reinserted_key_keeps_its_new_value_and_age() {
        let c = Recent::new(2, 1_000);
        c.put("a", 1, 0);
        c.put("b", 2, 1);
        c.put("a", 3, 900);
        // The stale ("a", 0) record is evicted without dropping the new "a".
        assert_eq!(c.get(&"a", 1_500), Some(3));
        assert_eq!(c.get(&"b", 1_500), None);
        c.update(&"a", |v| *v = 4);
        assert_eq!(c.get(&"a", 1_600), Some(4));
    }
}
