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
//! With `CELL_VERBOSE` set, every run's figure (the warm-up first) also goes to stderr.

use std::process::ExitCode;

use playhouse_benches::workload::{self, Workload};
use playhouse_benches::{Framework, FrameworkVisitor, playhouse_impl, visit_all};

/// Measured runs after the warm-up.
const RUNS: usize = 3;

/// Collects every framework's name.
#[derive(Default)]
struct Names(Vec<&'static str>);

impl FrameworkVisitor for Names {
    fn visit<F: Framework>(&mut self) {
        self.0.push(F::NAME);
    }
}

/// Runs the cell on the framework whose name matches.
struct Cell {
    framework: String,
    workload: Workload,
    line: Option<String>,
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
        let bench = F::new();
        let w = self.workload;
        // `CELL_VERBOSE=1`: every run's figure on stderr, the warm-up first, to tell a spread
        // within one process from a spread between processes.
        let verbose = std::env::var_os("CELL_VERBOSE").is_some();
        let run = |label: &str| {
            let m = w.run(&bench);
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
        self.line = Some(format!(
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

fn usage() -> ExitCode {
    let mut names = Names::default();
    visit_all(&mut names);
    let workloads: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
    eprintln!(
        "usage: cell <framework> <workload>\n  frameworks: {}\n  workloads: {}\n  \
         executor floors (spawn only): {}",
        names.0.join(", "),
        workloads.join(", "),
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
        line: None,
    };
    visit_all(&mut cell);
    match cell.line {
        Some(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        None => usage(),
    }
}
