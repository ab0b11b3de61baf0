//! Which activation's factory this thread is running, so that a send or ask that the factory
//! makes to the very key it is activating is refused instead of waiting for itself.
//!
//! The activation marks the thread for exactly the span of each call and poll of the factory
//! (restoring what was there before: a factory that activates a key of another set in place
//! nests). The slow path of the routing, which is where a message to a key still activating
//! goes, compares the mark with the key's activation: a message of the activation's own factory
//! could only be taken after the factory returns, which it never would while it waits. The mark
//! is per thread and per poll, as the core's mark of the running actor is: a task that the
//! factory spawns never sees it, so the check never fires for a message that would get through.
//!
//! Cost: two thread-local writes per poll of a factory; one read on the slow path, when the key
//! is still activating. Nothing on the hot path.

use std::cell::Cell;

/// A factory's activation: the set's shared state's address, and the activation's id in it.
type Mark = Option<(usize, u64)>;

#[cfg(not(playhouse_loom))]
std::thread_local! {
    static RUNNING: Cell<Mark> = const { Cell::new(None) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static RUNNING: Cell<Mark> = Cell::new(None);
}

/// Marks this thread as running the factory of activation `id` of the set whose shared state
/// is at `set`, until dropped.
#[must_use]
pub(crate) struct FactoryScope(Mark);

impl FactoryScope {
    #[inline]
    pub(crate) fn enter(set: usize, id: u64) -> Self {
        FactoryScope(RUNNING.with(|c| c.replace(Some((set, id)))))
    }
}

impl Drop for FactoryScope {
    #[inline]
    fn drop(&mut self) {
        let before = self.0;
        RUNNING.with(|c| c.set(before));
    }
}

/// `true` if this thread is running the factory of activation `id` of the set at `set` right
/// now.
#[inline]
pub(crate) fn runs_factory_of(set: usize, id: u64) -> bool {
    RUNNING.with(|c| c.get()) == Some((set, id))
}
