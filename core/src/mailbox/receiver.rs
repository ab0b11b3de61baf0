//! The receiving half of a mailbox: the actor task's private batch.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use super::priority::push_front_of_level;
use super::queue::{Buffer, Queue, Queued, wake_all};
use super::strategy::Strategy;
use crate::error::NoReply;
use crate::reply::drop_each_with_cause;

/// A message handed out, and whether it is a control message
/// ([`Receiver::poll_recv_tagged`]).
pub(crate) type Tagged<M, Meta> = (Queued<M, Meta>, bool);

/// The receiving half of a mailbox, owned by the actor's task (and handed from one incarnation
/// to the next on restart, so queued messages survive it).
///
/// Under batching strategies it takes every queued message in one lock; the messages of its
/// batch still count as waiting until each is handed to the handler, so a bounded mailbox never
/// holds more than its capacity of waiting messages.
pub struct Receiver<M, S: Strategy> {
    /// Messages taken from the queue and not yet handed out, each with its meta and its
    /// caller's span.
    batch: VecDeque<Queued<M, S::Meta>>,
    _strategy: PhantomData<fn() -> S>,
}

impl<M, S: Strategy> Default for Receiver<M, S> {
    fn default() -> Self {
        Receiver {
            batch: VecDeque::new(),
            _strategy: PhantomData,
        }
    }
}

