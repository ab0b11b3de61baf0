//! Proof that the models can fail: each test switches on one fault in core (a deliberately
//! broken primitive), reruns the model that guards it in a child process, and asserts that loom
//! reported a violation.
//!
//! A child process, because loom 0.7 aborts the process (a panic while panicking) when it
//! detects a deadlock while loom objects are still alive on the unwinding stack, which is how
//! most lost wake-ups show up; `catch_unwind` cannot survive that. The children are the
//! `#[ignore]`d `child_*` tests below, run only by their parent.
//!
//! Build with `--features faults` (see the README).
#![cfg(all(playhouse_loom, feature = "faults"))]

use std::process::Command;

use playhouse_core::faults::{Fault, enable};
use playhouse_loom_tests::models::{
    actor, close, control, ending, handler, incarnation, keyed, link, mailbox, monitor, priority,
    pubsub, registry, reply, restart, shutdown_gate, streams, timers,
};

/// Runs the `#[ignore]`d test `child` of this binary in a child process and asserts that it
/// failed with a panic whose message contains `expected`; prints that message.
fn assert_caught(child: &str, expected: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "{child}: the model passed with the fault switched on:\n{text}"
    );
    let mut lines = text.lines().skip_while(|l| !l.contains("panicked at"));
    let first = lines.nth(1).unwrap_or("<no panic message>");
    eprintln!("{child}: loom reported: {first}");
    assert!(
        first.contains(expected),
        "{child}: expected {expected:?}, got:\n{text}"
    );
}

/// Fault: a push forgets the parked receiver's waker; the lost wake-up model catches it.
#[test]
fn skip_receiver_wake_is_caught() {
    assert_caught("child_skip_receiver_wake", "deadlock");
}

/// Fault: close forgets the waiting senders; the close model catches it.
#[test]
fn close_skips_senders_is_caught() {
    assert_caught("child_close_skips_senders", "deadlock");
}

/// Fault: DropOldest evicts the newest queued message; the overflow model catches it.
#[test]
fn drop_oldest_drops_newest_is_caught() {
    assert_caught("child_drop_oldest_drops_newest", "DropOldest dropped");
}

/// Fault: a send into a `Prioritized` mailbox jumps to the front of its level; the model of
/// two senders per level catches it.
#[test]
fn priority_jumps_its_level_is_caught() {
    assert_caught("child_priority_jumps_its_level", "out of order");
}

/// Fault: the receiver keeps counting a taken message against the capacity; the model of a
/// sender woken by a receive catches it.
#[test]
fn receiver_keeps_capacity_is_caught() {
    assert_caught("child_receiver_keeps_capacity", "deadlock");
}

/// Fault: a dropped reply port leaves its asker pending; the reply model catches it.
#[test]
fn reply_drop_silent_is_caught() {
    assert_caught("child_reply_drop_silent", "deadlock");
}

/// Fault: a push forgets the parked receiver's waker; the actor-level stop model catches it.
#[test]
fn skip_receiver_wake_is_caught_by_an_actor_model() {
    assert_caught("child_skip_receiver_wake_actor", "deadlock");
}

/// Fault: a dropped reply port leaves its asker pending; the ask-versus-kill model catches it.
#[test]
fn reply_drop_silent_is_caught_by_an_actor_model() {
    assert_caught("child_reply_drop_silent_actor", "deadlock");
}

/// Fault: a suspended handler leaves no waker for a kill; the kill-while-suspended model
/// catches the lost wake-up.
#[test]
fn kill_watch_skips_waker_is_caught() {
    assert_caught("child_kill_watch_skips_waker", "deadlock");
}

/// Fault: the self-ask check takes any running actor for the one asked; the model of a handler
/// asking another actor catches it.
#[test]
fn self_ask_matches_any_actor_is_caught() {
    assert_caught("child_self_ask_matches_any_actor", "misfired");
}

/// Fault: as above; the model of two actors sharing one worker thread catches it too.
#[test]
fn self_ask_matches_any_actor_is_caught_on_a_shared_worker() {
    assert_caught("child_self_ask_matches_any_actor_one_worker", "misfired");
}

