//! The actor task: incarnations over one mailbox, panics caught at the boundary, one final exit.
//!
//! It is one `async fn` with the whole loop inlined (nested async fns would each add a layer of
//! state to every actor's task), and panics are caught by a small pinned wrapper, not a boxed
//! future.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::actor::{Actor, BoxError, Handler};
use crate::broker::{DeadLetterKind, MessageBroker};
use crate::cell::{ActorCell, ActorId};
use crate::context::Context;
use crate::current_actor;
use crate::env::Env;
use crate::error::NoReply;
use crate::exit::ExitReason;
use crate::mailbox::{CallerSpan, Mailbox, MessageMeta, Queued, Receiver, Strategy};
use crate::observer::ObservedEvent;
use crate::reply::{
    TaskDropBegins, TaskDropEnds, begin_cut_drop, begin_panicked_drop, drop_each_with_cause,
    dropping_a_task, end_panicked_drop, forget_panic, with_drop_cause,
};
use crate::spawn::{Next, Supervision};

/// Messages handled back to back (without the mailbox running empty) before the task yields to
/// its executor.
const BUDGET: u32 = 128;

type ReceiverOf<A, V> = Receiver<<A as Actor>::Message, <<V as Env>::Mailbox as Mailbox>::Strategy>;
type MetaOf<V> = <<<V as Env>::Mailbox as Mailbox>::Strategy as Strategy>::Meta;
type QueuedOf<A, V> = Queued<<A as Actor>::Message, MetaOf<V>>;

/// Runs the actor until its final exit, then discards what is left in its mailbox and reports
/// the exit exactly once.
///
/// If the executor drops the task before that (runtime shutdown), every reply port the task
/// holds (in a suspended handler, in the actor's state, in the mailbox) reports
/// [`NoReply::Stopped`]: the actor ended while holding it ([`ActorTask`]).
///
/// A plain function returning an `async move` block rather than an `async fn`: the block's
/// captures are its only copy of the context and the actor (an `async fn` keeps its arguments
/// and the locals they are moved into side by side), so an idle actor's task stays small.
pub(crate) fn run_actor<A, V, R>(
    mut actor: A,
    ctx: Context<A, V>,
    restart: R,
) -> impl Future<Output = ()> + Send + 'static
where
    A: Handler<V>,
    V: Env,
    R: Supervision<A>,
{
    let mut task = Finalizer::<A, V, R> {
        policy: restart,
        cell: ctx.cell.clone(),
        ctx,
        rx: RxOrReason::Receiving(Receiver::default()),
    };
    ActorTask::new(async move {
        let reason = loop {
            // One incarnation: `started`, the message loop, `stopped`.
            let reason = 'incarnation: {
                // The awaited outcome is the first argument: one evaluated before the `.await`
                // would be kept across it, in every actor's task.
                if let Some(early) = started_outcome(
                    Guarded::new(&task.cell, actor.started(&mut task.ctx)).await,
                    &task.cell,
                ) {
                    break 'incarnation early;
                }
                tell_started(&mut task.policy, task.cell.id);
                if task.ctx.observed() {
                    task.observe_started();
                }
                let mut budget = BUDGET;
                loop {
                    // `ctx.stop()` from `started` or from the last handler: handle nothing more.
                    if task.ctx.stop_requested {
                        break 'incarnation ExitReason::Normal;
                    }
                    let Some((msg, caller)) = next_message(&mut task, &mut budget).await else {
                        break 'incarnation task.no_message_reason();
                    };
                    // The handler's start, for an observed actor only (the one branch an
                    // unobserved actor pays), kept in the cell: a local here would make every
                    // actor's task larger.
                    if task.ctx.observed() {
                        task.ctx.cell.mark_handling(task.ctx.now());
                    }
                    // The caller's span comes out of the closure in a `ManuallyDrop`, taken back
                    // in the call: a binding with drop glue stays in the task's state across the
                    // `.await` even once moved (8 bytes in every actor's task with the `tracing`
                    // feature; without it the span is zero-sized). Were the clock or the cell to
                    // panic in between, the span would be leaked rather than dropped.
                    match Guarded::new(
                        &task.cell,
                        handling(
                            &mut actor,
                            msg,
                            ManuallyDrop::into_inner(caller),
                            &mut task.ctx,
                        ),
                    )
                    .await
                    {
                        Outcome::Done(Ok(())) => {
                            if task.ctx.observed() {
                                task.observe_handled();
                            }
                        }
                        Outcome::Done(Err(e)) => {
                            if task.ctx.observed() {
                                task.observe_handled();
                            }
                            break 'incarnation ExitReason::failed(e);
                        }
                        Outcome::Panicked(p) => break 'incarnation panicked(p),
                        Outcome::Killed => break 'incarnation killed(&task.cell),
                    }
                    budget -= 1;
                    if budget == 0 {
                        budget = BUDGET;
                        crate::yield_now().await;
                    }
                }
            };
            // The batch of messages taken and not handled goes back to the mailbox (for the
            // next incarnation, or the final discard), and the reason takes the receiver's room.
            task.rx.end_receiving(&task.ctx.cell.queue, reason);
            // Nothing of this incarnation's may queue a message while `stopped` runs.
            task.ctx.end_feeds();
            // A request to end this incarnation (a linked actor's failure, a supervisor's group
            // restart) has been served by its end: it no longer cuts `stopped` at its first
            // suspension. One made while `stopped` runs still does (a supervisor's timeout).
            task.ctx.cell.clear_restart_request();
            if task.ctx.observed() {
                task.observe_panic();
            }
            match Guarded::stopped_hook(&task.cell, actor.stopped(&mut task.ctx, task.rx.reason()))
                .await
            {
                Outcome::Done(()) => {}
                Outcome::Panicked(p) => {
                    task.rx = RxOrReason::Ended(panicked(p));
                    // The hook's own panic is told as a handler's is.
                    if task.ctx.observed() {
                        task.observe_panic();
                    }
                }
                // Killed while `stopped` was suspended: it ends there, with the reason it had.
                Outcome::Killed => end_panicked_drop(),
            }
            // The next incarnation's `started` starts as not suspended.
            task.ctx.cell.end_guarded();
            task.ctx.end_incarnation();
            // A request to end this incarnation has been served (one that comes later is for
            // the next).
            task.ctx.cell.clear_restart_request();
            // Stop and kill are final, and so is a closed mailbox (nothing could reach a new
            // one); except a stop asked to finish the queue, when this end left some.
            if task.ends_for_good() {
                break task.rx.take_reason();
            }
            // The reason stays in the receiver's room while the supervision decides (a local
            // would add its size to every actor's task), and the decision is matched in place
            // (a binding would live on across the yield below).
            match poll_fn(|cx| task.poll_decision(cx)).await {
                Ok(Next::Restart(fresh)) => drop_actor(std::mem::replace(&mut actor, fresh)),
                Ok(Next::RestartDrained(fresh)) => {
                    drop_actor(std::mem::replace(&mut actor, fresh));
                    task.discard_backlog();
                }
                Ok(Next::End) => break task.rx.take_reason(),
                Err(payload) => {
                    forget_panic(payload);
                    break ExitReason::Panicked(StdArc::from("the restart policy panicked"));
                }
            }
            // The next incarnation receives. Its depth first: what the last incarnation took and
            // did not hand back (a message its handler panicked on, a drained queue) left the
            // mailbox without a `Handled` to say so.
            if task.ctx.observed() {
                task.cell.observe_depth();
                task.observe_restart();
            }
            task.rx.take_reason();
            task.ctx.begin_next_incarnation();
            // A restart is work like a message: an actor whose incarnations end at once (a
            // `started` that fails, every time) must not keep its thread.
            crate::yield_now().await;
        };
        // The last incarnation has ended: release the actor, then discard the backlog, then
        // report.
        drop_actor(actor);
        task.finish(reason);
    })
}

