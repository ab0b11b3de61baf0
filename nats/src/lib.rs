//! Distributed playhouse on NATS: the same actors across processes and machines.
//!
//! [`NatsBroker`] is a [`MessageBroker`](playhouse_core::MessageBroker): inside a process it is
//! the in-memory broker (an actor written for `InMemoryBroker` runs unchanged: the `System`'s
//! broker type is all that changes), and across processes it runs on a NATS server with
//! JetStream, which operators already know how to run, secure and monitor:
//!
//! - **Addressing by name**: [`NatsBroker::export`] serves a local actor under a cluster-wide
//!   name; [`NatsBroker::remote`] gives a typed [`RemoteRef`] that tells and asks it from any
//!   node. Messages are serialized with serde ([`Postcard`] by default, the [`Codec`]
//!   pluggable) inside a small versioned envelope; a node refuses what it cannot read with a
//!   typed [`Rejection`] that reaches the sender (in the error, or as a dead letter).
//! - **The whole protocol**: [`Export::protocol`] serves the actor's own message type, reply
//!   ports included, as its [`RemoteProtocol`] writes it (`#[actor(remote)]` implements it);
//!   [`NatsBroker::remote_actor`] gives a [`RemoteActorRef`], a
//!   [`MessageTarget`](playhouse_core::MessageTarget) of that type, so the code written against
//!   a local actor (`#[actor]`'s helpers: `account.deposit(5)`) runs against a remote one.
//!   [`ShardedSpec::protocol`] and [`ShardedRef::at`] do the same for one key of a sharded
//!   group.
//! - **Cluster registry**: a JetStream key-value bucket, `<prefix>_registry`, entries naming
//!   their owner node; removed when the actor ends, or when its node leaves or stops
//!   heartbeating. A node that was only out of reach claims its names again when it is back,
//!   or gives up one that another node took meanwhile ([`MemberEvent::NameLost`]).
//! - **Topics across nodes**: [`NatsBroker::subscribe_remote`] subscribes a local actor to a
//!   [`Topic`](playhouse_core::Topic) on every node (subject `<prefix>.topic.<name>`);
//!   [`NatsBroker::publish_remote`] publishes to them all. Apart from the in-memory topics of
//!   [`MessageBroker::publish`](playhouse_core::MessageBroker::publish), which stay in the
//!   process.
//! - **Worker pools across nodes**: [`NatsBroker::join_pool`] makes a local actor one member of
//!   a pool served from any number of nodes (a NATS queue group on `<prefix>.pool.<name>`);
//!   [`NatsBroker::pool`] gives a [`RemoteRef`] whose every message one member handles.
//! - **Membership**: heartbeats in `<prefix>_members` (TTL'd) and the connection's own events:
//!   [`NatsBroker::members`], [`NatsBroker::member_events`]. A node name is held by one process:
//!   each heartbeat is a compare-and-set on the node's entry, and a node that returns from out
//!   of reach to find its name taken by another process leaves ([`MemberEvent::Superseded`]).
//! - **Keyed actors sharded across nodes**: [`NatsBroker::sharded`] serves a group of keyed
//!   actors on this node, [`NatsBroker::sharded_ref`] sends to one by key from any node. A key
//!   lives on one node at a time, under a lease in `<prefix>_leases` (taken by
//!   compare-and-set, renewed by heartbeat, fenced by its deadline); its state is saved
//!   through a fenced [`KeyState`]; when its node dies the key comes back elsewhere on its
//!   next message. A group can also take durable messages
//!   ([`ShardedSpec::durable`], [`ShardedRef::tell_durable`]): stored in a JetStream stream
//!   under an id (stored once per id), and delivered to the key's actor until it confirms
//!   each ([`Delivery`]): at least once, across the death of the key's node.
//!
//! # Runtimes
//!
//! `async-nats` needs Tokio. The crate owns a Tokio runtime (two threads, started on first use,
//! never exposed) on which the connection and the serving tasks run; a call from any executor
//! (Tokio, smol, the std executor) awaits work there. The actors themselves run where their
//! `System` runs them.
//!
//! # Delivery
//!
//! Core NATS delivers at most once, as Erlang's distribution does: a message is lost if a node
//! or the connection fails while it is in flight. What is reported: a refusal by the receiving
//! node, or nobody serving the name, comes back (in an ask's or acknowledged tell's error; for
//! a plain tell as a dead letter on the sender's broker); an ask that gets no answer in time
//! fails with [`RemoteError::Timeout`]. Nothing here retries on its own, except the one
//! at-least-once path: durable messages to keyed actors, which JetStream stores and the key's
//! owner acknowledges only when the actor confirms ([`Delivery`]).
//!
//! # Security
//!
//! TLS is required by default ([`NodeConfig::allow_plaintext`] turns that off for a
//! development server), and the node presents the [`Credentials`] it is given (user and
//! password, an nkey, or a `.creds` file). Run the server with TLS and authentication on;
//! `docs/distribution.md` shows a configuration.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod address;
mod announce;
mod broker;
mod codec;
mod config;
mod envelope;
mod error;
mod export;
mod held_names;
mod inbox;
mod keyed;
mod members;
mod pool;
mod protocol;
mod pubsub;
mod registry;
mod remote_actor_ref;
mod remote_ref;
mod routes;
mod runtime;

/// The NATS client this crate is built on, re-exported so that code using
/// [`NatsBroker::client`] names the same version of its types.
pub use async_nats;
pub use broker::NatsBroker;
pub use codec::{Codec, CodecError, Postcard};
pub use config::{
    Credentials, DEFAULT_ASK_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SUBSCRIPTION_CAPACITY,
    NodeConfig,
};
pub use envelope::{ENVELOPE_VERSION, Rejection, RemoteNoReply};
pub use error::{ConnectError, ExportError, RemoteAskError, RemoteError};
pub use export::{Export, Exported};
pub use keyed::{
    DEDUP_WINDOW, Delivery, KeyState, Redelivery, Sharded, ShardedAt, ShardedRef, ShardedSpec,
    ShardedStats, StateError, Stored,
};
pub use members::{LeaveReason, MemberEvent};
pub use protocol::{RemoteProtocol, ReplyPort, answer_reply};
pub use pubsub::{PublishError, RemoteSubscription, SubscribeError};
pub use registry::Registration;
pub use remote_actor_ref::RemoteActorRef;
pub use remote_ref::RemoteRef;
/// The serde this crate is built on, re-exported for the code that `#[actor(remote)]`
/// generates (its wire forms derive `Serialize` and `Deserialize` through this path).
pub use serde;

#[cfg(feature = "test-server")]
pub mod testing;
