//! Links, monitors and trapped exits; ending an incarnation without ending the actor; a
//! `Supervision` that decides asynchronously. Each body runs on every executor.
//!
//! - A monitor delivers exactly one `Down` with the reason (also when the target had already
//!   ended, also into a full `Reject` mailbox); `demonitor` takes it back only before the end.
//! - A link ends the other actor's running incarnation with the same abnormal reason, in both
//!   directions; a normal end does not; a trapping actor gets an `Exit` message instead (for
//!   normal ends too) and lives on; an unlinked pair is independent; a restartable linked actor
//!   is restarted behind the same reference.
//! - `end_incarnation` keeps the queue for the next incarnation (nothing lost, nothing handled
//!   twice), and `Now` cuts a suspended handler; without a restart policy the actor ends with
//!   the reason given.
//! - A `Supervision` that answers `Pending` keeps the actor waiting with its mailbox open;
//!   `RestartDrained` discards the queue with `NoReply::Drained`.
//!
//! No assertion is on timing: every "has not happened" is checked after a round trip that
//! would have seen it.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::sync::{Arc, Mutex};
use ::std::task::{Context as TaskContext, Poll, Waker};

use common::*;
use futures::channel::{mpsc, oneshot};
use playhouse::prelude::*;
use playhouse::{
    ActorId, Down, Exit, IncarnationEnd, Monitor, Next, Supervision, reply_port, restart_with,
};

// ---------------------------------------------------------------------------------------------
// The test actor

/// What a [`Node`] reports, in the order it happened.
#[derive(Debug)]
enum Event {
    Down(Down),
    Exit(Exit),
    /// `Item(n)` handled by incarnation `inc`.
    Item {
        inc: u32,
        n: u32,
    },
    /// Incarnation `inc` ended (its `stopped` hook ran) with `reason`.
    Stopped {
        inc: u32,
        reason: ExitReason,
    },
}

type Events = mpsc::UnboundedReceiver<Event>;

/// An actor that reports every `Down`, `Exit`, item and end of incarnation to its test, and can
/// be made to fail, panic, stop itself, wait, monitor, link and trap exits.
struct Node {
    tx: mpsc::UnboundedSender<Event>,
}

impl Node {
    fn new() -> (Self, Events) {
        let (tx, rx) = mpsc::unbounded();
        (Node { tx }, rx)
    }

    /// A fresh incarnation reporting to the same test.
    fn again(&self) -> Self {
        Node {
            tx: self.tx.clone(),
        }
    }
}

enum NodeMsg {
    Down(Down),
    Exit(Exit),
    Item(u32),
    Fail,
    Panic,
    StopSelf,
    /// Answers (so the asker knows the actor is busy), then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    /// Tells `entered`, then waits forever, holding the reply port.
    Park(Reply<u32>, oneshot::Sender<()>),
    Trap(bool, Reply<()>),
    Link(ActorRef<Node>, Reply<()>),
    Unlink(ActorRef<Node>, Reply<bool>),
    Monitor(ActorRef<Node>, Reply<Monitor>),
    Incarnation(Reply<u32>),
}

impl From<Down> for NodeMsg {
    fn from(down: Down) -> Self {
        NodeMsg::Down(down)
    }
}

impl From<Exit> for NodeMsg {
    fn from(exit: Exit) -> Self {
        NodeMsg::Exit(exit)
    }
}

