//! Priority levels: [`Prioritized`], a strategy wrapper whose messages are each sent at one of a
//! small fixed number of levels and handed out most urgent first, FIFO within a level.
//!
//! # Why one queue kept in level order
//!
//! The waiting messages of a `Prioritized` mailbox are kept in the mailbox's one queue, sorted
//! by level (most urgent first) and by arrival within a level, each beside its [`Leveled`]
//! meta. A send finds its place by binary search over the levels and inserts there (at the back
//! when it is the least urgent waiting, the common case); the receiver takes the front, which
//! is the oldest message of the most urgent level. One queue rather than one per level keeps
//! the mailbox's box the same shape for every strategy (a per-level array would need a
//! different buffer type per strategy, and every plain mailbox would pay for the choice), at
//! the cost of an insertion in the middle of the queue for a level between the others: it moves
//! the messages of the nearer end in memory, which is cheap for the backlogs of a bounded
//! mailbox and grows with the backlog otherwise.
//!
//! The receiver does not take batches under `Prioritized` (one lock per hand-out, as under
//! `DropOldest`): a batch taken before an urgent message arrived would be handed out ahead of
//! it.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::time::Instant;

use super::caller_span::CallerSpan;
use super::queue::{Queue, Queued};
use super::strategy::{MessageMeta, Strategy, sealed};
use crate::error::SendAtError;

/// The level of a plain send (`tell`, `try_tell`, a timer's tick, a monitor's `Down` or a
/// trapped `Exit`) into a [`Prioritized`] mailbox: 0, the least urgent. Sending at a level above
/// it makes a message overtake the plain ones.
pub const DEFAULT_LEVEL: usize = 0;

/// A strategy wrapper with `LEVELS` priority levels, `0` (the least urgent, and the level of a
/// plain `tell`) to `LEVELS - 1` (the most urgent), chosen per message; `S` (one of [`Block`],
/// [`DropNewest`], [`DropOldest`], [`Reject`], or [`UnboundedStrategy`] for
/// [`UnboundedOf`](super::UnboundedOf)) says what a full mailbox does, optionally wrapped in
/// [`Expiring`](super::Expiring).
///
/// - The actor handles the most urgent waiting message first; within a level, in the order the
///   messages entered (FIFO, so per sender in send order).
/// - The capacity counts the messages of every level together.
/// - When full: `Block` waits, `Reject` hands the message back, `DropNewest` drops the new
///   message, each whatever its level. Senders waiting under `Block` are woken in the order
///   they began to wait, whatever their levels (the room each was woken for is kept for it: see
///   the [module docs](super)): a level orders the messages in the mailbox, not the senders at
///   its door. A message that must not wait behind others is sent with `try_tell_at`, or to a
///   mailbox whose strategy does not wait. `DropOldest` queues the new message, then drops the
///   oldest message of the least urgent level that has one: a new message less urgent than
///   everything waiting is itself the one dropped. Drops are counted as under `S`
///   ([`ActorRef::dropped_count`](crate::ActorRef::dropped_count)), and a reply port in a
///   dropped message resolves with [`NoReply::Overflow`](crate::NoReply::Overflow).
/// - [`ActorRef::tell_at`](crate::ActorRef::tell_at) and
///   [`try_tell_at`](crate::ActorRef::try_tell_at) send at a level; a level of `LEVELS` or more
///   is refused with [`SendAtError::NoSuchLevel`], handing the message back.
///
/// `LEVELS` is 1 to 256. Wrapping a `Prioritized` strategy in another one does not compile.
///
/// # Cost
///
/// Each message carries its level beside it (one byte, padded to `M`'s alignment). The
/// waiting messages are kept in one queue in level order, so a send at the least urgent level
/// waiting (the common case) pushes at the back, and one between the levels waiting inserts in
/// the middle, moving the messages of the nearer end: cheap for the backlog of a bounded
/// mailbox, growing with it otherwise. The receiver takes one message per lock (no batches), so
/// that a message sent after a hand-out still overtakes the less urgent ones.
///
/// ```
/// use playhouse_core::mailbox::{Block, Bounded, Mailbox, Prioritized, Receiver};
/// use playhouse_core::SendAtError;
///
/// let mb = Bounded::<Prioritized<Block, 3>>::with_capacity(4).unwrap();
/// let queue = mb.queue::<&str>();
/// queue.try_send("plain").unwrap(); // level 0
/// queue.try_send_at(2, "urgent").unwrap();
/// queue.try_send_at(1, "soon").unwrap();
/// queue.try_send_at(2, "urgent too").unwrap();
/// assert!(matches!(queue.try_send_at(3, "?"), Err(SendAtError::NoSuchLevel { level: 3, .. })));
///
/// let mut rx: Receiver<&str, _> = mb.receiver();
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// let mut order = Vec::new();
/// while let std::task::Poll::Ready(Some(m)) = rx.poll_recv(&queue, &mut cx) {
///     order.push(m);
///     if order.len() == 4 { break; }
/// }
/// assert_eq!(order, ["urgent", "urgent too", "soon", "plain"]);
/// ```
///
/// [`Block`]: super::Block
/// [`DropNewest`]: super::DropNewest
/// [`DropOldest`]: super::DropOldest
/// [`Reject`]: super::Reject
/// [`UnboundedStrategy`]: super::UnboundedStrategy
pub struct Prioritized<S, const LEVELS: usize>(PhantomData<fn() -> S>);

