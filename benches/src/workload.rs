//! Workload sizes (from `shared/BENCHMARKS.md`) and helpers shared by every framework module.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use crate::Framework;

/// Fire-and-forget sends in `tell` and `tell_contended`.
pub const TELL_N: u64 = 1_000_000;
/// Concurrent sender tasks in `tell_contended`.
pub const CONTENDED_SENDERS: u64 = 8;
/// Sends per sender task in `tell_contended`.
pub const CONTENDED_PER_SENDER: u64 = TELL_N / CONTENDED_SENDERS;
/// Sequential round trips in `ask`.
pub const ASK_N: u64 = 100_000;
/// Asks in flight at a time in `ask_pipelined`.
pub const PIPELINE_DEPTH: usize = 100;
/// Asks in total in `ask_pipelined`.
pub const PIPELINED_N: u64 = 200_000;
/// Actors spawned in `spawn`.
pub const SPAWN_N: u64 = 100_000;
/// Actors in `fanout`.
pub const FANOUT_ACTORS: u64 = 1_000;
/// Messages per actor in `fanout`.
pub const FANOUT_PER_ACTOR: u64 = 1_000;
/// Deliveries (hops) in `ping_pong`.
pub const PINGPONG_HOPS: u64 = 100_000;
/// Messages each sender tells its own actor in `scaling` (there are [`scaling_pairs`] pairs):
/// each pair sends as many as `tell`'s one sender.
pub const SCALING_PER_PAIR: u64 = TELL_N;
/// Mailbox capacity wherever a framework lets us choose it.
pub const MAILBOX_CAPACITY: usize = 1024;
/// Worker threads of the Tokio multi-thread runtime used by the multi-threaded peers.
pub const WORKER_THREADS: usize = 2;

const _: () = assert!(CONTENDED_PER_SENDER * CONTENDED_SENDERS == TELL_N);

/// Sum of the replies in `ask_pipelined`: every ask of `i` is answered with `i + 1`.
pub const PIPELINED_REPLY_SUM: u64 = PIPELINED_N * (PIPELINED_N + 1) / 2;

/// Resident set size of this process in bytes, from `/proc/self/statm` (0 where unavailable).
pub fn rss_bytes() -> u64 {
    const PAGE_SIZE: u64 = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE_SIZE)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// Whether [`trim_heap`] returns freed pages to the OS (the default).
static TRIM_HEAP: AtomicBool = AtomicBool::new(true);

/// Turns [`trim_heap`] on (the default) or off for the rest of the process.
///
/// Off, a workload that calls it starts on a warm heap: the memory the last run freed is still
/// resident (unless glibc trimmed it by itself) and is reused without page faults, but its RSS
/// delta no longer measures anything. The `cell` binary times `spawn` both ways.
pub fn set_heap_trimming(on: bool) {
    TRIM_HEAP.store(on, Ordering::Relaxed);
}

/// Returns freed heap pages to the OS (glibc only) so an RSS delta counts what is live now,
/// not what earlier iterations freed and the allocator kept resident. Does nothing after
/// `set_heap_trimming(false)`.
pub fn trim_heap() {
    if !TRIM_HEAP.load(Ordering::Relaxed) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: glibc's malloc_trim has no preconditions; it only releases free memory.
    unsafe {
        malloc_trim(0);
    }
}

/// Resident bytes per item between two RSS readings (0 if RSS shrank).
pub fn bytes_per(before: u64, after: u64, n: u64) -> f64 {
    after.saturating_sub(before) as f64 / n as f64
}

/// A count-down latch: `wait` completes once `count_down` was called `n` times.
#[derive(Debug)]
pub struct Latch {
    remaining: AtomicUsize,
    notify: Notify,
}

impl Latch {
    /// A latch that opens after `n` count-downs.
    pub fn new(n: u64) -> Arc<Self> {
        Arc::new(Self {
            remaining: AtomicUsize::new(n as usize),
            notify: Notify::new(),
        })
    }

    /// Records one event; the last one wakes the waiter.
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            // notify_one stores a permit if nobody waits yet, so the wake-up is never lost.
            self.notify.notify_one();
        }
    }

    /// Waits until every count-down happened (one waiter at a time).
    pub async fn wait(&self) {
        if self.remaining.load(Ordering::Acquire) != 0 {
            self.notify.notified().await;
        }
        debug_assert_eq!(self.remaining.load(Ordering::Acquire), 0);
    }
}

/// The Tokio multi-thread runtime (2 workers) the multi-threaded peers run on.
pub fn multi_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .build()
        .expect("build tokio runtime")
}

