//! Timers: `run_later` and `run_interval`, cancellable, never delivering once cancelled.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::{NoReply, SendError};
use pin_project_lite::pin_project;

use crate::cell::ActorCell;
use crate::executor::Executor;
use crate::exit::ExitReason;
use crate::mailbox::OnFull;
use crate::mailbox::Strategy;
use crate::reply::with_drop_cause;
use crate::sync::{Arc, Mutex};

struct TimerState {
    cancelled: bool,
    /// Cancelled because its incarnation (or the actor) ended, not by its handle: a message it
    /// still holds is dropped as one the actor never handled ([`NoReply::Stopped`]).
    ended_with_actor: bool,
    finished: bool,
    waker: Option<Waker>,
}

struct TimerShared {
    state: Mutex<TimerState>,
}

/// Cancels a timer started by [`Context::run_later`](crate::Context::run_later) or
/// [`Context::run_interval`](crate::Context::run_interval).
///
/// Once [`cancel`](TimerHandle::cancel) returns, the timer delivers nothing more: a tick is
/// enqueued and the cancel flag checked under one lock. Dropping the handle does not cancel.
#[derive(Clone)]
pub struct TimerHandle {
    shared: Arc<TimerShared>,
}

impl TimerHandle {
    /// Cancels the timer. Returns `true` if it was still active.
    ///
    /// The message it would have sent is dropped (by the timer's task, soon after): a reply
    /// port inside resolves with [`NoReply::Dropped`], as one the handler dropped would. A
    /// timer that ends with its incarnation (the actor stopped or restarted, or the runtime
    /// shut down) without having been cancelled by its handle drops it with
    /// [`NoReply::Stopped`] instead.
    pub fn cancel(&self) -> bool {
        self.cancel_because(false)
    }

    /// Cancels the timer as its incarnation ends.
    pub(crate) fn cancel_with_actor(&self) -> bool {
        self.cancel_because(true)
    }

    fn cancel_because(&self, ended_with_actor: bool) -> bool {
        let (was_active, waker) = {
            let mut st = self.shared.state.lock();
            let was_active = !st.cancelled && !st.finished;
            // The first cancel says why: a handle's cancel is not undone by the incarnation's
            // end that follows before the timer's task has dropped the message.
            if !st.cancelled {
                st.ended_with_actor = ended_with_actor;
            }
            st.cancelled = true;
            (was_active, st.waker.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        was_active
    }

    /// `true` while the timer may still deliver.
    pub fn is_active(&self) -> bool {
        let st = self.shared.state.lock();
        !st.cancelled && !st.finished
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("active", &self.is_active())
            .finish()
    }
}

/// Starts a timer task on `executor` that sends `make()` to the actor at `first`, then every
/// `period` if one is given. `make` returning `None` ends the timer; `make` panicking ends it
/// and stops the actor with [`ExitReason::Panicked`].
///
/// The first sleep is made here, on the caller's thread, before the task is spawned: an
/// executor that cannot time (a Tokio runtime without `enable_time`) panics in the handler
/// that starts the timer, rather than in a detached task where nobody would notice.
pub(crate) fn start_timer<M, S, E, F>(
    cell: Arc<ActorCell<M, S>>,
    executor: E,
    first: Instant,
    period: Option<Duration>,
    make: F,
) -> TimerHandle
where
    M: Send + 'static,
    S: Strategy,
    E: Executor,
    F: FnMut() -> Option<M> + Send + 'static,
{
    let shared = Arc::new(TimerShared {
        state: Mutex::new(TimerState {
            cancelled: false,
            ended_with_actor: false,
            finished: false,
            waker: None,
        }),
    });
    let first_sleep = executor.sleep_until(first);
    let handle = TimerHandle {
        shared: shared.clone(),
    };
    let sleeper = executor.clone();
    executor.spawn(TimerTask {
        shared: shared.clone(),
        run: Some(run_timer(
            cell,
            sleeper,
            shared,
            first,
            first_sleep,
            period,
            make,
        )),
    });
    handle
}

pin_project! {
    /// A timer's task as spawned. If the executor drops it unfinished (its runtime shut down,
    /// dropping the actor's task too), the message the timer still holds is dropped as the
    /// actor's end drops what is queued: reply ports inside resolve with
    /// [`NoReply::Stopped`] (unless the timer's handle had cancelled it first).
    struct TimerTask<F> {
        shared: Arc<TimerShared>,
        #[pin]
        run: Option<F>,
    }

    impl<F> PinnedDrop for TimerTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut run = this.run;
            if run.is_none() {
                return;
            }
            let cancelled_by_handle = {
                let st = this.shared.state.lock();
                st.cancelled && !st.ended_with_actor
            };
            if cancelled_by_handle {
                run.set(None);
            } else {
                with_drop_cause(NoReply::Stopped, || run.set(None));
            }
        }
    }
}

