//! Chaos under supervision, on every executor: a two-level tree of workers that panic or fail
//! at random while several tasks load them with tells and asks, then an exact account of every
//! message, the references kept across restarts, a normal stop, and flat memory.
//!
//! ```text
//! root (OneForOne, 1_000_000 restarts in 10 ms: never escalates)
//! ├── block        Bounded<Block>(16)       KeepQueue
//! ├── reject       Bounded<Reject>(8)       KeepQueue
//! └── group (OneForAll, 1_000_000 restarts in 10 ms)
//!     ├── unbounded    Unbounded              DrainQueue
//!     └── drop_oldest  Bounded<DropOldest>(8) KeepQueue
//! ```
//!
//! Each round, [`SENDERS`] tasks send [`PER_SENDER`] messages each (seeded xorshift: target,
//! tell or ask, and fate: about 1 in 50 panics or returns `Err`). Every ask is bounded by
//! `ask_timeout` ([`ASK_BOUND`]): one that times out fails the test instead of hanging it.
//!
//! # The account, per worker and per round
//!
//! `accepted` on the left; every accepted message falls in exactly one term on the right:
//!
//! - `accepted`: sends the sender saw accepted: `tell` returned `Ok`, or the `ask` was sent
//!   (it resolved with a value or with `NoReply`). Refused sends (`Full`, `Closed`) are not
//!   accepted; they are counted apart, and the test checks the message came back with them.
//! - `handled_ok`: the handler ran for the message and returned `Ok` (counted by the worker).
//! - `handled_crashed`: the handler ran for the message and panicked or returned `Err` (counted
//!   by the worker just before). A message whose handler crashed *was handled* for this
//!   account: the actor took it and acted on it, it is neither lost nor redelivered; its ask, if
//!   it is one, resolves with `NoReply::Panicked` (panic) or `NoReply::Dropped` (the handler
//!   returned `Err` holding the port).
//! - `dropped`: the mailbox's `dropped_count` (a `DropOldest` eviction; an evicted ask also
//!   resolves `NoReply::Overflow`).
//! - `discarded`: the mailbox's `discarded_count`, less the test's own flush requests that were
//!   discarded (a `DrainQueue` restart; a drained ask also resolves `NoReply::Drained`).
//! - `asks_failed_without_handling`: asks that resolved with an error although their handler
//!   never ran and no mailbox counter has them (`NoReply::Stopped`): expected 0 while the tree
//!   runs, but part of the identity so that such a loss is still reported, not missed.
//!
//! Identity: `accepted = handled_ok + handled_crashed + dropped + discarded +
//! asks_failed_without_handling`. It is checked split in two, which implies it:
//!
//! - asks: the worker's counts match what the askers saw, one for one: answered asks =
//!   asks handled `Ok`; `Panicked` = asks whose handler panicked; `Dropped` = asks whose handler
//!   returned `Err`; `Overflow` only on the `DropOldest` worker and at most its `dropped`;
//!   `Drained` only on the `DrainQueue` worker and at most its `discarded`.
//! - tells: `tells accepted = tells handled (ok + crashed) + (dropped − Overflow asks) +
//!   (discarded − Drained asks)`.
//!
//! Each message has a unique sequence number; the workers mark it in a shared bitmap, so a
//! message handled twice fails the test too. The counts are read after a flush barrier: each
//! worker is asked twice (in two passes) for a `Flush` that it answers after everything queued
//! before it, and that only a running incarnation answers, so every crash, restart and drain
//! of the round has happened by then.
//!
//! One handler in 8 suspends once before it acts, so that a group restart's request to end an
//! incarnation after its current message also meets handlers in the middle of one.
//!
//! Restarts are counted by the workers' factories: a root child is restarted exactly once per
//! crash; the two members of the OneForAll group always together, at most once per crash in the
//! group (a crash racing a group restart is absorbed by it, as in OTP). A round must have at
//! least [`MIN_RESTARTS`] (it has about 1,050: 40,000 messages, 1 in 50 crashing).
//!
//! Then: every worker's `ActorRef` (looked up with `sup.child::<A, MB>(id)`) and the nested
//! supervisor's are the same before and after each round; `sup.stop()` ends the tree and every
//! worker with a normal reason; and memory stays flat: a counting global allocator shows that
//! the live bytes and live blocks after round 2 exceed those after round 1 (which warmed the
//! buffers up) by at most [`BYTES_SLACK`] and [`BLOCKS_SLACK`], so a leak of one allocation per
//! restart (over 1,000 of them) fails the test however small it is.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

// The harness's `executor_tests!` is not used: see `serial` below.
#[allow(unused_macros)]
mod common;

