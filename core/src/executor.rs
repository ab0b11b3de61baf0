//! What the core needs from an async runtime.

use std::future::Future;
use std::time::Instant;

/// An async runtime that can run actors: spawn a `Send` future, and sleep until a deadline.
///
/// The core names no runtime; adapters live in `playhouse-executors` (`TokioExecutor`,
/// `SmolExecutor`, `StdExecutor`). An executor is a cheap handle: cloning it must not create a new
/// runtime.
///
/// # Example
///
/// A minimal adapter that runs every future on its own thread:
///
/// ```
/// use playhouse_core::Executor;
/// use std::future::Future;
/// use std::time::Instant;
///
/// #[derive(Clone)]
/// struct ThreadPerTask;
///
/// impl Executor for ThreadPerTask {
///     type Sleep = std::future::Ready<()>;
///     fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
///         std::thread::spawn(move || futures::executor::block_on(future));
///     }
///     fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
///         // A real adapter returns a timer future; this one blocks, which is fine for a doc.
///         std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
///         std::future::ready(())
///     }
/// }
/// ```
pub trait Executor: Clone + Send + Sync + 'static {
    /// The future returned by [`sleep_until`](Executor::sleep_until).
    type Sleep: Future<Output = ()> + Send + 'static;

    /// Runs `future` to completion in the background.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Returns a future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// The executor's clock: what [`sleep_until`](Executor::sleep_until) deadlines are measured
    /// against. `Instant::now()` unless the executor keeps time of its own (a virtual clock in
    /// tests, so that supervisors' restart windows and shutdown timeouts do not depend on how
    /// loaded the machine is).
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// `true` once the runtime behind this handle has shut down: its tasks were dropped, and
    /// its timers end at once (an adapter's timers must end, not panic, once their runtime is
    /// gone). Code that sees a timer end reads this to tell a shutdown from a deadline, so that
    /// what it reports says which (a keyed activation cut off by a shutdown says so rather than
    /// that its factory overran). The default, `false`, is right for an adapter whose runtime
    /// lives as long as any of its handles.
    fn is_shut_down(&self) -> bool {
        false
    }
}

/// A boxed sleep, for the one cold path that erases the executor (timed asks).
pub(crate) type BoxSleep = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The executor's timer, type-erased so that an [`ActorRef`](crate::ActorRef) (which names no
/// executor) can time out an ask.
pub(crate) trait Sleeper: Send + Sync + 'static {
    fn sleep_until_boxed(&self, deadline: Instant) -> BoxSleep;
    fn now(&self) -> Instant;
}

impl<E: Executor> Sleeper for E {
    fn sleep_until_boxed(&self, deadline: Instant) -> BoxSleep {
        Box::pin(self.sleep_until(deadline))
    }

    fn now(&self) -> Instant {
        Executor::now(self)
    }
}

/// The executor's timer as every actor cell holds it: a thin pointer (8 bytes, where an
/// `Arc<dyn Sleeper>` is 16) to one box per [`Spawner`](crate::Spawner). The extra hop is paid
/// only by timed asks.
#[derive(Clone)]
pub(crate) struct SharedSleeper(std::sync::Arc<Box<dyn Sleeper>>);

impl SharedSleeper {
    pub(crate) fn new<E: Executor>(executor: E) -> Self {
        SharedSleeper(std::sync::Arc::new(Box::new(executor)))
    }

    pub(crate) fn sleep_until_boxed(&self, deadline: Instant) -> BoxSleep {
        self.0.sleep_until_boxed(deadline)
    }

    /// The executor's clock.
    pub(crate) fn now(&self) -> Instant {
        self.0.now()
    }
}
