#!/usr/bin/env python3
"""Full peer comparison of playhouse: every framework x workload cell, ROUNDS rounds, medians.

Builds the `cell` binary in release, then for each round runs every cell in a fresh process
(`cell <framework> <workload>`, order shuffled per round, 300 s timeout per cell; a failing cell
is recorded as failed, never fatal), takes the median of each cell across rounds and writes:
(`scaling` runs one sender/actor pair per core; `cell` reports that core count, which the
table header and notes show; the restart workloads run only on the frameworks whose supervision
`cell` drives, which it lists, and each round also runs `cell floor_panic restart`, the cost of
one caught panic, shown in the notes; the frameworks `cell` lists as restart-only, playhouse's
restart workloads under its supervisor crate (`playhouse_sup`, `playhouse_sup_1thread`,
`playhouse_sup_smol`), are rows of their own with only the restart columns filled, left out
when no restart workload is selected)

- <out>/benchmarks.md   header (date, machine, rustc, crate versions, command), table, targets
- <out>/benchmarks.json raw per-round values and medians
- <out>/benchmarks.png  bar chart, one subplot per workload (matplotlib; skipped if unavailable)

The table is printed to stdout as well. Workloads and targets: shared/BENCHMARKS.md.

Usage: python3 benches/compare.py [--rounds N] [--frameworks a,b] [--workloads x,y] [--out DIR]
ROUNDS (env) sets the default number of rounds (7, as in shared/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CELL_TIMEOUT_S = 300

# Fallbacks if `cell` cannot list its frameworks (it prints them in its usage message).
DEFAULT_FRAMEWORKS = [
    "playhouse", "playhouse_1thread", "playhouse_smol", "playhouse_sup", "playhouse_sup_1thread",
    "playhouse_sup_smol", "raw_tokio", "raw_async_channel", "actix", "kameo", "ractor", "xtra",
]
WORKLOADS = ["tell", "tell_contended", "ask", "ask_pipelined", "spawn", "fanout", "ping_pong",
             "scaling", "restart", "restart_serial"]
# Workloads only the supervising frameworks run, and the fallback list of those frameworks (if
# `cell` cannot list them: it prints them in its usage message).
RESTART_WORKLOADS = ["restart", "restart_serial"]
# Frameworks that run only the restart workloads (playhouse under its supervisor crate); the
# fallback if `cell` cannot list them.
DEFAULT_RESTART_ONLY = ["playhouse_sup", "playhouse_sup_1thread", "playhouse_sup_smol"]
DEFAULT_SUPERVISING = ["playhouse", "playhouse_1thread", "playhouse_smol", *DEFAULT_RESTART_ONLY,
                       "kameo", "ractor"]
PANIC_FLOOR = "floor_panic"

# Metrics reported in the table: (key, column header, format, higher_is_better).
# Keys are workload names, plus "bytes_per_actor" and "spawn_warm" (from the spawn cell: see
# SPAWN_KEYS).
COLUMNS = [
    ("tell", "tell M/s", "{:.2f}", True),
    ("tell_contended", "tell-contended M/s", "{:.2f}", True),
    ("ask", "ask ns", "{:.0f}", False),
    ("ask_pipelined", "ask-pipelined M/s", "{:.2f}", True),
    ("spawn", "spawn ns/actor", "{:.0f}", False),
    ("bytes_per_actor", "bytes/actor", "{:.0f}", False),
    ("spawn_warm", "spawn ns/actor, warm heap", "{:.0f}", False),
    ("fanout", "fanout M/s", "{:.2f}", True),
    ("ping_pong", "ping-pong ns/hop", "{:.0f}", False),
    ("scaling", "scaling M/s", "{:.2f}", True),
    ("restart", "restart ns", "{:.0f}", False),
    ("restart_serial", "restart one at a time ns", "{:.0f}", False),
]
HIGHER_IS_BETTER = {key: hib for key, _, _, hib in COLUMNS}
UNITS = {
    "tell": "M msgs/s", "tell_contended": "M msgs/s", "ask": "ns/round trip",
    "ask_pipelined": "M msgs/s", "spawn": "ns/actor", "bytes_per_actor": "bytes/actor",
    "spawn_warm": "ns/actor",
    "fanout": "M msgs/s", "ping_pong": "ns/hop", "scaling": "M msgs/s",
    "restart": "ns/restart", "restart_serial": "ns/restart",
}
LABELS = {key: header for key, header, _, _ in COLUMNS}
# Keys the spawn cell reports besides its value, by the name of the field in `cell`'s JSON line.
SPAWN_KEYS = {"bytes_per_actor": "bytes_per_actor", "spawn_warm": "warm_value"}


def headers(cores: int | None) -> list[str]:
    """Column headers; the scaling column names its pair count (one pair per core) when known."""
    return [f"{h} ({cores} pairs)" if key == "scaling" and cores else h
            for key, h, _, _ in COLUMNS]


def scaling_cores(raw: dict) -> int | None:
    """The core count (= sender/actor pairs) the scaling cells reported, if any did."""
    seen = sorted({r["cores"] for wls in raw.values() for r in wls.get("scaling", [])
                   if "cores" in r})
    if len(seen) > 1:
        log(f"compare.py: scaling cells reported different core counts: {seen}")
    return seen[-1] if seen else None

# Row labels: framework -> (crate in Cargo.lock, runtime description).
DESCRIPTIONS = {
    "playhouse": ("playhouse", "Tokio multi-thread, 2 workers"),
    "playhouse_1thread": ("playhouse", "Tokio current-thread"),
    "playhouse_smol": ("playhouse", "smol, async-executor 2 threads"),
    "playhouse_sup": ("playhouse", "supervisor crate, Tokio multi-thread, 2 workers"),
    "playhouse_sup_1thread": ("playhouse", "supervisor crate, Tokio current-thread"),
    "playhouse_sup_smol": ("playhouse", "supervisor crate, smol, async-executor 2 threads"),
    "raw_tokio": ("tokio", "raw tokio mpsc loop"),
    "raw_async_channel": ("async-channel", "raw async-channel loop"),
    "actix": ("actix", "one thread"),
    "kameo": ("kameo", "Tokio multi-thread"),
    "ractor": ("ractor", "Tokio multi-thread"),
    "xtra": ("xtra", "Tokio multi-thread"),
}
CRATES = ["playhouse", "actix", "kameo", "ractor", "xtra", "tokio", "async-channel",
          "async-executor"]

MT_PEERS = ["kameo", "ractor", "xtra"]
# The peers whose restarts the harness drives (issue #17's restart target compares with them).
SUPERVISING_PEERS = ["kameo", "ractor"]
RAW_LOOPS = ["raw_tokio", "raw_async_channel"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Build and environment


def build_cell() -> Path:
    """Builds `cell` in release and returns the path of the executable."""
    cmd = ["cargo", "build", "--release", "-p", "playhouse-benches", "--bin", "cell",
           "--message-format=json-render-diagnostics"]
    log("$ " + shlex.join(cmd[:-1]))
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    exe = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
                and msg.get("target", {}).get("name") == "cell"):
            exe = Path(msg["executable"])
    if proc.returncode != 0 or exe is None:
        sys.exit(f"compare.py: building cell failed (exit status {proc.returncode})")
    return exe


def cell_usage_list(exe: Path, prefix: str) -> list[str] | None:
    """The names on the line of `cell`'s usage message that starts with `prefix` (after the
    last colon), or None."""
    try:
        proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
        for line in proc.stderr.splitlines():
            line = line.strip()
            if line.startswith(prefix):
                names = [n.strip() for n in line.rsplit(":", 1)[1].split(",") if n.strip()]
                if names:
                    return names
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def cell_frameworks(exe: Path) -> list[str]:
    """The frameworks `cell` knows, in `visit_all` order (parsed from its usage message)."""
    return cell_usage_list(exe, "frameworks:") or list(DEFAULT_FRAMEWORKS)


def cell_supervising(exe: Path) -> list[str]:
    """The frameworks that run the restart workloads (parsed from `cell`'s usage message)."""
    return cell_usage_list(exe, "supervising") or list(DEFAULT_SUPERVISING)


def cell_restart_only(exe: Path) -> list[str]:
    """The frameworks that run nothing but the restart workloads (from `cell`'s usage message)."""
    return cell_usage_list(exe, "restart-only") or list(DEFAULT_RESTART_ONLY)


def run_text(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                mem = f"{kib / 1024 / 1024:.1f} GiB"
                break
    except (OSError, ValueError, IndexError):
        pass
    return {
        "uname": run_text(["uname", "-srm"]) or platform.platform(),
        "cpu": cpu,
        "cores": run_text(["nproc"]) or str(os.cpu_count()),
        "memory": mem,
        "rustc": run_text(["rustc", "--version"]),
    }


def crate_versions() -> dict[str, str]:
    """Versions from Cargo.lock; where a crate appears in several versions, the one
    playhouse-benches depends on."""
    try:
        lock = tomllib.loads((REPO / "Cargo.lock").read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        log(f"compare.py: cannot read Cargo.lock: {e}")
        return {c: "unknown" for c in CRATES}
    packages = lock.get("package", [])
    bench_deps = {}
    for pkg in packages:
        if pkg.get("name") == "playhouse-benches":
            for dep in pkg.get("dependencies", []):
                parts = dep.split()
                if len(parts) >= 2:
                    bench_deps[parts[0]] = parts[1]
    versions = {}
    for crate in CRATES:
        found = sorted({p["version"] for p in packages if p.get("name") == crate})
        if crate in bench_deps:
            versions[crate] = bench_deps[crate]
        elif len(found) == 1:
            versions[crate] = found[0]
        elif found:
            versions[crate] = " / ".join(found)
        else:
            versions[crate] = "unknown"
    return versions


# ---------------------------------------------------------------------------------------------
# Running cells


def run_cell(exe: Path, framework: str, workload: str) -> dict:
    """Runs one cell in a fresh process: {"value", "unit", ["bytes_per_actor"], ["spawn_warm"],
    ["cores"]} or {"error"}."""
    start = time.monotonic()
    try:
        proc = subprocess.run([str(exe), framework, workload], capture_output=True, text=True,
                              timeout=CELL_TIMEOUT_S, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CELL_TIMEOUT_S} s"}
    except OSError as e:
        return {"error": f"could not start: {e}"}
    wall = round(time.monotonic() - start, 2)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        # The first panic's message (the line after "panicked at"), else the last lines, which
        # under RUST_BACKTRACE are only frames of the backtrace.
        first_panic = next((lines[i + 1].strip() for i, line in enumerate(lines[:-1])
                            if "panicked at" in line), None)
        tail = [first_panic] if first_panic else lines[-3:]
        error = f"exit status {proc.returncode}" + (": " + " | ".join(tail) if tail else "")
        return {"error": error, "wall_s": wall}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and "value" in data:
            out = {"value": float(data["value"]), "unit": data.get("unit"), "wall_s": wall}
            for key, field in SPAWN_KEYS.items():
                if field in data:
                    out[key] = float(data[field])
            if "cores" in data:
                out["cores"] = int(data["cores"])
            return out
    return {"error": "no JSON result line in output", "wall_s": wall}


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# Report


def fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def row_label(fw: str, versions: dict[str, str]) -> str:
    crate, desc = DESCRIPTIONS.get(fw, (None, ""))
    version = versions.get(crate, "") if crate else ""
    name = fw if not version else f"{fw} {version}"
    return f"{name} ({desc})" if desc else name


def cell_text(medians: dict, failed: dict, fw: str, key: str, pattern: str) -> str:
    wl = "spawn" if key in SPAWN_KEYS else key
    value = medians.get(fw, {}).get(key)
    if value is None:
        return "FAILED" if failed.get(fw, {}).get(wl) else "–"
    # Mark a median taken over fewer rounds than requested because some rounds failed.
    return fmt(value, pattern) + ("*" if failed.get(fw, {}).get(wl) else "")


def build_table(frameworks, medians, failed, versions, cores=None) -> list[str]:
    header = "| framework | " + " | ".join(headers(cores)) + " |"
    sep = "|---|" + "|".join("---:" for _ in COLUMNS) + "|"
    lines = [header, sep]
    for fw in frameworks:
        cells = [cell_text(medians, failed, fw, key, pat) for key, _, pat, _ in COLUMNS]
        lines.append(f"| {row_label(fw, versions)} | " + " | ".join(cells) + " |")
    return lines


def ratio(ours: float | None, theirs: float | None, key: str) -> float | None:
    """Ours relative to theirs, higher is better: ours/theirs for throughput, theirs/ours for ns."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if HIGHER_IS_BETTER[key] else theirs / ours


def best_of(medians: dict, names: list[str], key: str) -> tuple[str | None, float | None]:
    present = [(n, medians[n][key]) for n in names
               if medians.get(n, {}).get(key) is not None]
    if not present:
        return None, None
    pick = max if HIGHER_IS_BETTER[key] else min
    return pick(present, key=lambda kv: kv[1])


def compute_targets(medians: dict) -> list[dict]:
    """Every target of BENCHMARKS.md that this harness measures, computed from this run."""
    targets = []

    def ratio_target(group, ours_fw, peers, key, threshold, peer_desc):
        ours = medians.get(ours_fw, {}).get(key)
        peer_fw, theirs = best_of(medians, peers, key)
        r = ratio(ours, theirs, key)
        if ours is None or theirs is None:
            detail = (f"{ours_fw} not measured" if ours is None
                      else f"no {peer_desc} measured")
        else:
            pat = "{:.2f}" if HIGHER_IS_BETTER[key] else "{:.0f}"
            detail = (f"{ours_fw} {pat.format(ours)} vs {peer_fw} "
                      f"{pat.format(theirs)} {UNITS[key]}")
        targets.append({
            "group": group, "workload": key.replace("_", "-"), "target": f"≥ {threshold:.1f}×",
            "ratio": r, "threshold": threshold, "detail": detail,
            "met": None if r is None else r >= threshold,
        })

    # restart_serial is ours, not a workload of BENCHMARKS.md: for information only.
    for key in [w for w in WORKLOADS if w != "restart_serial"]:
        ratio_target("playhouse ÷ best of kameo/ractor/xtra", "playhouse", MT_PEERS, key, 1.5,
                     "kameo/ractor/xtra")
    for key in ["tell", "tell_contended", "ask", "fanout", "scaling"]:
        ratio_target("playhouse ÷ faster raw loop", "playhouse", RAW_LOOPS, key, 0.9, "raw loop")
    for key in ["tell", "ask", "ping_pong", "spawn"]:
        ratio_target("playhouse_1thread ÷ actix", "playhouse_1thread", ["actix"], key, 1.0,
                     "actix")

    def limit_target(group, fw, key, limit, unit):
        value = medians.get(fw, {}).get(key)
        label = "bytes/actor" if key == "bytes_per_actor" else key
        targets.append({
            "group": group, "workload": f"{label} ({fw})",
            "target": f"≤ {limit} {unit}", "ratio": None, "value": value, "threshold": limit,
            "detail": f"{fw} {fmt(value, '{:.0f}')} {UNITS[key]}",
            "met": None if value is None else value <= limit,
        })

    for fw in ["playhouse", "playhouse_1thread", "playhouse_smol"]:
        for key, limit, unit in [("bytes_per_actor", 512, "bytes"), ("spawn", 1000, "ns"),
                                 ("restart", 5000, "ns")]:
            limit_target("absolute limits", fw, key, limit, unit)

    # Issue #17: a supervised child (playhouse's supervisor crate) restarts in ≤ 5 µs and ≥ 3×
    # faster than kameo and ractor (the better of the two measured; kameo fails `restart`, so
    # there ractor alone, and both in `restart_serial`). Only when a supervised row ran.
    sup_rows = [fw for fw in ["playhouse_sup", "playhouse_sup_1thread", "playhouse_sup_smol"]
                if fw in medians]
    for fw in sup_rows:
        limit_target("issue #17: supervised restart", fw, "restart", 5000, "ns")
    if "playhouse_sup" in medians:
        for key in RESTART_WORKLOADS:
            ratio_target("issue #17: playhouse_sup ÷ best of kameo/ractor", "playhouse_sup",
                         SUPERVISING_PEERS, key, 3.0, "kameo/ractor")
    return targets


def warm_spawn_note(medians: dict) -> str | None:
    """The spawn ratio against the best of kameo/ractor/xtra on a warm heap (not a target)."""
    ours = medians.get("playhouse", {}).get("spawn_warm")
    peer_fw, theirs = best_of(medians, MT_PEERS, "spawn_warm")
    r = ratio(ours, theirs, "spawn_warm")
    if r is None:
        return None
    return (f"spawn on a warm heap (for information; the spawn target above is on the "
            f"spawn ns/actor column): playhouse {ours:.0f} vs {peer_fw} {theirs:.0f} ns/actor, "
            f"{r:.2f}×")


def targets_md(targets: list[dict]) -> list[str]:
    lines = ["| target | workload | from this run | ratio | result |", "|---|---|---|---:|---|"]
    for t in targets:
        if t["ratio"] is not None:
            value = f"{t['ratio']:.2f}×"
        elif t.get("value") is not None:
            value = f"{t['value']:.0f}"
        else:
            value = "n/a"
        result = {True: "MET", False: "**NOT MET**", None: "not measured"}[t["met"]]
        wl = t["workload"]
        lines.append(f"| {t['group']} {t['target']} | {wl} | {t['detail']} | {value} | {result} |")
    return lines


def write_markdown(path: Path, meta: dict, frameworks, medians, failed, targets,
                   spreads, versions) -> list[str]:
    cores = meta.get("scaling_cores")
    table = build_table(frameworks, medians, failed, versions, cores)
    m = meta["machine"]
    lines = [
        "# Benchmark comparison",
        "",
        f"- **Date:** {meta['date']}",
        f"- **Machine:** {m['uname']}; {m['cpu']}; {m['cores']} cores; {m['memory']} RAM",
        f"- **rustc:** {m['rustc']}",
        "- **Crates (Cargo.lock):** " + ", ".join(f"{c} {v}" for c, v in versions.items()),
        f"- **Command:** `{meta['command']}` (each cell: `{meta['cell_command']}`, "
        "one warm-up run then the median of 3 runs, in a fresh process)",
        f"- **ROUNDS:** {meta['rounds']} (cell order shuffled per round; the table shows the "
        "median of the rounds)",
        "",
        "Workloads and targets: `shared/BENCHMARKS.md`; harness: `benches/README.md`. This "
        "machine is shared and noisy: compare ratios within this run only, never absolute "
        "figures across runs.",
        "",
        "## Results",
        "",
        *table,
        "",
        "Throughput in millions of messages per second (higher is better); `ns` columns and "
        "bytes/actor: lower is better. `–`: not run; `FAILED`: every round failed; "
        "`*`: some rounds failed, median of the others.",
        "",
        "`spawn ns/actor` is timed right after the heap was trimmed (so that `bytes/actor`, the "
        "growth of the resident set, counts the live actors): the memory the actors take is "
        "faulted in afresh, and the time grows with the bytes per actor. `spawn ns/actor, warm "
        "heap` is the same workload in the same process with the trimming off, reusing the "
        "memory the last run freed (where glibc does not trim the heap by itself: on one "
        "thread it does, and the two columns agree). Each process reports for `bytes/actor` the "
        "most that any of its runs measured (one whose actors reuse pages an earlier run freed "
        "can only under-count); the table shows the median over the rounds.",
    ]
    if cores:
        lines += [
            "",
            f"`scaling`: {cores} independent sender/actor pairs, one per core seen by `cell`, "
            "messages per second in total; multi-threaded frameworks run it on a Tokio runtime "
            f"with {cores} workers (playhouse_smol on an async-executor run by {cores} threads; "
            "the other workloads use 2), actix and playhouse_1thread on their one thread.",
        ]
    if any(medians.get(fw, {}).get(wl) is not None or failed.get(fw, {}).get(wl)
           for fw in frameworks for wl in RESTART_WORKLOADS):
        floor = median_or_none(meta.get("panic_floor", []))
        lines += [
            "",
            "`restart`: one actor that panics on every message, restarted by its framework's "
            "supervision after each; 10,000 messages sent back to back, total time ÷ 10,000. "
            "`restart one at a time`: send one, wait until the next incarnation started, "
            "repeat. Only the frameworks whose supervision the harness drives run them: "
            "playhouse through the core's restart policy (`spawn_restartable`), kameo through "
            "`supervise` (restart in place, same mailbox), ractor through a supervisor that "
            "respawns the child on `ActorFailed` and forwards every message to the current "
            "child, one per incarnation (its restarts get a new reference and mailbox). The "
            "`playhouse_sup` rows run playhouse's restart workloads (and nothing else) under a "
            "one-for-one supervisor of its supervisor crate (`playhouse::supervisor`), on the "
            "same three executors: same reference and mailbox across restarts, each restart "
            "decided in the supervisor's handler.",
        ]
        if floor is not None:
            lines += [
                "",
                f"The floor under both: one panic caught at once on the same thread "
                f"(`cell {PANIC_FLOOR} restart`) took {floor:.0f} ns on this machine (median of "
                "the rounds).",
            ]
    if spreads:
        lines += [
            "",
            "Spread between rounds, (max − min) ÷ median:",
            "",
            "| framework | " + " | ".join(headers(cores)) + " |",
            "|---|" + "|".join("---:" for _ in COLUMNS) + "|",
        ]
        for fw in frameworks:
            cells = [fmt(spreads.get(fw, {}).get(key), "{:.0%}") for key, _, _, _ in COLUMNS]
            lines.append(f"| {fw} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Targets",
        "",
        "Computed from this run (ratios: higher is better; for ns metrics the ratio is "
        "peer ÷ playhouse). The restart target (≤ 5 µs) is on the `restart ns` column.",
        "",
        *targets_md(targets),
    ]
    warm = warm_spawn_note(medians)
    if warm:
        lines += ["", warm[0].upper() + warm[1:] + "."]
    failures = [(fw, wl, r["round"], r["error"])
                for fw, wls in meta["raw"].items() for wl, rounds in wls.items()
                for r in rounds if "error" in r]
    if failures:
        lines += ["", "## Failed cells", ""]
        lines += [f"- {fw} {wl}, round {rnd}: {err}" for fw, wl, rnd, err in failures]
    path.write_text("\n".join(lines) + "\n")
    return table


# ---------------------------------------------------------------------------------------------
# Chart


def import_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("matplotlib not found; pip install --quiet matplotlib")
        env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}
        rc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"],
                            env=env).returncode
        if rc != 0:
            return None
        import importlib
        import site
        importlib.invalidate_caches()
        try:
            site.addsitedir(site.getusersitepackages())
        except Exception:  # noqa: BLE001 - best effort only
            pass
        try:
            import matplotlib  # noqa: F401,F811
        except ImportError:
            return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def write_chart(path: Path, meta: dict, frameworks, medians) -> bool:
    plt = import_matplotlib()
    if plt is None:
        log("compare.py: matplotlib unavailable; chart skipped (the table is still written)")
        return False
    keys = [key for key, _, _, _ in COLUMNS
            if any(medians.get(fw, {}).get(key) is not None for fw in frameworks)]
    if not keys:
        log("compare.py: nothing measured; chart skipped")
        return False
    ncols = min(4, len(keys))
    nrows = (len(keys) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.8 * nrows + 0.6),
                             squeeze=False)

    def color(fw):
        if fw.startswith("playhouse_sup"):
            return "#9467bd"
        if fw.startswith("playhouse"):
            return {"playhouse": "#d62728", "playhouse_smol": "#e377c2"}.get(fw, "#ff9896")
        if fw.startswith("raw_"):
            return "#9e9e9e"
        return "#1f77b4"

    for i, key in enumerate(keys):
        ax = axes[i // ncols][i % ncols]
        names = [fw for fw in frameworks if medians.get(fw, {}).get(key) is not None]
        values = [medians[fw][key] for fw in names]
        bars = ax.bar(range(len(names)), values, color=[color(fw) for fw in names])
        for fw, bar in zip(names, bars):
            if fw.startswith("playhouse"):
                bar.set_edgecolor("black")
                bar.set_linewidth(1.5)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        better = "higher is better" if HIGHER_IS_BETTER[key] else "lower is better"
        title = {"bytes_per_actor": "spawn: resident bytes",
                 "spawn_warm": "spawn, warm heap"}.get(key, key.replace("_", "-"))
        if key == "scaling" and meta.get("scaling_cores"):
            title += f", {meta['scaling_cores']} pairs"
        ax.set_title(f"{title} ({better})", fontsize=10)
        ax.set_ylabel(UNITS[key])
        ax.grid(axis="y", alpha=0.3)
        for bar, v in zip(bars, values):
            ax.annotate(f"{v:.2f}" if HIGHER_IS_BETTER[key] else f"{v:.0f}",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    for j in range(len(keys), nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    from matplotlib.patches import Patch
    legend = [Patch(facecolor="#d62728", edgecolor="black", label="playhouse (multi-thread)"),
              Patch(facecolor="#ff9896", edgecolor="black", label="playhouse (one thread)"),
              Patch(facecolor="#e377c2", edgecolor="black", label="playhouse (smol)"),
              Patch(facecolor="#9467bd", edgecolor="black", label="playhouse, supervisor crate"),
              Patch(facecolor="#1f77b4", label="peers"),
              Patch(facecolor="#9e9e9e", label="raw channel loops")]
    fig.legend(handles=legend, loc="lower center", ncol=6, fontsize=9, frameon=False)
    m = meta["machine"]
    fig.suptitle(f"playhouse vs peers — {meta['date']}, {m['cores']} cores, "
                 f"median of {meta['rounds']} round(s)", fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------
# Main


def parse_list(text: str | None, known: list[str], what: str) -> list[str]:
    if not text:
        return list(known)
    names = [n.strip().replace("-", "_") for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"compare.py: unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def main() -> None:
    default_rounds = int(os.environ.get("ROUNDS", "7"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=default_rounds,
                    help="rounds (default: $ROUNDS or 7)")
    ap.add_argument("--frameworks", help="comma-separated subset of frameworks")
    ap.add_argument("--workloads", help="comma-separated subset of workloads")
    ap.add_argument("--out", default=str(REPO / "docs"), help="output folder (default: docs/)")
    ap.add_argument("--seed", type=int, help="seed for the per-round shuffle")
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("compare.py: --rounds must be at least 1")

    exe = build_cell()
    frameworks = parse_list(args.frameworks, cell_frameworks(exe), "framework")
    workloads = parse_list(args.workloads, WORKLOADS, "workload")
    supervising = cell_supervising(exe)
    restart_only = cell_restart_only(exe)
    if not args.frameworks and not any(wl in RESTART_WORKLOADS for wl in workloads):
        # Rows that would be all "–".
        frameworks = [fw for fw in frameworks if fw not in restart_only]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    command = shlex.join(["python3", os.path.relpath(__file__, Path.cwd())] + sys.argv[1:])
    if "ROUNDS" in os.environ and "--rounds" not in sys.argv[1:]:
        command = f"ROUNDS={os.environ['ROUNDS']} {command}"
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "command": command,
        "cell_command": f"{os.path.relpath(exe, REPO)} <framework> <workload>",
        "rounds": args.rounds,
        "seed": seed,
        "cell_timeout_s": CELL_TIMEOUT_S,
        "raw": {fw: {wl: [] for wl in workloads} for fw in frameworks},
        "panic_floor": [],
    }
    versions = crate_versions()

    # The restart workloads only where the framework supervises, the restart-only frameworks
    # nothing else (the others show "–").
    cells = [(fw, wl) for fw in frameworks for wl in workloads
             if (fw in supervising if wl in RESTART_WORKLOADS else fw not in restart_only)]
    run_floor = any(wl in RESTART_WORKLOADS for _, wl in cells)
    for rnd in range(1, args.rounds + 1):
        if run_floor:
            res = run_cell(exe, PANIC_FLOOR, "restart")
            if "value" in res:
                meta["panic_floor"].append(res["value"])
                log(f"[round {rnd}/{args.rounds}] {PANIC_FLOOR}: {res['value']:.0f} ns/panic")
            else:
                log(f"[round {rnd}/{args.rounds}] {PANIC_FLOOR}: FAILED: {res['error']}")
        order = cells[:]
        rng.shuffle(order)
        for i, (fw, wl) in enumerate(order, 1):
            res = run_cell(exe, fw, wl)
            meta["raw"][fw][wl].append({"round": rnd, **res})
            if "error" in res:
                shown = f"FAILED: {res['error']}"
            else:
                shown = f"{res['value']:.3f} {res.get('unit', '')}"
                if "bytes_per_actor" in res:
                    shown += f", {res['bytes_per_actor']:.0f} bytes/actor"
                if "spawn_warm" in res:
                    shown += f", {res['spawn_warm']:.0f} ns/actor on a warm heap"
                if "cores" in res:
                    shown += f", {res['cores']} pairs"
            log(f"[round {rnd}/{args.rounds} {i}/{len(order)}] {fw} {wl}: {shown}")

    medians: dict[str, dict[str, float | None]] = {}
    failed: dict[str, dict[str, int]] = {}
    spreads: dict[str, dict[str, float | None]] = {}
    for fw in frameworks:
        medians[fw], failed[fw], spreads[fw] = {}, {}, {}
        for wl in workloads:
            rounds = meta["raw"][fw][wl]
            failed[fw][wl] = sum(1 for r in rounds if "error" in r)
            series = {wl: [r["value"] for r in rounds if "value" in r]}
            if wl == "spawn":
                for key in SPAWN_KEYS:
                    series[key] = [r[key] for r in rounds if key in r]
            for key, vals in series.items():
                med = median_or_none(vals)
                medians[fw][key] = med
                spreads[fw][key] = ((max(vals) - min(vals)) / med
                                    if len(vals) > 1 and med else None)

    meta["scaling_cores"] = scaling_cores(meta["raw"])
    targets = compute_targets(medians)
    md_path, json_path, png_path = (out / "benchmarks.md", out / "benchmarks.json",
                                    out / "benchmarks.png")
    table = write_markdown(md_path, meta, frameworks, medians, failed, targets,
                           spreads if args.rounds > 1 else {}, versions)
    json_path.write_text(json.dumps({
        **{k: v for k, v in meta.items() if k != "raw"},
        "crate_versions": versions,
        "frameworks": frameworks,
        "workloads": workloads,
        "units": UNITS,
        "rounds_data": meta["raw"],
        "medians": medians,
        "failed_rounds": failed,
        "spread": spreads,
        "targets": targets,
    }, indent=2, ensure_ascii=False) + "\n")
    chart = write_chart(png_path, meta, frameworks, medians)

    print("\n".join(table))
    print()
    for t in targets:
        value = (f"{t['ratio']:.2f}×" if t["ratio"] is not None
                 else fmt(t.get("value"), "{:.0f}"))
        result = {True: "MET", False: "NOT MET", None: "not measured"}[t["met"]]
        print(f"{t['group']} {t['target']} [{t['workload']}]: {value} {result}")
    warm = warm_spawn_note(medians)
    if warm:
        print(warm)
    log(f"wrote {md_path}, {json_path}" + (f", {png_path}" if chart else " (no chart)"))


if __name__ == "__main__":
    main()
