//! A typed reference to an actor served under a name somewhere in the cluster.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::address::Address;
use crate::broker::NatsBroker;
use crate::codec::{Codec, Postcard};
use crate::envelope::{self, Kind};
use crate::error::RemoteError;
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
    address: Address<C>,
    _message: PhantomData<fn(M)>,
}

impl<M, C: Codec> Clone for RemoteRef<M, C> {
    fn clone(&self) -> Self {
        RemoteRef {
            address: self.address.clone(),
            _message: PhantomData,
        }
    }
}

impl<M, C: Codec> fmt::Debug for RemoteRef<M, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRef")
            .field("name", &self.address.name)
            .field("message", &std::any::type_name::<M>())
            .field("lean", &self.address.lean)
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
        // Nothing can be exported under a name that is not a subject token; and such a name
        // is never written into a key of the bucket.
        if !crate::config::is_token(name) {
            return Ok(None);
        }
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
        let tag = std::any::type_name::<M>();
        self.check_registration(name, "RemoteRef", tag, |a| {
            a.strip_prefix("tell:") == Some(tag)
                || a.strip_prefix("ask:")
                    .and_then(|a| a.strip_prefix(tag))
                    .is_some_and(|answer| answer.starts_with("->"))
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
        RemoteRef {
            address: Address::new(broker, name, subject, std::any::type_name::<M>()),
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
        self.address.lean = true;
        self
    }

    /// Whether plain tells go without a reply subject ([`lean`](RemoteRef::lean)).
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

    /// Sends `msg` without waiting for anything but NATS taking it: at most once. A refusal by
    /// the receiving node, or no node serving the name, is reported later as a dead letter on
    /// this broker (not the latter for a [`lean`](RemoteRef::lean) reference).
    ///
    /// # Errors
    ///
    /// `Encode` and `TooLarge` (nothing sent), `Disconnected` if the connection is closed; each
    /// hands the message back.
    pub async fn tell(&self, msg: M) -> Result<(), RemoteError<M>> {
        let codec = self.codec();
        self.address.tell(msg, |m, out| codec.encode(m, out)).await
    }

    /// Sends `msg` and waits, at most `timeout`, until the receiving node has put it in the
    /// actor's mailbox (by the mailbox's rules: a full `Block` mailbox is waited for).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Closed`, `Full`, `Rejected` (the message handed back), `Timeout` (it may
    /// or may not have arrived), `InboxClosed` (this node left or its connection closed while
    /// the answer was awaited: it may have arrived), and the errors of
    /// [`tell`](RemoteRef::tell). `NotFound` comes at once for a name nobody is registered
    /// under; for one a live node is registered under but not yet subscribed to again (just
    /// after a reconnection), the message is sent again until the timeout.
    pub async fn tell_acked(&self, msg: M, timeout: Duration) -> Result<(), RemoteError<M>> {
        let tag = std::any::type_name::<M>();
        self.exchange(Kind::AckedTell, tag, msg, timeout).await?;
        Ok(())
    }

    /// Sends `msg` as a request and waits, at most `timeout`, for the actor's answer: the
    /// remote form of [`ActorRef::ask_timeout`](playhouse_core::ActorRef::ask_timeout). The
    /// receiving node must have exported the actor with
    /// [`Export::ask::<M, R>`](crate::Export::ask).
    ///
    /// The request is sent whatever `timeout` is; the wait runs on the crate's Tokio timer,
    /// whose resolution is about a millisecond, so a zero or sub-millisecond timeout may still
    /// see a fast answer, and a `Timeout` says only that none had come when the timer fired
    /// (the request may have been handled).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Closed`, `Full`, `Rejected` (the message handed back; `WrongType` if the
    /// actor is not exported with `ask::<M, R>`, for this very `R`: the request names the
    /// answer type it expects and is refused before the actor sees it), `NoReply` (the actor
    /// took it and gave no answer), `Timeout`, `InboxClosed` (as for
    /// [`tell_acked`](RemoteRef::tell_acked)), `Decode` (the answer does not decode as an `R`:
    /// the two nodes' definitions of `R`, or their codecs, differ), and the errors of
    /// [`tell`](RemoteRef::tell).
    pub async fn ask<R: DeserializeOwned>(
        &self,
        msg: M,
        timeout: Duration,
    ) -> Result<R, RemoteError<M>> {
        let tag = envelope::ask_tag::<M, R>();
        let (body, _) = self.exchange(Kind::Ask, &tag, msg, timeout).await?;
        self.codec()
            .decode::<R>(&body)
            .map_err(RemoteError::answer_not::<R>)
    }

    /// Sends a request envelope and waits for the answer's body, or the error it amounts to.
    async fn exchange(
        &self,
        kind: Kind,
        tag: &str,
        msg: M,
        timeout: Duration,
    ) -> Result<(bytes::Bytes, M), RemoteError<M>> {
        let codec = self.codec();
        self.address
            .request(kind, tag, msg, timeout, |m, out| codec.encode(m, out))
            .await
    }
}
