//! Serving a local actor to other nodes: under a cluster-wide name ([`NatsBroker::export`]), or
//! as one member of a worker pool on a queue group ([`NatsBroker::join_pool`]). Both are the
//! same builder and the same serve loop; only where the actor listens differs ([`Target`]).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::oneshot;
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef, Reply, SendError, WeakActorRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::broker::{Inner, NatsBroker};
use crate::codec::Codec;
use crate::config::is_token;
use crate::envelope::{self, Kind, Rejection};
use crate::error::ExportError;
use crate::protocol::RemoteProtocol;
use crate::registry::{self, Entry};
use crate::routes::Routes;
use crate::runtime;

/// Declares what an exported actor (or pool member) takes from other nodes, then starts serving
/// it: [`NatsBroker::export`] and [`NatsBroker::join_pool`] make one.
///
/// Each accepted type is named by its Rust type name on the wire, so every node must build the
/// type from the same definition (the same crate version).
#[must_use = "an export does nothing until `start` is awaited"]
pub struct Export<'b, A: Actor, MB: Mailbox, C: Codec> {
    broker: &'b NatsBroker<C>,
    name: String,
    target: Target,
    actor: ActorRef<A, MB>,
    routes: Routes<A::Message, C>,
}

/// Where a served actor listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `<prefix>.actor.<name>`, the name held in the cluster registry: one actor in the cluster.
    Name,
    /// `<prefix>.pool.<name>` on the queue group `<name>`: any number of members, each message
    /// handed to one of them. Nothing in the registry.
    Pool,
}

impl<C: Codec> NatsBroker<C> {
    /// Starts an export of `actor` under the cluster-wide `name`. Declare the message types it
    /// takes with [`tell`](Export::tell) and [`ask`](Export::ask), then [`start`](Export::start)
    /// it:
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Reply};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Add(u64);
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Get;
    /// # enum Msg { Add(u64), Get(Reply<u64>) }
    /// # impl From<Add> for Msg { fn from(a: Add) -> Msg { Msg::Add(a.0) } }
    /// # struct Counter; impl Actor for Counter { type Message = Msg; type Error = std::convert::Infallible; }
    /// # async fn f(broker: playhouse_nats::NatsBroker, counter: playhouse_core::ActorRef<Counter>) {
    /// broker
    ///     .export("counter", &counter)
    ///     .tell::<Add>()
    ///     .ask::<Get, u64>(|Get, reply| Msg::Get(reply))
    ///     .start()
    ///     .await
    ///     .expect("the name is free");
    /// # }
    /// ```
    pub fn export<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Export<'_, A, MB, C> {
        self.serve_builder(name, Target::Name, actor)
    }

    pub(crate) fn serve_builder<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        target: Target,
        actor: &ActorRef<A, MB>,
    ) -> Export<'_, A, MB, C> {
        Export {
            broker: self,
            name: name.to_owned(),
            target,
            actor: actor.clone(),
            routes: Routes::new(),
        }
    }
}

