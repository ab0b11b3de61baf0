//! Streams into actors: any [`Stream`] attached to an actor, its items handled one at a time.
//!
//! The public contract is on [`StreamMessage`]; this module's own notes follow.
//!
//! # Lock order
//!
//! A stream's lock nests inside its actor's mailbox lock, never the other way round: the push
//! checks the cancel flag under both, and the actor's end (and an incarnation's) cancels its
//! streams under the mailbox's lock, in the critical section that records the end. Nothing that
//! holds a stream's lock takes the mailbox's: the token's release, `cancel` and the pull take
//! the stream's alone.

use std::fmt;
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::{Poll, Waker};

use futures_core::Stream;

use crate::cell::ActorCell;
use crate::error::NoReply;
use crate::executor::Executor;
use crate::exit::ExitReason;
use crate::mailbox::Strategy;
use crate::reply::with_drop_cause;
use crate::sync::{Arc, Mutex};

/// What a stream sends its actor: one [`Item`](StreamMessage::Item) per item, then, if the
/// stream ends by itself, one [`Finished`](StreamMessage::Finished).
///
/// An actor that takes a stream of `T` has a message type that is `From<StreamMessage<T>>`,
/// usually one enum variant per stream type. The item stays a `T`: no box, no `dyn`.
///
///
/// # How a stream is driven
///
/// A stream attached with [`Context::add_stream`](crate::Context::add_stream) or
/// [`System::attach_stream`](crate::System::attach_stream) is driven by a small task of its own
/// on the executor, its *forwarder*, as a timer is: the actor's message path (its handler, its
/// message loop, its mailbox's hot path) does not know streams exist. The forwarder polls the
/// stream, wraps the item in the actor's own message type (`M: From<StreamMessage<T>>`) and
/// queues it at the back of the actor's mailbox, like any other message. It then waits: the
/// stream is not polled again until the actor has taken that item ([`StreamItem`]), so each
/// stream has at most one item in the actor's mailbox at a time.
///
/// That one rule gives the three properties streams are for:
///
/// - **Backpressure.** An actor busy elsewhere does not take the item, so the forwarder does
///   not poll the stream, so the stream's source is not read (a socket's buffer fills, a
///   channel's sender waits). The stream is at most one item ahead of the handler.
/// - **Fairness.** Items enter the mailbox at the back, in FIFO order with the other messages.
///   A busy mailbox does not starve the stream: its item is handled after what was queued
///   before it, no later. And the stream cannot starve the mailbox: it adds one message at a
///   time, behind what others sent meanwhile. Several streams are as many forwarders, each with
///   its one item.
///
///   The next item is pulled by the forwarder's task, which runs when the executor schedules
///   it. An actor that never runs out of messages yields to its executor every 128 messages;
///   a single-threaded executor then runs the forwarder, so such an actor takes about one item
///   per 128 other messages (129 measured, with a chain of self-sent messages, on smol and
///   Tokio's current-thread runtime). On a multi-thread executor the forwarder, woken by the
///   busy actor's worker, may wait there until another worker takes it (Tokio keeps a task
///   woken this way in the worker's LIFO slot): most runs measured the same 129, some
///   thousands (up to ~19,000 on Tokio's and `StdExecutor`'s pools). Neither side starves; the
///   exact interleaving is the executor's.
/// - **No item lost or doubled.** An item is either in the mailbox (and is handled, or dropped
///   with the mailbox) or still in the stream.
///
/// # The acknowledgement
///
/// A [`StreamItem`] holds the item and a token, a clone of the stream's shared state (one
/// reference count, no allocation per item). The forwarder pulls the next item when the token
/// is released: when the handler takes the item out with [`StreamItem::into_inner`], or when
/// the message is dropped however that happens (handled, drained by a restart, discarded when
/// the actor ends, dropped by a `DropOldest` mailbox). A handler that wants the next item to
/// wait until it has finished with this one keeps the `StreamItem` (reading it through
/// [`get`](StreamItem::get)) until it returns.
///
/// # Room in the mailbox
///
/// A stream's item is never refused, dropped or waited on for room as it enters a full bounded
/// mailbox (`Reject`, `DropNewest`, `DropOldest`, `Block`): it enters whatever the room, as the
/// runtime's own notices do, and counts as waiting. Once queued it is a message like any other:
/// a `DropOldest` mailbox may evict it later as the oldest (its end, [`StreamMessage::Finished`],
/// too), which releases the stream. A send to a full `DropOldest` mailbox drops as many of the
/// oldest messages (under `Prioritized`, the oldest of the least urgent level) as bring its
/// messages back to its capacity, control messages not counted, and never the message it
/// queues; so items queued past the capacity do not add up. The stream's own rule bounds what
/// that adds: **a bounded mailbox can hold up to one message per attached stream over its
/// capacity** (under `Prioritized`, one more while the least urgent level holds only the
/// message just queued, which is kept). (Refusing it would leave the forwarder to retry or to lose the item; waiting
/// for room would put the stream behind every blocked sender, and a full mailbox whose actor
/// is waiting for the stream's next item would never make room.) Other senders see the
/// mailbox as full while a stream's item takes the room, as they would for any message.
///
/// # Ending
///
/// - When the stream ends by itself (`poll_next` returns `None`), the forwarder sends one
///   [`StreamMessage::Finished`], after the last item was taken: the *finished hook*. It is not
///   sent when the stream is cancelled or the actor ends first.
/// - [`StreamHandle::cancel`] stops it: no item enters the mailbox once `cancel` has returned
///   (the check and the push happen under one lock), and the forwarder drops the stream at
///   once, even while the stream is pending (the cancel wakes it). An item already queued
///   stays and is handled.
/// - A stream attached from the actor's context ends with the incarnation that attached it
///   (the next incarnation's `started` attaches it again, as with timers), unless attached with
///   [`StreamOptions::KeepAcrossRestart`]. A stream attached from outside is kept across
///   restarts.
/// - When the actor ends, whatever the reason, every stream attached to it is cancelled before
///   [`ActorRef::wait`](crate::ActorRef::wait) resolves, and dropped promptly by its forwarder,
///   even while pending. It takes nothing more from the stream once a stop or kill was asked
///   for or the mailbox has closed (it looks before each pull): so the release of an item
///   discarded by the actor's end does not pull another. An item it pulled just as the mailbox
///   closed (the handler took the previous item out, then the actor ended while the forwarder
///   was pulling), which it could not queue, is dropped (reply ports inside it resolve with
///   [`NoReply::Stopped`]).
/// - A stream does not keep its actor alive: the forwarder holds the actor's cell, not a
///   counted reference. When the last [`ActorRef`](crate::ActorRef) is dropped the actor ends as
///   usual, and its streams with it.
/// - If the stream panics in `poll_next` (or the message's `From` impl does), the forwarder
///   ends and the actor is stopped with `ExitReason::Panicked("the stream panicked: …")`, as
///   a panicking `run_interval` closure stops it: the stream's code is the actor's input.
///
/// # Cost
///
/// Per stream: one allocation for its shared state and the forwarder's task (the executor's).
/// Per item: no allocation, no box, no `dyn`; the item stays its own type inside the actor's
/// message. The forwarder takes the stream's lock twice per item (to pull, and to push, inside
/// the mailbox's lock) and the mailbox's lock twice (to see that it is open before the pull,
/// and to push), and the token's release takes the stream's lock once.
///
///
/// # Example
///
/// ```
/// use playhouse_core::{Actor, Context, Env, Handler, Reply, StreamMessage, System};
/// use std::convert::Infallible;
///
/// enum Msg {
///     Words(StreamMessage<&'static str>),
///     Get(Reply<(Vec<&'static str>, bool)>),
/// }
///
/// impl From<StreamMessage<&'static str>> for Msg {
///     fn from(m: StreamMessage<&'static str>) -> Self {
///         Msg::Words(m)
///     }
/// }
///
/// #[derive(Default)]
/// struct Collector {
///     words: Vec<&'static str>,
///     finished: bool,
/// }
///
/// impl Actor for Collector {
///     type Message = Msg;
///     type Error = Infallible;
/// }
///
/// impl<V: Env> Handler<V> for Collector {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             // Taking the item out releases the stream: its next item may be pulled.
///             Msg::Words(StreamMessage::Item(word)) => self.words.push(word.into_inner()),
///             Msg::Words(StreamMessage::Finished(_)) => self.finished = true,
///             Msg::Get(reply) => {
///                 let _ = reply.send((self.words.clone(), self.finished));
///             }
///         }
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// playhouse_core::testing::block_on(async {
///     let collector = system.spawn(Collector::default());
///     let words = futures::stream::iter(["one", "two", "three"]);
///     let handle = system.attach_stream(&collector, words);
///     // The stream's items and its end arrive in order.
///     loop {
///         let (words, finished) = collector.ask(Msg::Get).await.unwrap();
///         if finished {
///             assert_eq!(words, ["one", "two", "three"]);
///             break;
///         }
///     }
///     assert!(!handle.is_active(), "a stream that ended is no longer active");
/// });
/// ```
#[derive(Debug)]
pub enum StreamMessage<T> {
    /// The stream's next item. The stream is polled again once it is released (see
    /// [`StreamItem`]).
    Item(StreamItem<T>),
    /// The stream ended by itself, after every item it yielded was taken. Sent once, and not
    /// when the stream was cancelled or the actor ended first.
    Finished(StreamEnd),
}

