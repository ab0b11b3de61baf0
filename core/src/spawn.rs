//! Spawning actors onto an executor.

use std::fmt;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::broker::{InMemoryBroker, MessageBroker};
use crate::cell::ActorCell;
use crate::context::Context;
use crate::env::{Env, SpawnEnv, Wiring};
use crate::executor::Executor;
use crate::exit::ExitReason;
use crate::mailbox::{Block, Bounded, Mailbox};
use crate::runner::run_actor;
use crate::sync::Arc;
use std::sync::Arc as StdArc;

/// What happens when an incarnation ends on its own (not by `stop` or `kill`): return a fresh
/// actor to run a new incarnation behind the same reference and mailbox (queued messages survive),
/// or `None` to end the actor.
///
/// Supervisors build on this. Closures `FnMut(&ExitReason) -> Option<A>` implement it.
pub trait Restart<A>: Send + 'static {
    /// Decides, after an incarnation ended with `reason`, whether a new one starts.
    fn on_exit(&mut self, reason: &ExitReason) -> Option<A>;
}

/// Never restart: the first exit is final. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRestart;

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

/// Spawns actors on an executor with a chosen mailbox and broker.
///
/// ```
/// use playhouse_core::mailbox::{Bounded, DropOldest};
/// use playhouse_core::Spawner;
/// # use playhouse_core::{Actor, Context, Env};
/// # struct Sink;
/// # impl Actor for Sink {
/// #     type Message = u32; type Error = std::convert::Infallible;
/// #     async fn handle<V: Env>(&mut self, _: u32, _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # let executor = playhouse_core::testing::ThreadExecutor;
///
/// let spawner = Spawner::new(executor)
///     .mailbox(Bounded::<DropOldest>::with_capacity(16).unwrap());
/// let sink = spawner.spawn(Sink);
/// assert_eq!(sink.mailbox_capacity(), 16);
/// ```
pub struct Spawner<E, MB = Bounded<Block>, B = InMemoryBroker> {
    env: StdArc<SpawnEnv<E, B>>,
    mailbox: MB,
}

impl<E: Executor> Spawner<E> {
    /// A spawner for `executor`, with the default mailbox (`Bounded<Block>`, capacity 256) and
    /// a fresh [`InMemoryBroker`].
    pub fn new(executor: E) -> Self {
        Spawner {
            env: StdArc::new(SpawnEnv::new(executor, InMemoryBroker::default())),
            mailbox: Bounded::default(),
        }
    }
}

impl<E: Executor, MB: Mailbox, B: MessageBroker> Spawner<E, MB, B> {
    /// Uses `mailbox` for the actors spawned from now on.
    pub fn mailbox<MB2: Mailbox>(self, mailbox: MB2) -> Spawner<E, MB2, B> {
        Spawner {
            env: self.env,
            mailbox,
        }
    }

    /// Uses `broker` for the actors spawned from now on.
    pub fn broker<B2: MessageBroker>(self, broker: B2) -> Spawner<E, MB, B2> {
        Spawner {
            env: StdArc::new(SpawnEnv {
                executor: self.env.executor.clone(),
                broker,
                sleeper: self.env.sleeper.clone(),
            }),
            mailbox: self.mailbox,
        }
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.env.executor
    }

    /// The broker.
    pub fn broker_ref(&self) -> &B {
        &self.env.broker
    }

    /// Spawns `actor` and returns its reference at once; `started` runs on the actor's task.
    pub fn spawn<A: Actor>(&self, actor: A) -> ActorRef<A, MB> {
        self.spawn_restartable(actor, NoRestart)
    }

    /// Spawns `actor` with a [`Restart`] policy deciding, after each incarnation that ends on
    /// its own, whether a fresh instance takes over behind the same reference and mailbox.
    pub fn spawn_restartable<A: Actor, R: Restart<A>>(
        &self,
        actor: A,
        restart: R,
    ) -> ActorRef<A, MB> {
        spawn_in::<A, Wiring<MB, E, B>, R>(actor, &self.mailbox, &self.env, restart)
    }
}

impl<E, MB: Clone, B> Clone for Spawner<E, MB, B> {
    fn clone(&self) -> Self {
        Spawner {
            env: self.env.clone(),
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

/// Spawns `actor` on `executor` with the default mailbox (`Bounded<Block>`, capacity 256) and a
/// fresh broker. For many spawns, or another mailbox, use a [`Spawner`].
pub fn spawn<A: Actor, E: Executor>(executor: &E, actor: A) -> ActorRef<A> {
    Spawner::new(executor.clone()).spawn(actor)
}

pub(crate) fn spawn_in<A, V, R>(
    actor: A,
    mailbox: &V::Mailbox,
    env: &StdArc<SpawnEnv<V::Executor, V::Broker>>,
    restart: R,
) -> ActorRef<A, V::Mailbox>
where
    A: Actor,
    V: Env,
    R: Restart<A>,
{
    let cell = Arc::new(ActorCell::new(
        mailbox.queue::<A::Message>(),
        env.sleeper.clone(),
    ));
    let actor_ref = ActorRef::from_counted(cell.clone());
    let ctx = Context::<A, V>::new(cell, env.clone());
    env.executor.spawn(run_actor(actor, ctx, restart));
    actor_ref
}
