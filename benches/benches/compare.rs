//! Criterion comparison of playhouse's peers: one group per workload, one bench id per framework.
//!
//! Only the timed part of each workload counts (`iter_custom`); throughput is in elements
//! (messages, actors or hops) per second. `spawn` also prints resident bytes per live actor;
//! `scaling` prints its number of sender/actor pairs (one per core), which its throughput counts:
//! pairs × `SCALING_PER_PAIR` messages per run. The restart workloads (`restart`,
//! `restart_serial`) run only on the frameworks that supervise (`Framework::SUPERVISES`), with
//! a panic hook that keeps their handlers' deliberate panics quiet; their throughput is restarts
//! per second; the restart-only frameworks (`playhouse_sup*`: playhouse under its supervisor
//! crate, `Framework::RESTART_ONLY`) appear in those two groups only. Each framework runs them
//! once first, outside criterion: one that fails there
//! (kameo loses messages in `restart`: see `benches/README.md`) is reported and left out of the
//! group instead of ending the whole run.
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
        let workload = self.workload;
        if !workload.runs_on::<F>() {
            return;
        }
        let bench = F::new();
        if workload.restart_mode().is_some() {
            let probe =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| workload.run(&bench)));
            if let Err(panic) = probe {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                println!("{}/{}: FAILED, left out: {why}", workload.name(), F::NAME);
                return;
            }
        }
        let mut bytes = Vec::new();
        self.group.bench_function(F::NAME, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let m = workload
                        .run(&bench)
                        .expect("the framework runs this workload");
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
        let mut visitor = Group {
            group: &mut group,
            workload,
        };
        if workload.restart_mode().is_some() {
            workload::with_quiet_restart_panics(|| visit_all(&mut visitor));
        } else {
            visit_all(&mut visitor);
        }
        group.finish();
    }
}

criterion::criterion_group!(benches, compare);
criterion::criterion_main!(benches);
