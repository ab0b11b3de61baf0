//! Models of the topics table (`playhouse_broker::pubsub::Topics`): a publish racing an
//! unsubscribe, and a subscribe racing the subscriber's end.
//!
//! The table's lock and each subscription's "still subscribed" flag are loom's (the broker's
//! `sync` module), as are the subscriber's mailbox and cell (the core's). The table's own `Arc`
//! and the copy-on-write snapshots of a topic's list stay std's (loom has no `Weak` and no
//! `Arc::make_mut`): loom does not interleave their reference counts, but a snapshot is taken,
//! and a list changed, only under the modelled lock. The subscriber runs on a
//! [`JoinExecutor`] (one loom thread), which the models join once it has ended.
//!
//! Joined, not only waited for: an actor's end is recorded (and a `wait()` polled from then on
//! resolves) before its `on_exit` watchers run, so `wait()` returning does not mean that the
//! table's watcher has removed the actor's subscriptions yet. A `wait()` that was already
//! parked is woken only after the watchers; one first polled in between is not. The first
//! draft of the second model asserted right after `wait()` and failed on that interleaving.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering::SeqCst};
use loom::thread;
use playhouse_broker::pubsub::{Topic, Topics};
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{Actor, ActorRef, Context, Env, Handler};

use crate::harness::{JoinExecutor, System, check};

/// A subscriber that records each message it is given (ids below 32) and asserts that none
/// comes twice.
struct Listener {
    seen: Arc<AtomicU32>,
}

impl Actor for Listener {
    type Message = u32;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Listener {
    async fn handle(&mut self, n: u32, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        let before = self.seen.fetch_or(1 << n, SeqCst);
        assert_eq!(before & (1 << n), 0, "message {n} was delivered twice");
        Ok(())
    }
}

/// A listener with room for every message of a model (no publish waits for room), on its own
/// thread (the executor's thread 0).
fn spawn_listener(seen: &Arc<AtomicU32>) -> (ActorRef<Listener, Bounded<Block>>, JoinExecutor) {
    let executor = JoinExecutor::new();
    let listener = System::new(executor.clone())
        .spawner(Bounded::<Block>::with_capacity(2).expect("capacity"))
        .spawn(Listener { seen: seen.clone() });
    (listener, executor)
}

/// Stops the listener and waits until its task (its exit watchers included) has finished.
fn end(listener: &ActorRef<Listener, Bounded<Block>>, executor: &JoinExecutor) {
    listener.stop();
    block_on(listener.wait());
    executor.join(0);
}

/// A publish racing an unsubscribe delivers to the subscriber at most once, and says so
/// truthfully (its report counts the delivery exactly when the subscriber got the message); a
/// publish that starts after `unsubscribe` returned delivers nothing to it (the topic has no
/// subscriber left: the message is a dead letter); the topic is gone from the table.
///
/// Threads: the model (unsubscribe, then message 2), a publisher (message 1), the subscriber.
/// The model also asserts that both outcomes of the race occur (message 1 delivered, skipped).
pub fn publish_racing_unsubscribe_delivers_at_most_once() {
    // Executions in which the racing publish skipped the subscriber, and delivered to it.
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let topics = Topics::new();
        let topic = Topic::<u32>::new("t");
        let seen = Arc::new(AtomicU32::new(0));
        let (listener, executor) = spawn_listener(&seen);
        let id = topics.subscribe(&topic, &listener).expect("a fresh topic");
        let publisher = {
            let (topics, topic) = (topics.clone(), topic.clone());
            thread::spawn(move || {
                let report = block_on(topics.publish(&topic, 1));
                assert!(
                    report.undelivered.is_empty(),
                    "the racing publish failed a delivery: {:?}",
                    report.undelivered
                );
                report.delivered
            })
        };
        assert!(topics.unsubscribe(&topic, id), "the subscription was there");
        let after = block_on(topics.publish(&topic, 2));
        assert!(
            after.no_subscribers(),
            "a publish that started after unsubscribe returned reached the unsubscribed \
             subscriber (delivered {})",
            after.delivered
        );
        assert_eq!(
            topics.subscriber_count(&topic),
            0,
            "unsubscribe returned, the subscription is still listed"
        );
        let delivered = publisher.join().unwrap();
        end(&listener, &executor);
        let got = seen.load(SeqCst);
        assert_eq!(
            got & 0b100,
            0,
            "message 2 reached the unsubscribed subscriber"
        );
        assert_eq!(
            got == 0b10,
            delivered == 1,
            "the racing publish reported {delivered} deliveries; the subscriber got {got:#b}"
        );
        assert_eq!(
            topics.topic_count(),
            0,
            "a topic without subscribers is left"
        );
        counts[delivered].fetch_add(1, Relaxed);
    });
    let [skipped, delivered] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        skipped > 0 && delivered > 0,
        "the racing publish skipped the subscriber in {skipped} executions, delivered in {delivered}"
    );
}

