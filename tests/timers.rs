//! `run_later` and `run_interval`, on every executor.
//!
//! Durations are short (10–50 ms) and waits generous; the assertions are on counts and order,
//! never on exact timing.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::sync::Arc;
use ::std::time::{Duration, Instant};

use common::*;
use futures::channel::mpsc::TryRecvError;
use futures::channel::oneshot;
use playhouse::mailbox::{Block, Bounded, Reject};
use playhouse::observer::Metrics;
use playhouse::prelude::*;
use playhouse::reply_port;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn run_later_delivers_once<E: Executor>(exec: E) {
    let (ticker, mut ticks) = Ticker::new();
    let actor = System::new(exec.clone()).spawn(ticker);
    let timer = within(&exec, LONG, actor.ask(|r| TickMsg::Later(ms(20), 7, r)))
        .await
        .expect("ask");
    assert_eq!(next(&exec, &mut ticks).await, 7);
    // The tick was queued and the timer finished under one lock: once the tick has been
    // handled, the timer is no longer active and cancelling it reports so.
    assert!(!timer.is_active(), "a delivered one-shot timer is finished");
    assert!(!timer.cancel(), "a finished timer is not active");
    // Well past the deadline: still exactly one delivery.
    sleep(&exec, ms(100)).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        vec![7]
    );
}

async fn cancelled_run_later_never_delivers<E: Executor>(exec: E) {
    let (ticker, mut ticks) = Ticker::new();
    let actor = System::new(exec.clone()).spawn(ticker);
    let start = Instant::now();
    let cancelled = within(&exec, LONG, actor.ask(|r| TickMsg::Later(ms(100), 1, r)))
        .await
        .expect("ask");
    assert!(cancelled.is_active());
    assert!(cancelled.cancel(), "it was active");
    assert!(!cancelled.is_active());
    assert!(!cancelled.cancel(), "cancelling twice reports inactive");
    // A control timer proves timers run meanwhile.
    let _control = within(&exec, LONG, actor.ask(|r| TickMsg::Later(ms(10), 2, r)))
        .await
        .expect("ask");
    assert_eq!(next(&exec, &mut ticks).await, 2);
    // Wait well past the cancelled one's deadline.
    exec.sleep_until(start + ms(250)).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        vec![2]
    );
}

async fn run_interval_ticks_until_cancelled<E: Executor>(exec: E) {
    let (ticker, mut ticks) = Ticker::new();
    let actor = System::new(exec.clone()).spawn(ticker);
    let token = Arc::new(());
    let timer = within(
        &exec,
        LONG,
        actor.ask(|r| TickMsg::Every(ms(10), token.clone(), r)),
    )
    .await
    .expect("ask");
    for expected in 1..=3 {
        assert_eq!(next(&exec, &mut ticks).await, expected);
    }
    assert!(timer.is_active());
    assert!(timer.cancel());
    // Every tick enqueued before `cancel` returned is ahead of this ask in the mailbox.
    let at_cancel = within(&exec, LONG, actor.ask(TickMsg::Ticks))
        .await
        .expect("ask");
    assert!(at_cancel.len() >= 3);
    assert_eq!(at_cancel, (1..=at_cancel.len() as u32).collect::<Vec<_>>());
    sleep(&exec, ms(100)).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        at_cancel,
        "ticked after cancel"
    );
    eventually(&exec, "the interval's task to end", || {
        Arc::strong_count(&token) == 1
    })
    .await;
}

async fn interval_stops_when_actor_stops<E: Executor>(exec: E) {
    let (ticker, mut ticks) = Ticker::new();
    let actor = System::new(exec.clone()).spawn(ticker);
    let token = Arc::new(());
    let timer = within(
        &exec,
        LONG,
        actor.ask(|r| TickMsg::Every(ms(10), token.clone(), r)),
    )
    .await
    .expect("ask");
    assert_eq!(next(&exec, &mut ticks).await, 1);
    assert_eq!(next(&exec, &mut ticks).await, 2);
    actor.stop();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(!timer.is_active(), "the incarnation's timers end with it");
    eventually(&exec, "the interval's task to end", || {
        Arc::strong_count(&token) == 1
    })
    .await;
    // Past a few more periods: the ticks handled are consecutive, and the channel is closed
    // (the actor's state is gone), so nothing more can arrive.
    sleep(&exec, ms(50)).await;
    let mut last = 2;
    loop {
        match ticks.try_recv() {
            Ok(n) => {
                assert_eq!(n, last + 1);
                last = n;
            }
            Err(TryRecvError::Closed) => break,
            Err(TryRecvError::Empty) => {
                panic!("the ticker's channel is open after the actor ended")
            }
        }
    }
}

