//! Models of real actors spawned on [`LoomExecutor`]: the runner, references, stop, timers.
//!
//! Each actor costs one loom thread and each timer another; loom allows five, main included.

use std::time::Duration;

use crate::harness::System;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded, Unbounded};
use playhouse_core::{
    Actor, AskError, Context, Env, ExitReason, Handler, NoReply, Reply, SendError, TimerHandle,
};

use crate::harness::{DropLog, JoinExecutor, LoomExecutor, Stage, Tracked, check};

/// State an actor's handlers share with the model, checked after the actor has ended.
struct Shared {
    /// Ids of the `Tracked` messages handled, in order.
    handled: Mutex<Vec<u32>>,
    /// Set while a handler or hook runs: two at once is a violation.
    busy: AtomicBool,
    /// Touched only by handlers and hooks, through `with_mut`: loom flags concurrent access.
    state: ExclusiveCell,
    ticks: AtomicUsize,
    marker_seen: AtomicBool,
    /// `cancel` returned `true`: the timer had not delivered and never will.
    cancel_won: AtomicBool,
    /// Reached 1 once `Marker` was handled.
    marker: Stage,
    stopped_hooks: AtomicUsize,
}

/// A loom `UnsafeCell` the actor's handlers share across incarnations.
struct ExclusiveCell(loom::cell::UnsafeCell<u32>);

// SAFETY: only handlers and hooks of one actor touch it, which the runner never overlaps; that is
// the invariant under test, and loom's cell tracking reports any concurrent access.
unsafe impl Sync for ExclusiveCell {}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            handled: Mutex::new(Vec::new()),
            busy: AtomicBool::new(false),
            state: ExclusiveCell(loom::cell::UnsafeCell::new(0)),
            ticks: AtomicUsize::new(0),
            marker_seen: AtomicBool::new(false),
            cancel_won: AtomicBool::new(false),
            marker: Stage::new(),
            stopped_hooks: AtomicUsize::new(0),
        })
    }

    /// Enters a handler or hook: asserts no other one runs, and bumps the exclusive state.
    fn enter(&self) {
        assert!(
            !self.busy.swap(true, SeqCst),
            "two handlers of one actor overlap"
        );
        // SAFETY: exclusive by the invariant under test; loom checks it.
        self.state.0.with_mut(|p| unsafe { *p += 1 });
    }

    fn leave(&self) {
        self.busy.store(false, SeqCst);
    }

    /// The exclusive state, read after the actor ended (synchronized by its exit).
    fn state(&self) -> u32 {
        // SAFETY: the actor has ended; its exit happens-before this read.
        self.state.0.with(|p| unsafe { *p })
    }

    fn handled(&self) -> Vec<u32> {
        self.handled.lock().unwrap().clone()
    }
}

/// What a [`Probe`] does when it starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Nothing,
    /// `run_later(0, Tick)`.
    Later,
    /// `run_interval(1 ms, Tick)`.
    Interval,
}

enum Msg {
    /// Handle (record) the message.
    Track(Tracked),
    /// Handle it, then stop this actor (`Context::stop`).
    TrackThenStop(Tracked),
    /// Fail the handler (a restart policy may start a fresh incarnation).
    Fail,
    /// Answer with the number of messages handled so far.
    Count(Reply<usize>),
    /// Cancel the timer, then send `Marker` to ourselves.
    Cancel,
    /// Sent right after a cancel returned: no tick may be handled after it.
    Marker,
    Tick,
}

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed on purpose")
    }
}

impl std::error::Error for Failed {}

struct Probe {
    shared: Arc<Shared>,
    start: Start,
    timer: Option<TimerHandle>,
    /// The actor stops when it handles `Marker` (else it keeps running).
    marker_stops: bool,
}

impl Probe {
    fn new(shared: &Arc<Shared>, start: Start) -> Self {
        Probe {
            shared: shared.clone(),
            start,
            timer: None,
            marker_stops: true,
        }
    }

    /// Keeps running after `Marker`, so that a tick queued behind it is handled (and seen).
    fn marker_keeps_running(mut self) -> Self {
        self.marker_stops = false;
        self
    }
}

impl Actor for Probe {
    type Message = Msg;
    type Error = Failed;
}

