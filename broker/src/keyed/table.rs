//! The key table: a map from key to entry, split into shards, each behind its own read-write
//! lock, so that sends to different keys rarely touch the same lock.
//!
//! A key is hashed once per operation: the hash picks the shard and is the shard map's own key
//! (with a pass-through hasher), and each hash holds a bucket of the keys that share it (almost
//! always one). So a lookup costs one hash of the key, one read lock and one probe.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use foldhash::quality::RandomState;
use std::mem;

use crate::sync::{ReadGuard, RwLock, WriteGuard};

/// Shards per available core: enough that two cores sending to different keys seldom share a
/// lock word.
const SHARDS_PER_CORE: usize = 4;
/// At most this many shards: beyond it a sweep or `active_count` walks many locks for little.
const MAX_SHARDS: usize = 256;

/// The keyed entries, sharded by the key's hash.
pub(crate) struct Table<K, V> {
    shards: Box<[RwLock<Shard<K, V>>]>,
    mask: usize,
    hasher: RandomState,
}

impl<K: Hash + Eq, V> Table<K, V> {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Under loom, one shard: the hasher's seed changes from one execution to the next, and
        // a key must find the same lock in every execution of a model.
        let count = if cfg!(playhouse_loom) {
            1
        } else {
            cores
                .saturating_mul(SHARDS_PER_CORE)
                .clamp(1, MAX_SHARDS)
                .next_power_of_two()
        };
        Table {
            shards: (0..count).map(|_| RwLock::new(Shard::default())).collect(),
            mask: count - 1,
            hasher: RandomState::default(),
        }
    }

    /// The key's hash: what every other method takes to find it. foldhash with a seed drawn
    /// per set (about a nanosecond for an integer key): keys chosen by an outsider cannot be
    /// made to collide without knowing the seed, which is as much resistance as a map of
    /// actors needs, at a fifth of SipHash's cost.
    #[inline]
    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        // The shard map's buckets use the low bits and its control bytes the top 7: take the
        // shard from bits in between, so that all three stay independent.
        &self.shards[(hash >> 32) as usize & self.mask]
    }

    /// The shard holding `hash`, for reading. A poisoned lock is used as is: nothing is ever
    /// left half-done under it (the table's own code does not panic while holding it).
    #[inline]
    pub(crate) fn read(&self, hash: u64) -> ReadGuard<'_, Shard<K, V>> {
        self.shard(hash).read()
    }

    /// The shard holding `hash`, for writing.
    pub(crate) fn write(&self, hash: u64) -> WriteGuard<'_, Shard<K, V>> {
        self.shard(hash).write()
    }

    /// Every shard, in turn.
    pub(crate) fn shards(&self) -> impl Iterator<Item = &RwLock<Shard<K, V>>> {
        self.shards.iter()
    }
}

/// Locks a shard for reading (for walks over every shard).
pub(crate) fn read<T>(lock: &RwLock<T>) -> ReadGuard<'_, T> {
    lock.read()
}

/// Locks a shard for writing (for walks over every shard).
pub(crate) fn write<T>(lock: &RwLock<T>) -> WriteGuard<'_, T> {
    lock.write()
}

/// One shard: its entries by hash, and how many of them are running activations (kept by the
/// callers, who know what an entry is).
pub(crate) struct Shard<K, V> {
    buckets: HashMap<u64, Bucket<K, V>, BuildHasherDefault<Prehashed>>,
    len: usize,
    /// Entries that count as active (see `Slot::counts_active`), kept by whoever changes them.
    pub(crate) active: usize,
    /// Messages that the mailboxes of this shard's ended activations dropped by their overflow
    /// strategy, added by each activation's exit watcher as it removes its entry, so that a
    /// walk over the shards under their locks counts each activation's drops exactly once.
    pub(crate) retired_dropped: u64,
}

impl<K, V> Default for Shard<K, V> {
    fn default() -> Self {
        Shard {
            buckets: HashMap::default(),
            len: 0,
            active: 0,
            retired_dropped: 0,
        }
    }
}

/// The keys that share one hash: almost always exactly one.
enum Bucket<K, V> {
    One(K, V),
    Many(Vec<(K, V)>),
}