/// An item of a stream, and the token that lets the stream's next item be pulled.
///
/// The token is released when the item is taken out with [`into_inner`](StreamItem::into_inner)
/// or when the `StreamItem` is dropped (with its message: handled, drained, discarded), and not
/// before: until then the stream is not polled again. Read the item in place with
/// [`get`](StreamItem::get) to hold the stream back until the handler is done with it.
pub struct StreamItem<T> {
    item: T,
    ack: Ack,
}

impl<T> StreamItem<T> {
    /// The item.
    pub fn get(&self) -> &T {
        &self.item
    }

    /// The item, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.item
    }

    /// Takes the item out, releasing the stream: its next item may be pulled from here on.
    pub fn into_inner(self) -> T {
        let StreamItem { item, ack } = self;
        drop(ack);
        item
    }

    /// The id of the stream it came from ([`StreamHandle::id`]).
    pub fn stream_id(&self) -> u64 {
        self.ack.0.id
    }
}

impl<T: fmt::Debug> fmt::Debug for StreamItem<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamItem")
            .field("stream", &self.ack.0.id)
            .field("item", &self.item)
            .finish()
    }
}

/// Which stream ended, in [`StreamMessage::Finished`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamEnd {
    id: u64,
}

impl StreamEnd {
    /// The id of the stream that ended ([`StreamHandle::id`]).
    pub fn stream_id(&self) -> u64 {
        self.id
    }
}

