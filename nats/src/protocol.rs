//! [`RemoteProtocol`]: an actor's whole message type, reply ports included, as it crosses
//! processes, so that a [`RemoteActorRef`](crate::RemoteActorRef) is a
//! [`MessageTarget`](playhouse_core::MessageTarget) of that type and `#[actor]`'s helpers work
//! on a remote actor as on a local one.
//!
//! A reply port cannot be serialized: it is one end of a channel in the asking process. So a
//! message type says how it crosses in four small steps, each of which knows its concrete
//! types (which a generic ask does not):
//!
//! - on the sending node, [`encode`](RemoteProtocol::encode) writes the variant and its fields,
//!   leaving the reply port out;
//! - on the receiving node, [`decode`](RemoteProtocol::decode) reads them back and takes a
//!   fresh reply port from the [`ReplyPort`] it is given: the node encodes what the actor
//!   sends into it and publishes that as the answer;
//! - back on the sending node, [`answer`](RemoteProtocol::answer) decodes the answer's bytes
//!   as the reply's type and sends the value into the message's own reply port, which the ask
//!   is waiting on;
//! - [`is_request`](RemoteProtocol::is_request) says whether a message carries a reply port
//!   (it is then sent as a request, and its answer awaited).
//!
//! The message stays with the sender until its answer comes, so every error hands it back,
//! as a local ask's does.

use playhouse_core::{Reply, ReplyReceiver, reply_port};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, CodecError};
use crate::envelope::Rejection;
use crate::error::RemoteError;
use crate::routes::{Answer, catch};

/// An actor's message type, reply ports included, as it crosses processes: what makes a
/// [`RemoteActorRef`](crate::RemoteActorRef) of it a
/// [`MessageTarget`](playhouse_core::MessageTarget), and what
/// [`Export::protocol`](crate::Export::protocol) serves. `#[actor(remote)]` writes it for an
/// `#[actor]`'s message enum; `docs/distribution.md` ("One reference for the whole protocol")
/// says how a message and its answer cross.
///
/// An implementation writes the fields through two serde enums that mirror the message, one
/// borrowing (to encode without moving the message, which every error must hand back) and one
/// owning (to decode), with the reply ports left out; serde encodes a `&T` as a `T`, so the
/// two agree on the wire. Every node must build the type from the same definition.
///
/// ```
/// use playhouse_core::Reply;
/// use playhouse_nats::{Codec, CodecError, RemoteProtocol, ReplyPort, answer_reply};
/// use serde::{Deserialize, Serialize};
///
/// pub enum CounterMsg {
///     Add(u64),
///     Get(Reply<u64>),
/// }
///
/// #[derive(Serialize)]
/// enum WireRef<'a> { Add(&'a u64), Get }
/// #[derive(Deserialize)]
/// enum Wire { Add(u64), Get }
///
/// impl RemoteProtocol for CounterMsg {
///     fn encode<C: Codec>(&self, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError> {
///         let wire = match self {
///             CounterMsg::Add(n) => WireRef::Add(n),
///             CounterMsg::Get(_) => WireRef::Get,
///         };
///         codec.encode(&wire, out)
///     }
///
///     fn decode<C: Codec>(codec: &C, body: &[u8], port: &mut ReplyPort<C>) -> Result<Self, CodecError> {
///         Ok(match codec.decode::<Wire>(body)? {
///             Wire::Add(n) => CounterMsg::Add(n),
///             Wire::Get => CounterMsg::Get(port.reply()),
///         })
///     }
///
///     fn answer<C: Codec>(self, codec: &C, body: &[u8]) -> Result<(), CodecError> {
///         match self {
///             CounterMsg::Get(reply) => answer_reply(reply, codec, body),
///             CounterMsg::Add(_) => Ok(()),
///         }
///     }
///
///     fn is_request(&self) -> bool {
///         matches!(self, CounterMsg::Get(_))
///     }
/// }
/// ```
///
/// # Panics in its methods
///
/// None unwinds into the crate's tasks or the caller's:
/// - a panicking [`encode`](RemoteProtocol::encode) or
///   [`is_request`](RemoteProtocol::is_request) fails the send with
///   [`RemoteError::Encode`] (nothing sent, the message handed back);
/// - a panicking [`decode`](RemoteProtocol::decode) on the receiving node is refused with
///   [`Rejection::ConversionPanicked`], and the node goes on serving;
/// - a panicking [`answer`](RemoteProtocol::answer) fails the ask with
///   [`RemoteError::Decode`] (for a tell of a request, the port is dropped: its holder sees
///   `NoReply`).
pub trait RemoteProtocol: Send + Sized + 'static {
    /// Appends the message's variant and fields, without its reply port, to `out`, with
    /// `codec`.
    ///
    /// # Errors
    ///
    /// The codec's, if a field cannot be encoded (the message is then not sent).
    fn encode<C: Codec>(&self, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Reads back what [`encode`](RemoteProtocol::encode) wrote, on the receiving node; a
    /// variant that carries a reply port takes a fresh one from
    /// [`port.reply()`](ReplyPort::reply).
    ///
    /// # Errors
    ///
    /// The codec's, if `body` is not such a message: the sender gets
    /// [`Rejection::Decode`].
    fn decode<C: Codec>(
        codec: &C,
        body: &[u8],
        port: &mut ReplyPort<C>,
    ) -> Result<Self, CodecError>;

    /// Sends the answer that came back, the bytes that the receiving node encoded from the
    /// value its actor replied, into this message's reply port: usually
    /// [`answer_reply(reply, codec, body)`](answer_reply). Called on the sending node, only
    /// for a message that [`is_request`](RemoteProtocol::is_request); one without a port
    /// returns `Ok(())`.
    ///
    /// # Errors
    ///
    /// The codec's, if `body` is not the reply's type: the ask fails with
    /// [`RemoteError::Decode`].
    fn answer<C: Codec>(self, codec: &C, body: &[u8]) -> Result<(), CodecError>;

    /// Whether the message carries a reply port (so that it is sent as a request, and its
    /// answer awaited).
    fn is_request(&self) -> bool;
}

