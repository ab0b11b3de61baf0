//! Typed pub/sub: each rule of `playhouse_broker::pubsub` as one test, each run on every executor
//! (Tokio multi-thread, Tokio current-thread, smol, std).
//!
//! Nothing waits for real time to "let things happen". A subscriber is made busy by a latch
//! (its handler waits on a gate), so that its mailbox can be filled on purpose; waits for full
//! `Block` subscribers run on `VirtualTime`, whose clock moves only when the test moves it, so a
//! test says "still waiting" by polling the publish once and "timed out" by advancing the clock.

#[macro_use]
mod common;

use ::std::cell::Cell;
use ::std::convert::Infallible;
use ::std::pin::pin;
use ::std::sync::Arc;
use ::std::sync::atomic::{AtomicU64, Ordering};
use ::std::task::Poll;
use ::std::time::Duration;

use futures::channel::oneshot;
use futures::poll;
use playhouse_broker::pubsub::{
    DEFAULT_BLOCK_WAIT, PublishOptions, PublishReport, Publisher, SubscriptionId, Topic,
    TopicError, Topics, UndeliveredReason,
};
use playhouse_core::mailbox::{Block, Bounded, DropNewest, DropOldest, Mailbox, Reject, Unbounded};
use playhouse_core::testing::VirtualTime;
use playhouse_core::{
    Actor, ActorRef, AskError, Context, Env, Executor, Handler, MessageBroker, Reply,
    TopicPublisher,
};

use common::*;

// ---------------------------------------------------------------------------------------------
// The message and the subscribers.

/// The message published in these tests.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Note(u32);

/// A filler queued to make a mailbox full; never published.
const FILLER: u32 = 1_000_000;

/// Records the notes it handles; can be held busy on a gate, or fail.
#[derive(Default)]
struct Sink {
    seen: Vec<u32>,
}

enum SinkMsg {
    Note(Note),
    /// Answers (so that the asker knows the handler is busy), then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    Seen(Reply<Vec<u32>>),
    /// Ends the actor with an error.
    Fail,
}

impl From<Note> for SinkMsg {
    fn from(n: Note) -> Self {
        SinkMsg::Note(n)
    }
}

impl TryFrom<SinkMsg> for Note {
    type Error = SinkMsg;
    fn try_from(m: SinkMsg) -> Result<Note, SinkMsg> {
        match m {
            SinkMsg::Note(n) => Ok(n),
            other => Err(other),
        }
    }
}

impl Actor for Sink {
    type Message = SinkMsg;
    type Error = String;
}

impl<V: Env> Handler<V> for Sink {
    async fn handle(&mut self, msg: SinkMsg, _: &mut Context<Self, V>) -> Result<(), String> {
        match msg {
            SinkMsg::Note(Note(n)) => self.seen.push(n),
            SinkMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            SinkMsg::Seen(reply) => {
                let _ = reply.send(self.seen.clone());
            }
            SinkMsg::Fail => return Err("failed on purpose".into()),
        }
        Ok(())
    }
}

/// Opens a held actor's gate when opened or dropped.
struct Gate(oneshot::Sender<()>);

impl Gate {
    fn open(self) {
        let _ = self.0.send(());
    }
}

/// Makes `sink` busy: returns once its handler waits on the returned gate (its mailbox is then
/// empty).
async fn hold<E: Executor, MB: Mailbox>(exec: &E, sink: &ActorRef<Sink, MB>) -> Gate {
    let (open, gate) = oneshot::channel();
    within(exec, LONG, sink.ask(|r| SinkMsg::Hold(r, gate)))
        .await
        .expect("the sink took the Hold message");
    Gate(open)
}

/// Holds `sink` and fills its mailbox of capacity `capacity` with fillers.
async fn hold_full<E: Executor, MB: Mailbox>(
    exec: &E,
    sink: &ActorRef<Sink, MB>,
    capacity: usize,
) -> Gate {
    let gate = hold(exec, sink).await;
    for _ in 0..capacity {
        assert!(sink.try_tell(SinkMsg::Note(Note(FILLER))).is_ok());
    }
    gate
}

/// What `sink` has handled so far (everything sent to it before this call). Asks only once its
/// mailbox has room: full, a `Reject` mailbox would refuse the ask, and a `DropNewest` or
/// `DropOldest` one drop a message.
async fn seen<E: Executor, MB: Mailbox>(exec: &E, sink: &ActorRef<Sink, MB>) -> Vec<u32> {
    within(exec, LONG, async {
        loop {
            if sink.mailbox_len() >= sink.mailbox_capacity() {
                yield_now().await;
                continue;
            }
            match sink.ask(SinkMsg::Seen).await {
                Ok(seen) => return seen,
                Err(AskError::Full(_)) => yield_now().await,
                Err(e) => panic!("the sink did not answer: {e:?}"),
            }
        }
    })
    .await
}

/// Adds up the `u64`s it is told, into a shared total.
struct Sum(Arc<AtomicU64>);

