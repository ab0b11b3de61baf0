//! What the broker costs (issue #18): the registry, pub/sub and keyed actors of
//! `playhouse-broker`, each beside the same work done without it, and beside the peers'
//! equivalents where they have one (ractor's registry and process groups, kameo's registry;
//! `playhouse_benches::broker_peers`). The workloads run on one 2-worker Tokio multi-thread
//! runtime (`tokio_2workers`: the shape of `workload::multi_thread_runtime`, plus the time
//! driver, which a publish needs to bound its wait for a full `Block` subscriber); the registry
//! and routing comparisons also run on a Tokio current-thread runtime (`current_thread`), where
//! no wake-up crosses threads, so the ratio is that of the CPU work alone. playhouse's mailboxes
//! are `Bounded<Block>` of 1024. What a workload talks to is set up before the clock starts and
//! torn down after it stops.
//!
//! Groups, and their criterion ids:
//!
//! - `registry/<runtime>`: [`REGISTRY_N`] tells to one counter, then one ask for the count.
//!   `playhouse/direct` tells its `ActorRef`; `playhouse/lookup` looks the name up in the
//!   system's broker (`MessageBroker::lookup`, typed) before each tell; on `tokio_2workers`,
//!   `ractor/direct` vs `ractor/where_is` (`registry::where_is` + cast) and `kameo/direct` vs
//!   `kameo/lookup` (`ActorRef::lookup` + tell) do the same with the peers' registries.
//! - `publish/<N>` for N = 1, 100, 10,000 subscribers: [`DELIVERIES`] deliveries per run,
//!   `DELIVERIES / N` messages published to N counting subscribers (`playhouse/publish`,
//!   `MessageBroker::publish`; `playhouse/publisher`: through a `Publisher` of the topic made
//!   before the clock starts, `InMemoryBroker::publisher`), or told to each of them in turn
//!   (`playhouse/direct`: N `tell`s of a clone per message), or told through each one's
//!   `Recipient<Tick>` (`floor/recipients`: the floor of any fan-out to subscribers of different
//!   actor types, one indirect call per send); `ractor/group` casts to the members of a process group
//!   (`pg::get_members` per message), `ractor/direct` to the references. A run ends when every
//!   subscriber has handled all its messages (each counts down a latch at its last).
//!   Throughput in deliveries per second.
//! - `keyed/activation`: [`ACTIVATIONS`] keys of a fresh keyed set, each activated by an ask
//!   (`keyed/ask_new_key`: its first message, until handled); beside it, spawning an actor with
//!   the same mailbox and asking it (`direct/spawn_ask`), an ask to each key of a set whose keys
//!   are all active already (`keyed/ask_active_key`) and to each of as many actors spawned
//!   directly (`direct/ask_existing`), and the activations pipelined (`keyed/tell_new_keys`:
//!   one tell to each new key back to back, until every activation has handled its tell). Then
//!   (not timed) the same number of keys is activated and passivated, and what is left of them
//!   in the set's table is printed (`keyed/idle`).
//! - `keyed/routed/<runtime>`: [`ROUTED_N`] tells to one active key through the set
//!   (`keyed/routed`), through a handle on the key made before the clock starts
//!   (`keyed/key_ref`, `KeyRef::tell`), through `keyed.at(key)` as a `MessageTarget` (the
//!   path of an `#[actor]`'s helpers on a key: `keyed/at`), or to that activation's own
//!   `ActorRef` (`direct/tell`), then one ask. `floor/locked_map` is the floor of any routing through a shared table: the
//!   same `ActorRef` kept in a `std::sync::RwLock<HashMap>` with a one-multiply hasher, looked
//!   up under the read lock for each tell (the lock's two atomic operations and the lookup,
//!   nothing of the set's own).
//! - `keyed/churn`: [`CHURN_CYCLES`] cycles on one key: an ask (which activates it), then a
//!   passivation on demand, whose end the next cycle's activation waits for
//!   (`keyed/activate_passivate`); against spawning an actor, asking it, stopping it and waiting
//!   for its end (`direct/spawn_ask_stop`).
//!
//! After each group whose ids all ran (in `cargo bench` mode), the bench runs its ids
//! alternately ([`ROUNDS`] rounds, the order reversed every other round, as `supervised.rs`
//! does with pairs), prints each id's median and each comparison's median ratio over the
//! rounds, with the target of issue #18 where it sets one (MET / NOT MET); the lines are printed
//! again together at the end ("broker summary"). Nothing asserts on a timing.
//!
//! ```sh
//! cargo bench -p playhouse-benches --bench broker -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p playhouse-benches --bench broker -- keyed/   # one family of groups
//! ```

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use playhouse::Topic;
use playhouse::broker::keyed::{Keyed, KeyedSpec};
use playhouse::prelude::*;
use playhouse_benches::broker_peers;
use playhouse_benches::workload::{Latch, MAILBOX_CAPACITY, WORKER_THREADS};
use tokio::runtime::Runtime;

