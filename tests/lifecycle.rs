//! stop/kill, weak references, lifecycle hooks and restarts, on every executor.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::pin::pin;
use ::std::sync::atomic::Ordering;
use ::std::sync::{Arc, Mutex};

use common::*;
use futures::channel::oneshot;
use futures::poll;
use playhouse::mailbox::{Block, Bounded};
use playhouse::prelude::*;
use playhouse::{ActorId, Next, Supervision};

async fn stop_drains_the_queue<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 1..=10 {
        actor.tell(Msg::Item(n)).await.expect("tell");
    }
    let weak = actor.downgrade();
    actor.stop();
    assert!(actor.is_alive(), "still draining");
    assert!(
        weak.upgrade().is_none(),
        "a stopping actor cannot be upgraded to"
    );
    // Sends after stop fail with Closed and hand the message back.
    match actor.tell(Msg::Item(11)).await {
        Err(SendError::Closed(Msg::Item(11))) => {}
        other => panic!("expected Closed(Item(11)), got {other:?}"),
    }
    match actor.try_tell(Msg::Item(12)) {
        Err(SendError::Closed(Msg::Item(12))) => {}
        other => panic!("expected Closed(Item(12)), got {other:?}"),
    }
    gate.open();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert!(reason.is_normal());
    assert_eq!(seen(&seen_by_actor), (1..=10).collect::<Vec<_>>());
    assert_eq!(actor.discarded_count(), 0);
    assert!(!actor.is_alive());
}

async fn stop_with_reason<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    actor.stop_with("maintenance");
    match within(&exec, LONG, actor.wait()).await {
        ExitReason::Shutdown(Some(info)) => assert_eq!(&*info, "maintenance"),
        other => panic!("expected Shutdown(maintenance), got {other:?}"),
    }
}

async fn kill_discards_the_queue<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 1..=10 {
        actor.tell(Msg::Item(n)).await.expect("tell");
    }
    let mut queued_ask = pin!(actor.ask(Msg::Get));
    assert!(poll!(queued_ask.as_mut()).is_pending());
    actor.kill();
    match actor.tell(Msg::Item(11)).await {
        Err(SendError::Closed(Msg::Item(11))) => {}
        other => panic!("expected Closed(Item(11)), got {other:?}"),
    }
    gate.open();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Killed), "{reason:?}");
    assert!(!reason.is_normal());
    match within(&exec, LONG, queued_ask).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("expected NoReply(Stopped), got {other:?}"),
    }
    assert_eq!(
        seen(&seen_by_actor),
        Vec::<u32>::new(),
        "nothing queued is handled after a kill"
    );
    assert_eq!(actor.discarded_count(), 11);
}

async fn kill_idle_actor<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    within(&exec, LONG, actor.ask(Msg::Get))
        .await
        .expect("running");
    actor.kill();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Killed
    ));
    assert_eq!(actor.discarded_count(), 0);
}

async fn waiting_sender_is_woken_with_closed_on_stop<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("room for one");
    let waiting = waiting_tell(&exec, &actor, Msg::Item(7)).await;
    actor.stop();
    match within(&exec, LONG, waiting)
        .await
        .expect("the sender finished")
    {
        Err(SendError::Closed(Msg::Item(7))) => {}
        other => panic!("expected Closed(Item(7)), got {other:?}"),
    }
    gate.open();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        seen(&seen_by_actor),
        vec![1],
        "the queued message was drained, the waiting one not"
    );
}

