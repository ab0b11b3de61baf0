//! [`Within`]: an address whose sends and asks time out.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::message_target::MessageTarget;
use crate::reply::Reply;

/// An address ([`MessageTarget`]) with every send and ask bounded by a timeout: made by
/// [`MessageTarget::within`]. Its [`tell`](MessageTarget::tell), [`ask`](MessageTarget::ask)
/// and [`ask_flat`](MessageTarget::ask_flat) are the address's
/// [`tell_timeout`](MessageTarget::tell_timeout), [`ask_timeout`](MessageTarget::ask_timeout)
/// and [`ask_flat_timeout`](MessageTarget::ask_flat_timeout), with the address's own errors
/// (for an [`ActorRef`](crate::ActorRef),
/// [`SendTimeoutError::Timeout`](crate::SendTimeoutError::Timeout) and
/// [`AskError::Timeout`](crate::AskError::Timeout)), so the helpers that `#[actor]`
/// generates, called on it, give up in time. Its `TellError` is therefore the address's
/// `TellTimeoutError`. A send that finds room starts no timer.
///
/// It borrows the address: make it where it is used.
///
/// ```
/// use playhouse_core::{Actor, AskError, Context, Env, Handler, MessageTarget, Reply, System};
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// /// Never answers.
/// struct Sleepy;
/// impl Actor for Sleepy { type Message = Reply<u64>; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Sleepy {
///     async fn handle(&mut self, reply: Reply<u64>, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         std::future::pending::<()>().await;
///         drop(reply);
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let sleepy = system.spawn(Sleepy);
/// playhouse_core::testing::block_on(async {
///     let bounded = sleepy.within(Duration::from_millis(20));
///     let err = bounded.ask(|reply| reply).await.unwrap_err();
///     assert!(matches!(err, AskError::Timeout(None)));
/// });
/// ```
pub struct Within<'a, T> {
    target: &'a T,
    timeout: Duration,
}

impl<'a, T> Within<'a, T> {
    pub(crate) fn new(target: &'a T, timeout: Duration) -> Self {
        Within { target, timeout }
    }

    /// The address it bounds.
    pub fn target(&self) -> &'a T {
        self.target
    }

    /// The timeout of its sends and asks.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<T> Clone for Within<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Within<'_, T> {}

impl<T: MessageTarget + Sync> MessageTarget for Within<'_, T> {
    type Message = T::Message;
    type TellError = T::TellTimeoutError;
    type TellTimeoutError = T::TellTimeoutError;
    type AskError<E> = T::AskError<E>;

    /// The address's `tell_timeout`, with this timeout.
    #[inline]
    fn tell(&self, msg: Self::Message) -> impl Future<Output = Result<(), Self::TellError>> + Send {
        self.target.tell_timeout(msg, self.timeout)
    }

    /// The address's `tell_timeout`, with the timeout given here.
    #[inline]
    fn tell_timeout(
        &self,
        msg: Self::Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), Self::TellTimeoutError>> + Send {
        self.target.tell_timeout(msg, timeout)
    }

    /// The address's `ask_timeout`, with this timeout.
    #[inline]
    fn ask<R, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<R, Self::AskError<Infallible>>> + Send
    where
        R: Send,
        F: FnOnce(Reply<R>) -> Self::Message + Send,
    {
        self.target.ask_timeout(make, self.timeout)
    }

    /// The address's `ask_flat_timeout`, with this timeout.
    #[inline]
    fn ask_flat<R, E, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<R, Self::AskError<E>>> + Send
    where
        R: Send,
        E: Send,
        F: FnOnce(Reply<Result<R, E>>) -> Self::Message + Send,
    {
        self.target.ask_flat_timeout(make, self.timeout)
    }

    /// The address's `ask_timeout`, with the timeout given here.
    #[inline]
    fn ask_timeout<R, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, Self::AskError<Infallible>>> + Send
    where
        R: Send,
        F: FnOnce(Reply<R>) -> Self::Message + Send,
    {
        self.target.ask_timeout(make, timeout)
    }

    /// The address's `ask_flat_timeout`, with the timeout given here.
    #[inline]
    fn ask_flat_timeout<R, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, Self::AskError<E>>> + Send
    where
        R: Send,
        E: Send,
        F: FnOnce(Reply<Result<R, E>>) -> Self::Message + Send,
    {
        self.target.ask_flat_timeout(make, timeout)
    }
}

impl<T: fmt::Debug> fmt::Debug for Within<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Within")
            .field("target", self.target)
            .field("timeout", &self.timeout)
            .finish()
    }
}
