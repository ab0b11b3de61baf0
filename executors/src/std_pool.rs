//! The std-only adapter: a `futures` thread pool and a timer thread, no tokio, no async-io.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use futures_executor::ThreadPool;
use pin_project_lite::pin_project;
use playhouse_core::Executor;

use crate::std_timer::{StdSleep, TimerThread, drop_payload};

/// Runs actors on a pool of std threads (`futures`' `ThreadPool`), with sleeps served by one
/// timer thread. For programs that run neither Tokio nor smol.
///
/// ```
/// use playhouse_executors::StdExecutor;
/// let executor = StdExecutor::new().expect("threads");
/// # let _ = executor;
/// ```
///
/// # Costs
///
/// - A spawn boxes the future once (the pool's task), clones the pool's handle (two atomic
///   increments) and sends the task on the pool's channel; a wake sends the task again. The pool has one queue that all its threads take from.
/// - Every poll of a task runs inside `catch_unwind`, which costs nothing unless it panics.
/// - Fair yields: each task is polled with a waker of its own, made at its first poll (one
///   allocation per task, about 40 bytes, kept until the task and its wakers are gone). A poll
///   costs two uncontended atomic operations and a pointer comparison on top of the pool's; a
///   wake, one atomic operation before the pool's own wake. A wake that comes while the task is
///   being polled (a yield: the task wakes itself and returns `Pending`; or, rarely, another
///   thread's wake racing the poll) is delivered once the poll has returned, by a small task
///   spawned on the pool (two allocations and a pass through the queue), so the task runs again
///   after the tasks already queued, not at once in place.
/// - Sleeps: see [`StdSleep`]. One lock and no allocation of their own to register and to drop;
///   the timer thread holds at most twice as many entries as there are waiting sleeps, plus 64.
///
/// # Yields
///
/// A task that wakes itself during its poll and returns `Pending` (as the actor runner does
/// after a long run of messages and after each restart) goes behind the tasks already waiting
/// for a thread: on a pool of one thread, a busy actor or one in a restart loop does not starve
/// the others. (The `futures` pool alone would poll such a task again at once, in place.)
///
/// # Panics in tasks
///
/// A panic that escapes a spawned task is contained, as on Tokio and smol (the core catches a
/// handler's panic itself; what escapes is, say, a panic in an actor's `Drop`, in an exit watcher,
/// or in a future spawned on the executor directly): the task ends there, its future is dropped
/// at once on the same thread (a panic of that drop is contained too), and the thread goes on
/// running the other tasks. The panic hook still reports it (by default on stderr). A waker that
/// panics when the timer thread wakes or drops it is contained the same way.
///
/// # Pending tasks
///
/// A task is freed when it ends. One that stays pending after its last waker is dropped is never
/// freed (the `futures` pool keeps it in a reference cycle with its waker) and keeps the pool's
/// threads alive; dropping the executor does not reclaim it, where a Tokio runtime frees its
/// tasks when it is dropped (a smol executor is held by its actors and is not dropped while
/// one lives: see `SmolExecutor`). Actors that end (stop, kill, or the last
/// strong `ActorRef` dropped) leave no such task.
///
/// # When the threads end
///
/// The pool's threads and the timer thread end when the last handle to the executor is
/// dropped. Every actor spawned on it holds one, and so does every reference to such an actor,
/// [`ActorRef`](playhouse_core::ActorRef) or `WeakActorRef`, even once the actor has ended: a
/// program that keeps a reference to an ended actor keeps the threads too.
#[derive(Clone)]
pub struct StdExecutor {
    pool: ThreadPool,
    timer: TimerThread,
}

