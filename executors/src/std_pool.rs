//! The std-only adapter: a `futures` thread pool and a timer thread, no tokio, no async-io.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Instant;

use futures_executor::ThreadPool;
use playhouse_core::Executor;

use crate::std_timer::{StdSleep, TimerThread};

/// Runs actors on a pool of std threads (`futures`' `ThreadPool`), with sleeps served by one
/// timer thread. For programs that run neither Tokio nor smol.
///
/// ```
/// use playhouse_executors::StdExecutor;
/// let executor = StdExecutor::new().expect("threads");
/// # let _ = executor;
/// ```
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
}

impl Executor for StdExecutor {
    type Sleep = StdSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.pool.spawn_ok(future);
    }

    fn sleep_until(&self, deadline: Instant) -> StdSleep {
        self.timer.sleep_until(deadline)
    }
}

impl fmt::Debug for StdExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdExecutor").finish_non_exhaustive()
    }
}
