//! Models of how an actor ends: a kill and what was queued before it, stop and kill racing each
//! other and the end, the executor dropping the actor's task, the references an actor takes to
//! itself, and exit watchers racing the end.

use std::fmt::Debug;

use crate::harness::System;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use playhouse_broker::InMemoryBroker;
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{
    Actor, ActorRef, AskError, Context, Env, ExitReason, Handler, NoReply, Reply, SendError, Wiring,
};

use crate::harness::{
    DropLog, Gate, JoinExecutor, LoomExecutor, ShutdownExecutor, Stage, Tracked, check,
};

fn block_mailbox(capacity: usize) -> Bounded<Block> {
    Bounded::<Block>::with_capacity(capacity).unwrap()
}

/// What the [`Victim`]'s handlers and hook share with the model.
#[derive(Default)]
struct Shared {
    /// Reached 1 once the `Hold` handler has started.
    entered: Stage,
    /// What the `Hold` handler waits for.
    gate: Gate,
    /// Set by the model right after `kill()` returned.
    kill_returned: AtomicBool,
    /// Ids handled, in order.
    handled: Mutex<Vec<u32>>,
    stopped_hooks: AtomicUsize,
    /// What `stopped` was told, in `Debug` form.
    stopped_reason: Mutex<Option<String>>,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared::default())
    }

    fn handled(&self) -> Vec<u32> {
        self.handled.lock().unwrap().clone()
    }

    /// `stopped` ran once, told `reason`.
    fn assert_stopped_once_with(&self, reason: &ExitReason) {
        assert_eq!(self.stopped_hooks.load(SeqCst), 1, "`stopped` hooks run");
        assert_eq!(
            self.stopped_reason.lock().unwrap().as_deref(),
            Some(format!("{reason:?}").as_str()),
            "`stopped` and `wait()` disagree on the reason"
        );
    }
}

enum Msg {
    /// Handle (record) the message, then wait for the gate.
    Hold(Tracked),
    /// Handle (record) the message.
    Track(Tracked),
    /// Answer how many messages were handled.
    Count(Reply<usize>),
}

impl Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Hold(m) => write!(f, "Hold({})", m.id),
            Msg::Track(m) => write!(f, "Track({})", m.id),
            Msg::Count(_) => f.write_str("Count"),
        }
    }
}

struct Victim(Arc<Shared>);

type VictimRef = ActorRef<Victim, Bounded<Block>>;

impl Actor for Victim {
    type Message = Msg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Victim {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            Msg::Hold(m) => {
                self.0.handled.lock().unwrap().push(m.handle());
                self.0.entered.reach(1);
                self.0.gate.opened().await;
            }
            Msg::Track(m) => {
                assert!(
                    !self.0.kill_returned.load(SeqCst),
                    "message {} was handled after the kill returned",
                    m.id
                );
                self.0.handled.lock().unwrap().push(m.handle());
            }
            Msg::Count(reply) => {
                let _ = reply.send(self.0.handled.lock().unwrap().len());
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, reason: &ExitReason) {
        self.0.stopped_hooks.fetch_add(1, SeqCst);
        *self.0.stopped_reason.lock().unwrap() = Some(format!("{reason:?}"));
    }
}

/// The ids in `ids` as a bitmask.
fn mask(ids: &[u32]) -> u32 {
    ids.iter().fold(0, |acc, id| acc | 1 << id)
}

/// After the end, a stop, a kill and another stop change nothing: the reason stays, `wait()`
/// gives it again, the actor is not alive, and sends are refused.
fn assert_the_end_is_final(actor: &VictimRef, reason: &ExitReason) {
    actor.stop();
    actor.kill();
    actor.stop_with("after the end");
    let again = format!("{:?}", block_on(actor.wait()));
    assert_eq!(
        again,
        format!("{reason:?}"),
        "the reason changed after the end"
    );
    assert_eq!(
        actor.exit_reason().map(|r| format!("{r:?}")),
        Some(again),
        "exit_reason()"
    );
    assert!(!actor.is_alive());
    assert!(matches!(
        actor.try_tell(Msg::Count(playhouse_core::reply_port().0)),
        Err(SendError::Closed(_))
    ));
}

/// Nothing queued before a kill returned is handled after it. The actor's handler of `Hold(0)`
/// waits for a gate; meanwhile the model queues `Track(1)` and `Track(2)`, kills, and only then
/// opens the gate. Whether the kill cuts the suspended handler or the gate lets it finish first
/// (the runner then takes 1 and 2 as one batch), the actor ends `Killed` without handling 1 or
/// 2, each discarded and counted once, and `stopped` runs once, told `Killed`.
///
/// The other kill models accept "handled" for every message, since a message the runner took
/// before the kill may be handled; here no message can be taken before the kill returns. (A
/// third thread racing a send against the kill made the model 40 times larger and checks
/// nothing more about this invariant.)
pub fn kill_discards_what_was_queued_before_it() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(2))
            .spawn(Victim(shared.clone()));
        assert!(actor.try_tell(Msg::Hold(Tracked::new(0, &log))).is_ok());
        shared.entered.wait_for(1);
        for id in [1, 2] {
            assert!(
                actor.try_tell(Msg::Track(Tracked::new(id, &log))).is_ok(),
                "room for the messages queued before the kill"
            );
        }
        actor.kill();
        shared.kill_returned.store(true, SeqCst);
        shared.gate.open();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
        shared.assert_stopped_once_with(&reason);
        assert_eq!(shared.handled(), [0], "handled after the kill");
        assert_eq!(actor.discarded_count(), 2, "discarded count");
        assert_the_end_is_final(&actor, &reason);
        drop(actor);
        log.assert_all_dropped_once(0b111);
        assert_eq!(log.handled(), 1);
    });
}