impl<S, const LEVELS: usize> sealed::Sealed for Prioritized<S, LEVELS> {}

impl<S: Strategy, const LEVELS: usize> Strategy for Prioritized<S, LEVELS> {
    const ON_FULL: super::OnFull = S::ON_FULL;
    const BATCH: bool = false;
    const NAME: &'static str = "Prioritized";
    const LEVELS: usize = {
        assert!(
            S::LEVELS == 1,
            "a Prioritized strategy cannot wrap another Prioritized strategy"
        );
        assert!(
            LEVELS >= 1 && LEVELS <= 256,
            "a Prioritized strategy has 1 to 256 levels"
        );
        LEVELS
    };
    type Meta = Leveled<S::Meta>;
}

impl<S, const LEVELS: usize> Clone for Prioritized<S, LEVELS> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, const LEVELS: usize> Copy for Prioritized<S, LEVELS> {}

impl<S, const LEVELS: usize> Default for Prioritized<S, LEVELS> {
    fn default() -> Self {
        Prioritized(PhantomData)
    }
}

impl<S: Strategy, const LEVELS: usize> fmt::Debug for Prioritized<S, LEVELS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prioritized<{}, {LEVELS}>", S::NAME)
    }
}

/// A strategy whose messages are sent at priority levels: [`Prioritized`], possibly inside
/// [`Expiring`](super::Expiring). It is what makes
/// [`ActorRef::tell_at`](crate::ActorRef::tell_at) available.
pub trait Prioritize: Strategy {}

impl<S: Strategy, const LEVELS: usize> Prioritize for Prioritized<S, LEVELS> {}

/// What a [`Prioritized`] mailbox keeps beside each message: its level, and the meta of the
/// wrapped strategy (`()`, or a deadline under [`Expiring`](super::Expiring)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Leveled<T = ()> {
    level: u8,
    inner: T,
}

impl<T> sealed::Sealed for Leveled<T> {}

impl<T: MessageMeta> MessageMeta for Leveled<T> {
    const DEFAULT: Self = Leveled {
        level: DEFAULT_LEVEL as u8,
        inner: T::DEFAULT,
    };
    const EXPIRES: bool = T::EXPIRES;
    type Tally = T::Tally;

    #[inline]
    fn level(&self) -> usize {
        usize::from(self.level)
    }

    #[inline]
    fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }

    #[inline]
    fn with_level(self, level: u8) -> Self {
        Leveled { level, ..self }
    }

    #[inline]
    fn with_deadline(self, deadline: Option<Instant>) -> Self {
        Leveled {
            inner: self.inner.with_deadline(deadline),
            ..self
        }
    }
}

/// The meta of a send at `level`, or the error that hands `msg` back if the mailbox has no such
/// level.
#[inline]
pub(crate) fn meta_at<M, S: Prioritize>(
    level: usize,
    msg: M,
) -> Result<(M, S::Meta), SendAtError<M>> {
    if level >= S::LEVELS {
        return Err(SendAtError::NoSuchLevel {
            level,
            levels: S::LEVELS,
            msg,
        });
    }
    // `LEVELS` is at most 256, so the level fits.
    Ok((msg, S::Meta::DEFAULT.with_level(level as u8)))
}

