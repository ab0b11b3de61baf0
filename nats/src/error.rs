//! The errors of a distributed broker's operations. Each names the condition and hands back
//! what the caller lost (the message, where it was not delivered).

use std::fmt;

use playhouse_core::NoReply;

use crate::codec::CodecError;
use crate::envelope::Rejection;

/// [`NatsBroker::connect`](crate::NatsBroker::connect) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration is not usable: a node name or prefix with characters NATS subjects
    /// cannot carry, a TTL shorter than the heartbeat or out of JetStream's range (100 ms to
    /// about 292 years), a message size limit of zero, a certificate or key file that cannot be
    /// read or holds no certificate (or key), an nkey seed that does not parse.
    InvalidConfig(String),
    /// The server refused the credentials (or none were given and it requires some).
    NotAuthorized(String),
    /// TLS failed: the server's certificate is not trusted, the server refused this node's
    /// client certificate (or its absence, under mutual TLS), or TLS is required and the
    /// server does not offer it.
    Tls(String),
    /// The server could not be reached within the connect timeout.
    Unreachable(String),
    /// Another live node already uses this node name; or, for up to the node TTL after it
    /// died, an earlier process of this node does (its last heartbeat has not expired yet):
    /// connect again after a short pause.
    NodeNameTaken {
        /// The name.
        name: String,
    },
    /// The server has no JetStream (the registry and leases live in its key-value buckets), or
    /// JetStream refused to make or open a bucket (the text says which, and why).
    JetStream(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::InvalidConfig(why) => write!(f, "invalid node configuration: {why}"),
            ConnectError::NotAuthorized(why) => {
                write!(f, "the NATS server refused the node's credentials: {why}")
            }
            ConnectError::Tls(why) => write!(f, "TLS with the NATS server failed: {why}"),
            ConnectError::Unreachable(why) => write!(f, "the NATS server is unreachable: {why}"),
            ConnectError::NodeNameTaken { name } => {
                write!(f, "a live node of the cluster is already named {name:?}")
            }
            ConnectError::JetStream(why) => write!(
                f,
                "JetStream did not serve the node (is nats-server running with JetStream \
                 enabled?): {why}"
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Exporting an actor under a cluster-wide name failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The name has characters a NATS subject cannot carry (letters, digits, `-`, `_` only;
    /// 1 to 128 bytes).
    InvalidName {
        /// The name.
        name: String,
    },
    /// A live actor on some node is exported under the name; or, from
    /// [`ShardedSpec::start`](crate::ShardedSpec::start), this node (`owner`) already serves,
    /// starts or stops a sharded group of that name.
    NameTaken {
        /// The name.
        name: String,
        /// The node that holds it.
        owner: String,
    },
    /// The actor has already ended, or is stopping (its mailbox takes no more messages).
    ActorGone,
    /// A sharded group's name is a valid token, but too long beside the cluster's prefix: the
    /// group's JetStream streams are named `KV_<prefix>_state_<group>` and
    /// `<prefix>_durable_<group>`, and JetStream takes 255 bytes at most, so the prefix and the
    /// group's name may have `limit` (245) bytes together.
    NameTooLong {
        /// The group's name.
        name: String,
        /// The cluster's prefix.
        prefix: String,
        /// The most bytes the prefix and the name may have together.
        limit: usize,
    },
    /// The export declared no message type to accept.
    NothingAccepted,
    /// The NATS server could not be reached or refused the operation.
    Nats(String),
    /// This node has left the cluster ([`NatsBroker::leave`](crate::NatsBroker::leave)): it
    /// serves nothing more.
    Left,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::InvalidName { name } => write!(
                f,
                "{name:?} is not a valid name (1 to 128 letters, digits, '-' or '_')"
            ),
            ExportError::NameTaken { name, owner } => {
                write!(f, "{name:?} is already taken on node {owner:?}")
            }
            ExportError::NameTooLong {
                name,
                prefix,
                limit,
            } => write!(
                f,
                "the group name {name:?} ({} bytes) is too long beside the prefix {prefix:?} \
                 ({} bytes): JetStream's stream names allow {limit} bytes for both together",
                name.len(),
                prefix.len()
            ),
            ExportError::ActorGone => f.write_str("the actor has ended or is stopping"),
            ExportError::NothingAccepted => f.write_str(
                "an export must accept at least one message type (tell, ask or protocol)",
            ),
            ExportError::Nats(why) => write!(f, "NATS error: {why}"),
            ExportError::Left => f.write_str("this node has left the cluster"),
        }
    }
}