impl Actor for Node {
    type Message = NodeMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Node {
    async fn handle(&mut self, msg: NodeMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            NodeMsg::Down(down) => {
                let _ = self.tx.unbounded_send(Event::Down(down));
            }
            NodeMsg::Exit(exit) => {
                let _ = self.tx.unbounded_send(Event::Exit(exit));
            }
            NodeMsg::Item(n) => {
                let inc = ctx.incarnation();
                let _ = self.tx.unbounded_send(Event::Item { inc, n });
            }
            NodeMsg::Fail => return Err(FAIL),
            NodeMsg::Panic => panic!("node boom"),
            NodeMsg::StopSelf => ctx.stop(),
            NodeMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            NodeMsg::Park(_reply, entered) => {
                let _ = entered.send(());
                ::std::future::pending::<()>().await;
            }
            NodeMsg::Trap(trap, reply) => {
                ctx.trap_exit(trap);
                let _ = reply.send(());
            }
            NodeMsg::Link(other, reply) => {
                ctx.link(&other);
                let _ = reply.send(());
            }
            NodeMsg::Unlink(other, reply) => {
                let _ = reply.send(ctx.unlink(&other));
            }
            NodeMsg::Monitor(target, reply) => {
                let _ = reply.send(ctx.monitor(&target));
            }
            NodeMsg::Incarnation(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, reason: &ExitReason) {
        let inc = ctx.incarnation();
        let _ = self.tx.unbounded_send(Event::Stopped {
            inc,
            reason: reason.clone(),
        });
    }
}

/// Every event reported so far (without waiting).
fn drain(rx: &mut Events) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// The actor's incarnation, asked: a round trip, so everything queued before it was handled.
async fn incarnation<E: Executor, MB: Mailbox>(exec: &E, node: &ActorRef<Node, MB>) -> u32 {
    within(exec, LONG, node.ask(NodeMsg::Incarnation))
        .await
        .expect("the node answers")
}

/// Makes `node` busy: returns once its handler waits on the returned sender (send or drop it to
/// let the handler go on).
async fn hold<E: Executor, MB: Mailbox>(
    exec: &E,
    node: &ActorRef<Node, MB>,
) -> oneshot::Sender<()> {
    let (open, gate) = oneshot::channel();
    within(exec, LONG, node.ask(|r| NodeMsg::Hold(r, gate)))
        .await
        .expect("the node took the Hold message");
    open
}

async fn ask_unit<E: Executor>(
    exec: &E,
    node: &ActorRef<Node>,
    make: impl FnOnce(Reply<()>) -> NodeMsg,
) {
    within(exec, LONG, node.ask(make))
        .await
        .expect("the node answers");
}

/// Starts `node.ask(Park)` in a task of its own; returns once the handler holds the port, with
/// the receiver of the ask's result.
async fn parked_ask<E: Executor>(
    exec: &E,
    node: &ActorRef<Node>,
) -> oneshot::Receiver<Result<u32, AskError<NodeMsg>>> {
    let (entered_tx, entered_rx) = oneshot::channel();
    let (result_tx, result_rx) = oneshot::channel();
    let node = node.clone();
    exec.spawn(async move {
        let _ = result_tx.send(node.ask(|r| NodeMsg::Park(r, entered_tx)).await);
    });
    within(exec, LONG, entered_rx)
        .await
        .expect("the handler took the parked ask");
    result_rx
}

/// How a test ends an actor.
#[derive(Clone, Copy, Debug)]
enum How {
    /// `Context::stop`: `Normal`.
    Normal,
    /// A handler's `Err(FAIL)`.
    Fail,
    /// A handler's panic, "node boom".
    Panic,
    /// `kill()`.
    Kill,
}

const ABNORMAL: [How; 3] = [How::Fail, How::Panic, How::Kill];
const EVERY_END: [How; 4] = [How::Normal, How::Fail, How::Panic, How::Kill];

async fn end<E: Executor, MB: Mailbox>(exec: &E, node: &ActorRef<Node, MB>, how: How) {
    let msg = match how {
        How::Normal => NodeMsg::StopSelf,
        How::Fail => NodeMsg::Fail,
        How::Panic => NodeMsg::Panic,
        How::Kill => return node.kill(),
    };
    within(exec, LONG, node.tell(msg))
        .await
        .unwrap_or_else(|_| panic!("the node took {how:?}"));
}

/// Asserts that `reason` is what ending an actor `how` gives.
fn assert_reason(how: How, reason: &ExitReason) {
    match how {
        How::Normal => assert!(matches!(reason, ExitReason::Normal), "{reason:?}"),
        How::Fail => assert_failed_with(reason, &FAIL),
        How::Panic => assert_panicked_with(reason, "node boom"),
        How::Kill => assert!(matches!(reason, ExitReason::Killed), "{reason:?}"),
    }
}

/// The receiver of `node`'s exit reason, from an `on_exit` watcher registered now. Watchers
/// run in the order they were registered, so once it has fired, every monitor and link
/// registered before it has delivered its `Down` or exit signal. (A `wait()` first polled just
/// after the end was recorded may resolve while the watchers are still running.)
fn exit_notice<A: Actor, MB: Mailbox>(node: &ActorRef<A, MB>) -> oneshot::Receiver<ExitReason> {
    let (tx, rx) = oneshot::channel();
    node.on_exit(move |_, reason| {
        let _ = tx.send(reason.clone());
    });
    rx
}

/// Waits for the exit watcher of [`exit_notice`].
async fn noticed<E: Executor>(exec: &E, notice: oneshot::Receiver<ExitReason>) -> ExitReason {
    within(exec, LONG, notice)
        .await
        .expect("the exit watcher ran")
}

/// Ends `node` `how` and waits until its monitors and links have been told; returns the
/// reason, checked.
async fn end_and_wait<E: Executor, MB: Mailbox>(
    exec: &E,
    node: &ActorRef<Node, MB>,
    how: How,
) -> ExitReason {
    let notice = exit_notice(node);
    end(exec, node, how).await;
    let reason = noticed(exec, notice).await;
    assert_reason(how, &reason);
    assert_eq!(
        format!("{reason:?}"),
        format!("{:?}", within(exec, LONG, node.wait()).await),
        "wait() and the exit watcher disagree"
    );
    reason
}

/// Asserts that `events` are exactly one `Down` for `target` through `monitor`, with a reason
/// as ending it `how` gives.
fn assert_one_down(events: &[Event], target: ActorId, monitor: u64, how: How) {
    match events {
        [Event::Down(down)] => {
            assert_eq!(down.id, target, "the Down names the actor that ended");
            assert_eq!(down.monitor, monitor, "the Down names its monitor");
            assert_reason(how, &down.reason);
        }
        other => panic!("expected one Down, got {other:?}"),
    }
}

/// Asserts that `events` are exactly one `Exit` from `from`, with a reason as ending it `how`
/// gives.
fn assert_one_exit(events: &[Event], from: ActorId, how: How) {
    match events {
        [Event::Exit(exit)] => {
            assert_eq!(exit.id, from, "the Exit names the linked actor");
            assert_reason(how, &exit.reason);
        }
        other => panic!("expected one Exit, got {other:?}"),
    }
}

/// Asserts that `events` are one end of incarnation 1, with a reason as ending the linked actor
/// `how` gives.
fn assert_ended_like(events: &[Event], how: How) {
    match events {
        [Event::Stopped { inc: 1, reason }] => assert_reason(how, reason),
        other => panic!("expected incarnation 1 to end, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Monitors

/// A monitor of a live actor delivers exactly one `Down`, naming the actor and the monitor, with
/// the reason it ended with: `Normal`, `Failed`, `Panicked` and `Killed`. Set up from outside
/// (`monitor_by`) and from inside the watcher (`Context::monitor`) alike. The watcher lives on.
async fn a_monitor_delivers_one_down_with_the_reason<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (watcher, mut events) = Node::new();
    let watcher = system.spawn(watcher);
    for (i, how) in EVERY_END.into_iter().enumerate() {
        let (target, mut target_events) = Node::new();
        let target = system.spawn(target);
        let monitor = if i % 2 == 0 {
            target.monitor_by(&watcher)
        } else {
            within(
                &exec,
                LONG,
                watcher.ask(|r| NodeMsg::Monitor(target.clone(), r)),
            )
            .await
            .expect("the watcher monitors")
        };
        assert_eq!(monitor.target(), target.id());
        // Nothing before the end.
        incarnation(&exec, &watcher).await;
        assert!(drain(&mut events).is_empty(), "a Down before the end");
        end_and_wait(&exec, &target, how).await;
        // The Down is queued ahead of this ask.
        assert_eq!(
            incarnation(&exec, &watcher).await,
            1,
            "the watcher lives on"
        );
        assert_one_down(&drain(&mut events), target.id(), monitor.id(), how);
        // The monitor is spent.
        assert!(!monitor.demonitor(), "demonitor after the Down was sent");
        incarnation(&exec, &watcher).await;
        assert!(drain(&mut events).is_empty(), "a second Down");
        drop(drain(&mut target_events));
    }
}

/// A monitor of an actor that has already ended delivers its `Down` at once, with the reason it
/// ended with: it is in the watcher's mailbox when `monitor_by` returns.
async fn a_monitor_of_an_ended_actor_delivers_down_at_once<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (watcher, mut events) = Node::new();
    let watcher = system.spawn(watcher);
    for how in EVERY_END {
        let target = system.spawn(Node::new().0);
        end_and_wait(&exec, &target, how).await;
        let gate = hold(&exec, &watcher).await;
        let monitor = target.monitor_by(&watcher);
        assert_eq!(watcher.mailbox_len(), 1, "the Down is queued at once");
        drop(gate);
        incarnation(&exec, &watcher).await;
        assert_one_down(&drain(&mut events), target.id(), monitor.id(), how);
        assert!(!monitor.demonitor(), "demonitor of a delivered Down");
    }
    // From inside the watcher too.
    let target = system.spawn(Node::new().0);
    end_and_wait(&exec, &target, How::Fail).await;
    let monitor = within(
        &exec,
        LONG,
        watcher.ask(|r| NodeMsg::Monitor(target.clone(), r)),
    )
    .await
    .expect("the watcher monitors");
    incarnation(&exec, &watcher).await;
    assert_one_down(&drain(&mut events), target.id(), monitor.id(), How::Fail);
}

/// Two monitors of one actor (by one watcher, or by two) are independent: each delivers its own
/// `Down`; taking one back leaves the other.
async fn two_monitors_deliver_two_downs<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (watcher, mut events) = Node::new();
    let watcher = system.spawn(watcher);
    let (other, mut other_events) = Node::new();
    let other = system.spawn(other);
    let target = system.spawn(Node::new().0);
    let first = target.monitor_by(&watcher);
    let second = target.monitor_by(&watcher);
    let third = target.monitor_by(&other);
    let taken_back = target.monitor_by(&watcher);
    assert_ne!(first.id(), second.id());
    assert_ne!(second.id(), third.id());
    assert!(taken_back.demonitor());
    end_and_wait(&exec, &target, How::Panic).await;
    incarnation(&exec, &watcher).await;
    incarnation(&exec, &other).await;
    let mut downs: Vec<u64> = drain(&mut events)
        .into_iter()
        .map(|e| match e {
            Event::Down(d) => {
                assert_eq!(d.id, target.id());
                assert_reason(How::Panic, &d.reason);
                d.monitor
            }
            e => panic!("expected a Down, got {e:?}"),
        })
        .collect();
    downs.sort_unstable();
    let mut expected = vec![first.id(), second.id()];
    expected.sort_unstable();
    assert_eq!(downs, expected, "one Down per monitor");
    assert_one_down(
        &drain(&mut other_events),
        target.id(),
        third.id(),
        How::Panic,
    );
}

/// A monitor is kept on both sides only while it can still fire: a watcher that ends takes its
/// monitors back from the actors it watched (OTP drops a monitor with its process), a `Down`
/// sent takes the watcher's record back, and so does `demonitor`. So a long-lived actor watched
/// by many short-lived ones, or watching many, keeps nothing of them.
async fn a_monitor_goes_with_the_watcher_the_down_or_demonitor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let target = system.spawn(Node::new().0);
    for _ in 0..20 {
        let watcher = system.spawn(Node::new().0);
        let _monitor = target.monitor_by(&watcher);
        assert_eq!(watcher.exit_watcher_count(), 1);
        watcher.stop();
        within(&exec, LONG, watcher.wait()).await;
    }
    assert_eq!(target.exit_watcher_count(), 0, "ended watchers' monitors");

    let (watcher, mut events) = Node::new();
    let watcher = system.spawn(watcher);
    for _ in 0..20 {
        let short = system.spawn(Node::new().0);
        let _monitor = short.monitor_by(&watcher);
        short.stop();
        within(&exec, LONG, short.wait()).await;
    }
    incarnation(&exec, &watcher).await;
    assert_eq!(drain(&mut events).len(), 20, "a Down per ended target");
    assert_eq!(watcher.exit_watcher_count(), 0, "records of Downs sent");

    let taken_back = target.monitor_by(&watcher);
    assert_eq!(
        (target.exit_watcher_count(), watcher.exit_watcher_count()),
        (1, 1)
    );
    assert!(taken_back.demonitor());
    assert_eq!(
        (target.exit_watcher_count(), watcher.exit_watcher_count()),
        (0, 0)
    );
}

/// `demonitor` before the end returns `true`, and no `Down` ever comes; after the end it
/// returns `false` (the `Down` was sent).
async fn demonitor_before_the_end_means_no_down<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (watcher, mut events) = Node::new();
    let watcher = system.spawn(watcher);
    for how in EVERY_END {
        let target = system.spawn(Node::new().0);
        let kept = target.monitor_by(&watcher);
        let monitor = within(
            &exec,
            LONG,
            watcher.ask(|r| NodeMsg::Monitor(target.clone(), r)),
        )
        .await
        .expect("the watcher monitors");
        assert!(monitor.demonitor(), "demonitor before the end");
        end_and_wait(&exec, &target, how).await;
        incarnation(&exec, &watcher).await;
        assert_one_down(&drain(&mut events), target.id(), kept.id(), how);
        assert!(!kept.demonitor(), "demonitor after the end");
    }
}

