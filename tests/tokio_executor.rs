//! The Tokio adapter on its own: what its timers do once their runtime has shut down (they end,
//! where a bare `tokio::time::Sleep` panics), and the cost of knowing it (one idle task per
//! executor, gone with the executor).
//!
//! Every wait is bounded (10 s) so that a regression fails instead of hanging; no assertion is
//! on timing.

#![cfg(feature = "tokio")]

use std::convert::Infallible;
use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use playhouse::broker::keyed::{ActivationTimedOut, ExecutorShutDown, KeyedSpec};
use playhouse::prelude::*;
use playhouse_core::testing::block_on;
use tokio::runtime::{Builder, Runtime};

/// How long a test waits for something that should take milliseconds.
const LONG: Duration = Duration::from_secs(10);

/// A deadline no test reaches.
fn far() -> Instant {
    Instant::now() + Duration::from_secs(3_600)
}

/// Runs `future` to its end on a thread of its own, outside any runtime, failing the test if
/// it takes longer than [`LONG`] or panics (the thread's panic is printed above the failure).
fn finishes<F: Future + Send + 'static>(what: &str, future: F) -> F::Output
where
    F::Output: Send,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(block_on(future));
    });
    rx.recv_timeout(LONG).unwrap_or_else(|e| match e {
        mpsc::RecvTimeoutError::Timeout => panic!("{what}: did not finish within {LONG:?}"),
        mpsc::RecvTimeoutError::Disconnected => panic!("{what}: panicked (see above)"),
    })
}

