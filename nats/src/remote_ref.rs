//! A typed reference to an actor served under a name somewhere in the cluster.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{StatusCode, Subject};
use futures::channel::oneshot;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::broker::NatsBroker;
use crate::codec::{Codec, Postcard};
use crate::envelope::{self, Kind};
use crate::error::RemoteError;
use crate::inbox;
use crate::registry::{self, Registration};
use crate::runtime;

/// A reference to the actor exported under a name, on whatever node serves it, that sends it
/// messages of type `M` (serialized with the node's codec). Made by [`NatsBroker::remote`]; cheap
/// to clone.
///
/// Delivery across processes is at most once: a [`tell`](RemoteRef::tell) is handed to NATS and
/// not confirmed, and what the receiving node refuses, or what finds nobody under the name,
/// comes back later as a dead letter on this node's broker
/// ([`DeadLetterKind::Rejected`](playhouse_core::DeadLetterKind::Rejected),
/// [`NoSuchName`](playhouse_core::DeadLetterKind::NoSuchName)...).
/// [`tell_acked`](RemoteRef::tell_acked) waits for the receiving node to put the message in the
/// mailbox; [`ask`](RemoteRef::ask) waits for the answer. A [`lean`](RemoteRef::lean)
/// reference trades the report of tells that find nobody for throughput.
pub struct RemoteRef<M, C: Codec = Postcard> {
    broker: NatsBroker<C>,
    name: Arc<str>,
    subject: Subject,
    tell_reply: Subject,
    /// This process's number for `M` (`inbox::type_index`).
    type_index: u64,
    /// Plain tells go without a reply subject ([`RemoteRef::lean`]).
    lean: bool,
    _message: PhantomData<fn(M)>,
}

impl<M, C: Codec> Clone for RemoteRef<M, C> {
    fn clone(&self) -> Self {
        RemoteRef {
            broker: self.broker.clone(),
            name: Arc::clone(&self.name),
            subject: self.subject.clone(),
            tell_reply: self.tell_reply.clone(),
            type_index: self.type_index,
            lean: self.lean,
            _message: PhantomData,
        }
    }
}

impl<M, C: Codec> fmt::Debug for RemoteRef<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRef")
            .field("name", &self.name)
            .field("message", &std::any::type_name::<M>())
            .field("lean", &self.lean)
            .finish()
    }
}

impl<C: Codec> NatsBroker<C> {
    /// A reference that sends `M`s to the actor exported under `name`, wherever it runs. It is
    /// made without asking the cluster (a name nobody serves shows up as `NotFound` on an ask
    /// or acknowledged tell, or a `NoSuchName` dead letter for a tell);
    /// [`lookup_remote`](NatsBroker::lookup_remote) asks the registry first.
    pub fn remote<M: Serialize + Send + 'static>(&self, name: &str) -> RemoteRef<M, C> {
        RemoteRef::with_subject(self, name, self.inner.actor_subject(name))
    }

    /// Reads the cluster registry: the registration under `name` if a live node holds it.
    ///
    /// # Errors
    ///
    /// A NATS error, as text, if the registry could not be read.
    pub async fn registration(&self, name: &str) -> Result<Option<Registration>, String> {
        let inner = Arc::clone(&self.inner);
        let name = name.to_owned();
        runtime::run(async move { registry::find(&inner, &name).await }).await
    }

    /// A reference to the actor under `name` if the registry has a live registration that
    /// takes `M` (as a tell or an ask).
    ///
    /// # Errors
    ///
    /// [`LookupError::NotFound`](playhouse_core::LookupError::NotFound) if no live node serves
    /// the name (or the registry cannot be read), [`WrongType`](playhouse_core::LookupError::WrongType)
    /// if it does not take `M`.
    pub async fn lookup_remote<M: Serialize + Send + 'static>(
        &self,
        name: &str,
    ) -> Result<RemoteRef<M, C>, playhouse_core::LookupError> {
        let tag = envelope::truncate(std::any::type_name::<M>());
        self.check_registration(name, "RemoteRef", tag, |a| {
            a.strip_prefix("tell:") == Some(tag)
                || a.strip_prefix("ask:")
                    .and_then(|a| a.split_once("->"))
                    .is_some_and(|(q, _)| q == tag)
        })
        .await?;
        Ok(self.remote(name))
    }

    /// Reads the registration under `name` and checks that one of its accepted types passes
    /// `takes`: `NotFound` or `WrongType` (naming `reference<type_name>`) otherwise.
    pub(crate) async fn check_registration(
        &self,
        name: &str,
        reference: &str,
        type_name: &str,
        takes: impl Fn(&str) -> bool,
    ) -> Result<(), playhouse_core::LookupError> {
        let not_found = || playhouse_core::LookupError::NotFound {
            name: name.to_owned(),
        };
        let Some(found) = self.registration(name).await.map_err(|_| not_found())? else {
            return Err(not_found());
        };
        if !found.accepts.iter().any(|a| takes(a)) {
            return Err(playhouse_core::LookupError::WrongType {
                name: name.to_owned(),
                registered: format!("{} taking {}", found.actor_type, found.accepts.join(", ")),
                requested: format!("{reference}<{type_name}>"),
            });
        }
        Ok(())
    }
}

