//! Loom models of real actors on a loom executor. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::actor as m;

/// Stop racing tells: every accepted message is handled, later ones come back, nothing hangs.
#[test]
fn stop_racing_tells_handles_every_accepted_message() {
    m::stop_racing_tells_handles_every_accepted_message();
}

/// Kill racing tells: each message is handled, handed back or discarded exactly once.
#[test]
fn kill_racing_tells_discards_the_backlog_once() {
    m::kill_racing_tells_discards_the_backlog_once();
}

/// Handlers and hooks of one actor never overlap, across a restart too.
#[test]
fn handlers_never_overlap() {
    m::handlers_never_overlap();
}

/// Once a timer's `cancel` returns, the timer delivers nothing more.
#[test]
fn cancelled_timer_never_delivers() {
    m::cancelled_timer_never_delivers();
}

/// A timer's `cancel` returns `true` only if the timer had not delivered.
#[test]
fn cancel_true_means_the_timer_never_delivered() {
    m::cancel_true_means_the_timer_never_delivered();
}

/// An interval timer ends when its actor stops.
#[test]
fn interval_stops_when_actor_stops() {
    m::interval_stops_when_actor_stops();
}

/// The mailbox closes when the last strong reference drops; what was queued is handled.
#[test]
fn mailbox_closes_when_last_strong_ref_drops() {
    m::mailbox_closes_when_last_strong_ref_drops();
}

/// The mailbox closes when the actor ends; what is left in it is dropped exactly once.
#[test]
fn mailbox_closes_when_actor_ends_and_leftovers_drop_once() {
    m::mailbox_closes_when_actor_ends_and_leftovers_drop_once();
}

/// `upgrade` racing the last strong drop fails, or yields a reference whose mailbox is open.
#[test]
fn weak_upgrade_racing_last_drop_never_yields_a_closed_ref() {
    m::weak_upgrade_racing_last_drop_never_yields_a_closed_ref();
}
