//! Faults of the actor task and its timers (issue #16, items 2, 3, 9, 10 and 11): a panicking
//! `Drop`, a panicking `run_interval` closure, a restart loop that never yields, a runtime dropped
//! under a handler holding a reply port, and a runtime without a timer driver.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::future::{Future, pending};
use ::std::pin::Pin;
use ::std::sync::atomic::{AtomicUsize, Ordering};
use ::std::sync::{Arc, mpsc as std_mpsc};
use ::std::task::{Context as TaskContext, Poll};
use ::std::time::Duration;

use common::*;
use futures::channel::{mpsc, oneshot};
use playhouse::prelude::*;
use playhouse::{TimerHandle, reply_port};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Yields once to whatever executor polls it.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Runs `test` on a thread of its own and fails if it has not finished after `limit`: a test whose
/// executor is starved cannot time itself out (the harness's deadline needs the same thread).
/// The starved thread is left behind; the test binary ends it when it exits.
fn with_watchdog(limit: Duration, test: fn()) {
    let (done_tx, done_rx) = std_mpsc::channel();
    let thread = ::std::thread::spawn(move || {
        test();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) => thread.join().expect("the test thread finished"),
        Err(std_mpsc::RecvTimeoutError::Disconnected) => {
            ::std::panic::resume_unwind(thread.join().expect_err("the test thread panicked"))
        }
        Err(std_mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {limit:?}: its executor's thread is starved")
        }
    }
}

