//! What a routed send or ask can fail with. Each error names the key and hands back the message
//! it could not deliver.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::spec::key_text;
use playhouse_core::NoReply;

/// Why an activation's factory failed, shared by every message that was waiting for it.
pub type ActivationCause = Arc<dyn Error + Send + Sync + 'static>;

/// Why [`Keyed::tell`](super::Keyed::tell), [`try_tell`](super::Keyed::try_tell) or
/// [`tell_timeout`](super::Keyed::tell_timeout) did not deliver a message. Every variant names
/// the key (as its `Debug` output) and hands the message back, but for one rare case of
/// [`Cancelled`](KeyedError::Cancelled) (the message lost with its task) and a
/// [`Timeout`](KeyedError::Timeout) whose message is already being delivered.
///
/// Its `Debug` does not require `M: Debug`.
///
/// ```
/// use playhouse_broker::keyed::{Keyed, KeyedError, KeyedSpec};
/// use playhouse_core::{Actor, Context, Env, Handler, System};
/// use std::convert::Infallible;
///
/// struct Account;
/// impl Actor for Account { type Message = u64; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Account {
///     async fn handle(&mut self, _: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> { Ok(()) }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let accounts: Keyed<u32, Account> = KeyedSpec::from_fn(|id: &u32| {
///     if *id == 0 { Err("account 0 does not exist") } else { Ok(Account) }
/// })
/// .start(&system);
///
/// playhouse_core::testing::block_on(async {
///     let err = accounts.tell(0, 25).await.unwrap_err();
///     assert!(err.is_activation_failed());
///     assert_eq!(err.key(), "0");
///     assert_eq!(err.to_string(), "activating key 0 failed: account 0 does not exist");
///     assert_eq!(err.into_message(), Some(25)); // handed back
///
///     // try_tell never activates a key:
///     let err = accounts.try_tell(&1, 5).unwrap_err();
///     assert!(matches!(err, KeyedError::Inactive { message: 5, .. }));
///     accounts.tell(1, 5).await.unwrap();
/// });
/// ```
pub enum KeyedError<M> {
    /// The key had no activation and its factory failed (returned `Err` or panicked). Nothing
    /// is kept of the attempt: the key stays inactive and its next message tries again. Every
    /// message that was waiting for this activation gets this error, with the same cause.
    ActivationFailed {
        /// The key, as its `Debug` output.
        key: String,
        /// What the factory failed with.
        cause: ActivationCause,
        /// The message, not delivered.
        message: M,
    },
    /// The key's mailbox is full: from `try_tell` on a `Block` or `Reject` mailbox, and from
    /// any send on a `Reject` mailbox.
    Full {
        /// The key, as its `Debug` output.
        key: String,
        /// The message, not delivered.
        message: M,
    },
    /// From `try_tell` only: the key has no running activation (never activated, passivated,
    /// still activating, or finishing its passivation). `try_tell` never waits, so it never
    /// activates a key; `tell` does.
    Inactive {
        /// The key, as its `Debug` output.
        key: String,
        /// The message, not delivered.
        message: M,
    },
    /// The key's new activation ended before it took the message: its `started` hook failed,
    /// it stopped itself at once, or the executor dropped its task (it was shutting down). The
    /// next message activates the key again. The message goes into the new mailbox before the
    /// `started` hook has run, so most often a hook that fails finds it already queued: the
    /// send then succeeded, and the message is discarded with the activation's queue, counted
    /// as an `ActorGone` dead letter (an ask's answer is `NoReply(Stopped)`). `Stopped` is
    /// the case where the end came first.
    Stopped {
        /// The key, as its `Debug` output.
        key: String,
        /// The message, not delivered.
        message: M,
    },
    /// The executor dropped the task activating the key (one that had to wait: for its
    /// factory, or for the previous activation's end; it was shutting down) before the
    /// message was delivered. The message is handed back, unless the task was handing that very
    /// message to the new activation when it was dropped (then `None`: it is gone).
    Cancelled {
        /// The key, as its `Debug` output.
        key: String,
        /// The message, if it could be recovered.
        message: Option<M>,
    },
    /// The send came from the factory that is activating this very key: the message could only
    /// be taken once the factory returns, which it never would while it waits. Refused at once,
    /// the message handed back (not sent). A factory that must see to its own key's first
    /// messages can return them with the actor (its `started` hook can send them to itself).
    Deadlock {
        /// The key, as its `Debug` output.
        key: String,
        /// The message, not sent.
        message: M,
    },
    /// From [`tell_timeout`](super::Keyed::tell_timeout) only: the timeout passed first. The
    /// message is handed back if it was still waiting for the key's activation (taken back out
    /// of its queue) or for room in a full `Block` mailbox, and will not be delivered; `None`
    /// if the activation had already taken it to hand it over, which it will.
    Timeout {
        /// The key, as its `Debug` output.
        key: String,
        /// The message, if it was taken back undelivered.
        message: Option<M>,
    },
}

