//! Typed topics: subscribe, unsubscribe, publish.
//!
//! A [`Topic<M>`] is a name typed by the message `M` published on it. [`Topics`], the table,
//! subscribes actors to topics and publishes to them: [`publish`](Topics::publish) delivers a
//! copy of the message to every subscriber by the rules of that subscriber's own mailbox, and
//! returns a [`PublishReport`] that counts the deliveries and hands back, with a reason, each
//! copy it could not deliver. Any actor whose message type converts from `M` (and back) can
//! subscribe, whatever its mailbox; subscribers that end are removed by themselves.
//!
//! ```
//! use playhouse_broker::pubsub::{Topic, Topics};
//! use playhouse_core::mailbox::{Bounded, Reject};
//! use playhouse_core::testing::{ThreadExecutor, block_on};
//! use playhouse_core::{Actor, Context, Env, Handler, System};
//! use std::convert::Infallible;
//!
//! /// Counts what it is told.
//! struct Count(u64);
//! impl Actor for Count { type Message = u64; type Error = Infallible; }
//! impl<V: Env> Handler<V> for Count {
//!     async fn handle(&mut self, n: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
//!         self.0 += n;
//!         Ok(())
//!     }
//! }
//!
//! # use playhouse_broker::InMemoryBroker;
//! let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
//! let topics = Topics::new();
//! let ticks = Topic::<u64>::new("ticks");
//! let a = system.spawn(Count(0));
//! let b = system.spawn_with(Count(0), Bounded::<Reject>::with_capacity(16).unwrap());
//! topics.subscribe(&ticks, &a).unwrap();
//! topics.subscribe(&ticks, &b).unwrap();
//!
//! let report = block_on(topics.publish(&ticks, 1));
//! assert_eq!(report.delivered, 2);
//! assert!(report.all_delivered());
//!
//! b.stop();
//! block_on(b.wait());
//! // Removed as it ended, by its exit watcher, which has run by the time `wait` resolves.
//! assert_eq!(topics.subscriber_count(&ticks), 1);
//! ```
//!
//! # How it is built, and why
//!
//! - **Copy-on-write snapshots.** Each topic's subscriptions are an `Arc<Vec<_>>`. A publish
//!   takes the lock only to clone that `Arc`, then works on the snapshot with no lock held. A
//!   subscribe or unsubscribe changes the list in place when no publish holds a snapshot, and
//!   copies it when one does. So publishers never wait for each other, nor for a subscriber,
//!   while holding anything that another publish, subscribe or actor exit needs.
//! - **A version to keep a snapshot.** Every change of any topic's list bumps a table-wide
//!   counter before it returns; a [`Publisher`] keeps its topic's snapshot with the version it
//!   was taken at and takes a fresh one only when the counter has moved, so that publishing
//!   repeatedly to one topic costs one atomic load on top of the deliveries.
//! - **No lock across an `.await`.** Sending is `try_tell` first, which never waits. Only a
//!   full `Block` subscriber is waited for, with the lock long released. The publish first
//!   yields once to the executor and tries the full subscribers again: a full mailbox is most
//!   often one whose actor is ready and has not run yet (on a one-thread executor it cannot run
//!   before the publisher yields), and this spares the common case a timer per subscriber.
//!   Those still full are then waited for at most [`PublishOptions::block_wait`] (default
//!   [`DEFAULT_BLOCK_WAIT`]), from then on, timed on that actor's own executor clock. All full
//!   `Block` subscribers of one publish are waited for together, so a publish waits at most
//!   one `block_wait`, not one per subscriber. A slow subscriber can delay a publish by that
//!   bound; it can never stall it, nor the other subscribers, who already have their copies.
//! - **Types checked once.** The table is keyed by name and erased; a subscription's type is
//!   checked when it is made ([`TopicError::WrongType`]), and a publish finds its typed list with
//!   one downcast. Each subscriber is called through one indirect call to code monomorphized for
//!   its actor and mailbox.
//! - **Ends followed, not polled.** Subscribing registers one exit watcher per actor and table
//!   ([`ActorRef::on_exit`](playhouse_core::ActorRef::on_exit)), which removes the actor's
//!   subscriptions when it ends; a publish that finds a mailbox closed removes that subscription
//!   at once. Nobody has to unsubscribe an actor that stops.
//!
//! # What it costs
//!
//! - `publish` to N subscribers: one lock and one `Arc` clone, then N clones of the message and
//!   N `try_tell`s, plus an atomic load per subscriber to skip ones unsubscribed meanwhile. It
//!   allocates nothing more while every subscriber has room or does not wait (the report's
//!   `undelivered` list allocates only if something is undelivered). A full `Block` subscriber
//!   adds the boxed rest of the publish and a yield; one still full after the yield adds a
//!   boxed waiting send and a boxed timer.
//! - [`Publisher::publish`], the same through a handle to one topic that keeps its snapshot:
//!   one atomic load (the table's version) instead of the lock, the lookup and the `Arc` clone,
//!   while no topic of the table changed; the same as `publish` on the first publish after a
//!   change. Its future ([`Publishing`]) does the whole publish in its first poll while every
//!   subscriber takes its copy at once. While a publisher holds a snapshot, changes to that
//!   topic copy its list.
//! - `subscribe`: one allocation for the subscription, and an amortized push onto the list, or a
//!   copy of the list (O(N)) while a publish holds a snapshot of it; the first subscription of an
//!   actor in a table also boxes its exit watcher.
//! - `unsubscribe`: a binary search and a removal (O(N) moves), or a copy while a snapshot is out.
//! - A subscriber that ends: a binary search, and its entry marked dead rather than removed;
//!   once the dead outnumber the living, one pass drops them all (amortized O(1) per end). So
//!   10,000 subscribers ending together cost O(N), not the O(N²) moves of one removal each.
//!   Until that pass, an ended actor's entry (and its stopped mailbox) stays in memory.
//! - Memory: per subscription, about 80 bytes (the list entry, and the subscription's
//!   allocation with its strong reference); per watched actor, one map entry until it ends.

mod publish;
mod publisher;
mod subscriber;
mod table;

// The names pub/sub's API shares with every broker live in the core, beside `MessageBroker`.
pub use playhouse_core::{
    DEFAULT_BLOCK_WAIT, PublishOptions, PublishReport, SubscriptionId, Topic, TopicError,
    Undelivered, UndeliveredReason,
};
pub use publisher::{Publisher, Publishing};
pub use table::Topics;
