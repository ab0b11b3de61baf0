//! playhouse, on the 2-worker Tokio multi-thread runtime ([`Bench`]; `scaling` on one with a
//! worker per core), on a Tokio current-thread runtime ([`CurrentThread`], the one-thread class
//! that actix competes in; `scaling` runs all its pairs on that one thread), and on smol
//! ([`Smol`]: an `async-executor` run by 2 threads; `scaling` on one run by a thread per core).
//!
//! The workload bodies are generic over the playhouse [`Executor`] they get, so all three run
//! the same code: actors are spawned through a [`Spawner`] on that executor, and the sender tasks
//! of `tell_contended` and `scaling` through [`Executor::spawn`], their completion signalled
//! through a [`Latch`].
//!
//! Mailboxes are `Bounded<Block>` with capacity 1024. Actors a workload talks to are spawned
//! before the clock starts; `spawn` times spawning (until every `started` hook ran) and stopping
//! (dropping the last reference, until every `stopped` hook ran).
//!
//! The restart workloads run [`Fragile`] (it panics on every message) under a supervision
//! mechanism, a function that spawns it and returns the reference that reaches every
//! incarnation (with the supervisor to stop at the end, if there is one): [`by_restart_policy`],
//! the core's `spawn_restartable` with a `restart_with` policy (the frameworks `playhouse`,
//! `playhouse_1thread`, `playhouse_smol`), or [`by_supervisor`], a one-for-one supervisor of the
//! `playhouse-supervisor` crate whose only child is the actor ([`SupBench`], [`SupCurrentThread`],
//! [`SupSmol`]: `playhouse_sup`, `playhouse_sup_1thread`, `playhouse_sup_smol`, which run only
//! the restart workloads). Either way a restart keeps the reference and the mailbox, so the
//! sender tells the same `ActorRef` throughout and queued messages go to the next incarnation.
//!
//! The `supervised` criterion bench and the `supervised_memory` binary compare a supervised
//! actor with an unsupervised one outside restarts: `tell` and `ask` to a counter spawned alone
//! or as a supervisor's only child ([`Under`], `tell_under` / `ask_under`), and the resident
//! bytes of idle actors spawned either way (`idle_bytes`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use playhouse::InMemoryBroker;
use playhouse::prelude::*;
use tokio::runtime::Runtime;

use crate::workload::{
    self, ASK_N, Boom, CONTENDED_PER_SENDER, CONTENDED_SENDERS, FANOUT_ACTORS, FANOUT_PER_ACTOR,
    Incarnations, Latch, LazyScalingRuntime, MAILBOX_CAPACITY, PINGPONG_HOPS, PIPELINE_DEPTH,
    PIPELINED_N, PIPELINED_REPLY_SUM, RESTART_PANIC, RestartMode, SCALING_PER_PAIR, SPAWN_N,
    TELL_N,
};

/// The mailbox every workload uses.
fn mailbox() -> Bounded<Block> {
    Bounded::with_capacity(MAILBOX_CAPACITY).expect("non-zero capacity")
}

/// A spawner on `executor` with the workloads' mailbox.
fn spawner<E: Executor>(executor: E) -> Spawner<E> {
    System::new(executor).spawner(mailbox())
}

/// The counter: counts tells and asks, answers `Ask(v)` with `v + 1`.
struct Counter {
    count: u64,
}

enum Msg {
    Tell(u64),
    Ask(u64, Reply<u64>),
    Count(Reply<u64>),
}

impl Actor for Counter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Tell(v) => {
                std::hint::black_box(v);
                self.count += 1;
            }
            Msg::Ask(v, reply) => {
                self.count += 1;
                let _ = reply.send(v + 1);
            }
            Msg::Count(reply) => {
                let _ = reply.send(self.count);
            }
        }
        Ok(())
    }
}

type Addr = ActorRef<Counter>;

async fn count(addr: &Addr) -> u64 {
    addr.ask(Msg::Count).await.expect("counter replies")
}

async fn ask(addr: &Addr, v: u64) -> u64 {
    addr.ask(|r| Msg::Ask(v, r)).await.expect("counter replies")
}

async fn stop(addr: Addr) {
    addr.stop();
    addr.wait().await;
}

/// Counts its latch down when dropped, so that a sender task that panics still opens the latch
/// (and the workload's count check then fails instead of waiting forever).
struct CountDownOnDrop(Arc<Latch>);

impl Drop for CountDownOnDrop {
    fn drop(&mut self) {
        self.0.count_down();
    }
}

