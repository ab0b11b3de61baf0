//! The one allocation every actor shares with its references: its mailbox queue and lifecycle.

use std::fmt;
use std::task::{Context, Poll, Waker};

use crate::executor::SharedSleeper;
use crate::exit::ExitReason;
use crate::mailbox::{Queue, State, Strategy, wake_all};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::timer::TimerHandle;

/// A process-unique actor identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(u64);

impl ActorId {
    pub(crate) fn next() -> Self {
        ActorId(crate::sync::next_id())
    }

    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.0)
    }
}

/// A callback told of an actor's end, exactly once.
pub(crate) type ExitWatcher = Box<dyn FnOnce(ActorId, &ExitReason) + Send + 'static>;

/// The bit of [`ActorCell::refs`] set once a stop was asked for.
const STOP_BIT: usize = 1 << (usize::BITS - 2);
/// The bit of [`ActorCell::refs`] set once a kill was asked for.
const KILL_BIT: usize = 1 << (usize::BITS - 1);
/// The strong-reference count in [`ActorCell::refs`].
const COUNT_MASK: usize = !(STOP_BIT | KILL_BIT);

/// An exit reason in a byte. The reasons that carry data are kept in [`LifeExtras::reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReasonCode {
    Normal,
    /// `Shutdown(None)`.
    Shutdown,
    Killed,
    /// The reason is in [`LifeExtras::reason`].
    Kept,
}

/// Where an actor is in its life, as far as the outside world is concerned. It lives under the
/// mailbox's lock (see [`Queue`]), in two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// A stop or kill was asked for, with this exit reason.
    Stopping(ReasonCode),
    /// The last incarnation has ended and the mailbox was discarded.
    Ended(ReasonCode),
}

/// Who is told of the end.
enum Watch {
    Waker(Waker),
    Callback(ExitWatcher),
}

/// What most actors never need, boxed and made on first use: every byte of an idle actor
/// counts.
#[derive(Default)]
pub(crate) struct LifeExtras {
    watches: Vec<Watch>,
    /// The timers of the running incarnation, cancelled when it ends.
    timers: Vec<TimerHandle>,
    /// The exit reason of [`Phase`], when it carries data.
    reason: Option<ExitReason>,
}

fn extras<M>(st: &mut State<M>) -> &mut LifeExtras {
    st.extras.get_or_insert_with(Box::default)
}

/// Stores `reason` in a byte, or in the extras when it carries data.
fn encode<M>(st: &mut State<M>, reason: ExitReason) -> ReasonCode {
    match reason {
        ExitReason::Normal => ReasonCode::Normal,
        ExitReason::Shutdown(None) => ReasonCode::Shutdown,
        ExitReason::Killed => ReasonCode::Killed,
        kept => {
            extras(st).reason = Some(kept);
            ReasonCode::Kept
        }
    }
}

/// The reason `code` stands for.
fn decode<M>(st: &State<M>, code: ReasonCode) -> ExitReason {
    match code {
        ReasonCode::Normal => ExitReason::Normal,
        ReasonCode::Shutdown => ExitReason::Shutdown(None),
        ReasonCode::Killed => ExitReason::Killed,
        ReasonCode::Kept => match st.extras.as_ref().and_then(|e| e.reason.clone()) {
            Some(reason) => reason,
            // `encode` stores the reason before it hands out `Kept`, and nothing removes it.
            None => {
                debug_assert!(false, "a kept exit reason is missing");
                ExitReason::Normal
            }
        },
    }
}

/// An actor's one allocation, shared by its task and every reference to it: the mailbox (with
/// the lifecycle under the mailbox's lock), the id, the reference count and the stop signal,
/// and the executor's timer. 88 bytes, the same for every message type and strategy; see the
/// unit test below for why the size matters.
pub(crate) struct ActorCell<M, S> {
    pub(crate) queue: Queue<M, S>,
    pub(crate) id: ActorId,
    /// Strong references alive (the low bits; the mailbox closes when they drop to zero) and
    /// the signals [`STOP_BIT`] and [`KILL_BIT`], read without the lock on every message.
    refs: AtomicUsize,
    /// The executor's timer, type-erased (a cold path: only timed asks use it). A plain std
    /// `Arc` because it is immutable shared data, not a synchronization point.
    pub(crate) sleeper: SharedSleeper,
}