/// Queues a message of a `Prioritized` mailbox behind every waiting message of its level or a
/// more urgent one. The queue is sorted most urgent first (see the module docs).
pub(crate) fn push_by_level<M, T: MessageMeta>(
    queue: &mut VecDeque<Queued<M, T>>,
    queued: Queued<M, T>,
) {
    let level = queued.1.level();
    if crate::faults::enabled(crate::faults::Fault::PriorityJumpsItsLevel) {
        return push_front_of_level(queue, queued);
    }
    match queue.back() {
        // Nothing waiting, or nothing less urgent: the back (the common case of one level).
        None => queue.push_back(queued),
        Some((_, last, _)) if last.level() >= level => queue.push_back(queued),
        Some(_) => {
            let at = queue.partition_point(|(_, m, _)| m.level() >= level);
            queue.insert(at, queued);
        }
    }
}

/// Puts a message back at the front of its level (one the receiver had taken and gives back:
/// it is older than every message of its level still waiting).
pub(crate) fn push_front_of_level<M, T: MessageMeta>(
    queue: &mut VecDeque<Queued<M, T>>,
    queued: Queued<M, T>,
) {
    let level = queued.1.level();
    let at = queue.partition_point(|(_, m, _)| m.level() > level);
    queue.insert(at, queued);
}

/// Takes the oldest message of the least urgent level that has one (`DropOldest`'s victim).
pub(crate) fn pop_least_urgent<M, T: MessageMeta>(
    queue: &mut VecDeque<Queued<M, T>>,
) -> Option<Queued<M, T>> {
    let least = queue.back()?.1.level();
    let at = queue.partition_point(|(_, m, _)| m.level() > least);
    queue.remove(at)
}

impl<M, S: Prioritize> Queue<M, S> {
    /// Pushes `msg` at priority `level` without waiting, as [`try_send`](Queue::try_send) does
    /// at the default level.
    ///
    /// # Errors
    ///
    /// [`SendAtError::NoSuchLevel`] if `level` is not below the strategy's number of levels;
    /// otherwise as `try_send`. Each hands the message back.
    pub fn try_send_at(&self, level: usize, msg: M) -> Result<(), SendAtError<M>> {
        let (msg, meta) = meta_at::<M, S>(level, msg)?;
        self.try_send_with(msg, meta, CallerSpan::NONE)
            .map_err(SendAtError::from)
    }

    /// Sends `msg` at priority `level`, waiting for room if the mailbox is full under
    /// [`Block`](super::Block), as [`send`](Queue::send) does at the default level.
    ///
    /// # Errors
    ///
    /// As [`try_send_at`](Queue::try_send_at), except that under `Block` a full mailbox waits.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it resolves drops the message unsent.
    pub async fn send_at(&self, level: usize, msg: M) -> Result<(), SendAtError<M>> {
        let (msg, meta) = meta_at::<M, S>(level, msg)?;
        self.send_with(msg, meta).await.map_err(SendAtError::from)
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::error::{NoReply, SendError};
    use crate::mailbox::{
        Block, Bounded, DropNewest, DropOldest, Mailbox, Receiver, Reject, UnboundedOf,
        UnboundedStrategy,
    };
    use crate::reply::reply_port;

    fn drain<M, S: Strategy>(rx: &mut Receiver<M, S>, queue: &Queue<M, S>) -> Vec<M> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        while let Poll::Ready(Some(m)) = rx.poll_recv(queue, &mut cx) {
            out.push(m);
        }
        out
    }

    #[test]
    fn most_urgent_first_fifo_within_a_level() {
        let mb = Bounded::<Prioritized<Block, 3>>::with_capacity(16).unwrap();
        let queue = mb.queue::<(usize, u32)>();
        let mut rx = mb.receiver();
        let sends = [
            (0, 1),
            (1, 1),
            (2, 1),
            (0, 2),
            (2, 2),
            (1, 2),
            (0, 3),
            (2, 3),
        ];
        for (level, seq) in sends {
            queue.try_send_at(level, (level, seq)).unwrap();
        }
        queue.try_send((0, 4)).unwrap();
        assert_eq!(queue.len(), 9);
        queue.close();
        assert_eq!(
            drain(&mut rx, &queue),
            [
                (2, 1),
                (2, 2),
                (2, 3),
                (1, 1),
                (1, 2),
                (0, 1),
                (0, 2),
                (0, 3),
                (0, 4)
            ]
        );
    }

