//! What a handler can do besides handling: reach itself, stop, spawn, schedule.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::actor::{Actor, Handler};
use crate::actor_ref::{ActorRef, CellOf};
use crate::cell::ActorId;
use crate::env::{Env, SpawnEnv, Wiring};
use crate::error::SendError;
use crate::executor::Executor;
use crate::link::{Down, Exit, Monitor};
use crate::mailbox::{Block, Bounded, Mailbox};
use crate::observer::ObservedEvent;
use crate::spawn::spawn_in;
use crate::stream::{StreamHandle, StreamMessage, StreamOptions, attach};
use crate::sync::Arc;
use crate::system::System;
use crate::timer::{TimerHandle, start_timer};
use std::sync::Arc as StdArc;

type MailboxOf<V> = <V as Env>::Mailbox;

/// [`Context::tracking`]: this incarnation started a timer.
const TIMERS: u8 = 1;
/// [`Context::tracking`]: this incarnation attached a stream that ends with it.
const STREAMS: u8 = 2;

/// The actor's view of itself and its surroundings, passed to every handler and hook.
///
/// Generic over the [`Env`] the actor was spawned into, so that [`myself`](Context::myself) is a
/// fully typed reference and [`spawn`](Context::spawn) runs on the same executor with the same
/// broker. An actor whose [`Handler`] names a concrete environment gets concrete types here: it
/// can keep [`myself`](Context::myself) in a field, and call its broker's and executor's own
/// methods.
///
/// What ties an actor to one runtime: nothing here does. [`sleep`](Context::sleep),
/// [`run_later`](Context::run_later) and [`run_interval`](Context::run_interval) use the
/// actor's executor, whatever it is. A handler that calls a runtime's own API
/// (`tokio::time::sleep`, `tokio::spawn`, `smol::Timer`) runs only on that runtime.
pub struct Context<A: Actor, V: Env> {
    pub(crate) cell: Arc<CellOf<A, MailboxOf<V>>>,
    /// The executor and broker, shared with every actor of the same spawner.
    env: StdArc<SpawnEnv<V::Executor, V::Broker>>,
    incarnation: u32,
    pub(crate) stop_requested: bool,
    /// Set once the actor's task has reported its final exit (kept here, in the context's
    /// padding, rather than in a field of its own in every task).
    pub(crate) finished: bool,
    /// Set once the receiver saw the mailbox closed and empty, so that the final discard need
    /// not lock it again to find nothing.
    pub(crate) drained: bool,
    /// What this incarnation started that ends with it ([`TIMERS`], [`STREAMS`]), so that
    /// ending an incarnation without any does not lock the cell to cancel none. One byte for
    /// both: a second `bool` would take the context past 24 bytes, in every actor's task.
    tracking: u8,
    _env: PhantomData<fn() -> V>,
}

impl<A: Actor, V: Env> Context<A, V> {
    pub(crate) fn new(
        cell: Arc<CellOf<A, MailboxOf<V>>>,
        env: StdArc<SpawnEnv<V::Executor, V::Broker>>,
    ) -> Self {
        Context {
            cell,
            env,
            incarnation: 1,
            stop_requested: false,
            finished: false,
            drained: false,
            tracking: 0,
            _env: PhantomData,
        }
    }

