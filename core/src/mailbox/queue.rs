//! The shared half of a mailbox: a many-producer, one-consumer queue with wake-ups.
//!
//! One mutex guards the buffer, the receiver's waker, the list of senders waiting for room and
//! the lifecycle of the actor whose mailbox it is (one lock per actor). The receiver takes the
//! whole buffer at once (one lock per batch, not per message) unless the strategy needs the
//! oldest message to stay droppable; senders wake the receiver only when it has parked.
//!
//! Nothing is allocated up front. The buffer, its count, the waiting senders and the counters
//! live in a box that the first message makes ([`Buffer`]); an actor that was never sent
//! anything holds only the 64 bytes of this queue, inside its cell. The buffer then grows as
//! messages arrive, up to the capacity.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll, Waker};

use super::caller_span::CallerSpan;
use super::priority::{pop_least_urgent, push_by_level};
use super::strategy::{MessageMeta, OnFull, Strategy, Tally};
use crate::cell::{LifeExtras, Phase, next_reading, observation_of, tell_observer};
use crate::error::{NoReply, SendError};
use crate::observer::{Observation, ObservedEvent};
use crate::reply::drop_each_with_cause;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Mutex, MutexGuard};
use std::sync::Arc as StdArc;

/// The flag bit of [`Queue::released`]: senders are waiting for room.
const WAITING: usize = 1 << (usize::BITS - 1);

/// A message as the mailbox keeps it: with its strategy's meta `T` (its level, its deadline:
/// `()` for the plain strategies) and the span of the ask that sent it ([`CallerSpan`]: nothing
/// without the `tracing` feature). For the plain strategies without the feature, the same
/// layout as `M` alone.
pub(crate) type Queued<M, T> = (M, T, CallerSpan);

/// A send that did not get in ([`Queue::poll_send`]): the error with the message, whether the
/// send waits for room (`Full` under `Block`), and the caller's span handed back.
pub(crate) type Unsent<M> = (SendError<M>, bool, CallerSpan);

/// What a mailbox holds once it has been sent a message: made by the first send, kept until the
/// actor's cell is freed.
pub(crate) struct Buffer<M, S: Strategy> {
    /// Messages accepted and not yet taken by the receiver, each with its strategy's meta and
    /// its caller's span ([`Queued`]). In level order under `Prioritized` ([`push_by_level`]).
    pub(crate) queue: VecDeque<Queued<M, S::Meta>>,
    /// Control messages (a monitor's `Down`, a trapped `Exit`) not yet taken: the receiver
    /// takes them before anything in `queue` and before the rest of its batch. They count in
    /// `len` like any message, and carry the default meta (the default level, no deadline:
    /// they overtake every level and never expire), and no caller's span.
    pub(crate) control: VecDeque<Queued<M, S::Meta>>,
    /// Messages accepted and not yet handed to the handler, plus hand-outs the receiver has
    /// published in `Queue::released` but not yet acknowledged here. The true number waiting is
    /// `len - released`.
    pub(crate) len: usize,
    /// Senders waiting for room, oldest first, by key.
    pub(crate) waiters: Vec<(u64, Waker)>,
    /// Senders woken for room (taken out of `waiters`) that have not come back yet: the room
    /// they were woken for is theirs, and [`Queue::has_room`] keeps it from everyone else, so
    /// that a sender that keeps sending cannot take it first, again and again, and keep them
    /// out for ever.
    pub(crate) reserved: usize,
    pub(crate) next_key: u64,
    /// Messages dropped by the overflow strategy.
    pub(crate) dropped: u64,
    /// Messages accepted but discarded unhandled when the actor ended.
    pub(crate) discarded: u64,
    /// Messages not handled because their deadline had come (`Expiring`); `()`, taking no room,
    /// where no message can expire.
    pub(crate) expired: <S::Meta as MessageMeta>::Tally,
}

impl<M, S: Strategy> Buffer<M, S> {
    /// Queues a message: at the back, or under `Prioritized` behind the messages of its level
    /// and the more urgent ones (a constant test: the plain strategies push at the back).
    #[inline(always)]
    pub(crate) fn push(&mut self, msg: M, meta: S::Meta, caller: CallerSpan) {
        if S::LEVELS > 1 {
            push_by_level(&mut self.queue, (msg, meta, caller));
        } else {
            self.queue.push_back((msg, meta, caller));
        }
    }
}