impl<F: Future<Output = ()>> Future for TimerTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut run = self.project().run;
        let Some(timer) = run.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        if timer.poll(cx).is_pending() {
            return Poll::Pending;
        }
        run.set(None);
        Poll::Ready(())
    }
}

/// Marks the timer finished however its task ends: it returned, the executor dropped it, or
/// it panicked. `is_active()` never reports a timer that can no longer deliver.
struct FinishOnDrop(Arc<TimerShared>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        st.finished = true;
        st.waker = None;
    }
}

async fn run_timer<M, S, E, F>(
    cell: Arc<ActorCell<M, S>>,
    executor: E,
    shared: Arc<TimerShared>,
    first: Instant,
    first_sleep: E::Sleep,
    period: Option<Duration>,
    mut make: F,
) where
    S: Strategy,
    E: Executor,
    F: FnMut() -> Option<M>,
{
    let _finish = FinishOnDrop(shared.clone());
    let mut deadline = first;
    let mut first_sleep = Some(first_sleep);
    loop {
        // Sleep until the deadline, or until cancelled.
        let sleep = match first_sleep.take() {
            Some(sleep) => sleep,
            None => executor.sleep_until(deadline),
        };
        let mut sleep = pin!(sleep);
        // Whether the sleep had to wait: one that was over at its first poll (a period shorter
        // than a turn of this loop) gives the executor a turn after the tick.
        let mut waited = false;
        let due = poll_fn(|cx| {
            {
                let mut st = shared.state.lock();
                if st.cancelled {
                    return Poll::Ready(false);
                }
                st.waker = Some(cx.waker().clone());
            }
            let polled = sleep.as_mut().poll(cx).map(|()| true);
            waited |= polled.is_pending();
            polled
        })
        .await;
        if !due {
            break;
        }
        let msg = match catch_unwind(AssertUnwindSafe(&mut make)) {
            Ok(Some(msg)) => msg,
            Ok(None) => break,
            Err(payload) => {
                closure_panicked(&cell, &shared, payload);
                break;
            }
        };
        // Deliver, checking the cancel flag under the timer's lock in the same poll that enqueues,
        // so that no tick lands after `cancel` has returned. A full `Reject` mailbox drops the
        // tick and counts it, as a `DropNewest` one would: the timer has nobody to hand it back
        // to, and an interval goes on with its next tick.
        let drops_when_full = S::ON_FULL == OnFull::Reject;
        let mut msg = Some(msg);
        let sent = loop {
            let mut send = None;
            let mut overflowed = None;
            let sent = poll_fn(|cx| {
                let mut st = shared.state.lock();
                if st.cancelled {
                    return Poll::Ready(None);
                }
                if crate::faults::enabled(crate::faults::Fault::TimerChecksCancelApart) {
                    drop(st);
                    st = shared.state.lock();
                }
                st.waker = Some(cx.waker().clone());
                let polled = match (drops_when_full, msg.take()) {
                    (true, Some(msg)) => Poll::Ready(cell.queue.try_send_or_count(msg).map(|o| {
                        overflowed = o;
                    })),
                    (_, msg) => {
                        let send = send.get_or_insert_with(|| {
                            cell.queue
                                .send(msg.expect("the tick, taken by its one send"))
                        });
                        std::pin::Pin::new(send).poll(cx)
                    }
                };
                let retried = matches!(polled, Poll::Ready(Err(SendError::Full(_))));
                if period.is_none() && polled.is_ready() && !retried {
                    // A one-shot timer whose message went in, was dropped or found the actor
                    // stopped is over: from here `cancel` reports `false`.
                    st.finished = true;
                }
                polled.map(Some)
            })
            .await;
            if let Some(tick) = overflowed.take() {
                // Dropped outside the timer's lock: its drop and the observer are user code.
                tick.drop_now();
            }
            match sent {
                // A full `Block` mailbox refused it without a wait: the timer's task was polled
                // on the thread of the actor's own handler (an executor that runs its tasks
                // inline, in a `block_on` the handler called), where the room could only come
                // once the handler returns. Offered again after a pause, from wherever the
                // executor polls the timer next (the cancel flag is checked each time).
                Some(Err(SendError::Full(again))) => {
                    if executor.is_shut_down() {
                        // Nothing will poll the timer outside the handler again.
                        with_drop_cause(NoReply::Stopped, || drop(again));
                        break None;
                    }
                    msg = Some(again);
                    let pause = executor.now().checked_add(Duration::from_millis(1));
                    if let Some(pause) = pause {
                        executor.sleep_until(pause).await;
                    }
                    // Back to the executor at least once per try, even where its sleep is
                    // over at once: a poll that never returned would hold the handler that
                    // runs it, and with it the room the message waits for.
                    crate::yield_now().await;
                }
                // Cancelled while waiting for room: the message (or the send holding it) is
                // dropped as the cancel's cause says.
                None => {
                    drop_undelivered(&shared, || drop((msg.take(), send)));
                    break None;
                }
                other => break other,
            }
        };
        match sent {
            Some(Ok(())) => {}
            // The actor has stopped: the message never reached it, and what `make` holds (an
            // interval's closure) goes as the actor's end drops what was queued.
            Some(Err(refused)) => {
                shared.state.lock().ended_with_actor = true;
                with_drop_cause(NoReply::Stopped, || drop(refused));
                break;
            }
            None => break,
        }
        if !waited {
            // Due at once: one turn for the executor's other tasks first, so that a period
            // shorter than this loop never holds the timer's thread.
            crate::yield_now().await;
        }
        match period {
            Some(p) => {
                let now = executor.now();
                // A period too long to add to a deadline means no further tick.
                let Some(next) = deadline.checked_add(p) else {
                    break;
                };
                deadline = if next <= now {
                    match now.checked_add(p) {
                        Some(d) => d,
                        None => break,
                    }
                } else {
                    next
                };
            }
            None => break,
        }
    }
    // What `make` still holds (a `run_later`'s message, if it never fired) goes as the cancel's
    // cause says; then `_finish` marks the timer finished.
    drop_undelivered(&shared, || drop(make));
}

