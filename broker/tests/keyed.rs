//! Keyed (virtual) actors, organised by the guarantees `Keyed` documents: activation on the
//! first message, per-key order (also while activating), keys running concurrently, one
//! activation under a creation race, factory errors handed back with the message, passivation
//! after idle time and on demand, no message lost across passivation, restarts, asks.
//!
//! Each test body runs on every executor (Tokio multi-thread and current-thread, smol, std).
//! Idle time is virtual (`VirtualTime`): a test moves the clock and waits for the sweep it
//! causes, so nothing depends on how loaded the machine is. Waits are bounded (real time, on
//! the test's executor) so that a bug fails a test instead of hanging it; no test asserts on
//! timing.

#[macro_use]
mod common;

use ::std::collections::HashMap;
use ::std::convert::Infallible;
use ::std::fmt;
use ::std::future::Future;
use ::std::pin::Pin;
use ::std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use ::std::sync::{Arc, Mutex};
use ::std::task::Poll;
use ::std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use playhouse_broker::keyed::{
    ActivationTimedOut, KeyRef, Keyed, KeyedAskError, KeyedError, KeyedSpec, Reactivation,
    SetDropped,
};
use playhouse_core::mailbox::{Block, Bounded, DropNewest, DropOldest, Mailbox, Reject};
use playhouse_core::testing::VirtualTime;
use playhouse_core::{
    Actor, Context, DeadLetterKind, Env, Executor, ExitReason, Handler, MessageBroker, NoReply,
    NoRestart, Reply, restart_on_failure,
};

use common::*;

// ---------------------------------------------------------------------------------------------

/// The idle time of the passivation tests (virtual).
const IDLE: Duration = Duration::from_secs(60);

/// Waits (polling every 2 ms of real time, at most [`LONG`]) until `cond` holds.
async fn eventually<E: Executor>(exec: &E, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        exec.sleep_until(Instant::now() + Duration::from_millis(2))
            .await;
    }
}

/// Lets other tasks run (one trip through the executor's queue).
async fn yield_now() {
    let mut yielded = false;
    ::std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Spawns `fut` on `exec` and returns a receiver of its output.
fn spawn<E: Executor, T: Send + 'static>(
    exec: &E,
    fut: impl Future<Output = T> + Send + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    exec.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx
}

/// The output of a task from [`spawn`], at most [`LONG`] away.
async fn join<E: Executor, T>(exec: &E, rx: oneshot::Receiver<T>) -> T {
    within(exec, LONG, rx)
        .await
        .expect("the task ran to its end")
}

/// A gate: futures that wait until it is opened.
fn gate() -> (oneshot::Sender<()>, Shared<oneshot::Receiver<()>>) {
    let (tx, rx) = oneshot::channel();
    (tx, rx.shared())
}

/// Moves `vt` forward by `by` once the sweeper's timer sleeps on it, and waits for the sweep
/// that wakes (the sweeper's timer is the only sleep on `vt` in these tests).
async fn advance_and_sweep<E: Executor, MB: Mailbox>(
    exec: &E,
    vt: &VirtualTime<E>,
    keyed: &Keyed<u32, Probe, MB>,
    by: Duration,
) {
    eventually(exec, "the sweeper's timer to sleep", || vt.sleeping() > 0).await;
    let before = keyed.stats().sweeps;
    vt.advance(by);
    eventually(exec, "a sweep", || keyed.stats().sweeps > before).await;
}

// ---------------------------------------------------------------------------------------------
// The test actor: one per key, its state a log of the items it handled, loaded from and saved
// to a shared store.

#[derive(Debug, Clone, PartialEq, Eq)]
struct TestError(&'static str);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test error: {}", self.0)
    }
}

impl ::std::error::Error for TestError {}

/// What every activation of a test shares: the store, and what the factory and hooks saw.
#[derive(Default)]
struct World {
    /// The keys the factory was called with, in order.
    calls: Mutex<Vec<u32>>,
    /// Each key's log, saved by `stopped`.
    store: Mutex<HashMap<u32, Vec<u32>>>,
    /// `(key, exit reason)` of each activation's `stopped`.
    stops: Mutex<Vec<(u32, String)>>,
    /// Items handled, over all keys and activations.
    handled: AtomicU64,
    /// The factory fails this many more times.
    fail_next: AtomicU32,
    /// If set, the factory waits for it.
    gate: Mutex<Option<Shared<oneshot::Receiver<()>>>>,
    /// If set, each activation's `started` hook asks its own key of this set (through a
    /// `KeyRef` for an even key) and records what came of it in `started_asks`. A test that
    /// sets it takes it back: the set holds the world through its factory.
    self_ask: Mutex<Option<Keyed<u32, Probe>>>,
    /// `(key, outcome)` of each such ask, as [`ask_key`] words it.
    started_asks: Mutex<Vec<(u32, Result<u32, String>)>>,
    /// `(key, outcome)` of each `TellOwnKey`'s tell.
    self_tells: Mutex<Vec<(u32, Result<(), String>)>>,
}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World::default())
    }

    fn calls(&self) -> Vec<u32> {
        self.calls.lock().unwrap().clone()
    }

    fn calls_for(&self, key: u32) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|&&k| k == key)
            .count()
    }

    fn stops(&self) -> Vec<(u32, String)> {
        self.stops.lock().unwrap().clone()
    }

    fn close_gate_until(&self, gate: Shared<oneshot::Receiver<()>>) {
        *self.gate.lock().unwrap() = Some(gate);
    }

    /// A key's actor as the store has it (what a restart policy makes, synchronously).
    fn load(self: &Arc<Self>, key: u32) -> Probe {
        let log = self
            .store
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default();
        Probe {
            key,
            log,
            world: self.clone(),
        }
    }
}

struct Probe {
    key: u32,
    log: Vec<u32>,
    world: Arc<World>,
}

enum Msg {
    /// Appends `n` to the log.
    Item(u32),
    /// Answers with the log.
    Log(Reply<Vec<u32>>),
    /// Answers with the key.
    Key(Reply<u32>),
    /// Answers with the incarnation.
    Incarnation(Reply<u32>),
    /// Answers (so that the asker knows the actor is busy), then waits for the gate.
    Hold(Reply<()>, Shared<oneshot::Receiver<()>>),
    /// Drops the reply port unanswered.
    Ignore(Reply<u32>),
    /// Panics.
    Panic,
    /// Answers `Ok(n)` for an even `n`, a handler error for an odd one.
    Even(u32, Reply<Result<u32, TestError>>),
    /// Waits for `after` if given, then asks `key` of `keyed` for its key from this handler
    /// (through a `KeyRef` if `via_key_ref`) and answers what came of it, as [`ask_key`]
    /// words it.
    AskKey {
        keyed: Keyed<u32, Probe>,
        key: u32,
        via_key_ref: bool,
        after: Option<Shared<oneshot::Receiver<()>>>,
        reply: Reply<Result<u32, String>>,
    },
    /// Answers (so that the sender knows the actor has it), waits for `after`, then tells its
    /// own key `Item(n)` from this handler (through a `KeyRef` if `via_key_ref`), and records
    /// what came of it in the world's `self_tells`.
    TellOwnKey {
        keyed: Keyed<u32, Probe>,
        n: u32,
        via_key_ref: bool,
        busy: Reply<()>,
        after: Shared<oneshot::Receiver<()>>,
    },
}

/// Asks `key` of `keyed` for its key (through a `KeyRef` if `via_key_ref`): the key, `"deadlock
/// on K"` if the ask was refused as a self-ask with the request handed back, or the error's
/// text.
async fn ask_key(keyed: &Keyed<u32, Probe>, key: u32, via_key_ref: bool) -> Result<u32, String> {
    let answer = if via_key_ref {
        keyed.key_ref(key).ask(Msg::Key).await
    } else {
        keyed.ask(key, Msg::Key).await
    };
    answer.map_err(|e| match e {
        KeyedAskError::Deadlock {
            key,
            message: Msg::Key(_),
        } => format!("deadlock on {key}"),
        other => other.to_string(),
    })
}

impl Actor for Probe {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Probe {
    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Item(n) => {
                self.log.push(n);
                self.world.handled.fetch_add(1, Ordering::SeqCst);
            }
            Msg::Log(reply) => {
                let _ = reply.send(self.log.clone());
            }
            Msg::Key(reply) => {
                let _ = reply.send(self.key);
            }
            Msg::Incarnation(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
            Msg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            Msg::Ignore(reply) => drop(reply),
            Msg::Panic => panic!("probe boom"),
            Msg::Even(n, reply) => {
                let _ = reply.send(if n % 2 == 0 {
                    Ok(n)
                } else {
                    Err(TestError("odd"))
                });
            }
            Msg::AskKey {
                keyed,
                key,
                via_key_ref,
                after,
                reply,
            } => {
                if let Some(after) = after {
                    let _ = after.await;
                }
                let _ = reply.send(ask_key(&keyed, key, via_key_ref).await);
            }
            Msg::TellOwnKey {
                keyed,
                n,
                via_key_ref,
                busy,
                after,
            } => {
                let _ = busy.send(());
                let _ = after.await;
                let sent = if via_key_ref {
                    keyed.key_ref(self.key).tell(Msg::Item(n)).await
                } else {
                    keyed.tell(self.key, Msg::Item(n)).await
                };
                self.world
                    .self_tells
                    .lock()
                    .unwrap()
                    .push((self.key, sent.map_err(|e| e.to_string())));
            }
        }
        Ok(())
    }

    async fn started(&mut self, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        let keyed = self.world.self_ask.lock().unwrap().clone();
        if let Some(keyed) = keyed {
            let answer = ask_key(&keyed, self.key, self.key % 2 == 0).await;
            self.world
                .started_asks
                .lock()
                .unwrap()
                .push((self.key, answer));
        }
        Ok(())
    }

    async fn stopped(&mut self, _ctx: &mut Context<Self, V>, reason: &ExitReason) {
        let log = ::std::mem::take(&mut self.log);
        self.world.store.lock().unwrap().insert(self.key, log);
        self.world
            .stops
            .lock()
            .unwrap()
            .push((self.key, format!("{reason:?}")));
    }
}

/// The spec of every test: the factory records the key, waits for the world's gate if one is
/// set, fails while `fail_next` counts down, and loads the key's log from the store.
fn spec(world: &Arc<World>) -> KeyedSpec<u32, Probe> {
    let world = world.clone();
    KeyedSpec::new(move |key: &u32| {
        let key = *key;
        let world = world.clone();
        world.calls.lock().unwrap().push(key);
        let gate = world.gate.lock().unwrap().clone();
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            let fail = world
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                return Err(TestError("store offline"));
            }
            Ok(world.load(key))
        }
    })
}

fn item(msg: Option<Msg>) -> Option<u32> {
    match msg {
        Some(Msg::Item(n)) => Some(n),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Activation

async fn activates_on_first_message<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec));
    assert!(!keyed.is_active(&7));
    assert_eq!(keyed.active_count(), 0);
    assert!(
        world.calls().is_empty(),
        "no key is made before its first message"
    );

    keyed.tell(7, Msg::Item(1)).await.unwrap();
    assert!(keyed.is_active(&7));
    assert_eq!(world.calls(), vec![7], "the factory saw the key");
    assert_eq!(keyed.ask(7, Msg::Key).await.unwrap(), 7);

    keyed.tell(7, Msg::Item(2)).await.unwrap();
    assert_eq!(keyed.ask(7, Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![7], "an active key is not made again");
    assert_eq!(keyed.active_count(), 1);
    assert_eq!(keyed.resident_count(), 1);
    assert_eq!(keyed.stats().activations, 1);
    assert!(!keyed.is_active(&8));
}