/// Spawns one sender task per address on `executor`, each telling `per_sender` messages to its
/// actor, and waits until every task finished.
async fn send_from_tasks<E: Executor>(executor: &E, targets: Vec<Addr>, per_sender: u64) {
    let done = Latch::new(targets.len() as u64);
    for addr in targets {
        let guard = CountDownOnDrop(done.clone());
        executor.spawn(async move {
            let _guard = guard;
            for i in 0..per_sender {
                addr.tell(Msg::Tell(i)).await.expect("counter alive");
            }
        });
    }
    done.wait().await;
}

/// An actor that only marks when it started and stopped.
struct Trivial {
    started: Arc<Latch>,
    stopped: Arc<Latch>,
}

impl Actor for Trivial {
    type Message = u64;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Trivial {
    async fn started(&mut self, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        self.started.count_down();
        Ok(())
    }

    async fn handle(&mut self, _msg: u64, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        Ok(())
    }

    async fn stopped(&mut self, _ctx: &mut Context<Self, V>, _reason: &ExitReason) {
        self.stopped.count_down();
    }
}

/// One ping-pong player: forwards `n - 1` to its peer until `n == 1`.
struct Player {
    peer: Option<ActorRef<Player>>,
    done: Arc<Latch>,
    count: u64,
}

enum PlayerMsg {
    Peer(ActorRef<Player>),
    Ball(u64),
    Count(Reply<u64>),
}

impl Actor for Player {
    type Message = PlayerMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Player {
    async fn handle(
        &mut self,
        msg: PlayerMsg,
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            PlayerMsg::Peer(peer) => self.peer = Some(peer),
            PlayerMsg::Ball(n) => {
                self.count += 1;
                if n == 1 {
                    self.done.count_down();
                } else if let Some(peer) = &self.peer {
                    peer.tell(PlayerMsg::Ball(n - 1)).await.expect("peer alive");
                }
            }
            PlayerMsg::Count(reply) => {
                let _ = reply.send(self.count);
                // Break the reference cycle so both players can end.
                self.peer = None;
            }
        }
        Ok(())
    }
}

async fn tell_workload<E: Executor>(executor: E) -> Duration {
    let addr = spawner(executor).spawn(Counter { count: 0 });
    let start = Instant::now();
    for i in 0..TELL_N {
        addr.tell(Msg::Tell(i)).await.expect("counter alive");
    }
    let n = count(&addr).await;
    let elapsed = start.elapsed();
    assert_eq!(n, TELL_N);
    stop(addr).await;
    elapsed
}

async fn tell_contended_workload<E: Executor>(executor: E) -> Duration {
    let addr = spawner(executor.clone()).spawn(Counter { count: 0 });
    let start = Instant::now();
    let targets = vec![addr.clone(); CONTENDED_SENDERS as usize];
    send_from_tasks(&executor, targets, CONTENDED_PER_SENDER).await;
    let n = count(&addr).await;
    let elapsed = start.elapsed();
    assert_eq!(n, TELL_N);
    stop(addr).await;
    elapsed
}

async fn ask_workload<E: Executor>(executor: E) -> Duration {
    let addr = spawner(executor).spawn(Counter { count: 0 });
    let start = Instant::now();
    for i in 0..ASK_N {
        assert_eq!(ask(&addr, i).await, i + 1);
    }
    let n = count(&addr).await;
    let elapsed = start.elapsed();
    assert_eq!(n, ASK_N);
    stop(addr).await;
    elapsed
}

async fn ask_pipelined_workload<E: Executor>(executor: E) -> Duration {
    let addr = spawner(executor).spawn(Counter { count: 0 });
    let start = Instant::now();
    let sum = futures::stream::iter(0..PIPELINED_N)
        .map(|i| ask(&addr, i))
        .buffer_unordered(PIPELINE_DEPTH)
        .fold(0u64, |acc, r| async move { acc + r })
        .await;
    let n = count(&addr).await;
    let elapsed = start.elapsed();
    assert_eq!(sum, PIPELINED_REPLY_SUM);
    assert_eq!(n, PIPELINED_N);
    stop(addr).await;
    elapsed
}

/// The executor's floor under `spawn`: the same steps with no actor at all. Each of
/// `SPAWN_N` bare tasks counts `started` down, waits on a one-shot stop signal (the least
/// shared state anything stoppable needs) and counts `stopped` down; the harness keeps the
/// senders in a `Vec` as `spawn` keeps the `ActorRef`s. What `spawn` costs above this is
/// playhouse's own; the rest is the executor's task and the allocator.
async fn spawn_floor_workload<E: Executor>(executor: E) -> (Duration, f64) {
    let started = Latch::new(SPAWN_N);
    let stopped = Latch::new(SPAWN_N);
    workload::trim_heap();
    let rss_before = workload::rss_bytes();
    let start = Instant::now();
    let mut stops = Vec::with_capacity(SPAWN_N as usize);
    for _ in 0..SPAWN_N {
        let (stop, on_stop) = futures::channel::oneshot::channel::<()>();
        let (started, stopped) = (started.clone(), stopped.clone());
        executor.spawn(async move {
            started.count_down();
            // Cancelled (the sender dropped) is the stop signal.
            let _ = on_stop.await;
            stopped.count_down();
        });
        stops.push(stop);
    }
    started.wait().await;
    let spawn_time = start.elapsed();
    let bytes = workload::bytes_per(rss_before, workload::rss_bytes(), SPAWN_N);
    let start = Instant::now();
    drop(stops);
    stopped.wait().await;
    (spawn_time + start.elapsed(), bytes)
}

async fn spawn_workload<E: Executor>(executor: E) -> (Duration, f64) {
    let spawner = spawner(executor);
    let started = Latch::new(SPAWN_N);
    let stopped = Latch::new(SPAWN_N);
    workload::trim_heap();
    let rss_before = workload::rss_bytes();
    let start = Instant::now();
    let mut addrs = Vec::with_capacity(SPAWN_N as usize);
    for _ in 0..SPAWN_N {
        addrs.push(spawner.spawn(Trivial {
            started: started.clone(),
            stopped: stopped.clone(),
        }));
    }
    started.wait().await;
    let spawn_time = start.elapsed();
    let bytes = workload::bytes_per(rss_before, workload::rss_bytes(), SPAWN_N);
    let start = Instant::now();
    drop(addrs);
    stopped.wait().await;
    (spawn_time + start.elapsed(), bytes)
}

async fn fanout_workload<E: Executor>(executor: E) -> Duration {
    let spawner = spawner(executor);
    let actors: Vec<_> = (0..FANOUT_ACTORS)
        .map(|_| spawner.spawn(Counter { count: 0 }))
        .collect();
    let start = Instant::now();
    for round in 0..FANOUT_PER_ACTOR {
        for addr in &actors {
            addr.tell(Msg::Tell(round)).await.expect("counter alive");
        }
    }
    for addr in &actors {
        assert_eq!(count(addr).await, FANOUT_PER_ACTOR);
    }
    let elapsed = start.elapsed();
    for addr in actors {
        stop(addr).await;
    }
    elapsed
}

async fn ping_pong_workload<E: Executor>(executor: E) -> Duration {
    let spawner = spawner(executor);
    let done = Latch::new(1);
    let player = || Player {
        peer: None,
        done: done.clone(),
        count: 0,
    };
    let a = spawner.spawn(player());
    let b = spawner.spawn(player());
    a.tell(PlayerMsg::Peer(b.clone()))
        .await
        .expect("player alive");
    b.tell(PlayerMsg::Peer(a.clone()))
        .await
        .expect("player alive");
    let start = Instant::now();
    a.tell(PlayerMsg::Ball(PINGPONG_HOPS))
        .await
        .expect("player alive");
    done.wait().await;
    let elapsed = start.elapsed();
    let hops = a.ask(PlayerMsg::Count).await.expect("answered")
        + b.ask(PlayerMsg::Count).await.expect("answered");
    assert_eq!(hops, PINGPONG_HOPS);
    elapsed
}

async fn scaling_workload<E: Executor>(executor: E) -> Duration {
    let spawner = spawner(executor.clone());
    let actors: Vec<_> = (0..workload::scaling_pairs())
        .map(|_| spawner.spawn(Counter { count: 0 }))
        .collect();
    let start = Instant::now();
    send_from_tasks(&executor, actors.clone(), SCALING_PER_PAIR).await;
    for addr in &actors {
        assert_eq!(count(addr).await, SCALING_PER_PAIR);
    }
    let elapsed = start.elapsed();
    for addr in actors {
        stop(addr).await;
    }
    elapsed
}

/// The restart workloads' actor: reports each incarnation's start, and panics on every message
/// (with [`RESTART_PANIC`]) after taking it ([`Boom::handle`]).
pub struct Fragile {
    incarnations: Arc<Incarnations>,
}

impl Actor for Fragile {
    type Message = Boom;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Fragile {
    async fn started(&mut self, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        self.incarnations.started();
        Ok(())
    }

    async fn handle(&mut self, boom: Boom, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        boom.handle();
        std::panic::panic_any(RESTART_PANIC)
    }
}

/// An actor the harness talks to, and the supervisor to stop in the end where it is one's
/// child.
pub struct Held<A: Actor, E: Executor> {
    /// The actor's reference (a supervised child's stays the same across its restarts).
    pub addr: ActorRef<A>,
    /// The actor's supervisor, if it has one: it keeps the child alive (a supervisor whose
    /// last reference is dropped shuts down), and stopping it stops the child.
    pub supervisor: Option<SupervisorRef<E>>,
}

impl<A: Actor, E: Executor> Held<A, E> {
    /// An actor without a supervisor.
    fn alone(addr: ActorRef<A>) -> Self {
        Self {
            addr,
            supervisor: None,
        }
    }