/// Fault: `try_send` checks for a close and pushes in two critical sections; the model of
/// `try_send` racing a close catches the message let in behind the final drain (`DropOldest`).
#[test]
fn try_send_checks_close_apart_is_caught() {
    assert_caught(
        "child_try_send_checks_close_apart",
        "neither received nor counted",
    );
}

/// Fault: as above; the `Reject` variant of the model catches it too.
#[test]
fn try_send_checks_close_apart_is_caught_under_reject() {
    assert_caught(
        "child_try_send_checks_close_apart_reject",
        "neither received nor counted",
    );
}

/// Fault: giving a batch back forgets the hand-outs made from it; the restart model (a batch of
/// three, the second one handed out without the lock) catches the room it keeps.
#[test]
fn give_back_forgets_hand_outs_is_caught() {
    assert_caught(
        "child_give_back_forgets_hand_outs",
        "messages waiting after the restart",
    );
}

/// Fault: a timed-out send drops the request it still held; the timed-ask model catches the
/// request that was neither handled nor handed back.
#[test]
fn timed_out_send_drops_request_is_caught() {
    assert_caught(
        "child_timed_out_send_drops_request",
        "neither handled nor handed back",
    );
}

/// Fault: the runner handles a message it took after a kill; the model of messages queued
/// before a kill catches it.
#[test]
fn handle_after_kill_is_caught() {
    assert_caught("child_handle_after_kill", "after the kill");
}

/// Fault: when the executor drops the task, the finalizer leaves the mailbox open; the
/// executor-drop model catches it.
#[test]
fn task_drop_skips_discard_is_caught() {
    assert_caught(
        "child_task_drop_skips_discard",
        "a send after the end was accepted",
    );
}

/// Fault: a timer checks its cancel flag and enqueues in two critical sections; the one-shot
/// timer model, which now sees a late tick, catches it.
#[test]
fn timer_checks_cancel_apart_is_caught() {
    assert_caught(
        "child_timer_checks_cancel_apart",
        "queued after its timer's cancel returned",
    );
}

/// Fault: as above; the model of an interval cancelled by its actor catches it too.
#[test]
fn timer_checks_cancel_apart_is_caught_on_an_interval() {
    assert_caught(
        "child_timer_checks_cancel_apart_interval",
        "queued after its interval's cancel returned",
    );
}

/// Fault: as above; the model of a one-shot into a full `Reject` mailbox (the timer's path that
/// drops a tick it cannot enqueue) catches it too.
#[test]
fn timer_checks_cancel_apart_is_caught_on_a_reject_mailbox() {
    assert_caught(
        "child_timer_checks_cancel_apart_reject",
        "the message ended 2 ways",
    );
}

/// Fault: `myself()` hands out an uncounted reference; the model of references taken inside
/// the actor catches it. Its drop takes the count below zero, which wraps into the signal bits
/// of the same word: since the bits for ending an incarnation were added, the first failing
/// execution is an actor that ends `Killed` though nobody killed it (before, a send through a
/// live reference was refused first).
#[test]
fn myself_uncounted_is_caught() {
    assert_caught("child_myself_uncounted", "Killed");
}

/// Fault: a stop after a kill replaces the kill's reason; the kill-then-stop model catches it.
#[test]
fn stop_overrides_kill_is_caught() {
    assert_caught("child_stop_overrides_kill", "ended the actor with Shutdown");
}

/// Fault: `on_exit` registers the watcher in a second critical section; the model of a watcher
/// racing the end catches the watcher that is never called.
#[test]
fn watcher_added_apart_is_caught() {
    assert_caught("child_watcher_added_apart", "deadlock");
}

/// Fault: the end lets `wait()` resolve before the `on_exit` watchers have run; the model of a
/// wait racing the end catches a waiter that does not see the watcher's effect.
#[test]
fn wait_before_watchers_is_caught() {
    assert_caught(
        "child_wait_before_watchers",
        "wait resolved before the on_exit watcher had run",
    );
}