async fn interval_is_cancelled_on_restart<E: Executor>(exec: E) {
    let (first, mut ticks) = Ticker::new();
    let actor = System::new(exec.clone()).spawn_restartable(first, |_: &ExitReason| {
        let (fresh, _) = Ticker::new();
        Some(fresh)
    });
    let token = Arc::new(());
    let timer = within(
        &exec,
        LONG,
        actor.ask(|r| TickMsg::Every(ms(10), token.clone(), r)),
    )
    .await
    .expect("ask");
    assert_eq!(next(&exec, &mut ticks).await, 1);
    actor.tell(TickMsg::Panic).await.expect("tell");
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Incarnation))
            .await
            .expect("ask"),
        2
    );
    assert!(
        !timer.is_active(),
        "the first incarnation's interval ended with it"
    );
    // Ticks enqueued before the cancel may reach incarnation 2; none after.
    let snapshot = within(&exec, LONG, actor.ask(TickMsg::Ticks))
        .await
        .expect("ask");
    sleep(&exec, ms(100)).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        snapshot
    );
    eventually(&exec, "the interval's task to end", || {
        Arc::strong_count(&token) == 1
    })
    .await;
    actor.stop();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
}
async fn timer_waiting_for_room_is_cancelled<E: Executor>(exec: E) {
    // A one-shot timer falls due while the mailbox is full (Block, capacity 1): it waits for
    // room. Cancelling it then must stop it for good: the tick never arrives.
    let (ticker, _ticks) = Ticker::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(ticker);
    let start = Instant::now();
    let timer = within(&exec, LONG, actor.ask(|r| TickMsg::Later(ms(200), 5, r)))
        .await
        .expect("ask");
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, actor.ask(|r| TickMsg::Hold(r, gate)))
        .await
        .expect("held");
    actor.tell(TickMsg::Tick(100)).await.expect("room for one");
    assert!(
        start.elapsed() < ms(200),
        "too slow to set up before the timer fell due"
    );
    // Well past the deadline: the timer is due and waiting for room.
    sleep(&exec, ms(400)).await;
    assert!(
        timer.is_active(),
        "a timer waiting for room is still active"
    );
    assert!(timer.cancel());
    let _ = open.send(());
    sleep(&exec, ms(50)).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        vec![100]
    );
}

/// Issue #16, item 5: a deadline too far to represent means never, not a panic in the handler.
async fn far_future_timers_never_fire_and_never_panic<E: Executor>(exec: E) {
    let (ticker, _ticks) = Ticker::new();
    let actor = System::new(exec.clone()).spawn(ticker);
    let later = within(
        &exec,
        LONG,
        actor.ask(|r| TickMsg::Later(Duration::MAX, 1, r)),
    )
    .await
    .expect("the handler that started the timer answered");
    let token = Arc::new(());
    let every = within(
        &exec,
        LONG,
        actor.ask(|r| TickMsg::Every(Duration::MAX, token.clone(), r)),
    )
    .await
    .expect("the handler that started the interval answered");
    assert!(later.is_active() && every.is_active());
    assert!(actor.is_alive(), "neither timer ended the actor");
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        Vec::<u32>::new()
    );
    assert!(later.cancel() && every.cancel());
    actor.stop();
    assert_eq!(
        within(&exec, LONG, actor.wait()).await.to_string(),
        "shut down"
    );
}

