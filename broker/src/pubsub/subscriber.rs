//! A subscription: its id, and the subscribed actor with its type and mailbox erased.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use playhouse_core::mailbox::{Mailbox, OnFull, Strategy};
use playhouse_core::{Actor, ActorId, ActorRef, SendError};

use crate::sync::atomic::{AtomicBool, Ordering};

use super::UndeliveredReason;

/// What one non-waiting delivery did. A message handed back is `None` only if the actor's
/// message type's `TryInto<M>` did not give back what its `From<M>` built; the publish then
/// hands back a fresh copy instead.
pub(crate) enum Attempt<M> {
    /// Unsubscribed (or removed) since the publish took its snapshot: skipped, nothing sent.
    Inactive,
    /// The mailbox accepted it.
    Delivered,
    /// The mailbox is full under `Block`: the caller may wait for room.
    WouldWait(Option<M>),
    /// The mailbox is full under `Reject`.
    Full(Option<M>),
    /// The mailbox is closed.
    Closed(Option<M>),
}

/// A delivery waiting for room, boxed (the cold path).
pub(crate) type Waiting<'a, M> =
    Pin<Box<dyn Future<Output = Result<(), (UndeliveredReason, Option<M>)>> + Send + 'a>>;

/// A subscriber of messages `M`, whatever its actor and mailbox types.
pub(crate) trait Subscriber<M>: Send + Sync {
    /// The subscribed actor.
    fn actor(&self) -> ActorId;
    /// Marks it unsubscribed: a publish that took its snapshot earlier skips it.
    fn deactivate(&self);
    /// `false` once [`deactivate`](Subscriber::deactivate)d.
    fn is_active(&self) -> bool;
    /// Delivers a copy of `msg` without waiting, unless unsubscribed meanwhile (one call per
    /// subscriber and publish: the check, the copy and the send).
    fn try_deliver(&self, msg: &M) -> Attempt<M>;
    /// Tries again, without waiting, a copy the publish already tried (it found the mailbox
    /// full) and kept. The subscription's mark is not looked at again: the publish reached it
    /// before any `unsubscribe` made since, as a publish that waits for room does (see the
    /// table's races), so an actor that ended meanwhile is reported gone, not skipped.
    fn try_again(&self, msg: M) -> Attempt<M>;
    /// Delivers `msg`, waiting at most `wait` for room (on the actor's executor clock).
    fn deliver_within(&self, msg: M, wait: Duration) -> Waiting<'_, M>;
}

/// The subscribed actor's strong reference (a subscription keeps its actor alive, as a
/// `Recipient` does) and whether the subscription still holds.
pub(crate) struct Subscription<A: Actor, MB: Mailbox> {
    actor: ActorRef<A, MB>,
    active: AtomicBool,
}

impl<A: Actor, MB: Mailbox> Subscription<A, MB> {
    pub(crate) fn new(actor: ActorRef<A, MB>) -> Self {
        Subscription {
            actor,
            active: AtomicBool::new(true),
        }
    }

    /// Sends `msg` without waiting (the subscription was found active).
    #[inline(always)]
    fn send_now<M>(&self, msg: M) -> Attempt<M>
    where
        A::Message: From<M> + TryInto<M>,
    {
        match self.actor.try_tell(A::Message::from(msg)) {
            Ok(()) => Attempt::Delivered,
            Err(SendError::Full(m)) => {
                if matches!(<MB::Strategy as Strategy>::ON_FULL, OnFull::Wait) {
                    Attempt::WouldWait(back::<A, M>(m))
                } else {
                    Attempt::Full(back::<A, M>(m))
                }
            }
            Err(SendError::Closed(m)) => Attempt::Closed(back::<A, M>(m)),
        }
    }
}

/// The message a failed send hands back, as the `M` it was built from, if the conversion
/// gives it back.
fn back<A: Actor, M>(m: A::Message) -> Option<M>
where
    A::Message: TryInto<M>,
{
    m.try_into().ok()
}

impl<A, MB, M> Subscriber<M> for Subscription<A, MB>
where
    A: Actor,
    MB: Mailbox,
    M: Clone + Send + 'static,
    A::Message: From<M> + TryInto<M>,
{
    fn actor(&self) -> ActorId {
        self.actor.id()
    }

    fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
    }

    fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    fn try_deliver(&self, msg: &M) -> Attempt<M> {
        if !self.active.load(Ordering::Acquire) {
            return Attempt::Inactive;
        }
        self.send_now(msg.clone())
    }

    fn try_again(&self, msg: M) -> Attempt<M> {
        self.send_now(msg)
    }

    fn deliver_within(&self, msg: M, wait: Duration) -> Waiting<'_, M> {
        let send = self.actor.tell_timeout(A::Message::from(msg), wait);
        Box::pin(async move {
            send.await.map_err(|e| {
                let reason = if e.is_timeout() {
                    UndeliveredReason::TimedOut
                } else if e.is_closed() {
                    UndeliveredReason::Gone
                } else {
                    UndeliveredReason::Full
                };
                (reason, back::<A, M>(e.into_inner()))
            })
        })
    }
}
