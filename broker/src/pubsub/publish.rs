//! Publishing: a copy of the message to each subscriber of a snapshot, by its mailbox's rules.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

use super::subscriber::{Attempt, Waiting};
use super::table::{Entry, Snapshot};
use super::{
    PublishOptions, PublishReport, SubscriptionId, Topic, Topics, Undelivered, UndeliveredReason,
};

impl Topics {
    /// Publishes `msg` to `topic` with the default [`PublishOptions`]: a full `Block` subscriber
    /// is waited for at most [`DEFAULT_BLOCK_WAIT`](super::DEFAULT_BLOCK_WAIT).
    ///
    /// See [`publish_with`](Topics::publish_with).
    pub async fn publish<M>(&self, topic: &Topic<M>, msg: M) -> PublishReport<M>
    where
        M: Clone + Send + 'static,
    {
        self.publish_with(topic, msg, PublishOptions::default())
            .await
    }

    /// Publishes `msg` to `topic`: a copy to each subscription, by the rules of its actor's
    /// mailbox, and a report of what happened.
    ///
    /// Each subscriber is first sent its copy without waiting. A mailbox with room takes it;
    /// a full one does what its strategy says: `DropNewest` and `DropOldest` drop a message
    /// and count it (reported delivered), `Unbounded` is never full, `Reject` refuses it
    /// (reported [`Full`](UndeliveredReason::Full), the copy handed back) without holding up the
    /// publisher. Full `Block` subscribers are then waited for, all at once, at most
    /// `options.block_wait()` each (on its actor's executor clock); those still full are
    /// reported [`TimedOut`](UndeliveredReason::TimedOut). A subscriber found stopped is
    /// reported [`Gone`](UndeliveredReason::Gone) and its subscription removed. Copies arrive
    /// in publish order at each subscriber (those it did not get are left out). A topic with no
    /// subscribers makes the message a dead letter
    /// ([`no_subscribers`](PublishReport::no_subscribers)), and so does one whose subscribers
    /// take another message type: a name carries one type while it has subscribers, and a
    /// `Topic<M>` of another type finds none of them (where `subscribe` would be refused with
    /// [`TopicError::WrongType`](super::TopicError::WrongType)).
    ///
    /// No lock is held while it sends or waits: it works on a snapshot of the topic's
    /// subscriptions taken when it starts (see [Races](Topics#races)).
    ///
    /// ```
    /// use playhouse_broker::pubsub::{PublishOptions, Topic, Topics, UndeliveredReason};
    /// use playhouse_core::mailbox::{Block, Bounded};
    /// use playhouse_core::testing::{ThreadExecutor, block_on};
    /// use playhouse_core::{Actor, Context, Env, Handler, System};
    /// use std::convert::Infallible;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// /// Takes each message only when its gate lets it (it has a thread of its own here).
    /// struct Gated(mpsc::Receiver<()>);
    /// impl Actor for Gated { type Message = u64; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Gated {
    ///     async fn handle(&mut self, _: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         let _ = self.0.recv();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
    /// let (gate, rx) = mpsc::channel();
    /// let slow = system.spawn_with(Gated(rx), Bounded::<Block>::with_capacity(1).unwrap());
    /// let topics = Topics::new();
    /// let ticks = Topic::<u64>::new("ticks");
    /// topics.subscribe(&ticks, &slow).unwrap();
    /// block_on(async {
    ///     slow.tell(1).await.unwrap(); // its handler holds 1 at the gate
    ///     slow.tell(2).await.unwrap(); // 2 waits in the mailbox: it is full
    ///
    ///     let no_wait = PublishOptions::new().with_block_wait(Duration::ZERO);
    ///     let report = topics.publish_with(&ticks, 3, no_wait).await;
    ///     assert_eq!(report.delivered, 0);
    ///     assert_eq!(report.undelivered[0].reason, UndeliveredReason::TimedOut);
    ///     assert_eq!(report.undelivered[0].message, 3); // handed back
    ///     assert!(!report.no_subscribers());
    /// });
    /// gate.send(()).unwrap();
    /// gate.send(()).unwrap();
    /// ```
    ///
    /// # Cost
    ///
    /// One lock to take the snapshot, then for each subscriber a clone of `msg` and one
    /// `try_tell`, in one synchronous loop. A subscriber that does not take its copy at once
    /// (full or gone) sends the rest of the publish into one boxed future; full `Block`
    /// subscribers then cost a boxed waiting send and a boxed timer each.
    ///
    /// Publishing again and again to one topic, a [`Publisher`](super::Publisher)
    /// ([`Topics::publisher`]) replaces the lock with one atomic load while the table does not
    /// change.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits for full `Block` subscribers drops their copies
    /// unsent; every other subscriber already has its copy (or was refused it).
    pub async fn publish_with<M>(
        &self,
        topic: &Topic<M>,
        msg: M,
        options: PublishOptions,
    ) -> PublishReport<M>
    where
        M: Clone + Send + 'static,
    {
        let Some(entries) = self.snapshot(topic) else {
            return PublishReport::dead_letter(msg);
        };
        // While every subscriber takes its copy at once, one synchronous loop that only
        // counts; the rest (a subscriber full, gone or to be waited for) in a boxed future, so
        // that this one stays small.
        match deliver_now(&entries, &msg) {
            Ok(delivered) => delivered_report(delivered, msg),
            Err(stop) => rest(self.clone(), topic.clone(), entries, stop, msg, options).await,
        }
    }
}