impl<M, S: Strategy> Receiver<M, S> {
    /// Takes the next message: `Ready(Some)` with one, `Ready(None)` once the mailbox is closed
    /// and drained, `Pending` (with the waker registered) while it is empty.
    ///
    /// The message handed out no longer counts against the capacity. It is handed out whatever
    /// its deadline under [`Expiring`](super::Expiring): the actor loop, not the receiver,
    /// decides that a message has expired.
    #[inline]
    pub fn poll_recv(&mut self, queue: &Queue<M, S>, cx: &mut Context<'_>) -> Poll<Option<M>> {
        match self.poll_recv_meta(queue, cx) {
            Poll::Ready(Some((m, _, _))) => Poll::Ready(Some(m)),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// [`poll_recv`](Receiver::poll_recv), with the meta the message was sent with (`()` under
    /// the plain strategies) and its caller's span.
    #[inline]
    pub(crate) fn poll_recv_meta(
        &mut self,
        queue: &Queue<M, S>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Queued<M, S::Meta>>> {
        match self.poll_recv_tagged(queue, cx) {
            Poll::Ready(Some((m, _))) => Poll::Ready(Some(m)),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// [`poll_recv_meta`](Receiver::poll_recv_meta), saying also whether the message is a
    /// control message: one that [`take_control`](Receiver::take_control) must not let the
    /// control messages queued after it overtake.
    pub(crate) fn poll_recv_tagged(
        &mut self,
        queue: &Queue<M, S>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Tagged<M, S::Meta>>> {
        if let Some(m) = self.batch.pop_front() {
            // Publish the hand-out; senders read it only when the mailbox looks full.
            if queue.release_one() {
                // A sender waits for the room just freed: hand it over now (this is the
                // backpressure path, where a lock per message is the price of not stalling).
                let mut st = queue.state.lock();
                let freed = queue.take_released();
                // Senders wait only on a full mailbox, which has a buffer.
                if let Some(buf) = st.buf.as_deref_mut() {
                    buf.len -= freed;
                    wake_waiters(queue, buf, freed);
                }
            }
            return Poll::Ready(Some((m, false)));
        }
        if self.batch.capacity() > KEEP_ROOM {
            // Rare: only after a burst, or under loads of over 1,024 messages a batch.
            self.free_surplus(queue);
        }
        let mut st = queue.state.lock();
        if let Some(buf) = st.buf.as_deref_mut() {
            // Acknowledge the hand-outs of the last batch and wake senders waiting for that room.
            let freed = queue.take_released();
            buf.len -= freed;
            let next = if let Some(control) = buf.control.pop_front() {
                // Control messages first (their flag, if still up, is lowered by the next
                // `take_control`).
                Some((control, true))
            } else if S::BATCH {
                if buf.queue.is_empty() {
                    None
                } else {
                    std::mem::swap(&mut buf.queue, &mut self.batch);
                    self.batch.pop_front().map(|m| (m, false))
                }
            } else {
                buf.queue.pop_front().map(|m| (m, false))
            };
            if let Some(m) = next {
                buf.len -= 1;
                if crate::faults::enabled(crate::faults::Fault::ReceiverKeepsCapacity) {
                    buf.len += 1;
                }
                wake_waiters(queue, buf, freed + 1);
                return Poll::Ready(Some(m));
            }
            wake_waiters(queue, buf, freed);
        }
        // (Without a buffer nothing was ever sent, so there is no batch to acknowledge.)
        if st.closed {
            return Poll::Ready(None);
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Puts the messages of the batch back at the front of the mailbox, in order, for the next
    /// receiver (an actor's next incarnation) to take, or for a final discard. They still count
    /// as waiting; the hand-outs already made are acknowledged, waking senders waiting for that
    /// room. Returns how many went back.
    ///
    /// With an empty batch it does nothing (no lock).
    #[inline]
    pub fn give_back(&mut self, queue: &Queue<M, S>) -> usize {
        if self.batch.is_empty() {
            return 0;
        }
        self.give_back_batch(queue)
    }

    /// Frees the emptied batch if it has far more room than the backlog it would take next
    /// ([`is_surplus`]), outside the lock. Out of line: the message path only tests the
    /// batch's capacity.
    #[cold]
    #[inline(never)]
    fn free_surplus(&mut self, queue: &Queue<M, S>) {
        let surplus = {
            let st = queue.state.lock();
            let waiting = st.buf.as_ref().map_or(0, |b| b.queue.len());
            if !is_surplus(self.batch.capacity(), waiting) {
                return;
            }
            std::mem::take(&mut self.batch)
        };
        drop(surplus);
    }

    /// Puts a message just handed out (with its meta and its caller's span) back at the front
    /// of the mailbox with the rest of the batch: it counts as waiting again (a full mailbox may
    /// hold one more than its capacity until the next hand-out, when a sender took the room
    /// meanwhile). For a message that an incarnation ending before its handler ran leaves to
    /// the next.
    pub(crate) fn put_back(&mut self, queue: &Queue<M, S>, queued: Queued<M, S::Meta>) {
        if crate::faults::enabled(crate::faults::Fault::PutBackDrops) {
            drop(queued);
            return;
        }
        self.batch.push_front(queued);
        self.give_back_readmitting(queue, 1);
    }

    /// [`put_back`](Receiver::put_back) for a control message: it goes back to the front of
    /// the control queue (the batch to the front of the user messages), so that the next
    /// incarnation takes it first, before the control messages queued after it, whatever the
    /// strategy: never dropped to make room, never behind a more urgent level, never discarded
    /// with a drained queue. It counts as waiting again; `raise` runs under the lock to raise
    /// the control flag for it.
    pub(crate) fn put_back_control(
        &mut self,
        queue: &Queue<M, S>,
        queued: Queued<M, S::Meta>,
        raise: impl FnOnce(),
    ) {
        self.give_back(queue);
        let mut st = queue.state.lock();
        // A control message comes out of the buffer, so the buffer exists.
        let buf = st.buffer();
        buf.control.push_front(queued);
        buf.len += 1;
        raise();
    }

    /// The control flag was seen up with a message just handed out: takes the oldest control
    /// message instead, and puts that message back at the front of the batch (it is handed out
    /// next, after the control messages). `lower` runs under the lock once no control message
    /// is left, to lower the flag. Returns the message itself if there was none (it was taken
    /// already), or if it is itself a control message (`is_control`, as
    /// [`poll_recv_tagged`](Receiver::poll_recv_tagged) said): control messages keep their
    /// order among themselves, so one is never overtaken by those queued after it (the flag
    /// stays up for them).
    ///
    /// The count of waiting messages does not change: the message waits again, and the control
    /// message, which counted as waiting, takes its hand-out.
    pub(crate) fn take_control(
        &mut self,
        queue: &Queue<M, S>,
        queued: Queued<M, S::Meta>,
        is_control: bool,
        lower: impl FnOnce(),
    ) -> Queued<M, S::Meta> {
        if is_control {
            return queued;
        }
        let mut st = queue.state.lock();
        let Some(buf) = st.buf.as_deref_mut() else {
            lower();
            return queued;
        };
        let Some(control) = buf.control.pop_front() else {
            lower();
            return queued;
        };
        if buf.control.is_empty() {
            lower();
        }
        drop(st);
        self.batch.push_front(queued);
        control
    }

    /// Drops every message waiting (queued or in the batch), each exactly once and outside the
    /// lock, without closing the mailbox: reply ports inside them resolve with `cause`. They
    /// are added to the discarded count, and `told` gets how many before the first is dropped
    /// (a drop is user code: one that panics is contained, and the rest are still dropped).
    /// Returns how many.
    pub(crate) fn discard_backlog(
        &mut self,
        queue: &Queue<M, S>,
        cause: NoReply,
        told: impl FnOnce(usize),
    ) -> usize {
        let batch = std::mem::take(&mut self.batch);
        let rest = {
            let mut st = queue.state.lock();
            match st.buf.as_deref_mut() {
                Some(buf) => {
                    let freed = queue.take_released();
                    let rest = std::mem::take(&mut buf.queue);
                    buf.len -= freed;
                    buf.len -= rest.len() + batch.len();
                    buf.discarded += (rest.len() + batch.len()) as u64;
                    let room = freed + rest.len() + batch.len();
                    wake_waiters(queue, buf, room);
                    rest
                }
                None => VecDeque::new(),
            }
        };
        let n = rest.len() + batch.len();
        told(n);
        if n > 0 {
            drop_each_with_cause(cause, batch.into_iter().chain(rest));
        }
        n
    }

    fn give_back_batch(&mut self, queue: &Queue<M, S>) -> usize {
        self.give_back_readmitting(queue, 0)
    }

    /// Gives the batch back; `readmit` of its messages had been handed out and count as
    /// waiting again.
    fn give_back_readmitting(&mut self, queue: &Queue<M, S>, readmit: usize) -> usize {
        let mut batch = std::mem::take(&mut self.batch);
        let n = batch.len();
        {
            let mut st = queue.state.lock();
            let freed = queue.take_released();
            // A batch comes out of the buffer, so the buffer exists.
            let buf = st.buffer();
            buf.len -= freed;
            buf.len += readmit;
            if crate::faults::enabled(crate::faults::Fault::GiveBackForgetsHandOuts) {
                buf.len += freed;
            }
            if S::LEVELS > 1 {
                // Level order: each goes to the front of its level, the last first, so that
                // the batch keeps its order within a level ahead of the messages still queued.
                while let Some(queued) = batch.pop_back() {
                    push_front_of_level(&mut buf.queue, queued);
                }
            } else {
                batch.append(&mut buf.queue);
                std::mem::swap(&mut batch, &mut buf.queue);
            }
            wake_waiters(queue, buf, freed.saturating_sub(readmit));
        }
        // `batch` is now the buffer's old, empty queue: freed outside the lock.
        drop(batch);
        n
    }

    /// Closes the mailbox and drops every message still in it (queued or in the batch), each
    /// exactly once, outside the lock, containing a panic in any one's drop (the rest are still
    /// dropped). Reply ports inside them resolve with
    /// [`NoReply::Stopped`]. Returns how many were discarded; they are also added to the queue's
    /// discarded count.
    pub fn close_and_discard(&mut self, queue: &Queue<M, S>) -> usize {
        self.close_and_discard_telling(queue, |_| {})
    }

    /// [`close_and_discard`](Self::close_and_discard), and `told` gets how many before the
    /// first is dropped.
    pub(crate) fn close_and_discard_telling(
        &mut self,
        queue: &Queue<M, S>,
        told: impl FnOnce(usize),
    ) -> usize {
        let batch = std::mem::take(&mut self.batch);
        let (rest, woken) = {
            let mut st = queue.state.lock();
            let woken = queue.close_locked(&mut st);
            let rest = match st.buf.as_deref_mut() {
                Some(buf) => {
                    buf.len = 0;
                    queue.take_released();
                    let mut rest = std::mem::take(&mut buf.control);
                    rest.append(&mut buf.queue);
                    buf.discarded += (rest.len() + batch.len()) as u64;
                    rest
                }
                None => VecDeque::new(),
            };
            (rest, woken)
        };
        wake_all(woken);
        let n = rest.len() + batch.len();
        told(n);
        if n > 0 {
            drop_each_with_cause(NoReply::Stopped, batch.into_iter().chain(rest));
        }
        n
    }
}

/// Below this many messages of room, a batch is never given back to the allocator.
const KEEP_ROOM: usize = 1024;

/// `true` if an emptied batch with room for `capacity` messages should be freed rather than
/// become the buffer again, when `taking` messages are waiting.
///
/// The buffer and the batch swap at every batch, so after a burst both keep the burst's size
/// (an `Unbounded` mailbox that took a million 72-byte messages would hold ~90 MB while idle).
/// Freeing the emptied one when it has over 8 times the room the current backlog needs gives
/// that memory back within two batches of the burst; the new buffer grows again by doubling as
/// messages arrive. The factor keeps a steady load (batches of similar size, within 8×) from
/// freeing and regrowing at every batch, and nothing under [`KEEP_ROOM`] is ever freed. Cost: one
/// comparison of the batch's capacity each time the receiver goes to the lock; a batch with more
/// room than [`KEEP_ROOM`] takes the lock once more to decide.
#[inline]
fn is_surplus(capacity: usize, taking: usize) -> bool {
    capacity > KEEP_ROOM && capacity / 8 > taking
}

/// Wakes as many waiting senders as `freed` messages of room allow, oldest first, and keeps
/// that room for them. Not more than the room there is now: senders that came meanwhile may
/// have used some of what was freed (a hand-out published in `Queue::released` is room for
/// them before the receiver acknowledges it here), and a sender woken for room that is not
/// there would go back to wait behind a younger one that got in.
fn wake_waiters<M, S: Strategy>(queue: &Queue<M, S>, buf: &mut Buffer<M, S>, freed: usize) {
    if freed == 0 || buf.waiters.is_empty() {
        return;
    }
    let room = queue
        .capacity()
        .saturating_sub(queue.waiting_in(buf) + buf.reserved);
    let n = freed.min(room).min(buf.waiters.len());
    if n > 0 {
        // The room is kept for them until they come back (or give it up): see
        // `Buffer::reserved`.
        buf.reserved += n;
        for (_, w) in buf.waiters.drain(..n) {
            w.wake();
        }
        queue.sync_has_waiters(buf);
    }
}

impl<M, S: Strategy> fmt::Debug for Receiver<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("strategy", &S::NAME)
            .field("batch", &self.batch.len())
            .finish()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::*;
    use crate::mailbox::{Mailbox, Unbounded};
    use std::task::Waker;

    fn drain<M, S: Strategy>(rx: &mut Receiver<M, S>, queue: &Queue<M, S>) -> usize {
        let mut cx = Context::from_waker(Waker::noop());
        let mut n = 0;
        while let Poll::Ready(Some(_)) = rx.poll_recv(queue, &mut cx) {
            n += 1;
        }
        n
    }

    fn room<M, S: Strategy>(rx: &Receiver<M, S>, queue: &Queue<M, S>) -> usize {
        let st = queue.state.lock();
        rx.batch.capacity() + st.buf.as_ref().map_or(0, |b| b.queue.capacity())
    }

    /// Issue #16: an `Unbounded` mailbox gave nothing back after a burst.
    #[test]
    fn a_drained_burst_gives_its_room_back() {
        let queue = Unbounded.queue::<[u8; 72]>();
        let mut rx = Receiver::default();
        // Smaller under Miri, which runs it some thousand times slower; still far over the
        // room always kept.
        const BURST: usize = if cfg!(miri) { 5_000 } else { 100_000 };
        for _ in 0..BURST {
            queue.try_send([0; 72]).unwrap();
        }
        assert_eq!(drain(&mut rx, &queue), BURST);
        // The drained batch went back to the allocator when the receiver found nothing waiting.
        assert!(
            room(&rx, &queue) <= 2 * KEEP_ROOM,
            "room left after the burst: {}",
            room(&rx, &queue)
        );
        // A steady load of small batches keeps it small.
        for _ in 0..3 {
            for _ in 0..10 {
                queue.try_send([0; 72]).unwrap();
            }
            assert_eq!(drain(&mut rx, &queue), 10);
            assert!(room(&rx, &queue) <= 2 * KEEP_ROOM);
        }
    }

    #[test]
    fn a_steady_load_keeps_its_room() {
        assert!(!is_surplus(KEEP_ROOM, 0), "small batches are never freed");
        assert!(!is_surplus(4096, 4096 / 8), "within 8x of the backlog");
        assert!(is_surplus(4096, 4096 / 8 - 1));
        assert!(is_surplus(1 << 20, 10));
    }
}