/// A monitor of a restartable actor delivers nothing when an incarnation ends and the actor
/// restarts behind the same reference; one `Down` when it ends for good.
async fn a_monitor_sees_the_end_for_good_not_a_restart<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (watcher, mut events) = Node::new();
    let watcher = system.spawn(watcher);
    let (target, mut target_events) = Node::new();
    let target = system.spawn_restartable(
        target.again(),
        restart_with(move |reason| (!reason.is_normal()).then(|| target.again())),
    );
    let monitor = target.monitor_by(&watcher);
    end(&exec, &target, How::Fail).await;
    assert_eq!(incarnation(&exec, &target).await, 2, "restarted");
    incarnation(&exec, &watcher).await;
    assert!(drain(&mut events).is_empty(), "a Down for a restart");
    end_and_wait(&exec, &target, How::Normal).await;
    incarnation(&exec, &watcher).await;
    assert_one_down(&drain(&mut events), target.id(), monitor.id(), How::Normal);
    assert_eq!(drain(&mut target_events).len(), 2, "two incarnations ended");
}

/// A `Down` enters a full `Bounded<Reject>` mailbox: control messages bypass the capacity (and
/// overtake what is queued). The mailbox holds one more than its capacity until the watcher
/// catches up, and refuses ordinary messages meanwhile.
async fn a_down_enters_a_full_reject_mailbox<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (watcher, mut events) = Node::new();
    let watcher = system
        .spawner(Bounded::<Reject>::with_capacity(1).unwrap())
        .spawn(watcher);
    let target = system.spawn(Node::new().0);
    let monitor = target.monitor_by(&watcher);
    let gate = hold(&exec, &watcher).await;
    assert!(watcher.try_tell(NodeMsg::Item(1)).is_ok());
    assert!(matches!(
        watcher.try_tell(NodeMsg::Item(2)),
        Err(SendError::Full(NodeMsg::Item(2)))
    ));
    end_and_wait(&exec, &target, How::Fail).await;
    assert_eq!(
        watcher.mailbox_len(),
        2,
        "the Down is queued over the capacity"
    );
    assert!(matches!(
        watcher.try_tell(NodeMsg::Item(3)),
        Err(SendError::Full(NodeMsg::Item(3)))
    ));
    drop(gate);
    // The `Down` overtakes the item queued before it (control before user messages).
    let down = next(&exec, &mut events).await;
    assert_one_down(&[down], target.id(), monitor.id(), How::Fail);
    match next(&exec, &mut events).await {
        Event::Item { inc: 1, n: 1 } => {}
        other => panic!("expected Item 1 after the Down, got {other:?}"),
    }
    eventually(&exec, "the watcher to catch up", || {
        watcher.mailbox_len() == 0
    })
    .await;
    assert_eq!(watcher.dropped_count(), 0);
    assert_eq!(watcher.discarded_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Links

/// An abnormal end of either linked actor ends the other with the same reason (failure, panic,
/// kill), whichever end dies and whichever linked (`ActorRef::link`, `Context::link`).
async fn an_abnormal_exit_ends_the_linked_actor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for how in ABNORMAL {
        for (dies_first, from_inside) in [(0, false), (1, false), (0, true), (1, true)] {
            let (a, mut a_events) = Node::new();
            let (b, mut b_events) = Node::new();
            let (a, b) = (system.spawn(a), system.spawn(b));
            if from_inside {
                ask_unit(&exec, &a, |r| NodeMsg::Link(b.clone(), r)).await;
            } else {
                a.link(&b);
            }
            let (dying, other, other_events) = if dies_first == 0 {
                (&a, &b, &mut b_events)
            } else {
                (&b, &a, &mut a_events)
            };
            end_and_wait(&exec, dying, how).await;
            let reason = within(&exec, LONG, other.wait()).await;
            assert_reason(how, &reason);
            // `stopped` saw the same reason.
            assert_ended_like(&drain(other_events), how);
        }
    }
}