/// [`executor_tests!`], each test run under [`with_watchdog`].
macro_rules! watched_executor_tests {
    ($( $name:ident ),* $(,)?) => {
        mod watched_tokio_multi {
            $( #[test] fn $name() { super::with_watchdog(super::WATCHDOG, || $crate::common::run_tokio_multi(super::$name)) } )*
        }
        mod watched_tokio_current {
            $( #[test] fn $name() { super::with_watchdog(super::WATCHDOG, || $crate::common::run_tokio_current(super::$name)) } )*
        }
        mod watched_smol {
            $( #[test] fn $name() { super::with_watchdog(super::WATCHDOG, || $crate::common::run_smol(super::$name)) } )*
        }
        mod watched_std {
            $( #[test] fn $name() { super::with_watchdog(super::WATCHDOG, || $crate::common::run_std(super::$name)) } )*
        }
        /// Tokio multi-thread runtime with one worker: the actor and the other task share it.
        mod watched_tokio_one_worker {
            $( #[test] fn $name() { super::with_watchdog(super::WATCHDOG, || super::run_tokio_one_worker(super::$name)) } )*
        }
        /// `StdExecutor` with one pool thread.
        mod watched_std_one_thread {
            $(
                #[test]
                fn $name() { super::with_watchdog(super::WATCHDOG, || super::run_std_one_thread(super::$name)) }
            )*
        }
    };
}

fn run_tokio_one_worker<F, Fut>(body: F)
where
    F: FnOnce(TokioExecutor) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let exec = TokioExecutor::current();
        within(&exec, TEST_DEADLINE, body(exec.clone())).await;
    });
}

fn run_std_one_thread<F, Fut>(body: F)
where
    F: FnOnce(StdExecutor) -> Fut,
    Fut: Future<Output = ()>,
{
    let exec = StdExecutor::with_threads(1).expect("std executor");
    playhouse::testing::block_on(within(&exec, TEST_DEADLINE, body(exec.clone())));
}

/// A little longer than the harness's own deadline, which fires first when it can.
const WATCHDOG: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------------
// Item 2: an actor whose `Drop` panics.

/// Panics when dropped, after counting the drop.
struct PanicsOnDrop {
    drops: Arc<AtomicUsize>,
}

enum DropMsg {
    /// Answers, then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    /// Answers with the incarnation.
    Ask(Reply<u32>),
    /// Returns an error, ending the incarnation.
    Fail,
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        // Not while unwinding: that would abort the whole test binary.
        if !::std::thread::panicking() {
            panic!("drop boom");
        }
    }
}

impl Actor for PanicsOnDrop {
    type Message = DropMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for PanicsOnDrop {
    async fn handle(&mut self, msg: DropMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            DropMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            DropMsg::Ask(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
            DropMsg::Fail => return Err(FAIL),
        }
        Ok(())
    }
}

/// The case: two requests queued behind a busy handler, then a kill. The actor ends
/// `Killed` (the reason it ended with, not the executor's "dropped the task"), the discarded
/// requests resolve `Stopped` (not `Panicked`), and the end is reported once.
async fn a_panicking_drop_keeps_the_kill_reason<E: Executor>(exec: E) {
    let drops = counter();
    let actor = System::new(exec.clone()).spawn(PanicsOnDrop {
        drops: drops.clone(),
    });
    let watched = counter();
    let w = watched.clone();
    actor.on_exit(move |_, _| {
        w.fetch_add(1, Ordering::SeqCst);
    });
    let (open, gate) = oneshot::channel::<()>();
    within(&exec, LONG, actor.ask(|r| DropMsg::Hold(r, gate)))
        .await
        .expect("the actor took the Hold message");
    let (r1, rx1) = reply_port::<u32>();
    let (r2, rx2) = reply_port::<u32>();
    assert!(actor.try_tell(DropMsg::Ask(r1)).is_ok());
    assert!(actor.try_tell(DropMsg::Ask(r2)).is_ok());
    actor.kill();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
    assert_eq!(within(&exec, LONG, rx1).await, Err(NoReply::Stopped));
    assert_eq!(within(&exec, LONG, rx2).await, Err(NoReply::Stopped));
    assert_eq!(actor.discarded_count(), 2);
    assert_eq!(count(&drops), 1);
    eventually(&exec, "the watcher is told", || count(&watched) == 1).await;
    // Nothing more comes: the end was reported once.
    sleep(&exec, ms(20)).await;
    assert_eq!(count(&watched), 1);
    assert!(matches!(actor.exit_reason(), Some(ExitReason::Killed)));
    drop(open);
}

/// The same panic on a restart (the old actor dropped before the fresh one starts): the restart
/// goes on, the new incarnation handles what was queued, and the final end keeps its reason.
async fn a_panicking_drop_between_incarnations_does_not_stop_the_restart<E: Executor>(exec: E) {
    let drops = counter();
    let fresh = drops.clone();
    let actor = System::new(exec.clone()).spawn_restartable(
        PanicsOnDrop {
            drops: drops.clone(),
        },
        playhouse::restart_with(move |_| {
            Some(PanicsOnDrop {
                drops: fresh.clone(),
            })
        }),
    );
    actor.tell(DropMsg::Fail).await.expect("tell");
    let incarnation = within(&exec, LONG, actor.ask(DropMsg::Ask))
        .await
        .expect("the second incarnation answers");
    assert_eq!(incarnation, 2);
    assert_eq!(
        count(&drops),
        1,
        "the first incarnation's actor was dropped"
    );
    actor.stop();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert_eq!(count(&drops), 2);
}

/// Panics when dropped (not while unwinding).
struct Grenade;

impl Drop for Grenade {
    fn drop(&mut self) {
        if !::std::thread::panicking() {
            panic!("grenade boom");
        }
    }
}

/// Its handler holds a [`Grenade`] while it waits; `Ask` answers.
struct HoldsGrenade;

enum GrenadeMsg {
    Hold(Reply<()>),
    Ask(Reply<()>),
}

impl Actor for HoldsGrenade {
    type Message = GrenadeMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for HoldsGrenade {
    async fn handle(
        &mut self,
        msg: GrenadeMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            GrenadeMsg::Hold(busy) => {
                let _grenade = Grenade;
                let _ = busy.send(());
                pending::<()>().await;
            }
            GrenadeMsg::Ask(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// The same fault one level down: a kill cuts a suspended handler whose local panics when
/// dropped. The actor still ends `Killed`, and what was queued is discarded as `Stopped`.
async fn a_panicking_drop_in_a_cut_handler_keeps_the_kill_reason<E: Executor>(exec: E) {
    let actor = System::new(exec.clone()).spawn(HoldsGrenade);
    within(&exec, LONG, actor.ask(GrenadeMsg::Hold))
        .await
        .expect("the handler is holding");
    let (queued, queued_rx) = reply_port::<()>();
    assert!(actor.try_tell(GrenadeMsg::Ask(queued)).is_ok());
    actor.kill();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
    assert_eq!(within(&exec, LONG, queued_rx).await, Err(NoReply::Stopped));
    assert_eq!(actor.discarded_count(), 1);
}

/// Holds its handler until a gate opens, then fails; keeps what it is sent.
struct Discards;

enum DiscardMsg {
    /// Answers, waits for the gate, then fails (ending the incarnation).
    Hold(Reply<()>, oneshot::Receiver<()>),
    /// A message whose drop panics: handled, it is forgotten; discarded, it explodes.
    Carry(Grenade),
}

impl Actor for Discards {
    type Message = DiscardMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Discards {
    async fn handle(&mut self, msg: DiscardMsg, _: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            DiscardMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
                Err(FAIL)
            }
            DiscardMsg::Carry(grenade) => {
                ::std::mem::forget(grenade);
                Ok(())
            }
        }
    }
}

/// A queued message whose `Drop` panics when the end of the actor discards it: the panic is
/// caught, and the actor still ends with its own reason (a kill, or the handler's failure),
/// reported once to its waiters and watchers.
async fn a_discarded_message_whose_drop_panics_keeps_the_actors_end<E: Executor>(exec: E) {
    for kill in [true, false] {
        let actor = System::new(exec.clone()).spawn(Discards);
        let watched = counter();
        let w = watched.clone();
        actor.on_exit(move |_, _| {
            w.fetch_add(1, Ordering::SeqCst);
        });
        let (open, gate) = oneshot::channel::<()>();
        within(&exec, LONG, actor.ask(|r| DiscardMsg::Hold(r, gate)))
            .await
            .expect("the actor took the Hold message");
        assert!(actor.try_tell(DiscardMsg::Carry(Grenade)).is_ok());
        match kill {
            true => actor.kill(),
            false => drop(open),
        }
        let reason = within(&exec, LONG, actor.wait()).await;
        match kill {
            true => assert!(matches!(reason, ExitReason::Killed), "{reason:?}"),
            false => assert_failed_with(&reason, &FAIL),
        }
        assert!(!actor.is_alive());
        assert_eq!(actor.discarded_count(), 1);
        eventually(&exec, "the watcher is told", || count(&watched) == 1).await;
        // The executor goes on: another actor answers.
        let other = System::new(exec.clone()).spawn(Discards);
        let (open, gate) = oneshot::channel::<()>();
        within(&exec, LONG, other.ask(|r| DiscardMsg::Hold(r, gate)))
            .await
            .expect("another actor answers");
        drop(open);
    }
}

/// Counts its drop, then panics, even while another panic unwinds (two such drops in one
/// unwinding would abort the process).
struct Bomb(Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("bomb");
    }
}

/// Holds its handler until a gate opens, then fails; forgets the bombs it handles.
struct CarriesBombs;

enum BombMsg {
    Hold(Reply<()>, oneshot::Receiver<()>),
    Carry(Bomb),
    Ask(Reply<u32>),
}

impl Actor for CarriesBombs {
    type Message = BombMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for CarriesBombs {
    async fn handle(&mut self, msg: BombMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            BombMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
                Err(FAIL)
            }
            BombMsg::Carry(bomb) => {
                ::std::mem::forget(bomb);
                Ok(())
            }
            BombMsg::Ask(reply) => {
                let _ = reply.send(ctx.incarnation());
                Ok(())
            }
        }
    }
}

/// Three queued messages whose every drop panics, discarded together: by a kill, by the end of
/// a failed incarnation, and by a drained restart. Each drop is contained on its own, so every
/// one runs (the second did not while the first unwound, and then aborted the process), the
/// actor ends with its own reason, and a drained restart goes on.
async fn discarded_messages_whose_drops_all_panic_are_each_dropped<E: Executor>(exec: E) {
    for end in ["kill", "failure", "drained restart"] {
        let drops = counter();
        let spawner =
            System::new(exec.clone()).spawner(Bounded::<playhouse::mailbox::Block>::default());
        let actor = match end {
            "drained restart" => spawner.spawn_supervised(CarriesBombs, Drains(|| CarriesBombs)),
            _ => spawner.spawn(CarriesBombs),
        };
        let (open, gate) = oneshot::channel::<()>();
        within(&exec, LONG, actor.ask(|r| BombMsg::Hold(r, gate)))
            .await
            .expect("the actor took the Hold message");
        for _ in 0..3 {
            assert!(actor.try_tell(BombMsg::Carry(Bomb(drops.clone()))).is_ok());
        }
        match end {
            "kill" => actor.kill(),
            _ => drop(open),
        }
        if end == "drained restart" {
            eventually(&exec, "the drain", || actor.discarded_count() == 3).await;
            assert_eq!(count(&drops), 3, "{end}");
            let incarnation = within(&exec, LONG, actor.ask(BombMsg::Ask)).await;
            assert_eq!(incarnation.ok(), Some(2), "the restart went on");
            actor.stop();
        }
        let reason = within(&exec, LONG, actor.wait()).await;
        match end {
            "kill" => assert!(matches!(reason, ExitReason::Killed), "{reason:?}"),
            "failure" => assert_failed_with(&reason, &FAIL),
            _ => assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}"),
        }
        assert_eq!(actor.discarded_count(), 3, "{end}");
        assert_eq!(count(&drops), 3, "{end}: every bomb was dropped once");
    }
}

/// An expired message whose drop panics: contained as a discarded one is, so the actor goes on
/// and answers the next ask (the panic had ended it).
async fn an_expired_message_whose_drop_panics_leaves_the_actor_running<E: Executor>(exec: E) {
    let drops = counter();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<
            playhouse::mailbox::Expiring<playhouse::mailbox::Block>,
        >::default())
        .spawn(CarriesBombs);
    for _ in 0..2 {
        actor
            .tell_by(BombMsg::Carry(Bomb(drops.clone())), exec.now())
            .await
            .expect("room");
    }
    let incarnation = within(&exec, LONG, actor.ask(BombMsg::Ask)).await;
    assert_eq!(incarnation.ok(), Some(1), "the actor answers, unrestarted");
    assert_eq!((count(&drops), actor.expired_count()), (2, 2));
    actor.stop();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
}

/// A `DropOldest` send that pushes out a message whose drop panics returns `Ok`: its own
/// message was queued, and the panic is someone else's. A `DropNewest` send whose own message
/// is dropped returns `Ok` as well, as it does for any overflow. The observer counts the drop.
async fn an_overflow_whose_drop_panics_does_not_reach_the_sender<E: Executor>(exec: E) {
    async fn overflow<E: Executor, S: playhouse::mailbox::Strategy>(exec: &E, oldest: bool) {
        let drops = counter();
        let metrics = playhouse::observer::Metrics::new();
        let actor = System::new(exec.clone())
            .with_observer(metrics.clone())
            .spawner(Bounded::<S>::with_capacity(1).unwrap())
            .spawn(CarriesBombs);
        let (open, gate) = oneshot::channel::<()>();
        within(exec, LONG, actor.ask(|r| BombMsg::Hold(r, gate)))
            .await
            .expect("the actor took the Hold message");
        assert!(actor.try_tell(BombMsg::Carry(Bomb(drops.clone()))).is_ok());
        let sent = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
            actor.try_tell(BombMsg::Carry(Bomb(drops.clone()))).is_ok()
        }));
        assert_eq!(sent.ok(), Some(true), "oldest: {oldest}");
        assert_eq!(count(&drops), 1, "oldest: {oldest}");
        assert_eq!(actor.dropped_count(), 1);
        let observed = metrics.snapshot(actor.id()).expect("observed");
        assert_eq!(observed.dropped, 1, "oldest: {oldest}");
        drop(open);
        let _ = within(exec, LONG, actor.wait()).await;
    }
    overflow::<E, playhouse::mailbox::DropOldest>(&exec, true).await;
    overflow::<E, playhouse::mailbox::DropNewest>(&exec, false).await;
}

