//! kameo 0.22 on the 2-worker Tokio runtime, bounded mailboxes of 1024
//! (`mailbox::bounded`); `tell(..).await` waits for mailbox capacity.
//!
//! Actors a workload talks to are spawned before the clock starts; `spawn` times spawning and
//! stopping (`stop_gracefully`, then `on_stop` counts down). kameo boxes every message.
//!
//! The restart workloads use kameo's own supervision (`kameo::supervision`):
//! `Fragile::supervise(&supervisor, ..)` with `RestartPolicy::Permanent` and a restart limit of
//! `u32::MAX` per hour, under a one-for-one supervisor actor. A supervised child keeps its
//! `ActorRef` and its mailbox across restarts (the dead incarnation hands its receiver to the
//! supervisor, whose factory spawns the next one on it), so the sender tells the same reference
//! throughout. Each restart goes through the supervisor: the dying child spawns a task that
//! signals `LinkDied` into the supervisor's mailbox, and the supervisor, when it handles that
//! signal, spawns the new incarnation as a new task.
//!
//! Back to back (`restart`) kameo loses messages, and the workload fails its check: a new
//! incarnation's `StartupFinished` signal is queued behind the waiting messages, those are moved
//! into a startup buffer, and when the first of them panics the rest of the buffer is dropped
//! (`ActorBehaviour::handle_startup_finished` in kameo 0.22). One at a time (`restart_serial`)
//! nothing waits, and nothing is lost. `benches/README.md` has the details.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kameo::Actor;
use kameo::actor::{ActorRef, Spawn, WeakActorRef};
use kameo::error::ActorStopReason;
use kameo::mailbox;
use kameo::message::{Context, Message};
use kameo::supervision::RestartPolicy;
use tokio::runtime::Runtime;

use crate::workload::{
    self, ASK_N, Boom, CONTENDED_PER_SENDER, CONTENDED_SENDERS, FANOUT_ACTORS, FANOUT_PER_ACTOR,
    Incarnations, Latch, LazyScalingRuntime, MAILBOX_CAPACITY, PINGPONG_HOPS, PIPELINE_DEPTH,
    PIPELINED_N, PIPELINED_REPLY_SUM, RESTART_PANIC, RestartMode, SCALING_PER_PAIR, SPAWN_N,
    TELL_N,
};

/// Counts tells (`u64`) and asks; answers `Ask(v)` with `v + 1`.
struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(args)
    }
}

#[derive(Debug)]
struct Ask(u64);

#[derive(Debug)]
struct Count;

impl Message<u64> for Counter {
    type Reply = ();

    async fn handle(&mut self, v: u64, _: &mut Context<Self, ()>) {
        std::hint::black_box(v);
        self.count += 1;
    }
}

impl Message<Ask> for Counter {
    type Reply = u64;

    async fn handle(&mut self, Ask(v): Ask, _: &mut Context<Self, u64>) -> u64 {
        self.count += 1;
        v + 1
    }
}

impl Message<Count> for Counter {
    type Reply = u64;

    async fn handle(&mut self, _: Count, _: &mut Context<Self, u64>) -> u64 {
        self.count
    }
}

fn spawn_counter() -> ActorRef<Counter> {
    Counter::spawn_with_mailbox(Counter { count: 0 }, mailbox::bounded(MAILBOX_CAPACITY))
}

async fn count(actor: &ActorRef<Counter>) -> u64 {
    actor.ask(Count).await.expect("counter alive")
}

async fn stop<A: Actor>(actor: ActorRef<A>) {
    actor.stop_gracefully().await.expect("actor alive");
    actor.wait_for_shutdown().await;
}

/// A ping-pong player.
struct Player {
    peer: Option<ActorRef<Player>>,
    count: u64,
    done: Arc<Latch>,
}

impl Actor for Player {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(args)
    }
}

#[derive(Debug)]
struct Ball(u64);

struct SetPeer(ActorRef<Player>);

impl Message<Ball> for Player {
    type Reply = ();

    async fn handle(&mut self, Ball(n): Ball, _: &mut Context<Self, ()>) {
        self.count += 1;
        if n == 1 {
            self.done.count_down();
        } else {
            let peer = self.peer.as_ref().expect("peer set");
            peer.tell(Ball(n - 1)).await.expect("peer alive");
        }
    }
}

