//! What each mailbox strategy does when full, on every executor.
//!
//! The actor is held busy in its handler on a gate (see `common::hold`), so messages stay queued.
//! Capacity accounting: the capacity counts the messages *waiting* (accepted, not yet handed to
//! the handler), for every strategy; the `Hold` message being handled does not count. So with
//! capacity 2 and the actor held, exactly two more messages fit.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::pin::pin;

use common::*;
use futures::channel::oneshot;
use futures::{FutureExt, poll};
use playhouse::mailbox::{Block, Bounded, DropNewest, DropOldest, Reject, Unbounded};
use playhouse::prelude::*;

/// Waits until every queued message has been handed to the handler, so that the next request
/// finds room (a full `DropNewest`/`DropOldest`/`Reject` mailbox would drop or refuse it).
async fn drained<E: Executor, MB: Mailbox>(exec: &E, actor: &ActorRef<Recorder, MB>) {
    eventually(exec, "the mailbox to drain", || actor.mailbox_len() == 0).await;
}

async fn block_when_full<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(2).unwrap())
        .spawn(rec);
    assert_eq!(actor.mailbox_capacity(), 2);
    let gate = hold(&exec, &actor).await;
    assert_eq!(
        actor.mailbox_len(),
        0,
        "the message being handled does not count"
    );
    actor.try_tell(Msg::Item(1)).expect("room");
    actor.tell(Msg::Item(2)).await.expect("room");
    assert_eq!(actor.mailbox_len(), 2);

    match actor.try_tell(Msg::Item(3)) {
        Err(SendError::Full(Msg::Item(3))) => {}
        other => panic!("expected Full(Item(3)), got {other:?}"),
    }
    let mut third = pin!(actor.tell(Msg::Item(3)));
    assert!(
        poll!(third.as_mut()).is_pending(),
        "a tell into a full Block mailbox waits"
    );
    let mut fourth = pin!(actor.tell(Msg::Item(4)));
    assert!(poll!(fourth.as_mut()).is_pending());
    // A sender in a task of its own, woken only by the mailbox.
    let fifth = waiting_tell(&exec, &actor, Msg::Item(5)).await;
    // A waiting tell that is dropped sends nothing.
    assert!(actor.tell(Msg::Item(99)).now_or_never().is_none());
    assert_eq!(actor.mailbox_len(), 2);

    gate.open();
    within(&exec, LONG, third).await.expect("room was made");
    within(&exec, LONG, fourth).await.expect("room was made");
    within(&exec, LONG, fifth)
        .await
        .expect("the sender finished")
        .expect("room was made");
    let mut got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    // 3, 4 and 5 were all waiting at once, each in a send of its own: FIFO holds per sender,
    // and the order among concurrent senders is not specified.
    got[2..].sort_unstable();
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
    assert_eq!(actor.dropped_count(), 0);
}

async fn drop_newest_when_full<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<DropNewest>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("queued");
    actor.tell(Msg::Item(2)).await.expect("queued");
    assert_eq!(actor.mailbox_len(), 2);
    actor
        .tell(Msg::Item(3))
        .await
        .expect("a full DropNewest mailbox reports Ok");
    actor
        .tell(Msg::Item(4))
        .await
        .expect("a full DropNewest mailbox reports Ok");
    actor
        .try_tell(Msg::Item(5))
        .expect("a full DropNewest mailbox reports Ok");
    assert_eq!(actor.dropped_count(), 3);
    assert_eq!(actor.mailbox_len(), 2);
    // A dropped request tells its asker why.
    match within(&exec, LONG, actor.ask(Msg::Get)).await {
        Err(AskError::NoReply(NoReply::Overflow)) => {}
        other => panic!("expected NoReply(Overflow), got {other:?}"),
    }
    assert_eq!(actor.dropped_count(), 4);
    gate.open();
    drained(&exec, &actor).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        vec![1, 2]
    );
    assert_eq!(actor.dropped_count(), 4);
}

