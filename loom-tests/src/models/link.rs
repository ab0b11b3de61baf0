//! Models of links: an exit signal racing an `unlink` acts exactly when the unlink did not take
//! the link first (never twice, never after an unlink that returned `true`), a link racing
//! the end of the actor it links delivers that actor's signal exactly once, and two links made
//! at once between the same actors are one.
//!
//! The actor that dies fails on its own loom thread; the one that receives the signal traps
//! exits and runs on [`Deferred`]: it is polled once before the race (its `started` hook turns
//! trapping on), and run to the end afterwards, so the `Exit` messages it was sent are counted
//! in full. Two threads race: the model's and the dying actor's.

use crate::harness::System;
use loom::future::block_on;
use loom::sync::{Arc, Mutex};
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{Actor, ActorId, ActorRef, Context, Env, Exit, ExitReason, Handler};

use super::monitor::{Deferred, Outcomes, Target};
use crate::harness::{JoinExecutor, check};

/// The `Exit`s a [`Trapper`] handled: (actor, reason in `Debug` form).
type Exits = Arc<Mutex<Vec<(ActorId, String)>>>;

struct TrapMsg(Exit);

impl From<Exit> for TrapMsg {
    fn from(exit: Exit) -> Self {
        TrapMsg(exit)
    }
}

/// Traps exits from its `started` hook on; records every `Exit` it handles.
struct Trapper(Exits);

impl Actor for Trapper {
    type Message = TrapMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Trapper {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        ctx.trap_exit(true);
        Ok(())
    }

    async fn handle(&mut self, msg: TrapMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        let TrapMsg(exit) = msg;
        self.0
            .lock()
            .unwrap()
            .push((exit.id, format!("{:?}", exit.reason)));
        Ok(())
    }
}

type TrapperRef = ActorRef<Trapper, Bounded<Block>>;

/// The dying actor (on its own thread, its failing message not yet sent) and a trapping actor
/// on [`Deferred`], already trapping.
fn setup() -> (ActorRef<Target>, JoinExecutor, TrapperRef, Deferred, Exits) {
    let dying_thread = JoinExecutor::new();
    let dying = System::new(dying_thread.clone()).spawn(Target);
    let deferred = Deferred::new();
    let exits = Exits::default();
    let trapper = System::new(deferred.clone()).spawn(Trapper(exits.clone()));
    deferred.poll_once();
    (dying, dying_thread, trapper, deferred, exits)
}

/// Waits for the dying actor's end and returns its reason, in `Debug` form, once its task has
/// also run every exit watcher (a `wait()` first polled after the end was recorded may return
/// while the watchers are still running).
fn ended(dying: &ActorRef<Target>, thread: &JoinExecutor) -> String {
    let reason = format!("{:?}", block_on(dying.wait()));
    thread.join(0);
    reason
}

/// Stops the trapping actor and runs it to the end; returns the `Exit`s it handled.
fn handled_exits(
    trapper: TrapperRef,
    deferred: &Deferred,
    exits: &Exits,
) -> Vec<(ActorId, String)> {
    trapper.stop();
    deferred.run();
    assert!(matches!(
        trapper.exit_reason(),
        Some(ExitReason::Shutdown(None))
    ));
    exits.lock().unwrap().clone()
}

/// Linked before the race; the dying actor fails on its thread while the model unlinks (from
/// the trapping side). `unlink() == true` means the link was taken back before the signal
/// claimed it: no `Exit` ever comes. `false` means the signal had claimed it: exactly one
/// `Exit` comes, with the reason `wait()` gives.
///
/// Both outcomes occur among the interleavings explored (checked after the model).
pub fn signal_racing_unlink_acts_once_or_never() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    check(move || {
        let (dying, thread, trapper, deferred, exits) = setup();
        dying.link(&trapper);
        assert!(dying.try_tell(()).is_ok());
        let unlinked = trapper.unlink(&dying);
        seen.saw(u32::from(unlinked));
        let reason = ended(&dying, &thread);
        let got = handled_exits(trapper, &deferred, &exits);
        if unlinked {
            assert!(
                got.is_empty(),
                "an exit signal acted after unlink returned true: {got:?}"
            );
        } else {
            assert_eq!(got, [(dying.id(), reason)], "unlink returned false");
        }
    });
    outcomes.assert_all(&[0, 1], "unlink returned false, true");
}

/// The model links the dying actor to the trapping one (`dying.link(&trapper)`, the side that
/// ends first) while it fails on its thread: whether the link finds it alive, ended, or ending
/// between the two halves of the link, exactly one `Exit` reaches the trapping actor, with the
/// reason `wait()` gives.
pub fn link_racing_the_end_signals_once() {
    check(|| {
        let (dying, thread, trapper, deferred, exits) = setup();
        assert!(dying.try_tell(()).is_ok());
        dying.link(&trapper);
        let reason = ended(&dying, &thread);
        let got = handled_exits(trapper, &deferred, &exits);
        assert_eq!(
            got,
            [(dying.id(), reason)],
            "the linked actor's end was signalled {} times",
            got.len()
        );
    });
}

/// Two `link` calls between the same actors at once, one from each side (the model's thread
/// and one of its own): they make one link, one record on each end, so the dying actor's end,
/// after both returned, reaches the trapping actor exactly once.
pub fn two_links_at_once_make_one() {
    check(|| {
        let (dying, thread, trapper, deferred, exits) = setup();
        let before = (dying.exit_watcher_count(), trapper.exit_watcher_count());
        let other = {
            let (dying, trapper) = (dying.clone(), trapper.clone());
            loom::thread::spawn(move || trapper.link(&dying))
        };
        dying.link(&trapper);
        other.join().unwrap();
        assert_eq!(
            (dying.exit_watcher_count(), trapper.exit_watcher_count()),
            (before.0 + 1, before.1 + 1),
            "two links made at once left more than one record on an end"
        );
        assert!(dying.try_tell(()).is_ok());
        let reason = ended(&dying, &thread);
        let got = handled_exits(trapper, &deferred, &exits);
        assert_eq!(
            got,
            [(dying.id(), reason)],
            "two links made at once signalled the end {} times",
            got.len()
        );
    });
}
