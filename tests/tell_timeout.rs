//! `tell_timeout` (on `ActorRef` and `Recipient`): a send that waits for room in a full `Block`
//! mailbox at most a timeout, read on the actor's executor clock; on every executor.
//!
//! Time is virtual: the actors run on `VirtualTime`, so a test shows "still waiting" by polling
//! the send once and "timed out" by advancing the clock; nothing depends on how fast the machine
//! is. The actor is held busy in its handler on a gate (see `common::hold`) so that its mailbox
//! can be filled on purpose.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::pin::pin;
use ::std::task::Poll;
use ::std::time::Duration;

use common::*;
use futures::poll;
use playhouse::mailbox::{Block, Bounded, DropNewest, Reject, Unbounded};
use playhouse::prelude::*;
use playhouse::testing::VirtualTime;

const FILLER: u32 = 100;

/// A `Recorder` with a `Block` mailbox of capacity 1, on virtual time.
fn one_slot<E: Executor>(time: &VirtualTime<E>) -> (ActorRef<Recorder, Bounded<Block>>, Seen) {
    let (rec, seen) = Recorder::new();
    let actor = System::new(time.clone()).spawn_with(rec, Bounded::with_capacity(1).unwrap());
    (actor, seen)
}

/// Holds `actor` and fills its one slot.
async fn hold_full<E: Executor, MB: Mailbox>(exec: &E, actor: &ActorRef<Recorder, MB>) -> Gate {
    let gate = hold(exec, actor).await;
    actor.try_tell(Msg::Item(FILLER)).expect("room");
    gate
}

async fn handled<E: Executor, MB: Mailbox>(exec: &E, actor: &ActorRef<Recorder, MB>) -> Vec<u32> {
    within(exec, LONG, actor.ask(Msg::Get))
        .await
        .expect("the actor answers")
}

/// With room, it sends at once, whatever the timeout (zero included), under every strategy.
async fn with_room_it_sends_at_once<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (block, _) = one_slot(&time);
    let (rec, _) = Recorder::new();
    let unbounded = System::new(time.clone()).spawn_with(rec, Unbounded);
    let send = pin!(block.tell_timeout(Msg::Item(1), Duration::ZERO));
    assert!(matches!(poll!(send), Poll::Ready(Ok(()))));
    unbounded
        .tell_timeout(Msg::Item(2), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(handled(&exec, &block).await, vec![1]);
    assert_eq!(handled(&exec, &unbounded).await, vec![2]);
    assert_eq!(time.elapsed(), Duration::ZERO);
}

/// A full `Block` mailbox: it waits until the timeout (not a moment less), then fails with
/// `Timeout`, handing the message back; the actor never gets it.
async fn a_full_block_mailbox_times_out_and_hands_the_message_back<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (actor, _) = one_slot(&time);
    let gate = hold_full(&exec, &actor).await;

    let timeout = Duration::from_secs(5);
    let mut send = pin!(actor.tell_timeout(Msg::Item(1), timeout));
    assert!(poll!(send.as_mut()).is_pending(), "it waits for room");
    time.advance(timeout - Duration::from_millis(1));
    assert!(
        poll!(send.as_mut()).is_pending(),
        "still within the timeout"
    );
    time.advance(Duration::from_millis(1));
    let err = within(&exec, LONG, send).await.unwrap_err();
    assert!(err.is_timeout() && !err.is_closed() && !err.is_full());
    assert_eq!(format!("{err:?}"), "Timeout(..)");
    assert!(matches!(err.into_inner(), Msg::Item(1)));

    gate.open();
    assert_eq!(handled(&exec, &actor).await, vec![FILLER]);
}

/// Room made before the timeout: the message goes in, after the ones already queued.
async fn room_made_before_the_timeout_delivers<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (actor, _) = one_slot(&time);
    let gate = hold_full(&exec, &actor).await;

    let mut send = pin!(actor.tell_timeout(Msg::Item(1), Duration::from_secs(5)));
    assert!(poll!(send.as_mut()).is_pending());
    gate.open(); // the clock does not move: only room can end the wait
    within(&exec, LONG, send).await.unwrap();
    assert_eq!(handled(&exec, &actor).await, vec![FILLER, 1]);
    assert_eq!(time.elapsed(), Duration::ZERO);
}

/// A zero timeout does not wait: a full `Block` mailbox times out on the first poll.
async fn a_zero_timeout_does_not_wait<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (actor, _) = one_slot(&time);
    let gate = hold_full(&exec, &actor).await;
    let send = pin!(actor.tell_timeout(Msg::Item(1), Duration::ZERO));
    let Poll::Ready(Err(err)) = poll!(send) else {
        panic!("a zero timeout waited");
    };
    assert!(err.is_timeout());
    assert!(matches!(err.into_inner(), Msg::Item(1)));
    gate.open();
    assert_eq!(handled(&exec, &actor).await, vec![FILLER]);
}

/// A timeout too long for the clock waits for room (it cannot pass).
async fn a_timeout_past_the_clocks_range_waits_for_room<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (actor, _) = one_slot(&time);
    let gate = hold_full(&exec, &actor).await;
    let mut send = pin!(actor.tell_timeout(Msg::Item(1), Duration::MAX));
    assert!(poll!(send.as_mut()).is_pending());
    time.advance(Duration::from_secs(3_600));
    assert!(poll!(send.as_mut()).is_pending());
    gate.open();
    within(&exec, LONG, send).await.unwrap();
    assert_eq!(handled(&exec, &actor).await, vec![FILLER, 1]);
}