use ::std::alloc::{GlobalAlloc, Layout, System as SystemAlloc};
use ::std::fmt;
use ::std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use ::std::sync::{Arc, Mutex, MutexGuard, Once};
use ::std::time::{Duration, Instant};

use common::{LONG, sleep, within};
use futures::channel::oneshot;
use playhouse::ActorId;
use playhouse::mailbox::{Block, Bounded, DropOldest, Reject, Unbounded};
use playhouse::prelude::*;
use playhouse::supervisor::SupervisorRef;

// ---------------------------------------------------------------------------------------------
// A counting allocator: live bytes and live blocks, process-wide.

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { SystemAlloc.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { SystemAlloc.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `SystemAlloc` with `layout` (through this allocator).
        unsafe { SystemAlloc.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let p = unsafe { SystemAlloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Live {
    bytes: isize,
    blocks: isize,
}

fn live() -> Live {
    Live {
        bytes: LIVE_BYTES.load(Ordering::SeqCst),
        blocks: LIVE_BLOCKS.load(Ordering::SeqCst),
    }
}

/// Live memory once it has stopped moving (tasks that just finished free their memory a little
/// after they have sent their last result).
async fn settled_live<E: Executor>(exec: &E) -> Live {
    sleep(exec, Duration::from_millis(30)).await;
    let mut last = live();
    for _ in 0..50 {
        sleep(exec, Duration::from_millis(10)).await;
        let now = live();
        if now == last {
            break;
        }
        last = now;
    }
    last
}

// ---------------------------------------------------------------------------------------------
// Serial runs.
//
// The allocator's counters are process-wide, and libtest runs the tests of a binary in parallel
// threads: another test's allocations would show in this one's figures. So every test of this
// file holds `SERIAL` for its whole run (taken *before* the harness's 30 s deadline starts, so
// that waiting for it does not eat into the deadline), and every executor variant can then make
// the memory assertion, not only one or two. Running the four variants one after the other
// costs little wall time: on a small machine they would compete for the same cores anyway.
// (The harness's `executor_tests!` takes no lock before its deadline starts, hence these four
// hand-written tests.)

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    quiet_chaos_panics();
    // A test that failed while holding it poisons it; the next still runs.
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const BOOM: &str = "chaos boom";

/// The workers panic a few hundred times per round: keep the default hook's line for each off
/// stderr (other panics, the test's own failures included, are still reported).
fn quiet_chaos_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = ::std::panic::take_hook();
        ::std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&BOOM) {
                previous(info);
            }
        }));
    });
}

mod tokio_multi {
    #[test]
    fn chaos() {
        let _serial = super::serial();
        super::common::run_tokio_multi(super::chaos);
    }
}

mod tokio_current {
    #[test]
    fn chaos() {
        let _serial = super::serial();
        super::common::run_tokio_current(super::chaos);
    }
}

mod smol {
    #[test]
    fn chaos() {
        let _serial = super::serial();
        super::common::run_smol(super::chaos);
    }
}

mod std {
    #[test]
    fn chaos() {
        let _serial = super::serial();
        super::common::run_std(super::chaos);
    }
}

// ---------------------------------------------------------------------------------------------
// The load.

const SENDERS: u32 = 4;
const PER_SENDER: u32 = 10_000;
const PER_ROUND: u32 = SENDERS * PER_SENDER;
const ROUNDS: u32 = 2;
/// One message in `CRASH_ONE_IN` crashes its handler (half panic, half `Err`).
const CRASH_ONE_IN: u64 = 50;
/// One message in `ASK_ONE_IN` is an ask.
const ASK_ONE_IN: u64 = 3;
/// No ask may take longer: it would be a hang.
const ASK_BOUND: Duration = LONG;
/// How much the live bytes may grow from the end of round 1 to the end of round 2.
const BYTES_SLACK: isize = 64 * 1024;
/// How much the live blocks may grow from the end of round 1 to the end of round 2: far fewer
/// than the restarts of a round (at least [`MIN_RESTARTS`]), so that one allocation leaked per
/// restart fails the test even if it is small.
const BLOCKS_SLACK: isize = 64;
/// The restarts a round must have for the memory check to mean something.
const MIN_RESTARTS: u64 = 300;

/// xorshift64*: deterministic, seeded per sender and round.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Ok,
    Panic,
    Fail,
}

enum Job {
    Tell {
        seq: u32,
        fate: Fate,
    },
    Ask {
        seq: u32,
        fate: Fate,
        reply: Reply<u32>,
    },
    /// The test's barrier, not part of the account: answered once everything queued before it
    /// has been handled.
    Flush(Reply<()>),
}