async fn waiting_sender_is_woken_with_closed_when_actor_panics<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    let mut panicking = pin!(actor.ask(Msg::Panic));
    assert!(poll!(panicking.as_mut()).is_pending());
    actor.tell(Msg::Item(1)).await.expect("room for one more");
    let waiting = waiting_tell(&exec, &actor, Msg::Item(7)).await;
    gate.open();
    // Once the Hold is done, room is made and the waiting tell enters the mailbox; the panic
    // then discards it. Either way the tell resolves; it must not hang.
    let sent = within(&exec, LONG, waiting)
        .await
        .expect("the sender finished");
    assert!(matches!(
        within(&exec, LONG, panicking).await,
        Err(AskError::NoReply(NoReply::Panicked))
    ));
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "boom");
    match sent {
        // It got in before the actor ended: discarded with the backlog.
        Ok(()) => assert_eq!(actor.discarded_count(), 2),
        Err(SendError::Closed(Msg::Item(7))) => assert_eq!(actor.discarded_count(), 1),
        other => panic!("expected Ok or Closed(Item(7)), got {other:?}"),
    }
}

async fn weak_ref_does_not_keep_actor_alive<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 1..=5 {
        actor.tell(Msg::Item(n)).await.expect("tell");
    }
    let weak = actor.downgrade();
    let again = weak.upgrade().expect("a strong reference exists");
    assert_eq!(again, actor);
    drop(again);
    drop(actor);
    assert!(
        weak.upgrade().is_none(),
        "the last strong reference is gone"
    );
    assert!(weak.is_alive(), "still draining");
    gate.open();
    let reason = within(&exec, LONG, weak.wait()).await;
    assert!(matches!(reason, ExitReason::Normal), "{reason:?}");
    assert_eq!(
        seen(&seen_by_actor),
        vec![1, 2, 3, 4, 5],
        "the backlog was drained"
    );
    assert!(!weak.is_alive());
    assert!(weak.upgrade().is_none());
}

async fn started_runs_before_first_message_and_stopped_gets_reason<E: Executor>(exec: E) {
    let log_ = Log::default();
    let (open, start_gate) = oneshot::channel();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: log_.clone(),
        start_gate: Some(start_gate),
        ..Hooks::default()
    });
    // Queued while `started` is still running.
    actor.tell(HookMsg::Item(1)).await.expect("tell");
    actor.tell(HookMsg::Item(2)).await.expect("tell");
    assert!(log(&log_).is_empty());
    let _ = open.send(());
    within(&exec, LONG, actor.ask(HookMsg::Ping))
        .await
        .expect("ping");
    actor.stop();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        log(&log_),
        ["started", "msg 1", "msg 2", "stopped Shutdown"]
    );
}

async fn stopped_is_told_failed_and_panicked<E: Executor>(exec: E) {
    let failing = Log::default();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: failing.clone(),
        ..Hooks::default()
    });
    actor.tell(HookMsg::Item(1)).await.expect("tell");
    actor.tell(HookMsg::Fail).await.expect("tell");
    assert_failed_with(&within(&exec, LONG, actor.wait()).await, &FAIL);
    assert_eq!(
        log(&failing),
        [
            "started",
            "msg 1",
            "stopped Failed(\"test error: failed on purpose\")"
        ]
    );

    let panicking = Log::default();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: panicking.clone(),
        ..Hooks::default()
    });
    actor.tell(HookMsg::Panic).await.expect("tell");
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "hook boom");
    assert_eq!(
        log(&panicking),
        ["started", "stopped Panicked(\"hook boom\")"]
    );
}

async fn ctx_stop_ends_normal_and_discards_the_rest<E: Executor>(exec: E) {
    let log_ = Log::default();
    let (open, start_gate) = oneshot::channel();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: log_.clone(),
        start_gate: Some(start_gate),
        ..Hooks::default()
    });
    actor.tell(HookMsg::Item(1)).await.expect("tell");
    actor.tell(HookMsg::StopSelf).await.expect("tell");
    actor.tell(HookMsg::Item(2)).await.expect("tell");
    let mut queued_ask = pin!(actor.ask(HookMsg::Ping));
    assert!(poll!(queued_ask.as_mut()).is_pending());
    let _ = open.send(());
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Normal
    ));
    match within(&exec, LONG, queued_ask).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("expected NoReply(Stopped), got {other:?}"),
    }
    assert_eq!(log(&log_), ["started", "msg 1", "stopped Normal"]);
    assert_eq!(actor.discarded_count(), 2);
}

