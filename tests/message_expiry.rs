//! Message expiry (`Expiring<S>`, issue #19), on every executor: a message whose deadline has
//! come before its handler would run is not handled; it is counted, reported as a dead letter,
//! and an ask inside it resolves with `NoReply::Expired`. A message with a deadline still ahead,
//! or none, is handled.
//!
//! The deadlines are read on the executor's clock. Most tests use deadlines already passed
//! (`exec.now()`) or far ahead (`LONG`), so that no test depends on how fast the machine is;
//! one runs under `VirtualTime` and moves the clock past a deadline.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::pin::pin;
use ::std::sync::{Arc, Mutex};
use ::std::time::Duration;

use common::*;
use futures::poll;
use playhouse::mailbox::{DropOldest, Expiring, Prioritized, UnboundedOf, UnboundedStrategy};
use playhouse::observer::EventKind;
use playhouse::prelude::*;
use playhouse::testing::{RecordingObserver, VirtualTime};
use playhouse::{DeadLetter, DeadLetterKind, SendAtError};

executor_tests!(
    an_expired_message_is_not_handled_is_counted_and_its_ask_resolves,
    a_message_with_a_deadline_ahead_or_none_is_handled,
    expiry_follows_the_executors_clock,
    expiry_composes_with_priority_levels,
    an_unbounded_expiring_mailbox_expires_too,
    an_observer_is_told_of_each_expired_message,
);

/// Collects the dead letters a hook sees.
fn watch<E: Executor>(system: &System<E>) -> Arc<Mutex<Vec<DeadLetter>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    system
        .broker()
        .on_dead_letter(move |letter| log.lock().unwrap().push(letter.clone()));
    seen
}

/// While the actor is held, a message and an ask whose deadlines have passed wait in the
/// mailbox between two that have none; once released, the actor handles only the two. Each
/// expired one is counted and seen by the broker's hook as an `Expired` dead letter naming the
/// actor, and the ask resolves with `NoReply::Expired`, by which time both are recorded.
async fn an_expired_message_is_not_handled_is_counted_and_its_ask_resolves<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let letters = watch(&system);
    let (rec, handled) = Recorder::new();
    let actor = system
        .spawner(Bounded::<Expiring<Block>>::default())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("room");
    actor.tell_by(Msg::Item(2), exec.now()).await.expect("room");
    let mut expired_ask = pin!(actor.ask_by(Msg::Get, exec.now()));
    assert!(
        poll!(expired_ask.as_mut()).is_pending(),
        "the ask is queued"
    );
    actor.try_tell(Msg::Item(3)).expect("room");
    assert_eq!(
        actor.mailbox_len(),
        4,
        "expired messages wait like any other"
    );
    assert_eq!(
        actor.expired_count(),
        0,
        "nothing expires before its hand-out"
    );
    gate.open();

    match within(&exec, LONG, expired_ask).await {
        Err(AskError::NoReply(NoReply::Expired)) => {}
        other => panic!("expected NoReply(Expired), got {other:?}"),
    }
    assert_eq!(actor.expired_count(), 2, "counted before the ask resolved");
    {
        let letters = letters.lock().unwrap();
        assert_eq!(letters.len(), 2, "reported before the ask resolved");
        for letter in letters.iter() {
            assert_eq!(letter.kind, DeadLetterKind::Expired);
            assert_eq!(letter.target, actor.id().to_string());
            assert_eq!(letter.message_type, ::std::any::type_name::<Msg>());
            assert_eq!(letter.correlation, None);
        }
    }
    assert_eq!(system.broker().dead_letters().expired, 2);
    assert_eq!(system.broker().dead_letters().total(), 2);

    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [1, 3], "the expired message was not handled");
    assert_eq!(seen(&handled), [1, 3]);
    assert_eq!(actor.expired_count(), 2);
    assert_eq!(actor.dropped_count(), 0);
    assert_eq!(actor.discarded_count(), 0);
}

async fn a_message_with_a_deadline_ahead_or_none_is_handled<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let letters = watch(&system);
    let (rec, _) = Recorder::new();
    let actor = system
        .spawner(Bounded::<Expiring<DropOldest>>::with_capacity(8).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell_within(Msg::Item(1), LONG).await.expect("room");
    actor.try_tell_within(Msg::Item(2), LONG).expect("room");
    actor
        .try_tell_by(Msg::Item(3), exec.now() + LONG)
        .expect("room");
    actor.tell(Msg::Item(4)).await.expect("room");
    let mut ask = pin!(actor.ask_within(Msg::Get, LONG));
    assert!(poll!(ask.as_mut()).is_pending());
    gate.open();
    let got = within(&exec, LONG, ask).await.expect("answered");
    assert_eq!(got, [1, 2, 3, 4]);
    assert_eq!(actor.expired_count(), 0);
    assert!(letters.lock().unwrap().is_empty());
    // A deadline beyond the clock's range is no deadline.
    actor
        .tell_within(Msg::Item(5), Duration::MAX)
        .await
        .expect("room");
    let got = within(&exec, LONG, actor.ask_within(Msg::Get, Duration::MAX))
        .await
        .expect("answered");
    assert_eq!(got, [1, 2, 3, 4, 5]);
}