impl<V: Env> Handler<V> for Probe {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Failed> {
        self.shared.enter();
        match self.start {
            Start::Nothing => {}
            Start::Later => self.timer = Some(ctx.run_later(Duration::ZERO, Msg::Tick)),
            Start::Interval => {
                self.timer = Some(ctx.run_interval(Duration::from_millis(1), || Msg::Tick))
            }
        }
        self.shared.leave();
        Ok(())
    }

    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), Failed> {
        self.shared.enter();
        let result = match msg {
            Msg::Track(m) => {
                self.shared.handled.lock().unwrap().push(m.handle());
                Ok(())
            }
            Msg::TrackThenStop(m) => {
                self.shared.handled.lock().unwrap().push(m.handle());
                ctx.stop();
                Ok(())
            }
            Msg::Fail => Err(Failed),
            Msg::Count(reply) => {
                let _ = reply.send(self.shared.handled.lock().unwrap().len());
                Ok(())
            }
            Msg::Cancel => {
                if let Some(t) = &self.timer {
                    self.shared.cancel_won.store(t.cancel(), SeqCst);
                }
                // The marker is queued after anything the timer queued before `cancel` returned.
                if ctx.myself().try_tell(Msg::Marker).is_err() {
                    panic!("the unbounded mailbox refused the marker");
                }
                Ok(())
            }
            Msg::Marker => {
                self.shared.marker_seen.store(true, SeqCst);
                self.shared.marker.reach(1);
                if self.marker_stops {
                    ctx.stop();
                }
                Ok(())
            }
            Msg::Tick => {
                assert!(
                    !self.shared.marker_seen.load(SeqCst),
                    "a tick was queued after its timer's cancel returned"
                );
                self.shared.ticks.fetch_add(1, SeqCst);
                if self.start == Start::Interval {
                    ctx.stop();
                }
                Ok(())
            }
        };
        self.shared.leave();
        result
    }

    async fn stopped(&mut self, _ctx: &mut Context<Self, V>, _reason: &ExitReason) {
        self.shared.enter();
        self.shared.stopped_hooks.fetch_add(1, SeqCst);
        self.shared.leave();
    }
}

fn block_mailbox(capacity: usize) -> Bounded<Block> {
    Bounded::<Block>::with_capacity(capacity).unwrap()
}

/// An ask racing a kill resolves exactly once: with the answer, with `Closed` (the request
/// handed back), or with `NoReply::Stopped` (discarded unanswered); it never hangs.
pub fn ask_resolves_once_when_actor_is_killed() {
    check(|| {
        let shared = Shared::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Nothing));
        let killer = {
            let actor = actor.clone();
            thread::spawn(move || actor.kill())
        };
        match block_on(actor.ask(Msg::Count)) {
            Ok(n) => assert_eq!(n, 0),
            Err(AskError::Closed(Msg::Count(_))) => {}
            Err(AskError::NoReply(NoReply::Stopped)) => {}
            Err(e) => panic!("unexpected ask outcome {e:?}"),
        }
        killer.join().unwrap();
        assert!(matches!(block_on(actor.wait()), ExitReason::Killed));
        assert_eq!(shared.stopped_hooks.load(SeqCst), 1);
    });
}

/// `stop` races two senders' tells (waiting for room in a capacity-1 mailbox): every message
/// accepted before the stop is handled, every later one comes back as `Closed`, nothing hangs,
/// and `stopped` runs once.
pub fn stop_racing_tells_handles_every_accepted_message() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Nothing));
        let senders: Vec<_> = [0, 1]
            .into_iter()
            .map(|id| {
                let (actor, log) = (actor.clone(), log.clone());
                thread::spawn(move || {
                    match block_on(actor.tell(Msg::Track(Tracked::new(id, &log)))) {
                        Ok(()) => 1u32 << id,
                        Err(SendError::Closed(Msg::Track(m))) => {
                            assert_eq!(m.id, id);
                            0
                        }
                        Err(e) => panic!("unexpected send outcome {e:?}"),
                    }
                })
            })
            .collect();
        actor.stop();
        match block_on(actor.tell(Msg::Track(Tracked::new(2, &log)))) {
            Err(SendError::Closed(Msg::Track(m))) => assert_eq!(m.id, 2),
            other => panic!("a tell after stop returned {other:?}"),
        }
        let accepted = senders
            .into_iter()
            .fold(0, |acc, s| acc | s.join().unwrap());
        assert!(matches!(block_on(actor.wait()), ExitReason::Shutdown(None)));
        let handled = shared.handled().iter().fold(0u32, |acc, id| acc | 1 << id);
        assert_eq!(
            handled, accepted,
            "handled {handled:#b}, accepted {accepted:#b}"
        );
        assert_eq!(actor.discarded_count(), 0);
        assert_eq!(shared.stopped_hooks.load(SeqCst), 1);
        drop(actor);
        log.assert_all_dropped_once(0b111);
    });
}