impl Actor for Sum {
    type Message = u64;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Sum {
    async fn handle(&mut self, n: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        self.0.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
}

fn notes(range: ::std::ops::Range<u32>) -> Vec<u32> {
    range.collect()
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// Every subscriber, whatever its actor type and mailbox, gets every message, in publish order.
async fn publish_delivers_to_every_subscriber_in_order<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let block = system.spawn(Sink::default());
    let unbounded = system.spawn_with(Sink::default(), Unbounded);
    let reject = system.spawn_with(
        Sink::default(),
        Bounded::<Reject>::with_capacity(1_000).unwrap(),
    );
    let total = Arc::new(AtomicU64::new(0));
    let sum = system.spawn(Sum(total.clone()));
    let sums = Topic::<u64>::new("sums");
    topics.subscribe(&topic, &block).unwrap();
    topics.subscribe(&topic, &unbounded).unwrap();
    topics.subscribe(&topic, &reject).unwrap();
    topics.subscribe(&sums, &sum).unwrap();
    assert_eq!(topics.subscriber_count(&topic), 3);
    assert_eq!(topics.subscriber_count(&sums), 1);
    assert_eq!(topics.topic_count(), 2);

    for n in 0..200 {
        let report = topics.publish(&topic, Note(n)).await;
        assert_eq!(report.delivered, 3, "{report:?}");
        assert!(report.all_delivered() && !report.no_subscribers());
        assert_eq!(topics.publish(&sums, u64::from(n)).await.delivered, 1);
    }
    assert_eq!(seen(&exec, &block).await, notes(0..200));
    assert_eq!(seen(&exec, &unbounded).await, notes(0..200));
    assert_eq!(seen(&exec, &reject).await, notes(0..200));
    sum.stop();
    within(&exec, LONG, sum.wait()).await;
    assert_eq!(total.load(Ordering::SeqCst), (0..200).sum::<u64>());
}

/// Publishers in several tasks: each subscriber gets every message, each publisher's in the
/// order it published them.
async fn each_publishers_messages_arrive_in_its_order<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let a = system.spawn(Sink::default());
    let b = system.spawn_with(Sink::default(), Unbounded);
    topics.subscribe(&topic, &a).unwrap();
    topics.subscribe(&topic, &b).unwrap();
    let mut done = Vec::new();
    for publisher in 0..3u32 {
        let (tx, rx) = oneshot::channel();
        let (topics, topic) = (topics.clone(), topic.clone());
        exec.spawn(async move {
            let mut delivered = 0;
            for i in 0..100 {
                delivered += topics
                    .publish(&topic, Note(publisher * 1_000 + i))
                    .await
                    .delivered;
                if i % 10 == 0 {
                    yield_now().await;
                }
            }
            let _ = tx.send(delivered);
        });
        done.push(rx);
    }
    for rx in done {
        assert_eq!(within(&exec, LONG, rx).await.unwrap(), 200);
    }
    for sink in [seen(&exec, &a).await, seen(&exec, &b).await] {
        assert_eq!(sink.len(), 300);
        for publisher in 0..3 {
            let its: Vec<u32> = sink
                .iter()
                .filter(|n| **n / 1_000 == publisher)
                .map(|n| n % 1_000)
                .collect();
            assert_eq!(its, notes(0..100), "publisher {publisher}");
        }
    }
}

/// A thousand subscribers each get the message once; the report counts them all.
async fn publish_reaches_a_thousand_subscribers<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("crowd");
    let sinks: Vec<_> = (0..1_000)
        .map(|_| system.spawn_with(Sink::default(), Unbounded))
        .collect();
    for sink in &sinks {
        topics.subscribe(&topic, sink).unwrap();
    }
    for n in 0..3 {
        let report = topics.publish(&topic, Note(n)).await;
        assert_eq!(report.delivered, 1_000);
        assert!(report.all_delivered());
    }
    for sink in &sinks {
        assert_eq!(seen(&exec, sink).await, notes(0..3));
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions ending

/// After `unsubscribe` returns, publishes do not deliver to that subscription; the others go
/// on; an id is removed once; the last subscription gone, the topic is gone.
async fn unsubscribe_stops_delivery<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let a = system.spawn(Sink::default());
    let b = system.spawn(Sink::default());
    let ia = topics.subscribe(&topic, &a).unwrap();
    let ib = topics.subscribe(&topic, &b).unwrap();
    assert_ne!(ia, ib);
    assert_eq!(topics.publish(&topic, Note(1)).await.delivered, 2);

    assert!(topics.unsubscribe(&topic, ia));
    assert!(!topics.unsubscribe(&topic, ia), "removed twice");
    assert!(!topics.unsubscribe(&Topic::<Note>::new("other"), ib));
    assert_eq!(topics.subscriber_count(&topic), 1);
    assert_eq!(topics.publish(&topic, Note(2)).await.delivered, 1);
    assert_eq!(seen(&exec, &a).await, vec![1]);
    assert_eq!(seen(&exec, &b).await, vec![1, 2]);

    assert!(topics.unsubscribe(&topic, ib));
    assert_eq!(topics.topic_count(), 0);
    assert!(topics.publish(&topic, Note(3)).await.no_subscribers());
    assert_eq!(seen(&exec, &b).await, vec![1, 2]);
}

/// An actor subscribed twice gets each message twice; each subscription ends on its own.
async fn each_subscription_of_one_actor_counts<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let a = system.spawn(Sink::default());
    let first = topics.subscribe(&topic, &a).unwrap();
    topics.subscribe(&topic, &a).unwrap();
    assert_eq!(topics.publish(&topic, Note(1)).await.delivered, 2);
    assert!(topics.unsubscribe(&topic, first));
    assert_eq!(topics.publish(&topic, Note(2)).await.delivered, 1);
    assert_eq!(seen(&exec, &a).await, vec![1, 1, 2]);
}

/// Subscribers that stop, fail or are killed are removed from every topic without anyone
/// unsubscribing them; one that has already ended is removed as soon as it is subscribed.
async fn a_subscriber_that_ends_is_removed<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let other = Topic::<Note>::new("other");
    let stopped = system.spawn(Sink::default());
    let failed = system.spawn(Sink::default());
    let killed = system.spawn_with(Sink::default(), Unbounded);
    let stays = system.spawn(Sink::default());
    for sink in [&stopped, &failed, &stays] {
        topics.subscribe(&topic, sink).unwrap();
    }
    topics.subscribe(&topic, &killed).unwrap();
    topics.subscribe(&other, &stopped).unwrap();
    topics.subscribe(&other, &killed).unwrap();
    assert_eq!(topics.subscriber_count(&topic), 4);
    assert_eq!(topics.subscriber_count(&other), 2);

    stopped.stop();
    within(&exec, LONG, stopped.wait()).await;
    assert_count(&topics, &topic, 3);
    assert_count(&topics, &other, 1);

    failed.tell(SinkMsg::Fail).await.unwrap();
    within(&exec, LONG, failed.wait()).await;
    assert_count(&topics, &topic, 2);

    killed.kill();
    within(&exec, LONG, killed.wait()).await;
    assert_count(&topics, &topic, 1);
    assert_count(&topics, &other, 0);
    assert_eq!(topics.topic_count(), 1);

    let report = topics.publish(&topic, Note(1)).await;
    assert_eq!(report.delivered, 1);
    assert!(report.all_delivered());
    assert_eq!(seen(&exec, &stays).await, vec![1]);

    // Subscribing an actor that has ended: accepted, and removed at once.
    topics.subscribe(&other, &stopped).unwrap();
    assert_eq!(topics.subscriber_count(&other), 0);
    assert_eq!(topics.topic_count(), 1);
}

/// `topic` has exactly `n` subscriptions. Called after `wait()` on the actors that ended:
/// it resolves only once their exit watchers (which remove their subscriptions) have run.
fn assert_count(topics: &Topics, topic: &Topic<Note>, n: usize) {
    assert_eq!(topics.subscriber_count(topic), n, "subscriptions left");
}

/// Many subscribers ending in waves (as a pool shut down): after each wave the count is exactly
/// the living, a publish (by name, and through a publisher made before the first wave) reaches
/// exactly them, an ended subscription cannot be unsubscribed, a live one still can, a new one
/// is reached, and once all have ended the topic is gone. The waves cross the point where the
/// ended outnumber the living and the list is compacted.
async fn many_subscribers_ending_leave_exactly_the_living<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("crowd");
    let sinks: Vec<_> = (0..100)
        .map(|_| system.spawn_with(Sink::default(), Unbounded))
        .collect();
    let ids: Vec<_> = sinks
        .iter()
        .map(|sink| topics.subscribe(&topic, sink).unwrap())
        .collect();
    let mut publisher = topics.publisher(&topic);
    let mut sent = Vec::new();
    let mut next = 0;
    let mut living = 100;
    // Waves of 30, 30, 30: 30 dead of 100, then 60 (compacted at the 51st), then 60 of 70.
    for wave in sinks.chunks(30).take(3) {
        for sink in wave {
            sink.stop();
        }
        for sink in wave {
            within(&exec, LONG, sink.wait()).await;
        }
        living -= wave.len();
        assert_count(&topics, &topic, living);
        let by_name = topics.publish(&topic, Note(next)).await;
        let through = publisher.publish(Note(next + 1)).await;
        for report in [&by_name, &through] {
            assert_eq!(report.delivered, living, "{report:?}");
            assert!(report.all_delivered(), "{report:?}");
        }
        sent.extend([next, next + 1]);
        next += 2;
    }
    assert!(
        !topics.unsubscribe(&topic, ids[0]),
        "an ended subscription is already gone"
    );
    // The ten still living got everything published to them.
    for sink in &sinks[90..] {
        assert_eq!(seen(&exec, sink).await, sent);
    }
    assert!(topics.unsubscribe(&topic, ids[99]));
    assert_eq!(topics.subscriber_count(&topic), 9);
    let late = system.spawn_with(Sink::default(), Unbounded);
    topics.subscribe(&topic, &late).unwrap();
    assert_eq!(publisher.publish(Note(next)).await.delivered, 10);
    assert_eq!(seen(&exec, &late).await, vec![next]);

    for sink in sinks[90..99].iter().chain([&late]) {
        sink.stop();
        within(&exec, LONG, sink.wait()).await;
    }
    assert_count(&topics, &topic, 0);
    assert_eq!(topics.topic_count(), 0);
    assert!(publisher.publish(Note(next + 1)).await.no_subscribers());
}

