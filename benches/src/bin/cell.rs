//! `cell <framework> <workload>`: runs one workload of one framework once as warm-up, then 3
//! times, and prints one JSON line with the median figure (M msgs/s for throughput workloads,
//! ns per round trip / actor / hop otherwise). For `spawn` the line also carries
//! `bytes_per_actor`, the most resident bytes per live actor any of the 4 runs measured (the
//! warm-up included; why the most, see the comment where it is taken); for `scaling`,
//! `cores`, the number of sender/actor pairs (the cores this process may use).
//!
//! `cell floor_<playhouse framework> spawn` (`floor_playhouse`, `floor_playhouse_1thread`,
//! `floor_playhouse_smol`) runs the executor's floor under `spawn` instead: the same steps on
//! the same executor with bare tasks and a one-shot stop signal in place of actors.
//!
//! `spawn` (and a floor) then runs once more as warm-up and 3 more times with
//! [`workload::set_heap_trimming`] off, and adds `warm_value`: the median ns per actor on a warm
//! heap. The runs above trim the heap before they start, so that their RSS delta counts the live
//! actors; the memory they then allocate is faulted in afresh, which makes their time depend
//! on the bytes per actor as well as on the work. Without the trim the memory the last run freed
//! is reused, so `warm_value` leaves those page faults out. (Where glibc trims the heap's top by
//! itself, as it does on one thread once everything is freed, the two figures agree.)
//!
//! The restart workloads (`restart`, `restart_serial`) run only on the frameworks whose
//! supervision the harness drives (the usage message lists them); `playhouse_sup`,
//! `playhouse_sup_1thread` and `playhouse_sup_smol` (playhouse's under its supervisor crate) run
//! nothing else (the usage message lists them as restart-only). Their line adds
//! `restarts_per_s`, the median as restarts per second. While they run, a panic hook keeps the
//! handlers' deliberate panics quiet (every other panic still prints). `cell floor_panic
//! restart` times the floor under them: a panic caught at once on the calling thread
//! ([`workload::panic_floor`]), in ns per panic.
//!
//! With `CELL_VERBOSE` set, every run's figure (the warm-up first) also goes to stderr.

use std::process::ExitCode;

use playhouse_benches::workload::{self, Workload};
use playhouse_benches::{Framework, FrameworkVisitor, playhouse_impl, visit_all};

/// Measured runs after the warm-up.
const RUNS: usize = 3;

/// Collects every framework's name, those of the frameworks that run the restart workloads,
/// and those that run nothing else.
#[derive(Default)]
struct Names {
    all: Vec<&'static str>,
    supervising: Vec<&'static str>,
    restart_only: Vec<&'static str>,
}

impl FrameworkVisitor for Names {
    fn visit<F: Framework>(&mut self) {
        self.all.push(F::NAME);
        if F::SUPERVISES || F::RESTART_ONLY {
            self.supervising.push(F::NAME);
        }
        if F::RESTART_ONLY {
            self.restart_only.push(F::NAME);
        }
    }
}

/// What running the cell gave.
enum Outcome {
    /// No framework of that name.
    Unknown,
    /// The framework does not run that workload.
    NotRun,
    /// The JSON line.
    Line(String),
}