/// Decodes `body` as a `T` and sends it into `reply`: the usual body of
/// [`RemoteProtocol::answer`]. Nobody waiting on the port any more (the ask was dropped) is
/// not an error.
///
/// # Errors
///
/// The codec's, if `body` is not a `T`.
pub fn answer_reply<T, C>(reply: Reply<T>, codec: &C, body: &[u8]) -> Result<(), CodecError>
where
    T: DeserializeOwned + Send,
    C: Codec,
{
    let value = codec.decode::<T>(body)?;
    let _ = reply.send(value);
    Ok(())
}

/// Where a message decoded on the receiving node takes its reply port:
/// [`RemoteProtocol::decode`] calls [`reply`](ReplyPort::reply) for a variant that carries
/// one ([`reply_result`](ReplyPort::reply_result) for one answered with a `Result`). The node
/// then encodes whatever the actor sends into that port and publishes it as the answer (or, if
/// the actor drops the port, the reason no answer comes). For a durable message
/// ([`ShardedSpec::durable_protocol`](crate::ShardedSpec::durable_protocol)) the answer goes
/// to nobody: the port only says whether the message was handled, which confirms it.
pub struct ReplyPort<C> {
    codec: C,
    answer: Option<Answer>,
    /// The port of a durable message: its answer is not encoded, only read as a confirmation.
    confirming: bool,
}

impl<C: Codec> ReplyPort<C> {
    pub(crate) fn new(codec: &C) -> Self {
        ReplyPort {
            codec: codec.clone(),
            answer: None,
            confirming: false,
        }
    }

    /// The port of a durable message: see [`ShardedSpec::durable_protocol`](crate::ShardedSpec::durable_protocol).
    pub(crate) fn confirming(codec: &C) -> Self {
        ReplyPort {
            confirming: true,
            ..ReplyPort::new(codec)
        }
    }