    /// Stops the actor (through its supervisor, if it has one: stopping a permanent child
    /// directly would have the supervisor restart it) and waits until it ended.
    pub async fn stop(self) {
        match self.supervisor {
            Some(supervisor) => {
                drop(self.addr);
                supervisor.stop();
                supervisor.wait().await;
            }
            None => {
                self.addr.stop();
                self.addr.wait().await;
            }
        }
    }
}

/// The id of the one child of the supervisors of [`by_supervisor`] and [`Under::Supervisor`].
const CHILD_ID: &str = "child";

/// A supervisor's restart intensity in the harness: as many restarts a second as a `u32`
/// counts, so that it never escalates.
const NEVER_ESCALATE: (u32, Duration) = (u32::MAX, Duration::from_secs(1));

/// How the harness's supervisors stop their children: asked to stop and waited for, without a
/// deadline. The default for workers (a 5 s timeout) needs a timer while the supervisor shuts
/// down, and the Tokio runtimes of the harness have no time driver (as for every framework
/// here): `sleep_until` would panic in the supervisor's `stopped` hook.
const CHILD_SHUTDOWN: Shutdown = Shutdown::Infinity;

/// A one-for-one supervisor of the `playhouse-supervisor` crate in `system`, whose only child
/// (permanent, the workloads' mailbox, [`CHILD_SHUTDOWN`], id [`CHILD_ID`]) is made by
/// `factory`, with an intensity that never escalates; returns once the child has started.
async fn supervised<A, E, F>(system: &System<E>, factory: F) -> Held<A, E>
where
    A: Handler<Wiring<Bounded<Block>, E, InMemoryBroker>>,
    E: Executor,
    F: FnMut() -> A + Send + 'static,
{
    let (max_restarts, period) = NEVER_ESCALATE;
    let supervisor = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(max_restarts, period)
        .child(
            ChildSpec::new(CHILD_ID, factory)
                .shutdown(CHILD_SHUTDOWN)
                .mailbox(mailbox()),
        )
        .start(system)
        .await
        .expect("the supervisor starts");
    let addr = supervisor
        .child::<A, Bounded<Block>>(CHILD_ID)
        .await
        .expect("the supervisor's child");
    Held {
        addr,
        supervisor: Some(supervisor),
    }
}

/// The core's restart policy as the supervision mechanism: `spawn_restartable` with a
/// `restart_with` policy that starts a fresh [`Fragile`] after every abnormal exit, without
/// limit (the intensity is as high as it gets). The restart happens on the actor's own task,
/// behind the same reference and mailbox.
pub async fn by_restart_policy<E: Executor>(
    spawner: Spawner<E>,
    incarnations: Arc<Incarnations>,
) -> Held<Fragile, E> {
    let fresh = incarnations.clone();
    Held::alone(spawner.spawn_restartable(
        Fragile { incarnations },
        playhouse::restart_with(move |reason: &ExitReason| {
            (!reason.is_normal()).then(|| Fragile {
                incarnations: fresh.clone(),
            })
        }),
    ))
}

/// The OTP supervisor crate as the supervision mechanism: a `OneForOne` supervisor
/// (`playhouse::supervisor`) whose only child is [`Fragile`], permanent, with the workloads'
/// mailbox, made afresh by the child spec's factory for each incarnation, and an intensity that
/// never escalates (`u32::MAX` restarts a second). The restart keeps the child's reference and
/// mailbox too, but goes through the supervisor: the child's task reports the exit and rings
/// the supervisor's mailbox, the supervisor's handler runs the factory, hands the fresh actor to
/// the parked task and waits for its start.
pub async fn by_supervisor<E: Executor>(
    spawner: Spawner<E>,
    incarnations: Arc<Incarnations>,
) -> Held<Fragile, E> {
    supervised(spawner.system(), move || Fragile {
        incarnations: incarnations.clone(),
    })
    .await
}

/// `restart` / `restart_serial` under the supervision mechanism `supervise`, which spawns
/// [`Fragile`] with the workloads' spawner and returns the reference that reaches every
/// incarnation (see [`by_restart_policy`], [`by_supervisor`]). The first incarnation has
/// started before the clock starts; the actor (or its supervisor) is stopped after it stops.
pub async fn restart_workload<E, S, F>(executor: E, supervise: S, mode: RestartMode) -> Duration
where
    E: Executor,
    S: FnOnce(Spawner<E>, Arc<Incarnations>) -> F,
    F: Future<Output = Held<Fragile, E>>,
{
    let incarnations = Incarnations::new();
    let held = supervise(spawner(executor), incarnations.clone()).await;
    incarnations.wait_started(1).await;
    let elapsed = {
        let addr = &held.addr;
        mode.run(&incarnations, move |boom| async move {
            addr.tell(boom).await.expect("fragile actor alive");
        })
        .await
    };
    held.stop().await;
    elapsed
}

/// How the `supervised` bench and `supervised_memory` spawn an actor: alone, or as the only
/// child of a one-for-one supervisor (permanent, same mailbox, intensity never reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Under {
    /// Spawned by a [`Spawner`], unsupervised.
    Nobody,
    /// The child of a `playhouse::supervisor` supervisor.
    Supervisor,
}

impl Under {
    /// Both, unsupervised first.
    pub const BOTH: [Under; 2] = [Under::Nobody, Under::Supervisor];