async fn failing_started_handles_no_message<E: Executor>(exec: E) {
    let log_ = Log::default();
    let (open, start_gate) = oneshot::channel();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: log_.clone(),
        start_gate: Some(start_gate),
        fail_start: true,
        ..Hooks::default()
    });
    actor.tell(HookMsg::Item(1)).await.expect("tell");
    let mut queued_ask = pin!(actor.ask(HookMsg::Ping));
    assert!(poll!(queued_ask.as_mut()).is_pending());
    let _ = open.send(());
    assert_failed_with(&within(&exec, LONG, actor.wait()).await, &START_FAIL);
    match within(&exec, LONG, queued_ask).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("expected NoReply(Stopped), got {other:?}"),
    }
    assert_eq!(
        log(&log_),
        [
            "started-failed",
            "stopped Failed(\"test error: start failed\")"
        ]
    );
    assert_eq!(actor.discarded_count(), 2);
}

async fn restart_keeps_reference_and_queued_messages<E: Executor>(exec: E) {
    let inc_log = IncLog::default();
    let reasons: Log = Log::default();
    let (policy_log, policy_reasons) = (inc_log.clone(), reasons.clone());
    let mut restarts = 0;
    let actor = System::new(exec.clone()).spawn_restartable(
        Phoenix {
            log: inc_log.clone(),
        },
        move |reason: &ExitReason| {
            policy_reasons.lock().unwrap().push(format!("{reason:?}"));
            if restarts < 2 {
                restarts += 1;
                Some(Phoenix {
                    log: policy_log.clone(),
                })
            } else {
                None
            }
        },
    );
    let exits = counter();
    let final_reason = Arc::new(Mutex::new(None));
    let (exited_tx, exited_rx) = oneshot::channel();
    {
        let (exits, final_reason) = (exits.clone(), final_reason.clone());
        let mut exited_tx = Some(exited_tx);
        actor.on_exit(move |_id, reason| {
            exits.fetch_add(1, Ordering::SeqCst);
            *final_reason.lock().unwrap() = Some(format!("{reason:?}"));
            if let Some(tx) = exited_tx.take() {
                let _ = tx.send(());
            }
        });
    }

    // Incarnation 1 is busy; a panic and three messages queue behind it.
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, actor.ask(|r| PhoenixMsg::Hold(r, gate)))
        .await
        .expect("held");
    actor.tell(PhoenixMsg::Panic).await.expect("tell");
    actor.tell(PhoenixMsg::Item(1)).await.expect("tell");
    actor.tell(PhoenixMsg::Item(2)).await.expect("tell");
    let mut incarnation = pin!(actor.ask(PhoenixMsg::Incarnation));
    assert!(poll!(incarnation.as_mut()).is_pending());
    let _ = open.send(());
    assert_eq!(
        within(&exec, LONG, incarnation)
            .await
            .expect("answered by incarnation 2"),
        2
    );
    assert_eq!(
        *inc_log.lock().unwrap(),
        [(2, 1), (2, 2)],
        "the queued messages survived the restart"
    );
    assert!(actor.is_alive());
    assert_eq!(count(&exits), 0, "no exit is reported for a restart");

    // The same reference reaches incarnation 3 after another panic.
    actor.tell(PhoenixMsg::Panic).await.expect("tell");
    actor.tell(PhoenixMsg::Item(3)).await.expect("tell");
    assert_eq!(
        within(&exec, LONG, actor.ask(PhoenixMsg::Incarnation))
            .await
            .expect("ask"),
        3
    );
    assert_eq!(*inc_log.lock().unwrap(), [(2, 1), (2, 2), (3, 3)]);
    assert_eq!(count(&exits), 0);

    // The third panic exhausts the policy: the actor ends, reporting it once.
    actor.tell(PhoenixMsg::Panic).await.expect("tell");
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "phoenix boom");
    within(&exec, LONG, exited_rx)
        .await
        .expect("watcher called");
    assert_eq!(count(&exits), 1);
    assert_eq!(
        final_reason.lock().unwrap().as_deref(),
        Some("Panicked(\"phoenix boom\")")
    );
    assert_eq!(log(&reasons), ["Panicked(\"phoenix boom\")"; 3]);
    assert!(
        actor
            .tell(PhoenixMsg::Item(4))
            .await
            .unwrap_err()
            .is_closed()
    );
    // A watcher added after the end runs at once, and the first one is not called again.
    let late = counter();
    let late2 = late.clone();
    actor.on_exit(move |_, _| {
        late2.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(count(&late), 1);
    assert_eq!(count(&exits), 1);
}

async fn no_restart_after_stop<E: Executor>(exec: E) {
    let inc_log = IncLog::default();
    let policy_calls = counter();
    let calls = policy_calls.clone();
    let policy_log = inc_log.clone();
    let actor = System::new(exec.clone()).spawn_restartable(
        Phoenix {
            log: inc_log.clone(),
        },
        move |_: &ExitReason| {
            calls.fetch_add(1, Ordering::SeqCst);
            Some(Phoenix {
                log: policy_log.clone(),
            })
        },
    );
    actor.tell(PhoenixMsg::Item(1)).await.expect("tell");
    actor.stop();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(count(&policy_calls), 0, "a requested stop is final");
    assert_eq!(*inc_log.lock().unwrap(), [(1, 1)]);
}
async fn kill_after_stop_discards_the_rest<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 1..=5 {
        actor.tell(Msg::Item(n)).await.expect("tell");
    }
    actor.stop();
    actor.kill();
    gate.open();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Killed
    ));
    assert_eq!(seen(&seen_by_actor), Vec::<u32>::new());
    assert_eq!(actor.discarded_count(), 5);
}