/// A publish that finds a subscriber's mailbox closed (it is stopping) reports it `Gone`, with
/// its copy, and removes it at once, before the actor has ended.
async fn a_publish_removes_a_subscriber_it_finds_stopping<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let stopping = system.spawn(Sink::default());
    let stays = system.spawn(Sink::default());
    let id = topics.subscribe(&topic, &stopping).unwrap();
    topics.subscribe(&topic, &stays).unwrap();
    let gate = hold(&exec, &stopping).await;
    stopping.stop(); // the mailbox closes; the handler is still held

    let report = topics.publish(&topic, Note(7)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.undelivered.len(), 1);
    let gone = &report.undelivered[0];
    assert_eq!(gone.reason, UndeliveredReason::Gone);
    assert_eq!(gone.message, Note(7));
    assert_eq!(gone.subscriber, stopping.id());
    assert_eq!(gone.subscription, id);
    assert!(stopping.is_alive());
    assert_eq!(topics.subscriber_count(&topic), 1);

    gate.open();
    within(&exec, LONG, stopping.wait()).await;
    assert_eq!(topics.subscriber_count(&topic), 1);
    assert_eq!(seen(&exec, &stays).await, vec![7]);
}

/// A subscription keeps its actor alive, as a `Recipient` does; dropping the table lets it go.
async fn a_subscription_keeps_its_actor_until_the_table_drops<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<u64>::new("sums");
    let total = Arc::new(AtomicU64::new(0));
    let sum = system.spawn(Sum(total.clone()));
    let weak = sum.downgrade();
    topics.subscribe(&topic, &sum).unwrap();
    drop(sum);

    assert_eq!(topics.publish(&topic, 5).await.delivered, 1);
    assert!(weak.is_alive());
    drop(topics); // its last handle: the subscription's reference goes, the mailbox closes
    let reason = within(&exec, LONG, weak.wait()).await;
    assert!(reason.is_normal(), "{reason:?}");
    assert_eq!(total.load(Ordering::SeqCst), 5);
}

// ---------------------------------------------------------------------------------------------
// Full mailboxes

/// A full `Reject` subscriber is reported `Full` with its copy, at once; the others get theirs.
async fn a_full_reject_subscriber_is_reported_full<E: Executor>(exec: E) {
    full_reject_subscriber_is_reported_full(exec, false).await;
}

/// As [`a_full_reject_subscriber_is_reported_full`], published by `topics.publish` or, with
/// `through_publisher`, by a [`Publisher`](playhouse_broker::pubsub::Publisher) made before the
/// subscriber filled up.
async fn full_reject_subscriber_is_reported_full<E: Executor>(exec: E, through_publisher: bool) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let reject = system.spawn_with(
        Sink::default(),
        Bounded::<Reject>::with_capacity(1).unwrap(),
    );
    let other = system.spawn_with(Sink::default(), Unbounded);
    let id = topics.subscribe(&topic, &reject).unwrap();
    topics.subscribe(&topic, &other).unwrap();
    let mut publisher = topics.publisher(&topic);
    let gate = hold_full(&exec, &reject, 1).await;

    // No clock is involved: a publish that waited for the held actor would never return.
    let report = if through_publisher {
        within(&exec, LONG, publisher.publish(Note(1))).await
    } else {
        within(&exec, LONG, topics.publish(&topic, Note(1))).await
    };
    assert_eq!(report.delivered, 1);
    assert_eq!(report.undelivered.len(), 1);
    let full = &report.undelivered[0];
    assert_eq!(full.reason, UndeliveredReason::Full);
    assert_eq!(full.message, Note(1));
    assert_eq!(full.subscriber, reject.id());
    assert_eq!(full.subscription, id);
    assert!(!report.no_subscribers() && !report.all_delivered());
    assert_eq!(
        topics.subscriber_count(&topic),
        2,
        "a full subscriber stays"
    );

    gate.open();
    assert_eq!(seen(&exec, &reject).await, vec![FILLER]);
    assert_eq!(seen(&exec, &other).await, vec![1]);
    let report = if through_publisher {
        publisher.publish(Note(2)).await
    } else {
        topics.publish(&topic, Note(2)).await
    };
    assert_eq!(report.delivered, 2);
    assert_eq!(seen(&exec, &other).await, vec![1, 2]);
}

/// Full `Block` subscribers are waited for together, up to `block_wait` on their executor's
/// clock, then reported `TimedOut` with their copies; the others already have theirs.
async fn a_full_block_subscriber_times_out_after_block_wait<E: Executor>(exec: E) {
    let time = VirtualTime::new(exec.clone());
    let system = System::new(time.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let one = Bounded::<Block>::with_capacity(1).unwrap();
    let slow1 = system.spawn_with(Sink::default(), one);
    let slow2 = system.spawn_with(Sink::default(), one);
    let fast = system.spawn_with(Sink::default(), Unbounded);
    for sink in [&slow1, &slow2] {
        topics.subscribe(&topic, sink).unwrap();
    }
    topics.subscribe(&topic, &fast).unwrap();
    let gate1 = hold_full(&exec, &slow1, 1).await;
    let gate2 = hold_full(&exec, &slow2, 1).await;

    let wait = Duration::from_secs(5);
    let options = PublishOptions::new().with_block_wait(wait);
    let mut publish = pin!(topics.publish_with(&topic, Note(1), options));
    assert!(poll!(publish.as_mut()).is_pending(), "it yields once");
    assert_eq!(time.sleeping(), 0, "no timer before the second try");
    assert!(poll!(publish.as_mut()).is_pending(), "it waits for room");
    assert_eq!(time.sleeping(), 2, "one timer per full subscriber");
    assert_eq!(seen(&exec, &fast).await, vec![1], "the others have theirs");
    time.advance(wait - Duration::from_millis(1));
    assert!(
        poll!(publish.as_mut()).is_pending(),
        "still within block_wait"
    );
    time.advance(Duration::from_millis(1));
    let report = within(&exec, LONG, publish).await;

    assert_eq!(report.delivered, 1);
    let mut timed_out: Vec<_> = report
        .undelivered
        .iter()
        .map(|u| {
            assert_eq!(u.reason, UndeliveredReason::TimedOut);
            assert_eq!(u.message, Note(1));
            u.subscriber
        })
        .collect();
    timed_out.sort();
    let mut expected = vec![slow1.id(), slow2.id()];
    expected.sort();
    assert_eq!(timed_out, expected);
    assert_eq!(
        topics.subscriber_count(&topic),
        3,
        "a slow subscriber stays"
    );

    gate1.open();
    gate2.open();
    assert_eq!(seen(&exec, &slow1).await, vec![FILLER]);
    assert_eq!(seen(&exec, &slow2).await, vec![FILLER]);
}

/// The set-up of the tests of one full `Block` subscriber: a topic whose only subscriber has a
/// one-message `Block` mailbox, full, its actor held on `gate`, on a virtual clock.
struct FullBlock<E: Executor> {
    time: VirtualTime<E>,
    _system: System<VirtualTime<E>>,
    topics: Topics,
    topic: Topic<Note>,
    slow: ActorRef<Sink, Bounded<Block>>,
    /// `slow`'s subscription.
    id: SubscriptionId,
    gate: Gate,
}

impl<E: Executor> FullBlock<E> {
    async fn new(exec: &E) -> Self {
        let time = VirtualTime::new(exec.clone());
        let system = System::new(time.clone());
        let topics = Topics::new();
        let topic = Topic::<Note>::new("notes");
        let slow = system.spawn_with(Sink::default(), Bounded::<Block>::with_capacity(1).unwrap());
        let id = topics.subscribe(&topic, &slow).unwrap();
        let gate = hold_full(exec, &slow, 1).await;
        FullBlock {
            time,
            _system: system,
            topics,
            topic,
            slow,
            id,
            gate,
        }
    }
}

/// A full `Block` subscriber that makes room within `block_wait` gets the message, after the
/// messages it already had.
async fn a_full_block_subscriber_that_makes_room_in_time_gets_it<E: Executor>(exec: E) {
    let FullBlock {
        time,
        topics,
        topic,
        slow,
        gate,
        ..
    } = FullBlock::new(&exec).await;

    let mut publish = pin!(topics.publish(&topic, Note(1)));
    assert!(poll!(publish.as_mut()).is_pending());
    gate.open(); // the clock does not move: only room can end the wait
    let report = within(&exec, LONG, publish).await;
    assert_eq!(report.delivered, 1);
    assert!(report.all_delivered());
    assert_eq!(seen(&exec, &slow).await, vec![FILLER, 1]);
    assert_eq!(time.elapsed(), Duration::ZERO);
}

/// A full `Block` subscriber whose actor makes room while the publish yields gets the message
/// on the publish's second try, and the publish starts no timer.
async fn a_full_block_subscriber_that_makes_room_at_once_costs_no_timer<E: Executor>(exec: E) {
    let FullBlock {
        time,
        topics,
        topic,
        slow,
        gate,
        ..
    } = FullBlock::new(&exec).await;

    let mut publish = pin!(topics.publish(&topic, Note(1)));
    assert!(poll!(publish.as_mut()).is_pending(), "it yields once");
    assert_eq!(time.sleeping(), 0, "no timer armed for the yield");
    gate.open();
    within(&exec, LONG, async {
        while slow.mailbox_len() > 0 {
            yield_now().await;
        }
    })
    .await;
    let Poll::Ready(report) = poll!(publish.as_mut()) else {
        panic!("the second try found room and still waited");
    };
    assert_eq!(report.delivered, 1);
    assert!(report.all_delivered());
    assert_eq!(time.sleeping(), 0);
    assert_eq!(seen(&exec, &slow).await, vec![FILLER, 1]);
}

/// `block_wait` zero: a full `Block` subscriber is reported `TimedOut` without waiting.
async fn a_zero_block_wait_does_not_wait<E: Executor>(exec: E) {
    let FullBlock {
        topics,
        topic,
        slow,
        gate,
        ..
    } = FullBlock::new(&exec).await;

    let options = PublishOptions::new().with_block_wait(Duration::ZERO);
    let publish = pin!(topics.publish_with(&topic, Note(1), options));
    let Poll::Ready(report) = poll!(publish) else {
        panic!("a publish with block_wait zero waited");
    };
    assert_eq!(report.delivered, 0);
    assert_eq!(report.undelivered.len(), 1);
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::TimedOut);
    assert_eq!(report.undelivered[0].message, Note(1));
    assert_eq!(PublishOptions::default().block_wait(), DEFAULT_BLOCK_WAIT);
    gate.open();
    assert_eq!(seen(&exec, &slow).await, vec![FILLER]);
}