/// Makes the buffer on a mailbox's first message (out of line: once per actor).
#[cold]
#[inline(never)]
fn new_buffer<M, S: Strategy>() -> Box<Buffer<M, S>> {
    Box::new(Buffer {
        queue: VecDeque::new(),
        control: VecDeque::new(),
        len: 0,
        waiters: Vec::new(),
        reserved: 0,
        next_key: 0,
        dropped: 0,
        discarded: 0,
        expired: Default::default(),
    })
}

pub(crate) struct State<M, S: Strategy> {
    /// `None` until the first message.
    pub(crate) buf: Option<Box<Buffer<M, S>>>,
    pub(crate) rx_waker: Option<Waker>,
    /// The owning actor's watchers, timers and exit reason ([`ActorCell`](crate::cell::ActorCell)),
    /// boxed and made on first use.
    pub(crate) extras: Option<Box<LifeExtras>>,
    pub(crate) closed: bool,
    /// `true` if the owning actor's system has an observer (kept in `extras`): the one thing a
    /// send looks at for it, in a byte beside `closed`.
    pub(crate) observed: bool,
    /// Where the owning actor is in its life.
    pub(crate) phase: Phase,
    /// `true` once the end's `on_exit` watchers have all run (set after `phase` becomes
    /// `Ended`): from then on a `wait()` resolves. Until then it keeps waiting, so that a task
    /// woken by the end sees what the watchers did (a registry entry removed, a `Down` sent).
    pub(crate) exit_told: bool,
}

impl<M, S: Strategy> State<M, S> {
    /// The buffer, made if this is the first message.
    #[inline]
    pub(crate) fn buffer(&mut self) -> &mut Buffer<M, S> {
        self.buf.get_or_insert_with(new_buffer)
    }

    /// Messages accepted and not yet handed out, plus unacknowledged hand-outs.
    #[inline]
    fn len(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.len)
    }
}

/// The shared half of a mailbox of strategy `S`: every sender pushes into it, the actor's
/// [`Receiver`](super::Receiver) takes from it.
///
/// It is stored inline in the actor's cell (one allocation per actor, shared with its
/// references), so it is not itself reference-counted.
pub struct Queue<M, S: Strategy> {
    pub(crate) state: Mutex<State<M, S>>,
    capacity: usize,
    /// Messages the receiver has handed out of its current batch since it last took the lock
    /// (the low bits), and the [`WAITING`] flag: set while senders wait for room.
    ///
    /// Count and flag share one atomic so that a hand-out and a sender's registration are
    /// read-modify-writes of one location, totally ordered: either the receiver's hand-out sees
    /// the flag (and wakes the waiter), or the registering sender sees the hand-out (and uses the
    /// room). Written by the receiver, and by senders under the lock.
    pub(crate) released: AtomicUsize,
    _strategy: PhantomData<fn() -> S>,
}

impl<M, S: Strategy> Queue<M, S> {
    /// `capacity` is at least 1 ([`Bounded::with_capacity`](super::Bounded::with_capacity)
    /// refuses 0), so a mailbox without a buffer always has room.
    pub(crate) fn new(capacity: usize) -> Self {
        // Evaluated here, so that a strategy that cannot work (a `Prioritized` inside another)
        // fails to compile where its mailbox is made.
        let _levels = S::LEVELS;
        Queue {
            state: Mutex::new(State {
                buf: None,
                rx_waker: None,
                extras: None,
                closed: false,
                observed: false,
                phase: Phase::Running,
                exit_told: false,
            }),
            capacity,
            released: AtomicUsize::new(0),
            _strategy: PhantomData,
        }
    }

    /// The most messages the mailbox holds (`usize::MAX` when unbounded).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Messages waiting: accepted and not yet handed to the actor's handler.
    pub fn len(&self) -> usize {
        let st = self.state.lock();
        st.len() - self.released()
    }

    /// Messages waiting, read under the caller's lock.
    pub(crate) fn waiting(&self, st: &State<M, S>) -> usize {
        st.len() - self.released()
    }

    /// Messages waiting in `buf`, read under the caller's lock.
    #[inline]
    pub(crate) fn waiting_in(&self, buf: &Buffer<M, S>) -> usize {
        buf.len - self.released()
    }

    /// Hand-outs published by the receiver and not yet acknowledged under the lock.
    #[inline]
    fn released(&self) -> usize {
        self.released.load(Ordering::Acquire) & !WAITING
    }

