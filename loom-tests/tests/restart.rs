//! Loom models of restarts behind one reference. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::restart as m;

/// A batch of three given back with two hand-outs: nothing lost, exact `mailbox_len`, and no
/// restart after a stop.
#[test]
fn restart_gives_back_the_batch_then_stop() {
    m::restart_gives_back_the_batch_then_stop();
}

/// As above; no restart on a mailbox closed by the last reference's drop.
#[test]
fn restart_gives_back_the_batch_then_last_ref_dropped() {
    m::restart_gives_back_the_batch_then_last_ref_dropped();
}

/// A timer of an incarnation that is restarted delivers nothing after the restart.
#[test]
fn timers_do_not_survive_a_restart() {
    m::timers_do_not_survive_a_restart();
}

/// A `stop_after_queue` racing a crash: the restart handles what was queued behind it.
#[test]
fn stop_after_queue_racing_a_crash_loses_nothing() {
    m::stop_after_queue_racing_a_crash_loses_nothing();
}