/// A full `Block` subscriber that stops while the publish waits for it: `Gone`, and removed.
async fn a_block_subscriber_that_stops_while_waited_for_is_gone<E: Executor>(exec: E) {
    let FullBlock {
        topics,
        topic,
        slow,
        gate,
        ..
    } = FullBlock::new(&exec).await;

    let mut publish = pin!(topics.publish(&topic, Note(1)));
    assert!(poll!(publish.as_mut()).is_pending());
    slow.stop();
    let report = within(&exec, LONG, publish).await;
    assert_eq!(report.delivered, 0);
    assert_eq!(report.undelivered.len(), 1);
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::Gone);
    assert_eq!(report.undelivered[0].message, Note(1));
    assert_eq!(topics.subscriber_count(&topic), 0);
    gate.open();
    within(&exec, LONG, slow.wait()).await;
}

/// A full `Block` subscriber whose actor ends while the publish yields before its second try
/// (killed, its exit seen, so its subscription is already marked removed): the publish had
/// reached it, so it is reported `Gone` with its copy, not left out of the report as if it
/// had never been subscribed. (It was left out, and the publish read as one to no
/// subscribers.)
async fn a_block_subscriber_that_ends_while_the_publish_yields_is_gone<E: Executor>(exec: E) {
    let FullBlock {
        topics,
        topic,
        slow,
        gate,
        ..
    } = FullBlock::new(&exec).await;

    let mut publish = pin!(topics.publish(&topic, Note(1)));
    assert!(poll!(publish.as_mut()).is_pending(), "it yields once");
    slow.kill();
    within(&exec, LONG, slow.wait()).await;
    within(&exec, LONG, async {
        while topics.subscriber_count(&topic) > 0 {
            yield_now().await;
        }
    })
    .await;
    let report = within(&exec, LONG, publish).await;
    assert!(!report.no_subscribers(), "{report:?}");
    assert_eq!(report.delivered, 0);
    assert_eq!(report.undelivered.len(), 1, "{report:?}");
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::Gone);
    assert_eq!(report.undelivered[0].subscriber, slow.id());
    assert_eq!(report.undelivered[0].message, Note(1));
    drop(gate);
}

/// A full `Block` subscriber unsubscribed while the publish yields before its second try: the
/// publish had reached it, so it goes on as it does for one unsubscribed while it waits for
/// room (see the table's races): the copy arrives once there is room, and counts as
/// delivered. (It was dropped, in neither count of the report.)
async fn a_block_subscriber_unsubscribed_while_the_publish_yields_still_gets_its_copy<
    E: Executor,
>(
    exec: E,
) {
    let FullBlock {
        topics,
        topic,
        slow,
        id,
        gate,
        ..
    } = FullBlock::new(&exec).await;

    let mut publish = pin!(topics.publish(&topic, Note(1)));
    assert!(poll!(publish.as_mut()).is_pending(), "it yields once");
    assert!(topics.unsubscribe(&topic, id));
    assert!(poll!(publish.as_mut()).is_pending(), "it waits for room");
    gate.open();
    let report = within(&exec, LONG, publish).await;
    assert!(!report.no_subscribers(), "{report:?}");
    assert_eq!(report.delivered, 1, "{report:?}");
    assert!(report.undelivered.is_empty());
    assert_eq!(seen(&exec, &slow).await, vec![FILLER, 1]);
}

/// `DropNewest`, `DropOldest` and `Unbounded` subscribers behave as their mailboxes say: the
/// publish reports each copy delivered (accepted), and the drop strategies drop and count.
async fn drop_and_unbounded_subscribers_follow_their_mailbox<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let newest = system.spawn_with(
        Sink::default(),
        Bounded::<DropNewest>::with_capacity(2).unwrap(),
    );
    let oldest = system.spawn_with(
        Sink::default(),
        Bounded::<DropOldest>::with_capacity(2).unwrap(),
    );
    let unbounded = system.spawn_with(Sink::default(), Unbounded);
    topics.subscribe(&topic, &newest).unwrap();
    topics.subscribe(&topic, &oldest).unwrap();
    topics.subscribe(&topic, &unbounded).unwrap();
    let gates = [
        hold(&exec, &newest).await,
        hold(&exec, &oldest).await,
        hold(&exec, &unbounded).await,
    ];

    for n in 1..=4 {
        let report = within(&exec, LONG, topics.publish(&topic, Note(n))).await;
        assert_eq!(report.delivered, 3, "{report:?}");
        assert!(report.all_delivered());
    }
    assert_eq!(newest.dropped_count(), 2);
    assert_eq!(oldest.dropped_count(), 2);
    assert_eq!(unbounded.dropped_count(), 0);
    for gate in gates {
        gate.open();
    }
    assert_eq!(seen(&exec, &newest).await, vec![1, 2]);
    assert_eq!(seen(&exec, &oldest).await, vec![3, 4]);
    assert_eq!(seen(&exec, &unbounded).await, vec![1, 2, 3, 4]);
}

// ---------------------------------------------------------------------------------------------
// Types and dead letters