    /// `"unsupervised"` or `"supervised"`.
    pub fn name(self) -> &'static str {
        match self {
            Under::Nobody => "unsupervised",
            Under::Supervisor => "supervised",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Self> {
        Self::BOTH.into_iter().find(|u| u.name() == name)
    }
}

/// How `supervised_memory` spawns its idle actors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// Spawned by a [`Spawner`], their references kept in a `Vec`.
    Alone,
    /// The children of one supervisor, made by a factory that captures nothing (the usual
    /// `|| Worker::default()`): what supervision itself costs.
    Child,
    /// The same with a factory that captures two `Arc`s (16 bytes), boxed per child as any
    /// capturing factory is: what a child's own factory state adds.
    ChildCapturing,
}

impl Idle {
    /// Every kind, in the order `supervised_memory` prints them.
    pub const ALL: [Idle; 3] = [Idle::Alone, Idle::Child, Idle::ChildCapturing];

    /// `"unsupervised"`, `"supervised"` or `"supervised-capturing"`.
    pub fn name(self) -> &'static str {
        match self {
            Idle::Alone => "unsupervised",
            Idle::Child => "supervised",
            Idle::ChildCapturing => "supervised-capturing",
        }
    }

    /// Parses [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == name)
    }
}

/// The latches of the running `idle_bytes_workload`, for the factory that captures nothing.
static IDLE_LATCHES: std::sync::Mutex<Option<(Arc<Latch>, Arc<Latch>)>> =
    std::sync::Mutex::new(None);

