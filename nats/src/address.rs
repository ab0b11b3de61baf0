//! [`Address`]: where a remote reference sends (a name's subject, or a pool's), and the one
//! way a message gets there: its envelope, a plain tell's publish, and a request's exchange
//! through the node's table of pending answers. [`RemoteRef`](crate::RemoteRef) and
//! [`RemoteActorRef`](crate::RemoteActorRef) are typed fronts over it; they differ only in
//! how they write a message's body (the codec, or the message type's
//! [`RemoteProtocol`](crate::RemoteProtocol)).

use std::sync::Arc;
use std::time::Duration;

use async_nats::{StatusCode, Subject};
use futures::channel::oneshot;

use crate::broker::NatsBroker;
use crate::codec::{Codec, CodecError};
use crate::config::is_token;
use crate::envelope::{self, Kind};
use crate::error::RemoteError;
use crate::inbox;
use crate::runtime;

/// Where a remote reference sends, and how it reports: cheap to clone.
/// The first pause before a request that found nobody subscribed to a registered name is sent
/// again ([`Address::request`]); it doubles up to [`RESUBSCRIBE_PAUSE_MAX`].
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(10);
const RESUBSCRIBE_PAUSE_MAX: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub(crate) struct Address<C: Codec> {
    pub(crate) broker: NatsBroker<C>,
    /// What its errors and dead letters name.
    pub(crate) name: Arc<str>,
    pub(crate) subject: Subject,
    /// Where the receiving node sends the refusals of plain tells, and NATS its "no
    /// responders": this node's inbox, under the message type's number and the name.
    tell_reply: Subject,
    /// This incarnation's number for the message type (`inbox::type_index`, offset by the
    /// incarnation's `tell_base`).
    type_index: u64,
    /// Plain tells go without a reply subject (a lean reference).
    pub(crate) lean: bool,
    /// Whether `name` is a subject token. A name that is not one is never written into a
    /// subject: it could end the node's connection, or smuggle protocol into it.
    valid: bool,
}

impl<C: Codec> Address<C> {
    /// An address that sends messages of the type named `message_type` to `subject`, whatever
    /// serves it (an exported actor, a pool's queue group); `name` is what its errors and dead
    /// letters name.
    pub(crate) fn new(
        broker: &NatsBroker<C>,
        name: &str,
        subject: String,
        message_type: &'static str,
    ) -> Self {
        let inner = &broker.inner;
        let index = inner
            .tell_base
            .wrapping_add(inbox::type_index(message_type) as u64);
        let valid = is_token(name);
        // An invalid name's subjects are never used (every send is refused first): empty ones
        // keep what it would have been out of the reference.
        let subject = if valid { subject } else { String::new() };
        let tell_reply = match valid {
            true => inner.tell_inbox(&inner.node, index, name),
            false => String::new(),
        };
        Address {
            broker: broker.clone(),
            name: Arc::from(name),
            subject: Subject::from(subject),
            tell_reply: Subject::from(tell_reply),
            type_index: index,
            lean: false,
            valid,
        }
    }

    /// [`admit`] for this address's name.
    fn admit<M>(&self, msg: M) -> Result<M, RemoteError<M>> {
        admit(&self.broker, &self.name, self.valid, msg)
    }