    /// A strong reference to this actor.
    ///
    /// Holding it in the actor itself keeps the actor alive until it stops itself or is stopped.
    pub fn myself(&self) -> ActorRef<A, MailboxOf<V>> {
        if crate::faults::enabled(crate::faults::Fault::MyselfUncounted) {
            return ActorRef::from_counted(self.cell.clone());
        }
        ActorRef::new_strong(&self.cell)
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// Which incarnation this is: 1 for the first, +1 for each restart behind the same
    /// reference.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Stops this actor after the current handler returns, with [`ExitReason::Normal`](crate::ExitReason::Normal).
    /// Messages still queued are discarded (reply ports in them resolve with
    /// `NoReply::Stopped`) unless a restart policy starts a new incarnation, which gets them.
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// Fails this incarnation with `error` once the current handler returns, as a handler that
    /// returns `Err(error)` does: the `stopped` hook sees [`ExitReason::Failed`](crate::ExitReason::Failed),
    /// and the restart policy or supervisor decides what follows (a `Transient` child is
    /// restarted); an actor without one ends with that reason. What is queued stays for the
    /// next incarnation, or is discarded if none follows. Called from `started`, the
    /// incarnation ends before its first message.
    ///
    /// This is how a handler fails its actor when its return value answers the caller instead:
    /// an `#[actor]` method returning `Result<T, E>` sends its `Err` to the asker, and the actor
    /// goes on.
    ///
    /// ```
    /// use playhouse_core::testing::{ThreadExecutor, block_on};
    /// use playhouse_core::{Actor, Context, Env, ExitReason, Handler, Reply, System};
    ///
    /// /// Answers each line's number to the asker; a line that is not a number fails the parser.
    /// struct Parser;
    /// impl Actor for Parser { type Message = (String, Reply<Option<u64>>); type Error = std::num::ParseIntError; }
    /// impl<V: Env> Handler<V> for Parser {
    ///     async fn handle(&mut self, (line, reply): (String, Reply<Option<u64>>), ctx: &mut Context<Self, V>)
    ///         -> Result<(), std::num::ParseIntError> {
    ///         match line.parse::<u64>() {
    ///             Ok(n) => { let _ = reply.send(Some(n)); }
    ///             Err(e) => { let _ = reply.send(None); ctx.fail(e); }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// let parser = System::with_broker(ThreadExecutor, InMemoryBroker::new()).spawn(Parser);
    /// block_on(async {
    ///     assert_eq!(parser.ask(|r| ("7".into(), r)).await.unwrap(), Some(7));
    ///     assert_eq!(parser.ask(|r| ("seven".into(), r)).await.unwrap(), None); // answered, then failed
    ///     let reason = parser.wait().await;
    ///     assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
    ///     assert_eq!(reason.to_string(), "failed: invalid digit found in string");
    /// });
    /// ```
    pub fn fail(&mut self, error: A::Error) {
        self.cell
            .request_restart(false, crate::ExitReason::failed(error));
    }

    /// The executor running this actor.
    ///
    /// Concrete when the actor's [`Handler`] names its executor; generic otherwise.
    pub fn executor(&self) -> &V::Executor {
        &self.env.executor
    }

    /// The broker this actor talks to: the one of the [`System`] it was spawned from, shared
    /// with every other actor of that system.
    ///
    /// Its registry works from any handler through [`MessageBroker`](crate::MessageBroker)'s
    /// methods; an actor whose [`Handler`] names its broker gets that broker's own type here.
    pub fn broker(&self) -> &V::Broker {
        &self.env.broker
    }

    /// The system this actor was spawned from: the same executor and broker, to spawn actors
    /// with any mailbox or to hand to other code.
    pub fn system(&self) -> System<V::Executor, V::Broker> {
        System::from_env(self.env.clone())
    }

    /// Spawns another actor in the same system (same executor, same broker) with the default
    /// mailbox (`Bounded<Block>`, capacity 256).
    pub fn spawn<B>(&self, actor: B) -> ActorRef<B>
    where
        B: Handler<Wiring<Bounded<Block>, V::Executor, V::Broker>>,
    {
        self.spawn_with(actor, Bounded::<Block>::default())
    }

    /// Spawns another actor in the same system with the given mailbox.
    pub fn spawn_with<B, MB>(&self, actor: B, mailbox: MB) -> ActorRef<B, MB>
    where
        B: Handler<Wiring<MB, V::Executor, V::Broker>>,
        MB: Mailbox,
    {
        spawn_in::<B, Wiring<MB, V::Executor, V::Broker>, _>(
            actor,
            &mailbox,
            &self.env,
            crate::spawn::NoRestart,
        )
    }

    /// Monitors `target`: when it ends, this actor receives one [`Down`] message with its id,
    /// the monitor's number and the exit reason (at once if it has already ended). Exactly
    /// once per monitor, unless [`Monitor::demonitor`] takes it back first. Monitoring does not
    /// keep `target` alive and does not tie the two actors' fates: see [`link`](Context::link)
    /// for that. Several monitors of one target are independent.
    ///
    /// ```
    /// use playhouse_core::{Actor, ActorRef, Context, Down, Env, Handler, System};
    /// use std::convert::Infallible;
    ///
    /// struct Worker;
    /// impl Actor for Worker { type Message = (); type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Worker {
    ///     async fn handle(&mut self, _: (), ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         ctx.stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// enum WatchMsg { Watch(ActorRef<Worker>), Down(Down), Seen(playhouse_core::Reply<usize>) }
    /// impl From<Down> for WatchMsg { fn from(d: Down) -> Self { WatchMsg::Down(d) } }
    ///
    /// struct Watcher(usize);
    /// impl Actor for Watcher { type Message = WatchMsg; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Watcher {
    ///     async fn handle(&mut self, msg: WatchMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         match msg {
    ///             WatchMsg::Watch(worker) => { ctx.monitor(&worker); }
    ///             WatchMsg::Down(down) => { assert!(down.reason.is_normal()); self.0 += 1; }
    ///             WatchMsg::Seen(reply) => { let _ = reply.send(self.0); }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// playhouse_core::testing::block_on(async {
    ///     let watcher = system.spawn(Watcher(0));
    ///     let worker = system.spawn(Worker);
    ///     watcher.tell(WatchMsg::Watch(worker.clone())).await.unwrap();
    ///     worker.tell(()).await.unwrap();
    ///     worker.wait().await;
    ///     // The Down is queued before the watcher's next message is handled:
    ///     while watcher.ask(WatchMsg::Seen).await.unwrap() == 0 {}
    /// });
    /// ```
    pub fn monitor<B: Actor, MB: Mailbox>(&self, target: &ActorRef<B, MB>) -> Monitor
    where
        A::Message: From<Down>,
    {
        crate::link::monitor(target.cell(), &self.cell)
    }

    /// Links this actor with `other`, both ways: when either ends abnormally (an error, a
    /// panic, a kill), the other's running incarnation ends with the same reason (its
    /// supervisor or restart policy decides what follows; without one it ends), unless it
    /// [traps exits](Context::trap_exit), in which case it receives an [`Exit`] message
    /// instead. A normal end reaches only an actor that traps exits. If `other` has already
    /// ended, its signal arrives at once. Linking twice is one link; linking to itself does
    /// nothing.
    pub fn link<B: Actor, MB: Mailbox>(&self, other: &ActorRef<B, MB>) {
        crate::link::link(&self.cell, other.cell());
    }

    /// Removes the link with `other`: `true` if there was one. Once this returns, no exit
    /// signal of `other` acts on this actor through it (an [`Exit`] already queued stays).
    pub fn unlink<B: Actor, MB: Mailbox>(&self, other: &ActorRef<B, MB>) -> bool {
        crate::link::unlink(&self.cell, other.cell())
    }

    /// Traps exits (`true`) or stops trapping them (`false`): while trapping, a linked actor's
    /// end arrives as an [`Exit`] message, whatever its reason, and never ends this actor's
    /// incarnation. The setting belongs to the actor and outlives restarts.
    pub fn trap_exit(&self, trap: bool)
    where
        A::Message: From<Exit>,
    {
        let make: fn(Exit) -> A::Message = A::Message::from;
        self.cell
            .set_trap(trap.then(|| Box::new(make) as Box<dyn std::any::Any + Send>));
    }

    /// `true` while this actor traps exits.
    pub fn traps_exits(&self) -> bool {
        self.cell.traps_exits()
    }

    /// Sends `msg` to this actor without waiting: it is handled after the messages already
    /// queued. A handler cannot wait for room in its own mailbox (only it could make room), so
    /// this never waits.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] with the message when the mailbox is full (any bounded strategy but
    /// the drop ones, which drop and count as usual); [`SendError::Closed`] once the actor is
    /// stopping.
    pub fn notify(&self, msg: A::Message) -> Result<(), SendError<A::Message>> {
        self.cell.queue.try_send(msg)
    }

    /// A future that completes after `duration`, on this actor's executor.
    ///
    /// Use it rather than a runtime's own sleep (`tokio::time::sleep` panics outside a Tokio
    /// runtime): it works on every executor. While a handler sleeps the actor handles nothing
    /// else; to be told later instead, use [`run_later`](Context::run_later).
    pub fn sleep(&self, duration: Duration) -> <V::Executor as Executor>::Sleep {
        self.sleep_until(deadline_after(self.now(), duration))
    }

    /// The current time on this actor's executor's clock ([`Executor::now`]): what
    /// [`sleep_until`](Context::sleep_until) deadlines are measured against.
    pub fn now(&self) -> Instant {
        self.env.executor.now()
    }

    /// A future that completes at `deadline` (at once if it has passed), on this actor's
    /// executor.
    pub fn sleep_until(&self, deadline: Instant) -> <V::Executor as Executor>::Sleep {
        self.env.executor.sleep_until(deadline)
    }

    /// Sends `msg` to this actor after `delay`, unless cancelled first. The timer does not keep
    /// the actor alive and is cancelled when this incarnation ends (as its message loop ends,
    /// before `stopped` runs). Dropping the handle does not cancel it.
    ///
    /// The message goes in by the mailbox's strategy: a full `Block` mailbox holds it until
    /// there is room, and a full `Reject` mailbox refuses it, which drops it, counted in
    /// [`ActorRef::dropped_count`](crate::ActorRef::dropped_count) and told to an observer as
    /// `Dropped` (the timer has nobody to hand it back to).
    ///
    /// A message that never goes in is dropped by the timer: a reply port inside resolves with
    /// [`NoReply::Stopped`](crate::NoReply::Stopped) when the incarnation or the actor ended
    /// first, and with `NoReply::Dropped` when the handle's [`cancel`](TimerHandle::cancel)
    /// stopped it.
    ///
    /// # Panics
    ///
    /// If the executor cannot time, as a Tokio runtime built without `enable_time`: the timer's
    /// first sleep is made here, so the panic ends the handler (and the actor, with
    /// `ExitReason::Panicked`) rather than leave a timer that never fires.
    pub fn run_later(&mut self, delay: Duration, msg: A::Message) -> TimerHandle {
        let mut msg = Some(msg);
        let handle = start_timer::<A::Message, _, V::Executor, _>(
            self.cell.clone(),
            self.env.executor.clone(),
            deadline_after(self.now(), delay),
            None,
            move || msg.take(),
        );
        self.track(handle)
    }

    /// Sends `make()` to this actor every `period` (first after one period), until cancelled or
    /// until this incarnation ends. A tick that falls due late (the timer's task was held up,
    /// or a full `Block` mailbox kept it waiting) is not made up for: the next tick is one
    /// period after the late one. Each tick goes in by the mailbox's strategy, whether or not
    /// the actor has handled the last one: a full `Block` mailbox holds the timer back until
    /// there is room, a full `Reject` mailbox refuses the tick, which is dropped and counted
    /// in [`ActorRef::dropped_count`](crate::ActorRef::dropped_count) (the timer goes on),
    /// and an `Unbounded` mailbox takes every tick, so an actor slower than its timer there
    /// falls ever further behind. [`TimerHandle::cancel`] stops the ticks still to come, not
    /// those already queued. A zero `period` is taken as one millisecond; a period shorter than
    /// the timer's own turn makes it yield to the executor between ticks, never hold its
    /// thread. The ticks are as fine as the executor's timer: Tokio's rounds each deadline up
    /// to its next millisecond, so there a period near or below a millisecond ticks less often
    /// than it says.
    ///
    /// `make` is the actor's code run on the timer's task. If it panics, the timer ends
    /// ([`TimerHandle::is_active`] turns `false`) and the actor is stopped with
    /// `ExitReason::Panicked("the run_interval closure panicked: <message>")`: like
    /// [`ActorRef::stop`], what is already queued is handled first, and no restart follows.
    ///
    /// # Panics
    ///
    /// As [`run_later`](Context::run_later), if the executor cannot time.
    pub fn run_interval<F>(&mut self, period: Duration, mut make: F) -> TimerHandle
    where
        F: FnMut() -> A::Message + Send + 'static,
    {
        let period = if period.is_zero() {
            Duration::from_millis(1)
        } else {
            period
        };
        let handle = start_timer::<A::Message, _, V::Executor, _>(
            self.cell.clone(),
            self.env.executor.clone(),
            deadline_after(self.now(), period),
            Some(period),
            move || Some(make()),
        );
        self.track(handle)
    }

    fn track(&mut self, handle: TimerHandle) -> TimerHandle {
        self.tracking |= TIMERS;
        self.cell.track_timer(handle.clone());
        handle
    }

    fn cancel_timers(&mut self) {
        if self.tracking & TIMERS != 0 {
            self.tracking &= !TIMERS;
            self.cell.cancel_timers();
        }
    }

    /// `true` if this actor's system has an observer.
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        self.env.observer.is_some()
    }