/// A [`Trivial`] on the running `idle_bytes_workload`'s latches: a factory that captures
/// nothing.
fn trivial_of_this_run() -> Trivial {
    let latches = IDLE_LATCHES.lock().unwrap_or_else(|p| p.into_inner());
    let (started, stopped) = latches.clone().expect("set by idle_bytes_workload");
    Trivial { started, stopped }
}

/// The counter of `tell` and `ask`, spawned `under` nobody or a supervisor.
async fn counter_under<E: Executor>(executor: E, under: Under) -> Held<Counter, E> {
    match under {
        Under::Nobody => Held::alone(spawner(executor).spawn(Counter { count: 0 })),
        Under::Supervisor => supervised(&System::new(executor), || Counter { count: 0 }).await,
    }
}

/// `tell` (see [`tell_workload`]) to a counter spawned `under` nobody or a supervisor.
async fn tell_under_workload<E: Executor>(executor: E, under: Under) -> Duration {
    let held = counter_under(executor, under).await;
    let addr = &held.addr;
    let start = Instant::now();
    for i in 0..TELL_N {
        addr.tell(Msg::Tell(i)).await.expect("counter alive");
    }
    let n = count(addr).await;
    let elapsed = start.elapsed();
    assert_eq!(n, TELL_N);
    held.stop().await;
    elapsed
}