impl<M, S: Strategy> ActorCell<M, S> {
    /// A cell with one strong reference counted.
    pub(crate) fn new(queue: Queue<M, S>, sleeper: SharedSleeper) -> Self {
        ActorCell {
            queue,
            id: ActorId::next(),
            refs: AtomicUsize::new(1),
            sleeper,
        }
    }

    /// Counts one more strong reference.
    #[inline]
    pub(crate) fn add_ref(&self) {
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one strong reference less; `true` if it was the last.
    #[inline]
    pub(crate) fn release_ref(&self) -> bool {
        self.refs.fetch_sub(1, Ordering::AcqRel) & COUNT_MASK == 1
    }

    /// Counts one more strong reference if any is still alive and the mailbox is open.
    pub(crate) fn try_add_ref(&self) -> bool {
        let mut n = self.refs.load(Ordering::Acquire);
        loop {
            if n & COUNT_MASK == 0 || self.queue.is_closed() {
                return false;
            }
            match self
                .refs
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    /// Tracks a timer of the running incarnation (forgetting those that have finished).
    pub(crate) fn track_timer(&self, handle: TimerHandle) {
        let mut st = self.queue.state.lock();
        let timers = &mut extras(&mut *st).timers;
        timers.retain(TimerHandle::is_active);
        timers.push(handle);
    }

    /// Cancels every timer of the incarnation that is ending; none delivers afterwards.
    pub(crate) fn cancel_timers(&self) {
        let timers = match &mut self.queue.state.lock().extras {
            Some(extras) => std::mem::take(&mut extras.timers),
            None => return,
        };
        for t in &timers {
            t.cancel();
        }
    }

    /// Graceful stop: no new messages; the queued ones are handled; then `reason`.
    pub(crate) fn request_stop(&self, reason: ExitReason) {
        let woken = {
            let mut st = self.queue.state.lock();
            if st.phase == Phase::Running {
                let code = encode(&mut *st, reason);
                st.phase = Phase::Stopping(code);
            }
            self.refs.fetch_or(STOP_BIT, Ordering::AcqRel);
            self.queue.close_locked(&mut st)
        };
        wake_all(woken);
    }

    /// Kill: stop after the current message, discard the rest.
    pub(crate) fn request_kill(&self) {
        let woken = {
            let mut st = self.queue.state.lock();
            if !matches!(st.phase, Phase::Ended(_)) {
                st.phase = Phase::Stopping(ReasonCode::Killed);
            }
            self.refs.fetch_or(KILL_BIT, Ordering::AcqRel);
            let (rx, waiters) = self.queue.close_locked(&mut st);
            // Already closed (a stop came first): the receiver still has to see the kill.
            (rx.or_else(|| st.rx_waker.take()), waiters)
        };
        wake_all(woken);
    }

    /// While a handler is suspended: `true` if the actor was killed; otherwise leaves `waker`
    /// where [`request_kill`](Self::request_kill) wakes it (the receiver's slot, which a kill
    /// empties) and checks again.
    ///
    /// The slot is the receiver's because the receiver is not waiting while a handler runs, and
    /// a second waker would make every idle actor's cell larger. The price: a sender that
    /// finds the waker there wakes the task once, and the suspended handler is polled again for
    /// nothing. Only handlers that suspend pay the lock.
    pub(crate) fn watch_kill(&self, waker: &Waker) -> bool {
        if self.is_killed() {
            return true;
        }
        {
            let mut st = self.queue.state.lock();
            if crate::faults::enabled(crate::faults::Fault::KillWatchSkipsWaker) {
                drop(st);
                return false;
            }
            match &st.rx_waker {
                Some(w) if w.will_wake(waker) => {}
                _ => st.rx_waker = Some(waker.clone()),
            }
        }
        // A kill that took the lock before us has set its bit under it.
        self.is_killed()
    }

    #[inline]
    pub(crate) fn is_killed(&self) -> bool {
        self.refs.load(Ordering::Acquire) & KILL_BIT != 0
    }

    /// `true` once a stop or kill was asked for from outside: no restart follows.
    pub(crate) fn stop_was_requested(&self) -> bool {
        self.refs.load(Ordering::Acquire) & (STOP_BIT | KILL_BIT) != 0
    }

    pub(crate) fn requested_reason(&self) -> Option<ExitReason> {
        // `request_stop` and `request_kill` set the phase, the signal and close the mailbox
        // under its lock. An exit caused by a request therefore sees its signal (the lock
        // orders the close before the receiver's view of it). With no signal seen, a request
        // still in flight is taken as coming after this read, as the lock might also have
        // found it: no lock needed.
        if !self.stop_was_requested() {
            return None;
        }
        let st = self.queue.state.lock();
        match st.phase {
            Phase::Stopping(code) => Some(decode(&*st, code)),
            Phase::Running | Phase::Ended(_) => None,
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        !matches!(self.queue.state.lock().phase, Phase::Ended(_))
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        let st = self.queue.state.lock();
        match st.phase {
            Phase::Ended(code) => Some(decode(&*st, code)),
            Phase::Running | Phase::Stopping(_) => None,
        }
    }

    /// Records the final exit and tells every waiter and watcher, exactly once.
    pub(crate) fn record_exit(&self, reason: ExitReason) {
        let watches = {
            let mut st = self.queue.state.lock();
            if matches!(st.phase, Phase::Ended(_)) {
                return;
            }
            let code = encode(&mut *st, reason.clone());
            st.phase = Phase::Ended(code);
            match &mut st.extras {
                Some(extras) => std::mem::take(&mut extras.watches),
                None => return,
            }
        };
        for watch in watches {
            match watch {
                Watch::Waker(w) => w.wake(),
                Watch::Callback(f) => f(self.id, &reason),
            }
        }
    }

    pub(crate) fn poll_exit(&self, cx: &mut Context<'_>) -> Poll<ExitReason> {
        let mut st = self.queue.state.lock();
        if let Phase::Ended(code) = st.phase {
            return Poll::Ready(decode(&*st, code));
        }
        let watches = &mut extras(&mut *st).watches;
        let known = watches
            .iter()
            .any(|w| matches!(w, Watch::Waker(w) if w.will_wake(cx.waker())));
        if !known {
            watches.push(Watch::Waker(cx.waker().clone()));
        }
        Poll::Pending
    }

    /// Registers `watcher`; if the actor has already ended it runs at once.
    pub(crate) fn add_watcher(&self, watcher: ExitWatcher) {
        let reason = {
            let mut st = self.queue.state.lock();
            match st.phase {
                Phase::Ended(code) => decode(&*st, code),
                Phase::Running | Phase::Stopping(_) => {
                    extras(&mut *st).watches.push(Watch::Callback(watcher));
                    return;
                }
            }
        };
        watcher(self.id, &reason);
    }
}

#[cfg(all(test, not(playhouse_loom), target_pointer_width = "64"))]
mod tests {
    use super::ActorCell;
    use crate::mailbox::{Block, DropOldest, Reject, UnboundedStrategy};

    /// The malloc chunk (glibc, 64-bit: payload plus an 8-byte header, rounded up to 16) of an
    /// actor's cell behind its `Arc` (two 8-byte counts in front).
    fn cell_chunk<M, S>() -> usize {
        (size_of::<ActorCell<M, S>>() + 16 + 8).next_multiple_of(16)
    }

    /// Every idle actor holds its cell, and on Tokio its size decides more than its own bytes.
    /// Tokio allocates each task 128-byte aligned, a glibc chunk of 128·k + 16 bytes (272 for
    /// an actor whose future is at most 152 bytes), so when actors are spawned one after another
    /// each cell-and-task pair takes a multiple of 128 bytes. A cell chunk of at most 112 bytes
    /// fits in the room below the next aligned task (3 × 128 = 384 bytes per pair); anything
    /// from 128 to 240 bytes needs 512, and more than 240 leaves alignment slack as well. In the
    /// `spawn` benchmark this 112-byte chunk measured 453 resident bytes per idle actor, the
    /// 240-byte one it replaced 520 and a 256-byte one 711 (`docs/performance.md`, "Why 112
    /// bytes"). The cell is the same for every message type and mailbox strategy.
    #[test]
    fn an_idle_actors_cell_is_a_112_byte_chunk() {
        assert_eq!(cell_chunk::<u64, Block>(), 112);
        assert_eq!(cell_chunk::<[u8; 512], Block>(), 112);
        assert_eq!(cell_chunk::<String, DropOldest>(), 112);
        assert_eq!(cell_chunk::<u8, Reject>(), 112);
        assert_eq!(cell_chunk::<u64, UnboundedStrategy>(), 112);
    }
}