    #[test]
    fn a_message_sent_after_a_hand_out_still_overtakes_the_less_urgent() {
        let mb = Bounded::<Prioritized<Block, 2>>::with_capacity(8).unwrap();
        let queue = mb.queue::<u32>();
        let mut rx = mb.receiver();
        let mut cx = Context::from_waker(Waker::noop());
        for n in 1..=3 {
            queue.try_send(n).unwrap();
        }
        assert_eq!(rx.poll_recv(&queue, &mut cx), Poll::Ready(Some(1)));
        queue.try_send_at(1, 10).unwrap();
        assert_eq!(rx.poll_recv(&queue, &mut cx), Poll::Ready(Some(10)));
        assert_eq!(rx.poll_recv(&queue, &mut cx), Poll::Ready(Some(2)));
    }

    #[test]
    fn an_out_of_range_level_hands_the_message_back() {
        let queue = Bounded::<Prioritized<Reject, 2>>::default().queue::<u32>();
        match queue.try_send_at(2, 7) {
            Err(SendAtError::NoSuchLevel { level, levels, msg }) => {
                assert_eq!((level, levels, msg), (2, 2, 7));
            }
            other => panic!("expected NoSuchLevel, got {other:?}"),
        }
        let err = futures::executor::block_on(queue.send_at(usize::MAX, 8)).unwrap_err();
        assert!(err.is_no_such_level());
        assert_eq!(err.into_inner(), 8);
        assert!(queue.is_empty());
    }

    #[test]
    fn capacity_counts_every_level() {
        let mb = Bounded::<Prioritized<Reject, 3>>::with_capacity(2).unwrap();
        let queue = mb.queue::<u32>();
        queue.try_send_at(0, 1).unwrap();
        queue.try_send_at(2, 2).unwrap();
        assert_eq!(queue.try_send_at(1, 3), Err(SendAtError::Full(3)));
        assert_eq!(queue.try_send(4), Err(SendError::Full(4)));
        queue.close();
        assert_eq!(queue.try_send_at(2, 5), Err(SendAtError::Closed(5)));
    }

    #[test]
    fn drop_newest_drops_the_new_message_whatever_its_level() {
        let mb = Bounded::<Prioritized<DropNewest, 2>>::with_capacity(1).unwrap();
        let queue = mb.queue::<u32>();
        let mut rx = mb.receiver();
        queue.try_send_at(0, 1).unwrap();
        queue.try_send_at(1, 2).unwrap();
        assert_eq!(queue.dropped_count(), 1);
        queue.close();
        assert_eq!(drain(&mut rx, &queue), [1]);
    }

    #[test]
    fn drop_oldest_drops_the_oldest_of_the_least_urgent_level() {
        let mb = Bounded::<Prioritized<DropOldest, 3>>::with_capacity(3).unwrap();
        let queue = mb.queue::<&str>();
        let mut rx = mb.receiver();
        queue.try_send_at(1, "b1").unwrap();
        queue.try_send_at(0, "a1").unwrap();
        queue.try_send_at(0, "a2").unwrap();
        // Full: a1 (oldest of level 0) goes.
        queue.try_send_at(2, "c1").unwrap();
        // Full: a2 goes.
        queue.try_send_at(1, "b2").unwrap();
        assert_eq!(queue.dropped_count(), 2);
        // Full, and the new message is the least urgent: it is the one dropped.
        queue.try_send_at(0, "a3").unwrap();
        assert_eq!(queue.dropped_count(), 3);
        // The dropped message's reply port says why.
        let (reply, answer) = reply_port::<u8>();
        let q2 = Bounded::<Prioritized<DropOldest, 2>>::with_capacity(1)
            .unwrap()
            .queue::<Option<crate::Reply<u8>>>();
        q2.try_send_at(0, Some(reply)).unwrap();
        q2.try_send_at(1, None).unwrap();
        assert_eq!(futures::executor::block_on(answer), Err(NoReply::Overflow));
        queue.close();
        assert_eq!(drain(&mut rx, &queue), ["c1", "b1", "b2"]);
    }