/// `ask` (see [`ask_workload`]) to a counter spawned `under` nobody or a supervisor.
async fn ask_under_workload<E: Executor>(executor: E, under: Under) -> Duration {
    let held = counter_under(executor, under).await;
    let addr = &held.addr;
    let start = Instant::now();
    for i in 0..ASK_N {
        assert_eq!(ask(addr, i).await, i + 1);
    }
    let n = count(addr).await;
    let elapsed = start.elapsed();
    assert_eq!(n, ASK_N);
    held.stop().await;
    elapsed
}

/// Resident bytes per idle actor, from one run of `idle_bytes`.
#[derive(Clone, Copy, Debug)]
pub struct IdleBytes {
    /// RSS growth per actor while all are alive, read as `spawn` reads it (the heap trimmed
    /// before, not after): it also counts what the start left freed but resident.
    pub untrimmed: f64,
    /// The same after trimming the heap once more: the live memory per actor.
    pub trimmed: f64,
    /// Growth of the live heap chunks per actor over the same span, counted by
    /// [`CountingAlloc`](crate::heap::CountingAlloc) (0 unless it is the global allocator):
    /// exact, and the same in every run.
    pub heap: f64,
}

/// `n` idle [`Trivial`] actors alive at once, spawned alone (their references kept in a `Vec`,
/// as `spawn` keeps them) or as the `n` children of one one-for-one supervisor (a spec with `n`
/// children, ids `idle-<i>`, permanent, the workloads' mailbox, [`CHILD_SHUTDOWN`], a factory
/// capturing nothing or two `Arc`s as [`Idle`] says; the supervisor holds the references): the
/// growth of the resident set from before the first spawn (heap trimmed)
/// to when all have started (and the supervisor has handled the reports of their starts),
/// divided by `n`, read before and after trimming the heap again. Then all are stopped.
async fn idle_bytes_workload<E: Executor>(executor: E, idle: Idle, n: u64) -> IdleBytes {
    let started = Latch::new(n);
    let stopped = Latch::new(n);
    *IDLE_LATCHES.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((started.clone(), stopped.clone()));
    let trivial = {
        let (started, stopped) = (started.clone(), stopped.clone());
        move || Trivial {
            started: started.clone(),
            stopped: stopped.clone(),
        }
    };
    workload::trim_heap();
    let rss_before = workload::rss_bytes();
    let heap_before = crate::heap::live_bytes() as u64;
    let held = match idle {
        Idle::Alone => {
            let spawner = spawner(executor);
            let mut addrs = Vec::with_capacity(n as usize);
            for _ in 0..n {
                addrs.push(spawner.spawn(trivial()));
            }
            started.wait().await;
            Ok(addrs)
        }
        Idle::Child | Idle::ChildCapturing => {
            let (max_restarts, period) = NEVER_ESCALATE;
            let mut spec = SupervisorSpec::new(Strategy::OneForOne).intensity(max_restarts, period);
            for i in 0..n {
                let child = if idle == Idle::Child {
                    ChildSpec::new(format!("idle-{i}"), trivial_of_this_run)
                } else {
                    ChildSpec::new(format!("idle-{i}"), trivial.clone())
                };
                spec = spec.child(child.shutdown(CHILD_SHUTDOWN).mailbox(mailbox()));
            }
            let supervisor = spec
                .start(&System::new(executor))
                .await
                .expect("the supervisor starts");
            started.wait().await;
            // Each child's start also rang the supervisor's mailbox; once this call is
            // answered, the supervisor has handled those reports and its mailbox is empty.
            let counts = supervisor.count_children().await.expect("supervisor alive");
            assert_eq!(counts.active as u64, n, "children running");
            Err(supervisor)
        }
    };
    let rss_after = workload::rss_bytes();
    let heap_after = crate::heap::live_bytes() as u64;
    workload::trim_heap();
    let rss_trimmed = workload::rss_bytes();
    let bytes = IdleBytes {
        untrimmed: workload::bytes_per(rss_before, rss_after, n),
        trimmed: workload::bytes_per(rss_before, rss_trimmed, n),
        heap: workload::bytes_per(heap_before, heap_after, n),
    };
    match held {
        Ok(addrs) => drop(addrs),
        Err(supervisor) => {
            supervisor.stop();
            supervisor.wait().await;
        }
    }
    stopped.wait().await;
    bytes
}