/// A subscribe racing the subscriber's end leaves no subscription of the ended actor behind:
/// one made before the end is removed by the actor's exit watcher, one made after it gets a
/// watcher that runs at once. The actor is already subscribed to another topic (so the table
/// watches it) when the race starts.
///
/// Threads: the model (stops the actor and waits for its end), a subscriber (subscribes the
/// actor to a second topic), the actor.
pub fn subscribe_racing_the_end_leaves_nothing_behind() {
    check(|| {
        let topics = Topics::new();
        let (first, second) = (Topic::<u32>::new("a"), Topic::<u32>::new("b"));
        let seen = Arc::new(AtomicU32::new(0));
        let (listener, executor) = spawn_listener(&seen);
        topics.subscribe(&first, &listener).expect("a fresh topic");
        let subscriber = {
            let (topics, second, listener) = (topics.clone(), second.clone(), listener.clone());
            thread::spawn(move || topics.subscribe(&second, &listener).is_ok())
        };
        end(&listener, &executor);
        assert!(subscriber.join().unwrap(), "subscribing an ending actor");
        assert_eq!(
            topics.subscriber_count(&first),
            0,
            "the ended actor's first subscription was left behind"
        );
        assert_eq!(
            topics.subscriber_count(&second),
            0,
            "a subscription of an ended actor was left behind"
        );
        assert_eq!(topics.topic_count(), 0);
    });
}

/// A [`Publisher`](playhouse_broker::pubsub::Publisher) whose cached snapshot lists the
/// subscriber, racing an unsubscribe: its racing publish delivers at most once and reports it
/// truthfully; once `unsubscribe` has returned, neither it nor a clone whose cache predates the
/// unsubscribe delivers to the subscriber again.
///
/// Threads: the model (publishes through the publisher), an unsubscriber, the subscriber.
pub fn publisher_racing_unsubscribe_delivers_at_most_once() {
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let topics = Topics::new();
        let topic = Topic::<u32>::new("t");
        let seen = Arc::new(AtomicU32::new(0));
        let (listener, executor) = spawn_listener(&seen);
        let id = topics.subscribe(&topic, &listener).expect("a fresh topic");
        let mut publisher = topics.publisher(&topic);
        // Its cache predates the unsubscribe whatever the race does.
        let mut stale = publisher.clone();
        let unsubscriber = {
            let (topics, topic) = (topics.clone(), topic.clone());
            thread::spawn(move || topics.unsubscribe(&topic, id))
        };
        let report = block_on(publisher.publish(1));
        assert!(
            report.undelivered.is_empty(),
            "the racing publish failed a delivery: {:?}",
            report.undelivered
        );
        let delivered = report.delivered;
        assert!(unsubscriber.join().unwrap(), "the subscription was there");
        for (publisher, n) in [(&mut publisher, 2), (&mut stale, 3)] {
            let after = block_on(publisher.publish(n));
            assert!(
                after.no_subscribers(),
                "a publish through a publisher that started after unsubscribe returned reached \
                 the unsubscribed subscriber (delivered {})",
                after.delivered
            );
        }
        end(&listener, &executor);
        let got = seen.load(SeqCst);
        assert_eq!(
            got & 0b1100,
            0,
            "a message published after unsubscribe returned reached the unsubscribed subscriber"
        );
        assert_eq!(
            got == 0b10,
            delivered == 1,
            "the racing publish reported {delivered} deliveries; the subscriber got {got:#b}"
        );
        counts[delivered].fetch_add(1, Relaxed);
    });
    let [skipped, delivered] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        skipped > 0 && delivered > 0,
        "the racing publish skipped the subscriber in {skipped} executions, delivered in {delivered}"
    );
}

/// A publisher whose cached snapshot predates a subscribe: a publish racing the subscribe
/// delivers to the new subscriber or reports no subscribers (never anything else), and a
/// publish ordered after `subscribe` returned delivers to it.
///
/// Threads: the model (publishes through the publisher), a subscriber (subscribes the
/// listener), the listener.
pub fn publisher_racing_subscribe_sees_it_once_it_returned() {
    let outcomes = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = outcomes.clone();
    check(move || {
        let topics = Topics::new();
        let topic = Topic::<u32>::new("t");
        let seen = Arc::new(AtomicU32::new(0));
        let (listener, executor) = spawn_listener(&seen);
        // Made before anyone subscribes: its cache says "no subscribers".
        let mut publisher = topics.publisher(&topic);
        let subscriber = {
            let (topics, topic, listener) = (topics.clone(), topic.clone(), listener.clone());
            thread::spawn(move || topics.subscribe(&topic, &listener).is_ok())
        };
        let racing = block_on(publisher.publish(1));
        assert!(
            racing.undelivered.is_empty(),
            "the racing publish failed a delivery: {:?}",
            racing.undelivered
        );
        let delivered = racing.delivered;
        assert!(subscriber.join().unwrap(), "a fresh topic");
        let after = block_on(publisher.publish(2));
        assert_eq!(
            after.delivered, 1,
            "a publish ordered after subscribe returned did not deliver to the new subscriber"
        );
        end(&listener, &executor);
        let got = seen.load(SeqCst);
        assert_eq!(
            got,
            0b100 | ((delivered as u32) << 1),
            "the racing publish reported {delivered} deliveries; the subscriber got {got:#b}"
        );
        counts[delivered].fetch_add(1, Relaxed);
    });
    let [missed, delivered] = [0, 1].map(|i| outcomes[i].load(Relaxed));
    assert!(
        missed > 0 && delivered > 0,
        "the racing publish missed the subscriber in {missed} executions, delivered in {delivered}"
    );
}