/// `kill` races a sender's two tells: the actor ends `Killed`, every message is handled,
/// handed back (`Closed`) or discarded, each exactly once, and the discarded count matches.
pub fn kill_racing_tells_discards_the_backlog_once() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Nothing));
        let sender = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                let mut returned = 0u32;
                for id in [0, 1] {
                    match block_on(actor.tell(Msg::Track(Tracked::new(id, &log)))) {
                        Ok(()) => {}
                        Err(SendError::Closed(Msg::Track(m))) => {
                            assert_eq!(m.id, id);
                            returned |= 1 << id;
                        }
                        Err(e) => panic!("unexpected send outcome {e:?}"),
                    }
                }
                returned
            })
        };
        actor.kill();
        let returned = sender.join().unwrap();
        assert!(matches!(block_on(actor.wait()), ExitReason::Killed));
        log.assert_all_dropped_once(0b11);
        let handled = shared.handled().iter().fold(0u32, |acc, id| acc | 1 << id);
        assert_eq!(log.handled(), handled);
        let discarded = log.unhandled() & !returned;
        assert_eq!(
            actor.discarded_count(),
            u64::from(discarded.count_ones()),
            "discarded count"
        );
        assert_eq!(shared.stopped_hooks.load(SeqCst), 1);
    });
}

/// Handlers and hooks of one actor never overlap, across a restart too: two threads send while
/// a failing handler makes the restart policy start a fresh incarnation on the same state.
pub fn handlers_never_overlap() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let restarts = Arc::new(AtomicU32::new(0));
        let actor = {
            let (shared, restarts) = (shared.clone(), restarts.clone());
            System::new(LoomExecutor)
                .spawner(block_mailbox(2))
                .spawn_restartable(
                    Probe::new(&shared, Start::Nothing),
                    move |_: &ExitReason| {
                        (restarts.fetch_add(1, SeqCst) == 0)
                            .then(|| Probe::new(&shared, Start::Nothing))
                    },
                )
        };
        let sender = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || block_on(actor.tell(Msg::Track(Tracked::new(0, &log)))).unwrap())
        };
        block_on(actor.tell(Msg::Fail)).unwrap();
        block_on(actor.tell(Msg::Track(Tracked::new(1, &log)))).unwrap();
        sender.join().unwrap();
        // Everything sent so far is queued ahead of this ask, so it is answered after all of it.
        // (Dropping the last reference instead would close the mailbox, and an incarnation that
        // fails on a closed mailbox is not restarted.)
        assert_eq!(block_on(actor.ask(Msg::Count)).unwrap(), 2);
        drop(log);
        let weak = actor.downgrade();
        drop(actor);
        assert!(block_on(weak.wait()).is_normal());
        assert_eq!(restarts.load(SeqCst), 1);
        // started + handlers + stopped, each entered exclusively: 2 incarnations, 4 messages.
        assert_eq!(shared.state(), 2 + 4 + 2);
        let mut handled = shared.handled();
        handled.sort_unstable();
        assert_eq!(handled, [0, 1]);
    });
}

/// The timer started in `started` (`run_later` with no delay) races a `Cancel`: once `cancel`
/// has returned, the timer enqueues nothing (no tick is handled after the marker the handler
/// sends itself right after cancelling).
///
/// The actor keeps running after the marker, and the model joins the timer's thread before it
/// drops the last reference: every tick the timer ever enqueued is then in the mailbox ahead of
/// the close and is handled, so a late one is seen. (An actor that stopped at the marker would
/// discard a late tick unseen, and a late tick after the close would just be refused.)
pub fn cancelled_timer_never_delivers() {
    check(|| {
        let shared = Shared::new();
        let executor = JoinExecutor::new();
        let actor = System::new(executor.clone())
            .spawner(Unbounded)
            .spawn(Probe::new(&shared, Start::Later).marker_keeps_running());
        block_on(actor.tell(Msg::Cancel)).unwrap();
        shared.marker.wait_for(1);
        // Thread 0 runs the actor, thread 1 the timer it started.
        executor.join(1);
        let weak = actor.downgrade();
        drop(actor);
        assert!(block_on(weak.wait()).is_normal());
        assert!(shared.marker_seen.load(SeqCst));
        assert!(shared.ticks.load(SeqCst) <= 1);
    });
}

/// `cancel` returning `true` ("it was still active") means the one-shot timer had not
/// delivered its tick: no tick is handled, before or after the cancel.
pub fn cancel_true_means_the_timer_never_delivered() {
    check(|| {
        let shared = Shared::new();
        let actor = System::new(LoomExecutor)
            .spawner(Unbounded)
            .spawn(Probe::new(&shared, Start::Later));
        block_on(actor.tell(Msg::Cancel)).unwrap();
        assert!(block_on(actor.wait()).is_normal());
        let ticks = shared.ticks.load(SeqCst);
        assert!(
            !(shared.cancel_won.load(SeqCst) && ticks > 0),
            "cancel returned true, yet the timer's tick was delivered and handled"
        );
    });
}

/// An interval timer whose actor stops itself on the first tick ends too: the timer's thread
/// finishes (loom reports a deadlock otherwise) and only that one tick is handled.
pub fn interval_stops_when_actor_stops() {
    check(|| {
        let shared = Shared::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Interval));
        assert!(block_on(actor.wait()).is_normal());
        assert_eq!(shared.ticks.load(SeqCst), 1);
        assert!(matches!(
            actor.try_tell(Msg::Tick),
            Err(SendError::Closed(_))
        ));
    });
}

