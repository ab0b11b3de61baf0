//! The `Actor` trait.

use std::future::Future;

use crate::context::Context;
use crate::env::Env;
use crate::exit::ExitReason;

/// An actor: state that handles one message at a time from its mailbox.
///
/// `Message` is the actor's whole protocol, usually an enum; requests that want an answer carry
/// a [`Reply`](crate::Reply) port (see [`ActorRef::ask`](crate::ActorRef::ask)). `handle` is a
/// native `async fn`: no `async_trait`, no boxed future. It may hold `&mut self` across `.await`;
/// handlers of one actor never overlap.
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
/// - someone calls [`ActorRef::kill`](crate::ActorRef::kill) → [`ExitReason::Killed`] after the
///   current message; the queued ones are discarded;
/// - the last strong [`ActorRef`](crate::ActorRef) is dropped → the queued messages are handled,
///   then [`ExitReason::Normal`].
///
/// `stopped` runs after every incarnation, whatever the reason (after a panic too, with the
/// state as the panic left it). If `started` fails, no message is handled.
///
/// # Example
///
/// ```
/// use playhouse_core::{Actor, Context, Env, Reply};
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
///
///     async fn handle<V: Env>(&mut self, msg: CounterMsg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
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
    /// What a handler or hook fails with; ends the actor with [`ExitReason::Failed`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Handles one message.
    fn handle<V: Env>(
        &mut self,
        msg: Self::Message,
        ctx: &mut Context<Self, V>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Runs once per incarnation before the first message. An `Err` ends the incarnation with
    /// [`ExitReason::Failed`]. The default does nothing.
    fn started<V: Env>(
        &mut self,
        _ctx: &mut Context<Self, V>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }

    /// Runs once per incarnation after the last message, told why it ended. The default does
    /// nothing.
    fn stopped<V: Env>(
        &mut self,
        _ctx: &mut Context<Self, V>,
        _reason: &ExitReason,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}
