//! Which actor's handler this thread is running, so that an ask can tell that it would wait
//! on itself.
//!
//! The runner marks the thread for exactly the span of each poll of a handler or hook (and
//! restores what was there before, so that nested polls, e.g. a test's `block_on` inside a
//! handler, unwind correctly). An ask reads the mark: if it names the actor being asked, the
//! request could only be handled after the asking handler returns, which it never would. The
//! mark is per thread and per poll, so a future that a handler spawns onto another task, or an
//! actor that happens to run on the same worker later, never sees it: the check cannot fire for
//! an ask that would resolve.
//!
//! Cost: two thread-local writes per poll of a handler, one read per ask.

use std::cell::Cell;

use crate::cell::ActorId;

#[cfg(not(playhouse_loom))]
std::thread_local! {
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static CURRENT: Cell<u64> = Cell::new(0);
}

/// Marks this thread as running `id`'s handler until the guard drops.
#[inline]
pub(crate) fn enter(id: ActorId) -> Entered {
    Entered(CURRENT.with(|c| c.replace(id.as_u64())))
}

/// Restores the mark [`enter`] replaced.
#[must_use]
pub(crate) struct Entered(u64);

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        let before = self.0;
        CURRENT.with(|c| c.set(before));
    }
}

/// The id of the actor whose handler or hook this thread is running right now, as a number;
/// `0` when none is.
#[inline]
pub(crate) fn current_raw() -> u64 {
    CURRENT.with(|c| c.get())
}

/// `true` if this thread is running `id`'s handler or hook right now.
#[inline]
pub(crate) fn is_running(id: ActorId) -> bool {
    let current = CURRENT.with(|c| c.get());
    if crate::faults::enabled(crate::faults::Fault::SelfAskMatchesAnyActor) {
        return current != 0;
    }
    current == id.as_u64()
}
