//! Keyed (virtual) actors under OTP's rules (`KeyedSupervision`): each restart type against a
//! crash and a normal exit, restarts made by the set's own factory (the key's state reloaded)
//! behind the same reference with the queue kept or drained, restart intensity per activation
//! (at the limit, one past, the sliding window), a factory that fails to restart, a restart that
//! asks its own key, backoff, and passivation, which is never restarted and ends a restart that
//! waits. Each body runs on every executor.
//!
//! Time is virtual where it matters (the intensity window, the backoff): the set runs on
//! `VirtualTime`, which moves only when a test advances it. Waits are bounded so that a bug
//! fails a test instead of hanging it; no test asserts on timing.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::collections::HashMap;
use ::std::fmt;
use ::std::sync::atomic::{AtomicU32, Ordering};
use ::std::sync::{Arc, Mutex};
use ::std::time::{Duration, Instant};

use common::*;
use futures::channel::oneshot;
use futures::future::{FutureExt, Shared};
use playhouse::broker::keyed::{Keyed, KeyedAskError, KeyedSpec};
use playhouse::core::reply_port;
use playhouse::prelude::*;
use playhouse::supervisor::{Backoff, KeyedSupervision};
use playhouse::testing::VirtualTime;

/// Waits (polling every 2 ms of real time, at most [`LONG`]) until `cond` holds.
async fn eventually<E: Executor>(exec: &E, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        exec.sleep_until(Instant::now() + Duration::from_millis(2))
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// The test actor: an account whose log of items is written through to a shared store, and
// loaded from it by the factory (at each activation and each restart).

#[derive(Debug)]
struct StoreDown;

impl fmt::Display for StoreDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the store is down")
    }
}

impl ::std::error::Error for StoreDown {}

#[derive(Default)]
struct World {
    store: Mutex<HashMap<u32, Vec<u32>>>,
    /// Factory calls: activations and restarts.
    loads: AtomicU32,
    /// The factory fails this many more times.
    fail_next: AtomicU32,
    /// `stopped` hooks run, with their reasons.
    stops: Mutex<Vec<String>>,
    /// If set, the factory asks its own key through it, and records whether it was refused
    /// as a deadlock. A test that sets it takes it back: the set holds the world.
    me: Mutex<Option<Keyed<u32, Account>>>,
    refused: Mutex<Vec<bool>>,
}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World::default())
    }

    fn loads(&self) -> u32 {
        self.loads.load(Ordering::SeqCst)
    }

    fn stops(&self) -> Vec<String> {
        self.stops.lock().unwrap().clone()
    }
}

struct Account {
    key: u32,
    log: Vec<u32>,
    world: Arc<World>,
}

enum Msg {
    Item(u32),
    Panic,
    /// Stops the actor itself: a normal exit.
    Stop,
    /// Holds the actor until the gate opens, so that what is sent meanwhile queues.
    Hold(Shared<oneshot::Receiver<()>>),
    Log(Reply<Vec<u32>>),
}

impl Actor for Account {
    type Message = Msg;
    type Error = StoreDown;
}

impl<V: Env> Handler<V> for Account {
    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), StoreDown> {
        match msg {
            Msg::Item(n) => {
                self.log.push(n);
                let mut store = self.world.store.lock().unwrap();
                store.insert(self.key, self.log.clone());
            }
            Msg::Panic => panic!("account {} crashed", self.key),
            Msg::Stop => ctx.stop(),
            Msg::Hold(gate) => {
                let _ = gate.await;
            }
            Msg::Log(reply) => {
                let _ = reply.send(self.log.clone());
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, reason: &ExitReason) {
        self.world.stops.lock().unwrap().push(format!("{reason:?}"));
    }
}

fn accounts(world: &Arc<World>) -> KeyedSpec<u32, Account> {
    let world = world.clone();
    KeyedSpec::from_fn(move |key: &u32| {
        world.loads.fetch_add(1, Ordering::SeqCst);
        let failing = world
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreDown);
        }
        let log = world
            .store
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default();
        Ok(Account {
            key: *key,
            log,
            world: world.clone(),
        })
    })
}

