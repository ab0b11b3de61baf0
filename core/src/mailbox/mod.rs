//! Mailboxes: one trait, a strategy per actor chosen at spawn, as a type.
//!
//! | strategy | when full, `tell` | when full, `try_tell` |
//! | --- | --- | --- |
//! | [`Bounded<Block>`] (default, capacity 256) | waits for room | `Err(Full(msg))` |
//! | [`Bounded<DropNewest>`] | drops the new message, counts it, `Ok` | same |
//! | [`Bounded<DropOldest>`] | drops the oldest queued message, counts it, queues the new one, `Ok` (drops the new one where none queued can make room; drops more of the oldest where a stream's items hold the mailbox past its capacity) | same |
//! | [`Bounded<Reject>`] | `Err(Full(msg))` | same |
//! | [`Unbounded`] | never full | never full |
//!
//! Two wrappers add to any of them, and compose (as `Expiring<Prioritized<S, N>>` or
//! `Prioritized<Expiring<S>, N>`):
//!
//! - [`Prioritized<S, LEVELS>`](Prioritized): each message is sent at one of `LEVELS` priority
//!   levels ([`ActorRef::tell_at`](crate::ActorRef::tell_at)); the most urgent is handed out
//!   first, FIFO within a level. `Bounded<Prioritized<Block, 3>>`.
//! - [`Expiring<S>`](Expiring): a message may carry a deadline
//!   ([`ActorRef::tell_within`](crate::ActorRef::tell_within)); one whose deadline has come
//!   before its handler would run is not handled, but counted, reported as a dead letter and
//!   its ask resolved with [`NoReply::Expired`](crate::NoReply::Expired).
//!   `Bounded<Expiring<Block>>`.
//!
//! Their unbounded forms are [`UnboundedOf`]`<Prioritized<UnboundedStrategy, N>>` and
//! `UnboundedOf<Expiring<UnboundedStrategy>>`. What they keep beside each message is decided by
//! type ([`Strategy::Meta`]): the plain strategies keep nothing and pay nothing for them.
//!
//! The capacity counts the messages *waiting*: accepted and not yet handed to the handler (the
//! one being handled does not count). Every send to a stopped actor fails with `Closed(msg)`.
//! Messages are FIFO per sender. A mailbox allocates nothing up front: the first message makes
//! its buffer, which then grows with the backlog, up to the capacity. After a burst it gives the
//! room back: once the actor has caught up, a batch with room for over 8 times what is waiting is
//! freed (room for up to 1,024 messages is always kept).
//!
//! **`Block` is fair.** Senders waiting for room are woken in the order they began to wait, one
//! per message taken, and the room a sender was woken for is kept for it until it comes back
//! (or its send is dropped, which passes the room to the next waiter): a sender that arrives
//! meanwhile, or keeps sending in a loop, finds the mailbox full and waits behind them. So no
//! sender waits for ever while others get in. A woken sender that finds its room taken by a
//! message let in past the capacity (a control message, a stream's item) waits again, first.
//! `try_tell` on such a mailbox is refused (`Full`) while the room is kept for a woken sender.
//! Cost: one more addition in the room check of every send, 5 instructions per message
//! (`cargo build --release -p playhouse-benches --bin cell && valgrind --tool=callgrind
//! target/release/cell playhouse_1thread tell`, 4M tells).
//!
//! ```
//! use playhouse_core::mailbox::{Bounded, DropOldest, Mailbox};
//! use playhouse_core::SendError;
//!
//! let mb = Bounded::<DropOldest>::with_capacity(2).unwrap();
//! let queue = mb.queue::<u32>();
//! queue.try_send(1).unwrap();
//! queue.try_send(2).unwrap();
//! queue.try_send(3).unwrap(); // full: 1 is dropped
//! assert_eq!(queue.dropped_count(), 1);
//! queue.close();
//! assert_eq!(queue.try_send(4), Err(SendError::Closed(4)));
//! ```

mod caller_span;
mod expiry;
mod priority;
mod queue;
mod receiver;
mod send_future;
mod strategy;

pub(crate) use caller_span::CallerSpan;
pub use expiry::{Expire, Expiring, Expiry};
pub(crate) use priority::meta_at;
pub use priority::{DEFAULT_LEVEL, Leveled, Prioritize, Prioritized};
pub use queue::Queue;
pub(crate) use queue::{Queued, State, Woken, wake_all};
pub use receiver::Receiver;
pub(crate) use send_future::AskSend;
pub use send_future::SendFuture;
pub use strategy::{
    Block, DropNewest, DropOldest, MessageMeta, OnFull, Reject, Strategy, Tally, UnboundedStrategy,
};

use std::fmt;
use std::marker::PhantomData;

use crate::error::MailboxConfigError;

/// The default capacity of a bounded mailbox.
pub const DEFAULT_CAPACITY: usize = 256;

/// A mailbox strategy: how an actor's messages are queued, chosen per actor at spawn.
///
/// The associated [`Strategy`] names both halves as concrete types: the sending half
/// [`Queue<M, Self::Strategy>`](Queue) lives inline in the actor's cell and is what every
/// reference pushes into; the receiving half [`Receiver<M, Self::Strategy>`](Receiver) is owned by
/// the actor's task. So the whole send → receive path is monomorphized for the strategy.
pub trait Mailbox: Clone + Send + Sync + 'static {
    /// The overflow strategy, which fixes the sender and receiver types.
    type Strategy: Strategy;

    /// Makes a fresh, empty shared half.
    fn queue<M: Send + 'static>(&self) -> Queue<M, Self::Strategy>;

    /// Makes the receiving half.
    fn receiver<M: Send + 'static>(&self) -> Receiver<M, Self::Strategy> {
        Receiver::default()
    }

    /// The capacity (`usize::MAX` when unbounded).
    fn capacity(&self) -> usize;
}

