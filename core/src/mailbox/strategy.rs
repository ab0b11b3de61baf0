//! What a bounded mailbox does when it is full, and what it keeps beside each message.

use std::time::Instant;

/// The behaviour of a mailbox when a message arrives and it is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFull {
    /// `tell` waits for room; `try_tell` fails with `Full`, handing the message back.
    Wait,
    /// The new message is dropped and counted; the send reports success.
    DropNewest,
    /// The oldest queued message is dropped and counted, and the new one is queued; where no
    /// queued message can make room for it (the room is taken by control messages, or by one
    /// the receiver put back, or under levels it is the least urgent), the new one is dropped.
    DropOldest,
    /// The send fails with `Full`, handing the message back.
    Reject,
    /// Never full (unbounded).
    Never,
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A mailbox overflow strategy, chosen as a type: [`Block`], [`DropNewest`], [`DropOldest`] or
/// [`Reject`] for [`Bounded`](super::Bounded), and [`Unbounded`](super::Unbounded); each may be
/// wrapped in [`Prioritized`](super::Prioritized) (priority levels) and
/// [`Expiring`](super::Expiring) (deadlines).
///
/// The actor loop and every send are compiled for the strategy in use; the `match` on
/// [`ON_FULL`](Strategy::ON_FULL) is resolved at compile time, and so is everything the
/// wrappers add: a plain strategy's [`Meta`](Strategy::Meta) is `()`, so its queue stores
/// `(M, ())`, which has exactly the layout of `M`, and its checks of levels and deadlines are
/// constants that compile away.
pub trait Strategy: sealed::Sealed + Send + Sync + 'static {
    /// What a send does when the mailbox is full.
    const ON_FULL: OnFull;
    /// Whether the receiver takes every queued message at once (one lock per batch). Off for
    /// `DropOldest`, whose oldest message must stay in the queue to be droppable, and for
    /// `Prioritized`, whose receiver must pick the most urgent message at each hand-out.
    const BATCH: bool;
    /// A short name, for `Debug` output and docs.
    const NAME: &'static str;
    /// How many priority levels a message may be sent at: 1, except under
    /// [`Prioritized`](super::Prioritized).
    const LEVELS: usize;
    /// What the mailbox keeps beside each message (`()` for the plain strategies).
    type Meta: MessageMeta;
}

/// What a mailbox keeps beside each message: `()` for the plain strategies, a priority level
/// under [`Prioritized`](super::Prioritized) ([`Leveled`](super::Leveled)), a deadline under
/// [`Expiring`](super::Expiring) ([`Expiry`](super::Expiry)). Sealed: the mailbox module
/// implements it.
///
/// Its methods are what the queue and the actor loop read; on `()` they return constants, so a
/// plain strategy's message path has no branch for them.
pub trait MessageMeta: sealed::Sealed + Copy + Send + Sync + 'static {
    /// What a plain send (`tell`, `try_tell`, a timer's tick, a monitor's `Down`) carries: the
    /// default level ([`DEFAULT_LEVEL`](super::DEFAULT_LEVEL)), no deadline.
    const DEFAULT: Self;
    /// `true` if the meta can carry a deadline (the actor loop checks one only then).
    const EXPIRES: bool;
    /// The count of expired messages a mailbox of this meta keeps: `u64` where a message can
    /// expire, `()` (no room at all) where none can.
    type Tally: Tally;
    /// The message's priority level (higher is more urgent).
    fn level(&self) -> usize;
    /// The message's deadline, if it has one.
    fn deadline(&self) -> Option<Instant>;
    /// The same meta at `level` (unchanged where there are no levels).
    #[must_use]
    fn with_level(self, level: u8) -> Self;
    /// The same meta with `deadline` (unchanged where there are no deadlines).
    #[must_use]
    fn with_deadline(self, deadline: Option<Instant>) -> Self;
}

/// A counter that a mailbox keeps only where it can count something (see
/// [`MessageMeta::Tally`]). Sealed.
pub trait Tally: sealed::Sealed + Default + Send + Sync + 'static {
    /// Adds one.
    fn add_one(&mut self);
    /// The count.
    fn get(&self) -> u64;
}

impl sealed::Sealed for () {}

impl Tally for () {
    #[inline]
    fn add_one(&mut self) {}
    #[inline]
    fn get(&self) -> u64 {
        0
    }
}

impl sealed::Sealed for u64 {}

impl Tally for u64 {
    #[inline]
    fn add_one(&mut self) {
        *self += 1;
    }
    #[inline]
    fn get(&self) -> u64 {
        *self
    }
}

impl MessageMeta for () {
    const DEFAULT: Self = ();
    const EXPIRES: bool = false;
    type Tally = ();
    #[inline(always)]
    fn level(&self) -> usize {
        0
    }
    #[inline(always)]
    fn deadline(&self) -> Option<Instant> {
        None
    }
    #[inline(always)]
    fn with_level(self, _: u8) -> Self {}
    #[inline(always)]
    fn with_deadline(self, _: Option<Instant>) -> Self {}
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
            const LEVELS: usize = 1;
            type Meta = ();
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