impl<M> KeyedError<M> {
    /// The key the message was for, as its `Debug` output.
    pub fn key(&self) -> &str {
        match self {
            KeyedError::ActivationFailed { key, .. }
            | KeyedError::Full { key, .. }
            | KeyedError::Inactive { key, .. }
            | KeyedError::Stopped { key, .. }
            | KeyedError::Cancelled { key, .. }
            | KeyedError::Deadlock { key, .. }
            | KeyedError::Timeout { key, .. } => key,
        }
    }

    /// The message that was not delivered (`None` only for a [`Cancelled`](KeyedError::Cancelled)
    /// send whose message was lost with its task, and a [`Timeout`](KeyedError::Timeout) whose
    /// message the activation had already taken).
    pub fn into_message(self) -> Option<M> {
        match self {
            KeyedError::ActivationFailed { message, .. }
            | KeyedError::Full { message, .. }
            | KeyedError::Inactive { message, .. }
            | KeyedError::Stopped { message, .. }
            | KeyedError::Deadlock { message, .. } => Some(message),
            KeyedError::Cancelled { message, .. } | KeyedError::Timeout { message, .. } => message,
        }
    }

    /// The message that was not delivered, by reference.
    pub fn message(&self) -> Option<&M> {
        match self {
            KeyedError::ActivationFailed { message, .. }
            | KeyedError::Full { message, .. }
            | KeyedError::Inactive { message, .. }
            | KeyedError::Stopped { message, .. }
            | KeyedError::Deadlock { message, .. } => Some(message),
            KeyedError::Cancelled { message, .. } | KeyedError::Timeout { message, .. } => {
                message.as_ref()
            }
        }
    }

    /// What the factory failed with, for [`ActivationFailed`](KeyedError::ActivationFailed).
    pub fn cause(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match self {
            KeyedError::ActivationFailed { cause, .. } => Some(&**cause),
            _ => None,
        }
    }

    /// `true` for [`ActivationFailed`](KeyedError::ActivationFailed).
    pub fn is_activation_failed(&self) -> bool {
        matches!(self, KeyedError::ActivationFailed { .. })
    }

    /// `true` for [`Full`](KeyedError::Full).
    pub fn is_full(&self) -> bool {
        matches!(self, KeyedError::Full { .. })
    }

    /// `true` for [`Inactive`](KeyedError::Inactive).
    pub fn is_inactive(&self) -> bool {
        matches!(self, KeyedError::Inactive { .. })
    }

    /// `true` for [`Timeout`](KeyedError::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, KeyedError::Timeout { .. })
    }

    /// `true` for [`Deadlock`](KeyedError::Deadlock).
    pub fn is_deadlock(&self) -> bool {
        matches!(self, KeyedError::Deadlock { .. })
    }
}

impl<M> fmt::Debug for KeyedError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedError::ActivationFailed { key, cause, .. } => f
                .debug_struct("ActivationFailed")
                .field("key", key)
                .field("cause", cause)
                .finish_non_exhaustive(),
            KeyedError::Full { key, .. } => f
                .debug_struct("Full")
                .field("key", key)
                .finish_non_exhaustive(),
            KeyedError::Inactive { key, .. } => f
                .debug_struct("Inactive")
                .field("key", key)
                .finish_non_exhaustive(),
            KeyedError::Stopped { key, .. } => f
                .debug_struct("Stopped")
                .field("key", key)
                .finish_non_exhaustive(),
            KeyedError::Cancelled { key, message } => f
                .debug_struct("Cancelled")
                .field("key", key)
                .field("message_recovered", &message.is_some())
                .finish(),
            KeyedError::Deadlock { key, .. } => f
                .debug_struct("Deadlock")
                .field("key", key)
                .finish_non_exhaustive(),
            KeyedError::Timeout { key, message } => f
                .debug_struct("Timeout")
                .field("key", key)
                .field("handed_back", &message.is_some())
                .finish(),
        }
    }
}

