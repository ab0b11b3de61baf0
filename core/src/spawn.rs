//! Spawning actors onto an executor.

use std::fmt;

use crate::actor::Handler;
use crate::actor_ref::ActorRef;
use crate::broker::MessageBroker;
use crate::cell::{ActorCell, ActorId};
use crate::context::Context;
use crate::env::{Env, SpawnEnv, Wiring};
use crate::executor::Executor;
use crate::exit::ExitReason;
use crate::mailbox::Mailbox;
use crate::observer::{Observation, ObservedEvent};
use crate::runner::run_actor;
use crate::sync::Arc;
use crate::system::System;
use std::sync::Arc as StdArc;

/// What happens when an incarnation ends on its own (not by `stop` or `kill`): return a fresh
/// actor to run a new incarnation behind the same reference and mailbox (queued messages survive),
/// or `None` to end the actor. After [`stop_after_queue`](crate::ActorRef::stop_after_queue),
/// an incarnation that ends on its own with messages still queued is decided on too.
///
/// Supervisors build on this. Closures `FnMut(&ExitReason) -> Option<A>` implement it; pass
/// one through [`restart_with`] so that the compiler infers its argument type, or use
/// [`restart_on_failure`] for the common policy.
///
/// ```
/// use playhouse_core::{restart_with, ExitReason, System};
/// # use playhouse_core::{Actor, Context, Env, Handler};
/// # struct Worker;
/// # impl Actor for Worker { type Message = (); type Error = std::convert::Infallible; }
/// # impl<V: Env> Handler<V> for Worker {
/// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # use playhouse_broker::InMemoryBroker;
/// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let mut restarts = 0;
/// let worker = system.spawn_restartable(Worker, restart_with(move |reason| {
///     restarts += 1;
///     (!reason.is_normal() && restarts <= 3).then_some(Worker)
/// }));
/// # drop(worker);
/// ```
pub trait Restart<A>: Send + 'static {
    /// Decides, after an incarnation ended with `reason`, whether a new one starts.
    fn on_exit(&mut self, reason: &ExitReason) -> Option<A>;
}

/// A restart policy from a closure, with its argument type inferred (a closure passed straight
/// where a [`Restart`] is expected needs `|reason: &ExitReason|` spelled out).
pub fn restart_with<A, F>(policy: F) -> F
where
    F: FnMut(&ExitReason) -> Option<A> + Send + 'static,
{
    policy
}

/// Restarts with `make()` after every abnormal exit (an error, a panic); a normal exit
/// ([`ExitReason::is_normal`]) is final. OTP's `transient` restart type, without a limit.
pub fn restart_on_failure<A, F>(mut make: F) -> impl Restart<A>
where
    F: FnMut() -> A + Send + 'static,
{
    restart_with(move |reason: &ExitReason| (!reason.is_normal()).then(&mut make))
}

/// What follows an incarnation that ended on its own, as a [`Supervision`] decides it.
#[derive(Debug)]
pub enum Next<A> {
    /// A fresh incarnation of this actor value starts behind the same reference and mailbox,
    /// and handles what is queued.
    Restart(A),
    /// As `Restart`, after discarding what is queued: reply ports in the discarded messages
    /// resolve with [`NoReply::Drained`](crate::NoReply::Drained), and the messages are counted
    /// in the actor's [`discarded_count`](crate::ActorRef::discarded_count).
    RestartDrained(A),
    /// The actor ends with the incarnation's exit reason.
    End,
}