/// How long a stream attached with [`Context::add_stream_with`](crate::Context::add_stream_with)
/// lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamOptions {
    /// The stream ends (is cancelled) with the incarnation that attached it, as its timers do:
    /// the next incarnation's `started` attaches a fresh one if it wants one. What
    /// [`Context::add_stream`](crate::Context::add_stream) does.
    EndWithIncarnation,
    /// The stream stays attached across restarts and feeds the next incarnation; it ends with
    /// the actor. What [`System::attach_stream`](crate::System::attach_stream) does. A
    /// `started` that attaches a kept stream attaches one more on every restart.
    KeepAcrossRestart,
}

/// A stream attached to an actor: its id, whether it is still active, and the means to cancel
/// it. Cloning it gives another handle to the same stream; dropping it does not cancel.
#[derive(Clone)]
pub struct StreamHandle {
    shared: Arc<StreamShared>,
}

impl StreamHandle {
    /// Cancels the stream: from the moment this returns no item of it enters the mailbox, and
    /// its forwarder drops the stream promptly (even while the stream is pending). An item
    /// already in the mailbox stays and is handled; no [`StreamMessage::Finished`] follows.
    /// Returns `true` if the stream was still active.
    pub fn cancel(&self) -> bool {
        let (was_active, waker) = {
            let mut st = self.shared.state.lock();
            let was_active = !st.cancelled && !st.ended;
            st.cancelled = true;
            (was_active, st.waker.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        was_active
    }

    /// Cancels the stream under its owner's mailbox lock (the stream's lock nests inside it);
    /// returns the forwarder's waker, to wake once that lock is released.
    pub(crate) fn cancel_locked(&self) -> Option<Waker> {
        let mut st = self.shared.state.lock();
        st.cancelled = true;
        st.waker.take()
    }

    /// `true` while the stream may still deliver: not cancelled, not ended by itself (its
    /// `Finished` queued), not stopped by the actor's end or a closed mailbox.
    pub fn is_active(&self) -> bool {
        let st = self.shared.state.lock();
        !st.cancelled && !st.ended
    }

    /// The stream's id, as [`StreamItem::stream_id`] and [`StreamEnd::stream_id`] report it:
    /// unique in the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// `true` if it ends with the incarnation that attached it.
    pub(crate) fn ends_with_incarnation(&self) -> bool {
        !self.shared.keep
    }
}

impl fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamHandle")
            .field("id", &self.shared.id)
            .field("active", &self.is_active())
            .finish()
    }
}