    /// Receiver: publishes one hand-out from its batch. Returns `true` if senders wait for room,
    /// in which case the caller takes the lock and wakes them.
    #[inline]
    pub(crate) fn release_one(&self) -> bool {
        self.released.fetch_add(1, Ordering::AcqRel) & WAITING != 0
    }

    /// Receiver, under the lock: acknowledges the published hand-outs, keeping the flag.
    ///
    /// Only the receiver adds to the count, and senders change the flag only under the lock the
    /// caller holds, so a plain load tells whether there is anything to acknowledge; the
    /// read-modify-write is skipped in the common case of a receiver without a batch.
    #[inline]
    pub(crate) fn take_released(&self) -> usize {
        if self.released.load(Ordering::Acquire) & !WAITING == 0 {
            return 0;
        }
        self.released.fetch_and(WAITING, Ordering::AcqRel) & !WAITING
    }

    /// `true` if a message fits: fewer than `capacity` are waiting, counting the room kept for
    /// the senders woken for it ([`Buffer::reserved`]).
    #[inline]
    fn has_room(&self, buf: &Buffer<M, S>) -> bool {
        let used = buf.len + buf.reserved;
        used < self.capacity || used - self.released() < self.capacity
    }

    /// Publishes whether senders wait for room. Called under the lock after `waiters` changed.
    #[inline]
    pub(crate) fn sync_has_waiters(&self, buf: &Buffer<M, S>) {
        if buf.waiters.is_empty() {
            self.released.fetch_and(!WAITING, Ordering::AcqRel);
        } else {
            self.released.fetch_or(WAITING, Ordering::AcqRel);
        }
    }

    /// `true` if no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` once the mailbox no longer accepts messages.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Messages dropped by the overflow strategy (`DropNewest`, `DropOldest`), and timer ticks
    /// that a full `Reject` mailbox refused.
    pub fn dropped_count(&self) -> u64 {
        self.state.lock().buf.as_ref().map_or(0, |b| b.dropped)
    }