impl<M> fmt::Display for KeyedError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedError::ActivationFailed { key, cause, .. } => {
                write!(f, "activating key {key} failed: {cause}")
            }
            KeyedError::Full { key, .. } => write!(f, "the mailbox of key {key} is full"),
            KeyedError::Inactive { key, .. } => write!(
                f,
                "key {key} has no running activation (try_tell does not activate keys; tell does)"
            ),
            KeyedError::Stopped { key, .. } => write!(
                f,
                "the new activation of key {key} ended before it took the message"
            ),
            KeyedError::Cancelled { key, .. } => write!(
                f,
                "the task activating key {key} was dropped before it delivered the message"
            ),
            KeyedError::Deadlock { key, .. } => write!(
                f,
                "the factory activating key {key} sent to that key; the message could never be taken"
            ),
            KeyedError::Timeout {
                key,
                message: Some(_),
            } => write!(f, "the send to key {key} timed out before it was delivered"),
            KeyedError::Timeout { key, message: None } => write!(
                f,
                "the send to key {key} timed out; the key's activation has the message and will deliver it"
            ),
        }
    }
}

impl<M> Error for KeyedError<M> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            KeyedError::ActivationFailed { cause, .. } => Some(&**cause),
            _ => None,
        }
    }
}

/// Why [`Keyed::ask`](super::Keyed::ask) (or [`ask_flat`](super::Keyed::ask_flat), or
/// [`ask_timeout`](super::Keyed::ask_timeout)) returned no answer: the request was not
/// delivered (with the request handed back), it was and no answer will come, the timeout
/// passed, or the handler answered with an error.
///
/// `E` is the handler's error of an [`ask_flat`](super::Keyed::ask_flat); for the other asks
/// it is [`Infallible`] and [`HandlerError`](KeyedAskError::HandlerError) cannot occur.
///
/// Its `Debug` does not require `M: Debug`.
pub enum KeyedAskError<M, E = Infallible> {
    /// The request did not reach an activation of the key; the error says why and holds it.
    NotDelivered(KeyedError<M>),
    /// The key's activation took the request, but no answer will come: it stopped, failed or
    /// panicked first, or dropped the reply port.
    NoReply {
        /// The key, as its `Debug` output.
        key: String,
        /// Why no answer will come.
        reason: NoReply,
    },
    /// The key's own activation asked its own key from its handler or a hook. The request
    /// could only be handled after that code returns, which it would never do while it waits
    /// for the answer, so the ask fails at once and hands the request back (it was not sent),
    /// as [`AskError::Deadlock`](playhouse_core::AskError::Deadlock) does for an actor's
    /// reference. "Own" covers the activation running, one whose `started` hook runs while the
    /// key is still activating, one being passivated whose end the key's next activation
    /// waits for, and the factory making the key's activation (whose request would wait for
    /// the factory to return).
    Deadlock {
        /// The key, as its `Debug` output.
        key: String,
        /// The request, not sent.
        message: M,
    },
    /// The timeout of an [`ask_timeout`](super::Keyed::ask_timeout) passed first. `message` is
    /// the request, handed back, if it had not reached the key's actor: it was still waiting
    /// for the key's activation (a slow factory, or the previous activation finishing) or for
    /// room in a full `Block` mailbox, and it will not be delivered. `None` if the actor had
    /// it: it may still be handled, and its answer is dropped.
    Timeout {
        /// The key, as its `Debug` output.
        key: String,
        /// The request, if it was taken back undelivered.
        message: Option<M>,
    },
    /// The key's handler answered with an error (asks whose answer is a `Result`, made with
    /// [`ask_flat`](super::Keyed::ask_flat)).
    HandlerError {
        /// The key, as its `Debug` output.
        key: String,
        /// What the handler answered.
        error: E,
    },
}

