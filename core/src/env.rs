//! The environment an actor was spawned into: its mailbox strategy, executor and broker, as types.

use std::fmt;
use std::marker::PhantomData;

use crate::broker::MessageBroker;
use crate::executor::Executor;
use crate::mailbox::Mailbox;

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