// ---------------------------------------------------------------------------------------------
// Order

async fn keeps_per_key_order<E: Executor>(exec: E) {
    let world = World::new();
    // A small mailbox, so that sends also wait for room.
    let mailbox = Bounded::<Block>::with_capacity(4).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(exec.clone()));
    const N: u32 = 2_000;
    let sender = keyed.clone();
    let sent = spawn(&exec, async move {
        for n in 0..N {
            sender.tell(3, Msg::Item(n)).await.unwrap();
        }
    });
    // Another key at the same time, from this task.
    for n in 0..N {
        keyed.tell(4, Msg::Item(n)).await.unwrap();
    }
    join(&exec, sent).await;
    let expected: Vec<u32> = (0..N).collect();
    assert_eq!(keyed.ask(3, Msg::Log).await.unwrap(), expected);
    assert_eq!(keyed.ask(4, Msg::Log).await.unwrap(), expected);
    assert_eq!(world.calls_for(3), 1);
    assert_eq!(world.calls_for(4), 1);
}

async fn queues_messages_in_order_while_activating<E: Executor>(exec: E) {
    let world = World::new();
    let (open, gate) = gate();
    world.close_gate_until(gate);
    let keyed = spec(&world).start(&System::new(exec));

    // Each send is polled once, in order: the first starts the activation (held at the gate),
    // the others queue behind it.
    let mut sends: Vec<Pin<Box<dyn Future<Output = _> + Send>>> = Vec::new();
    for n in 0..50 {
        let mut send = Box::pin(keyed.tell(9, Msg::Item(n)));
        assert!(futures::poll!(send.as_mut()).is_pending(), "send {n} waits");
        sends.push(send);
    }
    assert!(!keyed.is_active(&9), "still activating");
    assert_eq!(keyed.resident_count(), 1);
    assert!(
        keyed.try_tell(&9, Msg::Item(99)).unwrap_err().is_inactive(),
        "try_tell does not queue behind an activation"
    );

    open.send(()).unwrap();
    for result in futures::future::join_all(sends).await {
        result.unwrap();
    }
    assert_eq!(
        keyed.ask(9, Msg::Log).await.unwrap(),
        (0..50).collect::<Vec<_>>()
    );
    assert_eq!(world.calls(), vec![9], "one factory call for all of them");
}

/// A set whose factory waits for the returned gate, with a `Block` mailbox of one place.
fn gated_with_one_place<E: Executor>(
    world: &Arc<World>,
    exec: &E,
) -> (oneshot::Sender<()>, Keyed<u32, Probe, Bounded<Block>>) {
    let (open, factory_gate) = gate();
    world.close_gate_until(factory_gate);
    let mailbox = Bounded::<Block>::with_capacity(1).unwrap();
    let keyed = spec(world)
        .mailbox(mailbox)
        .start(&System::new(exec.clone()));
    (open, keyed)
}

/// The senders queued behind an activation are answered as their messages enter the mailbox,
/// not once the whole queue has drained: under a load that keeps the queue from draining, a
/// sender whose message is in the mailbox is not kept waiting (a timed one would time out on a
/// delivered message), and one whose message waits for room in a full `Block` mailbox waits,
/// as a routed send does.
async fn answers_each_queued_sender_as_its_message_enters_the_mailbox<E: Executor>(exec: E) {
    let world = World::new();
    let (open, keyed) = gated_with_one_place(&world, &exec);

    // Queued in order behind the activation (held at the factory's gate): a message that holds
    // the handler, then two items for the one place in the mailbox.
    let (release, held) = gate();
    let mut hold = Box::pin(keyed.ask(9, |busy| Msg::Hold(busy, held)));
    assert!(futures::poll!(hold.as_mut()).is_pending());
    let mut first = Box::pin(keyed.tell(9, Msg::Item(1)));
    assert!(futures::poll!(first.as_mut()).is_pending());
    let mut second = Box::pin(keyed.tell(9, Msg::Item(2)));
    assert!(futures::poll!(second.as_mut()).is_pending());

    open.send(()).unwrap();
    within(&exec, LONG, hold).await.unwrap(); // the handler holds
    // Item 1 takes the place the held message left; its sender is answered although item 2,
    // queued behind it, cannot be delivered until the handler lets go.
    within(&exec, LONG, first).await.unwrap();
    assert!(
        futures::poll!(second.as_mut()).is_pending(),
        "item 2 waits for room in the full mailbox"
    );
    assert!(!keyed.is_active(&9), "the hand-over has not finished");

    release.send(()).unwrap();
    second.await.unwrap();
    assert!(keyed.is_active(&9), "the last sender finds the key active");
    assert_eq!(keyed.ask(9, Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![9]);
}

/// A message that comes while an activation hands over its queue does not join the queue
/// (the hand-over would go on for as long as messages keep coming): its sender waits until the
/// key is active and sends it then. So nothing overtakes what was queued, not even a later
/// message of a sender whose timed send gave up while the activation held its message.
async fn a_send_during_the_hand_over_waits_for_it<E: Executor>(exec: E) {
    let world = World::new();
    let (open, keyed) = gated_with_one_place(&world, &exec);

    let (release, held) = gate();
    let mut hold = Box::pin(keyed.ask(9, |busy| Msg::Hold(busy, held)));
    assert!(futures::poll!(hold.as_mut()).is_pending());
    let mut queued: Vec<Pin<Box<dyn Future<Output = _> + Send>>> = Vec::new();
    for n in [0, 100] {
        let mut send = Box::pin(keyed.tell(9, Msg::Item(n)));
        assert!(futures::poll!(send.as_mut()).is_pending());
        queued.push(send);
    }
    // A timed send queued last: it gives up while the activation holds it (the mailbox is full).
    let mut timed = {
        let keyed = keyed.clone();
        Box::pin(async move {
            keyed
                .tell_timeout(9, Msg::Item(1), Duration::from_millis(200))
                .await
                .map_err(|e| e.into_message().is_some())
        })
    };
    assert!(futures::poll!(timed.as_mut()).is_pending(), "queued");
    let timed = spawn(&exec, timed);
    open.send(()).unwrap();
    within(&exec, LONG, hold).await.unwrap(); // the handler holds; the mailbox fills
    let gave_up = join(&exec, timed).await;
    assert_eq!(
        gave_up,
        Err(false),
        "timed out with the activation holding the message"
    );
    assert!(!keyed.is_active(&9), "the hand-over goes on");
    // The same sender's next message waits for the hand-over instead of overtaking it.
    let later = {
        let keyed = keyed.clone();
        spawn(&exec, async move { keyed.tell(9, Msg::Item(2)).await })
    };
    release.send(()).unwrap();
    for result in futures::future::join_all(queued).await {
        result.unwrap();
    }
    join(&exec, later).await.unwrap();
    assert_eq!(keyed.ask(9, Msg::Log).await.unwrap(), vec![0, 100, 1, 2]);
    assert!(keyed.is_active(&9));
    assert_eq!(world.calls(), vec![9]);
}

/// The hand-over delivers the messages queued when it began and ends: a message that comes
/// meanwhile waits for it rather than joining it, so the key turns active as soon as the
/// queued messages are in the mailbox, while the later one still waits for room.
async fn the_hand_over_ends_with_what_was_queued_when_it_began<E: Executor>(exec: E) {
    let world = World::new();
    let (open, keyed) = gated_with_one_place(&world, &exec);

    // Queued: a hold, an item, a second hold, another item.
    let (release_first, first_held) = gate();
    let (release_second, second_held) = gate();
    let mut first = Box::pin(keyed.ask(9, |busy| Msg::Hold(busy, first_held)));
    assert!(futures::poll!(first.as_mut()).is_pending());
    let mut item = Box::pin(keyed.tell(9, Msg::Item(0)));
    assert!(futures::poll!(item.as_mut()).is_pending());
    let mut second = Box::pin(keyed.ask(9, |busy| Msg::Hold(busy, second_held)));
    assert!(futures::poll!(second.as_mut()).is_pending());
    let mut last = Box::pin(keyed.tell(9, Msg::Item(3)));
    assert!(futures::poll!(last.as_mut()).is_pending());

    open.send(()).unwrap();
    within(&exec, LONG, first).await.unwrap(); // the handler holds; the hand-over waits
    // A message that comes during the hand-over (its first poll in place, then a task of its
    // own to be polled when woken).
    let mut later = {
        let keyed = keyed.clone();
        Box::pin(async move { keyed.tell(9, Msg::Item(2)).await })
    };
    assert!(futures::poll!(later.as_mut()).is_pending());
    let later = spawn(&exec, later);
    assert!(!keyed.is_active(&9));

    release_first.send(()).unwrap();
    within(&exec, LONG, item).await.unwrap();
    within(&exec, LONG, second).await.unwrap(); // the handler holds again
    within(&exec, LONG, last).await.unwrap(); // item 3 fills the mailbox: all queued delivered
    // The key is active although the later message is still waiting for room.
    eventually(&exec, "the key to turn active", || keyed.is_active(&9)).await;
    release_second.send(()).unwrap();
    join(&exec, later).await.unwrap();
    assert_eq!(keyed.ask(9, Msg::Log).await.unwrap(), vec![0, 3, 2]);
}

// ---------------------------------------------------------------------------------------------
// Concurrency

async fn runs_keys_concurrently<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec));
    let (open, gate) = gate();
    // Key 1 is busy until the gate opens...
    keyed.ask(1, |busy| Msg::Hold(busy, gate)).await.unwrap();
    // ...and key 2 is served meanwhile (were it not, this would hang and the test time out).
    keyed.tell(2, Msg::Item(5)).await.unwrap();
    assert_eq!(keyed.ask(2, Msg::Log).await.unwrap(), vec![5]);
    // Key 1 queues, and catches up once released.
    keyed.tell(1, Msg::Item(6)).await.unwrap();
    open.send(()).unwrap();
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![6]);
    assert_eq!(keyed.active_count(), 2);
}

async fn activates_once_under_a_creation_race<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    const ROUNDS: u32 = 200;
    for key in 0..ROUNDS {
        let (go, start) = gate();
        let racers: Vec<_> = (0..2)
            .map(|racer| {
                let keyed = keyed.clone();
                let start = start.clone();
                spawn(&exec, async move {
                    let _ = start.await;
                    keyed.tell(key, Msg::Item(racer)).await
                })
            })
            .collect();
        go.send(()).unwrap();
        for racer in racers {
            join(&exec, racer).await.unwrap();
        }
        let mut log = keyed.ask(key, Msg::Log).await.unwrap();
        log.sort_unstable();
        assert_eq!(
            log,
            vec![0, 1],
            "key {key}: both messages reached one activation"
        );
        assert_eq!(world.calls_for(key), 1, "key {key}: one factory call");
    }
    assert_eq!(keyed.stats().activations, u64::from(ROUNDS));
    assert_eq!(keyed.active_count(), ROUNDS as usize);
}

// ---------------------------------------------------------------------------------------------
// Factory errors