    /// Publishes `msg` as a plain tell, its body written by `body`: with a reply subject, or
    /// for a lean address naming this node in the envelope instead. Waits for nothing but
    /// NATS taking it.
    pub(crate) async fn tell<M>(
        &self,
        msg: M,
        body: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(), RemoteError<M>> {
        let msg = self.admit(msg)?;
        let (kind, correlation) = match self.lean {
            true => (Kind::TellFrom, self.type_index),
            false => (Kind::Tell, 0),
        };
        let tag = std::any::type_name::<M>();
        let (bytes, msg) = encode(&self.broker, kind, correlation, tag, msg, body)?;
        let reply = (!self.lean).then(|| self.tell_reply.clone());
        match publish(&self.broker, &self.subject, reply, bytes).await {
            Ok(()) => Ok(()),
            Err(()) => Err(RemoteError::Disconnected(msg)),
        }
    }

    /// Sends `msg` as a request of `kind` under the type tag `tag` (the message's type name,
    /// or an [`ask_tag`](envelope::ask_tag)), its body written by `body`, and waits, at most
    /// `timeout`, for the answer's body; the message comes back with it, or in the error.
    pub(crate) async fn request<M>(
        &self,
        kind: Kind,
        tag: &str,
        msg: M,
        timeout: Duration,
        body: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(bytes::Bytes, M), RemoteError<M>> {
        let msg = self.admit(msg)?;
        let correlation = self.broker.next_correlation();
        let (bytes, mut msg) = encode(&self.broker, kind, correlation, tag, msg, body)?;
        let bytes = bytes::Bytes::from(bytes);
        let deadline = runtime::deadline_after(std::time::Instant::now(), timeout);
        let mut pause = RESUBSCRIBE_PAUSE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let answer = match start_request(
                &self.broker,
                &self.subject,
                correlation,
                bytes.clone(),
            )
            .await
            {
                Ok(answer) => answer,
                Err(()) => return Err(RemoteError::Disconnected(msg)),
            };
            match await_answer(answer, &self.name, msg, left).await {
                // Nobody subscribed to the name, yet the registry says a live node serves it:
                // that node is subscribing again (after a reconnection, a server restart). The
                // request was delivered to nobody, so it is sent again, until the timeout.
                Err(RemoteError::NotFound { name, msg: back }) if left > pause => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if !self.registered(left).await {
                        return Err(RemoteError::NotFound { name, msg: back });
                    }
                    msg = back;
                    runtime::sleep(pause).await;
                    pause = (pause * 2).min(RESUBSCRIBE_PAUSE_MAX);
                }
                done => return done,
            }
        }
    }

    /// Whether the registry has a live, ready registration of this name, as far as it can be
    /// read within `within` (the request's time left). Read on the crate's runtime: the caller
    /// may poll this from any executor, and the client's requests need Tokio's timer.
    async fn registered(&self, within: Duration) -> bool {
        let (inner, name) = (Arc::clone(&self.broker.inner), Arc::clone(&self.name));
        runtime::run(async move {
            let found = tokio::time::timeout(within, crate::registry::find(&inner, &name));
            matches!(found.await, Ok(Ok(Some(_))))
        })
        .await
    }

    /// The first half of [`request`](Address::request): sends it and returns what waits for
    /// its answer (with the message, or the error that hands it back).
    pub(crate) async fn start<M>(
        &self,
        msg: M,
        body: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(AwaitedAnswer<C>, M), RemoteError<M>> {
        let msg = self.admit(msg)?;
        let correlation = self.broker.next_correlation();
        let tag = std::any::type_name::<M>();
        let (bytes, msg) = encode(&self.broker, Kind::Ask, correlation, tag, msg, body)?;
        match start_request(&self.broker, &self.subject, correlation, bytes).await {
            Ok(answer) => Ok((answer, msg)),
            Err(()) => Err(RemoteError::Disconnected(msg)),
        }
    }
}

/// Refuses a send that must not go out: to a name (or group) that is not a subject token
/// (`InvalidName`: `valid` is false), or from a node that has left the cluster
/// (`Disconnected`: its inbox, which answers come to, is gone).
pub(crate) fn admit<M, C: Codec>(
    broker: &NatsBroker<C>,
    name: &str,
    valid: bool,
    msg: M,
) -> Result<M, RemoteError<M>> {
    if !valid {
        return Err(RemoteError::InvalidName {
            name: name.to_owned(),
            msg,
        });
    }
    if broker.inner.has_left() {
        return Err(RemoteError::Disconnected(msg));
    }
    Ok(msg)
}

/// The envelope of `msg`, of `kind`, under the type tag `tag`, its body written by `body`
/// (the codec, or a [`RemoteProtocol`](crate::RemoteProtocol)'s encoding); the message comes
/// back with it, or in the error if it could not be encoded or is too large. A tell of kind
/// [`Kind::TellFrom`] names this node; `correlation` is then the sender's number for the
/// message type.
fn encode<M, C: Codec>(
    broker: &NatsBroker<C>,
    kind: Kind,
    correlation: u64,
    tag: &str,
    msg: M,
    body: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), CodecError>,
) -> Result<(Vec<u8>, M), RemoteError<M>> {
    let mut out = Vec::new();
    envelope::write_header(&mut out, kind, correlation, tag);
    if kind == Kind::TellFrom {
        envelope::write_sender(&mut out, &broker.inner.node);
    }
    if let Err(error) = body(&msg, &mut out) {
        return Err(RemoteError::Encode { error, msg });
    }
    let limit = broker.inner.limit;
    if out.len() > limit {
        return Err(RemoteError::TooLarge {
            size: out.len(),
            limit,
            msg,
        });
    }
    Ok((out, msg))
}

