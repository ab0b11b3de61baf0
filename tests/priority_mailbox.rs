//! The priority mailbox (`Prioritized<S, LEVELS>`, issue #19), on every executor: the most
//! urgent waiting message is handled first and FIFO holds within a level, under concurrent
//! senders; every overflow choice keeps its meaning with levels; an out-of-range level is an
//! error that hands the message back.
//!
//! As in `mailbox_strategies.rs`, the actor is held busy in its handler on a gate
//! (`common::hold`) so that messages stay queued; the `Hold` message being handled does not
//! count against the capacity.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::pin::pin;

use common::*;
use futures::channel::oneshot;
use futures::poll;
use playhouse::mailbox::{Expiring, Prioritized, UnboundedOf, UnboundedStrategy};
use playhouse::prelude::*;
use playhouse::reply_port;
use playhouse::{ActorId, SendAtError};

executor_tests!(
    priority_levels_are_fifo_within_a_level_under_concurrent_senders,
    fifo_within_a_level_holds_while_senders_wait_for_room,
    reject_with_levels_hands_the_message_back,
    drop_newest_with_levels_drops_the_new_message,
    drop_oldest_with_levels_drops_the_oldest_of_the_least_urgent_level,
    block_with_levels_waits_for_room,
    an_out_of_range_level_is_an_error_that_hands_the_message_back,
    an_unbounded_priority_mailbox_orders_by_level,
    a_monitors_down_reaches_prioritized_and_expiring_mailboxes,
    a_down_overtakes_every_level,
);

const LEVELS: usize = 3;
/// Senders per level.
const SENDERS: u32 = 2;
const PER_SENDER: u32 = 6;

/// The level sender `s` sends at.
fn level_of(sender: u32) -> usize {
    (sender / SENDERS) as usize
}

/// Starts one task per sender, each telling `Tagged(sender, 0..PER_SENDER)` at its level;
/// returns the receivers of their completions.
fn start_senders<E: Executor, MB: Mailbox>(
    exec: &E,
    actor: &ActorRef<Recorder, MB>,
) -> Vec<oneshot::Receiver<()>>
where
    MB::Strategy: playhouse::mailbox::Prioritize,
{
    (0..SENDERS * LEVELS as u32)
        .map(|sender| {
            let actor = actor.clone();
            let (done, finished) = oneshot::channel();
            exec.spawn(async move {
                for seq in 0..PER_SENDER {
                    actor
                        .tell_at(level_of(sender), Msg::Tagged(sender, seq))
                        .await
                        .expect("sent");
                }
                let _ = done.send(());
            });
            finished
        })
        .collect()
}

/// Asserts FIFO per sender among `got`, and returns the levels in the order handled.
fn assert_fifo_per_sender(got: &[(u32, u32)]) -> Vec<usize> {
    let mut next = vec![0; (SENDERS * LEVELS as u32) as usize];
    for &(sender, seq) in got {
        assert_eq!(
            seq,
            next[sender as usize],
            "sender {sender} (level {}): got #{seq} out of order in {got:?}",
            level_of(sender)
        );
        next[sender as usize] += 1;
    }
    assert!(
        next.iter().all(|&n| n == PER_SENDER),
        "every message was handled once: {got:?}"
    );
    got.iter().map(|&(s, _)| level_of(s)).collect()
}

/// Six senders, two per level, send concurrently while the actor is held; once every message
/// is queued the actor is released: it handles every level-2 message, then every level-1, then
/// every level-0, each sender's messages in send order.
async fn priority_levels_are_fifo_within_a_level_under_concurrent_senders<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<Block, LEVELS>>::with_capacity(64).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    for finished in start_senders(&exec, &actor) {
        within(&exec, LONG, finished).await.expect("the sender ran");
    }
    let total = (SENDERS * LEVELS as u32 * PER_SENDER) as usize;
    assert_eq!(actor.mailbox_len(), total);
    gate.open();
    // At level 0, behind everything already queued.
    let got = within(&exec, LONG, actor.ask(Msg::GetTagged))
        .await
        .expect("ask");
    let levels = assert_fifo_per_sender(&got);
    let mut sorted = levels.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(levels, sorted, "the more urgent levels first: {got:?}");
}

/// The same senders into a mailbox of capacity 2 (`Block`): they wait for room while the actor
/// handles. Which level goes first now depends on when each message got in, but FIFO within a
/// level (per sender) holds, and nothing is lost.
async fn fifo_within_a_level_holds_while_senders_wait_for_room<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<Block, LEVELS>>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    let senders = start_senders(&exec, &actor);
    eventually(&exec, "the mailbox to fill", || actor.mailbox_len() == 2).await;
    gate.open();
    for finished in senders {
        within(&exec, LONG, finished).await.expect("the sender ran");
    }
    let got = within(&exec, LONG, actor.ask(Msg::GetTagged))
        .await
        .expect("ask");
    assert_fifo_per_sender(&got);
    assert_eq!(actor.dropped_count(), 0);
}