/// A normal end of a linked actor (`Context::stop`, `stop()`, the last reference dropped) does
/// not end the other, which goes on handling messages; and it is told nothing.
async fn a_normal_exit_does_not_end_the_linked_actor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (b, mut events) = Node::new();
    let b = system.spawn(b);
    for round in 0..3 {
        let a = system.spawn(Node::new().0);
        b.link(&a);
        let reason = match round {
            0 => end_and_wait(&exec, &a, How::Normal).await,
            1 => {
                let notice = exit_notice(&a);
                a.stop();
                noticed(&exec, notice).await
            }
            _ => {
                let notice = exit_notice(&a);
                drop(a);
                noticed(&exec, notice).await
            }
        };
        assert!(reason.is_normal(), "{reason:?}");
        assert_eq!(incarnation(&exec, &b).await, 1);
        assert!(b.is_alive());
        assert!(drain(&mut events).is_empty(), "the linked actor was told");
    }
}

/// A trapping actor gets a linked actor's end as one `Exit` message, whatever the reason
/// (normal ones included), and lives on.
async fn trap_exit_turns_the_signal_into_a_message<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (b, mut events) = Node::new();
    let b = system.spawn(b);
    ask_unit(&exec, &b, |r| NodeMsg::Trap(true, r)).await;
    for how in EVERY_END {
        let a = system.spawn(Node::new().0);
        if matches!(how, How::Panic) {
            ask_unit(&exec, &b, |r| NodeMsg::Link(a.clone(), r)).await;
        } else {
            a.link(&b);
        }
        end_and_wait(&exec, &a, how).await;
        assert_eq!(
            incarnation(&exec, &b).await,
            1,
            "the trapping actor lives on"
        );
        assert_one_exit(&drain(&mut events), a.id(), how);
    }
    // A stop gives a Shutdown exit.
    let a = system.spawn(Node::new().0);
    a.link(&b);
    let notice = exit_notice(&a);
    a.stop();
    noticed(&exec, notice).await;
    incarnation(&exec, &b).await;
    match &drain(&mut events)[..] {
        [Event::Exit(exit)] => {
            assert_eq!(exit.id, a.id());
            assert!(matches!(exit.reason, ExitReason::Shutdown(None)));
        }
        other => panic!("expected one Exit, got {other:?}"),
    }
    // Trapping off again: an abnormal end ends it.
    ask_unit(&exec, &b, |r| NodeMsg::Trap(false, r)).await;
    let a = system.spawn(Node::new().0);
    a.link(&b);
    end_and_wait(&exec, &a, How::Fail).await;
    assert_reason(How::Fail, &within(&exec, LONG, b.wait()).await);
}