impl<A: Actor, MB: Mailbox, C: Codec> Export<'_, A, MB, C> {
    /// Accepts tells of `Q`, turned into the actor's message by `From`.
    ///
    /// A `From` conversion (or `Q`'s `Deserialize`) that panics on the serving node does not
    /// stop the export: the message is refused with
    /// [`Rejection::ConversionPanicked`], which an acknowledged tell's sender gets in
    /// [`RemoteError::Rejected`](crate::RemoteError::Rejected) (the message handed back) and a
    /// plain tell's sender sees as a [`Rejected`](playhouse_core::DeadLetterKind::Rejected)
    /// dead letter; the next message is served as usual.
    pub fn tell<Q>(mut self) -> Self
    where
        Q: DeserializeOwned + Send + 'static,
        A::Message: From<Q>,
    {
        self.routes.tell::<Q>();
        self
    }

    /// Accepts asks of `Q` answered with an `R`: `make` puts the request and its reply port in
    /// the actor's message, as for a local [`ActorRef::ask`].
    ///
    /// A `make` (or `Q`'s `Deserialize`) that panics on the serving node does not stop the
    /// export: the sender gets [`RemoteError::Rejected`](crate::RemoteError::Rejected) with
    /// [`Rejection::ConversionPanicked`] and its message back, and the next message is served
    /// as usual. An answer whose encoding fails or panics, or that is over the node's size
    /// limit, comes after the actor handled the request: the sender gets
    /// [`RemoteError::AnswerLost`](crate::RemoteError::AnswerLost), without the message.
    pub fn ask<Q, R>(
        mut self,
        make: impl Fn(Q, Reply<R>) -> A::Message + Send + Sync + 'static,
    ) -> Self
    where
        Q: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        self.routes.ask(make);
        self
    }

    /// Accepts the actor's whole message type, as its [`RemoteProtocol`] writes it: what a
    /// [`RemoteActorRef`](crate::RemoteActorRef) sends, tells and asks alike (so `#[actor]`'s
    /// helpers work on it from any node). It can be combined with [`tell`](Export::tell) and
    /// [`ask`](Export::ask) of other types. The registry lists it as `actor:<type>`.
    ///
    /// A [`decode`](RemoteProtocol::decode) that fails or panics is refused as for the other
    /// routes ([`Rejection::Decode`], [`Rejection::ConversionPanicked`]), and the export goes on.
    pub fn protocol(mut self) -> Self
    where
        A::Message: RemoteProtocol,
    {
        self.routes.protocol();
        self
    }

    /// Claims the name in the cluster registry and starts serving (for a pool member: joins the
    /// pool's queue group; nothing is claimed). The export lasts until the actor ends (the name
    /// is then released, the member leaves the pool) or a message for it finds its mailbox
    /// closed (the actor is stopping: refused as `ActorGone`, the export ends at once, so that
    /// the next messages go to another pool member, or find nobody), [`Exported::withdraw`] is
    /// called, or this node leaves or dies (the other nodes then purge the name; the server
    /// drops a dead node's pool members with its connection). It does not keep the actor alive:
    /// it holds a weak reference, as a local registration or subscription does, so an actor
    /// whose last [`ActorRef`] is dropped ends, and its name goes with it.
    ///
    /// # Errors
    ///
    /// [`ExportError`]: an invalid name, a name a live actor holds on any node (never for a
    /// pool), an actor that has ended, no accepted type, a NATS failure.
    pub async fn start(self) -> Result<Exported, ExportError> {
        if !is_token(&self.name) {
            return Err(ExportError::InvalidName { name: self.name });
        }
        if self.broker.inner.has_left() {
            return Err(ExportError::Left);
        }
        if self.routes.is_empty() {
            return Err(ExportError::NothingAccepted);
        }
        // A stopping actor takes no more messages: its export would end at the first one.
        if !self.actor.accepts_messages() {
            return Err(ExportError::ActorGone);
        }
        let inner = Arc::clone(&self.broker.inner);
        let name = self.name;
        let target = self.target;
        let actor = self.actor.downgrade();
        let routes = self.routes;
        let (withdraw, withdrawn) = oneshot::channel();
        let started = runtime::run(async move {
            // Undoes a claim made here, if the start fails after it.
            let unclaim = |inner: Arc<Inner<C>>, name: String| async move {
                if let Some(revision) = inner.held.release(&name) {
                    registry::release(&inner, &name, revision).await;
                }
            };
            let (sub, lost) = match target {
                Target::Name => {
                    // Claimed not ready: found by no lookup until the subscription below is in
                    // place (see `Entry::ready`).
                    let entry = Entry {
                        node: inner.node.clone(),
                        actor_type: std::any::type_name::<A>().to_owned(),
                        accepts: routes.accepts.clone(),
                        incarnation: inner.incarnation.clone(),
                        ready: false,
                    };
                    let revision = registry::claim(&inner, &name, &entry).await?;
                    // Kept claimed from now on, should another node purge it.
                    let lost = inner.held.hold(&name, revision, entry);
                    match inner.client.subscribe(inner.actor_subject(&name)).await {
                        Ok(sub) => (sub, Some(lost)),
                        Err(e) => {
                            unclaim(Arc::clone(&inner), name).await;
                            return Err(ExportError::Nats(e.to_string()));
                        }
                    }
                }
                Target::Pool => {
                    let sub = inner
                        .client
                        .queue_subscribe(crate::pool::pool_subject(&inner, &name), name.clone())
                        .await
                        .map_err(|e| ExportError::Nats(e.to_string()))?;
                    (sub, None)
                }
            };
            // The server has the subscription before `start` returns: a send made after it,
            // from any node, reaches this actor.
            if let Err(e) = sync_with_server(&inner).await {
                drop(sub);
                unclaim(Arc::clone(&inner), name).await;
                return Err(ExportError::Nats(e));
            }
            // The actor may have ended while the name was claimed.
            if actor.upgrade().is_none() {
                drop(sub);
                unclaim(Arc::clone(&inner), name).await;
                return Err(ExportError::ActorGone);
            }
            // Served from now on: a lookup may find it.
            if let Target::Name = target {
                if let Err(e) = ready(&inner, &name).await {
                    drop(sub);
                    unclaim(Arc::clone(&inner), name).await;
                    return Err(e);
                }
            }
            let task_name = name.clone();
            let task = runtime::spawn(serve(
                Arc::clone(&inner),
                task_name,
                actor,
                routes,
                sub,
                lost,
                withdrawn,
            ));
            inner.keep_task(task);
            Ok(name)
        })
        .await?;
        Ok(Exported {
            name: started,
            withdraw: Some(withdraw),
        })
    }
}