async fn drop_oldest_when_full<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<DropOldest>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    assert_eq!(
        actor.mailbox_len(),
        0,
        "the message being handled does not count"
    );
    // The oldest queued message is a request: dropping it tells its asker why.
    let mut oldest = pin!(actor.ask(Msg::Get));
    assert!(poll!(oldest.as_mut()).is_pending());
    actor.tell(Msg::Item(1)).await.expect("queued");
    assert_eq!(actor.mailbox_len(), 2);
    actor
        .tell(Msg::Item(2))
        .await
        .expect("a full DropOldest mailbox reports Ok");
    match within(&exec, LONG, oldest).await {
        Err(AskError::NoReply(NoReply::Overflow)) => {}
        other => panic!("expected NoReply(Overflow), got {other:?}"),
    }
    actor
        .try_tell(Msg::Item(3))
        .expect("a full DropOldest mailbox reports Ok");
    actor
        .tell(Msg::Item(4))
        .await
        .expect("a full DropOldest mailbox reports Ok");
    assert_eq!(actor.dropped_count(), 3);
    assert_eq!(actor.mailbox_len(), 2);
    gate.open();
    drained(&exec, &actor).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        vec![3, 4]
    );
    assert_eq!(actor.dropped_count(), 3);
}

async fn reject_when_full<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Reject>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("room");
    actor.try_tell(Msg::Item(2)).expect("room");
    match within(&exec, LONG, actor.tell(Msg::Item(3))).await {
        Err(SendError::Full(Msg::Item(3))) => {}
        other => panic!("expected Full(Item(3)), got {other:?}"),
    }
    match actor.try_tell(Msg::Item(4)) {
        Err(SendError::Full(Msg::Item(4))) => {}
        other => panic!("expected Full(Item(4)), got {other:?}"),
    }
    match within(&exec, LONG, actor.ask(Msg::Get)).await {
        Err(AskError::Full(Msg::Get(_))) => {}
        other => panic!("expected AskError::Full(Get), got {other:?}"),
    }
    assert_eq!(actor.dropped_count(), 0);
    assert_eq!(actor.mailbox_len(), 2);
    gate.open();
    drained(&exec, &actor).await;
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        vec![1, 2]
    );
}

async fn unbounded_is_never_full<E: Executor>(exec: E) {
    const N: u32 = 10_000;
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone()).spawner(Unbounded).spawn(rec);
    assert_eq!(actor.mailbox_capacity(), usize::MAX);
    let gate = hold(&exec, &actor).await;
    for n in 0..N {
        match actor.tell(Msg::Item(n)).now_or_never() {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("send {n} failed: {e:?}"),
            None => panic!("send {n} waited"),
        }
    }
    actor.try_tell(Msg::Item(N)).expect("never full");
    assert_eq!(actor.mailbox_len(), N as usize + 1);
    gate.open();
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, (0..=N).collect::<Vec<_>>());
    assert_eq!(actor.dropped_count(), 0);
}

async fn capacity_is_released_as_messages_are_handed_out<E: Executor>(exec: E) {
    // Once the held actor lets go, a Block mailbox of capacity 1 keeps taking messages one
    // at a time: every send eventually gets room, none is lost or reordered.
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(0)).await.expect("room for one");
    let mut next_send = pin!(actor.tell(Msg::Item(1)));
    assert!(poll!(next_send.as_mut()).is_pending());
    gate.open();
    within(&exec, LONG, next_send).await.expect("room was made");
    for n in 2..200 {
        within(&exec, LONG, actor.tell(Msg::Item(n)))
            .await
            .expect("room was made");
    }
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, (0..200).collect::<Vec<_>>());
}
async fn dropped_waiting_send_passes_its_wake_up_on<E: Executor>(exec: E) {
    // Two senders wait for room in a full capacity-1 mailbox: A (polled here) and B (its own
    // task). Room for one is made and A is woken, but A is dropped instead of sending: its
    // wake-up must go to B, or B waits forever.
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(0)).await.expect("room for one");
    let mut a = Box::pin(actor.tell(Msg::Item(1)));
    assert!(poll!(a.as_mut()).is_pending());
    let (registered_tx, registered_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let b_ref = actor.clone();
    exec.spawn(async move {
        let mut b = pin!(b_ref.tell(Msg::Item(2)));
        assert!(poll!(b.as_mut()).is_pending());
        let _ = registered_tx.send(());
        let _ = done_tx.send(b.await.is_ok());
    });
    within(&exec, LONG, registered_rx)
        .await
        .expect("B is waiting");
    gate.open();
    // The actor takes Item(0): room for one, and A (the first waiter) is woken.
    eventually(&exec, "the actor to take Item(0)", || {
        actor.mailbox_len() == 0
    })
    .await;
    drop(a);
    assert!(
        within(&exec, LONG, done_rx).await.expect("B finished"),
        "B's send failed"
    );
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        vec![0, 2]
    );
}