/// The rest of a publish that met a subscriber it could not simply hand its copy to (full,
/// gone, or to be waited for): boxed, off the common path.
pub(crate) type Rest<M> = Pin<Box<dyn Future<Output = PublishReport<M>> + Send>>;

/// The synchronous loop of a publish: a copy of `msg` to each subscription of `entries` that
/// takes it at once. `Ok` with the count if every one did (or was skipped, unsubscribed);
/// otherwise where it stopped, for [`Rest`] to go on from.
#[inline(always)]
pub(crate) fn deliver_now<M: Clone>(entries: &[Entry<M>], msg: &M) -> Result<usize, Stop<M>> {
    let mut delivered = 0;
    for (at, entry) in entries.iter().enumerate() {
        match entry.sub.try_deliver(msg) {
            Attempt::Delivered => delivered += 1,
            Attempt::Inactive => {}
            attempt => {
                return Err(Stop {
                    at,
                    attempt,
                    delivered,
                });
            }
        }
    }
    Ok(delivered)
}

/// The report of a publish whose every subscriber took its copy at once (`delivered` of them;
/// none: `msg` is the dead letter).
#[inline(always)]
pub(crate) fn delivered_report<M>(delivered: usize, msg: M) -> PublishReport<M> {
    let mut report = PublishReport::new();
    report.delivered = delivered;
    report.finish(msg)
}

/// Boxes [`deliver_rest`], which owns the table's handle, the topic and the snapshot (so that
/// a [`Publisher`](super::Publisher)'s future does not borrow the cache it may replace): out of
/// line, and the copies paid only by a publish that must go on.
#[cold]
#[inline(never)]
pub(crate) fn rest<M>(
    topics: Topics,
    topic: Topic<M>,
    entries: Snapshot<M>,
    stop: Stop<M>,
    msg: M,
    options: PublishOptions,
) -> Rest<M>
where
    M: Clone + Send + 'static,
{
    Box::pin(async move { deliver_rest(&topics, &topic, &entries, stop, msg, options).await })
}

/// Where the synchronous loop of a publish ([`deliver_now`]) stopped: the subscriber at `at`
/// answered `attempt`, those before it were `delivered` to (or skipped).
pub(crate) struct Stop<M> {
    at: usize,
    attempt: Attempt<M>,
    delivered: usize,
}

/// What a publish found so far: the report, the full `Block` subscribers to wait for (each
/// with its copy), and the subscriptions found gone.
struct Pass<'a, M> {
    report: PublishReport<M>,
    waiting: Vec<(&'a Entry<M>, M)>,
    gone: Vec<SubscriptionId>,
}

impl<'a, M: Clone> Pass<'a, M> {
    /// Adds what the attempt to deliver `msg` to `entry` gave.
    fn record(&mut self, entry: &'a Entry<M>, attempt: Attempt<M>, msg: &M) {
        let (reason, back) = match attempt {
            Attempt::Inactive => return,
            Attempt::Delivered => {
                self.report.delivered += 1;
                return;
            }
            Attempt::WouldWait(back) => {
                self.waiting
                    .push((entry, back.unwrap_or_else(|| msg.clone())));
                return;
            }
            Attempt::Full(back) => (UndeliveredReason::Full, back),
            Attempt::Closed(back) => {
                self.gone.push(entry.id);
                (UndeliveredReason::Gone, back)
            }
        };
        self.report
            .undelivered
            .push(undelivered(entry, reason, back, msg));
    }
}

