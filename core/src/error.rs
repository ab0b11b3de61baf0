//! The errors of sending, asking and configuring. Each hands back what the caller lost.

use std::convert::Infallible;
use std::fmt;

/// A message that was not accepted by the mailbox, handed back to the sender.
///
/// Its `Debug` does not require `M: Debug`.
pub enum SendError<M> {
    /// The actor has stopped (or is stopping) and its mailbox no longer accepts messages.
    Closed(M),
    /// The mailbox is full: returned by `try_tell` on a `Block` mailbox, and by any send on a
    /// `Reject` mailbox.
    Full(M),
}

impl<M> SendError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            SendError::Closed(m) | SendError::Full(m) => m,
        }
    }

    /// `true` if the actor's mailbox was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, SendError::Closed(_))
    }

    /// `true` if the mailbox was full.
    pub fn is_full(&self) -> bool {
        matches!(self, SendError::Full(_))
    }
}

impl<M> PartialEq for SendError<M>
where
    M: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SendError::Closed(a), SendError::Closed(b))
            | (SendError::Full(a), SendError::Full(b)) => a == b,
            _ => false,
        }
    }
}

impl<M> Eq for SendError<M> where M: Eq {}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Full(_) => f.write_str("Full(..)"),
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("the actor's mailbox is closed"),
            SendError::Full(_) => f.write_str("the actor's mailbox is full"),
        }
    }
}

impl<M> std::error::Error for SendError<M> {}

/// A message that a send at a priority level
/// ([`ActorRef::tell_at`](crate::ActorRef::tell_at),
/// [`try_tell_at`](crate::ActorRef::try_tell_at)) did not deliver, handed back to the sender.
///
/// Its `Debug` does not require `M: Debug`.
///
/// ```
/// use playhouse_core::mailbox::{Bounded, Mailbox, Prioritized, Reject};
/// use playhouse_core::SendAtError;
///
/// let queue = Bounded::<Prioritized<Reject, 2>>::with_capacity(1).unwrap().queue::<u32>();
/// let err = queue.try_send_at(5, 7).unwrap_err();
/// assert_eq!(err.to_string(), "priority level 5 does not exist: the mailbox has levels 0 to 1");
/// assert_eq!(err.into_inner(), 7);
/// queue.try_send_at(1, 8).unwrap();
/// assert_eq!(queue.try_send_at(1, 9), Err(SendAtError::Full(9)));
/// ```
pub enum SendAtError<M> {
    /// The actor has stopped (or is stopping) and its mailbox no longer accepts messages.
    Closed(M),
    /// The mailbox is full: `try_tell_at` on a `Block` mailbox, any send on a `Reject` one.
    Full(M),
    /// The mailbox has no such level: `level` is not below its number of `levels`. Nothing
    /// was sent.
    NoSuchLevel {
        /// The level asked for.
        level: usize,
        /// How many levels the mailbox has (`0` to `levels - 1`).
        levels: usize,
        /// The message, handed back.
        msg: M,
    },
}

impl<M> SendAtError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            SendAtError::Closed(m) | SendAtError::Full(m) => m,
            SendAtError::NoSuchLevel { msg, .. } => msg,
        }
    }

    /// `true` if the actor's mailbox was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, SendAtError::Closed(_))
    }

    /// `true` if the mailbox was full.
    pub fn is_full(&self) -> bool {
        matches!(self, SendAtError::Full(_))
    }

    /// `true` if the mailbox has no such level.
    pub fn is_no_such_level(&self) -> bool {
        matches!(self, SendAtError::NoSuchLevel { .. })
    }
}

impl<M> From<SendError<M>> for SendAtError<M> {
    fn from(e: SendError<M>) -> Self {
        match e {
            SendError::Closed(m) => SendAtError::Closed(m),
            SendError::Full(m) => SendAtError::Full(m),
        }
    }
}

impl<M: PartialEq> PartialEq for SendAtError<M> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SendAtError::Closed(a), SendAtError::Closed(b))
            | (SendAtError::Full(a), SendAtError::Full(b)) => a == b,
            (
                SendAtError::NoSuchLevel {
                    level: l1,
                    levels: n1,
                    msg: a,
                },
                SendAtError::NoSuchLevel {
                    level: l2,
                    levels: n2,
                    msg: b,
                },
            ) => l1 == l2 && n1 == n2 && a == b,
            _ => false,
        }
    }
}

impl<M: Eq> Eq for SendAtError<M> {}

impl<M> fmt::Debug for SendAtError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendAtError::Closed(_) => f.write_str("Closed(..)"),
            SendAtError::Full(_) => f.write_str("Full(..)"),
            SendAtError::NoSuchLevel { level, levels, .. } => f
                .debug_struct("NoSuchLevel")
                .field("level", level)
                .field("levels", levels)
                .finish_non_exhaustive(),
        }
    }
}

