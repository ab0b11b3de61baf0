//! The shared half of a mailbox: a many-producer, one-consumer queue with wake-ups.
//!
//! One mutex guards the buffer, the receiver's waker and the list of senders waiting for room.
//! The receiver takes the whole buffer at once (one lock per batch, not per message) unless the
//! strategy needs the oldest message to stay droppable; senders wake the receiver only when it
//! has parked. Nothing is allocated up front: the buffer grows as messages arrive, up to the
//! capacity.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll, Waker};

use super::strategy::{OnFull, Strategy};
use crate::error::{NoReply, SendError};
use crate::reply::with_drop_cause;
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The flag bit of [`Queue::released`]: senders are waiting for room.
const WAITING: usize = 1 << (usize::BITS - 1);

pub(crate) struct State<M> {
    /// Messages accepted and not yet taken by the receiver.
    pub(crate) queue: VecDeque<M>,
    /// Messages accepted and not yet handed to the handler, plus hand-outs the receiver has
    /// published in `Queue::released` but not yet acknowledged here. The true number waiting is
    /// `len - released`.
    pub(crate) len: usize,
    pub(crate) closed: bool,
    pub(crate) rx_waker: Option<Waker>,
    /// Senders waiting for room, oldest first, by key.
    pub(crate) waiters: Vec<(u64, Waker)>,
    pub(crate) next_key: u64,
}

/// The shared half of a mailbox of strategy `S`: every sender pushes into it, the actor's
/// [`Receiver`](super::Receiver) takes from it.
///
/// It is stored inline in the actor's cell (one allocation per actor, shared with its
/// references), so it is not itself reference-counted.
pub struct Queue<M, S> {
    pub(crate) state: Mutex<State<M>>,
    capacity: usize,
    /// Messages the receiver has handed out of its current batch since it last took the lock
    /// (the low bits), and the [`WAITING`] flag: set while senders wait for room.
    ///
    /// Count and flag share one atomic so that a hand-out and a sender's registration are
    /// read-modify-writes of one location, totally ordered: either the receiver's hand-out sees
    /// the flag (and wakes the waiter), or the registering sender sees the hand-out (and uses the
    /// room). Written by the receiver, and by senders under the lock.
    pub(crate) released: AtomicUsize,
    dropped: AtomicU64,
    discarded: AtomicU64,
    _strategy: PhantomData<fn() -> S>,
}