    /// Tells the system's observer (if it has one) of `event` about this actor: for an actor
    /// that does something the runtime cannot see, as a supervisor reports its escalation
    /// ([`ObservedEvent::Escalated`]). Does nothing in a system without an observer.
    pub fn observe(&self, event: &ObservedEvent<'_>) {
        if self.observed() {
            self.cell.observe(event);
        }
    }

    /// Attaches `stream` to this actor: its items arrive one at a time as
    /// [`StreamMessage::Item`], in FIFO order with the other messages, each pulled from the
    /// stream only once the handler has taken the one before (backpressure); then, if the
    /// stream ends by itself, one [`StreamMessage::Finished`]. The stream is polled by a small
    /// task on this actor's executor; see [`StreamMessage`] for the whole contract (room in a
    /// full mailbox, cancellation, panics).
    ///
    /// The stream ends with this incarnation (it is dropped when the incarnation ends, so a
    /// restart's `started` attaches a fresh one, as with timers), when the actor ends, or when
    /// [`StreamHandle::cancel`] is called; for a stream that feeds the next incarnation too,
    /// use [`add_stream_with`](Context::add_stream_with). It does not keep the actor alive.
    ///
    /// ```
    /// use playhouse_core::{Actor, Context, Env, Handler, Reply, StreamMessage, System};
    /// use std::convert::Infallible;
    ///
    /// enum Msg {
    ///     Numbers(StreamMessage<u64>),
    ///     Sum(Reply<Option<u64>>),
    /// }
    ///
    /// impl From<StreamMessage<u64>> for Msg {
    ///     fn from(m: StreamMessage<u64>) -> Self {
    ///         Msg::Numbers(m)
    ///     }
    /// }
    ///
    /// /// Sums a stream it attaches itself; answers once the stream has finished.
    /// #[derive(Default)]
    /// struct Summer {
    ///     sum: u64,
    ///     done: bool,
    /// }
    ///
    /// impl Actor for Summer {
    ///     type Message = Msg;
    ///     type Error = Infallible;
    /// }
    ///
    /// impl<V: Env> Handler<V> for Summer {
    ///     async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         ctx.add_stream(futures::stream::iter(1..=10u64));
    ///         Ok(())
    ///     }
    ///
    ///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         match msg {
    ///             Msg::Numbers(StreamMessage::Item(n)) => self.sum += n.into_inner(),
    ///             Msg::Numbers(StreamMessage::Finished(_)) => self.done = true,
    ///             Msg::Sum(reply) => {
    ///                 let _ = reply.send(self.done.then_some(self.sum));
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// playhouse_core::testing::block_on(async {
    ///     let summer = system.spawn(Summer::default());
    ///     let sum = loop {
    ///         if let Some(sum) = summer.ask(Msg::Sum).await.unwrap() {
    ///             break sum;
    ///         }
    ///     };
    ///     assert_eq!(sum, 55);
    /// });
    /// ```
    pub fn add_stream<St>(&mut self, stream: St) -> StreamHandle
    where
        St: Stream + Send + 'static,
        A::Message: From<StreamMessage<St::Item>>,
    {
        self.add_stream_with(stream, StreamOptions::EndWithIncarnation)
    }

