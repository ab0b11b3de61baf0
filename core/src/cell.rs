//! The one allocation every actor shares with its references: its mailbox queue and lifecycle.

use std::fmt;
use std::task::{Context, Poll, Waker};

use crate::executor::SharedSleeper;
use crate::exit::ExitReason;
use crate::mailbox::{Queue, Strategy};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
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

const SIGNAL_NONE: u8 = 0;
const SIGNAL_STOP: u8 = 1;
const SIGNAL_KILL: u8 = 2;

/// Where an actor is in its life, as far as the outside world is concerned.
enum Phase {
    Running,
    /// A stop or kill was asked for, with this exit reason.
    Stopping(ExitReason),
    /// The last incarnation has ended and the mailbox was discarded.
    Ended(ExitReason),
}

/// Who is told of the end.
enum Watch {
    Waker(Waker),
    Callback(ExitWatcher),
}

struct LifeState {
    phase: Phase,
    /// Who is told of the end, and the running incarnation's timers: boxed and made on first
    /// use, since most actors have neither, and every byte of an idle actor counts.
    extras: Option<Box<LifeExtras>>,
}

#[derive(Default)]
struct LifeExtras {
    watches: Vec<Watch>,
    /// The timers of the running incarnation, cancelled when it ends.
    timers: Vec<TimerHandle>,
}

impl LifeState {
    fn extras(&mut self) -> &mut LifeExtras {
        self.extras.get_or_insert_with(Box::default)
    }
}

pub(crate) struct ActorCell<M, S> {
    pub(crate) queue: Queue<M, S>,
    pub(crate) id: ActorId,
    /// Strong references alive; the mailbox closes when it drops to zero.
    pub(crate) strong: AtomicUsize,
    signal: AtomicU8,
    life: Mutex<LifeState>,
    /// The executor's timer, type-erased (a cold path: only timed asks use it). A plain std
    /// `Arc` because it is immutable shared data, not a synchronization point.
    pub(crate) sleeper: SharedSleeper,
}

impl<M, S: Strategy> ActorCell<M, S> {
    pub(crate) fn new(queue: Queue<M, S>, sleeper: SharedSleeper) -> Self {
        ActorCell {
            queue,
            id: ActorId::next(),
            strong: AtomicUsize::new(1),
            signal: AtomicU8::new(SIGNAL_NONE),
            life: Mutex::new(LifeState {
                phase: Phase::Running,
                extras: None,
            }),
            sleeper,
        }
    }

    /// Tracks a timer of the running incarnation (forgetting those that have finished).
    pub(crate) fn track_timer(&self, handle: TimerHandle) {
        let mut life = self.life.lock();
        let timers = &mut life.extras().timers;
        timers.retain(TimerHandle::is_active);
        timers.push(handle);
    }

    /// Cancels every timer of the incarnation that is ending; none delivers afterwards.
    pub(crate) fn cancel_timers(&self) {
        let timers = match &mut self.life.lock().extras {
            Some(extras) => std::mem::take(&mut extras.timers),
            None => return,
        };
        for t in &timers {
            t.cancel();
        }
    }

    /// Graceful stop: no new messages; the queued ones are handled; then `reason`.
    pub(crate) fn request_stop(&self, reason: ExitReason) {
        {
            let mut life = self.life.lock();
            if matches!(life.phase, Phase::Running) {
                life.phase = Phase::Stopping(reason);
            }
        }
        let _ = self.signal.compare_exchange(
            SIGNAL_NONE,
            SIGNAL_STOP,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.queue.close();
    }

    /// Kill: stop after the current message, discard the rest.
    pub(crate) fn request_kill(&self) {
        {
            let mut life = self.life.lock();
            if !matches!(life.phase, Phase::Ended(_)) {
                life.phase = Phase::Stopping(ExitReason::Killed);
            }
        }
        self.signal.store(SIGNAL_KILL, Ordering::Release);
        self.queue.close();
        self.queue.wake_receiver();
    }

    #[inline]
    pub(crate) fn is_killed(&self) -> bool {
        self.signal.load(Ordering::Acquire) == SIGNAL_KILL
    }

    /// `true` once a stop or kill was asked for from outside: no restart follows.
    pub(crate) fn stop_was_requested(&self) -> bool {
        self.signal.load(Ordering::Acquire) != SIGNAL_NONE
    }

    pub(crate) fn requested_reason(&self) -> Option<ExitReason> {
        // `request_stop` and `request_kill` set the phase, then the signal, then close the
        // mailbox. An exit caused by a request therefore sees its signal (the mailbox's lock
        // orders the close before the receiver's view of it). With no signal seen, a request
        // still in flight is taken as coming after this read, as the lock might also have
        // found it: no lock needed.
        if !self.stop_was_requested() {
            return None;
        }
        match &self.life.lock().phase {
            Phase::Stopping(r) => Some(r.clone()),
            Phase::Running | Phase::Ended(_) => None,
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        !matches!(self.life.lock().phase, Phase::Ended(_))
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        match &self.life.lock().phase {
            Phase::Ended(r) => Some(r.clone()),
            Phase::Running | Phase::Stopping(_) => None,
        }
    }

    /// Records the final exit and tells every waiter and watcher, exactly once.
    pub(crate) fn record_exit(&self, reason: ExitReason) {
        let watches = {
            let mut life = self.life.lock();
            if matches!(life.phase, Phase::Ended(_)) {
                return;
            }
            life.phase = Phase::Ended(reason.clone());
            match &mut life.extras {
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
        let mut life = self.life.lock();
        if let Phase::Ended(r) = &life.phase {
            return Poll::Ready(r.clone());
        }
        let watches = &mut life.extras().watches;
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
            let mut life = self.life.lock();
            match &life.phase {
                Phase::Ended(r) => r.clone(),
                Phase::Running | Phase::Stopping(_) => {
                    life.extras().watches.push(Watch::Callback(watcher));
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
    /// Tokio allocates each task 128-byte aligned, a glibc chunk of 128·k + 16 bytes; a cell
    /// chunk of 240 (≡ 112 mod 128) makes each cell-and-task pair a multiple of 128, so when
    /// actors are spawned one after another every task lands aligned and `memalign` cuts off
    /// no slack. In the `spawn` benchmark a 256-byte cell chunk measured 711 resident bytes per
    /// idle actor and the 240-byte one 520; `benches/src/bin/task_alignment.rs` measured 688 for
    /// a 224-byte chunk (`docs/performance.md`). The cell is the same for every message type and
    /// mailbox strategy.
    #[test]
    fn an_idle_actors_cell_is_a_240_byte_chunk() {
        assert_eq!(cell_chunk::<u64, Block>(), 240);
        assert_eq!(cell_chunk::<[u8; 512], Block>(), 240);
        assert_eq!(cell_chunk::<String, DropOldest>(), 240);
        assert_eq!(cell_chunk::<u8, Reject>(), 240);
        assert_eq!(cell_chunk::<u64, UnboundedStrategy>(), 240);
    }
}