/// Tells per run of `registry`.
const REGISTRY_N: u64 = 100_000;
/// Deliveries per run of `publish/<N>` (publishes × subscribers).
const DELIVERIES: u64 = 500_000;
/// Subscriber counts of `publish/<N>`.
const SUBSCRIBERS: [u64; 3] = [1, 100, 10_000];
/// Keys activated per run of `keyed/activation`.
const ACTIVATIONS: u64 = 10_000;
/// Tells per run of `keyed/routed`.
const ROUTED_N: u64 = 100_000;
/// Activate/passivate cycles per run of `keyed/churn`.
const CHURN_CYCLES: u64 = 10_000;
/// Alternating rounds (one run of each id) after each group.
const ROUNDS: usize = 8;

/// The mailbox of every playhouse actor here.
fn mailbox() -> Bounded<Block> {
    Bounded::with_capacity(MAILBOX_CAPACITY).expect("non-zero capacity")
}

/// The 2-worker Tokio runtime, with the time driver.
struct Rt(Runtime);

impl Rt {
    fn two_workers() -> Self {
        Rt(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .enable_time()
            .build()
            .expect("build tokio runtime"))
    }

    /// A current-thread runtime, with the time driver: no other thread to wake, so a
    /// comparison on it shows the CPU cost of each operation alone.
    fn current_thread() -> Self {
        Rt(tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("build tokio runtime"))
    }

    /// Runs the workload made by `make` as a task on one of the workers.
    fn run<W, F>(&self, make: W) -> F::Output
    where
        W: FnOnce(TokioExecutor) -> F,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let fut = make(TokioExecutor::from_handle(self.0.handle().clone()));
        self.0
            .block_on(self.0.spawn(fut))
            .expect("workload task panicked")
    }
}

// ---------------------------------------------------------------------------------------------
// playhouse's actors

/// Counts tells; answers `Count` with the count.
struct Counter {
    count: u64,
}

enum CounterMsg {
    Tell(u64),
    Count(Reply<u64>),
}

impl Actor for Counter {
    type Message = CounterMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(
        &mut self,
        msg: CounterMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            CounterMsg::Tell(v) => {
                std::hint::black_box(v);
                self.count += 1;
            }
            CounterMsg::Count(reply) => {
                let _ = reply.send(self.count);
            }
        }
        Ok(())
    }
}

/// The message published in `publish/<N>`.
#[derive(Clone)]
struct Tick(u64);

/// A subscriber: counts down its latch when it has handled the `expected`-th tick.
struct Subscriber {
    expected: u64,
    seen: u64,
    done: Arc<Latch>,
}

impl Actor for Subscriber {
    type Message = Tick;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Subscriber {
    async fn handle(&mut self, Tick(v): Tick, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        std::hint::black_box(v);
        self.seen += 1;
        if self.seen == self.expected {
            self.done.count_down();
        }
        Ok(())
    }
}

/// The keyed actor (and, spawned directly, its unkeyed twin): counts tells, answers `Get`
/// with the count and `Me` with its own reference; if it has a latch, counts it down on its
/// first tell.
struct Account {
    count: u64,
    first: Option<Arc<Latch>>,
}

enum AccountMsg {
    Tell(u64),
    Get(Reply<u64>),
    Me(Reply<ActorRef<Account>>),
}

impl Actor for Account {
    type Message = AccountMsg;
    type Error = Infallible;
}

impl<V: Env<Mailbox = Bounded<Block>>> Handler<V> for Account {
    async fn handle(
        &mut self,
        msg: AccountMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            AccountMsg::Tell(v) => {
                std::hint::black_box(v);
                self.count += 1;
                if let Some(first) = self.first.take() {
                    first.count_down();
                }
            }
            AccountMsg::Get(reply) => {
                let _ = reply.send(self.count);
            }
            AccountMsg::Me(reply) => {
                let _ = reply.send(ctx.myself());
            }
        }
        Ok(())
    }
}

type Accounts = Keyed<u64, Account>;

