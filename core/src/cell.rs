//! The one allocation every actor shares with its references: its mailbox queue and lifecycle.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Poll, Waker};

use crate::executor::SharedSleeper;
use crate::exit::ExitReason;
use crate::exit_wait::{ExitCell, Waiters};
use crate::exit_watchers::Watchers;
use crate::mailbox::{Queue, State, Strategy, Woken, wake_all};
use crate::observer::{Observation, ObservedEvent};
use crate::stream::StreamHandle;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::timer::TimerHandle;
use std::sync::Arc as StdArc;

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

    /// The actor whose handler or hook this thread is running right now; `None` outside any
    /// actor's code (a plain task, `main`, a task an actor spawned). Layers that route messages
    /// themselves use it to refuse an ask an actor makes of itself, as
    /// [`ActorRef::is_current`](crate::ActorRef::is_current) does for one reference.
    ///
    /// Cost: one thread-local read.
    #[inline]
    pub fn current() -> Option<ActorId> {
        match crate::current_actor::current_raw() {
            0 => None,
            id => Some(ActorId(id)),
        }
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.0)
    }
}

/// A callback told of an actor's end, exactly once.
pub(crate) type ExitWatcher = Box<dyn FnOnce(ActorId, &ExitReason) + Send + 'static>;

/// What a watcher is for, so that it can be found again and removed: a link to another actor
/// (one per pair), either side of a monitor (by its own number), or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WatchTag {
    Plain,
    Link(ActorId),
    /// On the watched actor: delivers the monitor's `Down`.
    Monitor(u64),
    /// On the watching actor: takes the monitor back from the watched one when the watcher
    /// ends first.
    Monitoring(u64),
}

/// The bit of [`ActorCell::refs`] set once a stop was asked for.
const STOP_BIT: usize = 1 << (usize::BITS - 2);
/// The bit of [`ActorCell::refs`] set once a kill was asked for.
const KILL_BIT: usize = 1 << (usize::BITS - 1);
/// The bit of [`ActorCell::refs`] set while an end of the running incarnation (not of the
/// actor) is asked for, after the message being handled.
const RESTART_BIT: usize = 1 << (usize::BITS - 3);
/// The bit of [`ActorCell::refs`] set while an end of the running incarnation is asked for at
/// once: a suspended handler is cut as by a kill, but the mailbox stays open.
const CUT_BIT: usize = 1 << (usize::BITS - 4);
/// The bit of [`ActorCell::refs`] set while control messages (a monitor's `Down`, a trapped
/// `Exit`) wait in the mailbox's control queue: the message loop takes them before the next
/// user message. Raised and lowered under the mailbox's lock.
const CONTROL_BIT: usize = 1 << (usize::BITS - 5);
/// The bit of [`ActorCell::refs`] set once a guarded handler or hook has suspended (by
/// [`ActorCell::watch_kill`]), and lowered by the message loop before the next message and by
/// the runner after `stopped` ([`ActorCell::end_guarded`]): a kill seen before a poll cuts only
/// a handler that has suspended, never one whose first poll has not run (its message was taken,
/// and it runs to its first suspension as it did before). Only the actor's own task touches it.
const SUSPENDED_BIT: usize = 1 << (usize::BITS - 6);
/// Any of the requests the message loop must look at before handling a message, and the
/// suspended bit it lowers there (a handler that suspended takes the loop's slow path once).
const INTERRUPT_MASK: usize = KILL_BIT | RESTART_BIT | CUT_BIT | CONTROL_BIT | SUSPENDED_BIT;
/// The strong-reference count in [`ActorCell::refs`].
const COUNT_MASK: usize =
    !(STOP_BIT | KILL_BIT | RESTART_BIT | CUT_BIT | CONTROL_BIT | SUSPENDED_BIT);

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

/// The fewest timers [`LifeExtras::timers`] holds before [`ActorCell::track_timer`] first
/// forgets those that have finished.
const PRUNE_FLOOR: usize = 16;

