//! The smol adapter: `async-executor` for tasks, `async-io` for timers.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_executor::Executor as AsyncExecutor;
use playhouse_core::Executor;

/// Runs actors on an `async-executor` [`Executor`](async_executor::Executor), with `async-io`
/// timers.
///
/// Either bring your own executor and run it (`smol::block_on(ex.run(...))`, or one thread per
/// core calling `ex.run`), or use [`global`](SmolExecutor::global), which runs one on
/// background threads.
///
/// ```
/// use std::sync::Arc;
/// use playhouse_executors::SmolExecutor;
///
/// let ex = Arc::new(async_executor::Executor::new());
/// let executor = SmolExecutor::new(ex.clone());
/// // spawn actors with `executor`, then drive `ex`:
/// async_io::block_on(ex.run(async { /* ... */ }));
/// # let _ = executor;
/// ```
///
/// # Dropping the executor
///
/// Every actor, timer and [`System`](playhouse_core::System) made with this handle holds a
/// clone of it, and so of the `async_executor::Executor`: the executor lives as long as any of
/// them, whatever became of your own handles. So, unlike a Tokio runtime, it never drops the
/// actors' tasks under them: an actor ends only by its own means (stop, kill, failure, its
/// last reference dropped), which needs something to run `ex` (a `block_on`, a thread in
/// `ex.run`). An actor left alive with nothing running the executor stays pending, and keeps
/// the executor's memory with it. Stop your actors (and `wait` for them) before you stop
/// running the executor.
#[derive(Clone)]
pub struct SmolExecutor {
    ex: Arc<AsyncExecutor<'static>>,
}

impl SmolExecutor {
    /// Spawns onto `ex`; whoever owns it must run it.
    pub fn new(ex: Arc<AsyncExecutor<'static>>) -> Self {
        SmolExecutor { ex }
    }

    /// A process-wide executor run by background threads (one per available core, at most 8),
    /// started on first use.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start the first of those threads.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<Arc<AsyncExecutor<'static>>> = OnceLock::new();
        let ex = GLOBAL.get_or_init(|| {
            let ex = Arc::new(AsyncExecutor::new());
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
            for i in 0..threads {
                let ex = ex.clone();
                let started = std::thread::Builder::new()
                    .name(format!("playhouse-smol-{i}"))
                    .spawn(move || async_io::block_on(ex.run(std::future::pending::<()>())));
                // One thread is enough to make progress; more are an optimization.
                if i == 0 {
                    started.expect("failed to start the playhouse-smol thread");
                }
            }
            ex
        });
        SmolExecutor { ex: ex.clone() }
    }

    /// Runs `future` to completion on this thread, running this executor's tasks (its actors)
    /// on this thread too while it waits: the way to run a `main` (or a test) on smol.
    ///
    /// With [`new`](SmolExecutor::new) the calling thread is what runs the actors (add
    /// threads that call `ex.run` for more); with [`global`](SmolExecutor::global) the
    /// background threads run them as well.
    ///
    /// ```
    /// use playhouse_executors::SmolExecutor;
    ///
    /// let executor = SmolExecutor::new(Default::default());
    /// let answer = executor.block_on(async { 6 * 7 });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        async_io::block_on(self.ex.run(future))
    }

    /// The underlying executor.
    pub fn inner(&self) -> &Arc<AsyncExecutor<'static>> {
        &self.ex
    }
}

/// A sleep on `async-io`'s timer, returned by [`SmolExecutor`]'s `sleep_until`.
#[derive(Debug)]
pub struct SmolSleep(async_io::Timer);

impl Future for SmolSleep {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Executor for SmolExecutor {
    type Sleep = SmolSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.ex.spawn(future).detach();
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        SmolSleep(async_io::Timer::at(deadline))
    }
}

impl fmt::Debug for SmolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmolExecutor").finish_non_exhaustive()
    }
}
