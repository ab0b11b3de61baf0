//! The state every handle of a keyed set shares, and routing: the hot path (an active key, one
//! read lock and a `try_tell`) and the slow path (activating a key, under its shard's write
//! lock).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use playhouse_core::mailbox::{Bounded, DropNewest, Mailbox, OnFull, Strategy};
use playhouse_core::{
    Actor, ActorId, ActorRef, ReplyReceiver, SendError, WeakActorRef, reply_port,
};

use crate::faults::Fault;

use super::entry::{Activating, Delivery, Slot, Waiting};
use super::factory_scope::runs_factory_of;
use super::key_ref::Cached;
use super::launch::{BoxFuture, DiscardReporter, Launch};
use super::passivation::Sweeper;
use super::spec::{Factory, Key, SupervisionFactory};
use super::table::Table;

/// Counters of what a keyed set has done, for [`KeyedStats`](super::KeyedStats).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) activations: AtomicU64,
    pub(crate) activation_failures: AtomicU64,
    pub(crate) passivations: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) sweeps: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What every [`Keyed`](super::Keyed) handle of one set shares.
pub(crate) struct Shared<K: Key, A: Actor, MB: Mailbox> {
    pub(crate) table: Table<K, Slot<A, MB>>,
    pub(crate) factory: Factory<K, A>,
    pub(crate) supervision: Option<SupervisionFactory<K, A>>,
    pub(crate) launch: Box<dyn Launch<A, MB>>,
    /// Reports what an ended activation discarded, also once the set is gone.
    pub(crate) discarded: DiscardReporter,
    /// How long a key may stay idle before it is passivated.
    pub(crate) idle: Option<Duration>,
    /// How long a factory may take.
    pub(crate) activation_timeout: Option<Duration>,
    /// Time zero of the entries' timestamps, on the executor's clock.
    origin: Instant,
    next_id: AtomicU64,
    pub(crate) counters: Counters,
    /// The reason passivated activations stop with.
    pub(crate) passivated: Arc<str>,
    /// The sweeper, held here so that it ends with the set.
    pub(crate) sweeper: OnceLock<ActorRef<Sweeper<K, A, MB>, Bounded<DropNewest>>>,
}

/// Where the hot path got a message.
pub(crate) enum Fast<A: Actor, MB: Mailbox> {
    /// In the key's mailbox.
    Sent,
    /// The mailbox is full and a send there fails.
    Full(A::Message),
    /// The mailbox is full and a send there waits for room: wait outside the lock.
    Wait(ActorRef<A, MB>, A::Message),
    /// No open activation: take the slow path.
    Inactive(A::Message),
    /// Refused: the asker is the key's own activation, or the message comes from the factory
    /// of the key's activation under way (see
    /// [`Undelivered::OwnKey`](super::error::Undelivered::OwnKey)). From the hot path only when
    /// the caller names an asker.
    Own(A::Message),
}

impl<A: Actor, MB: Mailbox> Fast<A, MB> {
    /// Whether the message is in the mailbox. A hot path that finds it so `mem::forget`s the
    /// value rather than dropping it: a `Sent` owns nothing, but the compiler does not inline
    /// the drop glue of an enum that holds messages, so dropping it costs a call and a
    /// discriminant test, about a sixteenth of a routed tell's instructions (callgrind, a
    /// `u64` key and a three-variant message).
    #[inline(always)]
    pub(crate) fn is_sent(&self) -> bool {
        matches!(self, Fast::Sent)
    }
}

/// Where the slow path got a message.
pub(crate) enum Slow<A: Actor, MB: Mailbox> {
    /// As [`Fast`].
    Fast(Fast<A, MB>),
    /// Waiting for the key's activation, which will say how it went; with the message's
    /// ticket (see [`withdraw`](Shared::withdraw)), and whether the send must not wait for it
    /// (see [`Detached`]).
    Queued(ReplyReceiver<Delivery<A::Message>>, u64, Detached),
    /// As `Queued`, and this sender made the entry: it starts the activation (see
    /// [`start_activation`](Shared::start_activation)).
    Activate(
        BoxFuture<()>,
        ReplyReceiver<Delivery<A::Message>>,
        u64,
        Detached,
    ),
    /// The key's new activation is being handed the messages that queued for it: the message
    /// comes back, to be routed again once the receiver resolves (the entry turned `Active`,
    /// or went).
    AwaitActive(ReplyReceiver<()>, A::Message),
}

