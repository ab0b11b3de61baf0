//! Test-only fault switches: each one deliberately breaks one primitive, so that the loom suite
//! (`loom-tests/`) can show that its models catch the break.
//!
//! The switches exist only under `RUSTFLAGS="--cfg playhouse_loom"` with the `loom-faults`
//! feature. In every other build [`enabled`] is a `const fn` returning `false`, so each call site
//! (`if crate::faults::enabled(..) { .. }`) compiles away.

/// A deliberate break of one primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Fault {
    /// `Queue` push forgets the parked receiver's waker instead of waking it.
    SkipReceiverWake = 1 << 0,
    /// `Queue::close` forgets the senders waiting for room instead of waking them.
    CloseSkipsSenders = 1 << 1,
    /// A full `DropOldest` mailbox drops the newest queued message instead of the oldest.
    DropOldestDropsNewest = 1 << 2,
    /// The receiver keeps counting a message it took through the lock against the capacity.
    ReceiverKeepsCapacity = 1 << 3,
    /// Dropping an unused `Reply` leaves its receiver pending forever.
    ReplyDropSilent = 1 << 4,
    /// A suspended handler does not leave its waker for a kill to wake.
    KillWatchSkipsWaker = 1 << 5,
    /// The self-ask check compares against the wrong actor (any actor counts as "itself").
    SelfAskMatchesAnyActor = 1 << 6,
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
mod switch {
    use super::Fault;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The enabled faults, as a bitmask. Plain std atomic: test plumbing, not a modelled primitive.
    static ENABLED: AtomicU32 = AtomicU32::new(0);

    /// `true` if `fault` is switched on.
    #[inline]
    pub fn enabled(fault: Fault) -> bool {
        ENABLED.load(Ordering::Relaxed) & fault as u32 != 0
    }

    /// Switches `fault` on, process-wide.
    pub fn enable(fault: Fault) {
        ENABLED.fetch_or(fault as u32, Ordering::Relaxed);
    }

    /// Switches `fault` off, process-wide.
    pub fn disable(fault: Fault) {
        ENABLED.fetch_and(!(fault as u32), Ordering::Relaxed);
    }
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub use switch::{disable, enable, enabled};

/// Never: faults exist only in loom builds with the `loom-faults` feature.
#[cfg(not(all(playhouse_loom, feature = "loom-faults")))]
#[inline(always)]
pub(crate) const fn enabled(_fault: Fault) -> bool {
    false
}