impl<M> fmt::Display for SendAtError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendAtError::Closed(_) => f.write_str("the actor's mailbox is closed"),
            SendAtError::Full(_) => f.write_str("the actor's mailbox is full"),
            SendAtError::NoSuchLevel { level, levels, .. } => write!(
                f,
                "priority level {level} does not exist: the mailbox has levels 0 to {}",
                levels - 1
            ),
        }
    }
}

impl<M> std::error::Error for SendAtError<M> {}

/// A message that a timed send ([`ActorRef::tell_timeout`](crate::ActorRef::tell_timeout),
/// [`Recipient::tell_timeout`](crate::Recipient::tell_timeout)) did not deliver, handed back to
/// the sender.
///
/// Its `Debug` does not require `M: Debug`.
pub enum SendTimeoutError<M> {
    /// The actor has stopped (or is stopping) and its mailbox no longer accepts messages; also
    /// when it closes while the send waits for room.
    Closed(M),
    /// The mailbox is full and its strategy is `Reject`.
    Full(M),
    /// The mailbox (`Block`) stayed full for the whole timeout.
    Timeout(M),
}

impl<M> SendTimeoutError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            SendTimeoutError::Closed(m)
            | SendTimeoutError::Full(m)
            | SendTimeoutError::Timeout(m) => m,
        }
    }

    /// `true` if the actor's mailbox was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, SendTimeoutError::Closed(_))
    }

    /// `true` if the mailbox was full under `Reject`.
    pub fn is_full(&self) -> bool {
        matches!(self, SendTimeoutError::Full(_))
    }

    /// `true` if the timeout passed while the send waited for room.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }
}

impl<M> From<SendError<M>> for SendTimeoutError<M> {
    fn from(e: SendError<M>) -> Self {
        match e {
            SendError::Closed(m) => SendTimeoutError::Closed(m),
            SendError::Full(m) => SendTimeoutError::Full(m),
        }
    }
}

impl<M: PartialEq> PartialEq for SendTimeoutError<M> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SendTimeoutError::Closed(a), SendTimeoutError::Closed(b))
            | (SendTimeoutError::Full(a), SendTimeoutError::Full(b))
            | (SendTimeoutError::Timeout(a), SendTimeoutError::Timeout(b)) => a == b,
            _ => false,
        }
    }
}

impl<M: Eq> Eq for SendTimeoutError<M> {}

impl<M> fmt::Debug for SendTimeoutError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendTimeoutError::Closed(_) => "Closed(..)",
            SendTimeoutError::Full(_) => "Full(..)",
            SendTimeoutError::Timeout(_) => "Timeout(..)",
        })
    }
}

impl<M> fmt::Display for SendTimeoutError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendTimeoutError::Closed(_) => "the actor's mailbox is closed",
            SendTimeoutError::Full(_) => "the actor's mailbox is full",
            SendTimeoutError::Timeout(_) => "the actor's mailbox stayed full until the timeout",
        })
    }
}

impl<M> std::error::Error for SendTimeoutError<M> {}

/// Why a reply port was dropped without a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoReply {
    /// The handler dropped the reply port without answering (or returned `Err` before it did).
    Dropped,
    /// The handler panicked while it held the reply port.
    Panicked,
    /// The actor ended before it handled the message (it was killed, stopped itself, or its
    /// mailbox was discarded), or it ended while holding the port.
    Stopped,
    /// The mailbox dropped the message that carried the port (`DropNewest` or `DropOldest`).
    Overflow,
    /// The actor restarted and its supervisor discarded what was queued for the failed
    /// incarnation (a child spec that drains its mailbox on restart).
    Drained,
    /// The request's deadline came before the actor would have handled it (an
    /// [`Expiring`](crate::mailbox::Expiring) mailbox): the actor never saw it.
    Expired,
}

impl fmt::Display for NoReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoReply::Dropped => "the handler dropped the reply port without answering",
            NoReply::Panicked => "the actor panicked before answering",
            NoReply::Stopped => "the actor stopped before answering",
            NoReply::Overflow => "the mailbox dropped the request because it was full",
            NoReply::Drained => "the actor restarted and its queued requests were discarded",
            NoReply::Expired => "the request's deadline passed before the actor would handle it",
        })
    }
}

impl std::error::Error for NoReply {}

/// Why an [`ask`](crate::ActorRef::ask) returned no value.
///
/// An ask always resolves: with the reply, or with one of these. Where the request never entered
/// the mailbox, the message (with the reply port inside) is handed back.
///
/// `E` is the error a handler answers with, for asks whose reply is a `Result`
/// ([`ask_flat`](crate::ActorRef::ask_flat)): the handler's `Err(e)` arrives as
/// [`HandlerError(e)`](AskError::HandlerError), so a caller has one error to handle with `?`.
/// For other asks it is [`Infallible`] and the variant cannot occur (a `match` may leave it out).
pub enum AskError<M, E = Infallible> {
    /// The actor's mailbox is closed; the request is handed back.
    Closed(M),
    /// The mailbox is full and its strategy is `Reject`; the request is handed back.
    Full(M),
    /// The request was accepted but no reply will come.
    NoReply(NoReply),
    /// The timeout passed. Holds the request if it was still waiting for room in a full
    /// `Block` mailbox (so it was never delivered); `None` if the actor had it.
    Timeout(Option<M>),
    /// An actor asked itself from its own handler or hook. The request could only be handled
    /// after that handler returns, which it would never do while it waits for the answer, so the
    /// ask fails at once; the request is handed back (it was not sent). Use
    /// [`Context::notify`](crate::Context::notify) to send to oneself, or handle the request
    /// inline.
    Deadlock(M),
    /// The handler answered with an error (asks whose reply is a `Result`).
    HandlerError(E),
}

