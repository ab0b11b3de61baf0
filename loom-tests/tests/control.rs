//! Loom model of control messages overtaking user messages. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::control as m;

/// A `Down` queued while the watcher works through a batch is handled before the next user
/// message, exactly once.
#[test]
fn down_overtakes_the_batch() {
    m::down_overtakes_the_batch();
}

/// A `Down` queued as the watcher's incarnation ends (a drained restart follows) is handled
/// once, by one incarnation or the other.
#[test]
fn down_racing_the_end_of_the_incarnation_is_handled_once() {
    m::down_racing_the_end_of_the_incarnation_is_handled_once();
}