impl std::error::Error for ExportError {}

/// A message to a remote actor was not delivered, or its answer did not come. The variants
/// that a local send has ([`Closed`](RemoteError::Closed), [`Full`](RemoteError::Full),
/// [`NoReply`](RemoteError::NoReply), [`Timeout`](RemoteError::Timeout)) mean what they mean
/// for [`AskError`](playhouse_core::AskError); the others are what a network adds. Where the
/// message was certainly not handled, it is handed back.
#[non_exhaustive]
pub enum RemoteError<M> {
    /// No node serves an actor under the name (NATS found nobody listening).
    NotFound {
        /// The name.
        name: String,
        /// The message, not delivered.
        msg: M,
    },
    /// The remote actor has ended or is ending; its mailbox is closed.
    Closed(M),
    /// The remote actor's mailbox is full (`Reject`, or a `Block` mailbox the node would not
    /// wait for).
    Full(M),
    /// The receiving node refused the message: it could not read it (damaged envelope, unknown
    /// version, too large for it, a body that does not decode), the actor does not accept its
    /// type, or turning it into the actor's message panicked there
    /// ([`Rejection::ConversionPanicked`]). A sharded group's key or a durable message's id
    /// that cannot be sent ([`Rejection::InvalidKey`], [`Rejection::Malformed`]) is refused
    /// the same way by this node, before anything is sent.
    Rejected {
        /// Why, as the receiving node said it (or this node, for a key or id it cannot send).
        reason: Rejection,
        /// The message, not handled.
        msg: M,
    },
    /// The actor took the request but no answer will come (it dropped the reply, panicked,
    /// stopped...).
    NoReply(NoReply),
    /// The timeout passed before an answer came. The request may or may not have been handled.
    Timeout,
    /// The encoded message is larger than the limit (this node's, or the server's
    /// `max_payload`); nothing was sent.
    TooLarge {
        /// The encoded size, envelope included (and, for a durable message, its id's header).
        size: usize,
        /// The limit.
        limit: usize,
        /// The message.
        msg: M,
    },
    /// The message could not be encoded; nothing was sent.
    Encode {
        /// The codec's error.
        error: CodecError,
        /// The message.
        msg: M,
    },
    /// The answer came but did not decode as the type asked for.
    Decode(CodecError),
    /// The actor handled the request, but its answer could not come back: the answering node
    /// could not encode it (the codec failed or panicked), it is larger than that node's
    /// limit, or (a keyed actor's) the node lost the key's lease before the answer went out,
    /// and withheld it ([`Rejection::AnswerUndeliverable`]). The message is not handed back:
    /// it was handled.
    AnswerLost {
        /// Why, as the answering node said it.
        reason: Rejection,
    },
    /// This node's inbox closed while the answer was awaited: the node left the cluster
    /// ([`NatsBroker::leave`](crate::NatsBroker::leave)) or its connection closed for good.
    /// No answer will be read. The request had been sent: it may or may not have been
    /// handled, as after a [`Timeout`](RemoteError::Timeout).
    InboxClosed,
    /// The node's connection is closed, this node has left the cluster
    /// ([`NatsBroker::leave`](crate::NatsBroker::leave)), or the message could not be handed to
    /// the connection; nothing was sent.
    Disconnected(M),
    /// The name (or group) sent to is not one a node can serve: names are subject tokens, 1 to
    /// 128 letters, digits, `-` or `_`. Nothing was sent.
    InvalidName {
        /// The name.
        name: String,
        /// The message.
        msg: M,
    },
}

impl<M> RemoteError<M> {
    /// `Decode` for an answer that did not decode as an `R`, naming `R` (an ask for the wrong
    /// answer type reads "the answer is not a `u64`", not only the codec's complaint).
    pub(crate) fn answer_not<R>(error: CodecError) -> Self {
        RemoteError::Decode(CodecError::new(format!(
            "the answer is not a {}: {}",
            crate::codec::short_name::<R>(),
            error.detail()
        )))
    }