/// A transient supervision that allows three restarts, ever (the window never slides).
fn transient() -> KeyedSupervision {
    KeyedSupervision::new(RestartType::Transient).intensity(3, Duration::MAX)
}

/// A backoff of `secs` before every restart, without jitter.
fn fixed_backoff(secs: u64) -> Backoff {
    Backoff {
        initial: Duration::from_secs(secs),
        max: Duration::from_secs(secs),
        jitter: 0.0,
    }
}

/// Waits until the set holds no entry: the key's activation has ended.
async fn ended<E: Executor>(exec: &E, keyed: &Keyed<u32, Account>) {
    eventually(exec, "the activation to end", || {
        keyed.resident_count() == 0
    })
    .await;
}

async fn log(keyed: &Keyed<u32, Account>, key: u32) -> Vec<u32> {
    keyed.ask(key, Msg::Log).await.expect("the key answers")
}

// ---------------------------------------------------------------------------------------------
// Restart types

/// A transient key that panics is restarted by the set's factory (its state reloaded), behind
/// the same reference, and handles what was queued for the crashed incarnation.
async fn a_crashed_transient_key_is_restarted_from_its_factory<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(transient())
        .start(&System::new(exec));
    let mut handle = keyed.key_ref(4);
    handle.tell(Msg::Item(1)).await.unwrap();
    handle.tell(Msg::Panic).await.unwrap();
    handle.tell(Msg::Item(2)).await.unwrap();
    assert_eq!(log(&keyed, 4).await, vec![1, 2]);
    assert_eq!(
        world.loads(),
        2,
        "one activation, one restart: both load the key"
    );
    let stats = keyed.stats();
    assert_eq!((stats.activations, stats.restarts), (1, 1));
    assert!(keyed.is_active(&4));
    assert_eq!(world.stops(), vec!["Panicked(\"account 4 crashed\")"]);
    // The handle made before the crash still reaches the key.
    handle.tell(Msg::Item(3)).await.unwrap();
    assert_eq!(log(&keyed, 4).await, vec![1, 2, 3]);
}

/// A transient key that stops itself is not restarted; a permanent one is; a temporary one is
/// not restarted after a crash either. A key that ended activates anew on its next message.
async fn each_restart_type_decides_on_its_exits<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    for (restart, exit, restarted) in [
        (RestartType::Transient, (|| Msg::Stop) as fn() -> Msg, false),
        (RestartType::Permanent, (|| Msg::Stop) as fn() -> Msg, true),
        (
            RestartType::Temporary,
            (|| Msg::Panic) as fn() -> Msg,
            false,
        ),
        (RestartType::Transient, (|| Msg::Panic) as fn() -> Msg, true),
    ] {
        let world = World::new();
        let keyed = accounts(&world)
            .supervise(KeyedSupervision::new(restart).intensity(3, Duration::MAX))
            .start(&system);
        keyed.tell(1, Msg::Item(1)).await.unwrap();
        keyed.tell(1, exit()).await.unwrap();
        if restarted {
            eventually(&exec, "the restart", || keyed.stats().restarts == 1).await;
            assert!(keyed.is_active(&1), "{restart:?}");
        } else {
            ended(&exec, &keyed).await;
            assert_eq!(keyed.stats().restarts, 0, "{restart:?}");
        }
        assert_eq!(world.stops().len(), 1, "{restart:?}");
        keyed.tell(1, Msg::Item(2)).await.unwrap();
        assert_eq!(log(&keyed, 1).await, vec![1, 2], "{restart:?}");
        let activations = if restarted { 1 } else { 2 };
        assert_eq!(keyed.stats().activations, activations, "{restart:?}");
    }
}