/// A keyed set of [`Account`]s on `executor`'s system, the workloads' mailbox, no idle
/// passivation; each activation counts `first` down on its first tell, if given.
fn accounts(executor: TokioExecutor, first: Option<Arc<Latch>>) -> Accounts {
    let system = System::new(executor);
    KeyedSpec::from_fn(move |_: &u64| {
        Ok::<_, Infallible>(Account {
            count: 0,
            first: first.clone(),
        })
    })
    .mailbox(mailbox())
    .start(&system)
}

async fn stop<A: Actor, MB: Mailbox>(addr: ActorRef<A, MB>) {
    addr.stop();
    addr.wait().await;
}

// ---------------------------------------------------------------------------------------------
// playhouse's workloads

/// `registry`: [`REGISTRY_N`] tells, each after a lookup of the name or not, then one ask.
async fn registry_workload(executor: TokioExecutor, via_lookup: bool) -> Duration {
    let system = System::new(executor);
    let addr = system.spawner(mailbox()).spawn(Counter { count: 0 });
    let broker = system.broker();
    broker.register("counter", &addr).expect("name free");
    let start = Instant::now();
    if via_lookup {
        for i in 0..REGISTRY_N {
            let found = broker
                .lookup::<Counter, Bounded<Block>>("counter")
                .expect("registered");
            found
                .tell(CounterMsg::Tell(i))
                .await
                .expect("counter alive");
        }
    } else {
        for i in 0..REGISTRY_N {
            addr.tell(CounterMsg::Tell(i)).await.expect("counter alive");
        }
    }
    let n = addr.ask(CounterMsg::Count).await.expect("counter replies");
    let elapsed = start.elapsed();
    assert_eq!(n, REGISTRY_N);
    stop(addr).await;
    elapsed
}

/// How `publish/<N>` reaches its subscribers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Publish {
    /// A `tell` to each subscriber's reference in turn.
    Direct,
    /// `MessageBroker::publish` by topic.
    ByTopic,
    /// A `Publisher` of the topic, made before the clock starts.
    Publisher,
    /// A `tell` to each subscriber's `Recipient<Tick>` in turn: the floor of any fan-out to
    /// subscribers of different actor types (one indirect call per send), with nothing of a
    /// topic's own.
    Recipients,
}

/// `publish/<N>`: `DELIVERIES / subscribers` messages to `subscribers` subscribers, published
/// or told to each, until each has handled all of them.
async fn publish_workload(executor: TokioExecutor, subscribers: u64, how: Publish) -> Duration {
    let publishes = DELIVERIES / subscribers;
    let system = System::new(executor);
    let spawner = system.spawner(mailbox());
    let broker = system.broker();
    let topic: Topic<Tick> = Topic::new("ticks");
    let done = Latch::new(subscribers);
    let subs: Vec<_> = (0..subscribers)
        .map(|_| {
            let sub = spawner.spawn(Subscriber {
                expected: publishes,
                seen: 0,
                done: done.clone(),
            });
            broker.subscribe(&topic, &sub).expect("one message type");
            sub
        })
        .collect();
    let mut publisher = broker.publisher(&topic);
    let recipients: Vec<Recipient<Tick>> = subs.iter().map(|sub| sub.recipient()).collect();
    let start = Instant::now();
    match how {
        Publish::ByTopic => {
            for p in 0..publishes {
                let report = broker.publish(&topic, Tick(p)).await;
                debug_assert_eq!(report.delivered as u64, subscribers);
                assert!(report.all_delivered(), "a subscriber missed a publish");
            }
        }
        Publish::Publisher => {
            for p in 0..publishes {
                let report = publisher.publish(Tick(p)).await;
                debug_assert_eq!(report.delivered as u64, subscribers);
                assert!(report.all_delivered(), "a subscriber missed a publish");
            }
        }
        Publish::Direct => {
            for p in 0..publishes {
                let msg = Tick(p);
                for sub in &subs {
                    sub.tell(msg.clone()).await.expect("subscriber alive");
                }
            }
        }
        Publish::Recipients => {
            for p in 0..publishes {
                let msg = Tick(p);
                for recipient in &recipients {
                    recipient.tell(msg.clone()).await.expect("subscriber alive");
                }
            }
        }
    }
    done.wait().await;
    let elapsed = start.elapsed();
    drop((publisher, recipients));
    for sub in &subs {
        sub.stop();
    }
    for sub in &subs {
        sub.wait().await;
    }
    elapsed
}