/// What most actors never need, boxed and made on first use: every byte of an idle actor
/// counts.
pub(crate) struct LifeExtras {
    /// The `on_exit` watchers (and links and monitors), in the order they were registered.
    watchers: Watchers,
    /// The watching side of this actor's monitors of others ([`WatchTag::Monitoring`]), by
    /// monitor: apart from `watchers`, since each `Down` this actor receives takes its record
    /// out (a watcher of n actors would otherwise pay n² in searches). A `BTreeMap`: no random
    /// seed (loom replays need the same order), and small.
    monitoring: std::collections::BTreeMap<u64, ExitWatcher>,
    /// The tasks waiting in `wait()`, one slot per [`ExitWait`](crate::exit_wait::ExitWait).
    waiters: Waiters,
    /// The timers of the running incarnation, cancelled when it ends. Finished ones are
    /// forgotten once the list has doubled since they were last looked for.
    timers: Vec<TimerHandle>,
    /// The length of `timers` at which [`ActorCell::track_timer`] next forgets finished ones.
    prune_at: usize,
    /// The streams attached to the actor, cancelled when it ends (and those that end with the
    /// incarnation, when it does). Ended ones are forgotten as `timers`' are.
    streams: Vec<StreamHandle>,
    /// The length of `streams` at which [`ActorCell::track_stream`] next forgets ended ones.
    streams_prune_at: usize,
    /// The exit reason of [`Phase`], when it carries data.
    reason: Option<ExitReason>,
    /// The reason the running incarnation is asked to end with ([`RESTART_BIT`], [`CUT_BIT`]).
    incarnation_reason: Option<ExitReason>,
    /// The graceful stop asked for is to finish the queue across the end of an incarnation
    /// ([`ActorCell::request_stop_after_queue`]).
    after_queue: bool,
    /// A shutdown was asked for: the queue is discarded, and a later `stop_after_queue` does
    /// not bring it back.
    shut_down: bool,
    /// While the actor traps exits: how to turn an exit signal into one of its messages (a
    /// `fn(Exit) -> M`, erased because these extras are the same for every message type).
    trap: Option<Box<dyn std::any::Any + Send>>,
    /// The system's observer, if it has one ([`State::observed`] says so without this box).
    observation: Option<Observation>,
    /// The name given with [`ActorRef::set_name`](crate::ActorRef::set_name).
    name: Option<StdArc<str>>,
    /// When the handler of an observed actor began (the runner's clock reading, kept here
    /// rather than in every actor's task).
    handling_since: Option<std::time::Instant>,
    /// The mailbox depths read for an observed actor's events so far: each reading is
    /// numbered under the mailbox's lock ([`next_reading`]).
    depth_readings: u64,
}

impl Default for LifeExtras {
    fn default() -> Self {
        LifeExtras {
            watchers: Watchers::default(),
            monitoring: std::collections::BTreeMap::new(),
            waiters: Waiters::default(),
            timers: Vec::new(),
            prune_at: PRUNE_FLOOR,
            streams: Vec::new(),
            streams_prune_at: PRUNE_FLOOR,
            reason: None,
            incarnation_reason: None,
            after_queue: false,
            shut_down: false,
            trap: None,
            observation: None,
            name: None,
            handling_since: None,
            depth_readings: 0,
        }
    }
}

/// Calls `watcher`, containing its panic: a watcher runs on whichever thread records the end (an
/// actor's task) or registers it, and its panic must cost no other watcher or waiter its notice
/// and no executor its thread. The panic hook has reported the panic by the time it is caught.
fn run_watcher(watcher: ExitWatcher, id: ActorId, reason: &ExitReason) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || watcher(id, reason))) {
        // A payload whose own drop panics must not escape either.
        crate::reply::forget_panic(payload);
    }
}

/// The observation of an observed actor and its name, cloned under the caller's lock (for a
/// call outside it). `None` for an actor that is not observed.
pub(crate) type Observed = Option<(Observation, Option<StdArc<str>>)>;

/// What an event needs of the actor's observation ([`Observed`]), read under its lock.
#[cold]
pub(crate) fn observation_of<M, S: Strategy>(st: &State<M, S>) -> Observed {
    let extras = st.extras.as_deref()?;
    let observation = extras.observation.clone()?;
    Some((observation, extras.name.clone()))
}

/// Numbers a depth read under the mailbox's lock for an observed actor's event: readings of
/// one actor are numbered in the order they were made, so an observer that keeps a depth can
/// tell a late one (a sender tells of its send after it let go of the lock) from a newer one.
pub(crate) fn next_reading<M, S: Strategy>(st: &mut State<M, S>) -> u64 {
    st.extras.as_mut().map_or(0, |extras| {
        extras.depth_readings += 1;
        extras.depth_readings
    })
}

/// Tells what [`observation_of`] returned of `event`, if anything (outside the lock).
#[cold]
pub(crate) fn tell_observer(observed: Observed, event: &ObservedEvent<'_>) {
    if let Some((observation, name)) = observed {
        observation.tell(name.as_deref(), event);
    }
}

/// Cancels every stream of `streams` and forgets them; returns their forwarders' wakers, to
/// wake once the mailbox's lock is released. (The handles may be dropped under the lock: a
/// stream's last handle holds no waker, which only a running forwarder leaves.)
fn cancel_streams(streams: &mut Vec<StreamHandle>) -> Vec<Waker> {
    std::mem::take(streams)
        .iter()
        .filter_map(StreamHandle::cancel_locked)
        .collect()
}

