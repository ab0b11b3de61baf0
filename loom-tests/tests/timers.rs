//! Loom models of timers and timed asks. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::timers as m;

/// An interval cancelled by its actor (possibly blocked on a full mailbox) delivers nothing
/// queued after the cancel, and its task ends.
#[test]
fn cancelled_interval_delivers_nothing_more() {
    m::cancelled_interval_delivers_nothing_more();
}

/// A one-shot timer into a full `Reject` mailbox, racing a cancel: handled, dropped and
/// counted, or cancelled, exactly one of them.
#[test]
fn a_one_shot_into_a_full_reject_mailbox_ends_one_way() {
    m::a_one_shot_into_a_full_reject_mailbox_ends_one_way();
}

/// A timed-out ask hands back a request that never entered the mailbox.
#[test]
fn timed_out_ask_hands_back_a_request_that_never_entered() {
    m::timed_out_ask_hands_back_a_request_that_never_entered();
}
