//! What a [`Recipient`] costs against the typed [`ActorRef`] it wraps: the same actor, the same
//! mailbox, the same workload, sent through each.
//!
//! - `tell`: 100,000 tells from one task, then one ask that waits for all of them.
//! - `ask`: 10,000 asks, one after another.
//!
//! On a 2-worker Tokio runtime, mailbox `Bounded<Block>` of 1024. Run with
//! `cargo bench -p playhouse-benches --bench recipient`.

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use playhouse::prelude::*;
use playhouse_benches::counter::{Counter, Msg};

const TELLS: u64 = 100_000;
const ASKS: u64 = 10_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let (actor, recipient) = rt.block_on(async {
        let system = System::new(TokioExecutor::current());
        let actor = system.spawn_with(Counter(0), Bounded::<Block>::with_capacity(1024).unwrap());
        let recipient: Recipient<Msg> = actor.recipient();
        (actor, recipient)
    });

    let mut tell = c.benchmark_group("recipient_tell");
    tell.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(TELLS));
    tell.bench_function("actor_ref", |b| {
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
    tell.bench_function("recipient", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..TELLS {
                        recipient.tell(Msg::Add(1)).await.unwrap();
                    }
                    recipient.ask(Msg::Get).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    tell.finish();

    let mut ask = c.benchmark_group("recipient_ask");
    ask.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(ASKS));
    ask.bench_function("actor_ref", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * ASKS {
                    actor.ask(Msg::Get).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    ask.bench_function("recipient", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * ASKS {
                    recipient.ask(Msg::Get).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    ask.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