/// Tells the observer of `cell` that `count` accepted messages were discarded unhandled.
#[cold]
fn observe_discarded<M, S: Strategy>(cell: &ActorCell<M, S>, count: u64) {
    cell.observe(&ObservedEvent::Discarded { count });
}

/// The handler's future for `msg`; with the `tracing` feature, inside a `handle` span that
/// names the actor (a `DEBUG` span: with no subscriber at that level it costs a level check).
///
/// The span's parent is the span of the ask that sent `msg` (`caller`), if it carried one:
/// the `handle` span is opened while that span is entered, for that moment, on the actor's
/// thread, so that it is its contextual parent. Entering rather than naming the parent
/// (`parent: &caller`) keeps a span of one subscriber from being handed to another by its
/// id: an asker under a scoped subscriber (`tracing::subscriber::set_default`) and an actor
/// on a thread with another one each see only their own spans, and the actor's `handle`
/// span then has the parent it has without a caller. Otherwise (a tell, or no span at the
/// ask), its parent is the span current in the actor's task, as it always was.
#[inline(always)]
fn handling<'a, A: Handler<V>, V: Env>(
    actor: &'a mut A,
    msg: A::Message,
    caller: CallerSpan,
    ctx: &'a mut Context<A, V>,
) -> impl Future<Output = Result<(), A::Error>> + Send + 'a {
    #[cfg(feature = "tracing")]
    {
        let id = ctx.id().as_u64();
        let cell = &ctx.cell;
        // The name is given at creation (not recorded after), so that a layer that reads only
        // a new span's fields sees it too. Its read (a lock of the mailbox and an `Arc` clone)
        // is paid only where a subscriber may want `DEBUG` spans: the macro evaluates a field
        // only for an enabled span, except with `tracing`'s `log` feature and no subscriber,
        // where it formats every span's fields for `log`; `level_enabled!` (two loads) is
        // false there.
        let named = tracing::level_enabled!(tracing::Level::DEBUG);
        let open = || {
            tracing::debug_span!(
                target: "playhouse",
                "handle",
                actor_id = id,
                actor_type = std::any::type_name::<A>(),
                actor_name = named.then(|| cell.name()).flatten().as_deref(),
            )
        };
        let span = match caller.into_span() {
            Some(caller) => caller.in_scope(open),
            None => open(),
        };
        tracing::Instrument::instrument(actor.handle(msg, ctx), span)
    }
    #[cfg(not(feature = "tracing"))]
    {
        // Zero-sized: nothing to carry without the feature.
        let CallerSpan {} = caller;
        actor.handle(msg, ctx)
    }
}

/// Drops an actor value whose incarnation has ended, its reply ports reporting
/// [`NoReply::Stopped`]. A panic in its `Drop` is caught (the panic hook has reported it) and
/// changes nothing else: the reason was decided when the incarnation ended (`stopped` and the
/// restart policy have seen it), a restart goes on, and the backlog is discarded and the end
/// reported as usual. Ports in the actor's fields that the panicking drop leaves to unwinding
/// report [`NoReply::Stopped`] too.
fn drop_actor<A>(actor: A) {
    let dropped = catch_unwind(AssertUnwindSafe(|| {
        with_drop_cause(NoReply::Stopped, || drop(actor))
    }));
    drop(dropped);
}

pin_project! {
    /// The actor's task as the executor holds it: the runner's future between two zero-sized
    /// guards. Fields drop in declaration order, so when the executor drops the task before it
    /// has finished, the future is dropped with reply ports reporting [`NoReply::Stopped`]
    /// (unless something more precise is under way, such as a kill's cut drop). Zero-sized, so
    /// an idle actor's task is no larger.
    pub(crate) struct ActorTask<F> {
        begins: TaskDropBegins,
        #[pin]
        fut: F,
        ends: TaskDropEnds,
    }
}

