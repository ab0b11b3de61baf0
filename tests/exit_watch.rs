//! Being told of an actor's end (`wait`, `on_exit`) and the timers an incarnation leaves behind,
//! on every executor (issue #16, items 1, 6 and 7).
//!
//! - A watcher that panics costs no other watcher or waiter its notice, and no executor a thread.
//! - A `wait()` resolves only once the end's watchers have run, even when polled while they run.
//! - A `wait()` dropped before the end leaves nothing in the actor's cell, however many there were.
//! - Many timers started in one handler are all cancelled when the incarnation ends.
//!
//! No assertion is on timing.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::future::Future;
use ::std::pin::pin;
use ::std::sync::Arc;
use ::std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use ::std::task::{Context as TaskContext, Poll, Wake};
use ::std::time::Duration;

use common::*;
use futures::channel::oneshot;
use playhouse::prelude::*;
use playhouse::{ActorId, TimerHandle};

/// Adds one to `c` when called.
fn bump(c: &Arc<AtomicUsize>) -> impl FnOnce(ActorId, &ExitReason) + Send + use<> {
    let c = c.clone();
    move |_, _| {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` once in a task of its own; returns once it has been polled (and is pending), with
/// the receiver of what it resolves to. Being in its own task, its waker is its own.
async fn waiting_in_task<E, F>(exec: &E, fut: F) -> oneshot::Receiver<ExitReason>
where
    E: Executor,
    F: Future<Output = ExitReason> + Send + 'static,
{
    let (polled_tx, polled_rx) = oneshot::channel();
    let (result_tx, result_rx) = oneshot::channel();
    exec.spawn(async move {
        let mut fut = pin!(fut);
        let result = match futures::poll!(fut.as_mut()) {
            Poll::Ready(r) => {
                let _ = polled_tx.send(false);
                r
            }
            Poll::Pending => {
                let _ = polled_tx.send(true);
                fut.await
            }
        };
        let _ = result_tx.send(result);
    });
    let pending = within(exec, LONG, polled_rx)
        .await
        .expect("the waiting task ran");
    assert!(pending, "the wait resolved before the actor ended");
    result_rx
}

/// A `wait()` that owns its (weak) reference, for a task of its own.
fn weak_wait<A: Actor>(actor: &ActorRef<A>) -> impl Future<Output = ExitReason> + Send + 'static {
    let weak = actor.downgrade();
    async move { weak.wait().await }
}

async fn told<E: Executor>(exec: &E, rx: oneshot::Receiver<ExitReason>) -> ExitReason {
    within(exec, LONG, rx)
        .await
        .expect("the waiting task sent its result")
}

fn recorder<E: Executor>(system: &System<E>) -> ActorRef<Recorder> {
    system.spawn(Recorder::new().0)
}

// ---------------------------------------------------------------------------------------------
// Item 1: a panicking watcher.

/// A watcher that panics while the actor's end is recorded: the watchers and waiters before and
/// after it are all told, and the executor keeps every thread (three rounds: more than the std
/// executor's two threads).
async fn a_panicking_watcher_costs_no_one_their_notice<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for _round in 0..3 {
        let actor = recorder(&system);
        let before = counter();
        let after = counter();
        actor.on_exit(bump(&before));
        let early = waiting_in_task(&exec, weak_wait(&actor)).await;
        actor.on_exit(|_, _| panic!("watcher boom"));
        let late = waiting_in_task(&exec, weak_wait(&actor)).await;
        let late_recipient = {
            let r: Recipient<Msg> = actor.recipient();
            waiting_in_task(&exec, async move { r.wait().await }).await
        };
        actor.on_exit(bump(&after));
        actor.stop();
        assert!(matches!(
            told(&exec, early).await,
            ExitReason::Shutdown(None)
        ));
        assert!(matches!(
            told(&exec, late).await,
            ExitReason::Shutdown(None)
        ));
        assert!(matches!(
            told(&exec, late_recipient).await,
            ExitReason::Shutdown(None)
        ));
        assert!(matches!(
            within(&exec, LONG, actor.wait()).await,
            ExitReason::Shutdown(None)
        ));
        // `wait` resolved after the watchers: those around the panicking one have run.
        assert_eq!((count(&before), count(&after)), (1, 1), "watchers run");
    }
    // Every thread of the executor still runs actors.
    for _ in 0..4 {
        let fresh = recorder(&system);
        within(&exec, LONG, fresh.ask(Msg::Get))
            .await
            .expect("a fresh actor answers");
    }
}

/// A panicking watcher registered after the end runs at once, on the caller's thread; its panic
/// stays inside `on_exit`, as it would had it run when the actor ended, and the watchers after it
/// are still called.
async fn a_panicking_watcher_added_after_the_end_is_contained<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = recorder(&system);
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
    actor.on_exit(|_, _| panic!("late watcher boom"));
    let after = counter();
    actor.on_exit(bump(&after));
    assert_eq!(count(&after), 1);
}

/// A `wait()` first polled while the end's watchers run (on another thread) resolves only once
/// they have all run, so whoever it wakes sees what they did. The watcher holds the end up for
/// a while after it signals that it runs, so that the other thread polls in that window; the
/// assertion does not depend on how long.
async fn a_wait_polled_while_the_watchers_run_sees_them_done<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = recorder(&system);
    let done = Arc::new(AtomicBool::new(false));
    let (running_tx, running_rx) = ::std::sync::mpsc::channel();
    {
        let done = done.clone();
        actor.on_exit(move |_, _| {
            let _ = running_tx.send(());
            ::std::thread::sleep(Duration::from_millis(50));
            done.store(true, Ordering::SeqCst);
        });
    }
    let (seen_tx, seen_rx) = oneshot::channel();
    let observer = {
        let (weak, done) = (actor.downgrade(), done.clone());
        ::std::thread::spawn(move || {
            running_rx.recv().expect("the watcher runs");
            let reason = futures::executor::block_on(weak.wait());
            let _ = seen_tx.send((reason, done.load(Ordering::SeqCst)));
        })
    };
    actor.stop();
    let (reason, watcher_done) = within(&exec, LONG, seen_rx)
        .await
        .expect("the observer sent what it saw");
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert!(
        watcher_done,
        "wait resolved before the on_exit watcher had finished"
    );
    observer.join().expect("the observer thread");
}

// ---------------------------------------------------------------------------------------------
// Item 7: abandoned waits.

const ABANDONED: usize = 10_000;

/// Polls `fut` once and drops it; `true` if it was pending.
async fn poll_once_and_drop<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    futures::poll!(fut.as_mut()).is_pending()
}

/// 10,000 tasks each poll a `wait()` once (through an `ActorRef`, a `WeakActorRef` or a
/// `Recipient`) and give up: nothing stays registered, and the waits that remain are told.
async fn abandoned_waits_leave_nothing_behind<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = recorder(&system);
    let recipient: Recipient<Msg> = actor.recipient();
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    for i in 0..ABANDONED {
        let tx = tx.clone();
        let (strong, weak, recipient) = (actor.clone(), actor.downgrade(), recipient.clone());
        exec.spawn(async move {
            let pending = match i % 3 {
                0 => poll_once_and_drop(strong.wait()).await,
                1 => poll_once_and_drop(weak.wait()).await,
                _ => poll_once_and_drop(recipient.wait()).await,
            };
            let _ = tx.unbounded_send(pending);
        });
    }
    for _ in 0..ABANDONED {
        assert!(next(&exec, &mut rx).await, "a wait resolved early");
    }
    assert_eq!(actor.exit_waiter_count(), 0, "abandoned waits stayed");

    // The waits still waiting are told, and those that have resolved leave nothing either.
    let kept = waiting_in_task(&exec, weak_wait(&actor)).await;
    assert_eq!(actor.exit_waiter_count(), 1);
    actor.stop();
    assert!(matches!(
        told(&exec, kept).await,
        ExitReason::Shutdown(None)
    ));
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(actor.exit_waiter_count(), 0);
}

/// A waker that records being woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One wait polled again and again, each time by another waker (a future moved between tasks):
/// it holds one entry, and the end wakes the waker of its last poll.
async fn a_repolled_wait_holds_one_entry<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = recorder(&system);
    let mut wait = pin!(actor.wait());
    let mut flags = Vec::new();
    for _ in 0..1_000 {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = flag.clone().into();
        let polled = wait.as_mut().poll(&mut TaskContext::from_waker(&waker));
        assert!(polled.is_pending());
        flags.push(flag);
        assert_eq!(actor.exit_waiter_count(), 1);
    }
    // The same waker again: still one entry.
    let waker = flags[999].clone().into();
    assert!(
        wait.as_mut()
            .poll(&mut TaskContext::from_waker(&waker))
            .is_pending()
    );
    assert_eq!(actor.exit_waiter_count(), 1);
    actor.stop();
    eventually(&exec, "the last poll's waker to be woken", || {
        flags[999].0.load(Ordering::SeqCst)
    })
    .await;
    assert!(flags[..999].iter().all(|f| !f.0.load(Ordering::SeqCst)));
    assert!(matches!(
        within(&exec, LONG, wait).await,
        ExitReason::Shutdown(None)
    ));
}

// ---------------------------------------------------------------------------------------------
// Item 6: many timers.

const TIMERS: usize = 20_000;
const HOUR: Duration = Duration::from_secs(3600);

/// Starts timers on request; counts the ticks it gets.
#[derive(Default)]
struct Starter {
    ticks: u64,
}

enum StarterMsg {
    /// Starts `n` one-hour `run_later`s, cancels every other one itself, answers with all the
    /// handles and ends the incarnation (with an error: the restart policy starts the next).
    StartAndFail(usize, Reply<Vec<TimerHandle>>),
    /// As `StartAndFail`, but the incarnation goes on.
    Start(usize, Reply<Vec<TimerHandle>>),
    Tick,
    Ticks(Reply<u64>),
}

impl Actor for Starter {
    type Message = StarterMsg;
    type Error = TestError;
}

fn start_timers<A: Actor, V: Env>(
    ctx: &mut Context<A, V>,
    n: usize,
    tick: impl Fn() -> A::Message,
) -> Vec<TimerHandle> {
    (0..n)
        .map(|i| {
            let handle = ctx.run_later(HOUR, tick());
            if i % 2 == 1 {
                assert!(handle.cancel(), "a fresh timer was active");
            }
            handle
        })
        .collect()
}

impl<V: Env> Handler<V> for Starter {
    async fn handle(
        &mut self,
        msg: StarterMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), TestError> {
        match msg {
            StarterMsg::StartAndFail(n, reply) => {
                let _ = reply.send(start_timers(ctx, n, || StarterMsg::Tick));
                return Err(TestError("end of the incarnation"));
            }
            StarterMsg::Start(n, reply) => {
                let _ = reply.send(start_timers(ctx, n, || StarterMsg::Tick));
            }
            StarterMsg::Tick => self.ticks += 1,
            StarterMsg::Ticks(reply) => {
                let _ = reply.send(self.ticks);
            }
        }
        Ok(())
    }
}

/// 20,000 timers started in one handler are all cancelled when the incarnation ends (a restart)
/// and when the actor ends; none delivers.
async fn many_timers_are_all_cancelled_with_their_incarnation<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor =
        system.spawn_restartable(
            Starter::default(),
            |_: &ExitReason| Some(Starter::default()),
        );
    let first = within(
        &exec,
        LONG,
        actor.ask(|r| StarterMsg::StartAndFail(TIMERS, r)),
    )
    .await
    .expect("ask");
    assert_eq!(first.len(), TIMERS);
    // The answer comes from the second incarnation, which began after the first one's timers
    // were cancelled.
    assert_eq!(
        within(&exec, LONG, actor.ask(StarterMsg::Ticks))
            .await
            .expect("ask"),
        0
    );
    let active = first.iter().filter(|h| h.is_active()).count();
    assert_eq!(
        active, 0,
        "timers of the ended incarnation are still active"
    );

    let second = within(&exec, LONG, actor.ask(|r| StarterMsg::Start(TIMERS, r)))
        .await
        .expect("ask");
    let active = second.iter().filter(|h| h.is_active()).count();
    assert_eq!(active, TIMERS / 2, "the running incarnation's timers");
    assert_eq!(
        within(&exec, LONG, actor.ask(StarterMsg::Ticks))
            .await
            .expect("ask"),
        0
    );
    assert_eq!(actor.mailbox_len(), 0);
    actor.stop();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    let active = second.iter().filter(|h| h.is_active()).count();
    assert_eq!(active, 0, "timers of the ended actor are still active");
    assert!(first.iter().chain(&second).all(|h| !h.cancel()));
}

#[test]
fn an_exit_wait_is_send_sync_and_unpin() {
    fn assert_traits<T: Send + Sync + Unpin>() {}
    assert_traits::<playhouse::ExitWait<'static>>();
}

executor_tests!(
    a_panicking_watcher_costs_no_one_their_notice,
    a_panicking_watcher_added_after_the_end_is_contained,
    a_wait_polled_while_the_watchers_run_sees_them_done,
    abandoned_waits_leave_nothing_behind,
    a_repolled_wait_holds_one_entry,
    many_timers_are_all_cancelled_with_their_incarnation,
);