/// Fault: a kill that finds the mailbox closed by a stop forgets the suspended handler's waker;
/// the kill-after-stop model catches the actor that never ends.
#[test]
fn kill_after_stop_skips_wake_is_caught() {
    assert_caught("child_kill_after_stop_skips_wake", "deadlock");
}

/// Fault: a restart leaves the old incarnation's timers running; the model of a timer across a
/// restart catches the tick after the restart.
#[test]
fn timers_outlive_incarnation_is_caught() {
    assert_caught(
        "child_timers_outlive_incarnation",
        "delivered after the restart",
    );
}

/// Fault: `on_exit` (and so a monitor) registers its watcher in a second critical section;
/// the model of a monitor racing the end catches the watcher registered after the end (its
/// `Down` never comes, and a `demonitor` still finds it).
#[test]
fn watcher_added_apart_is_caught_by_a_monitor_model() {
    assert_caught(
        "child_watcher_added_apart_monitor",
        "demonitor after the end returned true",
    );
}

/// Fault: `remove_watcher` finds the watcher, then removes it in a second critical section and
/// reports `true` even if the end ran it meanwhile; the demonitor model catches the `Down`
/// after a `demonitor` that returned `true`.
#[test]
fn remove_watcher_checks_apart_is_caught() {
    assert_caught(
        "child_remove_watcher_checks_apart",
        "a Down came after demonitor returned true",
    );
}

/// Fault: a link's exit signal acts without claiming the link; the model of a signal racing
/// an unlink catches the `Exit` after an unlink that returned `true`.
#[test]
fn link_signal_unclaimed_is_caught() {
    assert_caught(
        "child_link_signal_unclaimed",
        "an exit signal acted after unlink returned true",
    );
}

/// Fault: `link` drops the signal of a side that ended before the other side's record of the
/// link was in place; the model of a link racing the end catches the lost signal.
#[test]
fn link_skips_ended_peer_is_caught() {
    assert_caught(
        "child_link_skips_ended_peer",
        "the linked actor's end was signalled 0 times",
    );
}

/// Fault: each end records a link however many times it is made; the model of two links made
/// at once catches the second record on each end.
#[test]
fn link_recorded_twice_is_caught() {
    assert_caught(
        "child_link_recorded_twice",
        "two links made at once left more than one record on an end",
    );
}

/// Fault: `monitor` does not look again whether its watcher ended meanwhile; the model of a
/// watcher ending while it monitors catches the monitor left on the target.
#[test]
fn monitor_kept_for_ended_watcher_is_caught() {
    assert_caught(
        "child_monitor_kept_for_ended_watcher",
        "the monitor of an ended watcher was left on its target",
    );
}

/// Fault: a message the ending incarnation took is dropped instead of put back; the model of
/// `end_incarnation` racing sends catches the lost message.
#[test]
fn put_back_drops_is_caught() {
    assert_caught("child_put_back_drops", "an accepted message was lost");
}

/// Fault: a control message that an ending incarnation took goes back among the user
/// messages; the drained restart discards it, and the model of a `Down` racing the end of the
/// incarnation waits for it for ever (loom reports the deadlock).
#[test]
fn control_put_back_as_user_is_caught() {
    assert_caught("child_control_put_back_as_user", "deadlock");
}

/// Fault: a stop checks the phase and sets it in two critical sections, overwriting an end in
/// between; the model of a stop racing the actor's failure catches the end undone (the wait
/// after it never resolves).
#[test]
fn stop_checks_phase_apart_is_caught() {
    assert_caught("child_stop_checks_phase_apart", "deadlock");
}

/// Fault: `stop_if_empty` looks at the mailbox and stops the actor in two critical sections;
/// the model of it racing a send catches a stop made with the message queued.
#[test]
fn stop_if_empty_checks_apart_is_caught() {
    assert_caught(
        "child_stop_if_empty_checks_apart",
        "the stop was made with a message queued behind it",
    );
}

/// Fault: a crash after `stop_after_queue` ends the actor as after a plain stop; the model of
/// the stop racing the crash catches the queued message discarded.
#[test]
fn stop_after_queue_ignored_is_caught() {
    assert_caught(
        "child_stop_after_queue_ignored",
        "the message queued behind the failure was lost",
    );
}

