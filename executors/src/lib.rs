//! Executor adapters for playhouse, each behind a feature:
//!
//! | feature | adapter | runs on | timers |
//! | --- | --- | --- | --- |
#![cfg_attr(
    feature = "tokio",
    doc = "| `tokio` | [`TokioExecutor`] | a Tokio runtime you already have (multi-thread or current-thread) | `tokio::time` (the runtime needs `enable_time`) |"
)]
#![cfg_attr(
    not(feature = "tokio"),
    doc = "| `tokio` | `TokioExecutor` (feature off in this build) | a Tokio runtime you already have (multi-thread or current-thread) | `tokio::time` (the runtime needs `enable_time`) |"
)]
#![cfg_attr(
    feature = "smol",
    doc = "| `smol` | [`SmolExecutor`] | an `async-executor` you run, or a global one | `async-io` |"
)]
#![cfg_attr(
    not(feature = "smol"),
    doc = "| `smol` | `SmolExecutor` (feature off in this build) | an `async-executor` you run, or a global one | `async-io` |"
)]
#![cfg_attr(
    feature = "std",
    doc = "| `std` | [`StdExecutor`] | a `futures` thread pool, std threads only | one timer thread of its own (one lock and no allocation per sleep; a dropped sleep frees its entry; idle, it does not wake) |"
)]
#![cfg_attr(
    not(feature = "std"),
    doc = "| `std` | `StdExecutor` (feature off in this build) | a `futures` thread pool, std threads only | one timer thread of its own (one lock and no allocation per sleep; a dropped sleep frees its entry; idle, it does not wake) |"
)]
//!
//! Each is a cheap, cloneable handle implementing [`playhouse_core::Executor`]. Every adapter
//! contains a panic that escapes a task: the task ends there and its thread lives on.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub mod faults;
#[cfg(playhouse_loom)]
#[doc(hidden)]
pub mod shutdown_gate;
#[cfg(all(feature = "tokio", not(playhouse_loom)))]
mod shutdown_gate;
#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "std")]
mod std_pool;
#[cfg(feature = "std")]
mod std_timer;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "smol")]
pub use crate::smol::{SmolExecutor, SmolSleep};
#[cfg(feature = "std")]
pub use crate::std_pool::StdExecutor;
#[cfg(feature = "std")]
pub use crate::std_timer::StdSleep;
#[cfg(feature = "tokio")]
pub use crate::tokio::{NoTokioRuntime, TokioExecutor, TokioSleep};