/// Runs `drop`, which drops a message the timer will never deliver, with reply ports inside
/// resolving as [`NoReply::Stopped`] if the timer ended with its incarnation (plain drops,
/// [`NoReply::Dropped`], if its handle cancelled it).
fn drop_undelivered(shared: &TimerShared, drop: impl FnOnce()) {
    if shared.state.lock().ended_with_actor {
        with_drop_cause(NoReply::Stopped, drop);
    } else {
        drop();
    }
}

/// The `run_interval` closure panicked: the closure is the actor's own code, so the actor ends
/// with the panic, as it would had a handler panicked (unless the timer was cancelled
/// meanwhile: then its incarnation has ended and the panic belongs to none). The actor is
/// stopped, not killed: what is queued is handled first, and the stop is final.
#[cold]
fn closure_panicked<M, S: Strategy>(
    cell: &ActorCell<M, S>,
    shared: &TimerShared,
    payload: Box<dyn std::any::Any + Send>,
) {
    {
        let mut st = shared.state.lock();
        st.finished = true;
        if st.cancelled {
            return;
        }
    }
    let reason = match ExitReason::from_panic(payload) {
        ExitReason::Panicked(message) => {
            ExitReason::Panicked(format!("the run_interval closure panicked: {message}").into())
        }
        other => other,
    };
    cell.request_stop(reason);
}
