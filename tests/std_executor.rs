//! The std executor on its own: a panic that escapes a task or a waker stops no thread (issue #16
//! item 3), and a dropped sleep gives back its timer entry (issue #16 item 8).
//!
//! Every wait is bounded (10 s) so that a regression fails instead of hanging; no assertion is
//! on timing.

#![cfg(feature = "std")]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{self, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use playhouse::prelude::*;

/// How long a test waits for something that should take milliseconds.
const LONG: Duration = Duration::from_secs(10);

/// Runs `f` on a thread of its own and returns its result, failing the test if it takes longer
/// than [`LONG`] (the thread is then left behind, blocked).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LONG)
        .unwrap_or_else(|e| panic!("{what}: no result within {LONG:?} ({e})"))
}

/// Spawns a task that sends on a channel, and waits (bounded) for it to run.
fn a_new_task_runs(executor: &StdExecutor) {
    let (tx, rx) = mpsc::channel();
    executor.spawn(async move {
        let _ = tx.send(42);
    });
    assert_eq!(
        rx.recv_timeout(LONG),
        Ok(42),
        "a task spawned after the panic never ran: the pool thread is gone"
    );
}

/// Panics when dropped.
struct DropBomb;

impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("DropBomb dropped");
    }
}

/// A future that is ready at once and panics when dropped, after it has finished.
struct ReadyThenBomb(#[allow(dead_code)] DropBomb);

impl Future for ReadyThenBomb {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut task::Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// A future that panics when polled, and again when dropped afterwards.
struct PanicsThenBomb(#[allow(dead_code)] DropBomb);

impl Future for PanicsThenBomb {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut task::Context<'_>) -> Poll<()> {
        panic!("PanicsThenBomb polled");
    }
}

struct Echo;

enum EchoMsg {
    Echo(u64, Reply<u64>),
}

impl Actor for Echo {
    type Message = EchoMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Echo {
    async fn handle(&mut self, msg: EchoMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        let EchoMsg::Echo(n, reply) = msg;
        let _ = reply.send(n);
        Ok(())
    }
}

#[test]
fn a_task_that_panics_does_not_stop_its_pool_thread() {
    let executor = StdExecutor::with_threads(1).expect("threads");
    executor.spawn(async { panic!("a task panicked") });
    a_new_task_runs(&executor);
    // Again, with a task that was suspended before it panicked.
    let (tx, rx) = mpsc::channel::<()>();
    let sleep = executor.sleep_until(Instant::now() + Duration::from_millis(10));
    executor.spawn(async move {
        sleep.await;
        let _ = tx.send(());
        panic!("a task panicked after a sleep");
    });
    rx.recv_timeout(LONG).expect("the sleeping task ran");
    a_new_task_runs(&executor);
}

/// Spawns a task with `make`'s future on a one-thread pool, then checks that a new task runs.
fn the_pool_thread_survives<F: Future<Output = ()> + Send + 'static>(make: impl FnOnce() -> F) {
    let executor = StdExecutor::with_threads(1).expect("threads");
    executor.spawn(make());
    a_new_task_runs(&executor);
}

#[test]
fn a_task_whose_drop_panics_after_it_finished_does_not_stop_its_pool_thread() {
    the_pool_thread_survives(|| ReadyThenBomb(DropBomb));
}

#[test]
fn a_task_that_panics_and_then_panics_when_dropped_does_not_stop_its_pool_thread() {
    the_pool_thread_survives(|| PanicsThenBomb(DropBomb));
}

#[test]
fn a_task_whose_panic_payload_panics_when_dropped_does_not_stop_its_pool_thread() {
    the_pool_thread_survives(|| async { std::panic::panic_any(DropBomb) });
}

#[test]
fn an_actor_answers_after_a_panic_escaped_a_task_on_a_one_thread_pool() {
    let executor = StdExecutor::with_threads(1).expect("threads");
    executor.spawn(async { panic!("a task panicked") });
    executor.spawn(ReadyThenBomb(DropBomb));
    let actor = System::new(executor.clone()).spawn(Echo);
    let answer = within("an ask after a panic", move || {
        executor.block_on(actor.ask(|r| EchoMsg::Echo(7, r)))
    });
    assert_eq!(answer.ok(), Some(7));
}

/// A waker that panics when woken.
struct PanicsOnWake;

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        panic!("PanicsOnWake woken");
    }
}

/// A waker that panics when its last reference is dropped.
struct PanicsOnDrop;

impl Wake for PanicsOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}

/// Registers a sleep due in 50 ms with `waker` and drops this thread's clone, so that the timer
/// thread holds the only one (it wakes it, and drops it); then checks that a sleep due later
/// still fires.
fn the_timer_thread_survives(waker: Waker) {
    let executor = StdExecutor::with_threads(1).expect("threads");
    let mut sleep = executor.sleep_until(Instant::now() + Duration::from_millis(50));
    let pending = Pin::new(&mut sleep)
        .poll(&mut task::Context::from_waker(&waker))
        .is_pending();
    assert!(pending, "the sleep registered its waker");
    drop(waker);
    let later = Instant::now() + Duration::from_millis(200);
    within("a sleep after a panicking waker", move || {
        executor.block_on(executor.sleep_until(later));
    });
    // It has fired: dropping it drops no waker.
    drop(sleep);
}