/// How `keyed/activation` reaches [`ACTIVATIONS`] fresh actors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Activation {
    /// An ask to each new key of a keyed set (its first message, until handled).
    AskNewKey,
    /// A spawn with the same mailbox, then an ask.
    SpawnAsk,
    /// An ask to each of as many actors spawned directly before the clock (the unkeyed twin of
    /// `AskActiveKey`: as many idle actors, each asked once, cold in the caches).
    AskExisting,
    /// An ask to each key of a set whose keys were all activated before the clock.
    AskActiveKey,
    /// One tell to each new key back to back, until every activation has handled its tell.
    TellNewKeys,
}

async fn activation_workload(executor: TokioExecutor, how: Activation) -> Duration {
    if how == Activation::SpawnAsk || how == Activation::AskExisting {
        let spawner = System::new(executor).spawner(mailbox());
        let account = || Account {
            count: 0,
            first: None,
        };
        let mut addrs = Vec::with_capacity(ACTIVATIONS as usize);
        if how == Activation::AskExisting {
            addrs.extend((0..ACTIVATIONS).map(|_| spawner.spawn(account())));
            for addr in &addrs {
                addr.ask(AccountMsg::Get).await.expect("replies");
            }
        }
        let start = Instant::now();
        if how == Activation::SpawnAsk {
            for _ in 0..ACTIVATIONS {
                let addr = spawner.spawn(account());
                assert_eq!(addr.ask(AccountMsg::Get).await.expect("replies"), 0);
                addrs.push(addr);
            }
        } else {
            for addr in &addrs {
                assert_eq!(addr.ask(AccountMsg::Get).await.expect("replies"), 0);
            }
        }
        let elapsed = start.elapsed();
        for addr in addrs {
            stop(addr).await;
        }
        return elapsed;
    }
    let first = Latch::new(ACTIVATIONS);
    let keyed = accounts(
        executor,
        (how == Activation::TellNewKeys).then(|| first.clone()),
    );
    if how == Activation::AskActiveKey {
        for key in 0..ACTIVATIONS {
            keyed.ask(key, AccountMsg::Get).await.expect("activates");
        }
    }
    let start = Instant::now();
    match how {
        Activation::AskNewKey | Activation::AskActiveKey => {
            for key in 0..ACTIVATIONS {
                assert_eq!(keyed.ask(key, AccountMsg::Get).await.expect("replies"), 0);
            }
        }
        Activation::TellNewKeys => {
            for key in 0..ACTIVATIONS {
                keyed
                    .tell(key, AccountMsg::Tell(key))
                    .await
                    .expect("activates");
            }
            first.wait().await;
        }
        Activation::SpawnAsk | Activation::AskExisting => unreachable!(),
    }
    let elapsed = start.elapsed();
    assert_eq!(keyed.stats().activations, ACTIVATIONS);
    assert_eq!(keyed.passivate_all().await as u64, ACTIVATIONS);
    elapsed
}

/// How `keyed/routed` reaches the key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The activation's own `ActorRef` (`direct/tell`).
    Direct,
    /// `Keyed::tell(key, msg)` (`keyed/routed`).
    Keyed,
    /// A `KeyRef` made before the clock starts (`keyed/key_ref`).
    KeyRef,
    /// `keyed.at(key)`, the key as a `MessageTarget` (`keyed/at`): the path of an `#[actor]`'s
    /// helpers on a key.
    At,
    /// The activation's `ActorRef` in a locked map, looked up for each tell
    /// (`floor/locked_map`).
    LockedMap,
}

/// The cheapest hasher of a `u64` key there is (one multiply): the floor's.
#[derive(Default)]
struct Multiply(u64);