async fn hands_back_the_message_when_the_factory_fails<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec));
    world.fail_next.store(1, Ordering::SeqCst);

    let err = keyed.tell(5, Msg::Item(9)).await.unwrap_err();
    assert!(err.is_activation_failed(), "{err:?}");
    assert_eq!(err.key(), "5");
    assert_eq!(
        err.cause().map(ToString::to_string).as_deref(),
        Some("test error: store offline")
    );
    assert_eq!(
        err.to_string(),
        "activating key 5 failed: test error: store offline"
    );
    assert!(::std::error::Error::source(&err).is_some());
    assert_eq!(
        item(err.into_message()),
        Some(9),
        "the message is handed back"
    );
    assert!(!keyed.is_active(&5));
    assert_eq!(
        keyed.resident_count(),
        0,
        "a failed activation leaves nothing behind"
    );
    assert_eq!(keyed.stats().activation_failures, 1);

    // The next message tries again, and succeeds.
    keyed.tell(5, Msg::Item(10)).await.unwrap();
    assert_eq!(keyed.ask(5, Msg::Log).await.unwrap(), vec![10]);
    assert_eq!(world.calls(), vec![5, 5]);

    // An ask gets the same, with its request.
    world.fail_next.store(1, Ordering::SeqCst);
    match keyed.ask(6, Msg::Log).await.unwrap_err() {
        KeyedAskError::NotDelivered(KeyedError::ActivationFailed { key, message, .. }) => {
            assert_eq!(key, "6");
            assert!(matches!(message, Msg::Log(_)));
        }
        other => panic!("expected NotDelivered(ActivationFailed), got {other:?}"),
    }
}

async fn fails_every_waiting_sender_when_the_factory_fails<E: Executor>(exec: E) {
    let world = World::new();
    let (open, gate) = gate();
    world.close_gate_until(gate);
    world.fail_next.store(1, Ordering::SeqCst);
    let keyed = spec(&world).start(&System::new(exec));

    let mut first = Box::pin(keyed.tell(2, Msg::Item(1)));
    let mut second = Box::pin(keyed.tell(2, Msg::Item(2)));
    assert!(futures::poll!(first.as_mut()).is_pending());
    assert!(futures::poll!(second.as_mut()).is_pending());
    open.send(()).unwrap();
    let (first, second) = futures::join!(first, second);
    assert_eq!(item(first.unwrap_err().into_message()), Some(1));
    assert_eq!(item(second.unwrap_err().into_message()), Some(2));
    assert_eq!(world.calls(), vec![2], "one attempt for both");
    assert_eq!(keyed.stats().activation_failures, 1);
    keyed.tell(2, Msg::Item(3)).await.unwrap();
    assert_eq!(keyed.ask(2, Msg::Log).await.unwrap(), vec![3]);
}

async fn reports_a_panicking_factory<E: Executor>(exec: E) {
    let keyed: Keyed<u32, Probe> = KeyedSpec::from_fn(|key: &u32| -> Result<Probe, TestError> {
        panic!("no factory for key {key}")
    })
    .start(&System::new(exec));
    let err = keyed.tell(4, Msg::Item(1)).await.unwrap_err();
    assert!(err.is_activation_failed());
    assert_eq!(
        err.cause().map(ToString::to_string).as_deref(),
        Some("the factory panicked: no factory for key 4")
    );
    assert_eq!(item(err.into_message()), Some(1));
    assert_eq!(keyed.resident_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Passivation

async fn passivates_after_the_idle_time<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = spec(&world)
        .passivate_after(IDLE)
        .start(&System::new(vt.clone()));
    assert_eq!(keyed.idle_timeout(), Some(IDLE));

    keyed.tell(1, Msg::Item(1)).await.unwrap();
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![1]);

    // Half the idle time: kept.
    advance_and_sweep(&exec, &vt, &keyed, IDLE / 2).await;
    assert!(keyed.is_active(&1), "passivated before its idle time");
    assert_eq!(keyed.stats().passivations, 0);

    // Idle for longer than the idle time: passivated (the sweeper sees a send one sweep late,
    // so allow a few).
    for _ in 0..3 {
        if !keyed.is_active(&1) {
            break;
        }
        advance_and_sweep(&exec, &vt, &keyed, IDLE).await;
    }
    assert!(!keyed.is_active(&1), "not passivated after 3 idle times");
    assert_eq!(keyed.stats().passivations, 1);
    eventually(&exec, "the entry to go", || keyed.resident_count() == 0).await;
    assert_eq!(
        world.stops(),
        vec![(1, "Shutdown(\"passivated\")".to_string())]
    );
    assert_eq!(keyed.active_count(), 0);

    // The next message activates it again, with the state it saved.
    keyed.tell(1, Msg::Item(2)).await.unwrap();
    assert!(keyed.is_active(&1));
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![1, 1], "the factory was called again");
    assert_eq!(keyed.stats().activations, 2);
}

async fn keeps_a_busy_key_and_passivates_an_idle_one<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = spec(&world)
        .passivate_after(IDLE)
        .start(&System::new(vt.clone()));
    keyed.tell(1, Msg::Item(0)).await.unwrap();
    keyed.tell(2, Msg::Item(0)).await.unwrap();
    // Key 1 gets a message every half idle time; key 2 none.
    for n in 1..=6 {
        advance_and_sweep(&exec, &vt, &keyed, IDLE / 2).await;
        keyed.tell(1, Msg::Item(n)).await.unwrap();
    }
    assert!(keyed.is_active(&1), "a busy key was passivated");
    assert!(!keyed.is_active(&2), "an idle key was kept");
    assert_eq!(world.calls(), vec![1, 2]);
    assert_eq!(
        keyed.ask(1, Msg::Log).await.unwrap(),
        (0..=6).collect::<Vec<_>>()
    );
}

/// A key's idle time counts from the last time the sweeper saw it busy, not only from its last
/// send: a key whose queue took longer than the idle time to drain (a slow handler, or a
/// restart waiting for its backoff) is kept for the idle time after it drained, not passivated
/// at the first sweep that finds its queue empty (its next send would have had to activate it
/// again).
async fn keeps_a_key_for_its_idle_time_after_its_queue_drains<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = spec(&world)
        .passivate_after(IDLE)
        .start(&System::new(vt.clone()));
    let (open_first, first_gate) = gate();
    let (open_second, second_gate) = gate();
    let first = spawn(&exec, {
        let keyed = keyed.clone();
        async move { keyed.ask(1, |busy| Msg::Hold(busy, first_gate)).await }
    });
    join(&exec, first).await.unwrap();
    // Queued behind the first, which holds the key for three idle times.
    let (busy, second_busy) = playhouse_core::reply_port();
    keyed
        .tell(1, Msg::Hold(busy, second_gate.clone()))
        .await
        .unwrap();
    for _ in 0..3 {
        advance_and_sweep(&exec, &vt, &keyed, IDLE).await;
        assert!(keyed.is_active(&1), "passivated with a message queued");
    }
    // The queue drains (the second is taken: it answers), with no send since.
    open_first.send(()).unwrap();
    within(&exec, LONG, second_busy)
        .await
        .expect("the second is taken");
    advance_and_sweep(&exec, &vt, &keyed, IDLE / 2).await;
    assert!(
        keyed.is_active(&1),
        "passivated half an idle time after its queue drained"
    );
    open_second.send(()).unwrap();
    assert_eq!(world.calls(), vec![1]);
}

async fn passivates_on_demand<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    assert!(!keyed.passivate(&3), "nothing to passivate");

    keyed.tell(3, Msg::Item(1)).await.unwrap();
    assert!(keyed.passivate(&3));
    assert!(!keyed.is_active(&3));
    assert_eq!(keyed.active_count(), 0);
    assert!(!keyed.passivate(&3), "already being passivated");
    eventually(&exec, "the entry to go", || keyed.resident_count() == 0).await;
    assert_eq!(
        world.stops(),
        vec![(3, "Shutdown(\"passivated\")".to_string())]
    );
    assert_eq!(keyed.stats().passivations, 1);

    keyed.tell(3, Msg::Item(2)).await.unwrap();
    assert_eq!(keyed.ask(3, Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![3, 3]);
}

/// What the activations' `DropNewest`/`DropOldest` mailboxes drop shows in the set's stats,
/// the running activations' drops and the ended ones' alike: a passivation does not lose the
/// count, and a new activation's drops add to it.
async fn counts_what_the_activations_mailboxes_drop<E: Executor>(exec: E) {
    async fn run<E: Executor, MB: Mailbox>(exec: &E, mailbox: MB, kept: [u32; 2]) {
        let world = World::new();
        let keyed = spec(&world)
            .mailbox(mailbox)
            .start(&System::new(exec.clone()));
        assert_eq!(keyed.stats().dropped, 0);

        // Two activations in turn, each held in its handler while three items come for its
        // one place: two of them are dropped.
        for (round, key) in [(0u32, 5u32), (1, 5)] {
            let (release, held) = gate();
            keyed.ask(key, |busy| Msg::Hold(busy, held)).await.unwrap();
            for n in 1..=3 {
                keyed.tell(key, Msg::Item(10 * round + n)).await.unwrap();
            }
            assert_eq!(u64::from(2 * (round + 1)), keyed.stats().dropped);
            release.send(()).unwrap();
            // Asked once the kept item is handled: an ask into the full mailbox would be
            // dropped too.
            let handled = u64::from(round + 1);
            eventually(exec, "the kept item", || {
                world.handled.load(Ordering::SeqCst) == handled
            })
            .await;
            assert_eq!(
                keyed.ask(key, Msg::Log).await.unwrap().last(),
                Some(&(10 * round + kept[0])),
                "the mailbox kept its strategy's message"
            );
            assert!(keyed.passivate(&key));
            eventually(exec, "the activation to end", || {
                keyed.resident_count() == 0
            })
            .await;
            assert_eq!(
                keyed.stats().dropped,
                u64::from(2 * (round + 1)),
                "an ended activation's drops are kept"
            );
        }
        // A second key's drops add to the first's, while it runs.
        let (release, held) = gate();
        keyed.ask(6, |busy| Msg::Hold(busy, held)).await.unwrap();
        for n in 1..=2 {
            keyed.tell(6, Msg::Item(n)).await.unwrap();
        }
        assert_eq!(keyed.stats().dropped, 5);
        release.send(()).unwrap();
        eventually(exec, "the kept item", || {
            world.handled.load(Ordering::SeqCst) == 3
        })
        .await;
        assert_eq!(keyed.ask(6, Msg::Log).await.unwrap(), vec![kept[1]]);
    }
    run(
        &exec,
        Bounded::<DropNewest>::with_capacity(1).unwrap(),
        [1, 1],
    )
    .await;
    run(
        &exec,
        Bounded::<DropOldest>::with_capacity(1).unwrap(),
        [3, 2],
    )
    .await;
}

async fn passivates_every_key_at_once<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    for key in 0..5 {
        keyed.tell(key, Msg::Item(key)).await.unwrap();
    }
    assert_eq!(keyed.active_count(), 5);
    assert_eq!(keyed.passivate_all().await, 5);
    assert_eq!(keyed.active_count(), 0);
    // Each activation has ended, so each has saved its state; the entries go just after.
    let store = world.store.lock().unwrap().clone();
    assert_eq!(store.len(), 5, "every key saved its state");
    assert_eq!(store[&4], vec![4]);
    eventually(&exec, "the entries to go", || keyed.resident_count() == 0).await;
    assert_eq!(keyed.passivate_all().await, 0);
}

async fn never_loses_a_message_racing_passivation<E: Executor>(exec: E) {
    racing_passivation_loses_nothing(exec, false).await;
}

