//! Loom models of ending an incarnation, and of a stop racing a failure. Run with
//! `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::incarnation as m;

/// `end_incarnation` racing sends: every accepted message is handled exactly once, by one of
/// the two incarnations.
#[test]
fn end_incarnation_racing_sends_handles_each_message_once() {
    m::end_incarnation_racing_sends_handles_each_message_once();
}

/// A stop racing the actor's own failure: one reason, reported once, and the same everywhere.
#[test]
fn stop_racing_the_failure_reports_one_reason() {
    m::stop_racing_the_failure_reports_one_reason();
}
