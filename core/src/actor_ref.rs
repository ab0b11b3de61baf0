//! References to a running actor: strong ([`ActorRef`]) and weak ([`WeakActorRef`]).

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use crate::actor::Actor;
use crate::cell::{ActorCell, ActorId};
use crate::current_actor;
use crate::error::{AskError, SendError, SendTimeoutError};
use crate::executor::BoxSleep;
use crate::exit::ExitReason;
use crate::exit_wait::ExitWait;
use crate::link::{Down, Monitor};
use crate::mailbox::{Block, Bounded, CallerSpan, Mailbox, MessageMeta, Strategy};
use crate::reply::{Reply, reply_port};
use crate::sync::Arc;

pub(crate) type CellOf<A, MB> = ActorCell<<A as Actor>::Message, <MB as Mailbox>::Strategy>;

/// A cloneable, `Send + Sync` reference to an actor of type `A` with mailbox `MB`.
///
/// Sends go straight into the actor's mailbox queue: no boxing, no allocation, no `dyn`. The
/// actor stays alive while a strong reference exists; when the last one drops, the mailbox
/// closes, the actor handles what is queued and ends with [`ExitReason::Normal`].
///
/// ```
/// # use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
/// # use std::convert::Infallible;
/// # struct Counter(u64);
/// # enum Msg { Add(u64), Get(Reply<u64>) }
/// # impl Actor for Counter { type Message = Msg; type Error = Infallible; }
/// # impl<V: Env> Handler<V> for Counter {
/// #     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
/// #         match msg { Msg::Add(n) => self.0 += n, Msg::Get(r) => { let _ = r.send(self.0); } }
/// #         Ok(())
/// #     }
/// # }
/// # let executor = playhouse_core::testing::ThreadExecutor;
/// # futures::executor::block_on(async {
/// # use playhouse_broker::InMemoryBroker;
/// let counter = System::with_broker(executor, InMemoryBroker::new()).spawn(Counter(0));
/// counter.tell(Msg::Add(2)).await.unwrap();
/// counter.try_tell(Msg::Add(3)).unwrap();
/// assert_eq!(counter.ask(Msg::Get).await.unwrap(), 5);
///
/// counter.stop();
/// assert!(counter.wait().await.is_normal());
/// assert!(counter.tell(Msg::Add(1)).await.unwrap_err().is_closed());
/// # });
/// ```
pub struct ActorRef<A: Actor, MB: Mailbox = Bounded<Block>> {
    pub(crate) cell: Arc<CellOf<A, MB>>,
    _types: PhantomData<fn() -> (A, MB)>,
}

impl<A: Actor, MB: Mailbox> ActorRef<A, MB> {
    /// Wraps a cell whose strong count already accounts for this reference.
    pub(crate) fn from_counted(cell: Arc<CellOf<A, MB>>) -> Self {
        ActorRef {
            cell,
            _types: PhantomData,
        }
    }

