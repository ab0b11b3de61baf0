//! Loom models of the sends that never wait racing a close. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::close as m;

/// `try_send` racing a close: `Ok` means received, a refusal hands the message back (`Reject`).
#[test]
fn try_send_racing_close_reject() {
    m::try_send_racing_close_reject();
}

/// As above under `DropOldest`: an accepted message is received or evicted and counted.
#[test]
fn try_send_racing_close_drop_oldest() {
    m::try_send_racing_close_drop_oldest();
}

/// As above under `DropNewest`: the new message is received or dropped and counted.
#[test]
fn try_send_racing_close_drop_newest() {
    m::try_send_racing_close_drop_newest();
}

/// As above under `Block`, whose `try_send` fails with `Full` on a full mailbox.
#[test]
fn try_send_racing_close_block() {
    m::try_send_racing_close_block();
}

/// `stop_if_empty` racing a `try_tell`: the stop is made with nothing queued, or not at all.
#[test]
fn stop_if_empty_racing_a_send_lets_one_win() {
    m::stop_if_empty_racing_a_send_lets_one_win();
}