/// Sender/actor pairs in `scaling`: the cores this process may use
/// (`std::thread::available_parallelism`, at least 1), read once per process.
pub fn scaling_pairs() -> u64 {
    static PAIRS: OnceLock<u64> = OnceLock::new();
    *PAIRS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

/// The Tokio multi-thread runtime of `scaling`: one worker per pair ([`scaling_pairs`]), where
/// the other workloads use [`WORKER_THREADS`].
pub fn scaling_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(scaling_pairs() as usize)
        .build()
        .expect("build tokio runtime")
}

/// The [`scaling_runtime`] of one `Bench`, built on first use (outside the clock: before the
/// workload's task starts), so that the other workloads do not keep its idle workers around.
#[derive(Debug, Default)]
pub struct LazyScalingRuntime(OnceLock<Runtime>);

impl LazyScalingRuntime {
    /// The runtime, built on the first call.
    pub fn get(&self) -> &Runtime {
        self.0.get_or_init(scaling_runtime)
    }
}

/// Runs `fut` as a task on one of `rt`'s workers (not on the calling thread) and waits for it,
/// so the sender side competes for the same workers as the actors.
pub fn run_on<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(fut)).expect("workload task panicked")
}

/// The eight workloads, for code that iterates over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// See [`Framework::tell`].
    Tell,
    /// See [`Framework::tell_contended`].
    TellContended,
    /// See [`Framework::ask`].
    Ask,
    /// See [`Framework::ask_pipelined`].
    AskPipelined,
    /// See [`Framework::spawn`].
    Spawn,
    /// See [`Framework::fanout`].
    Fanout,
    /// See [`Framework::ping_pong`].
    PingPong,
    /// See [`Framework::scaling`].
    Scaling,
}

/// One run of a workload: the timed part and, for `spawn`, resident bytes per live actor.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// Duration of the timed part.
    pub elapsed: Duration,
    /// Resident bytes per live actor (`spawn` only).
    pub bytes_per_actor: Option<f64>,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 8] = [
        Workload::Tell,
        Workload::TellContended,
        Workload::Ask,
        Workload::AskPipelined,
        Workload::Spawn,
        Workload::Fanout,
        Workload::PingPong,
        Workload::Scaling,
    ];

    /// Name used as criterion group and by the `cell` binary.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Tell => "tell",
            Workload::TellContended => "tell_contended",
            Workload::Ask => "ask",
            Workload::AskPipelined => "ask_pipelined",
            Workload::Spawn => "spawn",
            Workload::Fanout => "fanout",
            Workload::PingPong => "ping_pong",
            Workload::Scaling => "scaling",
        }
    }

    /// Parses a name; `-` and `_` are interchangeable.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.replace('-', "_");
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Messages (or actors, or hops) one run handles: criterion's throughput elements. For
    /// `scaling` this depends on the core count ([`scaling_pairs`] × [`SCALING_PER_PAIR`]).
    pub fn elements(self) -> u64 {
        match self {
            Workload::Tell | Workload::TellContended => TELL_N,
            Workload::Ask => ASK_N,
            Workload::AskPipelined => PIPELINED_N,
            Workload::Spawn => SPAWN_N,
            Workload::Fanout => FANOUT_ACTORS * FANOUT_PER_ACTOR,
            Workload::PingPong => PINGPONG_HOPS,
            Workload::Scaling => scaling_pairs() * SCALING_PER_PAIR,
        }
    }

    /// Runs this workload once on `bench`.
    pub fn run<F: Framework>(self, bench: &F) -> Measurement {
        let (elapsed, bytes_per_actor) = match self {
            Workload::Tell => (bench.tell(), None),
            Workload::TellContended => (bench.tell_contended(), None),
            Workload::Ask => (bench.ask(), None),
            Workload::AskPipelined => (bench.ask_pipelined(), None),
            Workload::Spawn => {
                let (d, bytes) = bench.spawn();
                (d, Some(bytes))
            }
            Workload::Fanout => (bench.fanout(), None),
            Workload::PingPong => (bench.ping_pong(), None),
            Workload::Scaling => (bench.scaling(), None),
        };
        Measurement {
            elapsed,
            bytes_per_actor,
        }
    }

    /// The reported figure for one run's duration and its unit: M msgs/s for throughput
    /// workloads, ns per round trip, per actor or per hop otherwise.
    pub fn figure(self, elapsed: Duration) -> (f64, &'static str) {
        let n = self.elements() as f64;
        let secs = elapsed.as_secs_f64();
        match self {
            Workload::Tell
            | Workload::TellContended
            | Workload::AskPipelined
            | Workload::Fanout
            | Workload::Scaling => (n / secs / 1e6, "M msgs/s"),
            Workload::Ask => (secs * 1e9 / n, "ns/round trip"),
            Workload::Spawn => (secs * 1e9 / n, "ns/actor"),
            Workload::PingPong => (secs * 1e9 / n, "ns/hop"),
        }
    }
}
