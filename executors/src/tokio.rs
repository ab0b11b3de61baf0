//! The Tokio adapter.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use playhouse_core::Executor;
use tokio::runtime::Handle;

/// Runs actors on a Tokio runtime the program already has, multi-thread or current-thread.
///
/// Timers use `tokio::time`, so the runtime must be built with `enable_time()` (as
/// `#[tokio::main]` and `#[tokio::test]` do) for `run_later`, `run_interval` and `ask_timeout`.
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
    handle: Arc<Handle>,
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
        TokioExecutor {
            handle: Arc::new(Handle::current()),
        }
    }

    /// The runtime this is called from, or an error outside one.
    ///
    /// # Errors
    ///
    /// [`NoTokioRuntime`] outside a Tokio runtime.
    pub fn try_current() -> Result<Self, NoTokioRuntime> {
        Handle::try_current()
            .map(|handle| TokioExecutor {
                handle: Arc::new(handle),
            })
            .map_err(|_| NoTokioRuntime)
    }

    /// The runtime behind `handle`, usable from any thread.
    pub fn from_handle(handle: Handle) -> Self {
        TokioExecutor {
            handle: Arc::new(handle),
        }
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Executor for TokioExecutor {
    type Sleep = tokio::time::Sleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(future));
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        let _in_runtime = self.handle.enter();
        tokio::time::sleep_until(deadline.into())
    }
}

impl fmt::Debug for TokioExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioExecutor")
            .field("flavor", &self.handle.runtime_flavor())
            .finish()
    }
}
