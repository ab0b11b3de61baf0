//! The environment an actor was spawned into: its mailbox strategy, executor and broker, as types.

use std::fmt;
use std::marker::PhantomData;

use crate::broker::MessageBroker;
use crate::executor::{Executor, SharedSleeper};
use crate::mailbox::Mailbox;
use crate::observer::SharedObserver;

/// The types an actor was spawned with: mailbox strategy, executor and broker.
///
/// Handlers are generic over it (`async fn handle<V: Env>(…, ctx: &mut Context<Self, V>)`), so
/// one actor type can be spawned with any mailbox on any executor while every instantiation is
/// monomorphized: the compiler sees the whole path. You never implement it; [`Wiring`] does.
pub trait Env: Send + Sync + 'static {
    /// The mailbox strategy.
    type Mailbox: Mailbox;
    /// The executor that runs the actor's task.
    type Executor: Executor;
    /// The broker its context talks to.
    type Broker: MessageBroker;
}

/// The one implementation of [`Env`]: a mailbox, an executor and a broker type, bundled.
#[allow(clippy::type_complexity)] // a marker: never built, only named
pub struct Wiring<MB, E, B>(PhantomData<fn() -> (MB, E, B)>);

impl<MB: Mailbox, E: Executor, B: MessageBroker> Env for Wiring<MB, E, B> {
    type Mailbox = MB;
    type Executor = E;
    type Broker = B;
}

impl<MB, E, B> fmt::Debug for Wiring<MB, E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Wiring")
    }
}

/// The values behind an [`Env`]: the executor and broker that every actor spawned by one
/// [`Spawner`](crate::Spawner) (and by those actors' contexts) shares, and the executor's timer
/// in type-erased form for the actors' cells.
///
/// Each actor's context holds one `Arc` of it rather than a clone of the executor and one of the
/// broker (and its cell a clone of the timer): every clone of a shared `Arc` is a write to one
/// cache line that all workers spawning and ending actors contend for, and the two parts took 8
/// more bytes in every actor's task.
pub(crate) struct SpawnEnv<E, B> {
    pub(crate) executor: E,
    pub(crate) broker: B,
    pub(crate) sleeper: SharedSleeper,
    /// The system's observer ([`System::with_observer`](crate::System::with_observer)).
    pub(crate) observer: Option<SharedObserver>,
}

impl<E: Executor, B: MessageBroker> SpawnEnv<E, B> {
    pub(crate) fn new(executor: E, broker: B) -> Self {
        SpawnEnv {
            sleeper: SharedSleeper::new(executor.clone()),
            executor,
            broker,
            observer: None,
        }
    }
}
