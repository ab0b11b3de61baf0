//! What starting many timers in one handler costs, and cancelling them all when the actor ends
//! (issue #16, item 6: tracking a timer rescanned every live one, so n starts cost O(n²)).
//!
//! For n = 1,000, 10,000 and 100,000, a fresh actor is asked to start n `run_later(1 h)`
//! timers in one handler; then it is stopped, which cancels them all, and waited for.
//!
//! - `timers_start/n`: from the ask to its answer (the n starts).
//! - `timers_start_and_cancel/n`: the same, plus the stop and the `wait()` (the n cancels).
//!
//! Throughput is in timers, so linear cost shows as the same rate for every n. On a 2-worker
//! Tokio runtime. Run with `cargo bench -p playhouse-benches --bench timers`.
//!
//! - `tokio_sleep/bare` and `tokio_sleep/executor`: one timer made an hour ahead, polled once
//!   (registered in Tokio's timer wheel) and dropped, inside the runtime: a bare
//!   `tokio::time::Sleep`, the floor, beside `TokioExecutor::sleep_until`, whose timer also
//!   enters the runtime's context (so that it can be made off the runtime) and is polled through
//!   the adapter's shutdown gate (so that it ends, rather than panics, after the runtime shut
//!   down).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use playhouse::prelude::*;

const HOUR: Duration = Duration::from_secs(3600);
const COUNTS: [u64; 3] = [1_000, 10_000, 100_000];

struct Starter;

enum Msg {
    /// Starts this many `run_later(1 h)` timers, then answers.
    Start(u64, Reply<()>),
    Tick,
}

impl Actor for Starter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Starter {
    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Start(n, reply) => {
                for _ in 0..n {
                    ctx.run_later(HOUR, Msg::Tick);
                }
                let _ = reply.send(());
            }
            Msg::Tick => unreachable!("a one-hour timer fired"),
        }
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Starts `n` timers in a fresh actor; returns the time the starts took and the time they and
/// the cancels took.
async fn run(system: &System<TokioExecutor>, n: u64) -> (Duration, Duration) {
    let actor = system.spawn(Starter);
    let start = Instant::now();
    actor.ask(|r| Msg::Start(n, r)).await.unwrap();
    let started = start.elapsed();
    actor.stop();
    assert!(matches!(actor.wait().await, ExitReason::Shutdown(None)));
    (started, start.elapsed())
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let system = rt.block_on(async { System::new(TokioExecutor::current()) });

    for (group, cancel) in [("timers_start", false), ("timers_start_and_cancel", true)] {
        let mut g = c.benchmark_group(group);
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for n in COUNTS {
            g.throughput(Throughput::Elements(n));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let (started, cancelled) = run(&system, n).await;
                            total += if cancel { cancelled } else { started };
                        }
                        total
                    })
                })
            });
        }
        g.finish();
    }
}

fn sleep(c: &mut Criterion) {
    let rt = runtime();
    let executor = rt.block_on(async { TokioExecutor::current() });
    let mut g = c.benchmark_group("tokio_sleep");
    g.throughput(Throughput::Elements(1));
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let far = tokio::time::Instant::now() + HOUR;
                let start = Instant::now();
                for _ in 0..iters {
                    let mut timer = std::pin::pin!(tokio::time::sleep_until(far));
                    assert!(futures::poll!(timer.as_mut()).is_pending());
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("executor", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let far = Instant::now() + HOUR;
                let start = Instant::now();
                for _ in 0..iters {
                    let mut timer = std::pin::pin!(executor.sleep_until(far));
                    assert!(futures::poll!(timer.as_mut()).is_pending());
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion::criterion_group!(benches, bench, sleep);
criterion::criterion_main!(benches);