impl<K: Eq, V> Shard<K, V> {
    /// Entries in this shard.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<&V> {
        match self.buckets.get(&hash)? {
            Bucket::One(k, v) => (k == key).then_some(v),
            Bucket::Many(list) => list.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        }
    }

    pub(crate) fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        match self.buckets.get_mut(&hash)? {
            Bucket::One(k, v) => (*k == *key).then_some(v),
            Bucket::Many(list) => list.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        }
    }

    /// The entry under `hash` that `pred` picks.
    pub(crate) fn find_mut(
        &mut self,
        hash: u64,
        mut pred: impl FnMut(&V) -> bool,
    ) -> Option<&mut V> {
        match self.buckets.get_mut(&hash)? {
            Bucket::One(_, v) => pred(v).then_some(v),
            Bucket::Many(list) => list.iter_mut().find(|(_, v)| pred(v)).map(|(_, v)| v),
        }
    }

    /// Adds an entry for a key that has none (the caller has just looked).
    pub(crate) fn insert_new(&mut self, hash: u64, key: K, value: V) {
        self.len += 1;
        match self.buckets.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(Bucket::One(key, value));
            }
            Entry::Occupied(mut occupied) => {
                let bucket = occupied.get_mut();
                match mem::replace(bucket, Bucket::Many(Vec::new())) {
                    Bucket::One(k, v) => *bucket = Bucket::Many(vec![(k, v), (key, value)]),
                    Bucket::Many(mut list) => {
                        list.push((key, value));
                        *bucket = Bucket::Many(list);
                    }
                }
            }
        }
    }

    /// Removes and returns the entry under `hash` that `pred` picks.
    pub(crate) fn remove_where(
        &mut self,
        hash: u64,
        mut pred: impl FnMut(&V) -> bool,
    ) -> Option<V> {
        let Entry::Occupied(mut occupied) = self.buckets.entry(hash) else {
            return None;
        };
        let removed = match occupied.get_mut() {
            Bucket::One(_, v) => {
                if !pred(v) {
                    return None;
                }
                match occupied.remove() {
                    Bucket::One(_, v) => v,
                    // `get_mut` above saw `One`, and nothing changed it since.
                    Bucket::Many(mut list) => list.pop()?.1,
                }
            }
            Bucket::Many(list) => {
                let at = list.iter().position(|(_, v)| pred(v))?;
                let (_, v) = list.swap_remove(at);
                if list.is_empty() {
                    occupied.remove();
                }
                v
            }
        };
        self.len -= 1;
        Some(removed)
    }

    /// Every entry with its hash.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.buckets.iter().flat_map(|(&hash, bucket)| {
            let entries: &[(K, V)] = match bucket {
                Bucket::One(..) => &[],
                Bucket::Many(list) => list,
            };
            let one = match bucket {
                Bucket::One(_, v) => Some(v),
                Bucket::Many(_) => None,
            };
            one.into_iter()
                .chain(entries.iter().map(|(_, v)| v))
                .map(move |v| (hash, v))
        })
    }

    /// Every entry with its hash, mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.buckets.values_mut().flat_map(|bucket| {
            let (one, many): (Option<&mut V>, &mut [(K, V)]) = match bucket {
                Bucket::One(_, v) => (Some(v), &mut []),
                Bucket::Many(list) => (None, list.as_mut_slice()),
            };
            one.into_iter().chain(many.iter_mut().map(|(_, v)| v))
        })
    }
}

/// The shard map's hasher: its keys are already hashes, so it passes them through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    // Only `write_u64` is used (the keys are `u64`); this keeps the hasher correct for anything.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_share_a_bucket() {
        let mut shard: Shard<&str, u32> = Shard::default();
        shard.insert_new(7, "a", 1);
        shard.insert_new(7, "b", 2);
        shard.insert_new(8, "c", 3);
        assert_eq!(shard.len(), 3);
        assert_eq!(shard.get(7, &"a"), Some(&1));
        assert_eq!(shard.get(7, &"b"), Some(&2));
        assert_eq!(shard.get(7, &"c"), None);
        assert_eq!(shard.iter().count(), 3);
        *shard.get_mut(7, &"b").unwrap() = 20;
        assert_eq!(shard.remove_where(7, |v| *v == 1), Some(1));
        assert_eq!(shard.get(7, &"b"), Some(&20));
        assert_eq!(shard.remove_where(7, |v| *v == 20), Some(20));
        assert_eq!(shard.remove_where(7, |_| true), None);
        assert_eq!(shard.find_mut(8, |v| *v == 3).copied(), Some(3));
        assert_eq!(shard.remove_where(8, |v| *v == 4), None);
        assert_eq!(shard.len(), 1);
        assert_eq!(shard.iter_mut().count(), 1);
    }

    #[test]
    fn a_table_finds_what_it_holds() {
        let table: Table<u64, u64> = Table::new();
        for k in 0..1000 {
            let h = table.hash(&k);
            table.write(h).insert_new(h, k, k * 2);
        }
        for k in 0..1000 {
            let h = table.hash(&k);
            assert_eq!(table.read(h).get(h, &k), Some(&(k * 2)));
        }
        let total: usize = table.shards().map(|s| read(s).len()).sum();
        assert_eq!(total, 1000);
    }
}
