//! The model bodies. Each `pub fn` runs one loom model to completion (panicking on a violation);
//! the `#[test]`s in `tests/` name them after their invariants, and the fault tests rerun some
//! of them with a primitive deliberately broken.

pub mod actor;
pub mod close;
pub mod control;
pub mod ending;
pub mod handler;
pub mod incarnation;
pub mod keyed;
pub mod link;
pub mod mailbox;
pub mod monitor;
pub mod priority;
pub mod pubsub;
pub mod registry;
pub mod reply;
pub mod restart;
pub mod shutdown_gate;
pub mod streams;
pub mod timers;
