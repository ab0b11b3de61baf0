//! An executor adapter with a clock that moves only when a test moves it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::executor::Executor;

struct Clock {
    /// The real instant virtual time started at.
    origin: Instant,
    /// How far virtual time has moved since.
    elapsed: Duration,
    /// Sleeps waiting, by deadline and a number to tell equal deadlines apart.
    sleeps: BTreeMap<(Instant, u64), Waker>,
    next: u64,
}

/// Wraps an executor `E`: tasks run on `E`, but [`now`](Executor::now) and
/// [`sleep_until`](Executor::sleep_until) follow a virtual clock that stands still until
/// [`advance`](VirtualTime::advance) moves it. Every actor spawned on it, and every supervisor
/// (whose restart windows and shutdown timeouts read the executor's clock), sees the same time,
/// so a test of "3 restarts within 5 s" or "a 1 s shutdown timeout ends in a kill" runs in no
/// real time and cannot flake on a loaded machine.
///
/// Sleeps due at or before the new time complete when the clock is advanced past them;
/// a sleep whose deadline has already passed completes at once.
///
/// ```
/// use playhouse_core::testing::{ThreadExecutor, VirtualTime, block_on};
/// use playhouse_core::Executor;
/// use std::time::Duration;
///
/// let exec = VirtualTime::new(ThreadExecutor);
/// let start = exec.now();
/// let sleep = exec.sleep_until(start + Duration::from_secs(60));
/// exec.advance(Duration::from_secs(60));
/// block_on(sleep); // completes: virtual time has reached its deadline
/// assert_eq!(exec.now() - start, Duration::from_secs(60));
/// ```
pub struct VirtualTime<E> {
    inner: E,
    clock: Arc<Mutex<Clock>>,
}

impl<E: Clone> Clone for VirtualTime<E> {
    fn clone(&self) -> Self {
        VirtualTime {
            inner: self.inner.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<E> fmt::Debug for VirtualTime<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = self.lock();
        f.debug_struct("VirtualTime")
            .field("elapsed", &clock.elapsed)
            .field("sleeping", &clock.sleeps.len())
            .finish()
    }
}

impl<E> VirtualTime<E> {
    /// `inner` with a virtual clock starting now.
    pub fn new(inner: E) -> Self {
        VirtualTime {
            inner,
            clock: Arc::new(Mutex::new(Clock {
                origin: Instant::now(),
                elapsed: Duration::ZERO,
                sleeps: BTreeMap::new(),
                next: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the clock forward by `by` and wakes every sleep now due.
    pub fn advance(&self, by: Duration) {
        let due = {
            let mut clock = self.lock();
            clock.elapsed += by;
            let now = clock.origin + clock.elapsed;
            let later = clock.sleeps.split_off(&(now, u64::MAX));
            std::mem::replace(&mut clock.sleeps, later)
        };
        for (_, waker) in due {
            waker.wake();
        }
    }

    /// How far the clock has been moved.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Sleeps waiting for the clock (for a test that advances only once something sleeps).
    pub fn sleeping(&self) -> usize {
        self.lock().sleeps.len()
    }

    /// The wrapped executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

/// The sleep of [`VirtualTime`]: completes once the virtual clock reaches its deadline.
pub struct VirtualSleep {
    clock: Arc<Mutex<Clock>>,
    deadline: Instant,
    key: Option<u64>,
}

impl fmt::Debug for VirtualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualSleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut clock = this.clock.lock().unwrap_or_else(|p| p.into_inner());
        if clock.origin + clock.elapsed >= this.deadline {
            if let Some(key) = this.key.take() {
                clock.sleeps.remove(&(this.deadline, key));
            }
            return Poll::Ready(());
        }
        let key = match this.key {
            Some(key) => key,
            None => {
                clock.next += 1;
                let key = clock.next;
                this.key = Some(key);
                key
            }
        };
        clock
            .sleeps
            .insert((this.deadline, key), cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut clock = self.clock.lock().unwrap_or_else(|p| p.into_inner());
            clock.sleeps.remove(&(self.deadline, key));
        }
    }
}

impl<E: Executor> Executor for VirtualTime<E> {
    type Sleep = VirtualSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.spawn(future);
    }

    fn sleep_until(&self, deadline: Instant) -> VirtualSleep {
        VirtualSleep {
            clock: self.clock.clone(),
            deadline,
            key: None,
        }
    }

    fn now(&self) -> Instant {
        let clock = self.lock();
        clock.origin + clock.elapsed
    }
}
