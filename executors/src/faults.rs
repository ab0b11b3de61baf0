//! Test-only fault switches of the executor adapters, as the core's and the broker's: each
//! deliberately breaks one invariant so that the loom suite (`loom-tests/`) can show that its
//! models catch the break. They exist only under `RUSTFLAGS="--cfg playhouse_loom"` with the
//! `loom-faults` feature.

use std::sync::atomic::{AtomicU32, Ordering};

/// A deliberate break of one invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Fault {
    /// The shutdown gate reads whether the runtime has shut down, releases its read lock, then
    /// polls the timer: the runtime can shut its timers down between the two, and the poll then
    /// meets a shut-down timer (which panics, in Tokio).
    GateChecksThenPolls = 1 << 0,
    /// The gate, dropped with its executor, marks its watcher released but does not wake it:
    /// the watcher task, already waiting, is left on the runtime for good.
    GateReleaseSkipsWake = 1 << 1,
}

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