impl StdExecutor {
    /// A pool with one thread per available core.
    ///
    /// # Errors
    ///
    /// If the operating system refuses to start the threads.
    pub fn new() -> io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(threads)
    }

    /// Runs `future` to completion on this thread, parking it between polls, while the pool
    /// runs the actors: the way to run a `main` (or a test) with the std executor.
    ///
    /// ```
    /// use playhouse_executors::StdExecutor;
    ///
    /// let executor = StdExecutor::with_threads(2).expect("threads");
    /// assert_eq!(executor.block_on(async { 6 * 7 }), 42);
    /// ```
    ///
    /// # Panics
    ///
    /// When called from a thread of this pool or of any other `StdExecutor` (an actor's handler
    /// or hook, or a task it spawned): `futures::executor::block_on` refuses to run inside
    /// another executor of its kind, so the handler panics (and its actor ends with
    /// `ExitReason::Panicked`) rather than block one of the pool's threads.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        futures_executor::block_on(future)
    }

    /// A pool of `threads` threads (at least one).
    ///
    /// # Errors
    ///
    /// If the operating system refuses to start the threads.
    pub fn with_threads(threads: usize) -> io::Result<Self> {
        let pool = ThreadPool::builder()
            .pool_size(threads.max(1))
            .name_prefix("playhouse-std-")
            .create()?;
        Ok(StdExecutor {
            pool,
            timer: TimerThread::start()?,
        })
    }

    /// How many entries the timer thread holds: sleeps that have been polled and have neither
    /// fired nor been dropped, plus dropped ones not yet compacted away (at most as many as the
    /// former, plus 64). For tests and diagnostics; not a stable API.
    #[doc(hidden)]
    pub fn timer_entries(&self) -> usize {
        self.timer.entries()
    }
}

impl Executor for StdExecutor {
    type Sleep = StdSleep;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.pool.spawn_ok(Contained {
            future: Some(future),
            pool: self.pool.clone(),
            waker: None,
        });
    }

    fn sleep_until(&self, deadline: Instant) -> StdSleep {
        self.timer.sleep_until(deadline)
    }
}

pin_project! {
    /// A spawned future as the pool runs it: a panic in a poll or in the future's drop ends the
    /// task instead of unwinding through (and ending) the pool's thread, and a wake during the
    /// future's own poll sends the task behind the others instead of polling it again in place
    /// (see [`FairWake`]).
    struct Contained<F> {
        // `None` once the future has ended (returned, or panicked) and been dropped.
        #[pin]
        future: Option<F>,
        // Where a deferred wake is delivered. (The pool's task holds a clone of its own, so this
        // one keeps nothing alive longer.)
        pool: ThreadPool,
        // The waker the future is polled with, and its state; made at the first poll, and made
        // again only if the pool's waker for this task changes (it does not, with `futures`'
        // pool).
        waker: Option<(Arc<FairWake>, Waker)>,
    }

    impl<F> PinnedDrop for Contained<F> {
        // Only a pending task gets here with its future: the pool dropped it unfinished.
        fn drop(this: Pin<&mut Self>) {
            drop_contained(this.project().future);
        }
    }
}

/// Drops the future in place, containing a panic of its drop.
fn drop_contained<F>(mut future: Pin<&mut Option<F>>) {
    if future.is_some() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| future.set(None))) {
            drop_payload(payload);
        }
    }
}

/// The task is being polled (set by the polling thread for the length of the poll).
const POLLING: u8 = 1;
/// A wake came while [`POLLING`] was set: the polling thread delivers it after the poll.
const WOKEN: u8 = 2;

