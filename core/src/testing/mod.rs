//! A minimal executor for tests and documentation: one OS thread per task.
//!
//! Real programs use an adapter from `playhouse-executors` (Tokio, smol, std thread pool).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

/// Runs each spawned future on its own OS thread; sleeps on a thread of their own. Simple,
/// slow, dependency-free: for tests and docs only.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadExecutor;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on the current thread, parking between polls.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// The sleep future of [`ThreadExecutor`]: a helper thread wakes it at the deadline.
#[derive(Debug)]
pub struct ThreadSleep {
    deadline: Instant,
    started: bool,
}

impl Future for ThreadSleep {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let waker = cx.waker().clone();
            let deadline = self.deadline;
            thread::spawn(move || {
                thread::sleep(deadline.saturating_duration_since(Instant::now()));
                waker.wake();
            });
        }
        Poll::Pending
    }
}

impl crate::Executor for ThreadExecutor {
    type Sleep = ThreadSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        thread::spawn(move || block_on(future));
    }

    fn sleep_until(&self, deadline: Instant) -> ThreadSleep {
        ThreadSleep {
            deadline,
            started: false,
        }
    }
}

mod recording;
mod virtual_time;
pub use recording::RecordingObserver;
pub use virtual_time::{VirtualSleep, VirtualTime};
