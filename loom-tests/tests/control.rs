//! Loom model of control messages overtaking user messages. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::control as m;

/// A `Down` queued while the watcher works through a batch is handled before the next user
/// message, exactly once.
#[test]
fn down_overtakes_the_batch() {
    m::down_overtakes_the_batch();
}
