//! [`Publisher`]: a handle that publishes to one topic and keeps its subscriber snapshot between
//! publishes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use playhouse_core::TopicPublisher;

use crate::dead_letters::DeadLetters;

use super::publish::{Rest, deliver_now, delivered_report, rest};
use super::table::Snapshot;
use super::{PublishOptions, PublishReport, Topic, Topics};

/// Publishes to one topic of a [`Topics`] table, keeping the topic's subscriber snapshot
/// between publishes: a publish checks it with one atomic load, and takes the table's lock only
/// when the table changed since.
///
/// Made by [`Topics::publisher`] or
/// [`InMemoryBroker::publisher`](crate::InMemoryBroker::publisher). Its publishes deliver
/// exactly as [`Topics::publish_with`] does: the same [`PublishReport`], the same rules for
/// full, `Block`, gone and unsubscribed subscribers, and a subscriber found gone is removed
/// from the table. One made by the broker also counts dead letters as the broker's `publish`
/// does; one made by a table directly does not, as the table's own `publish` does not.
///
/// # How it stays right
///
/// The table keeps a version, bumped by every change of any topic's list (a subscribe, an
/// unsubscribe, the removal of an ended subscriber or of a topic) before that change's call
/// returns. A publish loads it; if it is the version the cached snapshot was taken at, the
/// snapshot is the topic's list and is used as it is (no lock, no reference count); otherwise
/// the publish takes a fresh snapshot under the lock, with the version it belongs to, and keeps
/// that. Beside the version, a subscription is marked inactive when it is unsubscribed or
/// removed, and every publish checks the mark before it delivers, so even a snapshot taken
/// before an `unsubscribe` never delivers to that subscription once `unsubscribe` has returned.
///
/// # Races
///
/// The same as the table's ([Races](Topics#races)): a publish that starts after
/// [`unsubscribe`](Topics::unsubscribe) returned never delivers to that subscription, and one
/// that starts after [`subscribe`](Topics::subscribe) returned always tries it. A publish
/// already under way when `unsubscribe` is called skips the subscription if it has not reached
/// it yet; if it has, that one message may still arrive after `unsubscribe` returned.
///
/// # What it holds
///
/// A handle to the table (as a clone of [`Topics`] is: the table lives while a publisher
/// does), and its cached snapshot, which holds strong references to the topic's subscribers as
/// they were when it was taken. It keeps that snapshot until its next publish sees that the
/// table changed, or until it is dropped: an actor unsubscribed or ended meanwhile is not
/// delivered to, but its reference (and so its mailbox) lives until then. While a publisher
/// holds a snapshot, a subscribe or unsubscribe on that topic copies the topic's list (O(N))
/// instead of changing it in place, as it does while a publish is under way.
///
/// `Send` and `Sync`; [`publish`](Publisher::publish) takes `&mut self` (it updates the cache).
/// A clone publishes to the same topic with a cache of its own: one per task that publishes.
///
/// # Cost
///
/// A publish while the table has not changed: one atomic load, then what every publish costs
/// per subscriber (a clone of the message and one `try_tell`, plus the load of the
/// subscription's mark). A publish after any change to the table (to any topic: the version is
/// the table's): one lock, the topic's lookup by name and one `Arc` clone, as
/// [`Topics::publish`], and the old snapshot dropped.
///
/// A publish that every subscriber takes at once finishes in the first poll of its future
/// ([`Publishing`]), one synchronous pass; at one subscriber it costs about what a `tell`
/// through a [`Recipient`](playhouse_core::Recipient) does (one indirect call to reach an actor
/// whose type the topic does not know): 1.0–1.1× in the runs of `benches/README.md`
/// ("Broker"). A publish that meets a full, gone or waited-for subscriber clones the table's
/// handle, the topic and the snapshot (three reference counts) into the boxed rest of its
/// journey.
///
/// # Example
///
/// ```
/// use playhouse_broker::pubsub::{Topic, Topics};
/// use playhouse_core::testing::{ThreadExecutor, block_on};
/// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
/// use std::convert::Infallible;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Price(u64);
///
/// // A subscriber: it takes `Price`s among its other messages.
/// struct Ticker(Vec<u64>);
/// enum TickerMsg { Price(Price), Seen(Reply<Vec<u64>>) }
/// impl From<Price> for TickerMsg { fn from(p: Price) -> Self { TickerMsg::Price(p) } }
/// impl TryFrom<TickerMsg> for Price {
///     type Error = TickerMsg;
///     fn try_from(m: TickerMsg) -> Result<Price, TickerMsg> {
///         match m { TickerMsg::Price(p) => Ok(p), other => Err(other) }
///     }
/// }
/// impl Actor for Ticker { type Message = TickerMsg; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Ticker {
///     async fn handle(&mut self, msg: TickerMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             TickerMsg::Price(Price(p)) => self.0.push(p),
///             TickerMsg::Seen(reply) => { let _ = reply.send(self.0.clone()); }
///         }
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
/// let topics = Topics::new();
/// let prices: Topic<Price> = Topic::new("prices");
/// let mut publisher = topics.publisher(&prices);
///
/// block_on(async {
///     // No subscriber yet: a dead letter, handed back.
///     let report = publisher.publish(Price(1)).await;
///     assert_eq!(report.into_dead_letter(), Some(Price(1)));
///
///     // A subscription made after the publisher: its next publish sees it.
///     let ticker = system.spawn(Ticker(Vec::new()));
///     let id = topics.subscribe(&prices, &ticker).unwrap();
///     assert_eq!(publisher.publish(Price(2)).await.delivered, 1);
///     assert_eq!(publisher.publish(Price(3)).await.delivered, 1); // the cached snapshot
///     assert_eq!(ticker.ask(TickerMsg::Seen).await.unwrap(), vec![2, 3]);
///
///     // Unsubscribed: the next publish does not deliver to it.
///     assert!(topics.unsubscribe(&prices, id));
///     assert!(publisher.publish(Price(4)).await.no_subscribers());
///     assert_eq!(ticker.ask(TickerMsg::Seen).await.unwrap(), vec![2, 3]);
/// });
/// ```
pub struct Publisher<M> {
    topics: Topics,
    topic: Topic<M>,
    /// The broker's dead letters, where the broker made it.
    dead_letters: Option<DeadLetters>,
    /// The table's version that `snapshot` belongs to.
    version: u64,
    /// The topic's list at `version`; `None`: it had no subscribers of type `M`.
    snapshot: Option<Snapshot<M>>,
}

