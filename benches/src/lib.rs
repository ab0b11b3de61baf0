//! Peer-comparison benchmark harness for playhouse.
//!
//! One module per framework, each exposing a `Bench` with the same eight workloads (see
//! `shared/BENCHMARKS.md` and [`Framework`]), plus the two restart workloads where the harness
//! drives the framework's supervision (playhouse, kameo, ractor: [`Framework::SUPERVISES`]).
//! playhouse's restart workloads also run under its OTP supervisor crate
//! (`playhouse-supervisor`), as three more frameworks that run only those
//! ([`Framework::RESTART_ONLY`]: `playhouse_sup`, `playhouse_sup_1thread`, `playhouse_sup_smol`).
//! The criterion target `benches/compare.rs` and the `cell` binary both enumerate frameworks
//! through [`visit_all`]: adding a framework is one line there.
//!
//! Conventions shared by every module:
//! - the runtime is built once in `new()` and is outside every measurement; the multi-threaded
//!   ones run `scaling` on a second runtime with one worker per core
//!   ([`workload::LazyScalingRuntime`], built on first use, also outside the clock);
//! - the actors a workload talks to (the counter for tell/ask, the 1,000 fan-out actors, the two
//!   ping-pong actors, the counters of the scaling pairs) are spawned *before* the clock starts
//!   and stopped (and awaited) after it stops; only `spawn` times spawning and stopping;
//! - every workload asserts that every message was handled before it returns.

use std::time::Duration;

use workload::RestartMode;

pub mod actix_impl;
pub mod broker_peers;
pub mod counter;
pub mod heap;
pub mod kameo_impl;
pub mod playhouse_impl;
pub mod ractor_impl;
pub mod raw_async_channel;
pub mod raw_tokio;
pub mod workload;
pub mod xtra_impl;

/// One framework's implementation of the workloads; every method returns the timed part only.
pub trait Framework: Sized {
    /// Short name used as the criterion bench id and by the `cell` binary.
    const NAME: &'static str;
    /// Builds the framework's runtime (outside any measurement).
    fn new() -> Self;
    /// One sender, `TELL_N` fire-and-forget sends, then one ask that returns the count.
    fn tell(&self) -> Duration;
    /// `CONTENDED_SENDERS` concurrent sender tasks, `TELL_N` sends in total.
    fn tell_contended(&self) -> Duration;
    /// `ASK_N` sequential request-response round trips.
    fn ask(&self) -> Duration;
    /// `PIPELINED_N` asks with `PIPELINE_DEPTH` in flight at a time.
    fn ask_pipelined(&self) -> Duration;
    /// Spawns `SPAWN_N` actors, waits until each started, stops them all and waits until each
    /// stopped; returns the time and the resident bytes per live actor.
    fn spawn(&self) -> (Duration, f64);
    /// `FANOUT_ACTORS` actors, `FANOUT_PER_ACTOR` messages each, sent round-robin by one sender.
    fn fanout(&self) -> Duration;
    /// Two actors bounce a counter `PINGPONG_HOPS` times by tell.
    fn ping_pong(&self) -> Duration;
    /// Independent sender/actor pairs, one per core (`scaling_pairs()`): the actors are spawned
    /// before the clock starts; `scaling_pairs()` concurrent sender tasks each tell
    /// `SCALING_PER_PAIR` messages to their own actor; then each actor is asked its count.
    /// Multi-threaded frameworks run it on a runtime with one worker per core, one-thread
    /// frameworks on their one thread.
    fn scaling(&self) -> Duration;
    /// Whether this framework runs the restart workloads ([`restart`](Self::restart)): `true`
    /// where the harness drives its supervision.
    const SUPERVISES: bool = false;
    /// One actor, restarted by the framework's supervision after every message: `RESTART_N`
    /// messages each make its handler panic, and each new incarnation handles the next one;
    /// `mode` says whether they are sent back to back or one at a time
    /// ([`RestartMode::run`], which also checks the counts). The actor is spawned under its
    /// supervisor before the clock starts and stopped after it stops. Called only where
    /// [`SUPERVISES`](Self::SUPERVISES) is `true`.
    fn restart(&self, mode: RestartMode) -> Duration {
        let _ = mode;
        unimplemented!("{} does not run the restart workloads", Self::NAME)
    }
    /// Whether this framework runs *only* the restart workloads (another supervision mechanism
    /// of a framework listed already, as its own row of the comparison); its eight other
    /// workload methods are never called. Implies [`SUPERVISES`](Self::SUPERVISES).
    const RESTART_ONLY: bool = false;
}

