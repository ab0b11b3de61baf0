//! ractor 0.16 on the 2-worker Tokio runtime (default features off except `tokio_runtime`,
//! so no per-message span propagation).
//!
//! ractor's mailbox is always unbounded and `cast` never waits: there is no capacity of 1024 to
//! set, and a fast sender simply queues. Actors a workload talks to are spawned before the clock
//! starts; `spawn` times spawning (`Actor::spawn` returns once `pre_start` ran) and stopping
//! (`stop`, then `post_stop` counts down).
//!
//! The restart workloads follow ractor's documented supervision pattern: a supervisor actor
//! spawns the child with `Actor::spawn_linked`, receives `SupervisionEvent::ActorFailed` when it
//! panics, and spawns a new one with `spawn_linked`. ractor has no restart in place: each
//! incarnation is a new actor with a new `ActorRef` and a new mailbox, and whatever was queued
//! in the dead one's mailbox is lost. So the sender cannot keep the child's reference; it sends
//! to the supervisor (`Forward`), which holds the current child and forwards one message to each
//! incarnation, queueing the rest until the next one is spawned (forwarding more would send them
//! to a child about to die). Every message thus crosses two mailboxes, and every restart is
//! handled in the supervisor's task (a supervision event, then a spawn that waits for the
//! child's `pre_start`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ractor::concurrency::JoinHandle;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent};
use tokio::runtime::Runtime;

use crate::workload::{
    self, ASK_N, Boom, CONTENDED_PER_SENDER, CONTENDED_SENDERS, FANOUT_ACTORS, FANOUT_PER_ACTOR,
    Incarnations, Latch, LazyScalingRuntime, PINGPONG_HOPS, PIPELINE_DEPTH, PIPELINED_N,
    PIPELINED_REPLY_SUM, RESTART_PANIC, RestartMode, SCALING_PER_PAIR, SPAWN_N, TELL_N,
};

/// The counter's protocol.
enum CounterMsg {
    Tell(u64),
    Ask(u64, RpcReplyPort<u64>),
    Count(RpcReplyPort<u64>),
}

