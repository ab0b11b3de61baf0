//! [`Recipient<M>`]: a reference that names only the message it sends, not the actor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::time::Duration;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::cell::ActorId;
use crate::current_actor;
use crate::error::{AskError, SendError, SendTimeoutError};
use crate::exit_wait::ExitWait;
use crate::mailbox::{Mailbox, OnFull, Strategy};
use crate::reply::{Reply, reply_port};

type WaitingSend<'a, M> = Pin<Box<dyn Future<Output = Result<(), SendError<M>>> + Send + 'a>>;
type TimedSend<'a, M> = Pin<Box<dyn Future<Output = Result<(), SendTimeoutError<M>>> + Send + 'a>>;

/// What a [`Recipient`] needs of the reference it wraps, with the actor and mailbox types
/// erased.
trait ErasedRef<M>: Send + Sync {
    fn try_tell(&self, msg: M) -> Result<(), SendError<M>>;
    fn waits_when_full(&self) -> bool;
    fn tell_waiting(&self, msg: M) -> WaitingSend<'_, M>;
    fn tell_timeout(&self, msg: M, timeout: Duration) -> TimedSend<'_, M>;
    /// An ask's request, carrying its caller's span, waiting for room as `tell` does.
    #[cfg(feature = "tracing")]
    fn ask_send(&self, msg: M, caller: crate::mailbox::CallerSpan) -> WaitingSend<'_, M>;
    fn id(&self) -> ActorId;
    fn is_alive(&self) -> bool;
    fn stop(&self);
    fn wait(&self) -> ExitWait<'_>;
    /// The actor's executor clock, and a sleep on it (timed asks).
    fn now(&self) -> std::time::Instant;
    fn sleep_until(&self, deadline: std::time::Instant) -> crate::executor::BoxSleep;
}

/// The message handed back by a failed send, converted back from the actor's message type.
fn hand_back<A: Actor, M>(e: SendError<A::Message>) -> SendError<M>
where
    A::Message: TryInto<M>,
{
    match e {
        SendError::Closed(m) => SendError::Closed(back::<A, M>(m)),
        SendError::Full(m) => SendError::Full(back::<A, M>(m)),
    }
}

/// As [`hand_back`], for a timed send.
fn hand_back_timed<A: Actor, M>(e: SendTimeoutError<A::Message>) -> SendTimeoutError<M>
where
    A::Message: TryInto<M>,
{
    match e {
        SendTimeoutError::Closed(m) => SendTimeoutError::Closed(back::<A, M>(m)),
        SendTimeoutError::Full(m) => SendTimeoutError::Full(back::<A, M>(m)),
        SendTimeoutError::Timeout(m) => SendTimeoutError::Timeout(back::<A, M>(m)),
    }
}

/// The message a failed send hands back, as the `M` it was built from.
fn back<A: Actor, M>(m: A::Message) -> M
where
    A::Message: TryInto<M>,
{
    match m.try_into() {
        Ok(m) => m,
        Err(_) => panic!(
            "{}: its TryFrom did not give back the message its From built",
            std::any::type_name::<A::Message>()
        ),
    }
}