/// Publishes a tell's envelope: with `reply` as its reply subject (where refusals and NATS's
/// "no responders" come back), or without one (a lean tell). `Err` if the connection is
/// closed.
async fn publish<C: Codec>(
    broker: &NatsBroker<C>,
    subject: &Subject,
    reply: Option<Subject>,
    bytes: Vec<u8>,
) -> Result<(), ()> {
    let client = &broker.inner.client;
    let sent = match reply {
        Some(reply) => {
            client
                .publish_with_reply(subject.clone(), reply, bytes.into())
                .await
        }
        None => client.publish(subject.clone(), bytes.into()).await,
    };
    sent.map_err(|_| ())
}

/// An answer awaited: where it arrives, and the entry in the node's pending table that routes
/// it there (removed when this is dropped, however the wait ends).
pub(crate) struct AwaitedAnswer<C> {
    rx: oneshot::Receiver<async_nats::Message>,
    _pending: PendingGuard<C>,
}

/// The first half of a request: enters it in the pending table and publishes it.
/// `Err` if the connection is closed (the entry is then gone again).
async fn start_request<C: Codec>(
    broker: &NatsBroker<C>,
    subject: &Subject,
    correlation: u64,
    bytes: impl Into<bytes::Bytes>,
) -> Result<AwaitedAnswer<C>, ()> {
    let inner = Arc::clone(&broker.inner);
    let (tx, rx) = oneshot::channel();
    if !inner.expect_answer(correlation, tx) {
        return Err(());
    }
    // From here the guard takes the request out of the pending table however this ends (an
    // answer, the timeout, the caller dropping the future, a failed publish).
    let pending = PendingGuard { inner, correlation };
    let reply = Subject::from(pending.inner.inbox(&format!("a.{correlation}")));
    pending
        .inner
        .client
        .publish_with_reply(subject.clone(), reply, bytes.into())
        .await
        .map_err(|_| ())?;
    Ok(AwaitedAnswer {
        rx,
        _pending: pending,
    })
}

/// The second half of a request: waits, at most `timeout`, for the answer to a request
/// [`start_request`] sent, in the caller's task on a timer of the crate's runtime (pollable
/// from any executor).
pub(crate) async fn await_answer<M, C>(
    answer: AwaitedAnswer<C>,
    name: &str,
    msg: M,
    timeout: Duration,
) -> Result<(bytes::Bytes, M), RemoteError<M>> {
    let AwaitedAnswer { rx, _pending } = answer;
    let sleep = std::pin::pin!(runtime::sleep(timeout));
    let answer = match futures::future::select(rx, sleep).await {
        futures::future::Either::Left((Ok(answer), _)) => answer,
        // The node's inbox is gone (it left, or its connection closed for good). The request
        // was sent, so the message is not handed back.
        futures::future::Either::Left((Err(_), _)) => {
            return Err(RemoteError::InboxClosed);
        }
        futures::future::Either::Right(_) => return Err(RemoteError::Timeout),
    };
    if answer.status == Some(StatusCode::NO_RESPONDERS) {
        return Err(RemoteError::NotFound {
            name: name.to_owned(),
            msg,
        });
    }
    match envelope::parse(&answer.payload) {
        Ok(env) if env.kind == Kind::Reply => {
            let start = answer.payload.len() - env.body.len();
            Ok((answer.payload.slice(start..), msg))
        }
        Ok(env) if env.kind == Kind::Rejection => {
            let why = envelope::read_rejection(env.body);
            Err(RemoteError::from_rejection(name, why, msg))
        }
        Ok(_) => Err(RemoteError::Rejected {
            reason: envelope::Rejection::Malformed {
                detail: "the answer is a request".into(),
            },
            msg,
        }),
        Err(reason) => Err(RemoteError::Rejected { reason, msg }),
    }
}

/// Removes an ask from its node's pending table when the ask ends, however it ends.
pub(crate) struct PendingGuard<C> {
    pub(crate) inner: Arc<crate::broker::Inner<C>>,
    pub(crate) correlation: u64,
}

impl<C> Drop for PendingGuard<C> {
    fn drop(&mut self) {
        self.inner.pending().remove(&self.correlation);
    }
}