async fn waiting_sender_is_woken_with_closed_on_kill<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("room for one");
    let waiting = waiting_tell(&exec, &actor, Msg::Item(7)).await;
    actor.kill();
    match within(&exec, LONG, waiting)
        .await
        .expect("the sender finished")
    {
        Err(SendError::Closed(Msg::Item(7))) => {}
        other => panic!("expected Closed(Item(7)), got {other:?}"),
    }
    gate.open();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Killed
    ));
    assert_eq!(actor.discarded_count(), 1);
}

async fn every_waiter_is_told_the_exit<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let mut told = Vec::new();
    for _ in 0..3 {
        let weak = actor.downgrade();
        let (tx, rx) = oneshot::channel();
        exec.spawn(async move {
            let _ = tx.send(format!("{:?}", weak.wait().await));
        });
        told.push(rx);
    }
    let (watched_tx, watched_rx) = oneshot::channel();
    let mut watched_tx = Some(watched_tx);
    actor.on_exit(move |_, reason| {
        if let Some(tx) = watched_tx.take() {
            let _ = tx.send(format!("{reason:?}"));
        }
    });
    within(&exec, LONG, actor.ask(Msg::Get))
        .await
        .expect("running");
    actor.stop_with("bye");
    actor.stop();
    for rx in told {
        assert_eq!(
            within(&exec, LONG, rx).await.expect("waiter told"),
            "Shutdown(\"bye\")"
        );
    }
    assert_eq!(
        within(&exec, LONG, watched_rx).await.expect("watcher told"),
        "Shutdown(\"bye\")"
    );
    assert!(
        matches!(actor.exit_reason(), Some(ExitReason::Shutdown(Some(_)))),
        "the first stop's reason wins"
    );
}

async fn panic_in_started_handles_no_message<E: Executor>(exec: E) {
    let log_ = Log::default();
    let (open, start_gate) = oneshot::channel();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: log_.clone(),
        start_gate: Some(start_gate),
        panic_in_started: true,
        ..Hooks::default()
    });
    actor.tell(HookMsg::Item(1)).await.expect("tell");
    let mut queued_ask = pin!(actor.ask(HookMsg::Ping));
    assert!(poll!(queued_ask.as_mut()).is_pending());
    let _ = open.send(());
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "started boom");
    match within(&exec, LONG, queued_ask).await {
        Err(AskError::NoReply(NoReply::Stopped)) => {}
        other => panic!("expected NoReply(Stopped), got {other:?}"),
    }
    assert_eq!(log(&log_), ["stopped Panicked(\"started boom\")"]);
    assert_eq!(actor.discarded_count(), 2);
}

