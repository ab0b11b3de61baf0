//! Models of what the executor's clock drives: an interval timer cancelled by its actor while it
//! may be blocked on a full mailbox, and `ask_timeout` handing back a request that never
//! entered the mailbox.
//!
//! The loom executors' sleeps are over at once: a timer is due as soon as it starts, and a timed
//! ask times out at its first wait.

use std::time::Duration;

use crate::harness::System;
use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded, Reject};
use playhouse_core::{Actor, AskError, Context, Env, ExitReason, Handler, Reply, TimerHandle};

use crate::harness::{DropLog, JoinExecutor, LoomExecutor, Stage, Tracked, check};

fn block_mailbox(capacity: usize) -> Bounded<Block> {
    Bounded::<Block>::with_capacity(capacity).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Cancelling an interval
// ---------------------------------------------------------------------------------------------

struct TickShared {
    /// Reached 1 once the first tick was handled (and the interval cancelled).
    first_tick: Stage,
    ticks: AtomicUsize,
    /// Messages waiting in the mailbox when `cancel` had returned: the most ticks that may
    /// still be handled after the first.
    waiting_at_cancel: AtomicUsize,
    cancel_returned: AtomicBool,
}

enum TickMsg {
    Tick,
}

/// Starts an interval in `started`; cancels it while handling the first tick.
struct Ticker {
    shared: Arc<TickShared>,
    timer: Option<TimerHandle>,
}

impl Actor for Ticker {
    type Message = TickMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Ticker {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        self.timer = Some(ctx.run_interval(Duration::from_millis(1), || TickMsg::Tick));
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: TickMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            TickMsg::Tick => {
                let n = self.shared.ticks.fetch_add(1, SeqCst) + 1;
                if n == 1 {
                    let timer = self.timer.as_ref().expect("started made the timer");
                    assert!(timer.cancel(), "a running interval was not active");
                    assert!(!timer.is_active(), "a cancelled interval is still active");
                    // Only ticks enter this mailbox: what waits now was queued before the cancel.
                    let waiting = ctx.myself().mailbox_len();
                    self.shared.waiting_at_cancel.store(waiting, SeqCst);
                    self.shared.cancel_returned.store(true, SeqCst);
                    self.shared.first_tick.reach(1);
                } else {
                    assert!(
                        n - 1 <= self.shared.waiting_at_cancel.load(SeqCst),
                        "a tick was queued after its interval's cancel returned \
                         (tick {n}, {} waiting at the cancel)",
                        self.shared.waiting_at_cancel.load(SeqCst)
                    );
                }
            }
        }
        Ok(())
    }
}

/// An interval timer on a `Block` mailbox of capacity 1, cancelled by its actor while handling
/// the first tick: by then the timer may have queued a second tick and be blocked on the full
/// mailbox with a third. `cancel` returns `true` and the timer is inactive at once; the timer's
/// task ends (its thread is joined: a timer left waiting for room would deadlock); and no tick
/// queued after `cancel` returned is ever handled: once the timer's thread is joined, the model
/// drops the last reference, so the actor handles every tick the timer ever enqueued before it
/// ends, and each one after the first must have been waiting when `cancel` returned.
pub fn cancelled_interval_delivers_nothing_more() {
    check(|| {
        let shared = Arc::new(TickShared {
            first_tick: Stage::new(),
            ticks: AtomicUsize::new(0),
            waiting_at_cancel: AtomicUsize::new(0),
            cancel_returned: AtomicBool::new(false),
        });
        let executor = JoinExecutor::new();
        let actor = System::new(executor.clone())
            .spawner(block_mailbox(1))
            .spawn(Ticker {
                shared: shared.clone(),
                timer: None,
            });
        shared.first_tick.wait_for(1);
        // Thread 0 runs the actor, thread 1 the timer it started.
        executor.join(1);
        // The mailbox closes behind every tick the timer enqueued; the actor handles them all.
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        assert!(shared.cancel_returned.load(SeqCst));
        let ticks = shared.ticks.load(SeqCst);
        assert!(ticks <= 1 + shared.waiting_at_cancel.load(SeqCst));
    });
}

// ---------------------------------------------------------------------------------------------
// A one-shot timer into a full `Reject` mailbox
// ---------------------------------------------------------------------------------------------

