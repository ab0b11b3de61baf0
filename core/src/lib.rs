//! The runtime-agnostic, zero-dyn core of playhouse: actors, their references and mailboxes,
//! reply ports, and the executor trait they run on.
//!
//! An actor's whole message path is generic code the compiler sees through:
//!
//! ```text
//! ActorRef<A, MB> --tell--> Queue<A::Message, MB::Strategy> ==> Receiver --> A::handle(&mut self, msg, ctx)
//!        ^                                                                          |
//!        +---------------------------- Reply<T> (one-shot port) <-------------------+
//! ```
//!
//! # No `dyn`, no boxing, no allocation per `tell`
//!
//! - `tell` pushes the message by value into the actor's queue, which lives inline in the one
//!   allocation an actor shares with its references ([`ActorRef`] is an `Arc` to it). The queue's
//!   buffer grows with the backlog and is reused; the receiver swaps whole batches out of it.
//! - `handle` is a native `async fn` in the trait ([`Actor`]); its future is a concrete type,
//!   polled in place inside the actor's task, never boxed.
//! - The mailbox strategy is a type ([`mailbox::Strategy`]); what a full mailbox does is decided
//!   at compile time.
//! - `ask` allocates exactly one thing: the reply port's shared slot ([`reply_port`]).
//!
//! Cold paths erase types where that keeps the API simple, and only there: the executor's timer
//! inside an actor's cell (used by [`ActorRef::ask_timeout`], which boxes its sleep), exit
//! watchers ([`ActorRef::on_exit`]), error values in [`ExitReason::Failed`], the registry
//! entries of the in-memory broker (`playhouse-broker`), and [`Recipient`], which names only the message it sends
//! (one indirect call per send; see its docs for what it costs).
//!
//! # Protocol and behaviour
//!
//! An actor is two impls: [`Actor`] (its message and error types, what references need) and
//! [`Handler<V>`](Handler) (its handler and hooks in the environment `V`: mailbox, executor,
//! broker). Most actors implement `Handler<V>` for every `V`; one that needs a concrete mailbox,
//! executor or broker names it, and its [`Context`] then hands out concrete types (a reference
//! to itself it can keep in a field, its broker's own methods). [`Handler`]'s docs say why the
//! environment is a trait parameter. The `#[actor]` macro of the `playhouse` facade writes both
//! impls from plain methods.
//!
//! # One system
//!
//! A [`System`] is an executor and a broker; every actor spawned from it, and from its actors'
//! contexts, shares both, so any actor can find any other by name.
//!
//! # Example
//!
//! ```
//! use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
//! use std::convert::Infallible;
//!
//! struct Counter(u64);
//!
//! enum Msg {
//!     Add(u64),
//!     Get(Reply<u64>),
//! }
//!
//! impl Actor for Counter {
//!     type Message = Msg;
//!     type Error = Infallible;
//! }
//!
//! impl<V: Env> Handler<V> for Counter {
//!     async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
//!         match msg {
//!             Msg::Add(n) => self.0 += n,
//!             Msg::Get(reply) => { let _ = reply.send(self.0); }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # let executor = playhouse_core::testing::ThreadExecutor;
//! # use playhouse_broker::InMemoryBroker;
//! let system = System::with_broker(executor, InMemoryBroker::new());
//! playhouse_core::testing::block_on(async {
//!     let counter = system.spawn(Counter(0));
//!     counter.tell(Msg::Add(40)).await.unwrap();
//!     counter.tell(Msg::Add(2)).await.unwrap();
//!     assert_eq!(counter.ask(Msg::Get).await.unwrap(), 42);
//! });
//! ```
//!
//! # Loom
//!
//! Every atomic, `Arc` and mutex the crate synchronizes with comes from one internal `sync`
//! module, which switches to loom's modelled types under `RUSTFLAGS="--cfg playhouse_loom"`.
//! The models live in the `playhouse-loom-tests` crate.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod actor;
mod actor_ref;
mod broker;
mod cell;
mod context;
mod current_actor;
mod env;
mod error;
mod executor;
mod exit;
mod exit_wait;
mod exit_watchers;
#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub mod faults;
#[cfg(not(all(playhouse_loom, feature = "loom-faults")))]
mod faults;
mod link;
pub mod mailbox;
mod message_target;
mod meta_sends;
pub mod observer;
mod recipient;
mod reply;
mod runner;
mod spawn;
mod stream;
mod sync;
mod system;
#[cfg(not(playhouse_loom))]
pub mod testing;
mod timer;
mod within;
mod yield_now;

pub use actor::{Actor, BoxError, Handler};
pub use actor_ref::{ActorRef, IncarnationEnd, WeakActorRef};
pub use broker::{
    Answer, CorrelationId, DEFAULT_BLOCK_WAIT, DeadLetter, DeadLetterCounts, DeadLetterHookId,
    DeadLetterKind, DeadLetterSink, LookupError, MessageBroker, PublishOptions, PublishReport,
    RegistryError, Request, RequestError, SubscriptionId, Topic, TopicError, TopicPublisher,
    Undelivered, UndeliveredReason,
};
pub use cell::ActorId;
pub use context::Context;
pub use env::{Env, Wiring};
pub use error::{AskError, MailboxConfigError, NoReply, SendAtError, SendError, SendTimeoutError};
pub use executor::Executor;
pub use exit::ExitReason;
pub use exit_wait::ExitWait;
pub use link::{Down, Exit, Monitor};
pub use message_target::MessageTarget;
pub use observer::Observer;
pub use recipient::Recipient;
pub use reply::{Reply, ReplyReceiver, reply_port};
pub use spawn::{Next, NoRestart, Restart, Spawner, Supervision, restart_on_failure, restart_with};
pub use stream::{StreamEnd, StreamHandle, StreamItem, StreamMessage, StreamOptions};
pub use system::System;
pub use timer::TimerHandle;
pub use within::Within;
pub use yield_now::{YieldNow, yield_now};
