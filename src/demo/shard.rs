//! Sharded, briefly-locked maps: the demo's only shared mutable containers.
//!
//! Owns lock striping and poison recovery. Callers must never hold a guard
//! across an `.await`; every method here takes a closure so a guard cannot
//! escape.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Number of stripes; a power of two comfortably above the core count of the
/// machines flashcrowd runs on, so two hot keys rarely share a lock.
const SHARDS: usize = 32;

/// Locks `m`, recovering from poisoning: the data structures guarded here
/// stay consistent between statements, so a panic elsewhere must not turn
/// every later request into a 500.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A hash map split into independently locked shards.
#[derive(Debug)]
pub(crate) struct ShardedMap<K, V> {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    pub(crate) fn new() -> Self {
        ShardedMap {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> &Mutex<HashMap<K, V>> {
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[h % SHARDS]
    }

    /// Runs `f` with the shard holding `key` locked.
    pub(crate) fn with_shard<Q, R>(&self, key: &Q, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R
    where
        Q: Hash + ?Sized,
    {
        let mut guard = lock(self.shard_of(key));
        f(&mut guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_land_in_a_stable_shard() {
        let map: ShardedMap<String, u32> = ShardedMap::new();
        for i in 0..100u32 {
            map.with_shard(&format!("k{i}"), |m| m.insert(format!("k{i}"), i));
        }
        for i in 0..100u32 {
            let got = map.with_shard(&format!("k{i}"), |m| m.get(&format!("k{i}")).copied());
            assert_eq!(got, Some(i));
        }
        let total: usize = map.shards.iter().map(|s| lock(s).len()).sum();
        assert_eq!(total, 100);
    }
}