impl<A, MB, M> ErasedRef<M> for ActorRef<A, MB>
where
    A: Actor,
    MB: Mailbox,
    M: Send + 'static,
    A::Message: From<M> + TryInto<M>,
{
    fn try_tell(&self, msg: M) -> Result<(), SendError<M>> {
        ActorRef::try_tell(self, A::Message::from(msg)).map_err(hand_back::<A, M>)
    }

    fn waits_when_full(&self) -> bool {
        matches!(<MB::Strategy as Strategy>::ON_FULL, OnFull::Wait)
    }

    fn tell_waiting(&self, msg: M) -> WaitingSend<'_, M> {
        let send = self.tell(A::Message::from(msg));
        Box::pin(async move { send.await.map_err(hand_back::<A, M>) })
    }

    fn tell_timeout(&self, msg: M, timeout: Duration) -> TimedSend<'_, M> {
        let send = ActorRef::tell_timeout(self, A::Message::from(msg), timeout);
        Box::pin(async move { send.await.map_err(hand_back_timed::<A, M>) })
    }

    #[cfg(feature = "tracing")]
    fn ask_send(&self, msg: M, caller: crate::mailbox::CallerSpan) -> WaitingSend<'_, M> {
        use crate::mailbox::MessageMeta;
        let meta = <MB::Strategy as Strategy>::Meta::DEFAULT;
        let send = self
            .cell
            .queue
            .ask_with(A::Message::from(msg), meta, caller);
        Box::pin(async move { send.await.map_err(hand_back::<A, M>) })
    }

    fn id(&self) -> ActorId {
        ActorRef::id(self)
    }

    fn is_alive(&self) -> bool {
        ActorRef::is_alive(self)
    }

    fn stop(&self) {
        ActorRef::stop(self)
    }

    fn wait(&self) -> ExitWait<'_> {
        ActorRef::wait(self)
    }

    fn now(&self) -> std::time::Instant {
        self.cell.sleeper.now()
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> crate::executor::BoxSleep {
        self.cell.sleeper.sleep_until_boxed(deadline)
    }
}

/// A strong reference to some actor that takes messages built from `M`, whatever its type and
/// mailbox: a list of subscribers of different types, or a field that does not change when the
/// target's mailbox does.
///
/// Made from any [`ActorRef<A, MB>`](ActorRef) whose message type converts from `M` and back
/// (`A::Message: From<M> + TryInto<M>`; `M` itself qualifies), with
/// [`ActorRef::recipient`] or `Recipient::from`. Sends behave exactly as through the
/// `ActorRef` (same strategy, same errors, the message handed back as an `M`); like an
/// `ActorRef` it keeps the actor alive.
///
/// # Cost
///
/// One allocation to make it (cold). Each send is one indirect call to code monomorphized for
/// the actor, plus the conversion; `try_tell`, and `tell` to a mailbox with room, allocate
/// nothing. A `tell` that must wait for room in a full `Block` mailbox boxes its waiting future.
/// An `ask` allocates its reply port, as through an `ActorRef`. The benchmark `recipient` in
/// `benches/` compares both paths.
///
/// ```
/// use playhouse_core::mailbox::Unbounded;
/// use playhouse_core::{Actor, Context, Env, Handler, Recipient, Reply, System};
/// use std::convert::Infallible;
///
/// #[derive(Clone)]
/// struct Tick(u64);
///
/// struct Logger(Vec<u64>);
/// enum LoggerMsg { Tick(Tick), Dump(Reply<Vec<u64>>) }
/// impl From<Tick> for LoggerMsg { fn from(t: Tick) -> Self { LoggerMsg::Tick(t) } }
/// impl TryFrom<LoggerMsg> for Tick {
///     type Error = LoggerMsg;
///     fn try_from(m: LoggerMsg) -> Result<Tick, LoggerMsg> {
///         match m { LoggerMsg::Tick(t) => Ok(t), other => Err(other) }
///     }
/// }
/// impl Actor for Logger { type Message = LoggerMsg; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Logger {
///     async fn handle(&mut self, msg: LoggerMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             LoggerMsg::Tick(Tick(n)) => self.0.push(n),
///             LoggerMsg::Dump(r) => { let _ = r.send(self.0.clone()); }
///         }
///         Ok(())
///     }
/// }
///
/// struct Counter(u64);
/// impl Actor for Counter { type Message = Tick; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, Tick(n): Tick, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         self.0 += n;
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let logger = system.spawn_with(Logger(Vec::new()), Unbounded);
/// let counter = system.spawn(Counter(0));
/// // Two actor types, two mailbox types, one list.
/// let subscribers: Vec<Recipient<Tick>> = vec![logger.recipient(), counter.recipient()];
/// # playhouse_core::testing::block_on(async {
/// for s in &subscribers {
///     s.tell(Tick(7)).await.unwrap();
/// }
/// assert_eq!(logger.ask(LoggerMsg::Dump).await.unwrap(), vec![7]);
/// # });
/// ```
pub struct Recipient<M> {
    inner: StdArc<dyn ErasedRef<M>>,
}

