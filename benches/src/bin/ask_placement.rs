//! `ask_placement`: the `ask_pipelined` workload of playhouse on the 2-worker Tokio runtime,
//! recording on which worker thread each ask is made and each request is handled. It tells
//! whether a slow run comes from the asker and the actor running on different workers (every
//! message crossing cores) or from something else, and shows whether the runner's yield budget
//! still keeps an actor beside its sender (`docs/performance.md`, "Levers" and "What stands in
//! the way"; how to read it: `benches/README.md`).
//!
//! Each line: `<M/s> M/s, <same> of <n> requests handled on the asker's worker, asker moved
//! <a> times, actor moved <b> times`. The recording (a thread-local read and two relaxed atomics
//! per message) makes it slower than `cell playhouse ask_pipelined`; compare its lines with each
//! other, not with that figure.

use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use futures::StreamExt;
use playhouse::prelude::*;
use playhouse_benches::workload::{self, MAILBOX_CAPACITY, PIPELINE_DEPTH, PIPELINED_N};

/// Measured runs.
const RUNS: usize = 4;

/// The worker thread that last made an ask.
static ASKER: AtomicU64 = AtomicU64::new(0);
/// The worker thread that last handled a request.
static HANDLER: AtomicU64 = AtomicU64::new(0);
/// Requests handled on the thread of the last ask.
static SAME: AtomicU64 = AtomicU64::new(0);
/// Times the handler's thread differed from the one before.
static ACTOR_MOVES: AtomicU64 = AtomicU64::new(0);
/// Times the asking thread differed from the one before.
static ASKER_MOVES: AtomicU64 = AtomicU64::new(0);

/// A number for the current thread, unique in the process, never 0.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static NUMBER: Cell<u64> = const { Cell::new(0) });
    NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT.fetch_add(1, Relaxed));
        }
        n.get()
    })
}

/// Answers `v` with `v + 1`, recording where it ran.
struct Echo;

impl Actor for Echo {
    type Message = (u64, Reply<u64>);
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Echo {
    async fn handle(
        &mut self,
        (v, reply): (u64, Reply<u64>),
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let me = thread_number();
        if me == ASKER.load(Relaxed) {
            SAME.fetch_add(1, Relaxed);
        }
        if HANDLER.swap(me, Relaxed) != me {
            ACTOR_MOVES.fetch_add(1, Relaxed);
        }
        let _ = reply.send(v + 1);
        Ok(())
    }
}

async fn ask(addr: &ActorRef<Echo>, v: u64) -> u64 {
    let me = thread_number();
    if ASKER.swap(me, Relaxed) != me {
        ASKER_MOVES.fetch_add(1, Relaxed);
    }
    addr.ask(|r| (v, r)).await.expect("echo replies")
}

fn main() {
    let rt = workload::multi_thread_runtime();
    for _ in 0..RUNS {
        for counter in [&SAME, &ACTOR_MOVES, &ASKER_MOVES] {
            counter.store(0, Relaxed);
        }
        let elapsed = workload::run_on(&rt, async {
            let mailbox = Bounded::<Block>::with_capacity(MAILBOX_CAPACITY).expect("capacity");
            let addr = System::new(TokioExecutor::current())
                .spawner(mailbox)
                .spawn(Echo);
            let start = Instant::now();
            let sum = futures::stream::iter(0..PIPELINED_N)
                .map(|i| ask(&addr, i))
                .buffer_unordered(PIPELINE_DEPTH)
                .fold(0u64, |acc, r| async move { acc + r })
                .await;
            let elapsed = start.elapsed();
            assert_eq!(sum, workload::PIPELINED_REPLY_SUM);
            addr.stop();
            addr.wait().await;
            elapsed
        });
        println!(
            "{:.3} M/s, {} of {PIPELINED_N} requests handled on the asker's worker, asker moved {} \
             times, actor moved {} times",
            PIPELINED_N as f64 / elapsed.as_secs_f64() / 1e6,
            SAME.load(Relaxed),
            ASKER_MOVES.load(Relaxed),
            ACTOR_MOVES.load(Relaxed),
        );
    }
}
