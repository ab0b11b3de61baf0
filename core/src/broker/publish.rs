//! What a publish is told and tells: [`PublishOptions`], [`PublishReport`].

use std::fmt;
use std::time::Duration;

use crate::cell::ActorId;

use super::SubscriptionId;

/// How long a publish waits, by default, for room in a full `Block` subscriber's mailbox:
/// 100 ms.
pub const DEFAULT_BLOCK_WAIT: Duration = Duration::from_millis(100);

/// Options of one [`publish_with`](super::MessageBroker::publish_with).
///
/// ```
/// use playhouse_core::{DEFAULT_BLOCK_WAIT, PublishOptions};
/// use std::time::Duration;
///
/// assert_eq!(PublishOptions::default().block_wait(), DEFAULT_BLOCK_WAIT);
/// let no_wait = PublishOptions::new().with_block_wait(Duration::ZERO);
/// assert_eq!(no_wait.block_wait(), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublishOptions {
    block_wait: Duration,
}

impl PublishOptions {
    /// The defaults: a [`block_wait`](PublishOptions::block_wait) of [`DEFAULT_BLOCK_WAIT`].
    pub const fn new() -> Self {
        PublishOptions {
            block_wait: DEFAULT_BLOCK_WAIT,
        }
    }

    /// Waits at most `wait` for room in full `Block` subscribers' mailboxes (all of them at
    /// once, each on its own actor's executor clock). The wait starts once the publish has
    /// yielded to the executor once and found them still full (see the broker's pub/sub
    /// docs). `Duration::ZERO` neither yields nor waits: a full `Block` subscriber is reported
    /// [`TimedOut`](UndeliveredReason::TimedOut) at once.
    pub const fn with_block_wait(mut self, wait: Duration) -> Self {
        self.block_wait = wait;
        self
    }

    /// How long a publish waits for room in a full `Block` subscriber's mailbox.
    pub const fn block_wait(&self) -> Duration {
        self.block_wait
    }
}

impl Default for PublishOptions {
    /// [`PublishOptions::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// Why a subscriber did not get a published message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UndeliveredReason {
    /// Its mailbox was full and the publish did not wait: its strategy is `Reject`, or it is
    /// `Block` and the publish runs on the thread of that subscriber's own handler (the
    /// subscriber publishing, or a task an executor polls inline inside that handler, as
    /// `SmolExecutor::block_on` called there does): only the handler's return could make room.
    Full,
    /// Its mailbox (`Block`) stayed full for the whole
    /// [`block_wait`](PublishOptions::block_wait).
    TimedOut,
    /// It has stopped or is stopping (its mailbox is closed). Its subscription is removed.
    Gone,
}

impl fmt::Display for UndeliveredReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UndeliveredReason::Full => "its mailbox was full",
            UndeliveredReason::TimedOut => "its mailbox stayed full until the wait ended",
            UndeliveredReason::Gone => "it has stopped",
        })
    }
}

/// A subscriber that did not get a published message, with the message handed back.
///
/// Its `Debug` does not require `M: Debug`.
pub struct Undelivered<M> {
    /// The subscribed actor.
    pub subscriber: ActorId,
    /// The subscription the publish went through (an actor subscribed twice has two).
    pub subscription: SubscriptionId,
    /// Why it did not get the message.
    pub reason: UndeliveredReason,
    /// The copy of the message that was meant for it.
    pub message: M,
}

impl<M> fmt::Debug for Undelivered<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Undelivered")
            .field("subscriber", &self.subscriber)
            .field("subscription", &self.subscription)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// What a [`publish`](super::MessageBroker::publish) did.
///
/// Every subscription the publish reached is counted once: in `delivered`, or in `undelivered`
/// with its reason and its copy of the message. A subscription unsubscribed before the publish
/// reached it is in neither (see the broker's docs on races). When the publish reached
/// none, [`no_subscribers`](PublishReport::no_subscribers) is `true` and the message is kept as
/// a dead letter ([`into_dead_letter`](PublishReport::into_dead_letter)).
///
/// Its `Debug` does not require `M: Debug`.
pub struct PublishReport<M> {
    /// Subscribers whose mailbox accepted the message. Under `DropNewest` that includes a full
    /// mailbox, which accepts and drops it (the actor's `dropped_count` counts it); under
    /// `DropOldest` it went in and an older message was dropped.
    pub delivered: usize,
    /// Subscribers that did not get it: first those that failed at once (`Full`, `Gone`), then
    /// those that were waited for (`TimedOut`, or `Gone` if they stopped meanwhile).
    pub undelivered: Vec<Undelivered<M>>,
    dead_letter: Option<M>,
}

impl<M> PublishReport<M> {
    /// A report of a publish that reached no subscriber: the message is the dead letter. (For
    /// broker implementations, as the two below.)
    pub fn dead_letter(msg: M) -> Self {
        PublishReport {
            delivered: 0,
            undelivered: Vec::new(),
            dead_letter: Some(msg),
        }
    }

    /// An empty report, to fill in.
    pub fn new() -> Self {
        PublishReport {
            delivered: 0,
            undelivered: Vec::new(),
            dead_letter: None,
        }
    }

    /// Keeps `msg` as the dead letter if the publish reached no subscriber.
    pub fn finish(mut self, msg: M) -> Self {
        if self.no_subscribers() {
            self.dead_letter = Some(msg);
        }
        self
    }

    /// `true` if the publish reached no subscriber: the topic had none (or none of the type
    /// published, or they were all unsubscribed before the publish reached them). The message
    /// is then a dead letter, for the broker to count.
    pub fn no_subscribers(&self) -> bool {
        self.delivered == 0 && self.undelivered.is_empty()
    }

    /// `true` if every subscriber reached got the message (also when there were none).
    pub fn all_delivered(&self) -> bool {
        self.undelivered.is_empty()
    }

    /// The message itself, if the publish reached no subscriber; `None` otherwise (the
    /// subscribers' copies that were not delivered are in `undelivered`).
    pub fn into_dead_letter(self) -> Option<M> {
        self.dead_letter
    }
}

impl<M> Default for PublishReport<M> {
    /// [`PublishReport::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<M> fmt::Debug for PublishReport<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishReport")
            .field("delivered", &self.delivered)
            .field("undelivered", &self.undelivered)
            .field("no_subscribers", &self.no_subscribers())
            .finish()
    }
}
