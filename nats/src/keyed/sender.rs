//! Sending to a keyed actor of a sharded group, from any node: [`ShardedRef`].

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{StatusCode, Subject};
use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::Either;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::durable::{Stored, durable_subject};
use super::serve::{OWNER_HEADER, claim_subject, direct_subject};
use crate::address::PendingGuard;
use crate::broker::NatsBroker;
use crate::codec::{Codec, CodecError, Postcard};
use crate::config::is_token;
use crate::envelope::{self, Kind, Rejection};
use crate::error::RemoteError;
use crate::runtime;

/// How long a sender waits before trying a key again when nobody could take it (its owner is
/// dead and its lease has not lapsed yet, or no node serves the group).
const RETRY: Duration = Duration::from_millis(50);

/// Sends messages of type `M` to the keyed actors of a sharded group, by key, wherever each
/// key lives. Made by [`NatsBroker::sharded_ref`]; cheap to clone (the clones share what they
/// learnt of the keys' owners).
///
/// The first message to a key goes to any node serving the group, which takes the key's lease
/// (or says which node holds it, and the message goes there); the answer says which node owns
/// the key, and later messages go straight there. When the owner is gone, the message is tried
/// again (through any node) until a node takes the lease, which happens once the dead
/// owner's lease has lapsed: within about one lease TTL.
///
/// Both [`tell`](ShardedRef::tell) and [`ask`](ShardedRef::ask) wait for the owner to take
/// the message: a key's messages from one sender that awaits each send are handled in the
/// order sent, across activations and failovers.
pub struct ShardedRef<M, C: Codec = Postcard> {
    broker: NatsBroker<C>,
    group: Arc<str>,
    owners: Arc<Mutex<HashMap<String, String>>>,
    _message: PhantomData<fn(M)>,
}

impl<M, C: Codec> Clone for ShardedRef<M, C> {
    fn clone(&self) -> Self {
        ShardedRef {
            broker: self.broker.clone(),
            group: Arc::clone(&self.group),
            owners: Arc::clone(&self.owners),
            _message: PhantomData,
        }
    }
}

impl<M, C: Codec> fmt::Debug for ShardedRef<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedRef")
            .field("group", &self.group)
            .field("message", &std::any::type_name::<M>())
            .finish()
    }
}

impl<C: Codec> NatsBroker<C> {
    /// A reference that sends `M`s to the keyed actors of the sharded group `group`, on
    /// whatever nodes they live. Made without asking the cluster: a group nobody serves shows
    /// up as `NotFound` once the send's timeout passes.
    ///
    /// `M` is one serde type the group takes ([`ShardedSpec::tell`](super::ShardedSpec::tell),
    /// [`ask`](super::ShardedSpec::ask), [`durable`](super::ShardedSpec::durable)), or the
    /// actor's whole message type, a [`RemoteProtocol`](crate::RemoteProtocol), for a group
    /// served with [`ShardedSpec::protocol`](super::ShardedSpec::protocol): its
    /// [`at(key)`](ShardedRef::at) is then a [`MessageTarget`](playhouse_core::MessageTarget).
    pub fn sharded_ref<M: Send + 'static>(&self, group: &str) -> ShardedRef<M, C> {
        ShardedRef {
            broker: self.clone(),
            group: Arc::from(group),
            owners: Arc::new(Mutex::new(HashMap::new())),
            _message: PhantomData,
        }
    }
}

/// Why a durable message was not stored.
enum Failed {
    /// The group has no stream.
    NotFound,
    /// No answer from the stream in time.
    Timeout,
    /// It could not be sent, or the stream refused it.
    Refused,
}

enum Outcome {
    Answer(Bytes),
    Refused(Rejection),
}

