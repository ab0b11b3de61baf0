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

/// A publisher with a cached snapshot racing an unsubscribe delivers at most once; once
/// `unsubscribe` returned, neither it nor a clone with an older cache delivers to that
/// subscriber.
#[test]
fn publisher_racing_unsubscribe_delivers_at_most_once() {
    m::publisher_racing_unsubscribe_delivers_at_most_once();
}

/// A publisher whose cached snapshot predates a subscribe delivers to the new subscriber once
/// `subscribe` has returned.
#[test]
fn publisher_racing_subscribe_sees_it_once_it_returned() {
    m::publisher_racing_subscribe_sees_it_once_it_returned();
}