impl<M: Send + 'static> Recipient<M> {
    /// Sends `msg` as [`ActorRef::tell`] does: under `Block` it waits for room, drop strategies
    /// drop and count, `Reject` fails with `Full`.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] or [`SendError::Full`], with the message: `Full` under `Reject`,
    /// and under `Block` when the actor tells itself from its own handler or hook and finds
    /// its mailbox full (as [`ActorRef::tell`]).
    ///
    /// # Panics
    ///
    /// If the actor's message type's `TryFrom` does not give back a message its `From<M>`
    /// built (two impls that disagree): the failed send could not hand the message back.
    pub async fn tell(&self, msg: M) -> Result<(), SendError<M>> {
        match self.inner.try_tell(msg) {
            Err(SendError::Full(msg)) if self.inner.waits_when_full() => {
                self.inner.tell_waiting(msg).await
            }
            done => done,
        }
    }

    /// Sends `msg` as [`ActorRef::tell_timeout`] does: under `Block` it waits for room at most
    /// `timeout` (read on the actor's executor clock), then hands the message back; the other
    /// strategies never wait.
    ///
    /// # Cost
    ///
    /// As [`tell`](Recipient::tell): nothing is allocated unless the mailbox is full under
    /// `Block`; then the waiting future and the executor's sleep are boxed.
    ///
    /// # Errors
    ///
    /// `SendTimeoutError::Closed`, `SendTimeoutError::Full` (under `Reject`, or from the
    /// actor's own code into its own full `Block` mailbox) or `SendTimeoutError::Timeout`, with
    /// the message.
    ///
    /// # Panics
    ///
    /// As [`tell`](Recipient::tell), if the actor's message type's `TryFrom` does not give back
    /// a message its `From<M>` built.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub async fn tell_timeout(&self, msg: M, timeout: Duration) -> Result<(), SendTimeoutError<M>> {
        match self.inner.try_tell(msg) {
            Err(SendError::Full(msg)) if self.inner.waits_when_full() => {
                self.inner.tell_timeout(msg, timeout).await
            }
            done => done.map_err(SendTimeoutError::from),
        }
    }

    /// Sends `msg` without waiting, as [`ActorRef::try_tell`].
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] or [`SendError::Full`], with the message.
    pub fn try_tell(&self, msg: M) -> Result<(), SendError<M>> {
        self.inner.try_tell(msg)
    }

    /// Sends a request built around a fresh reply port and waits for the answer, as
    /// [`ActorRef::ask`].
    ///
    /// With the `tracing` feature the request carries the asker's span to the handler, as
    /// through an `ActorRef`; when it does (a span is current, and the subscriber records the
    /// actor's `handle` spans), its send is boxed, as a `tell` that waits for room is.
    ///
    /// # Errors
    ///
    /// As [`ActorRef::ask`]: `Closed`/`Full`/`Deadlock` hand the request back, `NoReply` says
    /// why no answer will come.
    pub async fn ask<T, F>(&self, make: F) -> Result<T, AskError<M>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> M,
    {
        let (reply, rx) = reply_port();
        let request = make(reply);
        if current_actor::is_running(self.inner.id()) {
            return Err(AskError::Deadlock(request));
        }
        #[cfg(feature = "tracing")]
        {
            let caller = crate::mailbox::CallerSpan::current();
            if caller.is_carried() {
                self.inner.ask_send(request, caller).await?;
                return rx.await.map_err(AskError::NoReply);
            }
        }
        self.tell(request).await?;
        rx.await.map_err(AskError::NoReply)
    }

    /// As [`ActorRef::ask_flat`]: the handler's `Err(e)` arrives as
    /// [`AskError::HandlerError`]`(e)`.
    ///
    /// # Errors
    ///
    /// As [`ask`](Recipient::ask), plus `HandlerError`.
    pub async fn ask_flat<T, E, F>(&self, make: F) -> Result<T, AskError<M, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> M,
    {
        match self.ask(make).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(AskError::HandlerError(e)),
            Err(e) => Err(e.map_handler_error(|never| match never {})),
        }
    }

    /// Like [`ask`](Recipient::ask), but gives up after `timeout` (read on the actor's
    /// executor clock) with [`AskError::Timeout`], as [`ActorRef::ask_timeout`]: holding the
    /// request if it was still waiting for room in a full `Block` mailbox, `None` if the actor
    /// had it.
    ///
    /// # Cost
    ///
    /// As `ask`, plus the executor's sleep, boxed, while it waits for the answer (and for room,
    /// if it must). The request does not carry the asker's tracing span.
    ///
    /// # Errors
    ///
    /// As [`ask`](Recipient::ask), plus `Timeout`.
    pub async fn ask_timeout<T, F>(&self, make: F, timeout: Duration) -> Result<T, AskError<M>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> M,
    {
        let deadline = self.inner.now().checked_add(timeout);
        let (reply, mut rx) = reply_port();
        let request = make(reply);
        if current_actor::is_running(self.inner.id()) {
            return Err(AskError::Deadlock(request));
        }
        let Some(deadline) = deadline else {
            // Too long to add to the clock: no limit.
            self.tell(request).await?;
            return rx.await.map_err(AskError::NoReply);
        };
        let left = deadline.saturating_duration_since(self.inner.now());
        self.tell_timeout(request, left)
            .await
            .map_err(|e| match e {
                SendTimeoutError::Closed(m) => AskError::Closed(m),
                SendTimeoutError::Full(m) => AskError::Full(m),
                SendTimeoutError::Timeout(m) => AskError::Timeout(Some(m)),
            })?;
        let mut sleep = self.inner.sleep_until(deadline);
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(r) = Pin::new(&mut rx).poll(cx) {
                return std::task::Poll::Ready(r.map_err(AskError::NoReply));
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(Err(AskError::Timeout(None)));
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// [`ask_timeout`](Recipient::ask_timeout) for a request whose answer is a `Result`, as
    /// [`ask_flat`](Recipient::ask_flat).
    ///
    /// # Errors
    ///
    /// As [`ask_timeout`](Recipient::ask_timeout), plus `HandlerError`.
    pub async fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, AskError<M, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> M,
    {
        AskError::flatten(self.ask_timeout(make, timeout).await)
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.inner.id()
    }

    /// `true` until the actor's last incarnation has ended.
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }

    /// Stops the actor gracefully, as [`ActorRef::stop`].
    pub fn stop(&self) {
        self.inner.stop()
    }

    /// Waits until the actor has ended and returns why, as [`ActorRef::wait`] (cancel safe:
    /// dropping the future unregisters it).
    pub fn wait(&self) -> ExitWait<'_> {
        self.inner.wait()
    }
}