/// Sends to one key per round, routed or through a [`KeyRef`] (`through_handle`), while
/// another task passivates it over and over: every message is handled once, in order.
async fn racing_passivation_loses_nothing<E: Executor>(exec: E, through_handle: bool) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    const ROUNDS: u32 = 30;
    const N: u32 = 200;
    let mut sent = 0u64;
    for key in 0..ROUNDS {
        let mut handle = keyed.key_ref(key);
        if through_handle {
            handle.tell(Msg::Item(0)).await.unwrap();
            assert!(handle.is_cached());
        } else {
            keyed.tell(key, Msg::Item(0)).await.unwrap();
        }
        let done = Arc::new(AtomicBool::new(false));
        let sender = {
            let keyed = keyed.clone();
            let done = done.clone();
            spawn(&exec, async move {
                for n in 1..N {
                    if through_handle {
                        handle.tell(Msg::Item(n)).await.unwrap();
                    } else {
                        keyed.tell(key, Msg::Item(n)).await.unwrap();
                    }
                    if n % 8 == 0 {
                        yield_now().await;
                    }
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        // The key is active until the first of these (nothing else passivates it).
        loop {
            keyed.passivate(&key);
            yield_now().await;
            if done.load(Ordering::SeqCst) {
                break;
            }
        }
        join(&exec, sender).await;
        sent += u64::from(N);
        // Each activation started after the previous one ended and loaded what it saved, so
        // the last one holds every item, in order.
        assert_eq!(
            keyed.ask(key, Msg::Log).await.unwrap(),
            (0..N).collect::<Vec<_>>(),
            "key {key}"
        );
    }
    assert_eq!(
        world.handled.load(Ordering::SeqCst),
        sent,
        "handled == sent"
    );
    let stats = keyed.stats();
    assert!(
        stats.passivations >= u64::from(ROUNDS),
        "each round passivated its key at least once: {stats:?}"
    );
    assert_eq!(stats.activations, u64::from(ROUNDS) + stats.passivations);
}

async fn reroutes_a_send_waiting_for_room_when_its_key_is_passivated<E: Executor>(exec: E) {
    let world = World::new();
    let mailbox = Bounded::<Block>::with_capacity(1).unwrap();
    let keyed = spec(&world).mailbox(mailbox).start(&System::new(exec));
    let (open, gate) = gate();
    keyed.ask(1, |busy| Msg::Hold(busy, gate)).await.unwrap();
    keyed.tell(1, Msg::Item(1)).await.unwrap(); // fills the one place
    let mut waiting = keyed.tell(1, Msg::Item(2));
    assert!(
        futures::poll!(&mut waiting).is_pending(),
        "the send waits for room"
    );
    // The passivation closes the mailbox: the waiting send gets its message back and routes it
    // to the next activation, which starts once this one has handled item 1 and saved it.
    assert!(keyed.passivate(&1));
    open.send(()).unwrap();
    waiting.await.unwrap();
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![1, 1]);
}

async fn dropping_the_set_ends_its_activations<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    keyed.tell(1, Msg::Item(1)).await.unwrap();
    drop(keyed);
    eventually(&exec, "the activation to end", || !world.stops().is_empty()).await;
    assert_eq!(world.stops(), vec![(1, "Normal".to_string())]);
    assert_eq!(world.store.lock().unwrap()[&1], vec![1]);
}

// ---------------------------------------------------------------------------------------------
// Crashes

async fn restarts_a_crashed_activation<E: Executor>(exec: E) {
    let world = World::new();
    let restarts = world.clone();
    let keyed = spec(&world)
        .restart(move |key: &u32| {
            let (world, key) = (restarts.clone(), *key);
            restart_on_failure(move || world.load(key))
        })
        .start(&System::new(exec));
    keyed.tell(8, Msg::Item(1)).await.unwrap();
    keyed.tell(8, Msg::Panic).await.unwrap();
    keyed.tell(8, Msg::Item(2)).await.unwrap();
    // The restarted actor runs behind the same reference: same activation, incarnation 2.
    assert_eq!(keyed.ask(8, Msg::Incarnation).await.unwrap(), 2);
    assert_eq!(keyed.ask(8, Msg::Log).await.unwrap(), vec![1, 2]);
    assert!(keyed.is_active(&8));
    assert_eq!(
        world.calls(),
        vec![8],
        "a restart does not call the factory"
    );
    assert_eq!(keyed.stats().activations, 1);
    assert_eq!(keyed.stats().restarts, 1);
    assert_eq!(
        world.stops(),
        vec![(8, "Panicked(\"probe boom\")".to_string())]
    );

    keyed.tell(8, Msg::Panic).await.unwrap();
    keyed.tell(8, Msg::Item(3)).await.unwrap();
    assert_eq!(keyed.ask(8, Msg::Incarnation).await.unwrap(), 3);
    assert_eq!(keyed.ask(8, Msg::Log).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(keyed.stats().restarts, 2);
}

/// A supervision's `Reactivation` names its key, reads the executor's clock and runs the set's
/// factory for the key; once the set is gone, it makes nothing and says why.
async fn a_reactivation_runs_the_factory_while_its_set_lives<E: Executor>(exec: E) {
    let world = World::new();
    let lent: Arc<Mutex<Option<Reactivation<u32, Probe>>>> = Arc::default();
    let keep = lent.clone();
    let keyed = spec(&world)
        .supervise(move |activation: Reactivation<u32, Probe>| {
            *keep.lock().unwrap() = Some(activation);
            NoRestart
        })
        .start(&System::new(exec.clone()));
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    let activation = lent
        .lock()
        .unwrap()
        .take()
        .expect("the activation's supervision was made");
    assert_eq!(*activation.key(), 3);
    assert!(activation.now() <= exec.now());
    let fresh = activation.make().await.expect("the factory made an actor");
    assert_eq!(fresh.key, 3);
    assert_eq!(world.calls(), vec![3, 3]);
    drop(fresh);
    drop(keyed);
    eventually(&exec, "the activation to end", || !world.stops().is_empty()).await;
    let gone = activation.make().await.map(|_| ()).unwrap_err();
    assert!(gone.downcast_ref::<SetDropped>().is_some(), "{gone}");
    assert_eq!(world.calls(), vec![3, 3], "no factory left to call");
}

async fn activates_again_after_a_crash_without_restart<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    keyed.tell(8, Msg::Item(1)).await.unwrap();
    keyed.tell(8, Msg::Panic).await.unwrap();
    eventually(&exec, "the crashed entry to go", || {
        keyed.resident_count() == 0
    })
    .await;
    assert!(!keyed.is_active(&8));
    keyed.tell(8, Msg::Item(2)).await.unwrap();
    assert_eq!(keyed.ask(8, Msg::Incarnation).await.unwrap(), 1);
    assert_eq!(keyed.ask(8, Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![8, 8]);
}

/// An unsupervised activation that crashes discards what was queued behind the crash, as any
/// actor's end does; each discarded message is reported as an `ActorGone` dead letter for the
/// key, so that a tell accepted and then lost is not lost without a trace.
async fn reports_what_a_crashed_activation_discarded<E: Executor>(exec: E) {
    let world = World::new();
    let broker = playhouse_broker::InMemoryBroker::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    broker.on_dead_letter(move |letter| {
        hook_seen
            .lock()
            .unwrap()
            .push((letter.kind, letter.target.clone(), letter.message_type));
    });
    let keyed = spec(&world).start(&System::with_broker(exec.clone(), broker.clone()));
    let (open, gate) = gate();
    keyed.ask(5, |busy| Msg::Hold(busy, gate)).await.unwrap();
    // Behind the held handler: the crash, then two tells it will never handle.
    keyed.tell(5, Msg::Panic).await.unwrap();
    keyed.tell(5, Msg::Item(1)).await.unwrap();
    keyed.tell(5, Msg::Item(2)).await.unwrap();
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 0);
    let _ = open.send(());
    eventually(&exec, "the discarded tells to be reported", || {
        broker.dead_letters().get(DeadLetterKind::ActorGone) == 2
    })
    .await;
    let expected = (
        DeadLetterKind::ActorGone,
        "5".to_owned(),
        ::std::any::type_name::<Msg>(),
    );
    assert_eq!(*seen.lock().unwrap(), vec![expected.clone(), expected]);
    // The key's next message activates it anew; nothing of the lost tells is in its log.
    assert_eq!(keyed.ask(5, Msg::Log).await.unwrap(), Vec::<u32>::new());
    // A passivation (a graceful stop) handles its backlog: nothing more is reported.
    keyed.tell(5, Msg::Item(3)).await.unwrap();
    assert!(keyed.passivate(&5));
    eventually(&exec, "the passivation", || world.stops().len() == 2).await;
    assert_eq!(keyed.ask(5, Msg::Log).await.unwrap(), vec![3]);
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 2);
}

/// A passivation whose activation crashes with messages still queued (a restart policy
/// governs it): the restart handles them before the activation ends, so the checkpoint loses
/// nothing. (A passivation's stop was final: the crash ended the activation and the queue was
/// discarded, reported as `ActorGone` dead letters.)
async fn a_passivation_that_meets_a_crash_lets_the_restart_handle_the_queue<E: Executor>(exec: E) {
    let world = World::new();
    let broker = playhouse_broker::InMemoryBroker::new();
    let restarts = world.clone();
    let keyed = spec(&world)
        .restart(move |key: &u32| {
            let (world, key) = (restarts.clone(), *key);
            restart_on_failure(move || world.load(key))
        })
        .start(&System::with_broker(exec.clone(), broker.clone()));
    let (open, gate) = gate();
    keyed.ask(5, |busy| Msg::Hold(busy, gate)).await.unwrap();
    for msg in [Msg::Panic, Msg::Item(1), Msg::Item(2)] {
        keyed.tell(5, msg).await.unwrap();
    }
    let mut passivating = ::std::pin::pin!(keyed.passivate_all());
    assert!(futures::poll!(passivating.as_mut()).is_pending());
    let _ = open.send(());
    assert_eq!(within(&exec, LONG, passivating).await, 1);
    assert_eq!(
        world.stops(),
        vec![
            (5, "Panicked(\"probe boom\")".to_string()),
            (5, "Shutdown(\"passivated\")".to_string())
        ]
    );
    assert_eq!(world.store.lock().unwrap()[&5], vec![1, 2]);
    assert_eq!(keyed.stats().restarts, 1);
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 0);
}

/// A supervision of [`Probe`] that holds each restart until `release`.
#[derive(Clone)]
struct HeldRestart {
    desk: Desk,
    world: Arc<World>,
    key: u32,
}

