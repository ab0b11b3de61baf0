//! The broker crate's test harness: one async test body, one `#[test]` per executor
//! (`tokio_multi`, `tokio_current`, `smol`, `std`), each body under a 30 s deadline so that a
//! bug fails a test instead of hanging it. (The workspace's `tests/common` is the facade's;
//! this crate's tests cannot reach it.)

#![allow(dead_code)]

use ::std::future::{Future, poll_fn};
use ::std::pin::pin;
use ::std::task::Poll;
use ::std::time::{Duration, Instant};

use futures::future::{Either, select};
use playhouse_broker::InMemoryBroker;
use playhouse_core::Executor;
use playhouse_executors::{SmolExecutor, StdExecutor, TokioExecutor};

/// The core's system with the in-memory broker.
pub type System<E> = playhouse_core::System<E, InMemoryBroker>;

/// The deadline of a whole test body.
pub const TEST_DEADLINE: Duration = Duration::from_secs(30);
/// A generous bound for one await that must complete.
pub const LONG: Duration = Duration::from_secs(10);

macro_rules! executor_tests {
    ($($name:ident),* $(,)?) => {
        /// Tokio multi-thread runtime, 2 workers.
        mod tokio_multi {
            $( #[test] fn $name() { $crate::common::run_tokio_multi(super::$name) } )*
        }
        /// Tokio current-thread runtime: actors and the test share the test thread.
        mod tokio_current {
            $( #[test] fn $name() { $crate::common::run_tokio_current(super::$name) } )*
        }
        /// A local smol executor run by the test thread.
        mod smol {
            $( #[test] fn $name() { $crate::common::run_smol(super::$name) } )*
        }
        /// `StdExecutor` (2 pool threads), the test driven on its own thread.
        mod std {
            $( #[test] fn $name() { $crate::common::run_std(super::$name) } )*
        }
    };
}

pub fn run_tokio_multi<F: Future<Output = ()>>(body: impl FnOnce(TokioExecutor) -> F) {
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

pub fn run_tokio_current<F: Future<Output = ()>>(body: impl FnOnce(TokioExecutor) -> F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let exec = TokioExecutor::current();
        within(&exec, TEST_DEADLINE, body(exec.clone())).await;
    });
}

pub fn run_smol<F: Future<Output = ()>>(body: impl FnOnce(SmolExecutor) -> F) {
    let exec = SmolExecutor::new(Default::default());
    exec.block_on(within(&exec, TEST_DEADLINE, body(exec.clone())));
}

pub fn run_std<F: Future<Output = ()>>(body: impl FnOnce(StdExecutor) -> F) {
    let exec = StdExecutor::with_threads(2).expect("std executor");
    exec.block_on(within(&exec, TEST_DEADLINE, body(exec.clone())));
}

/// Runs `fut` to completion, panicking if it takes longer than `limit` (real time, on `exec`).
pub async fn within<E: Executor, F: Future>(exec: &E, limit: Duration, fut: F) -> F::Output {
    let sleep = exec.sleep_until(Instant::now() + limit);
    match select(pin!(sleep), pin!(fut)).await {
        Either::Left(((), _)) => panic!("timed out after {limit:?}"),
        Either::Right((out, _)) => out,
    }
}

/// Lets other tasks run once.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}