async fn panic_in_stopped_is_reported<E: Executor>(exec: E) {
    let log_ = Log::default();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: log_.clone(),
        panic_in_stopped: true,
        ..Hooks::default()
    });
    within(&exec, LONG, actor.ask(HookMsg::Ping))
        .await
        .expect("ping");
    actor.stop();
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "stopped boom");
    assert_eq!(log(&log_), ["started", "stopped Shutdown"]);
}

async fn ctx_stop_in_started_handles_no_message<E: Executor>(exec: E) {
    let log_ = Log::default();
    let (open, start_gate) = oneshot::channel();
    let actor = System::new(exec.clone()).spawn(Hooks {
        log: log_.clone(),
        start_gate: Some(start_gate),
        stop_in_started: true,
        ..Hooks::default()
    });
    actor.tell(HookMsg::Item(1)).await.expect("tell");
    let _ = open.send(());
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Normal
    ));
    assert_eq!(log(&log_), ["started", "stopped Normal"]);
    assert_eq!(actor.discarded_count(), 1);
}

async fn restart_policy_panic_ends_the_actor<E: Executor>(exec: E) {
    let actor = System::new(exec.clone()).spawn_restartable(
        Phoenix {
            log: IncLog::default(),
        },
        |_: &ExitReason| -> Option<Phoenix> { panic!("policy boom") },
    );
    actor.tell(PhoenixMsg::Panic).await.expect("tell");
    assert_panicked_with(
        &within(&exec, LONG, actor.wait()).await,
        "the restart policy panicked",
    );
}

async fn ctx_stop_with_restart_policy_starts_a_new_incarnation<E: Executor>(exec: E) {
    let inc_log = IncLog::default();
    let reasons = Log::default();
    let (policy_log, policy_reasons) = (inc_log.clone(), reasons.clone());
    let mut restarts = 0;
    let actor = System::new(exec.clone()).spawn_restartable(
        Phoenix {
            log: inc_log.clone(),
        },
        move |reason: &ExitReason| {
            policy_reasons.lock().unwrap().push(format!("{reason:?}"));
            restarts += 1;
            (restarts == 1).then(|| Phoenix {
                log: policy_log.clone(),
            })
        },
    );
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, actor.ask(|r| PhoenixMsg::Hold(r, gate)))
        .await
        .expect("held");
    actor.tell(PhoenixMsg::StopSelf).await.expect("tell");
    actor.tell(PhoenixMsg::Item(1)).await.expect("tell");
    actor.tell(PhoenixMsg::StopSelf).await.expect("tell");
    actor.tell(PhoenixMsg::Item(2)).await.expect("tell");
    let _ = open.send(());
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Normal
    ));
    assert_eq!(
        *inc_log.lock().unwrap(),
        [(2, 1)],
        "incarnation 2 got the queued message"
    );
    assert_eq!(log(&reasons), ["Normal", "Normal"]);
    assert_eq!(actor.discarded_count(), 1);
}

async fn stop_if_empty_stops_only_an_actor_with_nothing_queued<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    // Busy with a message: one queued refuses the stop, and the actor takes more.
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("tell");
    assert!(!actor.stop_if_empty_with("idle"));
    actor.tell(Msg::Item(2)).await.expect("still open");
    assert!(actor.is_alive());
    gate.open();
    within(&exec, LONG, actor.ask(Msg::Get))
        .await
        .expect("both handled");
    // Nothing queued now: the stop is made, and a send after it gets its message back.
    assert!(actor.stop_if_empty_with("idle"));
    match actor.try_tell(Msg::Item(3)) {
        Err(SendError::Closed(Msg::Item(3))) => {}
        other => panic!("expected Closed(Item(3)), got {other:?}"),
    }
    match within(&exec, LONG, actor.wait()).await {
        ExitReason::Shutdown(Some(info)) => assert_eq!(&*info, "idle"),
        other => panic!("expected Shutdown(idle), got {other:?}"),
    }
    assert_eq!(seen(&seen_by_actor), [1, 2]);
    // On an ended actor with an empty mailbox: `true`, and the exit is unchanged.
    assert!(actor.stop_if_empty());
    assert!(matches!(
        actor.exit_reason(),
        Some(ExitReason::Shutdown(Some(_)))
    ));
}

