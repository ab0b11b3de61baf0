//! Streams attached to actors (`Context::add_stream`, `System::attach_stream`), on every
//! executor: order and the finished hook, fairness with a busy mailbox, backpressure, several
//! streams, cancellation, the actor's end, restarts, and full bounded mailboxes.
//!
//! The assertions are on counts and order; waits are bounded by the harness's deadlines.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::pin::Pin;
use ::std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use ::std::sync::{Arc, Mutex};
use ::std::task::{Context as TaskContext, Poll};
use ::std::time::Duration;

use common::*;
use futures::channel::{mpsc, oneshot};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use playhouse::mailbox::{Bounded, DropOldest, Reject};
use playhouse::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// Test streams

/// A stream that sets its flag when it is dropped.
struct Flagged<St> {
    inner: St,
    dropped: Arc<AtomicBool>,
}

impl<St> Drop for Flagged<St> {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl<St: Stream + Unpin> Stream for Flagged<St> {
    type Item = St::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<St::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// `inner`, and the flag it sets when dropped.
fn flagged<St: Stream + Unpin>(inner: St) -> (Flagged<St>, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    (
        Flagged {
            inner,
            dropped: dropped.clone(),
        },
        dropped,
    )
}

fn is_set(flag: &AtomicBool) -> bool {
    flag.load(Ordering::SeqCst)
}

/// An endless stream 0, 1, 2, … that counts the items pulled from it.
struct Counting {
    pulled: Arc<AtomicU32>,
}

impl Stream for Counting {
    type Item = u32;
    fn poll_next(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<u32>> {
        Poll::Ready(Some(self.pulled.fetch_add(1, Ordering::SeqCst)))
    }
}

// ---------------------------------------------------------------------------------------------
// Sink: records what it handles, in one log that outlives restarts.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    /// `(stream id, item)`.
    Item(u64, u32),
    /// A stream's `Finished`, by id.
    Finished(u64),
    Tell(u32),
}

/// `(incarnation, event)`, in the order handled.
type Events = Arc<Mutex<Vec<(u32, Ev)>>>;

fn log_of(e: &Events) -> Vec<Ev> {
    e.lock().unwrap().iter().map(|(_, ev)| ev.clone()).collect()
}

fn items_of(e: &Events, stream: u64) -> Vec<u32> {
    log_of(e)
        .into_iter()
        .filter_map(|ev| match ev {
            Ev::Item(id, n) if id == stream => Some(n),
            _ => None,
        })
        .collect()
}

fn finished_count(e: &Events, stream: u64) -> usize {
    log_of(e)
        .iter()
        .filter(|ev| **ev == Ev::Finished(stream))
        .count()
}

type Attached = Arc<Mutex<Vec<StreamHandle>>>;

struct Sink {
    events: Events,
    /// A `Tell(n)` with `n < chain_until` sends itself `Tell(n + 1)`: a mailbox that never runs
    /// empty while the chain lasts. The chain also ends once a stream's `Finished` was handled.
    chain_until: u32,
    /// A stream's `Finished` was handled.
    finished_seen: bool,
    /// Attached by the first incarnation's `started`; their handles go to `attached`.
    in_started: Vec<(BoxStream<'static, u32>, StreamOptions)>,
    attached: Attached,
}

impl Sink {
    fn new() -> (Self, Events) {
        let events = Events::default();
        (
            Sink {
                events: events.clone(),
                chain_until: 0,
                finished_seen: false,
                in_started: Vec::new(),
                attached: Attached::default(),
            },
            events,
        )
    }

    /// A fresh instance for a restart, recording into the same log.
    fn fresh(&self) -> Self {
        Sink {
            events: self.events.clone(),
            chain_until: self.chain_until,
            finished_seen: false,
            in_started: Vec::new(),
            attached: self.attached.clone(),
        }
    }
}

enum SinkMsg {
    Nums(StreamMessage<u32>),
    Tell(u32),
    /// Answers, then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    /// `ctx.add_stream_with(stream, options)`.
    Attach(BoxStream<'static, u32>, StreamOptions, Reply<StreamHandle>),
    Panic,
    Incarnation(Reply<u32>),
}

impl From<StreamMessage<u32>> for SinkMsg {
    fn from(m: StreamMessage<u32>) -> Self {
        SinkMsg::Nums(m)
    }
}

impl Actor for Sink {
    type Message = SinkMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Sink {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        for (stream, options) in self.in_started.drain(..) {
            let handle = ctx.add_stream_with(stream, options);
            self.attached.lock().unwrap().push(handle);
        }
        Ok(())
    }

