//! The broker's synchronization primitives: std's, and loom's modelled ones when built with
//! `RUSTFLAGS="--cfg playhouse_loom"` (the loom suite in `loom-tests/` models the registry, the
//! keyed table and the topics table).
//!
//! Only what a model must see interleave comes from here. `Arc`s that are downgraded to `Weak`
//! (the keyed set's shared state, the topics table) and the copy-on-write snapshots
//! (`Arc::make_mut`) stay std's: loom has neither.

#[cfg(playhouse_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(playhouse_loom))]
pub(crate) use std::sync::Arc;

#[cfg(playhouse_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(playhouse_loom))]
pub(crate) use std::sync::atomic;

/// A mutex that does not poison (as [`RwLock`]): std's, and loom's under `--cfg playhouse_loom`.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(not(playhouse_loom))]
    inner: std::sync::Mutex<T>,
    #[cfg(playhouse_loom)]
    inner: loom::sync::Mutex<T>,
}

#[cfg(not(playhouse_loom))]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(playhouse_loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A reader-writer lock that does not poison: nothing of ours panics while holding one, and a
/// poisoned lock still holds consistent data.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T> {
    #[cfg(not(playhouse_loom))]
    inner: std::sync::RwLock<T>,
    #[cfg(playhouse_loom)]
    inner: loom::sync::RwLock<T>,
}

#[cfg(not(playhouse_loom))]
pub(crate) type ReadGuard<'a, T> = std::sync::RwLockReadGuard<'a, T>;
#[cfg(not(playhouse_loom))]
pub(crate) type WriteGuard<'a, T> = std::sync::RwLockWriteGuard<'a, T>;
#[cfg(playhouse_loom)]
pub(crate) type ReadGuard<'a, T> = loom::sync::RwLockReadGuard<'a, T>;
#[cfg(playhouse_loom)]
pub(crate) type WriteGuard<'a, T> = loom::sync::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock {
            #[cfg(not(playhouse_loom))]
            inner: std::sync::RwLock::new(value),
            #[cfg(playhouse_loom)]
            inner: loom::sync::RwLock::new(value),
        }
    }

    #[inline]
    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    #[inline]
    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The hasher of the broker's maps by name and by actor: foldhash, with a seed drawn per map
/// (about a nanosecond for an integer, a few for a short name, where std's SipHash costs five
/// to twenty). Under loom, a fixed seed: a map's iteration order must be the same in every
/// execution of a model.
#[cfg(not(playhouse_loom))]
pub(crate) type MapHasher = foldhash::fast::RandomState;
#[cfg(playhouse_loom)]
pub(crate) type MapHasher = foldhash::fast::FixedState;

/// A `HashMap` with the broker's [`MapHasher`].
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, MapHasher>;
