//! Control before user messages, on every executor.
//!
//! The written order (docs/runtime-semantics in the README, `ActorRef::shutdown`): a kill, then
//! an end of the running incarnation (a supervisor's shutdown or group restart, a link's exit
//! signal), then the runtime's notices (a monitor's `Down`, a trapped `Exit`), then user
//! messages. Each test fills a mailbox behind a handler held on a gate, so that the backlog is
//! real when the control arrives, and checks that it is overtaken; none asserts on timing.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::pin::pin;
use ::std::sync::{Arc, Mutex};
use ::std::time::Duration;

use common::*;
use futures::channel::oneshot;
use futures::poll;
use playhouse::mailbox::{Block, Bounded, DropOldest, Expiring, Prioritized, Unbounded};
use playhouse::prelude::*;
use playhouse::{ActorId, Down, Exit, IncarnationEnd, reply_port, restart_with};

/// A kill ends an actor whose `Block` mailbox is full and has a sender waiting for room: the
/// held handler is cut, nothing queued is handled, the waiting sender gets its message back.
async fn kill_overtakes_a_full_block_mailbox_with_a_blocked_sender<E: Executor>(exec: E) {
    let (rec, handled) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(4).unwrap())
        .spawn(rec);
    let _gate = hold(&exec, &actor).await;
    for n in 0..4 {
        actor.try_tell(Msg::Item(n)).expect("room");
    }
    let blocked = waiting_tell(&exec, &actor, Msg::Item(99)).await;
    actor.kill();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Killed
    ));
    assert!(matches!(
        within(&exec, LONG, blocked).await.expect("the sender ran"),
        Err(SendError::Closed(Msg::Item(99)))
    ));
    assert_eq!(seen(&handled), Vec::<u32>::new());
    assert_eq!(actor.discarded_count(), 4);
}