#[test]
fn a_waker_that_panics_when_woken_does_not_stop_the_timer_thread() {
    the_timer_thread_survives(Waker::from(Arc::new(PanicsOnWake)));
}

#[test]
fn a_waker_that_panics_when_dropped_does_not_stop_the_timer_thread() {
    the_timer_thread_survives(Waker::from(Arc::new(PanicsOnDrop)));
}

/// A waker that reports each wake on a channel.
struct Reports(Mutex<mpsc::Sender<()>>);

impl Wake for Reports {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().unwrap().send(());
    }
}

/// The most entries the timer may keep once the dropped sleeps are compacted away (they were
/// 100 000).
const FEW: usize = 1_000;

/// Waits (bounded) until the timer holds at most `bound` entries.
fn entries_fall_to(executor: &StdExecutor, bound: usize) {
    let deadline = Instant::now() + LONG;
    loop {
        let entries = executor.timer_entries();
        if entries <= bound {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the timer still holds {entries} entries (expected at most {bound})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dropped_sleeps_free_their_timer_entries() {
    let executor = StdExecutor::with_threads(1).expect("threads");
    let in_an_hour = Instant::now() + Duration::from_secs(3600);
    let noop = &mut task::Context::from_waker(Waker::noop());
    // Live across the drops: one of an hour, one that fires soon and must still be woken.
    let mut kept = executor.sleep_until(in_an_hour);
    assert!(Pin::new(&mut kept).poll(noop).is_pending());
    let (woken_tx, woken) = mpsc::channel();
    let reports = Waker::from(Arc::new(Reports(Mutex::new(woken_tx))));
    let mut soon = executor.sleep_until(Instant::now() + Duration::from_millis(300));
    assert!(
        Pin::new(&mut soon)
            .poll(&mut task::Context::from_waker(&reports))
            .is_pending()
    );

    let mut sleeps: Vec<_> = (0..100_000)
        .map(|_| executor.sleep_until(in_an_hour))
        .collect();
    for sleep in &mut sleeps {
        assert!(Pin::new(sleep).poll(noop).is_pending());
    }
    assert!(executor.timer_entries() >= 100_000);
    drop(sleeps);
    entries_fall_to(&executor, FEW);
    assert!(
        executor.timer_entries() >= 2,
        "the live sleeps are still registered"
    );

    // The soon one fires without being polled again: its entry survived the compaction.
    woken
        .recv_timeout(LONG)
        .expect("the live sleep was woken after the dropped ones were freed");
    assert!(Pin::new(&mut soon).poll(noop).is_ready());
    // And a new sleep still fires.
    let exec = executor.clone();
    within("a new sleep", move || {
        exec.block_on(exec.sleep_until(Instant::now() + Duration::from_millis(20)))
    });
    drop(kept);
    entries_fall_to(&executor, FEW);
}

#[test]
fn answered_timed_asks_free_their_timer_entries() {
    let executor = StdExecutor::with_threads(1).expect("threads");
    let actor = System::new(executor.clone()).spawn(Echo);
    let exec = executor.clone();
    let asked = actor.clone();
    let sum = within("100 000 timed asks", move || {
        exec.block_on(async move {
            let mut sum = 0;
            for n in 0..100_000 {
                sum += asked
                    .ask_timeout(|r| EchoMsg::Echo(n, r), Duration::from_secs(3600))
                    .await
                    .expect("answered");
            }
            sum
        })
    });
    assert_eq!(sum, (0..100_000).sum::<u64>());
    entries_fall_to(&executor, FEW);
    // The actor still answers a timed ask.
    let exec = executor.clone();
    let answer = within("a timed ask", move || {
        exec.block_on(actor.ask_timeout(|r| EchoMsg::Echo(1, r), Duration::from_secs(3600)))
    });
    assert_eq!(answer.ok(), Some(1));
}

/// A task that never waits for anything: each poll counts itself, wakes its own waker and returns
/// `Pending` (a yield), until `stop` is set. It reports its first poll on `started`.
struct YieldsForever {
    polls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    started: Option<mpsc::Sender<()>>,
    ended: mpsc::Sender<()>,
}

impl Future for YieldsForever {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        }
        if self.stop.load(Ordering::Relaxed) {
            let _ = self.ended.send(());
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_task_that_yields_forever_does_not_starve_another_on_a_one_thread_pool() {
    let executor = StdExecutor::with_threads(1).expect("threads");
    let polls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel();
    let (ended_tx, ended) = mpsc::channel();
    executor.spawn(YieldsForever {
        polls: polls.clone(),
        stop: stop.clone(),
        started: Some(started_tx),
        ended: ended_tx,
    });
    // The yielding task holds the pool's only thread before the other one is spawned.
    started
        .recv_timeout(LONG)
        .expect("the yielding task was polled");

    let (tx, rx) = mpsc::channel();
    executor.spawn(async move {
        let _ = tx.send(42);
    });
    let answer = rx.recv_timeout(LONG);
    // Let the yielding task end whatever happened (before the fix it spins on, and the thread
    // with it, until the test binary exits).
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        answer,
        Ok(42),
        "the second task never ran: the yielding one kept the pool's only thread \
         ({} polls)",
        polls.load(Ordering::Relaxed)
    );
    ended
        .recv_timeout(LONG)
        .expect("the yielding task was polled again after the other one ran, and ended");
    assert!(polls.load(Ordering::Relaxed) >= 2);
}
