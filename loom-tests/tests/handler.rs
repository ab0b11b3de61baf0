//! Loom models of a running handler: a kill while it is suspended, and the self-ask check. Run
//! with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::handler as m;

/// A kill racing a suspended handler is never lost: the future is cut, the asker resolves.
#[test]
fn kill_cuts_a_suspended_handler() {
    m::kill_cuts_a_suspended_handler();
}

/// A kill racing a handler's completion: the asker gets the answer or `Stopped`, never hangs.
#[test]
fn kill_racing_handler_completion_resolves_the_asker() {
    m::kill_racing_handler_completion_resolves_the_asker();
}

/// An ask from A's handler to B gets B's answer (the self-ask check never misfires).
#[test]
fn ask_from_a_handler_reaches_another_actor() {
    m::ask_from_a_handler_reaches_another_actor();
}

/// A self-ask from a handler fails with `Deadlock`; the actor keeps running.
#[test]
fn self_ask_fails_with_deadlock_and_the_actor_keeps_running() {
    m::self_ask_fails_with_deadlock_and_the_actor_keeps_running();
}

/// Two actors on one shared worker thread: an ask between them is answered, a self-ask is not.
#[test]
fn ask_between_actors_sharing_one_worker() {
    m::ask_between_actors_sharing_one_worker();
}
