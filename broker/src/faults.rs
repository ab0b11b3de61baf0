//! Test-only fault switches of the broker, as the core's: each deliberately breaks one
//! invariant so that the loom suite (`loom-tests/`) can show that its models catch the break.
//! They exist only under `RUSTFLAGS="--cfg playhouse_loom"` with the `loom-faults` feature; in
//! every other build [`enabled`] is a `const fn` returning `false` and each check compiles away.

/// A deliberate break of one invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Fault {
    /// The registry removes a name whoever owns it: a dead incarnation's `unregister` (or exit
    /// watcher) removes a newer registration.
    RegistryRemovesAnyOwner = 1 << 0,
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
mod switch {
    use super::Fault;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The enabled faults, as a bitmask. Plain std atomic: test plumbing, not a modelled primitive.
    static ENABLED: AtomicU32 = AtomicU32::new(0);

    /// `true` if `fault` is switched on.
    pub fn enabled(fault: Fault) -> bool {
        ENABLED.load(Ordering::Relaxed) & fault as u32 != 0
    }

    /// Switches `fault` on, process-wide.
    pub fn enable(fault: Fault) {
        ENABLED.fetch_or(fault as u32, Ordering::Relaxed);
    }
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub use switch::{enable, enabled};

/// Never: faults exist only in loom builds with the `loom-faults` feature.
#[cfg(not(all(playhouse_loom, feature = "loom-faults")))]
#[inline(always)]
pub(crate) const fn enabled(_fault: Fault) -> bool {
    false
}