// ---------------------------------------------------------------------------------------------
// Item 9: a restart loop must not starve its executor.

/// Fails in `started`, every time.
struct StartFails {
    starts: Arc<AtomicUsize>,
}

impl Actor for StartFails {
    type Message = ();
    type Error = TestError;
}

impl<V: Env> Handler<V> for StartFails {
    async fn started(&mut self, _: &mut Context<Self, V>) -> Result<(), TestError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Err(START_FAIL)
    }

    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), TestError> {
        Ok(())
    }
}

/// Spawns an actor that restarts forever, and a task that watches it restart (yielding between
/// looks: on a single thread, it runs only if the actor's task yields) and then ends it with
/// `end`. Returns once the actor has ended.
async fn restart_loop_ended_from_another_task<E: Executor>(
    exec: E,
    end: fn(&ActorRef<StartFails>),
) {
    let starts = counter();
    let fresh = starts.clone();
    let actor = System::new(exec.clone()).spawn_restartable(
        StartFails {
            starts: starts.clone(),
        },
        playhouse::restart_with(move |_| {
            Some(StartFails {
                starts: fresh.clone(),
            })
        }),
    );
    let (done_tx, done_rx) = oneshot::channel();
    let watcher = actor.clone();
    let seen = starts.clone();
    exec.spawn(async move {
        // Another task making progress while the actor restarts: it sees the count grow
        // between two of its own polls, many times.
        let mut interleaved = 0;
        let mut last = count(&seen);
        while interleaved < 50 {
            yield_now().await;
            let now = count(&seen);
            if now > last {
                interleaved += 1;
            }
            last = now;
        }
        end(&watcher);
        let _ = done_tx.send(interleaved);
    });
    let interleaved = within(&exec, LONG, done_rx)
        .await
        .expect("the other task ran");
    assert_eq!(interleaved, 50);
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(
        matches!(
            &reason,
            ExitReason::Failed(_) | ExitReason::Shutdown(None) | ExitReason::Killed
        ),
        "{reason:?}"
    );
    let after = count(&starts);
    sleep(&exec, ms(20)).await;
    assert_eq!(count(&starts), after, "no incarnation starts after the end");
}

