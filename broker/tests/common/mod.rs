//! The broker crate's test harness: the workspace's run-on-every-executor harness
//! (`tests/common/executors.rs`, included by path: this crate's tests cannot reach the facade
//! that the rest of `tests/common` uses), the core's `System` with the in-memory broker, and
//! `yield_now`.

#![allow(dead_code)]

use ::std::future::poll_fn;
use ::std::task::Poll;

use playhouse_broker::InMemoryBroker;

/// The core's system with the in-memory broker.
pub type System<E> = playhouse_core::System<E, InMemoryBroker>;

#[macro_use]
#[path = "../../../tests/common/executors.rs"]
mod executors;
pub use executors::*;

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