async fn stop_if_empty_lets_the_message_being_handled_finish<E: Executor>(exec: E) {
    let (rec, seen_by_actor) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    // A message being handled is not waiting: the stop is made, gracefully.
    let gate = hold(&exec, &actor).await;
    assert!(actor.stop_if_empty());
    match actor.try_tell(Msg::Item(1)) {
        Err(SendError::Closed(Msg::Item(1))) => {}
        other => panic!("expected Closed(Item(1)), got {other:?}"),
    }
    assert!(actor.is_alive(), "the held handler is still running");
    gate.open();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(
        matches!(reason, ExitReason::Shutdown(None)),
        "the held handler finished and the actor stopped: {reason:?}"
    );
    assert_eq!(seen(&seen_by_actor), Vec::<u32>::new());
}

/// A Phoenix that a restart policy restarts after every end (counting its calls), held in a
/// handler until `open` is sent, with `queued` sent behind it.
async fn held_restartable<E: Executor>(
    exec: &E,
    queued: Vec<PhoenixMsg>,
) -> (
    ActorRef<Phoenix>,
    IncLog,
    Arc<::std::sync::atomic::AtomicUsize>,
    oneshot::Sender<()>,
) {
    let inc_log = IncLog::default();
    let policy_calls = counter();
    let (calls, policy_log) = (policy_calls.clone(), inc_log.clone());
    let actor = System::new(exec.clone()).spawn_restartable(
        Phoenix {
            log: inc_log.clone(),
        },
        move |_: &ExitReason| {
            calls.fetch_add(1, Ordering::SeqCst);
            Some(Phoenix {
                log: policy_log.clone(),
            })
        },
    );
    let (open, gate) = oneshot::channel();
    within(exec, LONG, actor.ask(|r| PhoenixMsg::Hold(r, gate)))
        .await
        .expect("held");
    for msg in queued {
        actor.tell(msg).await.expect("tell");
    }
    (actor, inc_log, policy_calls, open)
}

/// `stop_after_queue`, then the incarnation handling the queue panics with messages still
/// queued: the restart policy is asked as if no stop had been made, and the restart handles
/// the rest before the actor ends with `Shutdown`. (After a plain `stop` the panic ends the
/// actor and the rest is discarded.)
async fn stop_after_queue_has_a_restart_finish_the_queue<E: Executor>(exec: E) {
    let (actor, inc_log, policy_calls, open) = held_restartable(
        &exec,
        vec![PhoenixMsg::Panic, PhoenixMsg::Item(1), PhoenixMsg::Item(2)],
    )
    .await;
    actor.stop_after_queue();
    assert!(
        actor
            .tell(PhoenixMsg::Item(3))
            .await
            .unwrap_err()
            .is_closed()
    );
    let _ = open.send(());
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert_eq!(count(&policy_calls), 1, "the panic was decided on");
    assert_eq!(*inc_log.lock().unwrap(), [(2, 1), (2, 2)]);
    assert_eq!(actor.discarded_count(), 0);
}

/// A supervision of [`Phoenix`] that answers `Pending` until `release` lets it restart once.
#[derive(Clone, Default)]
struct HeldRestart {
    desk: Arc<Mutex<(bool, Option<::std::task::Waker>)>>,
    polls: Arc<::std::sync::atomic::AtomicUsize>,
    log: IncLog,
}

