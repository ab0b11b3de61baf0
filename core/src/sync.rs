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

/// The mutex of the mailbox, the lifecycle, the timer and the registry: `parking_lot`'s, and
/// loom's under `--cfg playhouse_loom`.
///
/// `parking_lot`'s rather than std's because of how each waits for a held lock. std's spins
/// briefly, then sleeps in the kernel, and its holder must then make a system call to unlock;
/// `parking_lot`'s spins, yields the thread a few times, and only then sleeps. Every send locks
/// the mailbox, so senders on different workers meet there: in `tell_contended` on 2 Tokio
/// workers the switch took the median of seven alternating runs from 14.0 to 16.2 M msgs/s, and
/// on smol 13.2–14.0 to 15.5–17.6 in three. Uncontended its lock and unlock are also shorter:
/// `callgrind` counts 6 % fewer instructions for a one-thread `tell` (`docs/performance.md`).
///
/// Neither poisons here: no code of ours panics while holding one of these (messages are always
/// dropped after the guard is released), and loom's lock result is unwrapped ignoring poison.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(not(playhouse_loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(playhouse_loom)]
    inner: loom::sync::Mutex<T>,
}

#[cfg(not(playhouse_loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(playhouse_loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// Creates a mutex holding `value`.
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(playhouse_loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(playhouse_loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Locks the mutex.
    #[cfg(not(playhouse_loom))]
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock()
    }

    /// Locks the mutex, ignoring poisoning.
    #[cfg(playhouse_loom)]
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