impl<M, S: Strategy> Queue<M, S> {
    pub(crate) fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                len: 0,
                closed: false,
                rx_waker: None,
                waiters: Vec::new(),
                next_key: 0,
            }),
            capacity,
            released: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
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
        st.len - self.released()
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

    /// `true` if a message fits: fewer than `capacity` are waiting.
    #[inline]
    fn has_room(&self, st: &State<M>) -> bool {
        st.len < self.capacity || st.len - self.released() < self.capacity
    }

    /// Publishes whether senders wait for room. Called under the lock after `waiters` changed.
    #[inline]
    pub(crate) fn sync_has_waiters(&self, st: &State<M>) {
        if st.waiters.is_empty() {
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

    /// Messages dropped by the overflow strategy (`DropNewest`, `DropOldest`).
    pub fn dropped_count(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages that were accepted but discarded unhandled when the actor ended.
    pub fn discarded_count(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    /// Pushes `msg` without waiting.
    ///
    /// # Errors
    ///
    /// `Closed(msg)` once the mailbox is closed; `Full(msg)` when it is full and the strategy is
    /// `Block` or `Reject`. Under `DropNewest` and `DropOldest` a full mailbox drops (and counts)
    /// a message and this returns `Ok`.
    pub fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(SendError::Closed(msg));
        }
        if self.has_room(&st) {
            return self.push(st, msg);
        }
        match S::ON_FULL {
            OnFull::Wait | OnFull::Reject | OnFull::Never => Err(SendError::Full(msg)),
            OnFull::DropNewest => {
                drop(st);
                self.count_dropped(msg);
                Ok(())
            }
            OnFull::DropOldest => {
                if crate::faults::enabled(crate::faults::Fault::DropOldestDropsNewest) {
                    st.queue.rotate_right(1);
                }
                let oldest = st.queue.pop_front();
                st.queue.push_back(msg);
                drop(st);
                if let Some(old) = oldest {
                    self.count_dropped(old);
                }
                Ok(())
            }
        }
    }

    /// Pushes into a mailbox known to have room, waking the receiver if it parked.
    #[inline]
    fn push(
        &self,
        mut st: crate::sync::MutexGuard<'_, State<M>>,
        msg: M,
    ) -> Result<(), SendError<M>> {
        st.queue.push_back(msg);
        st.len += 1;
        if crate::faults::enabled(crate::faults::Fault::SkipReceiverWake) {
            st.rx_waker = None;
        }
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn count_dropped(&self, msg: M) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        with_drop_cause(NoReply::Overflow, || drop(msg));
    }

    /// One attempt of a waiting send: push if there is room, else register `waker` under `key`.
    pub(crate) fn poll_send(
        &self,
        msg: M,
        key: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (SendError<M>, bool)>> {
        let mut st = self.state.lock();
        if st.closed {
            if let Some(k) = key.take() {
                remove_waiter(&mut st.waiters, k);
                self.sync_has_waiters(&st);
            }
            return Poll::Ready(Err((SendError::Closed(msg), false)));
        }
        if self.has_room(&st) {
            if let Some(k) = key.take() {
                remove_waiter(&mut st.waiters, k);
                self.sync_has_waiters(&st);
            }
            return Poll::Ready(self.push(st, msg).map_err(|e| (e, false)));
        }
        if S::ON_FULL != OnFull::Wait {
            drop(st);
            return Poll::Ready(self.try_send(msg).map_err(|e| (e, false)));
        }
        // Full: wait for the receiver to release room.
        match key {
            Some(k) => {
                if let Some(entry) = st.waiters.iter_mut().find(|(wk, _)| wk == k) {
                    if !entry.1.will_wake(cx.waker()) {
                        entry.1 = cx.waker().clone();
                    }
                } else {
                    st.waiters.push((*k, cx.waker().clone()));
                }
            }
            None => {
                let k = st.next_key;
                st.next_key += 1;
                st.waiters.push((k, cx.waker().clone()));
                *key = Some(k);
            }
        }
        // Publish the wait and look again in the same read-modify-write: a hand-out from the
        // receiver's batch either came before it (the room is seen here) or after it (the
        // receiver sees the flag and wakes this sender).
        let released = self.released.fetch_or(WAITING, Ordering::AcqRel) & !WAITING;
        if st.len - released < self.capacity {
            if let Some(k) = key.take() {
                remove_waiter(&mut st.waiters, k);
                self.sync_has_waiters(&st);
            }
            return Poll::Ready(self.push(st, msg).map_err(|e| (e, false)));
        }
        // Hand the message back to the caller's future (the `true` means "still waiting").
        Poll::Ready(Err((SendError::Full(msg), true)))
    }

    /// A waiting send was dropped: unregister it, or pass on the wake-up it had been given.
    pub(crate) fn cancel_wait(&self, key: u64) {
        let mut st = self.state.lock();
        if !remove_waiter(&mut st.waiters, key) && self.has_room(&st) {
            // We had been woken for room we will not use: wake the next waiter instead.
            if !st.waiters.is_empty() {
                let (_, w) = st.waiters.remove(0);
                self.sync_has_waiters(&st);
                drop(st);
                w.wake();
                return;
            }
        }
        self.sync_has_waiters(&st);
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
    pub(crate) fn close_locked(&self, st: &mut State<M>) -> Woken {
        if st.closed {
            return (None, Vec::new());
        }
        st.closed = true;
        if crate::faults::enabled(crate::faults::Fault::CloseSkipsSenders) {
            st.waiters.clear();
        }
        let waiters = std::mem::take(&mut st.waiters);
        if !waiters.is_empty() {
            // With no waiters the flag is already clear: it follows `waiters` under this lock.
            self.sync_has_waiters(st);
        }
        (st.rx_waker.take(), waiters)
    }

    /// Wakes the receiver without sending (used by kill).
    pub(crate) fn wake_receiver(&self) {
        let w = self.state.lock().rx_waker.take();
        if let Some(w) = w {
            w.wake();
        }
    }

    pub(crate) fn add_discarded(&self, n: usize) {
        if n > 0 {
            self.discarded.fetch_add(n as u64, Ordering::Relaxed);
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

fn remove_waiter(waiters: &mut Vec<(u64, Waker)>, key: u64) -> bool {
    if let Some(pos) = waiters.iter().position(|(k, _)| *k == key) {
        waiters.remove(pos);
        true
    } else {
        false
    }
}

impl<M, S: Strategy> fmt::Debug for Queue<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Queue")
            .field("strategy", &S::NAME)
            .field("capacity", &self.capacity)
            .field("len", &st.len)
            .field("closed", &st.closed)
            .finish()
    }
}
