//! The std-only adapter: a `futures` thread pool and a timer thread, no tokio, no async-io.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_executor::ThreadPool;
use pin_project_lite::pin_project;
use playhouse_core::Executor;

use crate::std_timer::{StdSleep, TimerThread, drop_payload};

/// Runs actors on a pool of std threads (`futures`' `ThreadPool`), with sleeps served by one
/// timer thread. For programs that run neither Tokio nor smol.
///
/// ```
/// use playhouse_executors::StdExecutor;
/// let executor = StdExecutor::new().expect("threads");
/// # let _ = executor;
/// ```
///
/// # Costs
///
/// - A spawn boxes the future once (the pool's task) and sends it on the pool's channel; a wake
///   sends the task again. The pool has one queue that all its threads take from.
/// - Every poll of a task runs inside `catch_unwind`, which costs nothing unless it panics.
/// - Sleeps: see [`StdSleep`]. One lock and no allocation of their own to register and to drop;
///   the timer thread holds at most twice as many entries as there are waiting sleeps, plus 64.
///
/// # Panics in tasks
///
/// A panic that escapes a spawned task is contained, as on Tokio and smol (the core catches a
/// handler's panic itself; what escapes is, say, a panic in an actor's `Drop`, in an exit watcher,
/// or in a future spawned on the executor directly): the task ends there, its future is dropped
/// at once on the same thread (a panic of that drop is contained too), and the thread goes on
/// running the other tasks. The panic hook still reports it (by default on stderr). A waker that
/// panics when the timer thread wakes or drops it is contained the same way.
///
/// # Pending tasks
///
/// A task is freed when it ends. One that stays pending after its last waker is dropped is never
/// freed (the `futures` pool keeps it in a reference cycle with its waker) and keeps the pool's
/// threads alive; dropping the executor does not reclaim it, where Tokio and smol free their
/// tasks when the runtime or executor is dropped. Actors that end (stop, kill, or the last
/// strong `ActorRef` dropped) leave no such task.
#[derive(Clone)]
pub struct StdExecutor {
    pool: ThreadPool,
    timer: TimerThread,
}

impl StdExecutor {
    /// A pool with one thread per available core.
    ///
    /// # Errors
    ///
    /// If the operating system refuses to start the threads.
    pub fn new() -> io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(threads)
    }

    /// Runs `future` to completion on this thread, parking it between polls, while the pool
    /// runs the actors: the way to run a `main` (or a test) with the std executor.
    ///
    /// ```
    /// use playhouse_executors::StdExecutor;
    ///
    /// let executor = StdExecutor::with_threads(2).expect("threads");
    /// assert_eq!(executor.block_on(async { 6 * 7 }), 42);
    /// ```
    ///
    /// Do not call it from inside an actor's handler: that would block a pool thread.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        futures_executor::block_on(future)
    }

    /// A pool of `threads` threads (at least one).
    ///
    /// # Errors
    ///
    /// If the operating system refuses to start the threads.
    pub fn with_threads(threads: usize) -> io::Result<Self> {
        let pool = ThreadPool::builder()
            .pool_size(threads.max(1))
            .name_prefix("playhouse-std-")
            .create()?;
        Ok(StdExecutor {
            pool,
            timer: TimerThread::start()?,
        })
    }

    /// How many entries the timer thread holds: sleeps that have been polled and have neither
    /// fired nor been dropped, plus dropped ones not yet compacted away (at most as many as the
    /// former, plus 64). For tests and diagnostics; not a stable API.
    #[doc(hidden)]
    pub fn timer_entries(&self) -> usize {
        self.timer.entries()
    }
}

impl Executor for StdExecutor {
    type Sleep = StdSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.pool.spawn_ok(Contained {
            future: Some(future),
        });
    }

    fn sleep_until(&self, deadline: Instant) -> StdSleep {
        self.timer.sleep_until(deadline)
    }
}

pin_project! {
    /// A spawned future as the pool runs it: a panic in a poll or in the future's drop ends the
    /// task instead of unwinding through (and ending) the pool's thread.
    struct Contained<F> {
        // `None` once the future has ended (returned, or panicked) and been dropped.
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for Contained<F> {
        // Only a pending task gets here with its future: the pool dropped it unfinished.
        fn drop(this: Pin<&mut Self>) {
            drop_contained(this.project().future);
        }
    }
}

/// Drops the future in place, containing a panic of its drop.
fn drop_contained<F>(mut future: Pin<&mut Option<F>>) {
    if future.is_some() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
            drop_payload(payload);
        }
    }
}

impl<F: Future<Output = ()>> Future for Contained<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut future = self.project().future;
        let Some(running) = future.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| running.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => {}
            // The panic hook has reported it; the task ends here, as on Tokio and smol.
            Err(payload) => drop_payload(payload),
        }
        drop_contained(future);
        Poll::Ready(())
    }
}

impl fmt::Debug for StdExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdExecutor").finish_non_exhaustive()
    }
}
