//! What supervision costs a playhouse actor outside restarts: `tell` (1,000,000 tells, then one
//! ask for the count) and `ask` (100,000 sequential round trips) to a counter spawned alone, or
//! as the only child of a one-for-one supervisor of the `playhouse-supervisor` crate (permanent,
//! the same `Bounded<Block>` mailbox of 1024, an intensity it never reaches), on the 2-worker
//! Tokio runtime and on a Tokio current-thread runtime. The workloads are `compare`'s `tell` and
//! `ask`, run through the same function for both kinds of actor (`playhouse_impl::Under`); the
//! counter and its supervisor are up before the clock starts and stopped after it stops.
//!
//! Groups `tell/<runtime>` and `ask/<runtime>`, ids `unsupervised` and `supervised`; throughput
//! in messages (round trips) per second. As criterion samples one id after the other, a drift of
//! the machine between them shows as a difference, so after each group whose two ids both ran
//! (in `cargo bench` mode, not under `cargo test`) the bench also runs the two kinds alternately,
//! [`PAIRS`] pairs in the order U S S U U S ..., and prints the median of the pairs' ratios
//! (supervised ÷ unsupervised time): the figure to read for "within 5 %".
//!
//! The idle memory of a supervised child is measured by the `supervised_memory` binary (a fresh
//! process per figure, as `cell`'s `spawn`), not here.
//!
//! ```sh
//! cargo bench -p playhouse-benches --bench supervised
//! cargo bench -p playhouse-benches --bench supervised -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p playhouse-benches --bench supervised -- ask/   # one workload
//! ```

use std::cell::Cell;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use playhouse_benches::playhouse_impl::{Bench, CurrentThread, Under};
use playhouse_benches::workload::{ASK_N, TELL_N};

/// Alternating pairs (one run of each kind) after each group.
const PAIRS: usize = 8;

/// A playhouse runtime the bench runs on.
trait Runtime {
    fn tell_under(&self, under: Under) -> Duration;
    fn ask_under(&self, under: Under) -> Duration;
}

impl Runtime for Bench {
    fn tell_under(&self, under: Under) -> Duration {
        Bench::tell_under(self, under)
    }
    fn ask_under(&self, under: Under) -> Duration {
        Bench::ask_under(self, under)
    }
}

impl Runtime for CurrentThread {
    fn tell_under(&self, under: Under) -> Duration {
        CurrentThread::tell_under(self, under)
    }
    fn ask_under(&self, under: Under) -> Duration {
        CurrentThread::ask_under(self, under)
    }
}

/// `cargo bench` (criterion's `--bench`), not `cargo test --benches` (one run per id).
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Runs `run` for both kinds alternately, [`PAIRS`] pairs (U S, S U, U S, ...), and prints the
/// median ratio supervised ÷ unsupervised of the pairs' times, with each kind's median.
fn paired(label: &str, per_run: u64, run: impl Fn(Under) -> Duration) {
    let mut ratios = Vec::with_capacity(PAIRS);
    let mut times = [Vec::new(), Vec::new()];
    for pair in 0..PAIRS {
        let order = if pair % 2 == 0 {
            Under::BOTH
        } else {
            [Under::Supervisor, Under::Nobody]
        };
        let mut t = [0.0; 2];
        for under in order {
            let i = (under == Under::Supervisor) as usize;
            t[i] = run(under).as_secs_f64();
            times[i].push(t[i]);
        }
        ratios.push(t[1] / t[0]);
    }
    let ns = |v: &Vec<f64>| median(v.clone()) * 1e9 / per_run as f64;
    let ratio = median(ratios.clone());
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    println!(
        "{label}: paired ({PAIRS} alternating pairs): unsupervised {:.1} ns, supervised {:.1} ns \
         per message (medians); supervised / unsupervised = {ratio:.3} (median of pairs; \
         {:+.1} %, pairs {lo:.3}..{hi:.3})",
        ns(&times[0]),
        ns(&times[1]),
        (ratio - 1.0) * 100.0,
    );
}

/// The `tell` and `ask` groups on one runtime.
fn on_runtime<R: Runtime>(c: &mut Criterion, runtime: &str, bench: &R) {
    type Workload<R> = fn(&R, Under) -> Duration;
    let workloads: [(&str, u64, Workload<R>); 2] = [
        ("tell", TELL_N, |b, u| b.tell_under(u)),
        ("ask", ASK_N, |b, u| b.ask_under(u)),
    ];
    for (name, elements, run) in workloads {
        let label = format!("{name}/{runtime}");
        let mut group = c.benchmark_group(&label);
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(elements));
        let ran = [Cell::new(false), Cell::new(false)];
        for under in Under::BOTH {
            group.bench_function(under.name(), |b| {
                ran[(under == Under::Supervisor) as usize].set(true);
                b.iter_custom(|iters| (0..iters).map(|_| run(bench, under)).sum())
            });
        }
        group.finish();
        if bench_mode() && ran.iter().all(Cell::get) {
            paired(&label, elements, |under| run(bench, under));
        }
    }
}

fn supervised(c: &mut Criterion) {
    on_runtime(c, "tokio_2workers", &Bench::new());
    on_runtime(c, "current_thread", &CurrentThread::new());
}

criterion::criterion_group! {
    name = benches;
    // Defaults; `--warm-up-time`, `--measurement-time` and `--sample-size` override them.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = supervised
}
criterion::criterion_main!(benches);