impl std::hash::Hasher for Multiply {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `keyed/routed`: [`ROUTED_N`] tells to one active key, through the set, through a handle on
/// the key, or to its actor's reference, then one ask.
async fn routed_workload(executor: TokioExecutor, route: Route) -> Duration {
    const KEY: u64 = 7;
    let keyed = accounts(executor, None);
    let addr = keyed.ask(KEY, AccountMsg::Me).await.expect("activates");
    let mut handle = keyed.key_ref(KEY);
    assert!(handle.is_cached(), "the key is active");
    let map: std::sync::RwLock<
        std::collections::HashMap<u64, ActorRef<Account>, std::hash::BuildHasherDefault<Multiply>>,
    > = std::sync::RwLock::new([(KEY, addr.clone())].into_iter().collect());
    let start = Instant::now();
    match route {
        Route::Keyed => {
            for i in 0..ROUTED_N {
                keyed
                    .tell(KEY, AccountMsg::Tell(i))
                    .await
                    .expect("key active");
            }
        }
        Route::KeyRef => {
            for i in 0..ROUTED_N {
                handle.tell(AccountMsg::Tell(i)).await.expect("key active");
            }
        }
        Route::At => {
            for i in 0..ROUTED_N {
                MessageTarget::tell(&keyed.at(KEY), AccountMsg::Tell(i))
                    .await
                    .expect("key active");
            }
        }
        Route::Direct => {
            for i in 0..ROUTED_N {
                addr.tell(AccountMsg::Tell(i)).await.expect("actor alive");
            }
        }
        Route::LockedMap => {
            for i in 0..ROUTED_N {
                let full = {
                    let map = map.read().expect("not poisoned");
                    let actor = map.get(&KEY).expect("inserted");
                    match actor.try_tell(AccountMsg::Tell(i)) {
                        Ok(()) => None,
                        Err(SendError::Full(m)) => Some((actor.clone(), m)),
                        Err(SendError::Closed(_)) => panic!("actor alive"),
                    }
                };
                if let Some((actor, m)) = full {
                    actor.tell(m).await.expect("actor alive");
                }
            }
        }
    }
    let n = addr.ask(AccountMsg::Get).await.expect("replies");
    let elapsed = start.elapsed();
    assert_eq!(n, ROUTED_N);
    assert_eq!(keyed.stats().activations, 1);
    drop((addr, handle, map));
    keyed.passivate_all().await;
    elapsed
}

/// `keyed/churn`: [`CHURN_CYCLES`] cycles of activate (an ask) and passivate on one key, or of
/// spawn, ask, stop and wait for the end.
async fn churn_workload(executor: TokioExecutor, keyed_cycle: bool) -> Duration {
    const KEY: u64 = 7;
    if !keyed_cycle {
        let spawner = System::new(executor).spawner(mailbox());
        let start = Instant::now();
        for _ in 0..CHURN_CYCLES {
            let addr = spawner.spawn(Account {
                count: 0,
                first: None,
            });
            assert_eq!(addr.ask(AccountMsg::Get).await.expect("replies"), 0);
            stop(addr).await;
        }
        return start.elapsed();
    }
    let keyed = accounts(executor, None);
    let start = Instant::now();
    for _ in 0..CHURN_CYCLES {
        assert_eq!(keyed.ask(KEY, AccountMsg::Get).await.expect("replies"), 0);
        assert!(keyed.passivate(&KEY), "the key was active");
    }
    let elapsed = start.elapsed();
    keyed.passivate_all().await;
    let stats = keyed.stats();
    assert_eq!(stats.activations, CHURN_CYCLES);
    assert_eq!(stats.passivations, CHURN_CYCLES);
    elapsed
}

/// What an idle passivated key costs: activates [`ACTIVATIONS`] keys, passivates them all, and
/// returns the table entries left (`resident_count`) with the set's active count.
async fn passivated_residue(executor: TokioExecutor) -> (usize, usize) {
    let keyed = accounts(executor, None);
    for key in 0..ACTIVATIONS {
        keyed.ask(key, AccountMsg::Get).await.expect("activates");
    }
    keyed.passivate_all().await;
    // The last exit watchers remove their entries as the activations end; give them a moment.
    for _ in 0..1000 {
        if keyed.resident_count() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    (keyed.resident_count(), keyed.active_count())
}

// ---------------------------------------------------------------------------------------------
// The harness: criterion groups, then alternating rounds and their summary lines

/// `cargo bench` (criterion's `--bench`), not `cargo test --benches` (one run per id).
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// One criterion id of a group: its name and one run of its workload (the timed part).
struct Case<'a> {
    id: &'static str,
    run: Box<dyn Fn() -> Duration + 'a>,
}

fn case<'a>(id: &'static str, run: impl Fn() -> Duration + 'a) -> Case<'a> {
    Case {
        id,
        run: Box::new(run),
    }
}

/// What issue #18 asks of a comparison, if anything.
#[derive(Clone, Copy)]
enum Target {
    /// None: the figure is for reading.
    None,
    /// `b`'s time ≤ this many times `a`'s.
    TimeAtMost(f64),
    /// `b`'s throughput ≥ this many times `a`'s (`a`'s time ≥ this many times `b`'s).
    ThroughputAtLeast(f64),
}

/// A comparison printed after a group's rounds: `b` against `a` (indices into its cases).
struct Compare {
    label: &'static str,
    a: usize,
    b: usize,
    target: Target,
}

fn compare(label: &'static str, a: usize, b: usize, target: Target) -> Compare {
    Compare {
        label,
        a,
        b,
        target,
    }
}

/// The unit a group's figures are printed in.
#[derive(Clone, Copy)]
enum Unit {
    /// Nanoseconds per element.
    NsPer(&'static str),
    /// Millions of elements per second.
    MPerSec(&'static str),
}

impl Unit {
    fn show(self, secs: f64, per_run: u64) -> String {
        match self {
            Unit::NsPer(what) => format!("{:.1} ns/{what}", secs * 1e9 / per_run as f64),
            Unit::MPerSec(what) => format!("{:.2} M {what}/s", per_run as f64 / secs / 1e6),
        }
    }
}

/// Every summary line, printed again at the end.
struct Summary(RefCell<Vec<String>>);

impl Summary {
    fn line(&self, line: String) {
        println!("{line}");
        self.0.borrow_mut().push(line);
    }
}

/// Runs one criterion group of `cases` (`per_run` elements per run), then, if every case ran
/// and this is `cargo bench`, [`ROUNDS`] alternating rounds of them, and prints each
/// comparison's median ratio over rounds. Returns each case's median time over the rounds (in
/// seconds), if they ran.
fn group(
    c: &mut Criterion,
    summary: &Summary,
    name: &str,
    per_run: u64,
    unit: Unit,
    cases: &[Case<'_>],
    comparisons: &[Compare],
) -> Option<Vec<f64>> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(per_run));
    let ran: Vec<Cell<bool>> = cases.iter().map(|_| Cell::new(false)).collect();
    for (case, ran) in cases.iter().zip(&ran) {
        g.bench_function(case.id, |b| {
            ran.set(true);
            b.iter_custom(|iters| (0..iters).map(|_| (case.run)()).sum())
        });
    }
    g.finish();
    if !bench_mode() || !ran.iter().all(Cell::get) {
        return None;
    }
    let mut times: Vec<Vec<f64>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..cases.len()).collect()
        } else {
            (0..cases.len()).rev().collect()
        };
        for i in order {
            times[i].push((cases[i].run)().as_secs_f64());
        }
    }
    let medians: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
    let shown: Vec<String> = cases
        .iter()
        .zip(&medians)
        .map(|(case, &t)| format!("{} {}", case.id, unit.show(t, per_run)))
        .collect();
    summary.line(format!(
        "{name}: {ROUNDS} alternating rounds, medians: {}",
        shown.join(", ")
    ));
    for cmp in comparisons {
        let ratios: Vec<f64> = (0..ROUNDS)
            .map(|r| times[cmp.b][r] / times[cmp.a][r])
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let ratio = median(ratios);
        let (a, b) = (cases[cmp.a].id, cases[cmp.b].id);
        let line = match cmp.target {
            Target::None => format!(
                "{name}: {}: {b} / {a} time = {ratio:.3} (median of rounds, {lo:.3}..{hi:.3}); \
                 no target",
                cmp.label
            ),
            Target::TimeAtMost(max) => format!(
                "{name}: {}: {b} / {a} time = {ratio:.3} (median of rounds, {lo:.3}..{hi:.3}); \
                 target <= {max}: {}",
                cmp.label,
                met(ratio <= max)
            ),
            Target::ThroughputAtLeast(min) => {
                let (tlo, thi) = (1.0 / hi, 1.0 / lo);
                let throughput = 1.0 / ratio;
                format!(
                    "{name}: {}: {b} / {a} throughput = {throughput:.3} (median of rounds, \
                     {tlo:.3}..{thi:.3}); target >= {min}: {}",
                    cmp.label,
                    met(throughput >= min)
                )
            }
        };
        summary.line(line);
    }
    Some(medians)
}