async fn reject_with_levels_hands_the_message_back<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<Reject, LEVELS>>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell_at(0, Msg::Item(1)).await.expect("room");
    actor.try_tell_at(2, Msg::Item(2)).expect("room");
    // Full, whatever the level: the capacity counts every level.
    match actor.tell_at(2, Msg::Item(3)).await {
        Err(SendAtError::Full(Msg::Item(3))) => {}
        other => panic!("expected Full(Item(3)), got {other:?}"),
    }
    match actor.try_tell_at(1, Msg::Item(4)) {
        Err(SendAtError::Full(Msg::Item(4))) => {}
        other => panic!("expected Full(Item(4)), got {other:?}"),
    }
    match actor.try_tell(Msg::Item(5)) {
        Err(SendError::Full(Msg::Item(5))) => {}
        other => panic!("expected Full(Item(5)), got {other:?}"),
    }
    assert_eq!(actor.dropped_count(), 0);
    gate.open();
    eventually(&exec, "the mailbox to drain", || actor.mailbox_len() == 0).await;
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [2, 1]);
}

async fn drop_newest_with_levels_drops_the_new_message<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<DropNewest, LEVELS>>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell_at(0, Msg::Item(1)).await.expect("room");
    actor.tell_at(1, Msg::Item(2)).await.expect("room");
    // Full: the new message goes, even the most urgent one.
    actor
        .tell_at(2, Msg::Item(3))
        .await
        .expect("a full DropNewest mailbox reports Ok");
    actor
        .try_tell_at(0, Msg::Item(4))
        .expect("a full DropNewest mailbox reports Ok");
    assert_eq!(actor.dropped_count(), 2);
    // A dropped request tells its asker why.
    let (reply, answer) = reply_port();
    actor.tell_at(2, Msg::Get(reply)).await.expect("Ok");
    assert_eq!(
        within(&exec, LONG, answer).await,
        Err(NoReply::Overflow),
        "the dropped ask"
    );
    assert_eq!(actor.dropped_count(), 3);
    gate.open();
    eventually(&exec, "the mailbox to drain", || actor.mailbox_len() == 0).await;
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [2, 1]);
}

async fn drop_oldest_with_levels_drops_the_oldest_of_the_least_urgent_level<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<DropOldest, LEVELS>>::with_capacity(3).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell_at(1, Msg::Item(10)).await.expect("room");
    // A request at level 0: the first to go.
    let (reply, answer) = reply_port();
    actor.tell_at(0, Msg::Get(reply)).await.expect("room");
    actor.tell_at(0, Msg::Item(1)).await.expect("room");
    // Full: the oldest of level 0 (the request) goes.
    actor.tell_at(2, Msg::Item(20)).await.expect("Ok");
    assert_eq!(within(&exec, LONG, answer).await, Err(NoReply::Overflow));
    assert_eq!(actor.dropped_count(), 1);
    // Full: the oldest of level 0 (Item 1) goes.
    actor.try_tell_at(1, Msg::Item(11)).expect("Ok");
    assert_eq!(actor.dropped_count(), 2);
    // Full, and the new message is the least urgent of all: it is the one dropped.
    actor.tell(Msg::Item(2)).await.expect("Ok");
    assert_eq!(actor.dropped_count(), 3);
    assert_eq!(actor.mailbox_len(), 3);
    gate.open();
    eventually(&exec, "the mailbox to drain", || actor.mailbox_len() == 0).await;
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [20, 10, 11]);
}

async fn block_with_levels_waits_for_room<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<Block, LEVELS>>::with_capacity(2).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    actor.tell_at(0, Msg::Item(1)).await.expect("room");
    actor.tell_at(0, Msg::Item(2)).await.expect("room");
    match actor.try_tell_at(2, Msg::Item(3)) {
        Err(SendAtError::Full(Msg::Item(3))) => {}
        other => panic!("expected Full(Item(3)), got {other:?}"),
    }
    let mut urgent = pin!(actor.tell_at(2, Msg::Item(3)));
    assert!(
        poll!(urgent.as_mut()).is_pending(),
        "a tell_at into a full Block mailbox waits, whatever its level"
    );
    gate.open();
    within(&exec, LONG, urgent).await.expect("room was made");
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2, 3], "each handled once");
    assert!(
        got.iter().position(|&n| n == 1) < got.iter().position(|&n| n == 2),
        "FIFO within level 0: {got:?}"
    );
}

