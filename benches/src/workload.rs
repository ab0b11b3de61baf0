//! Workload sizes (from `shared/BENCHMARKS.md`) and helpers shared by every framework module.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
/// Messages in `restart` and `restart_serial`: each makes the actor's handler panic, so each
/// costs one restart.
pub const RESTART_N: u64 = 10_000;
/// The payload every restart workload's handler panics with; [`with_quiet_restart_panics`]
/// keeps exactly these panics from printing.
pub const RESTART_PANIC: &str = "playhouse-benches: the restart workload's deliberate panic";
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

/// What the restart workloads' actor reports: every incarnation's start hook calls
/// [`started`](Self::started), and its handler takes the [`Boom`] it got
/// ([`Boom::handle`]) before it panics; a `Boom` dropped unhandled counts as lost. The sender
/// waits through [`RestartMode::run`], which ends with [`check`](Self::check).
#[derive(Debug, Default)]
pub struct Incarnations {
    started: AtomicU64,
    handled: AtomicU64,
    /// Messages dropped before a handler took them (lost by the framework).
    lost: AtomicU64,
    /// Messages handled by another incarnation than the one they were due to (message `i`,
    /// 0-based, is due to the `i + 1`-th incarnation).
    out_of_turn: AtomicU64,
    /// The start count the waiter waits for; the start that reaches it wakes the waiter.
    target: AtomicU64,
    notify: Notify,
}

impl Incarnations {
    /// No incarnation started yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// An incarnation started. Only the start the waiter waits for wakes it, so a sender that
    /// waits for the last of many restarts is not woken by each of them.
    pub fn started(&self) {
        // SeqCst here and in `wait_started`: either this load sees the waiter's target, or the
        // waiter's load sees this start.
        let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.target.load(Ordering::SeqCst) {
            // Stores a permit if the waiter is not waiting yet: the wake-up is never lost.
            self.notify.notify_one();
        }
    }

    /// Waits until `n` incarnations have started in all, or a message was lost (then no more
    /// restarts may come; [`check`](Self::check) reports it). One waiter at a time.
    pub async fn wait_started(&self, n: u64) {
        self.target.store(n, Ordering::SeqCst);
        while self.started.load(Ordering::SeqCst) < n && self.lost.load(Ordering::SeqCst) == 0 {
            // A stale permit (from a start that reached the last target after the waiter had
            // seen it) only makes this loop check once more.
            self.notify.notified().await;
        }
    }

    /// Incarnations started so far.
    pub fn started_count(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Asserts that `n` messages were sent and each was handled by a fresh incarnation, the
    /// next one in turn: none lost, `n` handled, none out of turn, `n + 1` starts (the first
    /// incarnation and `n` restarts).
    pub fn check(&self, n: u64) {
        let lost = self.lost.load(Ordering::SeqCst);
        assert_eq!(
            lost, 0,
            "{lost} of {n} messages (or more) were dropped unhandled: the framework lost them"
        );
        assert_eq!(self.handled.load(Ordering::SeqCst), n, "messages handled");
        assert_eq!(
            self.out_of_turn.load(Ordering::SeqCst),
            0,
            "messages handled by another incarnation than the next one"
        );
        assert_eq!(
            self.started.load(Ordering::SeqCst),
            n + 1,
            "incarnations started"
        );
    }
}

/// A message of the restart workloads: the sender's index (0-based) and a ticket that counts
/// it as handled when a handler takes it ([`Boom::handle`]), or as lost when it is dropped
/// unhandled. (An `Arc` clone and drop per message, a few ns against a restart's µs.)
#[derive(Debug)]
pub struct Boom {
    i: u64,
    /// `None` once handled.
    incarnations: Option<Arc<Incarnations>>,
}

impl Boom {
    /// Message `i` of a run reporting to `incarnations`.
    pub fn new(i: u64, incarnations: Arc<Incarnations>) -> Self {
        Self {
            i,
            incarnations: Some(incarnations),
        }
    }

    /// The running incarnation handles this message; call it on the incarnation's task, after
    /// its start hook ran (so that its own start is counted). Returns the index.
    pub fn handle(mut self) -> u64 {
        let incarnations = self.incarnations.take().expect("handled once");
        incarnations.handled.fetch_add(1, Ordering::Relaxed);
        if incarnations.started.load(Ordering::Relaxed) != self.i + 1 {
            incarnations.out_of_turn.fetch_add(1, Ordering::Relaxed);
        }
        self.i
    }
}

impl Drop for Boom {
    fn drop(&mut self) {
        if let Some(incarnations) = self.incarnations.take() {
            incarnations.lost.fetch_add(1, Ordering::SeqCst);
            incarnations.notify.notify_one();
        }
    }
}

/// How the restart workloads send: [`BackToBack`](Self::BackToBack) for `restart`,
/// [`OneAtATime`](Self::OneAtATime) for `restart_serial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartMode {
    /// All [`RESTART_N`] messages are sent at once (as fast as the mailbox takes them), then the
    /// sender waits for the last restart: restarts overlap with sending.
    BackToBack,
    /// One message at a time: send it, wait until the next incarnation has started, repeat.
    /// Each step is a whole panic-restart round trip, including the wake-ups.
    OneAtATime,
}