/// Fault: a control message is queued without raising the cell's control flag; the model of a
/// `Down` racing a batch of user messages catches it handled after one it should overtake.
#[test]
fn control_skips_flag_is_caught() {
    assert_caught(
        "child_control_skips_flag",
        "handled after the Down was queued",
    );
}

#[test]
#[ignore = "child process of control_skips_flag_is_caught"]
fn child_control_skips_flag() {
    enable(Fault::ControlSkipsFlag);
    control::down_overtakes_the_batch();
}

/// Fault: releasing a stream item's token forgets the forwarder's waker; the handshake model
/// catches the forwarder left waiting for a release that came (the stream's second item and
/// `Finished` never arrive).
#[test]
fn stream_ack_skips_wake_is_caught() {
    assert_caught("child_stream_ack_skips_wake", "deadlock");
}

/// Fault: a stream's forwarder checks its cancel flag and queues the item in two critical
/// sections; the model of a cancel racing a push catches the item queued after `cancel`
/// returned.
#[test]
fn stream_checks_cancel_apart_is_caught() {
    assert_caught(
        "child_stream_checks_cancel_apart",
        "queued after its stream's cancel returned",
    );
}

/// Fault: a stream's forwarder looks only for a stop or kill asked for before a pull, not at
/// the mailbox; the model of an actor that stops itself with an item queued catches the pull
/// made after that item's discard.
#[test]
fn stream_pulls_past_close_is_caught() {
    assert_caught(
        "child_stream_pulls_past_close",
        "pulled after an item was discarded unhandled",
    );
}

/// Fault (broker): the registry removes a name whoever owns it; the model of a stale
/// `unregister` racing a new registration catches the new owner removed (its lookup fails).
#[test]
fn registry_removes_any_owner_is_caught() {
    assert_caught(
        "child_registry_removes_any_owner",
        "the new actor is registered",
    );
}

#[test]
#[ignore = "child process of registry_removes_any_owner_is_caught"]
fn child_registry_removes_any_owner() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::RegistryRemovesAnyOwner);
    registry::dead_actor_never_unregisters_a_newer_one();
}

/// Fault (broker): a routed send that finds the key's mailbox closed drops its message and
/// reports it sent; the model of a message racing its key's passivation catches the message
/// handled by neither activation.
#[test]
fn keyed_closed_send_drops_is_caught() {
    assert_caught(
        "child_keyed_closed_send_drops",
        "message 1 was handled 0 times",
    );
}

#[test]
#[ignore = "child process of keyed_closed_send_drops_is_caught"]
fn child_keyed_closed_send_drops() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyedClosedSendDrops);
    keyed::message_racing_passivation_is_handled_once();
}

/// Fault (broker): a new activation leaves the asks its actor's `started` hook queued before the
/// activation recorded the actor in the key's queue; the model of a hook asking its own key
/// catches the hook waiting on its own mailbox (a deadlock).
#[test]
fn keyed_keeps_queued_own_asks_is_caught() {
    assert_caught("child_keyed_keeps_queued_own_asks", "deadlock");
}

#[test]
#[ignore = "child process of keyed_keeps_queued_own_asks_is_caught"]
fn child_keyed_keeps_queued_own_asks() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyedKeepsQueuedOwnAsks);
    keyed::started_hook_asking_its_own_key_is_refused();
}

/// Fault (broker): a timed ask that gives up takes its request out of the key's queue and drops
/// it; the model of a timed ask racing the activation catches the ask ending with neither its
/// request back nor the activation's word that it has it (its queue entry's port dropped
/// unanswered reads as a cancelled activation).
#[test]
fn keyed_withdraw_drops_is_caught() {
    assert_caught(
        "child_keyed_withdraw_drops",
        "the timed ask ended Err(\"the task activating key 0 was dropped",
    );
}

#[test]
#[ignore = "child process of keyed_withdraw_drops_is_caught"]
fn child_keyed_withdraw_drops() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyedWithdrawDrops);
    keyed::timed_ask_racing_activation_hands_back_or_delivers();
}