/// A topic name bound to one message type refuses subscribers of another, with both type
/// names; publishing the other type reaches no one. Once the name has no subscribers it is free.
async fn a_topic_name_with_another_message_type_is_wrong_type<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let notes = Topic::<Note>::new("t");
    let numbers = Topic::<u64>::new("t");
    let sink = system.spawn(Sink::default());
    let total = Arc::new(AtomicU64::new(0));
    let sum = system.spawn(Sum(total.clone()));
    let id = topics.subscribe(&notes, &sink).unwrap();

    let err = topics.subscribe(&numbers, &sum).unwrap_err();
    assert_eq!(
        err,
        TopicError::WrongType {
            topic: "t".into(),
            registered: ::std::any::type_name::<Note>().into(),
            requested: "u64".into(),
        }
    );
    assert!(err.to_string().contains("u64"), "{err}");
    assert_eq!(topics.subscriber_count(&numbers), 0);
    assert!(!topics.unsubscribe(&numbers, id));
    let report = topics.publish(&numbers, 5).await;
    assert!(report.no_subscribers());
    assert_eq!(report.into_dead_letter(), Some(5));
    assert_eq!(topics.subscriber_count(&notes), 1);

    assert!(topics.unsubscribe(&notes, id));
    topics.subscribe(&numbers, &sum).unwrap();
    assert_eq!(topics.publish(&numbers, 5).await.delivered, 1);
    assert!(topics.publish(&notes, Note(1)).await.no_subscribers());
    sum.stop();
    within(&exec, LONG, sum.wait()).await;
    assert_eq!(total.load(Ordering::SeqCst), 5);
    assert!(seen(&exec, &sink).await.is_empty());
}

/// A publish to a topic without subscribers is a dead letter: nothing delivered, the message
/// handed back.
async fn publish_without_subscribers_is_a_dead_letter<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("nobody");
    let report: PublishReport<Note> = topics.publish(&topic, Note(1)).await;
    assert!(report.no_subscribers());
    assert_eq!(report.delivered, 0);
    assert!(report.undelivered.is_empty());
    assert_eq!(report.into_dead_letter(), Some(Note(1)));

    // A report that reached someone keeps no dead letter.
    let sink = system.spawn(Sink::default());
    topics.subscribe(&topic, &sink).unwrap();
    let report = topics.publish(&topic, Note(2)).await;
    assert!(!report.no_subscribers());
    assert_eq!(report.into_dead_letter(), None);
}

/// A subscriber whose message type's `TryFrom` does not give back what its `From` built: the
/// publish does not panic and hands back a copy of the message.
async fn a_subscriber_that_does_not_give_the_message_back_gets_a_copy_back<E: Executor>(exec: E) {
    struct Liar;
    enum LiarMsg {
        Note(#[allow(dead_code)] Note),
        Hold(Reply<()>, oneshot::Receiver<()>),
    }
    impl From<Note> for LiarMsg {
        fn from(n: Note) -> Self {
            LiarMsg::Note(n)
        }
    }
    impl TryFrom<LiarMsg> for Note {
        type Error = LiarMsg;
        fn try_from(m: LiarMsg) -> Result<Note, LiarMsg> {
            Err(m)
        }
    }
    impl Actor for Liar {
        type Message = LiarMsg;
        type Error = Infallible;
    }
    impl<V: Env> Handler<V> for Liar {
        async fn handle(
            &mut self,
            msg: LiarMsg,
            _: &mut Context<Self, V>,
        ) -> Result<(), Infallible> {
            if let LiarMsg::Hold(busy, gate) = msg {
                let _ = busy.send(());
                let _ = gate.await;
            }
            Ok(())
        }
    }

    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let liar = system.spawn_with(Liar, Bounded::<Reject>::with_capacity(1).unwrap());
    topics.subscribe(&topic, &liar).unwrap();
    let (open, gate) = oneshot::channel::<()>();
    within(&exec, LONG, liar.ask(|r| LiarMsg::Hold(r, gate)))
        .await
        .unwrap();
    liar.try_tell(LiarMsg::Note(Note(FILLER))).ok().unwrap();

    let report = topics.publish(&topic, Note(1)).await;
    assert_eq!(report.undelivered.len(), 1);
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::Full);
    assert_eq!(report.undelivered[0].message, Note(1));
    let _ = open.send(());
}

// ---------------------------------------------------------------------------------------------
// Races

/// Publishes racing unsubscribes from another task, many times: the racing subscriber gets each
/// message at most once, exactly the ones the reports count as delivered, and none published
/// after its `unsubscribe` returned; the steady subscriber gets them all.
async fn a_publish_racing_an_unsubscribe_delivers_at_most_once<E: Executor>(exec: E) {
    const LATE: u32 = 999_999;
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let racing = system.spawn_with(Sink::default(), Unbounded);
    let steady = system.spawn_with(Sink::default(), Unbounded);
    topics.subscribe(&topic, &steady).unwrap();
    let mut counted = Vec::new();
    let mut raced = [0; 2];
    for round in 0..300 {
        let id = topics.subscribe(&topic, &racing).unwrap();
        let (tx, rx) = oneshot::channel();
        let (t, tp) = (topics.clone(), topic.clone());
        exec.spawn(async move {
            let _ = tx.send(t.unsubscribe(&tp, id));
        });
        if round % 3 == 1 {
            yield_now().await;
        }
        let report = topics.publish(&topic, Note(round)).await;
        assert!(report.all_delivered(), "{report:?}");
        match report.delivered {
            2 => {
                counted.push(round);
                raced[0] += 1;
            }
            1 => raced[1] += 1,
            n => panic!("delivered to {n} subscriptions"),
        }
        assert!(
            within(&exec, LONG, rx).await.unwrap(),
            "unsubscribe found it"
        );
        // It has returned: a publish that starts now does not reach it.
        assert_eq!(topics.publish(&topic, Note(LATE)).await.delivered, 1);
    }
    assert_eq!(topics.subscriber_count(&topic), 1);
    assert_eq!(seen(&exec, &racing).await, counted, "raced: {raced:?}");
    let steady_seen = seen(&exec, &steady).await;
    assert_eq!(steady_seen.len(), 600);
    assert_eq!(
        steady_seen
            .iter()
            .filter(|n| **n != LATE)
            .copied()
            .collect::<Vec<_>>(),
        notes(0..300)
    );
}

/// Subscribes and unsubscribes from several tasks at once, with publishes among them: every
/// subscription made can be unsubscribed once by its id, and the table ends empty.
async fn concurrent_subscribes_and_unsubscribes_keep_the_table_consistent<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("busy");
    let sinks: Vec<_> = (0..4)
        .map(|_| system.spawn_with(Sink::default(), Unbounded))
        .collect();
    let mut tasks = Vec::new();
    for sink in &sinks {
        let (tx, rx) = oneshot::channel();
        let (topics, topic, sink) = (topics.clone(), topic.clone(), sink.clone());
        exec.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..100 {
                ids.push(topics.subscribe(&topic, &sink).unwrap());
                if i % 10 == 0 {
                    topics.publish(&topic, Note(i)).await;
                    yield_now().await;
                }
            }
            // Unsubscribe in another order than subscribed.
            ids.reverse();
            let removed = ids
                .iter()
                .filter(|id| topics.unsubscribe(&topic, **id))
                .count();
            let again = ids
                .iter()
                .filter(|id| topics.unsubscribe(&topic, **id))
                .count();
            let _ = tx.send((removed, again));
        });
        tasks.push(rx);
    }
    for rx in tasks {
        assert_eq!(within(&exec, LONG, rx).await.unwrap(), (100, 0));
    }
    assert_eq!(topics.subscriber_count(&topic), 0);
    assert_eq!(topics.topic_count(), 0);
}