    /// Makes a new strong reference to `cell`.
    pub(crate) fn new_strong(cell: &Arc<CellOf<A, MB>>) -> Self {
        cell.add_ref();
        Self::from_counted(cell.clone())
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// `true` while this thread is running this actor's handler or one of its hooks, that is,
    /// when called from the actor's own code (not from a task it spawned). An ask to the actor
    /// from there could only be answered after that code returns, which it never would:
    /// [`ask`](ActorRef::ask) checks this and fails with [`AskError::Deadlock`]; a layer that
    /// routes asks itself (the broker's keyed actors) checks it the same way.
    ///
    /// Cost: one thread-local read.
    #[inline]
    pub fn is_current(&self) -> bool {
        current_actor::is_running(self.cell.id)
    }

    /// Sends `msg`, obeying the mailbox's backpressure: under `Block` it waits for room; under
    /// `DropNewest`/`DropOldest` a full mailbox drops (and counts) a message and this returns
    /// `Ok`; under `Reject` a full mailbox fails with `Full`.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] with the message if the actor has stopped or is stopping (a send
    /// waiting for room fails this way when the actor stops); [`SendError::Full`] under `Reject`,
    /// and under `Block` when the actor tells itself from its own handler or hook and finds its
    /// mailbox full: the room could only be made once that code returns, so the send does not
    /// wait for it (as [`Context::notify`](crate::Context::notify) does not).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub fn tell(
        &self,
        msg: A::Message,
    ) -> crate::mailbox::SendFuture<'_, A::Message, MB::Strategy> {
        self.cell.queue.send(msg)
    }

    /// Sends `msg` without waiting; usable from sync code.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] if the actor has stopped; [`SendError::Full`] if the mailbox is full
    /// under `Block` or `Reject`. Both hand the message back. Under `Block`, room kept for
    /// senders that waited and were woken for it counts as taken: `try_tell` can fail `Full`
    /// while [`mailbox_len`](ActorRef::mailbox_len) is under the capacity, until they have
    /// come back (a waiting sender is never overtaken this way).
    pub fn try_tell(&self, msg: A::Message) -> Result<(), SendError<A::Message>> {
        self.cell.queue.try_send(msg)
    }

    /// Sends a request built around a fresh reply port and waits for the answer.
    ///
    /// `make` puts the port in the message, typically an enum variant: `actor.ask(Msg::Get)`.
    /// The ask never hangs: it resolves with the value, or with [`AskError::NoReply`] when the
    /// actor stops, fails or panics before answering or drops the port.
    ///
    /// With the `tracing` feature the request carries the span current when it is sent: the
    /// handler runs in a `handle` span that is its child (so do the other asks: `ask_flat`,
    /// `ask_timeout`, `ask_by`, `ask_within`). A [`tell`](ActorRef::tell) carries no span.
    ///
    /// # Errors
    ///
    /// `Closed`/`Full` hand the request back if it was not accepted; `NoReply` says why no answer
    /// will come; `Deadlock` hands it back when an actor asks itself from its own handler (the
    /// answer could only come after the handler returns).
    pub async fn ask<T, F>(&self, make: F) -> Result<T, AskError<A::Message>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> A::Message,
    {
        let (reply, rx) = reply_port();
        let request = make(reply);
        if current_actor::is_running(self.cell.id) {
            return Err(AskError::Deadlock(request));
        }
        let meta = <MB::Strategy as Strategy>::Meta::DEFAULT;
        // The span current at the send rides with the request (feature `tracing`).
        self.cell
            .queue
            .ask_with(request, meta, CallerSpan::current())
            .await?;
        rx.await.map_err(AskError::NoReply)
    }

    /// Like [`ask`](ActorRef::ask), for a request whose answer is a `Result`: the handler's
    /// `Err(e)` arrives as [`AskError::HandlerError`]`(e)`, so that the caller has one error to
    /// handle, not a `Result` inside a `Result`.
    ///
    /// ```
    /// # use playhouse_core::{Actor, AskError, Context, Env, Handler, Reply, System};
    /// # use std::convert::Infallible;
    /// struct Account(u64);
    /// enum Msg { Withdraw(u64, Reply<Result<u64, String>>) }
    /// impl Actor for Account { type Message = Msg; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Account {
    ///     async fn handle(&mut self, Msg::Withdraw(n, reply): Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         let _ = reply.send(if n <= self.0 { self.0 -= n; Ok(self.0) } else { Err("insufficient funds".into()) });
    ///         Ok(())
    ///     }
    /// }
    /// # use playhouse_broker::InMemoryBroker;
    /// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// # playhouse_core::testing::block_on(async {
    /// let account = system.spawn(Account(10));
    /// assert_eq!(account.ask_flat(|r| Msg::Withdraw(4, r)).await.unwrap(), 6);
    /// let err = account.ask_flat(|r| Msg::Withdraw(7, r)).await.unwrap_err();
    /// assert!(matches!(err, AskError::HandlerError(e) if e == "insufficient funds"));
    /// # });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ask`](ActorRef::ask), plus `HandlerError(e)` when the handler answered `Err(e)`.
    pub async fn ask_flat<T, E, F>(&self, make: F) -> Result<T, AskError<A::Message, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> A::Message,
    {
        match self.ask(make).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(AskError::HandlerError(e)),
            Err(e) => Err(e.map_handler_error(|never| match never {})),
        }
    }

    /// Like [`ask`](ActorRef::ask), but gives up after `timeout` with [`AskError::Timeout`]
    /// (holding the request if it was still waiting for room in a full `Block` mailbox).
    ///
    /// The timer comes from the actor's executor; this is the one send path that allocates (the
    /// type-erased sleep). A timeout of zero, or shorter than the timer's resolution, does not
    /// say "only if the answer comes at once": the ask gives up at the first poll that finds
    /// the timer over, which is most often before the actor has even run (on every executor
    /// playhouse ships); whether an answer ever wins that race depends on the executor's
    /// scheduling.
    ///
    /// An answer sent at the very moment the ask gives up may be accepted by the port (the
    /// handler's [`Reply::send`] returns `Ok`) and dropped unread as the ask returns
    /// `Timeout`: a one-shot port cannot close and look for a value in one step. A broker's
    /// [`request`](crate::MessageBroker::request) counts such an answer as a late reply
    /// ([`Request::counted`](crate::Request::counted)); here the answer's own `Drop` is the
    /// only place that sees it.
    ///
    /// # Errors
    ///
    /// As [`ask`](ActorRef::ask), plus `Timeout`.
    pub async fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, AskError<A::Message>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> A::Message,
    {
        let deadline = self.cell.sleeper.now().checked_add(timeout);
        let mut sleep = deadline.map(|d| self.cell.sleeper.sleep_until_boxed(d));
        let mut timed_out = |cx: &mut std::task::Context<'_>| match sleep.as_mut() {
            Some(s) => s.as_mut().poll(cx).is_ready(),
            None => false,
        };
        let (reply, mut rx) = reply_port();
        let request = make(reply);
        if current_actor::is_running(self.cell.id) {
            return Err(AskError::Deadlock(request));
        }
        let meta = <MB::Strategy as Strategy>::Meta::DEFAULT;
        let mut send = self
            .cell
            .queue
            .ask_with(request, meta, CallerSpan::current());
        let sent = poll_fn(|cx| {
            if let Poll::Ready(r) = Pin::new(&mut send).poll(cx) {
                return Poll::Ready(Some(r));
            }
            if timed_out(cx) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        match sent {
            None => return Err(AskError::Timeout(send.take_message())),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(())) => {}
        }
        poll_fn(|cx| {
            if let Poll::Ready(r) = Pin::new(&mut rx).poll(cx) {
                return Poll::Ready(r.map_err(AskError::NoReply));
            }
            if timed_out(cx) {
                return Poll::Ready(Err(AskError::Timeout(None)));
            }
            Poll::Pending
        })
        .await
    }

    /// [`ask_timeout`](ActorRef::ask_timeout) for a request whose answer is a `Result`, as
    /// [`ask_flat`](ActorRef::ask_flat): the handler's `Err(e)` arrives as
    /// [`AskError::HandlerError`]`(e)`.
    ///
    /// # Errors
    ///
    /// As [`ask_timeout`](ActorRef::ask_timeout), plus `HandlerError`.
    pub async fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, AskError<A::Message, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> A::Message,
    {
        AskError::flatten(self.ask_timeout(make, timeout).await)
    }

    /// Sends `msg` as [`tell`](ActorRef::tell) does, but waits for room in a full `Block`
    /// mailbox at most `timeout`; then fails with `SendTimeoutError::Timeout`, handing the
    /// message back. Under the other strategies it never waits and behaves as `tell`.
    ///
    /// The timeout is read on the actor's executor clock, as
    /// [`ask_timeout`](ActorRef::ask_timeout) reads it (so under a virtual clock in tests, it
    /// passes when the test moves the clock). `Duration::ZERO` does not wait: a full `Block`
    /// mailbox times out at once. A send from an actor's own handler or hook to its own full
    /// `Block` mailbox fails at once with `Full`, as [`tell`](ActorRef::tell) does: the room
    /// could only come after that code returns.
    ///
    /// # Cost
    ///
    /// As `tell` when the mailbox has room or the strategy does not wait. A send that must wait
    /// starts the executor's sleep, boxed (one allocation), as `ask_timeout` does.
    ///
    /// # Errors
    ///
    /// `SendTimeoutError::Closed` if the actor has stopped or is stopping (also when it stops
    /// while the send waits), `SendTimeoutError::Full` under `Reject` (and from the actor's own
    /// code, as above),
    /// `SendTimeoutError::Timeout` when the timeout passed first. Each hands the message back.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent (and passes on any
    /// wake-up it had been given to the next waiting sender).
    pub async fn tell_timeout(
        &self,
        msg: A::Message,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<A::Message>> {
        let mut send = self.cell.queue.send(msg);
        // Started on the first poll that finds no room, so a send with room costs no timer.
        let mut timer: Option<BoxSleep> = None;
        let mut waiting = false;
        poll_fn(|cx| {
            if let Poll::Ready(r) = Pin::new(&mut send).poll(cx) {
                return Poll::Ready(r.map_err(SendTimeoutError::from));
            }
            let expired = if waiting {
                timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready())
            } else {
                waiting = true;
                // A deadline past the clock's range never comes: no timer, wait for room.
                timer = self
                    .cell
                    .sleeper
                    .now()
                    .checked_add(timeout)
                    .map(|d| self.cell.sleeper.sleep_until_boxed(d));
                timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready())
            };
            if !expired {
                return Poll::Pending;
            }
            // A pending send still holds its message; it has none only once it has resolved.
            Poll::Ready(match send.take_message() {
                Some(m) => Err(SendTimeoutError::Timeout(m)),
                None => Ok(()),
            })
        })
        .await
    }

    /// Stops the actor gracefully: its mailbox stops accepting messages (waiting senders fail
    /// with `Closed`), it handles what was already queued, and ends with
    /// [`ExitReason::Shutdown`]. Returns at once; [`wait`](ActorRef::wait) for the end.
    ///
    /// A stop is final: an incarnation that fails or panics while it handles the queue ends
    /// the actor, without a restart, and the rest of the queue is discarded
    /// ([`stop_after_queue`](ActorRef::stop_after_queue) has a restart finish it; a `stop`
    /// after that one changes nothing).
    pub fn stop(&self) {
        self.cell.request_stop(ExitReason::Shutdown(None));
    }

    /// Like [`stop`](ActorRef::stop), with a reason that the exit carries.
    pub fn stop_with(&self, info: impl Into<std::sync::Arc<str>>) {
        self.cell
            .request_stop(ExitReason::Shutdown(Some(info.into())));
    }

    /// Stops the actor gracefully as [`stop`](ActorRef::stop) does, and has what is queued
    /// handled even if an incarnation crashes on the way.
    ///
    /// After a plain `stop`, an incarnation that fails or panics ends the actor for good: its
    /// restart policy or supervision is not asked, and what was still queued is discarded. So
    /// is the queue of an actor that is between two incarnations when the stop reaches it
    /// (waiting for a backoff, say). Here, an incarnation that ends with messages still queued
    /// (it failed or panicked, or ended in any other way its policy decides on, before or after
    /// this call) goes to its restart policy or supervision as if no stop had been asked for:
    /// a restart handles the rest of the queue, then the actor ends with
    /// [`ExitReason::Shutdown`] (or with the reason of a last incarnation that ended on its
    /// own just as the queue ran out). If the policy ends the actor, or restarts it with the
    /// queue discarded ([`Next::RestartDrained`](crate::Next::RestartDrained)), what is queued
    /// is discarded as after any end. Only the policy bounds the restarts: one that restarts
    /// an actor whose every incarnation ends at once (a `started` that fails or stops every
    /// time) goes on as it would without the stop.
    ///
    /// A [`kill`](ActorRef::kill) or a [`shutdown`](ActorRef::shutdown), before or after it,
    /// still ends the actor without a restart, its queue discarded. A plain `stop` after it
    /// changes nothing, and so does dropping the last reference. A restart that never comes
    /// (a backoff past the end of the clock, a factory that never finishes) holds the actor,
    /// and its queue, until a kill or a shutdown; once no strong reference is left to make
    /// one, for good. Under a supervisor, the restart that finishes the queue counts toward the
    /// restart intensity as any other, and the actor's end is then its child's exit, as after
    /// a plain `stop`.
    ///
    /// This is the stop a keyed set's passivation makes: a key's messages are never lost to
    /// a passivation that meets a crash. For an actor without a restart policy it is `stop`.
    ///
    /// ```
    /// use playhouse_core::{Actor, Context, Env, Handler, System, restart_on_failure};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// # use playhouse_core::testing::{ThreadExecutor, block_on};
    /// # use playhouse_broker::InMemoryBroker;
    ///
    /// /// Adds each number to a shared total; a zero makes it fail.
    /// struct Adder(Arc<AtomicU32>);
    /// impl Actor for Adder {
    ///     type Message = u32;
    ///     type Error = &'static str;
    /// }
    /// impl<V: Env> Handler<V> for Adder {
    ///     async fn handle(&mut self, n: u32, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
    ///         if n == 0 {
    ///             return Err("zero");
    ///         }
    ///         self.0.fetch_add(n, Ordering::SeqCst);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
    /// let total = Arc::new(AtomicU32::new(0));
    /// let shared = total.clone();
    /// let adder = system.spawn_restartable(
    ///     Adder(total.clone()),
    ///     restart_on_failure(move || Adder(shared.clone())),
    /// );
    /// block_on(async {
    ///     for n in [1, 0, 2, 3] {
    ///         adder.tell(n).await.unwrap();
    ///     }
    ///     adder.stop_after_queue();
    ///     adder.wait().await;
    /// });
    /// // The zero failed an incarnation; its restart handled 2 and 3, whenever the stop came.
    /// assert_eq!(total.load(Ordering::SeqCst), 6);
    /// ```
    pub fn stop_after_queue(&self) {
        self.cell
            .request_stop_after_queue(ExitReason::Shutdown(None));
    }

    /// Like [`stop_after_queue`](ActorRef::stop_after_queue), with a reason that the exit
    /// carries.
    pub fn stop_after_queue_with(&self, info: impl Into<std::sync::Arc<str>>) {
        self.cell
            .request_stop_after_queue(ExitReason::Shutdown(Some(info.into())));
    }

    /// Stops the actor as [`stop`](ActorRef::stop) does, but only if no message waits in its
    /// mailbox; returns whether it did. A message its handler is running does not count: it
    /// finishes, as under any graceful stop.
    ///
    /// The look and the stop are one step under the mailbox's lock, so a send racing it cannot
    /// slip in between: either the send is queued first (and this returns `false`), or it finds
    /// the mailbox closed (and gets its message back in `SendError::Closed`). That is what an
    /// idle passivation needs. A separate [`mailbox_len`](ActorRef::mailbox_len) check
    /// followed by `stop` can let a message in after the check, and an actor that is between
    /// two incarnations when the stop reaches it ends without handling its queue.
    ///
    /// On an actor already stopping or ended it changes nothing, and returns `true` when its
    /// mailbox holds nothing.
    ///
    /// ```
    /// # use playhouse_core::{Actor, Context, Env, Handler, System};
    /// # use playhouse_core::testing::{ThreadExecutor, block_on};
    /// # struct Idle;
    /// # impl Actor for Idle { type Message = (); type Error = std::convert::Infallible; }
    /// # impl<V: Env> Handler<V> for Idle {
    /// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// # use playhouse_broker::InMemoryBroker;
    /// let actor = System::with_broker(ThreadExecutor, InMemoryBroker::new()).spawn(Idle);
    /// block_on(async {
    ///     assert!(actor.stop_if_empty());
    ///     actor.wait().await;
    ///     assert!(actor.try_tell(()).is_err()); // closed
    /// });
    /// ```
    pub fn stop_if_empty(&self) -> bool {
        self.cell.request_stop_if_empty(ExitReason::Shutdown(None))
    }

    /// Like [`stop_if_empty`](ActorRef::stop_if_empty), with a reason that the exit carries.
    pub fn stop_if_empty_with(&self, info: impl Into<std::sync::Arc<str>>) -> bool {
        self.cell
            .request_stop_if_empty(ExitReason::Shutdown(Some(info.into())))
    }

    /// Names the actor for observers ([`ActorInfo::name`](crate::observer::ActorInfo)):
    /// events from now on carry it. A supervisor names each child after its child id. The
    /// name is not a registration (see the broker for lookups by name) and need not be unique.
    pub fn set_name(&self, name: impl Into<std::sync::Arc<str>>) {
        self.cell.set_name(name.into());
    }

    /// The name given with [`set_name`](ActorRef::set_name), if any.
    pub fn name(&self) -> Option<std::sync::Arc<str>> {
        self.cell.name()
    }

    /// Shuts the actor down after the message it is handling: its mailbox stops accepting
    /// messages (waiting senders fail with `Closed`), what is queued is discarded unhandled
    /// (reply ports in it resolve with `NoReply::Stopped`, counted in
    /// [`discarded_count`](ActorRef::discarded_count)), `stopped` runs, and the actor ends with
    /// [`ExitReason::Shutdown`]. No restart follows. Returns at once; [`wait`](ActorRef::wait)
    /// for the end.
    ///
    /// Between [`stop`](ActorRef::stop), which handles the backlog first, and
    /// [`kill`](ActorRef::kill), which does not let the running handler finish: the graceful
    /// end a supervisor asks of a child (its `Timeout` and `Infinity` shutdown policies), which
    /// must not wait behind 10,000 queued messages. A handler that never returns is not cut:
    /// follow with `kill` after a timeout, as a supervisor does.
    ///
    /// ```
    /// use playhouse_broker::InMemoryBroker;
    /// use playhouse_core::{Actor, Context, Env, ExitReason, Handler, System};
    /// use playhouse_core::testing::{block_on, ThreadExecutor};
    /// use std::convert::Infallible;
    ///
    /// struct Slow;
    /// impl Actor for Slow {
    ///     type Message = u32;
    ///     type Error = Infallible;
    /// }
    /// impl<V: Env> Handler<V> for Slow {
    ///     async fn handle(&mut self, _: u32, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
    /// let actor = system.spawn(Slow);
    /// actor.shutdown();
    /// assert!(matches!(block_on(actor.wait()), ExitReason::Shutdown(None)));
    /// assert!(actor.try_tell(1).is_err());
    /// ```
    pub fn shutdown(&self) {
        self.cell.request_shutdown(ExitReason::Shutdown(None));
    }

    /// Like [`shutdown`](ActorRef::shutdown), with a reason that the exit carries.
    pub fn shutdown_with(&self, info: impl Into<std::sync::Arc<str>>) {
        self.cell
            .request_shutdown(ExitReason::Shutdown(Some(info.into())));
    }

    /// Kills the actor at once, as Erlang's `exit(Pid, kill)`: nothing it does can delay or
    /// refuse it.
    ///
    /// If it is idle it ends now. If a handler (or `started`) is suspended, its future is dropped
    /// at that suspension point, even if what it waits for never completes; reply ports it held
    /// resolve with `NoReply::Stopped`. A handler that is running on a thread right now ends at its
    /// next suspension point or when it returns. `stopped` then runs with
    /// [`ExitReason::Killed`] (and is itself cut at its first suspension point), and what was
    /// queued is discarded (reply ports in it resolve with `NoReply::Stopped`, counted in
    /// [`discarded_count`](ActorRef::discarded_count)). No restart follows.
    pub fn kill(&self) {
        self.cell.request_kill();
    }

    /// Ends the actor's running incarnation, not the actor: `when` says whether after the
    /// message it is handling ([`IncarnationEnd::AfterCurrentMessage`]) or at once, cutting a
    /// suspended handler as [`kill`](ActorRef::kill) does ([`IncarnationEnd::Now`]). The
    /// incarnation ends with `reason` (its `stopped` hook sees it); the mailbox stays open and
    /// what is queued stays for the next incarnation. Whether one starts is up to the actor's
    /// restart policy or supervisor; an actor without one ends.
    ///
    /// This is what a supervisor's group restart does to a sibling. The request is withdrawn
    /// when the incarnation ends, and by [`withdraw_end_incarnation`](ActorRef::withdraw_end_incarnation).
    pub fn end_incarnation(&self, when: IncarnationEnd, reason: ExitReason) {
        self.cell
            .request_restart(matches!(when, IncarnationEnd::Now), reason);
    }

    /// Withdraws a request of [`end_incarnation`](ActorRef::end_incarnation) that the running
    /// incarnation has not acted on. A supervisor calls it before it starts a child's next
    /// incarnation, so that a request that raced the last one's own end does not end the next.
    pub fn withdraw_end_incarnation(&self) {
        self.cell.clear_restart_request();
    }

    /// Links this actor with `other` both ways, as
    /// [`Context::link`](crate::Context::link) does from inside an actor.
    pub fn link<B: Actor, MB2: Mailbox>(&self, other: &ActorRef<B, MB2>) {
        crate::link::link(&self.cell, &other.cell);
    }

    /// Removes the link between this actor and `other`: `true` if there was one.
    pub fn unlink<B: Actor, MB2: Mailbox>(&self, other: &ActorRef<B, MB2>) -> bool {
        crate::link::unlink(&self.cell, &other.cell)
    }

    /// Monitors this actor on behalf of `watcher`, which receives one [`Down`] when this actor
    /// ends, as [`Context::monitor`](crate::Context::monitor) does from inside the watcher.
    pub fn monitor_by<W: Actor, MB2: Mailbox>(&self, watcher: &ActorRef<W, MB2>) -> Monitor
    where
        W::Message: From<Down>,
    {
        crate::link::monitor(&self.cell, &watcher.cell)
    }

    pub(crate) fn cell(&self) -> &Arc<CellOf<A, MB>> {
        &self.cell
    }

    /// Waits until the actor has ended and returns why. Resolves at once if it already has.
    ///
    /// Any number of tasks may wait; a poll or a drop costs the same however many wait. When
    /// the actor ends, its [`on_exit`](ActorRef::on_exit) watchers run first, then the waiting
    /// tasks are woken; it resolves only once the watchers have run, even when first polled
    /// while they run, so whoever waits sees their effects (the actor's name unregistered, its
    /// monitors told).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it resolves unregisters it at once (see
    /// [`ExitWait`]), and a later `wait()` still resolves with the reason.
    pub fn wait(&self) -> ExitWait<'_> {
        ExitWait::new(&*self.cell)
    }

    /// Tasks waiting for this actor's end: [`wait`](ActorRef::wait) futures that have been
    /// polled and are neither resolved nor dropped. For tests.
    #[doc(hidden)]
    pub fn exit_waiter_count(&self) -> usize {
        self.cell.exit_waiter_count()
    }

    /// What this actor keeps for others until it ends: its links, the monitors of it and by
    /// it, and its `on_exit` watchers. For tests.
    #[doc(hidden)]
    pub fn exit_watcher_count(&self) -> usize {
        self.cell.exit_watcher_count()
    }

    /// `true` until the actor's last incarnation has ended.
    pub fn is_alive(&self) -> bool {
        self.cell.is_alive()
    }

    /// `true` while the mailbox takes messages. `false` once a stop, shutdown or kill was asked
    /// for (the actor may still be finishing: [`is_alive`](ActorRef::is_alive) is `true`
    /// until it has ended) and after the end: a send then fails with `Closed`. A restart in
    /// place keeps the mailbox open. Routing that must skip an actor on its way out (a pool's)
    /// asks this rather than `is_alive`.
    pub fn accepts_messages(&self) -> bool {
        !self.cell.queue.is_closed()
    }

    /// The exit reason, once the actor has ended.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.cell.exit_reason()
    }

    /// Calls `watcher` once when the actor ends (at once, on this thread, if it already has).
    /// Cold path: the watcher is boxed.
    ///
    /// Watchers run in the order they were registered, on the thread that records the end (the
    /// actor's task), and [`wait`](ActorRef::wait) resolves only after they all have: a task
    /// that waits for the end sees what its watchers did. A watcher should therefore be quick
    /// and must not block. ([`is_alive`](ActorRef::is_alive) turns `false` as the end is
    /// recorded, before the watchers run.) A watcher that panics is contained: the
    /// panic hook reports it, and every other watcher and waiter is still told (and the
    /// executor loses no thread). The panic does not reach the caller of `on_exit` either, even
    /// when the watcher runs at once.
    pub fn on_exit(&self, watcher: impl FnOnce(ActorId, &ExitReason) + Send + 'static) {
        self.cell.add_watcher(Box::new(watcher));
    }

    /// A reference that does not keep the actor alive.
    pub fn downgrade(&self) -> WeakActorRef<A, MB> {
        WeakActorRef {
            cell: self.cell.clone(),
            _types: PhantomData,
        }
    }

    /// Messages dropped by the mailbox's overflow strategy (`DropNewest`, `DropOldest`), and
    /// timer ticks that a full `Reject` mailbox refused.
    pub fn dropped_count(&self) -> u64 {
        self.cell.queue.dropped_count()
    }

    /// Messages accepted but discarded unhandled when the actor ended (kill, self-stop, or a
    /// final exit with a backlog).
    pub fn discarded_count(&self) -> u64 {
        self.cell.queue.discarded_count()
    }

    /// Messages waiting in the mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.cell.queue.len()
    }

    /// The mailbox's capacity (`usize::MAX` when unbounded).
    pub fn mailbox_capacity(&self) -> usize {
        self.cell.queue.capacity()
    }
}