impl Job {
    fn seq(&self) -> Option<u32> {
        match self {
            Job::Tell { seq, .. } | Job::Ask { seq, .. } => Some(*seq),
            Job::Flush(_) => None,
        }
    }
}

#[derive(Debug)]
struct ChaosError;

impl fmt::Display for ChaosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chaos error")
    }
}

impl ::std::error::Error for ChaosError {}

/// What a worker counts, across its incarnations.
#[derive(Default)]
struct Stats {
    /// Factory calls: 1 + restarts.
    incarnations: AtomicU64,
    ok_tells: AtomicU64,
    ok_asks: AtomicU64,
    panicked_tells: AtomicU64,
    panicked_asks: AtomicU64,
    failed_tells: AtomicU64,
    failed_asks: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct StatsSnap {
    incarnations: u64,
    ok_tells: u64,
    ok_asks: u64,
    panicked_tells: u64,
    panicked_asks: u64,
    failed_tells: u64,
    failed_asks: u64,
}

impl Stats {
    fn snap(&self) -> StatsSnap {
        let r = |a: &AtomicU64| a.load(Ordering::SeqCst);
        StatsSnap {
            incarnations: r(&self.incarnations),
            ok_tells: r(&self.ok_tells),
            ok_asks: r(&self.ok_asks),
            panicked_tells: r(&self.panicked_tells),
            panicked_asks: r(&self.panicked_asks),
            failed_tells: r(&self.failed_tells),
            failed_asks: r(&self.failed_asks),
        }
    }
}

impl StatsSnap {
    fn minus(self, o: StatsSnap) -> StatsSnap {
        StatsSnap {
            incarnations: self.incarnations - o.incarnations,
            ok_tells: self.ok_tells - o.ok_tells,
            ok_asks: self.ok_asks - o.ok_asks,
            panicked_tells: self.panicked_tells - o.panicked_tells,
            panicked_asks: self.panicked_asks - o.panicked_asks,
            failed_tells: self.failed_tells - o.failed_tells,
            failed_asks: self.failed_asks - o.failed_asks,
        }
    }