/// Regression (found by the loom model `waiting_sender_woken_when_room_appears`): room freed by a
/// message handed out of the actor's batch reaches a waiting sender at once, not only when the
/// batch runs out, even while that message's handler is still running.
async fn room_freed_from_a_batch_reaches_a_waiting_sender<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(2).unwrap())
        .spawn(rec);
    let first = hold(&exec, &actor).await;
    let (busy2, busy2_rx) = playhouse::reply_port::<()>();
    let (open2, gate2) = oneshot::channel();
    let (busy3, busy3_rx) = playhouse::reply_port::<()>();
    let (open3, gate3) = oneshot::channel();
    actor.tell(Msg::Hold(busy2, gate2)).await.expect("room");
    actor.tell(Msg::Hold(busy3, gate3)).await.expect("room");
    let third = waiting_tell(&exec, &actor, Msg::Item(3)).await;
    // The actor takes both holds in one batch; handing out the first makes room for 3.
    first.open();
    within(&exec, LONG, busy2_rx)
        .await
        .expect("hold 2 is handled");
    within(&exec, LONG, third)
        .await
        .expect("the sender finished")
        .expect("room was made");
    // Full again (hold 3 in the actor's batch, 3 in the queue): another sender waits.
    assert_eq!(actor.mailbox_len(), 2);
    let fourth = waiting_tell(&exec, &actor, Msg::Item(4)).await;
    let _ = open2.send(());
    within(&exec, LONG, busy3_rx)
        .await
        .expect("hold 3 is handled");
    // Hold 3's handler still waits on its gate, and the room it left must reach the sender now.
    within(&exec, LONG, fourth)
        .await
        .expect("the sender finished")
        .expect("room was made while the handler still runs");
    let _ = open3.send(());
    assert_eq!(
        within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask"),
        vec![3, 4]
    );
}

/// An ask whose request first waits for room, polled the first time with another waker (a
/// no-op one), still gets its answer: the reply port follows the waker of the latest poll. The
/// ask runs in a task of its own, which only the reply port can wake.
async fn ask_that_waited_for_room_follows_the_latest_waker<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell(Msg::Item(1)).await.expect("room");
    let (waiting_tx, waiting_rx) = oneshot::channel();
    let (answer_tx, answer_rx) = oneshot::channel();
    let asker = actor.clone();
    exec.spawn(async move {
        let mut asked = pin!(asker.ask(Msg::Get));
        let noop = futures::task::noop_waker();
        let first = asked
            .as_mut()
            .poll(&mut ::std::task::Context::from_waker(&noop));
        let _ = waiting_tx.send(first.is_pending());
        let _ = answer_tx.send(asked.await);
    });
    assert!(
        within(&exec, LONG, waiting_rx)
            .await
            .expect("the asker ran"),
        "the request waits for room"
    );
    gate.open();
    let answer = within(&exec, LONG, answer_rx)
        .await
        .expect("the asker finished");
    assert_eq!(answer.expect("answered"), vec![1]);
}

/// Held on a gate; records items; takes a monitor's `Down`.
struct Watching(Vec<u32>);

enum WMsg {
    Hold(Reply<()>, oneshot::Receiver<()>),
    Item(u32),
    Down,
    Got(Reply<Vec<u32>>),
}