    /// A reply port whose answer goes back to the asking node, encoded with the node's
    /// codec. A message has one: a second port taken for the same message is not connected
    /// to anything (what is sent into it is dropped, and its `send` says so). For a durable
    /// message, any answer confirms it.
    pub fn reply<T: Serialize + Send + 'static>(&mut self) -> Reply<T> {
        let (reply, rx) = reply_port::<T>();
        if self.answer.is_none() {
            self.answer = Some(match self.confirming {
                true => Box::pin(async move {
                    match rx.await {
                        Ok(_) => Ok(Vec::new()),
                        Err(no) => Err(Rejection::NoReply(no.into())),
                    }
                }),
                false => {
                    let codec = self.codec.clone();
                    Box::pin(async move {
                        match rx.await {
                            Ok(value) => crate::routes::encode_answer(&codec, &value),
                            Err(no) => Err(Rejection::NoReply(no.into())),
                        }
                    })
                }
            });
        }
        reply
    }

    /// [`reply`](ReplyPort::reply) for a message answered with a `Result` (what
    /// `#[actor(remote)]` takes for a method that returns one): the same answer to an ask, but
    /// a durable message is confirmed by an `Ok` alone. An `Err` answer leaves it stored, to be
    /// delivered again (a state that could not be saved, say), up to the group's
    /// [`Redelivery::max_deliveries`](crate::Redelivery::max_deliveries).
    pub fn reply_result<T, E>(&mut self) -> Reply<Result<T, E>>
    where
        T: Serialize + Send + 'static,
        E: Serialize + Send + 'static,
    {
        if !self.confirming || self.answer.is_some() {
            return self.reply();
        }
        let (reply, rx) = reply_port::<Result<T, E>>();
        self.answer = Some(Box::pin(async move {
            match rx.await {
                Ok(Ok(_)) => Ok(Vec::new()),
                // Not confirmed. Nobody reads the reason: the owner only tells a confirmation
                // from its absence.
                Ok(Err(_)) => Err(Rejection::NoReply(crate::RemoteNoReply::Dropped)),
                Err(no) => Err(Rejection::NoReply(no.into())),
            }
        }));
        reply
    }

    /// The answer of the port taken, if one was.
    pub(crate) fn into_answer(self) -> Option<Answer> {
        self.answer
    }
}

impl<C> std::fmt::Debug for ReplyPort<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyPort")
            .field("taken", &self.answer.is_some())
            .finish()
    }
}

/// An answer that is there at once, empty: what a request without a reply port gets once its
/// message is in the mailbox (as an acknowledged tell does).
pub(crate) fn acknowledged() -> Answer {
    Box::pin(std::future::ready(Ok(Vec::new())))
}

/// Encodes `msg` with its protocol; a panic in that code is an encoding error, not the
/// caller's unwinding.
pub(crate) fn encode_message<M: RemoteProtocol, C: Codec>(
    codec: &C,
    msg: &M,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    catch(|| msg.encode(codec, out))
        .unwrap_or_else(|panic| Err(CodecError::new(format!("encoding panicked: {panic}"))))
}

/// Whether `msg` carries a reply port; a panic in that code is an encoding error (nothing is
/// sent, the message is handed back), not the caller's unwinding.
pub(crate) fn check_request<M: RemoteProtocol>(msg: M) -> Result<(bool, M), RemoteError<M>> {
    match catch(|| msg.is_request()) {
        Ok(is_request) => Ok((is_request, msg)),
        Err(panic) => Err(RemoteError::Encode {
            error: CodecError::new(format!("is_request panicked: {panic}")),
            msg,
        }),
    }
}

/// The end of an ask on the sending node: sends the answer `body` into the port that `msg`
/// carries, which is `rx`'s, and returns what `rx` then holds. An answer that does not decode
/// (or whose decoding panics) is `Decode`; a message whose port was not `rx`'s, or an
/// `answer` that sent nothing, ends as `NoReply`.
pub(crate) async fn complete_ask<M: RemoteProtocol, C: Codec, T>(
    codec: &C,
    msg: M,
    body: &[u8],
    rx: ReplyReceiver<T>,
) -> Result<T, RemoteError<M>> {
    match catch(|| msg.answer(codec, body)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(RemoteError::Decode(e)),
        Err(panic) => {
            let detail = format!("decoding the answer panicked: {panic}");
            return Err(RemoteError::Decode(CodecError::new(detail)));
        }
    }
    rx.await.map_err(RemoteError::NoReply)
}

/// The end of a tell of a message that carries a reply port, sent as a request and waited
/// for: the answer goes into the message's own port (one that cannot be decoded, or whose
/// decoding panics, drops the port, which its holder sees as `NoReply`), and the tell is done.
/// A message that was handled without an answer was delivered too, and so was one whose answer
/// the answering node could not send back (`AnswerLost`): its port is gone with it.
pub(crate) fn answer_into_port<M: RemoteProtocol, C: Codec>(
    codec: &C,
    outcome: Result<(bytes::Bytes, M), RemoteError<M>>,
) -> Result<(), RemoteError<M>> {
    match outcome {
        Ok((body, msg)) => {
            let _ = catch(|| msg.answer(codec, &body));
            Ok(())
        }
        Err(RemoteError::NoReply(_) | RemoteError::AnswerLost { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
