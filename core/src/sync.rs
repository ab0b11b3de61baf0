//! The one place the project takes its synchronization primitives from.
//!
//! Every atomic, `Arc`, `Mutex` and `UnsafeCell` that playhouse synchronizes with is imported from
//! here. Built with `RUSTFLAGS="--cfg playhouse_loom"`, the module switches to [loom]'s modelled
//! types, so that the loom suite in `loom-tests/` explores every interleaving of our own code. The
//! cfg is namespaced so that it does not switch dependencies that test a bare `loom` cfg.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(playhouse_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(playhouse_loom))]
pub(crate) use std::sync::atomic;

#[cfg(playhouse_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(playhouse_loom)]
pub(crate) use loom::sync::atomic;

/// A mutex whose `lock` ignores poisoning.
///
/// No code of ours panics while holding one of these (messages are always dropped after the
/// guard is released), so a poisoned lock can only come from a bug elsewhere; the data it guards
/// stays consistent either way.
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
    /// Creates a mutex holding `value`.
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(playhouse_loom))]
            inner: std::sync::Mutex::new(value),
            #[cfg(playhouse_loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Locks the mutex, ignoring poisoning.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A process-wide counter for identifiers. It orders nothing and synchronizes nothing, so it stays
/// on std's atomics under loom (loom's atomics cannot live in a `static`).
pub(crate) fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
