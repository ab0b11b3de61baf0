//! Serving a local actor under a cluster-wide name.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::oneshot;
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef, Reply, SendError, WeakActorRef, reply_port};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::broker::{Inner, NatsBroker};
use crate::codec::{Codec, CodecError};
use crate::config::is_token;
use crate::envelope::{self, Kind, Rejection};
use crate::error::ExportError;
use crate::registry::{self, Entry};
use crate::runtime;

type Answer = Pin<Box<dyn Future<Output = Result<Vec<u8>, Rejection>> + Send>>;
type TellRoute<M, C> = Box<dyn Fn(&C, &[u8]) -> Result<M, CodecError> + Send + Sync>;
type AskRoute<M, C> = Box<dyn Fn(&C, &[u8]) -> Result<(M, Answer), CodecError> + Send + Sync>;

struct Routes<M, C> {
    tells: HashMap<&'static str, TellRoute<M, C>>,
    asks: HashMap<&'static str, AskRoute<M, C>>,
    accepts: Vec<String>,
}

/// Declares what an exported actor takes from other nodes, then starts serving it:
/// [`NatsBroker::export`] makes one.
///
/// Each accepted type is named by its Rust type name on the wire, so every node must build the
/// type from the same definition (the same crate version).
#[must_use = "an export does nothing until `start` is awaited"]
pub struct Export<'b, A: Actor, MB: Mailbox, C: Codec> {
    broker: &'b NatsBroker<C>,
    name: String,
    actor: ActorRef<A, MB>,
    routes: Routes<A::Message, C>,
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
        Export {
            broker: self,
            name: name.to_owned(),
            actor: actor.clone(),
            routes: Routes {
                tells: HashMap::new(),
                asks: HashMap::new(),
                accepts: Vec::new(),
            },
        }
    }
}