/// Whether a send queued for the key's next activation must return without waiting for it:
/// `true` for a send (not an ask) made by the very actor that activation waits to end (an
/// activation being passivated sending to its own key from a handler or its `stopped` hook).
/// Waiting would hang: the next activation starts only once the sender's code has returned.
/// The message stays queued and is handed to the next activation in order; if that fails, it
/// is reported as a dead letter, since its sender is no longer waiting to hear.
pub(crate) type Detached = bool;

/// Whether a full mailbox of this kind makes a send wait (rather than fail or drop).
#[inline(always)]
pub(crate) fn full_waits<MB: Mailbox>() -> bool {
    matches!(<MB::Strategy as Strategy>::ON_FULL, OnFull::Wait)
}

impl<K: Key, A: Actor, MB: Mailbox> Shared<K, A, MB> {
    pub(crate) fn new(
        factory: Factory<K, A>,
        supervision: Option<SupervisionFactory<K, A>>,
        launch: Box<dyn Launch<A, MB>>,
        idle: Option<Duration>,
        activation_timeout: Option<Duration>,
    ) -> Self {
        Shared {
            table: Table::new(),
            factory,
            supervision,
            origin: launch.now(),
            discarded: launch.discard_reporter(),
            launch,
            idle,
            activation_timeout,
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
            passivated: Arc::from("passivated"),
            sweeper: OnceLock::new(),
        }
    }

    /// `at` as nanoseconds since the set started (saturating).
    pub(crate) fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Now, on the executor's clock, as a stamp.
    pub(crate) fn now_stamp(&self) -> u64 {
        self.stamp(self.launch.now())
    }

    /// The hot path: a key with a running activation gets the message in its mailbox, under
    /// the shard's read lock, without a clone of anything. `may_wait` says whether the caller
    /// can wait for room in a full `Block` mailbox; `asker` names the actor whose code asks,
    /// for an ask made from one (a send passes `None`, and the check compiles away).
    #[inline(always)]
    pub(crate) fn route_fast(
        &self,
        hash: u64,
        key: &K,
        msg: A::Message,
        may_wait: bool,
        asker: Option<ActorId>,
    ) -> Fast<A, MB> {
        let shard = self.table.read(hash);
        match shard.get(hash, key) {
            Some(Slot::Active(active)) => {
                if asker.is_some_and(|me| active.actor.id() == me) {
                    return Fast::Own(msg);
                }
                active.touch();
                match active.actor.try_tell(msg) {
                    Ok(()) => Fast::Sent,
                    Err(SendError::Full(m)) if may_wait && full_waits::<MB>() => {
                        Fast::Wait(active.actor.clone(), m)
                    }
                    Err(SendError::Full(m)) => Fast::Full(m),
                    Err(SendError::Closed(m))
                        if crate::faults::enabled(Fault::KeyedClosedSendDrops) =>
                    {
                        drop(m);
                        Fast::Sent
                    }
                    Err(SendError::Closed(m)) => Fast::Inactive(m),
                }
            }
            Some(Slot::Activating(_)) | None => Fast::Inactive(msg),
        }
    }