/// Runs every workload through `run`, which builds the executor under test, calls the workload
/// with it and runs the future on that executor, and `scaling` through `run_scaling`.
macro_rules! workloads {
    ($run:expr, $run_scaling:expr) => {
        /// See [`crate::Framework::tell`].
        pub fn tell(&self) -> Duration {
            $run(self, tell_workload)
        }
        /// See [`crate::Framework::tell_contended`].
        pub fn tell_contended(&self) -> Duration {
            $run(self, tell_contended_workload)
        }
        /// See [`crate::Framework::ask`].
        pub fn ask(&self) -> Duration {
            $run(self, ask_workload)
        }
        /// See [`crate::Framework::ask_pipelined`].
        pub fn ask_pipelined(&self) -> Duration {
            $run(self, ask_pipelined_workload)
        }
        /// See [`crate::Framework::spawn`].
        pub fn spawn(&self) -> (Duration, f64) {
            $run(self, spawn_workload)
        }
        /// See [`crate::Framework::fanout`].
        pub fn fanout(&self) -> Duration {
            $run(self, fanout_workload)
        }
        /// See [`crate::Framework::ping_pong`].
        pub fn ping_pong(&self) -> Duration {
            $run(self, ping_pong_workload)
        }
        /// See [`crate::Framework::scaling`].
        pub fn scaling(&self) -> Duration {
            $run_scaling(self, scaling_workload)
        }
        /// See [`crate::Framework::restart`]: under the core's restart policy
        /// ([`by_restart_policy`]).
        pub fn restart(&self, mode: RestartMode) -> Duration {
            $run(self, move |executor| {
                restart_workload(executor, by_restart_policy, mode)
            })
        }
        /// [`restart`](Self::restart) under a supervisor of the `playhouse-supervisor` crate
        /// ([`by_supervisor`]).
        pub fn restart_supervised(&self, mode: RestartMode) -> Duration {
            $run(self, move |executor| {
                restart_workload(executor, by_supervisor, mode)
            })
        }
        /// `tell` to a counter spawned `under` nobody or a supervisor.
        pub fn tell_under(&self, under: Under) -> Duration {
            $run(self, move |executor| tell_under_workload(executor, under))
        }
        /// `ask` to a counter spawned `under` nobody or a supervisor.
        pub fn ask_under(&self, under: Under) -> Duration {
            $run(self, move |executor| ask_under_workload(executor, under))
        }
        /// Resident bytes per idle actor, `n` of them spawned alone or as one supervisor's
        /// children (see `idle_bytes_workload`).
        pub fn idle_bytes(&self, idle: Idle, n: u64) -> IdleBytes {
            $run(self, move |executor| idle_bytes_workload(executor, idle, n))
        }
        /// The executor's floor under [`spawn`](Self::spawn): bare tasks with a one-shot
        /// stop signal instead of actors, on the same executor (see `spawn_floor_workload`).
        pub fn spawn_floor(&self) -> (Duration, f64) {
            $run(self, spawn_floor_workload)
        }
    };
}

/// Runs `workload` as a task on one of `rt`'s workers with a [`TokioExecutor`] on `rt`.
fn on_tokio<W, F>(rt: &Runtime, workload: W) -> F::Output
where
    W: FnOnce(TokioExecutor) -> F,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    workload::run_on(
        rt,
        workload(TokioExecutor::from_handle(rt.handle().clone())),
    )
}

/// playhouse on the 2-worker Tokio multi-thread runtime (the class of kameo, ractor and xtra);
/// `scaling` on a runtime with one worker per core.
pub struct Bench {
    rt: Runtime,
    scaling_rt: LazyScalingRuntime,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

fn on_multi<W, F>(bench: &Bench, workload: W) -> F::Output
where
    W: FnOnce(TokioExecutor) -> F,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_tokio(&bench.rt, workload)
}

fn on_scaling<W, F>(bench: &Bench, workload: W) -> F::Output
where
    W: FnOnce(TokioExecutor) -> F,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_tokio(bench.scaling_rt.get(), workload)
}

impl Bench {
    /// Builds the runtime.
    pub fn new() -> Self {
        Self {
            rt: workload::multi_thread_runtime(),
            scaling_rt: LazyScalingRuntime::default(),
        }
    }

    workloads!(on_multi, on_scaling);
}

crate::impl_framework!(Bench, "playhouse", supervises);

/// playhouse on a Tokio current-thread runtime (the one-thread class of actix).
pub struct CurrentThread {
    rt: Runtime,
}

impl Default for CurrentThread {
    fn default() -> Self {
        Self::new()
    }
}

fn on_current<W: FnOnce(TokioExecutor) -> F, F: Future>(
    bench: &CurrentThread,
    workload: W,
) -> F::Output {
    let executor = TokioExecutor::from_handle(bench.rt.handle().clone());
    bench.rt.block_on(workload(executor))
}

