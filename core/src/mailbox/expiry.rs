//! Message expiry: [`Expiring`], a strategy wrapper whose messages may carry a deadline, past
//! which the actor does not handle them.
//!
//! # Why the deadline is checked at hand-out, in the actor loop
//!
//! A message may wait in the mailbox, and then in the receiver's batch, for a long time; what
//! matters is whether its handler would start before the deadline. So the actor loop reads the
//! deadline right before it would call the handler, on the actor's executor clock
//! ([`Executor::now`](crate::Executor::now): a virtual clock in tests moves it), and a message
//! whose deadline has come (the clock reads the deadline or later) is not handled. Nothing
//! watches a waiting message: no timer per message, and an expired message keeps its room until
//! the loop reaches it (it is not removed from a full mailbox to make room). The deadline does
//! not bound a send's wait for room either: a message that gets in after its deadline expires
//! at hand-out.
//!
//! An expired message is counted ([`ActorRef::expired_count`](crate::ActorRef::expired_count)),
//! reported to the actor's broker as a [`DeadLetterKind::Expired`](crate::DeadLetterKind::Expired)
//! dead letter (target: the actor's id, `actor#N`), and dropped with reply ports inside it
//! resolving with [`NoReply::Expired`](crate::NoReply::Expired), in that order: an asker that
//! hears `Expired` sees the count and the dead letter already recorded.

use std::fmt;
use std::marker::PhantomData;
use std::time::Instant;

use super::queue::Queue;
use super::send_future::SendFuture;
use super::strategy::{MessageMeta, Strategy, sealed};
use crate::error::SendError;

/// A strategy wrapper whose messages may carry a deadline: `S` (one of [`Block`],
/// [`DropNewest`], [`DropOldest`], [`Reject`], [`UnboundedStrategy`] for
/// [`UnboundedOf`](super::UnboundedOf), or a [`Prioritized`](super::Prioritized) one) decides
/// everything else.
///
/// [`ActorRef::tell_by`](crate::ActorRef::tell_by) and
/// [`tell_within`](crate::ActorRef::tell_within) (and their `try_` and `ask_` forms) send with a
/// deadline; a plain `tell` sends without one (the message never expires). A message whose
/// deadline has come before its handler would start is not handled: it is counted
/// ([`ActorRef::expired_count`](crate::ActorRef::expired_count)), reported as a
/// [`DeadLetterKind::Expired`](crate::DeadLetterKind::Expired) dead letter, and dropped, a reply
/// port inside it resolving with [`NoReply::Expired`](crate::NoReply::Expired). A message
/// still queued when the actor ends is discarded as any other
/// ([`NoReply::Stopped`](crate::NoReply::Stopped)), not counted as expired.
///
/// # Where the deadline is checked
///
/// In the actor loop, on the actor's executor clock, right before the handler would run: what
/// matters is whether the handler starts in time, and a message may wait in the receiver's
/// batch as well as in the mailbox. Nothing watches a waiting message (no timer per message),
/// so an expired message keeps its room until the loop reaches it, and the deadline does not
/// bound a send's wait for room (a message that gets in late expires at hand-out).
///
/// # Cost
///
/// Each message carries an `Option<Instant>` beside it (16 bytes on common targets), and each
/// hand-out of one with a deadline reads the executor's clock; plain strategies carry and read
/// nothing.
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::mailbox::{Block, Bounded, Expiring};
/// use playhouse_core::testing::{ThreadExecutor, VirtualTime, block_on};
/// use playhouse_core::{Actor, AskError, Context, Env, Handler, MessageBroker, NoReply, Reply, System};
/// use futures::channel::oneshot;
/// use std::time::Duration;
///
/// struct Quote;
/// enum Msg { Hold(Reply<()>, oneshot::Receiver<()>), Price(Reply<u32>) }
/// impl Actor for Quote { type Message = Msg; type Error = std::convert::Infallible; }
/// impl<V: Env> Handler<V> for Quote {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
///         match msg {
///             Msg::Hold(busy, gate) => { let _ = busy.send(()); let _ = gate.await; }
///             Msg::Price(reply) => { let _ = reply.send(42); }
///         }
///         Ok(())
///     }
/// }
///
/// let exec = VirtualTime::new(ThreadExecutor);
/// let system = System::with_broker(exec.clone(), InMemoryBroker::new());
/// let quotes = system.spawner(Bounded::<Expiring<Block>>::default()).spawn(Quote);
/// block_on(async {
///     // Keep the actor busy, so that the next two asks wait in its mailbox.
///     let (open, gate) = oneshot::channel();
///     quotes.ask(|busy| Msg::Hold(busy, gate)).await.unwrap();
///     let (stale, fresh, ()) = futures::join!(
///         quotes.ask_within(Msg::Price, Duration::from_secs(1)),
///         quotes.ask_within(Msg::Price, Duration::from_secs(60)),
///         async {
///             exec.advance(Duration::from_secs(2)); // the first one's deadline passes
///             let _ = open.send(());
///         },
///     );
///     assert!(matches!(stale, Err(AskError::NoReply(NoReply::Expired))));
///     assert_eq!(fresh.ok(), Some(42));
/// });
/// assert_eq!(quotes.expired_count(), 1);
/// assert_eq!(system.broker().dead_letters().expired, 1);
/// ```
///
/// [`Block`]: super::Block
/// [`DropNewest`]: super::DropNewest
/// [`DropOldest`]: super::DropOldest
/// [`Reject`]: super::Reject
/// [`UnboundedStrategy`]: super::UnboundedStrategy
pub struct Expiring<S>(PhantomData<fn() -> S>);