    /// The message, if it was certainly not handled.
    pub fn into_message(self) -> Option<M> {
        match self {
            RemoteError::NotFound { msg, .. }
            | RemoteError::Closed(msg)
            | RemoteError::Full(msg)
            | RemoteError::Rejected { msg, .. }
            | RemoteError::TooLarge { msg, .. }
            | RemoteError::Encode { msg, .. }
            | RemoteError::Disconnected(msg)
            | RemoteError::InvalidName { msg, .. } => Some(msg),
            RemoteError::NoReply(_)
            | RemoteError::Timeout
            | RemoteError::Decode(_)
            | RemoteError::AnswerLost { .. }
            | RemoteError::InboxClosed => None,
        }
    }

    /// Whether the timeout passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RemoteError::Timeout)
    }

    /// Whether nobody serves the name.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoteError::NotFound { .. })
    }

    pub(crate) fn from_rejection(name: &str, reason: Rejection, msg: M) -> Self {
        match reason {
            Rejection::NotFound { .. } => RemoteError::NotFound {
                name: name.to_owned(),
                msg,
            },
            Rejection::MailboxFull => RemoteError::Full(msg),
            Rejection::ActorGone => RemoteError::Closed(msg),
            Rejection::NoReply(why) => RemoteError::NoReply(why.into()),
            // Handled: the message is not the asker's to send again.
            reason @ Rejection::AnswerUndeliverable { .. } => {
                crate::routes::discard(msg);
                RemoteError::AnswerLost { reason }
            }
            // Not handled: the conversion panicked before the actor saw anything.
            reason @ Rejection::ConversionPanicked { .. } => RemoteError::Rejected { reason, msg },
            reason => RemoteError::Rejected { reason, msg },
        }
    }
}

impl<M> fmt::Debug for RemoteError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::NotFound { name, .. } => f
                .debug_struct("NotFound")
                .field("name", name)
                .finish_non_exhaustive(),
            RemoteError::Closed(_) => f.write_str("Closed(..)"),
            RemoteError::Full(_) => f.write_str("Full(..)"),
            RemoteError::Rejected { reason, .. } => f
                .debug_struct("Rejected")
                .field("reason", reason)
                .finish_non_exhaustive(),
            RemoteError::NoReply(why) => f.debug_tuple("NoReply").field(why).finish(),
            RemoteError::Timeout => f.write_str("Timeout"),
            RemoteError::TooLarge { size, limit, .. } => Unsent::too_large(*size, *limit).debug(f),
            RemoteError::Encode { error, .. } => Unsent::Encode(error).debug(f),
            RemoteError::Decode(e) => f.debug_tuple("Decode").field(e).finish(),
            RemoteError::AnswerLost { reason } => f
                .debug_struct("AnswerLost")
                .field("reason", reason)
                .finish(),
            RemoteError::InboxClosed => f.write_str("InboxClosed"),
            RemoteError::Disconnected(_) => Unsent::Disconnected.debug(f),
            RemoteError::InvalidName { name, .. } => f
                .debug_struct("InvalidName")
                .field("name", name)
                .finish_non_exhaustive(),
        }
    }
}

impl<M> fmt::Display for RemoteError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::NotFound { name, .. } => {
                write!(f, "no node serves an actor under {name:?}")
            }
            RemoteError::Closed(_) => f.write_str("the remote actor has ended"),
            RemoteError::Full(_) => f.write_str("the remote actor's mailbox is full"),
            RemoteError::Rejected { reason, .. } => {
                write!(f, "the message was refused: {reason}")
            }
            RemoteError::NoReply(why) => write!(f, "no reply will come: {why}"),
            RemoteError::Timeout => f.write_str("no answer came from the remote node in time"),
            RemoteError::TooLarge { size, limit, .. } => Unsent::too_large(*size, *limit).fmt(f),
            RemoteError::Encode { error, .. } => Unsent::Encode(error).fmt(f),
            RemoteError::Decode(e) => write!(f, "the answer cannot be decoded: {e}"),
            RemoteError::AnswerLost { reason } => write!(f, "{reason}"),
            RemoteError::InboxClosed => f.write_str(
                "this node's inbox closed before the answer came (the request may have been handled)",
            ),
            RemoteError::Disconnected(_) => Unsent::Disconnected.fmt(f),
            RemoteError::InvalidName { name, .. } => write!(
                f,
                "{name:?} is not a valid name (1 to 128 letters, digits, '-' or '_'): nothing was sent"
            ),
        }
    }
}