impl Message<SetPeer> for Player {
    type Reply = ();

    async fn handle(&mut self, SetPeer(peer): SetPeer, _: &mut Context<Self, ()>) {
        self.peer = Some(peer);
    }
}

impl Message<Count> for Player {
    type Reply = u64;

    async fn handle(&mut self, _: Count, _: &mut Context<Self, u64>) -> u64 {
        self.count
    }
}

/// The trivial actor of `spawn`: counts down on start and on stop.
struct Trivial {
    stopped: Arc<Latch>,
}

impl Actor for Trivial {
    type Args = (Arc<Latch>, Arc<Latch>);
    type Error = Infallible;

    async fn on_start(
        (started, stopped): Self::Args,
        _: ActorRef<Self>,
    ) -> Result<Self, Infallible> {
        started.count_down();
        Ok(Self { stopped })
    }

    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        _: ActorStopReason,
    ) -> Result<(), Infallible> {
        self.stopped.count_down();
        Ok(())
    }
}

/// The supervisor of the restart workloads: one-for-one (kameo's default strategy), nothing
/// else.
struct Supervisor;

impl Actor for Supervisor {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(args)
    }
}

/// The restart workloads' actor: `on_start` reports each incarnation, and every message makes
/// the handler panic (with [`RESTART_PANIC`]) after taking it ([`Boom::handle`]). `Args = Self`
/// is cloned by the supervisor's factory for each incarnation.
#[derive(Clone)]
struct Fragile {
    incarnations: Arc<Incarnations>,
}

impl Actor for Fragile {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        args.incarnations.started();
        Ok(args)
    }
}

impl Message<Boom> for Fragile {
    type Reply = ();

    async fn handle(&mut self, boom: Boom, _: &mut Context<Self, ()>) {
        boom.handle();
        std::panic::panic_any(RESTART_PANIC)
    }
}

