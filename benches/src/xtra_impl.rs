//! xtra 0.6 (feature `tokio`) on the 2-worker Tokio runtime, bounded mailboxes of 1024
//! (`Mailbox::bounded`). Tell is `send(..).detach().await`: it waits for mailbox capacity, not
//! for the handler. Actors run via `tokio::spawn(xtra::run(..))` (what `xtra::spawn_tokio`
//! does) so the harness can await their end.
//!
//! xtra 0.6's mailbox is a `BinaryHeap` ordered by priority only, so messages of equal priority
//! are *not* delivered in send order: a final ask at the default priority overtakes queued tells
//! (the completion check caught it). Tells are therefore sent at priority 1 and the final count
//! ask at the default 0, which the heap pops only after every tell; the cost per send is the same.
//!
//! Actors a workload talks to are spawned before the clock starts; `spawn` times spawning and
//! stopping (stop = dropping the last strong `Address`, then `stopped` counts down).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use xtra::{Actor, Address, Context, Handler, Mailbox, WeakAddress};

use crate::workload::{
    self, ASK_N, CONTENDED_PER_SENDER, CONTENDED_SENDERS, FANOUT_ACTORS, FANOUT_PER_ACTOR, Latch,
    LazyScalingRuntime, MAILBOX_CAPACITY, PINGPONG_HOPS, PIPELINE_DEPTH, PIPELINED_N,
    PIPELINED_REPLY_SUM, SCALING_PER_PAIR, SPAWN_N, TELL_N,
};

/// Counts tells (`u64`) and asks; answers `Ask(v)` with `v + 1`; returns its count on stop.
struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Stop = u64;

    async fn stopped(self) -> u64 {
        self.count
    }
}

struct Ask(u64);

struct Count;

impl Handler<u64> for Counter {
    type Return = ();

    async fn handle(&mut self, v: u64, _: &mut Context<Self>) {
        std::hint::black_box(v);
        self.count += 1;
    }
}

impl Handler<Ask> for Counter {
    type Return = u64;

    async fn handle(&mut self, Ask(v): Ask, _: &mut Context<Self>) -> u64 {
        self.count += 1;
        v + 1
    }
}

impl Handler<Count> for Counter {
    type Return = u64;

    async fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.count
    }
}

fn spawn_counter() -> (Address<Counter>, JoinHandle<u64>) {
    let (addr, mailbox) = Mailbox::bounded(MAILBOX_CAPACITY);
    (addr, tokio::spawn(xtra::run(mailbox, Counter { count: 0 })))
}

/// Priority of tells, above the default priority of the final count ask (see the module doc).
const TELL_PRIORITY: u32 = 1;

async fn tell(addr: &Address<Counter>, v: u64) {
    // The returned receiver would yield the handler's `()`; dropping it is fire-and-forget.
    drop(
        addr.send(v)
            .priority(TELL_PRIORITY)
            .detach()
            .await
            .expect("counter alive"),
    );
}

async fn count(addr: &Address<Counter>) -> u64 {
    addr.send(Count).await.expect("counter alive")
}

async fn stop(addr: Address<Counter>, handle: JoinHandle<u64>) -> u64 {
    drop(addr);
    handle.await.expect("counter task")
}

/// A ping-pong player; holds its peer weakly so that dropping the harness's addresses stops both.
struct Player {
    peer: Option<WeakAddress<Player>>,
    count: u64,
    done: Arc<Latch>,
}

impl Actor for Player {
    type Stop = u64;

    async fn stopped(self) -> u64 {
        self.count
    }
}

struct Ball(u64);

struct SetPeer(WeakAddress<Player>);

impl Handler<Ball> for Player {
    type Return = ();

    async fn handle(&mut self, Ball(n): Ball, _: &mut Context<Self>) {
        self.count += 1;
        if n == 1 {
            self.done.count_down();
        } else {
            let peer = self.peer.as_ref().expect("peer set");
            drop(peer.send(Ball(n - 1)).detach().await.expect("peer alive"));
        }
    }
}

impl Handler<SetPeer> for Player {
    type Return = ();

    async fn handle(&mut self, SetPeer(peer): SetPeer, _: &mut Context<Self>) {
        self.peer = Some(peer);
    }
}

/// The trivial actor of `spawn`: counts down on start and on stop.
struct Trivial {
    started: Arc<Latch>,
    stopped: Arc<Latch>,
}

impl Actor for Trivial {
    type Stop = ();

    async fn started(&mut self, _: &Mailbox<Self>) -> Result<(), ()> {
        self.started.count_down();
        Ok(())
    }

    async fn stopped(self) {
        self.stopped.count_down();
    }
}