/// A kill after a stop still cuts a suspended handler. The `Hold(0)` handler waits for a gate
/// that never opens; the model queues `Track(1)`, stops the actor (which closes the mailbox and
/// wakes the task: the handler is polled again and suspends again), then kills it. The kill
/// finds the mailbox closed already and must still wake the task from the slot the suspended
/// handler left its waker in, or the actor never ends (a deadlock). It ends `Killed`, 1 is
/// discarded and counted, and `stopped` runs once, told `Killed`.
pub fn kill_after_stop_cuts_a_suspended_handler() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Victim(shared.clone()));
        assert!(actor.try_tell(Msg::Hold(Tracked::new(0, &log))).is_ok());
        shared.entered.wait_for(1);
        assert!(actor.try_tell(Msg::Track(Tracked::new(1, &log))).is_ok());
        actor.stop();
        actor.kill();
        shared.kill_returned.store(true, SeqCst);
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
        shared.assert_stopped_once_with(&reason);
        assert_eq!(shared.handled(), [0], "handled after the kill");
        assert_eq!(actor.discarded_count(), 1, "discarded count");
        assert_the_end_is_final(&actor, &reason);
        drop(actor);
        log.assert_all_dropped_once(0b11);
        assert_eq!(log.handled(), 1);
    });
}

/// Which of stop and kill comes first (the second waits for the first to return).
#[derive(Clone, Copy, Debug)]
pub enum Order {
    KillThenStop,
    StopThenKill,
}

/// Stop and kill, one after the other, on an actor with `Track(0)` queued, racing its task; then
/// the model waits for the end. The first reason that applies wins, and everyone agrees on it:
///
/// - kill, then stop: the actor ends `Killed` (a stop after a kill changes nothing);
/// - stop, then kill: `Shutdown(None)` if the actor drained its mailbox and ended before the
///   kill (then 0 was handled and nothing discarded), else `Killed` (the kill escalates a stop
///   still under way);
///
/// `stopped` is told the reason `wait()` returns, every message is handled or discarded once and
/// counted, and after the end a stop, a kill and a `stop_with` change nothing.
pub fn stop_and_kill_agree_on_one_reason(order: Order) {
    check(move || {
        let shared = Shared::new();
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(1))
            .spawn(Victim(shared.clone()));
        assert!(actor.try_tell(Msg::Track(Tracked::new(0, &log))).is_ok());
        match order {
            Order::KillThenStop => {
                actor.kill();
                actor.stop();
            }
            Order::StopThenKill => {
                actor.stop();
                actor.kill();
            }
        }
        let reason = block_on(actor.wait());
        match (order, &reason) {
            (Order::KillThenStop, ExitReason::Killed) => {}
            (Order::StopThenKill, ExitReason::Killed) => {}
            (Order::StopThenKill, ExitReason::Shutdown(None)) => {
                assert_eq!(shared.handled(), [0], "a stopped actor drains its mailbox");
                assert_eq!(actor.discarded_count(), 0);
            }
            (order, reason) => panic!("{order:?} ended the actor with {reason:?}"),
        }
        shared.assert_stopped_once_with(&reason);
        let discarded = u64::from(shared.handled().is_empty());
        assert_eq!(actor.discarded_count(), discarded, "discarded count");
        assert_the_end_is_final(&actor, &reason);
        drop(actor);
        log.assert_all_dropped_once(1);
    });
}

