//! Loom models of keyed (virtual) actors. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::keyed as m;

/// A message racing its key's passivation is handled exactly once, by the old activation or
/// by the next one.
#[test]
fn message_racing_passivation_is_handled_once() {
    m::message_racing_passivation_is_handled_once();
}

/// A send through a handle's cached activation racing the key's passivation is handled exactly
/// once, by the old activation or by the next one.
#[test]
fn key_ref_send_racing_passivation_is_handled_once() {
    m::key_ref_send_racing_passivation_is_handled_once();
}

/// A passivation racing an activation's hand-over of its queued message: the message is
/// delivered and handled once, whether the passivation came before, during or after.
#[test]
fn passivation_racing_the_hand_over_loses_nothing() {
    m::passivation_racing_the_hand_over_loses_nothing();
}

/// A send racing a new activation's hand-over is delivered and handled once: queued, woken
/// when the hand-over ends, or sent to the active key.
#[test]
fn a_send_racing_the_hand_over_is_handled_once() {
    m::a_send_racing_the_hand_over_is_handled_once();
}

/// Two first messages racing for one key make one activation (one factory call).
#[test]
fn creation_race_makes_one_activation() {
    m::creation_race_makes_one_activation();
}

/// A new activation's `started` hook asking its own key is refused, whether the ask queues
/// before the activation has recorded the new actor, after, or once the key is active.
#[test]
fn started_hook_asking_its_own_key_is_refused() {
    m::started_hook_asking_its_own_key_is_refused();
}

/// A timed ask that gives up while its key activates hands its request back or leaves it to
/// the activation, never both, never neither.
#[test]
fn timed_ask_racing_activation_hands_back_or_delivers() {
    m::timed_ask_racing_activation_hands_back_or_delivers();
}