    async fn handle(&mut self, msg: SinkMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        let ev = match msg {
            SinkMsg::Nums(StreamMessage::Item(item)) => {
                let id = item.stream_id();
                Ev::Item(id, item.into_inner())
            }
            SinkMsg::Nums(StreamMessage::Finished(end)) => {
                self.finished_seen = true;
                Ev::Finished(end.stream_id())
            }
            SinkMsg::Tell(n) => {
                if n < self.chain_until && !self.finished_seen {
                    ctx.notify(SinkMsg::Tell(n + 1))
                        .unwrap_or_else(|_| panic!("the chain's next tell was refused"));
                }
                Ev::Tell(n)
            }
            SinkMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
                return Ok(());
            }
            SinkMsg::Attach(stream, options, reply) => {
                let _ = reply.send(ctx.add_stream_with(stream, options));
                return Ok(());
            }
            SinkMsg::Panic => panic!("sink boom"),
            SinkMsg::Incarnation(reply) => {
                let _ = reply.send(ctx.incarnation());
                return Ok(());
            }
        };
        self.events.lock().unwrap().push((ctx.incarnation(), ev));
        Ok(())
    }
}

/// Holds `actor` busy: returns once its handler waits on the returned gate.
async fn hold_sink<E: Executor, MB: Mailbox>(
    exec: &E,
    actor: &ActorRef<Sink, MB>,
) -> oneshot::Sender<()> {
    let (open, gate) = oneshot::channel();
    within(exec, LONG, actor.ask(|r| SinkMsg::Hold(r, gate)))
        .await
        .expect("the sink took the Hold message");
    open
}

/// Waits until the log holds `stream`'s `Finished`.
async fn until_finished<E: Executor>(exec: &E, events: &Events, stream: u64) {
    eventually(exec, "the stream's Finished", || {
        finished_count(events, stream) > 0
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Order and the finished hook

/// Items arrive in the stream's order, then one `Finished`, and the handle turns inactive.
async fn items_arrive_in_order_then_finished_once<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system.spawn(sink);
    let handle = system.attach_stream(&actor, stream::iter(0..50u32));
    until_finished(&exec, &events, handle.id()).await;
    assert_eq!(items_of(&events, handle.id()), (0..50).collect::<Vec<_>>());
    assert_eq!(
        log_of(&events).last(),
        Some(&Ev::Finished(handle.id())),
        "Finished comes after every item"
    );
    assert!(!handle.is_active(), "a stream that ended is inactive");
    assert!(
        !handle.cancel(),
        "cancelling an ended stream reports inactive"
    );
    // Nothing more arrives: one Finished, ever.
    sleep(&exec, ms(20)).await;
    assert_eq!(finished_count(&events, handle.id()), 1);
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

/// A stream attached from the actor's own context (`started`) behaves the same, and an empty
/// stream sends only its `Finished`.
async fn stream_attached_from_the_context_is_handled<E: Executor>(exec: E) {
    let (mut sink, events) = Sink::new();
    sink.in_started = vec![
        (
            stream::iter(1..=3u32).boxed(),
            StreamOptions::EndWithIncarnation,
        ),
        (stream::empty().boxed(), StreamOptions::EndWithIncarnation),
    ];
    let attached = sink.attached.clone();
    let actor = System::new(exec.clone()).spawn(sink);
    eventually(&exec, "both streams attached", || {
        attached.lock().unwrap().len() == 2
    })
    .await;
    let (full, empty) = {
        let a = attached.lock().unwrap();
        (a[0].id(), a[1].id())
    };
    until_finished(&exec, &events, full).await;
    until_finished(&exec, &events, empty).await;
    assert_eq!(items_of(&events, full), vec![1, 2, 3]);
    assert_eq!(items_of(&events, empty), Vec::<u32>::new());
    // A handler attaches one too.
    let handle = within(
        &exec,
        LONG,
        actor.ask(|r| {
            SinkMsg::Attach(
                stream::iter([7u32, 8]).boxed(),
                StreamOptions::EndWithIncarnation,
                r,
            )
        }),
    )
    .await
    .expect("ask");
    until_finished(&exec, &events, handle.id()).await;
    assert_eq!(items_of(&events, handle.id()), vec![7, 8]);
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

// ---------------------------------------------------------------------------------------------
// Fairness

/// A stream and a mailbox that never runs empty (a chain of tells, each sending the next, for
/// as long as the stream runs) both make progress:
///
/// - the stream cannot starve the mailbox: it has one item queued at most, so between two tells
///   of the chain the handler sees at most one item (an exact bound, on every executor);
/// - the busy mailbox does not starve the stream: its items enter at the back, behind the one
///   tell waiting, and it finishes while the chain runs, long before the chain's cap.
///
/// How many tells come between two items depends on when the executor runs the forwarder that
/// pulls the next one: a saturated actor yields every 128 messages, and most runs measured 127
/// tells between items on every executor, with rarer runs much longer on Tokio's multi-thread
/// runtime (where the yielding actor can take the worker's LIFO slot back from the forwarder
/// until the other worker steals it).
async fn stream_and_busy_mailbox_both_make_progress<E: Executor>(exec: E) {
    const CAP: u32 = 2_000_000;
    const ITEMS: u32 = 30;
    let system = System::new(exec.clone());
    let (mut sink, events) = Sink::new();
    sink.chain_until = CAP;
    let actor = system.spawn(sink);
    // The chain first: a stream attached first may be done before a tell from here lands.
    actor.tell(SinkMsg::Tell(0)).await.expect("tell");
    let handle = system.attach_stream(&actor, stream::iter(0..ITEMS));
    until_finished(&exec, &events, handle.id()).await;
    // The tell that saw the Finished ends the chain: once this ask is answered, it has.
    within(&exec, LONG, actor.ask(SinkMsg::Incarnation))
        .await
        .expect("ask");
    let evs = log_of(&events);
    let tells = evs.iter().filter(|e| matches!(e, Ev::Tell(_))).count();
    let pos = |ev: &Ev| evs.iter().position(|e| e == ev).unwrap();
    let first_tell = pos(&Ev::Tell(0));
    let last_item = pos(&Ev::Item(handle.id(), ITEMS - 1));
    let finished = pos(&Ev::Finished(handle.id()));
    // The stream finished while the chain ran, well before its cap.
    assert!(
        (tells as u32) < CAP,
        "the stream was starved: the chain ran to its cap of {CAP} tells"
    );
    assert!(
        matches!(evs.last(), Some(Ev::Tell(_))) && finished < evs.len() - 1,
        "the chain was still running when the stream finished"
    );
    assert!(
        first_tell < last_item,
        "the mailbox was starved: the first tell came after the whole stream"
    );
    // Between two tells of the chain, at most one item.
    let mut since_tell = 0;
    let (mut gap, mut max_gap) = (0, 0);
    for ev in &evs[first_tell..] {
        match ev {
            Ev::Tell(_) => {
                since_tell = 0;
                gap += 1;
            }
            Ev::Item(..) => {
                since_tell += 1;
                assert!(since_tell <= 1, "two items between two tells");
                max_gap = max_gap.max(gap);
                gap = 0;
            }
            Ev::Finished(_) => {}
        }
    }
    eprintln!(
        "{}: {tells} tells for {ITEMS} items, at most {max_gap} tells between two items",
        ::std::any::type_name::<E>()
    );
    assert_eq!(
        items_of(&events, handle.id()),
        (0..ITEMS).collect::<Vec<_>>()
    );
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

// ---------------------------------------------------------------------------------------------
// Backpressure

/// Checks, on every item, how far the stream has been pulled; holds on item `HOLD_AT`.
struct Paced {
    pulled: Arc<AtomicU32>,
    handled: Arc<AtomicU32>,
    /// Items handled while the stream had been pulled further than the item in hand.
    ahead: Arc<Mutex<Vec<(u32, u32)>>>,
    holding: Option<oneshot::Sender<()>>,
    gate: Option<oneshot::Receiver<()>>,
    /// How long its `stopped` hook takes: time for a forwarder to pull, if it would.
    linger: Duration,
}

const HOLD_AT: u32 = 5;

enum PacedMsg {
    Nums(StreamMessage<u32>),
}

impl From<StreamMessage<u32>> for PacedMsg {
    fn from(m: StreamMessage<u32>) -> Self {
        PacedMsg::Nums(m)
    }
}

impl Actor for Paced {
    type Message = PacedMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Paced {
    async fn handle(&mut self, msg: PacedMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        let PacedMsg::Nums(StreamMessage::Item(item)) = msg else {
            return Ok(());
        };
        // The item is held (not taken out) to the end of the handler: the stream must not
        // have been pulled past it.
        let n = *item.get();
        let pulled = self.pulled.load(Ordering::SeqCst);
        if pulled != n + 1 {
            self.ahead.lock().unwrap().push((n, pulled));
        }
        if n == HOLD_AT {
            let _ = self.holding.take().unwrap().send(());
            let _ = self.gate.take().unwrap().await;
        }
        self.handled.store(n + 1, Ordering::SeqCst);
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, _: &ExitReason) {
        if !self.linger.is_zero() {
            ctx.sleep(self.linger).await;
        }
    }
}

/// The stream is pulled only when the handler has taken the item before: on every item it has
/// been pulled exactly up to that item, and while the handler is held on one, the stream is not
/// read at all (nor anything queued).
async fn backpressure_reaches_the_source<E: Executor>(exec: E) {
    let pulled = Arc::new(AtomicU32::new(0));
    let handled = Arc::new(AtomicU32::new(0));
    let ahead = Arc::new(Mutex::new(Vec::new()));
    let (holding_tx, holding) = oneshot::channel();
    let (open, gate) = oneshot::channel();
    let system = System::new(exec.clone());
    let actor = system.spawn(Paced {
        pulled: pulled.clone(),
        handled: handled.clone(),
        ahead: ahead.clone(),
        holding: Some(holding_tx),
        gate: Some(gate),
        linger: Duration::ZERO,
    });
    let handle = system.attach_stream(
        &actor,
        Counting {
            pulled: pulled.clone(),
        },
    );
    within(&exec, LONG, holding).await.expect("held");
    assert_eq!(pulled.load(Ordering::SeqCst), HOLD_AT + 1);
    // While the handler holds item 5, the endless stream stays where it is.
    sleep(&exec, ms(50)).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        HOLD_AT + 1,
        "the stream was read while its actor was busy"
    );
    assert_eq!(actor.mailbox_len(), 0, "nothing was queued meanwhile");
    let _ = open.send(());
    eventually(&exec, "100 items handled", || {
        handled.load(Ordering::SeqCst) >= 100
    })
    .await;
    assert!(handle.cancel());
    assert_eq!(*ahead.lock().unwrap(), Vec::new(), "(item, pulled) ahead");
    // At most one item past the handler's, even after the cancel.
    let (p, h) = (
        pulled.load(Ordering::SeqCst),
        handled.load(Ordering::SeqCst),
    );
    assert!(p <= h + 1, "pulled {p}, handled {h}");
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

/// A stream whose actor was asked to stop is not pulled again: the item it would take could
/// only be dropped (the mailbox is closed). The handler holds item 5 while the stop comes, and
/// the `stopped` hook lingers, which gives the forwarder time to pull, if it would, once the
/// handler lets the item go.
async fn a_stopping_actors_stream_is_not_pulled_again<E: Executor>(exec: E) {
    let pulled = Arc::new(AtomicU32::new(0));
    let handled = Arc::new(AtomicU32::new(0));
    let (holding_tx, holding) = oneshot::channel();
    let (open, gate) = oneshot::channel();
    let system = System::new(exec.clone());
    let actor = system.spawn(Paced {
        pulled: pulled.clone(),
        handled: handled.clone(),
        ahead: Arc::default(),
        holding: Some(holding_tx),
        gate: Some(gate),
        linger: ms(50),
    });
    let handle = system.attach_stream(
        &actor,
        Counting {
            pulled: pulled.clone(),
        },
    );
    within(&exec, LONG, holding).await.expect("held");
    actor.stop();
    let _ = open.send(());
    within(&exec, LONG, actor.wait()).await;
    assert!(!handle.is_active());
    assert_eq!(handled.load(Ordering::SeqCst), HOLD_AT + 1);
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        HOLD_AT + 1,
        "an item was pulled after the stop, and could only be dropped"
    );
}

/// What [`StopsItself`]'s stream and its messages share.
#[derive(Default)]
struct Watch {
    pulled: AtomicU32,
    handled: AtomicU32,
    /// Set by the handler as it stops the actor: from then on a [`Tail`] dropped (with its
    /// message, discarded) waits for the forwarder to end.
    stopping: AtomicBool,
    handle: Mutex<Option<StreamHandle>>,
}

/// An endless stream 0, 1, 2, … of items that carry the [`Watch`].
struct Watched(Arc<Watch>);

impl Stream for Watched {
    type Item = (u32, Arc<Watch>);
    fn poll_next(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let n = self.0.pulled.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some((n, self.0.clone())))
    }
}

/// Dropped after the stream's item (and its token) in a [`StopsItself`] message. Dropped with
/// a message discarded by the actor's end, it holds that discard until the forwarder has ended:
/// the forwarder, woken by the token, has then pulled again or not before the end is recorded
/// (which cancels the stream), or two seconds have passed.
struct Tail(Option<(u32, Arc<Watch>)>);

impl Drop for Tail {
    fn drop(&mut self) {
        // Only the item queued as the actor stops (item 1), not one the forwarder itself drops.
        let Some((1, watch)) = &self.0 else { return };
        if !watch.stopping.load(Ordering::SeqCst) {
            return;
        }
        let handle = watch.handle.lock().unwrap().clone().expect("attached");
        let deadline = ::std::time::Instant::now() + ::std::time::Duration::from_secs(2);
        while handle.is_active() && ::std::time::Instant::now() < deadline {
            ::std::thread::sleep(ms(1));
        }
    }
}

enum StopsItselfMsg {
    Item(StreamMessage<(u32, Arc<Watch>)>, Tail),
}

impl From<StreamMessage<(u32, Arc<Watch>)>> for StopsItselfMsg {
    fn from(m: StreamMessage<(u32, Arc<Watch>)>) -> Self {
        let watch = match &m {
            StreamMessage::Item(item) => Some((item.get().0, item.get().1.clone())),
            _ => None,
        };
        StopsItselfMsg::Item(m, Tail(watch))
    }
}

/// Takes its first item out (which lets the forwarder pull the next), waits until that next
/// one is queued, then stops itself.
struct StopsItself;

impl Actor for StopsItself {
    type Message = StopsItselfMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for StopsItself {
    async fn handle(
        &mut self,
        msg: StopsItselfMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let StopsItselfMsg::Item(message, tail) = msg;
        drop(tail);
        let StreamMessage::Item(item) = message else {
            return Ok(());
        };
        let (_, watch) = item.into_inner();
        watch.handled.fetch_add(1, Ordering::SeqCst);
        let myself = ctx.myself();
        while myself.mailbox_len() == 0 {
            ctx.sleep(ms(1)).await;
        }
        watch.stopping.store(true, Ordering::SeqCst);
        ctx.stop();
        Ok(())
    }
}

/// An actor that stops itself (not a stop asked from outside) with a stream's item queued: its
/// end discards the item, which releases the stream, and the forwarder, woken, does not pull
/// again, as the mailbox is closed: nothing is pulled that could only be dropped unreported.
/// Every item pulled was handled or discarded (counted).
async fn a_stream_is_not_pulled_once_its_actors_mailbox_closed<E: Executor>(exec: E) {
    let watch = Arc::new(Watch::default());
    let system = System::new(exec.clone());
    let actor = system.spawn(StopsItself);
    let handle = system.attach_stream(&actor, Watched(watch.clone()));
    *watch.handle.lock().unwrap() = Some(handle.clone());
    within(&exec, LONG, actor.wait()).await;
    assert!(!handle.is_active());
    assert_eq!(
        (
            watch.pulled.load(Ordering::SeqCst),
            watch.handled.load(Ordering::SeqCst),
            actor.discarded_count()
        ),
        (2, 1, 1),
        "pulled, handled, discarded: an item pulled after the mailbox closed was lost"
    );
}

/// On the std executor only: a [`Tail`] blocks the actor's thread while the forwarder runs on
/// another. (Tokio's multi-thread runtime keeps the forwarder, woken from the actor's worker,
/// in that worker's LIFO slot, where no other worker takes it while the thread is blocked.)
mod closed_mailbox {
    #[test]
    fn std() {
        crate::common::run_std(super::a_stream_is_not_pulled_once_its_actors_mailbox_closed)
    }
}

// ---------------------------------------------------------------------------------------------
// Several streams

/// Three streams at once, two from outside and one from the context: each one's items in
/// order, each one's `Finished` once, the three interleaved.
async fn several_streams_at_once<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system.spawn(sink);
    let a = system.attach_stream(&actor, stream::iter(0..100u32));
    let b = system.attach_stream(&actor, stream::iter(1000..1100u32));
    let c = within(
        &exec,
        LONG,
        actor.ask(|r| {
            SinkMsg::Attach(
                stream::iter(2000..2100u32).boxed(),
                StreamOptions::EndWithIncarnation,
                r,
            )
        }),
    )
    .await
    .expect("ask");
    let ids = [a.id(), b.id(), c.id()];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    for id in ids {
        until_finished(&exec, &events, id).await;
    }
    assert_eq!(items_of(&events, a.id()), (0..100).collect::<Vec<_>>());
    assert_eq!(items_of(&events, b.id()), (1000..1100).collect::<Vec<_>>());
    assert_eq!(items_of(&events, c.id()), (2000..2100).collect::<Vec<_>>());
    for id in ids {
        assert_eq!(finished_count(&events, id), 1);
    }
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

// ---------------------------------------------------------------------------------------------
// Cancellation and the actor's end

/// `cancel` stops a stream and its forwarder drops it: a pending one (woken by the cancel) and
/// an endless ready one. Nothing arrives after the cancel but what was queued before it, and no
/// `Finished`.
async fn cancel_stops_the_stream_and_drops_it<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system.spawn(sink);

    let (pending, pending_dropped) = flagged(stream::pending::<u32>());
    let pending = system.attach_stream(&actor, pending);
    let pulled = Arc::new(AtomicU32::new(0));
    let (endless, endless_dropped) = flagged(Counting {
        pulled: pulled.clone(),
    });
    let endless = system.attach_stream(&actor, endless);
    eventually(&exec, "a few items", || {
        items_of(&events, endless.id()).len() >= 10
    })
    .await;

    assert!(pending.is_active() && endless.is_active());
    assert!(pending.cancel(), "it was active");
    assert!(endless.cancel(), "it was active");
    assert!(!pending.is_active() && !endless.is_active());
    assert!(!pending.cancel(), "cancelling twice reports inactive");
    eventually(&exec, "both streams dropped", || {
        is_set(&pending_dropped) && is_set(&endless_dropped)
    })
    .await;
    // Whatever was queued before the cancel has been handled once this ask is answered.
    within(&exec, LONG, actor.ask(SinkMsg::Incarnation))
        .await
        .expect("ask");
    let at_cancel = items_of(&events, endless.id());
    sleep(&exec, ms(20)).await;
    assert_eq!(
        items_of(&events, endless.id()),
        at_cancel,
        "items after cancel"
    );
    assert_eq!(at_cancel, (0..at_cancel.len() as u32).collect::<Vec<_>>());
    assert_eq!(finished_count(&events, endless.id()), 0);
    assert_eq!(finished_count(&events, pending.id()), 0);
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

/// When the actor stops, its streams are cancelled before `wait` resolves and dropped even
/// while pending: one from outside, one from the context, one kept across restarts.
async fn actor_stop_drops_pending_streams<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, _events) = Sink::new();
    let actor = system.spawn(sink);
    let (outside, outside_dropped) = flagged(stream::pending::<u32>());
    let outside = system.attach_stream(&actor, outside);
    let (inside, inside_dropped) = flagged(stream::pending::<u32>());
    let inside = within(
        &exec,
        LONG,
        actor.ask(|r| SinkMsg::Attach(inside.boxed(), StreamOptions::EndWithIncarnation, r)),
    )
    .await
    .expect("ask");
    let (kept, kept_dropped) = flagged(stream::pending::<u32>());
    let kept = within(
        &exec,
        LONG,
        actor.ask(|r| SinkMsg::Attach(kept.boxed(), StreamOptions::KeepAcrossRestart, r)),
    )
    .await
    .expect("ask");
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
    assert!(
        !outside.is_active() && !inside.is_active() && !kept.is_active(),
        "the streams end with the actor"
    );
    eventually(&exec, "the pending streams dropped", || {
        is_set(&outside_dropped) && is_set(&inside_dropped) && is_set(&kept_dropped)
    })
    .await;
}

/// A killed actor, and one whose last reference was dropped, drop their pending streams too.
async fn kill_and_last_reference_drop_pending_streams<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, _) = Sink::new();
    let killed = system.spawn(sink);
    let (s, killed_dropped) = flagged(stream::pending::<u32>());
    let handle = system.attach_stream(&killed, s);
    killed.kill();
    assert!(matches!(
        within(&exec, LONG, killed.wait()).await,
        ExitReason::Killed
    ));
    assert!(!handle.is_active());
    eventually(&exec, "the killed actor's stream dropped", || {
        is_set(&killed_dropped)
    })
    .await;

    let (sink, _) = Sink::new();
    let orphan = system.spawn(sink);
    let (s, orphan_dropped) = flagged(stream::pending::<u32>());
    let handle = system.attach_stream(&orphan, s);
    let weak = orphan.downgrade();
    drop(orphan);
    assert!(
        within(&exec, LONG, weak.wait()).await.is_normal(),
        "a stream does not keep its actor alive"
    );
    assert!(!handle.is_active());
    eventually(&exec, "the orphan's stream dropped", || {
        is_set(&orphan_dropped)
    })
    .await;
}

/// A stream attached to an actor that has ended is dropped at once; its handle is inactive.
async fn attaching_to_an_ended_actor_drops_the_stream<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system.spawn(sink);
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
    let (s, dropped) = flagged(stream::iter([1u32, 2]));
    let handle = system.attach_stream(&actor, s);
    assert!(is_set(&dropped), "dropped before attach_stream returned");
    assert!(!handle.is_active());
    assert!(!handle.cancel());
    assert_eq!(log_of(&events), Vec::new());
}

/// A stream that panics stops its actor with the panic, as a panicking interval closure does.
async fn a_panicking_stream_stops_the_actor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, _) = Sink::new();
    let actor = system.spawn(sink);
    let handle = system.attach_stream(
        &actor,
        stream::poll_fn(|_| -> Poll<Option<u32>> { panic!("bad stream") }),
    );
    assert_panicked_with(
        &within(&exec, LONG, actor.wait()).await,
        "the stream panicked: bad stream",
    );
    assert!(!handle.is_active());
}

// ---------------------------------------------------------------------------------------------
// Restarts

/// Across a restart, a stream attached from the context with `EndWithIncarnation` (the
/// default) is cancelled and dropped; one attached with `KeepAcrossRestart`, and one attached
/// from outside, keep feeding the next incarnation.
async fn restart_keeps_or_ends_streams_by_option<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (mut sink, events) = Sink::new();
    let (ended, ended_dropped) = flagged(stream::pending::<u32>());
    let (kept_tx, kept_rx) = mpsc::unbounded::<u32>();
    let (kept, kept_dropped) = flagged(kept_rx);
    sink.in_started = vec![
        (ended.boxed(), StreamOptions::EndWithIncarnation),
        (kept.boxed(), StreamOptions::KeepAcrossRestart),
    ];
    let attached = sink.attached.clone();
    let fresh = sink.fresh();
    let mut fresh = Some(fresh);
    let actor = system.spawn_restartable(sink, move |_: &ExitReason| fresh.take());
    let (outside_tx, outside_rx) = mpsc::unbounded::<u32>();
    let (outside, outside_dropped) = flagged(outside_rx);
    let outside = system.attach_stream(&actor, outside);
    eventually(&exec, "started attached its streams", || {
        attached.lock().unwrap().len() == 2
    })
    .await;
    let (ended, kept) = {
        let a = attached.lock().unwrap();
        (a[0].clone(), a[1].clone())
    };