impl HeldRestart {
    fn release(desk: &Mutex<(bool, Option<::std::task::Waker>)>) {
        let waker = {
            let mut desk = desk.lock().unwrap();
            desk.0 = true;
            desk.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl playhouse_core::Supervision<Probe> for HeldRestart {
    fn poll_exited(
        &mut self,
        _: playhouse_core::ActorId,
        _: &ExitReason,
        cx: &mut ::std::task::Context<'_>,
    ) -> Poll<playhouse_core::Next<Probe>> {
        let mut desk = self.desk.lock().unwrap();
        if ::std::mem::take(&mut desk.0) {
            return Poll::Ready(playhouse_core::Next::Restart(self.world.load(self.key)));
        }
        desk.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The desk a [`HeldRestart`] waits on: set to let its restart go.
type Desk = Arc<Mutex<(bool, Option<::std::task::Waker>)>>;

/// A set on `broker` whose activations run under `supervise(HeldRestart)`, with key 5 crashed
/// (its restart held) and two items queued behind the crash; and the desk that lets the
/// restart go.
async fn crashed_with_a_held_restart<E: Executor, S: playhouse_core::Supervision<Probe>>(
    exec: &E,
    world: &Arc<World>,
    broker: &playhouse_broker::InMemoryBroker,
    supervise: fn(HeldRestart) -> S,
) -> (Keyed<u32, Probe>, Desk) {
    let desk: Desk = Arc::default();
    let (held_desk, held_world) = (desk.clone(), world.clone());
    let keyed = spec(world)
        .supervise(move |activation: Reactivation<u32, Probe>| {
            supervise(HeldRestart {
                desk: held_desk.clone(),
                world: held_world.clone(),
                key: *activation.key(),
            })
        })
        .start(&System::with_broker(exec.clone(), broker.clone()));
    keyed.tell(5, Msg::Panic).await.unwrap();
    eventually(exec, "the crash", || world.stops().len() == 1).await;
    // Queued for the next incarnation: the mailbox stays open while the supervision decides.
    keyed.tell(5, Msg::Item(1)).await.unwrap();
    keyed.tell(5, Msg::Item(2)).await.unwrap();
    (keyed, desk)
}

/// A passivation on demand that comes while the key's actor is between two incarnations (its
/// supervision still deciding, a backoff say) with messages queued: it waits for the restart,
/// which handles them, then the activation ends as passivated. (It ended at once, the queue
/// discarded.)
async fn a_passivation_during_a_restart_waits_for_it<E: Executor>(exec: E) {
    let world = World::new();
    let broker = playhouse_broker::InMemoryBroker::new();
    let (keyed, desk) = crashed_with_a_held_restart(&exec, &world, &broker, |held| held).await;
    assert!(keyed.passivate(&5));
    for _ in 0..20 {
        yield_now().await;
    }
    assert_eq!(
        world.stops().len(),
        1,
        "the activation waits for its restart"
    );
    HeldRestart::release(&desk);
    eventually(&exec, "the passivation", || world.stops().len() == 2).await;
    assert_eq!(
        world.stops()[1],
        (5, "Shutdown(\"passivated\")".to_string())
    );
    assert_eq!(world.store.lock().unwrap()[&5], vec![1, 2]);
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 0);
    eventually(&exec, "the entry to go", || keyed.resident_count() == 0).await;
}

// ---------------------------------------------------------------------------------------------
// Asks and try_tell

async fn asks_a_key<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec));
    // An ask activates an inactive key.
    assert_eq!(keyed.ask(11, Msg::Key).await.unwrap(), 11);
    assert_eq!(keyed.ask(12, Msg::Key).await.unwrap(), 12);
    assert_eq!(world.calls(), vec![11, 12]);
    match keyed.ask(11, Msg::Ignore).await.unwrap_err() {
        KeyedAskError::NoReply { key, reason } => {
            assert_eq!(key, "11");
            assert_eq!(reason, NoReply::Dropped);
        }
        other => panic!("expected NoReply, got {other:?}"),
    }
}

/// `ask_flat` (on the set and on a `KeyRef`) answers the handler's `Ok` value, and its `Err` as
/// `HandlerError`, naming the key.
async fn ask_flat_answers_a_handlers_error_as_the_asks<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec));
    assert_eq!(keyed.ask_flat(1, |r| Msg::Even(4, r)).await.unwrap(), 4);
    let err = keyed.ask_flat(1, |r| Msg::Even(5, r)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 1 answered with an error: test error: odd"
    );
    assert_eq!(err.key(), "1");
    assert!(err.send_error().is_none());
    assert_eq!(err.handler_error(), Some(TestError("odd")));

    let mut two = keyed.key_ref(2);
    assert_eq!(two.ask_flat(|r| Msg::Even(6, r)).await.unwrap(), 6);
    match two.ask_flat(|r| Msg::Even(7, r)).await.unwrap_err() {
        KeyedAskError::HandlerError { key, error } => {
            assert_eq!(key, "2");
            assert_eq!(error, TestError("odd"));
        }
        other => panic!("expected HandlerError, got {other:?}"),
    }
    // A request that is not delivered still comes back, whatever the handler's error type.
    world.fail_next.store(1, Ordering::SeqCst);
    let err = keyed.ask_flat(3, |r| Msg::Even(8, r)).await.unwrap_err();
    assert!(
        err.send_error().is_some_and(|e| e.is_activation_failed()),
        "{err:?}"
    );
    assert!(matches!(err.into_message(), Some(Msg::Even(8, _))));
}

/// A key's activation asking its own key from its handler fails at once with `Deadlock` and
/// the request back, through the set and through a `KeyRef` (a hang otherwise: the answer
/// could only come after the handler returns). Asking another key from a handler works, and
/// the asker goes on serving.
async fn a_key_asking_itself_is_refused_not_hung<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    for via_key_ref in [false, true] {
        let ask = |key| {
            let keyed = keyed.clone();
            move |reply| Msg::AskKey {
                keyed,
                key,
                via_key_ref,
                after: None,
                reply,
            }
        };
        // `within` fails the test if the self-ask hangs.
        let answer = within(&exec, LONG, keyed.ask(1, ask(1))).await.unwrap();
        assert_eq!(answer, Err("deadlock on 1".to_string()), "{via_key_ref}");
        let answer = within(&exec, LONG, keyed.ask(1, ask(2))).await.unwrap();
        assert_eq!(answer, Ok(2), "{via_key_ref}");
    }
    assert_eq!(keyed.ask(1, Msg::Key).await.unwrap(), 1);
    assert_eq!(world.calls(), vec![1, 2]);
}

/// An activation's `started` hook asking its own key while the key is still activating is
/// refused with `Deadlock`, through the set and through a `KeyRef` (a hang otherwise: the
/// messages that queued for the activation, the ask among them, are handed over only after the
/// hook returns). The messages queued before it are handled, in order.
async fn a_started_hook_asking_its_own_key_is_refused_not_hung<E: Executor>(exec: E) {
    let world = World::new();
    let (open, gate) = gate();
    world.close_gate_until(gate);
    // One place, so that handing the second queued message over waits for the actor to take
    // the first, which it does only after its hook: the hook runs while the key is activating.
    let mailbox = Bounded::<Block>::with_capacity(1).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(exec.clone()));
    *world.self_ask.lock().unwrap() = Some(keyed.clone());
    let mut sends: Vec<Pin<Box<dyn Future<Output = _> + Send>>> = Vec::new();
    for key in [1, 2] {
        for n in 0..3 {
            let mut send = Box::pin(keyed.tell(key, Msg::Item(n)));
            assert!(
                futures::poll!(send.as_mut()).is_pending(),
                "held at the gate"
            );
            sends.push(send);
        }
    }
    open.send(()).unwrap();
    // `within` fails the test if the hook's ask hangs.
    for sent in within(&exec, LONG, futures::future::join_all(sends)).await {
        sent.unwrap();
    }
    let mut asks = world.started_asks.lock().unwrap().clone();
    asks.sort_by_key(|(key, _)| *key);
    assert_eq!(
        asks,
        vec![
            (1, Err("deadlock on 1".to_string())),
            (2, Err("deadlock on 2".to_string())),
        ]
    );
    for key in [1, 2] {
        assert_eq!(keyed.ask(key, Msg::Log).await.unwrap(), vec![0, 1, 2]);
    }
    world.self_ask.lock().unwrap().take();
}

/// An activation being passivated that asks its own key from a handler, after another sender's
/// message has queued for the key's next activation (which waits for this one to end), is
/// refused with `Deadlock`, through the set and through a `KeyRef` (a hang otherwise). The
/// queued message reaches the next activation.
async fn a_passivating_key_asking_itself_is_refused_not_hung<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    for (key, via_key_ref) in [(1, false), (2, true)] {
        let (open, after) = gate();
        // The handler takes the request and waits at the gate before asking.
        let mut asking = Box::pin(keyed.ask(key, |reply| Msg::AskKey {
            keyed: keyed.clone(),
            key,
            via_key_ref,
            after: Some(after),
            reply,
        }));
        assert!(futures::poll!(asking.as_mut()).is_pending());
        assert!(keyed.passivate(&key));
        // Finds the activation closed and queues for the next one, which waits for its end.
        let mut next = Box::pin(keyed.tell(key, Msg::Item(7)));
        assert!(futures::poll!(next.as_mut()).is_pending());
        assert!(!keyed.is_active(&key));

        open.send(()).unwrap();
        let answer = within(&exec, LONG, asking).await.unwrap();
        assert_eq!(answer, Err(format!("deadlock on {key}")));
        within(&exec, LONG, next).await.unwrap();
        assert_eq!(keyed.ask(key, Msg::Log).await.unwrap(), vec![7]);
        assert_eq!(world.calls_for(key), 2);
    }
}

/// An activation being passivated that tells its own key from a handler (the "continue later"
/// pattern), with or without another sender's message queued for the key's next activation
/// before it, through the set and through a `KeyRef`: the tell returns `Ok` at once (waiting
/// for the next activation, which waits for this one to end, would hang) and its message is
/// handled by the next activation, after the one queued before it.
async fn a_passivating_key_telling_itself_is_queued_not_hung<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    for (key, via_key_ref, queued_first) in [
        (1, false, false),
        (2, true, false),
        (3, false, true),
        (4, true, true),
    ] {
        let (open, after) = gate();
        keyed
            .ask(key, |busy| Msg::TellOwnKey {
                keyed: keyed.clone(),
                n: 9,
                via_key_ref,
                busy,
                after,
            })
            .await
            .unwrap();
        assert!(keyed.passivate(&key));
        let mut expected = vec![9];
        if queued_first {
            // Finds the activation closed and queues for the next one, which waits for its end.
            let mut next = Box::pin(keyed.tell(key, Msg::Item(7)));
            assert!(futures::poll!(next.as_mut()).is_pending());
            open.send(()).unwrap();
            within(&exec, LONG, next).await.unwrap();
            expected.insert(0, 7);
        } else {
            open.send(()).unwrap();
        }
        // Fails the test if the self-tell hangs.
        eventually(&exec, "the self-tell returned", || {
            world
                .self_tells
                .lock()
                .unwrap()
                .iter()
                .any(|(k, _)| *k == key)
        })
        .await;
        let log = within(&exec, LONG, keyed.ask(key, Msg::Log)).await.unwrap();
        assert_eq!(log, expected, "key {key}");
        assert_eq!(world.calls_for(key), 2);
        let told = world.self_tells.lock().unwrap().clone();
        assert!(told.contains(&(key, Ok(()))), "{told:?}");
    }

    // The next activation fails: nobody waits to hear of the self-told message, which is then
    // reported as a dead letter rather than lost without a trace.
    let broker = playhouse_broker::InMemoryBroker::new();
    let keyed = spec(&world).start(&System::with_broker(exec.clone(), broker.clone()));
    let (open, after) = gate();
    keyed
        .ask(5, |busy| Msg::TellOwnKey {
            keyed: keyed.clone(),
            n: 9,
            via_key_ref: false,
            busy,
            after,
        })
        .await
        .unwrap();
    assert!(keyed.passivate(&5));
    world.fail_next.store(1, Ordering::SeqCst);
    open.send(()).unwrap();
    eventually(&exec, "the undelivered self-tell to be reported", || {
        broker.dead_letters().get(DeadLetterKind::ActorGone) == 1
    })
    .await;
    assert!(
        world.self_tells.lock().unwrap().contains(&(5, Ok(()))),
        "the send itself was accepted"
    );
}

/// What a factory's sends and asks to keys of its own set gave, in order.
type FactoryLog = Arc<Mutex<Vec<(u32, String)>>>;