/// [`stop_and_kill_agree_on_one_reason`], kill first.
pub fn kill_then_stop_ends_killed() {
    stop_and_kill_agree_on_one_reason(Order::KillThenStop);
}

/// [`stop_and_kill_agree_on_one_reason`], stop first.
pub fn stop_then_kill_agree_on_one_reason() {
    stop_and_kill_agree_on_one_reason(Order::StopThenKill);
}

/// The executor drops the actor's task (a runtime shutting down) while a sender tells it two
/// messages through a mailbox of capacity 1 (waiting for room) and then asks it: the actor ends
/// with `Shutdown("the executor dropped the actor's task")`, reported to `wait()`; each message
/// is handled, handed back (`Closed`) or discarded and counted, exactly once; a waiting sender is
/// woken; the ask resolves (answer, `Closed`, or `NoReply::Stopped`), never hangs; and later
/// sends are refused.
pub fn executor_dropping_the_task_ends_the_actor_once() {
    check(|| {
        let shared = Shared::new();
        let log = DropLog::new();
        let executor = ShutdownExecutor::new();
        let actor = System::new(executor.clone())
            .spawner(block_mailbox(1))
            .spawn(Victim(shared.clone()));
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
                // The request is discarded (and counted) if the answer says `Stopped`.
                let request_discarded = match block_on(actor.ask(Msg::Count)) {
                    Ok(_) | Err(AskError::Closed(_)) => 0,
                    Err(AskError::NoReply(NoReply::Stopped)) => 1,
                    Err(e) => panic!("unexpected ask outcome {e:?}"),
                };
                (returned, request_discarded)
            })
        };
        executor.shutdown();
        let reason = block_on(actor.wait());
        assert!(
            matches!(&reason, ExitReason::Shutdown(Some(why)) if why.contains("executor dropped")),
            "{reason:?}"
        );
        assert!(
            matches!(
                actor.try_tell(Msg::Count(playhouse_core::reply_port().0)),
                Err(SendError::Closed(_))
            ),
            "a send after the end was accepted"
        );
        let (returned, request_discarded) = sender.join().unwrap();
        let discarded_count = actor.discarded_count();
        drop(actor);
        log.assert_all_dropped_once(0b11);
        assert_eq!(log.handled(), mask(&shared.handled()));
        let discarded = log.unhandled() & !returned;
        assert_eq!(
            discarded_count,
            u64::from(discarded.count_ones() + request_discarded),
            "discarded count"
        );
        assert_eq!(shared.stopped_hooks.load(SeqCst), 0, "no incarnation ended");
    });
}

// ---------------------------------------------------------------------------------------------
// References the actor takes to itself
// ---------------------------------------------------------------------------------------------

type SelfEnv = Wiring<Bounded<Block>, LoomExecutor, InMemoryBroker>;

enum SelfMsg {
    /// Handle (record) it, taking and dropping a reference to itself on the way.
    Track(Tracked),
    /// Drop the reference kept since `started`.
    Forget,
}

/// Keeps a reference to itself from `started` until told to `Forget` it.
struct SelfHolder {
    me: Option<ActorRef<SelfHolder>>,
    handled: Arc<Mutex<Vec<u32>>>,
}

impl Actor for SelfHolder {
    type Message = SelfMsg;
    type Error = std::convert::Infallible;
}

impl Handler<SelfEnv> for SelfHolder {
    async fn started(&mut self, ctx: &mut Context<Self, SelfEnv>) -> Result<(), Self::Error> {
        self.me = Some(ctx.myself());
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: SelfMsg,
        ctx: &mut Context<Self, SelfEnv>,
    ) -> Result<(), Self::Error> {
        match msg {
            SelfMsg::Track(m) => {
                let me = ctx.myself();
                self.handled.lock().unwrap().push(m.handle());
                drop(me);
            }
            SelfMsg::Forget => self.me = None,
        }
        Ok(())
    }
}

