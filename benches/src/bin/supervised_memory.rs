//! `supervised_memory [N]`: the resident bytes of an idle supervised playhouse actor against an
//! unsupervised one. For each playhouse runtime (`playhouse`: Tokio, 2 workers;
//! `playhouse_1thread`: Tokio current-thread; `playhouse_smol`: async-executor, 2 threads) and
//! each kind of actor it runs, in a fresh process of its own, N (default 10,000) idle actors
//! alive at once, spawned either
//!
//! - `unsupervised`: by a `Spawner`, their `ActorRef`s kept in a `Vec` (as `cell`'s `spawn`
//!   keeps them: 8 bytes a slot), or
//! - `supervised`: as the N children of one one-for-one supervisor of the `playhouse-supervisor`
//!   crate (a spec with N children, ids `idle-<i>`, permanent; the supervisor holds their
//!   references, the harness nothing), made by a factory that captures nothing (the usual
//!   `|| Worker::default()`), or
//! - `supervised-capturing`: the same with a factory that captures two `Arc`s (16 bytes, boxed
//!   per child as every capturing factory is),
//!
//! and prints the growth of the resident set (`/proc/self/statm`) per actor, measured as `spawn`
//! measures it: the heap trimmed (`malloc_trim`) before the first spawn, read once every actor
//! has started (and, supervised, once the supervisor has handled the reports of their starts).
//! `untrimmed` is that reading; `trimmed` is read after trimming the heap once more, which gives
//! back what the start left freed (the supervisor's start-up garbage: the moved spec list, the
//! id set of its validation, the emptied mailbox blocks): the live bytes per actor, the figure
//! to compare. The actor is `playhouse_impl`'s `Trivial` (16 bytes: two latch handles), with the
//! workloads' `Bounded<Block>` mailbox of 1024.
//!
//! Each process runs the measurement once as warm-up, then [`RUNS`] times, and reports the most
//! its runs measured (a run can only under-count, when its actors land on pages an earlier run
//! freed and the trim did not give back; see `benches/README.md`, "Bytes per actor"). The warm-up
//! is left out: it also counts what the runtime allocates once, on first use.
//!
//! ```sh
//! cargo build --release -p playhouse-benches --bin supervised_memory
//! target/release/supervised_memory            # N = 10,000, all three runtimes
//! target/release/supervised_memory 100000     # N = 100,000
//! CELL_VERBOSE=1 target/release/supervised_memory   # every run's figures on stderr
//! ```
//!
//! `supervised_memory --one <runtime> <unsupervised|supervised> <N>` is the child process: it
//! prints one JSON line.

use std::process::{Command, ExitCode};

use playhouse_benches::heap::CountingAlloc;
use playhouse_benches::playhouse_impl::{self, Idle, IdleBytes};

/// Counts the live heap chunks, for the exact `heap` figure.
#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc;

/// Measured runs after the warm-up, per process.
const RUNS: usize = 3;
/// Actors per run unless told otherwise.
const DEFAULT_N: u64 = 10_000;
/// The runtimes, as `cell` names them.
const RUNTIMES: [&str; 3] = ["playhouse", "playhouse_1thread", "playhouse_smol"];

/// One process's measurement: the warm-up, then [`RUNS`] runs; the most of those runs.
fn measure(runtime: &str, under: Idle, n: u64) -> Option<IdleBytes> {
    let run: Box<dyn Fn() -> IdleBytes> = match runtime {
        "playhouse" => {
            let bench = playhouse_impl::Bench::new();
            Box::new(move || bench.idle_bytes(under, n))
        }
        "playhouse_1thread" => {
            let bench = playhouse_impl::CurrentThread::new();
            Box::new(move || bench.idle_bytes(under, n))
        }
        "playhouse_smol" => {
            let bench = playhouse_impl::Smol::new();
            Box::new(move || bench.idle_bytes(under, n))
        }
        _ => return None,
    };
    let verbose = std::env::var_os("CELL_VERBOSE").is_some();
    let warm_up = run();
    let runs: Vec<IdleBytes> = (0..RUNS).map(|_| run()).collect();
    if verbose {
        let show = |b: &IdleBytes| format!("{:.0}/{:.0}", b.untrimmed, b.trimmed);
        let shown: Vec<_> = runs.iter().map(show).collect();
        eprintln!(
            "{runtime} {}: untrimmed/trimmed B per actor: warm-up {}, runs {}",
            under.name(),
            show(&warm_up),
            shown.join(" ")
        );
    }
    let most = |f: fn(&IdleBytes) -> f64| runs.iter().map(f).fold(0.0, f64::max);
    Some(IdleBytes {
        untrimmed: most(|b| b.untrimmed),
        trimmed: most(|b| b.trimmed),
        heap: most(|b| b.heap),
    })
}

