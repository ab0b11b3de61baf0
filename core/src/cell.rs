//! The one allocation every actor shares with its references: its mailbox queue and lifecycle.

use std::fmt;
use std::task::{Context, Poll, Waker};

use crate::executor::Sleeper;
use crate::exit::ExitReason;
use crate::mailbox::{Queue, Strategy};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

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

struct LifeState {
    /// The exit reason asked for from outside (stop or kill).
    requested: Option<ExitReason>,
    /// Set once, when the actor's last incarnation has ended and its mailbox is discarded.
    exit: Option<ExitReason>,
    waiters: Vec<Waker>,
    watchers: Vec<ExitWatcher>,
}

pub(crate) struct ActorCell<M, S> {
    pub(crate) queue: Queue<M, S>,
    pub(crate) id: ActorId,
    /// Strong references alive; the mailbox closes when it drops to zero.
    pub(crate) strong: AtomicUsize,
    signal: AtomicU8,
    ended: AtomicBool,
    life: Mutex<LifeState>,
    /// The executor's timer, type-erased (a cold path: only timed asks use it). A plain std
    /// `Arc` because it is immutable shared data, not a synchronization point.
    pub(crate) sleeper: std::sync::Arc<dyn Sleeper>,
}

impl<M, S: Strategy> ActorCell<M, S> {
    pub(crate) fn new(queue: Queue<M, S>, sleeper: std::sync::Arc<dyn Sleeper>) -> Self {
        ActorCell {
            queue,
            id: ActorId::next(),
            strong: AtomicUsize::new(1),
            signal: AtomicU8::new(SIGNAL_NONE),
            ended: AtomicBool::new(false),
            life: Mutex::new(LifeState {
                requested: None,
                exit: None,
                waiters: Vec::new(),
                watchers: Vec::new(),
            }),
            sleeper,
        }
    }

    /// Graceful stop: no new messages; the queued ones are handled; then `reason`.
    pub(crate) fn request_stop(&self, reason: ExitReason) {
        {
            let mut life = self.life.lock();
            if life.requested.is_none() {
                life.requested = Some(reason);
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
        self.life.lock().requested = Some(ExitReason::Killed);
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
        self.life.lock().requested.clone()
    }

    pub(crate) fn is_alive(&self) -> bool {
        !self.ended.load(Ordering::Acquire)
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        self.life.lock().exit.clone()
    }

    /// Records the final exit and tells every waiter and watcher, exactly once.
    pub(crate) fn record_exit(&self, reason: ExitReason) {
        let (waiters, watchers) = {
            let mut life = self.life.lock();
            if life.exit.is_some() {
                return;
            }
            life.exit = Some(reason.clone());
            self.ended.store(true, Ordering::Release);
            (
                std::mem::take(&mut life.waiters),
                std::mem::take(&mut life.watchers),
            )
        };
        for w in waiters {
            w.wake();
        }
        for watcher in watchers {
            watcher(self.id, &reason);
        }
    }

    pub(crate) fn poll_exit(&self, cx: &mut Context<'_>) -> Poll<ExitReason> {
        let mut life = self.life.lock();
        if let Some(r) = &life.exit {
            return Poll::Ready(r.clone());
        }
        if !life.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            life.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Registers `watcher`; if the actor has already ended it runs at once.
    pub(crate) fn add_watcher(&self, watcher: ExitWatcher) {
        let reason = {
            let mut life = self.life.lock();
            match &life.exit {
                Some(r) => r.clone(),
                None => {
                    life.watchers.push(watcher);
                    return;
                }
            }
        };
        watcher(self.id, &reason);
    }
}