impl<F> ActorTask<F> {
    fn new(fut: F) -> Self {
        ActorTask {
            begins: TaskDropBegins,
            fut,
            ends: TaskDropEnds,
        }
    }
}

impl<F: Future<Output = ()>> Future for ActorTask<F> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(polled) => polled,
            // Something the runner dropped panicked (a handler's future cut by a kill, a
            // discarded message; `Guarded` catches the handlers' own panics, `drop_actor` the
            // actor's). Unwinding has dropped the runner's state, and its `Finalizer` has
            // reported the end. The task ends here, as on every executor alike: no panic
            // leaves an actor's task.
            Err(payload) => {
                drop(payload);
                Poll::Ready(())
            }
        }
    }
}

/// What `started` returned: `None` to go on to the message loop, or the reason it ended the
/// incarnation. A separate function so that the awaited result is not kept in the task's
/// state across the message loop.
fn started_outcome<E: Into<BoxError>, M, S: Strategy>(
    outcome: Outcome<Result<(), E>>,
    cell: &ActorCell<M, S>,
) -> Option<ExitReason> {
    match outcome {
        Outcome::Done(Ok(())) => None,
        Outcome::Done(Err(e)) => Some(ExitReason::failed(e)),
        Outcome::Panicked(p) => Some(panicked(p)),
        Outcome::Killed => Some(killed(cell)),
    }
}

/// Tells the supervision that an incarnation started, containing a panic.
fn tell_started<A, R: Supervision<A>>(restart: &mut R, actor: ActorId) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| restart.started(actor))) {
        forget_panic(payload);
    }
}

/// The reason for a panic that [`Guarded`] caught, once the panicked future is dropped
/// (the `.await` that returned the panic dropped it): ends the panicked drop the catch began.
fn panicked(payload: Box<dyn Any + Send>) -> ExitReason {
    end_panicked_drop();
    ExitReason::from_panic(payload)
}

/// The reason for a kill (or a cut of the incarnation) that [`Guarded`] saw while the handler
/// was suspended, once the cut future is dropped: ends the cut drop it began.
fn killed<M, S: Strategy>(cell: &ActorCell<M, S>) -> ExitReason {
    end_panicked_drop();
    if cell.is_killed() {
        ExitReason::Killed
    } else {
        cell.restart_reason()
    }
}

/// How a guarded handler or hook ended.
enum Outcome<T> {
    /// It returned.
    Done(T),
    /// It panicked; the payload.
    Panicked(Box<dyn Any + Send>),
    /// The actor was killed while it was suspended.
    Killed,
}

pin_project! {
    /// Polls a handler or hook on the actor's behalf:
    ///
    /// - marks the thread as running this actor ([`current_actor`]), so that an ask to itself
    ///   fails at once instead of waiting forever;
    /// - catches a panic in any poll. After a panic, reply ports the future still holds
    ///   report [`NoReply::Panicked`] when it is dropped: the runner drops it at once (the
    ///   `.await` that returns the panic does) and then calls [`panicked`];
    /// - when the future is suspended, watches for a kill: the task's waker is left where
    ///   [`ActorRef::kill`](crate::ActorRef::kill) wakes it, and a kill ends the future at this
    ///   suspension point (its reply ports report [`NoReply::Stopped`], then [`killed`]);
    /// - with [`CutFirst`] (handlers and `started`), once the future has suspended, looks for
    ///   a kill before each poll too: a handler woken by what it awaited just before the kill
    ///   came would otherwise run on past the kill in the poll the wake-up had scheduled. Not
    ///   before the first poll: a handler whose message was taken runs to its first
    ///   suspension, as it did before (the cell's suspended bit, set when a guarded future
    ///   suspends and lowered by the message loop before the next message, and after
    ///   `stopped`, says which poll this is). The
    ///   `stopped` hook that follows a kill runs without it (the kill's bit stays set): it is
    ///   cut at its first suspension instead, as the docs say.
    ///
    /// No `Option` around the future, to drop it in place: that took 8 more bytes in every
    /// actor's task. Instead a caught panic or kill begins a "cut drop" on this thread
    /// ([`begin_cut_drop`]), which [`panicked`] or [`killed`] ends (as does, should a drop
    /// panic in between, the task's [`Finalizer`]).
    struct Guarded<'c, F, M, S: Strategy, W: Watch = CutFirst> {
        #[pin]
        fut: F,
        cell: &'c ActorCell<M, S>,
        watch: PhantomData<W>,
    }
}

/// When a [`Guarded`] future looks for a kill: a type, so that it costs no byte of the task.
trait Watch {
    /// Before every poll too, not only once suspended.
    const FIRST: bool;
}

/// Handlers and `started`: a kill is looked for before each poll.
struct CutFirst;

impl Watch for CutFirst {
    const FIRST: bool = true;
}

/// The `stopped` hook: a kill is looked for once it is suspended only.
struct CutSuspended;

impl Watch for CutSuspended {
    const FIRST: bool = false;
}

impl<'c, F, M, S: Strategy> Guarded<'c, F, M, S, CutFirst> {
    /// A handler or `started`.
    fn new(cell: &'c ActorCell<M, S>, fut: F) -> Self {
        Guarded {
            fut,
            cell,
            watch: PhantomData,
        }
    }
}

impl<'c, F, M, S: Strategy> Guarded<'c, F, M, S, CutSuspended> {
    /// The `stopped` hook.
    fn stopped_hook(cell: &'c ActorCell<M, S>, fut: F) -> Self {
        Guarded {
            fut,
            cell,
            watch: PhantomData,
        }
    }
}