/// A factory that sends to, asks, and sends through a `KeyRef` to the key it is activating is
/// refused each time with `Deadlock` and its message back (a hang otherwise: the message could
/// only be taken once the factory returns), whether the factory runs in the first sender's task
/// or on a task of its own (after a wait). A send to another key of the set from the factory
/// gets through, activating that key in place, and the factory is still refused afterwards.
async fn a_factory_sending_to_its_own_key_is_refused_not_hung<E: Executor>(exec: E) {
    let world = World::new();
    let log: FactoryLog = Arc::default();
    let own: Arc<Mutex<Option<Keyed<u32, Probe>>>> = Arc::default();
    let keyed = {
        let (world, log, own) = (world.clone(), log.clone(), own.clone());
        KeyedSpec::new(move |key: &u32| {
            let key = *key;
            let (world, log) = (world.clone(), log.clone());
            let keyed = own.lock().unwrap().clone();
            async move {
                let record = |what: String| log.lock().unwrap().push((key, what));
                if let Some(keyed) = keyed.filter(|_| key < 100) {
                    if key % 2 == 1 {
                        // Goes on as a task of its own.
                        yield_now().await;
                    }
                    record(match keyed.tell(key, Msg::Item(100)).await {
                        Err(KeyedError::Deadlock { message, .. }) => {
                            format!("tell refused, {:?} back", item(Some(message)))
                        }
                        other => format!("tell: {other:?}"),
                    });
                    record(match keyed.ask(key, Msg::Log).await {
                        Err(KeyedAskError::Deadlock {
                            message: Msg::Log(_),
                            ..
                        }) => "ask refused, request back".to_string(),
                        other => format!("ask: {other:?}"),
                    });
                    let other = key + 100;
                    record(format!(
                        "tell {other}: {:?}",
                        keyed.tell(other, Msg::Item(5)).await
                    ));
                    let mut by_ref = keyed.key_ref(key);
                    record(match by_ref.tell(Msg::Item(101)).await {
                        Err(err) if err.is_deadlock() => format!("{err}"),
                        other => format!("key_ref tell: {other:?}"),
                    });
                }
                Ok::<_, TestError>(world.load(key))
            }
        })
        .start(&System::new(exec.clone()))
    };
    *own.lock().unwrap() = Some(keyed.clone());

    for key in [1, 2] {
        within(&exec, LONG, keyed.tell(key, Msg::Item(key)))
            .await
            .unwrap();
        assert_eq!(keyed.ask(key, Msg::Log).await.unwrap(), vec![key]);
        assert_eq!(keyed.ask(key + 100, Msg::Log).await.unwrap(), vec![5]);
    }
    let mut seen = log.lock().unwrap().clone();
    seen.sort_by_key(|(key, _)| *key);
    let expect = |key: u32| {
        [
            "tell refused, Some(100) back".to_string(),
            "ask refused, request back".to_string(),
            format!("tell {}: Ok(())", key + 100),
            format!(
                "the factory activating key {key} sent to that key; the message could never be taken"
            ),
        ]
        .map(|what| (key, what))
    };
    let mut want = expect(1).to_vec();
    want.extend(expect(2));
    assert_eq!(seen, want);
    own.lock().unwrap().take();
}

/// The timeout of the timed-ask tests (virtual).
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A timed ask whose key is still activating gives up at its timeout and hands the request
/// back, whether it made the key's entry or queued behind another sender's message; it is taken
/// out of the key's queue, so the activation never hands it over. The other message is
/// delivered once the factory finishes, and the key that was asked only is activated empty.
async fn ask_timeout_hands_back_a_request_the_key_never_got<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let (open, gate) = gate();
    world.close_gate_until(gate);
    let keyed = spec(&world).start(&System::new(vt.clone()));

    let mut send = Box::pin(keyed.tell(3, Msg::Item(1)));
    assert!(
        futures::poll!(send.as_mut()).is_pending(),
        "held at the gate"
    );
    let mut behind = Box::pin(keyed.ask_timeout(3, Msg::Log, ASK_TIMEOUT));
    let mut first = Box::pin(keyed.ask_timeout(4, Msg::Log, ASK_TIMEOUT));
    assert!(futures::poll!(behind.as_mut()).is_pending());
    assert!(futures::poll!(first.as_mut()).is_pending());
    eventually(&exec, "both asks to sleep", || vt.sleeping() >= 2).await;
    vt.advance(ASK_TIMEOUT / 2);
    assert!(
        futures::poll!(behind.as_mut()).is_pending(),
        "not timed out yet"
    );
    vt.advance(ASK_TIMEOUT);
    for (key, asking) in [(3, behind), (4, first)] {
        let err = within(&exec, LONG, asking).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(err.key(), key.to_string());
        assert_eq!(
            err.to_string(),
            format!("the ask of key {key} timed out before the request was delivered")
        );
        assert!(
            matches!(err.into_message(), Some(Msg::Log(_))),
            "handed back"
        );
    }

    open.send(()).unwrap();
    within(&exec, LONG, send).await.unwrap();
    assert_eq!(keyed.ask(3, Msg::Log).await.unwrap(), vec![1]);
    eventually(&exec, "key 4 to be active", || keyed.is_active(&4)).await;
    assert_eq!(keyed.ask(4, Msg::Log).await.unwrap(), Vec::<u32>::new());
    assert_eq!(world.calls(), vec![3, 4]);
}

/// A timed ask whose request the key's actor has taken times out waiting for the answer with
/// `None` (the request may still be handled); one still waiting for room in a full
/// `Block` mailbox times out with the request handed back. A timeout too long for the clock
/// means no limit.
async fn ask_timeout_after_delivery_and_waiting_for_room<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let mailbox = Bounded::<Block>::with_capacity(1).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(vt.clone()));
    assert_eq!(
        keyed.ask_timeout(1, Msg::Key, Duration::MAX).await.unwrap(),
        1
    );

    // The actor is held: the request goes into its mailbox, and no answer comes in time.
    let (open, gate) = gate();
    keyed.ask(1, |busy| Msg::Hold(busy, gate)).await.unwrap();
    let mut asking = Box::pin(keyed.ask_timeout(1, Msg::Key, ASK_TIMEOUT));
    assert!(futures::poll!(asking.as_mut()).is_pending());
    // The mailbox (one place) is now full: the next timed ask waits for room.
    let mut waiting = Box::pin(keyed.ask_timeout(1, Msg::Log, ASK_TIMEOUT));
    assert!(futures::poll!(waiting.as_mut()).is_pending());
    eventually(&exec, "both asks to sleep", || vt.sleeping() >= 2).await;
    vt.advance(ASK_TIMEOUT * 2);

    let err = within(&exec, LONG, asking).await.unwrap_err();
    assert!(
        matches!(err, KeyedAskError::Timeout { message: None, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the ask of key 1 timed out; the key has the request and may still handle it"
    );
    let err = within(&exec, LONG, waiting).await.unwrap_err();
    assert!(
        matches!(err.into_message(), Some(Msg::Log(_))),
        "handed back"
    );

    open.send(()).unwrap();
    keyed.tell(1, Msg::Item(9)).await.unwrap();
    // The actor goes on: the timed-out `Key` request and this item are handled.
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![9]);
}

/// A timed send gives up at its timeout while the key is still activating or its `Block`
/// mailbox stays full, handing the message back (never to be delivered); to an active key with
/// room it is a plain routed send, with no timer. A timeout too long for the clock means no
/// limit.
async fn tell_timeout_hands_back_what_the_key_never_got<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let (open, factory_gate) = gate();
    world.close_gate_until(factory_gate);
    let mailbox = Bounded::<Block>::with_capacity(1).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(vt.clone()));

    let mut unbounded = Box::pin(keyed.tell_timeout(6, Msg::Item(2), Duration::MAX));
    assert!(
        futures::poll!(unbounded.as_mut()).is_pending(),
        "held at the gate"
    );
    let five = keyed.key_ref(5);
    let mut timed = Box::pin(five.tell_timeout(Msg::Item(1), ASK_TIMEOUT));
    assert!(
        futures::poll!(timed.as_mut()).is_pending(),
        "held at the gate"
    );
    eventually(&exec, "the send to sleep", || vt.sleeping() >= 1).await;
    vt.advance(ASK_TIMEOUT);
    let err = within(&exec, LONG, timed).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the send to key 5 timed out before it was delivered"
    );
    assert_eq!(item(err.into_message()), Some(1), "handed back");
    assert!(
        futures::poll!(unbounded.as_mut()).is_pending(),
        "no deadline: still waiting"
    );

    open.send(()).unwrap();
    within(&exec, LONG, unbounded).await.unwrap();
    eventually(&exec, "key 5 to be active", || keyed.is_active(&5)).await;
    assert_eq!(keyed.ask(5, Msg::Log).await.unwrap(), Vec::<u32>::new());

    // Active, with room: no timer.
    let sleeping = vt.sleeping();
    keyed
        .tell_timeout(6, Msg::Item(3), ASK_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(vt.sleeping(), sleeping);

    // Held, its one place taken: the timed send waits for room, then gives up.
    let (release, hold) = gate();
    keyed.ask(6, |busy| Msg::Hold(busy, hold)).await.unwrap();
    keyed.tell(6, Msg::Item(4)).await.unwrap();
    let mut waiting = Box::pin(keyed.tell_timeout(6, Msg::Item(5), ASK_TIMEOUT));
    assert!(futures::poll!(waiting.as_mut()).is_pending());
    eventually(&exec, "the send to sleep", || vt.sleeping() > sleeping).await;
    vt.advance(ASK_TIMEOUT);
    let err = within(&exec, LONG, waiting).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(item(err.into_message()), Some(5), "handed back");
    release.send(()).unwrap();
    assert_eq!(keyed.ask(6, Msg::Log).await.unwrap(), vec![2, 3, 4]);
}

/// A factory that overruns the set's activation timeout fails the activation: every waiting
/// sender gets its message back in `ActivationFailed`, whose cause is an `ActivationTimedOut`;
/// nothing is left of the attempt, and the key's next message activates it.
async fn an_activation_overrunning_its_timeout_fails_and_hands_back<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let (open, factory_gate) = gate();
    world.close_gate_until(factory_gate);
    let keyed = spec(&world)
        .activation_timeout(ASK_TIMEOUT)
        .start(&System::new(vt.clone()));

    let mut send = Box::pin(keyed.tell(2, Msg::Item(1)));
    assert!(
        futures::poll!(send.as_mut()).is_pending(),
        "held at the gate"
    );
    let mut asking = Box::pin(keyed.ask(2, Msg::Log));
    assert!(futures::poll!(asking.as_mut()).is_pending(), "queued");
    eventually(&exec, "the factory's timer to sleep", || vt.sleeping() >= 1).await;
    vt.advance(ASK_TIMEOUT / 2);
    assert!(
        futures::poll!(send.as_mut()).is_pending(),
        "within the limit"
    );
    vt.advance(ASK_TIMEOUT);

    let err = within(&exec, LONG, send).await.unwrap_err();
    assert!(err.is_activation_failed(), "{err:?}");
    let cause = err
        .cause()
        .and_then(|c| c.downcast_ref::<ActivationTimedOut>());
    assert_eq!(cause, Some(&ActivationTimedOut { after: ASK_TIMEOUT }));
    assert_eq!(
        err.to_string(),
        "activating key 2 failed: the factory did not finish within 5s"
    );
    assert_eq!(item(err.into_message()), Some(1), "handed back");
    let err = within(&exec, LONG, asking).await.unwrap_err();
    assert!(
        matches!(err.into_message(), Some(Msg::Log(_))),
        "handed back"
    );
    assert_eq!(keyed.stats().activation_failures, 1);
    assert_eq!(keyed.resident_count(), 0, "nothing left of the attempt");

    open.send(()).unwrap();
    keyed.tell(2, Msg::Item(3)).await.unwrap();
    assert_eq!(keyed.ask(2, Msg::Log).await.unwrap(), vec![3]);
    assert_eq!(world.calls(), vec![2, 2]);
}

