//! [`ShardedAt`]: one key of a sharded group, as a [`MessageTarget`] of the actor's own message
//! type, for a group served with its whole protocol.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use playhouse_core::{MessageTarget, Reply, reply_port};

use super::durable::Stored;
use super::sender::ShardedRef;
use crate::codec::Codec;
use crate::envelope::{Kind, Rejection};
use crate::error::{RemoteAskError, RemoteError};
use crate::protocol::{
    RemoteProtocol, answer_into_port, check_request, complete_ask, encode_message,
};

/// One key of a sharded group, `sharded_ref.at(key)`, as a [`MessageTarget`] of the actor's
/// own message type `M`: `#[actor]`'s helpers work on it as on a local keyed actor's
/// `keyed.at(key)` (`accounts.at("alice").deposit(5)`). The group must be served with
/// [`ShardedSpec::protocol`](crate::ShardedSpec::protocol).
///
/// Each send goes where [`ShardedRef`] sends it (activating the key on some node if no node
/// has it, following it when its node dies), and waits until the key's owner has taken the
/// message: a tell for the mailbox, an ask for the answer. Neither has a timeout of its own on
/// a local key; here each waits at most the node's
/// [`ask_timeout`](crate::NodeConfig::ask_timeout), or the timeout given to `tell_timeout`,
/// `ask_timeout` and [`within`](MessageTarget::within).
///
/// A tell of a message that carries a reply port is sent as a request: it returns once the
/// answer is in the port (or, if none will come, once the port is dropped, which its holder
/// sees as [`NoReply`](playhouse_core::NoReply)).
///
/// Errors: a tell fails with [`RemoteError`], an ask with [`RemoteAskError`], as for
/// [`RemoteActorRef`](crate::RemoteActorRef); the key's own refusals are those of
/// [`ShardedRef::tell`] (an invalid key, a failed activation...).
pub struct ShardedAt<'a, M, C: Codec> {
    sharded: &'a ShardedRef<M, C>,
    key: &'a str,
}

impl<M: RemoteProtocol, C: Codec> ShardedRef<M, C> {
    /// `key` as a [`MessageTarget`] of the actor's message type: what `#[actor]`'s helpers are
    /// called on (`accounts.at("alice").deposit(5)`). See [`ShardedAt`].
    pub fn at<'a>(&'a self, key: &'a str) -> ShardedAt<'a, M, C> {
        ShardedAt { sharded: self, key }
    }
}

impl<M, C: Codec> Clone for ShardedAt<'_, M, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M, C: Codec> Copy for ShardedAt<'_, M, C> {}

impl<M: Send + 'static, C: Codec> fmt::Debug for ShardedAt<'_, M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedAt")
            .field("group", &self.sharded.group())
            .field("key", &self.key)
            .finish()
    }
}