/// Reference counts taken inside the actor (`myself()` kept from `started`, and one taken and
/// dropped in a handler) count like any other: while the model holds a strong reference, sends
/// through it are accepted, however the actor's own references come and go; once the model's
/// last reference and the actor's own are gone (the actor drops its own while another thread
/// drops a clone), the mailbox closes, the actor handles what was queued and ends `Normal`, and
/// a weak reference no longer upgrades.
pub fn references_from_inside_the_actor_count() {
    check(|| {
        let handled = Arc::new(Mutex::new(Vec::new()));
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox(2))
            .spawn(SelfHolder {
                me: None,
                handled: handled.clone(),
            });
        let weak = actor.downgrade();
        let other = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                assert!(
                    block_on(actor.tell(SelfMsg::Track(Tracked::new(1, &log)))).is_ok(),
                    "a send through a live strong reference was refused"
                );
                drop(actor);
            })
        };
        assert!(block_on(actor.tell(SelfMsg::Forget)).is_ok());
        assert!(
            block_on(actor.tell(SelfMsg::Track(Tracked::new(0, &log)))).is_ok(),
            "a send through a live strong reference was refused"
        );
        drop(actor);
        let reason = block_on(weak.wait());
        assert!(matches!(reason, ExitReason::Normal), "{reason:?}");
        other.join().unwrap();
        assert!(weak.upgrade().is_none(), "upgraded an ended actor");
        let mut got = handled.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(
            got,
            [0, 1],
            "a message sent through a strong reference was not handled"
        );
        drop(weak);
        log.assert_all_dropped_once(0b11);
    });
}

// ---------------------------------------------------------------------------------------------
// Exit watchers
// ---------------------------------------------------------------------------------------------

/// An `on_exit` watcher registered from another thread while the actor is being killed is
/// called exactly once, told the reason `wait()` gives: by the actor's task as it records the
/// end, or at once by `on_exit` if the end came first. (Registered in between and never called,
/// it leaves the model waiting for the call: a deadlock.) The actor's thread is joined before
/// the count is read, so a second call would be seen.
pub fn on_exit_racing_the_end_is_called_once() {
    check(|| {
        let shared = Shared::new();
        let executor = JoinExecutor::new();
        let actor = System::new(executor.clone())
            .spawner(block_mailbox(1))
            .spawn(Victim(shared.clone()));
        let id = actor.id();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let called = Arc::new(Stage::new());
        let watcher = {
            let (actor, calls, called) = (actor.clone(), calls.clone(), called.clone());
            thread::spawn(move || {
                actor.on_exit(move |who, reason| {
                    assert_eq!(who, id, "a watcher was told of another actor");
                    calls.lock().unwrap().push(format!("{reason:?}"));
                    called.reach(1);
                });
            })
        };
        actor.kill();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
        called.wait_for(1);
        watcher.join().unwrap();
        // Thread 0 ran the actor's task, which records the end and calls the watchers.
        executor.join(0);
        assert_eq!(
            *calls.lock().unwrap(),
            [format!("{reason:?}")],
            "the watcher's calls"
        );
    });
}

/// A task waiting for the end, in `wait()`, while the actor is killed: whenever its wait is
/// polled (before the end, or after the end is recorded while the watchers still run), it
/// resolves only after the `on_exit` watcher registered before the end has run.
pub fn wait_resolves_after_the_watchers() {
    check(|| {
        let executor = JoinExecutor::new();
        let actor = System::new(executor.clone())
            .spawner(block_mailbox(1))
            .spawn(Victim(Shared::new()));
        let watched = Arc::new(AtomicBool::new(false));
        {
            let watched = watched.clone();
            actor.on_exit(move |_, _| watched.store(true, SeqCst));
        }
        let waiter = {
            let (actor, watched) = (actor.downgrade(), watched.clone());
            thread::spawn(move || {
                let reason = block_on(actor.wait());
                assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
                assert!(
                    watched.load(SeqCst),
                    "wait resolved before the on_exit watcher had run"
                );
            })
        };
        actor.kill();
        waiter.join().unwrap();
        executor.join(0);
    });
}
