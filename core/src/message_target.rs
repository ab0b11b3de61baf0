//! [`MessageTarget`]: what messages of one type can be sent to, whatever holds the address.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::error::{AskError, SendError, SendTimeoutError};
use crate::mailbox::Mailbox;
use crate::recipient::Recipient;
use crate::reply::Reply;
use crate::within::Within;

/// Something that takes messages of type [`Message`](MessageTarget::Message): a tell, an ask
/// built around a reply port, and an ask whose answer is a `Result`, each also with a timeout.
/// Each kind of address names its own errors.
///
/// It is what code generic over *how* an actor is reached is written against. The helper
/// traits that `#[actor]` generates (`AccountApi`: `account.deposit(5)`) are implemented for
/// every `MessageTarget` of the actor's message type, so the same `deposit(5)` works on:
///
/// | the target | its [`TellError`](MessageTarget::TellError) | its [`TellTimeoutError`](MessageTarget::TellTimeoutError) | its [`AskError<E>`](MessageTarget::AskError) |
/// | --- | --- | --- | --- |
/// | an [`ActorRef`] | [`SendError<M>`] | [`SendTimeoutError<M>`] | [`AskError<M, E>`] |
/// | a [`Recipient<M>`] of the actor's message type | [`SendError<M>`] | [`SendTimeoutError<M>`] | [`AskError<M, E>`] |
/// | a keyed actor's key, `keyed.at(key)` (the broker crate) | `KeyedError<M>` | `KeyedError<M>` | `KeyedAskError<M, E>` |
/// | a worker pool, `Pool` (the supervisor crate): the member its routing picks | [`SendError<M>`] | [`SendTimeoutError<M>`] | [`AskError<M, E>`] |
/// | an actor on another node, `RemoteActorRef<M>` (the nats crate; `M` a `RemoteProtocol`) | `RemoteError<M>` | `RemoteError<M>` | `RemoteAskError<M, E>` |
/// | one key of a group sharded across nodes, `sharded_ref.at(key)` (the nats crate) | `RemoteError<M>` | `RemoteError<M>` | `RemoteAskError<M, E>` |
/// | [`within(timeout)`](MessageTarget::within) of any of these | its `TellTimeoutError` | the same | its `AskError<E>` |
///
/// `E` is the handler's error type for [`ask_flat`](MessageTarget::ask_flat), and
/// [`Infallible`] for the other asks.
///
/// [`within(timeout)`](MessageTarget::within) is the same address with its sends and asks
/// bounded: `account.within(Duration::from_secs(1)).balance()` calls the generated helper with
/// a timeout, and fails with the address's own timeout error.
///
/// # Cost
///
/// None of its own: each implementation calls the address's own `tell`, `ask` or `ask_flat`,
/// statically dispatched, so a send through it is the same machine code as the direct call.
///
/// ```
/// use playhouse_core::{Actor, Context, Env, Handler, MessageTarget, Reply, System};
/// use std::convert::Infallible;
///
/// struct Counter(u64);
/// enum Msg { Add(u64), Get(Reply<u64>) }
/// impl Actor for Counter { type Message = Msg; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg { Msg::Add(n) => self.0 += n, Msg::Get(r) => { let _ = r.send(self.0); } }
///         Ok(())
///     }
/// }
///
/// /// Adds one and reads the count back, through any address of a counter.
/// async fn bump<T: MessageTarget<Message = Msg>>(counter: &T) -> Option<u64> {
///     counter.tell(Msg::Add(1)).await.ok()?;
///     counter.ask(Msg::Get).await.ok()
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let counter = system.spawn(Counter(0));
/// let recipient = counter.recipient::<Msg>();
/// playhouse_core::testing::block_on(async {
///     assert_eq!(bump(&counter).await, Some(1));
///     assert_eq!(bump(&recipient).await, Some(2));
/// });
/// ```
pub trait MessageTarget {
    /// The messages it takes.
    type Message: Send + 'static;
    /// What a [`tell`](MessageTarget::tell) that did not deliver fails with (it hands the
    /// message back).
    type TellError;
    /// What a [`tell_timeout`](MessageTarget::tell_timeout) that did not deliver fails with:
    /// the tell's reasons and the timeout (each handing the message back, as far as the
    /// address can).
    type TellTimeoutError;
    /// What an ask fails with; `E` is the handler's error of an
    /// [`ask_flat`](MessageTarget::ask_flat).
    type AskError<E>;