/// An actor that publishes, from its own handler, to a topic it subscribes to while its own
/// `Block` mailbox is full: its copy is refused at once as `Full` (it could never make room),
/// not waited for until `block_wait` ends.
async fn a_publisher_does_not_wait_for_its_own_full_mailbox<E: Executor>(exec: E) {
    struct Loop {
        topics: Topics,
        topic: Topic<Note>,
    }
    enum LoopMsg {
        Note(#[allow(dead_code)] Note),
        Publish(Reply<Vec<UndeliveredReason>>),
    }
    impl From<Note> for LoopMsg {
        fn from(n: Note) -> Self {
            LoopMsg::Note(n)
        }
    }
    impl TryFrom<LoopMsg> for Note {
        type Error = LoopMsg;
        fn try_from(m: LoopMsg) -> Result<Note, LoopMsg> {
            match m {
                LoopMsg::Note(n) => Ok(n),
                other => Err(other),
            }
        }
    }
    impl Actor for Loop {
        type Message = LoopMsg;
        type Error = Infallible;
    }
    impl<V: Env> Handler<V> for Loop {
        async fn handle(
            &mut self,
            msg: LoopMsg,
            ctx: &mut Context<Self, V>,
        ) -> Result<(), Infallible> {
            if let LoopMsg::Publish(reply) = msg {
                // Fill its own mailbox (capacity 1), then publish to itself.
                let _ = ctx.myself().try_tell(LoopMsg::Note(Note(FILLER)));
                let hour = PublishOptions::new().with_block_wait(Duration::from_secs(3_600));
                let report = self.topics.publish_with(&self.topic, Note(1), hour).await;
                let _ = reply.send(report.undelivered.iter().map(|u| u.reason).collect());
            }
            Ok(())
        }
    }

    // Virtual time: the hour never passes unless the test moves the clock.
    let system = System::new(VirtualTime::new(exec.clone()));
    let topics = Topics::new();
    let topic = Topic::<Note>::new("loop");
    let actor = system.spawn_with(
        Loop {
            topics: topics.clone(),
            topic: topic.clone(),
        },
        Bounded::<Block>::with_capacity(1).unwrap(),
    );
    topics.subscribe(&topic, &actor).unwrap();
    let reasons = within(&exec, LONG, actor.ask(LoopMsg::Publish))
        .await
        .unwrap();
    assert_eq!(reasons, vec![UndeliveredReason::Full]);
}

// ---------------------------------------------------------------------------------------------
// Publisher: a handle that keeps the topic's snapshot between publishes

/// A publisher delivers as `publish` does: every subscriber, in order, the same reports; one
/// made by the broker counts dead letters as the broker's `publish` does.
async fn a_publisher_delivers_like_publish<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let block = system.spawn(Sink::default());
    let unbounded = system.spawn_with(Sink::default(), Unbounded);
    topics.subscribe(&topic, &block).unwrap();
    topics.subscribe(&topic, &unbounded).unwrap();
    let mut publisher = topics.publisher(&topic);
    assert_eq!(publisher.topic(), &topic);
    for n in 0..100 {
        let by_handle = publisher.publish(Note(2 * n)).await;
        let by_name = topics.publish(&topic, Note(2 * n + 1)).await;
        assert_eq!(by_handle.delivered, 2, "{by_handle:?}");
        assert!(by_handle.all_delivered() && !by_handle.no_subscribers());
        assert_eq!(by_handle.delivered, by_name.delivered);
    }
    assert_eq!(seen(&exec, &block).await, notes(0..200));
    assert_eq!(seen(&exec, &unbounded).await, notes(0..200));

    // Through the broker: dead letters counted as by `MessageBroker::publish`.
    let broker = system.broker();
    let empty = Topic::<Note>::new("empty");
    let mut publisher = broker.publisher(&empty);
    let report = publisher
        .publish_with(Note(1), PublishOptions::default())
        .await;
    assert_eq!(report.into_dead_letter(), Some(Note(1)));
    assert_eq!(broker.dead_letters().no_subscribers, 1);
    broker.subscribe(&empty, &block).unwrap();
    assert_eq!(publisher.publish(Note(2)).await.delivered, 1);
    assert_eq!(broker.dead_letters().no_subscribers, 1);
}

/// A publisher's publish does nothing before it is polled: dropped unpolled, nothing is sent
/// and nothing is counted.
async fn a_publishers_publish_does_nothing_until_polled<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let topic = Topic::<Note>::new("notes");
    let sink = system.spawn(Sink::default());
    let mut publisher = broker.publisher(&topic);
    let unpolled = publisher.publish(Note(1));
    assert!(format!("{unpolled:?}").contains("start"), "{unpolled:?}");
    drop(unpolled);
    broker.subscribe(&topic, &sink).unwrap();
    drop(publisher.publish(Note(2)));
    assert_eq!(publisher.publish(Note(3)).await.delivered, 1);
    assert_eq!(seen(&exec, &sink).await, vec![3]);
    assert_eq!(broker.dead_letters().no_subscribers, 0);
}

/// A publisher's publish that meets a full `Block` subscriber goes on past its first poll (on
/// its own copies of the snapshot), delivers once the subscriber makes room, and leaves the
/// publisher's cache as it was: the next publish delivers at once.
async fn a_publisher_waits_for_a_full_block_subscriber<E: Executor>(exec: E) {
    let FullBlock {
        time,
        topics,
        topic,
        slow,
        gate,
        ..
    } = FullBlock::new(&exec).await;
    let mut publisher = topics.publisher(&topic);
    {
        let mut publish = pin!(publisher.publish(Note(1)));
        assert!(poll!(publish.as_mut()).is_pending());
        assert!(format!("{publish:?}").contains("waiting"), "{publish:?}");
        gate.open(); // the clock does not move: only room can end the wait
        let report = within(&exec, LONG, publish).await;
        assert_eq!(report.delivered, 1);
        assert!(report.all_delivered(), "{report:?}");
    }
    assert_eq!(time.elapsed(), Duration::ZERO);
    let report = within(&exec, LONG, publisher.publish(Note(2))).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(seen(&exec, &slow).await, vec![FILLER, 1, 2]);
}

/// A publisher made by the broker counts a subscriber that its publish finds stopping as an
/// `ActorGone` dead letter, as the broker's `publish` does, once the rest of the publish has
/// run.
async fn a_brokers_publisher_counts_a_gone_subscriber<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let topic = Topic::<Note>::new("notes");
    let stopping = system.spawn(Sink::default());
    let stays = system.spawn(Sink::default());
    broker.subscribe(&topic, &stopping).unwrap();
    broker.subscribe(&topic, &stays).unwrap();
    let mut publisher = broker.publisher(&topic);
    let gate = hold(&exec, &stopping).await;
    stopping.stop(); // the mailbox closes; the handler is still held
    let report = publisher.publish(Note(1)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(report.undelivered.len(), 1, "{report:?}");
    assert_eq!(report.undelivered[0].reason, UndeliveredReason::Gone);
    assert_eq!(report.undelivered[0].message, Note(1));
    assert_eq!(broker.dead_letters().actor_gone, 1);
    assert_eq!(broker.dead_letters().no_subscribers, 0);
    assert_eq!(broker.topics().subscriber_count(&topic), 1);
    gate.open();
    assert_eq!(seen(&exec, &stays).await, vec![1]);
}