/// A full `Reject` mailbox refuses the ticks that fall due while the actor is held: each is
/// dropped and counted (the timer has nobody to hand it back to), and the interval goes on
/// once there is room.
async fn ticks_a_full_reject_mailbox_refuses_are_counted_and_the_interval_goes_on<E: Executor>(
    exec: E,
) {
    let (ticker, mut ticks) = Ticker::new();
    let metrics = Metrics::new();
    let actor = System::new(exec.clone())
        .with_observer(metrics.clone())
        .spawner(Bounded::<Reject>::with_capacity(1).unwrap())
        .spawn(ticker);
    let token = Arc::new(());
    let timer = within(
        &exec,
        LONG,
        actor.ask(|r| TickMsg::Every(ms(5), token.clone(), r)),
    )
    .await
    .expect("ask");
    // Hold the actor (the mailbox may hold a tick for a moment: asked again until it is in).
    let (open, gate) = oneshot::channel();
    let mut gate = Some(gate);
    let mut refused_holds = 0;
    loop {
        let held = gate.take().expect("the gate");
        match within(&exec, LONG, actor.ask(|r| TickMsg::Hold(r, held))).await {
            Ok(()) => break,
            Err(AskError::Full(TickMsg::Hold(_, held))) => {
                refused_holds += 1;
                gate = Some(held);
                sleep(&exec, ms(1)).await;
            }
            Err(other) => panic!("hold: {other:?}"),
        }
    }
    eventually(&exec, "a tick refused", || actor.dropped_count() >= 2).await;
    assert!(
        timer.is_active(),
        "a refused tick does not end the interval"
    );
    let _ = open.send(());
    let refused_by_then = actor.dropped_count();
    // Whatever was handled before, three more ticks come after the release.
    while ticks.try_recv().is_ok() {}
    for _ in 0..3 {
        next(&exec, &mut ticks).await;
    }
    assert!(timer.cancel());
    eventually(&exec, "the interval's task to end", || {
        Arc::strong_count(&token) == 1
    })
    .await;
    // Told to an observer once each, as dropped (not as refused: nobody got them back; the
    // refusals counted are the holds asked again).
    let m = metrics.snapshot(actor.id()).expect("observed");
    assert!(actor.dropped_count() >= refused_by_then);
    assert_eq!(
        (m.dropped, m.rejected),
        (actor.dropped_count(), refused_holds)
    );
}

/// A one-shot timer that falls due while a `Reject` mailbox is full: its message is dropped
/// and counted, and the timer is over at once (not active, nothing to cancel).
async fn a_one_shot_a_full_reject_mailbox_refuses_is_dropped_and_over<E: Executor>(exec: E) {
    let (ticker, _ticks) = Ticker::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Reject>::with_capacity(1).unwrap())
        .spawn(ticker);
    let start = Instant::now();
    let timer = within(&exec, LONG, actor.ask(|r| TickMsg::Later(ms(200), 9, r)))
        .await
        .expect("ask");
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, actor.ask(|r| TickMsg::Hold(r, gate)))
        .await
        .expect("held");
    actor.tell(TickMsg::Tick(100)).await.expect("room for one");
    assert!(
        start.elapsed() < ms(200),
        "too slow to set up before the timer fell due"
    );
    eventually(&exec, "the message dropped", || actor.dropped_count() == 1).await;
    assert!(!timer.is_active(), "a dropped one-shot is over");
    assert!(!timer.cancel(), "nothing left to cancel");
    let _ = open.send(());
    eventually(&exec, "the mailbox drained", || actor.mailbox_len() == 0).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("ask"),
        vec![100]
    );
}

/// A zero period, or one shorter than the timer's own turn, never holds the executor's thread:
/// the test's own sleeps and asks go on beside it, and it stops when cancelled.
async fn a_tiny_period_never_holds_the_thread<E: Executor>(exec: E) {
    for period in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_nanos(200),
    ] {
        let (ticker, mut ticks) = Ticker::new();
        let actor = System::new(exec.clone()).spawn(ticker);
        let token = Arc::new(());
        let timer = within(
            &exec,
            LONG,
            actor.ask(|r| TickMsg::Every(period, token.clone(), r)),
        )
        .await
        .expect("ask");
        for expected in 1..=3 {
            assert_eq!(next(&exec, &mut ticks).await, expected, "{period:?}");
        }
        within(&exec, LONG, sleep(&exec, ms(20))).await;
        within(&exec, LONG, actor.ask(TickMsg::Ticks))
            .await
            .expect("answered beside the timer");
        assert!(timer.cancel());
        eventually(&exec, "the interval's task to end", || {
            Arc::strong_count(&token) == 1
        })
        .await;
    }
}

