//! Loom models of the mailbox queue. Run with `loom-tests/run.sh` (see the README).
#![cfg(playhouse_loom)]

use playhouse_core::mailbox::{Block, DropNewest, DropOldest, Reject};
use playhouse_loom_tests::models::mailbox as m;

/// A `Bounded<Block>` mailbox (capacity 1) never holds more than its capacity.
#[test]
fn capacity_never_exceeded_block() {
    m::capacity_never_exceeded::<Block>(1, 3);
}

/// A `Bounded<DropNewest>` mailbox (capacity 1) never holds more than its capacity.
#[test]
fn capacity_never_exceeded_drop_newest() {
    m::capacity_never_exceeded::<DropNewest>(1, 3);
}

/// A `Bounded<DropOldest>` mailbox (capacity 1) never holds more than its capacity.
#[test]
fn capacity_never_exceeded_drop_oldest() {
    m::capacity_never_exceeded::<DropOldest>(1, 3);
}

/// A `Bounded<Reject>` mailbox (capacity 1) never holds more than its capacity.
#[test]
fn capacity_never_exceeded_reject() {
    m::capacity_never_exceeded::<Reject>(1, 3);
}

/// Every accepted message is received exactly once; every refused one is handed back.
#[test]
fn no_loss_no_duplication() {
    m::no_loss_no_duplication();
}

/// Messages from one sender arrive in send order (`Block`, capacity 1).
#[test]
fn fifo_per_sender_block() {
    m::fifo_per_sender_block();
}

/// Messages from one sender arrive in send order (unbounded).
#[test]
fn fifo_per_sender_unbounded() {
    m::fifo_per_sender_unbounded();
}

/// A send wakes a parked receiver, even after its waker changed between polls.
#[test]
fn receiver_woken_after_waker_change() {
    m::receiver_woken_after_waker_change();
}

/// A sender waiting on a full mailbox is woken by a receive.
#[test]
fn sender_woken_by_receive() {
    m::sender_woken_by_receive();
}

/// A send cancelled while waiting passes on its wake-up: the other waiting sender completes.
#[test]
fn cancelled_send_passes_on_its_wakeup() {
    m::cancelled_send_passes_on_its_wakeup();
}

/// A `Bounded<Block>` mailbox of capacity 2 (batches of two) never holds more than its capacity.
#[test]
fn capacity_never_exceeded_block_batch() {
    m::capacity_never_exceeded::<Block>(2, 4);
}

/// A `Bounded<DropOldest>` mailbox of capacity 2 never holds more than its capacity.
#[test]
fn capacity_never_exceeded_drop_oldest_2() {
    m::capacity_never_exceeded::<DropOldest>(2, 4);
}

/// Room that appears while a sender waits reaches it, without waiting for more receives.
#[test]
fn waiting_sender_woken_when_room_appears() {
    m::waiting_sender_woken_when_room_appears();
}

/// Close wakes every waiting sender and the receiver; each send is received or handed back.
#[test]
fn close_wakes_waiters_and_linearizes_with_send() {
    m::close_wakes_waiters_and_linearizes_with_send();
}

/// Close wakes a receiver parked on an empty mailbox, which then sees the end.
#[test]
fn close_wakes_parked_receiver() {
    m::close_wakes_parked_receiver();
}

/// `DropOldest` evicts exactly the oldest queued message and counts it once.
#[test]
fn drop_oldest_evicts_the_oldest_and_counts_it() {
    m::drop_oldest_evicts_the_oldest_and_counts_it();
}

/// `DropNewest` drops exactly the message being sent and counts it once.
#[test]
fn drop_newest_drops_the_new_message_and_counts_it() {
    m::drop_newest_drops_the_new_message_and_counts_it();
}

/// `Reject` hands the new message back and drops nothing.
#[test]
fn reject_hands_the_message_back() {
    m::reject_hands_the_message_back();
}

/// A batch given back goes to the front of the mailbox and frees the room of what was handed
/// out, racing a waiting sender.
#[test]
fn given_back_batch_goes_first_and_frees_room() {
    m::given_back_batch_goes_first_and_frees_room();
}