/// Fault (executors): the shutdown gate checks whether its runtime has shut down, lets go of its
/// lock, then polls the timer; the model of a timer polled while its runtime shuts down catches
/// the poll reaching a timer already shut down (which panics, in Tokio).
#[test]
fn gate_checks_then_polls_is_caught() {
    assert_caught(
        "child_gate_checks_then_polls",
        "a timer was polled after its runtime shut its timers down",
    );
}

#[test]
#[ignore = "child process of gate_checks_then_polls_is_caught"]
fn child_gate_checks_then_polls() {
    playhouse_executors::faults::enable(playhouse_executors::faults::Fault::GateChecksThenPolls);
    shutdown_gate::timer_racing_its_runtimes_shutdown_never_meets_it_shut_down();
}

/// Fault (executors): the gate, dropped with its executor, does not wake its waiting watcher;
/// the model catches the watcher task waiting for ever (a deadlock).
#[test]
fn gate_release_skips_wake_is_caught() {
    assert_caught("child_gate_release_skips_wake", "deadlock");
}

#[test]
#[ignore = "child process of gate_release_skips_wake_is_caught"]
fn child_gate_release_skips_wake() {
    playhouse_executors::faults::enable(playhouse_executors::faults::Fault::GateReleaseSkipsWake);
    shutdown_gate::watcher_ends_when_its_executor_is_gone();
}

/// Fault (broker): an ended activation's exit watcher removes the key's entry whichever
/// activation it belongs to; the passivation model catches the next activation's entry removed
/// with the racing message in it (the send fails, its message gone).
#[test]
fn keyed_retire_removes_any_is_caught() {
    assert_caught(
        "child_keyed_retire_removes_any",
        "a send racing a passivation failed",
    );
}

#[test]
#[ignore = "child process of keyed_retire_removes_any_is_caught"]
fn child_keyed_retire_removes_any() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyedRetireRemovesAny);
    keyed::message_racing_passivation_is_handled_once();
}

/// Fault (broker): the entry turns active without waking the senders waiting for the
/// hand-over to end; the model of a send racing the hand-over catches the sender left waiting.
#[test]
fn keyed_leaves_waiters_asleep_is_caught() {
    assert_caught("child_keyed_leaves_waiters_asleep", "deadlock");
}

#[test]
#[ignore = "child process of keyed_leaves_waiters_asleep_is_caught"]
fn child_keyed_leaves_waiters_asleep() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyedLeavesWaitersAsleep);
    keyed::a_send_racing_the_hand_over_is_handled_once();
}

/// Fault (broker): a handle's send that finds its cached activation's mailbox closed drops its
/// message and reports it sent, instead of taking the routed path; the model of a handle's send
/// racing its key's passivation catches the message handled by neither activation.
#[test]
fn key_ref_closed_send_drops_is_caught() {
    assert_caught(
        "child_key_ref_closed_send_drops",
        "message 1 was handled 0 times",
    );
}

#[test]
#[ignore = "child process of key_ref_closed_send_drops_is_caught"]
fn child_key_ref_closed_send_drops() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyRefClosedSendDrops);
    keyed::key_ref_send_racing_passivation_is_handled_once();
}

/// Fault (broker): the slow path looks for the key's entry and inserts a new activation in two
/// critical sections; the creation-race model catches the second activation of one key.
#[test]
fn keyed_activates_apart_is_caught() {
    assert_caught(
        "child_keyed_activates_apart",
        "two first messages made two activations of one key",
    );
}

#[test]
#[ignore = "child process of keyed_activates_apart_is_caught"]
fn child_keyed_activates_apart() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::KeyedActivatesApart);
    keyed::creation_race_makes_one_activation();
}

/// Fault (broker): an unsubscribe while a publish holds a snapshot of the topic's list changes
/// a copy that it drops; the model of a publish racing an unsubscribe catches the publish that
/// started after `unsubscribe` returned and still reached the subscriber.
#[test]
fn unsubscribe_edits_a_copy_is_caught() {
    assert_caught(
        "child_unsubscribe_edits_a_copy",
        "reached the unsubscribed subscriber",
    );
}