    /// The slow path, under the shard's write lock: delivers to an activation that appeared
    /// meanwhile, or queues the message for the key's activation, starting one if none is
    /// under way. An activation found closed (passivated, or ended) is replaced by a new one
    /// that first waits for the old one's exit, so that the key's messages stay in order. An
    /// ask from the actor the key's messages would wait for is refused (`Fast::Own`).
    pub(crate) fn route_slow(
        self: &Arc<Self>,
        hash: u64,
        key: &K,
        msg: A::Message,
        asker: Option<ActorId>,
    ) -> Slow<A, MB> {
        let (reply, rx) = reply_port::<Delivery<A::Message>>();
        if crate::faults::enabled(Fault::KeyedActivatesApart)
            && self.table.read(hash).get(hash, key).is_none()
        {
            // The look and the insertion in two critical sections: whatever entry appeared in
            // between is not seen.
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let waiting = Waiting {
                message: msg,
                reply,
                asker,
                ticket: id,
            };
            let slot = Slot::Activating(Activating::new(id, waiting, None));
            self.table.write(hash).insert_new(hash, key.clone(), slot);
            return Slow::Activate(self.activation(hash, key.clone(), id, None), rx, id, false);
        }
        let mut replaced = None;
        let (id, predecessor, owned) = {
            let mut guard = self.table.write(hash);
            let shard = &mut *guard;
            match shard.get_mut(hash, key) {
                Some(slot) => {
                    let (m, predecessor) = match slot {
                        Slot::Activating(activating) => {
                            if asker.is_some() && activating.waits_on == asker {
                                return Slow::Fast(Fast::Own(msg));
                            }
                            // A send or ask of the factory this activation is running.
                            if runs_factory_of(Arc::as_ptr(self).addr(), activating.id) {
                                return Slow::Fast(Fast::Own(msg));
                            }
                            if activating.handing_over {
                                let (woken, wait) = reply_port::<()>();
                                activating.waiters().push(woken);
                                return Slow::AwaitActive(wait, msg);
                            }
                            let detached = asker.is_none()
                                && activating.waits_on.is_some()
                                && activating.waits_on == ActorId::current();
                            let ticket = self.next_id.fetch_add(1, Ordering::Relaxed);
                            activating.pending().push_back(Waiting {
                                message: msg,
                                reply,
                                asker,
                                ticket,
                            });
                            return Slow::Queued(rx, ticket, detached);
                        }
                        Slot::Active(active) if asker.is_some_and(|me| active.actor.id() == me) => {
                            return Slow::Fast(Fast::Own(msg));
                        }
                        Slot::Active(active) => match active.actor.try_tell(msg) {
                            Ok(()) => {
                                active.touch();
                                return Slow::Fast(Fast::Sent);
                            }
                            Err(SendError::Full(m)) if full_waits::<MB>() => {
                                return Slow::Fast(Fast::Wait(active.actor.clone(), m));
                            }
                            Err(SendError::Full(m)) => return Slow::Fast(Fast::Full(m)),
                            Err(SendError::Closed(m)) => (m, active.actor.downgrade()),
                        },
                    };
                    // The key's clone is user code: made before the entry changes, so that a
                    // clone that panics leaves the table as it was (an `Activating` entry
                    // without its activation would hold the key's senders for ever).
                    let owned = key.clone();
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let waiting = Waiting {
                        message: m,
                        reply,
                        asker,
                        ticket: id,
                    };
                    let waits_on = Some(predecessor.id());
                    let next = Slot::Activating(Activating::new(id, waiting, waits_on));
                    let old = std::mem::replace(slot, next);
                    if old.counts_active() {
                        shard.active = shard.active.saturating_sub(1);
                    }
                    replaced = Some(old);
                    (id, Some(predecessor), owned)
                }
                None => {
                    // Both clones before the insertion (see above).
                    let (stored, owned) = (key.clone(), key.clone());
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let waiting = Waiting {
                        message: msg,
                        reply,
                        asker,
                        ticket: id,
                    };
                    shard.insert_new(
                        hash,
                        stored,
                        Slot::Activating(Activating::new(id, waiting, None)),
                    );
                    (id, None, owned)
                }
            }
        };
        // The old entry's reference is dropped outside the lock.
        drop(replaced);
        // A send from the actor the new activation waits for must not wait in turn.
        let detached = asker.is_none()
            && predecessor
                .as_ref()
                .is_some_and(|p| Some(p.id()) == ActorId::current());
        Slow::Activate(
            self.activation(hash, owned, id, predecessor),
            rx,
            id,
            detached,
        )
    }

    /// Takes the message with `ticket` back out of the key's activation queue, for a timed ask
    /// that gives up: `None` if it is no longer there (the activation has taken it to hand it
    /// over, or has answered it).
    pub(crate) fn withdraw(&self, hash: u64, key: &K, ticket: u64) -> Option<A::Message> {
        let taken = {
            let mut shard = self.table.write(hash);
            let Some(Slot::Activating(activating)) = shard.get_mut(hash, key) else {
                return None;
            };
            let pending = activating.pending();
            let at = pending.iter().position(|w| w.ticket == ticket)?;
            pending.remove(at)
        };
        if crate::faults::enabled(Fault::KeyedWithdrawDrops) {
            return None;
        }
        // Its reply port is dropped outside the lock.
        taken.map(|waiting| waiting.message)
    }

