//! Dead letters: messages a broker could not deliver. [`DeadLetterKind`] says why,
//! [`DeadLetter`] is what a hook sees, [`DeadLetterCounts`] what a broker counts, and
//! [`DeadLetterSink`] where a [`Request`](super::Request) reports its late reply.

use std::fmt;

use super::request::CorrelationId;

/// Why a message was a dead letter.
///
/// ```
/// use playhouse_core::DeadLetterKind;
///
/// assert_eq!(DeadLetterKind::ALL.len(), 8);
/// assert_eq!(DeadLetterKind::LateReply.to_string(), "a reply came after its requester stopped waiting");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterKind {
    /// A request to a name under which no live actor is registered
    /// ([`RequestError::NotFound`](super::RequestError::NotFound)).
    NoSuchName,
    /// A message for an actor that has stopped or is stopping: a request that found its
    /// mailbox closed ([`RequestError::Closed`](super::RequestError::Closed)), a published
    /// copy for a subscriber found gone ([`UndeliveredReason::Gone`](super::UndeliveredReason::Gone)),
    /// or a message a keyed actor's activation had accepted and discarded unhandled when it
    /// ended (the backlog of a crash), reported as the activation ends.
    ActorGone,
    /// A publish that reached no subscriber
    /// ([`PublishReport::no_subscribers`](super::PublishReport::no_subscribers)).
    NoSubscribers,
    /// An answer given after its requester stopped waiting (the request timed out, or the
    /// requester gave up): [`Request::respond`](super::Request::respond) handed it back and it
    /// reached nobody.
    LateReply,
    /// A message whose deadline came before the actor would have handled it (an
    /// [`Expiring`](crate::mailbox::Expiring) mailbox): the actor never saw it, and a reply
    /// port inside it resolved with [`NoReply::Expired`](crate::NoReply::Expired). The target is
    /// the actor's id (`actor#N`); the core reports it through
    /// [`MessageBroker::report_dead_letter`](super::MessageBroker::report_dead_letter).
    Expired,
    /// A message another process refused: a distributed broker (`playhouse_nats`) reports it
    /// at the sender when the receiving node could not read it (damaged envelope, unknown
    /// version, too large, a type the actor does not take, a body that does not decode, a
    /// conversion that panicked) or found its mailbox full. (No actor under the name is
    /// [`NoSuchName`](Self::NoSuchName), an actor gone [`ActorGone`](Self::ActorGone).) The
    /// target is the name it was sent to. A topic's copy that the receiving node could not
    /// read, or that its subscriber's full `Reject` mailbox refused, is reported on that node,
    /// under the topic; a durable message given up is reported on the node that got it, under
    /// `group/key`.
    Rejected,
    /// A message a distributed broker's client dropped as it arrived, because the subscription
    /// it came for was too far behind (NATS's "slow consumer": an exported actor whose node
    /// cannot keep up). Reported on the receiving node; the target is the name or topic the
    /// subscription serves, the message type is not known (`"?"`), and the count is a lower
    /// bound (the client may also drop its notices of the drops).
    Overflowed,
    /// A message a keyed actor's activation had accepted and that a restart discarded
    /// unhandled with the rest of its queue (a supervision's
    /// [`Next::RestartDrained`](crate::Next::RestartDrained), as `DrainQueue` decides),
    /// reported as the restart discards it; the activation goes on. A reply port inside it
    /// resolved with [`NoReply::Drained`](crate::NoReply::Drained). The target is the key as
    /// `Debug` writes it.
    Drained,
}

impl DeadLetterKind {
    /// Every kind, in the order [`DeadLetterCounts`] lists them.
    pub const ALL: [DeadLetterKind; 8] = [
        DeadLetterKind::NoSuchName,
        DeadLetterKind::ActorGone,
        DeadLetterKind::NoSubscribers,
        DeadLetterKind::LateReply,
        DeadLetterKind::Expired,
        DeadLetterKind::Rejected,
        DeadLetterKind::Overflowed,
        DeadLetterKind::Drained,
    ];

    /// The kind's place in [`ALL`](DeadLetterKind::ALL): an index for a table of counters.
    pub const fn index(self) -> usize {
        match self {
            DeadLetterKind::NoSuchName => 0,
            DeadLetterKind::ActorGone => 1,
            DeadLetterKind::NoSubscribers => 2,
            DeadLetterKind::LateReply => 3,
            DeadLetterKind::Expired => 4,
            DeadLetterKind::Rejected => 5,
            DeadLetterKind::Overflowed => 6,
            DeadLetterKind::Drained => 7,
        }
    }
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadLetterKind::NoSuchName => "no live actor has the name",
            DeadLetterKind::ActorGone => "the actor has stopped",
            DeadLetterKind::NoSubscribers => "the topic has no subscribers",
            DeadLetterKind::LateReply => "a reply came after its requester stopped waiting",
            DeadLetterKind::Expired => "the message's deadline passed before the actor handled it",
            DeadLetterKind::Rejected => "another process refused the message",
            DeadLetterKind::Overflowed => "the receiving node's subscription was too far behind",
            DeadLetterKind::Drained => "a restart discarded the actor's queue",
        })
    }
}

