//! [`RemoteActorRef`]: a reference to an actor served under a name somewhere in the cluster
//! that takes the actor's own message type, reply ports included, and so is a
//! [`MessageTarget`]: `#[actor]`'s helpers work on it as on a local `ActorRef`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use playhouse_core::{DeadLetterKind, MessageBroker, MessageTarget, Reply, reply_port};

use crate::address::{Address, await_answer};
use crate::broker::NatsBroker;
use crate::codec::{Codec, Postcard};
use crate::envelope::Kind;
use crate::error::{RemoteAskError, RemoteError};
use crate::protocol::{
    RemoteProtocol, answer_into_port, check_request, complete_ask, encode_message,
};
use crate::routes::{catch, discard};
use crate::runtime;

/// A reference to the actor exported under a name (with
/// [`Export::protocol`](crate::Export::protocol)), on whatever node serves it, that sends it
/// the actor's own message type `M`: a [`MessageTarget`] of `M`, so that code written against
/// a local actor's address (`#[actor]`'s helpers: `account.deposit(5)`) runs against a remote
/// one. Made by [`NatsBroker::remote_actor`]; cheap to clone. `M` says how it crosses
/// processes by implementing [`RemoteProtocol`].
///
/// Where [`RemoteRef`](crate::RemoteRef) sends one serde type per reference, and the
/// receiving node turns it into the actor's message, this one sends the actor's message
/// itself: an ask made with [`MessageTarget::ask`] builds the message around a reply port
/// here, the receiving node gives the actor a fresh port in its place, and the answer comes
/// back into the port made here.
///
/// # Delivery and errors
///
/// As for [`RemoteRef`](crate::RemoteRef): at most once. A tell fails with [`RemoteError`] if
/// the message could not be encoded or handed to NATS (the message back); a refusal by the
/// receiving node, or nobody serving the name, comes back later as a dead letter on this
/// node's broker (not the latter for a [`lean`](RemoteActorRef::lean) reference). An ask fails
/// with [`RemoteAskError`]: the [`RemoteError`] (the message back where it was certainly not
/// handled), or the handler's error for an `ask_flat`. Where the sender must know that a tell
/// arrived, [`tell_acked`](RemoteActorRef::tell_acked) waits for the receiving node to say so.
///
/// A tell of a message that carries a reply port is sent as a request: the answer is sent into
/// that port when it comes, and if none comes (refused, nobody serving the name, no answer
/// within the node's [`ask_timeout`](crate::NodeConfig::ask_timeout)), the port is dropped, so
/// whoever waits on it gets [`NoReply`](playhouse_core::NoReply).
///
/// # Timeouts
///
/// A local ask without a timeout ends when the actor drops the reply port. A remote actor's
/// node can die, or the network split, and drop nothing: so an ask without a timeout of its
/// own ([`MessageTarget::ask`], `ask_flat`) waits at most the node's
/// [`ask_timeout`](crate::NodeConfig::ask_timeout) (30 s unless set), and fails with
/// [`RemoteError::Timeout`]; `ask_timeout` and [`within`](MessageTarget::within) bound it
/// otherwise. A tell does not wait for room in the remote mailbox (NATS takes it at once), so
/// [`tell_timeout`](MessageTarget::tell_timeout) is a tell.
///
/// # Example
///
/// ```no_run
/// # use playhouse_core::{MessageTarget, Reply};
/// # use playhouse_nats::{Codec, CodecError, NatsBroker, RemoteProtocol, ReplyPort};
/// # use std::time::Duration;
/// # pub enum CounterMsg { Add(u64), Get(Reply<u64>) }
/// # impl RemoteProtocol for CounterMsg {
/// #     fn encode<C: Codec>(&self, _: &C, _: &mut Vec<u8>) -> Result<(), CodecError> { Ok(()) }
/// #     fn decode<C: Codec>(_: &C, _: &[u8], p: &mut ReplyPort<C>) -> Result<Self, CodecError> { Ok(CounterMsg::Get(p.reply())) }
/// #     fn answer<C: Codec>(self, _: &C, _: &[u8]) -> Result<(), CodecError> { Ok(()) }
/// #     fn is_request(&self) -> bool { true }
/// # }
/// # async fn f(broker: NatsBroker) {
/// // On the node that runs the counter: broker.export("counter", &counter).protocol().start().await
/// let counter = broker.remote_actor::<CounterMsg>("counter");
/// counter.tell(CounterMsg::Add(5)).await.expect("handed to NATS");
/// let total = counter.ask(CounterMsg::Get).await.expect("answered");
/// let bounded = counter.within(Duration::from_secs(1)).ask(CounterMsg::Get).await;
/// # let _ = (total, bounded);
/// # }
/// ```
pub struct RemoteActorRef<M, C: Codec = Postcard> {
    address: Address<C>,
    _message: PhantomData<fn(M)>,
}

