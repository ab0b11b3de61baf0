//! The system: one executor and one broker that every actor spawned from it shares.

use std::fmt;
use std::sync::Arc as StdArc;

use futures_core::Stream;

use crate::actor::{Actor, Handler};
use crate::actor_ref::ActorRef;
use crate::broker::MessageBroker;
use crate::env::{SpawnEnv, Wiring};
use crate::executor::Executor;
use crate::mailbox::{Block, Bounded, Mailbox};
use crate::observer::Observer;
use crate::spawn::{NoRestart, Restart, Spawner, spawn_in};
use crate::stream::{StreamHandle, StreamMessage, StreamOptions, attach};

/// An executor and a broker, shared by every actor spawned from this system, from its clones,
/// and from those actors' contexts ([`Context::system`](crate::Context::system),
/// [`Context::spawn`](crate::Context::spawn)): an actor spawned anywhere in the program can find
/// one spawned anywhere else by name. Cheap to clone (one `Arc`).
///
/// The mailbox is chosen per actor: [`spawn`](System::spawn) gives the default
/// (`Bounded<Block>`, capacity 256), [`spawn_with`](System::spawn_with) takes one, and
/// [`spawner`](System::spawner) presets one for many spawns.
///
/// ```
/// use playhouse_core::mailbox::Unbounded;
/// use playhouse_core::{Actor, ActorRef, Context, Env, Handler, MessageBroker, Reply, System};
/// use std::convert::Infallible;
///
/// struct Counter(u64);
/// enum Msg { Add(u64), Get(Reply<u64>) }
///
/// impl Actor for Counter {
///     type Message = Msg;
///     type Error = Infallible;
/// }
///
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             Msg::Add(n) => self.0 += n,
///             Msg::Get(reply) => { let _ = reply.send(self.0); }
///         }
///         Ok(())
///     }
/// }
///
/// # let executor = playhouse_core::testing::ThreadExecutor;
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(executor, InMemoryBroker::new());
/// let a = system.spawn(Counter(0));
/// let b = system.spawn_with(Counter(0), Unbounded);
/// system.broker().register("a", &a).unwrap();
/// # playhouse_core::testing::block_on(async {
/// a.tell(Msg::Add(2)).await.unwrap();
/// let found: ActorRef<Counter> = system.broker().lookup("a").unwrap();
/// assert_eq!(found.ask(Msg::Get).await.unwrap(), 2);
/// # drop(b);
/// # });
/// ```
pub struct System<E, B> {
    pub(crate) env: StdArc<SpawnEnv<E, B>>,
}

impl<E: Executor, B: MessageBroker + Default> System<E, B> {
    /// A system on `executor` with a fresh broker of type `B` (the facade's `playhouse::System`
    /// # use playhouse_broker::InMemoryBroker;
    /// names `playhouse_broker::InMemoryBroker`, so there `System::with_broker(executor, InMemoryBroker::new())` is all it
    /// takes).
    pub fn new(executor: E) -> Self {
        System::with_broker(executor, B::default())
    }
}

impl<E: Executor, B: MessageBroker> System<E, B> {
    /// A system on `executor` with `broker`.
    pub fn with_broker(executor: E, broker: B) -> Self {
        System {
            env: StdArc::new(SpawnEnv::new(executor, broker)),
        }
    }

    pub(crate) fn from_env(env: StdArc<SpawnEnv<E, B>>) -> Self {
        System { env }
    }

    /// This system with `observer` told of what each actor spawned from it from now on does
    /// ([`observer`](crate::observer)). Actors already spawned stay unobserved; references and
    /// spawners made from the returned system share the observer. It replaces an observer the
    /// system had: to observe with two, give a pair, `with_observer((tracing, metrics))`.
    ///
    /// ```
    /// # use playhouse_broker::InMemoryBroker;
    /// use playhouse_core::System;
    /// use playhouse_core::testing::{RecordingObserver, ThreadExecutor};
    ///
    /// let recording = RecordingObserver::new();
    /// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new())
    ///     .with_observer(recording.clone());
    /// assert!(system.observer().is_some());
    /// ```
    pub fn with_observer(self, observer: impl Observer) -> Self {
        let env = SpawnEnv {
            executor: self.env.executor.clone(),
            broker: self.env.broker.clone(),
            sleeper: self.env.sleeper.clone(),
            observer: Some(StdArc::new(observer)),
        };
        System {
            env: StdArc::new(env),
        }
    }