impl<M, E> KeyedAskError<M, E> {
    /// The key asked, as its `Debug` output.
    pub fn key(&self) -> &str {
        match self {
            KeyedAskError::NotDelivered(e) => e.key(),
            KeyedAskError::NoReply { key, .. }
            | KeyedAskError::Deadlock { key, .. }
            | KeyedAskError::Timeout { key, .. }
            | KeyedAskError::HandlerError { key, .. } => key,
        }
    }

    /// The request, if it was not delivered.
    pub fn into_message(self) -> Option<M> {
        match self {
            KeyedAskError::NotDelivered(e) => e.into_message(),
            KeyedAskError::Deadlock { message, .. } => Some(message),
            KeyedAskError::Timeout { message, .. } => message,
            KeyedAskError::NoReply { .. } | KeyedAskError::HandlerError { .. } => None,
        }
    }

    /// `true` for [`Timeout`](KeyedAskError::Timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, KeyedAskError::Timeout { .. })
    }

    /// Why the request was not delivered, if routing it failed.
    pub fn send_error(&self) -> Option<&KeyedError<M>> {
        match self {
            KeyedAskError::NotDelivered(e) => Some(e),
            _ => None,
        }
    }

    /// The handler's error, for [`HandlerError`](KeyedAskError::HandlerError).
    pub fn handler_error(self) -> Option<E> {
        match self {
            KeyedAskError::HandlerError { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The same failure with another handler error type: an ask that cannot fail
    /// (`E = Infallible`) fits where a fallible one's error is expected.
    pub fn map_handler_error<E2>(self, f: impl FnOnce(E) -> E2) -> KeyedAskError<M, E2> {
        match self {
            KeyedAskError::NotDelivered(e) => KeyedAskError::NotDelivered(e),
            KeyedAskError::NoReply { key, reason } => KeyedAskError::NoReply { key, reason },
            KeyedAskError::Deadlock { key, message } => KeyedAskError::Deadlock { key, message },
            KeyedAskError::Timeout { key, message } => KeyedAskError::Timeout { key, message },
            KeyedAskError::HandlerError { key, error } => KeyedAskError::HandlerError {
                key,
                error: f(error),
            },
        }
    }
}

/// Why a routed message did not reach its key's mailbox, inside the crate: a send's error, an
/// ask refused because the asker is the actor it would wait for, or a timed ask's deadline.
pub(crate) enum Undelivered<M> {
    /// What the sender is told.
    Error(KeyedError<M>),
    /// The ask was made from the code of the key's own activation: the one running, the one
    /// finishing its passivation that the key's next activation waits for, or the one just
    /// spawned and still in its `started` hook; or from the factory of the key's activation
    /// under way, as a send or an ask. Its answer could only come after the asker returns.
    OwnKey(M),
    /// A timed send's or ask's deadline passed while the message waited for the key's
    /// activation or for room in its mailbox: the message if it was taken back, `None` if the
    /// activation already had it in hand.
    TimedOut(Option<M>),
}

impl<M> From<KeyedError<M>> for Undelivered<M> {
    fn from(e: KeyedError<M>) -> Self {
        Undelivered::Error(e)
    }
}

impl<M> Undelivered<M> {
    /// What an ask of `key` fails with.
    pub(crate) fn into_ask_error<E>(self, key: &impl fmt::Debug) -> KeyedAskError<M, E> {
        match self {
            Undelivered::Error(e) => KeyedAskError::NotDelivered(e),
            Undelivered::OwnKey(message) => KeyedAskError::Deadlock {
                key: key_text(&key),
                message,
            },
            Undelivered::TimedOut(message) => KeyedAskError::Timeout {
                key: key_text(&key),
                message,
            },
        }
    }

    /// What a send of `key` fails with. A send names no asker, so only the key's own factory
    /// has its send refused so.
    pub(crate) fn into_send_error(self, key: &impl fmt::Debug) -> KeyedError<M> {
        match self {
            Undelivered::Error(e) => e,
            Undelivered::OwnKey(message) => KeyedError::Deadlock {
                key: key_text(&key),
                message,
            },
            Undelivered::TimedOut(message) => KeyedError::Timeout {
                key: key_text(&key),
                message,
            },
        }
    }
}

impl<M, E> From<KeyedError<M>> for KeyedAskError<M, E> {
    fn from(e: KeyedError<M>) -> Self {
        KeyedAskError::NotDelivered(e)
    }
}

impl<M, E: fmt::Debug> fmt::Debug for KeyedAskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedAskError::NotDelivered(e) => f.debug_tuple("NotDelivered").field(e).finish(),
            KeyedAskError::NoReply { key, reason } => f
                .debug_struct("NoReply")
                .field("key", key)
                .field("reason", reason)
                .finish(),
            KeyedAskError::Deadlock { key, .. } => f
                .debug_struct("Deadlock")
                .field("key", key)
                .finish_non_exhaustive(),
            KeyedAskError::Timeout { key, message } => f
                .debug_struct("Timeout")
                .field("key", key)
                .field("handed_back", &message.is_some())
                .finish(),
            KeyedAskError::HandlerError { key, error } => f
                .debug_struct("HandlerError")
                .field("key", key)
                .field("error", error)
                .finish(),
        }
    }
}