fn extras<M, S: Strategy>(st: &mut State<M, S>) -> &mut LifeExtras {
    st.extras.get_or_insert_with(Box::default)
}

/// Stores `reason` in a byte, or in the extras when it carries data.
fn encode<M, S: Strategy>(st: &mut State<M, S>, reason: ExitReason) -> ReasonCode {
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
fn decode<M, S: Strategy>(st: &State<M, S>, code: ReasonCode) -> ExitReason {
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
pub(crate) struct ActorCell<M, S: Strategy> {
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

    /// Tracks a timer of the running incarnation, in O(1) amortized: the finished timers are
    /// forgotten only when the list has doubled since they were last looked for (at least
    /// [`PRUNE_FLOOR`] timers), so that each look costs no more than the starts since the last.
    ///
    /// Only the actor's own task tracks and cancels its timers (both through its `&mut
    /// Context`), so the list can be pruned outside the mailbox's lock (each timer examined takes
    /// its own lock): senders are not held up meanwhile.
    pub(crate) fn track_timer(&self, handle: TimerHandle) {
        let mut timers = {
            let mut st = self.queue.state.lock();
            let extras = extras(&mut *st);
            extras.timers.push(handle);
            if extras.timers.len() < extras.prune_at {
                return;
            }
            std::mem::take(&mut extras.timers)
        };
        timers.retain(|t| {
            #[cfg(all(test, not(playhouse_loom)))]
            timer_tests::PROBES.with(|p| p.set(p.get() + 1));
            t.is_active()
        });
        let mut st = self.queue.state.lock();
        let extras = extras(&mut *st);
        extras.prune_at = timers.len().saturating_mul(2).max(PRUNE_FLOOR);
        // Nothing else adds to the list (see above); keep anything all the same.
        timers.append(&mut extras.timers);
        extras.timers = timers;
    }

    /// Cancels every timer of the incarnation that is ending; none delivers afterwards.
    pub(crate) fn cancel_timers(&self) {
        let timers = match &mut self.queue.state.lock().extras {
            Some(extras) => {
                extras.prune_at = PRUNE_FLOOR;
                std::mem::take(&mut extras.timers)
            }
            None => return,
        };
        for t in &timers {
            t.cancel_with_actor();
        }
    }

    /// Tracks a stream attached to the actor, so that its end cancels it: `false` (and nothing
    /// tracked) if the mailbox has closed, when nothing could reach the actor any more. The
    /// actor's end closes the mailbox before it takes the list ([`record_exit`](Self::record_exit)),
    /// so a stream tracked here is always cancelled by it.
    ///
    /// Ended streams are forgotten once the list has doubled since they were last looked for,
    /// as [`track_timer`](Self::track_timer) does (O(1) amortized), here under the lock (each
    /// stream's own lock nests inside the mailbox's, see [`crate::stream`]): streams are
    /// attached from outside too, and a list taken out to be pruned would escape an end that
    /// came meanwhile.
    pub(crate) fn track_stream(&self, handle: StreamHandle) -> bool {
        let mut st = self.queue.state.lock();
        if st.closed || matches!(st.phase, Phase::Ended(_)) {
            return false;
        }
        let extras = extras(&mut *st);
        extras.streams.push(handle);
        if extras.streams.len() >= extras.streams_prune_at {
            extras.streams.retain(StreamHandle::is_active);
            extras.streams_prune_at = extras.streams.len().saturating_mul(2).max(PRUNE_FLOOR);
        }
        true
    }

    /// Cancels the streams that end with the incarnation that is ending; the others stay.
    pub(crate) fn end_incarnation_streams(&self) {
        let wakers: Vec<Waker> = {
            let mut st = self.queue.state.lock();
            let Some(extras) = st.extras.as_mut() else {
                return;
            };
            let mut wakers = Vec::new();
            extras.streams.retain(|stream| {
                if !stream.ends_with_incarnation() {
                    return true;
                }
                wakers.extend(stream.cancel_locked());
                false
            });
            wakers
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Graceful stop: no new messages; the queued ones are handled; then `reason`.
    pub(crate) fn request_stop(&self, reason: ExitReason) {
        let woken = {
            let mut st = self.queue.state.lock();
            let running = st.phase == Phase::Running;
            if running && crate::faults::enabled(crate::faults::Fault::StopChecksPhaseApart) {
                drop(st);
                st = self.queue.state.lock();
            }
            self.stop_locked(&mut st, reason, running)
        };
        wake_all(woken);
    }

    /// A graceful stop as [`request_stop`](ActorCell::request_stop) that finishes the queue
    /// across a crash: an incarnation that ends with messages still queued is handed to the
    /// supervision as if no stop had been asked for, and a restart handles the rest (see
    /// [`queue_left_to_finish`](ActorCell::queue_left_to_finish)). After a shutdown or a kill
    /// it is a plain stop.
    pub(crate) fn request_stop_after_queue(&self, reason: ExitReason) {
        let woken = {
            let mut st = self.queue.state.lock();
            if !matches!(st.phase, Phase::Ended(_)) {
                let life = extras(&mut *st);
                // A shutdown or a kill that came first keeps its discard.
                life.after_queue = !life.shut_down && !self.is_killed();
            }
            let running = st.phase == Phase::Running;
            self.stop_locked(&mut st, reason, running)
        };
        wake_all(woken);
    }

    /// Whether an incarnation that ended after a stop still goes to its supervision: the stop
    /// was [`request_stop_after_queue`](ActorCell::request_stop_after_queue)'s, no kill or
    /// shutdown came since, and messages are still queued (the mailbox is closed: that can
    /// only shrink). An incarnation that the stop itself ended has drained the queue.
    pub(crate) fn queue_left_to_finish(&self) -> bool {
        if self.is_killed() || crate::faults::enabled(crate::faults::Fault::StopAfterQueueIgnored) {
            return false;
        }
        let st = self.queue.state.lock();
        st.extras.as_deref().is_some_and(|e| e.after_queue) && self.queue.waiting(&st) > 0
    }

    /// A graceful stop as [`request_stop`](ActorCell::request_stop), made only if no message waits
    /// in the mailbox: the look and the stop are one critical section, so that a send racing
    /// it either is queued first (and no stop is made) or finds the mailbox closed. `true` if
    /// the stop was made.
    pub(crate) fn request_stop_if_empty(&self, reason: ExitReason) -> bool {
        let woken = {
            let mut st = self.queue.state.lock();
            if self.queue.waiting(&st) > 0 {
                return false;
            }
            if crate::faults::enabled(crate::faults::Fault::StopIfEmptyChecksApart) {
                drop(st);
                st = self.queue.state.lock();
            }
            let running = st.phase == Phase::Running;
            self.stop_locked(&mut st, reason, running)
        };
        wake_all(woken);
        true
    }

    /// Records a graceful stop under the mailbox's lock (the reason only if the actor was
    /// `running` when the caller looked) and closes the mailbox; returns whom to wake once the
    /// lock is released.
    fn stop_locked(&self, st: &mut State<M, S>, reason: ExitReason, running: bool) -> Woken {
        if running {
            let code = encode(st, reason);
            st.phase = Phase::Stopping(code);
        }
        if crate::faults::enabled(crate::faults::Fault::StopOverridesKill)
            && st.phase == Phase::Stopping(ReasonCode::Killed)
        {
            st.phase = Phase::Stopping(ReasonCode::Shutdown);
            self.refs.fetch_and(!KILL_BIT, Ordering::AcqRel);
        }
        self.refs.fetch_or(STOP_BIT, Ordering::AcqRel);
        self.queue.close_locked(st)
    }

    /// Shutdown: no new messages; the message being handled finishes, `stopped` runs, the
    /// queued ones are discarded; then `reason`. A stop that drains nothing: the graceful end
    /// a supervisor asks of a child, which must not wait behind its backlog.
    pub(crate) fn request_shutdown(&self, reason: ExitReason) {
        let woken = {
            let mut st = self.queue.state.lock();
            if matches!(st.phase, Phase::Ended(_)) {
                return;
            }
            if st.phase == Phase::Running {
                let code = encode(&mut *st, reason.clone());
                st.phase = Phase::Stopping(code);
            }
            // A shutdown discards the queue: nothing is left for a restart to finish, whatever
            // `stop_after_queue` asked before or asks later.
            let life = extras(&mut *st);
            life.after_queue = false;
            life.shut_down = true;
            // The end of the running incarnation, with the reason the phase holds (a stop or
            // kill that came first keeps its own), unless one is asked for already.
            let bits = self.refs.load(Ordering::Acquire);
            if bits & (RESTART_BIT | CUT_BIT) == 0 {
                let reason = match st.phase {
                    Phase::Stopping(code) => decode(&*st, code),
                    _ => reason,
                };
                extras(&mut *st).incarnation_reason = Some(reason);
                self.refs.fetch_or(RESTART_BIT, Ordering::AcqRel);
            }
            self.refs.fetch_or(STOP_BIT, Ordering::AcqRel);
            let (rx, waiters) = self.queue.close_locked(&mut st);
            // Already closed (a stop came first): the receiver still has to see the request.
            (rx.or_else(|| st.rx_waker.take()), waiters)
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
            if crate::faults::enabled(crate::faults::Fault::KillAfterStopSkipsWake) {
                st.rx_waker = None;
            }
            // Already closed (a stop came first): the receiver still has to see the kill.
            (rx.or_else(|| st.rx_waker.take()), waiters)
        };
        wake_all(woken);
    }

    /// Asks the running incarnation to end, not the actor: after the message being handled
    /// (`cut == false`), or at once, cutting a suspended handler as a kill does (`cut == true`).
    /// The mailbox stays open and what is queued stays for the next incarnation; the actor's
    /// restart policy decides whether one starts. The first reason asked for is kept until
    /// [`clear_restart_request`](Self::clear_restart_request); a cut overrides a pending
    /// graceful end. Nothing happens once the actor has ended.
    pub(crate) fn request_restart(&self, cut: bool, reason: ExitReason) {
        let waker = {
            let mut st = self.queue.state.lock();
            if matches!(st.phase, Phase::Ended(_)) {
                return;
            }
            let bits = self.refs.load(Ordering::Acquire);
            let pending = bits & (RESTART_BIT | CUT_BIT) != 0;
            let extras = extras(&mut *st);
            if !pending || (cut && bits & CUT_BIT == 0) {
                extras.incarnation_reason = Some(reason);
            }
            self.refs
                .fetch_or(if cut { CUT_BIT } else { RESTART_BIT }, Ordering::AcqRel);
            st.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Withdraws a request to end the incarnation ([`request_restart`](Self::request_restart)).
    /// The runner calls it when an incarnation ends; a supervisor calls it again before it
    /// starts the next, so that a request that raced an incarnation's own end does not end the
    /// next one.
    pub(crate) fn clear_restart_request(&self) {
        if self.refs.load(Ordering::Acquire) & (RESTART_BIT | CUT_BIT) == 0 {
            return;
        }
        let mut st = self.queue.state.lock();
        self.refs
            .fetch_and(!(RESTART_BIT | CUT_BIT), Ordering::AcqRel);
        if let Some(extras) = st.extras.as_mut() {
            extras.incarnation_reason = None;
        }
    }

    /// `true` if a kill or an end of the incarnation is asked for: the one load the message
    /// loop pays per message for all of them.
    #[inline]
    pub(crate) fn interrupted(&self) -> bool {
        self.refs.load(Ordering::Acquire) & INTERRUPT_MASK != 0
    }

    /// Makes this actor observed (at spawn, before anything can happen to it).
    pub(crate) fn set_observation(&self, observation: Observation) {
        let mut st = self.queue.state.lock();
        extras(&mut *st).observation = Some(observation);
        st.observed = true;
    }

    /// Tells the observer of `event`, if the actor is observed (the caller knows it is likely:
    /// the runner asks only when its system has an observer).
    pub(crate) fn observe(&self, event: &ObservedEvent<'_>) {
        let observed = {
            let st = self.queue.state.lock();
            if !st.observed {
                return;
            }
            observation_of(&st)
        };
        tell_observer(observed, event);
    }

    /// An observed actor's handler begins at `now`.
    pub(crate) fn mark_handling(&self, now: std::time::Instant) {
        let mut st = self.queue.state.lock();
        extras(&mut *st).handling_since = Some(now);
    }

    /// Tells the observer that the handler marked by [`mark_handling`](Self::mark_handling)
    /// returned at `now`.
    pub(crate) fn observe_handled(&self, now: std::time::Instant) {
        let (began, depth, reading, observed) = {
            let mut st = self.queue.state.lock();
            let began = st.extras.as_mut().and_then(|e| e.handling_since.take());
            let reading = next_reading(&mut *st);
            (began, self.queue.waiting(&st), reading, observation_of(&st))
        };
        if let Some(began) = began {
            let duration = now.saturating_duration_since(began);
            let event = ObservedEvent::Handled {
                duration,
                depth,
                reading,
            };
            tell_observer(observed, &event);
        }
    }

    /// Tells the observer the mailbox's depth now, messages having left it unhandled
    /// ([`ObservedEvent::Depth`]).
    pub(crate) fn observe_depth(&self) {
        if let Some((observed, depth)) = self.depth_now() {
            tell_observer(observed, &depth);
        }
    }

    /// Tells the observer that a message expired, and the depth after it: one look at the
    /// mailbox for both.
    pub(crate) fn observe_expired(&self) {
        if let Some((observed, depth)) = self.depth_now() {
            tell_observer(observed.clone(), &ObservedEvent::Expired);
            tell_observer(observed, &depth);
        }
    }

    /// What [`observation_of`] returns and a [`ObservedEvent::Depth`] of the mailbox now, if
    /// the actor is observed.
    fn depth_now(&self) -> Option<(Observed, ObservedEvent<'static>)> {
        let mut st = self.queue.state.lock();
        if !st.observed {
            return None;
        }
        let reading = next_reading(&mut *st);
        let depth = self.queue.waiting(&st);
        Some((observation_of(&st), ObservedEvent::Depth { depth, reading }))
    }

    /// Names the actor, for observers ([`ActorInfo::name`](crate::observer::ActorInfo)).
    pub(crate) fn set_name(&self, name: StdArc<str>) {
        let mut st = self.queue.state.lock();
        extras(&mut *st).name = Some(name);
    }

    /// The name given with [`set_name`](Self::set_name).
    pub(crate) fn name(&self) -> Option<StdArc<str>> {
        let st = self.queue.state.lock();
        st.extras.as_ref().and_then(|e| e.name.clone())
    }

    /// Queues a control message (a monitor's `Down`, a trapped `Exit`) ahead of the user
    /// messages, raising the control flag the message loop reads ([`Queue::push_control`]).
    /// `Err(msg)` once the mailbox is closed.
    pub(crate) fn push_control(&self, msg: M) -> Result<(), M> {
        self.queue.push_control(msg, || {
            self.refs.fetch_or(CONTROL_BIT, Ordering::AcqRel);
        })
    }

    /// Raises the control flag for a control message put back in the control queue; called
    /// under the mailbox's lock.
    pub(crate) fn raise_control(&self) {
        self.refs.fetch_or(CONTROL_BIT, Ordering::AcqRel);
    }

    /// `true` while control messages may wait (see [`CONTROL_BIT`]).
    #[inline]
    pub(crate) fn control_pending(&self) -> bool {
        self.refs.load(Ordering::Acquire) & CONTROL_BIT != 0
    }

    /// Lowers the control flag; called under the mailbox's lock once its control queue is
    /// empty.
    pub(crate) fn lower_control(&self) {
        self.refs.fetch_and(!CONTROL_BIT, Ordering::AcqRel);
    }

    /// `true` while an end of the running incarnation (graceful or cut) is asked for.
    pub(crate) fn restart_requested(&self) -> bool {
        self.refs.load(Ordering::Acquire) & (RESTART_BIT | CUT_BIT) != 0
    }

    /// The reason the running incarnation was asked to end with.
    pub(crate) fn restart_reason(&self) -> ExitReason {
        let st = self.queue.state.lock();
        st.extras
            .as_ref()
            .and_then(|e| e.incarnation_reason.clone())
            .unwrap_or(ExitReason::Shutdown(None))
    }

    /// Sets (or, with `None`, clears) how exit signals become messages of this actor.
    pub(crate) fn set_trap(&self, trap: Option<Box<dyn std::any::Any + Send>>) {
        let mut st = self.queue.state.lock();
        extras(&mut *st).trap = trap;
    }

    /// `true` while the actor traps exits.
    pub(crate) fn traps_exits(&self) -> bool {
        self.with_trap(|t| t.is_some())
    }

    /// Runs `f` on the trap setting, under the lock.
    pub(crate) fn with_trap<T>(
        &self,
        f: impl FnOnce(Option<&(dyn std::any::Any + Send)>) -> T,
    ) -> T {
        let st = self.queue.state.lock();
        f(st.extras.as_ref().and_then(|e| e.trap.as_deref()))
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
        if self.is_cut() {
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
        if self.refs.load(Ordering::Relaxed) & SUSPENDED_BIT == 0 {
            self.refs.fetch_or(SUSPENDED_BIT, Ordering::Relaxed);
        }
        // A kill that took the lock before us has set its bit under it.
        self.is_cut()
    }

    /// Before a guarded handler's poll: whether a kill (or a cut of the incarnation) is to
    /// cut it now, which is so only once it has suspended (one load).
    #[inline]
    pub(crate) fn cut_before_poll(&self) -> bool {
        let bits = self.refs.load(Ordering::Acquire);
        bits & SUSPENDED_BIT != 0 && bits & (KILL_BIT | CUT_BIT) != 0
    }

    /// Lowers the suspended bit: the next guarded handler or hook starts as not suspended.
    #[inline]
    pub(crate) fn end_guarded(&self) {
        if self.refs.load(Ordering::Relaxed) & SUSPENDED_BIT != 0 {
            self.refs.fetch_and(!SUSPENDED_BIT, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn is_killed(&self) -> bool {
        self.refs.load(Ordering::Acquire) & KILL_BIT != 0
    }

    /// `true` if a suspended handler is to be cut: a kill, or an end of the incarnation asked
    /// for at once.
    #[inline]
    pub(crate) fn is_cut(&self) -> bool {
        self.refs.load(Ordering::Acquire) & (KILL_BIT | CUT_BIT) != 0
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

    /// Records the final exit and tells every watcher and waiter, exactly once: first the
    /// `on_exit` watchers, in the order they were registered, on this thread (a watcher that
    /// panics is contained, see [`run_watcher`]), then every task waiting in `wait()`.
    ///
    /// Two steps. The first, under the lock, records the end (`phase` becomes `Ended`: the
    /// actor is no longer alive, and a watcher registered from now on runs at once, where it
    /// is registered) and takes the watchers. They run without the lock. The second step marks
    /// the end told and takes the waiters, including any that came while the watchers ran: a
    /// `wait()` resolves only once `exit_told` is set, so whoever it wakes sees every effect of
    /// the watchers (a registry entry removed, a `Down` sent).
    pub(crate) fn record_exit(&self, reason: ExitReason) {
        let (watchers, monitoring, streams) = {
            let mut st = self.queue.state.lock();
            if matches!(st.phase, Phase::Ended(_)) {
                return;
            }
            let code = encode(&mut *st, reason.clone());
            st.phase = Phase::Ended(code);
            if crate::faults::enabled(crate::faults::Fault::WaitBeforeWatchers) {
                st.exit_told = true;
            }
            match &mut st.extras {
                Some(extras) => (
                    extras.watchers.take(),
                    std::mem::take(&mut extras.monitoring),
                    // The streams end with the actor, in this critical section: anyone who
                    // sees the end sees them cancelled.
                    cancel_streams(&mut extras.streams),
                ),
                None => {
                    // No watcher and no waiter: the end is told as it is recorded.
                    st.exit_told = true;
                    return;
                }
            }
        };
        for waker in streams {
            waker.wake();
        }
        for watcher in watchers {
            run_watcher(watcher, self.id, &reason);
        }
        for (_, watcher) in monitoring {
            run_watcher(watcher, self.id, &reason);
        }
        let waiters = {
            let mut st = self.queue.state.lock();
            st.exit_told = true;
            st.extras.as_mut().map(|extras| extras.waiters.take())
        };
        for waker in waiters.into_iter().flatten() {
            waker.wake();
        }
    }

    /// Tasks waiting in `wait()` (slots held by [`ExitWait`](crate::exit_wait::ExitWait)s).
    pub(crate) fn exit_waiter_count(&self) -> usize {
        let st = self.queue.state.lock();
        st.extras.as_ref().map_or(0, |e| e.waiters.len())
    }

    /// Exit watchers registered and not yet run: links, both sides of monitors, `on_exit`.
    pub(crate) fn exit_watcher_count(&self) -> usize {
        let st = self.queue.state.lock();
        st.extras
            .as_ref()
            .map_or(0, |e| e.watchers.len() + e.monitoring.len())
    }

    /// Registers `watcher`; if the actor has already ended it runs at once, on this thread, its
    /// panic contained as when the end is recorded.
    pub(crate) fn add_watcher(&self, watcher: ExitWatcher) {
        self.add_tagged_watcher(WatchTag::Plain, watcher);
    }

    /// Removes the watcher tagged `tag` that has not run; `true` if there was one. Once
    /// this returns, that watcher never runs.
    pub(crate) fn remove_watcher(&self, tag: WatchTag) -> bool {
        let found_apart = crate::faults::enabled(crate::faults::Fault::RemoveWatcherChecksApart)
            && self.has_watcher(tag);
        let removed = {
            let mut st = self.queue.state.lock();
            let Some(extras) = st.extras.as_mut() else {
                return false;
            };
            match tag {
                WatchTag::Monitoring(id) => extras.monitoring.remove(&id),
                _ => extras.watchers.remove(tag),
            }
        };
        // Dropped outside the lock: a watcher's captures may be another actor's reference.
        removed.is_some() || found_apart
    }

    /// `true` if a watcher tagged `tag` is registered and has not run.
    pub(crate) fn has_watcher(&self, tag: WatchTag) -> bool {
        let st = self.queue.state.lock();
        st.extras.as_ref().is_some_and(|e| match tag {
            WatchTag::Monitoring(id) => e.monitoring.contains_key(&id),
            _ => e.watchers.contains(tag),
        })
    }

    /// [`add_watcher`](Self::add_watcher) with a tag to find it again by. Returns `false` if
    /// the actor had already ended (the watcher has then run, here).
    pub(crate) fn add_tagged_watcher(&self, tag: WatchTag, watcher: ExitWatcher) -> bool {
        self.add_tagged(tag, watcher, false)
    }

    /// [`add_tagged_watcher`](Self::add_tagged_watcher), unless a watcher tagged `tag` is
    /// registered already (checked under the same lock): `watcher` is then dropped unrun. What
    /// keeps two links made at once between two actors to one.
    pub(crate) fn add_tagged_watcher_once(&self, tag: WatchTag, watcher: ExitWatcher) -> bool {
        self.add_tagged(tag, watcher, true)
    }

    fn add_tagged(&self, tag: WatchTag, watcher: ExitWatcher, once: bool) -> bool {
        let reason = {
            let mut st = self.queue.state.lock();
            match st.phase {
                Phase::Ended(code) => decode(&*st, code),
                Phase::Running | Phase::Stopping(_) => {
                    if crate::faults::enabled(crate::faults::Fault::WatcherAddedApart) {
                        drop(st);
                        st = self.queue.state.lock();
                    }
                    let extras = extras(&mut *st);
                    if let WatchTag::Monitoring(id) = tag {
                        extras.monitoring.insert(id, watcher);
                        return true;
                    }
                    if once && extras.watchers.contains(tag) {
                        drop(st);
                        // Dropped outside the lock: its captures may be another actor's
                        // reference.
                        drop(watcher);
                        return true;
                    }
                    extras.watchers.push(tag, watcher);
                    return true;
                }
            }
        };
        run_watcher(watcher, self.id, &reason);
        false
    }
}

impl<M: Send, S: Strategy> ExitCell for ActorCell<M, S> {
    /// O(1) whatever the number of waiters: the wait's own slot is updated, or one taken.
    fn poll_exit(&self, cx: &mut Context<'_>, key: &mut Option<usize>) -> Poll<ExitReason> {
        let mut st = self.queue.state.lock();
        if let Phase::Ended(code) = st.phase
            && st.exit_told
        {
            // The end, once told, emptied every slot.
            *key = None;
            return Poll::Ready(decode(&*st, code));
        }
        let waiters = &mut extras(&mut *st).waiters;
        match *key {
            Some(k) if waiters.update(k, cx.waker()) => {}
            _ => *key = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }

    fn forget_wait(&self, key: usize) {
        let waker = {
            let mut st = self.queue.state.lock();
            if st.exit_told {
                // The end, once told, emptied every slot (and no slot is taken after it).
                return;
            }
            st.extras.as_mut().and_then(|e| e.waiters.remove(key))
        };
        // Dropped after the lock: a waker's drop is the executor's code.
        drop(waker);
    }
}

#[cfg(all(test, not(playhouse_loom), target_pointer_width = "64"))]
mod tests {
    use super::ActorCell;
    use crate::mailbox::{
        Block, DropOldest, Expiring, Prioritized, Reject, Strategy, UnboundedStrategy,
    };

    /// The malloc chunk (glibc, 64-bit: payload plus an 8-byte header, rounded up to 16) of an
    /// actor's cell behind its `Arc` (two 8-byte counts in front).
    fn cell_chunk<M, S: Strategy>() -> usize {
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
        // What the wrappers keep lives in the mailbox's box, not in the cell.
        assert_eq!(cell_chunk::<u64, Prioritized<Block, 3>>(), 112);
        assert_eq!(cell_chunk::<u64, Expiring<DropOldest>>(), 112);
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod timer_tests {
    use super::ActorCell;
    use crate::executor::{Executor, SharedSleeper};
    use crate::mailbox::{Block, Queue};
    use crate::sync::Arc;
    use crate::timer::start_timer;
    use std::future::Future;
    use std::time::Instant;

    thread_local! {
        /// Timers `track_timer` has examined (taking each one's lock) on this thread.
        pub(super) static PROBES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// An executor whose tasks never run: its timers stay active until cancelled.
    #[derive(Clone)]
    struct Idle;

    impl Executor for Idle {
        type Sleep = std::future::Pending<()>;
        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _future: F) {}
        fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
            std::future::pending()
        }
    }

    /// Tracking a timer costs O(1) amortized: starting n timers examines O(n) of them in all,
    /// however many stay active (issue #16, item 6: it was O(n) per start, O(n²) in all). Every
    /// timer still active is still tracked: ending the incarnation cancels each.
    #[test]
    fn tracking_many_timers_is_linear() {
        // Smaller under Miri, which runs it some thousand times slower; the bound is the same.
        const N: usize = if cfg!(miri) { 600 } else { 20_000 };
        let cell = Arc::new(ActorCell::<u8, Block>::new(
            Queue::new(1),
            SharedSleeper::new(Idle),
        ));
        PROBES.with(|p| p.set(0));
        let mut handles = Vec::with_capacity(N);
        for i in 0..N {
            let handle = start_timer(cell.clone(), Idle, Instant::now(), None, || None::<u8>);
            if i % 3 == 0 {
                assert!(handle.cancel());
            }
            cell.track_timer(handle.clone());
            handles.push(handle);
        }
        let probes = PROBES.with(|p| p.get());
        assert!(probes <= 4 * N, "{probes} timers examined to start {N}");
        assert_eq!(
            handles.iter().filter(|h| h.is_active()).count(),
            N - N.div_ceil(3)
        );
        cell.cancel_timers();
        assert_eq!(handles.iter().filter(|h| h.is_active()).count(), 0);
    }
}