fn runtimes() -> [(&'static str, Runtime); 2] {
    [
        (
            "current-thread",
            Builder::new_current_thread().enable_all().build().unwrap(),
        ),
        (
            "multi-thread",
            Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        ),
    ]
}

/// A sleep until a deadline that has come is over at its first poll, as `sleep_until` promises,
/// though Tokio's own timer would round the deadline up to its next millisecond: so a zero
/// `tell_timeout` into a full mailbox does not wait either.
#[test]
fn a_sleep_until_a_deadline_that_came_is_over_at_its_first_poll() {
    for (flavor, runtime) in runtimes() {
        let executor = TokioExecutor::from_handle(runtime.handle().clone());
        runtime.block_on(async {
            for _ in 0..20 {
                let mut now = std::pin::pin!(executor.sleep_until(Instant::now()));
                assert!(
                    futures::poll!(now.as_mut()).is_ready(),
                    "{flavor}: a sleep until now"
                );
            }
            let mut ahead = std::pin::pin!(executor.sleep_until(far()));
            assert!(
                futures::poll!(ahead.as_mut()).is_pending(),
                "{flavor}: an hour to go"
            );
        });
    }
}

/// A timer that is awaited outside its runtime and outlives it ends at once, whether it had
/// been polled (registered in the runtime's timer wheel) before the shutdown or not, and so does
/// one made after the shutdown; `tokio::time::Sleep` itself panics in each case.
#[test]
fn a_timer_outliving_its_runtime_ends_instead_of_panicking() {
    for (flavor, runtime) in runtimes() {
        let executor = TokioExecutor::from_handle(runtime.handle().clone());
        let mut registered = Box::pin(executor.sleep_until(far()));
        runtime.block_on(async {
            assert!(
                futures::poll!(registered.as_mut()).is_pending(),
                "{flavor}: an hour to go"
            );
        });
        let unpolled = executor.sleep_until(far());
        assert!(!executor.is_shut_down(), "{flavor}: the runtime lives");

        drop(runtime);

        assert!(executor.is_shut_down(), "{flavor}: the runtime is gone");
        finishes("a registered timer", registered);
        finishes("a timer never polled", unpolled);
        finishes("a timer made after", executor.sleep_until(far()));
        assert!(
            format!("{executor:?}").contains("shut_down: true"),
            "{executor:?}"
        );
    }
}

/// An executor made from the handle of a runtime already shut down knows it at once.
#[test]
fn an_executor_of_a_runtime_already_shut_down_starts_shut_down() {
    for (flavor, runtime) in runtimes() {
        let handle = runtime.handle().clone();
        drop(runtime);
        let executor = TokioExecutor::from_handle(handle);
        assert!(executor.is_shut_down(), "{flavor}");
        finishes("its timer", executor.sleep_until(far()));
    }
}

/// Each executor made by a constructor (not each clone) has one idle task on the runtime, and
/// that task ends once the executor, its clones and its timers are all gone.
#[test]
fn the_shutdown_watch_ends_with_the_executor_and_its_timers() {
    for (flavor, runtime) in runtimes() {
        let alive = || runtime.metrics().num_alive_tasks();
        // A current-thread runtime runs its tasks only inside `block_on`.
        let settle = |want: usize| {
            let deadline = Instant::now() + LONG;
            while alive() != want {
                assert!(
                    Instant::now() < deadline,
                    "{flavor}: {} tasks alive, want {want}",
                    alive()
                );
                runtime.block_on(tokio::task::yield_now());
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        assert_eq!(alive(), 0);
        let executor = TokioExecutor::from_handle(runtime.handle().clone());
        let clone = executor.clone();
        settle(1);
        let timer = clone.sleep_until(far());
        drop(executor);
        drop(clone);
        settle(1); // the timer still needs the watch
        assert!(alive() == 1, "{flavor}");
        drop(timer);
        settle(0);

        let other = runtime.block_on(async { TokioExecutor::current() });
        settle(1);
        drop(other);
        settle(0);
    }
}

/// Holds a reply port in a timer's message.
struct Deferring;

impl Actor for Deferring {
    type Message = Deferred;
    type Error = Infallible;
}

enum Deferred {
    /// `run_later(an hour, Answer(port))`, answered once the timer is set.
    Defer(Reply<u32>, Reply<()>),
    Answer(Reply<u32>),
}

impl<V: playhouse_core::Env> playhouse_core::Handler<V> for Deferring {
    async fn handle(
        &mut self,
        msg: Deferred,
        ctx: &mut playhouse_core::Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            Deferred::Defer(port, set) => {
                ctx.run_later(Duration::from_secs(3_600), Deferred::Answer(port));
                let _ = set.send(());
            }
            Deferred::Answer(port) => {
                let _ = port.send(1);
            }
        }
        Ok(())
    }
}

/// The runtime shuts down with a timer pending: the executor drops the timer's task with the
/// actor's, and a reply port in the timer's message resolves as one queued in the mailbox
/// would, `Stopped`.
#[test]
fn a_timers_message_dropped_with_its_runtime_says_the_actor_stopped() {
    for (flavor, runtime) in runtimes() {
        let (port, answer) = playhouse::reply_port();
        let actor = runtime.block_on(async {
            let actor = System::new(TokioExecutor::current()).spawn(Deferring);
            actor.ask(|set| Deferred::Defer(port, set)).await.unwrap();
            actor
        });
        drop(runtime);
        assert_eq!(
            finishes("the timer's port", answer),
            Err(NoReply::Stopped),
            "{flavor}"
        );
        assert!(!actor.is_alive(), "{flavor}");
    }
}

/// A keyed actor whose factory (in the tests below) never finishes.
struct Never;

impl Actor for Never {
    type Message = u64;
    type Error = Infallible;
}

impl<V: playhouse_core::Env> playhouse_core::Handler<V> for Never {
    async fn handle(
        &mut self,
        _: u64,
        _: &mut playhouse_core::Context<Self, V>,
    ) -> Result<(), Infallible> {
        Ok(())
    }
}

/// What a user meets: a keyed set on a runtime that has been dropped, its key's factory run in
/// place by a sender outside any runtime, bounded by `activation_timeout`. The activation's
/// timer ends, the activation fails saying that the executor shut down (not that the factory
/// overran its hour), and the message comes back; nothing panics, nothing hangs. The executor
/// says it shut down; a timer that ends on a live runtime is still reported as a timeout.
#[test]
fn a_keyed_send_after_the_runtime_shut_down_reports_instead_of_panicking() {
    for (flavor, runtime) in runtimes() {
        let keyed = runtime.block_on(async {
            let system = System::new(TokioExecutor::current());
            KeyedSpec::new(|_: &u32| std::future::pending::<Result<Never, std::io::Error>>())
                .activation_timeout(Duration::from_secs(3_600))
                .start(&system)
        });
        drop(runtime);

        let sent = keyed.clone();
        let err = finishes("tell_timeout", async move {
            sent.tell_timeout(7, 42, Duration::from_secs(3_600)).await
        })
        .unwrap_err();
        assert!(err.is_activation_failed(), "{flavor}: {err:?}");
        let cause = err.cause().expect("a failed activation has a cause");
        assert!(
            cause.downcast_ref::<ExecutorShutDown>().is_some(),
            "{flavor}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            "activating key 7 failed: the executor shut down before the activation's actor could start",
            "{flavor}"
        );
        assert_eq!(err.into_message(), Some(42), "{flavor}: handed back");
    }
}

/// A keyed set on a runtime that has been dropped, its factory ready at once: the activation
/// is not spawned on the dead runtime (where its task would be dropped unrun) and counted as
/// made; it fails saying that the executor shut down, the message comes back, and the set's
/// stats count a failed activation, not an activation.
#[test]
fn a_keyed_activation_after_the_runtime_shut_down_is_not_spawned() {
    for (flavor, runtime) in runtimes() {
        let keyed = runtime.block_on(async {
            let system = System::new(TokioExecutor::current());
            KeyedSpec::new(|_: &u32| async { Ok::<_, std::io::Error>(Never) }).start(&system)
        });
        drop(runtime);

        let sent = keyed.clone();
        let err = finishes("tell", async move { sent.tell(7, 42).await }).unwrap_err();
        assert!(err.is_activation_failed(), "{flavor}: {err:?}");
        let cause = err.cause().expect("a failed activation has a cause");
        assert!(
            cause.downcast_ref::<ExecutorShutDown>().is_some(),
            "{flavor}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            "activating key 7 failed: the executor shut down before the activation's actor \
             could start",
            "{flavor}"
        );
        assert_eq!(err.into_message(), Some(42), "{flavor}: handed back");
        let stats = keyed.stats();
        assert_eq!(
            (stats.activations, stats.activation_failures),
            (0, 1),
            "{flavor}: {stats:?}"
        );
        assert!(!keyed.is_active(&7), "{flavor}");
    }
}

/// The other side of the test above: on a live runtime, an activation whose factory overruns
/// its limit is reported as a timeout, and the executor does not say it shut down.
#[test]
fn a_keyed_activation_overrunning_on_a_live_runtime_is_a_timeout() {
    for (flavor, runtime) in runtimes() {
        let err = runtime.block_on(async {
            let executor = TokioExecutor::current();
            assert!(!Executor::is_shut_down(&executor), "{flavor}");
            let system = System::new(executor);
            let keyed =
                KeyedSpec::new(|_: &u32| std::future::pending::<Result<Never, std::io::Error>>())
                    .activation_timeout(Duration::from_millis(20))
                    .start(&system);
            keyed.tell(7, 42).await.unwrap_err()
        });
        let cause = err.cause().expect("a failed activation has a cause");
        assert_eq!(
            cause.downcast_ref::<ActivationTimedOut>(),
            Some(&ActivationTimedOut {
                after: Duration::from_millis(20)
            }),
            "{flavor}: {err:?}"
        );
        assert_eq!(err.into_message(), Some(42), "{flavor}: handed back");
    }
}

/// What [`a_paused_tokio_clock_moves_the_actors_timers`] asks of its actor.
enum Clocked {
    /// Never answered: the handler waits for ever.
    Hang(Reply<()>),
    /// Tells itself `Fired` ten seconds later, and answers once the timer is set.
    Later(Reply<()>),
    Fired,
    /// Sleeps ten seconds, then answers how long that took on Tokio's clock.
    Nap(Reply<Duration>),
}

struct Timed {
    fired: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Actor for Timed {
    type Message = Clocked;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Timed {
    async fn handle(&mut self, msg: Clocked, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Clocked::Hang(_reply) => std::future::pending::<()>().await,
            Clocked::Later(reply) => {
                ctx.run_later(Duration::from_secs(10), Clocked::Fired);
                let _ = reply.send(());
            }
            Clocked::Fired => {
                self.fired.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Clocked::Nap(reply) => {
                let began = tokio::time::Instant::now();
                ctx.sleep(Duration::from_secs(10)).await;
                let _ = reply.send(began.elapsed());
            }
        }
        Ok(())
    }
}

/// A test that pauses and advances Tokio's clock moves the actors' timers with it: the
/// executor's clock is Tokio's, the one its sleeps follow. (It was the system's: once Tokio's
/// clock had been advanced, a deadline taken from the system's clock had already passed on
/// Tokio's, and `ctx.sleep`, `run_later` and `ask_timeout` ended at once.)
#[tokio::test(start_paused = true)]
async fn a_paused_tokio_clock_moves_the_actors_timers() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    tokio::time::advance(Duration::from_secs(60)).await;
    let system = System::new(TokioExecutor::current());
    let fired = std::sync::Arc::new(AtomicUsize::new(0));
    let timed = system.spawn(Timed {
        fired: std::sync::Arc::clone(&fired),
    });

    // A sleep of ten seconds takes ten seconds of Tokio's clock (which runs on by itself
    // while everything waits: the clock is paused, not stopped).
    let slept = timed.ask(Clocked::Nap).await.unwrap();
    assert!(slept >= Duration::from_secs(10), "slept {slept:?}");

    // A timer ten seconds away fires after ten seconds, not before.
    timed.ask(Clocked::Later).await.unwrap();
    tokio::time::advance(Duration::from_secs(9)).await;
    tokio::task::yield_now().await;
    assert_eq!(fired.load(Ordering::SeqCst), 0, "fired early");
    tokio::time::advance(Duration::from_secs(2)).await;
    for _ in 0..100 {
        if fired.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(fired.load(Ordering::SeqCst), 1, "fired once, in time");

    // An ask that is never answered times out after its timeout on Tokio's clock.
    let began = tokio::time::Instant::now();
    let err = timed
        .ask_timeout(Clocked::Hang, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, AskError::Timeout(_)), "{err:?}");
    assert!(
        began.elapsed() >= Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );

    // So does one asked from a thread outside the runtime: its deadline is read on the
    // runtime's clock too (it was the system's there, and had passed on Tokio's).
    let began = tokio::time::Instant::now();
    let outside = timed.clone();
    // A thread of its own (a blocking task would keep the paused clock from moving on).
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        let asked = outside.ask_timeout(Clocked::Hang, Duration::from_secs(5));
        let _ = tx.send(futures::executor::block_on(asked));
    });
    let err = rx.await.unwrap().unwrap_err();
    assert!(matches!(err, AskError::Timeout(_)), "{err:?}");
    assert!(
        began.elapsed() >= Duration::from_secs(5),
        "outside: {:?}",
        began.elapsed()
    );
}