impl<M: Serialize + Send + 'static, C: Codec> RemoteRef<M, C> {
    /// A reference that sends to `subject`, whatever serves it (an exported actor, a pool's
    /// queue group); `name` is what its errors and dead letters name.
    pub(crate) fn with_subject(broker: &NatsBroker<C>, name: &str, subject: String) -> Self {
        let index = inbox::type_index(std::any::type_name::<M>()) as u64;
        let inner = &broker.inner;
        RemoteRef {
            broker: broker.clone(),
            name: Arc::from(name),
            subject: Subject::from(subject),
            tell_reply: Subject::from(inner.tell_inbox(&inner.node, index, name)),
            type_index: index,
            lean: false,
            _message: PhantomData,
        }
    }

    /// This reference, its plain [`tell`](RemoteRef::tell)s sent without a reply subject: the
    /// message names this node in its envelope instead, so that a refusal by the receiving
    /// node (wrong type, undecodable, a panicking conversion, a full or ended actor) still
    /// comes back as a dead letter here. What a lean tell gives up is the report of a tell
    /// that finds no node serving the name (NATS's "no responders", a
    /// [`NoSuchName`](playhouse_core::DeadLetterKind::NoSuchName) dead letter): such a tell is
    /// lost without a trace, as in a raw publish.
    ///
    /// Why: a reply subject on every message costs the sender, the server and above all the
    /// receiver's client (which parses and keeps it for each message) more than the rest of
    /// the envelope; `docs/distribution.md` gives the figures. Use it for high-rate tells to a
    /// name known to be served; [`tell_acked`](RemoteRef::tell_acked) and
    /// [`ask`](RemoteRef::ask) are unchanged.
    pub fn lean(mut self) -> Self {
        self.lean = true;
        self
    }

    /// Whether plain tells go without a reply subject ([`lean`](RemoteRef::lean)).
    pub fn is_lean(&self) -> bool {
        self.lean
    }

    /// The name it sends to.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn encode(&self, kind: Kind, correlation: u64, msg: M) -> Result<(Vec<u8>, M), RemoteError<M>> {
        let codec = &self.broker.inner.codec;
        encode(&self.broker, kind, correlation, msg, |m, out| {
            codec.encode(m, out)
        })
    }

    /// Sends `msg` without waiting for anything but NATS taking it: at most once. A refusal by
    /// the receiving node, or no node serving the name, is reported later as a dead letter on
    /// this broker (not the latter for a [`lean`](RemoteRef::lean) reference).
    ///
    /// # Errors
    ///
    /// `Encode` and `TooLarge` (nothing sent), `Disconnected` if the connection is closed; each
    /// hands the message back.
    pub async fn tell(&self, msg: M) -> Result<(), RemoteError<M>> {
        let (kind, correlation) = match self.lean {
            true => (Kind::TellFrom, self.type_index),
            false => (Kind::Tell, 0),
        };
        let (bytes, msg) = self.encode(kind, correlation, msg)?;
        let reply = (!self.lean).then(|| self.tell_reply.clone());
        match publish(&self.broker, &self.subject, reply, bytes).await {
            Ok(()) => Ok(()),
            Err(()) => Err(RemoteError::Disconnected(msg)),
        }
    }

    /// Sends `msg` and waits, at most `timeout`, until the receiving node has put it in the
    /// actor's mailbox (by the mailbox's rules: a full `Block` mailbox is waited for).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Closed`, `Full`, `Rejected` (the message handed back), `Timeout` (it may
    /// or may not have arrived), and the errors of [`tell`](RemoteRef::tell).
    pub async fn tell_acked(&self, msg: M, timeout: Duration) -> Result<(), RemoteError<M>> {
        self.exchange(Kind::AckedTell, msg, timeout).await?;
        Ok(())
    }

    /// Sends `msg` as a request and waits, at most `timeout`, for the actor's answer: the
    /// remote form of [`ActorRef::ask_timeout`](playhouse_core::ActorRef::ask_timeout). The
    /// receiving node must have exported the actor with
    /// [`Export::ask::<M, R>`](crate::Export::ask).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Closed`, `Full`, `Rejected` (the message handed back), `NoReply` (the actor
    /// took it and gave no answer), `Timeout`, `Decode` (the answer is not an `R`), and the
    /// errors of [`tell`](RemoteRef::tell).
    pub async fn ask<R: DeserializeOwned>(
        &self,
        msg: M,
        timeout: Duration,
    ) -> Result<R, RemoteError<M>> {
        let (body, _) = self.exchange(Kind::Ask, msg, timeout).await?;
        self.broker
            .inner
            .codec
            .decode::<R>(&body)
            .map_err(RemoteError::Decode)
    }

    /// Sends a request envelope and waits for the answer's body, or the error it amounts to.
    async fn exchange(
        &self,
        kind: Kind,
        msg: M,
        timeout: Duration,
    ) -> Result<(bytes::Bytes, M), RemoteError<M>> {
        let correlation = self.broker.next_correlation();
        let (bytes, msg) = self.encode(kind, correlation, msg)?;
        exchange(
            &self.broker,
            &self.subject,
            &self.name,
            correlation,
            bytes,
            msg,
            timeout,
        )
        .await
    }
}