impl Topics {
    /// A [`Publisher`] to `topic`: publishes as [`publish`](Topics::publish) does, keeping the
    /// topic's subscriber snapshot between publishes. It takes its first snapshot now.
    ///
    /// See [`Publisher`] for an example, and for what it holds on to.
    pub fn publisher<M>(&self, topic: &Topic<M>) -> Publisher<M>
    where
        M: Clone + Send + 'static,
    {
        Publisher::new(self.clone(), topic.clone(), None)
    }
}

impl<M> Publisher<M>
where
    M: Clone + Send + 'static,
{
    pub(crate) fn new(topics: Topics, topic: Topic<M>, dead_letters: Option<DeadLetters>) -> Self {
        let (version, snapshot) = topics.versioned_snapshot(&topic);
        Publisher {
            topics,
            topic,
            dead_letters,
            version,
            snapshot,
        }
    }

    /// Publishes `msg` with the default [`PublishOptions`]; see
    /// [`publish_with`](Publisher::publish_with).
    pub fn publish(&mut self, msg: M) -> Publishing<'_, M> {
        self.publish_with(msg, PublishOptions::default())
    }

    /// Publishes `msg` to the topic, as [`Topics::publish_with`] does (the same delivery
    /// rules, report and cancel safety), on the cached snapshot if the table has not changed
    /// since it was taken, on a fresh one otherwise. Nothing happens until the returned
    /// [`Publishing`] is polled.
    pub fn publish_with(&mut self, msg: M, options: PublishOptions) -> Publishing<'_, M> {
        Publishing {
            publisher: self,
            start: Some((msg, options)),
            rest: None,
        }
    }

    /// The topic it publishes to.
    pub fn topic(&self) -> &Topic<M> {
        &self.topic
    }

    /// Counts what `report` says could not be delivered in the broker's dead letters (for a
    /// publisher the broker made), and hands it on.
    #[inline(always)]
    fn recorded(&self, report: PublishReport<M>) -> PublishReport<M> {
        if let Some(dead_letters) = &self.dead_letters {
            dead_letters.record_publish(&self.topic, &report);
        }
        report
    }

    /// Takes a fresh snapshot if the table changed since the cached one was taken.
    #[inline]
    fn refresh(&mut self) {
        if self.topics.inner.version() != self.version {
            let (version, snapshot) = self.topics.versioned_snapshot(&self.topic);
            self.version = version;
            // The old snapshot is dropped here, with no lock held.
            self.snapshot = snapshot;
        }
    }
}