/// Linking to an actor that has already ended abnormally ends the linker at once with that
/// reason, whichever side calls `link` (`ActorRef::link` both ways, `Context::link`); a trapping
/// linker gets the `Exit` at once instead.
async fn a_link_to_an_ended_actor_ends_the_linker_at_once<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for how in ABNORMAL {
        for side in 0..3 {
            let dead = system.spawn(Node::new().0);
            end_and_wait(&exec, &dead, how).await;
            let (alive, mut events) = Node::new();
            let alive = system.spawn(alive);
            match side {
                0 => alive.link(&dead),
                1 => dead.link(&alive),
                _ => {
                    // The handler that links returns, then the incarnation ends.
                    let _ = alive
                        .tell(NodeMsg::Link(dead.clone(), reply_port().0))
                        .await;
                }
            }
            let reason = within(&exec, LONG, alive.wait()).await;
            assert_reason(how, &reason);
            assert_ended_like(&drain(&mut events), how);
        }
    }
    // A trapping linker.
    let dead = system.spawn(Node::new().0);
    end_and_wait(&exec, &dead, How::Fail).await;
    let (alive, mut events) = Node::new();
    let alive = system.spawn(alive);
    ask_unit(&exec, &alive, |r| NodeMsg::Trap(true, r)).await;
    dead.link(&alive);
    incarnation(&exec, &alive).await;
    assert_one_exit(&drain(&mut events), dead.id(), How::Fail);
    // A normal end linked to later signals nothing to a non-trapping actor.
    let dead = system.spawn(Node::new().0);
    end_and_wait(&exec, &dead, How::Normal).await;
    let (alive, mut events) = Node::new();
    let alive = system.spawn(alive);
    dead.link(&alive);
    alive.link(&dead);
    assert_eq!(incarnation(&exec, &alive).await, 1);
    assert!(drain(&mut events).is_empty());
}

/// After `unlink` returns `true`, neither end's exit reaches the other; a second unlink returns
/// `false`.
async fn unlink_stops_the_propagation<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for (how, from_inside) in [(How::Fail, false), (How::Kill, true), (How::Panic, false)] {
        let (a, mut a_events) = Node::new();
        let (b, mut b_events) = Node::new();
        let (a, b) = (system.spawn(a), system.spawn(b));
        a.link(&b);
        let unlinked = if from_inside {
            within(&exec, LONG, b.ask(|r| NodeMsg::Unlink(a.clone(), r)))
                .await
                .expect("the node unlinks")
        } else {
            b.unlink(&a)
        };
        assert!(unlinked, "there was a link");
        assert!(!a.unlink(&b), "the link is gone");
        end_and_wait(&exec, &a, how).await;
        assert_eq!(incarnation(&exec, &b).await, 1);
        assert!(b.is_alive());
        assert!(drain(&mut b_events).is_empty());
        drop(drain(&mut a_events));
    }
    // The other direction: a trapping actor that unlinked gets no Exit.
    let (a, _a_events) = Node::new();
    let (b, mut b_events) = Node::new();
    let (a, b) = (system.spawn(a), system.spawn(b));
    ask_unit(&exec, &b, |r| NodeMsg::Trap(true, r)).await;
    b.link(&a);
    assert!(a.unlink(&b));
    end_and_wait(&exec, &a, How::Normal).await;
    incarnation(&exec, &b).await;
    assert!(drain(&mut b_events).is_empty(), "an Exit after unlink");
}

