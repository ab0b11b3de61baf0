//! What a bounded mailbox does when it is full.

/// The behaviour of a mailbox when a message arrives and it is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFull {
    /// `tell` waits for room; `try_tell` fails with `Full`, handing the message back.
    Wait,
    /// The new message is dropped and counted; the send reports success.
    DropNewest,
    /// The oldest queued message is dropped and counted, and the new one is queued.
    DropOldest,
    /// The send fails with `Full`, handing the message back.
    Reject,
    /// Never full (unbounded).
    Never,
}

mod sealed {
    pub trait Sealed {}
}

/// A mailbox overflow strategy, chosen as a type: [`Block`], [`DropNewest`], [`DropOldest`] or
/// [`Reject`] for [`Bounded`](super::Bounded), and [`Unbounded`](super::Unbounded).
///
/// The actor loop and every send are compiled for the strategy in use; the `match` on
/// [`ON_FULL`](Strategy::ON_FULL) is resolved at compile time.
pub trait Strategy: sealed::Sealed + Send + Sync + 'static {
    /// What a send does when the mailbox is full.
    const ON_FULL: OnFull;
    /// Whether the receiver takes every queued message at once (one lock per batch). Off for
    /// `DropOldest`, whose oldest message must stay in the queue to be droppable.
    const BATCH: bool;
    /// A short name, for `Debug` output and docs.
    const NAME: &'static str;
}

macro_rules! strategy {
    ($(#[$doc:meta])* $name:ident, $on_full:expr, $batch:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl Strategy for $name {
            const ON_FULL: OnFull = $on_full;
            const BATCH: bool = $batch;
            const NAME: &'static str = stringify!($name);
        }
    };
}

strategy!(
    /// Wait for room: `tell` waits until the actor takes a message (backpressure); `try_tell`
    /// fails with `Full` and hands the message back. The default.
    Block,
    OnFull::Wait,
    true
);
strategy!(
    /// Drop the new message when full, and count it ([`ActorRef::dropped_count`](crate::ActorRef::dropped_count)).
    DropNewest,
    OnFull::DropNewest,
    true
);
strategy!(
    /// Drop the oldest queued message when full to make room for the new one, and count it.
    DropOldest,
    OnFull::DropOldest,
    false
);
strategy!(
    /// Refuse the new message when full: the send fails with `Full`, handing it back.
    Reject,
    OnFull::Reject,
    true
);
strategy!(
    /// No bound: every send succeeds at once while the actor is alive. Memory grows with the
    /// backlog; prefer a bounded strategy unless the producers are bounded by other means.
    UnboundedStrategy,
    OnFull::Never,
    true
);
