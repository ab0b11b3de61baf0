//! [`ExitWait`]: the future of [`ActorRef::wait`](crate::ActorRef::wait),
//! [`WeakActorRef::wait`](crate::WeakActorRef::wait) and [`Recipient::wait`](crate::Recipient::wait).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::exit::ExitReason;

/// What an [`ExitWait`] needs of an actor's cell, with its message and strategy types erased (a
/// cold path: one dynamic call per poll).
pub(crate) trait ExitCell: Send + Sync {
    /// `Ready` once the actor has ended and its `on_exit` watchers have run; otherwise leaves
    /// `cx`'s waker in the slot `key` names, taking a slot first if it names none.
    fn poll_exit(&self, cx: &mut Context<'_>, key: &mut Option<usize>) -> Poll<ExitReason>;

    /// Gives back the slot `key`, if the end has not emptied every slot yet.
    fn forget_wait(&self, key: usize);
}

/// Waits until an actor has ended and resolves to why; at once if it already has.
///
/// Returned by [`ActorRef::wait`](crate::ActorRef::wait),
/// [`WeakActorRef::wait`](crate::WeakActorRef::wait) and
/// [`Recipient::wait`](crate::Recipient::wait). It keeps no actor alive (whether the reference
/// it borrows does is that reference's business) and it is `Unpin`.
///
/// Once polled, it holds one slot in the actor's cell, where the waker of its latest poll is
/// kept: polling it again (from the same task or another) replaces the waker in that slot, and
/// neither a poll nor a drop costs more with more tasks waiting. When the actor ends, every slot's
/// waker is woken after the actor's [`on_exit`](crate::ActorRef::on_exit) watchers have run, and
/// it resolves only from then on, whenever it was first polled: a task it wakes sees what the
/// watchers did (the actor's registry entry removed, its monitors' `Down`s sent).
///
/// # Cancel safety
///
/// Cancel safe. Dropping it before it resolves gives its slot back at once (nothing stays in
/// the actor's cell until the end) and loses nothing: the exit reason is kept in the cell, and a
/// new `wait()` resolves to it.
///
/// ```
/// # use playhouse_core::{Actor, Context, Env, ExitReason, Handler, System};
/// # use std::convert::Infallible;
/// # struct Worker;
/// # impl Actor for Worker { type Message = (); type Error = Infallible; }
/// # impl<V: Env> Handler<V> for Worker {
/// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Infallible> { Ok(()) }
/// # }
/// # use playhouse_broker::InMemoryBroker;
/// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// # playhouse_core::testing::block_on(async {
/// let worker = system.spawn(Worker);
/// // Wait a little, then give up: the abandoned wait leaves nothing behind.
/// let mut wait = worker.wait();
/// assert!(futures::poll!(&mut wait).is_pending());
/// drop(wait);
///
/// worker.stop();
/// assert!(matches!(worker.wait().await, ExitReason::Shutdown(None)));
/// # });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct ExitWait<'a> {
    cell: &'a dyn ExitCell,
    /// The slot this wait holds, once a poll found the actor still running.
    key: Option<usize>,
}

impl<'a> ExitWait<'a> {
    pub(crate) fn new(cell: &'a dyn ExitCell) -> Self {
        ExitWait { cell, key: None }
    }
}

impl Future for ExitWait<'_> {
    type Output = ExitReason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitReason> {
        let this = self.get_mut();
        this.cell.poll_exit(cx, &mut this.key)
    }
}

impl Drop for ExitWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cell.forget_wait(key);
        }
    }
}

impl fmt::Debug for ExitWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitWait")
            .field("registered", &self.key.is_some())
            .finish()
    }
}

/// A slot of [`Waiters`].
enum Slot {
    Waiting(Waker),
    /// Free; the next free slot, or [`NONE`].
    Free(usize),
}

/// No free slot.
const NONE: usize = usize::MAX;

/// Room for this many slots is kept when the last waiter leaves; more is freed.
const KEEP: usize = 8;

/// The tasks waiting for an actor's end, one slot per [`ExitWait`], by key: a slab whose free
/// slots form a list, so that taking, updating and giving back a slot are O(1).
pub(crate) struct Waiters {
    slots: Vec<Slot>,
    /// The first free slot, or [`NONE`].
    free: usize,
    /// Slots in use.
    len: usize,
}