    kept_tx.unbounded_send(1).unwrap();
    outside_tx.unbounded_send(101).unwrap();
    eventually(&exec, "both items in incarnation 1", || {
        let log = events.lock().unwrap().clone();
        log.contains(&(1, Ev::Item(kept.id(), 1)))
            && log.contains(&(1, Ev::Item(outside.id(), 101)))
    })
    .await;

    actor.tell(SinkMsg::Panic).await.expect("tell");
    assert_eq!(
        within(&exec, LONG, actor.ask(SinkMsg::Incarnation))
            .await
            .expect("ask"),
        2
    );
    assert!(!ended.is_active(), "EndWithIncarnation ended with it");
    eventually(&exec, "the incarnation's stream dropped", || {
        is_set(&ended_dropped)
    })
    .await;
    assert!(
        kept.is_active() && outside.is_active(),
        "kept across the restart"
    );
    assert!(!is_set(&kept_dropped) && !is_set(&outside_dropped));

    kept_tx.unbounded_send(2).unwrap();
    outside_tx.unbounded_send(102).unwrap();
    eventually(&exec, "both items in incarnation 2", || {
        let log = events.lock().unwrap().clone();
        log.contains(&(2, Ev::Item(kept.id(), 2)))
            && log.contains(&(2, Ev::Item(outside.id(), 102)))
    })
    .await;
    // The kept streams end by themselves: their Finished reaches incarnation 2.
    drop(kept_tx);
    drop(outside_tx);
    until_finished(&exec, &events, kept.id()).await;
    until_finished(&exec, &events, outside.id()).await;
    assert_eq!(items_of(&events, kept.id()), vec![1, 2]);
    assert_eq!(items_of(&events, outside.id()), vec![101, 102]);
    eventually(&exec, "the finished streams dropped", || {
        is_set(&kept_dropped) && is_set(&outside_dropped)
    })
    .await;
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

// ---------------------------------------------------------------------------------------------
// Full bounded mailboxes

/// A full `Reject` mailbox still takes the stream's item (one over its capacity), and refuses
/// other senders meanwhile; the items arrive behind what was queued before them.
async fn full_reject_mailbox_still_gets_the_item<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system
        .spawner(Bounded::<Reject>::with_capacity(1).unwrap())
        .spawn(sink);
    let open = hold_sink(&exec, &actor).await;
    actor.try_tell(SinkMsg::Tell(1)).expect("room for one");
    assert!(matches!(
        actor.try_tell(SinkMsg::Tell(2)),
        Err(SendError::Full(_))
    ));
    let handle = system.attach_stream(&actor, stream::iter(0..3u32));
    eventually(&exec, "the item queued past the capacity", || {
        actor.mailbox_len() == 2
    })
    .await;
    assert!(
        matches!(actor.try_tell(SinkMsg::Tell(3)), Err(SendError::Full(_))),
        "other senders still see a full mailbox"
    );
    let _ = open.send(());
    until_finished(&exec, &events, handle.id()).await;
    let id = handle.id();
    assert_eq!(
        log_of(&events),
        vec![
            Ev::Tell(1),
            Ev::Item(id, 0),
            Ev::Item(id, 1),
            Ev::Item(id, 2),
            Ev::Finished(id)
        ]
    );
    assert_eq!(actor.dropped_count(), 0);
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

/// A `DropOldest` mailbox that drops a queued item releases the stream: the next item is
/// pulled and nothing waits for a token that was dropped.
async fn an_item_dropped_by_the_mailbox_releases_the_stream<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system
        .spawner(Bounded::<DropOldest>::with_capacity(1).unwrap())
        .spawn(sink);
    let open = hold_sink(&exec, &actor).await;
    let handle = system.attach_stream(&actor, stream::iter(0..3u32));
    eventually(&exec, "item 0 queued", || actor.mailbox_len() == 1).await;
    // Full: the oldest message, item 0, makes room for the tell.
    actor
        .try_tell(SinkMsg::Tell(1))
        .expect("DropOldest takes it");
    assert_eq!(actor.dropped_count(), 1);
    let _ = open.send(());
    until_finished(&exec, &events, handle.id()).await;
    let id = handle.id();
    assert_eq!(
        log_of(&events),
        vec![
            Ev::Tell(1),
            Ev::Item(id, 1),
            Ev::Item(id, 2),
            Ev::Finished(id)
        ]
    );
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

/// Under `DropOldest`, a send to a full mailbox drops as many of the oldest messages as bring
/// it back to its capacity: a dropped stream item frees its stream to queue the next one past
/// the capacity, which the next send takes back out. So the mailbox stays within its capacity
/// plus one per stream, however many sends come while the actor is busy (it used to grow by
/// one message per dropped item).
async fn drop_oldest_stays_within_its_bound_under_an_endless_stream<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let (sink, events) = Sink::new();
    let actor = system
        .spawner(Bounded::<DropOldest>::with_capacity(2).unwrap())
        .spawn(sink);
    let open = hold_sink(&exec, &actor).await;
    let handle = system.attach_stream(&actor, stream::iter(0u32..));
    eventually(&exec, "item 0 queued", || actor.mailbox_len() == 1).await;
    let mut most = 0;
    for n in 0..40 {
        actor
            .try_tell(SinkMsg::Tell(n))
            .expect("DropOldest takes it");
        // Time for the stream to queue its next item if the send dropped the last one.
        sleep(&exec, ms(2)).await;
        most = most.max(actor.mailbox_len());
        assert!(
            actor.mailbox_len() <= 3,
            "after {} sends, {} messages wait in a mailbox of 2 with one stream",
            n + 1,
            actor.mailbox_len()
        );
    }
    assert!(most >= 2, "the mailbox was full");
    assert!(actor.dropped_count() >= 38, "{}", actor.dropped_count());
    let _ = open.send(());
    // The stream goes on once the actor takes its items again.
    eventually(&exec, "more items handled", || {
        items_of(&events, handle.id()).len() > 3
    })
    .await;
    handle.cancel();
    actor.stop();
    within(&exec, LONG, actor.wait()).await;
}

executor_tests!(
    drop_oldest_stays_within_its_bound_under_an_endless_stream,
    items_arrive_in_order_then_finished_once,
    stream_attached_from_the_context_is_handled,
    stream_and_busy_mailbox_both_make_progress,
    backpressure_reaches_the_source,
    a_stopping_actors_stream_is_not_pulled_again,
    several_streams_at_once,
    cancel_stops_the_stream_and_drops_it,
    actor_stop_drops_pending_streams,
    kill_and_last_reference_drop_pending_streams,
    attaching_to_an_ended_actor_drops_the_stream,
    a_panicking_stream_stops_the_actor,
    restart_keeps_or_ends_streams_by_option,
    full_reject_mailbox_still_gets_the_item,
    an_item_dropped_by_the_mailbox_releases_the_stream,
);