/// The rest of a publish from where its synchronous loop ([`deliver_now`]) stopped: the
/// remaining subscribers without waiting, then the waits for room, then the removal of those
/// gone.
async fn deliver_rest<'a, M>(
    topics: &'a Topics,
    topic: &'a Topic<M>,
    entries: &'a [Entry<M>],
    stop: Stop<M>,
    msg: M,
    options: PublishOptions,
) -> PublishReport<M>
where
    M: Clone + Send + 'static,
{
    let Stop {
        at,
        attempt,
        delivered,
    } = stop;
    let mut pass = Pass {
        report: PublishReport::new(),
        waiting: Vec::new(),
        gone: Vec::new(),
    };
    pass.report.delivered = delivered;
    pass.record(&entries[at], attempt, &msg);
    for entry in &entries[at + 1..] {
        let attempt = entry.sub.try_deliver(&msg);
        pass.record(entry, attempt, &msg);
    }
    if !pass.waiting.is_empty() && !options.block_wait().is_zero() {
        // A full `Block` mailbox is most often one whose actor is ready to run and has not
        // yet: on a one-thread executor it cannot run before the publisher yields. Yielding
        // once and trying again before arming a timer for each spares the common case the
        // timers (a clock read, the timer wheel's insertion and removal) and their boxes.
        playhouse_core::yield_now().await;
        for (entry, copy) in std::mem::take(&mut pass.waiting) {
            let attempt = entry.sub.try_again(copy);
            pass.record(entry, attempt, &msg);
        }
    }
    if !pass.waiting.is_empty() {
        let waiting = std::mem::take(&mut pass.waiting);
        for (entry, result) in wait_for_room(waiting, options.block_wait()).await {
            match result {
                Ok(()) => pass.report.delivered += 1,
                Err((reason, back)) => {
                    if reason == UndeliveredReason::Gone {
                        pass.gone.push(entry.id);
                    }
                    pass.report
                        .undelivered
                        .push(undelivered(entry, reason, back, &msg));
                }
            }
        }
    }
    if !pass.gone.is_empty() {
        topics.remove_all(topic, &pass.gone);
    }
    pass.report.finish(msg)
}

/// Waits for room in the full `Block` mailboxes of `waiting`, all at once, at most `wait`
/// each; returns what came of each.
async fn wait_for_room<M>(
    waiting: Vec<(&Entry<M>, M)>,
    wait: std::time::Duration,
) -> Vec<(&Entry<M>, Outcome<M>)>
where
    M: Clone + Send + 'static,
{
    if wait.is_zero() {
        return waiting
            .into_iter()
            .map(|(entry, m)| (entry, Err((UndeliveredReason::TimedOut, Some(m)))))
            .collect();
    }
    join_all(
        waiting
            .into_iter()
            .map(|(entry, m)| (entry, entry.sub.deliver_within(m, wait)))
            .collect(),
    )
    .await
}

/// The report line of a subscriber that did not get `back` (or, if its message type did not
/// give the copy back, a fresh copy of `msg`).
fn undelivered<M: Clone>(
    entry: &Entry<M>,
    reason: UndeliveredReason,
    back: Option<M>,
    msg: &M,
) -> Undelivered<M> {
    Undelivered {
        subscriber: entry.sub.actor(),
        subscription: entry.id,
        reason,
        message: back.unwrap_or_else(|| msg.clone()),
    }
}

type Outcome<M> = Result<(), (UndeliveredReason, Option<M>)>;

/// One waiting delivery of [`join_all`]: still running, or its outcome.
enum Delivery<'a, M> {
    Waiting(Waiting<'a, M>),
    Done(Outcome<M>),
}

/// Runs the waiting deliveries together; returns each one's outcome, in order. A delivery is
/// dropped (its timer with it) as soon as it is done.
async fn join_all<'a, M>(
    waits: Vec<(&'a Entry<M>, Waiting<'a, M>)>,
) -> Vec<(&'a Entry<M>, Outcome<M>)> {
    let mut deliveries: Vec<(&Entry<M>, Delivery<'a, M>)> = waits
        .into_iter()
        .map(|(entry, fut)| (entry, Delivery::Waiting(fut)))
        .collect();
    poll_fn(|cx| {
        let mut all_done = true;
        for (_, delivery) in deliveries.iter_mut() {
            if let Delivery::Waiting(fut) = delivery {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(outcome) => *delivery = Delivery::Done(outcome),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    deliveries
        .into_iter()
        .filter_map(|(entry, delivery)| match delivery {
            Delivery::Done(outcome) => Some((entry, outcome)),
            Delivery::Waiting(_) => None,
        })
        .collect()
}
