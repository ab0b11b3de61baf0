//! tell/ask, per-sender FIFO, failures seen by askers, timed asks, panic isolation, and what a
//! handler can do with its context — on every executor.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::pin::pin;
use ::std::time::Duration;

use common::*;
use futures::channel::oneshot;
use futures::poll;
use playhouse::mailbox::{Block, Bounded};
use playhouse::prelude::*;

/// Sends from plain sync code (no executor, no await).
fn sync_add(counter: &ActorRef<Counter>, times: u64) {
    for _ in 0..times {
        counter
            .try_tell(CounterMsg::Add(1))
            .expect("room in the mailbox");
    }
}

/// Strips a trailing worker index (`playhouse-std-1` → `playhouse-std-`).
fn thread_family(name: Option<String>) -> String {
    name.unwrap_or_default()
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned()
}

async fn tell_then_ask_round_trip<E: Executor>(exec: E) {
    let counter = System::new(exec.clone()).spawn(Counter::default());
    // More than the default capacity (256): `tell` must wait for room, not fail.
    for _ in 0..1000 {
        counter.tell(CounterMsg::Add(1)).await.expect("tell");
    }
    assert_eq!(
        within(&exec, LONG, counter.ask(CounterMsg::Get))
            .await
            .expect("ask"),
        1000
    );
    counter.tell(CounterMsg::Add(5)).await.expect("tell");
    assert_eq!(
        within(&exec, LONG, counter.ask(CounterMsg::Get))
            .await
            .expect("ask"),
        1005
    );
}

async fn try_tell_from_sync_code<E: Executor>(exec: E) {
    let counter = System::new(exec.clone()).spawn(Counter::default());
    sync_add(&counter, 50);
    // And from another OS thread, outside any runtime.
    let remote = counter.clone();
    ::std::thread::spawn(move || sync_add(&remote, 50))
        .join()
        .expect("sender thread");
    assert_eq!(
        within(&exec, LONG, counter.ask(CounterMsg::Get))
            .await
            .expect("ask"),
        100
    );
}

async fn fifo_per_sender<E: Executor>(exec: E) {
    const SENDERS: u32 = 4;
    const EACH: u32 = 300;
    // A small Block mailbox so that the senders keep waiting for room and interleave.
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(4).unwrap())
        .spawn(rec);
    let mut done = Vec::new();
    for sender in 0..SENDERS {
        let actor = actor.clone();
        let (tx, rx) = oneshot::channel();
        exec.spawn(async move {
            for seq in 0..EACH {
                actor.tell(Msg::Tagged(sender, seq)).await.expect("tell");
            }
            let _ = tx.send(());
        });
        done.push(rx);
    }
    for rx in done {
        within(&exec, LONG, rx).await.expect("sender finished");
    }
    let got = within(&exec, LONG, actor.ask(Msg::GetTagged))
        .await
        .expect("ask");
    assert_eq!(got.len(), (SENDERS * EACH) as usize);
    for sender in 0..SENDERS {
        let seqs: Vec<u32> = got
            .iter()
            .filter(|(s, _)| *s == sender)
            .map(|(_, q)| *q)
            .collect();
        assert_eq!(
            seqs,
            (0..EACH).collect::<Vec<_>>(),
            "sender {sender}'s messages out of order or lost"
        );
    }
}

async fn ask_after_stop_is_closed<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    actor.stop();
    // Closed at once, before the actor has even ended: the request is handed back.
    match actor.ask(Msg::Get).await {
        Err(AskError::Closed(Msg::Get(_))) => {}
        other => panic!("expected Closed(Get), got {other:?}"),
    }
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
    let err = within(&exec, LONG, actor.ask(Msg::Get)).await.unwrap_err();
    assert!(matches!(err.into_message(), Some(Msg::Get(_))));
}

async fn ask_to_failing_actor<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    match within(&exec, LONG, actor.ask(Msg::Fail)).await {
        Err(AskError::NoReply(NoReply::Dropped)) => {}
        other => panic!("expected NoReply(Dropped), got {other:?}"),
    }
    let reason = within(&exec, LONG, actor.wait()).await;
    assert_failed_with(&reason, &FAIL);
    assert!(!reason.is_normal());
    assert!(!actor.is_alive());
    assert!(matches!(actor.exit_reason(), Some(ExitReason::Failed(_))));
}

async fn ask_to_panicking_actor<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    match within(&exec, LONG, actor.ask(Msg::Panic)).await {
        Err(AskError::NoReply(NoReply::Panicked)) => {}
        other => panic!("expected NoReply(Panicked), got {other:?}"),
    }
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "boom");
}

async fn asks_queued_behind_a_panic_get_stopped<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    let gate = hold(&exec, &actor).await;
    // Queue a panicking request and two asks behind it (one poll each enqueues them).
    let mut panicking = pin!(actor.ask(Msg::Panic));
    assert!(poll!(panicking.as_mut()).is_pending());
    let mut first = pin!(actor.ask(Msg::Get));
    assert!(poll!(first.as_mut()).is_pending());
    let mut second = pin!(actor.ask(Msg::Get));
    assert!(poll!(second.as_mut()).is_pending());
    assert_eq!(actor.mailbox_len(), 3, "the message in hand does not count");
    gate.open();
    match within(&exec, LONG, panicking).await {
        Err(AskError::NoReply(NoReply::Panicked)) => {}
        other => panic!("expected NoReply(Panicked), got {other:?}"),
    }
    for queued in [first, second] {
        match within(&exec, LONG, queued).await {
            Err(AskError::NoReply(NoReply::Stopped)) => {}
            other => panic!("expected NoReply(Stopped), got {other:?}"),
        }
    }
    assert_panicked_with(&within(&exec, LONG, actor.wait()).await, "boom");
    assert_eq!(actor.discarded_count(), 2);
}