async fn a_restart_loop_can_be_stopped_from_another_task<E: Executor>(exec: E) {
    restart_loop_ended_from_another_task(exec, ActorRef::stop).await;
}

async fn a_restart_loop_can_be_killed_from_another_task<E: Executor>(exec: E) {
    restart_loop_ended_from_another_task(exec, ActorRef::kill).await;
}

// ---------------------------------------------------------------------------------------------
// Item 3 (timers): a `run_interval` closure that panics.

/// Starts an interval whose closure panics on its second call.
struct PanickyInterval {
    ticks: mpsc::UnboundedSender<u32>,
}

enum IntervalMsg {
    Start(Reply<TimerHandle>),
    Tick(u32),
}

impl Actor for PanickyInterval {
    type Message = IntervalMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for PanickyInterval {
    async fn handle(
        &mut self,
        msg: IntervalMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            IntervalMsg::Start(reply) => {
                let mut n = 0;
                let handle = ctx.run_interval(ms(5), move || {
                    n += 1;
                    if n == 2 {
                        panic!("interval boom");
                    }
                    IntervalMsg::Tick(n)
                });
                let _ = reply.send(handle);
            }
            IntervalMsg::Tick(n) => {
                let _ = self.ticks.unbounded_send(n);
            }
        }
        Ok(())
    }
}

