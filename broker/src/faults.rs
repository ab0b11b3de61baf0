//! Test-only fault switches of the broker, as the core's: each deliberately breaks one
//! invariant so that the loom suite (`loom-tests/`) can show that its models catch the break.
//! They exist only under `RUSTFLAGS="--cfg playhouse_loom"` with the `loom-faults` feature; in
//! every other build [`enabled`] is a `const fn` returning `false` and each check compiles away.

/// A deliberate break of one invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Fault {
    /// The registry removes a name whoever owns it: a dead incarnation's `unregister` (or exit
    /// watcher) removes a newer registration.
    RegistryRemovesAnyOwner = 1 << 0,
    /// A routed send that finds the key's mailbox closed (a passivation won the race) drops its
    /// message and reports it sent, instead of activating the key again: a message racing a
    /// passivation is lost.
    KeyedClosedSendDrops = 1 << 1,
    /// An activation's exit watcher removes the key's entry whichever activation it belongs
    /// to: the passivated activation's end removes the next activation's entry, with the
    /// messages waiting in it.
    KeyedRetireRemovesAny = 1 << 2,
    /// The slow path looks for the key's entry under the read lock, then inserts a new
    /// activation under the write lock without looking again: two first messages racing for
    /// one key make two activations (two factory calls).
    KeyedActivatesApart = 1 << 3,
    /// A change to a topic's list while a publish holds a snapshot of it goes to a copy that is
    /// then dropped (copy-on-write done wrong): `unsubscribe` reports the subscription removed,
    /// but it stays listed and active, and later publishes deliver to it.
    UnsubscribeEditsACopy = 1 << 4,
    /// A subscribed actor's exit watcher removes its subscriptions but leaves it marked as
    /// watched: a subscription made after its end gets no watcher and is left behind.
    ExitKeepsActorWatched = 1 << 5,
    /// A [`KeyRef`](crate::keyed::KeyRef)'s send that finds its cached activation's mailbox
    /// closed (a passivation won the race) drops its message and reports it sent, instead of
    /// taking the routed path: a handle's message racing a passivation is lost.
    KeyRefClosedSendDrops = 1 << 6,
    /// `subscribe` changes the topic's list without bumping the table's version: a
    /// [`Publisher`](crate::pubsub::Publisher) whose cached snapshot predates the subscription
    /// goes on using it, and a publish that starts after `subscribe` returned misses the new
    /// subscriber.
    PublisherSkipsVersionBump = 1 << 7,
    /// A new activation records its actor (so that a later ask from the actor's `started`
    /// hook is refused) but leaves the asks the hook has already queued in the key's queue: an
    /// ask that queued first reaches the actor's mailbox, and the hook waits for an answer that
    /// can only come after it returns.
    KeyedKeepsQueuedOwnAsks = 1 << 8,
    /// A timed ask that gives up takes its request out of the key's activation queue but drops
    /// it, and reports the timeout as if the activation had it: the request is neither handed
    /// back nor delivered.
    KeyedWithdrawDrops = 1 << 9,
    /// The entry turns `Active` without waking the senders that wait for the hand-over to end:
    /// their messages are never sent.
    KeyedLeavesWaitersAsleep = 1 << 10,
    /// A registered actor's exit watcher removes the names it holds but leaves its record (of
    /// the names it holds) behind: a name it takes after its end finds the record, registers
    /// no watcher, and is left in the table.
    RegistryForgetKeepsRecord = 1 << 11,
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
mod switch {
    use super::Fault;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The enabled faults, as a bitmask. Plain std atomic: test plumbing, not a modelled primitive.
    static ENABLED: AtomicU32 = AtomicU32::new(0);

    /// `true` if `fault` is switched on.
    pub fn enabled(fault: Fault) -> bool {
        ENABLED.load(Ordering::Relaxed) & fault as u32 != 0
    }

    /// Switches `fault` on, process-wide.
    pub fn enable(fault: Fault) {
        ENABLED.fetch_or(fault as u32, Ordering::Relaxed);
    }
}

#[cfg(all(playhouse_loom, feature = "loom-faults"))]
pub use switch::{enable, enabled};

/// Never: faults exist only in loom builds with the `loom-faults` feature.
#[cfg(not(all(playhouse_loom, feature = "loom-faults")))]
#[inline(always)]
pub(crate) const fn enabled(_fault: Fault) -> bool {
    false
}
