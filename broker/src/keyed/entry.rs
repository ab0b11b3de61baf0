//! What the table holds for a key: a running activation, or one being made with the messages
//! that wait for it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorId, ActorRef, Reply};

use super::error::Undelivered;

/// What a message waiting for an activation is told once the activation has dealt with it.
pub(crate) type Delivery<M> = Result<(), Undelivered<M>>;

/// A key's entry. A key without an entry has no activation and costs nothing.
pub(crate) enum Slot<A: Actor, MB: Mailbox> {
    /// An activation runs (or is finishing its passivation, or has just ended and is about to be
    /// removed by its exit watcher).
    Active(Active<A, MB>),
    /// The factory runs (or the previous activation is finishing first); messages queue here.
    Activating(Activating<A::Message>),
}

impl<A: Actor, MB: Mailbox> Slot<A, MB> {
    /// The activation's number: unique per entry the table ever held.
    pub(crate) fn id(&self) -> u64 {
        match self {
            Slot::Active(a) => a.id,
            Slot::Activating(a) => a.id,
        }
    }

    /// Whether the entry counts in `active_count`: an activation not being passivated.
    pub(crate) fn counts_active(&self) -> bool {
        matches!(self, Slot::Active(a) if !a.stopping)
    }
}

/// A running activation.
pub(crate) struct Active<A: Actor, MB: Mailbox> {
    pub(crate) actor: ActorRef<A, MB>,
    pub(crate) id: u64,
    /// Set once it has been asked to stop (passivation); only changed under the shard's write
    /// lock.
    pub(crate) stopping: bool,
    /// Its idle flag and last activity, shared with the [`KeyRef`](super::KeyRef)s that cache
    /// this activation, so that their sends mark the key used as routed ones do.
    pub(crate) idle: Arc<Idle>,
}

impl<A: Actor, MB: Mailbox> Active<A, MB> {
    pub(crate) fn new(actor: ActorRef<A, MB>, id: u64, now: u64) -> Self {
        Active {
            actor,
            id,
            stopping: false,
            idle: Arc::new(Idle::new(now)),
        }
    }

    /// Marks a send (see [`Idle::touch`]).
    #[inline]
    pub(crate) fn touch(&self) {
        self.idle.touch();
    }
}

/// An activation's idle state: whether a send came since the sweeper last looked, and when it
/// last saw one. Behind an `Arc` that the table's entry and the handles caching the activation
/// share.
pub(crate) struct Idle {
    /// Set by every send (routed, or through a handle); cleared by the sweeper, which then
    /// records the time.
    touched: AtomicBool,
    /// When the sweeper last saw it touched or with messages queued (or when it was
    /// activated), as nanoseconds since the set started, on the executor's clock. Never earlier
    /// than the last send the sweeper has seen, so idleness is never overestimated.
    last_active: AtomicU64,
}

impl Idle {
    fn new(now: u64) -> Self {
        Idle {
            touched: AtomicBool::new(false),
            last_active: AtomicU64::new(now),
        }
    }

    /// Marks a send. Reads first so that a busy key's cache line stays shared between the
    /// cores sending to it until the sweeper clears the flag.
    #[inline]
    pub(crate) fn touch(&self) {
        if !self.touched.load(Ordering::Relaxed) {
            self.touched.store(true, Ordering::Relaxed);
        }
    }

    /// For the sweeper: `true` if a send came since the last look; the flag is cleared and,
    /// if it was set, `now` recorded as the last activity.
    pub(crate) fn take_touched(&self, now: u64) -> bool {
        if self.touched.load(Ordering::Relaxed) {
            self.touched.store(false, Ordering::Relaxed);
            self.last_active.store(now, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// For the sweeper: records `now` as the last activity of a key it found with messages
    /// queued.
    pub(crate) fn seen_busy(&self, now: u64) {
        self.last_active.store(now, Ordering::Relaxed);
    }

    /// `true` if a send came since the sweeper last looked. Stable under the shard's write
    /// lock against routed sends (they touch under its read lock); a handle's send may set it
    /// at any time.
    pub(crate) fn is_touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    /// The last activity the sweeper knows of.
    pub(crate) fn last_active(&self) -> u64 {
        self.last_active.load(Ordering::Relaxed)
    }
}

/// An activation being made.
pub(crate) struct Activating<M> {
    pub(crate) id: u64,
    /// The actor this entry's messages wait for: the key's previous activation while it
    /// finishes (its passivation), then the new one once it is spawned (its `started` hook runs
    /// before it takes a message). An ask from that actor's own code is refused: its answer
    /// could only come after the asker returns. Only changed under the shard's write lock.
    pub(crate) waits_on: Option<ActorId>,
    /// Only used under the shard's write lock (through `get_mut`, which takes no lock): the
    /// mutex is there so that the entry is `Sync` for any `Send` message.
    pending: Mutex<VecDeque<Waiting<M>>>,
    /// Set once the new actor is spawned and the activation has taken the queue to hand it
    /// over: a message that comes meanwhile does not join the queue (which would keep the
    /// hand-over going for as long as messages keep coming) but waits, with its sender, until
    /// the entry turns `Active`, and then goes to the mailbox after everything handed over.
    /// Only changed under the shard's write lock.
    pub(crate) handing_over: bool,
    /// The senders waiting for the hand-over to end, woken when the entry turns `Active` or
    /// goes. Under the shard's write lock, as `pending`.
    waiters: Mutex<Vec<Reply<()>>>,
}

impl<M> Activating<M> {
    pub(crate) fn new(id: u64, first: Waiting<M>, waits_on: Option<ActorId>) -> Self {
        Activating {
            id,
            waits_on,
            pending: Mutex::new(VecDeque::from([first])),
            handing_over: false,
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// The senders waiting for the hand-over to end.
    pub(crate) fn waiters(&mut self) -> &mut Vec<Reply<()>> {
        self.waiters
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The messages waiting, in the order they came.
    pub(crate) fn pending(&mut self) -> &mut VecDeque<Waiting<M>> {
        self.pending
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A message waiting for its key's activation, and the port its sender waits on.
pub(crate) struct Waiting<M> {
    pub(crate) message: M,
    pub(crate) reply: Reply<Delivery<M>>,
    /// The actor whose code asks, for an ask made from an actor's code; `None` for a tell.
    pub(crate) asker: Option<ActorId>,
    /// Its number, unique in the set: a timed ask that gives up takes its message back by it
    /// ([`Shared::withdraw`](super::shared::Shared::withdraw)).
    pub(crate) ticket: u64,
}