/// How an actor's incarnations are governed: the runner tells it when an incarnation has
/// started, and asks it, after each one that ended on its own (not by `stop` or `kill`; but see
/// [`stop_after_queue`](crate::ActorRef::stop_after_queue)), what follows. The answer may take time: the actor's task waits for it without holding a thread,
/// its mailbox open (messages sent meanwhile queue up for the next incarnation).
///
/// This is the hook supervisors (`playhouse-supervisor`) are built on; a plain [`Restart`]
/// policy is the synchronous case ([`Spawner::spawn_restartable`]). Implementations are
/// called on the actor's task; a panic in either method is caught (a panicking
/// `poll_exited` ends the actor with `Panicked`).
pub trait Supervision<A>: Send + 'static {
    /// The incarnation's `started` hook returned `Ok`. An incarnation whose `started` failed
    /// (or was cut) goes straight to [`poll_exited`](Supervision::poll_exited) without this.
    ///
    /// `actor` is the governed actor's id, the same in every call (a hook that governs a
    /// succession of actors, as a supervisor's child slot does, tells them apart by it).
    fn started(&mut self, actor: ActorId) {
        let _ = actor;
    }

    /// The incarnation of `actor` ended with `reason`: `Ready` with what follows, or `Pending`
    /// (with `cx`'s waker kept, and woken when the answer is ready) to make the actor wait for
    /// it. Polled again, with the same reason, after every wake-up.
    fn poll_exited(
        &mut self,
        actor: ActorId,
        reason: &ExitReason,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Next<A>>;

    /// A restart this supervision decided with [`Next::RestartDrained`] discarded `count`
    /// accepted messages of `actor`'s queue (more than zero), told before the first of them is
    /// dropped. A keyed set reports them as dead letters here. The default does nothing.
    fn drained(&mut self, actor: ActorId, count: usize) {
        let _ = (actor, count);
    }

    /// Whether [`finished`](Supervision::finished) is to be called: `false` (the default)
    /// spares actors without a supervisor the cost of a call and a copy of the reason.
    const WANTS_FINISHED: bool = false;

    /// `actor` has ended for good, with `reason` (its mailbox discarded, its exit recorded:
    /// [`ActorRef::wait`](crate::ActorRef::wait) has resolved and its exit watchers have run).
    /// Called once, also when the executor drops the task, if
    /// [`WANTS_FINISHED`](Supervision::WANTS_FINISHED).
    fn finished(&mut self, actor: ActorId, reason: &ExitReason) {
        let _ = (actor, reason);
    }
}

/// A [`Restart`] policy as a [`Supervision`]: decided at once.
pub(crate) struct ByPolicy<R>(pub(crate) R);

impl<A, R: Restart<A>> Supervision<A> for ByPolicy<R> {
    fn poll_exited(
        &mut self,
        _actor: ActorId,
        reason: &ExitReason,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Next<A>> {
        std::task::Poll::Ready(match self.0.on_exit(reason) {
            Some(fresh) => Next::Restart(fresh),
            None => Next::End,
        })
    }
}

/// Never restart: the first exit is final. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRestart;

impl<A> Supervision<A> for NoRestart {
    fn poll_exited(
        &mut self,
        _actor: ActorId,
        _reason: &ExitReason,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Next<A>> {
        std::task::Poll::Ready(Next::End)
    }
}

impl<A> Restart<A> for NoRestart {
    fn on_exit(&mut self, _reason: &ExitReason) -> Option<A> {
        None
    }
}

impl<A, F> Restart<A> for F
where
    F: FnMut(&ExitReason) -> Option<A> + Send + 'static,
{
    fn on_exit(&mut self, reason: &ExitReason) -> Option<A> {
        self(reason)
    }
}

/// A [`System`] with a mailbox chosen for the actors it spawns: what
/// [`System::spawner`] returns. It shares the system's executor and broker.
///
/// ```
/// use playhouse_core::mailbox::{Bounded, DropOldest, Unbounded};
/// use playhouse_core::System;
/// # use playhouse_core::{Actor, Context, Env, Handler};
/// # struct Sink;
/// # impl Actor for Sink { type Message = u32; type Error = std::convert::Infallible; }
/// # impl<V: Env> Handler<V> for Sink {
/// #     async fn handle(&mut self, _: u32, _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # let executor = playhouse_core::testing::ThreadExecutor;
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(executor, InMemoryBroker::new());
/// let lossy = system.spawner(Bounded::<DropOldest>::with_capacity(16).unwrap());
/// let sink = lossy.spawn(Sink);
/// assert_eq!(sink.mailbox_capacity(), 16);
/// // Another mailbox from the same spawner, without consuming it:
/// let firehose = lossy.mailbox(Unbounded).spawn(Sink);
/// assert_eq!(firehose.mailbox_capacity(), usize::MAX);
/// ```
pub struct Spawner<E, MB, B> {
    system: System<E, B>,
    mailbox: MB,
}

impl<E: Executor, MB: Mailbox, B: MessageBroker> Spawner<E, MB, B> {
    pub(crate) fn new(system: System<E, B>, mailbox: MB) -> Self {
        Spawner { system, mailbox }
    }

