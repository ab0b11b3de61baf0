//! Models of streams attached to actors: the handshake between the forwarder that pulls an item
//! and pushes it into the mailbox and the handler whose release of the item lets the next one
//! be pulled; a cancel racing a push; an attach racing the actor's end; and an actor that stops
//! itself with an item queued.
//!
//! Thread 0 of a [`JoinExecutor`] runs the actor, thread 1 the stream's forwarder.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use playhouse_core::mailbox::Unbounded;
use playhouse_core::{Actor, Context, Env, ExitReason, Handler, StreamHandle, StreamMessage};

use crate::harness::{DropLog, JoinExecutor, Stage, System, Tracked, check};

// ---------------------------------------------------------------------------------------------
// The ack / pull handshake
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    /// Items the stream has yielded.
    pulled: AtomicU32,
    /// Items the handler has taken (counted before it releases the item).
    taken: AtomicU32,
    /// Reached 1 when the handler saw `Finished`.
    finished: Stage,
    finished_count: AtomicU32,
    /// Items handled, in order.
    handled: Mutex<Vec<u32>>,
    /// Set when the stream is dropped.
    dropped: AtomicBool,
}

/// Yields `0..n`, then ends; asserts at every pull that each item it yielded before was taken.
struct Counted {
    n: u32,
    counts: Arc<Counts>,
}

impl Stream for Counted {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<u32>> {
        let next = self.counts.pulled.load(SeqCst);
        if next == self.n {
            return Poll::Ready(None);
        }
        let taken = self.counts.taken.load(SeqCst);
        assert!(
            taken >= next,
            "two items in flight: item {next} pulled while {taken} were taken"
        );
        self.counts.pulled.store(next + 1, SeqCst);
        Poll::Ready(Some(next))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.counts.dropped.store(true, SeqCst);
    }
}

enum CountMsg {
    Nums(StreamMessage<u32>),
}

impl From<StreamMessage<u32>> for CountMsg {
    fn from(m: StreamMessage<u32>) -> Self {
        CountMsg::Nums(m)
    }
}

struct Taker(Arc<Counts>);

impl Actor for Taker {
    type Message = CountMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Taker {
    async fn handle(&mut self, msg: CountMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            CountMsg::Nums(StreamMessage::Item(item)) => {
                self.0.taken.fetch_add(1, SeqCst);
                let n = item.into_inner();
                self.0.handled.lock().unwrap().push(n);
            }
            CountMsg::Nums(StreamMessage::Finished(_)) => {
                self.0.finished_count.fetch_add(1, SeqCst);
                self.0.finished.reach(1);
            }
        }
        Ok(())
    }
}

/// A stream of two items attached from outside: the forwarder never pulls an item before the
/// one it queued last was taken (the stream asserts it at every pull), the items are handled in
/// order, `Finished` comes once after them, and the forwarder then ends, dropping the stream.
/// A release that forgot to wake the forwarder would leave it waiting for the first item's
/// token, and the model waiting for `Finished`: a deadlock.
pub fn one_item_in_flight_and_every_item_handled() {
    check(|| {
        let counts = Arc::new(Counts::default());
        let executor = JoinExecutor::new();
        let system = System::new(executor.clone());
        let actor = system.spawner(Unbounded).spawn(Taker(counts.clone()));
        let handle = system.attach_stream(
            &actor,
            Counted {
                n: 2,
                counts: counts.clone(),
            },
        );
        counts.finished.wait_for(1);
        assert_eq!(*counts.handled.lock().unwrap(), vec![0, 1]);
        assert_eq!(counts.finished_count.load(SeqCst), 1);
        assert!(!handle.is_active(), "a stream that ended is still active");
        executor.join(1);
        assert!(counts.dropped.load(SeqCst), "the forwarder kept the stream");
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
    });
}

// ---------------------------------------------------------------------------------------------
// A cancel racing a push
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct CancelShared {
    /// Items handled.
    handled: AtomicUsize,
    /// Messages waiting in the mailbox when `cancel` had returned: the most items that may
    /// still be handled after the first.
    waiting_at_cancel: AtomicUsize,
    /// Ids the stream yielded, as a bitmask.
    yielded: AtomicU32,
    /// Reached 1 once the first item was handled (so the forwarder was spawned).
    first_handled: Stage,
}

/// Yields `Tracked(0)`, `Tracked(1)`, then ends.
struct TwoTracked {
    next: u32,
    log: Arc<DropLog>,
    shared: Arc<CancelShared>,
}

