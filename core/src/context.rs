//! What a handler can do besides handling: reach itself, stop, spawn, schedule.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::actor::Actor;
use crate::actor_ref::{ActorRef, CellOf};
use crate::cell::ActorId;
use crate::env::{Env, SpawnEnv, Wiring};
use crate::mailbox::{Block, Bounded, Mailbox};
use crate::spawn::spawn_in;
use crate::sync::Arc;
use crate::timer::{TimerHandle, start_timer};
use std::sync::Arc as StdArc;

type MailboxOf<V> = <V as Env>::Mailbox;

/// The actor's view of itself and its surroundings, passed to every handler and hook.
///
/// Generic over the [`Env`] the actor was spawned into, so that [`myself`](Context::myself) is a
/// fully typed reference and [`spawn`](Context::spawn) runs on the same executor with the same
/// broker.
pub struct Context<A: Actor, V: Env> {
    pub(crate) cell: Arc<CellOf<A, MailboxOf<V>>>,
    /// The executor and broker, shared with every actor of the same spawner.
    env: StdArc<SpawnEnv<V::Executor, V::Broker>>,
    incarnation: u32,
    pub(crate) stop_requested: bool,
    /// Set once the actor's task has reported its final exit (kept here, in the context's
    /// padding, rather than in a field of its own in every task).
    pub(crate) finished: bool,
    /// Set once the receiver saw the mailbox closed and empty, so that the final discard need
    /// not lock it again to find nothing.
    pub(crate) drained: bool,
    /// Set once this incarnation started a timer, so that ending an incarnation without any
    /// does not lock the cell to cancel none.
    has_timers: bool,
    _env: PhantomData<fn() -> V>,
}

impl<A: Actor, V: Env> Context<A, V> {
    pub(crate) fn new(
        cell: Arc<CellOf<A, MailboxOf<V>>>,
        env: StdArc<SpawnEnv<V::Executor, V::Broker>>,
    ) -> Self {
        Context {
            cell,
            env,
            incarnation: 1,
            stop_requested: false,
            finished: false,
            drained: false,
            has_timers: false,
            _env: PhantomData,
        }
    }

    /// A strong reference to this actor.
    ///
    /// Holding it in the actor itself keeps the actor alive until it stops itself or is stopped.
    pub fn myself(&self) -> ActorRef<A, MailboxOf<V>> {
        ActorRef::new_strong(&self.cell)
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// Which incarnation this is: 1 for the first, +1 for each restart behind the same
    /// reference.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Stops this actor after the current handler returns, with [`ExitReason::Normal`](crate::ExitReason::Normal).
    /// Messages still queued are discarded (reply ports in them resolve with
    /// `NoReply::Stopped`) unless a restart policy starts a new incarnation, which gets them.
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// The executor running this actor.
    pub fn executor(&self) -> &V::Executor {
        &self.env.executor
    }

    /// The broker this actor talks to.
    pub fn broker(&self) -> &V::Broker {
        &self.env.broker
    }

    /// Spawns another actor on the same executor, with the same broker and the default mailbox
    /// (`Bounded<Block>`, capacity 256).
    pub fn spawn<B: Actor>(&self, actor: B) -> ActorRef<B> {
        self.spawn_with(actor, Bounded::<Block>::default())
    }

    /// Spawns another actor on the same executor, with the same broker and the given mailbox.
    pub fn spawn_with<B: Actor, MB: Mailbox>(&self, actor: B, mailbox: MB) -> ActorRef<B, MB> {
        spawn_in::<B, Wiring<MB, V::Executor, V::Broker>, _>(
            actor,
            &mailbox,
            &self.env,
            crate::spawn::NoRestart,
        )
    }

    /// Sends `msg` to this actor after `delay`, unless cancelled first. The timer does not keep
    /// the actor alive and is cancelled when this incarnation ends. Dropping the handle does not
    /// cancel it.
    pub fn run_later(&mut self, delay: Duration, msg: A::Message) -> TimerHandle {
        let mut msg = Some(msg);
        let handle = start_timer::<A::Message, _, V::Executor, _>(
            self.cell.clone(),
            self.env.executor.clone(),
            Instant::now() + delay,
            None,
            move || msg.take(),
        );
        self.track(handle)
    }

    /// Sends `make()` to this actor every `period` (first after one period), until cancelled or
    /// until this incarnation ends. Ticks that fall due while the actor is behind are not
    /// queued up: the next tick is one period after the late one.
    pub fn run_interval<F>(&mut self, period: Duration, mut make: F) -> TimerHandle
    where
        F: FnMut() -> A::Message + Send + 'static,
    {
        let period = period.max(Duration::from_nanos(1));
        let handle = start_timer::<A::Message, _, V::Executor, _>(
            self.cell.clone(),
            self.env.executor.clone(),
            Instant::now() + period,
            Some(period),
            move || Some(make()),
        );
        self.track(handle)
    }

    fn track(&mut self, handle: TimerHandle) -> TimerHandle {
        self.has_timers = true;
        self.cell.track_timer(handle.clone());
        handle
    }

    fn cancel_timers(&mut self) {
        if std::mem::take(&mut self.has_timers) {
            self.cell.cancel_timers();
        }
    }

    /// Ends this incarnation's timers and readies the context for the next one.
    pub(crate) fn end_incarnation(&mut self) {
        self.cancel_timers();
        self.stop_requested = false;
    }

    pub(crate) fn begin_next_incarnation(&mut self) {
        self.incarnation += 1;
    }
}

impl<A: Actor, V: Env> Drop for Context<A, V> {
    fn drop(&mut self) {
        self.cancel_timers();
    }
}

impl<A: Actor, V: Env> fmt::Debug for Context<A, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.cell.id)
            .field("incarnation", &self.incarnation)
            .field("stop_requested", &self.stop_requested)
            .finish()
    }
}