/// A handler generic over its environment publishes through `ctx.broker().publisher(..)` (the
/// `MessageBroker` trait's, not the in-memory broker's own method): each subscriber gets every
/// message in order, and the reports count them.
async fn a_generic_handler_publishes_through_the_brokers_publisher<E: Executor>(exec: E) {
    /// Publishes each batch of notes it is asked to, and answers what its reports counted.
    struct Feed {
        topic: Topic<Note>,
    }
    struct Batch(Vec<u32>, Reply<(usize, Vec<usize>)>);
    impl Actor for Feed {
        type Message = Batch;
        type Error = Infallible;
    }
    impl<V: Env> Handler<V> for Feed {
        async fn handle(
            &mut self,
            Batch(notes, reply): Batch,
            ctx: &mut Context<Self, V>,
        ) -> Result<(), Infallible> {
            let mut publisher = ctx.broker().publisher(&self.topic);
            assert_eq!(TopicPublisher::topic(&publisher), &self.topic);
            let mut delivered = Vec::new();
            for n in notes {
                delivered.push(publisher.publish(Note(n)).await.delivered);
            }
            let dead = publisher.publish(Note(FILLER)).await;
            let _ = reply.send((usize::from(dead.no_subscribers()), delivered));
            Ok(())
        }
    }

    let system = System::new(exec.clone());
    let broker = system.broker();
    let topic = Topic::<Note>::new("notes");
    let a = system.spawn(Sink::default());
    let b = system.spawn(Sink::default());
    broker.subscribe(&topic, &a).unwrap();
    let id = broker.subscribe(&topic, &b).unwrap();
    let feed = system.spawn(Feed {
        topic: topic.clone(),
    });
    let (dead, delivered) = within(&exec, LONG, feed.ask(|r| Batch((0..50).collect(), r)))
        .await
        .unwrap();
    assert_eq!(delivered, vec![2; 50]);
    assert_eq!(dead, 0);
    assert_eq!(
        seen(&exec, &a).await,
        notes(0..50).into_iter().chain([FILLER]).collect::<Vec<_>>()
    );
    assert!(broker.unsubscribe(&topic, id));
    let (_, delivered) = within(&exec, LONG, feed.ask(|r| Batch(vec![50], r)))
        .await
        .unwrap();
    assert_eq!(delivered, vec![1]);
    assert_eq!(
        seen(&exec, &b).await,
        notes(0..50).into_iter().chain([FILLER]).collect::<Vec<_>>()
    );
    assert_eq!(broker.dead_letters().no_subscribers, 0);
}

/// A subscription made after the publisher (and after it cached its snapshot) is delivered to
/// by its next publish; so is one made after a clone of it cached its own.
async fn a_publisher_sees_a_subscribe_made_after_it<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let first = system.spawn(Sink::default());
    topics.subscribe(&topic, &first).unwrap();
    let mut publisher = topics.publisher(&topic);
    assert_eq!(publisher.publish(Note(1)).await.delivered, 1);
    let mut clone = publisher.clone();

    let second = system.spawn(Sink::default());
    topics.subscribe(&topic, &second).unwrap();
    assert_eq!(publisher.publish(Note(2)).await.delivered, 2);
    assert_eq!(clone.publish(Note(3)).await.delivered, 2);
    // A subscribe to another topic of the table also makes it look again; it finds the same.
    let other = system.spawn(Sink::default());
    topics
        .subscribe(&Topic::<Note>::new("other"), &other)
        .unwrap();
    assert_eq!(publisher.publish(Note(4)).await.delivered, 2);
    assert_eq!(seen(&exec, &first).await, vec![1, 2, 3, 4]);
    assert_eq!(seen(&exec, &second).await, vec![2, 3, 4]);
    assert!(seen(&exec, &other).await.is_empty());
}

/// After `unsubscribe` returned, a publisher does not deliver to that subscription, whether its
/// cached snapshot was taken before the unsubscribe (its own, or a clone's) or after.
async fn a_publisher_never_delivers_after_unsubscribe_returned<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let a = system.spawn(Sink::default());
    let b = system.spawn(Sink::default());
    let ia = topics.subscribe(&topic, &a).unwrap();
    let ib = topics.subscribe(&topic, &b).unwrap();
    let mut publisher = topics.publisher(&topic);
    assert_eq!(publisher.publish(Note(1)).await.delivered, 2);
    let mut stale = publisher.clone(); // caches the snapshot with both

    assert!(topics.unsubscribe(&topic, ia));
    assert_eq!(publisher.publish(Note(2)).await.delivered, 1);
    assert_eq!(stale.publish(Note(3)).await.delivered, 1);
    assert_eq!(publisher.publish(Note(4)).await.delivered, 1);

    assert!(topics.unsubscribe(&topic, ib));
    let report = stale.publish(Note(5)).await;
    assert!(report.no_subscribers(), "{report:?}");
    assert_eq!(report.into_dead_letter(), Some(Note(5)));
    assert_eq!(seen(&exec, &a).await, vec![1]);
    assert_eq!(seen(&exec, &b).await, vec![1, 2, 3, 4]);
}

/// A subscriber that stops is reported `Gone` by the publisher's publish that finds it stopping
/// (its copy handed back) and removed; the next publish does not try it. One that has ended is
/// removed by its exit watcher, and the next publish does not try it either.
async fn a_publisher_skips_a_subscriber_that_ended<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let stopping = system.spawn(Sink::default());
    let ended = system.spawn(Sink::default());
    let stays = system.spawn(Sink::default());
    let id = topics.subscribe(&topic, &stopping).unwrap();
    topics.subscribe(&topic, &ended).unwrap();
    topics.subscribe(&topic, &stays).unwrap();
    let mut publisher = topics.publisher(&topic);
    assert_eq!(publisher.publish(Note(1)).await.delivered, 3);

    let gate = hold(&exec, &stopping).await;
    stopping.stop(); // the mailbox closes; the handler is still held
    let report = publisher.publish(Note(2)).await;
    assert_eq!(report.delivered, 2);
    assert_eq!(report.undelivered.len(), 1);
    let gone = &report.undelivered[0];
    assert_eq!(gone.reason, UndeliveredReason::Gone);
    assert_eq!(gone.message, Note(2));
    assert_eq!(gone.subscription, id);
    assert_eq!(topics.subscriber_count(&topic), 2);
    let report = publisher.publish(Note(3)).await;
    assert_eq!(report.delivered, 2);
    assert!(
        report.all_delivered(),
        "tried the removed subscriber: {report:?}"
    );

    ended.stop();
    within(&exec, LONG, ended.wait()).await;
    within(&exec, LONG, async {
        while topics.subscriber_count(&topic) != 1 {
            yield_now().await;
        }
    })
    .await;
    let report = publisher.publish(Note(4)).await;
    assert_eq!(report.delivered, 1);
    assert!(
        report.all_delivered(),
        "tried the ended subscriber: {report:?}"
    );
    gate.open();
    assert_eq!(seen(&exec, &stays).await, vec![1, 2, 3, 4]);
}

/// A topic emptied (its last subscriber unsubscribed, the topic removed from the table) and
/// subscribed again: the publisher's publishes are dead letters meanwhile and reach the new
/// subscriber after.
async fn a_publisher_sees_a_topic_emptied_then_subscribed_again<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let old = system.spawn(Sink::default());
    let id = topics.subscribe(&topic, &old).unwrap();
    let mut publisher = topics.publisher(&topic);
    assert_eq!(publisher.publish(Note(1)).await.delivered, 1);
    assert!(topics.unsubscribe(&topic, id));
    assert_eq!(topics.topic_count(), 0);
    assert!(publisher.publish(Note(2)).await.no_subscribers());
    assert!(publisher.publish(Note(3)).await.no_subscribers());

    let new = system.spawn(Sink::default());
    topics.subscribe(&topic, &new).unwrap();
    assert_eq!(publisher.publish(Note(4)).await.delivered, 1);
    assert_eq!(seen(&exec, &old).await, vec![1]);
    assert_eq!(seen(&exec, &new).await, vec![4]);
}