    fn activation(
        self: &Arc<Self>,
        hash: u64,
        key: K,
        id: u64,
        predecessor: Option<WeakActorRef<A, MB>>,
    ) -> BoxFuture<()> {
        Box::pin(self.clone().activate(hash, key, id, predecessor))
    }

    /// Starts an activation from the sender that made its entry: runs it in the caller's task
    /// as far as it goes without waiting, which for a factory that is ready at once, no
    /// predecessor to wait for and a mailbox with room is to its end (no task, no hop to
    /// another thread); what must wait goes on as a task of its own, so that a sender that
    /// gives up never strands the others. Returns at once either way (it never suspends: the
    /// first poll is made with `cx` and the rest handed to the executor before returning).
    pub(crate) fn start_activation(
        &self,
        mut activation: BoxFuture<()>,
        cx: &mut std::task::Context<'_>,
    ) {
        if activation.as_mut().poll(cx).is_pending() {
            self.launch.spawn_task(activation);
        }
    }

    /// An activation has ended: its entry goes, unless another activation has already taken
    /// the key's place, and what its mailbox dropped joins the shard's total (in the same
    /// critical section, so that [`dropped_count`](Self::dropped_count) never counts it twice
    /// or misses it).
    pub(crate) fn retire(&self, hash: u64, id: u64, dropped: u64) {
        let removed = {
            let mut guard = self.table.write(hash);
            let shard = &mut *guard;
            shard.retired_dropped = shard.retired_dropped.saturating_add(dropped);
            let any = crate::faults::enabled(Fault::KeyedRetireRemovesAny);
            let removed = shard.remove_where(hash, |slot| {
                any || matches!(slot, Slot::Active(a) if a.id == id)
            });
            if removed.as_ref().is_some_and(Slot::counts_active) {
                shard.active = shard.active.saturating_sub(1);
            }
            removed
        };
        drop(removed);
    }

    /// The key's running activation, if it has one that is not being passivated, for a
    /// [`KeyRef`](super::KeyRef) to cache: its reference and its idle flag.
    pub(crate) fn current(&self, hash: u64, key: &K) -> Option<Cached<A, MB>> {
        let shard = self.table.read(hash);
        match shard.get(hash, key) {
            Some(Slot::Active(a)) if !a.stopping => Some(Cached {
                actor: a.actor.clone(),
                idle: a.idle.clone(),
            }),
            _ => None,
        }
    }

    /// `true` if the key has a running activation that is not being passivated.
    pub(crate) fn is_active(&self, hash: u64, key: &K) -> bool {
        let shard = self.table.read(hash);
        matches!(shard.get(hash, key), Some(Slot::Active(a)) if !a.stopping && a.actor.is_alive())
    }

    /// Running activations not being passivated.
    pub(crate) fn active_count(&self) -> usize {
        self.table
            .shards()
            .map(|s| super::table::read(s).active)
            .sum()
    }

    /// Messages the activations' mailboxes dropped by their overflow strategy: those of the
    /// ended activations, and those of the running ones so far. One pass over the table.
    pub(crate) fn dropped_count(&self) -> u64 {
        self.table
            .shards()
            .map(|s| {
                let shard = super::table::read(s);
                let running: u64 = shard
                    .iter()
                    .filter_map(|(_, slot)| match slot {
                        Slot::Active(a) => Some(a.actor.dropped_count()),
                        Slot::Activating(_) => None,
                    })
                    .sum();
                shard.retired_dropped.saturating_add(running)
            })
            .sum()
    }

    /// Entries: active, activating, or finishing a passivation.
    pub(crate) fn resident_count(&self) -> usize {
        self.table
            .shards()
            .map(|s| super::table::read(s).len())
            .sum()
    }

    /// A weak handle, for exit watchers and the sweeper.
    pub(crate) fn weak(self: &Arc<Self>) -> Weak<Self> {
        Arc::downgrade(self)
    }
}