impl Stream for TwoTracked {
    type Item = Tracked;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<Tracked>> {
        if self.next == 2 {
            return Poll::Ready(None);
        }
        let id = self.next;
        self.next += 1;
        self.shared.yielded.fetch_or(1 << id, SeqCst);
        Poll::Ready(Some(Tracked::new(id, &self.log)))
    }
}

enum TrackedMsg {
    Items(StreamMessage<Tracked>),
}

impl From<StreamMessage<Tracked>> for TrackedMsg {
    fn from(m: StreamMessage<Tracked>) -> Self {
        TrackedMsg::Items(m)
    }
}

/// Attaches the stream in `started`; releases the first item, then cancels the stream while
/// the forwarder may be pulling and pushing the second.
struct Canceller {
    shared: Arc<CancelShared>,
    stream: Option<TwoTracked>,
    handle: Option<StreamHandle>,
}

impl Actor for Canceller {
    type Message = TrackedMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Canceller {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Self::Error> {
        let stream = self.stream.take().expect("one incarnation");
        self.handle = Some(ctx.add_stream(stream));
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: TrackedMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        match msg {
            TrackedMsg::Items(StreamMessage::Item(item)) => {
                let n = self.shared.handled.fetch_add(1, SeqCst) + 1;
                // Taking the item out releases the stream: the forwarder may pull the next now.
                item.into_inner().handle();
                if n == 1 {
                    let handle = self.handle.as_ref().expect("started attached the stream");
                    assert!(
                        handle.cancel(),
                        "a stream with an item to come was not active"
                    );
                    assert!(!handle.is_active(), "a cancelled stream is still active");
                    // Only this stream's messages enter this mailbox: what waits now was
                    // queued before the cancel.
                    let waiting = ctx.myself().mailbox_len();
                    self.shared.waiting_at_cancel.store(waiting, SeqCst);
                    self.shared.first_handled.reach(1);
                } else {
                    assert!(
                        n - 1 <= self.shared.waiting_at_cancel.load(SeqCst),
                        "an item was queued after its stream's cancel returned \
                         (item {n}, {} waiting at the cancel)",
                        self.shared.waiting_at_cancel.load(SeqCst)
                    );
                }
            }
            TrackedMsg::Items(StreamMessage::Finished(_)) => {
                panic!("a cancelled stream sent Finished")
            }
        }
        Ok(())
    }
}

/// A stream of two items whose actor cancels it while handling the first, after releasing it:
/// the forwarder may be pulling the second item, or pushing it, as the cancel comes. No item
/// is queued once `cancel` has returned (the handler checks against what was waiting then),
/// every item the stream yielded is dropped exactly once (handled, or refused by the cancel),
/// no `Finished` is sent, and the forwarder ends (its thread is joined).
pub fn cancel_racing_a_push_lets_nothing_in_after_it() {
    check(|| {
        let log = DropLog::new();
        let shared = Arc::new(CancelShared::default());
        let executor = JoinExecutor::new();
        let system = System::new(executor.clone());
        let actor = system.spawner(Unbounded).spawn(Canceller {
            shared: shared.clone(),
            stream: Some(TwoTracked {
                next: 0,
                log: log.clone(),
                shared: shared.clone(),
            }),
            handle: None,
        });
        // Thread 0 runs the actor, thread 1 the forwarder `started` spawned.
        shared.first_handled.wait_for(1);
        executor.join(1);
        // Everything the forwarder queued is in the mailbox; the actor handles it all.
        let weak = actor.downgrade();
        drop(actor);
        assert!(matches!(block_on(weak.wait()), ExitReason::Normal));
        assert!(shared.handled.load(SeqCst) >= 1);
        log.assert_all_dropped_once(shared.yielded.load(SeqCst));
    });
}

// ---------------------------------------------------------------------------------------------
// An attach racing the actor's end
// ---------------------------------------------------------------------------------------------

/// Never ready, never wakes anyone: only a cancel gets its forwarder going again.
struct Never(Arc<AtomicBool>);

impl Stream for Never {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<u32>> {
        Poll::Pending
    }
}

impl Drop for Never {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

struct Idle;

impl Actor for Idle {
    type Message = CountMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Idle {
    async fn handle(&mut self, _: CountMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A pending stream attached from outside while another thread stops the actor: either the
/// attach finds the mailbox closed (the stream is dropped at once, no forwarder) or the stream
/// is tracked and the actor's end cancels it, waking its forwarder, which drops it. Either way
/// the forwarder ends (its thread is joined: a forwarder left waiting on the stream would
/// deadlock), the stream is dropped, and the handle is inactive.
pub fn actor_end_drops_a_stream_attached_as_it_ends() {
    check(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let executor = JoinExecutor::new();
        let system = System::new(executor.clone());
        let actor = system.spawner(Unbounded).spawn(Idle);
        let stopper = {
            let actor = actor.clone();
            thread::spawn(move || actor.stop())
        };
        let handle = system.attach_stream(&actor, Never(dropped.clone()));
        stopper.join().unwrap();
        assert!(matches!(block_on(actor.wait()), ExitReason::Shutdown(None)));
        assert!(!handle.is_active(), "the stream outlived its actor");
        // Thread 0 ran the actor; thread 1, if the attach spawned one, the forwarder.
        if executor.spawned() > 1 {
            executor.join(1);
        }
        assert!(dropped.load(SeqCst), "the stream was not dropped");
    });
}

// ---------------------------------------------------------------------------------------------
// An actor that stops itself with an item queued
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct SelfStopShared {
    /// Ids of the items the handler took, as a bitmask.
    handled: AtomicU32,
    /// Set when an item is dropped without the handler having taken it.
    dropped_unhandled: AtomicBool,
    /// Items the stream has yielded.
    pulled: AtomicU32,
    /// Set when the stream is pulled after an item was dropped unhandled.
    pulled_after_discard: AtomicBool,
}

/// An item that notes, as it is dropped, whether the handler took it.
struct Noted(u32, Arc<SelfStopShared>);

impl Drop for Noted {
    fn drop(&mut self) {
        if self.1.handled.load(SeqCst) & (1 << self.0) == 0 {
            self.1.dropped_unhandled.store(true, SeqCst);
        }
    }
}

/// Yields `Noted(0)`, `Noted(1)`, `Noted(2)`, then ends; notes a pull made after an item was
/// dropped unhandled.
struct NotedStream(Arc<SelfStopShared>);

impl Stream for NotedStream {
    type Item = Noted;

    fn poll_next(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<Noted>> {
        let next = self.0.pulled.load(SeqCst);
        if next == 3 {
            return Poll::Ready(None);
        }
        // Noted, not asserted here: the forwarder contains a panic of the stream.
        if self.0.dropped_unhandled.load(SeqCst) {
            self.0.pulled_after_discard.store(true, SeqCst);
        }
        self.0.pulled.store(next + 1, SeqCst);
        Poll::Ready(Some(Noted(next, self.0.clone())))
    }
}

enum NotedMsg {
    Items(StreamMessage<Noted>),
}

impl From<StreamMessage<Noted>> for NotedMsg {
    fn from(m: StreamMessage<Noted>) -> Self {
        NotedMsg::Items(m)
    }
}

/// Takes its first item out (which lets the forwarder pull the next) and stops itself.
struct StopsItself;

impl Actor for StopsItself {
    type Message = NotedMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for StopsItself {
    async fn handle(
        &mut self,
        msg: NotedMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        if let NotedMsg::Items(StreamMessage::Item(item)) = msg {
            let noted = item.into_inner();
            noted.1.handled.fetch_or(1 << noted.0, SeqCst);
            ctx.stop();
        }
        Ok(())
    }
}

/// An actor that stops itself (no stop asked from outside) after releasing its first item: the
/// forwarder may pull the second and queue it before the end closes the mailbox, which then
/// discards it, releasing the stream. The forwarder, woken by that release, takes nothing more
/// from the stream: the mailbox is closed, and an item pulled then could only be dropped
/// unreported (the stream notes such a pull). The forwarder ends either way (its thread is
/// joined).
pub fn self_stop_pulls_nothing_once_the_mailbox_closed() {
    check(|| {
        let shared = Arc::new(SelfStopShared::default());
        let executor = JoinExecutor::new();
        let system = System::new(executor.clone());
        let actor = system.spawner(Unbounded).spawn(StopsItself);
        let handle = system.attach_stream(&actor, NotedStream(shared.clone()));
        assert!(matches!(block_on(actor.wait()), ExitReason::Normal));
        // Thread 0 ran the actor, thread 1 the forwarder.
        executor.join(1);
        assert!(!handle.is_active(), "the stream outlived its actor");
        assert!(
            !shared.pulled_after_discard.load(SeqCst),
            "an item was pulled after an item was discarded unhandled: its mailbox was closed"
        );
        let pulled = shared.pulled.load(SeqCst);
        assert!(
            (1..=2).contains(&pulled),
            "{pulled} items pulled for one handled and at most one discarded"
        );
    });
}
