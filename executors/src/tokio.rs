//! The Tokio adapter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;
use playhouse_core::Executor;
use tokio::runtime::Handle;

use crate::shutdown_gate::ShutdownGate;

/// Runs actors on a Tokio runtime the program already has, multi-thread or current-thread.
///
/// Timers use `tokio::time`, so the runtime must be built with `enable_time()` (as
/// `#[tokio::main]` and `#[tokio::test]` do) for `run_later`, `run_interval` and `ask_timeout`.
///
/// **After the runtime shuts down.** Its actors' tasks are dropped with it (their mailboxes
/// close, and senders see the actors gone), and a timer made by this executor that is still
/// awaited elsewhere (an `ask_timeout` in a `block_on`, a keyed set's `tell_timeout` called
/// from another executor) ends at once, so that the call reports its timeout and hands back
/// what it holds. A bare `tokio::time::Sleep` would panic there instead. To learn of the
/// shutdown, each executor made by [`current`](TokioExecutor::current),
/// [`try_current`](TokioExecutor::try_current) or [`from_handle`](TokioExecutor::from_handle)
/// (not each clone) spawns one idle task on the runtime, which ends when the executor, its
/// clones and its timers are gone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use playhouse_executors::TokioExecutor;
/// let executor = TokioExecutor::current();
/// # let _ = executor;
/// # }
/// ```
#[derive(Clone)]
pub struct TokioExecutor {
    // Shared, so that each actor's task holds 8 bytes of executor rather than 16.
    inner: Arc<Inner>,
}

/// What an executor and its clones share; each of its timers holds it too, which keeps the
/// gate's watcher waiting for the runtime's shutdown while a timer can still be polled.
struct Inner {
    handle: Handle,
    gate: ShutdownGate,
}

impl Inner {
    /// The runtime's clock. Tokio reads the clock of the runtime the calling thread is in (the
    /// system's outside any), so a caller outside every task reads it inside this runtime, at
    /// the cost of a handle's clone. A task (an actor's, above all) is in its runtime already,
    /// and reads at once: this runtime's clock, unless the task is another runtime's.
    fn now(&self) -> tokio::time::Instant {
        if tokio::task::try_id().is_some() {
            return tokio::time::Instant::now();
        }
        let _in_runtime = self.handle.enter();
        tokio::time::Instant::now()
    }
}

pin_project! {
    /// [`TokioExecutor`]'s timer: a `tokio::time::Sleep` that ends at once, rather than
    /// panicking, when it is polled after its runtime has shut down.
    ///
    /// It is also over at once when polled at or after its deadline (read on its runtime's
    /// clock, so a paused clock still holds it): Tokio's own timer rounds a deadline up to its
    /// next millisecond, so a sleep until now, or a zero timeout, would otherwise wait about a
    /// millisecond. The cost: a clock read per poll.
    pub struct TokioSleep {
        #[pin]
        sleep: tokio::time::Sleep,
        executor: Arc<Inner>,
    }
}

impl Future for TokioSleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.executor.now() >= this.sleep.deadline() {
            return Poll::Ready(());
        }
        this.executor.gate.poll(this.sleep, cx)
    }
}

impl fmt::Debug for TokioSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioSleep")
            .field("deadline", &self.sleep.deadline())
            .finish_non_exhaustive()
    }
}

/// [`TokioExecutor::try_current`] was called outside a Tokio runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoTokioRuntime;

impl fmt::Display for NoTokioRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not inside a Tokio runtime")
    }
}

impl std::error::Error for NoTokioRuntime {}

impl TokioExecutor {
    /// The runtime this is called from.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime; use [`try_current`](TokioExecutor::try_current) to get an error
    /// instead.
    pub fn current() -> Self {
        TokioExecutor::from_handle(Handle::current())
    }

    /// The runtime this is called from, or an error outside one.
    ///
    /// # Errors
    ///
    /// [`NoTokioRuntime`] outside a Tokio runtime.
    pub fn try_current() -> Result<Self, NoTokioRuntime> {
        Handle::try_current()
            .map(TokioExecutor::from_handle)
            .map_err(|_| NoTokioRuntime)
    }

    /// The runtime behind `handle`, usable from any thread.
    pub fn from_handle(handle: Handle) -> Self {
        let (gate, watcher) = ShutdownGate::new();
        // On a runtime already shut down, the watcher is dropped at once: the gate starts closed.
        drop(handle.spawn(watcher));
        TokioExecutor {
            inner: Arc::new(Inner { handle, gate }),
        }
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// `true` once the runtime has shut down: its tasks are gone, and this executor's timers
    /// end at once.
    pub fn is_shut_down(&self) -> bool {
        self.inner.gate.is_shut_down()
    }
}

impl Executor for TokioExecutor {
    type Sleep = TokioSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.inner.handle.spawn(future));
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        let _in_runtime = self.inner.handle.enter();
        TokioSleep {
            sleep: tokio::time::sleep_until(deadline.into()),
            executor: Arc::clone(&self.inner),
        }
    }

    /// The runtime's clock, the one its sleeps follow, read by a task of the runtime or by a
    /// thread outside every task (a task of another runtime reads that one's): a test may
    /// pause and advance it (`#[tokio::test(start_paused = true)]`, `tokio::time::pause`, with
    /// Tokio's `test-util` feature). Unless some crate of the build enables `test-util`, it is
    /// `Instant::now()`, and a read from outside every task costs a handle's clone more.
    fn now(&self) -> Instant {
        self.inner.now().into_std()
    }

    fn is_shut_down(&self) -> bool {
        self.inner.gate.is_shut_down()
    }
}

impl fmt::Debug for TokioExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioExecutor")
            .field("flavor", &self.inner.handle.runtime_flavor())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}