/// What a stream's forwarder, its handles and its items' tokens share.
struct StreamShared {
    id: u64,
    /// [`StreamOptions::KeepAcrossRestart`]; fixed at the start, read without the lock.
    keep: bool,
    state: Mutex<StreamState>,
}

struct StreamState {
    /// Items queued less tokens released: 1 while an item is in the actor's mailbox (or
    /// handler) and its token not yet released, else 0. A count rather than a flag so that the
    /// order of the two does not matter: a `From` impl that drops the item before it is queued
    /// (releasing the token first) leaves 0, not a stream waiting for a release that came.
    in_flight: i32,
    cancelled: bool,
    /// The forwarder will deliver nothing more: `Finished` was queued, the mailbox closed, or
    /// its task ended.
    ended: bool,
    /// Where the forwarder waits: for the token's release, for the stream, or both.
    waker: Option<Waker>,
}

/// The token of the item in flight: releasing it lets the forwarder pull the next item.
struct Ack(Arc<StreamShared>);

impl Drop for Ack {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.0.state.lock();
            st.in_flight -= 1;
            if crate::faults::enabled(crate::faults::Fault::StreamAckSkipsWake) {
                st.waker = None;
            }
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Attaches `stream` to the actor of `cell`: tracks it in the cell (so that the actor's end,
/// and with `EndWithIncarnation` the incarnation's, cancels it) and spawns its forwarder on
/// `executor`. If the actor's mailbox has closed already, nothing could be delivered: the
/// stream is dropped here and the handle returned is inactive.
pub(crate) fn attach<St, M, S, E>(
    cell: Arc<ActorCell<M, S>>,
    executor: &E,
    stream: St,
    options: StreamOptions,
) -> StreamHandle
where
    St: Stream + Send + 'static,
    M: From<StreamMessage<St::Item>> + Send + 'static,
    S: Strategy,
    E: Executor,
{
    let shared = Arc::new(StreamShared {
        id: crate::sync::next_id(),
        keep: options == StreamOptions::KeepAcrossRestart,
        state: Mutex::new(StreamState {
            in_flight: 0,
            cancelled: false,
            ended: false,
            waker: None,
        }),
    });
    let handle = StreamHandle {
        shared: shared.clone(),
    };
    if !cell.track_stream(handle.clone()) {
        shared.state.lock().ended = true;
        drop(stream);
        return handle;
    }
    executor.spawn(forward(cell, shared, stream));
    handle
}

/// Marks the stream ended however its forwarder ends: it returned, the executor dropped it, or
/// it panicked. `is_active()` never reports a stream that can no longer deliver.
struct EndOnDrop(Arc<StreamShared>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        st.ended = true;
        st.waker = None;
    }
}

/// What one pull gave.
enum Pulled<T> {
    Item(T),
    End,
    Cancelled,
}

/// The forwarder: pulls one item, queues it, waits for its token, and again; see the module
/// docs.
async fn forward<St, M, S>(cell: Arc<ActorCell<M, S>>, shared: Arc<StreamShared>, stream: St)
where
    St: Stream,
    M: From<StreamMessage<St::Item>>,
    S: Strategy,
{
    let _end = EndOnDrop(shared.clone());
    let mut stream = pin!(stream);
    loop {
        // Wait until the last item was taken, then poll the stream, until cancelled. The waker
        // is left first, under the lock: a release or a cancel that comes after the look wakes
        // the forwarder, whether it waits for the token or for the stream.
        let pulled = poll_fn(|cx| {
            {
                let mut st = shared.state.lock();
                if st.cancelled {
                    return Poll::Ready(Ok(Pulled::Cancelled));
                }
                match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.waker = Some(cx.waker().clone()),
                }
                if st.in_flight > 0 {
                    return Poll::Pending;
                }
            }
            // The mailbox is closed (a stop or kill was asked for, or the actor is ending by
            // itself), so an item pulled now could only be dropped. Nothing more is taken from
            // the stream (the end of the actor cancels the stream a moment later). An actor
            // that ends by itself closes its mailbox before it discards what is queued, this
            // stream's item among them, whose release is what woke the forwarder: it sees the
            // mailbox closed.
            let past_close = crate::faults::enabled(crate::faults::Fault::StreamPullsPastClose);
            if cell.stop_was_requested() || (!past_close && cell.queue.is_closed()) {
                return Poll::Ready(Ok(Pulled::Cancelled));
            }
            match catch_unwind(AssertUnwindSafe(|| stream.as_mut().poll_next(cx))) {
                Ok(Poll::Ready(Some(item))) => Poll::Ready(Ok(Pulled::Item(item))),
                Ok(Poll::Ready(None)) => Poll::Ready(Ok(Pulled::End)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(payload)),
            }
        })
        .await;
        // The item (or the end) becomes the actor's message: the `From` impl is the actor's
        // code, so a panic in it counts as the stream's.
        let is_end = matches!(pulled, Ok(Pulled::End));
        let made = match pulled {
            Ok(Pulled::Cancelled) => return,
            Ok(Pulled::Item(item)) => {
                let ack = Ack(shared.clone());
                catch_unwind(AssertUnwindSafe(|| {
                    M::from(StreamMessage::Item(StreamItem { item, ack }))
                }))
            }
            Ok(Pulled::End) => catch_unwind(AssertUnwindSafe(|| {
                M::from(StreamMessage::Finished(StreamEnd { id: shared.id }))
            })),
            Err(payload) => Err(payload),
        };
        let msg = match made {
            Ok(msg) => msg,
            Err(payload) => {
                stream_panicked(&cell, &shared, payload);
                return;
            }
        };
        // Queue it, checking the cancel flag under the stream's lock inside the mailbox's, in
        // the critical section that pushes, so that nothing lands once `cancel` has returned
        // (nor once the actor's end, which cancels its streams under the mailbox's lock, is
        // seen). The stream's lock always nests inside the mailbox's, never the other way
        // round: nothing holding a stream's lock takes the mailbox's.
        let apart = crate::faults::enabled(crate::faults::Fault::StreamChecksCancelApart);
        if apart && shared.state.lock().cancelled {
            return;
        }
        let pushed = cell.queue.push_past_capacity_if(msg, || {
            let mut st = shared.state.lock();
            if st.cancelled && !apart {
                return false;
            }
            if is_end {
                // The end was the last thing to deliver: from here `is_active` is `false`.
                st.ended = true;
            } else {
                st.in_flight += 1;
            }
            true
        });
        if let Err(msg) = pushed {
            // Cancelled, or the mailbox closed. Dropped outside the locks: its token takes the
            // stream's.
            with_drop_cause(NoReply::Stopped, || drop(msg));
            return;
        }
        if is_end {
            return;
        }
    }
}