/// The waker a spawned future is polled with: it wraps the pool's waker for the task.
///
/// The `futures` pool polls a task again at once, on the same thread, when it is woken during
/// its poll; a task that yields (wakes itself and returns `Pending`) would then never let another
/// task have the thread. So a wake while the task is being polled only sets [`WOKEN`], and
/// [`Contained::poll`], once the future has returned `Pending`, hands the wake to a small task
/// spawned on the pool: that one runs after the tasks already queued, and wakes this task then,
/// which queues it behind whatever they queued. A wake while the task is not being polled goes
/// straight to the pool's waker.
///
/// # No wake is lost
///
/// Only the polling thread sets and clears [`POLLING`] (the pool polls a task on one thread at a
/// time), with a `swap` at the start and at the end of each poll; a wake is one `fetch_or` of
/// [`WOKEN`]. All of them are read-modify-writes or stores of the one atomic, so they fall in
/// one total order (its modification order), and a wake's `fetch_or` comes either:
///
/// - before the poll's starting `swap`, or after its ending one: the wake read `POLLING` clear
///   and woke the pool's waker itself. If the poll was still returning, the pool records the wake
///   and polls the task again; otherwise it queues the task. (The `WOKEN` bit it left is
///   overwritten by the next poll's starting `swap`, harmlessly: that wake was delivered.)
/// - between the two: it read `POLLING` set and only added `WOKEN`; the ending `swap` reads that
///   `WOKEN` (a later value in the same modification order) and the poller delivers the wake.
///
/// Visibility: what the waking thread wrote before waking must be seen by the poll the wake
/// causes. In the first case the pool's own wake orders it. In the second, the wake's `fetch_or`
/// is `Release` and the ending `swap` is `Acquire` and reads from it, so the waker's writes
/// happen before the poller spawns the delivering task (a send on the pool's channel, which
/// orders everything after it), hence before the poll it causes. The starting `swap` needs no
/// ordering of its own: it publishes nothing, and a wake it hides delivers through the ending
/// `swap`; it is `Relaxed` (a swap rather than a store only so that every write of the flag is
/// an RMW, which keeps the argument to one modification order).
#[derive(Debug)]
struct FairWake {
    /// The pool's waker for the task.
    pool_waker: Waker,
    /// [`POLLING`] and [`WOKEN`].
    state: AtomicU8,
}

impl FairWake {
    /// Makes the waker for a task whose pool waker is `pool_waker`.
    fn new(pool_waker: &Waker) -> (Arc<Self>, Waker) {
        let fair = Arc::new(FairWake {
            pool_waker: pool_waker.clone(),
            state: AtomicU8::new(0),
        });
        let waker = Waker::from(fair.clone());
        (fair, waker)
    }
}

impl Wake for FairWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // `Release`: pairs with the `Acquire` of the poll's ending swap (see the type's docs).
        if self.state.fetch_or(WOKEN, Ordering::Release) & POLLING == 0 {
            self.pool_waker.wake_by_ref();
        }
    }
}

impl<F: Future<Output = ()>> Future for Contained<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let mut future = this.future;
        let Some(running) = future.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        // The first poll, or (never with `futures`' pool) a new pool waker: a new `FairWake`.
        // The old one, if any, goes on waking the old pool waker, which is all a waker given
        // before the latest poll may expect.
        let (fair, waker) = match this.waker {
            Some((fair, waker)) if fair.pool_waker.will_wake(cx.waker()) => (&*fair, &*waker),
            stale => {
                let (fair, waker) = stale.insert(FairWake::new(cx.waker()));
                (&*fair, &*waker)
            }
        };
        // `Relaxed`: see `FairWake`'s docs.
        fair.state.swap(POLLING, Ordering::Relaxed);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            running.poll(&mut Context::from_waker(waker))
        }));
        // `Acquire`: pairs with the `Release` of a wake that came during the poll.
        let woken = fair.state.swap(0, Ordering::Acquire) & WOKEN != 0;
        match polled {
            Ok(Poll::Pending) => {
                if woken {
                    // Behind the tasks already queued: the pool polls this one again once the
                    // small task has run, not in place.
                    let pool_waker = fair.pool_waker.clone();
                    this.pool.spawn_ok(async move { pool_waker.wake() });
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(())) => {}
            // The panic hook has reported it; the task ends here, as on Tokio and smol.
            Err(payload) => drop_payload(payload),
        }
        drop_contained(future);
        Poll::Ready(())
    }
}

impl fmt::Debug for StdExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdExecutor").finish_non_exhaustive()
    }
}
