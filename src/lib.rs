//! Playhouse: a runtime-agnostic actor framework whose whole message path is generic code the
//! compiler inlines — no `dyn`, no boxed future, no allocation per `tell` (an `ask` allocates its
//! reply port's slot).
//!
//! This facade re-exports [`playhouse_core`], the executor adapters of [`playhouse_executors`]
//! enabled by features (`tokio`, the default; `smol`; `std`), and the `#[actor]` macro
//! (feature `macros`, on by default).
//!
//! ```
//! use playhouse::prelude::*;
//!
//! struct Greeter;
//!
//! #[actor]
//! impl Greeter {
//!     #[message]
//!     fn greet(&mut self, name: String) -> String {
//!         format!("hello, {name}")
//!     }
//! }
//!
//! # #[cfg(feature = "tokio")]
//! #[tokio::main]
//! async fn main() {
//!     // One system: every actor spawned from it shares its executor and broker.
//!     let system = System::new(TokioExecutor::current());
//!     let greeter = system.spawn(Greeter);
//!     assert_eq!(greeter.greet("world".into()).await.unwrap(), "hello, world");
//! }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! Without the macro an actor is two impls, [`Actor`] (its message and error types) and
//! [`Handler`] (its handler and hooks); see [`playhouse_core`].

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub use playhouse_core::*;

pub use playhouse_broker::InMemoryBroker;

/// An executor and the in-memory broker, shared by every actor spawned from it: the core's
/// [`System`](playhouse_core::System) with [`InMemoryBroker`], so that `System::new(executor)`
/// is all a program writes. A system with another broker is
/// `playhouse::core::System::with_broker(executor, broker)`.
pub type System<E> = playhouse_core::System<E, InMemoryBroker>;

/// Spawns actors with one mailbox strategy onto a [`System`]'s executor: the core's
/// [`Spawner`](playhouse_core::Spawner) with [`InMemoryBroker`].
pub type Spawner<E, MB = mailbox::Bounded<mailbox::Block>> =
    playhouse_core::Spawner<E, MB, InMemoryBroker>;

/// The core crate, for what the names above fix (a `System` with another broker).
pub mod core {
    pub use playhouse_core::*;
}

/// The in-memory broker: registry, pub/sub topics, keyed actors. See [`playhouse_broker`].
pub mod broker {
    pub use playhouse_broker::*;
}

/// Writes an actor's message enum, its [`Actor`] and [`Handler`] impls and typed ask helpers
/// from plain methods (feature `macros`, on by default). See [`playhouse_macros`].
#[cfg(feature = "macros")]
pub use playhouse_macros::actor;

/// OTP supervisors: strategies, restart intensity, ordered start and shutdown, worker pools
/// and lifecycle events. See [`playhouse_supervisor`].
pub mod supervisor {
    pub use playhouse_supervisor::*;
}

/// Distribution on NATS (feature `nats`): [`NatsBroker`](playhouse_nats::NatsBroker) runs the
/// same actors across processes and machines. See [`playhouse_nats`].
#[cfg(feature = "nats")]
pub mod nats {
    pub use playhouse_nats::*;
}

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
    pub use crate::{InMemoryBroker, Spawner, System};
    pub use playhouse_core::mailbox::{
        Block, Bounded, DropNewest, DropOldest, Mailbox, Reject, Unbounded,
    };
    pub use playhouse_core::{
        Actor, ActorRef, AskError, Context, Env, Executor, ExitReason, Handler, MessageBroker,
        MessageTarget, NoReply, Recipient, Reply, SendError, SendTimeoutError, Topic,
        TopicPublisher, WeakActorRef, Wiring,
    };
    pub use playhouse_core::{Down, Exit, IncarnationEnd, Monitor, Observer};
    pub use playhouse_core::{StreamHandle, StreamMessage, StreamOptions, TimerHandle};
    #[cfg(feature = "smol")]
    pub use playhouse_executors::SmolExecutor;
    #[cfg(feature = "std")]
    pub use playhouse_executors::StdExecutor;
    #[cfg(feature = "tokio")]
    pub use playhouse_executors::TokioExecutor;
    #[cfg(feature = "macros")]
    pub use playhouse_macros::actor;
    pub use playhouse_supervisor::{
        AutoShutdown, ChildSpec, HealthCheck, KeyedSupervision, OnRestart, Pool, PoolSpec,
        RestartType, Shutdown, Strategy, SupervisorRef, SupervisorSpec,
    };
}

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The broker guide's Rust examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../docs/broker.md")]
pub struct BrokerGuideDoctests;