impl<M, C: Codec> Clone for RemoteActorRef<M, C> {
    fn clone(&self) -> Self {
        RemoteActorRef {
            address: self.address.clone(),
            _message: PhantomData,
        }
    }
}

impl<M, C: Codec> fmt::Debug for RemoteActorRef<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteActorRef")
            .field("name", &self.address.name)
            .field("message", &std::any::type_name::<M>())
            .field("lean", &self.address.lean)
            .finish()
    }
}

impl<C: Codec> NatsBroker<C> {
    /// A reference that sends the actor's own message type `M` to the actor exported under
    /// `name` with [`Export::protocol`](crate::Export::protocol), wherever it runs: a
    /// [`MessageTarget`] of `M`. Made without asking the cluster (a name nobody serves shows
    /// up as `NotFound` on an ask, or a `NoSuchName` dead letter for a tell).
    pub fn remote_actor<M: RemoteProtocol>(&self, name: &str) -> RemoteActorRef<M, C> {
        RemoteActorRef::with_subject(self, name, self.inner.actor_subject(name))
    }

    /// A reference to the actor under `name` if the registry has a live registration that
    /// takes the whole protocol `M` ([`Export::protocol`](crate::Export::protocol)).
    ///
    /// # Errors
    ///
    /// [`LookupError::NotFound`](playhouse_core::LookupError::NotFound) if no live node serves
    /// the name (or the registry cannot be read),
    /// [`WrongType`](playhouse_core::LookupError::WrongType) if it is not served with the
    /// protocol `M`.
    pub async fn lookup_remote_actor<M: RemoteProtocol>(
        &self,
        name: &str,
    ) -> Result<RemoteActorRef<M, C>, playhouse_core::LookupError> {
        let tag = std::any::type_name::<M>();
        self.check_registration(name, "RemoteActorRef", tag, |a| {
            a.strip_prefix("actor:") == Some(tag)
        })
        .await?;
        Ok(self.remote_actor(name))
    }

    /// As [`remote_actor`](NatsBroker::remote_actor), for the worker pool `name`
    /// ([`join_pool`](NatsBroker::join_pool), its members exported with
    /// [`Export::protocol`](crate::Export::protocol)): each message is handled by one member.
    pub fn pool_actor<M: RemoteProtocol>(&self, name: &str) -> RemoteActorRef<M, C> {
        RemoteActorRef::with_subject(self, name, crate::pool::pool_subject(&self.inner, name))
    }
}

impl<M: RemoteProtocol, C: Codec> RemoteActorRef<M, C> {
    fn with_subject(broker: &NatsBroker<C>, name: &str, subject: String) -> Self {
        RemoteActorRef {
            address: Address::new(broker, name, subject, std::any::type_name::<M>()),
            _message: PhantomData,
        }
    }

    /// This reference, its plain tells sent without a reply subject, as
    /// [`RemoteRef::lean`](crate::RemoteRef::lean) says: refusals by the receiving node still
    /// come back as dead letters, but a tell that finds no node serving the name is lost
    /// without a trace. Requests (asks, and tells of a message carrying a reply port) are
    /// unchanged.
    pub fn lean(mut self) -> Self {
        self.address.lean = true;
        self
    }