/// Under `VirtualTime` over each executor: two messages with a 1 s time-to-live and one with
/// 5 s wait while the actor is held; the clock moves 2 s; only the 5 s one is handled.
async fn expiry_follows_the_executors_clock<E: Executor>(exec: E) {
    let clock = VirtualTime::new(exec.clone());
    let system = System::new(clock.clone());
    let (rec, _) = Recorder::new();
    let actor = system
        .spawner(Bounded::<Expiring<Block>>::default())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor
        .tell_within(Msg::Item(1), Duration::from_secs(1))
        .await
        .expect("room");
    actor
        .tell_within(Msg::Item(5), Duration::from_secs(5))
        .await
        .expect("room");
    let mut stale = pin!(actor.ask_within(Msg::Get, Duration::from_secs(1)));
    assert!(poll!(stale.as_mut()).is_pending());
    clock.advance(Duration::from_secs(2));
    gate.open();
    match within(&exec, LONG, stale).await {
        Err(AskError::NoReply(NoReply::Expired)) => {}
        other => panic!("expected NoReply(Expired), got {other:?}"),
    }
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [5]);
    assert_eq!(actor.expired_count(), 2);
    assert_eq!(system.broker().dead_letters().expired, 2);
    // The clock stands still: a 1 s time-to-live does not run out in real time.
    let gate = hold(&exec, &actor).await;
    actor
        .tell_within(Msg::Item(6), Duration::from_secs(1))
        .await
        .expect("room");
    sleep(&exec, Duration::from_millis(20)).await;
    gate.open();
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [5, 6]);
    assert_eq!(actor.expired_count(), 2);
}

/// `Expiring<Prioritized<..>>`: levels order the messages, deadlines drop the late ones.
async fn expiry_composes_with_priority_levels<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Expiring<Prioritized<Block, 2>>>::default())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("room");
    actor
        .tell_at_by(1, Msg::Item(2), exec.now())
        .await
        .expect("room");
    actor
        .try_tell_at_by(1, Msg::Item(3), exec.now() + LONG)
        .expect("room");
    actor.tell_at(1, Msg::Item(4)).await.expect("room");
    actor
        .tell_within(Msg::Item(5), Duration::ZERO)
        .await
        .expect("room");
    match actor.try_tell_at_by(2, Msg::Item(6), exec.now()) {
        Err(SendAtError::NoSuchLevel { level: 2, .. }) => {}
        other => panic!("expected NoSuchLevel, got {other:?}"),
    }
    gate.open();
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [3, 4, 1]);
    assert_eq!(actor.expired_count(), 2);
}

async fn an_unbounded_expiring_mailbox_expires_too<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(UnboundedOf::<Expiring<UnboundedStrategy>>::default())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    // More than the actor's budget of messages in a row: the loop yields between them.
    for n in 0..300 {
        if n % 3 == 0 {
            actor.try_tell(Msg::Item(n)).expect("never full");
        } else {
            actor
                .try_tell_by(Msg::Item(n), exec.now())
                .expect("never full");
        }
    }
    gate.open();
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, (0..300).step_by(3).collect::<Vec<_>>());
    assert_eq!(actor.expired_count(), 200);
}

async fn an_observer_is_told_of_each_expired_message<E: Executor>(exec: E) {
    let recording = RecordingObserver::new();
    let system = System::new(exec.clone()).with_observer(recording.clone());
    let (rec, _) = Recorder::new();
    let actor = system
        .spawner(Bounded::<Expiring<Block>>::default())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell_by(Msg::Item(1), exec.now()).await.expect("room");
    actor.tell(Msg::Item(2)).await.expect("room");
    gate.open();
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [2]);
    assert_eq!(recording.count(EventKind::Expired), 1);
    let kinds = recording.kinds_of(actor.id());
    let expired = kinds.iter().position(|k| *k == EventKind::Expired);
    let handled: Vec<_> = kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| **k == EventKind::Handled)
        .map(|(i, _)| i)
        .collect();
    // Hold, then (Item 1 expired, not handled), then Item 2: two `Handled` around it.
    assert!(
        handled.len() >= 2 && expired > Some(handled[0]) && expired < Some(handled[1]),
        "{kinds:?}"
    );
}