impl<M: Send + 'static, C: Codec> ShardedRef<M, C> {
    /// The group it sends to.
    pub fn group(&self) -> &str {
        &self.group
    }

    pub(crate) fn broker(&self) -> &NatsBroker<C> {
        &self.broker
    }

    /// The node that answered last for `key`, as far as this reference knows.
    pub fn owner_of(&self, key: &str) -> Option<String> {
        self.owners().get(key).cloned()
    }

    /// Forgets that `node` owns `key`, unless another send has learnt another owner since.
    fn forget_owner(&self, key: &str, node: &str) {
        let mut owners = self.owners();
        if owners.get(key).is_some_and(|cached| cached == node) {
            owners.remove(key);
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<M: Serialize + Send + 'static, C: Codec> ShardedRef<M, C> {
    /// Sends `msg` to the actor of `key` and waits, at most `timeout`, until its owner has put
    /// it in the mailbox (activating the key first if no node has it).
    ///
    /// # Errors
    ///
    /// `Rejected` with [`Rejection::InvalidKey`] (a key must be 1 to 128 letters, digits,
    /// `-` or `_`), [`Rejection::ActivationFailed`] (the factory failed: its error, as text),
    /// or another refusal; `NotFound` if no node took the key before the timeout (nobody
    /// serves the group); `Closed`, `Full`, `Timeout`, `InboxClosed` (this node left or its
    /// connection closed while the answer was awaited), and the encoding errors of
    /// [`RemoteRef::tell`](crate::RemoteRef::tell). Each but `Timeout` and `InboxClosed` hands
    /// the message back.
    pub async fn tell(&self, key: &str, msg: M, timeout: Duration) -> Result<(), RemoteError<M>> {
        self.exchange(
            Kind::AckedTell,
            std::any::type_name::<M>(),
            key,
            msg,
            timeout,
        )
        .await
        .map(|_| ())
    }

    /// Sends `msg` to the actor of `key` as a request and waits, at most `timeout`, for the
    /// answer (activating the key first if no node has it). The group must take `M` as an
    /// ask ([`ShardedSpec::ask`](super::ShardedSpec::ask)).
    ///
    /// # Errors
    ///
    /// Those of [`tell`](ShardedRef::tell); `NoReply` if the actor took the request and no
    /// answer will come (it dropped the reply, or ended before it answered: the request may
    /// have been handled); `AnswerLost` if it answered after its node lost the key's lease
    /// (the request was handled; the answer is withheld, as nothing leaves a node for a key
    /// it no longer holds); `Rejected` with `WrongType` if the group
    /// does not take `M` as an ask answered with this very `R` (refused before the actor sees
    /// it); `Decode` if the answer does not decode as an `R` (the nodes' definitions of `R`,
    /// or their codecs, differ).
    pub async fn ask<R: DeserializeOwned>(
        &self,
        key: &str,
        msg: M,
        timeout: Duration,
    ) -> Result<R, RemoteError<M>> {
        let tag = envelope::ask_tag::<M, R>();
        let body = self.exchange(Kind::Ask, &tag, key, msg, timeout).await?;
        self.broker
            .inner
            .codec
            .decode::<R>(&body)
            .map_err(RemoteError::answer_not::<R>)
    }

    /// Stores `msg` for the actor of `key` in the group's JetStream stream, under `id`, and
    /// waits, at most `timeout`, until the stream has it. The group must take `M` as a
    /// durable message ([`ShardedSpec::durable`](super::ShardedSpec::durable)). From then on
    /// the message is delivered to the key's actor (activating the key on some node) until
    /// the actor confirms it, whatever node dies meanwhile: at least once, and in the order
    /// stored among the key's durable messages. It is not ordered with the key's plain tells
    /// and asks.
    ///
    /// `id` names the message (1 to 128 bytes, without spaces or control characters) among
    /// all the group's durable messages, whatever their key: a message stored under an id the
    /// stream already had within [`DEDUP_WINDOW`](crate::DEDUP_WINDOW) is not stored again,
    /// and the answer says so ([`Stored::duplicate`]). Retry with the same id when the answer
    /// was lost (`Timeout`, `Disconnected`): `Disconnected` hands the message back, `Timeout`
    /// does not (the stream may have it), so a sender that retries after a timeout keeps a
    /// copy to send again.
    ///
    /// # Errors
    ///
    /// `Rejected` with [`Rejection::InvalidKey`] for a key that is not 1 to 128 letters,
    /// digits, `-` or `_`, or [`Rejection::Malformed`] for an invalid id; `NotFound` if no
    /// node ever served the group with durable messages (it has no stream); `Timeout` if the
    /// stream did not answer in time (the message may be stored); `Disconnected` if it could
    /// not be sent or the stream refused it; `TooLarge` and `Encode` as
    /// [`tell`](ShardedRef::tell). Each but `Timeout` hands the message back. That the group
    /// takes `M` is checked where it is delivered: a type it does not take becomes a
    /// `Rejected` dead letter on the node that got it.
    pub async fn tell_durable(
        &self,
        key: &str,
        id: &str,
        msg: M,
        timeout: Duration,
    ) -> Result<Stored, RemoteError<M>> {
        let codec = &self.broker.inner.codec;
        self.store(key, id, msg, timeout, |m, out| codec.encode(m, out))
            .await
    }

    async fn exchange(
        &self,
        kind: Kind,
        tag: &str,
        key: &str,
        msg: M,
        timeout: Duration,
    ) -> Result<Bytes, RemoteError<M>> {
        let codec = &self.broker.inner.codec;
        self.exchange_with(kind, tag, key, msg, timeout, |m, out| codec.encode(m, out))
            .await
            .map(|(body, _)| body)
    }
}

impl<M: Send + 'static, C: Codec> ShardedRef<M, C> {
    /// Stores `msg` for the actor of `key` under `id`, its body written by `body`: what
    /// [`tell_durable`](ShardedRef::tell_durable) and
    /// [`ShardedAt::tell_durable`](super::ShardedAt::tell_durable) share.
    pub(crate) async fn store(
        &self,
        key: &str,
        id: &str,
        msg: M,
        timeout: Duration,
        body: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Stored, RemoteError<M>> {
        let msg = self.admit(msg)?;
        if !is_token(key) {
            let reason = Rejection::InvalidKey {
                key: key.to_owned(),
            };
            return Err(RemoteError::Rejected { reason, msg });
        }
        if id.is_empty()
            || id.len() > 128
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            let reason = Rejection::Malformed {
                detail: format!(
                    "a durable message's id must be 1 to 128 bytes without spaces: {id:?}"
                ),
            };
            return Err(RemoteError::Rejected { reason, msg });
        }
        let inner = Arc::clone(&self.broker.inner);
        let mut out = Vec::new();
        envelope::write_header(&mut out, Kind::Tell, 0, std::any::type_name::<M>());
        if let Err(error) = body(&msg, &mut out) {
            return Err(RemoteError::Encode { error, msg });
        }
        // The id's header counts against the server's limit too: a message over it would cost
        // the connection (the server closes it), not only this send.
        let name = AsRef::<str>::as_ref(&async_nats::header::NATS_MESSAGE_ID).len();
        let size = out.len() + envelope::headers_len(&[(name, id.len())]);
        if size > inner.limit {
            return Err(RemoteError::TooLarge {
                size,
                limit: inner.limit,
                msg,
            });
        }
        let subject = durable_subject(&inner.prefix, &self.group, key);
        let id = id.to_owned();
        let stored = runtime::run(async move {
            use async_nats::jetstream::context::PublishErrorKind;
            let failed = |kind: PublishErrorKind| match kind {
                PublishErrorKind::StreamNotFound => Failed::NotFound,
                PublishErrorKind::TimedOut => Failed::Timeout,
                _ => Failed::Refused,
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            let sent = inner
                .js
                .publish_with_headers(subject, headers, out.into())
                .await
                .map_err(|e| failed(e.kind()))?;
            match tokio::time::timeout(timeout, sent).await {
                Ok(Ok(ack)) => Ok(Stored {
                    sequence: ack.sequence,
                    duplicate: ack.duplicate,
                }),
                Ok(Err(e)) => Err(failed(e.kind())),
                Err(_) => Err(Failed::Timeout),
            }
        })
        .await;
        stored.map_err(|failed| match failed {
            Failed::NotFound => RemoteError::NotFound {
                name: self.group.to_string(),
                msg,
            },
            Failed::Timeout => RemoteError::Timeout,
            Failed::Refused => RemoteError::Disconnected(msg),
        })
    }

    /// Sends `msg` under the type tag `tag` (its type's name, or an ask's
    /// [`ask_tag`](envelope::ask_tag)), its body written by `encode` (the codec, or its
    /// [`RemoteProtocol`](crate::RemoteProtocol)), to the owner of `key` as `kind`, and waits
    /// at most `timeout` for the answer's body; the message comes back with it, or in the error.
    pub(crate) async fn exchange_with(
        &self,
        kind: Kind,
        tag: &str,
        key: &str,
        msg: M,
        timeout: Duration,
        encode: impl FnOnce(&M, &mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<(Bytes, M), RemoteError<M>> {
        let msg = self.admit(msg)?;
        let name = format!("{}/{key}", self.group);
        if !is_token(key) {
            let reason = Rejection::InvalidKey {
                key: key.to_owned(),
            };
            return Err(RemoteError::Rejected { reason, msg });
        }
        let inner = &self.broker.inner;
        let mut body = Vec::new();
        if let Err(error) = encode(&msg, &mut body) {
            return Err(RemoteError::Encode { error, msg });
        }
        let deadline =
            Instant::from_std(runtime::deadline_after(std::time::Instant::now(), timeout));
        let mut redirects = 0;
        loop {
            let mut owner = self.owner_of(key);
            // A cached owner that is not alive as far as this node knows (its heartbeats
            // stopped: dead, or hung with its connection still open, so that its subjects still
            // take messages) is forgotten: the key goes through the queue group again, where
            // the node that took its lease answers. An owner named by a redirect within this
            // send is trusted, alive or not yet heard of here: the node that read the lease
            // named it.
            if let Some(node) = owner.as_deref()
                && redirects == 0
                && !inner.members.is_alive(node)
            {
                self.forget_owner(key, node);
                owner = None;
            }
            let subject = match &owner {
                Some(node) => direct_subject(&inner.prefix, &self.group, node, key),
                None => claim_subject(&inner.prefix, &self.group, key),
            };
            let correlation = self.broker.next_correlation();
            let mut out = Vec::with_capacity(body.len() + 64);
            envelope::write_header(&mut out, kind, correlation, tag);
            out.extend_from_slice(&body);
            if out.len() > inner.limit {
                return Err(RemoteError::TooLarge {
                    size: out.len(),
                    limit: inner.limit,
                    msg,
                });
            }
            let retry = match self.attempt(subject, correlation, out, deadline).await {
                Attempt::Unsent => return Err(RemoteError::Disconnected(msg)),
                Attempt::InboxClosed => return Err(RemoteError::InboxClosed),
                Attempt::Answer(message) => match read(&message) {
                    Outcome::Answer(body) => {
                        match message.headers.as_ref().and_then(|h| h.get(OWNER_HEADER)) {
                            Some(owner) => {
                                self.owners()
                                    .insert(key.to_owned(), owner.as_str().to_owned());
                            }
                            // Answered by a node whose group is stopping: not the key's owner
                            // for the next message.
                            None => {
                                if let Some(node) = &owner {
                                    self.forget_owner(key, node);
                                }
                            }
                        }
                        return Ok((body, msg));
                    }
                    Outcome::Refused(Rejection::OwnedElsewhere { owner, .. }) if redirects < 3 => {
                        // Straight there, at once.
                        redirects += 1;
                        self.owners().insert(key.to_owned(), owner);
                        continue;
                    }
                    Outcome::Refused(Rejection::OwnedElsewhere { key: k, .. }) => {
                        Rejection::LeaseUnavailable { key: k }
                    }
                    Outcome::Refused(Rejection::LeaseUnavailable { key: k }) => {
                        Rejection::LeaseUnavailable { key: k }
                    }
                    Outcome::Refused(why) => {
                        return Err(RemoteError::from_rejection(&name, why, msg));
                    }
                },
                // Nobody listens: the owner we knew is gone, or the node we were forwarded to.
                Attempt::NobodyListened => Rejection::NotFound { name: name.clone() },
                Attempt::TimedOut => {
                    // The owner we knew did not answer in time: the next send asks the queue
                    // group again (a node that finds the lease held elsewhere redirects it, at
                    // the cost of one hop).
                    if let Some(node) = &owner {
                        self.forget_owner(key, node);
                    }
                    return Err(RemoteError::Timeout);
                }
            };
            // The owner we knew is gone (or nobody serves the group): through the queue group
            // again, after a pause, until some node takes the key's lease.
            if let Some(node) = &owner {
                self.forget_owner(key, node);
            }
            redirects = 0;
            let now = Instant::now();
            if now >= deadline {
                return Err(RemoteError::from_rejection(&name, retry, msg));
            }
            runtime::run(tokio::time::sleep(RETRY.min(deadline - now))).await;
            // A pause that reached the deadline leaves no time for another attempt: what the
            // last one found is the answer (`NotFound` for a group nobody serves), not a
            // `Timeout`, which would say the message may have been handled.
            if Instant::now() >= deadline {
                return Err(RemoteError::from_rejection(&name, retry, msg));
            }
        }
    }

    /// Refuses a send to a group whose name is not a subject token (it would be written into
    /// subjects), or from a node that has left the cluster.
    fn admit(&self, msg: M) -> Result<M, RemoteError<M>> {
        crate::address::admit(&self.broker, &self.group, is_token(&self.group), msg)
    }

    /// Sends one attempt and waits for its answer until `deadline`, in the caller's task: a
    /// dropped send takes its entry out of the pending table with it.
    async fn attempt(
        &self,
        subject: String,
        correlation: u64,
        bytes: Vec<u8>,
        deadline: Instant,
    ) -> Attempt {
        let inner = Arc::clone(&self.broker.inner);
        let (tx, rx) = oneshot::channel();
        if !inner.expect_answer(correlation, tx) {
            return Attempt::Unsent;
        }
        let _pending = PendingGuard {
            inner: Arc::clone(&inner),
            correlation,
        };
        let sent = runtime::run(async move {
            let reply = Subject::from(inner.inbox(&format!("a.{correlation}")));
            inner
                .client
                .publish_with_reply(Subject::from(subject), reply, bytes.into())
                .await
        })
        .await;
        if sent.is_err() {
            return Attempt::Unsent;
        }
        let timer = std::pin::pin!(runtime::sleep_until(deadline));
        match futures::future::select(rx, timer).await {
            Either::Left((Ok(answer), _)) if answer.status == Some(StatusCode::NO_RESPONDERS) => {
                Attempt::NobodyListened
            }
            Either::Left((Ok(answer), _)) => Attempt::Answer(answer),
            // The node's inbox is gone (it left, or its connection closed for good).
            Either::Left((Err(_), _)) => Attempt::InboxClosed,
            Either::Right(_) => Attempt::TimedOut,
        }
    }
}

/// How one attempt of [`ShardedRef::exchange_with`] ended.
enum Attempt {
    /// It could not be sent: the connection is closed, or the node has left.
    Unsent,
    /// The answer (or a refusal).
    Answer(async_nats::Message),
    /// NATS found nobody listening on the subject.
    NobodyListened,
    /// The deadline passed first.
    TimedOut,
    /// The node's inbox closed while the answer was awaited.
    InboxClosed,
}

fn read(message: &async_nats::Message) -> Outcome {
    match envelope::parse(&message.payload) {
        Ok(env) if env.kind == Kind::Reply => {
            let start = message.payload.len() - env.body.len();
            Outcome::Answer(message.payload.slice(start..))
        }
        Ok(env) if env.kind == Kind::Rejection => {
            Outcome::Refused(envelope::read_rejection(env.body))
        }
        Ok(_) => Outcome::Refused(Rejection::Malformed {
            detail: "the answer is a request".into(),
        }),
        Err(why) => Outcome::Refused(why),
    }
}