impl Default for Waiters {
    fn default() -> Self {
        Waiters {
            slots: Vec::new(),
            free: NONE,
            len: 0,
        }
    }
}

impl Waiters {
    /// Slots in use.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Takes a slot for `waker`; returns its key.
    pub(crate) fn insert(&mut self, waker: Waker) -> usize {
        self.len += 1;
        if let Some(&Slot::Free(next)) = self.slots.get(self.free) {
            let key = self.free;
            self.free = next;
            self.slots[key] = Slot::Waiting(waker);
            return key;
        }
        debug_assert_eq!(self.free, NONE, "the free list named a slot in use");
        self.slots.push(Slot::Waiting(waker));
        self.slots.len() - 1
    }

    /// Leaves `waker` in slot `key` (unless the one there already wakes the same task). `false`
    /// if `key` names no slot in use, which cannot happen: keys are handed out by
    /// [`insert`](Self::insert) and given back once, by their own wait.
    pub(crate) fn update(&mut self, key: usize, waker: &Waker) -> bool {
        match self.slots.get_mut(key) {
            Some(Slot::Waiting(w)) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                true
            }
            _ => {
                debug_assert!(false, "an exit wait's slot is gone");
                false
            }
        }
    }

    /// Gives slot `key` back; returns its waker, for the caller to drop after the lock.
    pub(crate) fn remove(&mut self, key: usize) -> Option<Waker> {
        let slot = self.slots.get_mut(key)?;
        let waker = match std::mem::replace(slot, Slot::Free(self.free)) {
            Slot::Waiting(waker) => waker,
            Slot::Free(next) => {
                // Given back twice (cannot happen): leave the free list as it was.
                debug_assert!(false, "an exit wait's slot was given back twice");
                *slot = Slot::Free(next);
                return None;
            }
        };
        self.free = key;
        self.len -= 1;
        if self.len == 0 {
            // The last one left: start afresh, and free the room a crowd of waiters made.
            if self.slots.capacity() > KEEP {
                self.slots = Vec::new();
            } else {
                self.slots.clear();
            }
            self.free = NONE;
        }
        Some(waker)
    }

    /// Empties every slot, returning their wakers.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = Waker> + use<> {
        let slots = std::mem::take(&mut self.slots);
        self.free = NONE;
        self.len = 0;
        slots.into_iter().filter_map(|slot| match slot {
            Slot::Waiting(w) => Some(w),
            Slot::Free(_) => None,
        })
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::Waiters;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), c.into())
    }

    #[test]
    fn slots_are_reused_and_the_room_freed_when_empty() {
        let mut w = Waiters::default();
        let keys: Vec<usize> = (0..100).map(|_| w.insert(waker().1)).collect();
        assert_eq!(w.len(), 100);
        for &k in keys.iter().step_by(2) {
            assert!(w.remove(k).is_some());
        }
        assert_eq!(w.len(), 50);
        // Freed slots are taken again before the slab grows.
        let again: Vec<usize> = (0..50).map(|_| w.insert(waker().1)).collect();
        assert!(again.iter().all(|k| *k < 100));
        assert_eq!(w.slots.len(), 100);
        for k in keys.iter().skip(1).step_by(2).chain(&again) {
            assert!(w.remove(*k).is_some());
        }
        assert_eq!(w.len(), 0);
        assert_eq!(w.slots.capacity(), 0);
    }

    #[test]
    fn take_wakes_only_the_latest_waker_of_each_slot() {
        let mut w = Waiters::default();
        let (old, old_waker) = waker();
        let (new, new_waker) = waker();
        let (gone, gone_waker) = waker();
        let k = w.insert(old_waker);
        let g = w.insert(gone_waker);
        w.update(k, &new_waker);
        drop(w.remove(g));
        for waker in w.take() {
            waker.wake();
        }
        assert_eq!(old.0.load(Ordering::SeqCst), 0);
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
        assert_eq!(gone.0.load(Ordering::SeqCst), 0);
        assert_eq!(w.len(), 0);
    }
}