/// A passivation is a stop, not an exit on its own: a permanent key is not restarted by it.
async fn a_passivation_is_never_restarted<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(KeyedSupervision::new(RestartType::Permanent))
        .start(&System::new(exec.clone()));
    keyed.tell(2, Msg::Item(1)).await.unwrap();
    assert!(keyed.passivate(&2));
    eventually(&exec, "the passivation", || keyed.resident_count() == 0).await;
    assert_eq!(keyed.stats().restarts, 0);
    assert_eq!(world.loads(), 1);
    assert_eq!(world.stops(), vec!["Shutdown(\"passivated\")"]);
}

// ---------------------------------------------------------------------------------------------
// Queues

/// With `DrainQueue`, what was queued behind the crash is discarded: an ask in it resolves
/// with `NoReply::Drained`, and an item in it is never handled. Both are reported as `Drained`
/// dead letters as the restart discards them (by the time the asker hears), while the key goes
/// on; not again when the activation ends.
async fn a_drained_restart_discards_what_was_queued<E: Executor>(exec: E) {
    use playhouse::core::DeadLetterKind::{ActorGone, Drained};
    let world = World::new();
    let broker = playhouse::InMemoryBroker::new();
    let keyed = accounts(&world)
        .supervise(transient().on_restart(OnRestart::DrainQueue))
        .start(&playhouse::core::System::with_broker(
            exec.clone(),
            broker.clone(),
        ));
    keyed.tell(5, Msg::Item(1)).await.unwrap();
    let (open, gate) = oneshot::channel();
    keyed.tell(5, Msg::Hold(gate.shared())).await.unwrap();
    keyed.tell(5, Msg::Panic).await.unwrap();
    keyed.tell(5, Msg::Item(2)).await.unwrap();
    // A tell returns once its message is in the mailbox: this request is queued behind the
    // crash, as the item is.
    let (reply, answer) = reply_port();
    keyed.tell(5, Msg::Log(reply)).await.unwrap();
    open.send(()).unwrap();
    assert_eq!(answer.await, Err(NoReply::Drained));
    let counts = broker.dead_letters();
    assert_eq!((counts.get(Drained), counts.get(ActorGone)), (2, 0));
    assert_eq!(
        log(&keyed, 5).await,
        vec![1],
        "the queued item was discarded"
    );
    assert_eq!(keyed.stats().restarts, 1);
    assert!(keyed.passivate(&5));
    ended(&exec, &keyed).await;
    let counts = broker.dead_letters();
    assert_eq!((counts.get(Drained), counts.total()), (2, 2), "{counts:?}");
}

// ---------------------------------------------------------------------------------------------
// Intensity and failed restarts

/// At most `max_restarts` within the period: at the limit the key is restarted; one past, the
/// activation ends with the crash, and the key's next message activates it anew (from the
/// store, nothing lost that was written).
async fn one_restart_past_the_intensity_ends_the_activation<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(KeyedSupervision::new(RestartType::Transient).intensity(2, Duration::MAX))
        .start(&System::new(exec.clone()));
    keyed.tell(6, Msg::Item(1)).await.unwrap();
    for _ in 0..2 {
        keyed.tell(6, Msg::Panic).await.unwrap();
    }
    assert_eq!(
        log(&keyed, 6).await,
        vec![1],
        "two restarts are within the limit"
    );
    assert_eq!(keyed.stats().restarts, 2);
    keyed.tell(6, Msg::Panic).await.unwrap();
    ended(&exec, &keyed).await;
    assert_eq!(keyed.stats().restarts, 2);
    assert_eq!(world.stops().len(), 3);
    keyed.tell(6, Msg::Item(2)).await.unwrap();
    assert_eq!(log(&keyed, 6).await, vec![1, 2]);
    assert_eq!((keyed.stats().activations, world.loads()), (2, 4));
}

