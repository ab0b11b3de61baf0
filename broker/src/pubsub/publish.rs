//! Publishing: a copy of the message to each subscriber of a snapshot, by its mailbox's rules.

use std::future::poll_fn;
use std::task::Poll;

use super::subscriber::{Attempt, Waiting};
use super::table::Entry;
use super::{PublishOptions, PublishReport, Topic, Topics, Undelivered, UndeliveredReason};

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
    /// ([`no_subscribers`](PublishReport::no_subscribers)).
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
    /// `try_tell`. Only full `Block` subscribers cost more: a boxed waiting send and a boxed
    /// timer each.
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
        deliver(self, topic, &entries, msg, options).await
    }
}

/// Delivers `msg` to the subscriptions `entries` of `topic` (a snapshot of its list), removes
/// from `topics` those found gone, and reports: the body of every publish, by name
/// ([`Topics::publish_with`]) or through a [`Publisher`](super::Publisher).
pub(crate) async fn deliver<M>(
    topics: &Topics,
    topic: &Topic<M>,
    entries: &[Entry<M>],
    msg: M,
    options: PublishOptions,
) -> PublishReport<M>
where
    M: Clone + Send + 'static,
{
    let mut report = PublishReport::new();
    let mut waiting: Vec<(&Entry<M>, M)> = Vec::new();
    let mut gone = Vec::new();
    for entry in entries.iter() {
        let (reason, back) = match entry.sub.try_deliver(&msg) {
            Attempt::Inactive => continue,
            Attempt::Delivered => {
                report.delivered += 1;
                continue;
            }
            Attempt::WouldWait(back) => {
                waiting.push((entry, back.unwrap_or_else(|| msg.clone())));
                continue;
            }
            Attempt::Full(back) => (UndeliveredReason::Full, back),
            Attempt::Closed(back) => {
                gone.push(entry.id);
                (UndeliveredReason::Gone, back)
            }
        };
        report
            .undelivered
            .push(undelivered(entry, reason, back, &msg));
    }
    if !waiting.is_empty() {
        let wait = options.block_wait();
        let results = if wait.is_zero() {
            waiting
                .into_iter()
                .map(|(entry, m)| (entry, Err((UndeliveredReason::TimedOut, Some(m)))))
                .collect()
        } else {
            join_all(
                waiting
                    .into_iter()
                    .map(|(entry, m)| (entry, entry.sub.deliver_within(m, wait)))
                    .collect(),
            )
            .await
        };
        for (entry, result) in results {
            match result {
                Ok(()) => report.delivered += 1,
                Err((reason, back)) => {
                    if reason == UndeliveredReason::Gone {
                        gone.push(entry.id);
                    }
                    report
                        .undelivered
                        .push(undelivered(entry, reason, back, &msg));
                }
            }
        }
    }
    if !gone.is_empty() {
        topics.remove_all(topic, &gone);
    }
    report.finish(msg)
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