impl<S> sealed::Sealed for Expiring<S> {}

impl<S: Strategy> Strategy for Expiring<S> {
    const ON_FULL: super::OnFull = S::ON_FULL;
    const BATCH: bool = S::BATCH;
    const NAME: &'static str = "Expiring";
    const LEVELS: usize = {
        assert!(
            !<S::Meta as MessageMeta>::EXPIRES,
            "an Expiring strategy cannot wrap another Expiring strategy"
        );
        S::LEVELS
    };
    type Meta = Expiry<S::Meta>;
}

impl<S> Clone for Expiring<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Expiring<S> {}

impl<S> Default for Expiring<S> {
    fn default() -> Self {
        Expiring(PhantomData)
    }
}

impl<S: Strategy> fmt::Debug for Expiring<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expiring<{}>", S::NAME)
    }
}

/// A strategy whose messages may carry a deadline: [`Expiring`], possibly inside
/// [`Prioritized`](super::Prioritized). It is what makes
/// [`ActorRef::tell_by`](crate::ActorRef::tell_by) and its kin available.
pub trait Expire: Strategy {}

impl<S: Strategy> Expire for Expiring<S> {}

impl<S: Expire, const LEVELS: usize> Expire for super::Prioritized<S, LEVELS> {}

impl<S: super::Prioritize> super::Prioritize for Expiring<S> {}

/// What an [`Expiring`] mailbox keeps beside each message: its deadline, if it has one, and the
/// meta of the wrapped strategy (`()`, or a level under [`Prioritized`](super::Prioritized)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expiry<T = ()> {
    deadline: Option<Instant>,
    inner: T,
}

impl<T> sealed::Sealed for Expiry<T> {}

impl<T: MessageMeta> MessageMeta for Expiry<T> {
    const DEFAULT: Self = Expiry {
        deadline: None,
        inner: T::DEFAULT,
    };
    const EXPIRES: bool = true;
    type Tally = u64;

    #[inline]
    fn level(&self) -> usize {
        self.inner.level()
    }

    #[inline]
    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    #[inline]
    fn with_level(self, level: u8) -> Self {
        Expiry {
            inner: self.inner.with_level(level),
            ..self
        }
    }

    #[inline]
    fn with_deadline(self, deadline: Option<Instant>) -> Self {
        Expiry { deadline, ..self }
    }
}

impl<M, S: Expire> Queue<M, S> {
    /// Pushes `msg` with a deadline, without waiting, as [`try_send`](Queue::try_send) does.
    /// The actor does not handle it if its handler would start at `deadline` or later.
    ///
    /// # Errors
    ///
    /// As `try_send`.
    pub fn try_send_by(&self, msg: M, deadline: Instant) -> Result<(), SendError<M>> {
        let meta = S::Meta::DEFAULT.with_deadline(Some(deadline));
        self.try_send_with(msg, meta, super::CallerSpan::NONE)
    }

    /// Sends `msg` with a deadline, waiting for room if the mailbox is full under
    /// [`Block`](super::Block), as [`send`](Queue::send) does. The wait for room is not bounded
    /// by the deadline.
    ///
    /// # Errors
    ///
    /// As `send`.
    pub fn send_by(&self, msg: M, deadline: Instant) -> SendFuture<'_, M, S> {
        self.send_with(msg, S::Meta::DEFAULT.with_deadline(Some(deadline)))
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use super::*;
    use crate::mailbox::{Block, Bounded, DropOldest, Mailbox, Prioritized};

    #[test]
    fn the_deadline_travels_with_the_message() {
        let mb = Bounded::<Expiring<Block>>::default();
        let queue = mb.queue::<u32>();
        let mut rx = mb.receiver();
        let mut cx = Context::from_waker(Waker::noop());
        let at = Instant::now() + Duration::from_secs(5);
        queue.try_send(1).unwrap();
        queue.try_send_by(2, at).unwrap();
        futures::executor::block_on(queue.send_by(3, at)).unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            match rx.poll_recv_meta(&queue, &mut cx) {
                Poll::Ready(Some((m, meta, _))) => got.push((m, meta.deadline())),
                other => panic!(
                    "expected a message, got {:?}",
                    other.map(|o| o.map(|p| p.0))
                ),
            }
        }
        assert_eq!(got, [(1, None), (2, Some(at)), (3, Some(at))]);
    }

    #[test]
    fn expiry_and_levels_compose_either_way() {
        let at = Instant::now();
        let a = <Expiring<Prioritized<DropOldest, 3>> as Strategy>::Meta::DEFAULT
            .with_level(2)
            .with_deadline(Some(at));
        let b = <Prioritized<Expiring<DropOldest>, 3> as Strategy>::Meta::DEFAULT
            .with_deadline(Some(at))
            .with_level(2);
        assert_eq!((a.level(), a.deadline()), (2, Some(at)));
        assert_eq!((b.level(), b.deadline()), (2, Some(at)));
        assert_eq!(
            <Expiring<Prioritized<DropOldest, 3>> as Strategy>::LEVELS,
            3
        );
        const {
            assert!(!<Expiring<Prioritized<DropOldest, 3>> as Strategy>::BATCH);
            assert!(<Expiring<Block> as Strategy>::BATCH);
        }
    }

    #[test]
    fn a_plain_strategy_keeps_nothing_beside_its_messages() {
        assert_eq!(
            size_of::<(u64, <Block as Strategy>::Meta)>(),
            size_of::<u64>()
        );
        assert_eq!(size_of::<<Block as Strategy>::Meta>(), 0);
        assert_eq!(
            size_of::<<<Block as Strategy>::Meta as MessageMeta>::Tally>(),
            0
        );
    }
}