impl<A: Actor, MB: Mailbox> Clone for ActorRef<A, MB> {
    fn clone(&self) -> Self {
        Self::new_strong(&self.cell)
    }
}

impl<A: Actor, MB: Mailbox> Drop for ActorRef<A, MB> {
    fn drop(&mut self) {
        if self.cell.release_ref() {
            self.cell.queue.close();
        }
    }
}

impl<A: Actor, MB: Mailbox> PartialEq for ActorRef<A, MB> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id
    }
}

impl<A: Actor, MB: Mailbox> Eq for ActorRef<A, MB> {}

impl<A: Actor, MB: Mailbox> std::hash::Hash for ActorRef<A, MB> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.cell.id.hash(state);
    }
}

impl<A: Actor, MB: Mailbox> fmt::Debug for ActorRef<A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef")
            .field("id", &self.cell.id)
            .field("actor", &std::any::type_name::<A>())
            .field("alive", &self.cell.is_alive())
            .finish()
    }
}

/// A reference that does not keep the actor alive; [`upgrade`](WeakActorRef::upgrade) it to send.
pub struct WeakActorRef<A: Actor, MB: Mailbox = Bounded<Block>> {
    cell: Arc<CellOf<A, MB>>,
    _types: PhantomData<fn() -> (A, MB)>,
}