async fn an_out_of_range_level_is_an_error_that_hands_the_message_back<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Prioritized<Block, LEVELS>>::default())
        .spawn(rec);
    match actor.tell_at(LEVELS, Msg::Item(1)).await {
        Err(SendAtError::NoSuchLevel {
            level: LEVELS,
            levels: LEVELS,
            msg: Msg::Item(1),
        }) => {}
        other => panic!("expected NoSuchLevel, got {other:?}"),
    }
    let err = actor.try_tell_at(usize::MAX, Msg::Item(2)).unwrap_err();
    assert!(err.is_no_such_level());
    assert_eq!(
        err.to_string(),
        format!(
            "priority level {} does not exist: the mailbox has levels 0 to 2",
            usize::MAX
        )
    );
    assert!(matches!(err.into_inner(), Msg::Item(2)));
    actor.tell_at(LEVELS - 1, Msg::Item(3)).await.expect("sent");
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    assert_eq!(got, [3], "nothing of the refused sends arrived");
}

async fn an_unbounded_priority_mailbox_orders_by_level<E: Executor>(exec: E) {
    let (rec, _) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(UnboundedOf::<Prioritized<UnboundedStrategy, 2>>::default())
        .spawn(rec);
    assert_eq!(actor.mailbox_capacity(), usize::MAX);
    let gate = hold(&exec, &actor).await;
    for n in 0..500 {
        actor
            .try_tell_at((n % 2) as usize, Msg::Item(n))
            .expect("never full");
    }
    gate.open();
    let got = within(&exec, LONG, actor.ask(Msg::Get)).await.expect("ask");
    let odd = (0..500).filter(|n| n % 2 == 1);
    let even = (0..500).filter(|n| n % 2 == 0);
    assert_eq!(got, odd.chain(even).collect::<Vec<_>>());
}

/// Records the `Down`s it gets.
#[derive(Default)]
struct Watcher(Vec<ActorId>, Vec<u32>);

enum WatcherMsg {
    Hold(Reply<()>, oneshot::Receiver<()>),
    Item(u32),
    Down(Down),
    Seen(Reply<Vec<ActorId>>),
    /// The items handled, with `0` for each `Down`.
    Log(Reply<Vec<u32>>),
}

impl From<Down> for WatcherMsg {
    fn from(down: Down) -> Self {
        WatcherMsg::Down(down)
    }
}

impl Actor for Watcher {
    type Message = WatcherMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Watcher {
    async fn handle(
        &mut self,
        msg: WatcherMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            WatcherMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            WatcherMsg::Item(n) => self.1.push(n),
            WatcherMsg::Down(down) => {
                self.0.push(down.id);
                self.1.push(0);
            }
            WatcherMsg::Seen(reply) => {
                let _ = reply.send(self.0.clone());
            }
            WatcherMsg::Log(reply) => {
                let _ = reply.send(self.1.clone());
            }
        }
        Ok(())
    }
}

/// The runtime's own messages (a monitor's `Down`) enter a prioritized or expiring mailbox with
/// the default meta: delivered, never refused, never expired.
async fn a_monitors_down_reaches_prioritized_and_expiring_mailboxes<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    // Room for the `Down` and the ask after it: the watcher may not have taken the `Down` yet
    // when the ask comes (a full mailbox with `Down` in it is `a_down_enters_a_full_reject_mailbox`).
    let prioritized = system
        .spawner(Bounded::<Prioritized<Reject, 2>>::with_capacity(2).unwrap())
        .spawn(Watcher::default());
    let expiring = system
        .spawner(Bounded::<Expiring<Prioritized<Block, 2>>>::default())
        .spawn(Watcher::default());
    let target = system.spawn(Counter::default());
    target.monitor_by(&prioritized);
    target.monitor_by(&expiring);
    let id = target.id();
    target.stop();
    within(&exec, LONG, target.wait()).await;
    for seen in [
        within(&exec, LONG, prioritized.ask(WatcherMsg::Seen)).await,
        within(&exec, LONG, expiring.ask(WatcherMsg::Seen)).await,
    ] {
        assert_eq!(seen.expect("ask"), [id]);
    }
    assert_eq!(expiring.expired_count(), 0);
}

/// A `Down` carries the default level but is a control message: it is handled before the
/// messages waiting at every level.
async fn a_down_overtakes_every_level<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let watcher = system
        .spawner(Bounded::<Prioritized<Block, 3>>::default())
        .spawn(Watcher::default());
    let target = system.spawn(Counter::default());
    target.monitor_by(&watcher);
    let (open, gate) = oneshot::channel();
    within(
        &exec,
        LONG,
        watcher.ask(|busy| WatcherMsg::Hold(busy, gate)),
    )
    .await
    .expect("held");
    watcher.tell(WatcherMsg::Item(1)).await.expect("queued");
    watcher
        .tell_at(2, WatcherMsg::Item(3))
        .await
        .expect("queued");
    watcher
        .tell_at(1, WatcherMsg::Item(2))
        .await
        .expect("queued");
    target.kill();
    within(&exec, LONG, target.wait()).await;
    let _ = open.send(());
    let log = within(&exec, LONG, watcher.ask(WatcherMsg::Log))
        .await
        .expect("the log");
    assert_eq!(log, [0, 3, 2, 1], "the Down (0) first, then by level");
}
