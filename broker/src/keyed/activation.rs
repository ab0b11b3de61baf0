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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef, DeadLetterKind, Reply, SendError, WeakActorRef};

use crate::faults::Fault;

use super::entry::{Active, Delivery, Slot, Waiting};
use super::error::{
    ActivationCause, ActivationTimedOut, ExecutorShutDown, FactoryPanicked, KeyedError,
    RestartPolicyPanicked, Undelivered, panic_message,
};
use super::factory_scope::FactoryScope;
use super::shared::{Counters, Shared};
use super::spec::Key;
use super::spec::{drop_contained, key_text};
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
            last: None,
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
    /// Answers the sender. Returns the outcome if the message was not delivered and its sender
    /// is no longer waiting to hear it (a send that returned at once, see `Detached`, or one
    /// that gave up): the caller reports it as a dead letter, then drops it (the message in it
    /// is user code) with [`drop_contained`].
    #[must_use]
    fn send(self) -> Option<Delivery<M>> {
        match self.reply.send(self.outcome) {
            Ok(()) | Err(Ok(())) => None,
            Err(undelivered) => Some(undelivered),
        }
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
    /// The last message of a batch, delivered (or refused), with its outcome: answered after
    /// the next look at the entry, which turns it `Active` if nothing else queued, so that a
    /// sender whose send returned with nothing queued behind it finds the key active.
    last: Option<Answer<A::Message>>,
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
        // On a runtime that has shut down the actor's task would be dropped unrun: the
        // activation fails instead, saying why, and its senders get their messages back. (A
        // shutdown after this check ends the spawned actor at once: its senders hear `Stopped`.)
        if shared.launch.is_shut_down() {
            drop(actor);
            return self.fail(Arc::new(ExecutorShutDown));
        }
        // What restarts that drained the queue have reported (as `Drained` dead letters, as
        // they discarded it), which the report of what the activation discarded as it ended
        // leaves out.
        let drained = Arc::new(AtomicU64::new(0));
        let supervision = match &shared.supervision {
            None => None,
            Some(make) => match catch_unwind(AssertUnwindSafe(|| {
                let source: Weak<dyn ReactivationSource<K, A>> = shared.weak();
                make(Reactivation::new(self.key.clone(), self.id, source))
            })) {
                Ok(policy) => {
                    // Restarts are counted in the set's stats while the set lives.
                    let set = shared.weak();
                    let (report, key, reported) = (
                        shared.discarded.clone(),
                        self.key.clone(),
                        Arc::clone(&drained),
                    );
                    Some(
                        policy
                            .governing()
                            .on_restart(move || {
                                if let Some(set) = set.upgrade() {
                                    Counters::add(&set.counters.restarts, 1);
                                }
                            })
                            .on_drained(move |n| {
                                reported.fetch_add(n as u64, Ordering::Relaxed);
                                report(DeadLetterKind::Drained, &key_text(&key), n as u64);
                            }),
                    )
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
        // It also reports what the ended activation discarded unhandled (a crash's backlog),
        // which the senders of its tells would not hear of otherwise; a drained restart's
        // discards were reported as they were made.
        let (weak, hash, id) = (shared.weak(), self.hash, self.id);
        let (this, key, report) = (
            actor.downgrade(),
            self.key.clone(),
            shared.discarded.clone(),
        );
        actor.on_exit(move |_, _| {
            // Reported before the entry goes, so that a key seen inactive has its discards
            // reported. Also once the set is gone: dropping it ends an activation waiting for
            // a restart, its queue discarded. (Every drain was reported before this exit: the
            // restarts run on the actor's task, which ends after them.)
            let discarded = this
                .discarded_count()
                .saturating_sub(drained.load(Ordering::Relaxed));
            if discarded > 0 {
                report(DeadLetterKind::ActorGone, &key_text(&key), discarded);
            }
            if let Some(shared) = weak.upgrade() {
                shared.retire(hash, id, this.dropped_count());
            }
        });
        self.deliver(&actor).await;
    }

    fn key_text(&self) -> String {
        key_text(&self.key)
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
            let outcome = Err(KeyedError::ActivationFailed {
                key: key.clone(),
                cause: cause.clone(),
                message,
            }
            .into());
            self.settle(Answer { reply, outcome });
        }
    }

    /// Answers a sender, and reports its message as a dead letter if it was not delivered
    /// and nobody is waiting to hear that.
    fn settle(&self, answer: Answer<A::Message>) {
        if let Some(undelivered) = answer.send() {
            self.shared.launch.report_discarded(&self.key_text(), 1);
            // A message that panics as it drops must not cut the answers to the others short
            // (nor abort the process, if a second one panics while the first unwinds).
            drop_contained(undelivered);
        }
    }

    /// Hands `actor` the messages that queued for it, in order, answering each sender as its
    /// message enters the mailbox (or is refused), as a routed send is answered: it waits for
    /// room in a full `Block` mailbox as a routed send would, so the senders queued here feel
    /// its back-pressure, and one whose message is in the mailbox is not kept waiting for those
    /// queued behind it (the last one of a batch is answered after the next look at the
    /// entry, so that, with nothing queued behind it, it finds the key active). Then the entry
    /// turns `Active`.
    ///
    /// Once the queue is taken, a message that comes does not join it: its sender waits until
    /// the entry turns `Active` (or goes) and sends it then ([`Slow::AwaitActive`]). So the
    /// hand-over delivers a fixed set of messages and ends, however many senders keep sending,
    /// and every message queued for the activation reaches the mailbox before any later one.
    ///
    /// [`Slow::AwaitActive`]: super::shared::Slow::AwaitActive
    async fn deliver(&mut self, actor: &ActorRef<A, MB>) {
        loop {
            let finished = self.take_batch_or_finish(actor);
            if let Some(answer) = self.last.take() {
                self.settle(answer);
            }
            if finished {
                return;
            }
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
                    let answer = Answer { reply, outcome };
                    if self.batch.is_empty() {
                        self.last = Some(answer);
                    } else {
                        self.settle(answer);
                    }
                }
            }
        }
    }

    /// Under the shard's write lock: takes the messages queued (the entry then shows the
    /// hand-over under way), or, if there are none, turns the entry `Active` (or removes it,
    /// if the actor has already ended) and returns `true`. The senders refused or woken are
    /// answered once the lock is released.
    fn take_batch_or_finish(&mut self, actor: &ActorRef<A, MB>) -> bool {
        let mut refused = VecDeque::new();
        let mut woken = Vec::new();
        let finished = self.take_batch_or_finish_locked(actor, &mut refused, &mut woken);
        for Waiting { message, reply, .. } in refused {
            if let Err(undelivered) = reply.send(Err(Undelivered::OwnKey(message))) {
                drop_contained(undelivered);
            }
        }
        for waiter in woken {
            let _ = waiter.send(());
        }
        finished
    }

    /// [`take_batch_or_finish`](Guard::take_batch_or_finish) under the lock. The first time
    /// (right after the spawn), the entry also learns the new actor's id: that actor may already
    /// be running its `started` hook, which must not wait on its own key (its messages are
    /// handled only after the hook returns). A later ask from it is refused as it comes
    /// (`route_slow`); the asks it has already queued are moved to `refused`.
    fn take_batch_or_finish_locked(
        &mut self,
        actor: &ActorRef<A, MB>,
        refused: &mut VecDeque<Waiting<A::Message>>,
        woken: &mut Vec<Reply<()>>,
    ) -> bool {
        let mut guard = self.shared.table.write(self.hash);
        let shard = &mut *guard;
        let id = self.id;
        let Some(slot) = shard.find_mut(self.hash, |s| s.id() == id) else {
            // Only this task removes or replaces its `Activating` entry.
            self.done = true;
            return true;
        };
        let Slot::Activating(activating) = &mut *slot else {
            self.done = true;
            return true;
        };
        let me = Some(actor.id());
        if activating.waits_on != me {
            activating.waits_on = me;
            let pending = activating.pending();
            let keep = crate::faults::enabled(Fault::KeyedKeepsQueuedOwnAsks);
            if !keep && pending.iter().any(|w| w.asker == me) {
                let own;
                (own, *pending) = std::mem::take(pending)
                    .into_iter()
                    .partition(|w| w.asker == me);
                *refused = own;
            }
        }
        let pending = activating.pending();
        if !pending.is_empty() {
            self.batch = std::mem::take(pending);
            activating.handing_over = true;
            return false;
        }
        *woken = std::mem::take(activating.waiters());
        if crate::faults::enabled(Fault::KeyedLeavesWaitersAsleep) {
            std::mem::forget(std::mem::take(woken));
        }
        if actor.is_alive() {
            let now = self.shared.now_stamp();
            *slot = Slot::Active(Active::new(actor.clone(), id, now));
            shard.active = shard.active.saturating_add(1);
        } else {
            // It ended while its messages were being handed over; its exit watcher found the
            // entry still activating and left it: remove it here.
            shard.remove_where(self.hash, |s| s.id() == id);
        }
        self.done = true;
        true
    }
}

impl<K: Key, A: Actor, MB: Mailbox> Drop for Guard<K, A, MB> {
    /// The task was dropped before it answered everyone (the executor shut down): each waiting
    /// sender gets its message back, but the one being handed over, which went with the task.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(answer) = self.last.take() {
            self.settle(answer);
        }
        let mut waiting = std::mem::take(&mut self.batch);
        waiting.extend(self.shared.abandon(self.hash, self.id));
        let key = self.key_text();
        if let Some(reply) = self.in_flight.take() {
            let outcome = Err(KeyedError::Cancelled {
                key: key.clone(),
                message: None,
            }
            .into());
            self.settle(Answer { reply, outcome });
        }
        for Waiting { message, reply, .. } in waiting {
            let outcome = Err(KeyedError::Cancelled {
                key: key.clone(),
                message: Some(message),
            }
            .into());
            self.settle(Answer { reply, outcome });
        }
        if !self.spawned {
            Counters::add(&self.shared.counters.activation_failures, 1);
        }
    }
}
