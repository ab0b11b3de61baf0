//! [`yield_now`]: give the executor one turn, on any executor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the executor: the returned future wakes its own task and is pending on its
/// first poll, and ready on the next, so that every other task the executor has ready may run
/// in between. It names no runtime (Tokio's and smol's `yield_now` do the same on theirs).
///
/// The runner yields with it after a batch of messages, so that a busy actor does not starve
/// its neighbours; a publish yields with it before waiting for room in a full `Block`
/// subscriber, whose actor is most often just waiting for its turn.
///
/// ```
/// use playhouse_core::yield_now;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
///
/// let mut once = pin!(yield_now());
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(once.as_mut().poll(&mut cx).is_pending());
/// assert!(once.as_mut().poll(&mut cx).is_ready());
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "a yield does nothing until awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