impl From<playhouse::Down> for WMsg {
    fn from(_: playhouse::Down) -> Self {
        WMsg::Down
    }
}

impl Actor for Watching {
    type Message = WMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for Watching {
    async fn handle(&mut self, msg: WMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            WMsg::Hold(held, gate) => {
                let _ = held.send(());
                let _ = gate.await;
            }
            WMsg::Item(n) => self.0.push(n),
            WMsg::Down => {}
            WMsg::Got(reply) => {
                let _ = reply.send(self.0.clone());
            }
        }
        Ok(())
    }
}

/// A `DropOldest` mailbox full of a control message alone has no older user message to drop:
/// the new one is dropped and counted (the count of waiting messages stays right, and the
/// actor goes on).
async fn drop_oldest_full_of_control_drops_the_new_message<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let actor = system
        .spawner(Bounded::<DropOldest>::with_capacity(1).unwrap())
        .spawn(Watching(Vec::new()));
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, actor.ask(|r| WMsg::Hold(r, gate)))
        .await
        .expect("held");
    let (watched, _rx) = Recorder::new();
    let watched = system.spawn(watched);
    let _monitor = watched.monitor_by(&actor);
    watched.stop();
    within(&exec, LONG, watched.wait()).await;
    eventually(&exec, "the Down queued", || actor.mailbox_len() == 1).await;
    actor.tell(WMsg::Item(1)).await.expect("taken or dropped");
    assert_eq!((actor.mailbox_len(), actor.dropped_count()), (1, 1));
    let _ = open.send(());
    // (Each ask waits for an empty mailbox: with room for one, it would push out what waits.)
    eventually(&exec, "the Down handled", || actor.mailbox_len() == 0).await;
    let got = within(&exec, LONG, actor.ask(WMsg::Got)).await;
    assert_eq!(got.expect("answered"), Vec::<u32>::new());
    actor.tell(WMsg::Item(2)).await.expect("room");
    eventually(&exec, "the item handled", || actor.mailbox_len() == 0).await;
    let got = within(&exec, LONG, actor.ask(WMsg::Got)).await;
    assert_eq!(got.expect("answered"), vec![2], "the actor goes on");
}

/// An actor that tells itself from its handler through its full `Block` mailbox: each way to
/// tell it (an `ActorRef`, a `Recipient`, `tell_timeout`).
struct SelfTeller(Vec<u32>);

enum SMsg {
    /// Fills the mailbox (capacity 1) with `Item(1)`, then tells itself `Item(2)` each way;
    /// answers what each gave. A task it spawns tells `Item(5)`, waiting for room.
    Again(Reply<Vec<String>>),
    Item(u32),
    Got(Reply<Vec<u32>>),
}

impl Actor for SelfTeller {
    type Message = SMsg;
    type Error = ::std::convert::Infallible;
}

/// `"ok"`, `"Full(n)"` for a send refused as full with `Item(n)` handed back, or another.
fn told(r: Result<(), SendError<SMsg>>) -> String {
    match r {
        Ok(()) => "ok".to_owned(),
        Err(SendError::Full(SMsg::Item(n))) => format!("Full({n})"),
        Err(e) => format!("{e:?}"),
    }
}

/// As [`told`], for a `tell_timeout`.
fn told_timeout(r: Result<(), SendTimeoutError<SMsg>>) -> String {
    match r {
        Err(SendTimeoutError::Full(SMsg::Item(n))) => format!("Full({n})"),
        Err(e) => format!("{e:?}"),
        Ok(()) => "ok".to_owned(),
    }
}

impl<V: Env> Handler<V> for SelfTeller {
    async fn handle(&mut self, msg: SMsg, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            SMsg::Again(reply) => {
                let me = ctx.myself();
                let mut got = vec![told(me.tell(SMsg::Item(1)).await)];
                got.push(told(me.tell(SMsg::Item(2)).await));
                let recipient: Recipient<SMsg> = me.recipient();
                got.push(told(recipient.tell(SMsg::Item(3)).await));
                got.push(told_timeout(me.tell_timeout(SMsg::Item(4), LONG).await));
                // Not its handler: this one waits for the room the handler's return makes.
                ctx.executor().spawn(async move {
                    me.tell(SMsg::Item(5))
                        .await
                        .expect("room once the handler returned");
                });
                let _ = reply.send(got);
            }
            SMsg::Item(n) => self.0.push(n),
            SMsg::Got(reply) => {
                let _ = reply.send(self.0.clone());
            }
        }
        Ok(())
    }
}