#[test]
#[ignore = "child process of unsubscribe_edits_a_copy_is_caught"]
fn child_unsubscribe_edits_a_copy() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::UnsubscribeEditsACopy);
    pubsub::publish_racing_unsubscribe_delivers_at_most_once();
}

/// Fault (broker): `subscribe` does not bump the table's version; the model of a publisher
/// racing a subscribe catches the publish ordered after `subscribe` returned that used the
/// publisher's stale cache and missed the new subscriber.
#[test]
fn publisher_skips_version_bump_is_caught() {
    assert_caught(
        "child_publisher_skips_version_bump",
        "a publish ordered after subscribe returned did not deliver to the new subscriber",
    );
}

#[test]
#[ignore = "child process of publisher_skips_version_bump_is_caught"]
fn child_publisher_skips_version_bump() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::PublisherSkipsVersionBump);
    pubsub::publisher_racing_subscribe_sees_it_once_it_returned();
}

/// Fault (broker): a registered actor's exit watcher leaves its record of names behind; the
/// model of names taken while the actor ends catches the name taken after the end, left behind.
#[test]
fn registry_forget_keeps_record_is_caught() {
    assert_caught(
        "child_registry_forget_keeps_record",
        "a name of the ended actor was left behind",
    );
}

#[test]
#[ignore = "child process of registry_forget_keeps_record_is_caught"]
fn child_registry_forget_keeps_record() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::RegistryForgetKeepsRecord);
    registry::a_name_taken_while_the_actor_ends_is_removed();
}

/// Fault (broker): a subscribed actor's exit watcher leaves it marked as watched; the model of
/// a subscribe racing the actor's end catches the subscription made after the end, left behind.
#[test]
fn exit_keeps_actor_watched_is_caught() {
    assert_caught(
        "child_exit_keeps_actor_watched",
        "a subscription of an ended actor was left behind",
    );
}

#[test]
#[ignore = "child process of exit_keeps_actor_watched_is_caught"]
fn child_exit_keeps_actor_watched() {
    playhouse_broker::faults::enable(playhouse_broker::faults::Fault::ExitKeepsActorWatched);
    pubsub::subscribe_racing_the_end_leaves_nothing_behind();
}

#[test]
#[ignore = "child process of watcher_added_apart_is_caught_by_a_monitor_model"]
fn child_watcher_added_apart_monitor() {
    enable(Fault::WatcherAddedApart);
    monitor::down_is_delivered_once_whichever_comes_first();
}

#[test]
#[ignore = "child process of remove_watcher_checks_apart_is_caught"]
fn child_remove_watcher_checks_apart() {
    enable(Fault::RemoveWatcherChecksApart);
    monitor::demonitor_racing_the_end_takes_the_down_back_or_reports_it_sent();
}

#[test]
#[ignore = "child process of link_signal_unclaimed_is_caught"]
fn child_link_signal_unclaimed() {
    enable(Fault::LinkSignalUnclaimed);
    link::signal_racing_unlink_acts_once_or_never();
}

#[test]
#[ignore = "child process of link_skips_ended_peer_is_caught"]
fn child_link_skips_ended_peer() {
    enable(Fault::LinkSkipsEndedPeer);
    link::link_racing_the_end_signals_once();
}

#[test]
#[ignore = "child process of link_recorded_twice_is_caught"]
fn child_link_recorded_twice() {
    enable(Fault::LinkRecordedTwice);
    link::two_links_at_once_make_one();
}

#[test]
#[ignore = "child process of monitor_kept_for_ended_watcher_is_caught"]
fn child_monitor_kept_for_ended_watcher() {
    enable(Fault::MonitorKeptForEndedWatcher);
    monitor::a_watcher_ending_while_it_monitors_leaves_nothing_behind();
}

#[test]
#[ignore = "child process of put_back_drops_is_caught"]
fn child_put_back_drops() {
    enable(Fault::PutBackDrops);
    incarnation::end_incarnation_racing_sends_handles_each_message_once();
}

