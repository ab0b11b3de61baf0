//! Models of what happens around a running handler: a kill that arrives while the handler is
//! suspended (the runner's `Guarded` leaves the task's waker where `kill` wakes it), and the
//! self-ask check (a thread-local mark names the actor whose handler this thread is polling).
//!
//! Each actor costs one loom thread on [`LoomExecutor`]; loom allows five, main included.
//! [`OneWorker`](crate::harness::OneWorker) runs every actor on one shared loom thread instead, which the thread-per-task
//! executor cannot show: two actors' handlers polled one after the other by the same thread,
//! as a multi-actor worker of a real runtime does.

use std::convert::Infallible;
use std::future::{pending, poll_fn};
use std::task::{Poll, Waker};

use crate::harness::System;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex, Notify};
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{
    Actor, ActorRef, AskError, Context, Env, ExitReason, Handler, NoReply, Reply,
};

use crate::harness::{DEFAULT_PREEMPTIONS, LoomExecutor, OneWorker, check, loom_builder};

fn block_mailbox() -> Bounded<Block> {
    Bounded::<Block>::with_capacity(1).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Kill while a handler is suspended
// ---------------------------------------------------------------------------------------------

/// A future that is ready once [`Gate::open`] has been called, woken by it.
#[derive(Default)]
struct Gate {
    /// Open, and the waker of the future waiting for it.
    state: Mutex<(bool, Option<Waker>)>,
}

impl Gate {
    fn open(&self) {
        let waker = {
            let mut st = self.state.lock().unwrap();
            st.0 = true;
            st.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    async fn opened(&self) {
        poll_fn(|cx| {
            let mut st = self.state.lock().unwrap();
            if st.0 {
                Poll::Ready(())
            } else {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// State the [`Suspender`]'s handlers share with the model.
struct KillShared {
    /// Set by the handler in its first poll; the killer waits for it ([`KillShared::enter`]).
    entered: AtomicBool,
    /// Notified after `entered` is set (loom's `Notify` may wake spuriously: the flag decides).
    entered_notify: Notify,
    /// What the `Wait` handler waits for after its first poll.
    gate: Gate,
    /// Handler futures dropped (a [`DropCount`] lives in each one), completed or cut.
    handler_futures_dropped: AtomicUsize,
    stopped_hooks: AtomicUsize,
    /// `stopped` was told `ExitReason::Killed`.
    stopped_saw_killed: AtomicBool,
}

impl KillShared {
    fn new() -> Arc<Self> {
        Arc::new(KillShared {
            entered: AtomicBool::new(false),
            entered_notify: Notify::new(),
            gate: Gate::default(),
            handler_futures_dropped: AtomicUsize::new(0),
            stopped_hooks: AtomicUsize::new(0),
            stopped_saw_killed: AtomicBool::new(false),
        })
    }

    /// Called by the handler in its first poll.
    fn enter(&self) {
        self.entered.store(true, SeqCst);
        self.entered_notify.notify();
    }

    /// Blocks the calling loom thread until the handler has entered.
    fn wait_entered(&self) {
        while !self.entered.load(SeqCst) {
            self.entered_notify.wait();
        }
    }

    /// After the actor ended: its handler future was dropped once, and `stopped` ran once,
    /// told `Killed`.
    fn assert_ended_killed(&self) {
        assert_eq!(
            self.handler_futures_dropped.load(SeqCst),
            1,
            "the handler's future was not dropped exactly once"
        );
        assert_eq!(self.stopped_hooks.load(SeqCst), 1, "`stopped` hooks run");
        assert!(
            self.stopped_saw_killed.load(SeqCst),
            "`stopped` was not told `Killed`"
        );
    }
}

/// Counts its drop: lives in a handler's future, so that the model sees the future go.
struct DropCount(Arc<KillShared>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.handler_futures_dropped.fetch_add(1, SeqCst);
    }
}

enum KillMsg {
    /// Hold the reply port and never finish: only a kill ends the handler.
    Hang(Reply<u32>),
    /// Wait for the gate, then answer 7.
    Wait(Reply<u32>),
}

struct Suspender(Arc<KillShared>);

impl Actor for Suspender {
    type Message = KillMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Suspender {
    async fn handle(&mut self, msg: KillMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        let _count = DropCount(self.0.clone());
        self.0.enter();
        match msg {
            KillMsg::Hang(reply) => {
                pending::<()>().await;
                drop(reply);
            }
            KillMsg::Wait(reply) => {
                self.0.gate.opened().await;
                let _ = reply.send(7);
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, reason: &ExitReason) {
        self.0.stopped_hooks.fetch_add(1, SeqCst);
        self.0
            .stopped_saw_killed
            .store(matches!(reason, ExitReason::Killed), SeqCst);
    }
}

/// A kill racing a handler that suspends (forever, holding a reply port) is never lost: the
/// killer kills once the handler has started, anywhere from before its poll returns `Pending`
/// to after the runner left the task's waker for the kill. The handler's future is dropped, the
/// asker gets `NoReply::Stopped`, `stopped` runs once told `Killed`, and `wait()` resolves with
/// `Killed`. A lost wake-up shows as a deadlock (the actor's task is never polled again).
pub fn kill_cuts_a_suspended_handler() {
    check(|| {
        let shared = KillShared::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox())
            .spawn(Suspender(shared.clone()));
        let killer = {
            let (actor, shared) = (actor.clone(), shared.clone());
            thread::spawn(move || {
                shared.wait_entered();
                actor.kill();
            })
        };
        match block_on(actor.ask(KillMsg::Hang)) {
            Err(AskError::NoReply(NoReply::Stopped)) => {}
            other => panic!("the asker of a killed, suspended handler got {other:?}"),
        }
        killer.join().unwrap();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
        shared.assert_ended_killed();
    });
}

/// A kill racing a suspended handler's completion and its reply (the killer opens the gate the
/// handler waits for, then kills): the asker gets the answer or `NoReply::Stopped`, never hangs;
/// the actor ends `Killed` either way, its handler future dropped once and `stopped` run once.
/// With a preemption bound of at least 1 both outcomes occur.
pub fn kill_racing_handler_completion_resolves_the_asker() {
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen_answer, seen_stopped) = (answered.clone(), stopped.clone());
    check(move || {
        let shared = KillShared::new();
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox())
            .spawn(Suspender(shared.clone()));
        let killer = {
            let (actor, shared) = (actor.clone(), shared.clone());
            thread::spawn(move || {
                shared.wait_entered();
                shared.gate.open();
                actor.kill();
            })
        };
        match block_on(actor.ask(KillMsg::Wait)) {
            Ok(7) => seen_answer.store(true, std::sync::atomic::Ordering::Relaxed),
            Err(AskError::NoReply(NoReply::Stopped)) => {
                seen_stopped.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            other => panic!("the asker of a handler racing a kill got {other:?}"),
        }
        killer.join().unwrap();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
        shared.assert_ended_killed();
    });
    if loom_builder(DEFAULT_PREEMPTIONS).preemption_bound >= Some(1) {
        assert!(
            answered.load(std::sync::atomic::Ordering::Relaxed),
            "no execution answered"
        );
        assert!(
            stopped.load(std::sync::atomic::Ordering::Relaxed),
            "no execution cut the handler"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The self-ask check
// ---------------------------------------------------------------------------------------------

/// Answers 7.
struct Answerer;

enum AnswerMsg {
    Get(Reply<u32>),
}

impl Actor for Answerer {
    type Message = AnswerMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Answerer {
    async fn handle(&mut self, msg: AnswerMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        let AnswerMsg::Get(reply) = msg;
        let _ = reply.send(7);
        Ok(())
    }
}

/// How an ask made from a handler ended, as the model checks it.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    Answer(u32),
    /// `AskError::Deadlock`, with the request handed back.
    Deadlock,
    /// Any other error.
    Other(String),
}

enum AskerMsg {
    /// Ask the other actor, answer how that went.
    AskOther(Reply<Asked>),
    /// Ask ourselves (`Count`), answer how that went.
    AskSelf(Reply<Asked>),
    /// Answer the number of messages handled before this one.
    Count(Reply<u32>),
}

/// Asks another actor or itself from its handler.
struct Asker {
    other: Option<ActorRef<Answerer, Bounded<Block>>>,
    handled: u32,
}

impl Actor for Asker {
    type Message = AskerMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Asker {
    async fn handle(
        &mut self,
        msg: AskerMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            AskerMsg::AskOther(reply) => {
                let other = self.other.as_ref().expect("an actor to ask");
                let asked = match other.ask(AnswerMsg::Get).await {
                    Ok(v) => Asked::Answer(v),
                    Err(AskError::Deadlock(AnswerMsg::Get(_))) => Asked::Deadlock,
                    Err(e) => Asked::Other(format!("{e:?}")),
                };
                let _ = reply.send(asked);
            }
            AskerMsg::AskSelf(reply) => {
                let asked = match ctx.myself().ask(AskerMsg::Count).await {
                    Ok(v) => Asked::Answer(v),
                    Err(AskError::Deadlock(AskerMsg::Count(_))) => Asked::Deadlock,
                    Err(e) => Asked::Other(format!("{e:?}")),
                };
                let _ = reply.send(asked);
            }
            AskerMsg::Count(reply) => {
                let _ = reply.send(self.handled);
            }
        }
        self.handled += 1;
        Ok(())
    }
}

/// Asks `asker` to ask the other actor: the answer must come from that actor.
fn assert_asks_reach_the_other_actor(asker: &ActorRef<Asker, Bounded<Block>>) {
    let asked = block_on(asker.ask(AskerMsg::AskOther)).expect("the asker answers");
    assert_eq!(
        asked,
        Asked::Answer(7),
        "an ask from one actor's handler to another actor misfired"
    );
}

/// Ends both actors by dropping the model's references (the asker ends, then drops the
/// answerer's last reference). No `wait()`: loom still requires every actor's thread to finish
/// before an execution ends, and waiting on both multiplied the executions by ten for nothing
/// the self-ask check depends on.
fn end(asker: ActorRef<Asker, Bounded<Block>>, answerer: ActorRef<Answerer, Bounded<Block>>) {
    drop(asker);
    drop(answerer);
}

/// The self-ask check never misfires on another actor: actor A's handler (on its own loom
/// thread) asks actor B (on another) and gets B's answer.
pub fn ask_from_a_handler_reaches_another_actor() {
    check(|| {
        let system = System::new(LoomExecutor);
        let answerer = system.spawner(block_mailbox()).spawn(Answerer);
        let asker = system.spawner(block_mailbox()).spawn(Asker {
            other: Some(answerer.clone()),
            handled: 0,
        });
        assert_asks_reach_the_other_actor(&asker);
        end(asker, answerer);
    });
}

/// An actor that asks itself from its handler gets `AskError::Deadlock` at once, with the
/// request handed back (never sent: it is not handled later), and keeps running: the next ask
/// is answered, and counts only the message that made the self-ask.
pub fn self_ask_fails_with_deadlock_and_the_actor_keeps_running() {
    check(|| {
        let actor = System::new(LoomExecutor)
            .spawner(block_mailbox())
            .spawn(Asker {
                other: None,
                handled: 0,
            });
        let asked = block_on(actor.ask(AskerMsg::AskSelf)).expect("the actor answers");
        assert_eq!(asked, Asked::Deadlock, "a self-ask from a handler");
        let handled = block_on(actor.ask(AskerMsg::Count)).expect("the actor still runs");
        assert_eq!(handled, 1, "messages handled before the last ask");
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
    });
}

/// As [`ask_from_a_handler_reaches_another_actor`], with both actors on [`OneWorker`]: one
/// loom thread polls A's handler (which asks B and suspends), then B's handler (which answers),
/// then A's again. The mark must name B only while B's handler is polled, and be gone when A's
/// poll returns. A self-ask on the shared worker is still caught.
pub fn ask_between_actors_sharing_one_worker() {
    check(|| {
        let worker = OneWorker::new();
        let system = System::new(worker.clone());
        let answerer = system.spawner(block_mailbox()).spawn(Answerer);
        let asker = system.spawner(block_mailbox()).spawn(Asker {
            other: Some(answerer.clone()),
            handled: 0,
        });
        drop(system);
        let thread = {
            let worker = worker.clone();
            thread::spawn(move || worker.run())
        };
        drop(worker);
        assert_asks_reach_the_other_actor(&asker);
        let asked = block_on(asker.ask(AskerMsg::AskSelf)).expect("the asker answers");
        assert_eq!(asked, Asked::Deadlock, "a self-ask on a shared worker");
        end(asker, answerer);
        thread.join().unwrap();
    });
}