/// The envelope of `msg`, of `kind`, its body written by `body` (the codec, or a
/// [`RemoteProtocol`](crate::RemoteProtocol)'s encoding); the message comes back with it, or
/// in the error if it could not be encoded or is too large. A tell of kind
/// [`Kind::TellFrom`] names this node; `correlation` is then the sender's number for the
/// message type.
pub(crate) fn encode<M, C: Codec>(
    broker: &NatsBroker<C>,
    kind: Kind,
    correlation: u64,
    msg: M,
    body: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), crate::codec::CodecError>,
) -> Result<(Vec<u8>, M), RemoteError<M>> {
    let mut out = Vec::new();
    envelope::write_header(&mut out, kind, correlation, std::any::type_name::<M>());
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
pub(crate) async fn publish<C: Codec>(
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

/// Publishes the request envelope `bytes` (made with `correlation`) to `subject` and waits, at
/// most `timeout`, for the answer's body; `msg` comes back with it, or in the error it amounts
/// to (`name` is what the error names).
pub(crate) async fn exchange<M, C: Codec>(
    broker: &NatsBroker<C>,
    subject: &Subject,
    name: &str,
    correlation: u64,
    bytes: Vec<u8>,
    msg: M,
    timeout: Duration,
) -> Result<(bytes::Bytes, M), RemoteError<M>> {
    match start_request(broker, subject, correlation, bytes).await {
        Ok(answer) => await_answer(answer, name, msg, timeout).await,
        Err(()) => Err(RemoteError::Disconnected(msg)),
    }
}

/// An answer awaited: where it arrives, and the entry in the node's pending table that routes
/// it there (removed when this is dropped, however the wait ends).
pub(crate) struct AwaitedAnswer<C> {
    rx: oneshot::Receiver<async_nats::Message>,
    _pending: PendingGuard<C>,
}

/// The first half of [`exchange`]: enters the request in the pending table and publishes it.
/// `Err` if the connection is closed (the entry is then gone again).
pub(crate) async fn start_request<C: Codec>(
    broker: &NatsBroker<C>,
    subject: &Subject,
    correlation: u64,
    bytes: Vec<u8>,
) -> Result<AwaitedAnswer<C>, ()> {
    let inner = Arc::clone(&broker.inner);
    let (tx, rx) = oneshot::channel();
    inner.pending().insert(correlation, tx);
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

/// The second half of [`exchange`]: waits, at most `timeout`, for the answer to a request
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
        // The broker's inbox went away (the node left).
        futures::future::Either::Left((Err(_), _)) => {
            return Err(RemoteError::Disconnected(msg));
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
struct PendingGuard<C> {
    inner: Arc<crate::broker::Inner<C>>,
    correlation: u64,
}

impl<C> Drop for PendingGuard<C> {
    fn drop(&mut self) {
        self.inner.pending().remove(&self.correlation);
    }
}