/// Runs the cell on the framework whose name matches.
struct Cell {
    framework: String,
    workload: Workload,
    outcome: Outcome,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

impl FrameworkVisitor for Cell {
    fn visit<F: Framework>(&mut self) {
        if F::NAME != self.framework {
            return;
        }
        let w = self.workload;
        if !w.runs_on::<F>() {
            self.outcome = Outcome::NotRun;
            return;
        }
        if w.restart_mode().is_some() {
            workload::with_quiet_restart_panics(|| self.measure::<F>());
        } else {
            self.measure::<F>();
        }
    }
}

impl Cell {
    /// Runs the cell on `F` and keeps its line.
    fn measure<F: Framework>(&mut self) {
        let bench = F::new();
        let w = self.workload;
        // `CELL_VERBOSE=1`: every run's figure on stderr, the warm-up first, to tell a spread
        // within one process from a spread between processes.
        let verbose = std::env::var_os("CELL_VERBOSE").is_some();
        let run = |label: &str| {
            let m = w.run(&bench).expect("the framework runs this workload");
            if verbose {
                eprint!("{label}{:.3} ", w.figure(m.elapsed).0);
            }
            m
        };
        let warm_up = run("warm-up ");
        let runs: Vec<_> = (0..RUNS).map(|_| run("")).collect();
        if verbose {
            eprintln!();
        }
        let unit = w.figure(runs[0].elapsed).1;
        let value = median(runs.iter().map(|m| w.figure(m.elapsed).0).collect());
        // The most any run measured, the warm-up included: a run can only under-count, when
        // its actors land on pages an earlier run freed and the heap trim did not give back
        // (seen on smol, whose actors are freed on other threads).
        let bytes = std::iter::once(&warm_up)
            .chain(&runs)
            .filter_map(|m| m.bytes_per_actor)
            .reduce(f64::max);
        let mut extra = String::new();
        if let Some(bytes) = bytes {
            extra += &format!(r#","bytes_per_actor":{bytes:.0}"#);
        }
        if w == Workload::Spawn {
            workload::set_heap_trimming(false);
            run("warm heap: warm-up ");
            let warm: Vec<_> = (0..RUNS).map(|_| run("")).collect();
            if verbose {
                eprintln!();
            }
            let warm = median(warm.iter().map(|m| w.figure(m.elapsed).0).collect());
            extra += &format!(r#","warm_value":{warm:.3}"#);
        }
        if w == Workload::Scaling {
            extra += &format!(r#","cores":{}"#, workload::scaling_pairs());
        }
        if w.restart_mode().is_some() {
            extra += &format!(r#","restarts_per_s":{:.0}"#, 1e9 / value);
        }
        self.outcome = Outcome::Line(format!(
            r#"{{"framework":"{}","workload":"{}","value":{value:.3},"unit":"{unit}"{extra}}}"#,
            F::NAME,
            w.name(),
        ));
    }
}

/// The executor floors under `spawn`, one per playhouse configuration.
const FLOORS: [&str; 3] = [
    "floor_playhouse",
    "floor_playhouse_1thread",
    "floor_playhouse_smol",
];

/// Runs the floor `name` once as warm-up, then [`RUNS`] times, then the same again on a warm
/// heap (as `spawn` does); `None` for an unknown name.
fn floor_line(name: &str) -> Option<String> {
    fn measure(run: impl Fn() -> (std::time::Duration, f64)) -> (f64, f64, f64) {
        let ns_per_actor = |d: std::time::Duration| d.as_nanos() as f64 / workload::SPAWN_N as f64;
        run();
        let runs: Vec<_> = (0..RUNS).map(|_| run()).collect();
        let ns = median(runs.iter().map(|&(d, _)| ns_per_actor(d)).collect());
        let bytes = median(runs.iter().map(|&(_, b)| b).collect());
        workload::set_heap_trimming(false);
        run();
        let warm = median((0..RUNS).map(|_| ns_per_actor(run().0)).collect());
        (ns, bytes, warm)
    }
    let (ns, bytes, warm) = match name {
        "floor_playhouse" => {
            let bench = playhouse_impl::Bench::new();
            measure(|| bench.spawn_floor())
        }
        "floor_playhouse_1thread" => {
            let bench = playhouse_impl::CurrentThread::new();
            measure(|| bench.spawn_floor())
        }
        "floor_playhouse_smol" => {
            let bench = playhouse_impl::Smol::new();
            measure(|| bench.spawn_floor())
        }
        _ => return None,
    };
    Some(format!(
        r#"{{"framework":"{name}","workload":"spawn","value":{ns:.3},"unit":"ns/actor","bytes_per_actor":{bytes:.0},"warm_value":{warm:.3}}}"#
    ))
}

/// The floor under the restart workloads: one caught panic ([`workload::panic_floor`]).
const PANIC_FLOOR: &str = "floor_panic";

/// Runs the panic floor once as warm-up, then [`RUNS`] times, under the quiet panic hook, and
/// returns its line (reported under `workload`, a restart workload).
fn panic_floor_line(workload: Workload) -> String {
    let ns = workload::with_quiet_restart_panics(|| {
        let ns_per_panic =
            || workload::panic_floor().as_nanos() as f64 / workload::RESTART_N as f64;
        ns_per_panic();
        median((0..RUNS).map(|_| ns_per_panic()).collect())
    });
    format!(
        r#"{{"framework":"{PANIC_FLOOR}","workload":"{}","value":{ns:.3},"unit":"ns/panic"}}"#,
        workload.name()
    )
}

fn usage() -> ExitCode {
    let mut names = Names::default();
    visit_all(&mut names);
    let workloads: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
    let restarts: Vec<_> = Workload::ALL
        .iter()
        .filter(|w| w.restart_mode().is_some())
        .map(|w| w.name())
        .collect();
    eprintln!(
        "usage: cell <framework> <workload>\n  frameworks: {}\n  workloads: {}\n  \
         supervising (the only ones to run {}): {}\n  restart-only (nothing else): {}\n  \
         executor floors (spawn only): {}\n  panic floor (restart workloads only): {PANIC_FLOOR}",
        names.all.join(", "),
        workloads.join(", "),
        restarts.join(", "),
        names.supervising.join(", "),
        names.restart_only.join(", "),
        FLOORS.join(", ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [framework, workload] = args.as_slice() else {
        return usage();
    };
    let Some(workload) = Workload::parse(workload) else {
        return usage();
    };
    if framework == PANIC_FLOOR {
        if workload.restart_mode().is_none() {
            eprintln!("cell: {framework} measures the restart workloads only");
            return ExitCode::from(2);
        }
        println!("{}", panic_floor_line(workload));
        return ExitCode::SUCCESS;
    }
    if FLOORS.contains(&framework.as_str()) {
        if workload != Workload::Spawn {
            eprintln!("cell: {framework} measures spawn only");
            return ExitCode::from(2);
        }
        let line = floor_line(framework).expect("a listed floor");
        println!("{line}");
        return ExitCode::SUCCESS;
    }
    let mut cell = Cell {
        framework: framework.clone(),
        workload,
        outcome: Outcome::Unknown,
    };
    visit_all(&mut cell);
    match cell.outcome {
        Outcome::Line(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Outcome::NotRun => {
            let why = if workload.restart_mode().is_some() {
                "no supervision driven by this harness"
            } else {
                "it runs only the restart workloads"
            };
            eprintln!("cell: {framework} does not run {} ({why})", workload.name());
            ExitCode::from(2)
        }
        Outcome::Unknown => usage(),
    }
}
