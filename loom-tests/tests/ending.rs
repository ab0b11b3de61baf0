//! Loom models of how an actor ends. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::ending as m;

/// Nothing queued before a kill returned is handled after it.
#[test]
fn kill_discards_what_was_queued_before_it() {
    m::kill_discards_what_was_queued_before_it();
}

/// A kill after a stop still cuts a suspended handler.
#[test]
fn kill_after_stop_cuts_a_suspended_handler() {
    m::kill_after_stop_cuts_a_suspended_handler();
}

/// A stop after a kill changes nothing: the actor ends `Killed`; the end is final.
#[test]
fn kill_then_stop_ends_killed() {
    m::kill_then_stop_ends_killed();
}

/// A kill after a stop escalates it unless the actor has ended; everyone sees one reason.
#[test]
fn stop_then_kill_agree_on_one_reason() {
    m::stop_then_kill_agree_on_one_reason();
}

/// The executor dropping the actor's task ends it once; nothing is lost or left hanging.
#[test]
fn executor_dropping_the_task_ends_the_actor_once() {
    m::executor_dropping_the_task_ends_the_actor_once();
}

/// References the actor takes to itself count like any other.
#[test]
fn references_from_inside_the_actor_count() {
    m::references_from_inside_the_actor_count();
}

/// An `on_exit` watcher registered while the actor ends is called exactly once.
#[test]
fn on_exit_racing_the_end_is_called_once() {
    m::on_exit_racing_the_end_is_called_once();
}

/// `wait()` resolves only after the end's `on_exit` watchers have run, whenever it was polled.
#[test]
fn wait_resolves_after_the_watchers() {
    m::wait_resolves_after_the_watchers();
}