/// `shutdown` lets the message being handled finish and discards the backlog: 10,000 queued
/// tells, an ask among them and a blocked sender do not delay it.
async fn shutdown_skips_a_full_block_mailbox<E: Executor>(exec: E) {
    const QUEUED: u32 = 10_000;
    let (rec, handled) = Recorder::new();
    let actor = System::new(exec.clone())
        .spawner(Bounded::<Block>::with_capacity(QUEUED as usize).unwrap())
        .spawn(rec);
    let gate = hold(&exec, &actor).await;
    for n in 0..QUEUED - 1 {
        actor.try_tell(Msg::Item(n)).expect("room");
    }
    let mut ask = pin!(actor.ask(Msg::Get));
    assert!(poll!(ask.as_mut()).is_pending(), "the ask is queued");
    assert_eq!(actor.mailbox_len(), QUEUED as usize);
    let blocked = waiting_tell(&exec, &actor, Msg::Item(99)).await;

    actor.shutdown();
    // The waiting sender is refused at once, before the held handler finishes.
    assert!(matches!(
        within(&exec, LONG, blocked).await.expect("the sender ran"),
        Err(SendError::Closed(Msg::Item(99)))
    ));
    assert!(actor.is_alive(), "the handler being run finishes first");
    gate.open();
    assert!(matches!(
        within(&exec, LONG, actor.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(matches!(
        within(&exec, LONG, ask).await,
        Err(AskError::NoReply(NoReply::Stopped))
    ));
    assert_eq!(seen(&handled), Vec::<u32>::new());
    assert_eq!(actor.discarded_count(), u64::from(QUEUED));
}

/// A supervisor's shutdown of a child (here by `Timeout`, long enough that a kill cannot be
/// what ends it) is not stuck behind the child's 10,000 queued tells: the child ends after the
/// message it is handling, with `Shutdown`, having handled none of them.
async fn supervisor_shutdown_overtakes_a_backlog<E: Executor>(exec: E) {
    const QUEUED: u32 = 10_000;
    let system = System::new(exec.clone());
    let (rec, handled) = Recorder::new();
    let mut rec = Some(rec);
    let spec = SupervisorSpec::new(Strategy::OneForOne).child(
        ChildSpec::new("busy", move || {
            rec.take().unwrap_or_else(|| Recorder::new().0)
        })
        .mailbox(Bounded::<Block>::with_capacity(QUEUED as usize).unwrap())
        .shutdown(Shutdown::Timeout(Duration::from_secs(3600))),
    );
    let sup = within(&exec, LONG, spec.start(&system))
        .await
        .expect("started");
    let child = within(&exec, LONG, sup.child::<Recorder, Bounded<Block>>("busy"))
        .await
        .expect("the child");
    let gate = hold(&exec, &child).await;
    for n in 0..QUEUED {
        child.try_tell(Msg::Item(n)).expect("room");
    }
    let blocked = waiting_tell(&exec, &child, Msg::Item(99)).await;

    sup.stop();
    assert!(matches!(
        within(&exec, LONG, blocked).await.expect("the sender ran"),
        Err(SendError::Closed(Msg::Item(99)))
    ));
    gate.open();
    assert!(matches!(
        within(&exec, LONG, child.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(seen(&handled), Vec::<u32>::new());
    assert_eq!(child.discarded_count(), u64::from(QUEUED));
}

// ---------------------------------------------------------------------------------------------
// Notices overtake queued user messages.

type Log = Arc<Mutex<Vec<String>>>;

/// Logs the items, `Down`s and `Exit`s it handles, in order; can be held on a gate.
#[derive(Clone, Default)]
struct Watcher {
    log: Log,
    /// The ids of the actors whose `Down`s it handled, in order.
    downs: Arc<Mutex<Vec<ActorId>>>,
}

enum WMsg {
    Hold(Reply<()>, oneshot::Receiver<()>),
    Item(u32),
    Trap(Reply<()>),
    Down(Down),
    Exit(Exit),
    Get(Reply<Vec<String>>),
}

impl From<Down> for WMsg {
    fn from(d: Down) -> Self {
        WMsg::Down(d)
    }
}

impl From<Exit> for WMsg {
    fn from(e: Exit) -> Self {
        WMsg::Exit(e)
    }
}

impl Actor for Watcher {
    type Message = WMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for Watcher {
    async fn handle(
        &mut self,
        msg: WMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), ::std::convert::Infallible> {
        let log = |s: String| self.log.lock().unwrap().push(s);
        match msg {
            WMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            WMsg::Item(n) => log(n.to_string()),
            WMsg::Trap(reply) => {
                ctx.trap_exit(true);
                let _ = reply.send(());
            }
            WMsg::Down(down) => {
                self.downs.lock().unwrap().push(down.id);
                log("down".into())
            }
            WMsg::Exit(exit) => {
                drop(exit);
                log("exit".into())
            }
            WMsg::Get(reply) => {
                let _ = reply.send(self.log.lock().unwrap().clone());
            }
        }
        Ok(())
    }
}

/// Which notice the test makes the target send.
#[derive(Clone, Copy)]
enum Notice {
    Down,
    Exit,
}

/// The watcher handles items 1–3 and is held on a second gate with items 4–6 behind it (in the
/// receiver's batch, for a batching mailbox); the target then ends; the notice is handled
/// before items 4–6.
async fn notice_overtakes<E: Executor, MB: Mailbox>(exec: E, mailbox: MB, notice: Notice) {
    let system = System::new(exec.clone());
    let watcher = system.spawner(mailbox).spawn(Watcher::default());
    let (target, _) = Recorder::new();
    let target = system.spawn(target);
    match notice {
        Notice::Down => drop(target.monitor_by(&watcher)),
        Notice::Exit => {
            within(&exec, LONG, watcher.ask(WMsg::Trap))
                .await
                .expect("trapping");
            watcher.link(&target);
        }
    }
    let (open1, gate1) = oneshot::channel();
    within(&exec, LONG, watcher.ask(|r| WMsg::Hold(r, gate1)))
        .await
        .expect("held");
    let (open2, gate2) = oneshot::channel();
    let (busy2, held2) = reply_port();
    for n in 1..=3 {
        watcher.tell(WMsg::Item(n)).await.expect("queued");
    }
    watcher
        .tell(WMsg::Hold(busy2, gate2))
        .await
        .expect("queued");
    for n in 4..=6 {
        watcher.tell(WMsg::Item(n)).await.expect("queued");
    }
    let _ = open1.send(());
    within(&exec, LONG, held2).await.expect("held again");

    target.kill();
    within(&exec, LONG, target.wait()).await;
    let _ = open2.send(());
    let log = within(&exec, LONG, watcher.ask(WMsg::Get))
        .await
        .expect("the log");
    let n = match notice {
        Notice::Down => "down",
        Notice::Exit => "exit",
    };
    assert_eq!(log, ["1", "2", "3", n, "4", "5", "6"]);
}

async fn down_overtakes_a_batch<E: Executor>(exec: E) {
    notice_overtakes(exec, Unbounded, Notice::Down).await;
}

async fn down_overtakes_a_bounded_backlog<E: Executor>(exec: E) {
    notice_overtakes(exec, Bounded::<Block>::default(), Notice::Down).await;
}

async fn down_overtakes_without_batching<E: Executor>(exec: E) {
    notice_overtakes(exec, Bounded::<DropOldest>::default(), Notice::Down).await;
}

/// A notice carries the default meta (level 0, no deadline), and still overtakes: under
/// `Prioritized` it goes before every level, under `Expiring` it never expires.
async fn down_overtakes_a_prioritized_mailbox<E: Executor>(exec: E) {
    notice_overtakes(
        exec,
        Bounded::<Prioritized<Block, 3>>::default(),
        Notice::Down,
    )
    .await;
}

async fn trapped_exit_overtakes_an_expiring_batch<E: Executor>(exec: E) {
    notice_overtakes(exec, Bounded::<Expiring<Block>>::default(), Notice::Exit).await;
}

async fn trapped_exit_overtakes_a_batch<E: Executor>(exec: E) {
    notice_overtakes(exec, Unbounded, Notice::Exit).await;
}

/// A full `DropOldest` mailbox never drops a notice to make room: the oldest user message
/// goes instead.
async fn drop_oldest_never_drops_a_notice<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let watcher = system
        .spawner(Bounded::<DropOldest>::with_capacity(2).unwrap())
        .spawn(Watcher::default());
    let (target, _) = Recorder::new();
    let target = system.spawn(target);
    drop(target.monitor_by(&watcher));
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, watcher.ask(|r| WMsg::Hold(r, gate)))
        .await
        .expect("held");
    target.kill();
    within(&exec, LONG, target.wait()).await;
    for n in 1..=4 {
        watcher
            .tell(WMsg::Item(n))
            .await
            .expect("queued or dropped");
    }
    let _ = open.send(());
    // The `Down` counted as waiting: with it, room for one item; the other three were the
    // oldest when newer ones came.
    eventually(&exec, "the backlog handled", || watcher.mailbox_len() == 0).await;
    let log = within(&exec, LONG, watcher.ask(WMsg::Get))
        .await
        .expect("the log");
    assert_eq!(log, ["down", "4"]);
    assert_eq!(watcher.dropped_count(), 3);
}

/// Notices keep their order among themselves: four targets end one after another while the
/// watcher is held with items behind it, two watched by a monitor and two by a trapped link,
/// alternately; their `Down`s and `Exit`s are handled in the order the targets ended, all
/// before the items.
async fn notices_keep_their_order<E: Executor, MB: Mailbox>(exec: E, mailbox: MB) {
    let system = System::new(exec.clone());
    let watcher = system.spawner(mailbox).spawn(Watcher::default());
    within(&exec, LONG, watcher.ask(WMsg::Trap))
        .await
        .expect("trapping");
    let targets: Vec<_> = (0..4).map(|_| system.spawn(Recorder::new().0)).collect();
    for (i, target) in targets.iter().enumerate() {
        if i % 2 == 0 {
            drop(target.monitor_by(&watcher));
        } else {
            watcher.link(target);
        }
    }
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, watcher.ask(|r| WMsg::Hold(r, gate)))
        .await
        .expect("held");
    for n in 1..=3 {
        watcher.tell(WMsg::Item(n)).await.expect("queued");
    }
    for target in &targets {
        target.kill();
        within(&exec, LONG, target.wait()).await;
    }
    let _ = open.send(());
    let log = within(&exec, LONG, watcher.ask(WMsg::Get))
        .await
        .expect("the log");
    assert_eq!(log, ["down", "exit", "down", "exit", "1", "2", "3"]);
}

/// A notice handed out when the incarnation is asked to end after its current message goes
/// back ahead of the notices queued after it: the next incarnation handles them all, in the
/// order their targets ended, before the items, whatever the strategy (never dropped to make
/// room, never behind a more urgent level).
async fn notices_keep_their_order_across_a_restart<E: Executor, MB: Mailbox>(exec: E, mailbox: MB) {
    let system = System::new(exec.clone());
    let first = Watcher::default();
    let next = first.clone();
    let watcher = system
        .spawner(mailbox)
        .spawn_restartable(first.clone(), restart_with(move |_| Some(next.clone())));
    let targets: Vec<_> = (0..3).map(|_| system.spawn(Recorder::new().0)).collect();
    for target in &targets {
        drop(target.monitor_by(&watcher));
    }
    let (open, gate) = oneshot::channel();
    within(&exec, LONG, watcher.ask(|r| WMsg::Hold(r, gate)))
        .await
        .expect("held");
    for n in 1..=2 {
        watcher.tell(WMsg::Item(n)).await.expect("queued");
    }
    for target in &targets {
        target.kill();
        within(&exec, LONG, target.wait()).await;
    }
    watcher.end_incarnation(
        IncarnationEnd::AfterCurrentMessage,
        ExitReason::Shutdown(None),
    );
    let _ = open.send(());
    eventually(&exec, "every notice handled", || {
        first.downs.lock().unwrap().len() == 3
    })
    .await;
    let log = within(&exec, LONG, watcher.ask(WMsg::Get))
        .await
        .expect("the log");
    assert_eq!(log, ["down", "down", "down", "1", "2"]);
    let ids: Vec<ActorId> = targets.iter().map(|t| t.id()).collect();
    assert_eq!(
        *first.downs.lock().unwrap(),
        ids,
        "in the order the targets ended"
    );
    assert_eq!(watcher.dropped_count(), 0);
}

async fn notices_keep_their_order_across_a_restart_in_a_batch<E: Executor>(exec: E) {
    notices_keep_their_order_across_a_restart(exec, Unbounded).await;
}

async fn notices_keep_their_order_across_a_restart_without_batching<E: Executor>(exec: E) {
    notices_keep_their_order_across_a_restart(
        exec,
        Bounded::<DropOldest>::with_capacity(2).unwrap(),
    )
    .await;
}

async fn notices_keep_their_order_across_a_restart_by_level<E: Executor>(exec: E) {
    notices_keep_their_order_across_a_restart(exec, Bounded::<Prioritized<Block, 3>>::default())
        .await;
}

async fn notices_keep_their_order_in_a_batch<E: Executor>(exec: E) {
    notices_keep_their_order(exec, Unbounded).await;
}

async fn notices_keep_their_order_without_batching<E: Executor>(exec: E) {
    notices_keep_their_order(exec, Bounded::<DropOldest>::default()).await;
}

executor_tests!(
    kill_overtakes_a_full_block_mailbox_with_a_blocked_sender,
    shutdown_skips_a_full_block_mailbox,
    supervisor_shutdown_overtakes_a_backlog,
    down_overtakes_a_batch,
    down_overtakes_a_bounded_backlog,
    down_overtakes_without_batching,
    trapped_exit_overtakes_a_batch,
    drop_oldest_never_drops_a_notice,
    down_overtakes_a_prioritized_mailbox,
    trapped_exit_overtakes_an_expiring_batch,
    notices_keep_their_order_in_a_batch,
    notices_keep_their_order_without_batching,
    notices_keep_their_order_across_a_restart_in_a_batch,
    notices_keep_their_order_across_a_restart_without_batching,
    notices_keep_their_order_across_a_restart_by_level,
);
