//! The `Actor` trait.

use std::future::Future;

use crate::context::Context;
use crate::env::Env;
use crate::exit::ExitReason;

/// An actor's protocol: the messages it handles and the error it may fail with. Its behaviour
/// is the [`Handler`] trait.
///
/// `Message` is the actor's whole protocol, usually an enum; requests that want an answer carry
/// a [`Reply`](crate::Reply) port (see [`ActorRef::ask`](crate::ActorRef::ask)).
/// [`Handler::handle`] is a native `async fn`: no `async_trait`, no boxed future. It may hold
/// `&mut self` across `.await`; handlers of one actor never overlap. The
/// [`#[actor]`](https://docs.rs/playhouse-macros) attribute of the `playhouse` facade writes
/// both impls, the message enum and typed ask helpers from plain methods.
///
/// # Lifecycle
///
/// An actor's task runs `started`, then `handle` for each message, then `stopped` with the
/// [`ExitReason`]. The loop ends when:
///
/// - the handler returns `Err` → [`ExitReason::Failed`];
/// - a handler or hook panics → [`ExitReason::Panicked`] (the panic is caught at the actor
///   boundary: the runtime, the sender and every other actor keep running);
/// - the actor calls [`Context::stop`] → [`ExitReason::Normal`] after the current message;
/// - someone calls [`ActorRef::stop`](crate::ActorRef::stop) → the queued messages are handled,
///   then [`ExitReason::Shutdown`];
/// - someone calls [`ActorRef::kill`](crate::ActorRef::kill) → [`ExitReason::Killed`] at once:
///   a handler still running is dropped at its next suspension point, and the queued messages
///   are discarded;
/// - the last strong [`ActorRef`](crate::ActorRef) is dropped → the queued messages are handled,
///   then [`ExitReason::Normal`].
///
/// `stopped` runs after every incarnation, whatever the reason (after a panic too, with the
/// state as the panic left it). If `started` fails, no message is handled.
///
/// # Example
///
/// ```
/// use playhouse_core::{Actor, Context, Env, Handler, Reply};
/// use std::convert::Infallible;
///
/// struct Counter(u64);
///
/// enum CounterMsg {
///     Add(u64),
///     Get(Reply<u64>),
/// }
///
/// impl Actor for Counter {
///     type Message = CounterMsg;
///     type Error = Infallible;
/// }
///
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, msg: CounterMsg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             CounterMsg::Add(n) => self.0 += n,
///             CounterMsg::Get(reply) => { let _ = reply.send(self.0); }
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Actor: Sized + Send + 'static {
    /// The messages this actor handles.
    type Message: Send + 'static;
    /// What a handler or hook fails with; ends the actor with [`ExitReason::Failed`], which
    /// keeps the error's message and `source()` chain.
    ///
    /// Any error type that converts into `Box<dyn Error + Send + Sync>` works: your own enum
    /// (anything that implements [`std::error::Error`]), `Box<dyn Error + Send + Sync>`,
    /// `anyhow::Error`, or [`Infallible`](std::convert::Infallible) for an actor that never
    /// fails.
    type Error: Into<BoxError> + Send + 'static;
}

/// A boxed error, what [`Actor::Error`] converts into when an actor fails.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How an [`Actor`] behaves in the environment `V` it was spawned into: its handler and its
/// lifecycle hooks.
///
/// `V` is an [`Env`]: the actor's mailbox strategy, executor and broker, as types. Most actors
/// implement it for every environment (`impl<V: Env> Handler<V> for MyActor`) and so run with
/// any mailbox, on any executor, with any broker. An actor that needs a concrete one names it,
/// and gets its concrete types from its context: with
/// `impl<E: Executor> Handler<Wiring<Unbounded, E, InMemoryBroker>> for MyActor`
/// ([`Wiring`](crate::Wiring)),
/// [`Context::myself`] is an `ActorRef<MyActor, Unbounded>` it can keep in a field and
/// [`Context::broker`] is the `InMemoryBroker` itself, as below.
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::mailbox::Unbounded;
/// use playhouse_core::{Actor, ActorRef, Context, Executor, Handler, MessageBroker, System, Wiring};
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// /// Counts down, one tick at a time, through a reference to itself that it keeps.
/// struct Countdown {
///     me: Option<ActorRef<Countdown, Unbounded>>,
///     left: u32,
/// }
///
/// impl Actor for Countdown {
///     type Message = ();
///     type Error = Infallible;
/// }
///
/// // Any executor, but this mailbox and this broker.
/// impl<E: Executor> Handler<Wiring<Unbounded, E, InMemoryBroker>> for Countdown {
///     async fn started(
///         &mut self,
///         ctx: &mut Context<Self, Wiring<Unbounded, E, InMemoryBroker>>,
///     ) -> Result<(), Infallible> {
///         let broker: &InMemoryBroker = ctx.broker(); // the concrete type
///         broker.register("countdown", &ctx.myself()).expect("a free name");
///         self.me = Some(ctx.myself()); // ActorRef<Countdown, Unbounded>
///         Ok(())
///     }
///
///     async fn handle(
///         &mut self,
///         _tick: (),
///         ctx: &mut Context<Self, Wiring<Unbounded, E, InMemoryBroker>>,
///     ) -> Result<(), Infallible> {
///         self.left -= 1;
///         if self.left == 0 {
///             ctx.stop();
///         } else if let Some(me) = &self.me {
///             ctx.sleep(Duration::from_millis(1)).await; // the actor's own executor's timer
///             me.try_tell(()).expect("room in an unbounded mailbox");
///         }
///         Ok(())
///     }
/// }
///
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let countdown = system.spawn_with(Countdown { me: None, left: 3 }, Unbounded);
/// countdown.try_tell(()).unwrap();
/// let reason = playhouse_core::testing::block_on(countdown.wait());
/// assert!(reason.is_normal());
/// ```
///
/// # Why two traits
///
/// The protocol ([`Actor`]: message and error types) is what references need, and it must not
/// depend on where the actor runs: an `ActorRef<A, MB>` names the actor and its mailbox, not
/// its executor. The behaviour depends on the environment, and only a trait parameter lets an
/// implementation choose between "any environment" and "this one": a method-level generic
/// (`fn handle<V: Env>`) cannot be narrowed by an implementation, so an actor could never store
/// its own reference or call its broker's own methods. Every instantiation is still
/// monomorphized: the runner, the mailbox and the handler compile to one concrete loop per
/// actor type and environment.
pub trait Handler<V: Env>: Actor {
    /// Handles one message.
    fn handle(
        &mut self,
        msg: Self::Message,
        ctx: &mut Context<Self, V>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Runs once per incarnation before the first message. An `Err` ends the incarnation with
    /// [`ExitReason::Failed`]. The default does nothing.
    fn started(
        &mut self,
        _ctx: &mut Context<Self, V>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Runs once per incarnation after the last message, told why it ended. The default does
    /// nothing.
    fn stopped(
        &mut self,
        _ctx: &mut Context<Self, V>,
        _reason: &ExitReason,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}