impl HeldRestart {
    fn release(&self) {
        let waker = {
            let mut desk = self.desk.lock().unwrap();
            desk.0 = true;
            desk.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Supervision<Phoenix> for HeldRestart {
    fn poll_exited(
        &mut self,
        _: ActorId,
        _: &ExitReason,
        cx: &mut ::std::task::Context<'_>,
    ) -> ::std::task::Poll<Next<Phoenix>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let mut desk = self.desk.lock().unwrap();
        if ::std::mem::take(&mut desk.0) {
            return ::std::task::Poll::Ready(Next::Restart(Phoenix {
                log: self.log.clone(),
            }));
        }
        desk.1 = Some(cx.waker().clone());
        ::std::task::Poll::Pending
    }
}

/// A Phoenix whose supervision holds its restart after a panic, with `queued` sent to it while
/// the restart is held (the mailbox stays open then).
async fn held_after_a_panic<E: Executor>(
    exec: &E,
    queued: &[u32],
) -> (ActorRef<Phoenix>, HeldRestart) {
    held_after(exec, PhoenixMsg::Panic, queued).await
}

/// A Phoenix whose incarnation `end` ends, its restart held, with `queued` sent meanwhile.
async fn held_after<E: Executor>(
    exec: &E,
    end: PhoenixMsg,
    queued: &[u32],
) -> (ActorRef<Phoenix>, HeldRestart) {
    let held = HeldRestart::default();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::default())
        .spawn_supervised(
            Phoenix {
                log: held.log.clone(),
            },
            held.clone(),
        );
    actor.tell(end).await.expect("tell");
    let polls = held.polls.clone();
    eventually(exec, "the supervision asked", || {
        polls.load(Ordering::SeqCst) > 0
    })
    .await;
    for &n in queued {
        actor.tell(PhoenixMsg::Item(n)).await.expect("tell");
    }
    (actor, held)
}

/// `stop_after_queue` reaching an actor between two incarnations (its supervision still
/// deciding) with messages queued: it waits for the restart, which handles them. (A plain
/// `stop` ends it at once and discards them.)
async fn stop_after_queue_waits_for_a_restart_under_way<E: Executor>(exec: E) {
    let (actor, held) = held_after_a_panic(&exec, &[1, 2]).await;
    actor.stop_after_queue_with("checkpoint");
    // The stop wakes the actor, which asks its supervision again rather than ending.
    let polls = held.polls.clone();
    eventually(&exec, "the supervision asked again", || {
        polls.load(Ordering::SeqCst) > 1
    })
    .await;
    assert!(actor.is_alive());
    held.release();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(
        matches!(&reason, ExitReason::Shutdown(Some(info)) if &**info == "checkpoint"),
        "{reason:?}"
    );
    assert_eq!(*held.log.lock().unwrap(), [(2, 1), (2, 2)]);
    assert_eq!(actor.discarded_count(), 0);
}

/// `stop_after_queue` reaching an actor between two incarnations after an end that is not a
/// crash (the actor stopped itself, under a supervision that restarts any end): it waits for
/// the restart as it does after a crash. (It ended at once, the queue discarded.)
async fn stop_after_queue_waits_for_a_restart_after_any_end<E: Executor>(exec: E) {
    let (actor, held) = held_after(&exec, PhoenixMsg::StopSelf, &[1]).await;
    actor.stop_after_queue();
    let polls = held.polls.clone();
    eventually(&exec, "the supervision asked again", || {
        polls.load(Ordering::SeqCst) > 1
    })
    .await;
    held.release();
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert_eq!(*held.log.lock().unwrap(), [(2, 1)]);
}

/// A `shutdown`, then `stop_after_queue`: the shutdown's discard stands. The incarnation ends
/// after its handler with messages queued, and no restart is asked for. (The later call set
/// the queue to be finished again, and a restart handled it.)
async fn stop_after_queue_after_a_shutdown_changes_nothing<E: Executor>(exec: E) {
    let (actor, inc_log, policy_calls, open) =
        held_restartable(&exec, vec![PhoenixMsg::Panic, PhoenixMsg::Item(1)]).await;
    actor.shutdown();
    actor.stop_after_queue();
    let _ = open.send(());
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    assert_eq!(count(&policy_calls), 0);
    assert!(inc_log.lock().unwrap().is_empty());
    assert_eq!(actor.discarded_count(), 2);
}

/// `stop_after_queue` reaching an actor between two incarnations with nothing queued: nothing
/// is left to finish, so it ends at once with the incarnation's reason, as after `stop`.
async fn stop_after_queue_with_nothing_queued_ends_a_crashed_actor_at_once<E: Executor>(exec: E) {
    let (actor, held) = held_after_a_panic(&exec, &[]).await;
    actor.stop_after_queue();
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "phoenix boom");
    assert_eq!(held.log.lock().unwrap().len(), 0);
}