impl RestartMode {
    /// Sends [`RESTART_N`] messages ([`Boom`] 0, 1, ...) through `send` and waits until every
    /// restart happened, in this mode; returns the time it took. The first incarnation must have
    /// started before (`incarnations.started_count() == 1`). Checks the result
    /// ([`Incarnations::check`]) after the clock stopped.
    pub async fn run<S, F>(self, incarnations: &Arc<Incarnations>, mut send: S) -> Duration
    where
        S: FnMut(Boom) -> F,
        F: Future<Output = ()>,
    {
        assert_eq!(
            incarnations.started_count(),
            1,
            "the first incarnation started"
        );
        let boom = |i| Boom::new(i, incarnations.clone());
        let start = std::time::Instant::now();
        match self {
            RestartMode::BackToBack => {
                for i in 0..RESTART_N {
                    send(boom(i)).await;
                }
                incarnations.wait_started(RESTART_N + 1).await;
            }
            RestartMode::OneAtATime => {
                for i in 0..RESTART_N {
                    send(boom(i)).await;
                    incarnations.wait_started(i + 2).await;
                }
            }
        }
        let elapsed = start.elapsed();
        incarnations.check(RESTART_N);
        elapsed
    }
}

/// The floor under every restart by panic: [`RESTART_N`] panics with [`RESTART_PANIC`], each
/// caught at once by `catch_unwind` on the calling thread, with no actor, task or executor
/// around it. Call it under [`with_quiet_restart_panics`] (the time includes the hook's call).
pub fn panic_floor() -> Duration {
    #[inline(never)]
    fn boom(i: u64) -> u64 {
        if std::hint::black_box(i) < u64::MAX {
            std::panic::panic_any(RESTART_PANIC);
        }
        i
    }
    let start = std::time::Instant::now();
    for i in 0..RESTART_N {
        let caught = std::panic::catch_unwind(|| boom(i));
        assert!(std::hint::black_box(caught).is_err(), "boom panics");
    }
    start.elapsed()
}

/// A panic hook, as `std::panic::take_hook` returns it.
type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static>;

/// Runs `f` with a panic hook that keeps the restart workloads' deliberate panics
/// ([`RESTART_PANIC`]) quiet and passes every other panic to the hook in place before, which is
/// put back afterwards. For the bench binaries, around the restart workloads only; not
/// reentrant, and not meant to overlap another thread's use of the panic hook.
pub fn with_quiet_restart_panics<T>(f: impl FnOnce() -> T) -> T {
    /// Puts the previous hook back when dropped, unless `f` panicked: the hook cannot be
    /// changed while the thread panics, and the quiet one passes that panic on anyway.
    struct Restore(Option<Arc<PanicHook>>);

    impl Drop for Restore {
        fn drop(&mut self) {
            if std::thread::panicking() {
                return;
            }
            // Drops the quiet hook, and with it its clone of the previous one.
            drop(std::panic::take_hook());
            let previous = self.0.take().expect("restored once");
            match Arc::try_unwrap(previous) {
                Ok(hook) => std::panic::set_hook(hook),
                Err(shared) => std::panic::set_hook(Box::new(move |info| shared(info))),
            }
        }
    }

    let previous = Arc::new(std::panic::take_hook());
    let chained = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload_as_str() != Some(RESTART_PANIC) {
            chained(info);
        }
    }));
    let _restore = Restore(Some(previous));
    f()
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

/// The ten workloads, for code that iterates over them.
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
    /// See [`Framework::restart`] with [`RestartMode::BackToBack`].
    Restart,
    /// See [`Framework::restart`] with [`RestartMode::OneAtATime`].
    RestartSerial,
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
    pub const ALL: [Workload; 10] = [
        Workload::Tell,
        Workload::TellContended,
        Workload::Ask,
        Workload::AskPipelined,
        Workload::Spawn,
        Workload::Fanout,
        Workload::PingPong,
        Workload::Scaling,
        Workload::Restart,
        Workload::RestartSerial,
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
            Workload::Restart => "restart",
            Workload::RestartSerial => "restart_serial",
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
            Workload::Restart | Workload::RestartSerial => RESTART_N,
        }
    }

    /// The restart mode of a restart workload, `None` for the others.
    pub fn restart_mode(self) -> Option<RestartMode> {
        match self {
            Workload::Restart => Some(RestartMode::BackToBack),
            Workload::RestartSerial => Some(RestartMode::OneAtATime),
            _ => None,
        }
    }

    /// Whether framework `F` runs this workload: every framework runs every workload but the
    /// restart ones, which need supervision ([`Framework::SUPERVISES`]); a restart-only
    /// framework ([`Framework::RESTART_ONLY`]) runs those alone.
    pub fn runs_on<F: Framework>(self) -> bool {
        if self.restart_mode().is_some() {
            F::SUPERVISES || F::RESTART_ONLY
        } else {
            !F::RESTART_ONLY
        }
    }

    /// Runs this workload once on `bench`; `None` where `F` does not run it ([`Self::runs_on`]).
    pub fn run<F: Framework>(self, bench: &F) -> Option<Measurement> {
        if !self.runs_on::<F>() {
            return None;
        }
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
            Workload::Restart => (bench.restart(RestartMode::BackToBack), None),
            Workload::RestartSerial => (bench.restart(RestartMode::OneAtATime), None),
        };
        Some(Measurement {
            elapsed,
            bytes_per_actor,
        })
    }

    /// The reported figure for one run's duration and its unit: M msgs/s for throughput
    /// workloads, ns per round trip, per actor, per hop or per restart otherwise.
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
            Workload::Restart | Workload::RestartSerial => (secs * 1e9 / n, "ns/restart"),
        }
    }
}