/// A restartable actor linked to one that fails is restarted (a new incarnation behind the same
/// reference) instead of ending; its ended incarnation saw the linked actor's reason.
async fn a_linked_restartable_actor_is_restarted<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for how in ABNORMAL {
        let (b, mut b_events) = Node::new();
        let b = system.spawn_restartable(b.again(), restart_with(move |_| Some(b.again())));
        let a = system.spawn(Node::new().0);
        a.link(&b);
        end_and_wait(&exec, &a, how).await;
        assert_eq!(
            incarnation(&exec, &b).await,
            2,
            "restarted behind the same ref"
        );
        assert!(b.is_alive());
        assert_ended_like(&drain(&mut b_events), how);
        // The link was spent: the new incarnation lives on.
        assert!(!b.unlink(&a));
        b.stop();
        assert!(matches!(
            within(&exec, LONG, b.wait()).await,
            ExitReason::Shutdown(None)
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Ending an incarnation

/// `end_incarnation(AfterCurrentMessage)` while a handler runs, with messages queued behind it:
/// the handler finishes, the incarnation ends with the reason given, and the next one handles
/// every queued message, once, in order. Messages sent after the request go to the next
/// incarnation too.
async fn ending_after_the_current_message_keeps_the_queue<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (node, mut events) = Node::new();
    let node = system.spawn_restartable(node.again(), restart_with(move |_| Some(node.again())));
    let gate = hold(&exec, &node).await;
    for n in 1..=5 {
        within(&exec, LONG, node.tell(NodeMsg::Item(n)))
            .await
            .expect("queued");
    }
    node.end_incarnation(
        IncarnationEnd::AfterCurrentMessage,
        ExitReason::Shutdown(Some("rotate".into())),
    );
    for n in 6..=7 {
        within(&exec, LONG, node.tell(NodeMsg::Item(n)))
            .await
            .expect("queued");
    }
    let _ = gate.send(());
    assert_eq!(incarnation(&exec, &node).await, 2);
    let seen = drain(&mut events);
    match &seen[..] {
        [Event::Stopped { inc: 1, reason }, rest @ ..] => {
            assert!(
                matches!(reason, ExitReason::Shutdown(Some(why)) if &**why == "rotate"),
                "{reason:?}"
            );
            let handled: Vec<(u32, u32)> = rest
                .iter()
                .map(|e| match e {
                    Event::Item { inc, n } => (*inc, *n),
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            let expected: Vec<(u32, u32)> = (1..=7).map(|n| (2, n)).collect();
            assert_eq!(handled, expected, "nothing lost, nothing handled twice");
        }
        other => panic!("expected the first incarnation to end, got {other:?}"),
    }
    assert_eq!(node.discarded_count(), 0);

    // Idle: it ends at once (a message that comes meanwhile is left to the next incarnation).
    node.end_incarnation(IncarnationEnd::AfterCurrentMessage, ExitReason::Normal);
    assert_eq!(incarnation(&exec, &node).await, 3);
    let seen = drain(&mut events);
    assert!(
        matches!(
            &seen[..],
            [Event::Stopped {
                inc: 2,
                reason: ExitReason::Normal
            }]
        ),
        "{seen:?}"
    );
    // A request withdrawn before it is acted on changes nothing.
    let gate = hold(&exec, &node).await;
    node.end_incarnation(IncarnationEnd::AfterCurrentMessage, ExitReason::Normal);
    node.withdraw_end_incarnation();
    let _ = gate.send(());
    assert_eq!(incarnation(&exec, &node).await, 3);
    assert!(drain(&mut events).is_empty());
}

/// `end_incarnation(Now)` cuts a suspended handler: its ask resolves `NoReply::Stopped`, the
/// incarnation ends with the reason given, and the next one handles what was queued.
async fn ending_now_cuts_a_suspended_handler<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (node, mut events) = Node::new();
    let node = system.spawn_restartable(node.again(), restart_with(move |_| Some(node.again())));
    let parked = parked_ask(&exec, &node).await;
    within(&exec, LONG, node.tell(NodeMsg::Item(1)))
        .await
        .expect("queued");
    node.end_incarnation(IncarnationEnd::Now, ExitReason::failed(TestError("cut")));
    let answer = within(&exec, LONG, parked).await.expect("the ask resolved");
    assert!(
        matches!(answer, Err(AskError::NoReply(NoReply::Stopped))),
        "{answer:?}"
    );
    assert_eq!(incarnation(&exec, &node).await, 2);
    let events = drain(&mut events);
    match &events[..] {
        [
            Event::Stopped { inc: 1, reason },
            Event::Item { inc: 2, n: 1 },
        ] => {
            assert_failed_with(reason, &TestError("cut"));
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(node.discarded_count(), 0);
}

/// An actor without a restart policy ends on `end_incarnation`, with the reason given, both
/// ways; the messages still queued are discarded and counted.
async fn without_a_policy_end_incarnation_ends_the_actor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    // After the current message: the handler finishes and answers.
    let (node, mut events) = Node::new();
    let node = system.spawn(node);
    let gate = hold(&exec, &node).await;
    within(&exec, LONG, node.tell(NodeMsg::Item(1)))
        .await
        .expect("queued");
    node.end_incarnation(
        IncarnationEnd::AfterCurrentMessage,
        ExitReason::failed(TestError("retired")),
    );
    let _ = gate.send(());
    let reason = within(&exec, LONG, node.wait()).await;
    assert_failed_with(&reason, &TestError("retired"));
    assert_eq!(node.discarded_count(), 1);
    match &drain(&mut events)[..] {
        [Event::Stopped { inc: 1, reason }] => assert_failed_with(reason, &TestError("retired")),
        other => panic!("unexpected events {other:?}"),
    }

    // Now: the suspended handler is cut, its ask resolves `Stopped`.
    let (node, mut events) = Node::new();
    let node = system.spawn(node);
    let parked = parked_ask(&exec, &node).await;
    node.end_incarnation(
        IncarnationEnd::Now,
        ExitReason::Shutdown(Some("now".into())),
    );
    let answer = within(&exec, LONG, parked).await.expect("the ask resolved");
    assert!(
        matches!(answer, Err(AskError::NoReply(NoReply::Stopped))),
        "{answer:?}"
    );
    let reason = within(&exec, LONG, node.wait()).await;
    assert!(
        matches!(&reason, ExitReason::Shutdown(Some(why)) if &**why == "now"),
        "{reason:?}"
    );
    assert_eq!(drain(&mut events).len(), 1);

    // Idle: at once.
    let node = system.spawn(Node::new().0);
    incarnation(&exec, &node).await;
    node.end_incarnation(IncarnationEnd::AfterCurrentMessage, ExitReason::Killed);
    assert!(matches!(
        within(&exec, LONG, node.wait()).await,
        ExitReason::Killed
    ));
}

// ---------------------------------------------------------------------------------------------
// Supervision

/// What the test tells the [`Held`] supervision to decide.
#[derive(Clone, Copy, Debug)]
enum Decide {
    Restart,
    RestartDrained,
    End,
}

#[derive(Default)]
struct Desk {
    decision: Option<Decide>,
    waker: Option<Waker>,
    /// Each poll's reason, in `Debug` form.
    polls: Vec<String>,
    started: u32,
    /// The actor each hook call named.
    actors: Vec<ActorId>,
}

/// A supervision that answers `Pending` until the test decides, then what it decided.
struct Held {
    desk: Arc<Mutex<Desk>>,
    make: Node,
}

impl Supervision<Node> for Held {
    fn started(&mut self, actor: ActorId) {
        let mut desk = self.desk.lock().unwrap();
        desk.started += 1;
        desk.actors.push(actor);
    }

    fn poll_exited(
        &mut self,
        actor: ActorId,
        reason: &ExitReason,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Next<Node>> {
        let mut desk = self.desk.lock().unwrap();
        desk.polls.push(format!("{reason:?}"));
        desk.actors.push(actor);
        match desk.decision.take() {
            None => {
                desk.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(Decide::Restart) => Poll::Ready(Next::Restart(self.make.again())),
            Some(Decide::RestartDrained) => Poll::Ready(Next::RestartDrained(self.make.again())),
            Some(Decide::End) => Poll::Ready(Next::End),
        }
    }
}

fn decide(desk: &Mutex<Desk>, decision: Option<Decide>) {
    let waker = {
        let mut desk = desk.lock().unwrap();
        desk.decision = decision;
        desk.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

fn supervised<E: Executor>(system: &System<E>) -> (ActorRef<Node>, Events, Arc<Mutex<Desk>>) {
    let (node, events) = Node::new();
    let desk = Arc::new(Mutex::new(Desk::default()));
    let held = Held {
        desk: desk.clone(),
        make: node.again(),
    };
    let node = system
        .spawner(Bounded::<Block>::default())
        .spawn_supervised(node, held);
    (node, events, desk)
}

/// An incarnation fails; the supervision answers `Pending` (and again after a wake-up with no
/// decision): the actor waits, alive, its mailbox open, and messages sent meanwhile queue up.
/// Then it answers `Restart`: the new incarnation, behind the same reference, handles them all.
async fn a_pending_supervision_restarts_later<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (node, mut events, desk) = supervised(&system);
    assert_eq!(incarnation(&exec, &node).await, 1);
    assert_eq!(desk.lock().unwrap().started, 1);
    end(&exec, &node, How::Fail).await;
    eventually(&exec, "the supervision to be asked", || {
        desk.lock().unwrap().waker.is_some()
    })
    .await;
    // A wake-up with no decision: polled again, with the same reason, still waiting.
    decide(&desk, None);
    eventually(&exec, "the supervision to be asked again", || {
        desk.lock().unwrap().waker.is_some()
    })
    .await;
    for n in 1..=3 {
        within(&exec, LONG, node.tell(NodeMsg::Item(n)))
            .await
            .expect("the mailbox stays open while the supervision decides");
    }
    assert!(node.is_alive());
    assert_eq!(node.mailbox_len(), 3);
    {
        let desk = desk.lock().unwrap();
        // At least once more after each wake-up (a message that arrives wakes the task too).
        assert!(desk.polls.len() >= 2, "{:?}", desk.polls);
        assert!(
            desk.polls.iter().all(|r| r.contains("failed on purpose")),
            "{:?}",
            desk.polls
        );
    }
    decide(&desk, Some(Decide::Restart));
    assert_eq!(incarnation(&exec, &node).await, 2);
    assert_eq!(desk.lock().unwrap().started, 2);
    // Every hook call named the actor it governs.
    let actors = desk.lock().unwrap().actors.clone();
    assert!(actors.len() >= 4, "{actors:?}");
    assert!(actors.iter().all(|&a| a == node.id()), "{actors:?}");
    let events = drain(&mut events);
    match &events[..] {
        [Event::Stopped { inc: 1, reason }, items @ ..] => {
            assert_failed_with(reason, &FAIL);
            let handled: Vec<(u32, u32)> = items
                .iter()
                .map(|e| match e {
                    Event::Item { inc, n } => (*inc, *n),
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            assert_eq!(handled, [(2, 1), (2, 2), (2, 3)]);
        }
        other => panic!("unexpected events {other:?}"),
    }
    // `End` ends it with the incarnation's reason.
    end(&exec, &node, How::Panic).await;
    eventually(&exec, "the supervision to be asked", || {
        desk.lock().unwrap().waker.is_some()
    })
    .await;
    decide(&desk, Some(Decide::End));
    assert_reason(How::Panic, &within(&exec, LONG, node.wait()).await);
}

/// `RestartDrained` discards what was queued while the supervision decided: the asks resolve
/// `NoReply::Drained`, the messages are counted in `discarded_count`, and the new incarnation
/// handles only what is sent after.
async fn restart_drained_discards_the_queue<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (node, mut events, desk) = supervised(&system);
    end(&exec, &node, How::Fail).await;
    eventually(&exec, "the supervision to be asked", || {
        desk.lock().unwrap().waker.is_some()
    })
    .await;
    let (tx, mut answers) = mpsc::unbounded();
    for _ in 0..3 {
        let (node, tx) = (node.clone(), tx.clone());
        exec.spawn(async move {
            let _ = tx.unbounded_send(node.ask(NodeMsg::Incarnation).await);
        });
    }
    within(&exec, LONG, node.tell(NodeMsg::Item(1)))
        .await
        .expect("queued");
    let (reply, port) = reply_port::<u32>();
    assert!(node.try_tell(NodeMsg::Incarnation(reply)).is_ok());
    eventually(&exec, "the asks to be queued", || node.mailbox_len() == 5).await;
    assert_eq!(node.discarded_count(), 0);
    decide(&desk, Some(Decide::RestartDrained));
    for _ in 0..3 {
        let answer = next(&exec, &mut answers).await;
        assert!(
            matches!(answer, Err(AskError::NoReply(NoReply::Drained))),
            "{answer:?}"
        );
    }
    assert_eq!(
        within(&exec, LONG, port).await,
        Err(NoReply::Drained),
        "a reply port in the discarded queue"
    );
    assert_eq!(node.discarded_count(), 5);
    assert_eq!(incarnation(&exec, &node).await, 2);
    within(&exec, LONG, node.tell(NodeMsg::Item(2)))
        .await
        .expect("queued");
    assert_eq!(incarnation(&exec, &node).await, 2);
    let events = drain(&mut events);
    match &events[..] {
        [
            Event::Stopped { inc: 1, reason },
            Event::Item { inc: 2, n: 2 },
        ] => {
            assert_failed_with(reason, &FAIL);
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(node.mailbox_len(), 0);
}

/// How a test ends an actor whose supervision is deciding.
#[derive(Clone, Copy, Debug)]
enum Final {
    Stop,
    Kill,
    LastRefDropped,
}

/// A stop, a kill or the last reference dropped while the supervision decides is as final as
/// one before: the actor ends at once with the incarnation's reason, without waiting for an
/// answer (this one never comes), and nothing restarts.
async fn a_stop_or_kill_while_the_supervision_decides_is_final<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for how in [Final::Stop, Final::Kill, Final::LastRefDropped] {
        let (node, mut events, desk) = supervised(&system);
        end(&exec, &node, How::Fail).await;
        eventually(&exec, "the supervision to be asked", || {
            desk.lock().unwrap().waker.is_some()
        })
        .await;
        let weak = node.downgrade();
        match how {
            Final::Stop => node.stop(),
            Final::Kill => node.kill(),
            Final::LastRefDropped => drop(node),
        }
        let reason = within(&exec, LONG, weak.wait()).await;
        assert_failed_with(&reason, &FAIL);
        assert_eq!(
            desk.lock().unwrap().started,
            1,
            "{how:?} restarted the actor"
        );
        let seen = drain(&mut events);
        assert!(
            matches!(&seen[..], [Event::Stopped { inc: 1, .. }]),
            "{how:?}: {seen:?}"
        );
    }
}

#[test]
fn monitors_and_supervision_types_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Monitor>();
    assert_send::<Down>();
    assert_send::<Exit>();
    assert_send::<Held>();
}

/// Its `stopped` hook awaits a sleep, then says it finished.
struct SlowStopped(mpsc::UnboundedSender<String>);

impl Actor for SlowStopped {
    type Message = ();
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for SlowStopped {
    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, reason: &ExitReason) {
        ctx.sleep(::std::time::Duration::from_millis(20)).await;
        let _ = self
            .0
            .unbounded_send(format!("stopped ran to its end: {reason}"));
    }
}

/// A linked actor's failure ends the running incarnation at once (cutting a suspended
/// handler), and then `stopped` runs to its end, awaits included, as after any other end:
/// the signal that ended the incarnation does not cut it too.
async fn a_linked_failure_lets_stopped_run_to_its_end<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (tx, mut rx) = mpsc::unbounded();
    let slow = system.spawn(SlowStopped(tx));
    let (failing, _) = Node::new();
    let failing = system.spawn(failing);
    slow.link(&failing);
    failing.tell(NodeMsg::Fail).await.expect("tell");
    let reason = within(&exec, LONG, slow.wait()).await;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
    let said = within(&exec, LONG, futures::StreamExt::next(&mut rx)).await;
    assert_eq!(
        said.as_deref(),
        Some("stopped ran to its end: failed: test error: failed on purpose")
    );
}

executor_tests!(
    a_monitor_goes_with_the_watcher_the_down_or_demonitor,
    a_linked_failure_lets_stopped_run_to_its_end,
    a_monitor_delivers_one_down_with_the_reason,
    a_monitor_of_an_ended_actor_delivers_down_at_once,
    two_monitors_deliver_two_downs,
    demonitor_before_the_end_means_no_down,
    a_monitor_sees_the_end_for_good_not_a_restart,
    a_down_enters_a_full_reject_mailbox,
    an_abnormal_exit_ends_the_linked_actor,
    a_normal_exit_does_not_end_the_linked_actor,
    trap_exit_turns_the_signal_into_a_message,
    a_link_to_an_ended_actor_ends_the_linker_at_once,
    unlink_stops_the_propagation,
    a_linked_restartable_actor_is_restarted,
    ending_after_the_current_message_keeps_the_queue,
    ending_now_cuts_a_suspended_handler,
    without_a_policy_end_incarnation_ends_the_actor,
    a_pending_supervision_restarts_later,
    restart_drained_discards_the_queue,
    a_stop_or_kill_while_the_supervision_decides_is_final,
);