/// Counts tells and asks; answers `Ask(v)` with `v + 1`.
struct Counter;

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<CounterMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        msg: CounterMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Tell(v) => {
                std::hint::black_box(v);
                *count += 1;
            }
            CounterMsg::Ask(v, reply) => {
                *count += 1;
                let _ = reply.send(v + 1);
            }
            CounterMsg::Count(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

/// Unwraps a successful call.
fn success<T, M>(res: Result<CallResult<T>, MessagingErr<M>>) -> T {
    match res {
        Ok(CallResult::Success(v)) => v,
        Ok(_) => panic!("call got no reply"),
        Err(e) => panic!("call failed: {e:?}"),
    }
}

async fn spawn_counter() -> (ActorRef<CounterMsg>, JoinHandle<()>) {
    Actor::spawn(None, Counter, ())
        .await
        .expect("spawn counter")
}

async fn ask(actor: &ActorRef<CounterMsg>, v: u64) -> u64 {
    success(actor.call(|port| CounterMsg::Ask(v, port), None).await)
}

async fn count(actor: &ActorRef<CounterMsg>) -> u64 {
    success(actor.call(CounterMsg::Count, None).await)
}

async fn stop<M: ractor::Message>(actor: ActorRef<M>, handle: JoinHandle<()>) {
    actor.stop(None);
    handle.await.expect("actor task");
}

/// The ping-pong players' protocol.
enum PlayerMsg {
    Ball(u64),
    SetPeer(ActorRef<PlayerMsg>, RpcReplyPort<()>),
    Count(RpcReplyPort<u64>),
}

/// A ping-pong player.
struct Player;

/// A player's state.
struct PlayerState {
    peer: Option<ActorRef<PlayerMsg>>,
    count: u64,
    done: Arc<Latch>,
}

impl Actor for Player {
    type Msg = PlayerMsg;
    type State = PlayerState;
    type Arguments = Arc<Latch>;

    async fn pre_start(
        &self,
        _: ActorRef<PlayerMsg>,
        done: Arc<Latch>,
    ) -> Result<PlayerState, ActorProcessingErr> {
        Ok(PlayerState {
            peer: None,
            count: 0,
            done,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<PlayerMsg>,
        msg: PlayerMsg,
        state: &mut PlayerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PlayerMsg::Ball(n) => {
                state.count += 1;
                if n == 1 {
                    state.done.count_down();
                } else {
                    let peer = state.peer.as_ref().expect("peer set");
                    peer.cast(PlayerMsg::Ball(n - 1)).expect("peer alive");
                }
            }
            PlayerMsg::SetPeer(peer, reply) => {
                state.peer = Some(peer);
                let _ = reply.send(());
            }
            PlayerMsg::Count(reply) => {
                let _ = reply.send(state.count);
            }
        }
        Ok(())
    }
}

/// The trivial actor of `spawn`: counts down on start and on stop.
struct Trivial;

impl Actor for Trivial {
    type Msg = ();
    type State = Arc<Latch>;
    type Arguments = (Arc<Latch>, Arc<Latch>);

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        (started, stopped): (Arc<Latch>, Arc<Latch>),
    ) -> Result<Arc<Latch>, ActorProcessingErr> {
        started.count_down();
        Ok(stopped)
    }

    async fn post_stop(
        &self,
        _: ActorRef<()>,
        stopped: &mut Arc<Latch>,
    ) -> Result<(), ActorProcessingErr> {
        stopped.count_down();
        Ok(())
    }
}

/// The restart workloads' child: `pre_start` reports each incarnation, and every message makes
/// the handler panic (with [`RESTART_PANIC`]) after taking it ([`Boom::handle`]).
struct Fragile;

impl Actor for Fragile {
    type Msg = Boom;
    type State = Arc<Incarnations>;
    type Arguments = Arc<Incarnations>;

    async fn pre_start(
        &self,
        _: ActorRef<Boom>,
        incarnations: Arc<Incarnations>,
    ) -> Result<Arc<Incarnations>, ActorProcessingErr> {
        incarnations.started();
        Ok(incarnations)
    }

    async fn handle(
        &self,
        _: ActorRef<Boom>,
        boom: Boom,
        _: &mut Arc<Incarnations>,
    ) -> Result<(), ActorProcessingErr> {
        boom.handle();
        std::panic::panic_any(RESTART_PANIC)
    }
}

/// The supervisor's protocol: a message for the current child.
enum SupervisorMsg {
    Forward(Boom),
}

/// Spawns [`Fragile`] linked to `supervisor` and waits until its `pre_start` ran.
async fn spawn_fragile(
    supervisor: &ActorRef<SupervisorMsg>,
    incarnations: &Arc<Incarnations>,
) -> Result<ActorRef<Boom>, ActorProcessingErr> {
    let (child, _handle) =
        Actor::spawn_linked(None, Fragile, incarnations.clone(), supervisor.get_cell()).await?;
    Ok(child)
}

/// The supervisor of the restart workloads: spawns [`Fragile`] linked to itself, respawns it
/// on `ActorFailed`, and forwards each `Forward` to the current child, one per incarnation.
struct Supervisor;

/// The supervisor's state.
struct SupervisorState {
    incarnations: Arc<Incarnations>,
    child: ActorRef<Boom>,
    /// Whether the current child got its message (every message kills it, so the next one
    /// waits for the next incarnation).
    busy: bool,
    /// Messages waiting for an incarnation.
    pending: VecDeque<Boom>,
}

impl SupervisorState {
    /// Sends `boom` to the current child.
    fn forward(&mut self, boom: Boom) -> Result<(), ActorProcessingErr> {
        self.child
            .cast(boom)
            .map_err(|e| format!("forwarding to the child: {e}"))?;
        self.busy = true;
        Ok(())
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<Incarnations>;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        incarnations: Arc<Incarnations>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let child = spawn_fragile(&myself, &incarnations).await?;
        Ok(SupervisorState {
            incarnations,
            child,
            busy: false,
            pending: VecDeque::new(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<SupervisorMsg>,
        SupervisorMsg::Forward(boom): SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if state.busy {
            state.pending.push_back(boom);
            Ok(())
        } else {
            state.forward(boom)
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // `ActorStarted` of each child, and `ActorTerminated` of the last one when the
        // supervisor stops it, need nothing.
        if let SupervisionEvent::ActorFailed(who, _) = event
            && who.get_id() == state.child.get_id()
        {
            state.child = spawn_fragile(&myself, &state.incarnations).await?;
            state.busy = false;
            if let Some(boom) = state.pending.pop_front() {
                state.forward(boom)?;
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state
            .child
            .stop_and_wait(None, None)
            .await
            .map_err(|e| format!("stopping the child: {e}"))?;
        Ok(())
    }
}

/// ractor on a 2-worker Tokio runtime (`scaling`: one worker per core).
pub struct Bench {
    rt: Runtime,
    scaling_rt: LazyScalingRuntime,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

impl Bench {
    /// Builds the runtime.
    pub fn new() -> Self {
        Self {
            rt: workload::multi_thread_runtime(),
            scaling_rt: LazyScalingRuntime::default(),
        }
    }

    /// See [`crate::Framework::tell`]; the counter is spawned outside the timed part.
    pub fn tell(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (actor, handle) = spawn_counter().await;
            let start = Instant::now();
            for i in 0..TELL_N {
                actor.cast(CounterMsg::Tell(i)).expect("counter alive");
            }
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(n, TELL_N);
            stop(actor, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::tell_contended`]; the counter is spawned outside the timed part.
    pub fn tell_contended(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (actor, handle) = spawn_counter().await;
            let start = Instant::now();
            let senders: Vec<_> = (0..CONTENDED_SENDERS)
                .map(|_| {
                    let actor = actor.clone();
                    tokio::spawn(async move {
                        for i in 0..CONTENDED_PER_SENDER {
                            actor.cast(CounterMsg::Tell(i)).expect("counter alive");
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.expect("sender task");
            }
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(n, TELL_N);
            stop(actor, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask`]; the counter is spawned outside the timed part.
    pub fn ask(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (actor, handle) = spawn_counter().await;
            let start = Instant::now();
            for i in 0..ASK_N {
                assert_eq!(ask(&actor, i).await, i + 1);
            }
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(n, ASK_N);
            stop(actor, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask_pipelined`]; the counter is spawned outside the timed part.
    pub fn ask_pipelined(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (actor, handle) = spawn_counter().await;
            let start = Instant::now();
            let sum = futures::stream::iter(0..PIPELINED_N)
                .map(|i| ask(&actor, i))
                .buffer_unordered(PIPELINE_DEPTH)
                .fold(0u64, |acc, r| async move { acc + r })
                .await;
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(sum, PIPELINED_REPLY_SUM);
            assert_eq!(n, PIPELINED_N);
            stop(actor, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::spawn`]: "started" is `pre_start` (which `Actor::spawn` awaits),
    /// stop is `stop` and `post_stop`. Bytes per actor include the `ActorRef` the harness keeps.
    pub fn spawn(&self) -> (Duration, f64) {
        workload::run_on(&self.rt, async {
            let started = Latch::new(SPAWN_N);
            let stopped = Latch::new(SPAWN_N);
            workload::trim_heap();
            let rss_before = workload::rss_bytes();
            let start = Instant::now();
            let mut actors = Vec::with_capacity(SPAWN_N as usize);
            for _ in 0..SPAWN_N {
                let (actor, _handle) =
                    Actor::spawn(None, Trivial, (started.clone(), stopped.clone()))
                        .await
                        .expect("spawn trivial actor");
                actors.push(actor);
            }
            started.wait().await;
            let spawn_time = start.elapsed();
            let bytes = workload::bytes_per(rss_before, workload::rss_bytes(), SPAWN_N);
            let start = Instant::now();
            for actor in &actors {
                actor.stop(None);
            }
            stopped.wait().await;
            let elapsed = spawn_time + start.elapsed();
            drop(actors);
            (elapsed, bytes)
        })
    }

    /// See [`crate::Framework::fanout`]; the actors are spawned outside the timed part.
    pub fn fanout(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let mut actors = Vec::with_capacity(FANOUT_ACTORS as usize);
            for _ in 0..FANOUT_ACTORS {
                actors.push(spawn_counter().await);
            }
            let start = Instant::now();
            for round in 0..FANOUT_PER_ACTOR {
                for (actor, _) in &actors {
                    actor.cast(CounterMsg::Tell(round)).expect("counter alive");
                }
            }
            for (actor, _) in &actors {
                assert_eq!(count(actor).await, FANOUT_PER_ACTOR);
            }
            let elapsed = start.elapsed();
            for (actor, handle) in actors {
                stop(actor, handle).await;
            }
            elapsed
        })
    }

    /// See [`crate::Framework::ping_pong`]; both players are spawned outside the timed part.
    pub fn ping_pong(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let done = Latch::new(1);
            let (a, ha) = Actor::spawn(None, Player, done.clone())
                .await
                .expect("spawn player");
            let (b, hb) = Actor::spawn(None, Player, done.clone())
                .await
                .expect("spawn player");
            success(a.call(|p| PlayerMsg::SetPeer(b.clone(), p), None).await);
            success(b.call(|p| PlayerMsg::SetPeer(a.clone(), p), None).await);
            let start = Instant::now();
            a.cast(PlayerMsg::Ball(PINGPONG_HOPS))
                .expect("player alive");
            done.wait().await;
            let elapsed = start.elapsed();
            let hops = success(a.call(PlayerMsg::Count, None).await)
                + success(b.call(PlayerMsg::Count, None).await);
            assert_eq!(hops, PINGPONG_HOPS);
            stop(a, ha).await;
            stop(b, hb).await;
            elapsed
        })
    }

    /// See [`crate::Framework::scaling`]; on the runtime with one worker per core, the counters
    /// are spawned outside the timed part.
    pub fn scaling(&self) -> Duration {
        workload::run_on(self.scaling_rt.get(), async {
            let mut actors = Vec::new();
            for _ in 0..workload::scaling_pairs() {
                actors.push(spawn_counter().await);
            }
            let start = Instant::now();
            let senders: Vec<_> = actors
                .iter()
                .map(|(actor, _)| {
                    let actor = actor.clone();
                    tokio::spawn(async move {
                        for i in 0..SCALING_PER_PAIR {
                            actor.cast(CounterMsg::Tell(i)).expect("counter alive");
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.expect("sender task");
            }
            for (actor, _) in &actors {
                assert_eq!(count(actor).await, SCALING_PER_PAIR);
            }
            let elapsed = start.elapsed();
            for (actor, handle) in actors {
                stop(actor, handle).await;
            }
            elapsed
        })
    }

    /// See [`crate::Framework::restart`]: `Fragile` under `Supervisor` (its
    /// `handle_supervisor_evt` respawns the child on `ActorFailed`, without limit), both spawned
    /// before the clock starts; the sender casts `Forward(i)` to the supervisor. The supervisor
    /// (and with it the child) is stopped after the clock stops.
    pub fn restart(&self, mode: RestartMode) -> Duration {
        workload::run_on(&self.rt, async move {
            let incarnations = Incarnations::new();
            let (supervisor, handle) = Actor::spawn(None, Supervisor, incarnations.clone())
                .await
                .expect("spawn supervisor");
            incarnations.wait_started(1).await;
            let elapsed = {
                let supervisor = &supervisor;
                mode.run(&incarnations, move |boom| async move {
                    if supervisor.cast(SupervisorMsg::Forward(boom)).is_err() {
                        panic!("supervisor not running");
                    }
                })
                .await
            };
            stop(supervisor, handle).await;
            elapsed
        })
    }
}

crate::impl_framework!(Bench, "ractor", supervises);
