//! Models of ending an incarnation without ending the actor, and of a stop racing the actor's
//! own failure: `end_incarnation` racing sends loses and duplicates nothing across the two
//! incarnations (a message the ending incarnation took goes back to the front of the mailbox),
//! and however a stop and a failure interleave, `wait()`, `exit_reason()`, the `on_exit`
//! watcher and the last `stopped` hook report one and the same reason, once.

use crate::harness::System;
use loom::future::block_on;
use loom::sync::atomic::{AtomicU32, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{Actor, Context, Env, ExitReason, Handler, IncarnationEnd};

use super::monitor::Outcomes;
use crate::harness::{DropLog, JoinExecutor, LoomExecutor, Stage, Tracked, check};

#[derive(Default)]
struct Shared {
    /// Reached `n` once incarnation `n` has started.
    started: Stage,
    /// (incarnation, id) of every message handled.
    handled: Mutex<Vec<(u32, u32)>>,
    /// What each `stopped` hook was told, in `Debug` form.
    stopped: Mutex<Vec<String>>,
    policy_calls: AtomicU32,
}

enum Msg {
    Track(Tracked),
    Fail,
}

/// Records what it handles; fails on `Fail`, and in `started` from its second incarnation on
/// when `fail_restarts` is set.
struct Rotor {
    shared: Arc<Shared>,
    fail_restarts: bool,
}

impl Actor for Rotor {
    type Message = Msg;
    type Error = &'static str;
}

impl<V: Env> Handler<V> for Rotor {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), &'static str> {
        let n = ctx.incarnation();
        self.shared.started.reach(n);
        if self.fail_restarts && n > 1 {
            return Err("started failed");
        }
        Ok(())
    }

    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), &'static str> {
        match msg {
            Msg::Track(m) => {
                let inc = ctx.incarnation();
                self.shared.handled.lock().unwrap().push((inc, m.handle()));
            }
            Msg::Fail => return Err("handler failed"),
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, reason: &ExitReason) {
        self.shared
            .stopped
            .lock()
            .unwrap()
            .push(format!("{reason:?}"));
    }
}

/// A restart policy that restarts once, then ends the actor.
fn restart_once(
    shared: &Arc<Shared>,
    fail_restarts: bool,
) -> impl FnMut(&ExitReason) -> Option<Rotor> + Send + 'static {
    let shared = shared.clone();
    move |_: &ExitReason| {
        (shared.policy_calls.fetch_add(1, SeqCst) == 0).then(|| Rotor {
            shared: shared.clone(),
            fail_restarts,
        })
    }
}

/// A restartable actor (one restart) runs its first incarnation while the model sends
/// `Track(0)` and asks for the end of the incarnation after the current message, and another
/// thread sends `Track(1)`. Whatever the first incarnation took when the request came (nothing,
/// one message, or one in its batch), each message is handled exactly once, by one incarnation
/// or the other: a message taken while the request was pending goes back to the front of the
/// mailbox for the next incarnation. The first incarnation ends with the reason asked for; the
/// second handles what is left and ends with the stop. Among the interleavings explored, the
/// first incarnation handles none, one and both of the messages.
pub fn end_incarnation_racing_sends_handles_each_message_once() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    check(move || {
        let shared = Arc::new(Shared::default());
        let log = DropLog::new();
        let actor = System::new(LoomExecutor)
            .spawner(Bounded::<Block>::with_capacity(2).unwrap())
            .spawn_restartable(
                Rotor {
                    shared: shared.clone(),
                    fail_restarts: false,
                },
                restart_once(&shared, false),
            );
        let sender = {
            let (actor, log) = (actor.clone(), log.clone());
            thread::spawn(move || {
                assert!(actor.try_tell(Msg::Track(Tracked::new(1, &log))).is_ok());
            })
        };
        assert!(actor.try_tell(Msg::Track(Tracked::new(0, &log))).is_ok());
        actor.end_incarnation(
            IncarnationEnd::AfterCurrentMessage,
            ExitReason::Shutdown(Some("rotate".into())),
        );
        shared.started.wait_for(2);
        sender.join().unwrap();
        actor.stop();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
        assert_eq!(
            *shared.stopped.lock().unwrap(),
            [r#"Shutdown("rotate")"#, "Shutdown"],
            "the incarnations' ends"
        );
        let handled = shared.handled.lock().unwrap().clone();
        assert!(
            handled.iter().all(|&(inc, _)| inc == 1 || inc == 2),
            "{handled:?}"
        );
        let by_first = handled.iter().filter(|&&(inc, _)| inc == 1).count();
        seen.saw(u32::try_from(by_first).unwrap());
        assert_eq!(actor.discarded_count(), 0, "discarded: {handled:?}");
        drop(actor);
        assert_eq!(
            log.unhandled(),
            0,
            "an accepted message was lost (handled {handled:?})"
        );
        log.assert_all_dropped_once(0b11);
    });
    outcomes.assert_all(&[0, 1, 2], "messages handled by the first incarnation");
}

/// A restartable actor (one restart; its second incarnation's `started` fails) handles a
/// queued `Fail` while the model stops it. The stop is graceful, so the failure happens either
/// way; if the stop comes after the policy restarted the actor, the second incarnation fails in
/// `started` and the actor ends with that. Whichever: `wait()`, `exit_reason()`, the `on_exit`
/// watcher (called once) and the last `stopped` hook agree on the reason, and a stop after the
/// end changes nothing. Both reasons occur among the interleavings explored.
pub fn stop_racing_the_failure_reports_one_reason() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    check(move || {
        let shared = Arc::new(Shared::default());
        let executor = JoinExecutor::new();
        let actor = System::new(executor.clone()).spawn_restartable(
            Rotor {
                shared: shared.clone(),
                fail_restarts: true,
            },
            restart_once(&shared, true),
        );
        let calls = Arc::new(Mutex::new(Vec::new()));
        {
            let calls = calls.clone();
            actor.on_exit(move |_, reason| calls.lock().unwrap().push(format!("{reason:?}")));
        }
        assert!(actor.try_tell(Msg::Fail).is_ok());
        actor.stop();
        let reason = format!("{:?}", block_on(actor.wait()));
        match reason.as_str() {
            r#"Failed("handler failed")"# => seen.saw(0),
            r#"Failed("started failed")"# => seen.saw(1),
            other => panic!("the actor ended with {other}"),
        }
        // The actor's task (thread 0) has recorded the end and called the watchers.
        executor.join(0);
        assert_eq!(
            *calls.lock().unwrap(),
            std::slice::from_ref(&reason),
            "the on_exit watcher's calls"
        );
        assert_eq!(
            shared.stopped.lock().unwrap().last(),
            Some(&reason),
            "the last `stopped` hook"
        );
        actor.stop();
        assert_eq!(
            actor.exit_reason().map(|r| format!("{r:?}")).as_deref(),
            Some(reason.as_str()),
            "exit_reason() after a stop after the end"
        );
        assert_eq!(format!("{:?}", block_on(actor.wait())), reason);
    });
    outcomes.assert_all(&[0, 1], "the handler's failure, the restart's");
}
