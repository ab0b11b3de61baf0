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
//! A restart runs outside the actor's handler too: its supervision (and the factory it may call
//! to make the fresh actor) runs on the actor's task between two incarnations, where the core
//! does not mark the thread as running the actor. The set marks it itself for each poll of the
//! supervision ([`GoverningScope`]), and an ask counts that actor as its asker
//! ([`asker`]): an ask of the key from its own restart is refused as one from its handler is,
//! since the restart waits for the answer that only the restarted actor could give.
//!
//! Cost: two thread-local writes per poll of a factory or of a supervision deciding a restart;
//! one read on the slow path, when the key is still activating, and one more per ask made
//! outside any actor. Nothing on the hot path of a send.

use std::cell::Cell;

use playhouse_core::ActorId;

/// A factory's activation: the set's shared state's address, and the activation's id in it.
type Mark = Option<(usize, u64)>;

#[cfg(not(playhouse_loom))]
std::thread_local! {
    static RUNNING: Cell<Mark> = const { Cell::new(None) };
    static GOVERNING: Cell<Option<ActorId>> = const { Cell::new(None) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static RUNNING: Cell<Mark> = Cell::new(None);
    static GOVERNING: Cell<Option<ActorId>> = Cell::new(None);
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

/// Marks this thread as running the supervision of `actor` (deciding what follows one of its
/// incarnations), until dropped.
#[must_use]
pub(crate) struct GoverningScope(Option<ActorId>);

impl GoverningScope {
    #[inline]
    pub(crate) fn enter(actor: ActorId) -> Self {
        GoverningScope(GOVERNING.with(|c| c.replace(Some(actor))))
    }
}

impl Drop for GoverningScope {
    #[inline]
    fn drop(&mut self) {
        let before = self.0;
        GOVERNING.with(|c| c.set(before));
    }
}

/// The actor an ask made on this thread now is made for: the one whose code runs, or the one
/// whose restart is being decided.
#[inline]
pub(crate) fn asker() -> Option<ActorId> {
    ActorId::current().or_else(|| GOVERNING.with(|c| c.get()))
}
