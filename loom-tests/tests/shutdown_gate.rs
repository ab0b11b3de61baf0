//! Loom models of the Tokio adapter's shutdown gate. Run with `loom-tests/run.sh`.
#![cfg(playhouse_loom)]

use playhouse_loom_tests::models::shutdown_gate as m;

/// A timer polled outside its runtime while the runtime shuts down reaches the live timer or
/// ends, never a shut-down one (which panics, in Tokio).
#[test]
fn timer_racing_its_runtimes_shutdown_never_meets_it_shut_down() {
    m::timer_racing_its_runtimes_shutdown_never_meets_it_shut_down();
}

/// The gate's watcher task ends when its executor is dropped: no idle task is left behind.
#[test]
fn watcher_ends_when_its_executor_is_gone() {
    m::watcher_ends_when_its_executor_is_gone();
}