/// Arms a timer, then fails; its `stopped` hook takes its time. The timer is due while
/// `stopped` runs.
struct Lingering(Vec<u32>);

enum LingerMsg {
    ArmThenPanic(u32),
    Tick(u32),
    Seen(Reply<(u32, Vec<u32>)>),
}

impl Actor for Lingering {
    type Message = LingerMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for Lingering {
    async fn handle(
        &mut self,
        msg: LingerMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            LingerMsg::ArmThenPanic(n) => {
                ctx.run_later(ms(10), LingerMsg::Tick(n));
                panic!("lingering boom");
            }
            LingerMsg::Tick(n) => self.0.push(n),
            LingerMsg::Seen(reply) => {
                let _ = reply.send((ctx.incarnation(), self.0.clone()));
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, _: &ExitReason) {
        ctx.sleep(ms(60)).await;
    }
}

/// A timer is cancelled when its incarnation's message loop ends, before `stopped` runs: one
/// due while `stopped` awaits must not queue its message for the next incarnation.
async fn a_timer_due_while_stopped_runs_never_reaches_the_next_incarnation<E: Executor>(exec: E) {
    let actor = System::new(exec.clone())
        .spawn_restartable(Lingering(Vec::new()), |_: &ExitReason| {
            Some(Lingering(Vec::new()))
        });
    actor.tell(LingerMsg::ArmThenPanic(1)).await.expect("tell");
    let (incarnation, _) = within(&exec, LONG, actor.ask(LingerMsg::Seen))
        .await
        .expect("ask");
    assert_eq!(incarnation, 2);
    // Long past the timer's due time: anything it queued has been handled.
    sleep(&exec, ms(50)).await;
    let (_, seen) = within(&exec, LONG, actor.ask(LingerMsg::Seen))
        .await
        .expect("ask");
    assert_eq!(
        seen,
        Vec::<u32>::new(),
        "the first incarnation's timer fired"
    );
}

/// Puts an asker's reply port in a timer's message.
struct Deferring;

enum DeferMsg {
    /// `run_later(delay, Answer(port))`; answers with the timer's handle.
    Defer(Duration, Reply<u32>, Reply<TimerHandle>),
    Answer(Reply<u32>),
    /// Answers, then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    /// `run_later(an hour, Answer(port))`, cancelled by its handle; then the actor stops itself
    /// (before the timer's task can drop the message).
    CancelThenStop(Reply<u32>),
}

impl Actor for Deferring {
    type Message = DeferMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for Deferring {
    async fn handle(
        &mut self,
        msg: DeferMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            DeferMsg::Defer(delay, port, reply) => {
                let _ = reply.send(ctx.run_later(delay, DeferMsg::Answer(port)));
            }
            DeferMsg::Answer(port) => {
                let _ = port.send(1);
            }
            DeferMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            DeferMsg::CancelThenStop(port) => {
                let timer = ctx.run_later(ms(3_600_000), DeferMsg::Answer(port));
                assert!(timer.cancel());
                ctx.stop();
            }
        }
        Ok(())
    }
}

/// A reply port in a timer's message that never reaches the actor resolves as the actor's end
/// says, not as a handler's drop: `Stopped` when the actor stops before the timer fires, and
/// when the timer fires into a mailbox that closes while it waits for room; `Dropped` when the
/// timer's own handle cancels it, even if the actor ends before the timer's task has run.
async fn a_reply_port_in_an_undelivered_timer_message_says_why<E: Executor>(exec: E) {
    let system = System::new(exec.clone());

    let actor = system.spawn(Deferring);
    let (port, answer) = reply_port();
    within(
        &exec,
        LONG,
        actor.ask(|r| DeferMsg::Defer(ms(3_600_000), port, r)),
    )
    .await
    .expect("deferred");
    actor.stop();
    assert_eq!(within(&exec, LONG, answer).await, Err(NoReply::Stopped));

    let actor = system.spawn(Deferring);
    let (port, answer) = reply_port();
    let timer = within(
        &exec,
        LONG,
        actor.ask(|r| DeferMsg::Defer(ms(3_600_000), port, r)),
    )
    .await
    .expect("deferred");
    assert!(timer.cancel());
    assert_eq!(within(&exec, LONG, answer).await, Err(NoReply::Dropped));

    // The handle's cancel came first: the actor's end that follows does not change why.
    let actor = system.spawn(Deferring);
    let (port, answer) = reply_port();
    within(&exec, LONG, actor.tell(DeferMsg::CancelThenStop(port)))
        .await
        .expect("told");
    assert_eq!(within(&exec, LONG, answer).await, Err(NoReply::Dropped));

    // A mailbox of one, held full: the timer's send waits for room until the stop.
    let actor = system
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(Deferring);
    let (port, answer) = reply_port();
    within(&exec, LONG, actor.ask(|r| DeferMsg::Defer(ms(1), port, r)))
        .await
        .expect("deferred");
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, actor.ask(|r| DeferMsg::Hold(r, gate)))
        .await
        .expect("held");
    let (filler, _) = reply_port();
    within(&exec, LONG, actor.tell(DeferMsg::Answer(filler)))
        .await
        .expect("the mailbox's one place taken");
    sleep(&exec, ms(20)).await; // the timer is due, and waits for room
    actor.stop();
    let _ = open.send(());
    assert_eq!(within(&exec, LONG, answer).await, Err(NoReply::Stopped));
}

/// Arms a timer and fills its mailbox from a handler, then runs the smol executor inline in that
/// handler (`SmolExecutor::block_on`).
struct InlineRunner {
    executor: SmolExecutor,
    handled: Vec<&'static str>,
}

enum InlineMsg {
    /// `run_later(1 ms, Note("timer"))`; fills the mailbox (`Note("fill")` to itself until it is
    /// full); then runs the executor inline for 50 ms, while the timer comes due.
    ArmFillRunInline,
    Note(&'static str),
    Handled(Reply<Vec<&'static str>>),
}

impl Actor for InlineRunner {
    type Message = InlineMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for InlineRunner {
    async fn handle(
        &mut self,
        msg: InlineMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            InlineMsg::ArmFillRunInline => {
                ctx.run_later(ms(1), InlineMsg::Note("timer"));
                while ctx.notify(InlineMsg::Note("fill")).is_ok() {}
                self.executor.block_on(async_io::Timer::after(ms(50)));
            }
            InlineMsg::Note(what) => self.handled.push(what),
            InlineMsg::Handled(reply) => {
                let _ = reply.send(self.handled.clone());
            }
        }
        Ok(())
    }
}

/// A timer polled inline by the actor's own handler (smol's `block_on` runs the executor's
/// tasks on the handler's thread) finds the actor's full `Block` mailbox: it cannot wait for
/// room there, as only the handler's return makes room, and it does not drop the message either:
/// it offers it again once polled elsewhere, and the message is handled after those that filled
/// the mailbox. Nothing is dropped.
#[test]
fn a_timer_polled_inside_its_actors_handler_delivers_once_there_is_room() {
    let executor = SmolExecutor::new(Arc::new(async_executor::Executor::new()));
    let system = System::new(executor.clone());
    let handled = executor.block_on(async {
        let actor = system.spawn_with(
            InlineRunner {
                executor: executor.clone(),
                handled: Vec::new(),
            },
            Bounded::<Block>::with_capacity(2).unwrap(),
        );
        actor.tell(InlineMsg::ArmFillRunInline).await.expect("told");
        let mut handled = Vec::new();
        for _ in 0..200 {
            handled = actor.ask(InlineMsg::Handled).await.expect("asked");
            if handled.last() == Some(&"timer") {
                break;
            }
            async_io::Timer::after(ms(5)).await;
        }
        assert_eq!(actor.dropped_count(), 0, "the timer's message was dropped");
        handled
    });
    let (timer, fills) = handled.split_last().expect("handled");
    assert_eq!(*timer, "timer", "{handled:?}");
    assert!(
        !fills.is_empty() && fills.iter().all(|n| *n == "fill"),
        "{handled:?}"
    );
}

/// An executor that polls its tasks only when asked, on the asking thread (as
/// `SmolExecutor::block_on` runs smol's tasks inline), and whose sleeps are over at once, as the
/// `Executor` trait's own example's are (it blocks the thread until the deadline instead).
#[derive(Clone, Default)]
struct InlineExecutor {
    queue: Arc<::std::sync::Mutex<::std::collections::VecDeque<Arc<InlineTask>>>>,
}

type InlineFuture = ::std::pin::Pin<Box<dyn ::std::future::Future<Output = ()> + Send>>;

struct InlineTask {
    future: ::std::sync::Mutex<Option<InlineFuture>>,
    queue: Arc<::std::sync::Mutex<::std::collections::VecDeque<Arc<InlineTask>>>>,
}

impl ::std::task::Wake for InlineTask {
    fn wake(self: Arc<Self>) {
        let queue = self.queue.clone();
        queue.lock().unwrap().push_back(self);
    }
}

impl InlineExecutor {
    /// Polls the queued tasks on this thread for `time` (a task being polled further up this
    /// thread's stack is put back for later).
    fn run_for(&self, time: Duration) {
        let end = Instant::now() + time;
        while Instant::now() < end {
            let task = self.queue.lock().unwrap().pop_front();
            let Some(task) = task else {
                ::std::thread::sleep(ms(1));
                continue;
            };
            let Ok(mut future) = task.future.try_lock() else {
                self.queue.lock().unwrap().push_back(task.clone());
                continue;
            };
            if let Some(running) = future.as_mut() {
                let waker = ::std::task::Waker::from(task.clone());
                let mut cx = ::std::task::Context::from_waker(&waker);
                if running.as_mut().poll(&mut cx).is_ready() {
                    *future = None;
                }
            }
        }
    }
}

impl Executor for InlineExecutor {
    type Sleep = ::std::future::Ready<()>;

    fn spawn<F: ::std::future::Future<Output = ()> + Send + 'static>(&self, future: F) {
        let task = Arc::new(InlineTask {
            future: ::std::sync::Mutex::new(Some(Box::pin(future))),
            queue: self.queue.clone(),
        });
        self.queue.lock().unwrap().push_back(task);
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        ::std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        ::std::future::ready(())
    }
}

/// Arms a timer, fills its mailbox, then runs its [`InlineExecutor`] inline for 50 ms.
struct RunsInline {
    executor: InlineExecutor,
    done: ::std::sync::mpsc::Sender<()>,
}

enum RunsInlineMsg {
    Arm,
    Note,
}

impl Actor for RunsInline {
    type Message = RunsInlineMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for RunsInline {
    async fn handle(
        &mut self,
        msg: RunsInlineMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        if let RunsInlineMsg::Arm = msg {
            ctx.run_later(ms(1), RunsInlineMsg::Note);
            while ctx.notify(RunsInlineMsg::Note).is_ok() {}
            self.executor.run_for(ms(50));
            let _ = self.done.send(());
        }
        Ok(())
    }
}

/// The timer of the test above, on an executor whose sleeps are over at once: its offers again
/// must still give the poll back between tries, or the handler running it inline would never
/// return (and the room the timer waits for would never come).
#[test]
fn a_timer_retrying_inside_its_actors_handler_gives_the_poll_back() {
    let executor = InlineExecutor::default();
    let (done, handler_returned) = ::std::sync::mpsc::channel();
    let actor = System::new(executor.clone()).spawn_with(
        RunsInline {
            executor: executor.clone(),
            done,
        },
        Bounded::<Block>::with_capacity(2).unwrap(),
    );
    futures::executor::block_on(actor.tell(RunsInlineMsg::Arm)).expect("told");
    let driver = executor.clone();
    ::std::thread::spawn(move || {
        loop {
            driver.run_for(ms(10));
        }
    });
    assert!(
        handler_returned.recv_timeout(LONG).is_ok(),
        "the handler never returned: the timer's retries held its poll"
    );
}

executor_tests!(
    a_reply_port_in_an_undelivered_timer_message_says_why,
    a_timer_due_while_stopped_runs_never_reaches_the_next_incarnation,
    ticks_a_full_reject_mailbox_refuses_are_counted_and_the_interval_goes_on,
    a_one_shot_a_full_reject_mailbox_refuses_is_dropped_and_over,
    a_tiny_period_never_holds_the_thread,
    far_future_timers_never_fire_and_never_panic,
    run_later_delivers_once,
    cancelled_run_later_never_delivers,
    run_interval_ticks_until_cancelled,
    interval_stops_when_actor_stops,
    interval_is_cancelled_on_restart,
    timer_waiting_for_room_is_cancelled,
);
