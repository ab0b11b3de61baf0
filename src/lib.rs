//! Playhouse: a runtime-agnostic actor framework whose whole message path is generic code the
//! compiler inlines — no `dyn`, no boxed future, no allocation per `tell` (an `ask` allocates its
//! reply port's slot).
//!
//! This facade re-exports [`playhouse_core`] and the executor adapters of
//! [`playhouse_executors`] enabled by features (`tokio`, the default; `smol`; `std`).
//!
//! ```
//! use playhouse::prelude::*;
//! use std::convert::Infallible;
//!
//! struct Greeter;
//!
//! enum Msg {
//!     Greet(String, Reply<String>),
//! }
//!
//! impl Actor for Greeter {
//!     type Message = Msg;
//!     type Error = Infallible;
//!
//!     async fn handle<V: Env>(&mut self, msg: Msg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
//!         let Msg::Greet(name, reply) = msg;
//!         let _ = reply.send(format!("hello, {name}"));
//!         Ok(())
//!     }
//! }
//!
//! # #[cfg(feature = "tokio")]
//! #[tokio::main]
//! async fn main() {
//!     let greeter = spawn(&TokioExecutor::current(), Greeter);
//!     let answer = greeter.ask(|r| Msg::Greet("world".into(), r)).await.unwrap();
//!     assert_eq!(answer, "hello, world");
//! }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use playhouse_core::*;

/// Writes an actor's message enum, its [`Actor`] and [`Handler`] impls and typed ask helpers
/// from plain methods (feature `macros`, on by default). See [`playhouse_macros`].
#[cfg(feature = "macros")]
pub use playhouse_macros::actor;

/// Executor adapters, each behind its feature.
pub mod executors {
    pub use playhouse_executors::*;
}

#[cfg(feature = "smol")]
pub use playhouse_executors::SmolExecutor;
#[cfg(feature = "std")]
pub use playhouse_executors::StdExecutor;
#[cfg(feature = "tokio")]
pub use playhouse_executors::TokioExecutor;

/// The names most programs need: `use playhouse::prelude::*;`.
pub mod prelude {
    pub use playhouse_core::mailbox::{
        Block, Bounded, DropNewest, DropOldest, Mailbox, Reject, Unbounded,
    };
    pub use playhouse_core::{
        Actor, ActorRef, AskError, Context, Env, Executor, ExitReason, Handler, MessageBroker,
        NoReply, Recipient, Reply, SendError, Spawner, System, WeakActorRef, Wiring,
    };
    #[cfg(feature = "smol")]
    pub use playhouse_executors::SmolExecutor;
    #[cfg(feature = "std")]
    pub use playhouse_executors::StdExecutor;
    #[cfg(feature = "tokio")]
    pub use playhouse_executors::TokioExecutor;
    #[cfg(feature = "macros")]
    pub use playhouse_macros::actor;
}

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