fn met(yes: bool) -> &'static str {
    if yes { "MET" } else { "NOT MET" }
}

fn broker(c: &mut Criterion) {
    let rt = Rt::two_workers();
    let rt = &rt;
    let ct = Rt::current_thread();
    let ct = &ct;
    let summary = Summary(RefCell::new(Vec::new()));

    group(
        c,
        &summary,
        "registry/tokio_2workers",
        REGISTRY_N,
        Unit::NsPer("msg"),
        &[
            case("playhouse/direct", || {
                rt.run(|e| registry_workload(e, false))
            }),
            case("playhouse/lookup", || {
                rt.run(|e| registry_workload(e, true))
            }),
            case("ractor/direct", || {
                rt.run(|_| broker_peers::ractor_registry(REGISTRY_N, false))
            }),
            case("ractor/where_is", || {
                rt.run(|_| broker_peers::ractor_registry(REGISTRY_N, true))
            }),
            case("kameo/direct", || {
                rt.run(|_| broker_peers::kameo_registry(REGISTRY_N, false))
            }),
            case("kameo/lookup", || {
                rt.run(|_| broker_peers::kameo_registry(REGISTRY_N, true))
            }),
        ],
        &[
            compare("playhouse lookup + tell vs tell", 0, 1, Target::None),
            compare("ractor where_is + cast vs cast", 2, 3, Target::None),
            compare("kameo lookup + tell vs tell", 4, 5, Target::None),
            compare("playhouse lookup + tell vs ractor's", 3, 1, Target::None),
            compare("playhouse lookup + tell vs kameo's", 5, 1, Target::None),
        ],
    );
    group(
        c,
        &summary,
        "registry/current_thread",
        REGISTRY_N,
        Unit::NsPer("msg"),
        &[
            case("playhouse/direct", || {
                ct.run(|e| registry_workload(e, false))
            }),
            case("playhouse/lookup", || {
                ct.run(|e| registry_workload(e, true))
            }),
        ],
        &[compare(
            "playhouse lookup + tell vs tell",
            0,
            1,
            Target::None,
        )],
    );

    for subscribers in SUBSCRIBERS {
        let publishes = DELIVERIES / subscribers;
        group(
            c,
            &summary,
            &format!("publish/{subscribers}"),
            DELIVERIES,
            Unit::MPerSec("deliveries"),
            &[
                case("playhouse/direct", move || {
                    rt.run(move |e| publish_workload(e, subscribers, Publish::Direct))
                }),
                case("playhouse/publish", move || {
                    rt.run(move |e| publish_workload(e, subscribers, Publish::ByTopic))
                }),
                case("playhouse/publisher", move || {
                    rt.run(move |e| publish_workload(e, subscribers, Publish::Publisher))
                }),
                case("floor/recipients", move || {
                    rt.run(move |e| publish_workload(e, subscribers, Publish::Recipients))
                }),
                case("ractor/direct", move || {
                    rt.run(move |_| broker_peers::ractor_group(subscribers, publishes, false))
                }),
                case("ractor/group", move || {
                    rt.run(move |_| broker_peers::ractor_group(subscribers, publishes, true))
                }),
            ],
            &[
                compare(
                    "playhouse publish vs N tells",
                    0,
                    1,
                    Target::ThroughputAtLeast(0.8),
                ),
                compare(
                    "playhouse publisher vs N tells",
                    0,
                    2,
                    Target::ThroughputAtLeast(0.8),
                ),
                compare("playhouse publisher vs publish", 1, 2, Target::None),
                compare(
                    "N recipient tells (the floor) vs N tells",
                    0,
                    3,
                    Target::None,
                ),
                compare("playhouse publisher vs the floor", 3, 2, Target::None),
                compare(
                    "ractor pg get_members + casts vs N casts",
                    4,
                    5,
                    Target::ThroughputAtLeast(0.8),
                ),
                compare("playhouse publish vs ractor pg", 5, 1, Target::None),
            ],
        );
        group(
            c,
            &summary,
            &format!("publish/{subscribers}/current_thread"),
            DELIVERIES,
            Unit::MPerSec("deliveries"),
            &[
                case("playhouse/direct", move || {
                    ct.run(move |e| publish_workload(e, subscribers, Publish::Direct))
                }),
                case("playhouse/publish", move || {
                    ct.run(move |e| publish_workload(e, subscribers, Publish::ByTopic))
                }),
                case("playhouse/publisher", move || {
                    ct.run(move |e| publish_workload(e, subscribers, Publish::Publisher))
                }),
                case("floor/recipients", move || {
                    ct.run(move |e| publish_workload(e, subscribers, Publish::Recipients))
                }),
            ],
            &[
                compare(
                    "playhouse publish vs N tells",
                    0,
                    1,
                    Target::ThroughputAtLeast(0.8),
                ),
                compare(
                    "playhouse publisher vs N tells",
                    0,
                    2,
                    Target::ThroughputAtLeast(0.8),
                ),
                compare("playhouse publisher vs publish", 1, 2, Target::None),
                compare(
                    "N recipient tells (the floor) vs N tells",
                    0,
                    3,
                    Target::None,
                ),
                compare("playhouse publisher vs the floor", 3, 2, Target::None),
            ],
        );
    }

    let activation = |how: Activation| move || rt.run(move |e| activation_workload(e, how));
    let activation_medians = group(
        c,
        &summary,
        "keyed/activation",
        ACTIVATIONS,
        Unit::NsPer("key"),
        &[
            case("keyed/ask_new_key", activation(Activation::AskNewKey)),
            case("direct/spawn_ask", activation(Activation::SpawnAsk)),
            case("keyed/ask_active_key", activation(Activation::AskActiveKey)),
            case("keyed/tell_new_keys", activation(Activation::TellNewKeys)),
            case("direct/ask_existing", activation(Activation::AskExisting)),
        ],
        &[
            compare("activation vs spawn + ask", 1, 0, Target::None),
            compare("activation vs an ask to an active key", 2, 0, Target::None),
            compare(
                "ask to an active key vs an ask to an existing actor",
                4,
                2,
                Target::None,
            ),
        ],
    );
    if let Some(medians) = activation_medians {
        // The absolute target, on the medians of the alternate rounds.
        let per_key = |secs: f64| secs * 1e9 / ACTIVATIONS as f64;
        let (ask, tell) = (per_key(medians[0]), per_key(medians[3]));
        summary.line(format!(
            "keyed/activation: first message to a new key until handled (ask) = {ask:.0} ns; \
             target <= 2000 ns: {}",
            met(ask <= 2000.0)
        ));
        summary.line(format!(
            "keyed/activation: pipelined (tells to new keys, until all handled) = {tell:.0} ns \
             per key; target <= 2000 ns: {}",
            met(tell <= 2000.0)
        ));
        let (resident, active) = rt.run(passivated_residue);
        summary.line(format!(
            "keyed/idle: {ACTIVATIONS} keys activated then passivated: {resident} table entries \
             and {active} activations left; target: nothing per passivated key: {}",
            met(resident == 0 && active == 0)
        ));
    }

    for (name, on) in [
        ("keyed/routed/tokio_2workers", rt),
        ("keyed/routed/current_thread", ct),
    ] {
        group(
            c,
            &summary,
            name,
            ROUTED_N,
            Unit::NsPer("msg"),
            &[
                case("direct/tell", || {
                    on.run(|e| routed_workload(e, Route::Direct))
                }),
                case("keyed/routed", || {
                    on.run(|e| routed_workload(e, Route::Keyed))
                }),
                case("keyed/key_ref", || {
                    on.run(|e| routed_workload(e, Route::KeyRef))
                }),
                case("floor/locked_map", || {
                    on.run(|e| routed_workload(e, Route::LockedMap))
                }),
                case("keyed/at", || on.run(|e| routed_workload(e, Route::At))),
            ],
            &[
                compare(
                    "routed tell to an active key vs a direct tell",
                    0,
                    1,
                    Target::TimeAtMost(1.5),
                ),
                compare(
                    "tell through a key's handle (KeyRef) vs a direct tell",
                    0,
                    2,
                    Target::TimeAtMost(1.5),
                ),
                compare(
                    "tell through a key's handle vs a routed tell",
                    1,
                    2,
                    Target::None,
                ),
                compare(
                    "the floor of a locked map lookup + tell vs a direct tell",
                    0,
                    3,
                    Target::None,
                ),
                compare("routed tell vs that floor", 3, 1, Target::None),
                compare(
                    "tell to keyed.at(key) (a MessageTarget) vs a routed tell",
                    1,
                    4,
                    Target::None,
                ),
            ],
        );
    }

    group(
        c,
        &summary,
        "keyed/churn",
        CHURN_CYCLES,
        Unit::NsPer("cycle"),
        &[
            case("direct/spawn_ask_stop", || {
                rt.run(|e| churn_workload(e, false))
            }),
            case("keyed/activate_passivate", || {
                rt.run(|e| churn_workload(e, true))
            }),
        ],
        &[compare(
            "activate + passivate vs spawn + ask + stop",
            0,
            1,
            Target::None,
        )],
    );

    let lines = summary.0.into_inner();
    if !lines.is_empty() {
        println!("\nbroker summary:");
        for line in lines {
            println!("  {line}");
        }
    }
}

criterion::criterion_group! {
    name = benches;
    // Defaults; `--warm-up-time`, `--measurement-time` and `--sample-size` override them.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = broker
}
criterion::criterion_main!(benches);
