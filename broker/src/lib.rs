//! The in-memory message broker of playhouse: what an actor reaches other actors through beyond
//! the references it holds.
//!
//! - [`InMemoryBroker`]: the broker a [`System`](playhouse_core::System) is given, which its
//!   actors reach through `ctx.broker()`: the named registry of actors, and of services (shared
//!   handles such as a group of keyed actors, found by name and type), pub/sub, request-response
//!   by name (correlation ids, timeouts, late replies counted) and dead letters (counted per
//!   kind, shown to hooks).
//! - [`keyed`]: keyed (virtual) actors, activated by their first message and passivated when
//!   idle.
//! - [`pubsub`]: typed topics, subscribe and publish.
//!
//! # Why the broker is a type parameter
//!
//! The core's [`MessageBroker`](playhouse_core::MessageBroker) trait is what an actor's
//! context needs of a broker, and every actor's environment names its broker as a type
//! (`Env::Broker`), as it names its mailbox and executor. Its operations are generic trait
//! methods, so a handler generic over its environment calls them through `ctx.broker()` and
//! every call is monomorphized; swapping the broker (for the distributed one) is a type change
//! at the `System`, not a code change in the actors. The trait lives in the core because the
//! context names it; the implementations live here, and the core depends on no broker.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod dead_letters;
#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub mod faults;
#[cfg(not(all(playhouse_loom, feature = "loom-faults")))]
mod faults;
mod in_memory;
pub mod keyed;
pub mod pubsub;
mod registry;
mod requests;
mod services;
mod sharded;
mod sync;
pub mod type_names;

pub use in_memory::InMemoryBroker;