impl<M, E: fmt::Display> fmt::Display for KeyedAskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedAskError::NotDelivered(e) => fmt::Display::fmt(e, f),
            KeyedAskError::NoReply { key, reason } => {
                write!(
                    f,
                    "key {key} took the request but will not answer: {reason}"
                )
            }
            KeyedAskError::Deadlock { key, .. } => write!(
                f,
                "key {key} was asked by its own activation (a handler, a hook or its factory); the ask could never be answered"
            ),
            KeyedAskError::Timeout {
                key,
                message: Some(_),
            } => write!(
                f,
                "the ask of key {key} timed out before the request was delivered"
            ),
            KeyedAskError::Timeout { key, message: None } => {
                write!(
                    f,
                    "the ask of key {key} timed out; the key has the request and may still handle it"
                )
            }
            KeyedAskError::HandlerError { key, error } => {
                write!(f, "key {key} answered with an error: {error}")
            }
        }
    }
}

impl<M, E: Error + 'static> Error for KeyedAskError<M, E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            KeyedAskError::NotDelivered(e) => e.source(),
            KeyedAskError::NoReply { reason, .. } => Some(reason),
            KeyedAskError::Deadlock { .. } | KeyedAskError::Timeout { .. } => None,
            KeyedAskError::HandlerError { error, .. } => Some(error),
        }
    }
}

/// The cause of an activation whose factory panicked.
#[derive(Debug)]
pub(crate) struct FactoryPanicked(pub(crate) String);

impl fmt::Display for FactoryPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the factory panicked: {}", self.0)
    }
}

impl Error for FactoryPanicked {}

/// The cause of an activation whose factory did not finish within the set's
/// [`activation_timeout`](super::KeyedSpec::activation_timeout): find it with
/// `cause.downcast_ref::<ActivationTimedOut>()` on
/// [`KeyedError::ActivationFailed`]'s cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationTimedOut {
    /// The limit it overran.
    pub after: Duration,
}

impl fmt::Display for ActivationTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the factory did not finish within {:?}", self.after)
    }
}

impl Error for ActivationTimedOut {}

/// The cause of an activation cut off because the set's executor shut down (its runtime was
/// dropped). Seen by a sender that runs the activation itself after the shutdown (from outside
/// the runtime), in two cases:
///
/// - the factory is not ready at once and the set has an
///   [`activation_timeout`](super::KeyedSpec::activation_timeout): the factory will never be
///   polled again, the activation's timer ends at once, and this says why;
/// - the factory made the actor: it is not spawned on the dead runtime (its task would be
///   dropped unrun), so no activation is made or counted.
///
/// Find it with `cause.downcast_ref::<ExecutorShutDown>()` on
/// [`KeyedError::ActivationFailed`]'s cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorShutDown;

impl fmt::Display for ExecutorShutDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the executor shut down before the activation's actor could start")
    }
}

impl Error for ExecutorShutDown {}

/// The cause of an activation whose restart policy or supervision could not be made: its maker
/// panicked.
#[derive(Debug)]
pub(crate) struct RestartPolicyPanicked(pub(crate) String);

impl fmt::Display for RestartPolicyPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "making the restart policy or supervision panicked: {}",
            self.0
        )
    }
}

impl Error for RestartPolicyPanicked {}

/// A panic's message, when it was a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
