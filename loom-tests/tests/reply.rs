//! Loom models of reply ports. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::{actor, reply as m};

/// A reply port resolves its asker exactly once with the value, even across a waker change.
#[test]
fn reply_resolves_once_with_value_after_waker_change() {
    m::reply_resolves_once_with_value_after_waker_change();
}

/// A reply port dropped unused resolves its waiting asker with `NoReply::Dropped`.
#[test]
fn reply_dropped_resolves_the_asker() {
    m::reply_dropped_resolves_the_asker();
}

/// A reply sent to an asker that gave up is dropped exactly once (or handed back).
#[test]
fn reply_to_gone_asker_drops_value_once() {
    m::reply_to_gone_asker_drops_value_once();
}

/// An ask racing a kill resolves exactly once (value, `Closed` or `NoReply`) and never hangs.
#[test]
fn ask_resolves_once_when_actor_is_killed() {
    actor::ask_resolves_once_when_actor_is_killed();
}

/// A timed ask racing the answer resolves exactly once (value or timeout) and never hangs.
#[test]
fn ask_timeout_resolves_once() {
    actor::ask_timeout_resolves_once();
}