/// Marks the held name `name` ready in the registry, and keeps the entry's new revision (and
/// its ready form, for a claim made again).
async fn ready<C: Codec>(inner: &Arc<Inner<C>>, name: &str) -> Result<(), ExportError> {
    let Some((revision, mut entry)) = inner.held.held(name) else {
        return Err(ExportError::Nats(format!(
            "the registry entry for {name:?} was lost while it was claimed"
        )));
    };
    entry.ready = true;
    let revision = registry::mark_ready(inner, name, &entry, revision).await?;
    inner.held.set(name, revision, entry);
    Ok(())
}

impl<A: Actor, MB: Mailbox, C: Codec> fmt::Debug for Export<'_, A, MB, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("accepts", &self.routes.accepts)
            .finish_non_exhaustive()
    }
}

/// A running export, or a running pool membership ([`NatsBroker::join_pool`]). Dropping it
/// leaves it running (it ends with the actor); [`withdraw`](Exported::withdraw) ends it early.
#[derive(Debug)]
pub struct Exported {
    name: String,
    withdraw: Option<oneshot::Sender<()>>,
}

impl Exported {
    /// The name it is served under (the pool's name, for a pool member).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops serving and releases the name (leaves the pool). The actor keeps running.
    pub fn withdraw(mut self) {
        if let Some(tx) = self.withdraw.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        // Dropping without `withdraw` keeps the export: forget the signal instead of sending.
        if let Some(tx) = self.withdraw.take() {
            std::mem::forget(tx);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve<A: Actor, MB: Mailbox, C: Codec>(
    inner: Arc<Inner<C>>,
    name: String,
    actor: WeakActorRef<A, MB>,
    routes: Routes<A::Message, C>,
    mut sub: async_nats::Subscriber,
    lost: Option<oneshot::Receiver<String>>,
    mut withdrawn: oneshot::Receiver<()>,
) {
    let sid = inner.track(&sub, &name);
    let holds_name = lost.is_some();
    // Resolves with the new holder if another node takes the name over (a pool member, which
    // holds no name, never loses one). A dropped sender (the name released here) is no loss.
    let lost = async move {
        match lost {
            Some(lost) => match lost.await {
                Ok(holder) => holder,
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lost);
    let mut lost_to = None;
    {
        let exit = actor.wait();
        tokio::pin!(exit);
        let mut served = 0u32;
        'serving: loop {
            // The subscription first: while messages keep coming, the end of the actor and a
            // withdrawal are looked at every 64 messages rather than before each one (each look
            // takes the exit watch's lock). A message for an ended actor meanwhile is refused
            // as `ActorGone`, as it would be after the loop.
            served = served.wrapping_add(1);
            if served % 64 == 0 {
                if futures::FutureExt::now_or_never(&mut exit).is_some()
                    || futures::FutureExt::now_or_never(&mut withdrawn).is_some()
                {
                    break;
                }
                if let Some(holder) = futures::FutureExt::now_or_never(&mut lost) {
                    lost_to = Some(holder);
                    break;
                }
            }
            let msg = tokio::select! {
                biased;
                msg = sub.next() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                _ = &mut exit => break,
                _ = &mut withdrawn => break,
                holder = &mut lost => {
                    lost_to = Some(holder);
                    break 'serving;
                }
            };
            // An actor that is stopping takes no more messages: the subscription ends now,
            // so that the server routes the name's next messages elsewhere (another member of
            // a pool) or finds nobody, rather than here to be refused one by one.
            let mut ending = false;
            handle(&inner, &name, &actor, &routes, msg, &mut ending).await;
            if ending {
                break;
            }
        }
    }
    // A name lost just as the loop ended for another reason is still told.
    if lost_to.is_none()
        && let Some(holder) = futures::FutureExt::now_or_never(&mut lost)
    {
        lost_to = Some(holder);
    }
    // Stop the server's deliveries, and answer what it delivered meanwhile instead of dropping
    // it: to the actor if it still runs (withdrawn), else `ActorGone` to the sender.
    drain(&inner, &mut sub, |msg| {
        let (inner, name, actor, routes) = (&inner, &name, &actor, &routes);
        async move { handle(inner, name, actor, routes, msg, &mut false).await }
    })
    .await;
    inner.forget(sid);
    // Told once the server no longer routes the name here, so that what is sent after it goes
    // to the new holder alone.
    if let Some(holder) = lost_to {
        inner.members.emit(crate::members::MemberEvent::NameLost {
            name: name.clone(),
            holder,
        });
    }
    // The revision this node holds now (it claims the name again if another node purged it);
    // none if the name was lost to another node.
    if let Some(revision) = holds_name.then(|| inner.held.release(&name)).flatten() {
        registry::release(&inner, &name, revision).await;
    }
}

/// Hands one received message to the actor, or refuses it. Sets `ending` if the actor's
/// mailbox no longer takes messages (the actor is stopping or has ended).
async fn handle<A: Actor, MB: Mailbox, C: Codec>(
    inner: &Arc<Inner<C>>,
    name: &str,
    actor: &WeakActorRef<A, MB>,
    routes: &Routes<A::Message, C>,
    msg: async_nats::Message,
    ending: &mut bool,
) {
    let reply_to = msg.reply.clone();
    let reject = |reply_to: Option<async_nats::Subject>, correlation: u64, why: Rejection| {
        let inner = Arc::clone(inner);
        async move {
            if let Some(to) = reply_to {
                let mut out = Vec::new();
                envelope::rejection(&mut out, correlation, &why, inner.limit, 0);
                let _ = inner.client.publish(to, out.into()).await;
            }
        }
    };
    if msg.payload.len() > inner.limit {
        return reject(
            reply_to,
            0,
            Rejection::TooLarge {
                size: msg.payload.len() as u64,
                limit: inner.limit as u64,
            },
        )
        .await;
    }
    let env = match envelope::parse(&msg.payload) {
        Ok(env) => env,
        Err(why) => return reject(reply_to, 0, why).await,
    };
    let correlation = env.correlation;
    // Where a refusal goes: the reply subject, or for a lean tell (which has none) the inbox
    // of the node it names, worked out only if there is a refusal to send.
    let refusals_to = || match &reply_to {
        Some(to) => Some(to.clone()),
        None if env.kind == Kind::TellFrom => inner.tell_inbox_of(env.sender, correlation, name),
        None => None,
    };
    if matches!(env.kind, Kind::Reply | Kind::Rejection) {
        let why = Rejection::Malformed {
            detail: "an answer sent to an actor".into(),
        };
        return reject(refusals_to(), correlation, why).await;
    }
    let (message, answer) = match routes.convert(&inner.codec, &env, || name.to_owned()) {
        Ok(converted) => converted,
        Err(why) => return reject(refusals_to(), correlation, why).await,
    };
    let acked = env.kind == Kind::AckedTell;
    let Some(target) = actor.upgrade() else {
        *ending = true;
        return reject(refusals_to(), correlation, Rejection::ActorGone).await;
    };
    match target.tell(message).await {
        Ok(()) => {}
        Err(SendError::Closed(m)) => {
            crate::routes::discard(m);
            *ending = true;
            return reject(refusals_to(), correlation, Rejection::ActorGone).await;
        }
        Err(SendError::Full(m)) => {
            crate::routes::discard(m);
            return reject(refusals_to(), correlation, Rejection::MailboxFull).await;
        }
    }
    drop(target);
    if let (true, Some(to)) = (acked, reply_to.clone()) {
        let mut out = Vec::new();
        envelope::write_header(&mut out, Kind::Reply, correlation, "");
        let _ = inner.client.publish(to, out.into()).await;
    }
    if let (Some(answer), Some(to)) = (answer, reply_to) {
        let inner = Arc::clone(inner);
        runtime::spawn(async move {
            let mut out = Vec::new();
            match answer.await {
                Ok(body) => envelope::answer(&mut out, correlation, &body, inner.limit, 0),
                Err(why) => envelope::rejection(&mut out, correlation, &why, inner.limit, 0),
            }
            let _ = inner.client.publish(to, out.into()).await;
        });
    }
}

/// Unsubscribes `sub` and passes `each` the messages that were on their way to it (those the
/// client holds, and those the server sent before it saw the unsubscription and that arrive
/// before the client drops the subscription: the rest, in flight on the network, is lost, at
/// most once). Bounded, so that a connection that went away cannot hold the caller.
pub(crate) async fn drain<C, F, Fut>(
    inner: &Inner<C>,
    sub: &mut async_nats::Subscriber,
    mut each: F,
) where
    F: FnMut(async_nats::Message) -> Fut,
    Fut: Future<Output = ()>,
{
    if sub.drain().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        // The client drops the subscription on its next turn, which a round trip brings on at
        // once (an idle connection would wait for its next heartbeat).
        let (_, ()) = futures::join!(sync_with_server(inner), async {
            while let Some(msg) = sub.next().await {
                each(msg).await;
            }
        });
    })
    .await;
}

/// The longest a drain waits for the client to close the subscription.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until the server has processed everything this node sent before (a subscription,
/// above all): async-nats 0.38's `flush` only writes the socket. A request on a subject nobody
/// serves is answered by the server itself ("no responders") after what came before it on
/// the connection.
pub(crate) async fn sync_with_server<C>(inner: &Inner<C>) -> Result<(), String> {
    let subject = format!("{}.sync.{}", inner.prefix, inner.node);
    match inner.client.request(subject, bytes::Bytes::new()).await {
        // Someone answers on that subject after all: the server got there just as well.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