async fn ask_timeout_when_actor_never_answers<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawn(rec);
    match within(
        &exec,
        LONG,
        actor.ask_timeout(Msg::Ignore, Duration::from_millis(30)),
    )
    .await
    {
        Err(AskError::Timeout(None)) => {}
        other => panic!("expected Timeout(None), got {other:?}"),
    }
    // The actor is fine and still answers; answering the timed-out ask is refused, since its
    // asker has gone.
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        Vec::<u32>::new()
    );
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::AnswerParked))
            .await
            .expect("ask"),
        1
    );
    // A timed ask that is answered in time returns the answer.
    let answer = within(&exec, LONG, actor.ask_timeout(Msg::Get, LONG)).await;
    assert_eq!(answer.expect("answered"), Vec::<u32>::new());
}

async fn ask_timeout_on_full_block_mailbox_hands_request_back<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    assert_eq!(actor.mailbox_len(), 0, "the message in hand does not count");
    actor.tell(Msg::Item(1)).await.expect("room for one");
    assert_eq!(actor.mailbox_len(), 1);
    match within(
        &exec,
        LONG,
        actor.ask_timeout(Msg::Get, Duration::from_millis(30)),
    )
    .await
    {
        Err(AskError::Timeout(Some(Msg::Get(_)))) => {}
        other => panic!("expected Timeout(Some(Get)), got {other:?}"),
    }
    gate.open();
    // The timed-out request never reached the actor, and its wait left no stale waiter.
    actor.tell(Msg::Item(2)).await.expect("tell");
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        vec![1, 2]
    );
}

async fn panic_does_not_disturb_a_sibling<E: Executor>(exec: E) {
    let victim = System::new(exec.clone()).spawn(Counter::default());
    let sibling = System::new(exec.clone()).spawn(Counter::default());
    sibling.tell(CounterMsg::Add(3)).await.expect("tell");
    victim.tell(CounterMsg::Panic).await.expect("tell");
    assert_panicked_with(&within(&exec, LONG, victim.wait()).await, "counter boom");
    assert!(sibling.is_alive());
    for i in 1..=10 {
        sibling.tell(CounterMsg::Add(1)).await.expect("tell");
        assert_eq!(
            within(&exec, LONG, sibling.ask(CounterMsg::Get))
                .await
                .expect("ask"),
            3 + i
        );
    }
    // The runtime still runs new actors.
    let fresh = System::new(exec.clone()).spawn(Counter(7));
    assert_eq!(
        within(&exec, LONG, fresh.ask(CounterMsg::Get))
            .await
            .expect("ask"),
        7
    );
    assert!(
        victim
            .tell(CounterMsg::Add(1))
            .await
            .unwrap_err()
            .is_closed()
    );
}

async fn ctx_spawn_runs_child_on_same_executor<E: Executor>(exec: E) {
    let parent = System::new(exec.clone()).spawn(Parent::default());
    let child = within(&exec, LONG, parent.ask(ParentMsg::SpawnProbe))
        .await
        .expect("spawned");
    let child_thread = within(&exec, LONG, child.ask(ProbeMsg::Thread))
        .await
        .expect("child answers");
    let parent_thread = within(&exec, LONG, parent.ask(ParentMsg::Thread))
        .await
        .expect("parent answers");
    assert_eq!(thread_family(child_thread), thread_family(parent_thread));
    // The child outlives nothing it should not: it is a separate actor with its own life.
    child.stop();
    assert!(matches!(
        within(&exec, LONG, child.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(parent.is_alive());
}

async fn ctx_myself_sends_to_itself<E: Executor>(exec: E) {
    let parent = System::new(exec.clone()).spawn(Parent::default());
    let steps = within(&exec, LONG, parent.ask(|r| ParentMsg::CountDown(500, r)))
        .await
        .expect("counted down");
    assert_eq!(steps, 501);
    // Its own strong references are gone with the messages: dropping ours ends it normally.
    let weak = parent.downgrade();
    drop(parent);
    assert!(matches!(
        within(&exec, LONG, weak.wait()).await,
        ExitReason::Normal
    ));
}

executor_tests!(
    tell_then_ask_round_trip,
    try_tell_from_sync_code,
    fifo_per_sender,
    ask_after_stop_is_closed,
    ask_to_failing_actor,
    ask_to_panicking_actor,
    asks_queued_behind_a_panic_get_stopped,
    ask_timeout_when_actor_never_answers,
    ask_timeout_on_full_block_mailbox_hands_request_back,
    panic_does_not_disturb_a_sibling,
    ctx_spawn_runs_child_on_same_executor,
    ctx_myself_sends_to_itself,
);
