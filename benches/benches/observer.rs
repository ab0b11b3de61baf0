//! What observing costs: the same actor and workload in a system without an observer, with an
//! observer that does nothing, and with the `Metrics` observer.
//!
//! - `tell`: 100,000 tells from one task, then one ask that waits for all of them.
//! - `ask`: 10,000 asks, one after another.
//!
//! On a current-thread Tokio runtime (the per-message costs, without cross-thread wake-ups in
//! the way), mailbox `Bounded<Block>` of 1024. Run with
//! `cargo bench -p playhouse-benches --bench observer`; with `--features tracing` the same
//! figures include the `handle` span that feature puts around every handled message (no
//! subscriber installed: its level check) and the room for an ask's span beside each queued
//! message (the `ask_span` binary measures carrying one under a subscriber).

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use playhouse::observer::{ActorInfo, Metrics, ObservedEvent, Observer};
use playhouse::prelude::*;
use playhouse_benches::counter::{Counter, Msg};

const TELLS: u64 = 100_000;
const ASKS: u64 = 10_000;

/// Told of everything, does nothing: the cost of being observed, without the observer's own.
struct Noop;

impl Observer for Noop {
    fn observe(&self, _: &ActorInfo<'_>, _: &ObservedEvent<'_>) {}
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let actors = rt.block_on(async {
        let plain = System::new(TokioExecutor::current());
        let mailbox = || Bounded::<Block>::with_capacity(1024).unwrap();
        [
            ("none", plain.spawn_with(Counter(0), mailbox())),
            (
                "noop_observer",
                plain
                    .clone()
                    .with_observer(Noop)
                    .spawn_with(Counter(0), mailbox()),
            ),
            (
                "metrics_observer",
                plain
                    .clone()
                    .with_observer(Metrics::new())
                    .spawn_with(Counter(0), mailbox()),
            ),
        ]
    });

    let mut tell = c.benchmark_group("observer_tell");
    tell.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(TELLS));
    for (name, actor) in &actors {
        tell.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..TELLS {
                            actor.tell(Msg::Add(1)).await.unwrap();
                        }
                        actor.ask(Msg::Get).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    tell.finish();

    let mut ask = c.benchmark_group("observer_ask");
    ask.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ASKS));
    for (name, actor) in &actors {
        ask.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..ASKS {
                            actor.ask(Msg::Get).await.unwrap();
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    ask.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