    /// Whether plain tells go without a reply subject ([`lean`](RemoteActorRef::lean)).
    pub fn is_lean(&self) -> bool {
        self.address.lean
    }

    /// The name it sends to.
    pub fn name(&self) -> &str {
        &self.address.name
    }

    fn codec(&self) -> &C {
        &self.address.broker.inner.codec
    }

    /// Sends `msg` and waits, at most `timeout`, until the receiving node has put it in the
    /// actor's mailbox (by the mailbox's rules: a full `Block` mailbox is waited for), as
    /// [`RemoteRef::tell_acked`](crate::RemoteRef::tell_acked) does. Where a
    /// [`tell`](MessageTarget::tell) is at most once and reports a refusal later, as a dead
    /// letter, this one says whether the message arrived, and hands it back if it did not.
    ///
    /// A message that carries a reply port is acknowledged by its answer: it is sent as a
    /// request, and the tell is done once the answer is in the message's own port (or the
    /// actor handled it without answering, or the answering node could not send its answer
    /// back: too large, or not encodable; the port's holder then hears `NoReply`). `timeout`
    /// then bounds the handling too.
    ///
    /// ```no_run
    /// # use playhouse_core::Reply;
    /// # use playhouse_nats::{Codec, CodecError, NatsBroker, RemoteError, RemoteProtocol, ReplyPort};
    /// # use std::time::Duration;
    /// # pub enum CounterMsg { Add(u64), Get(Reply<u64>) }
    /// # impl RemoteProtocol for CounterMsg {
    /// #     fn encode<C: Codec>(&self, _: &C, _: &mut Vec<u8>) -> Result<(), CodecError> { Ok(()) }
    /// #     fn decode<C: Codec>(_: &C, _: &[u8], p: &mut ReplyPort<C>) -> Result<Self, CodecError> { Ok(CounterMsg::Get(p.reply())) }
    /// #     fn answer<C: Codec>(self, _: &C, _: &[u8]) -> Result<(), CodecError> { Ok(()) }
    /// #     fn is_request(&self) -> bool { true }
    /// # }
    /// # async fn f(broker: NatsBroker) {
    /// let counter = broker.remote_actor::<CounterMsg>("counter");
    /// match counter.tell_acked(CounterMsg::Add(5), Duration::from_secs(1)).await {
    ///     Ok(()) => {} // in the counter's mailbox
    ///     Err(RemoteError::Full(CounterMsg::Add(n))) => println!("no room for {n}: try later"),
    ///     Err(e) => println!("not delivered: {e}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` (nobody serves the name), `Closed`, `Full` (a `Reject` mailbox), `Rejected`
    /// (the receiving node refused it: a type it does not take, a body it cannot decode), each
    /// handing the message back; `Timeout` and `InboxClosed` (it may or may not have arrived);
    /// and the errors of a tell (`Encode`, `TooLarge`, `Disconnected`), which hand it back
    /// too.
    pub async fn tell_acked(&self, msg: M, timeout: Duration) -> Result<(), RemoteError<M>> {
        let (is_request, msg) = check_request(msg)?;
        let codec = self.codec();
        let kind = match is_request {
            true => Kind::Ask,
            false => Kind::AckedTell,
        };
        let outcome = self
            .address
            .request(kind, std::any::type_name::<M>(), msg, timeout, |m, out| {
                encode_message(codec, m, out)
            })
            .await;
        match is_request {
            true => answer_into_port(codec, outcome),
            false => outcome.map(|_| ()),
        }
    }

    /// The tell of [`MessageTarget::tell`]: a message without a reply port is published at
    /// once; one with a port is sent as a request whose answer goes into that port.
    async fn send(&self, msg: M) -> Result<(), RemoteError<M>> {
        let (is_request, msg) = check_request(msg)?;
        if is_request {
            return self.send_request(msg).await;
        }
        let codec = self.codec();
        self.address
            .tell(msg, |m, out| encode_message(codec, m, out))
            .await
    }