/// Something run once per framework type (a generic closure, which Rust lacks).
pub trait FrameworkVisitor {
    /// Called once for each framework, in [`visit_all`]'s order.
    fn visit<F: Framework>(&mut self);
}

/// Calls `visitor` for every framework in the comparison; add a framework here.
pub fn visit_all<V: FrameworkVisitor>(visitor: &mut V) {
    visitor.visit::<playhouse_impl::Bench>();
    visitor.visit::<playhouse_impl::CurrentThread>();
    visitor.visit::<playhouse_impl::Smol>();
    visitor.visit::<playhouse_impl::SupBench>();
    visitor.visit::<playhouse_impl::SupCurrentThread>();
    visitor.visit::<playhouse_impl::SupSmol>();
    visitor.visit::<raw_tokio::Bench>();
    visitor.visit::<raw_async_channel::Bench>();
    visitor.visit::<actix_impl::Bench>();
    visitor.visit::<kameo_impl::Bench>();
    visitor.visit::<ractor_impl::Bench>();
    visitor.visit::<xtra_impl::Bench>();
}

/// Implements [`Framework`] for a type by delegating to its inherent methods of the same names.
/// `impl_framework!(Bench, "name")` for the eight workloads; `impl_framework!(Bench, "name",
/// supervises)` also delegates `restart` and sets `SUPERVISES`; `impl_framework!(Bench, "name",
/// restart_only)` delegates `restart` only and sets `SUPERVISES` and `RESTART_ONLY` (the eight
/// workloads panic: [`workload::Workload::runs_on`] never calls them).
#[macro_export]
macro_rules! impl_framework {
    ($ty:ty, $name:expr, restart_only) => {
        impl $crate::Framework for $ty {
            const NAME: &'static str = $name;
            const SUPERVISES: bool = true;
            const RESTART_ONLY: bool = true;
            fn new() -> Self {
                <$ty>::new()
            }
            fn restart(
                &self,
                mode: $crate::workload::RestartMode,
            ) -> ::std::time::Duration {
                <$ty>::restart(self, mode)
            }
            fn tell(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
            fn tell_contended(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
            fn ask(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
            fn ask_pipelined(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
            fn spawn(&self) -> (::std::time::Duration, f64) {
                $crate::restart_only!($name)
            }
            fn fanout(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
            fn ping_pong(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
            fn scaling(&self) -> ::std::time::Duration {
                $crate::restart_only!($name)
            }
        }
    };
    ($ty:ty, $name:expr) => {
        $crate::impl_framework!(@impl $ty, $name, {});
    };
    ($ty:ty, $name:expr, supervises) => {
        $crate::impl_framework!(@impl $ty, $name, {
            const SUPERVISES: bool = true;
            fn restart(
                &self,
                mode: $crate::workload::RestartMode,
            ) -> ::std::time::Duration {
                <$ty>::restart(self, mode)
            }
        });
    };
    (@impl $ty:ty, $name:expr, { $($extra:tt)* }) => {
        impl $crate::Framework for $ty {
            const NAME: &'static str = $name;
            fn new() -> Self {
                <$ty>::new()
            }
            fn tell(&self) -> ::std::time::Duration {
                <$ty>::tell(self)
            }
            fn tell_contended(&self) -> ::std::time::Duration {
                <$ty>::tell_contended(self)
            }
            fn ask(&self) -> ::std::time::Duration {
                <$ty>::ask(self)
            }
            fn ask_pipelined(&self) -> ::std::time::Duration {
                <$ty>::ask_pipelined(self)
            }
            fn spawn(&self) -> (::std::time::Duration, f64) {
                <$ty>::spawn(self)
            }
            fn fanout(&self) -> ::std::time::Duration {
                <$ty>::fanout(self)
            }
            fn ping_pong(&self) -> ::std::time::Duration {
                <$ty>::ping_pong(self)
            }
            fn scaling(&self) -> ::std::time::Duration {
                <$ty>::scaling(self)
            }
            $($extra)*
        }
    };
}

/// The body of a workload method a restart-only framework does not run.
#[doc(hidden)]
#[macro_export]
macro_rules! restart_only {
    ($name:expr) => {
        unreachable!("{} runs only the restart workloads", $name)
    };
}