    fn crashed(&self) -> u64 {
        self.panicked_tells + self.panicked_asks + self.failed_tells + self.failed_asks
    }
}

/// Which sequence numbers have been handled (any worker), and how many twice.
struct Seen {
    bits: Vec<AtomicU64>,
    twice: AtomicU64,
}

impl Seen {
    fn new(messages: u32) -> Self {
        Seen {
            bits: (0..messages.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            twice: AtomicU64::new(0),
        }
    }

    fn mark(&self, seq: u32) {
        let bit = 1u64 << (seq % 64);
        if self.bits[(seq / 64) as usize].fetch_or(bit, Ordering::SeqCst) & bit != 0 {
            self.twice.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The worker: counts, then does what the message's fate says.
struct Chaos {
    stats: Arc<Stats>,
    seen: Arc<Seen>,
}

impl Actor for Chaos {
    type Message = Job;
    type Error = ChaosError;
}

impl<V: Env> Handler<V> for Chaos {
    async fn handle(&mut self, job: Job, _ctx: &mut Context<Self, V>) -> Result<(), ChaosError> {
        let bump = |a: &AtomicU64| {
            a.fetch_add(1, Ordering::SeqCst);
        };
        // Some handlers suspend once before they act, so that a group restart's request to end
        // an incarnation (after its current message) also finds handlers in the middle of one.
        if job.seq().is_some_and(|seq| seq % 8 == 5) {
            YieldNow(false).await;
        }
        match job {
            Job::Tell { seq, fate } => {
                self.seen.mark(seq);
                match fate {
                    Fate::Ok => bump(&self.stats.ok_tells),
                    Fate::Panic => {
                        bump(&self.stats.panicked_tells);
                        panic!("chaos boom");
                    }
                    Fate::Fail => {
                        bump(&self.stats.failed_tells);
                        return Err(ChaosError);
                    }
                }
            }
            Job::Ask { seq, fate, reply } => {
                self.seen.mark(seq);
                match fate {
                    Fate::Ok => {
                        bump(&self.stats.ok_asks);
                        let _ = reply.send(seq);
                    }
                    Fate::Panic => {
                        bump(&self.stats.panicked_asks);
                        panic!("chaos boom");
                    }
                    Fate::Fail => {
                        bump(&self.stats.failed_asks);
                        return Err(ChaosError);
                    }
                }
            }
            Job::Flush(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// Returns `Pending` once (waking itself at once), then `Ready`.
struct YieldNow(bool);

impl ::std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: ::std::pin::Pin<&mut Self>,
        cx: &mut ::std::task::Context<'_>,
    ) -> ::std::task::Poll<()> {
        if self.0 {
            return ::std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        ::std::task::Poll::Pending
    }
}

fn factory(stats: &Arc<Stats>, seen: &Arc<Seen>) -> impl FnMut() -> Chaos + Send + 'static {
    let (stats, seen) = (stats.clone(), seen.clone());
    move || {
        stats.incarnations.fetch_add(1, Ordering::SeqCst);
        Chaos {
            stats: stats.clone(),
            seen: seen.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tree and its workers.

const NAMES: [&str; 4] = ["block", "reject", "unbounded", "drop_oldest"];
const BLOCK: usize = 0;
const REJECT: usize = 1;
const UNBOUNDED: usize = 2;
const DROP_OLDEST: usize = 3;

#[derive(Clone)]
struct Workers {
    block: ActorRef<Chaos, Bounded<Block>>,
    reject: ActorRef<Chaos, Bounded<Reject>>,
    unbounded: ActorRef<Chaos, Unbounded>,
    drop_oldest: ActorRef<Chaos, Bounded<DropOldest>>,
}

impl Workers {
    async fn look_up<E: Executor>(sup: &SupervisorRef<E>) -> (Workers, SupervisorRef<E>) {
        let group = sup.child_supervisor("group").await.expect("group");
        let workers = Workers {
            block: sup.child("block").await.expect("block"),
            reject: sup.child("reject").await.expect("reject"),
            unbounded: group.child("unbounded").await.expect("unbounded"),
            drop_oldest: group.child("drop_oldest").await.expect("drop_oldest"),
        };
        (workers, group)
    }

    fn ids(&self) -> [ActorId; 4] {
        [
            self.block.id(),
            self.reject.id(),
            self.unbounded.id(),
            self.drop_oldest.id(),
        ]
    }

    fn counters(&self) -> [(u64, u64); 4] {
        let c = |d: u64, x: u64| (d, x);
        [
            c(self.block.dropped_count(), self.block.discarded_count()),
            c(self.reject.dropped_count(), self.reject.discarded_count()),
            c(
                self.unbounded.dropped_count(),
                self.unbounded.discarded_count(),
            ),
            c(
                self.drop_oldest.dropped_count(),
                self.drop_oldest.discarded_count(),
            ),
        ]
    }

    fn mailbox_lens(&self) -> [usize; 4] {
        [
            self.block.mailbox_len(),
            self.reject.mailbox_len(),
            self.unbounded.mailbox_len(),
            self.drop_oldest.mailbox_len(),
        ]
    }
}

fn tree<E: Executor>(stats: &[Arc<Stats>; 4], seen: &Arc<Seen>) -> SupervisorSpec<E> {
    // Never escalates. The period is short on purpose: a supervisor remembers the time of each
    // restart within the last period (OTP's restart list, a `VecDeque<Instant>`), so its memory
    // is bounded by period × restart rate. With a period as long as the whole run (1 s), every
    // restart of both rounds would be remembered and the second round would grow the list past
    // the first's high-water mark: not a leak, but it blurs the memory check (with 100 ms and a
    // harsher load, 1 crash in 10 and 8 senders, the list's doubling showed as +64..120 KiB,
    // with no more live blocks). With 10 ms the list stays small and its pruning is exercised.
    let never_escalate = (1_000_000, Duration::from_millis(10));
    let (u_stats, d_stats, seen2) = (
        stats[UNBOUNDED].clone(),
        stats[DROP_OLDEST].clone(),
        seen.clone(),
    );
    SupervisorSpec::new(Strategy::OneForOne)
        .name("root")
        .intensity(never_escalate.0, never_escalate.1)
        .child(
            ChildSpec::new("block", factory(&stats[BLOCK], seen))
                .mailbox(Bounded::<Block>::with_capacity(16).unwrap()),
        )
        .child(
            ChildSpec::new("reject", factory(&stats[REJECT], seen))
                .mailbox(Bounded::<Reject>::with_capacity(8).unwrap()),
        )
        .child(ChildSpec::supervisor("group", move || {
            SupervisorSpec::new(Strategy::OneForAll)
                .intensity(never_escalate.0, never_escalate.1)
                .child(
                    ChildSpec::new("unbounded", factory(&u_stats, &seen2))
                        .mailbox(Unbounded)
                        .on_restart(OnRestart::DrainQueue),
                )
                .child(
                    ChildSpec::new("drop_oldest", factory(&d_stats, &seen2))
                        .mailbox(Bounded::<DropOldest>::with_capacity(8).unwrap()),
                )
        }))
}

// ---------------------------------------------------------------------------------------------
// The senders.

/// What the senders saw, per worker.
#[derive(Clone, Copy, Debug, Default)]
struct Sent {
    tells_accepted: u64,
    tells_full: u64,
    tells_closed: u64,
    asks_sent: u64,
    asks_full: u64,
    asks_closed: u64,
    asks_answered: u64,
    asks_panicked: u64,
    /// `NoReply::Dropped`: the handler returned `Err` holding the port.
    asks_dropped: u64,
    asks_overflow: u64,
    asks_drained: u64,
    asks_stopped: u64,
}

impl Sent {
    fn add(&mut self, o: &Sent) {
        self.tells_accepted += o.tells_accepted;
        self.tells_full += o.tells_full;
        self.tells_closed += o.tells_closed;
        self.asks_sent += o.asks_sent;
        self.asks_full += o.asks_full;
        self.asks_closed += o.asks_closed;
        self.asks_answered += o.asks_answered;
        self.asks_panicked += o.asks_panicked;
        self.asks_dropped += o.asks_dropped;
        self.asks_overflow += o.asks_overflow;
        self.asks_drained += o.asks_drained;
        self.asks_stopped += o.asks_stopped;
    }
}

/// Sends one message; `Err` for what must fail the test (a hang, a wrong answer, a message not
/// handed back).
async fn send_one<MB: Mailbox>(
    to: &ActorRef<Chaos, MB>,
    name: &str,
    seq: u32,
    fate: Fate,
    ask: bool,
    t: &mut Sent,
) -> Result<(), String> {
    let handed_back = |m: Job, what: &str| -> Result<(), String> {
        match m.seq() {
            Some(s) if s == seq => Ok(()),
            other => Err(format!(
                "{what} {seq} to {name}: handed back {other:?} instead"
            )),
        }
    };
    if !ask {
        return match to.tell(Job::Tell { seq, fate }).await {
            Ok(()) => {
                t.tells_accepted += 1;
                Ok(())
            }
            Err(SendError::Full(m)) => {
                t.tells_full += 1;
                handed_back(m, "refused tell")
            }
            Err(SendError::Closed(m)) => {
                t.tells_closed += 1;
                handed_back(m, "refused tell")
            }
        };
    }
    let result = to
        .ask_timeout(|reply| Job::Ask { seq, fate, reply }, ASK_BOUND)
        .await;
    match result {
        Ok(answer) => {
            t.asks_sent += 1;
            t.asks_answered += 1;
            if answer != seq || fate != Fate::Ok {
                return Err(format!(
                    "ask {seq} ({fate:?}) to {name} was answered {answer}"
                ));
            }
            Ok(())
        }
        Err(AskError::NoReply(why)) => {
            t.asks_sent += 1;
            let expected = match why {
                NoReply::Panicked => {
                    t.asks_panicked += 1;
                    fate == Fate::Panic
                }
                NoReply::Dropped => {
                    t.asks_dropped += 1;
                    fate == Fate::Fail
                }
                NoReply::Overflow => {
                    t.asks_overflow += 1;
                    name == NAMES[DROP_OLDEST]
                }
                NoReply::Drained => {
                    t.asks_drained += 1;
                    name == NAMES[UNBOUNDED]
                }
                NoReply::Stopped => {
                    t.asks_stopped += 1;
                    true
                }
                // No mailbox here expires its messages.
                NoReply::Expired => false,
            };
            if expected {
                Ok(())
            } else {
                Err(format!("ask {seq} ({fate:?}) to {name}: NoReply::{why:?}"))
            }
        }
        Err(AskError::Full(m)) => {
            t.asks_full += 1;
            handed_back(m, "refused ask")
        }
        Err(AskError::Closed(m)) => {
            t.asks_closed += 1;
            handed_back(m, "refused ask")
        }
        Err(AskError::Timeout(m)) => Err(format!(
            "ask {seq} ({fate:?}) to {name} hung for {ASK_BOUND:?} ({})",
            if m.is_some() {
                "still waiting for room"
            } else {
                "accepted, no answer"
            }
        )),
        Err(AskError::Deadlock(_)) => Err(format!("ask {seq} to {name}: Deadlock")),
        Err(AskError::HandlerError(never)) => match never {},
    }
}

async fn sender(workers: Workers, seed: u64, first_seq: u32) -> Result<[Sent; 4], String> {
    let mut rng = Rng::new(seed);
    let mut tally = [Sent::default(); 4];
    for seq in first_seq..first_seq + PER_SENDER {
        let w = rng.below(4) as usize;
        let fate = if rng.one_in(CRASH_ONE_IN) {
            if rng.one_in(2) {
                Fate::Panic
            } else {
                Fate::Fail
            }
        } else {
            Fate::Ok
        };
        let ask = rng.one_in(ASK_ONE_IN);
        let t = &mut tally[w];
        match w {
            BLOCK => send_one(&workers.block, NAMES[w], seq, fate, ask, t).await?,
            REJECT => send_one(&workers.reject, NAMES[w], seq, fate, ask, t).await?,
            UNBOUNDED => send_one(&workers.unbounded, NAMES[w], seq, fate, ask, t).await?,
            _ => send_one(&workers.drop_oldest, NAMES[w], seq, fate, ask, t).await?,
        }
    }
    Ok(tally)
}

/// Asks `to` for a flush until one is answered; returns how many flushes the mailbox dropped
/// and discarded (to take them out of its counters).
async fn flush<E: Executor, MB: Mailbox>(
    exec: &E,
    to: &ActorRef<Chaos, MB>,
    name: &str,
) -> (u64, u64) {
    let (mut dropped, mut discarded) = (0, 0);
    let deadline = Instant::now() + LONG;
    loop {
        assert!(
            Instant::now() < deadline,
            "flushing {name} took over {LONG:?}"
        );
        match to.ask_timeout(Job::Flush, ASK_BOUND).await {
            Ok(()) => return (dropped, discarded),
            Err(AskError::NoReply(NoReply::Drained)) => discarded += 1,
            Err(AskError::NoReply(NoReply::Overflow)) => dropped += 1,
            Err(AskError::Full(_)) => sleep(exec, Duration::from_millis(1)).await,
            Err(e) => panic!(
                "flushing {name}: {}",
                match e {
                    AskError::NoReply(why) => format!("NoReply::{why:?}"),
                    AskError::Timeout(_) => format!("no answer in {ASK_BOUND:?}"),
                    other => format!("{other:?}"),
                }
            ),
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Tell { seq, fate } => write!(f, "Tell({seq}, {fate:?})"),
            Job::Ask { seq, fate, .. } => write!(f, "Ask({seq}, {fate:?})"),
            Job::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// Two passes of flushes over every worker: the first waits for everything the senders had
/// queued, the second for the restarts the first may have left under way (a group restart
/// triggered by one member restarts the other after it). Returns the flushes each mailbox
/// dropped and discarded.
async fn flush_all<E: Executor>(exec: &E, w: &Workers) -> [(u64, u64); 4] {
    let mut control = [(0, 0); 4];
    for _pass in 0..2 {
        let got = [
            flush(exec, &w.block, NAMES[BLOCK]).await,
            flush(exec, &w.reject, NAMES[REJECT]).await,
            flush(exec, &w.unbounded, NAMES[UNBOUNDED]).await,
            flush(exec, &w.drop_oldest, NAMES[DROP_OLDEST]).await,
        ];
        for (c, g) in control.iter_mut().zip(got) {
            c.0 += g.0;
            c.1 += g.1;
        }
    }
    control
}

// ---------------------------------------------------------------------------------------------
// The test.

/// One round's figures, per worker.
#[derive(Clone, Copy, Debug, Default)]
struct Account {
    sent: Sent,
    handled: StatsSnap,
    dropped: u64,
    discarded: u64,
}

impl Account {
    fn accepted(&self) -> u64 {
        self.sent.tells_accepted + self.sent.asks_sent
    }
    fn handled_ok(&self) -> u64 {
        self.handled.ok_tells + self.handled.ok_asks
    }
    fn handled_crashed(&self) -> u64 {
        self.handled.crashed()
    }
    fn asks_failed_without_handling(&self) -> u64 {
        self.sent.asks_stopped
    }
    fn refused(&self) -> u64 {
        self.sent.tells_full + self.sent.tells_closed + self.sent.asks_full + self.sent.asks_closed
    }
    fn restarts(&self) -> u64 {
        self.handled.incarnations
    }
}

/// Checks one worker's account for one round (see the file's docs).
fn check(name: &str, when: &str, a: &Account) {
    let s = &a.sent;
    let h = &a.handled;
    let ctx = format!("{when}, {name}: {a:?}");
    // Asks, one for one.
    assert_eq!(
        s.asks_answered, h.ok_asks,
        "answered asks vs asks handled Ok; {ctx}"
    );
    assert_eq!(
        s.asks_panicked, h.panicked_asks,
        "Panicked asks vs asks whose handler panicked; {ctx}"
    );
    assert_eq!(
        s.asks_dropped, h.failed_asks,
        "Dropped asks vs asks whose handler returned Err; {ctx}"
    );
    assert!(
        s.asks_overflow <= a.dropped,
        "Overflow asks beyond dropped_count; {ctx}"
    );
    assert!(
        s.asks_drained <= a.discarded,
        "Drained asks beyond discarded_count; {ctx}"
    );
    // Tells.
    assert_eq!(
        s.tells_accepted,
        h.ok_tells
            + h.panicked_tells
            + h.failed_tells
            + (a.dropped - s.asks_overflow)
            + (a.discarded - s.asks_drained),
        "tells accepted vs tells handled + dropped + discarded; {ctx}"
    );
    // The identity.
    assert_eq!(
        a.accepted(),
        a.handled_ok()
            + a.handled_crashed()
            + a.asks_failed_without_handling()
            + a.dropped
            + a.discarded,
        "accepted = handled_ok + handled_crashed + asks_failed_without_handling + dropped + discarded; {ctx}"
    );
    // Nothing closed or stopped while the tree runs.
    assert_eq!(
        s.tells_closed + s.asks_closed,
        0,
        "a send found the mailbox closed; {ctx}"
    );
    assert_eq!(s.asks_stopped, 0, "an ask resolved NoReply::Stopped; {ctx}");
}

async fn chaos<E: Executor>(exec: E) {
    let started = Instant::now();
    // The test thread is named after the test: `tokio_multi::chaos`, `std::chaos`, …
    let variant = ::std::thread::current().name().unwrap_or("?").to_owned();
    // `CHAOS_SEED=<u64>` explores other interleavings of fates; the default is fixed.
    let base_seed = ::std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0xC4A0_5EED);
    let system = System::new(exec.clone());
    let seen = Arc::new(Seen::new(ROUNDS * PER_ROUND));
    let stats: [Arc<Stats>; 4] = Default::default();

    let sup = tree::<E>(&stats, &seen)
        .start(&system)
        .await
        .expect("the tree starts");
    let (workers, group) = Workers::look_up(&sup).await;
    let ids = workers.ids();
    let group_id = group.id();
    drop(group);

    // Made before the first measurement, so that it is in both.
    let mut lives = Vec::with_capacity(ROUNDS as usize);
    let mut before_stats: [StatsSnap; 4] = ::std::array::from_fn(|i| stats[i].snap());
    let mut before_counters = workers.counters();
    let mut control_total = [(0u64, 0u64); 4];
    let mut totals = [Account::default(); 4];
    for round in 0..ROUNDS {
        let round_start = Instant::now();
        // The load.
        let mut results = Vec::new();
        for s in 0..SENDERS {
            let (tx, rx) = oneshot::channel();
            let w = workers.clone();
            let seed = base_seed ^ (u64::from(round) << 32) ^ u64::from(s);
            let first = round * PER_ROUND + s * PER_SENDER;
            exec.spawn(async move {
                let _ = tx.send(sender(w, seed, first).await);
            });
            results.push(rx);
        }
        let mut sent = [Sent::default(); 4];
        for rx in results {
            let tally = within(&exec, LONG + LONG, rx)
                .await
                .expect("a sender task ended without reporting")
                .unwrap_or_else(|e| panic!("seed {base_seed:#x}, round {round}: {e}"));
            for (total, t) in sent.iter_mut().zip(tally.iter()) {
                total.add(t);
            }
        }
        // The barrier, then the account.
        let control = flush_all(&exec, &workers).await;
        assert_eq!(
            workers.mailbox_lens(),
            [0; 4],
            "round {round}: queues empty after the flushes"
        );
        let after_stats: [StatsSnap; 4] = ::std::array::from_fn(|i| stats[i].snap());
        let after_counters = workers.counters();
        let mut accounts = [Account::default(); 4];
        for i in 0..4 {
            accounts[i] = Account {
                sent: sent[i],
                handled: after_stats[i].minus(before_stats[i]),
                dropped: after_counters[i].0 - before_counters[i].0 - control[i].0,
                discarded: after_counters[i].1 - before_counters[i].1 - control[i].1,
            };
            check(NAMES[i], &format!("round {round}"), &accounts[i]);
            control_total[i].0 += control[i].0;
            control_total[i].1 += control[i].1;
        }
        // Restarts: a root child once per crash; the group's members together, at most once per
        // crash in the group.
        for i in [BLOCK, REJECT] {
            assert_eq!(
                accounts[i].restarts(),
                accounts[i].handled_crashed(),
                "round {round}, {}: restarts vs crashes",
                NAMES[i]
            );
        }
        let group_crashes =
            accounts[UNBOUNDED].handled_crashed() + accounts[DROP_OLDEST].handled_crashed();
        let group_restarts = accounts[UNBOUNDED].restarts();
        assert_eq!(
            group_restarts,
            accounts[DROP_OLDEST].restarts(),
            "round {round}: the group restarts together"
        );
        assert!(
            group_restarts <= group_crashes && (group_crashes == 0 || group_restarts > 0),
            "round {round}: {group_restarts} group restarts for {group_crashes} crashes"
        );
        let restarts: u64 = accounts.iter().map(Account::restarts).sum();
        assert!(
            restarts >= MIN_RESTARTS,
            "round {round}: only {restarts} restarts"
        );
        // No message handled twice.
        assert_eq!(
            seen.twice.load(Ordering::SeqCst),
            0,
            "a message was handled twice"
        );
        // The references stayed the same.
        let (again, group) = Workers::look_up(&sup).await;
        assert_eq!(
            again.ids(),
            ids,
            "round {round}: a worker's reference changed"
        );
        assert_eq!(
            group.id(),
            group_id,
            "round {round}: the group's reference changed"
        );
        drop((again, group));

        let l = settled_live(&exec).await;
        lives.push(l);
        let sum = |f: fn(&Account) -> u64| accounts.iter().map(f).sum::<u64>();
        println!(
            "{} seed {base_seed:#x} round {round}: {} ms; accepted {} = handled_ok {} + handled_crashed {} + asks_failed_without_handling {} + dropped {} + discarded {}; refused {}; asks: sent {}, answered {}, Panicked {}, Dropped {}, Overflow {}, Drained {}; restarts {} (block {}, reject {}, group {} for {} crashes); live {} B in {} blocks",
            variant,
            round_start.elapsed().as_millis(),
            sum(Account::accepted),
            sum(Account::handled_ok),
            sum(Account::handled_crashed),
            sum(Account::asks_failed_without_handling),
            sum(|a| a.dropped),
            sum(|a| a.discarded),
            sum(Account::refused),
            sum(|a| a.sent.asks_sent),
            sum(|a| a.sent.asks_answered),
            sum(|a| a.sent.asks_panicked),
            sum(|a| a.sent.asks_dropped),
            sum(|a| a.sent.asks_overflow),
            sum(|a| a.sent.asks_drained),
            restarts,
            accounts[BLOCK].restarts(),
            accounts[REJECT].restarts(),
            group_restarts,
            group_crashes,
            l.bytes,
            l.blocks,
        );
        for (t, a) in totals.iter_mut().zip(accounts.iter()) {
            t.sent.add(&a.sent);
            t.dropped += a.dropped;
            t.discarded += a.discarded;
        }
        before_stats = after_stats;
        before_counters = after_counters;
    }

    // The whole run, from the workers' own totals.
    for i in 0..4 {
        let mut total = totals[i];
        total.handled = stats[i].snap();
        total.handled.incarnations -= 1;
        check(NAMES[i], "the whole run", &total);
    }
    assert_eq!(
        workers.counters(),
        ::std::array::from_fn::<_, 4, _>(|i| (
            totals[i].dropped + control_total[i].0,
            totals[i].discarded + control_total[i].1
        )),
        "the mailbox counters over the whole run"
    );

    // Restarts leak nothing: the second round of the same load leaves no more live memory than
    // the first (which warmed up the buffers).
    let (first, second) = (lives[0], lives[1]);
    assert!(
        second.bytes - first.bytes <= BYTES_SLACK,
        "live bytes grew by {} B from round 1 to round 2 ({first:?} -> {second:?})",
        second.bytes - first.bytes
    );
    assert!(
        second.blocks - first.blocks <= BLOCKS_SLACK,
        "live blocks grew by {} from round 1 to round 2 ({first:?} -> {second:?})",
        second.blocks - first.blocks
    );

    // The tree stops with a normal reason, its workers with it.
    sup.stop();
    let reason = within(&exec, LONG, sup.wait()).await;
    assert!(reason.is_normal(), "the tree ended with {reason:?}");
    for (name, reason) in NAMES.iter().zip([
        within(&exec, LONG, workers.block.wait()).await,
        within(&exec, LONG, workers.reject.wait()).await,
        within(&exec, LONG, workers.unbounded.wait()).await,
        within(&exec, LONG, workers.drop_oldest.wait()).await,
    ]) {
        assert!(reason.is_normal(), "{name} ended with {reason:?}");
    }
    match workers
        .block
        .tell(Job::Tell {
            seq: 0,
            fate: Fate::Ok,
        })
        .await
    {
        Err(SendError::Closed(Job::Tell { seq: 0, .. })) => {}
        other => panic!("a tell after the stop: {other:?}"),
    }
    drop(workers);
    drop(sup);
    let after_stop = settled_live(&exec).await;
    println!(
        "{}: {} ms in all; live after round 1 {first:?}, after round 2 {second:?} ({:+} B, {:+} blocks), after the stop {after_stop:?}",
        variant,
        started.elapsed().as_millis(),
        second.bytes - first.bytes,
        second.blocks - first.blocks,
    );
}
