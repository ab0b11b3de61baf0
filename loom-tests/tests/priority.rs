//! Loom models of the priority mailbox. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::priority as m;

/// Two senders into a `Prioritized` mailbox: FIFO within a level, most urgent first.
#[test]
fn fifo_within_a_level_with_two_senders() {
    m::fifo_within_a_level_with_two_senders();
}