/// xtra on a 2-worker Tokio runtime (`scaling`: one worker per core).
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
            let (addr, handle) = spawn_counter();
            let start = Instant::now();
            for i in 0..TELL_N {
                tell(&addr, i).await;
            }
            let n = count(&addr).await;
            let elapsed = start.elapsed();
            assert_eq!(n, TELL_N);
            assert_eq!(stop(addr, handle).await, TELL_N);
            elapsed
        })
    }

    /// See [`crate::Framework::tell_contended`]; the counter is spawned outside the timed part.
    pub fn tell_contended(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (addr, handle) = spawn_counter();
            let start = Instant::now();
            let senders: Vec<_> = (0..CONTENDED_SENDERS)
                .map(|_| {
                    let addr = addr.clone();
                    tokio::spawn(async move {
                        for i in 0..CONTENDED_PER_SENDER {
                            tell(&addr, i).await;
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
            stop(addr, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask`]; the counter is spawned outside the timed part.
    pub fn ask(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (addr, handle) = spawn_counter();
            let start = Instant::now();
            for i in 0..ASK_N {
                let r = addr.send(Ask(i)).await.expect("counter alive");
                assert_eq!(r, i + 1);
            }
            let n = count(&addr).await;
            let elapsed = start.elapsed();
            assert_eq!(n, ASK_N);
            stop(addr, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::ask_pipelined`]; the counter is spawned outside the timed part.
    pub fn ask_pipelined(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let (addr, handle) = spawn_counter();
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
            stop(addr, handle).await;
            elapsed
        })
    }

    /// See [`crate::Framework::spawn`]: actors are spawned with `xtra::spawn_tokio`, "started" is
    /// the `started` hook, stop is dropping the `Address`. Bytes per actor include that address.
    pub fn spawn(&self) -> (Duration, f64) {
        workload::run_on(&self.rt, async {
            let started = Latch::new(SPAWN_N);
            let stopped = Latch::new(SPAWN_N);
            workload::trim_heap();
            let rss_before = workload::rss_bytes();
            let start = Instant::now();
            let mut addrs = Vec::with_capacity(SPAWN_N as usize);
            for _ in 0..SPAWN_N {
                let actor = Trivial {
                    started: started.clone(),
                    stopped: stopped.clone(),
                };
                addrs.push(xtra::spawn_tokio(actor, Mailbox::bounded(MAILBOX_CAPACITY)));
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
        workload::run_on(&self.rt, async {
            let actors: Vec<_> = (0..FANOUT_ACTORS).map(|_| spawn_counter()).collect();
            let start = Instant::now();
            for round in 0..FANOUT_PER_ACTOR {
                for (addr, _) in &actors {
                    tell(addr, round).await;
                }
            }
            for (addr, _) in &actors {
                assert_eq!(count(addr).await, FANOUT_PER_ACTOR);
            }
            let elapsed = start.elapsed();
            for (addr, handle) in actors {
                stop(addr, handle).await;
            }
            elapsed
        })
    }

    /// See [`crate::Framework::ping_pong`]; both players are spawned outside the timed part.
    pub fn ping_pong(&self) -> Duration {
        workload::run_on(&self.rt, async {
            let done = Latch::new(1);
            let player = || {
                let (addr, mailbox) = Mailbox::bounded(MAILBOX_CAPACITY);
                let actor = Player {
                    peer: None,
                    count: 0,
                    done: done.clone(),
                };
                (addr, tokio::spawn(xtra::run(mailbox, actor)))
            };
            let ((a, ha), (b, hb)) = (player(), player());
            a.send(SetPeer(b.downgrade())).await.expect("player alive");
            b.send(SetPeer(a.downgrade())).await.expect("player alive");
            let start = Instant::now();
            drop(
                a.send(Ball(PINGPONG_HOPS))
                    .detach()
                    .await
                    .expect("player alive"),
            );
            done.wait().await;
            let elapsed = start.elapsed();
            drop((a, b));
            let hops = ha.await.expect("player task") + hb.await.expect("player task");
            assert_eq!(hops, PINGPONG_HOPS);
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
                .map(|(addr, _)| {
                    let addr = addr.clone();
                    tokio::spawn(async move {
                        for i in 0..SCALING_PER_PAIR {
                            tell(&addr, i).await;
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.expect("sender task");
            }
            for (addr, _) in &actors {
                assert_eq!(count(addr).await, SCALING_PER_PAIR);
            }
            let elapsed = start.elapsed();
            for (addr, handle) in actors {
                assert_eq!(stop(addr, handle).await, SCALING_PER_PAIR);
            }
            elapsed
        })
    }
}

crate::impl_framework!(Bench, "xtra");