async fn try_tell_reaches_only_running_activations<E: Executor>(exec: E) {
    let world = World::new();
    let mailbox = Bounded::<Reject>::with_capacity(2).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(exec.clone()));

    let err = keyed.try_tell(&1, Msg::Item(1)).unwrap_err();
    assert!(err.is_inactive());
    assert_eq!(item(err.into_message()), Some(1));
    assert!(world.calls().is_empty(), "try_tell does not activate");

    keyed.tell(1, Msg::Item(1)).await.unwrap();
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![1]);
    keyed.try_tell(&1, Msg::Item(2)).unwrap();
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![1, 2]);

    // Full under `Reject`: hold the actor, fill its two places, and the next send fails.
    let (open, gate) = gate();
    keyed.ask(1, |busy| Msg::Hold(busy, gate)).await.unwrap();
    keyed.tell(1, Msg::Item(3)).await.unwrap();
    keyed.try_tell(&1, Msg::Item(4)).unwrap();
    let err = keyed.tell(1, Msg::Item(5)).await.unwrap_err();
    assert!(err.is_full(), "{err:?}");
    assert_eq!(err.key(), "1");
    assert_eq!(item(err.into_message()), Some(5));
    let err = keyed.try_tell(&1, Msg::Item(6)).unwrap_err();
    assert!(err.is_full());
    open.send(()).unwrap();
    eventually(&exec, "the queue to drain", || {
        world.handled.load(Ordering::SeqCst) == 4
    })
    .await;
    assert_eq!(keyed.ask(1, Msg::Log).await.unwrap(), vec![1, 2, 3, 4]);
}

/// A supervision whose `drained` hook panics, as user code may: restarts drain the queue.
struct PanicsWhenDrained(HeldRestart);

impl playhouse_core::Supervision<Probe> for PanicsWhenDrained {
    fn poll_exited(
        &mut self,
        id: playhouse_core::ActorId,
        reason: &ExitReason,
        cx: &mut ::std::task::Context<'_>,
    ) -> Poll<playhouse_core::Next<Probe>> {
        match self.0.poll_exited(id, reason, cx) {
            Poll::Ready(playhouse_core::Next::Restart(fresh)) => {
                Poll::Ready(playhouse_core::Next::RestartDrained(fresh))
            }
            other => other,
        }
    }

    fn drained(&mut self, _: playhouse_core::ActorId, _: usize) {
        panic!("the supervision's drained hook panics");
    }
}

/// What a drained restart discards is reported as `Drained` dead letters even when the
/// supervision's own `drained` hook panics (the set reports first; the runner contains the
/// panic).
async fn a_drained_restart_is_reported_past_a_panicking_hook<E: Executor>(exec: E) {
    let world = World::new();
    let broker = playhouse_broker::InMemoryBroker::new();
    let (_keyed, desk) =
        crashed_with_a_held_restart(&exec, &world, &broker, PanicsWhenDrained).await;
    HeldRestart::release(&desk);
    eventually(&exec, "the drained restart reported", || {
        broker.dead_letters().get(DeadLetterKind::Drained) == 2
    })
    .await;
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 0);
}

// ---------------------------------------------------------------------------------------------
// A key's `Clone` and `Debug` are user code, and may panic.

/// Which of a [`Touchy`] key's traits panic now.
#[derive(Default)]
struct Traps {
    clone: AtomicBool,
    debug: AtomicBool,
}

/// A key (by `id` alone) whose `Clone` or `Debug` panics while its trap is set.
struct Touchy {
    id: u32,
    traps: Arc<Traps>,
}

impl Touchy {
    fn new(id: u32, traps: &Arc<Traps>) -> Self {
        Touchy {
            id,
            traps: traps.clone(),
        }
    }
}

impl Clone for Touchy {
    fn clone(&self) -> Self {
        assert!(!self.traps.clone.load(Ordering::SeqCst), "clone trap");
        Touchy::new(self.id, &self.traps)
    }
}

impl fmt::Debug for Touchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        assert!(!self.traps.debug.load(Ordering::SeqCst), "debug trap");
        write!(f, "Touchy({})", self.id)
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Touchy {}

impl ::std::hash::Hash for Touchy {
    fn hash<H: ::std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}

/// Holds its handler on a gate, panics on `Boom`, answers `Ping`.
struct Keeper;

enum KeeperMsg {
    Hold(Reply<()>, Shared<oneshot::Receiver<()>>),
    Boom,
    Note,
    Ping(Reply<()>),
}

impl Actor for Keeper {
    type Message = KeeperMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Keeper {
    async fn handle(&mut self, msg: KeeperMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            KeeperMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            KeeperMsg::Boom => panic!("boom"),
            KeeperMsg::Note => {}
            KeeperMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

fn keepers<E: Executor>(
    exec: &E,
    broker: &playhouse_broker::InMemoryBroker,
) -> Keyed<Touchy, Keeper> {
    KeyedSpec::from_fn(|_: &Touchy| Ok::<_, Infallible>(Keeper))
        .start(&System::with_broker(exec.clone(), broker.clone()))
}

/// A crashed activation whose key's `Debug` panics (as its discards are reported) still
/// leaves the table: it had stayed counted as active, holding the dead actor's entry.
async fn a_crashed_activation_whose_keys_debug_panics_is_retired<E: Executor>(exec: E) {
    let broker = playhouse_broker::InMemoryBroker::new();
    let keyed = keepers(&exec, &broker);
    let traps = Arc::new(Traps::default());
    let key = Touchy::new(13, &traps);
    let (open, gate) = gate();
    within(
        &exec,
        LONG,
        keyed.ask(key.clone(), |busy| KeeperMsg::Hold(busy, gate)),
    )
    .await
    .unwrap();
    keyed.tell(key.clone(), KeeperMsg::Boom).await.unwrap();
    keyed.tell(key.clone(), KeeperMsg::Note).await.unwrap();
    traps.debug.store(true, Ordering::SeqCst);
    let _ = open.send(());
    eventually(&exec, "the crashed activation is retired", || {
        keyed.active_count() == 0 && keyed.resident_count() == 0
    })
    .await;
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 1);
    traps.debug.store(false, Ordering::SeqCst);
    within(&exec, LONG, keyed.ask(key.clone(), KeeperMsg::Ping))
        .await
        .expect("the key activates again");
}

/// A send whose key's `Clone` panics as it routes (to a new key, and to a key whose actor is
/// passivating) gets the panic, and leaves the table as it was: the key's next send activates
/// it. (The panic had left an entry waiting for an activation that never ran, and every later
/// send to the key hung.)
async fn a_send_whose_keys_clone_panics_leaves_the_key_usable<E: Executor>(exec: E) {
    let broker = playhouse_broker::InMemoryBroker::new();
    let keyed = keepers(&exec, &broker);
    let traps = Arc::new(Traps::default());
    // A new key.
    traps.clone.store(true, Ordering::SeqCst);
    let sent = ::std::panic::AssertUnwindSafe(keyed.tell(Touchy::new(1, &traps), KeeperMsg::Note))
        .catch_unwind()
        .await;
    assert!(sent.is_err(), "the sender's own clone panicked");
    traps.clone.store(false, Ordering::SeqCst);
    within(
        &exec,
        LONG,
        keyed.ask(Touchy::new(1, &traps), KeeperMsg::Ping),
    )
    .await
    .expect("the new key activates");
    // A key whose actor is passivating: its mailbox is closed while its handler holds.
    let (open, gate) = gate();
    within(
        &exec,
        LONG,
        keyed.ask(Touchy::new(2, &traps), |busy| KeeperMsg::Hold(busy, gate)),
    )
    .await
    .unwrap();
    assert!(keyed.passivate(&Touchy::new(2, &traps)));
    traps.clone.store(true, Ordering::SeqCst);
    let sent = ::std::panic::AssertUnwindSafe(keyed.tell(Touchy::new(2, &traps), KeeperMsg::Note))
        .catch_unwind()
        .await;
    assert!(sent.is_err(), "the sender's own clone panicked");
    traps.clone.store(false, Ordering::SeqCst);
    let _ = open.send(());
    within(
        &exec,
        LONG,
        keyed.ask(Touchy::new(2, &traps), KeeperMsg::Ping),
    )
    .await
    .expect("the key activates again");
}

/// A message that counts its drop and then panics, unless its handler forgets it.
struct Bomb(Arc<AtomicU32>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("bomb");
    }
}

/// Never made: its factory fails.
struct Unmade;

impl Actor for Unmade {
    type Message = Bomb;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Unmade {
    async fn handle(&mut self, msg: Bomb, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        ::std::mem::forget(msg);
        Ok(())
    }
}

/// A failed activation hands each queued message back, or drops it as a dead letter if its
/// sender has gone. Two such messages whose drops panic: each drop is contained, so every
/// one is counted and the sender still waiting gets its message back. (The first panic had cut
/// the answers short, and the second, while the first unwound, aborted the process.)
async fn a_failed_activation_contains_the_drops_of_what_it_hands_back<E: Executor>(exec: E) {
    let broker = playhouse_broker::InMemoryBroker::new();
    let (open, gate) = gate();
    let keyed: Keyed<u32, Unmade> = KeyedSpec::new(move |_: &u32| {
        let gate = gate.clone();
        async move {
            let _ = gate.await;
            Err::<Unmade, _>(TestError("no"))
        }
    })
    .start(&System::with_broker(exec.clone(), broker.clone()));
    let drops = Arc::new(AtomicU32::new(0));
    // Two sends whose senders went away: their messages stay queued for the activation.
    for _ in 0..2 {
        assert!(keyed.tell(1, Bomb(drops.clone())).now_or_never().is_none());
    }
    let queued = Arc::new(AtomicBool::new(false));
    let waiting = {
        let (keyed, drops, queued) = (keyed.clone(), drops.clone(), queued.clone());
        spawn(&exec, async move {
            let mut send = ::std::pin::pin!(keyed.tell(1, Bomb(drops)));
            assert!(futures::poll!(send.as_mut()).is_pending());
            queued.store(true, Ordering::SeqCst);
            match send.await {
                Err(KeyedError::ActivationFailed { message, .. }) => {
                    ::std::mem::forget(message);
                    "handed back"
                }
                Err(e) => {
                    ::std::mem::forget(e);
                    "another error"
                }
                Ok(()) => "sent",
            }
        })
    };
    eventually(&exec, "the waiting send queued", || {
        queued.load(Ordering::SeqCst)
    })
    .await;
    let _ = open.send(());
    assert_eq!(join(&exec, waiting).await, "handed back");
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(broker.dead_letters().get(DeadLetterKind::ActorGone), 2);
    assert_eq!(keyed.stats().activation_failures, 1);
}

executor_tests!(
    a_failed_activation_contains_the_drops_of_what_it_hands_back,
    a_crashed_activation_whose_keys_debug_panics_is_retired,
    a_send_whose_keys_clone_panics_leaves_the_key_usable,
    a_drained_restart_is_reported_past_a_panicking_hook,
    activates_on_first_message,
    keeps_per_key_order,
    queues_messages_in_order_while_activating,
    answers_each_queued_sender_as_its_message_enters_the_mailbox,
    a_send_during_the_hand_over_waits_for_it,
    the_hand_over_ends_with_what_was_queued_when_it_began,
    runs_keys_concurrently,
    activates_once_under_a_creation_race,
    hands_back_the_message_when_the_factory_fails,
    fails_every_waiting_sender_when_the_factory_fails,
    reports_a_panicking_factory,
    passivates_after_the_idle_time,
    keeps_a_busy_key_and_passivates_an_idle_one,
    keeps_a_key_for_its_idle_time_after_its_queue_drains,
    passivates_on_demand,
    passivates_every_key_at_once,
    counts_what_the_activations_mailboxes_drop,
    never_loses_a_message_racing_passivation,
    reroutes_a_send_waiting_for_room_when_its_key_is_passivated,
    dropping_the_set_ends_its_activations,
    restarts_a_crashed_activation,
    a_reactivation_runs_the_factory_while_its_set_lives,
    activates_again_after_a_crash_without_restart,
    reports_what_a_crashed_activation_discarded,
    a_passivation_that_meets_a_crash_lets_the_restart_handle_the_queue,
    a_passivation_during_a_restart_waits_for_it,
    asks_a_key,
    ask_flat_answers_a_handlers_error_as_the_asks,
    a_key_asking_itself_is_refused_not_hung,
    a_started_hook_asking_its_own_key_is_refused_not_hung,
    a_passivating_key_asking_itself_is_refused_not_hung,
    a_passivating_key_telling_itself_is_queued_not_hung,
    a_factory_sending_to_its_own_key_is_refused_not_hung,
    ask_timeout_hands_back_a_request_the_key_never_got,
    ask_timeout_after_delivery_and_waiting_for_room,
    tell_timeout_hands_back_what_the_key_never_got,
    an_activation_overrunning_its_timeout_fails_and_hands_back,
    try_tell_reaches_only_running_activations,
    key_ref_delivers_in_order,
    key_ref_activates_again_after_passivation,
    key_ref_keeps_its_key_busy_and_lets_it_idle,
    key_ref_never_loses_a_message_racing_passivation,
    key_ref_hands_back_the_message_when_full,
    key_ref_hands_back_the_message_when_the_factory_fails,
);

// ---------------------------------------------------------------------------------------------
// Per-key handles (`KeyRef`): the cached activation, and the routed path when it has gone

async fn key_ref_delivers_in_order<E: Executor>(exec: E) {
    let world = World::new();
    // A small mailbox, so that sends also wait for room.
    let mailbox = Bounded::<Block>::with_capacity(4).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(exec.clone()));
    const N: u32 = 2_000;
    let mut three = keyed.key_ref(3);
    assert!(!three.is_cached(), "key 3 is not active yet");
    assert_eq!(*three.key(), 3);
    let sent = spawn(&exec, async move {
        for n in 0..N {
            three.tell(Msg::Item(n)).await.unwrap();
        }
        three
    });
    // Another key's handle at the same time, from this task.
    let mut four = keyed.key_ref(4);
    for n in 0..N {
        four.tell(Msg::Item(n)).await.unwrap();
    }
    let mut three = join(&exec, sent).await;
    assert!(
        three.is_cached() && four.is_cached(),
        "the first send cached the activation"
    );
    let expected: Vec<u32> = (0..N).collect();
    assert_eq!(three.ask(Msg::Log).await.unwrap(), expected);
    assert_eq!(four.ask(Msg::Log).await.unwrap(), expected);
    assert_eq!(world.calls_for(3), 1);
    assert_eq!(world.calls_for(4), 1);
    // A handle and the routed path reach the same activation.
    keyed.tell(3, Msg::Item(N)).await.unwrap();
    three.try_tell(Msg::Item(N + 1)).unwrap();
    assert_eq!(keyed.ask(3, Msg::Log).await.unwrap().len(), N as usize + 2);
}

async fn key_ref_activates_again_after_passivation<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec.clone()));
    let mut key = keyed.key_ref(5);
    key.tell(Msg::Item(1)).await.unwrap();
    assert!(key.is_cached());

    // The cached activation is passivated: the next send finds its mailbox closed and takes
    // the routed path, which activates the key again once the old activation has ended.
    assert!(keyed.passivate(&5));
    key.tell(Msg::Item(2)).await.unwrap();
    assert!(key.is_cached(), "the new activation is cached");
    assert_eq!(key.ask(Msg::Log).await.unwrap(), vec![1, 2]);
    assert_eq!(world.calls(), vec![5, 5]);
    assert_eq!(keyed.stats().activations, 2);

    // Also after the old activation has ended and its entry gone.
    assert!(keyed.passivate(&5));
    eventually(&exec, "the entry to go", || keyed.resident_count() == 0).await;
    let err = key.try_tell(Msg::Item(3)).unwrap_err();
    assert!(err.is_inactive(), "try_tell does not activate: {err:?}");
    assert!(!key.is_cached());
    assert_eq!(item(err.into_message()), Some(3));
    key.tell(Msg::Item(3)).await.unwrap();
    assert_eq!(key.ask(Msg::Log).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(world.calls(), vec![5, 5, 5]);
}

