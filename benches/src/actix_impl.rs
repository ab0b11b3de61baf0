//! actix 0.13 on its own `System` (a Tokio current-thread runtime: one thread for actors and
//! senders alike), mailbox capacity set to 1024 with `Context::set_mailbox_capacity`.
//!
//! Tell is `do_send`, actix's fire-and-forget, which ignores the mailbox bound (it is unbounded
//! in effect); asks use `send(..).await`, which respects it. Actors a workload talks to are
//! spawned before the clock starts and stopped (and awaited through their `stopped` hook) after
//! it; `spawn` times spawning and stopping (stop = dropping the last `Addr`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, Addr, Context, Handler, Message, System, SystemRunner};
use futures::StreamExt;

use crate::workload::{
    self, ASK_N, CONTENDED_PER_SENDER, CONTENDED_SENDERS, FANOUT_ACTORS, FANOUT_PER_ACTOR, Latch,
    MAILBOX_CAPACITY, PINGPONG_HOPS, PIPELINE_DEPTH, PIPELINED_N, PIPELINED_REPLY_SUM,
    SCALING_PER_PAIR, SPAWN_N, TELL_N,
};

/// Counts tells and asks; answers `Ask(v)` with `v + 1`; counts down `stopped` when it stops.
struct Counter {
    count: u64,
    stopped: Arc<Latch>,
}

impl Actor for Counter {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stopped.count_down();
    }
}

struct Tell(u64);

impl Message for Tell {
    type Result = ();
}

struct Ask(u64);

impl Message for Ask {
    type Result = u64;
}

struct Count;

impl Message for Count {
    type Result = u64;
}

impl Handler<Tell> for Counter {
    type Result = ();

    fn handle(&mut self, Tell(v): Tell, _: &mut Context<Self>) {
        std::hint::black_box(v);
        self.count += 1;
    }
}

impl Handler<Ask> for Counter {
    type Result = u64;

    fn handle(&mut self, Ask(v): Ask, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        v + 1
    }
}

impl Handler<Count> for Counter {
    type Result = u64;

    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.count
    }
}

fn spawn_counter(stopped: &Arc<Latch>) -> Addr<Counter> {
    Counter::create(|ctx| {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        Counter {
            count: 0,
            stopped: stopped.clone(),
        }
    })
}

async fn count(addr: &Addr<Counter>) -> u64 {
    addr.send(Count).await.expect("counter alive")
}

/// A ping-pong player.
struct Player {
    peer: Option<Addr<Player>>,
    count: u64,
    done: Arc<Latch>,
    stopped: Arc<Latch>,
}

impl Actor for Player {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stopped.count_down();
    }
}

struct Ball(u64);

impl Message for Ball {
    type Result = ();
}

struct SetPeer(Addr<Player>);

impl Message for SetPeer {
    type Result = ();
}

struct Stop;

impl Message for Stop {
    type Result = ();
}

impl Handler<Ball> for Player {
    type Result = ();

    fn handle(&mut self, Ball(n): Ball, _: &mut Context<Self>) {
        self.count += 1;
        if n == 1 {
            self.done.count_down();
        } else {
            self.peer.as_ref().expect("peer set").do_send(Ball(n - 1));
        }
    }
}

impl Handler<SetPeer> for Player {
    type Result = ();

    fn handle(&mut self, SetPeer(peer): SetPeer, _: &mut Context<Self>) {
        self.peer = Some(peer);
    }
}

impl Handler<Count> for Player {
    type Result = u64;

    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.count
    }
}

impl Handler<Stop> for Player {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The trivial actor of `spawn`: counts down on start and on stop.
struct Trivial {
    started: Arc<Latch>,
    stopped: Arc<Latch>,
}

impl Actor for Trivial {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.started.count_down();
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stopped.count_down();
    }
}

/// actix on its single-threaded `System`.
pub struct Bench {
    sys: SystemRunner,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

impl Bench {
    /// Builds the `System`.
    pub fn new() -> Self {
        Self { sys: System::new() }
    }

    /// See [`crate::Framework::tell`]; the counter is spawned outside the timed part.
    pub fn tell(&self) -> Duration {
        self.sys.block_on(async {
            let stopped = Latch::new(1);
            let addr = spawn_counter(&stopped);
            let start = Instant::now();
            for i in 0..TELL_N {
                addr.do_send(Tell(i));
            }
            let n = count(&addr).await;
            let elapsed = start.elapsed();
            assert_eq!(n, TELL_N);
            drop(addr);
            stopped.wait().await;
            elapsed
        })
    }