/// `max_restarts = 0`: the first crash ends the activation.
async fn zero_restarts_ends_the_activation_at_its_first_crash<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(KeyedSupervision::new(RestartType::Permanent).intensity(0, Duration::MAX))
        .start(&System::new(exec.clone()));
    keyed.tell(7, Msg::Panic).await.unwrap();
    ended(&exec, &keyed).await;
    assert_eq!((keyed.stats().restarts, world.loads()), (0, 1));
}

/// The window slides on the executor's clock: crashes further apart than the period are each
/// within the intensity.
async fn the_intensity_window_slides_on_the_executors_clock<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(
            KeyedSupervision::new(RestartType::Transient).intensity(1, Duration::from_secs(10)),
        )
        .start(&System::new(vt.clone()));
    keyed.tell(8, Msg::Item(1)).await.unwrap();
    for round in 1..=3 {
        keyed.tell(8, Msg::Panic).await.unwrap();
        assert_eq!(log(&keyed, 8).await, vec![1]);
        assert_eq!(keyed.stats().restarts, round);
        vt.advance(Duration::from_secs(11));
    }
    // Two crashes within 10 s: the second is one past the limit.
    keyed.tell(8, Msg::Panic).await.unwrap();
    assert_eq!(log(&keyed, 8).await, vec![1]);
    keyed.tell(8, Msg::Panic).await.unwrap();
    ended(&exec, &keyed).await;
    assert_eq!(keyed.stats().restarts, 4);
}

/// A restart whose factory fails ends the activation (its queue discarded, the key inactive);
/// the key's next message activates it anew.
async fn a_restart_whose_factory_fails_ends_the_activation<E: Executor>(exec: E) {
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(transient())
        .start(&System::new(exec.clone()));
    keyed.tell(9, Msg::Item(1)).await.unwrap();
    world.fail_next.store(1, Ordering::SeqCst);
    keyed.tell(9, Msg::Panic).await.unwrap();
    ended(&exec, &keyed).await;
    assert_eq!((keyed.stats().restarts, world.loads()), (0, 2));
    assert_eq!(
        keyed.stats().activation_failures,
        1,
        "the restart's factory failed"
    );
    assert_eq!(log(&keyed, 9).await, vec![1]);
    assert_eq!((keyed.stats().activations, world.loads()), (2, 3));
}

/// A restart's factory that asks its own key would wait for an answer only the restarted
/// actor could give: the ask is refused at once (`Deadlock`), as one from the key's handler is,
/// and the restart goes on.
async fn a_restart_asking_its_own_key_is_refused_not_hung<E: Executor>(exec: E) {
    let world = World::new();
    let factory_world = world.clone();
    let keyed = KeyedSpec::new(move |key: &u32| {
        let (world, key) = (factory_world.clone(), *key);
        let me = world.me.lock().unwrap().clone();
        async move {
            if let Some(me) = me {
                let asked = me.ask(key, Msg::Log).await;
                let refused = matches!(asked, Err(KeyedAskError::Deadlock { .. }));
                world.refused.lock().unwrap().push(refused);
            }
            Ok::<_, StoreDown>(Account {
                key,
                log: Vec::new(),
                world,
            })
        }
    })
    .supervise(transient())
    .start(&System::new(exec));
    keyed.tell(1, Msg::Item(1)).await.unwrap();
    *world.me.lock().unwrap() = Some(keyed.clone());
    keyed.tell(1, Msg::Panic).await.unwrap();
    keyed.tell(1, Msg::Item(2)).await.unwrap();
    assert_eq!(
        log(&keyed, 1).await,
        vec![2],
        "restarted, with the queue kept"
    );
    assert_eq!(*world.refused.lock().unwrap(), vec![true]);
    assert_eq!(keyed.stats().restarts, 1);
    world.me.lock().unwrap().take();
}

// ---------------------------------------------------------------------------------------------
// Backoff