    /// A spawner of the same system with another mailbox. This one stays usable.
    pub fn mailbox<MB2: Mailbox>(&self, mailbox: MB2) -> Spawner<E, MB2, B> {
        Spawner::new(self.system.clone(), mailbox)
    }

    /// The system this spawner spawns into.
    pub fn system(&self) -> &System<E, B> {
        &self.system
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        self.system.executor()
    }

    /// The broker.
    pub fn broker(&self) -> &B {
        self.system.broker()
    }

    /// Spawns `actor` and returns its reference at once; `started` runs on the actor's task.
    pub fn spawn<A: Handler<Wiring<MB, E, B>>>(&self, actor: A) -> ActorRef<A, MB> {
        self.spawn_restartable(actor, NoRestart)
    }

    /// Spawns `actor` with a [`Restart`] policy deciding, after each incarnation that ends on
    /// its own, whether a fresh instance takes over behind the same reference and mailbox.
    pub fn spawn_restartable<A: Handler<Wiring<MB, E, B>>, R: Restart<A>>(
        &self,
        actor: A,
        restart: R,
    ) -> ActorRef<A, MB> {
        spawn_in::<A, Wiring<MB, E, B>, _>(
            actor,
            &self.mailbox,
            &self.system.env,
            ByPolicy(restart),
        )
    }

    /// Spawns `actor` governed by `supervision`, which is told of each incarnation's start and
    /// decides, possibly after a wait, what follows each one that ends on its own. For
    /// supervisors; most code wants [`spawn_restartable`](Spawner::spawn_restartable).
    pub fn spawn_supervised<A: Handler<Wiring<MB, E, B>>, S: Supervision<A>>(
        &self,
        actor: A,
        supervision: S,
    ) -> ActorRef<A, MB> {
        spawn_in::<A, Wiring<MB, E, B>, S>(actor, &self.mailbox, &self.system.env, supervision)
    }

    /// As [`spawn_supervised`](Spawner::spawn_supervised), with the supervision made by
    /// `make` from the new actor's reference before its task exists: whatever `make` records
    /// of the actor (its reference, its id) is in place before the first hook is called.
    pub fn spawn_supervised_with<A, S, F>(&self, actor: A, make: F) -> ActorRef<A, MB>
    where
        A: Handler<Wiring<MB, E, B>>,
        S: Supervision<A>,
        F: FnOnce(&ActorRef<A, MB>) -> S,
    {
        spawn_in_with::<A, Wiring<MB, E, B>, S, F>(actor, &self.mailbox, &self.system.env, make)
    }
}

impl<E, MB: Clone, B> Clone for Spawner<E, MB, B> {
    fn clone(&self) -> Self {
        Spawner {
            system: self.system.clone(),
            mailbox: self.mailbox.clone(),
        }
    }
}

impl<E, MB: fmt::Debug, B> fmt::Debug for Spawner<E, MB, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

pub(crate) fn spawn_in<A, V, R>(
    actor: A,
    mailbox: &V::Mailbox,
    env: &StdArc<SpawnEnv<V::Executor, V::Broker>>,
    restart: R,
) -> ActorRef<A, V::Mailbox>
where
    A: Handler<V>,
    V: Env,
    R: Supervision<A>,
{
    spawn_in_with::<A, V, R, _>(actor, mailbox, env, |_| restart)
}

/// [`spawn_in`] with the supervision made from the actor's reference before the task exists.
pub(crate) fn spawn_in_with<A, V, R, F>(
    actor: A,
    mailbox: &V::Mailbox,
    env: &StdArc<SpawnEnv<V::Executor, V::Broker>>,
    make: F,
) -> ActorRef<A, V::Mailbox>
where
    A: Handler<V>,
    V: Env,
    R: Supervision<A>,
    F: FnOnce(&ActorRef<A, V::Mailbox>) -> R,
{
    let cell = Arc::new(ActorCell::new(
        mailbox.queue::<A::Message>(),
        env.sleeper.clone(),
    ));
    if let Some(observer) = &env.observer {
        cell.set_observation(Observation {
            observer: observer.clone(),
            id: cell.id,
            type_name: std::any::type_name::<A>(),
        });
        cell.observe(&ObservedEvent::Spawned);
    }
    let actor_ref = ActorRef::from_counted(cell.clone());
    let restart = make(&actor_ref);
    let ctx = Context::<A, V>::new(cell, env.clone());
    env.executor.spawn(run_actor(actor, ctx, restart));
    actor_ref
}
