//! Activating a key: the future that waits for the previous activation's exit, runs the
//! factory, spawns the actor and hands it the messages that queued meanwhile, in order.
//!
//! The sender whose message made the key's entry polls it once, in its own task
//! ([`Shared::start_activation`]): with no predecessor to wait for, a factory that is ready at
//! once and a mailbox with room, that is the whole activation, with no task spawned and no
//! hop to another thread. Whatever must wait goes on as a task of its own, spawned before that
//! first poll returns, so that a sender that gives up (a dropped future, a timeout) never
//! strands the other waiting senders. A guard answers every waiting sender whatever happens:
//! the factory's error, a panic, or the executor dropping the task.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::task::Poll;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef, Reply, SendError, WeakActorRef};

use crate::faults::Fault;

use super::entry::{Active, Delivery, Slot, Waiting};
use super::error::{
    ActivationCause, ActivationTimedOut, ExecutorShutDown, FactoryPanicked, KeyedError,
    RestartPolicyPanicked, Undelivered, panic_message,
};
use super::factory_scope::FactoryScope;
use super::shared::{Counters, Shared};
use super::spec::Key;
use super::supervise::{Reactivation, ReactivationSource};

impl<K: Key, A: Actor, MB: Mailbox> Shared<K, A, MB> {
    /// The task activating `key` as activation `id`, whose entry (`Activating`) the caller has
    /// put in the table with its first message. Its guard exists before the task is first
    /// polled, so that an executor that drops the task unpolled still has the senders answered.
    pub(crate) fn activate(
        self: Arc<Self>,
        hash: u64,
        key: K,
        id: u64,
        predecessor: Option<WeakActorRef<A, MB>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let guard = Guard {
            shared: self,
            hash,
            key,
            id,
            batch: VecDeque::new(),
            in_flight: None,
            handing_over: false,
            spawned: false,
            done: false,
        };
        guard.run(predecessor)
    }

