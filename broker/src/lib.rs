//! The in-memory message broker of playhouse: what an actor reaches other actors through beyond
//! the references it holds.
//!
//! - [`keyed`]: keyed (virtual) actors, activated by their first message and passivated when
//!   idle.
//! - [`pubsub`]: typed topics, subscribe and publish.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod keyed;
pub mod pubsub;
