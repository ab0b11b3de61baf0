//! [`ShardedMap`]: a map by name split into [`SHARDS`] maps, each behind a reader-writer lock,
//! chosen by the name's hash: readers share their shard's lock, and readers of different names
//! mostly touch different locks, so a many-reader load does not pile up on one lock word. The
//! registry of actors and the services use it.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use crate::sync::{Arc, HashMap, RwLock};

/// How many maps a [`ShardedMap`] is split into. Two under loom: the models check the
/// entries' states, not the spread, and every modelled lock costs the checker.
#[cfg(not(playhouse_loom))]
pub(crate) const SHARDS: usize = 16;
#[cfg(playhouse_loom)]
pub(crate) const SHARDS: usize = 2;

/// One shard: a map behind its lock.
pub(crate) type Shard<V> = RwLock<HashMap<String, V>>;

/// A map by name, sharded (see the module docs). Cheap to clone: one `Arc`.
pub(crate) struct ShardedMap<V> {
    shards: Arc<[Shard<V>; SHARDS]>,
}

impl<V> Clone for ShardedMap<V> {
    fn clone(&self) -> Self {
        ShardedMap {
            shards: self.shards.clone(),
        }
    }
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        ShardedMap {
            shards: Arc::new(std::array::from_fn(|_| RwLock::new(HashMap::default()))),
        }
    }
}

impl<V> ShardedMap<V> {
    /// The shard that holds `name`. (A fixed seed: a name finds the same shard in every
    /// process and every loom run. The shard's own map hashes with a seed of its own.)
    pub(crate) fn shard(&self, name: &str) -> &Shard<V> {
        let h = FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(name);
        &self.shards[(h >> 32) as usize % SHARDS]
    }

    /// The number of entries, over all shards.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }
}
