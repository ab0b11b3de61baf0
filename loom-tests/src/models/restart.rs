//! Models of restarts behind one reference: the batch an incarnation took and did not handle
//! goes back to the mailbox with its hand-outs acknowledged, a stop or a closed mailbox is final
//! whatever the policy says, and an incarnation's timers end with it.

use loom::future::block_on;
use std::time::Duration;

use crate::harness::System;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded, Unbounded};
use playhouse_core::{Actor, Context, Env, ExitReason, Handler};

use crate::harness::{DropLog, JoinExecutor, LoomExecutor, Stage, Tracked, check};

struct Shared {
    /// Reached `n` when incarnation `n`'s `started` has begun.
    started: Stage,
    /// Reached `n` when incarnation `n`'s `started` may return.
    release: Stage,
    /// Ids handled, in order.
    handled: Mutex<Vec<u32>>,
    policy_calls: AtomicU32,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            started: Stage::new(),
            release: Stage::new(),
            handled: Mutex::new(Vec::new()),
            policy_calls: AtomicU32::new(0),
        })
    }
}

enum Msg {
    Track(Tracked),
    /// Fail the handler: the incarnation ends, and the policy may restart it.
    Fail,
}

/// Each incarnation's `started` announces itself and waits for the model's go.
struct Phoenix(Arc<Shared>);

impl Actor for Phoenix {
    type Message = Msg;
    type Error = &'static str;
}

impl<V: Env> Handler<V> for Phoenix {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), &'static str> {
        let n = ctx.incarnation();
        self.0.started.reach(n);
        self.0.release.wait_for(n);
        Ok(())
    }

    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), &'static str> {
        match msg {
            Msg::Track(m) => self.0.handled.lock().unwrap().push(m.handle()),
            Msg::Fail => return Err("failed on purpose"),
        }
        Ok(())
    }
}

/// How the second incarnation is ended, with a failure of its own queued behind the rest.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// `stop()`: the failure is handled (a stop is graceful) and no restart follows.
    Stop,
    /// The last strong reference dropped: the mailbox is closed, so no restart follows.
    LastRefDropped,
}

/// A `Block` mailbox of capacity 3 holds `Track(0)`, `Fail`, `Track(1)` before the first
/// incarnation takes anything, so the receiver takes all three as one batch: `Track(0)` is
/// handed out under the lock, `Fail` from the batch (published without the lock, or under it if a
/// sender waits), and `Track(1)` is given back when `Fail` ends the incarnation, with that
/// hand-out still to acknowledge. (Capacity 2 never has one outstanding: the first message of a
/// batch is acknowledged as it is taken.) With `End::Stop` a sender meanwhile waits for room
/// with `Track(2)`, woken by a hand-out or by the give-back; otherwise the model sends it after
/// the restart (a waiting sender makes the model 30 times larger). Then:
///
/// - the given-back batch goes first and nothing is lost: the second incarnation handles 1,
///   then 2;
/// - `mailbox_len()` is exact across the restart: while the second incarnation waits in
///   `started`, exactly the given-back message waits, and 2 once `Track(2)` is in (a hand-out
///   left unacknowledged would count against the capacity forever);
/// - a restart after a stop, or on a closed mailbox, never happens: the second incarnation fails
///   too, after `end`, and the policy is not asked again; the actor ends with that failure.
pub fn restart_gives_back_the_batch(end: End) {
    check(move || {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = {
            let shared = shared.clone();
            System::new(LoomExecutor)
                .spawner(Bounded::<Block>::with_capacity(3).unwrap())
                .spawn_restartable(Phoenix(shared.clone()), move |_: &ExitReason| {
                    (shared.policy_calls.fetch_add(1, SeqCst) == 0).then(|| Phoenix(shared.clone()))
                })
        };
        shared.started.wait_for(1);
        for msg in [
            Msg::Track(Tracked::new(0, &log)),
            Msg::Fail,
            Msg::Track(Tracked::new(1, &log)),
        ] {
            assert!(actor.try_tell(msg).is_ok(), "room for three");
        }
        // The third message: from a sender waiting for room (End::Stop), or after the restart.
        let sender = matches!(end, End::Stop).then(|| {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                assert!(
                    block_on(actor.tell(Msg::Track(Tracked::new(2, &log)))).is_ok(),
                    "the waiting send failed"
                );
            })
        });
        shared.release.reach(1);
        shared.started.wait_for(2);
        match sender {
            Some(sender) => sender.join().unwrap(),
            None => {
                assert_eq!(
                    actor.mailbox_len(),
                    1,
                    "messages waiting after the restart (1 given back)"
                );
                assert!(actor.try_tell(Msg::Track(Tracked::new(2, &log))).is_ok());
            }
        }
        assert_eq!(
            actor.mailbox_len(),
            2,
            "messages waiting after the restart (1 given back, 2 sent)"
        );
        assert!(actor.try_tell(Msg::Fail).is_ok(), "room for the third");
        let weak = actor.downgrade();
        match end {
            End::Stop => {
                actor.stop();
                shared.release.reach(2);
            }
            End::LastRefDropped => {
                drop(actor);
                shared.release.reach(2);
            }
        }
        let reason = block_on(weak.wait());
        assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
        assert_eq!(
            shared.policy_calls.load(SeqCst),
            1,
            "the policy was asked after a {end:?}"
        );
        assert_eq!(*shared.handled.lock().unwrap(), [0, 1, 2]);
        drop(weak);
        log.assert_all_dropped_once(0b111);
        assert_eq!(log.handled(), 0b111);
    });
}