/// The future of [`Publisher::publish`] and [`Publisher::publish_with`]: resolves to the
/// publish's [`PublishReport`].
///
/// A named future rather than an `async fn`, so that a publish whose every subscriber takes its
/// copy at once is one synchronous pass in its first poll: the version check, the loop over
/// the snapshot and the report, with nothing carried through a state machine. A publish that
/// meets a full, gone or to-be-awaited subscriber goes on in a boxed future of its own (the
/// cold path, see [`Topics::publish_with`]'s costs).
///
/// # Cancel safety
///
/// As [`Topics::publish_with`]: dropped before its first poll, nothing is sent; dropped while
/// it waits for full `Block` subscribers, their copies are dropped unsent. Polled again after
/// it resolved (a misuse), it resolves at once with an empty report.
#[must_use = "a publish does nothing until awaited"]
pub struct Publishing<'a, M> {
    publisher: &'a mut Publisher<M>,
    /// The message and the options, until the first poll takes them.
    start: Option<(M, PublishOptions)>,
    /// The rest of a publish that could not finish in its first poll.
    rest: Option<Rest<M>>,
}

// Nothing in it is pinned: the message is moved out by value and the rest is boxed.
impl<M> Unpin for Publishing<'_, M> {}

impl<M> Future for Publishing<'_, M>
where
    M: Clone + Send + 'static,
{
    type Output = PublishReport<M>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PublishReport<M>> {
        let this = self.get_mut();
        if let Some((msg, options)) = this.start.take() {
            let publisher = &mut *this.publisher;
            publisher.refresh();
            let Some(entries) = &publisher.snapshot else {
                return Poll::Ready(publisher.recorded(PublishReport::dead_letter(msg)));
            };
            match deliver_now(entries, &msg) {
                Ok(delivered) => {
                    return Poll::Ready(publisher.recorded(delivered_report(delivered, msg)));
                }
                Err(stop) => {
                    this.rest = Some(rest(
                        publisher.topics.clone(),
                        publisher.topic.clone(),
                        entries.clone(),
                        stop,
                        msg,
                        options,
                    ));
                }
            }
        }
        let Some(rest) = this.rest.as_mut() else {
            // Polled again after it resolved: a misuse; an empty report rather than a panic.
            return Poll::Ready(PublishReport::new());
        };
        let report = std::task::ready!(rest.as_mut().poll(cx));
        this.rest = None;
        Poll::Ready(this.publisher.recorded(report))
    }
}

impl<M> fmt::Debug for Publishing<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.start, &self.rest) {
            (Some(_), _) => "start",
            (None, Some(_)) => "waiting",
            (None, None) => "done",
        };
        f.debug_struct("Publishing")
            .field("topic", &self.publisher.topic)
            .field("state", &state)
            .finish()
    }
}

/// The in-memory broker's [`MessageBroker::publisher`](playhouse_core::MessageBroker::publisher):
/// what code generic over its broker publishes through.
impl<M> TopicPublisher<M> for Publisher<M>
where
    M: Clone + Send + 'static,
{
    fn topic(&self) -> &Topic<M> {
        &self.topic
    }

    fn publish_with(
        &mut self,
        msg: M,
        options: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send + '_ {
        Publisher::publish_with(self, msg, options)
    }
}