/// The actor stops while the send waits: `Closed`, with the message.
async fn a_send_waiting_when_the_actor_stops_fails_closed<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (actor, seen) = one_slot(&time);
    let gate = hold_full(&exec, &actor).await;
    let mut send = pin!(actor.tell_timeout(Msg::Item(1), Duration::from_secs(5)));
    assert!(poll!(send.as_mut()).is_pending());
    actor.stop();
    let err = within(&exec, LONG, send).await.unwrap_err();
    assert!(err.is_closed());
    assert!(matches!(err.into_inner(), Msg::Item(1)));
    gate.open();
    within(&exec, LONG, actor.wait()).await;
    assert_eq!(common::seen(&seen), vec![FILLER]);
}

/// The other strategies never wait: `Reject` fails with `Full`, `DropNewest` accepts and drops,
/// a stopped actor fails with `Closed`; each hands the message back where it was not taken.
async fn other_strategies_never_wait<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let (rec, _) = Recorder::new();
    let reject = system.spawn_with(rec, Bounded::<Reject>::with_capacity(1).unwrap());
    let gate_r = hold_full(&exec, &reject).await;
    let err = reject
        .tell_timeout(Msg::Item(1), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_full());
    assert!(matches!(err.into_inner(), Msg::Item(1)));

    let (rec, _) = Recorder::new();
    let newest = system.spawn_with(rec, Bounded::<DropNewest>::with_capacity(1).unwrap());
    let gate_n = hold_full(&exec, &newest).await;
    newest
        .tell_timeout(Msg::Item(1), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(newest.dropped_count(), 1);

    gate_r.open();
    gate_n.open();
    // Room for the asks below, which a full `Reject` would refuse and a `DropNewest` drop.
    eventually(&exec, "the mailboxes to drain", || {
        reject.mailbox_len() == 0 && newest.mailbox_len() == 0
    })
    .await;
    assert_eq!(handled(&exec, &reject).await, vec![FILLER]);
    assert_eq!(handled(&exec, &newest).await, vec![FILLER]);
    newest.stop();
    within(&exec, LONG, newest.wait()).await;
    let err = newest
        .tell_timeout(Msg::Item(2), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_closed());
    assert_eq!(time.elapsed(), Duration::ZERO);
}

/// Through a `Recipient`: the same waits and errors, the message handed back as the
/// recipient's type.
async fn a_recipient_times_out_as_the_actor_ref_does<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let (actor, _) = one_slot(&time);
    let recipient: Recipient<Msg> = actor.recipient();
    recipient
        .tell_timeout(Msg::Item(1), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(handled(&exec, &actor).await, vec![1]);

    let gate = hold_full(&exec, &actor).await;
    let mut send = pin!(recipient.tell_timeout(Msg::Item(2), Duration::from_secs(5)));
    assert!(poll!(send.as_mut()).is_pending());
    time.advance(Duration::from_secs(5));
    let err = within(&exec, LONG, send).await.unwrap_err();
    assert!(err.is_timeout());
    assert!(matches!(err.into_inner(), Msg::Item(2)));

    let mut send = pin!(recipient.tell_timeout(Msg::Item(3), Duration::from_secs(5)));
    assert!(poll!(send.as_mut()).is_pending());
    gate.open();
    within(&exec, LONG, send).await.unwrap();
    assert_eq!(handled(&exec, &actor).await, vec![1, FILLER, 3]);

    let (rec, _) = Recorder::new();
    let reject =
        System::new(time.clone()).spawn_with(rec, Bounded::<Reject>::with_capacity(1).unwrap());
    let gate = hold_full(&exec, &reject).await;
    let err = reject
        .recipient::<Msg>()
        .tell_timeout(Msg::Item(4), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_full());
    gate.open();
}

/// An actor sending to its own full `Block` mailbox from its handler is refused as full at
/// once, the message handed back, as a `tell` is: the room could only come after the handler
/// returns. (On virtual time, the hour would never pass.)
async fn a_send_to_ones_own_full_mailbox_is_refused_at_once<E: Executor>(exec: E) {
    struct Selfish;
    enum SelfMsg {
        Noop,
        Go(Reply<bool>),
    }
    impl Actor for Selfish {
        type Message = SelfMsg;
        type Error = Infallible;
    }
    impl<V: Env> Handler<V> for Selfish {
        async fn handle(
            &mut self,
            msg: SelfMsg,
            ctx: &mut Context<Self, V>,
        ) -> Result<(), Infallible> {
            if let SelfMsg::Go(reply) = msg {
                let me = ctx.myself();
                let _ = me.try_tell(SelfMsg::Noop); // fills its one slot
                let sent = me
                    .tell_timeout(SelfMsg::Noop, Duration::from_secs(3_600))
                    .await;
                let _ = reply.send(matches!(sent, Err(SendTimeoutError::Full(SelfMsg::Noop))));
            }
            Ok(())
        }
    }
    let time = VirtualTime::new(exec.clone());
    let actor =
        System::new(time.clone()).spawn_with(Selfish, Bounded::<Block>::with_capacity(1).unwrap());
    assert!(within(&exec, LONG, actor.ask(SelfMsg::Go)).await.unwrap());
    assert_eq!(time.elapsed(), Duration::ZERO);
}

executor_tests!(
    with_room_it_sends_at_once,
    a_full_block_mailbox_times_out_and_hands_the_message_back,
    room_made_before_the_timeout_delivers,
    a_zero_timeout_does_not_wait,
    a_timeout_past_the_clocks_range_waits_for_room,
    a_send_waiting_when_the_actor_stops_fails_closed,
    other_strategies_never_wait,
    a_recipient_times_out_as_the_actor_ref_does,
    a_send_to_ones_own_full_mailbox_is_refused_at_once,
);
