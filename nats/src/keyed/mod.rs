//! Keyed actors sharded across nodes: one actor per key, living on one node of a group at a
//! time, activated by the key's first message and moved to another node when its node dies.
//!
//! - **Ownership** ([`lease`]): a key is owned by the node holding its lease, an entry in the
//!   `<prefix>_leases` bucket taken by compare-and-set, renewed every heartbeat, and fenced:
//!   a node that could not renew in time stops handling the key (no message handed to the
//!   actor, no answer sent, no state written) strictly before the server lets another node
//!   take the lease. When a node dies its leases lapse after one TTL, and its keys are
//!   activated elsewhere on their next message.
//! - **State** ([`KeyState`]): the factory gets the key's state store, in the group's bucket
//!   `<prefix>_state_<group>`; each save is a compare-and-set on the revision the activation
//!   loaded, refused once the lease lapsed or another owner wrote.
//! - **Routing**: a sender sends to `<prefix>.keyed.<group>.c.<key>`, served by every node of
//!   the group as one queue group: the node that gets it takes the key's lease, or refuses it
//!   naming the node that holds the lease ([`Rejection::OwnedElsewhere`](crate::Rejection)),
//!   and the sender sends to that node's own subject, `<prefix>.keyed.<group>.n.<node>.<key>`.
//!   Answers name the owner, and the sender goes straight there afterwards. A sender that
//!   finds nobody on an owner's subject (it died) tries again through the queue group after a
//!   short pause, until a node takes the lease (once the dead owner's has lapsed).
//! - **Durable messages** (`durable`): a group may also take messages stored in a JetStream
//!   stream and delivered at least once, each until the actor confirms it.
//! - **Supervision** (`supervise`): optional, per activation, with the same makers as an
//!   in-memory keyed set; a restart runs the factory again with the key's state reopened under
//!   the lease the activation holds.
//! - **No rebalancing**: a node that joins takes only keys that are not active anywhere; a key
//!   stays where it is until it is passivated or its node goes.

mod at_key;
mod durable;
pub(crate) mod lease;
mod sender;
mod serve;
mod spec;
mod state;
mod supervise;

pub use at_key::ShardedAt;
pub(crate) use durable::DeliveryInfo;
pub use durable::{DEDUP_WINDOW, Delivery, Redelivery, Stored};
pub use sender::ShardedRef;
pub use spec::{Sharded, ShardedSpec, ShardedStats};
pub use state::{KeyState, StateError};