/// The stream (or the message's `From` impl) panicked: the actor ends with the panic, as it
/// would had a handler panicked, unless the stream was cancelled meanwhile (then it belongs to
/// no incarnation). The actor is stopped, not killed: what is queued is handled first, and the
/// stop is final.
#[cold]
fn stream_panicked<M, S: Strategy>(
    cell: &ActorCell<M, S>,
    shared: &StreamShared,
    payload: Box<dyn std::any::Any + Send>,
) {
    {
        let mut st = shared.state.lock();
        st.ended = true;
        if st.cancelled {
            return;
        }
    }
    let reason = match ExitReason::from_panic(payload) {
        ExitReason::Panicked(message) => {
            ExitReason::Panicked(format!("the stream panicked: {message}").into())
        }
        other => other,
    };
    cell.request_stop(reason);
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::*;
    use crate::executor::SharedSleeper;
    use crate::mailbox::{Block, Queue};
    use std::future::Future;
    use std::time::Instant;

    /// An executor whose tasks never run: its forwarders never pull, and their streams stay
    /// active until cancelled.
    #[derive(Clone)]
    struct Idle;

    impl Executor for Idle {
        type Sleep = std::future::Pending<()>;
        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _future: F) {}
        fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
            std::future::pending()
        }
    }

    struct Msg;

    impl From<StreamMessage<u8>> for Msg {
        fn from(_: StreamMessage<u8>) -> Self {
            Msg
        }
    }

    fn cell() -> Arc<ActorCell<Msg, Block>> {
        Arc::new(ActorCell::new(Queue::new(1), SharedSleeper::new(Idle)))
    }

    fn attach_one(cell: &Arc<ActorCell<Msg, Block>>, options: StreamOptions) -> StreamHandle {
        attach(
            cell.clone(),
            &Idle,
            futures::stream::pending::<u8>(),
            options,
        )
    }

    /// Forgetting ended streams (when the list has doubled) keeps every active one tracked:
    /// the actor's end cancels each, and only they were active.
    #[test]
    fn pruning_keeps_every_active_stream_tracked() {
        // Smaller under Miri (CI runs the core's unit tests there); past the first prunes all the
        // same.
        const N: usize = if cfg!(miri) { 100 } else { 1_000 };
        let cell = cell();
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let handle = attach_one(&cell, StreamOptions::KeepAcrossRestart);
                if i % 3 == 0 {
                    assert!(handle.cancel());
                }
                handle
            })
            .collect();
        assert_eq!(
            handles.iter().filter(|h| h.is_active()).count(),
            N - N.div_ceil(3)
        );
        cell.record_exit(ExitReason::Normal);
        assert_eq!(handles.iter().filter(|h| h.is_active()).count(), 0);
    }

    /// An incarnation's end cancels the streams that end with it and keeps the others.
    #[test]
    fn an_incarnations_end_cancels_only_its_own_streams() {
        let cell = cell();
        let ending = attach_one(&cell, StreamOptions::EndWithIncarnation);
        let kept = attach_one(&cell, StreamOptions::KeepAcrossRestart);
        cell.end_incarnation_streams();
        assert!(!ending.is_active());
        assert!(kept.is_active());
        cell.record_exit(ExitReason::Normal);
        assert!(!kept.is_active());
    }

    /// Once the mailbox has closed nothing is tracked: the stream is refused, inactive at once.
    #[test]
    fn a_closed_mailbox_refuses_a_stream() {
        let cell = cell();
        cell.queue.close();
        let refused = attach_one(&cell, StreamOptions::KeepAcrossRestart);
        assert!(!refused.is_active());
        assert!(!refused.cancel());
    }
}