    /// A tell of a message that carries a reply port: published here (so that it keeps its
    /// place among this sender's messages), its answer awaited on the crate's runtime and sent
    /// into the message's port. If no answer comes, the message (and with it the port) is
    /// dropped, and a refusal is reported as a dead letter, as for a plain tell.
    async fn send_request(&self, msg: M) -> Result<(), RemoteError<M>> {
        let codec = self.codec();
        let (answer, msg) = self
            .address
            .start(msg, |m, out| encode_message(codec, m, out))
            .await?;
        let broker = self.address.broker.clone();
        let name = Arc::clone(&self.address.name);
        let timeout = broker.inner.config.ask_timeout;
        runtime::spawn(async move {
            match await_answer(answer, &name, msg, timeout).await {
                Ok((body, msg)) => {
                    let codec = &broker.inner.codec;
                    // A failed or panicking decoding drops the port: the waiter gets `NoReply`.
                    let _ = catch(|| msg.answer(codec, &body));
                }
                Err(e) => {
                    let kind = match &e {
                        RemoteError::NotFound { .. } => Some(DeadLetterKind::NoSuchName),
                        RemoteError::Closed(_) => Some(DeadLetterKind::ActorGone),
                        RemoteError::Full(_) | RemoteError::Rejected { .. } => {
                            Some(DeadLetterKind::Rejected)
                        }
                        _ => None,
                    };
                    if let Some(kind) = kind {
                        broker.inner.local.report_dead_letter(
                            kind,
                            &name,
                            std::any::type_name::<M>(),
                            None,
                        );
                    }
                    discard(e);
                }
            }
        });
        Ok(())
    }

    /// Sends the message `make` builds around a fresh reply port as a request, and waits at
    /// most `timeout` for its answer.
    async fn ask_within<T: Send>(
        &self,
        make: impl FnOnce(Reply<T>) -> M,
        timeout: Duration,
    ) -> Result<T, RemoteError<M>> {
        let (reply, rx) = reply_port::<T>();
        let codec = self.codec();
        let (body, msg) = self
            .address
            .request(
                Kind::Ask,
                std::any::type_name::<M>(),
                make(reply),
                timeout,
                |m, out| encode_message(codec, m, out),
            )
            .await?;
        complete_ask(codec, msg, &body, rx).await
    }

    fn ask_timeout_of(&self) -> Duration {
        self.address.broker.inner.config.ask_timeout
    }
}

impl<M: RemoteProtocol, C: Codec> MessageTarget for RemoteActorRef<M, C> {
    type Message = M;
    type TellError = RemoteError<M>;
    type TellTimeoutError = RemoteError<M>;
    type AskError<E> = RemoteAskError<M, E>;

    fn tell(&self, msg: M) -> impl Future<Output = Result<(), RemoteError<M>>> + Send {
        self.send(msg)
    }

    /// A tell: NATS takes the message at once, without waiting for room in the remote
    /// mailbox, so there is nothing for the timeout to bound.
    fn tell_timeout(
        &self,
        msg: M,
        _timeout: Duration,
    ) -> impl Future<Output = Result<(), RemoteError<M>>> + Send {
        self.send(msg)
    }

    fn ask<T, F>(&self, make: F) -> impl Future<Output = Result<T, RemoteAskError<M>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> M + Send,
    {
        let timeout = self.ask_timeout_of();
        async move {
            self.ask_within(make, timeout)
                .await
                .map_err(RemoteAskError::Remote)
        }
    }

    fn ask_flat<T, E, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, RemoteAskError<M, E>>> + Send
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> M + Send,
    {
        let timeout = self.ask_timeout_of();
        async move { RemoteAskError::flatten(self.ask_within(make, timeout).await) }
    }

    async fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, RemoteAskError<M, Infallible>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> M + Send,
    {
        self.ask_within(make, timeout)
            .await
            .map_err(RemoteAskError::Remote)
    }

    async fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, RemoteAskError<M, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> M + Send,
    {
        RemoteAskError::flatten(self.ask_within(make, timeout).await)
    }
}