/// A backoff puts the restart off on the executor's timer: the factory is not called until
/// the clock reaches it, and what is sent meanwhile waits for the restarted actor.
async fn a_backoff_waits_on_the_executors_timer<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = Arc::new(
        accounts(&world)
            .supervise(transient().backoff(fixed_backoff(30)))
            .start(&System::new(vt.clone())),
    );
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    keyed.tell(3, Msg::Panic).await.unwrap();
    eventually(&exec, "the backoff's timer", || vt.sleeping() > 0).await;
    let (asked_tx, asked) = oneshot::channel();
    let asker = keyed.clone();
    exec.spawn(async move {
        let _ = asked_tx.send(asker.ask(3, Msg::Log).await);
    });
    assert_eq!(world.loads(), 1, "the restart waits for its backoff");
    assert!(
        keyed.is_active(&3),
        "the key stays active while it restarts"
    );
    vt.advance(Duration::from_secs(30));
    let answer = within(&exec, LONG, asked).await.expect("the ask resolved");
    assert_eq!(answer.unwrap(), vec![1]);
    assert_eq!((world.loads(), keyed.stats().restarts), (2, 1));
}

/// A backoff too long for the clock (`Duration::MAX`) waits for ever, as a plain supervisor's
/// does: the restart is not made at once. A passivation then, with a message queued for the
/// restarted actor (the timed-out ask's request), waits for that restart, which never comes:
/// the activation keeps its queue rather than discard it.
async fn a_backoff_past_the_end_of_the_clock_waits_for_ever<E: Executor>(exec: E) {
    let world = World::new();
    let longest = Backoff {
        initial: Duration::MAX,
        max: Duration::MAX,
        jitter: 0.0,
    };
    let keyed = accounts(&world)
        .supervise(transient().backoff(longest))
        .start(&System::new(exec.clone()));
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    keyed.tell(3, Msg::Panic).await.unwrap();
    let waited = keyed
        .ask_timeout(3, Msg::Log, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(waited.is_timeout(), "{waited}");
    assert_eq!(world.loads(), 1, "the restart waits");
    assert!(keyed.is_active(&3), "the key stays active while it waits");
    assert!(keyed.passivate(&3));
    assert!(!keyed.is_active(&3));
    for _ in 0..10 {
        exec.sleep_until(Instant::now() + Duration::from_millis(2))
            .await;
    }
    assert_eq!(keyed.resident_count(), 1, "it waits for its restart");
    assert_eq!((world.loads(), keyed.stats().restarts), (1, 0));
}

/// A passivation while a restart waits for its backoff, with a message queued for the
/// restarted actor: the activation waits for the restart, which handles the message, then ends
/// as passivated. (It ended at once, the message discarded.)
async fn a_passivation_during_a_backoff_waits_for_the_restart_to_handle_the_queue<E: Executor>(
    exec: E,
) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(transient().backoff(fixed_backoff(30)))
        .start(&System::new(vt.clone()));
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    keyed.tell(3, Msg::Panic).await.unwrap();
    eventually(&exec, "the backoff's timer", || vt.sleeping() > 0).await;
    keyed.tell(3, Msg::Item(2)).await.unwrap();
    assert!(keyed.passivate(&3));
    assert!(!keyed.is_active(&3));
    assert_eq!(keyed.resident_count(), 1, "it waits for its restart");
    vt.advance(Duration::from_secs(30));
    ended(&exec, &keyed).await;
    assert_eq!((world.loads(), keyed.stats().restarts), (2, 1));
    // The restarted actor handled the message before it ended: the next activation has it.
    assert_eq!(log(&keyed, 3).await, vec![1, 2]);
}