/// Dropping the last strong reference (raced by another thread's tell and drop) closes the
/// mailbox: the actor handles what was queued, ends `Normal`, and a weak reference can no longer
/// be upgraded.
pub fn mailbox_closes_when_last_strong_ref_drops() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Nothing));
        let weak = actor.downgrade();
        let other = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                block_on(actor.tell(Msg::Track(Tracked::new(1, &log)))).unwrap();
                drop(actor);
            })
        };
        block_on(actor.tell(Msg::Track(Tracked::new(0, &log)))).unwrap();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        other.join().unwrap();
        assert!(
            weak.upgrade().is_none(),
            "upgraded a reference to an ended actor"
        );
        let mut handled = shared.handled();
        handled.sort_unstable();
        assert_eq!(handled, [0, 1], "a queued message was not handled");
        drop(weak);
        log.assert_all_dropped_once(0b11);
        assert_eq!(log.handled(), 0b11);
    });
}

/// The actor stops itself while another thread is still sending: the mailbox closes when it
/// ends, each message left in it is dropped exactly once and counted as discarded, and later
/// sends come back as `Closed`.
pub fn mailbox_closes_when_actor_ends_and_leftovers_drop_once() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(2))
            .spawn(Probe::new(&shared, Start::Nothing));
        let sender = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                let mut returned = 0u32;
                for id in [1, 2] {
                    match block_on(actor.tell(Msg::Track(Tracked::new(id, &log)))) {
                        Ok(()) => {}
                        Err(SendError::Closed(Msg::Track(m))) => {
                            assert_eq!(m.id, id);
                            returned |= 1 << id;
                        }
                        Err(e) => panic!("unexpected send outcome {e:?}"),
                    }
                }
                returned
            })
        };
        block_on(actor.tell(Msg::TrackThenStop(Tracked::new(0, &log)))).unwrap();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Normal), "{reason:?}");
        assert!(matches!(
            actor.try_tell(Msg::Fail),
            Err(SendError::Closed(_))
        ));
        let returned = sender.join().unwrap();
        let handled = shared.handled().iter().fold(0u32, |acc, id| acc | 1 << id);
        assert_eq!(handled & 1, 1, "the stopping message was handled");
        log.assert_all_dropped_once(0b111);
        assert_eq!(log.handled(), handled);
        let discarded = log.unhandled() & !returned;
        assert_eq!(
            actor.discarded_count(),
            u64::from(discarded.count_ones()),
            "discarded count"
        );
        drop(actor);
    });
}

/// A timed ask (the loom executor's sleeps are over at once, so it times out at its first
/// wait) racing the actor's answer resolves exactly once, with the answer or a timeout that
/// hands the request back if it never entered the mailbox; it never hangs, and a late answer
/// is dropped with the port.
pub fn ask_timeout_resolves_once() {
    check(|| {
        let shared = Shared::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Nothing));
        let busy = {
            let actor = actor.clone();
            thread::spawn(move || block_on(actor.tell(Msg::Fail)).is_ok())
        };
        match block_on(actor.ask_timeout(Msg::Count, Duration::from_secs(1))) {
            Ok(n) => assert_eq!(n, 0),
            Err(
                AskError::Timeout(Some(Msg::Count(_)) | None) | AskError::Closed(Msg::Count(_)),
            ) => {}
            Err(AskError::NoReply(NoReply::Stopped)) => {}
            Err(e) => panic!("unexpected timed ask outcome {e:?}"),
        }
        busy.join().unwrap();
        let weak = actor.downgrade();
        drop(actor);
        block_on(weak.wait());
    });
}

/// `upgrade` racing the drop of the last strong reference either fails, or returns a reference
/// that keeps the mailbox open (a send through it is accepted) until it too is dropped.
pub fn weak_upgrade_racing_last_drop_never_yields_a_closed_ref() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Probe::new(&shared, Start::Nothing));
        let weak = actor.downgrade();
        let upgrader = {
            let (weak, log) = (weak.clone(), log.clone());
            thread::spawn(move || match weak.upgrade() {
                Some(actor) => {
                    block_on(actor.tell(Msg::Track(Tracked::new(0, &log)))).unwrap_or_else(|_| {
                        panic!("a freshly upgraded reference hit a closed mailbox")
                    });
                    true
                }
                None => false,
            })
        };
        drop(actor);
        let upgraded = upgrader.join().unwrap();
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        assert!(weak.upgrade().is_none());
        assert_eq!(shared.handled().len(), usize::from(upgraded));
        drop(weak);
        assert_eq!(log.handled(), u32::from(upgraded));
    });
}
