//! Topics across nodes: a [`Topic<M>`] published on one node reaches the actors subscribed to
//! it on every node, on the subject `<prefix>.topic.<name>`.

use std::fmt;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::oneshot;
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorRef, DeadLetterKind, MessageBroker, SendError, SubscriptionId, Topic, WeakActorRef,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::broker::{Inner, NatsBroker};
use crate::codec::{Codec, CodecError};
use crate::config::is_token;
use crate::envelope::{self, Kind};
use crate::error::Unsent;
use crate::runtime;

/// Whether `name` can be a topic's subject: tokens of [`is_token`] joined by `.` (so
/// `chat.lobby` is a topic under `chat`; no wildcard, no empty token).
fn is_topic_name(name: &str) -> bool {
    name.len() <= 255 && name.split('.').all(is_token)
}

fn topic_subject<C>(inner: &Inner<C>, name: &str) -> String {
    format!("{}.topic.{}", inner.prefix, name)
}

impl<C: Codec> NatsBroker<C> {
    /// Subscribes `actor` to `topic` across the cluster: every message that any node (this one
    /// included) publishes with [`publish_remote`](NatsBroker::publish_remote) afterwards is
    /// decoded and delivered to the actor, converted into its message type, by the rules of its
    /// mailbox (a full `Block` mailbox is waited for, holding up this subscription's later
    /// messages; a full `Reject` or `DropNewest` one loses the message).
    ///
    /// The subscription ends by itself when the actor ends (the node then unsubscribes from the
    /// subject), or on [`RemoteSubscription::unsubscribe`], or when this node leaves. It does
    /// not keep the actor alive. The subject is subscribed at the server when this returns: a
    /// publish made after it, from any node, reaches the actor.
    ///
    /// Remote topics are apart from the in-memory ones: [`MessageBroker::publish`] reaches the
    /// subscribers of [`MessageBroker::subscribe`] in this process only, and `publish_remote`
    /// reaches those of `subscribe_remote` on every node. A topic's name means the same in
    /// both, so one actor may subscribe to both if it wants both.
    ///
    /// A message that does not decode as `M` (another type published under the name, another
    /// build), or whose conversion panics here (`M`'s `Deserialize` or its `From`), is not
    /// delivered; it is counted here as a [`Rejected`](DeadLetterKind::Rejected) dead letter,
    /// with the topic's name as target, and the subscription goes on with the next message.
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Topic};
    /// # #[derive(Clone, serde::Serialize, serde::Deserialize)] struct Line(String);
    /// # enum Msg { Line(String) }
    /// # impl From<Line> for Msg { fn from(l: Line) -> Msg { Msg::Line(l.0) } }
    /// # struct User; impl Actor for User { type Message = Msg; type Error = std::convert::Infallible; }
    /// # async fn f(broker: playhouse_nats::NatsBroker, user: playhouse_core::ActorRef<User>) {
    /// let room: Topic<Line> = Topic::new("chat.lobby");
    /// broker.subscribe_remote(&room, &user).await.expect("subscribed");
    /// broker.publish_remote(&room, Line("hello".into())).await.expect("sent");
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SubscribeError`]: a name a subject cannot carry, an actor that has ended, a NATS
    /// failure.
    pub async fn subscribe_remote<M, A, MB>(
        &self,
        topic: &Topic<M>,
        actor: &ActorRef<A, MB>,
    ) -> Result<RemoteSubscription, SubscribeError>
    where
        M: DeserializeOwned + Send + 'static,
        A: Actor,
        MB: Mailbox,
        A::Message: From<M>,
    {
        let name = topic.name().to_owned();
        if !is_topic_name(&name) {
            return Err(SubscribeError::InvalidName { topic: name });
        }
        if !actor.is_alive() {
            return Err(SubscribeError::ActorGone);
        }
        if self.inner.has_left() {
            return Err(SubscribeError::Nats(
                "this node has left the cluster".into(),
            ));
        }
        let inner = Arc::clone(&self.inner);
        let actor = actor.downgrade();
        let (stop, stopped) = oneshot::channel();
        let (done, ended) = oneshot::channel();
        let task_topic = name.clone();
        runtime::run(async move {
            let sub = inner
                .client
                .subscribe(topic_subject(&inner, &task_topic))
                .await
                .map_err(|e| SubscribeError::Nats(e.to_string()))?;
            crate::export::sync_with_server(&inner)
                .await
                .map_err(SubscribeError::Nats)?;
            if actor.upgrade().is_none() {
                return Err(SubscribeError::ActorGone);
            }
            let task = runtime::spawn(serve::<M, A, MB, C>(
                Arc::clone(&inner),
                task_topic,
                actor,
                sub,
                stopped,
                done,
            ));
            inner.keep_task(task);
            Ok(())
        })
        .await?;
        Ok(RemoteSubscription {
            id: SubscriptionId::next(),
            topic: name,
            stop: Some(stop),
            ended: Some(ended),
        })
    }

    /// Publishes `msg` on `topic` to every node: encoded once (the crate's envelope, the node's
    /// codec) and handed to NATS, which passes a copy to each subscriber of
    /// [`subscribe_remote`](NatsBroker::subscribe_remote) on any node, this one included.
    ///
    /// At most once, and unconfirmed: NATS does not say how many subscribers there were or
    /// whether they got it, so `Ok` only means the server was handed the message. A subscriber
    /// that cannot decode it counts a dead letter on its own node. The in-memory subscribers of
    /// [`MessageBroker::subscribe`] do not get it (see `subscribe_remote`).
    ///
    /// # Errors
    ///
    /// [`PublishError`], with the message handed back: a topic name a subject cannot carry, a
    /// message that does not encode or is over the size limit (nothing sent), a closed
    /// connection.
    pub async fn publish_remote<M: Serialize + Send + 'static>(
        &self,
        topic: &Topic<M>,
        msg: M,
    ) -> Result<(), PublishError<M>> {
        if !is_topic_name(topic.name()) {
            return Err(PublishError::InvalidName {
                topic: topic.name().to_owned(),
                msg,
            });
        }
        let mut out = Vec::new();
        envelope::write_header(&mut out, Kind::Tell, 0, std::any::type_name::<M>());
        if let Err(error) = self.inner.codec.encode(&msg, &mut out) {
            return Err(PublishError::Encode { error, msg });
        }
        let limit = self.inner.limit;
        if out.len() > limit {
            return Err(PublishError::TooLarge {
                size: out.len(),
                limit,
                msg,
            });
        }
        if self.inner.has_left() {
            return Err(PublishError::Disconnected(msg));
        }
        let subject = topic_subject(&self.inner, topic.name());
        match self.inner.client.publish(subject, out.into()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(PublishError::Disconnected(msg)),
        }
    }
}

async fn serve<M, A, MB, C>(
    inner: Arc<Inner<C>>,
    topic: String,
    actor: WeakActorRef<A, MB>,
    mut sub: async_nats::Subscriber,
    mut stopped: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
) where
    M: DeserializeOwned + Send + 'static,
    A: Actor,
    MB: Mailbox,
    A::Message: From<M>,
    C: Codec,
{
    let sid = inner.track(&sub, &topic);
    {
        let exit = actor.wait();
        tokio::pin!(exit);
        loop {
            let msg = tokio::select! {
                _ = &mut exit => break,
                _ = &mut stopped => break,
                msg = sub.next() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
            };
            if !deliver::<M, A, MB, C>(&inner, &topic, &actor, msg).await {
                break;
            }
        }
    }
    // What was on its way still goes to the actor if it runs (unsubscribed), else it is a
    // dead letter.
    crate::export::drain(&inner, &mut sub, |msg| {
        let (inner, topic, actor) = (&inner, &topic, &actor);
        async move {
            deliver::<M, A, MB, C>(inner, topic, actor, msg).await;
        }
    })
    .await;
    let _ = inner.client.flush().await;
    inner.forget(sid);
    let _ = done.send(());
}

/// Decodes `msg` and tells it to the actor; `false` if the actor is gone. A copy that is not
/// handed over is a dead letter of this node.
async fn deliver<M, A, MB, C>(
    inner: &Inner<C>,
    topic: &str,
    actor: &WeakActorRef<A, MB>,
    msg: async_nats::Message,
) -> bool
where
    M: DeserializeOwned + Send + 'static,
    A: Actor,
    MB: Mailbox,
    A::Message: From<M>,
    C: Codec,
{
    // Decoding runs `M`'s `Deserialize` and the codec, and `From` is the user's: a panic there
    // is counted as a message that could not be read, and the subscription goes on.
    let converted =
        crate::routes::catch(|| decode::<M, C>(inner, &msg.payload).map(A::Message::from));
    let Ok(Ok(m)) = converted else {
        inner.local.report_dead_letter(
            DeadLetterKind::Rejected,
            topic,
            std::any::type_name::<M>(),
            None,
        );
        return true;
    };
    let Some(target) = actor.upgrade() else {
        crate::routes::discard(m);
        inner.local.report_dead_letter(
            DeadLetterKind::ActorGone,
            topic,
            std::any::type_name::<M>(),
            None,
        );
        return false;
    };
    // The copy a full `Reject` mailbox refuses (an in-memory publish reports it `Full`) is a
    // `Rejected` dead letter here, where it was refused; one for an actor that ended is an
    // `ActorGone` dead letter, and ends the subscription.
    let (kind, goes_on) = match target.tell(m).await {
        Ok(()) => return true,
        Err(SendError::Full(m)) => {
            crate::routes::discard(m);
            (DeadLetterKind::Rejected, true)
        }
        Err(SendError::Closed(m)) => {
            crate::routes::discard(m);
            (DeadLetterKind::ActorGone, false)
        }
    };
    drop(target);
    inner
        .local
        .report_dead_letter(kind, topic, std::any::type_name::<M>(), None);
    goes_on
}

/// Reads a topic message: a playhouse tell of exactly `M`, within the size limit.
fn decode<M: DeserializeOwned, C: Codec>(inner: &Inner<C>, payload: &[u8]) -> Result<M, ()> {
    if payload.len() > inner.limit {
        return Err(());
    }
    let env = envelope::parse(payload).map_err(|_| ())?;
    if env.kind != Kind::Tell || !envelope::names(env.tag, std::any::type_name::<M>()) {
        return Err(());
    }
    inner
        .codec
        .decode::<M>(env.body)
        .map_err(|_: CodecError| ())
}

/// A running subscription of [`NatsBroker::subscribe_remote`]. Dropping it leaves the
/// subscription running (it ends with the actor);
/// [`unsubscribe`](RemoteSubscription::unsubscribe) ends it early.
#[derive(Debug)]
pub struct RemoteSubscription {
    id: SubscriptionId,
    topic: String,
    stop: Option<oneshot::Sender<()>>,
    ended: Option<oneshot::Receiver<()>>,
}

impl RemoteSubscription {
    /// The subscription's id, unique in the process (from the same sequence as the in-memory
    /// broker's).
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Ends the subscription and waits until the node has unsubscribed at the server: nothing
    /// published afterwards reaches the actor. The actor keeps running.
    ///
    /// What the node had already received for the subscription is still handed to the actor
    /// first, by its mailbox's rules: for a full `Block` mailbox that means waiting for room,
    /// so this waits as long as the actor takes to make it. The message the subscription is
    /// handing over when the stop comes waits for room without a limit (for good, if the actor
    /// never takes another message); the rest are handed over for at most 5 s, and what is
    /// left then is dropped. Bound the call with a timeout where that matters: once the future
    /// has been polled, dropping it does not undo the unsubscription.
    pub async fn unsubscribe(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(ended) = self.ended.take() {
            // An error: the task is gone already (the node left).
            let _ = ended.await;
        }
    }

    /// Waits until the subscription has ended by itself (its actor ended, or the node left)
    /// and the node has unsubscribed at the server.
    pub async fn ended(mut self) {
        if let Some(ended) = self.ended.take() {
            let _ = ended.await;
        }
    }
}

impl Drop for RemoteSubscription {
    fn drop(&mut self) {
        // Dropping without `unsubscribe` keeps the subscription: forget the signal instead of
        // letting the task see it dropped.
        if let Some(stop) = self.stop.take() {
            std::mem::forget(stop);
        }
    }
}

/// [`NatsBroker::subscribe_remote`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The topic's name cannot be a NATS subject: it must be tokens of letters, digits, `-`
    /// and `_` (1 to 128 bytes each) joined by `.`.
    InvalidName {
        /// The topic's name.
        topic: String,
    },
    /// The actor has already ended.
    ActorGone,
    /// The NATS server could not be reached or refused the subscription.
    Nats(String),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::InvalidName { topic } => write!(
                f,
                "{topic:?} is not a valid remote topic name (tokens of letters, digits, '-' or \
                 '_', joined by '.')"
            ),
            SubscribeError::ActorGone => f.write_str("the actor has already ended"),
            SubscribeError::Nats(why) => write!(f, "NATS error: {why}"),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// [`NatsBroker::publish_remote`] did not hand the message to NATS; the message comes back.
/// Its `Debug` does not require `M: Debug`.
#[non_exhaustive]
pub enum PublishError<M> {
    /// The topic's name cannot be a NATS subject (see [`SubscribeError::InvalidName`]).
    InvalidName {
        /// The topic's name.
        topic: String,
        /// The message.
        msg: M,
    },
    /// The encoded message is larger than the limit (this node's, or the server's
    /// `max_payload`); nothing was sent.
    TooLarge {
        /// The encoded size, envelope included.
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
    /// The node's connection is closed, or the message could not be handed to it.
    Disconnected(M),
}

impl<M> PublishError<M> {
    /// The message, not published.
    pub fn into_message(self) -> M {
        match self {
            PublishError::InvalidName { msg, .. }
            | PublishError::TooLarge { msg, .. }
            | PublishError::Encode { msg, .. }
            | PublishError::Disconnected(msg) => msg,
        }
    }
}

impl<M> fmt::Debug for PublishError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::InvalidName { topic, .. } => f
                .debug_struct("InvalidName")
                .field("topic", topic)
                .finish_non_exhaustive(),
            PublishError::TooLarge { size, limit, .. } => Unsent::too_large(*size, *limit).debug(f),
            PublishError::Encode { error, .. } => Unsent::Encode(error).debug(f),
            PublishError::Disconnected(_) => Unsent::Disconnected.debug(f),
        }
    }
}

impl<M> fmt::Display for PublishError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::InvalidName { topic, .. } => {
                write!(f, "{topic:?} is not a valid remote topic name")
            }
            PublishError::TooLarge { size, limit, .. } => Unsent::too_large(*size, *limit).fmt(f),
            PublishError::Encode { error, .. } => Unsent::Encode(error).fmt(f),
            PublishError::Disconnected(_) => Unsent::Disconnected.fmt(f),
        }
    }
}

impl<M> std::error::Error for PublishError<M> {}
