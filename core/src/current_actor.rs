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
//! The mark also names the actor's mailbox, for the same reason on the send side: a handler
//! that tells its own actor through a full `Block` mailbox would wait for room that only its
//! own return could make. The mailbox refuses that send as full instead of letting it wait
//! ([`runs_queue`]); it knows its own address, not its actor's id.
//!
//! Cost: two thread-local writes per poll of a handler (of two words: the id and the
//! mailbox's address: 5 instructions a message more than the id alone, by `valgrind
//! --tool=callgrind target/release/cell playhouse_1thread tell` after `cargo build --release -p
//! playhouse-benches --bin cell`), one read per ask, and one read per send that finds a `Block`
//! mailbox full.

use std::cell::Cell;

use crate::cell::ActorId;

/// What this thread is running: an actor's id (`0`: none) and its mailbox's address.
#[derive(Clone, Copy)]
struct Mark {
    id: u64,
    queue: usize,
}

const NONE: Mark = Mark { id: 0, queue: 0 };

#[cfg(not(playhouse_loom))]
std::thread_local! {
    static CURRENT: Cell<Mark> = const { Cell::new(NONE) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static CURRENT: Cell<Mark> = Cell::new(NONE);
}

/// Marks this thread as running the handler of actor `id`, whose mailbox is `queue`, until
/// the guard drops.
#[inline]
pub(crate) fn enter<Q>(id: ActorId, queue: &Q) -> Entered {
    let mark = Mark {
        id: id.as_u64(),
        queue: std::ptr::from_ref(queue).addr(),
    };
    Entered(CURRENT.with(|c| c.replace(mark)))
}

/// Restores the mark [`enter`] replaced.
#[must_use]
pub(crate) struct Entered(Mark);

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
    CURRENT.with(|c| c.get().id)
}

/// `true` if this thread is running the handler or a hook of the actor whose mailbox is
/// `queue`.
#[inline]
pub(crate) fn runs_queue<Q>(queue: &Q) -> bool {
    let current = CURRENT.with(|c| c.get());
    current.id != 0 && current.queue == std::ptr::from_ref(queue).addr()
}

/// `true` if this thread is running `id`'s handler or hook right now.
#[inline]
pub(crate) fn is_running(id: ActorId) -> bool {
    let current = current_raw();
    if crate::faults::enabled(crate::faults::Fault::SelfAskMatchesAnyActor) {
        return current != 0;
    }
    current == id.as_u64()
}