impl<F: Future, M, S: Strategy, W: Watch> Future for Guarded<'_, F, M, S, W> {
    type Output = Outcome<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if W::FIRST && this.cell.cut_before_poll() {
            begin_cut_drop(NoReply::Stopped);
            return Poll::Ready(Outcome::Killed);
        }
        let polled = {
            let _running = current_actor::enter(this.cell.id, &this.cell.queue);
            catch_unwind(AssertUnwindSafe(|| this.fut.poll(cx)))
        };
        match polled {
            Ok(Poll::Ready(v)) => Poll::Ready(Outcome::Done(v)),
            Ok(Poll::Pending) => {
                if this.cell.watch_kill(cx.waker()) {
                    begin_cut_drop(NoReply::Stopped);
                    Poll::Ready(Outcome::Killed)
                } else {
                    Poll::Pending
                }
            }
            Err(payload) => {
                begin_panicked_drop();
                Poll::Ready(Outcome::Panicked(payload))
            }
        }
    }
}

/// An actor's id written out (`actor#N`) without allocating: the target of an expired
/// message's dead letter.
#[derive(Default)]
struct IdText {
    buf: [u8; 32],
    len: usize,
}

impl IdText {
    fn as_str(&self) -> &str {
        // Only whole `str`s are written in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for IdText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The message loop's wait for its next message ([`Finalizer::poll_next`]).
///
/// With the `tracing` feature a future of its own ([`NextMessage`]), whose `poll` is always
/// inlined into the actor's task: `PollFn::poll` went out of line there (35 more instructions
/// per message, callgrind, 1M tells). Without it, `poll_fn`: `NextMessage` took one more
/// instruction per message there.
#[inline(always)]
fn next_message<'t, A: Actor, V: Env, R: Supervision<A>>(
    task: &'t mut Finalizer<A, V, R>,
    budget: &'t mut u32,
) -> impl Future<Output = Option<(A::Message, ManuallyDrop<CallerSpan>)>> + 't {
    #[cfg(feature = "tracing")]
    {
        NextMessage { task, budget }
    }
    #[cfg(not(feature = "tracing"))]
    {
        poll_fn(move |cx| task.poll_next(budget, cx))
    }
}

/// [`next_message`] with the `tracing` feature.
#[cfg(feature = "tracing")]
struct NextMessage<'t, A: Actor, V: Env, R: Supervision<A>> {
    task: &'t mut Finalizer<A, V, R>,
    budget: &'t mut u32,
}

#[cfg(feature = "tracing")]
impl<A: Actor, V: Env, R: Supervision<A>> Future for NextMessage<'_, A, V, R> {
    type Output = Option<(A::Message, ManuallyDrop<CallerSpan>)>;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.task.poll_next(this.budget, cx)
    }
}

/// The receiving half while an incarnation handles messages, its exit reason while `stopped`
/// runs. The two never live at once, so they share the room: each is one of the largest
/// things an actor's task holds, and an async block keeps a local that lives across more than
/// one `.await` (the receiver) apart from all others.
enum RxOrReason<M, S: Strategy> {
    Receiving(Receiver<M, S>),
    Ended(ExitReason),
}

impl<M, S: crate::mailbox::Strategy> RxOrReason<M, S> {
    /// Ends the message loop: the batch goes back to the front of `queue`, `reason` takes its
    /// place.
    fn end_receiving(&mut self, queue: &crate::mailbox::Queue<M, S>, reason: ExitReason) {
        if let RxOrReason::Receiving(rx) = self {
            rx.give_back(queue);
        }
        *self = RxOrReason::Ended(reason);
    }

    /// The reason stored by [`end_receiving`](Self::end_receiving).
    fn reason(&self) -> &ExitReason {
        // Only `stopped` asks, after `end_receiving`; a receiver has no reason to give.
        static NONE: ExitReason = ExitReason::Normal;
        match self {
            RxOrReason::Ended(reason) => reason,
            RxOrReason::Receiving(_) => &NONE,
        }
    }

    /// Takes the reason out, leaving a fresh receiver for the next incarnation.
    fn take_reason(&mut self) -> ExitReason {
        match std::mem::replace(self, RxOrReason::Receiving(Receiver::default())) {
            RxOrReason::Ended(reason) => reason,
            RxOrReason::Receiving(rx) => {
                // Not reached (see `reason`); the batch must not be lost all the same.
                *self = RxOrReason::Receiving(rx);
                ExitReason::Normal
            }
        }
    }
}

/// Owns the context and the receiving half; whether the task ends normally or is dropped by
/// its executor, the mailbox is closed, its backlog discarded and the exit reported, once.
struct Finalizer<A: Actor, V: Env, R: Supervision<A>> {
    /// What follows each incarnation ([`Supervision`]).
    policy: R,
    /// The actor's cell, beside the context that the handler borrows, so that the runner can
    /// watch for a kill while a handler is suspended.
    cell: crate::sync::Arc<crate::actor_ref::CellOf<A, V::Mailbox>>,
    ctx: Context<A, V>,
    rx: RxOrReason<A::Message, <<V as Env>::Mailbox as Mailbox>::Strategy>,
}