/// The closure is the actor's code: its panic ends the actor with `Panicked` (as a panic in a
/// handler does), and the timer ends. Neither goes unnoticed.
async fn a_panicking_interval_closure_ends_the_timer_and_the_actor<E: Executor>(exec: E) {
    let (tx, mut ticks) = mpsc::unbounded();
    let actor = System::new(exec.clone()).spawn(PanickyInterval { ticks: tx });
    let timer = within(&exec, LONG, actor.ask(IntervalMsg::Start))
        .await
        .expect("ask");
    assert_eq!(next(&exec, &mut ticks).await, 1);
    let reason = within(&exec, LONG, actor.wait()).await;
    assert_panicked_with(&reason, "the run_interval closure panicked: interval boom");
    assert!(!timer.is_active(), "the timer has ended");
    assert!(!timer.cancel());
}

executor_tests!(
    a_panicking_drop_keeps_the_kill_reason,
    a_panicking_drop_between_incarnations_does_not_stop_the_restart,
    a_panicking_drop_in_a_cut_handler_keeps_the_kill_reason,
    a_discarded_message_whose_drop_panics_keeps_the_actors_end,
    discarded_messages_whose_drops_all_panic_are_each_dropped,
    an_overflow_whose_drop_panics_does_not_reach_the_sender,
    an_expired_message_whose_drop_panics_leaves_the_actor_running,
    a_panicking_interval_closure_ends_the_timer_and_the_actor,
);

watched_executor_tests!(
    a_restart_loop_can_be_stopped_from_another_task,
    a_restart_loop_can_be_killed_from_another_task,
);