/// A message that could not be delivered, as a dead-letter hook
/// ([`MessageBroker::on_dead_letter`](super::MessageBroker::on_dead_letter)) sees it. The
/// message itself is not here: where it could be, it went back to its sender (in the error or
/// the publish report).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeadLetter {
    /// Why it was not delivered.
    pub kind: DeadLetterKind,
    /// The name or topic it was sent to. For a late reply, the name the request went to if a
    /// hook was installed when the request was made, else the empty string (the broker keeps
    /// the name per request only while someone watches). For an expired message, the actor's
    /// id (`actor#N`, as [`ActorId`](crate::ActorId) displays it). For a message a keyed
    /// activation discarded, the key as `Debug` writes it.
    pub target: String,
    /// The message's type, as `std::any::type_name` writes it: the request or published
    /// message, or for a late reply the answer's type.
    pub message_type: &'static str,
    /// The request it belonged to: for a late reply, and for a request that found its actor
    /// gone; `None` otherwise.
    pub correlation: Option<CorrelationId>,
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dead letter ({}): a {} for {:?}",
            self.kind, self.message_type, self.target
        )?;
        if let Some(id) = self.correlation {
            write!(f, " ({id})")?;
        }
        Ok(())
    }
}

/// How many dead letters a broker has counted, per kind, since it was made.
///
/// ```
/// use playhouse_core::{DeadLetterCounts, DeadLetterKind};
///
/// let mut counts = DeadLetterCounts::default();
/// counts.late_replies = 2;
/// counts.no_such_name = 1;
/// assert_eq!(counts.get(DeadLetterKind::LateReply), 2);
/// assert_eq!(counts.total(), 3);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeadLetterCounts {
    /// [`DeadLetterKind::NoSuchName`].
    pub no_such_name: u64,
    /// [`DeadLetterKind::ActorGone`].
    pub actor_gone: u64,
    /// [`DeadLetterKind::NoSubscribers`].
    pub no_subscribers: u64,
    /// [`DeadLetterKind::LateReply`].
    pub late_replies: u64,
    /// [`DeadLetterKind::Expired`].
    pub expired: u64,
    /// [`DeadLetterKind::Rejected`].
    pub rejected: u64,
    /// [`DeadLetterKind::Overflowed`].
    pub overflowed: u64,
    /// [`DeadLetterKind::Drained`].
    pub drained: u64,
}

impl DeadLetterCounts {
    /// The count of one kind.
    pub fn get(&self, kind: DeadLetterKind) -> u64 {
        match kind {
            DeadLetterKind::NoSuchName => self.no_such_name,
            DeadLetterKind::ActorGone => self.actor_gone,
            DeadLetterKind::NoSubscribers => self.no_subscribers,
            DeadLetterKind::LateReply => self.late_replies,
            DeadLetterKind::Expired => self.expired,
            DeadLetterKind::Rejected => self.rejected,
            DeadLetterKind::Overflowed => self.overflowed,
            DeadLetterKind::Drained => self.drained,
        }
    }

    /// The count of one kind, to fill in (for broker implementations).
    pub fn get_mut(&mut self, kind: DeadLetterKind) -> &mut u64 {
        match kind {
            DeadLetterKind::NoSuchName => &mut self.no_such_name,
            DeadLetterKind::ActorGone => &mut self.actor_gone,
            DeadLetterKind::NoSubscribers => &mut self.no_subscribers,
            DeadLetterKind::LateReply => &mut self.late_replies,
            DeadLetterKind::Expired => &mut self.expired,
            DeadLetterKind::Rejected => &mut self.rejected,
            DeadLetterKind::Overflowed => &mut self.overflowed,
            DeadLetterKind::Drained => &mut self.drained,
        }
    }

    /// Every kind together.
    pub fn total(&self) -> u64 {
        DeadLetterKind::ALL.iter().map(|&k| self.get(k)).sum()
    }
}

/// Names one dead-letter hook, to remove it
/// ([`MessageBroker::remove_dead_letter_hook`](super::MessageBroker::remove_dead_letter_hook)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeadLetterHookId(u64);

impl DeadLetterHookId {
    /// The id numbered `n`, for a broker implementation to hand out.
    pub const fn from_u64(n: u64) -> Self {
        DeadLetterHookId(n)
    }

    /// The number behind the id.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// Where dead letters are recorded: a broker's counters and hooks, as a [`Request`](super::Request)
/// reaches them to report its late reply without naming the broker's type. For broker
/// implementations.
///
/// An implementation should be cheap when no hook watches (a counter increment, no
/// allocation), must not panic, and must not block.
pub trait DeadLetterSink: Send + Sync + 'static {
    /// Records one dead letter: `target` is the name or topic, `message_type` the message's
    /// type name, `correlation` the request's id if it belonged to one.
    fn dead_letter(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    );
}