    /// Runs the factory of activation `id`, turning a panic into an error, and its overrunning
    /// the set's activation timeout into another (the factory's future is then dropped). The
    /// thread is marked as running the factory while it does, so that the factory's own
    /// messages to the key are refused ([`factory_scope`](super::factory_scope)).
    pub(crate) async fn make(&self, key: &K, id: u64) -> Result<A, ActivationCause> {
        fn panicked(payload: Box<dyn std::any::Any + Send>) -> ActivationCause {
            Arc::new(FactoryPanicked(panic_message(&*payload)))
        }
        let set = std::ptr::from_ref(self).addr();
        let mut made = catch_unwind(AssertUnwindSafe(|| {
            let _factory = FactoryScope::enter(set, id);
            (self.factory)(key)
        }))
        .map_err(panicked)?;
        // The timer starts only if the factory is not ready at once.
        let mut limit = None;
        poll_fn(|cx| {
            let polled = catch_unwind(AssertUnwindSafe(|| {
                let _factory = FactoryScope::enter(set, id);
                made.as_mut().poll(cx)
            }));
            match polled {
                Ok(Poll::Ready(made)) => return Poll::Ready(made.map_err(ActivationCause::from)),
                Ok(Poll::Pending) => {}
                Err(payload) => return Poll::Ready(Err(panicked(payload))),
            }
            let Some(after) = self.activation_timeout else {
                return Poll::Pending;
            };
            let sleep = limit.get_or_insert_with(|| {
                let deadline = self.launch.now().checked_add(after);
                deadline.map(|deadline| self.launch.sleep_until(deadline))
            });
            // No deadline (no limit) for a timeout too long to add to the clock.
            let Some(sleep) = sleep else {
                return Poll::Pending;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // A timer also ends when its runtime shuts down: say which ended this one.
            let cut_off: ActivationCause = if self.launch.is_shut_down() {
                Arc::new(ExecutorShutDown)
            } else {
                Arc::new(ActivationTimedOut { after })
            };
            Poll::Ready(Err(cut_off))
        })
        .await
    }

    /// Removes activation `id`'s entry (still `Activating`) and returns what waited in it.
    fn abandon(&self, hash: u64, id: u64) -> VecDeque<Waiting<A::Message>> {
        let removed = {
            let mut shard = self.table.write(hash);
            shard.remove_where(
                hash,
                |slot| matches!(slot, Slot::Activating(a) if a.id == id),
            )
        };
        match removed {
            Some(Slot::Activating(mut activating)) => std::mem::take(activating.pending()),
            _ => VecDeque::new(),
        }
    }
}

/// A sender's port and what it is to be told.
struct Answer<M> {
    reply: Reply<Delivery<M>>,
    outcome: Delivery<M>,
}

impl<M> Answer<M> {
    fn send(self) {
        // A sender that has gone wants nothing; what comes back is dropped.
        let _ = self.reply.send(self.outcome);
    }
}

/// Answers every sender waiting for one activation, whatever happens to the activation's task.
struct Guard<K: Key, A: Actor, MB: Mailbox> {
    shared: Arc<Shared<K, A, MB>>,
    hash: u64,
    key: K,
    id: u64,
    /// Messages taken from the entry, being delivered.
    batch: VecDeque<Waiting<A::Message>>,
    /// The port of the message being delivered right now.
    in_flight: Option<Reply<Delivery<A::Message>>>,
    /// Whether the entry turned `Active` with messages still to hand over (its
    /// `handing_over` set): the hand-over's end clears it, and makes a passivation that came
    /// meanwhile.
    handing_over: bool,
    /// Whether the actor has been spawned.
    spawned: bool,
    /// Whether every sender has been answered.
    done: bool,
}

impl<K: Key, A: Actor, MB: Mailbox> Guard<K, A, MB> {
    async fn run(mut self, predecessor: Option<WeakActorRef<A, MB>>) {
        // The previous activation handles what it has queued and runs its `stopped` hook
        // (saving its state) before the next one loads it.
        if let Some(predecessor) = predecessor {
            predecessor.wait().await;
        }
        let shared = self.shared.clone();
        let actor = match shared.make(&self.key, self.id).await {
            Ok(actor) => actor,
            Err(cause) => return self.fail(cause),
        };
        let supervision = match &shared.supervision {
            None => None,
            Some(make) => match catch_unwind(AssertUnwindSafe(|| {
                let source: Weak<dyn ReactivationSource<K, A>> = shared.weak();
                make(Reactivation::new(self.key.clone(), self.id, source))
            })) {
                Ok(policy) => {
                    // Restarts are counted in the set's stats while the set lives.
                    let set = shared.weak();
                    Some(policy.governing().on_restart(move || {
                        if let Some(set) = set.upgrade() {
                            Counters::add(&set.counters.restarts, 1);
                        }
                    }))
                }
                Err(payload) => {
                    drop(actor);
                    let cause = RestartPolicyPanicked(panic_message(&*payload));
                    return self.fail(Arc::new(cause));
                }
            },
        };
        let actor = shared.launch.spawn_actor(actor, supervision);
        self.spawned = true;
        Counters::add(&shared.counters.activations, 1);
        // Registered before the entry turns `Active`; it removes only an `Active` entry of this
        // activation, and `deliver` removes the entry itself if the actor has already ended.
        // It also reports what the ended activation discarded unhandled (a crash's backlog, a
        // drained restart's), which the senders of its tells would not hear of otherwise.
        let (weak, hash, id) = (shared.weak(), self.hash, self.id);
        let (this, key) = (actor.downgrade(), self.key.clone());
        actor.on_exit(move |_, _| {
            if let Some(shared) = weak.upgrade() {
                shared.retire(hash, id);
                let discarded = this.discarded_count();
                if discarded > 0 {
                    shared
                        .launch
                        .report_discarded(&format!("{key:?}"), discarded);
                }
            }
        });
        self.deliver(&actor).await;
    }

    fn key_text(&self) -> String {
        format!("{:?}", self.key)
    }

    /// The factory failed: every waiting sender gets its message back with the cause, and the
    /// key is left without an entry (its next message tries again).
    fn fail(mut self, cause: ActivationCause) {
        self.done = true;
        Counters::add(&self.shared.counters.activation_failures, 1);
        let waiting = self.shared.abandon(self.hash, self.id);
        if waiting.is_empty() {
            return;
        }
        let key = self.key_text();
        for Waiting { message, reply, .. } in waiting {
            let _ = reply.send(Err(KeyedError::ActivationFailed {
                key: key.clone(),
                cause: cause.clone(),
                message,
            }
            .into()));
        }
    }