/// The child process: one runtime, one kind, one JSON line.
fn one(args: &[String]) -> ExitCode {
    let [runtime, under, n] = args else {
        return usage();
    };
    let (Some(under), Ok(n)) = (Idle::parse(under), n.parse::<u64>()) else {
        return usage();
    };
    let Some(bytes) = measure(runtime, under, n) else {
        return usage();
    };
    println!(
        r#"{{"framework":"{runtime}","actors":"{}","n":{n},"untrimmed_bytes_per_actor":{:.1},"trimmed_bytes_per_actor":{:.1},"heap_bytes_per_actor":{:.1}}}"#,
        under.name(),
        bytes.untrimmed,
        bytes.trimmed,
        bytes.heap
    );
    ExitCode::SUCCESS
}

/// Runs `--one runtime under n` in a fresh process and reads its figures back.
fn in_fresh_process(runtime: &str, under: Idle, n: u64) -> Result<(f64, f64, f64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--one", runtime, under.name(), &n.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("{runtime} {}: {}", under.name(), out.status));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    println!("{}", line.trim());
    // The two figures, from the line printed by `one` (no JSON parser in this crate).
    let field = |key: &str| -> Result<f64, String> {
        let start = line
            .find(&format!(r#""{key}":"#))
            .ok_or_else(|| format!("no {key} in {line}"))?
            + key.len()
            + 3;
        let rest = &line[start..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end].parse().map_err(|e| format!("{key}: {e}"))
    };
    Ok((
        field("untrimmed_bytes_per_actor")?,
        field("trimmed_bytes_per_actor")?,
        field("heap_bytes_per_actor")?,
    ))
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: supervised_memory [N]   (N idle actors per run, default {DEFAULT_N})\n       \
         supervised_memory --one <{}> <unsupervised|supervised|supervised-capturing> <N>",
        RUNTIMES.join("|")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--one") {
        return one(&args[1..]);
    }
    let n = match args.as_slice() {
        [] => DEFAULT_N,
        [n] => match n.replace('_', "").parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return usage(),
        },
        _ => return usage(),
    };
    let mut summary = Vec::new();
    let mut heap_summary = Vec::new();
    for runtime in RUNTIMES {
        let mut figures = Vec::new();
        for under in Idle::ALL {
            match in_fresh_process(runtime, under, n) {
                Ok(f) => figures.push(f),
                Err(e) => {
                    eprintln!("supervised_memory: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let [
            (plain_u, plain_t, plain_h),
            (sup_u, sup_t, sup_h),
            (cap_u, cap_t, cap_h),
        ] = figures[..]
        else {
            eprintln!("supervised_memory: expected three figures");
            return ExitCode::FAILURE;
        };
        summary.push(format!(
            "{runtime:<18} {plain_t:>8.0} {sup_t:>8.0} {:>+8.0} {cap_t:>10.0} {:>+8.0}     ({plain_u:.0} / {sup_u:.0} {:+.0} / {cap_u:.0} {:+.0} untrimmed)",
            sup_t - plain_t,
            cap_t - plain_t,
            sup_u - plain_u,
            cap_u - plain_u,
        ));
        heap_summary.push(format!(
            "{runtime:<18} {plain_h:>8.0} {sup_h:>8.0} {:>+8.0} {cap_h:>10.0} {:>+8.0}",
            sup_h - plain_h,
            cap_h - plain_h,
        ));
    }
    println!(
        "\nresident bytes per idle actor, {n} actors, most of {RUNS} runs per process (trimmed):"
    );
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "runtime", "alone", "child", "+", "capturing", "+"
    );
    for line in summary {
        println!("{line}");
    }
    println!("\nlive heap bytes per idle actor (chunks counted by the allocator; exact):");
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "runtime", "alone", "child", "+", "capturing", "+"
    );
    for line in heap_summary {
        println!("{line}");
    }
    ExitCode::SUCCESS
}