impl<A: Actor, MB: Mailbox, C: Codec> Export<'_, A, MB, C> {
    /// Accepts tells of `Q`, turned into the actor's message by `From`.
    pub fn tell<Q>(mut self) -> Self
    where
        Q: DeserializeOwned + Send + 'static,
        A::Message: From<Q>,
    {
        let tag = envelope::truncate(std::any::type_name::<Q>());
        self.routes.accepts.push(format!("tell:{tag}"));
        self.routes.tells.insert(
            tag,
            Box::new(|codec: &C, body: &[u8]| codec.decode::<Q>(body).map(A::Message::from)),
        );
        self
    }

    /// Accepts asks of `Q` answered with an `R`: `make` puts the request and its reply port in
    /// the actor's message, as for a local [`ActorRef::ask`].
    pub fn ask<Q, R>(
        mut self,
        make: impl Fn(Q, Reply<R>) -> A::Message + Send + Sync + 'static,
    ) -> Self
    where
        Q: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        let tag = envelope::truncate(std::any::type_name::<Q>());
        self.routes
            .accepts
            .push(format!("ask:{tag}->{}", std::any::type_name::<R>()));
        self.routes.asks.insert(
            tag,
            Box::new(move |codec: &C, body: &[u8]| {
                let q = codec.decode::<Q>(body)?;
                let (reply, answer) = reply_port::<R>();
                let codec = codec.clone();
                let answer: Answer = Box::pin(async move {
                    match answer.await {
                        Ok(r) => {
                            let mut out = Vec::new();
                            codec.encode(&r, &mut out).map_err(|e| Rejection::Decode {
                                type_name: std::any::type_name::<R>().to_owned(),
                                detail: format!("the answer cannot be encoded: {}", e.detail()),
                            })?;
                            Ok(out)
                        }
                        Err(no) => Err(Rejection::NoReply(no.into())),
                    }
                });
                Ok((make(q, reply), answer))
            }),
        );
        self
    }

    /// Claims the name in the cluster registry and starts serving. The export lasts until the
    /// actor ends (the name is then released), [`Exported::withdraw`] is called, or this node
    /// leaves or dies (the other nodes then purge the name).
    ///
    /// # Errors
    ///
    /// [`ExportError`]: an invalid name, a name a live actor holds on any node, an actor that
    /// has ended, no accepted type, a NATS failure.
    pub async fn start(self) -> Result<Exported, ExportError> {
        if !is_token(&self.name) {
            return Err(ExportError::InvalidName { name: self.name });
        }
        if self.routes.tells.is_empty() && self.routes.asks.is_empty() {
            return Err(ExportError::NothingAccepted);
        }
        if !self.actor.is_alive() {
            return Err(ExportError::ActorGone);
        }
        let inner = Arc::clone(&self.broker.inner);
        let name = self.name;
        let actor = self.actor.downgrade();
        let routes = self.routes;
        let (withdraw, withdrawn) = oneshot::channel();
        let started = runtime::run(async move {
            let entry = Entry {
                node: inner.node.clone(),
                actor_type: std::any::type_name::<A>().to_owned(),
                accepts: routes.accepts.clone(),
            };
            let revision = registry::claim(&inner, &name, &entry).await?;
            let sub = match inner.client.subscribe(inner.actor_subject(&name)).await {
                Ok(sub) => sub,
                Err(e) => {
                    registry::release(&inner, &name, revision).await;
                    return Err(ExportError::Nats(e.to_string()));
                }
            };
            // Once `start` returns, the server knows the subscription, so a send from any node
            // reaches it. A flush only empties the client's buffer; a request to the server on
            // this connection (which it handles after the SUB before it) is a round trip.
            if let Err(e) = inner.registry.entry(&name).await {
                registry::release(&inner, &name, revision).await;
                return Err(ExportError::Nats(e.to_string()));
            }
            // The actor may have ended while the name was claimed.
            if actor.upgrade().is_none() {
                registry::release(&inner, &name, revision).await;
                return Err(ExportError::ActorGone);
            }
            let task_name = name.clone();
            let task = runtime::spawn(serve(
                Arc::clone(&inner),
                task_name,
                actor,
                routes,
                sub,
                revision,
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

impl<A: Actor, MB: Mailbox, C: Codec> fmt::Debug for Export<'_, A, MB, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export")
            .field("name", &self.name)
            .field("accepts", &self.routes.accepts)
            .finish_non_exhaustive()
    }
}

/// A running export. Dropping it leaves the export running (it ends with the actor);
/// [`withdraw`](Exported::withdraw) ends it early.
#[derive(Debug)]
pub struct Exported {
    name: String,
    withdraw: Option<oneshot::Sender<()>>,
}

impl Exported {
    /// The name it is served under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops serving and releases the name. The actor keeps running.
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
    revision: u64,
    mut withdrawn: oneshot::Receiver<()>,
) {
    {
        let exit = actor.wait();
        tokio::pin!(exit);
        loop {
            let msg = tokio::select! {
                _ = &mut exit => break,
                _ = &mut withdrawn => break,
                msg = sub.next() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
            };
            handle(&inner, &name, &actor, &routes, msg).await;
        }
    }
    // Messages NATS delivered before it saw the unsubscription are still answered: handed to
    // the actor if it lives (a withdrawn export), refused as `ActorGone` if not; none is
    // dropped unanswered.
    let _ = sub.unsubscribe().await;
    while let Ok(Some(msg)) = tokio::time::timeout(DRAIN_IDLE, sub.next()).await {
        handle(&inner, &name, &actor, &routes, msg).await;
    }
    registry::release(&inner, &name, revision).await;
}

/// How long an ended export waits for one more message NATS had already sent it.
const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_millis(50);

async fn handle<A: Actor, MB: Mailbox, C: Codec>(
    inner: &Arc<Inner<C>>,
    name: &str,
    actor: &WeakActorRef<A, MB>,
    routes: &Routes<A::Message, C>,
    msg: async_nats::Message,
) {
    let reply_to = msg.reply.clone();
    let reject = |correlation: u64, why: Rejection| {
        let inner = Arc::clone(inner);
        let reply_to = reply_to.clone();
        async move {
            if let Some(to) = reply_to {
                let mut out = Vec::new();
                envelope::rejection(&mut out, correlation, &why);
                let _ = inner.client.publish(to, out.into()).await;
            }
        }
    };
    if msg.payload.len() > inner.limit {
        return reject(
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
        Err(why) => return reject(0, why).await,
    };
    let correlation = env.correlation;
    let wrong_type = || Rejection::WrongType {
        name: name.to_owned(),
        got: env.tag.to_owned(),
        accepted: routes.accepts.clone(),
    };
    let decode_error = |e: CodecError| Rejection::Decode {
        type_name: env.tag.to_owned(),
        detail: e.detail().to_owned(),
    };
    let (message, answer) = match env.kind {
        Kind::Tell | Kind::AckedTell => match routes.tells.get(env.tag) {
            None => return reject(correlation, wrong_type()).await,
            Some(route) => match route(&inner.codec, env.body) {
                Ok(m) => (m, None),
                Err(e) => return reject(correlation, decode_error(e)).await,
            },
        },
        Kind::Ask => match routes.asks.get(env.tag) {
            None => return reject(correlation, wrong_type()).await,
            Some(route) => match route(&inner.codec, env.body) {
                Ok((m, answer)) => (m, Some(answer)),
                Err(e) => return reject(correlation, decode_error(e)).await,
            },
        },
        Kind::Reply | Kind::Rejection => {
            return reject(
                correlation,
                Rejection::Malformed {
                    detail: "an answer sent to an actor".into(),
                },
            )
            .await;
        }
    };
    let acked = env.kind == Kind::AckedTell;
    let Some(target) = actor.upgrade() else {
        return reject(correlation, Rejection::ActorGone).await;
    };
    match target.tell(message).await {
        Ok(()) => {}
        Err(SendError::Closed(_)) => return reject(correlation, Rejection::ActorGone).await,
        Err(SendError::Full(_)) => return reject(correlation, Rejection::MailboxFull).await,
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
                Ok(body) if body.len() + 64 > inner.limit => {
                    envelope::rejection(
                        &mut out,
                        correlation,
                        &Rejection::TooLarge {
                            size: body.len() as u64,
                            limit: inner.limit as u64,
                        },
                    );
                }
                Ok(body) => {
                    envelope::write_header(&mut out, Kind::Reply, correlation, "");
                    out.extend_from_slice(&body);
                }
                Err(why) => envelope::rejection(&mut out, correlation, &why),
            }
            let _ = inner.client.publish(to, out.into()).await;
        });
    }
}
