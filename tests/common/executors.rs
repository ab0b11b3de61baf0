//! Runs one async test body on every executor: the harness that the workspace's behavioural
//! suite (`tests/common`) and the broker crate's suite (`broker/tests/common`, which includes
//! this file by path, as its tests cannot reach the facade's) share.
//!
//! A test file writes each test once, as `async fn name<E: Executor>(exec: E)` using only the
//! executor it is given, and lists it in [`executor_tests!`], which makes one `#[test]` per
//! executor in the modules `tokio_multi`, `tokio_current`, `smol` and `std`. Every test body
//! runs under a [`TEST_DEADLINE`], so a bug makes a test fail instead of hang. The including
//! module re-exports this one's items (`pub use executors::*`): the tests call
//! `crate::common::run_*`.

use ::std::future::Future;
use ::std::pin::pin;
use ::std::time::{Duration, Instant};

use futures::future::{Either, select};
use playhouse_core::Executor;
use playhouse_executors::{SmolExecutor, StdExecutor, TokioExecutor};

/// The deadline of a whole test body.
pub const TEST_DEADLINE: Duration = Duration::from_secs(30);
/// A generous bound for one await that must complete.
pub const LONG: Duration = Duration::from_secs(10);

/// For each listed `async fn name<E: Executor>(exec: E)` of the calling file, one `#[test]` per
/// executor: `tokio_multi::name`, `tokio_current::name`, `smol::name`, `std::name`. Attributes
/// before a name (e.g. `#[ignore = ".."]`) go on each of its tests.
macro_rules! executor_tests {
    ($( $(#[$attr:meta])* $name:ident ),* $(,)?) => {
        /// Tokio multi-thread runtime, 2 workers.
        mod tokio_multi {
            $( $(#[$attr])* #[test] fn $name() { $crate::common::run_tokio_multi(super::$name) } )*
        }
        /// Tokio current-thread runtime: actors and the test share the test thread.
        mod tokio_current {
            $( $(#[$attr])* #[test] fn $name() { $crate::common::run_tokio_current(super::$name) } )*
        }
        /// A local `async_executor::Executor` driven by the test thread
        /// (`async_io::block_on(ex.run(..))`).
        mod smol {
            $( $(#[$attr])* #[test] fn $name() { $crate::common::run_smol(super::$name) } )*
        }
        /// `StdExecutor` (2 pool threads), the test driven on its own thread.
        mod std {
            $( $(#[$attr])* #[test] fn $name() { $crate::common::run_std(super::$name) } )*
        }
    };
}

pub fn run_tokio_multi<F, Fut>(body: F)
where
    F: FnOnce(TokioExecutor) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let exec = TokioExecutor::current();
        within(&exec, TEST_DEADLINE, body(exec.clone())).await;
    });
}

pub fn run_tokio_current<F, Fut>(body: F)
where
    F: FnOnce(TokioExecutor) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let exec = TokioExecutor::current();
        within(&exec, TEST_DEADLINE, body(exec.clone())).await;
    });
}

pub fn run_smol<F, Fut>(body: F)
where
    F: FnOnce(SmolExecutor) -> Fut,
    Fut: Future<Output = ()>,
{
    let exec = SmolExecutor::new(Default::default());
    exec.block_on(within(&exec, TEST_DEADLINE, body(exec.clone())));
}

pub fn run_std<F, Fut>(body: F)
where
    F: FnOnce(StdExecutor) -> Fut,
    Fut: Future<Output = ()>,
{
    let exec = StdExecutor::with_threads(2).expect("std executor");
    exec.block_on(within(&exec, TEST_DEADLINE, body(exec.clone())));
}

/// Runs `fut` to completion, panicking if it takes longer than `limit` (timed by `exec`).
pub async fn within<E: Executor, F: Future>(exec: &E, limit: Duration, fut: F) -> F::Output {
    let sleep = exec.sleep_until(Instant::now() + limit);
    // The deadline is polled first: a future that would only complete because the timer's wake
    // happened to poll it (a lost wake-up) fails instead of passing late.
    match select(pin!(sleep), pin!(fut)).await {
        Either::Left(((), _)) => panic!("timed out after {limit:?}"),
        Either::Right((out, _)) => out,
    }
}