    /// See [`crate::Framework::tell_contended`]; the counter is spawned outside the timed part.
    /// The 8 senders are local tasks on the same thread.
    pub fn tell_contended(&self) -> Duration {
        self.sys.block_on(async {
            let stopped = Latch::new(1);
            let addr = spawn_counter(&stopped);
            let start = Instant::now();
            let senders: Vec<_> = (0..CONTENDED_SENDERS)
                .map(|_| {
                    let addr = addr.clone();
                    actix::spawn(async move {
                        for i in 0..CONTENDED_PER_SENDER {
                            addr.do_send(Tell(i));
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.expect("sender task");
            }
            let n = count(&addr).await;
            let elapsed = start.elapsed();
            assert_eq!(n, TELL_N);
            drop(addr);
            stopped.wait().await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask`]; the counter is spawned outside the timed part.
    pub fn ask(&self) -> Duration {
        self.sys.block_on(async {
            let stopped = Latch::new(1);
            let addr = spawn_counter(&stopped);
            let start = Instant::now();
            for i in 0..ASK_N {
                let r = addr.send(Ask(i)).await.expect("counter alive");
                assert_eq!(r, i + 1);
            }
            let n = count(&addr).await;
            let elapsed = start.elapsed();
            assert_eq!(n, ASK_N);
            drop(addr);
            stopped.wait().await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask_pipelined`]; the counter is spawned outside the timed part.
    pub fn ask_pipelined(&self) -> Duration {
        self.sys.block_on(async {
            let stopped = Latch::new(1);
            let addr = spawn_counter(&stopped);
            let start = Instant::now();
            let sum = futures::stream::iter(0..PIPELINED_N)
                .map(|i| {
                    let addr = &addr;
                    async move { addr.send(Ask(i)).await.expect("counter alive") }
                })
                .buffer_unordered(PIPELINE_DEPTH)
                .fold(0u64, |acc, r| async move { acc + r })
                .await;
            let n = count(&addr).await;
            let elapsed = start.elapsed();
            assert_eq!(sum, PIPELINED_REPLY_SUM);
            assert_eq!(n, PIPELINED_N);
            drop(addr);
            stopped.wait().await;
            elapsed
        })
    }

    /// See [`crate::Framework::spawn`]: "started" is the `started` hook, stop is dropping the
    /// `Addr`. Bytes per actor include the `Addr` the harness keeps.
    pub fn spawn(&self) -> (Duration, f64) {
        self.sys.block_on(async {
            let started = Latch::new(SPAWN_N);
            let stopped = Latch::new(SPAWN_N);
            workload::trim_heap();
            let rss_before = workload::rss_bytes();
            let start = Instant::now();
            let mut addrs = Vec::with_capacity(SPAWN_N as usize);
            for _ in 0..SPAWN_N {
                addrs.push(Trivial::create(|ctx| {
                    ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                    Trivial {
                        started: started.clone(),
                        stopped: stopped.clone(),
                    }
                }));
            }
            started.wait().await;
            let spawn_time = start.elapsed();
            let bytes = workload::bytes_per(rss_before, workload::rss_bytes(), SPAWN_N);
            let start = Instant::now();
            drop(addrs);
            stopped.wait().await;
            (spawn_time + start.elapsed(), bytes)
        })
    }

    /// See [`crate::Framework::fanout`]; the actors are spawned outside the timed part.
    pub fn fanout(&self) -> Duration {
        self.sys.block_on(async {
            let stopped = Latch::new(FANOUT_ACTORS);
            let addrs: Vec<_> = (0..FANOUT_ACTORS)
                .map(|_| spawn_counter(&stopped))
                .collect();
            let start = Instant::now();
            for round in 0..FANOUT_PER_ACTOR {
                for addr in &addrs {
                    addr.do_send(Tell(round));
                }
            }
            for addr in &addrs {
                assert_eq!(count(addr).await, FANOUT_PER_ACTOR);
            }
            let elapsed = start.elapsed();
            drop(addrs);
            stopped.wait().await;
            elapsed
        })
    }

    /// See [`crate::Framework::ping_pong`]; both players are spawned outside the timed part.
    pub fn ping_pong(&self) -> Duration {
        self.sys.block_on(async {
            let done = Latch::new(1);
            let stopped = Latch::new(2);
            let player = || {
                Player::create(|ctx| {
                    ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                    Player {
                        peer: None,
                        count: 0,
                        done: done.clone(),
                        stopped: stopped.clone(),
                    }
                })
            };
            let (a, b) = (player(), player());
            a.send(SetPeer(b.clone())).await.expect("player alive");
            b.send(SetPeer(a.clone())).await.expect("player alive");
            let start = Instant::now();
            a.do_send(Ball(PINGPONG_HOPS));
            done.wait().await;
            let elapsed = start.elapsed();
            let hops = a.send(Count).await.expect("player alive")
                + b.send(Count).await.expect("player alive");
            assert_eq!(hops, PINGPONG_HOPS);
            a.do_send(Stop);
            b.do_send(Stop);
            stopped.wait().await;
            elapsed
        })
    }

    /// See [`crate::Framework::scaling`]; the counters are spawned outside the timed part. All
    /// pairs share the `System`'s one thread: the senders are local tasks, as in
    /// `tell_contended`.
    pub fn scaling(&self) -> Duration {
        self.sys.block_on(async {
            let pairs = workload::scaling_pairs();
            let stopped = Latch::new(pairs);
            let addrs: Vec<_> = (0..pairs).map(|_| spawn_counter(&stopped)).collect();
            let start = Instant::now();
            let senders: Vec<_> = addrs
                .iter()
                .map(|addr| {
                    let addr = addr.clone();
                    actix::spawn(async move {
                        for i in 0..SCALING_PER_PAIR {
                            addr.do_send(Tell(i));
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.expect("sender task");
            }
            for addr in &addrs {
                assert_eq!(count(addr).await, SCALING_PER_PAIR);
            }
            let elapsed = start.elapsed();
            drop(addrs);
            stopped.wait().await;
            elapsed
        })
    }
}

crate::impl_framework!(Bench, "actix");