    /// Hands `actor` the messages that queued for it, in order, answering each sender as its
    /// message enters the mailbox (or is refused), as a routed send is answered.
    ///
    /// The entry turns `Active` first, with those messages taken out of it, so that the key is
    /// active from the moment its actor is spawned and later messages go to the mailbox as any
    /// routed send does: the hand-over delivers a fixed set of messages and ends, however many
    /// senders keep sending meanwhile. A later message may enter the mailbox before a queued
    /// one of another sender, as between any two senders; a sender's own messages stay in
    /// order, since its send returns only once its message is in the mailbox. Each queued
    /// sender waits for room in a full `Block` mailbox as a routed send would, so the senders
    /// queued here feel its back-pressure. A passivation that comes while messages are still
    /// being handed over is made once they all are (the entry's `handing_over`).
    async fn deliver(&mut self, actor: &ActorRef<A, MB>) {
        self.take_queue(actor);
        while let Some(Waiting { message, reply, .. }) = self.batch.pop_front() {
            self.in_flight = Some(reply);
            let outcome = match actor.tell(message).await {
                Ok(()) => Ok(()),
                Err(SendError::Closed(message)) => Err(KeyedError::Stopped {
                    key: self.key_text(),
                    message,
                }
                .into()),
                Err(SendError::Full(message)) => Err(KeyedError::Full {
                    key: self.key_text(),
                    message,
                }
                .into()),
            };
            if let Some(reply) = self.in_flight.take() {
                Answer { reply, outcome }.send();
            }
        }
        self.end_hand_over();
        self.done = true;
    }

    /// Takes the queued messages out of the entry and turns it `Active` (or removes it, if the
    /// actor has already ended); the asks the new actor queued for its own key are refused.
    fn take_queue(&mut self, actor: &ActorRef<A, MB>) {
        let mut refused = VecDeque::new();
        self.take_queue_locked(actor, &mut refused);
        for Waiting { message, reply, .. } in refused {
            let _ = reply.send(Err(Undelivered::OwnKey(message)));
        }
    }

    /// [`take_queue`](Guard::take_queue) under the shard's write lock. The new actor may
    /// already be running its `started` hook, which must not wait on its own key (its messages
    /// are handled only after the hook returns): the asks it queued before this look are moved
    /// to `refused`, answered once the lock is released, and a later one finds the entry
    /// `Active` with its own actor and is refused at once (`Fast::Own`).
    fn take_queue_locked(
        &mut self,
        actor: &ActorRef<A, MB>,
        refused: &mut VecDeque<Waiting<A::Message>>,
    ) {
        let mut guard = self.shared.table.write(self.hash);
        let shard = &mut *guard;
        let id = self.id;
        // Only this task removes or replaces its `Activating` entry.
        let Some(slot) = shard.find_mut(self.hash, |s| s.id() == id) else {
            return;
        };
        let Slot::Activating(activating) = &mut *slot else {
            return;
        };
        let me = Some(actor.id());
        let mut pending = std::mem::take(activating.pending());
        let keep = crate::faults::enabled(Fault::KeyedKeepsQueuedOwnAsks);
        if !keep && pending.iter().any(|w| w.asker == me) {
            let own;
            (own, pending) = pending.into_iter().partition(|w| w.asker == me);
            *refused = own;
        }
        self.batch = pending;
        if actor.is_alive() {
            let now = self.shared.now_stamp();
            let mut active = Active::new(actor.clone(), id, now);
            active.handing_over = !self.batch.is_empty();
            self.handing_over = active.handing_over;
            *slot = Slot::Active(active);
            shard.active = shard.active.saturating_add(1);
        } else {
            // It ended before it took a message (its `started` failed, say): its exit watcher
            // found the entry still activating and left it. The messages are refused by its
            // closed mailbox.
            shard.remove_where(self.hash, |s| s.id() == id);
        }
    }

    /// Ends a hand-over begun by [`take_queue`](Guard::take_queue): clears the entry's
    /// `handing_over`, and stops the activation if a passivation came meanwhile.
    fn end_hand_over(&mut self) {
        if !std::mem::take(&mut self.handing_over) {
            return;
        }
        let mut guard = self.shared.table.write(self.hash);
        let id = self.id;
        if let Some(Slot::Active(active)) = guard.find_mut(self.hash, |s| s.id() == id) {
            active.handing_over = false;
            if active.stopping {
                active.actor.stop_with(self.shared.passivated.clone());
            }
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> Drop for Guard<K, A, MB> {
    /// The task was dropped before it answered everyone (the executor shut down): each waiting
    /// sender gets its message back, but the one being handed over, which went with the task.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut waiting = std::mem::take(&mut self.batch);
        waiting.extend(self.shared.abandon(self.hash, self.id));
        let key = self.key_text();
        if let Some(reply) = self.in_flight.take() {
            let _ = reply.send(Err(KeyedError::Cancelled {
                key: key.clone(),
                message: None,
            }
            .into()));
        }
        for Waiting { message, reply, .. } in waiting {
            let _ = reply.send(Err(KeyedError::Cancelled {
                key: key.clone(),
                message: Some(message),
            }
            .into()));
        }
        // A hand-over cut short still ends: the key may be passivated again.
        self.end_hand_over();
        if !self.spawned {
            Counters::add(&self.shared.counters.activation_failures, 1);
        }
    }
}