/// A publisher holds its cached snapshot, and with it its subscribers, only until its next
/// publish sees the table changed: an actor unsubscribed (and no longer referenced elsewhere)
/// lives until then, and ends after it.
async fn a_publisher_lets_go_of_an_unsubscribed_actor_at_its_next_publish<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<u64>::new("sums");
    let total = Arc::new(AtomicU64::new(0));
    let sum = system.spawn(Sum(total.clone()));
    let weak = sum.downgrade();
    let id = topics.subscribe(&topic, &sum).unwrap();
    drop(sum);
    let mut publisher = topics.publisher(&topic);
    assert_eq!(publisher.publish(5).await.delivered, 1);
    assert!(topics.unsubscribe(&topic, id));
    assert!(weak.is_alive(), "the publisher's snapshot still holds it");

    assert!(publisher.publish(6).await.no_subscribers());
    let reason = within(&exec, LONG, weak.wait()).await;
    assert!(reason.is_normal(), "{reason:?}");
    assert_eq!(total.load(Ordering::SeqCst), 5);
}

/// A full `Reject` subscriber: the publisher's publish reports it `Full` with the message handed
/// back, at once, and the subscription stays.
async fn a_publisher_reports_a_full_reject_subscriber_full<E: Executor>(exec: E) {
    full_reject_subscriber_is_reported_full(exec, true).await;
}

/// Publishes through a publisher racing unsubscribes made on another thread, many times: the
/// racing subscriber gets each message at most once, exactly those the reports count, and none
/// published after its `unsubscribe` returned; the steady subscriber gets them all.
async fn a_publisher_racing_unsubscribe_delivers_at_most_once<E: Executor>(exec: E) {
    const LATE: u32 = 999_999;
    let system = System::new(exec.clone());
    let topics = Topics::new();
    let topic = Topic::<Note>::new("notes");
    let racing = system.spawn_with(Sink::default(), Unbounded);
    let steady = system.spawn_with(Sink::default(), Unbounded);
    topics.subscribe(&topic, &steady).unwrap();
    let mut publisher = topics.publisher(&topic);
    let mut counted = Vec::new();
    let mut raced = [0; 2];
    for round in 0..500 {
        let id = topics.subscribe(&topic, &racing).unwrap();
        // Cache the snapshot with the racing subscription before the race.
        if round % 2 == 0 {
            assert_eq!(publisher.publish(Note(LATE)).await.delivered, 2);
            counted.push(LATE);
        }
        let (tx, rx) = oneshot::channel();
        let (t, tp) = (topics.clone(), topic.clone());
        let unsubscriber = ::std::thread::spawn(move || {
            let _ = tx.send(t.unsubscribe(&tp, id));
        });
        if round % 3 == 1 {
            ::std::thread::yield_now();
        }
        let report = publisher.publish(Note(round)).await;
        assert!(report.all_delivered(), "{report:?}");
        match report.delivered {
            2 => {
                counted.push(round);
                raced[0] += 1;
            }
            1 => raced[1] += 1,
            n => panic!("delivered to {n} subscriptions"),
        }
        assert!(
            within(&exec, LONG, rx).await.unwrap(),
            "unsubscribe found it"
        );
        unsubscriber.join().unwrap();
        // It has returned: a publish that starts now does not reach it.
        assert_eq!(publisher.publish(Note(LATE)).await.delivered, 1);
    }
    assert_eq!(topics.subscriber_count(&topic), 1);
    assert_eq!(seen(&exec, &racing).await, counted, "raced: {raced:?}");
    let steady_seen = seen(&exec, &steady).await;
    assert_eq!(
        steady_seen
            .iter()
            .filter(|n| **n != LATE)
            .copied()
            .collect::<Vec<_>>(),
        notes(0..500)
    );
}

executor_tests!(
    publish_delivers_to_every_subscriber_in_order,
    each_publishers_messages_arrive_in_its_order,
    publish_reaches_a_thousand_subscribers,
    unsubscribe_stops_delivery,
    each_subscription_of_one_actor_counts,
    a_subscriber_that_ends_is_removed,
    many_subscribers_ending_leave_exactly_the_living,
    a_publish_removes_a_subscriber_it_finds_stopping,
    a_subscription_keeps_its_actor_until_the_table_drops,
    a_full_reject_subscriber_is_reported_full,
    a_full_block_subscriber_times_out_after_block_wait,
    a_full_block_subscriber_that_makes_room_in_time_gets_it,
    a_full_block_subscriber_that_makes_room_at_once_costs_no_timer,
    a_zero_block_wait_does_not_wait,
    a_block_subscriber_that_stops_while_waited_for_is_gone,
    a_block_subscriber_that_ends_while_the_publish_yields_is_gone,
    a_block_subscriber_unsubscribed_while_the_publish_yields_still_gets_its_copy,
    drop_and_unbounded_subscribers_follow_their_mailbox,
    a_topic_name_with_another_message_type_is_wrong_type,
    publish_without_subscribers_is_a_dead_letter,
    a_subscriber_that_does_not_give_the_message_back_gets_a_copy_back,
    a_publish_racing_an_unsubscribe_delivers_at_most_once,
    concurrent_subscribes_and_unsubscribes_keep_the_table_consistent,
    a_publisher_does_not_wait_for_its_own_full_mailbox,
    a_publisher_delivers_like_publish,
    a_publishers_publish_does_nothing_until_polled,
    a_publisher_waits_for_a_full_block_subscriber,
    a_brokers_publisher_counts_a_gone_subscriber,
    a_generic_handler_publishes_through_the_brokers_publisher,
    a_publisher_sees_a_subscribe_made_after_it,
    a_publisher_never_delivers_after_unsubscribe_returned,
    a_publisher_skips_a_subscriber_that_ended,
    a_publisher_sees_a_topic_emptied_then_subscribed_again,
    a_publisher_lets_go_of_an_unsubscribed_actor_at_its_next_publish,
    a_publisher_reports_a_full_reject_subscriber_full,
    a_publisher_racing_unsubscribe_delivers_at_most_once,
);

// ---------------------------------------------------------------------------------------------
// Types: compile-time properties, on no executor.

/// `Topics` and `Topic` are `Send + Sync` (for any message type), and a publish future is `Send`
/// for any `Send` message, even one that is not `Sync`.
#[test]
fn handles_are_send_sync_and_publish_futures_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Topics>();
    send_sync::<Topic<Cell<u32>>>();
    send_sync::<Topic<::std::rc::Rc<u32>>>();
    send_sync::<PublishOptions>();
    let topics = Topics::new();
    let topic = Topic::<Cell<u32>>::new("cells");
    let publish = topics.publish(&topic, Cell::new(1));
    send(&publish);
    let report = futures::executor::block_on(publish);
    assert_eq!(report.into_dead_letter(), Some(Cell::new(1)));

    // A publisher is `Send + Sync` and `Clone`, its publish future `Send`, for the same messages.
    send_sync::<Publisher<Cell<u32>>>();
    let mut publisher = topics.publisher(&topic);
    let mut clone = publisher.clone();
    assert!(format!("{publisher:?}").contains("cells"));
    let publish = publisher.publish(Cell::new(2));
    send(&publish);
    let report = futures::executor::block_on(publish);
    assert_eq!(report.into_dead_letter(), Some(Cell::new(2)));
    let report = futures::executor::block_on(clone.publish(Cell::new(3)));
    assert_eq!(report.into_dead_letter(), Some(Cell::new(3)));
}

/// Topics are equal, and hash alike, by name; `Debug` names the message type.
#[test]
fn topics_compare_by_name() {
    use ::std::collections::HashSet;
    let a = Topic::<Note>::new("a");
    let set: HashSet<_> = [a.clone(), Topic::new(String::from("a")), Topic::new("b")].into();
    assert_eq!(set.len(), 2);
    assert_eq!(a, Topic::new("a"));
    assert_ne!(a, Topic::new("b"));
    assert_eq!(a.name(), "a");
    assert!(format!("{a:?}").contains("Note"));
}
