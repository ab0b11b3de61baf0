#!/usr/bin/env bash
# Runs the loom suite of playhouse: every model in release mode with debug assertions, then the
# fault tests (each model rerun with a primitive deliberately broken in core must fail).
#
#   loom-tests/run.sh                          # the whole suite, preemption bound 2
#   LOOM_MAX_PREEMPTIONS=3 loom-tests/run.sh   # a deeper (slower) run
#   loom-tests/run.sh --test mailbox -- fifo   # arguments go to the models' `cargo test`
#
# Builds into $CARGO_TARGET_DIR if set, else target/loom under the workspace, so that the loom
# build (a different cfg) does not invalidate the normal build's cache. Exits non-zero on failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
# `oneshot_loom` switches the reply port's one-shot channel (the `oneshot` crate) to loom's types too.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg playhouse_loom --cfg oneshot_loom -C debug-assertions"

start=$SECONDS
echo "== loom models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, target dir $CARGO_TARGET_DIR)"
cargo test -p playhouse-loom-tests --release "$@"

echo "== fault tests (each must make its model fail)"
cargo test -p playhouse-loom-tests --release --features faults --test faults -- --nocapture

echo "== loom suite passed in $((SECONDS - start)) s"
