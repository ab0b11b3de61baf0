//! Test-only fault switches: each one deliberately breaks one primitive, so that the loom suite
//! (`loom-tests/`) can show that its models catch the break.
//!
//! The switches exist only under `RUSTFLAGS="--cfg playhouse_loom"` with the `loom-faults`
//! feature. In every other build [`enabled`] is a `const fn` returning `false`, so each call site
//! (`if crate::faults::enabled(..) { .. }`) compiles away.

/// A deliberate break of one primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Fault {
    /// `Queue` push forgets the parked receiver's waker instead of waking it.
    SkipReceiverWake = 1 << 0,
    /// `Queue::close` forgets the senders waiting for room instead of waking them.
    CloseSkipsSenders = 1 << 1,
    /// A full `DropOldest` mailbox drops the newest queued message instead of the oldest.
    DropOldestDropsNewest = 1 << 2,
    /// The receiver keeps counting a message it took through the lock against the capacity.
    ReceiverKeepsCapacity = 1 << 3,
    /// Dropping an unused `Reply` leaves its receiver pending forever.
    ReplyDropSilent = 1 << 4,
    /// A suspended handler does not leave its waker for a kill to wake.
    KillWatchSkipsWaker = 1 << 5,
    /// The self-ask check compares against the wrong actor (any actor counts as "itself").
    SelfAskMatchesAnyActor = 1 << 6,
    /// `try_send` checks that the mailbox is open, then pushes in a second critical section: a
    /// close in between lets the message in after the close (and after the final drain).
    TrySendChecksCloseApart = 1 << 7,
    /// Giving a batch back forgets the hand-outs made from it since the receiver last took the
    /// lock: they keep counting against the capacity (only a batch of three or more has any).
    GiveBackForgetsHandOuts = 1 << 8,
    /// A timed-out send drops the request it was still holding instead of handing it back
    /// (`ask_timeout` then reports `Timeout(None)`, as if the request had entered the mailbox).
    TimedOutSendDropsRequest = 1 << 9,
    /// The runner hands a message it took after a kill to the handler instead of discarding it.
    HandleAfterKill = 1 << 10,
    /// When the executor drops an actor's task, the finalizer reports the end but leaves the
    /// mailbox open and its backlog undiscarded.
    TaskDropSkipsDiscard = 1 << 11,
    /// A timer checks its cancel flag, then enqueues its tick in a second critical section: a
    /// `cancel` in between returns before the tick lands.
    TimerChecksCancelApart = 1 << 12,
    /// `Context::myself` hands out a reference it does not count.
    MyselfUncounted = 1 << 13,
    /// A stop after a kill (before the end) replaces the kill's reason with its own (and takes
    /// the kill's signal back, which the runner reads the reason from).
    StopOverridesKill = 1 << 14,
    /// `on_exit` checks that the actor has not ended, then registers the watcher in a second
    /// critical section: an end in between never calls it.
    WatcherAddedApart = 1 << 15,
    /// A kill that finds the mailbox already closed by a stop forgets the task's waker instead of
    /// waking it: a handler suspended at that moment is never cut.
    KillAfterStopSkipsWake = 1 << 16,
    /// An incarnation that ends (and is restarted) leaves its timers running.
    TimersOutliveIncarnation = 1 << 17,
    /// `remove_watcher` (`Monitor::demonitor`, `unlink`) finds the watcher under the lock, then
    /// removes it in a second critical section, and reports `true` even if the end ran the
    /// watcher in between.
    RemoveWatcherChecksApart = 1 << 18,
    /// A link's exit signal acts whether or not it claimed the link: an `unlink` that took the
    /// link first does not stop it.
    LinkSignalUnclaimed = 1 << 19,
    /// `link` does not deliver the signal of a side that ended before the other side's record
    /// of the link was in place (the signal is lost).
    LinkSkipsEndedPeer = 1 << 20,
    /// A message that an ending incarnation took is dropped instead of being put back for the
    /// next incarnation.
    PutBackDrops = 1 << 21,
    /// A stop checks that the actor is running, then sets its phase in a second critical
    /// section: an end in between is overwritten (the actor looks alive again, and later waits
    /// never resolve).
    StopChecksPhaseApart = 1 << 22,
    /// A control message (`Down`, a trapped `Exit`) is queued without raising the cell's
    /// control flag: it waits behind the receiver's batch instead of overtaking it.
    ControlSkipsFlag = 1 << 23,
    /// Releasing a stream item's token (taking the item, or dropping its message) forgets the
    /// forwarder's waker instead of waking it: the stream's next item is never pulled.
    StreamAckSkipsWake = 1 << 24,
    /// A stream's forwarder checks its cancel flag, then queues the item in a second critical
    /// section: a `cancel` in between returns before the item lands.
    StreamChecksCancelApart = 1 << 25,
    /// A send into a `Prioritized` mailbox goes to the front of its level instead of the back:
    /// FIFO within a level is lost.
    PriorityJumpsItsLevel = 1 << 26,
    /// The end lets `wait()` resolve as soon as it is recorded, before the `on_exit` watchers
    /// have run: a task woken by `wait` may not see what they did.
    WaitBeforeWatchers = 1 << 27,
    /// `stop_if_empty` looks at the mailbox, then stops the actor in a second critical
    /// section: a send in between is queued, and the stop is made anyway.
    StopIfEmptyChecksApart = 1 << 28,
    /// A control message that an ending incarnation took goes back among the user messages
    /// instead of the control queue (a drained restart then discards it).
    ControlPutBackAsUser = 1 << 29,
    /// Each end records a link however many times it is made: two `link` calls racing past
    /// the check for an existing link leave two records on each end, one of which nothing
    /// can take back.
    LinkRecordedTwice = 1 << 30,
    /// `monitor` does not look again whether its watcher ended while the monitor was set up:
    /// the target keeps the monitor of a watcher that is gone until the target ends.
    MonitorKeptForEndedWatcher = 1 << 31,
    /// After `stop_after_queue`, a crash with messages still queued ends the actor as after a
    /// plain stop: the supervision is not asked, and the queue is discarded.
    StopAfterQueueIgnored = 1 << 32,
    /// A stream's forwarder looks only for a stop or kill asked for before it pulls, not at
    /// the mailbox: the release of an item discarded by the actor's own end pulls the next
    /// item, which can only be dropped.
    StreamPullsPastClose = 1 << 33,
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
mod switch {
    use super::Fault;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The enabled faults, as a bitmask. Plain std atomic: test plumbing, not a modelled primitive.
    static ENABLED: AtomicU64 = AtomicU64::new(0);

    /// `true` if `fault` is switched on.
    #[inline]
    pub fn enabled(fault: Fault) -> bool {
        ENABLED.load(Ordering::Relaxed) & fault as u64 != 0
    }

    /// Switches `fault` on, process-wide.
    pub fn enable(fault: Fault) {
        ENABLED.fetch_or(fault as u64, Ordering::Relaxed);
    }

    /// Switches `fault` off, process-wide.
    pub fn disable(fault: Fault) {
        ENABLED.fetch_and(!(fault as u64), Ordering::Relaxed);
    }
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub use switch::{disable, enable, enabled};

/// Never: faults exist only in loom builds with the `loom-faults` feature.
#[cfg(not(all(playhouse_loom, feature = "loom-faults")))]
#[inline(always)]
pub(crate) const fn enabled(_fault: Fault) -> bool {
    false
}