#[test]
#[ignore = "child process of control_put_back_as_user_is_caught"]
fn child_control_put_back_as_user() {
    enable(Fault::ControlPutBackAsUser);
    control::down_racing_the_end_of_the_incarnation_is_handled_once();
}

#[test]
#[ignore = "child process of stop_checks_phase_apart_is_caught"]
fn child_stop_checks_phase_apart() {
    enable(Fault::StopChecksPhaseApart);
    incarnation::stop_racing_the_failure_reports_one_reason();
}

#[test]
#[ignore = "child process of stop_if_empty_checks_apart_is_caught"]
fn child_stop_if_empty_checks_apart() {
    enable(Fault::StopIfEmptyChecksApart);
    close::stop_if_empty_racing_a_send_lets_one_win();
}

#[test]
#[ignore = "child process of stop_after_queue_ignored_is_caught"]
fn child_stop_after_queue_ignored() {
    enable(Fault::StopAfterQueueIgnored);
    restart::stop_after_queue_racing_a_crash_loses_nothing();
}

#[test]
#[ignore = "child process of skip_receiver_wake_is_caught"]
fn child_skip_receiver_wake() {
    enable(Fault::SkipReceiverWake);
    mailbox::receiver_woken_after_waker_change();
}

#[test]
#[ignore = "child process of close_skips_senders_is_caught"]
fn child_close_skips_senders() {
    enable(Fault::CloseSkipsSenders);
    mailbox::close_wakes_waiters_and_linearizes_with_send();
}

#[test]
#[ignore = "child process of drop_oldest_drops_newest_is_caught"]
fn child_drop_oldest_drops_newest() {
    enable(Fault::DropOldestDropsNewest);
    mailbox::drop_oldest_evicts_the_oldest_and_counts_it();
}

#[test]
#[ignore = "child process of priority_jumps_its_level_is_caught"]
fn child_priority_jumps_its_level() {
    enable(Fault::PriorityJumpsItsLevel);
    priority::fifo_within_a_level_with_two_senders();
}

#[test]
#[ignore = "child process of receiver_keeps_capacity_is_caught"]
fn child_receiver_keeps_capacity() {
    enable(Fault::ReceiverKeepsCapacity);
    mailbox::sender_woken_by_receive();
}

#[test]
#[ignore = "child process of reply_drop_silent_is_caught"]
fn child_reply_drop_silent() {
    enable(Fault::ReplyDropSilent);
    reply::reply_dropped_resolves_the_asker();
}

#[test]
#[ignore = "child process of skip_receiver_wake_is_caught_by_an_actor_model"]
fn child_skip_receiver_wake_actor() {
    enable(Fault::SkipReceiverWake);
    actor::stop_racing_tells_handles_every_accepted_message();
}

#[test]
#[ignore = "child process of reply_drop_silent_is_caught_by_an_actor_model"]
fn child_reply_drop_silent_actor() {
    enable(Fault::ReplyDropSilent);
    actor::ask_resolves_once_when_actor_is_killed();
}

#[test]
#[ignore = "child process of kill_watch_skips_waker_is_caught"]
fn child_kill_watch_skips_waker() {
    enable(Fault::KillWatchSkipsWaker);
    handler::kill_cuts_a_suspended_handler();
}

#[test]
#[ignore = "child process of self_ask_matches_any_actor_is_caught"]
fn child_self_ask_matches_any_actor() {
    enable(Fault::SelfAskMatchesAnyActor);
    handler::ask_from_a_handler_reaches_another_actor();
}

#[test]
#[ignore = "child process of self_ask_matches_any_actor_is_caught_on_a_shared_worker"]
fn child_self_ask_matches_any_actor_one_worker() {
    enable(Fault::SelfAskMatchesAnyActor);
    handler::ask_between_actors_sharing_one_worker();
}

#[test]
#[ignore = "child process of try_send_checks_close_apart_is_caught"]
fn child_try_send_checks_close_apart() {
    enable(Fault::TrySendChecksCloseApart);
    close::try_send_racing_close_drop_oldest();
}

#[test]
#[ignore = "child process of try_send_checks_close_apart_is_caught_under_reject"]
fn child_try_send_checks_close_apart_reject() {
    enable(Fault::TrySendChecksCloseApart);
    close::try_send_racing_close_reject();
}