    /// Sends `msg`, by the address's own rules (for an [`ActorRef`]: it waits for room under
    /// `Block`, see [`ActorRef::tell`]).
    fn tell(&self, msg: Self::Message) -> impl Future<Output = Result<(), Self::TellError>> + Send;

    /// As [`tell`](MessageTarget::tell), but gives up after `timeout`, on the address's
    /// executor clock, when the message could not be handed over by then (a full `Block`
    /// mailbox; for a keyed actor, a key still activating), with the error's timeout (see
    /// [`ActorRef::tell_timeout`]). A send that needs no wait starts no timer.
    fn tell_timeout(
        &self,
        msg: Self::Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::TellTimeoutError>> + Send;

    /// Sends a request built around a fresh reply port and waits for the answer (see
    /// [`ActorRef::ask`]).
    fn ask<T, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send;

    /// As [`ask`](MessageTarget::ask), for a request whose answer is a `Result`: the handler's
    /// `Err(e)` arrives as the ask error's handler error (see [`ActorRef::ask_flat`]).
    fn ask_flat<T, E, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send;

    /// As [`ask`](MessageTarget::ask), but gives up after `timeout`, on the address's
    /// executor clock, with the ask error's timeout (see [`ActorRef::ask_timeout`]).
    fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send;

    /// As [`ask_flat`](MessageTarget::ask_flat), but gives up after `timeout`, as
    /// [`ask_timeout`](MessageTarget::ask_timeout) does.
    fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Self::AskError<E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send;

    /// This address with every send and ask bounded by `timeout`: its `tell`, `ask` and
    /// `ask_flat` are this address's `tell_timeout`, `ask_timeout` and `ask_flat_timeout`, so
    /// `#[actor]`'s helpers called on it time out
    /// (`account.within(Duration::from_secs(1)).balance()`). See [`Within`].
    fn within(&self, timeout: Duration) -> Within<'_, Self>
    where
        Self: Sized,
    {
        Within::new(self, timeout)
    }
}

impl<A: Actor, MB: Mailbox> MessageTarget for ActorRef<A, MB> {
    type Message = A::Message;
    type TellError = SendError<A::Message>;
    type TellTimeoutError = SendTimeoutError<A::Message>;
    type AskError<E> = AskError<A::Message, E>;

    #[inline]
    fn tell(&self, msg: Self::Message) -> impl Future<Output = Result<(), Self::TellError>> + Send {
        ActorRef::tell(self, msg)
    }

    #[inline]
    fn tell_timeout(
        &self,
        msg: Self::Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::TellTimeoutError>> + Send {
        ActorRef::tell_timeout(self, msg, timeout)
    }

    #[inline]
    fn ask<T, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        ActorRef::ask(self, make)
    }

    #[inline]
    fn ask_flat<T, E, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send,
    {
        ActorRef::ask_flat(self, make)
    }

    #[inline]
    fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        ActorRef::ask_timeout(self, make, timeout)
    }

    #[inline]
    fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Self::AskError<E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send,
    {
        ActorRef::ask_flat_timeout(self, make, timeout)
    }
}

impl<M: Send + 'static> MessageTarget for Recipient<M> {
    type Message = M;
    type TellError = SendError<M>;
    type TellTimeoutError = SendTimeoutError<M>;
    type AskError<E> = AskError<M, E>;

    #[inline]
    fn tell(&self, msg: Self::Message) -> impl Future<Output = Result<(), Self::TellError>> + Send {
        Recipient::tell(self, msg)
    }

    #[inline]
    fn tell_timeout(
        &self,
        msg: Self::Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::TellTimeoutError>> + Send {
        Recipient::tell_timeout(self, msg, timeout)
    }

    #[inline]
    fn ask<T, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        Recipient::ask(self, make)
    }

    #[inline]
    fn ask_flat<T, E, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send,
    {
        Recipient::ask_flat(self, make)
    }

    #[inline]
    fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        Recipient::ask_timeout(self, make, timeout)
    }

    #[inline]
    fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Self::AskError<E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send,
    {
        Recipient::ask_flat_timeout(self, make, timeout)
    }
}
