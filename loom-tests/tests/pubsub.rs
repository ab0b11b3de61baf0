//! Loom models of the topics table. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::pubsub as m;

/// A publish racing an unsubscribe delivers at most once; one that starts after `unsubscribe`
/// returned delivers nothing to that subscriber.
#[test]
fn publish_racing_unsubscribe_delivers_at_most_once() {
    m::publish_racing_unsubscribe_delivers_at_most_once();
}

/// A subscribe racing the subscriber's end leaves no subscription of the ended actor behind.
#[test]
fn subscribe_racing_the_end_leaves_nothing_behind() {
    m::subscribe_racing_the_end_leaves_nothing_behind();
}