async fn key_ref_keeps_its_key_busy_and_lets_it_idle<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = spec(&world)
        .passivate_after(IDLE)
        .start(&System::new(vt.clone()));
    let mut busy = keyed.key_ref(1);
    busy.tell(Msg::Item(0)).await.unwrap();
    keyed.tell(2, Msg::Item(0)).await.unwrap();
    // Key 1 gets a message through its handle every half idle time, none routed; key 2 none.
    for n in 1..=6 {
        advance_and_sweep(&exec, &vt, &keyed, IDLE / 2).await;
        assert!(busy.is_cached());
        busy.tell(Msg::Item(n)).await.unwrap();
    }
    assert!(
        keyed.is_active(&1),
        "a key busy through its handle was passivated"
    );
    assert!(!keyed.is_active(&2), "an idle key was kept");
    assert_eq!(world.calls(), vec![1, 2], "key 1 was activated once");
    assert_eq!(keyed.stats().passivations, 1);

    // Once the handle stops sending, key 1 is idle, and passivated.
    for _ in 0..3 {
        if !keyed.is_active(&1) {
            break;
        }
        advance_and_sweep(&exec, &vt, &keyed, IDLE).await;
    }
    assert!(!keyed.is_active(&1), "not passivated after 3 idle times");
    assert_eq!(keyed.stats().passivations, 2);
    // Its next send activates it again, with the state it saved.
    busy.tell(Msg::Item(7)).await.unwrap();
    assert_eq!(
        busy.ask(Msg::Log).await.unwrap(),
        (0..=7).collect::<Vec<_>>()
    );
    assert_eq!(world.calls(), vec![1, 2, 1]);
}

async fn key_ref_never_loses_a_message_racing_passivation<E: Executor>(exec: E) {
    racing_passivation_loses_nothing(exec, true).await;
}

async fn key_ref_hands_back_the_message_when_full<E: Executor>(exec: E) {
    let world = World::new();
    let mailbox = Bounded::<Reject>::with_capacity(2).unwrap();
    let keyed = spec(&world)
        .mailbox(mailbox)
        .start(&System::new(exec.clone()));
    let mut key = keyed.key_ref(1);
    let (open, gate) = gate();
    key.ask(|busy| Msg::Hold(busy, gate)).await.unwrap();
    assert!(key.is_cached());
    // The actor is held: fill its two places, and the next sends fail with their message.
    key.tell(Msg::Item(1)).await.unwrap();
    key.try_tell(Msg::Item(2)).unwrap();
    let err = key.tell(Msg::Item(3)).await.unwrap_err();
    assert!(err.is_full(), "{err:?}");
    assert_eq!(err.key(), "1");
    assert_eq!(item(err.into_message()), Some(3));
    let err = key.try_tell(Msg::Item(4)).unwrap_err();
    assert!(err.is_full(), "{err:?}");
    assert_eq!(item(err.into_message()), Some(4));
    assert!(key.is_cached(), "a full mailbox keeps the cache");
    open.send(()).unwrap();
    eventually(&exec, "the queue to drain", || {
        world.handled.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(key.ask(Msg::Log).await.unwrap(), vec![1, 2]);
}

async fn key_ref_hands_back_the_message_when_the_factory_fails<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(exec));
    world.fail_next.store(1, Ordering::SeqCst);
    let mut key = keyed.key_ref(5);
    let err = key.tell(Msg::Item(9)).await.unwrap_err();
    assert!(err.is_activation_failed(), "{err:?}");
    assert_eq!(err.key(), "5");
    assert_eq!(
        err.cause().map(ToString::to_string).as_deref(),
        Some("test error: store offline")
    );
    assert_eq!(
        item(err.into_message()),
        Some(9),
        "the message is handed back"
    );
    assert!(!key.is_cached());
    assert_eq!(keyed.resident_count(), 0);

    // The next send tries again, and succeeds.
    key.tell(Msg::Item(10)).await.unwrap();
    assert!(key.is_cached());
    assert_eq!(key.ask(Msg::Log).await.unwrap(), vec![10]);

    // An ask gets the same, with its request.
    world.fail_next.store(1, Ordering::SeqCst);
    match keyed.key_ref(6).ask(Msg::Log).await.unwrap_err() {
        KeyedAskError::NotDelivered(KeyedError::ActivationFailed { key, message, .. }) => {
            assert_eq!(key, "6");
            assert!(matches!(message, Msg::Log(_)));
        }
        other => panic!("expected NotDelivered(ActivationFailed), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The auto traits are part of the API.

#[test]
fn handles_errors_and_sends_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Keyed<u32, Probe>>();
    send_sync::<Keyed<String, Probe, Bounded<Reject>>>();
    send_sync::<KeyedSpec<u32, Probe>>();
    send_sync::<KeyedError<u32>>();
    send_sync::<KeyedAskError<u32>>();
    let world = World::new();
    let keyed = spec(&world).start(&System::new(playhouse_core::testing::ThreadExecutor));
    send(&keyed.tell(1, Msg::Item(1)));
    send(&keyed.ask(1, Msg::Log));
    send(&keyed.passivate_all());
    send_sync::<KeyRef<u32, Probe>>();
    let mut key = keyed.key_ref(1);
    send(&key.tell(Msg::Item(1)));
    send(&key.ask(Msg::Log));
}

// ---------------------------------------------------------------------------------------------
// An executor that drops every task it is given, unpolled (as one shutting down would).

#[derive(Clone, Debug)]
struct Dropping;

impl Executor for Dropping {
    type Sleep = ::std::future::Ready<()>;

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(future);
    }

    fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
        ::std::future::ready(())
    }
}

/// An activation that must wait (here for its factory) goes on as a task; the executor drops
/// it: the sender gets its message back.
#[test]
fn hands_back_the_message_when_the_activation_task_is_dropped() {
    let world = World::new();
    let (_open, gate) = oneshot::channel::<()>();
    *world.gate.lock().unwrap() = Some(gate.shared());
    let keyed = spec(&world).start(&System::new(Dropping));
    let err = playhouse_core::testing::block_on(keyed.tell(1, Msg::Item(7))).unwrap_err();
    assert!(matches!(err, KeyedError::Cancelled { .. }), "{err:?}");
    assert_eq!(err.key(), "1");
    assert_eq!(item(err.into_message()), Some(7));
    assert_eq!(keyed.resident_count(), 0, "nothing is left behind");
    assert_eq!(keyed.stats().activation_failures, 1);
    assert_eq!(keyed.stats().activations, 0);
    assert_eq!(
        world.calls(),
        vec![1],
        "the factory was called, then dropped waiting"
    );
}

/// An activation that needs no wait runs to its end in the sender's task; the executor drops
/// the new actor's task: the sender gets its message back, as from an actor that stopped.
#[test]
fn hands_back_the_message_when_the_new_actors_task_is_dropped() {
    let world = World::new();
    let keyed = spec(&world).start(&System::new(Dropping));
    let err = playhouse_core::testing::block_on(keyed.tell(1, Msg::Item(7))).unwrap_err();
    assert!(matches!(err, KeyedError::Stopped { .. }), "{err:?}");
    assert_eq!(err.key(), "1");
    assert_eq!(item(err.into_message()), Some(7));
    assert_eq!(keyed.resident_count(), 0, "nothing is left behind");
    assert_eq!(keyed.stats().activations, 1);
    assert_eq!(world.calls(), vec![1]);
}