// ---------------------------------------------------------------------------------------------
// Item 10: the executor drops the actor's task.

/// Keeps reply ports: in its state (`Park`) or in its suspended handler (`HoldPort`).
#[derive(Default)]
struct Keeper {
    parked: Vec<Reply<()>>,
}

enum KeepMsg {
    Park(Reply<()>),
    /// Says it has started, then waits forever holding the port.
    HoldPort(Reply<()>, oneshot::Sender<()>),
}

impl Actor for Keeper {
    type Message = KeepMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Keeper {
    async fn handle(&mut self, msg: KeepMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            KeepMsg::Park(reply) => self.parked.push(reply),
            KeepMsg::HoldPort(reply, started) => {
                let _held = reply;
                let _ = started.send(());
                pending::<()>().await;
            }
        }
        Ok(())
    }
}

/// Drops `rt` while a `Keeper` holds one port in its state, one in its suspended handler and
/// one in its mailbox: each resolves `Stopped`, and the exit says the executor dropped the task.
fn ports_resolve_stopped_when_the_runtime_is_dropped(rt: tokio::runtime::Runtime) {
    let (actor, ports) = rt.block_on(async {
        let actor = System::new(TokioExecutor::current()).spawn(Keeper::default());
        let (in_state, in_state_rx) = reply_port::<()>();
        actor.tell(KeepMsg::Park(in_state)).await.expect("tell");
        let (in_handler, in_handler_rx) = reply_port::<()>();
        let (started_tx, started) = oneshot::channel();
        actor
            .tell(KeepMsg::HoldPort(in_handler, started_tx))
            .await
            .expect("tell");
        started.await.expect("the handler started");
        let (queued, queued_rx) = reply_port::<()>();
        actor.try_tell(KeepMsg::Park(queued)).expect("room");
        (
            actor,
            [
                ("in the actor's state", in_state_rx),
                ("in the suspended handler", in_handler_rx),
                ("in the mailbox", queued_rx),
            ],
        )
    });
    drop(rt);
    for (place, rx) in ports {
        assert_eq!(
            futures::executor::block_on(rx),
            Err(NoReply::Stopped),
            "the port {place}"
        );
    }
    match actor.exit_reason() {
        Some(ExitReason::Shutdown(Some(info))) => {
            assert_eq!(&*info, "the executor dropped the actor's task")
        }
        other => panic!("expected the executor's shutdown, got {other:?}"),
    }
}

#[test]
fn ports_resolve_stopped_when_a_current_thread_runtime_is_dropped() {
    ports_resolve_stopped_when_the_runtime_is_dropped(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    );
}

#[test]
fn ports_resolve_stopped_when_a_multi_thread_runtime_is_dropped() {
    ports_resolve_stopped_when_the_runtime_is_dropped(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
}

// ---------------------------------------------------------------------------------------------
// Item 11: a Tokio runtime without a timer driver.

/// A timer started on a runtime without `enable_time` panics in the handler that starts it
/// (Tokio's own message), so the actor ends `Panicked` and the asker hears `Panicked`; it does
/// not return a handle to a timer that will never fire.
fn starting_a_timer_without_a_timer_driver_panics_in_the_handler(
    start: fn(Reply<TimerHandle>) -> TickMsg,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (ticker, _ticks) = Ticker::new();
        let actor = System::new(TokioExecutor::current()).spawn(ticker);
        match actor.ask(start).await {
            Err(AskError::NoReply(NoReply::Panicked)) => {}
            Ok(timer) => panic!(
                "the timer was started without a driver (active: {})",
                timer.is_active()
            ),
            Err(other) => panic!("expected the handler to panic, got {other:?}"),
        }
        match actor.wait().await {
            ExitReason::Panicked(m) => assert!(m.contains("enable_time"), "{m}"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    });
}

#[test]
fn run_later_without_a_timer_driver_panics_in_the_handler() {
    starting_a_timer_without_a_timer_driver_panics_in_the_handler(|r| TickMsg::Later(ms(10), 1, r));
}

#[test]
fn run_interval_without_a_timer_driver_panics_in_the_handler() {
    starting_a_timer_without_a_timer_driver_panics_in_the_handler(|r| {
        TickMsg::Every(ms(10), Arc::new(()), r)
    });
}