impl CurrentThread {
    /// Builds the runtime.
    pub fn new() -> Self {
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("build tokio runtime"),
        }
    }

    workloads!(on_current, on_current);
}

crate::impl_framework!(CurrentThread, "playhouse_1thread", supervises);

/// An `async-executor` run by a fixed number of threads, each in
/// `async_io::block_on(ex.run(..))` until the pool is dropped.
struct SmolPool {
    ex: Arc<async_executor::Executor<'static>>,
    shutdown: async_channel::Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

impl SmolPool {
    /// Starts `threads` threads running a fresh executor.
    fn new(threads: usize) -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let (shutdown, signal) = async_channel::bounded::<()>(1);
        let threads = (0..threads)
            .map(|i| {
                let ex = ex.clone();
                let signal = signal.clone();
                std::thread::Builder::new()
                    .name(format!("playhouse-bench-smol-{i}"))
                    .spawn(move || {
                        // Runs until `shutdown` is closed (the channel never carries a value).
                        async_io::block_on(ex.run(async move {
                            let _ = signal.recv().await;
                        }));
                    })
                    .expect("start smol executor thread")
            })
            .collect();
        Self {
            ex,
            shutdown,
            threads,
        }
    }

    /// Runs `workload` as a task on the pool's threads (not on the calling thread) with a
    /// [`SmolExecutor`] on the pool, and waits for its result (a panic in it is re-raised here).
    fn run<W, F>(&self, workload: W) -> F::Output
    where
        W: FnOnce(SmolExecutor) -> F,
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.ex.spawn(workload(SmolExecutor::new(self.ex.clone())));
        async_io::block_on(task)
    }
}

impl Drop for SmolPool {
    fn drop(&mut self) {
        self.shutdown.close();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// playhouse on smol: an `async-executor` run by [`workload::WORKER_THREADS`] threads (each in
/// `async_io::block_on(ex.run(..))`), with `async-io` timers, and no Tokio runtime; `scaling` on
/// another one run by one thread per core ([`workload::scaling_pairs`], started on first use,
/// outside the clock).
pub struct Smol {
    pool: SmolPool,
    scaling_pool: OnceLock<SmolPool>,
}

impl Default for Smol {
    fn default() -> Self {
        Self::new()
    }
}

fn on_smol<W, F>(bench: &Smol, workload: W) -> F::Output
where
    W: FnOnce(SmolExecutor) -> F,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    bench.pool.run(workload)
}

fn on_smol_scaling<W, F>(bench: &Smol, workload: W) -> F::Output
where
    W: FnOnce(SmolExecutor) -> F,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    bench
        .scaling_pool
        .get_or_init(|| SmolPool::new(workload::scaling_pairs() as usize))
        .run(workload)
}

impl Smol {
    /// Starts the executor's threads.
    pub fn new() -> Self {
        Self {
            pool: SmolPool::new(workload::WORKER_THREADS),
            scaling_pool: OnceLock::new(),
        }
    }

    workloads!(on_smol, on_smol_scaling);
}

crate::impl_framework!(Smol, "playhouse_smol", supervises);

/// Declares a restart-only framework: `$base`'s restart workloads under the supervisor crate
/// ([`by_supervisor`]).
macro_rules! supervised_framework {
    ($(#[$doc:meta])* $name:ident, $base:ty, $label:expr) => {
        $(#[$doc])*
        pub struct $name($base);

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            /// Builds the executor, as the base framework does.
            pub fn new() -> Self {
                Self(<$base>::new())
            }

            /// See [`crate::Framework::restart`]: under a supervisor ([`by_supervisor`]).
            pub fn restart(&self, mode: RestartMode) -> Duration {
                self.0.restart_supervised(mode)
            }
        }

        crate::impl_framework!($name, $label, restart_only);
    };
}

supervised_framework!(
    /// `playhouse_sup`: the restart workloads of [`Bench`] (Tokio, 2 workers) under a
    /// one-for-one supervisor of the `playhouse-supervisor` crate.
    SupBench,
    Bench,
    "playhouse_sup"
);
supervised_framework!(
    /// `playhouse_sup_1thread`: the restart workloads of [`CurrentThread`] under a
    /// one-for-one supervisor of the `playhouse-supervisor` crate.
    SupCurrentThread,
    CurrentThread,
    "playhouse_sup_1thread"
);
supervised_framework!(
    /// `playhouse_sup_smol`: the restart workloads of [`Smol`] under a one-for-one supervisor
    /// of the `playhouse-supervisor` crate.
    SupSmol,
    Smol,
    "playhouse_sup_smol"
);