impl<A: Actor, V: Env, R: Supervision<A>> Finalizer<A, V, R> {
    /// The message loop's next message, with its caller's span ([`NextMessage`]).
    #[inline(always)]
    fn poll_next(
        &mut self,
        budget: &mut u32,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<(A::Message, ManuallyDrop<CallerSpan>)>> {
        loop {
            break match self.poll_recv(cx) {
                Poll::Ready(Some((queued, is_control))) => {
                    // One load for a kill, an end of the incarnation and a
                    // waiting control message alike. Checked in here, so that
                    // the message is not kept in the task's state twice.
                    let (msg, meta, caller) = if self.ctx.cell.interrupted() {
                        match self.interrupt(queued, is_control) {
                            Some(kept) => kept,
                            None => break Poll::Ready(None),
                        }
                    } else {
                        queued
                    };
                    // Only under `Expiring` (a constant `false` otherwise, and
                    // `deadline` a constant `None`): the message is not handled if
                    // its deadline has come, on the executor's clock.
                    if <MetaOf<V> as MessageMeta>::EXPIRES
                        && meta.deadline().is_some_and(|d| self.ctx.now() >= d)
                    {
                        self.expire(msg, caller);
                        // Work like a message: a flood of expired ones yields too.
                        *budget -= 1;
                        if *budget == 0 {
                            *budget = BUDGET;
                            cx.waker().wake_by_ref();
                            break Poll::Pending;
                        }
                        continue;
                    }
                    // Without drop glue out to the message loop (see there).
                    Poll::Ready(Some((msg, ManuallyDrop::new(caller))))
                }
                Poll::Pending => {
                    // The task goes back to its executor anyway: a fresh budget.
                    // (Yielding after 128 messages spread over many wake-ups would
                    // only invite another worker to steal the actor away from its
                    // senders.)
                    *budget = BUDGET;
                    // Idle, and the incarnation is asked to end: it does now. (The
                    // request takes the waker that `poll_recv` left, under the
                    // lock, so one made after this look wakes the task.)
                    if self.ctx.cell.restart_requested() {
                        Poll::Ready(None)
                    } else {
                        Poll::Pending
                    }
                }
                Poll::Ready(None) => Poll::Ready(None),
            };
        }
    }

    /// Why the message loop got no message: a kill, an end of the incarnation asked for, or
    /// the mailbox closed and drained (the stop asked for, or a normal end).
    #[cold]
    fn no_message_reason(&self) -> ExitReason {
        if self.ctx.cell.is_killed() {
            return ExitReason::Killed;
        }
        if !self.ctx.drained && self.ctx.cell.restart_requested() {
            return self.ctx.cell.restart_reason();
        }
        self.ctx
            .cell
            .requested_reason()
            .unwrap_or(ExitReason::Normal)
    }

    /// A message came in while a kill, an end of the incarnation or a control message was
    /// pending, in that order of priority: `None` (the incarnation ends, see
    /// [`no_message_reason`](Self::no_message_reason)) with the message discarded (a kill) or
    /// put back for the next incarnation; `Some` with the control message that overtakes it
    /// (it goes back to the front of the batch); `Some` with the message itself to handle it
    /// after all.
    #[cold]
    #[inline(never)]
    fn interrupt(&mut self, queued: QueuedOf<A, V>, is_control: bool) -> Option<QueuedOf<A, V>> {
        // The last handler (or `started`) suspended: the next one starts as not suspended.
        self.ctx.cell.end_guarded();
        if self.ctx.cell.is_killed() {
            if crate::faults::enabled(crate::faults::Fault::HandleAfterKill) {
                return Some(queued);
            }
            match &mut self.rx {
                // Back to the front of the queue: the final discard counts it, tells an
                // observer of it with the rest (one event, before the first drop) and drops it
                // with the backlog, its reply port resolving with `NoReply::Stopped`.
                RxOrReason::Receiving(rx) => rx.put_back(&self.ctx.cell.queue, queued),
                // Not reached: the message came from the receiver.
                RxOrReason::Ended(_) => {
                    self.ctx.cell.queue.add_discarded(1);
                    with_drop_cause(NoReply::Stopped, || drop(queued));
                }
            }
            return None;
        }
        if self.ctx.cell.restart_requested() {
            if let RxOrReason::Receiving(rx) = &mut self.rx {
                let cell = &self.ctx.cell;
                let is_control = is_control
                    && !crate::faults::enabled(crate::faults::Fault::ControlPutBackAsUser);
                match is_control {
                    // Back where it came from, ahead of the control messages after it.
                    true => rx.put_back_control(&cell.queue, queued, || cell.raise_control()),
                    false => rx.put_back(&cell.queue, queued),
                }
            }
            return None;
        }
        if self.ctx.cell.control_pending() {
            // A control message (with the default meta: it never expires) overtakes this one
            // (and the rest of the batch), which keeps its meta and its caller's span.
            if let RxOrReason::Receiving(rx) = &mut self.rx {
                let cell = &self.ctx.cell;
                let lower = || cell.lower_control();
                return Some(rx.take_control(&cell.queue, queued, is_control, lower));
            }
        }
        // Withdrawn meanwhile.
        Some(queued)
    }

    /// A message whose deadline came before its handler would run (`Expiring`): counted,
    /// reported to the actor's broker as a dead letter (and to an observer as
    /// [`ObservedEvent::Expired`]), then dropped with reply ports inside it resolving with
    /// [`NoReply::Expired`], in that order (an asker that hears `Expired` finds the count and
    /// the dead letter recorded, and its span, if the message carried it, released).
    #[cold]
    #[inline(never)]
    fn expire(&mut self, msg: A::Message, caller: CallerSpan) {
        let cell = &self.ctx.cell;
        cell.queue.add_expired();
        let mut target = IdText::default();
        let _ = std::fmt::Write::write_fmt(&mut target, format_args!("{}", cell.id));
        self.ctx.broker().report_dead_letter(
            DeadLetterKind::Expired,
            target.as_str(),
            std::any::type_name::<A::Message>(),
            None,
        );
        if self.ctx.observed() {
            self.cell.observe_expired();
        }
        // The asker's span first: an asker that hears `Expired` finds it released.
        caller.release();
        // The drop is user code: a panic in it is contained, as for a discarded message.
        drop_each_with_cause(NoReply::Expired, [msg]);
    }

    /// Polls the supervision for what follows the incarnation that ended (its reason is in
    /// the receiver's room), containing a panic.
    fn poll_decision(
        &mut self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Result<Next<A>, Box<dyn Any + Send>>>
    where
        R: Supervision<A>,
    {
        // A stop, a kill or a closed mailbox while the supervision decides is as final as one
        // before it: the actor ends with the incarnation's reason, without waiting for an
        // answer that may never come (nothing delays a kill).
        if self.ends_for_good() {
            return Poll::Ready(Ok(Next::End));
        }
        let reason = self.rx.reason();
        let policy = &mut self.policy;
        let actor = self.ctx.cell.id;
        let polled = match catch_unwind(AssertUnwindSafe(|| policy.poll_exited(actor, reason, cx)))
        {
            Ok(polled) => polled.map(Ok),
            Err(payload) => Poll::Ready(Err(payload)),
        };
        if polled.is_pending() {
            // The waker goes where a stop, a kill and the close wake the task (under the lock
            // they take), then a look for one that came first.
            {
                let mut st = self.ctx.cell.queue.state.lock();
                match &st.rx_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.rx_waker = Some(cx.waker().clone()),
                }
            }
            if self.ends_for_good() {
                return Poll::Ready(Ok(Next::End));
            }
        }
        polled
    }

    /// `true` once a stop or kill was asked for or the mailbox closed: no restart follows.
    /// Except after [`stop_after_queue`](crate::ActorRef::stop_after_queue): an incarnation
    /// that ended with messages still queued (a crash, or any end the supervision decides on,
    /// before or after the stop came) goes to its supervision, so that a restart handles them.
    fn ends_for_good(&self) -> bool {
        let stopped = self.ctx.drained
            || self.ctx.cell.stop_was_requested()
            || self.ctx.cell.queue.is_closed();
        stopped && !self.ctx.cell.queue_left_to_finish()
    }

    /// Discards what is queued for the next incarnation ([`Next::RestartDrained`]), telling an
    /// observer and the supervision ([`Supervision::drained`]) how many before the first is
    /// dropped.
    fn discard_backlog(&mut self) {
        let (cell, observed) = (&self.ctx.cell, self.ctx.observed());
        let policy = &mut self.policy;
        let told = |n: usize| {
            if n == 0 {
                return;
            }
            if observed {
                observe_discarded(cell, n as u64);
            }
            let actor = cell.id;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| policy.drained(actor, n))) {
                forget_panic(payload);
            }
        };
        match &mut self.rx {
            RxOrReason::Receiving(rx) => rx.discard_backlog(&cell.queue, NoReply::Drained, told),
            // The ended incarnation's batch went back to the queue.
            RxOrReason::Ended(_) => {
                ReceiverOf::<A, V>::default().discard_backlog(&cell.queue, NoReply::Drained, told)
            }
        };
    }

    /// Tells the observer that an incarnation started.
    #[cold]
    fn observe_started(&self) {
        let incarnation = self.ctx.incarnation();
        self.cell.observe(&ObservedEvent::Started { incarnation });
    }

    /// Tells the observer how long the handler ran (since [`ActorCell::mark_handling`]).
    #[cold]
    fn observe_handled(&self) {
        self.cell.observe_handled(self.ctx.now());
    }

    /// Tells the observer of a panic, if that is how the incarnation ended.
    #[cold]
    fn observe_panic(&self) {
        if let ExitReason::Panicked(message) = self.rx.reason() {
            self.cell.observe(&ObservedEvent::Panicked { message });
        }
    }

    /// Tells the observer that the incarnation that ended (its reason still in the receiver's
    /// room) is followed by another.
    #[cold]
    fn observe_restart(&self) {
        let incarnation = self.ctx.incarnation() + 1;
        let reason = self.rx.reason();
        self.cell.observe(&ObservedEvent::Restarted {
            incarnation,
            reason,
        });
    }

    #[inline]
    fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<(QueuedOf<A, V>, bool)>> {
        let RxOrReason::Receiving(rx) = &mut self.rx else {
            // Not reached: the message loop runs between `take_reason` and `end_receiving`.
            return Poll::Ready(None);
        };
        let polled = rx.poll_recv_tagged(&self.ctx.cell.queue, cx);
        if let Poll::Ready(None) = polled {
            // Closed and empty: nothing can enter it any more.
            self.ctx.drained = true;
        }
        polled
    }

    fn finish(&mut self, reason: ExitReason) {
        if self.ctx.finished {
            return;
        }
        self.ctx.finished = true;
        let (cell, observed) = (&self.ctx.cell, self.ctx.observed());
        let told = |n: usize| {
            if observed && n > 0 {
                observe_discarded(cell, n as u64);
            }
        };
        if !self.ctx.drained {
            let (rx, queue) = (&mut self.rx, &cell.queue);
            // The discarded messages' drops are user code, each contained in the discard
            // (`drop_each_with_cause`). What else a panic could come from (a strategy's meta,
            // a span) must not skip the record of the end below either, or the actor would
            // never be reported ended. The observer is told before the first drop.
            let discarded = catch_unwind(AssertUnwindSafe(|| match rx {
                RxOrReason::Receiving(rx) => rx.close_and_discard_telling(queue, told),
                RxOrReason::Ended(_) => {
                    ReceiverOf::<A, V>::default().close_and_discard_telling(queue, told)
                }
            }));
            if let Err(payload) = discarded {
                forget_panic(payload);
            }
        }
        if self.ctx.observed() {
            self.ctx
                .cell
                .observe(&ObservedEvent::Stopped { reason: &reason });
        }
        if R::WANTS_FINISHED {
            let told = reason.clone();
            self.ctx.cell.record_exit(reason);
            let policy = &mut self.policy;
            let actor = self.ctx.cell.id;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| policy.finished(actor, &told))) {
                forget_panic(payload);
            }
        } else {
            self.ctx.cell.record_exit(reason);
        }
    }
}

