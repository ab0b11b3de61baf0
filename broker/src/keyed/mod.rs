//! Keyed (virtual) actors: one actor per key, made when the key's first message arrives and put
//! away when it has been idle, as Orleans' grains and acteur's actors are.
//!
//! A [`KeyedSpec`] says how a key's actor is made (a factory given the key, which may be async
//! and may fail: typically a load from a store), with which mailbox, after how long idle it is
//! passivated, and how a crashed one restarts. [`start`](KeyedSpec::start) it on a
//! [`System`](playhouse_core::System) to get a [`Keyed`] handle, and send by key:
//!
//! ```
//! use playhouse_broker::keyed::KeyedSpec;
//! use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! struct Player { name: String, score: u64 }
//! enum Msg { Score(u64), Get(Reply<u64>) }
//! impl Actor for Player { type Message = Msg; type Error = Infallible; }
//! impl<V: Env> Handler<V> for Player {
//!     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
//!         match msg {
//!             Msg::Score(n) => self.score += n,
//!             Msg::Get(reply) => { let _ = reply.send(self.score); }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # use playhouse_broker::InMemoryBroker;
//! let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
//! let players = KeyedSpec::from_fn(|name: &String| {
//!     Ok::<_, Infallible>(Player { name: name.clone(), score: 0 })
//! })
//! .passivate_after(Duration::from_secs(600))
//! .start(&system);
//!
//! playhouse_core::testing::block_on(async {
//!     players.tell("ada".to_string(), Msg::Score(3)).await.unwrap();
//!     let score = players.ask("ada".to_string(), Msg::Get).await.unwrap();
//!     assert_eq!(score, 3);
//! });
//! ```
//!
//! # How it works
//!
//! Each key's activation is an ordinary actor ([`ActorRef`](playhouse_core::ActorRef)) with the
//! spec's mailbox, spawned by the set's system; the set keeps a table from key to entry. The
//! table is sharded by the key's hash, each shard behind a read-write lock:
//!
//! - a send to an **active** key takes its shard's read lock and `try_tell`s into the mailbox
//!   (the hot path: one hash, one lock, no allocation, no clone);
//! - a [`KeyRef`] (a handle on one key, from [`Keyed::key_ref`]) caches the key's activation:
//!   its send to an active key sets the entry's idle flag, which it shares, and `try_tell`s
//!   into the cached mailbox, with no hash and no lock; a closed mailbox hands the message back
//!   and it takes the routed path, after which the handle caches the new activation;
//! - a send to an **inactive** key takes the write lock and leaves an `Activating` entry with
//!   its message; a task spawned on the executor waits for the key's previous activation to
//!   end (if it is still ending), runs the factory, spawns the actor, and hands it the messages
//!   that queued meanwhile, in order, before the entry turns `Active`; each of those senders is
//!   answered as its message enters the mailbox (waiting for room in a full `Block` one, as a
//!   routed send would). A message that comes during the hand-over does not join the queue: its
//!   sender waits until the entry turns `Active` and sends it then, so the hand-over ends
//!   however busy the key is, and nothing overtakes what was queued. Concurrent first messages
//!   find the `Activating` entry and queue behind: one factory call per activation;
//! - **passivation** (on demand, or by the sweeper, an actor that `run_interval` wakes) stops
//!   the activation gracefully under the write lock; a send that finds its mailbox closed
//!   activates the key again, and the new activation waits for the old one's exit. The old
//!   activation's exit watcher removes its entry, so an idle passivated key costs nothing;
//! - a **crash** is the supervision's business ([`KeyedSpec::supervise`], e.g.
//!   `playhouse-supervisor`'s OTP `KeyedSupervision`, or a plain [`KeyedSpec::restart`]
//!   policy): a restart keeps the reference, the mailbox (with its queue, unless the
//!   supervision drains it), and the entry; without one, or once the supervision gives up,
//!   the activation ends, its entry goes, and the next message activates the key again. What
//!   the ended activation had queued is discarded with it (as any actor's end discards its
//!   mailbox), and its exit watcher reports each discarded message as an `ActorGone` dead
//!   letter for the key on the system's broker.
//!
//! No lock is held across an `.await`, and the factory, the handlers, the hooks and the restart
//! policies never run under one (they run on the activation's task or the actor's).
//!
//! # Why it is built so
//!
//! Routing by key must cost about what a direct `tell` costs, or a program would cache
//! references and lose the point of virtual actors; so the hot path reads a sharded table and
//! pushes into the mailbox the core already has, with nothing boxed. Activation is rare and may
//! wait on I/O, so it is boxed, type-erased (the factory, the executor) and run on a task of
//! its own, where a sender that gives up cannot strand the others. Passivation is a graceful
//! stop, not a kill, so that a passivated key saves its state in `stopped` and no message that
//! reached it is lost. Idle time is read from the executor's clock, so tests drive it with
//! [`VirtualTime`](playhouse_core::testing::VirtualTime).
//!
//! # What it costs
//!
//! See [`Keyed`]'s `# Costs`: per send to an active key, a hash, a read lock and a `try_tell`
//! (through a [`KeyRef`], the `try_tell` and a flag);
//! per active key, one table entry beside its actor; per activation, a few allocations and a
//! task; per set with passivation, one sweeper actor that walks the active keys every quarter
//! of the idle time. Nothing per passivated key.

mod activation;
mod at_key;
mod entry;
mod error;
mod factory_scope;
mod handle;
mod key_ref;
mod launch;
mod passivation;
mod shared;
mod spec;
mod supervise;
mod table;
mod tell;

pub use at_key::AtKey;
pub use error::{ActivationCause, ActivationTimedOut, ExecutorShutDown, KeyedAskError, KeyedError};
pub use handle::{Keyed, KeyedStats};
pub use key_ref::{KeyRef, KeyRefTell};
pub use spec::{Key, KeyedSpec};
pub use supervise::{
    BoxedSupervision, Reactivation, ReactivationSource, SetDropped, SupervisionMaker,
};
pub use tell::Tell;
