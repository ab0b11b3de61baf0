//! Loom models of playhouse's own concurrency primitives: the mailbox queue and its wake-ups,
//! reply ports, and real actors (runner, timers, references) spawned on a loom executor.
//!
//! Everything here exists only under `RUSTFLAGS="--cfg playhouse_loom"`; in a normal build this
//! crate is empty and its test files compile to nothing. See `README.md` for how to run it.

#[cfg(playhouse_loom)]
pub mod harness;
#[cfg(playhouse_loom)]
pub mod models;