impl<A, MB, M> From<ActorRef<A, MB>> for Recipient<M>
where
    A: Actor,
    MB: Mailbox,
    M: Send + 'static,
    A::Message: From<M> + TryInto<M>,
{
    fn from(actor: ActorRef<A, MB>) -> Self {
        Recipient {
            inner: StdArc::new(actor),
        }
    }
}

impl<A: Actor, MB: Mailbox> ActorRef<A, MB> {
    /// A [`Recipient`] of this actor for messages of type `M` (often `A::Message` itself, or
    /// one variant's payload when the message type converts from it and back).
    pub fn recipient<M>(&self) -> Recipient<M>
    where
        M: Send + 'static,
        A::Message: From<M> + TryInto<M>,
    {
        Recipient::from(self.clone())
    }
}

impl<M> Clone for Recipient<M> {
    fn clone(&self) -> Self {
        Recipient {
            inner: self.inner.clone(),
        }
    }
}

impl<M> PartialEq for Recipient<M> {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id() == other.inner.id()
    }
}

impl<M> Eq for Recipient<M> {}

impl<M> std::hash::Hash for Recipient<M> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.id().hash(state);
    }
}

impl<M> fmt::Debug for Recipient<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recipient")
            .field("id", &self.inner.id())
            .field("message", &std::any::type_name::<M>())
            .field("alive", &self.inner.is_alive())
            .finish()
    }
}