/// A kill still ends at once an actor that `stop_after_queue` keeps waiting for its restart
/// (with the crashed incarnation's reason, as a kill between incarnations does): the queue is
/// discarded.
async fn kill_ends_an_actor_waiting_to_finish_its_queue<E: Executor>(exec: E) {
    end_an_actor_waiting_to_finish_its_queue(exec, |actor| actor.kill()).await;
}

/// A `shutdown` (which discards the queue) after `stop_after_queue` ends an actor that waits
/// for its restart to finish the queue: nothing is left to finish.
async fn shutdown_ends_an_actor_waiting_to_finish_its_queue<E: Executor>(exec: E) {
    end_an_actor_waiting_to_finish_its_queue(exec, |actor| actor.shutdown()).await;
}

/// An actor held between two incarnations after a panic, one message queued, then
/// `stop_after_queue`, then `end`: it ends at once, with the panic's reason, the message
/// discarded.
async fn end_an_actor_waiting_to_finish_its_queue<E: Executor>(
    exec: E,
    end: impl FnOnce(&ActorRef<Phoenix>),
) {
    let (actor, held) = held_after_a_panic(&exec, &[1]).await;
    actor.stop_after_queue();
    let polls = held.polls.clone();
    eventually(&exec, "the supervision asked again", || {
        polls.load(Ordering::SeqCst) > 1
    })
    .await;
    end(&actor);
    // Ended between two incarnations, it ends with the last one's reason.
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "phoenix boom");
    assert_eq!(held.log.lock().unwrap().len(), 0);
    assert_eq!(actor.discarded_count(), 1);
}

executor_tests!(
    stop_after_queue_waits_for_a_restart_after_any_end,
    stop_after_queue_after_a_shutdown_changes_nothing,
    shutdown_ends_an_actor_waiting_to_finish_its_queue,
    stop_after_queue_has_a_restart_finish_the_queue,
    stop_after_queue_waits_for_a_restart_under_way,
    stop_after_queue_with_nothing_queued_ends_a_crashed_actor_at_once,
    kill_ends_an_actor_waiting_to_finish_its_queue,
    stop_drains_the_queue,
    stop_if_empty_stops_only_an_actor_with_nothing_queued,
    stop_if_empty_lets_the_message_being_handled_finish,
    stop_with_reason,
    kill_discards_the_queue,
    kill_idle_actor,
    waiting_sender_is_woken_with_closed_on_stop,
    waiting_sender_is_woken_with_closed_when_actor_panics,
    weak_ref_does_not_keep_actor_alive,
    started_runs_before_first_message_and_stopped_gets_reason,
    stopped_is_told_failed_and_panicked,
    ctx_stop_ends_normal_and_discards_the_rest,
    failing_started_handles_no_message,
    restart_keeps_reference_and_queued_messages,
    no_restart_after_stop,
    kill_after_stop_discards_the_rest,
    waiting_sender_is_woken_with_closed_on_kill,
    every_waiter_is_told_the_exit,
    panic_in_started_handles_no_message,
    panic_in_stopped_is_reported,
    ctx_stop_in_started_handles_no_message,
    restart_policy_panic_ends_the_actor,
    ctx_stop_with_restart_policy_starts_a_new_incarnation,
);