    /// A timer's send into a `Reject` mailbox: `msg` goes in if there is room (`Ok(None)`); a
    /// full mailbox counts it as its overflow, in [`dropped_count`](Queue::dropped_count), as
    /// a `DropNewest` one would (the timer has nobody to hand it back to), and hands it back
    /// as `Ok(Some)`, to be [dropped](Overflowed::drop_now) once the caller's own lock is
    /// released (the drop runs user code, and tells the observer `Dropped`, not `Rejected`).
    /// `Closed` once the mailbox is.
    pub(crate) fn try_send_or_count(&self, msg: M) -> Result<Option<Overflowed<M>>, SendError<M>> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(SendError::Closed(msg));
        }
        let buf = st.buffer();
        if self.has_room(buf) {
            buf.push(msg, S::Meta::DEFAULT, CallerSpan::NONE);
            buf.len += 1;
            self.wake_rx(st);
            return Ok(None);
        }
        Ok(Some(Self::overflow(&mut st, msg)))
    }

    /// Counts `msg`, which a full mailbox does not take, as its overflow (in
    /// [`dropped_count`](Queue::dropped_count)); the caller drops what it returns once the
    /// lock is released.
    fn overflow(st: &mut State<M, S>, msg: M) -> Overflowed<M> {
        st.buffer().dropped += 1;
        Overflowed {
            msg,
            observed: Self::observed_now(st),
        }
    }

    /// Messages that were accepted but discarded unhandled when the actor ended.
    pub fn discarded_count(&self) -> u64 {
        self.state.lock().buf.as_ref().map_or(0, |b| b.discarded)
    }

    /// Messages not handled because their deadline had come
    /// ([`Expiring`](super::Expiring); always 0 under the other strategies).
    pub fn expired_count(&self) -> u64 {
        self.state
            .lock()
            .buf
            .as_ref()
            .map_or(0, |b| b.expired.get())
    }

    /// Counts one message not handled because its deadline had come (it was queued, so the
    /// buffer exists).
    pub(crate) fn add_expired(&self) {
        self.state.lock().buffer().expired.add_one();
    }

    /// Pushes `msg` without waiting.
    ///
    /// # Errors
    ///
    /// `Closed(msg)` once the mailbox is closed; `Full(msg)` when it is full and the strategy is
    /// `Block` or `Reject`. Under `DropNewest` and `DropOldest` a full mailbox drops (and counts)
    /// a message and this returns `Ok`.
    #[inline]
    pub fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
        self.try_send_with(msg, S::Meta::DEFAULT, CallerSpan::NONE)
    }

    /// [`try_send`](Queue::try_send) with the meta of the message (its level, its deadline)
    /// and the span of the ask that sends it. A message that does not get in drops `caller`
    /// once the lock is released.
    pub(crate) fn try_send_with(
        &self,
        msg: M,
        meta: S::Meta,
        caller: CallerSpan,
    ) -> Result<(), SendError<M>> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(SendError::Closed(msg));
        }
        if crate::faults::enabled(crate::faults::Fault::TrySendChecksCloseApart) {
            drop(st);
            st = self.state.lock();
        }
        let buf = st.buffer();
        if self.has_room(buf) {
            buf.push(msg, meta, caller);
            buf.len += 1;
            self.wake_rx(st);
            return Ok(());
        }
        match S::ON_FULL {
            OnFull::Wait | OnFull::Reject | OnFull::Never => {
                if st.observed {
                    let observed = observation_of(&st);
                    drop(st);
                    tell_observer(observed, &ObservedEvent::Rejected);
                }
                Err(SendError::Full(msg))
            }
            OnFull::DropNewest => {
                let dropped = Self::overflow(&mut st, msg);
                drop(st);
                dropped.drop_now();
                Ok(())
            }
            OnFull::DropOldest => {
                // The new message is the one dropped when no waiting user message can make
                // room for it: none waits (the room is taken by control messages, or by a
                // message the receiver put back), or, under levels, it is less urgent than
                // everything waiting.
                let drops_new = match buf.queue.back() {
                    None => true,
                    Some((_, last, _)) => S::LEVELS > 1 && meta.level() < last.level(),
                };
                if drops_new {
                    let dropped = Self::overflow(&mut st, msg);
                    drop(st);
                    dropped.drop_now();
                    return Ok(());
                }
                let level = meta.level();
                let oldest = if S::LEVELS > 1 {
                    push_by_level(&mut buf.queue, (msg, meta, caller));
                    pop_least_urgent(&mut buf.queue)
                } else {
                    if crate::faults::enabled(crate::faults::Fault::DropOldestDropsNewest) {
                        buf.queue.rotate_right(1);
                    }
                    let oldest = buf.queue.pop_front();
                    buf.queue.push_back((msg, meta, caller));
                    oldest
                };
                buf.dropped += 1;
                // A stream's items enter past the capacity (see `push_past_capacity_if`). One
                // such item among the oldest, dropped here, frees its stream to queue the next
                // past the capacity again: dropping only one message per send would let the
                // mailbox grow by one each time. So the send drops as many of the oldest (under
                // levels, the oldest of the least urgent) as bring the user messages back to
                // the capacity (control messages, held past it by rule, are not counted), and
                // never the one it queued.
                let released = self.released();
                let mut more = Vec::new();
                while buf.len - released - buf.control.len() > self.capacity && buf.queue.len() > 1
                {
                    let next = if S::LEVELS > 1 {
                        // The least urgent level is at the back; the new message is the last
                        // of its level, so it would be taken only as its level's one message.
                        let n = buf.queue.len();
                        let least = buf.queue[n - 1].1.level();
                        if least == level && buf.queue[n - 2].1.level() != least {
                            break;
                        }
                        pop_least_urgent(&mut buf.queue)
                    } else {
                        buf.queue.pop_front()
                    };
                    let Some(next) = next else { break };
                    buf.len -= 1;
                    buf.dropped += 1;
                    more.push(next);
                }
                // The new message is in, in the place of the one it pushed out: told as
                // enqueued, at the depth it makes, beside that drop.
                let depth = st.len() - released;
                let observed = Self::observed_now(&st);
                let reading = if observed.is_some() {
                    next_reading(&mut *st)
                } else {
                    0
                };
                drop(st);
                // Told before the drops, which are user code: one that panics is contained
                // (the sender's own message was queued), and the rest are still dropped.
                if observed.is_some() {
                    let event = ObservedEvent::Enqueued { depth, reading };
                    tell_observer(observed.clone(), &event);
                    for _ in 0..more.len() {
                        tell_observer(observed.clone(), &ObservedEvent::Dropped);
                    }
                }
                tell_observer(observed, &ObservedEvent::Dropped);
                drop_each_with_cause(NoReply::Overflow, oldest.into_iter().chain(more));
                Ok(())
            }
        }
    }

    /// Pushes a control message (a monitor's `Down`, a trapped `Exit`) whatever the strategy
    /// and the room: the runtime's own notices are never refused, dropped or waited on for
    /// room. It counts as waiting, so a full mailbox may hold one more than its capacity for a
    /// while (senders wait or are refused until it is back under). `Err(msg)` once the mailbox
    /// is closed.
    ///
    /// Control messages go to a queue of their own that the receiver empties first, and
    /// `mark` runs under the lock after the push: the actor's cell raises its control flag
    /// there, which the message loop reads with the one load it makes per message anyway, so
    /// a notice overtakes the user messages already queued and those of the receiver's batch.
    pub(crate) fn push_control(&self, msg: M, mark: impl FnOnce()) -> Result<(), M> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(msg);
        }
        let buf = st.buffer();
        buf.control
            .push_back((msg, S::Meta::DEFAULT, CallerSpan::NONE));
        buf.len += 1;
        if !crate::faults::enabled(crate::faults::Fault::ControlSkipsFlag) {
            mark();
        }
        self.wake_rx(st);
        Ok(())
    }

    /// Pushes a stream's message (an item, or its end) at the back, in FIFO order with every
    /// other message, whatever the strategy and the room: never refused, dropped or waited on.
    /// It counts as waiting. A stream has at most one message queued at a time, so a bounded
    /// mailbox holds at most one message per attached stream over its capacity (see
    /// [`crate::stream`]). `Err(msg)` once the mailbox is closed.
    ///
    /// A method of its own rather than [`push_control`](Self::push_control): a stream's items
    /// are ordinary messages, whatever becomes of the runtime's control notices.
    ///
    /// `admit` runs under the lock, before the push, and may refuse it (`Err(msg)` too): the
    /// stream checks there that it was not cancelled, so that a cancel and the push are ordered.
    /// It must not take the mailbox's lock, nor drop a message.
    pub(crate) fn push_past_capacity_if(
        &self,
        msg: M,
        admit: impl FnOnce() -> bool,
    ) -> Result<(), M> {
        let mut st = self.state.lock();
        if st.closed || !admit() {
            return Err(msg);
        }
        let buf = st.buffer();
        // With the default meta: at the default level under `Prioritized` (FIFO with the plain
        // sends there), and no deadline under `Expiring`.
        buf.push(msg, S::Meta::DEFAULT, CallerSpan::NONE);
        buf.len += 1;
        self.wake_rx(st);
        Ok(())
    }

    /// After a push: takes the receiver's waker if it parked, releases the lock, wakes it
    /// (and tells an observer, if the actor is observed).
    #[inline]
    fn wake_rx(&self, mut st: MutexGuard<'_, State<M, S>>) {
        if crate::faults::enabled(crate::faults::Fault::SkipReceiverWake) {
            st.rx_waker = None;
        }
        if st.observed {
            return self.wake_rx_observed(st);
        }
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// [`wake_rx`](Self::wake_rx) for an observed actor: tells of the message enqueued, with
    /// the depth it makes, once the lock is released.
    #[cold]
    #[inline(never)]
    fn wake_rx_observed(&self, mut st: MutexGuard<'_, State<M, S>>) {
        let depth = st.len() - self.released();
        let reading = next_reading(&mut *st);
        let observed = observation_of(&st);
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        tell_observer(observed, &ObservedEvent::Enqueued { depth, reading });
    }

    /// Tells an observer of a message dropped or refused, if the actor is observed; call with
    /// the lock held, then [`tell_observer`] once it is released.
    #[inline]
    fn observed_now(st: &State<M, S>) -> Option<(Observation, Option<StdArc<str>>)> {
        if st.observed {
            observation_of(st)
        } else {
            None
        }
    }

    /// Pushes into a buffer known to have room, forgetting the caller's waiting key (the
    /// path of a sender that registered to wait and then found room).
    ///
    /// `poll_send` repeats these lines inline for a send that finds room at once: built on one
    /// shared helper, that path took 2 more instructions per send (`callgrind`, one-thread
    /// `tell`: 1.042 → 1.058 G).
    #[cold]
    fn push_as(
        &self,
        mut st: MutexGuard<'_, State<M, S>>,
        msg: M,
        meta: S::Meta,
        caller: CallerSpan,
        key: &mut Option<u64>,
    ) {
        let buf = st.buffer();
        if let Some(k) = key.take() {
            remove_waiter(&mut buf.waiters, k);
            self.sync_has_waiters(buf);
        }
        buf.push(msg, meta, caller);
        buf.len += 1;
        self.wake_rx(st);
    }

    /// One attempt of a waiting send: push if there is room, else register `waker` under `key`.
    /// A send that fails or waits hands `caller` back with the message, for the sender's future
    /// to keep while it waits, or to drop.
    ///
    /// `caller` goes by value, not by `&mut`: a reference to the zero-sized span of a build
    /// without the `tracing` feature is still a pointer to pass, one more instruction per
    /// `tell` (callgrind, 1M tells: 1150.7M against 1146.7M).
    pub(crate) fn poll_send(
        &self,
        msg: M,
        meta: S::Meta,
        caller: CallerSpan,
        key: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Unsent<M>>> {
        let mut st = self.state.lock();
        if st.closed {
            if let Some(k) = key.take() {
                if let Some(buf) = st.buf.as_deref_mut() {
                    remove_waiter(&mut buf.waiters, k);
                    self.sync_has_waiters(buf);
                }
            }
            return Poll::Ready(Err((SendError::Closed(msg), false, caller)));
        }
        let buf = st.buffer();
        // Where a sender that waited stands in `waiters` (`Err`: where it would go), looked up
        // once for this poll; nothing below changes `waiters` before it is used.
        let mut place = None;
        if let Some(k) = *key {
            let at = waiter_index(&buf.waiters, k);
            // A waiting sender no longer in `waiters` was woken for room: the room kept for it
            // is now its own to use (or, if it is gone, it waits again in its place by age).
            if S::ON_FULL == OnFull::Wait && at.is_err() {
                buf.reserved = buf.reserved.saturating_sub(1);
            }
            place = Some(at);
        }
        if self.has_room(buf) {
            if key.take().is_some() {
                if let Some(Ok(at)) = place {
                    buf.waiters.remove(at);
                }
                self.sync_has_waiters(buf);
            }
            buf.push(msg, meta, caller);
            buf.len += 1;
            self.wake_rx(st);
            return Poll::Ready(Ok(()));
        }
        if S::ON_FULL != OnFull::Wait {
            drop(st);
            return Poll::Ready(
                self.try_send_with(msg, meta, caller)
                    .map_err(|e| (e, false, CallerSpan::NONE)),
            );
        }
        // Full: wait for the receiver to release room.
        let buf = st.buffer();
        if crate::current_actor::runs_queue(self) {
            // The actor's own handler or hook: the room could only come once it returns,
            // which it would never do while it waits here. Refused as full instead.
            if key.take().is_some() {
                if let Some(Ok(at)) = place {
                    buf.waiters.remove(at);
                }
                self.sync_has_waiters(buf);
            }
            return Poll::Ready(Err((SendError::Full(msg), false, caller)));
        }
        match (*key, place) {
            (Some(_), Some(Ok(at))) => {
                let entry = &mut buf.waiters[at];
                if !entry.1.will_wake(cx.waker()) {
                    entry.1 = cx.waker().clone();
                }
            }
            (Some(k), Some(Err(at))) => {
                // Woken, and the room went to a message let in past the capacity (a control
                // message, a stream's item): back in its place by age, ahead of every sender
                // that began to wait after it.
                buf.waiters.insert(at, (k, cx.waker().clone()));
            }
            _ => {
                let k = buf.next_key;
                buf.next_key += 1;
                buf.waiters.push((k, cx.waker().clone()));
                *key = Some(k);
            }
        }
        // Publish the wait and look again in the same read-modify-write: a hand-out from the
        // receiver's batch either came before it (the room is seen here) or after it (the
        // receiver sees the flag and wakes this sender).
        let released = self.released.fetch_or(WAITING, Ordering::AcqRel) & !WAITING;
        if buf.len + buf.reserved - released < self.capacity {
            self.push_as(st, msg, meta, caller, key);
            return Poll::Ready(Ok(()));
        }
        // Hand the message back to the caller's future (the `true` means "still waiting").
        Poll::Ready(Err((SendError::Full(msg), true, caller)))
    }

    /// A waiting send was dropped: unregister it, or pass on the wake-up it had been given.
    pub(crate) fn cancel_wait(&self, key: u64) {
        let mut st = self.state.lock();
        // A send only waits once the mailbox is full, so it has a buffer.
        let Some(buf) = st.buf.as_deref_mut() else {
            return;
        };
        if !remove_waiter(&mut buf.waiters, key) {
            // We had been woken for room we will not use: the room kept for us goes to the next
            // waiter instead.
            buf.reserved = buf.reserved.saturating_sub(1);
            if self.has_room(buf) && !buf.waiters.is_empty() {
                let (_, w) = buf.waiters.remove(0);
                buf.reserved += 1;
                self.sync_has_waiters(buf);
                drop(st);
                w.wake();
                return;
            }
        }
        self.sync_has_waiters(buf);
    }

    /// Closes the mailbox: later sends fail with `Closed`; every waiting sender and the receiver
    /// are woken. Messages already queued stay for the receiver to drain. Idempotent.
    pub fn close(&self) {
        let woken = {
            let mut st = self.state.lock();
            self.close_locked(&mut st)
        };
        wake_all(woken);
    }

    /// Closes under the caller's lock; returns the wakers to wake once it is released (none if
    /// the mailbox was already closed).
    pub(crate) fn close_locked(&self, st: &mut State<M, S>) -> Woken {
        if st.closed {
            return (None, Vec::new());
        }
        st.closed = true;
        let waiters = match st.buf.as_deref_mut() {
            Some(buf) => {
                if crate::faults::enabled(crate::faults::Fault::CloseSkipsSenders) {
                    buf.waiters.clear();
                }
                let waiters = std::mem::take(&mut buf.waiters);
                // Every send fails from here on: no room is kept for anyone.
                buf.reserved = 0;
                if !waiters.is_empty() {
                    // With no waiters the flag is already clear: it follows `waiters` under
                    // this lock.
                    self.sync_has_waiters(buf);
                }
                waiters
            }
            None => Vec::new(),
        };
        (st.rx_waker.take(), waiters)
    }

    /// Counts `n` messages discarded unhandled (they were queued, so the buffer exists).
    pub(crate) fn add_discarded(&self, n: usize) {
        if n > 0 {
            self.state.lock().buffer().discarded += n as u64;
        }
    }
}

/// The receiver's waker and the waiting senders a close must wake, outside the lock.
pub(crate) type Woken = (Option<Waker>, Vec<(u64, Waker)>);

/// Wakes what [`Queue::close_locked`] returned.
#[inline]
pub(crate) fn wake_all((rx, waiters): Woken) {
    if let Some(w) = rx {
        w.wake();
    }
    if !waiters.is_empty() {
        for (_, w) in waiters {
            w.wake();
        }
    }
}

/// Where the sender waiting under `key` stands in `waiters`, or (`Err`) where it would go by
/// age. `waiters` is kept in key order, oldest first: a new sender takes the next key and goes
/// last, a woken one that waits again goes back in its place, and wakes take from the front.
fn waiter_index(waiters: &[(u64, Waker)], key: u64) -> Result<usize, usize> {
    debug_assert!(
        waiters.is_sorted_by_key(|(k, _)| *k),
        "waiters out of key order"
    );
    waiters.binary_search_by_key(&key, |(k, _)| *k)
}

/// Takes the sender waiting under `key` out of `waiters`; `false` if it was not there (woken).
fn remove_waiter(waiters: &mut Vec<(u64, Waker)>, key: u64) -> bool {
    match waiter_index(waiters, key) {
        Ok(at) => {
            waiters.remove(at);
            true
        }
        Err(_) => false,
    }
}

/// A message a full mailbox counted as dropped: a `DropNewest` or `DropOldest` overflow, or a
/// timer's tick refused by a `Reject` mailbox ([`Queue::try_send_or_count`]). Dropped, and
/// told to the observer, once the caller's lock is released.
pub(crate) struct Overflowed<M> {
    msg: M,
    observed: Option<(Observation, Option<StdArc<str>>)>,
}

impl<M> Overflowed<M> {
    /// Tells the observer `Dropped`, then drops the message (its reply ports resolve with
    /// `NoReply::Overflow`). The drop is user code: a panic in it is contained, as for every
    /// message the mailbox drops, so the send that was counted returns as usual.
    pub(crate) fn drop_now(self) {
        tell_observer(self.observed, &ObservedEvent::Dropped);
        drop_each_with_cause(NoReply::Overflow, [self.msg]);
    }
}

impl<M, S: Strategy> fmt::Debug for Queue<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Queue")
            .field("strategy", &S::NAME)
            .field("capacity", &self.capacity)
            .field("len", &(st.len() - self.released()))
            .field("closed", &st.closed)
            .finish()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::super::{Block, Receiver};
    use super::Queue;
    use crate::error::SendError;
    use crate::mailbox::caller_span::CallerSpan;

    /// An idle actor's mailbox holds no buffer: the first message makes it, and closing,
    /// counting or polling an empty mailbox does not.
    #[test]
    fn the_buffer_is_made_by_the_first_message_only() {
        let queue = Queue::<u32, Block>::new(2);
        let mut rx = Receiver::<u32, Block>::default();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(rx.poll_recv(&queue, &mut cx).is_pending());
        assert_eq!(
            (queue.len(), queue.dropped_count(), queue.discarded_count()),
            (0, 0, 0)
        );
        assert!(queue.state.lock().buf.is_none());

        queue.try_send(7).unwrap();
        assert!(queue.state.lock().buf.is_some());
        assert_eq!(rx.poll_recv(&queue, &mut cx), Poll::Ready(Some(7)));
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn closing_a_mailbox_that_was_never_sent_to_ends_its_receiver_without_a_buffer() {
        let queue = Queue::<u32, Block>::new(2);
        let mut rx = Receiver::<u32, Block>::default();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(rx.poll_recv(&queue, &mut cx).is_pending());
        queue.close();
        assert_eq!(rx.poll_recv(&queue, &mut cx), Poll::Ready(None));
        assert_eq!(queue.try_send(1), Err(SendError::Closed(1)));
        assert_eq!(rx.close_and_discard(&queue), 0);
        assert!(queue.state.lock().buf.is_none());
    }

    /// One `Block` send's poll, with the waker `w`: `true` if the message went in, `false` if
    /// it waits.
    fn poll_send(queue: &Queue<u32, Block>, m: u32, key: &mut Option<u64>, w: &Waker) -> bool {
        let mut cx = Context::from_waker(w);
        match queue.poll_send(m, (), CallerSpan::NONE, key, &mut cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err((_, true, _))) => false,
            Poll::Ready(Err((e, false, _))) => panic!("refused: {e:?}"),
            Poll::Pending => unreachable!("a send's poll answers at once"),
        }
    }

    /// Counts its wake-ups.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        (Arc::clone(&wakes), Waker::from(wakes))
    }

    /// Room the receiver freed is room for newcomers as soon as it is published, before the
    /// receiver comes to the lock; when it does, it wakes only as many waiting senders as
    /// there is room left, oldest first. (It woke one per freed message: three waiters for
    /// one free place, and the youngest took it while the others went back in reverse order.)
    #[test]
    fn a_hand_out_wakes_only_as_many_waiters_as_there_is_room() {
        let queue = Queue::<u32, Block>::new(4);
        let mut rx = Receiver::<u32, Block>::default();
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..4 {
            queue.try_send(i).unwrap();
        }
        // The batch of 4 taken, 3 handed out: newcomers fill the room at once.
        for _ in 0..3 {
            assert!(matches!(
                rx.poll_recv(&queue, &mut cx),
                Poll::Ready(Some(_))
            ));
        }
        let mut newcomers = 0;
        while queue.try_send(100).is_ok() {
            newcomers += 1;
        }
        assert_eq!((newcomers, queue.len()), (3, 4));
        let (a, b, c) = (counting(), counting(), counting());
        let (mut ka, mut kb, mut kc) = (None, None, None);
        assert!(!poll_send(&queue, 1, &mut ka, &a.1));
        assert!(!poll_send(&queue, 2, &mut kb, &b.1));
        assert!(!poll_send(&queue, 3, &mut kc, &c.1));

        // One more hand-out, with senders waiting: one place is free, for the oldest.
        assert!(matches!(
            rx.poll_recv(&queue, &mut cx),
            Poll::Ready(Some(_))
        ));
        let woken = |w: &(Arc<Wakes>, Waker)| w.0.0.load(Ordering::SeqCst);
        assert_eq!((woken(&a), woken(&b), woken(&c)), (1, 0, 0));
        assert!(poll_send(&queue, 1, &mut ka, &a.1));
        assert!(!poll_send(&queue, 2, &mut kb, &b.1));
        assert!(!poll_send(&queue, 3, &mut kc, &c.1));
        let st = queue.state.lock();
        let buf = st.buf.as_deref().unwrap();
        let order: Vec<u64> = buf.waiters.iter().map(|(k, _)| *k).collect();
        assert_eq!(order, [kb.unwrap(), kc.unwrap()]);
        assert_eq!(buf.reserved, 0);
    }
}