struct LaterShared {
    /// Reached 1 once `started` has made the timer.
    started: Stage,
    timer: loom::sync::Mutex<Option<TimerHandle>>,
    /// How many times the timer's message was handled.
    later: AtomicUsize,
}

enum LaterMsg {
    Later,
    Fill,
}

/// Starts a one-shot timer (due at once) in `started`; counts its message when handled.
struct Later {
    shared: Arc<LaterShared>,
}

impl Actor for Later {
    type Message = LaterMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Later {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        let timer = ctx.run_later(Duration::from_millis(1), LaterMsg::Later);
        *self.shared.timer.lock().unwrap() = Some(timer);
        self.shared.started.reach(1);
        Ok(())
    }

    async fn handle(&mut self, msg: LaterMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        if let LaterMsg::Later = msg {
            self.shared.later.fetch_add(1, SeqCst);
        }
        Ok(())
    }
}

/// A one-shot timer into a `Reject` mailbox of capacity 1, racing a message that may fill the
/// mailbox first and a `cancel` from another thread. Its message ends exactly one way: handled
/// once, or dropped and counted once (the mailbox was full: the timer has nobody to hand it
/// back to), or never sent because `cancel` came first, which `cancel` then says (`true`). Never
/// two of these, never none; and the timer's task ends.
pub fn a_one_shot_into_a_full_reject_mailbox_ends_one_way() {
    check(|| {
        let shared = Arc::new(LaterShared {
            started: Stage::new(),
            timer: loom::sync::Mutex::new(None),
            later: AtomicUsize::new(0),
        });
        let executor = JoinExecutor::new();
        let actor = System::new(executor.clone())
            .spawner(Bounded::<Reject>::with_capacity(1).unwrap())
            .spawn(Later {
                shared: shared.clone(),
            });
        shared.started.wait_for(1);
        let _ = actor.try_tell(LaterMsg::Fill);
        let timer = shared
            .timer
            .lock()
            .unwrap()
            .take()
            .expect("made in started");
        let cancelled = timer.cancel();
        // Thread 0 runs the actor, thread 1 the timer.
        executor.join(1);
        assert!(
            !timer.is_active(),
            "a timer whose task ended is still active"
        );
        let dropped = actor.dropped_count();
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        let handled = shared.later.load(SeqCst);
        let ways = usize::from(cancelled) + handled + dropped as usize;
        assert_eq!(
            ways, 1,
            "the message ended {ways} ways: cancelled {cancelled}, handled {handled}, dropped {dropped}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// ask_timeout
// ---------------------------------------------------------------------------------------------

enum AskMsg {
    Fill(Tracked),
    Request(Tracked, Reply<u32>),
}

struct Answerer;

impl Actor for Answerer {
    type Message = AskMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Answerer {
    async fn handle(&mut self, msg: AskMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            AskMsg::Fill(m) => {
                m.handle();
            }
            AskMsg::Request(m, reply) => {
                let _ = reply.send(m.handle());
            }
        }
        Ok(())
    }
}

/// A timed ask into a `Block` mailbox of capacity 1 that another thread is filling: it times
/// out at its first wait. If the request was still waiting for room, it comes back in
/// `Timeout(Some(request))` and is never handled; if it entered the mailbox (`Timeout(None)`
/// or the answer), it is handled. Either way it is dropped exactly once: a request dropped
/// unsent behind a `Timeout(None)` is neither handled nor handed back.
pub fn timed_out_ask_hands_back_a_request_that_never_entered() {
    check(|| {
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Answerer);
        let filler = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                assert!(block_on(actor.tell(AskMsg::Fill(Tracked::new(0, &log)))).is_ok());
            })
        };
        let asked = block_on(actor.ask_timeout(
            |reply| AskMsg::Request(Tracked::new(1, &log), reply),
            Duration::from_secs(1),
        ));
        let handed_back = match asked {
            Ok(id) => {
                assert_eq!(id, 1);
                0
            }
            Err(AskError::Timeout(Some(AskMsg::Request(m, _)))) => {
                assert_eq!(m.id, 1, "the timeout handed back another message");
                1 << 1
            }
            Err(AskError::Timeout(None)) => 0,
            Err(e) => panic!("unexpected timed ask outcome {e:?}"),
        };
        filler.join().unwrap();
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        log.assert_all_dropped_once(0b11);
        assert_eq!(
            log.unhandled(),
            handed_back,
            "a timed-out request was neither handled nor handed back"
        );
    });
}
