//! Baseline: a hand-written receive loop over `async-channel` (bounded, 1024) with
//! `tokio::sync::oneshot` replies, one Tokio task per actor, on the 2-worker runtime.
//!
//! Note: `async_channel::bounded(1024)` preallocates its whole ring buffer, which dominates
//! `spawn`'s bytes per actor.
//!
//! Actors a workload talks to are spawned before the clock starts; `spawn` times spawning and
//! stopping (stop = dropping the last sender, which ends the receive loop).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use futures::StreamExt;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::workload::{
    self, ASK_N, CONTENDED_PER_SENDER, CONTENDED_SENDERS, FANOUT_ACTORS, FANOUT_PER_ACTOR, Latch,
    LazyScalingRuntime, MAILBOX_CAPACITY, PINGPONG_HOPS, PIPELINE_DEPTH, PIPELINED_N,
    PIPELINED_REPLY_SUM, SCALING_PER_PAIR, SPAWN_N, TELL_N,
};

/// The counter actor's protocol.
enum Msg {
    Tell(u64),
    Ask(u64, oneshot::Sender<u64>),
    Count(oneshot::Sender<u64>),
}

type Addr = Sender<Msg>;

/// Spawns a counter: counts tells and asks, answers `Ask(v)` with `v + 1`, returns its count.
fn spawn_counter() -> (Addr, JoinHandle<u64>) {
    let (tx, rx) = async_channel::bounded(MAILBOX_CAPACITY);
    let handle = tokio::spawn(async move {
        let mut count = 0u64;
        while let Ok(msg) = rx.recv().await {
            match msg {
                Msg::Tell(v) => {
                    std::hint::black_box(v);
                    count += 1;
                }
                Msg::Ask(v, reply) => {
                    count += 1;
                    let _ = reply.send(v + 1);
                }
                Msg::Count(reply) => {
                    let _ = reply.send(count);
                }
            }
        }
        count
    });
    (tx, handle)
}

async fn tell(addr: &Addr, v: u64) {
    addr.send(Msg::Tell(v)).await.expect("counter alive");
}

async fn ask(addr: &Addr, v: u64) -> u64 {
    let (tx, rx) = oneshot::channel();
    addr.send(Msg::Ask(v, tx)).await.expect("counter alive");
    rx.await.expect("counter replies")
}

async fn count(addr: &Addr) -> u64 {
    let (tx, rx) = oneshot::channel();
    addr.send(Msg::Count(tx)).await.expect("counter alive");
    rx.await.expect("counter replies")
}

async fn stop(addr: Addr, handle: JoinHandle<u64>) -> u64 {
    drop(addr);
    handle.await.expect("counter task")
}

/// One ping-pong player: forwards `n - 1` to its peer until `n == 1`; `0` stops it.
async fn player(rx: Receiver<u64>, peer: Sender<u64>, done: Arc<Latch>) -> u64 {
    let mut count = 0u64;
    while let Ok(n) = rx.recv().await {
        if n == 0 {
            break;
        }
        count += 1;
        if n == 1 {
            done.count_down();
        } else {
            peer.send(n - 1).await.expect("peer alive");
        }
    }
    count
}

/// Raw async-channel loop on a 2-worker Tokio runtime (`scaling`: one worker per core).
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
                assert_eq!(ask(&addr, i).await, i + 1);
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
                .map(|i| ask(&addr, i))
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

    /// See [`crate::Framework::spawn`]: "started" is the task's first poll, stop is dropping
    /// the sender. Bytes per actor include the sender the harness keeps.
    pub fn spawn(&self) -> (Duration, f64) {
        workload::run_on(&self.rt, async {
            let started = Latch::new(SPAWN_N);
            let stopped = Latch::new(SPAWN_N);
            workload::trim_heap();
            let rss_before = workload::rss_bytes();
            let start = Instant::now();
            let mut addrs = Vec::with_capacity(SPAWN_N as usize);
            for _ in 0..SPAWN_N {
                let (tx, rx) = async_channel::bounded::<u64>(MAILBOX_CAPACITY);
                let (started, stopped) = (started.clone(), stopped.clone());
                tokio::spawn(async move {
                    started.count_down();
                    while rx.recv().await.is_ok() {}
                    stopped.count_down();
                });
                addrs.push(tx);
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
            let (tx_a, rx_a) = async_channel::bounded(MAILBOX_CAPACITY);
            let (tx_b, rx_b) = async_channel::bounded(MAILBOX_CAPACITY);
            let a = tokio::spawn(player(rx_a, tx_b.clone(), done.clone()));
            let b = tokio::spawn(player(rx_b, tx_a.clone(), done.clone()));
            let start = Instant::now();
            tx_a.send(PINGPONG_HOPS).await.expect("player alive");
            done.wait().await;
            let elapsed = start.elapsed();
            tx_a.send(0).await.expect("player alive");
            tx_b.send(0).await.expect("player alive");
            let hops = a.await.expect("player task") + b.await.expect("player task");
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

crate::impl_framework!(Bench, "raw_async_channel");
