//! Loom models of streams attached to actors. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::streams as m;

/// The forwarder pulls an item only once the one it queued before was taken; the items are
/// handled in order, `Finished` once after them, and the stream is dropped.
#[test]
fn one_item_in_flight_and_every_item_handled() {
    m::one_item_in_flight_and_every_item_handled();
}

/// A cancel racing the forwarder's push: nothing is queued once `cancel` has returned, and
/// every item the stream yielded is dropped exactly once.
#[test]
fn cancel_racing_a_push_lets_nothing_in_after_it() {
    m::cancel_racing_a_push_lets_nothing_in_after_it();
}

/// An attach racing the actor's end: the stream is dropped and its forwarder ends either way.
#[test]
fn actor_end_drops_a_stream_attached_as_it_ends() {
    m::actor_end_drops_a_stream_attached_as_it_ends();
}

/// An actor that stops itself with an item queued: the release of the discarded item does not
/// make the forwarder pull again.
#[test]
fn self_stop_pulls_nothing_once_the_mailbox_closed() {
    m::self_stop_pulls_nothing_once_the_mailbox_closed();
}