    /// [`add_stream`](Context::add_stream), with `options` saying whether the stream ends with
    /// this incarnation ([`StreamOptions::EndWithIncarnation`], what `add_stream` does) or is
    /// kept across restarts and ends with the actor ([`StreamOptions::KeepAcrossRestart`]).
    pub fn add_stream_with<St>(&mut self, stream: St, options: StreamOptions) -> StreamHandle
    where
        St: Stream + Send + 'static,
        A::Message: From<StreamMessage<St::Item>>,
    {
        if options == StreamOptions::EndWithIncarnation {
            self.tracking |= STREAMS;
        }
        attach(self.cell.clone(), &self.env.executor, stream, options)
    }

    /// Ends this incarnation's timers and streams and readies the context for the next one.
    pub(crate) fn end_incarnation(&mut self) {
        self.end_feeds();
        self.stop_requested = false;
    }

    /// Cancels this incarnation's timers and ends its streams: what would go on putting
    /// messages in the mailbox for it. Called as its message loop ends, before `stopped` runs
    /// (a timer due while `stopped` awaits would otherwise queue its message for the next
    /// incarnation), and again by [`end_incarnation`](Self::end_incarnation) for any that
    /// `stopped` started.
    pub(crate) fn end_feeds(&mut self) {
        if crate::faults::enabled(crate::faults::Fault::TimersOutliveIncarnation) {
            self.tracking &= !TIMERS;
        }
        self.cancel_timers();
        if self.tracking & STREAMS != 0 {
            self.tracking &= !STREAMS;
            self.cell.end_incarnation_streams();
        }
    }

    pub(crate) fn begin_next_incarnation(&mut self) {
        self.incarnation += 1;
    }
}

impl<A: Actor, V: Env> Drop for Context<A, V> {
    fn drop(&mut self) {
        self.cancel_timers();
    }
}

impl<A: Actor, V: Env> fmt::Debug for Context<A, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.cell.id)
            .field("incarnation", &self.incarnation)
            .field("stop_requested", &self.stop_requested)
            .finish()
    }
}

/// `now + delay`, saturating: a deadline too far to represent is taken as ~30 years away,
/// which means never for a running program (as `ask_timeout` treats an overflowing timeout).
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or_else(|| far_future(now))
}

fn far_future(now: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}