impl<M, E> AskError<M, E> {
    /// An ask's answer that is a `Result`, with the handler's `Err(e)` as `HandlerError(e)`:
    /// what the `ask_flat` calls return.
    pub(crate) fn flatten<T>(answer: Result<Result<T, E>, AskError<M>>) -> Result<T, Self> {
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(AskError::HandlerError(e)),
            Err(e) => Err(e.map_handler_error(|never| match never {})),
        }
    }

    /// `true` for `Timeout`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, AskError::Timeout(_))
    }

    /// The request, if it never reached the actor.
    pub fn into_message(self) -> Option<M> {
        match self {
            AskError::Closed(m)
            | AskError::Full(m)
            | AskError::Deadlock(m)
            | AskError::Timeout(Some(m)) => Some(m),
            AskError::NoReply(_) | AskError::Timeout(None) | AskError::HandlerError(_) => None,
        }
    }

    /// The handler's error, for `HandlerError`.
    pub fn handler_error(self) -> Option<E> {
        match self {
            AskError::HandlerError(e) => Some(e),
            _ => None,
        }
    }

    /// The same failure with another handler error type: an ask that cannot fail
    /// (`E = Infallible`) fits where a fallible one's error is expected.
    pub fn map_handler_error<E2>(self, f: impl FnOnce(E) -> E2) -> AskError<M, E2> {
        match self {
            AskError::Closed(m) => AskError::Closed(m),
            AskError::Full(m) => AskError::Full(m),
            AskError::NoReply(r) => AskError::NoReply(r),
            AskError::Timeout(m) => AskError::Timeout(m),
            AskError::Deadlock(m) => AskError::Deadlock(m),
            AskError::HandlerError(e) => AskError::HandlerError(f(e)),
        }
    }
}

impl<M, E> From<SendError<M>> for AskError<M, E> {
    fn from(e: SendError<M>) -> Self {
        match e {
            SendError::Closed(m) => AskError::Closed(m),
            SendError::Full(m) => AskError::Full(m),
        }
    }
}

impl<M, E: PartialEq> PartialEq for AskError<M, E>
where
    M: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (AskError::Closed(a), AskError::Closed(b))
            | (AskError::Full(a), AskError::Full(b))
            | (AskError::Deadlock(a), AskError::Deadlock(b)) => a == b,
            (AskError::NoReply(a), AskError::NoReply(b)) => a == b,
            (AskError::Timeout(a), AskError::Timeout(b)) => a == b,
            (AskError::HandlerError(a), AskError::HandlerError(b)) => a == b,
            _ => false,
        }
    }
}

impl<M, E: fmt::Debug> fmt::Debug for AskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Closed(_) => f.write_str("Closed(..)"),
            AskError::Full(_) => f.write_str("Full(..)"),
            AskError::NoReply(r) => f.debug_tuple("NoReply").field(r).finish(),
            AskError::Timeout(Some(_)) => f.write_str("Timeout(Some(..))"),
            AskError::Timeout(None) => f.write_str("Timeout(None)"),
            AskError::Deadlock(_) => f.write_str("Deadlock(..)"),
            AskError::HandlerError(e) => f.debug_tuple("HandlerError").field(e).finish(),
        }
    }
}

impl<M, E: fmt::Display> fmt::Display for AskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Closed(_) => f.write_str("the actor's mailbox is closed"),
            AskError::Full(_) => f.write_str("the actor's mailbox is full"),
            AskError::NoReply(r) => write!(f, "no reply: {r}"),
            AskError::Timeout(_) => f.write_str("the ask timed out"),
            AskError::Deadlock(_) => f.write_str(
                "an actor asked itself from its own handler; the ask could never be answered",
            ),
            AskError::HandlerError(e) => write!(f, "the actor answered with an error: {e}"),
        }
    }
}

impl<M, E: fmt::Debug + fmt::Display + std::error::Error + 'static> std::error::Error
    for AskError<M, E>
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AskError::NoReply(r) => Some(r),
            AskError::HandlerError(e) => Some(e),
            _ => None,
        }
    }
}

/// A mailbox configuration that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxConfigError {
    /// A bounded mailbox needs room for at least one message.
    ZeroCapacity,
}

impl fmt::Display for MailboxConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailboxConfigError::ZeroCapacity => {
                f.write_str("a bounded mailbox needs a capacity of at least 1")
            }
        }
    }
}

impl std::error::Error for MailboxConfigError {}