impl<M> Clone for Publisher<M> {
    fn clone(&self) -> Self {
        Publisher {
            topics: self.topics.clone(),
            topic: self.topic.clone(),
            dead_letters: self.dead_letters.clone(),
            version: self.version,
            snapshot: self.snapshot.clone(),
        }
    }
}

impl<M> fmt::Debug for Publisher<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.topic)
            .field("version", &self.version)
            .field(
                "cached_subscribers",
                &self.snapshot.as_ref().map_or(0, |s| s.len()),
            )
            .field("counts_dead_letters", &self.dead_letters.is_some())
            .finish()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use playhouse_core::testing::{ThreadExecutor, block_on};
    use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
    use std::convert::Infallible;

    use super::*;
    use crate::InMemoryBroker;

    struct Log(Vec<u32>);
    enum LogMsg {
        Note(u32),
        Seen(Reply<Vec<u32>>),
    }
    impl From<u32> for LogMsg {
        fn from(n: u32) -> Self {
            LogMsg::Note(n)
        }
    }
    impl TryFrom<LogMsg> for u32 {
        type Error = LogMsg;
        fn try_from(m: LogMsg) -> Result<u32, LogMsg> {
            match m {
                LogMsg::Note(n) => Ok(n),
                other => Err(other),
            }
        }
    }
    impl Actor for Log {
        type Message = LogMsg;
        type Error = Infallible;
    }
    impl<V: Env> Handler<V> for Log {
        async fn handle(
            &mut self,
            msg: LogMsg,
            _: &mut Context<Self, V>,
        ) -> Result<(), Infallible> {
            match msg {
                LogMsg::Note(n) => self.0.push(n),
                LogMsg::Seen(reply) => {
                    let _ = reply.send(self.0.clone());
                }
            }
            Ok(())
        }
    }

    /// The second line of defence: a snapshot taken before an `unsubscribe`, used after it
    /// returned as if the table had not changed (the version check forced to pass), still does
    /// not deliver to the unsubscribed subscription, whose mark says it is gone.
    #[test]
    fn a_stale_snapshot_never_delivers_to_an_unsubscribed_subscription() {
        let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
        let topics = Topics::new();
        let topic = Topic::<u32>::new("notes");
        let log = system.spawn(Log(Vec::new()));
        let id = topics.subscribe(&topic, &log).unwrap();
        let mut publisher = topics.publisher(&topic);
        block_on(async {
            assert_eq!(publisher.publish(1).await.delivered, 1);
            assert!(topics.unsubscribe(&topic, id));
            // Pretend the change was not seen: the cached snapshot still lists the subscription.
            publisher.version = topics.inner.version();
            assert_eq!(publisher.snapshot.as_ref().map(|s| s.len()), Some(1));
            let report = publisher.publish(2).await;
            assert!(report.no_subscribers(), "{report:?}");
            assert_eq!(log.ask(LogMsg::Seen).await.unwrap(), vec![1]);
        });
    }

    /// Every change of the table bumps its version once the change is made: subscribe,
    /// unsubscribe, the removal of an ended subscriber; an unsubscribe that finds nothing does
    /// not.
    #[test]
    fn every_change_bumps_the_version() {
        let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
        let topics = Topics::new();
        let topic = Topic::<u32>::new("notes");
        let log = system.spawn(Log(Vec::new()));
        let v0 = topics.inner.version();
        let id = topics.subscribe(&topic, &log).unwrap();
        let v1 = topics.inner.version();
        assert!(v1 > v0);
        assert!(!topics.unsubscribe(&topic, crate::pubsub::SubscriptionId::next()));
        assert_eq!(topics.inner.version(), v1);
        assert!(topics.unsubscribe(&topic, id));
        let v2 = topics.inner.version();
        assert!(v2 > v1);
        topics.subscribe(&topic, &log).unwrap();
        let v3 = topics.inner.version();
        log.stop();
        block_on(log.wait());
        while topics.subscriber_count(&topic) != 0 {
            std::thread::yield_now();
        }
        assert!(topics.inner.version() > v3);
    }
}