#[test]
#[ignore = "child process of give_back_forgets_hand_outs_is_caught"]
fn child_give_back_forgets_hand_outs() {
    enable(Fault::GiveBackForgetsHandOuts);
    restart::restart_gives_back_the_batch_then_last_ref_dropped();
}

#[test]
#[ignore = "child process of timed_out_send_drops_request_is_caught"]
fn child_timed_out_send_drops_request() {
    enable(Fault::TimedOutSendDropsRequest);
    timers::timed_out_ask_hands_back_a_request_that_never_entered();
}

#[test]
#[ignore = "child process of handle_after_kill_is_caught"]
fn child_handle_after_kill() {
    enable(Fault::HandleAfterKill);
    ending::kill_discards_what_was_queued_before_it();
}

#[test]
#[ignore = "child process of task_drop_skips_discard_is_caught"]
fn child_task_drop_skips_discard() {
    enable(Fault::TaskDropSkipsDiscard);
    ending::executor_dropping_the_task_ends_the_actor_once();
}

#[test]
#[ignore = "child process of timer_checks_cancel_apart_is_caught"]
fn child_timer_checks_cancel_apart() {
    enable(Fault::TimerChecksCancelApart);
    actor::cancelled_timer_never_delivers();
}

#[test]
#[ignore = "child process of timer_checks_cancel_apart_is_caught_on_an_interval"]
fn child_timer_checks_cancel_apart_interval() {
    enable(Fault::TimerChecksCancelApart);
    timers::cancelled_interval_delivers_nothing_more();
}

#[test]
#[ignore = "child process of timer_checks_cancel_apart_is_caught_on_a_reject_mailbox"]
fn child_timer_checks_cancel_apart_reject() {
    enable(Fault::TimerChecksCancelApart);
    timers::a_one_shot_into_a_full_reject_mailbox_ends_one_way();
}

#[test]
#[ignore = "child process of myself_uncounted_is_caught"]
fn child_myself_uncounted() {
    enable(Fault::MyselfUncounted);
    ending::references_from_inside_the_actor_count();
}

#[test]
#[ignore = "child process of stop_overrides_kill_is_caught"]
fn child_stop_overrides_kill() {
    enable(Fault::StopOverridesKill);
    ending::kill_then_stop_ends_killed();
}

#[test]
#[ignore = "child process of wait_before_watchers_is_caught"]
fn child_wait_before_watchers() {
    enable(Fault::WaitBeforeWatchers);
    ending::wait_resolves_after_the_watchers();
}

#[test]
#[ignore = "child process of watcher_added_apart_is_caught"]
fn child_watcher_added_apart() {
    enable(Fault::WatcherAddedApart);
    ending::on_exit_racing_the_end_is_called_once();
}

#[test]
#[ignore = "child process of kill_after_stop_skips_wake_is_caught"]
fn child_kill_after_stop_skips_wake() {
    enable(Fault::KillAfterStopSkipsWake);
    ending::kill_after_stop_cuts_a_suspended_handler();
}

#[test]
#[ignore = "child process of timers_outlive_incarnation_is_caught"]
fn child_timers_outlive_incarnation() {
    enable(Fault::TimersOutliveIncarnation);
    restart::timers_do_not_survive_a_restart();
}

#[test]
#[ignore = "child process of stream_ack_skips_wake_is_caught"]
fn child_stream_ack_skips_wake() {
    enable(Fault::StreamAckSkipsWake);
    streams::one_item_in_flight_and_every_item_handled();
}

#[test]
#[ignore = "child process of stream_pulls_past_close_is_caught"]
fn child_stream_pulls_past_close() {
    enable(Fault::StreamPullsPastClose);
    streams::self_stop_pulls_nothing_once_the_mailbox_closed();
}

#[test]
#[ignore = "child process of stream_checks_cancel_apart_is_caught"]
fn child_stream_checks_cancel_apart() {
    enable(Fault::StreamChecksCancelApart);
    streams::cancel_racing_a_push_lets_nothing_in_after_it();
}