impl<A: Actor, V: Env, R: Supervision<A>> Finalizer<A, V, R> {
    /// The reason to report when a panic unwinds through the runner (see
    /// [`ActorTask`]'s `poll`): the reason the incarnation had ended with, if it had;
    /// else the stop or kill asked for, if any; else the panic.
    #[cold]
    fn escaped_panic_reason(&self) -> ExitReason {
        if let RxOrReason::Ended(reason) = &self.rx {
            return reason.clone();
        }
        self.ctx.cell.requested_reason().unwrap_or_else(|| {
            ExitReason::Panicked(StdArc::from("a value dropped by the actor's task panicked"))
        })
    }
}

impl<A: Actor, V: Env, R: Supervision<A>> Drop for Finalizer<A, V, R> {
    fn drop(&mut self) {
        // A drop that panicked after a caught panic skipped `panicked`: do not leave the
        // thread reporting panics for ports dropped later.
        end_panicked_drop();
        if crate::faults::enabled(crate::faults::Fault::TaskDropSkipsDiscard) {
            self.ctx.drained = true;
        }
        // Without `finish` only when the executor dropped the task (runtime shutdown), or when
        // a panic unwinds through the runner. Checked first, so that a task that finished does
        // not build (allocate) a reason to discard.
        if !self.ctx.finished {
            let reason = if std::thread::panicking() && !dropping_a_task() {
                self.escaped_panic_reason()
            } else {
                ExitReason::Shutdown(Some(StdArc::from("the executor dropped the actor's task")))
            };
            // The task's drop makes reply ports report `Stopped` ([`ActorTask`]); the exit
            // watchers called from here are not the actor's, and a port one of them drops was
            // just dropped. (The backlog's discard sets `Stopped` itself.)
            with_drop_cause(NoReply::Dropped, || self.finish(reason));
        }
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod size_tests {
    use super::*;
    use crate::broker::NoBroker as InMemoryBroker;
    use crate::env::Wiring;
    use crate::mailbox::{Block, Bounded};
    use crate::spawn::NoRestart;
    use crate::testing::ThreadExecutor;
    use std::convert::Infallible;

    /// An actor like the spawn benchmark's (two shared counters, `started` and `stopped`
    /// hooks), with `N` bytes more state.
    struct Trivial<const N: usize>(std::sync::Arc<u8>, std::sync::Arc<u8>, [u8; N]);

    impl<const N: usize> Actor for Trivial<N> {
        type Message = u64;
        type Error = Infallible;
    }

    impl<const N: usize, V: Env> Handler<V> for Trivial<N> {
        async fn started(&mut self, _: &mut Context<Self, V>) -> Result<(), Infallible> {
            std::hint::black_box(&self.0);
            Ok(())
        }

        async fn handle(&mut self, _: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
            Ok(())
        }

        async fn stopped(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
            std::hint::black_box(&self.1);
        }
    }

    /// The size of the task future of a `Trivial<N>`.
    fn task_size<const N: usize>() -> usize {
        type V = Wiring<Bounded<Block>, ThreadExecutor, InMemoryBroker>;
        let cell = crate::sync::Arc::new(crate::cell::ActorCell::new(
            Bounded::<Block>::default().queue::<u64>(),
            crate::executor::SharedSleeper::new(ThreadExecutor),
        ));
        let env = std::sync::Arc::new(crate::env::SpawnEnv::new(ThreadExecutor, InMemoryBroker));
        let ctx = Context::<Trivial<N>, V>::new(cell, env);
        let actor = Trivial(Default::default(), Default::default(), [0; N]);
        size_of_val(&run_actor(actor, ctx, NoRestart))
    }

    fn size_of_val<F>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every idle actor costs its task: the runner must not keep copies of its arguments or
    /// dead results across the message loop (it was 192 bytes as an `async fn`, 144 with the
    /// receiver and the exit reason in rooms of their own and the panic catcher's `Option`).
    ///
    /// On Tokio a future of at most 152 bytes makes a 256-byte task, a larger one a 384-byte
    /// task (docs/performance.md, "Why 112 bytes"). The runner is 128 bytes (112 before the kill
    /// watch's cell pointer, "What the API's guarantees cost"), which leaves an actor 40 bytes
    /// of state below that step.
    #[test]
    fn an_idle_actors_task_stays_small() {
        assert_eq!(size_of::<Trivial<0>>(), 16);
        eprintln!(
            "sizes: {} {} {}",
            task_size::<0>(),
            task_size::<24>(),
            task_size::<40>()
        );
        // With the `tracing` feature the span around a handler (40 bytes) is part of the task
        // while the handler runs, and so of its size (docs/observability.md).
        let bound = if cfg!(feature = "tracing") { 168 } else { 128 };
        assert!(
            task_size::<0>() <= bound,
            "the task is {} bytes",
            task_size::<0>()
        );
        assert_eq!(size_of::<Trivial<24>>(), 40);
        let bound = if cfg!(feature = "tracing") { 192 } else { 152 };
        assert!(
            task_size::<24>() <= bound,
            "the task is {} bytes",
            task_size::<24>()
        );
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod guarded_tests {
    use super::*;
    use crate::mailbox::{Block, Bounded};
    use crate::reply::{Reply, reply_port};
    use futures::executor::block_on;

    fn test_cell() -> ActorCell<u8, Block> {
        ActorCell::new(
            Bounded::<Block>::default().queue::<u8>(),
            crate::executor::SharedSleeper::new(crate::testing::ThreadExecutor),
        )
    }

    fn unwrap_panic<T>(outcome: Outcome<T>) -> Box<dyn Any + Send> {
        match outcome {
            Outcome::Panicked(p) => p,
            _ => panic!("expected a caught panic"),
        }
    }

    /// A hand-written future that panics in its poll and still holds a reply port afterwards
    /// (an `async fn` drops what it holds while unwinding).
    struct PanicsHoldingPort(#[allow(dead_code)] Reply<u8>);

    impl Future for PanicsHoldingPort {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            panic!("boom")
        }
    }

    #[test]
    fn a_port_the_panicked_future_still_holds_reports_the_panic() {
        let (reply, rx) = reply_port::<u8>();
        // `block_on` drops the future when it returns, as the runner's `.await` does.
        let cell = test_cell();
        let outcome = block_on(Guarded::new(&cell, PanicsHoldingPort(reply)));
        assert_eq!(block_on(rx), Err(NoReply::Panicked));
        assert!(
            matches!(panicked(unwrap_panic(outcome)), ExitReason::Panicked(m) if &*m == "boom")
        );
        // `panicked` ended the panicked drop: a port dropped later says it was dropped.
        let (reply, rx) = reply_port::<u8>();
        drop(reply);
        assert_eq!(block_on(rx), Err(NoReply::Dropped));
    }

    #[test]
    fn a_future_that_did_not_panic_drops_its_ports_as_dropped() {
        let (reply, rx) = reply_port::<u8>();
        let cell = test_cell();
        let mut fut = Box::pin(Guarded::new(&cell, async move {
            let _held = reply;
            std::future::pending::<()>().await;
        }));
        let waker = std::task::Waker::noop();
        assert!(
            fut.as_mut()
                .poll(&mut TaskContext::from_waker(waker))
                .is_pending()
        );
        drop(fut);
        assert_eq!(block_on(rx), Err(NoReply::Dropped));
    }

    #[test]
    fn a_panicked_drop_inside_a_drop_cause_restores_that_cause() {
        let (reply, rx) = reply_port::<u8>();
        with_drop_cause(NoReply::Stopped, || {
            let cell = test_cell();
            let outcome = block_on(Guarded::new(&cell, PanicsHoldingPort(reply)));
            panicked(unwrap_panic(outcome));
            let (inner, inner_rx) = reply_port::<u8>();
            drop(inner);
            assert_eq!(block_on(inner_rx), Err(NoReply::Stopped));
        });
        assert_eq!(block_on(rx), Err(NoReply::Panicked));
    }

    /// Panics in its `Drop`, after which its field is dropped by unwinding.
    struct PanicsInDrop(#[allow(dead_code)] Reply<u8>);

    impl Drop for PanicsInDrop {
        fn drop(&mut self) {
            panic!("drop boom")
        }
    }

    #[test]
    fn a_panicking_actor_drop_is_caught_and_leaves_no_drop_cause_behind() {
        let (in_field, in_field_rx) = reply_port::<u8>();
        drop_actor(PanicsInDrop(in_field));
        // Left to unwinding by the panicking drop: the actor ended holding it.
        assert_eq!(block_on(in_field_rx), Err(NoReply::Stopped));
        // Nothing lingers on the thread: a port dropped later says it was dropped.
        let (reply, rx) = reply_port::<u8>();
        drop(reply);
        assert_eq!(block_on(rx), Err(NoReply::Dropped));
        // Nor inside a cause of its own.
        let (reply, rx) = reply_port::<u8>();
        with_drop_cause(NoReply::Overflow, || {
            drop_actor(PanicsInDrop(reply_port::<u8>().0));
            drop(reply);
        });
        assert_eq!(block_on(rx), Err(NoReply::Overflow));
    }

    #[test]
    fn a_dropped_actor_task_drops_its_ports_as_stopped() {
        let (reply, rx) = reply_port::<u8>();
        let mut task = Box::pin(ActorTask::new(async move {
            let _held = reply;
            std::future::pending::<()>().await;
        }));
        let waker = std::task::Waker::noop();
        assert!(
            task.as_mut()
                .poll(&mut TaskContext::from_waker(waker))
                .is_pending()
        );
        drop(task);
        assert_eq!(block_on(rx), Err(NoReply::Stopped));
        // The task's drop is over: a port dropped later says it was dropped.
        let (reply, rx) = reply_port::<u8>();
        drop(reply);
        assert_eq!(block_on(rx), Err(NoReply::Dropped));
    }

    #[test]
    fn a_task_whose_drop_panics_still_ends_its_drop() {
        let (reply, rx) = reply_port::<u8>();
        let task = ActorTask::new(async move {
            // Locals drop in reverse order: `_bad` panics first, `_held` goes while unwinding.
            let _held = reply;
            let _bad = PanicsInDrop(reply_port::<u8>().0);
            std::future::pending::<()>().await;
        });
        let mut task = Box::pin(task);
        let waker = std::task::Waker::noop();
        assert!(
            task.as_mut()
                .poll(&mut TaskContext::from_waker(waker))
                .is_pending()
        );
        assert!(catch_unwind(AssertUnwindSafe(|| drop(task))).is_err());
        assert_eq!(block_on(rx), Err(NoReply::Panicked));
        let (reply, rx) = reply_port::<u8>();
        drop(reply);
        assert_eq!(block_on(rx), Err(NoReply::Dropped));
    }

    /// An actor whose handler is a hand-written future that panics while it still holds the
    /// request's reply port.
    struct PanicsInHandWrittenHandler;

    impl Actor for PanicsInHandWrittenHandler {
        type Message = Reply<u8>;
        type Error = std::convert::Infallible;
    }

    impl<V: Env> Handler<V> for PanicsInHandWrittenHandler {
        fn handle(
            &mut self,
            msg: Reply<u8>,
            _: &mut Context<Self, V>,
        ) -> impl Future<Output = Result<(), Self::Error>> + Send {
            HandlerHoldingPort(msg)
        }
    }

    /// [`PanicsHoldingPort`] with a handler's output.
    struct HandlerHoldingPort(#[allow(dead_code)] Reply<u8>);

    impl Future for HandlerHoldingPort {
        type Output = Result<(), std::convert::Infallible>;
        fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Self::Output> {
            panic!("boom")
        }
    }

    #[test]
    fn the_asker_hears_of_a_panic_that_left_its_port_in_the_handlers_future() {
        use crate::error::AskError;
        let actor =
            crate::System::<_, crate::broker::NoBroker>::new(crate::testing::ThreadExecutor)
                .spawn(PanicsInHandWrittenHandler);
        let answer = crate::testing::block_on(actor.ask(|reply| reply));
        assert!(
            matches!(answer, Err(AskError::NoReply(NoReply::Panicked))),
            "{answer:?}"
        );
        let reason = crate::testing::block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Panicked(_)), "{reason:?}");
    }
}