/// A set dropped while a key waits for its restart's backoff, with a message queued: the
/// activation ends (its mailbox closed with its last reference) and the discarded message is
/// reported as an `ActorGone` dead letter for the key, though the set is gone. (It was not
/// reported: the report went through the set.)
async fn a_set_dropped_during_a_backoff_reports_what_it_discarded<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let broker = playhouse::InMemoryBroker::new();
    let keyed = accounts(&world)
        .supervise(transient().backoff(fixed_backoff(30)))
        .start(&playhouse::core::System::with_broker(
            vt.clone(),
            broker.clone(),
        ));
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    keyed.tell(3, Msg::Panic).await.unwrap();
    eventually(&exec, "the backoff's timer", || vt.sleeping() > 0).await;
    keyed.tell(3, Msg::Item(2)).await.unwrap();
    drop(keyed);
    eventually(&exec, "the discarded message to be reported", || {
        broker
            .dead_letters()
            .get(playhouse::core::DeadLetterKind::ActorGone)
            == 1
    })
    .await;
    assert_eq!(world.loads(), 1, "no restart");
}

/// A passivation while a restart waits for its backoff, with nothing queued: the activation
/// ends without waiting for the backoff, its factory is not called again, and the key's next
/// message activates it anew.
async fn a_passivation_during_a_backoff_ends_the_activation<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = accounts(&world)
        .supervise(transient().backoff(fixed_backoff(30)))
        .start(&System::new(vt.clone()));
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    keyed.tell(3, Msg::Panic).await.unwrap();
    eventually(&exec, "the backoff's timer", || vt.sleeping() > 0).await;
    assert!(keyed.passivate(&3));
    ended(&exec, &keyed).await;
    assert_eq!((world.loads(), keyed.stats().restarts), (1, 0));
    keyed.tell(3, Msg::Item(2)).await.unwrap();
    assert_eq!(log(&keyed, 3).await, vec![1, 2]);
    assert_eq!((world.loads(), keyed.stats().activations), (2, 2));
}

/// A key whose restart waits (here for its backoff) with a message queued is not idle: the
/// idle sweeper leaves it, however long the wait, and the restarted actor handles the message.
async fn a_restarting_key_with_messages_queued_is_not_passivated<E: Executor>(exec: E) {
    const IDLE: Duration = Duration::from_secs(60);
    let vt = VirtualTime::new(exec.clone());
    let world = World::new();
    let keyed = accounts(&world)
        .passivate_after(IDLE)
        .supervise(transient().backoff(fixed_backoff(3_600)))
        .start(&System::new(vt.clone()));
    keyed.tell(3, Msg::Item(1)).await.unwrap();
    keyed.tell(3, Msg::Panic).await.unwrap();
    keyed.tell(3, Msg::Item(2)).await.unwrap();
    // Three idle times pass, with a sweep in each: the sweeper's timer and the backoff's sleep.
    for _ in 0..3 {
        eventually(&exec, "both timers", || vt.sleeping() >= 2).await;
        let before = keyed.stats().sweeps;
        vt.advance(IDLE);
        eventually(&exec, "a sweep", || keyed.stats().sweeps > before).await;
    }
    assert_eq!(
        keyed.stats().passivations,
        0,
        "a key with a message queued is not idle"
    );
    assert!(keyed.is_active(&3));
    vt.advance(Duration::from_secs(3_600));
    assert_eq!(log(&keyed, 3).await, vec![1, 2]);
    assert_eq!((world.loads(), keyed.stats().restarts), (2, 1));
}

executor_tests!(
    a_crashed_transient_key_is_restarted_from_its_factory,
    each_restart_type_decides_on_its_exits,
    a_passivation_is_never_restarted,
    a_drained_restart_discards_what_was_queued,
    one_restart_past_the_intensity_ends_the_activation,
    zero_restarts_ends_the_activation_at_its_first_crash,
    the_intensity_window_slides_on_the_executors_clock,
    a_restart_whose_factory_fails_ends_the_activation,
    a_restart_asking_its_own_key_is_refused_not_hung,
    a_backoff_waits_on_the_executors_timer,
    a_backoff_past_the_end_of_the_clock_waits_for_ever,
    a_passivation_during_a_backoff_ends_the_activation,
    a_passivation_during_a_backoff_waits_for_the_restart_to_handle_the_queue,
    a_set_dropped_during_a_backoff_reports_what_it_discarded,
    a_restarting_key_with_messages_queued_is_not_passivated,
);