/// kameo on a 2-worker Tokio runtime (`scaling`: one worker per core).
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
            let actor = spawn_counter();
            let start = Instant::now();
            for i in 0..TELL_N {
                actor.tell(i).await.expect("counter alive");
            }
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(n, TELL_N);
            stop(actor).await;
            elapsed
        })
    }

    /// See [`crate::Framework::tell_contended`]; the counter is spawned outside the timed part.
    pub fn tell_contended(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let actor = spawn_counter();
            let start = Instant::now();
            let senders: Vec<_> = (0..CONTENDED_SENDERS)
                .map(|_| {
                    let actor = actor.clone();
                    tokio::spawn(async move {
                        for i in 0..CONTENDED_PER_SENDER {
                            actor.tell(i).await.expect("counter alive");
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
            stop(actor).await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask`]; the counter is spawned outside the timed part.
    pub fn ask(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let actor = spawn_counter();
            let start = Instant::now();
            for i in 0..ASK_N {
                let r = actor.ask(Ask(i)).await.expect("counter alive");
                assert_eq!(r, i + 1);
            }
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(n, ASK_N);
            stop(actor).await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask_pipelined`]; the counter is spawned outside the timed part.
    pub fn ask_pipelined(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let actor = spawn_counter();
            let start = Instant::now();
            let sum = futures::stream::iter(0..PIPELINED_N)
                .map(|i| {
                    let actor = &actor;
                    async move { actor.ask(Ask(i)).await.expect("counter alive") }
                })
                .buffer_unordered(PIPELINE_DEPTH)
                .fold(0u64, |acc, r| async move { acc + r })
                .await;
            let n = count(&actor).await;
            let elapsed = start.elapsed();
            assert_eq!(sum, PIPELINED_REPLY_SUM);
            assert_eq!(n, PIPELINED_N);
            stop(actor).await;
            elapsed
        })
    }

    /// See [`crate::Framework::spawn`]: "started" is `on_start`, stop is `stop_gracefully` and
    /// `on_stop`. Bytes per actor include the `ActorRef` the harness keeps.
    pub fn spawn(&self) -> (Duration, f64) {
        workload::run_on(&self.rt, async {
            let started = Latch::new(SPAWN_N);
            let stopped = Latch::new(SPAWN_N);
            workload::trim_heap();
            let rss_before = workload::rss_bytes();
            let start = Instant::now();
            let mut actors = Vec::with_capacity(SPAWN_N as usize);
            for _ in 0..SPAWN_N {
                actors.push(Trivial::spawn_with_mailbox(
                    (started.clone(), stopped.clone()),
                    mailbox::bounded(MAILBOX_CAPACITY),
                ));
            }
            started.wait().await;
            let spawn_time = start.elapsed();
            let bytes = workload::bytes_per(rss_before, workload::rss_bytes(), SPAWN_N);
            let start = Instant::now();
            for actor in &actors {
                actor.stop_gracefully().await.expect("actor alive");
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
            let actors: Vec<_> = (0..FANOUT_ACTORS).map(|_| spawn_counter()).collect();
            let start = Instant::now();
            for round in 0..FANOUT_PER_ACTOR {
                for actor in &actors {
                    actor.tell(round).await.expect("counter alive");
                }
            }
            for actor in &actors {
                assert_eq!(count(actor).await, FANOUT_PER_ACTOR);
            }
            let elapsed = start.elapsed();
            for actor in actors {
                stop(actor).await;
            }
            elapsed
        })
    }

    /// See [`crate::Framework::ping_pong`]; both players are spawned outside the timed part.
    pub fn ping_pong(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let done = Latch::new(1);
            let player = |done: &Arc<Latch>| {
                Player::spawn_with_mailbox(
                    Player {
                        peer: None,
                        count: 0,
                        done: done.clone(),
                    },
                    mailbox::bounded(MAILBOX_CAPACITY),
                )
            };
            let (a, b) = (player(&done), player(&done));
            a.ask(SetPeer(b.clone())).await.expect("player alive");
            b.ask(SetPeer(a.clone())).await.expect("player alive");
            let start = Instant::now();
            a.tell(Ball(PINGPONG_HOPS)).await.expect("player alive");
            done.wait().await;
            let elapsed = start.elapsed();
            let hops = a.ask(Count).await.expect("player alive")
                + b.ask(Count).await.expect("player alive");
            assert_eq!(hops, PINGPONG_HOPS);
            stop(a).await;
            stop(b).await;
            elapsed
        })
    }

    /// See [`crate::Framework::scaling`]; on the runtime with one worker per core, the counters
    /// are spawned outside the timed part.
    pub fn scaling(&self) -> Duration {
        workload::run_on(self.scaling_rt.get(), async {
            let actors: Vec<_> = (0..workload::scaling_pairs())
                .map(|_| spawn_counter())
                .collect();
            let start = Instant::now();
            let senders: Vec<_> = actors
                .iter()
                .map(|actor| {
                    let actor = actor.clone();
                    tokio::spawn(async move {
                        for i in 0..SCALING_PER_PAIR {
                            actor.tell(i).await.expect("counter alive");
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.expect("sender task");
            }
            for actor in &actors {
                assert_eq!(count(actor).await, SCALING_PER_PAIR);
            }
            let elapsed = start.elapsed();
            for actor in actors {
                stop(actor).await;
            }
            elapsed
        })
    }

    /// See [`crate::Framework::restart`]: `Fragile` supervised by `Supervisor`
    /// (`Permanent`, at most `u32::MAX` restarts per hour, mailbox bounded at 1024), both
    /// spawned before the clock starts; the supervisor is stopped (and with it the child) after
    /// it stops.
    pub fn restart(&self, mode: RestartMode) -> Duration {
        workload::run_on(&self.rt, async move {
            let incarnations = Incarnations::new();
            let supervisor = Supervisor::spawn(Supervisor);
            let child = Fragile::supervise(
                &supervisor,
                Fragile {
                    incarnations: incarnations.clone(),
                },
            )
            .restart_policy(RestartPolicy::Permanent)
            .restart_limit(u32::MAX, Duration::from_secs(3600))
            .spawn_with_mailbox(mailbox::bounded(MAILBOX_CAPACITY))
            .await;
            incarnations.wait_started(1).await;
            let elapsed = {
                let child = &child;
                mode.run(&incarnations, move |boom| async move {
                    child
                        .tell(boom)
                        .await
                        .expect("fragile actor's mailbox open");
                })
                .await
            };
            stop(supervisor).await;
            elapsed
        })
    }
}

crate::impl_framework!(Bench, "kameo", supervises);