impl<M: RemoteProtocol, C: Codec> ShardedAt<'_, M, C> {
    /// The key it sends to.
    pub fn key(&self) -> &str {
        self.key
    }

    fn default_timeout(&self) -> Duration {
        self.sharded.broker().inner.config.ask_timeout
    }

    /// Sends `msg` as `kind` and waits, at most `timeout`, for the owner's answer.
    async fn exchange(
        &self,
        kind: Kind,
        msg: M,
        timeout: Duration,
    ) -> Result<(bytes::Bytes, M), RemoteError<M>> {
        let codec = &self.sharded.broker().inner.codec;
        self.sharded
            .exchange_with(
                kind,
                std::any::type_name::<M>(),
                self.key,
                msg,
                timeout,
                |m, out| encode_message(codec, m, out),
            )
            .await
    }

    async fn send(&self, msg: M, timeout: Duration) -> Result<(), RemoteError<M>> {
        let (is_request, msg) = check_request(msg)?;
        if !is_request {
            return self
                .exchange(Kind::AckedTell, msg, timeout)
                .await
                .map(|_| ());
        }
        let outcome = self.exchange(Kind::Ask, msg, timeout).await;
        answer_into_port(&self.sharded.broker().inner.codec, outcome)
    }

    /// Stores the message `make` builds around a reply port for the key in the group's
    /// JetStream stream, under `id`, and waits, at most `timeout`, until the stream has it;
    /// from then on it is delivered to the key's actor until the actor's answer confirms it,
    /// whatever node dies meanwhile (at least once, up to the group's
    /// [`Redelivery::max_deliveries`](crate::Redelivery::max_deliveries)). The group must be
    /// served with [`ShardedSpec::durable_protocol`](crate::ShardedSpec::durable_protocol),
    /// which says what confirms a message (an `Ok` answer, for a method that returns a
    /// `Result`) and what does not. The answer goes to nobody: what this returns is the
    /// stream's receipt. `id` and its deduplication are as for [`ShardedRef::tell_durable`].
    /// A group with no durable types at all has no stream (`NotFound`); one served without
    /// `durable_protocol` takes the message out as a `Rejected` dead letter where it is
    /// delivered.
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Reply};
    /// # use playhouse_nats::{Codec, CodecError, RemoteProtocol, ReplyPort};
    /// # pub enum WalletMsg { Deposit { amount: u64, reply: Reply<u64> } }
    /// # impl RemoteProtocol for WalletMsg {
    /// #     fn encode<C: Codec>(&self, _: &C, _: &mut Vec<u8>) -> Result<(), CodecError> { Ok(()) }
    /// #     fn decode<C: Codec>(_: &C, _: &[u8], _: &mut ReplyPort<C>) -> Result<Self, CodecError> { unimplemented!() }
    /// #     fn answer<C: Codec>(self, _: &C, _: &[u8]) -> Result<(), CodecError> { Ok(()) }
    /// #     fn is_request(&self) -> bool { true }
    /// # }
    /// # async fn f(broker: playhouse_nats::NatsBroker) {
    /// let wallets = broker.sharded_ref::<WalletMsg>("wallets");
    /// let stored = wallets
    ///     .at("alice")
    ///     .tell_durable(
    ///         "deposit-0001",
    ///         |reply| WalletMsg::Deposit { amount: 5, reply },
    ///         std::time::Duration::from_secs(5),
    ///     )
    ///     .await
    ///     .expect("stored");
    /// # let _ = stored;
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// `Rejected` with [`Rejection::NoReplyPort`](crate::Rejection::NoReplyPort) if the
    /// message carries no reply port (nothing would confirm it); otherwise those of
    /// [`ShardedRef::tell_durable`], the message handed back by each but `Timeout`.
    pub async fn tell_durable<T: Send>(
        &self,
        id: &str,
        make: impl FnOnce(Reply<T>) -> M,
        timeout: Duration,
    ) -> Result<Stored, RemoteError<M>> {
        // Nobody hears this port: the answer confirms the message where it is handled.
        let (reply, _) = reply_port::<T>();
        let (is_request, msg) = check_request(make(reply))?;
        if !is_request {
            let reason = Rejection::NoReplyPort {
                type_name: std::any::type_name::<M>().to_owned(),
            };
            return Err(RemoteError::Rejected { reason, msg });
        }
        let codec = &self.sharded.broker().inner.codec;
        self.sharded
            .store(self.key, id, msg, timeout, |m, out| {
                encode_message(codec, m, out)
            })
            .await
    }

    async fn ask_within<T: Send>(
        &self,
        make: impl FnOnce(Reply<T>) -> M,
        timeout: Duration,
    ) -> Result<T, RemoteError<M>> {
        let (reply, rx) = reply_port::<T>();
        let (body, msg) = self.exchange(Kind::Ask, make(reply), timeout).await?;
        complete_ask(&self.sharded.broker().inner.codec, msg, &body, rx).await
    }
}

impl<M: RemoteProtocol, C: Codec> MessageTarget for ShardedAt<'_, M, C> {
    type Message = M;
    type TellError = RemoteError<M>;
    type TellTimeoutError = RemoteError<M>;
    type AskError<E> = RemoteAskError<M, E>;

    async fn tell(&self, msg: M) -> Result<(), RemoteError<M>> {
        self.send(msg, self.default_timeout()).await
    }

    async fn tell_timeout(&self, msg: M, timeout: Duration) -> Result<(), RemoteError<M>> {
        self.send(msg, timeout).await
    }

    async fn ask<T, F>(&self, make: F) -> Result<T, RemoteAskError<M, Infallible>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> M + Send,
    {
        self.ask_within(make, self.default_timeout())
            .await
            .map_err(RemoteAskError::Remote)
    }

    async fn ask_flat<T, E, F>(&self, make: F) -> Result<T, RemoteAskError<M, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> M + Send,
    {
        RemoteAskError::flatten(self.ask_within(make, self.default_timeout()).await)
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
