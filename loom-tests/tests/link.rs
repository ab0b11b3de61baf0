//! Loom models of links. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::link as m;

/// An exit signal racing an unlink acts once (the unlink returned `false`) or never.
#[test]
fn signal_racing_unlink_acts_once_or_never() {
    m::signal_racing_unlink_acts_once_or_never();
}

/// A link racing the end of the actor it links delivers that actor's signal exactly once.
#[test]
fn link_racing_the_end_signals_once() {
    m::link_racing_the_end_signals_once();
}

/// Two links made at once between the same actors are one: the end is signalled once.
#[test]
fn two_links_at_once_make_one() {
    m::two_links_at_once_make_one();
}