/// A handler's tell to its own actor through its full `Block` mailbox could only get room once
/// the handler returned: it is refused as `Full`, the message handed back, instead of waiting for ever. A task the handler spawned is not the
/// handler: its tell waits, and gets in.
async fn a_tell_to_itself_through_its_full_block_mailbox_is_refused<E: Executor>(exec: E) {
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(1).unwrap())
        .spawn(SelfTeller(Vec::new()));
    // (`within` fails the test if the handler waited on itself.)
    let got = within(&exec, LONG, actor.ask(SMsg::Again))
        .await
        .expect("answered");
    assert_eq!(got, ["ok", "Full(2)", "Full(3)", "Full(4)"]);
    eventually(&exec, "the items handled", || actor.mailbox_len() == 0).await;
    let mut seen = vec![];
    for _ in 0..100 {
        seen = within(&exec, LONG, actor.ask(SMsg::Got))
            .await
            .expect("answered");
        if seen.len() == 2 {
            break;
        }
        exec.sleep_until(::std::time::Instant::now() + ::std::time::Duration::from_millis(5))
            .await;
    }
    assert_eq!(seen, [1, 5]);
}

/// A sender waiting for room in a full `Block` mailbox gets in while another sends in a loop:
/// the room it was woken for is kept for it. (A woken sender used to find the room taken by the
/// looping one, every time, and wait again at the back: on a single-threaded executor one tell
/// waited while hundreds of thousands went through.)
async fn a_waiting_sender_gets_in_while_another_keeps_sending<E: Executor>(exec: E) {
    use ::std::sync::Arc;
    use ::std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    let (rec, handled) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(2).unwrap())
        .spawn(rec);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    {
        let (actor, stop, sent) = (actor.clone(), stop.clone(), sent.clone());
        exec.spawn(async move {
            while !stop.load(SeqCst) {
                if actor.tell(Msg::Item(0)).await.is_err() {
                    break;
                }
                sent.fetch_add(1, SeqCst);
            }
        });
    }
    eventually(&exec, "the loop under way", || sent.load(SeqCst) > 100).await;
    let (done_tx, done_rx) = oneshot::channel();
    {
        let actor = actor.clone();
        exec.spawn(async move {
            let _ = done_tx.send(actor.tell(Msg::Item(1)).await.is_ok());
        });
    }
    let from = sent.load(SeqCst);
    let mut done = done_rx.fuse();
    let delivered = loop {
        if let Some(result) = futures::FutureExt::now_or_never(&mut done) {
            break result.expect("the sender task ran");
        }
        let overtaken = sent.load(SeqCst) - from;
        if overtaken > 50_000 {
            stop.store(true, SeqCst);
            panic!("the waiting sender never got in: {overtaken} tells overtook it");
        }
        sleep(&exec, ::std::time::Duration::from_millis(1)).await;
    };
    stop.store(true, SeqCst);
    assert!(delivered);
    eventually(&exec, "its message handled", || seen(&handled).contains(&1)).await;
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

executor_tests!(
    a_waiting_sender_gets_in_while_another_keeps_sending,
    a_tell_to_itself_through_its_full_block_mailbox_is_refused,
    drop_oldest_full_of_control_drops_the_new_message,
    block_when_full,
    drop_newest_when_full,
    drop_oldest_when_full,
    reject_when_full,
    unbounded_is_never_full,
    capacity_is_released_as_messages_are_handed_out,
    dropped_waiting_send_passes_its_wake_up_on,
    room_freed_from_a_batch_reaches_a_waiting_sender,
    ask_that_waited_for_room_follows_the_latest_waker,
);