impl<M> std::error::Error for RemoteError<M> {}

/// An ask through a [`RemoteActorRef`](crate::RemoteActorRef) (its
/// [`MessageTarget`](playhouse_core::MessageTarget) asks, which `#[actor]`'s helpers call)
/// that got no answer: why the message was not delivered or answered, or, for a request whose
/// answer is a `Result` (`ask_flat`), the handler's error.
#[non_exhaustive]
pub enum RemoteAskError<M, E = std::convert::Infallible> {
    /// Not delivered, or not answered: as for [`RemoteRef::ask`](crate::RemoteRef::ask). The
    /// message is handed back where it was certainly not handled.
    Remote(RemoteError<M>),
    /// The handler answered with an error.
    HandlerError(E),
}

impl<M, E> RemoteAskError<M, E> {
    /// An ask's answer that is a `Result`, with the handler's `Err(e)` as `HandlerError(e)`:
    /// what the `ask_flat` calls return.
    pub(crate) fn flatten<T>(answer: Result<Result<T, E>, RemoteError<M>>) -> Result<T, Self> {
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(RemoteAskError::HandlerError(e)),
            Err(e) => Err(RemoteAskError::Remote(e)),
        }
    }

    /// The handler's error, if the handler answered with one.
    pub fn handler_error(self) -> Option<E> {
        match self {
            RemoteAskError::HandlerError(e) => Some(e),
            RemoteAskError::Remote(_) => None,
        }
    }

    /// The request, if it was certainly not handled.
    pub fn into_message(self) -> Option<M> {
        match self {
            RemoteAskError::Remote(e) => e.into_message(),
            RemoteAskError::HandlerError(_) => None,
        }
    }

    /// Whether the timeout passed (the ask's own, or the node's
    /// [`ask_timeout`](crate::NodeConfig::ask_timeout)).
    pub fn is_timeout(&self) -> bool {
        matches!(self, RemoteAskError::Remote(RemoteError::Timeout))
    }

    /// Whether nobody serves the name.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoteAskError::Remote(e) if e.is_not_found())
    }
}

impl<M, E> From<RemoteError<M>> for RemoteAskError<M, E> {
    fn from(e: RemoteError<M>) -> Self {
        RemoteAskError::Remote(e)
    }
}

impl<M, E: fmt::Debug> fmt::Debug for RemoteAskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAskError::Remote(e) => f.debug_tuple("Remote").field(e).finish(),
            RemoteAskError::HandlerError(e) => f.debug_tuple("HandlerError").field(e).finish(),
        }
    }
}

impl<M, E: fmt::Display> fmt::Display for RemoteAskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAskError::Remote(e) => e.fmt(f),
            RemoteAskError::HandlerError(e) => write!(f, "the handler answered with an error: {e}"),
        }
    }
}

impl<M, E: fmt::Debug + fmt::Display> std::error::Error for RemoteAskError<M, E> {}

/// What a remote send ([`RemoteError`]) and a publish ([`PublishError`](crate::PublishError))
/// share: the message was not handed to NATS. One place for how both show it (their `Debug`
/// leaves the message out, so that it does not require `M: Debug`).
pub(crate) enum Unsent<'a> {
    TooLarge { size: usize, limit: usize },
    Encode(&'a CodecError),
    Disconnected,
}

impl Unsent<'_> {
    pub(crate) fn too_large(size: usize, limit: usize) -> Self {
        Unsent::TooLarge { size, limit }
    }

    /// The `Debug` of the error's variant of the same name.
    pub(crate) fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsent::TooLarge { size, limit } => f
                .debug_struct("TooLarge")
                .field("size", size)
                .field("limit", limit)
                .finish_non_exhaustive(),
            Unsent::Encode(error) => f
                .debug_struct("Encode")
                .field("error", error)
                .finish_non_exhaustive(),
            Unsent::Disconnected => f.write_str("Disconnected(..)"),
        }
    }
}

impl fmt::Display for Unsent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsent::TooLarge { size, limit } => {
                write!(f, "a {size}-byte message is over the {limit}-byte limit")
            }
            Unsent::Encode(error) => write!(f, "the message cannot be encoded: {error}"),
            Unsent::Disconnected => {
                f.write_str("the node is not connected to NATS (or has left the cluster)")
            }
        }
    }
}