    /// The system's observer, if it has one.
    pub fn observer(&self) -> Option<&StdArc<dyn Observer>> {
        self.env.observer.as_ref()
    }

    /// The executor every actor of this system runs on.
    pub fn executor(&self) -> &E {
        &self.env.executor
    }

    /// The broker every actor of this system shares.
    pub fn broker(&self) -> &B {
        &self.env.broker
    }

    /// Spawns `actor` with the default mailbox (`Bounded<Block>`, capacity 256) and returns
    /// its reference at once; `started` runs on the actor's task.
    pub fn spawn<A>(&self, actor: A) -> ActorRef<A>
    where
        A: Handler<Wiring<Bounded<Block>, E, B>>,
    {
        self.spawn_with(actor, Bounded::<Block>::default())
    }

    /// Spawns `actor` with `mailbox`.
    pub fn spawn_with<A, MB>(&self, actor: A, mailbox: MB) -> ActorRef<A, MB>
    where
        A: Handler<Wiring<MB, E, B>>,
        MB: Mailbox,
    {
        spawn_in::<A, Wiring<MB, E, B>, _>(actor, &mailbox, &self.env, NoRestart)
    }

    /// Spawns `actor` with the default mailbox and a [`Restart`] policy deciding, after each
    /// incarnation that ends on its own, whether a fresh instance takes over behind the same
    /// reference and mailbox. For another mailbox, use a [`spawner`](System::spawner).
    pub fn spawn_restartable<A, R>(&self, actor: A, restart: R) -> ActorRef<A>
    where
        A: Handler<Wiring<Bounded<Block>, E, B>>,
        R: Restart<A>,
    {
        spawn_in::<A, Wiring<Bounded<Block>, E, B>, _>(
            actor,
            &Bounded::<Block>::default(),
            &self.env,
            crate::spawn::ByPolicy(restart),
        )
    }

    /// Attaches `stream` to `actor` from outside it: the items arrive one at a time as
    /// [`StreamMessage::Item`], in FIFO order with the other
    /// messages, each pulled only once the actor has taken the one before; then, if the
    /// stream ends by itself, one [`StreamMessage::Finished`]. See [`StreamMessage`] for the
    /// contract and an example.
    ///
    /// The stream is polled by a small task on this system's executor. It is kept across the
    /// actor's restarts (it feeds the next incarnation) and ends with the actor, or when
    /// [`StreamHandle::cancel`] is called. It does not keep the
    /// actor alive. Attached to an actor whose mailbox has closed, the stream is dropped at
    /// once and the handle is inactive.
    pub fn attach_stream<A, MB, St>(&self, actor: &ActorRef<A, MB>, stream: St) -> StreamHandle
    where
        A: Actor,
        MB: Mailbox,
        St: Stream + Send + 'static,
        A::Message: From<StreamMessage<St::Item>>,
    {
        attach(
            actor.cell().clone(),
            &self.env.executor,
            stream,
            StreamOptions::KeepAcrossRestart,
        )
    }

    /// A [`Spawner`] of this system that gives each actor `mailbox`.
    pub fn spawner<MB: Mailbox>(&self, mailbox: MB) -> Spawner<E, MB, B> {
        Spawner::new(self.clone(), mailbox)
    }
}

impl<E, B> Clone for System<E, B> {
    fn clone(&self) -> Self {
        System {
            env: self.env.clone(),
        }
    }
}

impl<E: fmt::Debug, B: fmt::Debug> fmt::Debug for System<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("System")
            .field("executor", &self.env.executor)
            .field("broker", &self.env.broker)
            .finish()
    }
}