/// A bounded mailbox with overflow strategy `S` (default [`Block`]).
pub struct Bounded<S = Block> {
    capacity: usize,
    _strategy: PhantomData<fn() -> S>,
}

impl<S: Strategy> Bounded<S> {
    /// A bounded mailbox holding at most `capacity` messages.
    ///
    /// # Errors
    ///
    /// [`MailboxConfigError::ZeroCapacity`] for a capacity of 0.
    ///
    /// ```
    /// use playhouse_core::mailbox::{Bounded, Reject};
    /// use playhouse_core::MailboxConfigError;
    ///
    /// assert!(Bounded::<Reject>::with_capacity(8).is_ok());
    /// assert_eq!(Bounded::<Reject>::with_capacity(0).err(), Some(MailboxConfigError::ZeroCapacity));
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Self, MailboxConfigError> {
        if capacity == 0 {
            return Err(MailboxConfigError::ZeroCapacity);
        }
        Ok(Bounded {
            capacity,
            _strategy: PhantomData,
        })
    }
}

impl<S: Strategy> Default for Bounded<S> {
    /// Capacity [`DEFAULT_CAPACITY`] (256).
    fn default() -> Self {
        Bounded {
            capacity: DEFAULT_CAPACITY,
            _strategy: PhantomData,
        }
    }
}

impl<S> Clone for Bounded<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Bounded<S> {}

impl<S: Strategy> fmt::Debug for Bounded<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bounded<{}>({})", S::NAME, self.capacity)
    }
}

impl<S: Strategy> Mailbox for Bounded<S> {
    type Strategy = S;

    fn queue<M: Send + 'static>(&self) -> Queue<M, S> {
        Queue::new(self.capacity)
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

/// An unbounded mailbox: sends never wait and never fail while the actor is alive.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unbounded;

impl Mailbox for Unbounded {
    type Strategy = UnboundedStrategy;

    fn queue<M: Send + 'static>(&self) -> Queue<M, UnboundedStrategy> {
        Queue::new(usize::MAX)
    }

    fn capacity(&self) -> usize {
        usize::MAX
    }
}

/// An unbounded mailbox of a wrapped strategy: the unbounded form of
/// [`Prioritized`] and [`Expiring`], as `UnboundedOf<Prioritized<UnboundedStrategy, 3>>` or
/// `UnboundedOf<Expiring<UnboundedStrategy>>`. (`Unbounded` itself is
/// `UnboundedOf<UnboundedStrategy>` in all but name.)
///
/// A strategy that can be full (one built on `Block`, `DropNewest`, `DropOldest` or `Reject`)
/// does not compile here: it belongs in a [`Bounded`].
///
/// ```
/// use playhouse_core::mailbox::{Mailbox, Prioritized, UnboundedOf, UnboundedStrategy};
///
/// let mb = UnboundedOf::<Prioritized<UnboundedStrategy, 2>>::default();
/// assert_eq!(mb.capacity(), usize::MAX);
/// let queue = mb.queue::<u32>();
/// for n in 0..1_000 {
///     queue.try_send_at(1, n).unwrap();
/// }
/// assert_eq!(queue.len(), 1_000);
/// ```
pub struct UnboundedOf<S>(PhantomData<fn() -> S>);

impl<S> Clone for UnboundedOf<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for UnboundedOf<S> {}

impl<S> Default for UnboundedOf<S> {
    fn default() -> Self {
        UnboundedOf(PhantomData)
    }
}

impl<S: Strategy> fmt::Debug for UnboundedOf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnboundedOf<{}>", S::NAME)
    }
}

impl<S: Strategy> Mailbox for UnboundedOf<S> {
    type Strategy = S;

    fn queue<M: Send + 'static>(&self) -> Queue<M, S> {
        const {
            assert!(
                matches!(S::ON_FULL, OnFull::Never),
                "UnboundedOf takes a strategy built on UnboundedStrategy; use Bounded for the others"
            );
        }
        Queue::new(usize::MAX)
    }

    fn capacity(&self) -> usize {
        usize::MAX
    }
}

impl<M, S: Strategy> Queue<M, S> {
    /// Sends `msg`, waiting for room if the mailbox is full under [`Block`].
    ///
    /// # Errors
    ///
    /// As [`try_send`](Queue::try_send), except that under `Block` a full mailbox waits instead
    /// of failing; a waiting send fails with `Closed(msg)` when the mailbox closes.
    pub fn send(&self, msg: M) -> SendFuture<'_, M, S> {
        SendFuture::new(self, msg)
    }

    /// [`send`](Queue::send) with the meta of the message: its level, its deadline.
    pub(crate) fn send_with(&self, msg: M, meta: S::Meta) -> SendFuture<'_, M, S> {
        SendFuture::with_meta(self, msg, meta)
    }

    /// [`send_with`](Queue::send_with) for an ask: the request carries the span of its caller
    /// ([`CallerSpan`]) to the handler.
    pub(crate) fn ask_with(&self, msg: M, meta: S::Meta, caller: CallerSpan) -> AskSend<'_, M, S> {
        AskSend::new(SendFuture::with_meta(self, msg, meta), caller)
    }
}