    /// A send to a full `DropOldest` mailbox held past its capacity by a stream's item drops
    /// the least urgent messages down to the capacity, but never the message it queued: it
    /// stops over the capacity rather than drop the new message it reports as queued.
    #[test]
    fn drop_oldest_past_the_capacity_keeps_the_new_message() {
        let mb = Bounded::<Prioritized<DropOldest, 3>>::with_capacity(1).unwrap();
        let queue = mb.queue::<&str>();
        let mut rx = mb.receiver();
        queue.try_send_at(2, "h2").unwrap();
        // A stream's item, past the capacity.
        queue.push_past_capacity_if("s0", || true).unwrap();
        queue.try_send_at(1, "n1").unwrap();
        // s0 made room; h2 is more urgent than n1, and n1 is the one just queued: kept.
        assert_eq!(queue.dropped_count(), 1);
        queue.close();
        assert_eq!(drain(&mut rx, &queue), ["h2", "n1"]);

        // Without levels: the oldest go down to the capacity, the new message stays.
        let mb = Bounded::<DropOldest>::with_capacity(2).unwrap();
        let queue = mb.queue::<&str>();
        let mut rx = mb.receiver();
        queue.try_send("a").unwrap();
        queue.try_send("b").unwrap();
        queue.push_past_capacity_if("s", || true).unwrap();
        queue.try_send("n").unwrap();
        assert_eq!(queue.dropped_count(), 2);
        queue.close();
        assert_eq!(drain(&mut rx, &queue), ["s", "n"]);
    }

    #[test]
    fn a_put_back_message_goes_first_in_its_level() {
        let mb = Bounded::<Prioritized<Block, 2>>::with_capacity(8).unwrap();
        let queue = mb.queue::<u32>();
        let mut rx = mb.receiver();
        let mut cx = Context::from_waker(Waker::noop());
        queue.try_send(1).unwrap();
        queue.try_send(2).unwrap();
        let Poll::Ready(Some((m, meta, caller))) = rx.poll_recv_meta(&queue, &mut cx) else {
            panic!("a message waits")
        };
        assert_eq!(m, 1);
        queue.try_send_at(1, 10).unwrap();
        rx.put_back(&queue, (m, meta, caller));
        assert_eq!(queue.len(), 3);
        queue.close();
        assert_eq!(drain(&mut rx, &queue), [10, 1, 2]);
    }

    #[test]
    fn unbounded_prioritized_never_fills() {
        let mb = UnboundedOf::<Prioritized<UnboundedStrategy, 2>>::default();
        assert_eq!(mb.capacity(), usize::MAX);
        let queue = mb.queue::<u32>();
        let mut rx = mb.receiver();
        for n in 0..1000 {
            queue.try_send_at((n % 2) as usize, n).unwrap();
        }
        queue.close();
        let got = drain(&mut rx, &queue);
        let odd: Vec<u32> = (0..1000).filter(|n| n % 2 == 1).collect();
        let even: Vec<u32> = (0..1000).filter(|n| n % 2 == 0).collect();
        assert_eq!(got[..500], odd[..]);
        assert_eq!(got[500..], even[..]);
    }

    #[test]
    fn the_level_helpers_keep_the_order() {
        let mut q: VecDeque<Queued<u32, Leveled>> = VecDeque::new();
        let at = |n: u32, l: u8| (n, Leveled::<()>::DEFAULT.with_level(l), CallerSpan::NONE);
        push_by_level(&mut q, at(1, 0));
        push_by_level(&mut q, at(2, 2));
        push_by_level(&mut q, at(3, 1));
        push_by_level(&mut q, at(4, 1));
        push_by_level(&mut q, at(5, 2));
        push_front_of_level(&mut q, at(6, 1));
        let order: Vec<u32> = q.iter().map(|(m, _, _)| *m).collect();
        assert_eq!(order, [2, 5, 6, 3, 4, 1]);
        assert_eq!(pop_least_urgent(&mut q).map(|(m, _, _)| m), Some(1));
        assert_eq!(pop_least_urgent(&mut q).map(|(m, _, _)| m), Some(6));
        assert!(pop_least_urgent(&mut VecDeque::<Queued<u8, Leveled>>::new()).is_none());
    }
}