/// [`restart_gives_back_the_batch`], the second incarnation ended by `stop()`.
pub fn restart_gives_back_the_batch_then_stop() {
    restart_gives_back_the_batch(End::Stop);
}

/// [`restart_gives_back_the_batch`], the second incarnation ended by dropping the last reference.
pub fn restart_gives_back_the_batch_then_last_ref_dropped() {
    restart_gives_back_the_batch(End::LastRefDropped);
}

// ---------------------------------------------------------------------------------------------
// Timers across a restart
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct TimedShared {
    /// Reached 1 once the second incarnation's marker was handled.
    marker: Stage,
    marker_seen: AtomicBool,
    ticks: AtomicUsize,
    policy_calls: AtomicU32,
}

enum TimedMsg {
    Tick,
    Fail,
    /// Sent by the second incarnation's `started`, after the first one's timers were cancelled.
    Marker,
}

/// The first incarnation starts a one-shot timer (due at once) and fails on `Fail`; the second
/// sends itself a marker from `started`.
struct Timed(Arc<TimedShared>);

impl Actor for Timed {
    type Message = TimedMsg;
    type Error = &'static str;
}

impl<V: Env> Handler<V> for Timed {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), &'static str> {
        if ctx.incarnation() == 1 {
            ctx.run_later(Duration::ZERO, TimedMsg::Tick);
        } else {
            assert!(
                ctx.notify(TimedMsg::Marker).is_ok(),
                "an open, unbounded mailbox"
            );
        }
        Ok(())
    }

    async fn handle(&mut self, msg: TimedMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            TimedMsg::Tick => {
                assert!(
                    !self.0.marker_seen.load(SeqCst),
                    "the first incarnation's timer delivered after the restart"
                );
                self.0.ticks.fetch_add(1, SeqCst);
            }
            TimedMsg::Fail => return Err("failed on purpose"),
            TimedMsg::Marker => {
                self.0.marker_seen.store(true, SeqCst);
                self.0.marker.reach(1);
            }
        }
        Ok(())
    }
}

/// A timer started by an incarnation that fails and is restarted races the restart: its tick is
/// handled before the restart or after it (a tick queued before the end stays in the mailbox
/// for the next incarnation), but nothing is queued once the incarnation has ended, so no tick
/// follows the marker the second incarnation sends itself as it starts. The timer's thread is
/// joined before the model drops the last reference, so a late tick would be handled and seen.
pub fn timers_do_not_survive_a_restart() {
    check(|| {
        let shared = Arc::new(TimedShared::default());
        let executor = JoinExecutor::new();
        let actor = {
            let shared = shared.clone();
            System::new(executor.clone())
                .spawner(Unbounded)
                .spawn_restartable(Timed(shared.clone()), move |_: &ExitReason| {
                    (shared.policy_calls.fetch_add(1, SeqCst) == 0).then(|| Timed(shared.clone()))
                })
        };
        assert!(block_on(actor.tell(TimedMsg::Fail)).is_ok());
        shared.marker.wait_for(1);
        // Thread 0 runs the actor, thread 1 the first incarnation's timer.
        executor.join(1);
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        assert_eq!(shared.policy_calls.load(SeqCst), 1);
        assert!(shared.ticks.load(SeqCst) <= 1);
    });
}

/// A `stop_after_queue` from another thread racing the failure of the first incarnation, with
/// a message queued behind the failing one: whether the stop lands before the incarnation
/// takes its messages, while it handles them, between the failure and the restart policy, or
/// after the restart, the restart handles the queued message and the actor ends with
/// `Shutdown`. (After a plain `stop` that lands before the failure, the failure ends the actor
/// and the message is discarded.)
pub fn stop_after_queue_racing_a_crash_loses_nothing() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = {
            let shared = shared.clone();
            System::new(LoomExecutor)
                .spawner(Unbounded)
                .spawn_restartable(Phoenix(shared.clone()), move |_: &ExitReason| {
                    (shared.policy_calls.fetch_add(1, SeqCst) == 0).then(|| Phoenix(shared.clone()))
                })
        };
        shared.started.wait_for(1);
        assert!(actor.try_tell(Msg::Fail).is_ok());
        assert!(actor.try_tell(Msg::Track(Tracked::new(1, &log))).is_ok());
        let stopper = {
            let actor = actor.clone();
            thread::spawn(move || actor.stop_after_queue())
        };
        // Both incarnations may start at once: whether a second one comes is what is checked.
        shared.release.reach(2);
        stopper.join().unwrap();
        let reason = block_on(actor.wait());
        assert_eq!(
            *shared.handled.lock().unwrap(),
            [1],
            "the message queued behind the failure was lost ({reason:?})"
        );
        assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
        assert_eq!(shared.policy_calls.load(SeqCst), 1);
    });
}
