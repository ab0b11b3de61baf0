//! Loom models of the registry. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::registry as m;

/// A dead actor never unregisters a newer one registered under the same name.
#[test]
fn dead_actor_never_unregisters_a_newer_one() {
    m::dead_actor_never_unregisters_a_newer_one();
}

/// Two live actors racing for one name: exactly one owns it.
#[test]
fn one_live_owner_per_name() {
    m::one_live_owner_per_name();
}

/// A name taken, given back and taken again while its actor ends: none is left behind.
#[test]
fn a_name_taken_while_the_actor_ends_is_removed() {
    m::a_name_taken_while_the_actor_ends_is_removed();
}