impl<A: Actor, MB: Mailbox> WeakActorRef<A, MB> {
    /// A strong reference, if the actor is still alive and some strong reference still exists.
    pub fn upgrade(&self) -> Option<ActorRef<A, MB>> {
        if self.cell.try_add_ref() {
            Some(ActorRef::from_counted(self.cell.clone()))
        } else {
            None
        }
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// `true` until the actor's last incarnation has ended.
    pub fn is_alive(&self) -> bool {
        self.cell.is_alive()
    }

    /// Messages dropped by the mailbox's overflow strategy, as [`ActorRef::dropped_count`]:
    /// readable after the actor has ended (an exit watcher can fold it into a total).
    pub fn dropped_count(&self) -> u64 {
        self.cell.queue.dropped_count()
    }

    /// Messages accepted but discarded unhandled, as [`ActorRef::discarded_count`]: readable
    /// after the actor has ended (an exit watcher that holds this weak reference can tell
    /// whether the end lost messages).
    pub fn discarded_count(&self) -> u64 {
        self.cell.queue.discarded_count()
    }

    /// Waits until the actor has ended, without keeping it alive. As
    /// [`ActorRef::wait`], cancel safe: dropping the future unregisters it.
    pub fn wait(&self) -> ExitWait<'_> {
        ExitWait::new(&*self.cell)
    }
}

impl<A: Actor, MB: Mailbox> Clone for WeakActorRef<A, MB> {
    fn clone(&self) -> Self {
        WeakActorRef {
            cell: self.cell.clone(),
            _types: PhantomData,
        }
    }
}

impl<A: Actor, MB: Mailbox> fmt::Debug for WeakActorRef<A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakActorRef")
            .field("id", &self.cell.id)
            .field("alive", &self.cell.is_alive())
            .finish()
    }
}

/// When [`ActorRef::end_incarnation`] ends the running incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncarnationEnd {
    /// After the message being handled (at once if idle); its reply ports are answered as usual.
    AfterCurrentMessage,
    /// At once: a suspended handler or hook is cut at its suspension point, as by a kill (its
    /// reply ports resolve with `NoReply::Stopped`); one running on a thread right now ends at
    /// its next suspension point or when it returns.
    Now,
}
