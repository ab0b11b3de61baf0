//! Criterion comparison of playhouse's peers: one group per workload, one bench id per framework.
//!
//! Only the timed part of each workload counts (`iter_custom`); throughput is in elements
//! (messages, actors or hops) per second. `spawn` also prints resident bytes per live actor;
//! `scaling` prints its number of sender/actor pairs (one per core), which its throughput counts:
//! pairs × `SCALING_PER_PAIR` messages per run.
//! Run with `cargo bench -p playhouse-benches --bench compare`.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use playhouse_benches::workload::{self, Workload};
use playhouse_benches::{Framework, FrameworkVisitor, visit_all};

/// Adds one bench id per framework to a workload's group.
struct Group<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    workload: Workload,
}

impl FrameworkVisitor for Group<'_, '_> {
    fn visit<F: Framework>(&mut self) {
        let bench = F::new();
        let workload = self.workload;
        let mut bytes = Vec::new();
        self.group.bench_function(F::NAME, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let m = workload.run(&bench);
                    total += m.elapsed;
                    bytes.extend(m.bytes_per_actor);
                }
                total
            })
        });
        if !bytes.is_empty() {
            bytes.sort_by(f64::total_cmp);
            println!(
                "{}/{}: {:.0} resident bytes per live actor (median of {})",
                workload.name(),
                F::NAME,
                bytes[bytes.len() / 2],
                bytes.len()
            );
        }
    }
}

fn compare(c: &mut Criterion) {
    for workload in Workload::ALL {
        if workload == Workload::Scaling {
            println!(
                "scaling: {} sender/actor pairs (one per core), {} messages each",
                workload::scaling_pairs(),
                workload::SCALING_PER_PAIR
            );
        }
        let mut group = c.benchmark_group(workload.name());
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(workload.elements()));
        visit_all(&mut Group {
            group: &mut group,
            workload,
        });
        group.finish();
    }
}

criterion::criterion_group!(benches, compare);
criterion::criterion_main!(benches);
