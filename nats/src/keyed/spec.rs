//! Declaring a sharded group ([`ShardedSpec`]) and the handle of a node's part in it
//! ([`Sharded`]).

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::channel::oneshot;
use playhouse_broker::keyed::{BoxedSupervision, Reactivation, SupervisionMaker};
use playhouse_core::mailbox::{Block, Bounded, Mailbox};
use playhouse_core::{
    Actor, ActorRef, BoxError, Executor, Handler, MessageBroker, Reply, System, Wiring,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::durable::{self, Delivery, Redelivery};
use super::lease::Leases;
use super::serve::{self, Counters, Factory, Group, Spawn, claim_subject, direct_subject};
use super::state::KeyState;
use super::supervise::{ActorClock, SupervisionFactory};
use crate::broker::{NatsBroker, bucket};
use crate::codec::{Codec, Postcard};
use crate::config::is_token;
use crate::error::ExportError;
use crate::routes::Routes;
use crate::runtime;

/// The most bytes a sharded group's name and the cluster's prefix may have together: the
/// group's state bucket is the stream `KV_<prefix>_state_<group>` (10 bytes besides the two),
/// its durable messages the stream `<prefix>_durable_<group>` (9), and JetStream takes stream
/// names of 255 bytes at most.
pub(crate) const GROUP_AND_PREFIX_LIMIT: usize = 255 - "KV__state_".len();

/// Declares a sharded group: the factory that makes a key's actor (given the key and its
/// [`KeyState`]), the message types it takes from other nodes, its mailbox and idle time; then
/// [`start`](ShardedSpec::start) serves it on this node. Made by [`NatsBroker::sharded`].
#[must_use = "a sharded group does nothing until `start` is awaited"]
pub struct ShardedSpec<'b, A: Actor, MB: Mailbox, C: Codec> {
    broker: &'b NatsBroker<C>,
    group: String,
    factory: Factory<A, C>,
    routes: Routes<A::Message, C>,
    mailbox: MB,
    idle: Option<Duration>,
    redelivery: Redelivery,
    supervision: Option<SupervisionFactory<A>>,
}

impl<C: Codec> NatsBroker<C> {
    /// Declares this node's part in the sharded group `group`: actors of type `A`, one per
    /// key, each living on one node of the group at a time. `factory` makes a key's actor
    /// when a message for it reaches the node that takes its lease: it is given the key and
    /// the key's [`KeyState`] (what the key's previous owner saved, and where to save), and
    /// returns a future of the actor or of why it cannot be made (the sender then gets
    /// [`Rejection::ActivationFailed`](crate::Rejection::ActivationFailed)).
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
    /// # use playhouse_nats::{KeyState, NatsBroker, StateError};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Deposit(u64);
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Balance;
    /// # enum Msg { Deposit(u64, Reply<u64>), Balance(Reply<u64>) }
    /// struct Account { balance: u64, state: KeyState }
    /// # impl Actor for Account { type Message = Msg; type Error = StateError; }
    /// # impl<V: Env> Handler<V> for Account {
    /// #     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), StateError> {
    /// #         match msg {
    /// #             Msg::Deposit(n, reply) => {
    /// #                 self.state.save(&(self.balance + n)).await?; // fenced write first
    /// #                 self.balance += n;
    /// #                 let _ = reply.send(self.balance);
    /// #             }
    /// #             Msg::Balance(reply) => { let _ = reply.send(self.balance); }
    /// #         }
    /// #         Ok(())
    /// #     }
    /// # }
    /// # async fn f<E: playhouse_core::Executor>(broker: NatsBroker, system: System<E, NatsBroker>) {
    /// let accounts = broker
    ///     .sharded("accounts", |_key: &str, state: KeyState| async move {
    ///         let balance = state.load::<u64>()?.unwrap_or(0);
    ///         Ok::<_, StateError>(Account { balance, state })
    ///     })
    ///     .ask::<Deposit, u64>(|Deposit(n), reply| Msg::Deposit(n, reply))
    ///     .ask::<Balance, u64>(|Balance, reply| Msg::Balance(reply))
    ///     .start(&system)
    ///     .await
    ///     .expect("serving");
    ///
    /// // From any node (this one included):
    /// let deposits = broker.sharded_ref::<Deposit>("accounts");
    /// let balance: u64 = deposits
    ///     .ask("alice", Deposit(10), std::time::Duration::from_secs(5))
    ///     .await
    ///     .expect("answered by alice's owner");
    /// # let _ = (accounts, balance);
    /// # }
    /// ```
    pub fn sharded<A, F, Fut, E>(
        &self,
        group: &str,
        factory: F,
    ) -> ShardedSpec<'_, A, Bounded<Block>, C>
    where
        A: Actor,
        F: Fn(&str, KeyState<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let factory: Factory<A, C> = Arc::new(move |key: &str, state: KeyState<C>| {
            let made = factory(key, state);
            Box::pin(async move { made.await.map_err(Into::into) })
        });
        ShardedSpec {
            broker: self,
            group: group.to_owned(),
            factory,
            routes: Routes::new(),
            mailbox: Bounded::default(),
            idle: None,
            redelivery: Redelivery::default(),
            supervision: None,
        }
    }
}

impl<'b, A: Actor, MB: Mailbox, C: Codec> ShardedSpec<'b, A, MB, C> {
    /// Accepts tells of `Q`, turned into the actor's message by `From`. A `From` that panics
    /// is refused with [`Rejection::ConversionPanicked`](crate::Rejection::ConversionPanicked)
    /// and the group goes on serving.
    pub fn tell<Q>(mut self) -> Self
    where
        Q: DeserializeOwned + Send + 'static,
        A::Message: From<Q>,
    {
        self.routes.tell::<Q>();
        self
    }

    /// Accepts asks of `Q` answered with an `R`: `make` puts the request and its reply port in
    /// the actor's message. A `make` that panics is refused with
    /// [`Rejection::ConversionPanicked`](crate::Rejection::ConversionPanicked) and the group
    /// goes on serving; an answer whose encoding panics (the request was handled) is
    /// [`RemoteError::AnswerLost`](crate::RemoteError::AnswerLost) for the sender.
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

    /// Accepts the actor's whole message type, as its
    /// [`RemoteProtocol`](crate::RemoteProtocol) writes it (`#[actor(remote)]` implements
    /// it): what a [`ShardedRef`](crate::ShardedRef) of that type sends through
    /// [`at(key)`](crate::ShardedRef::at), a [`MessageTarget`](playhouse_core::MessageTarget),
    /// so `#[actor]`'s helpers work on a key of the group from any node. A decoding that fails
    /// or panics is refused as for the other routes, and the group goes on serving.
    pub fn protocol(mut self) -> Self
    where
        A::Message: crate::RemoteProtocol,
    {
        self.routes.protocol();
        self
    }

    /// Accepts the actor's protocol messages that carry a reply port as durable messages,
    /// sent with [`ShardedAt::tell_durable`](crate::ShardedAt::tell_durable)
    /// (`wallets.at("alice").tell_durable(id, |reply| WalletMsg::Deposit { amount: 5, reply },
    /// timeout)`): stored in the group's JetStream stream first, then delivered to the key's
    /// actor, one at a time in the order stored, as [`durable`](ShardedSpec::durable)'s are.
    /// It does not need [`protocol`](ShardedSpec::protocol) beside it.
    ///
    /// What confirms a message is the actor's answer, which goes to nobody else: for a message
    /// answered with a `Result` (a port taken with
    /// [`ReplyPort::reply_result`](crate::ReplyPort::reply_result), as `#[actor(remote)]`
    /// does for a method whose return type is written `Result<T, E>`, with both arguments: a
    /// one-argument alias such as `io::Result<T>` is an answer like any other), an `Ok`; for
    /// any other, any answer. An `Err` that will not change (a business refusal) is delivered
    /// again up to the limit below, holding the key's later durable messages back meanwhile,
    /// and then ends as a dead letter: answer such refusals with `Ok` of a type that says so. A message that
    /// is not confirmed (an `Err` answer, a port dropped unanswered because the handler
    /// panicked or the actor stopped) is delivered again after a pause, and so is one whose
    /// node died, after the lease TTL, to the key's next owner; after
    /// [`Redelivery::max_deliveries`](crate::Redelivery::max_deliveries) it is given up as a
    /// `Rejected` dead letter ([`redelivery`](ShardedSpec::redelivery)). A handler that keeps
    /// the port without answering holds the key's later durable messages back until it does.
    ///
    /// At least once: a message answered on a node that died before the stream heard of the
    /// answer is handled again by the key's next owner, and the handler has no
    /// [`Delivery::sequence`] to recognise it by. A message that must not take effect twice
    /// carries an id of its own that the actor saves with its state (or use
    /// [`durable`](ShardedSpec::durable), whose [`Delivery`] carries the sequence). A message
    /// without a reply port (a `#[message]` method that returns nothing: mark it
    /// `#[message(ask)]` to give it one), or one that does not decode, is taken out of the
    /// stream as a `Rejected` dead letter of this node; the sender refuses to store the
    /// former. Stored messages are decoded by the protocol of the node that delivers them:
    /// declare every node's `durable_protocol` before sending any, and change the message type
    /// only by adding variants at its end (with postcard, a variant is its place).
    pub fn durable_protocol(mut self) -> Self
    where
        A::Message: crate::RemoteProtocol,
    {
        self.routes.durable_protocol();
        self
    }

    /// Accepts durable messages of `Q`, sent with
    /// [`ShardedRef::tell_durable`](crate::ShardedRef::tell_durable): stored in the group's
    /// JetStream stream first, then delivered to the key's actor, one at a time in the order
    /// stored, until it confirms each. `make` puts the message and its [`Delivery`] in the
    /// actor's message; the actor calls [`Delivery::confirm`] once it has handled it. A
    /// delivery dropped unconfirmed (the handler failed, the actor stopped, the node died) is
    /// delivered again, after a pause, up to a number of deliveries
    /// ([`redelivery`](ShardedSpec::redelivery)): at least once. See [`Delivery::sequence`]
    /// to skip what was handled but not confirmed. A `make` that panics, or a message that
    /// does not decode, is taken out of the stream as a `Rejected` dead letter of this node.
    /// A key whose factory fails keeps its messages stored, and its activation is tried again
    /// once per lease TTL (counted in [`ShardedStats::activation_failures`]).
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Context, Env, Handler};
    /// # use playhouse_nats::{Delivery, KeyState, NatsBroker, StateError};
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Credit(u64);
    ///
    /// enum Msg { Credit(u64, Delivery) }
    ///
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Saved { balance: u64, last: u64 }
    ///
    /// struct Account { saved: Saved, state: KeyState }
    /// # impl Actor for Account { type Message = Msg; type Error = StateError; }
    /// impl<V: Env> Handler<V> for Account {
    ///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), StateError> {
    ///         let Msg::Credit(n, delivery) = msg;
    ///         if delivery.sequence() > self.saved.last {
    ///             // Not handled before: the balance and the sequence are saved together.
    ///             let next = Saved { balance: self.saved.balance + n, last: delivery.sequence() };
    ///             self.state.save(&next).await?;
    ///             self.saved = next;
    ///         }
    ///         delivery.confirm();
    ///         Ok(())
    ///     }
    /// }
    /// # async fn f<E: playhouse_core::Executor>(broker: NatsBroker, system: playhouse_core::System<E, NatsBroker>) {
    /// broker
    ///     .sharded("ledger", |_key: &str, state: KeyState| async move {
    ///         let saved = state.load::<Saved>()?.unwrap_or_default();
    ///         Ok::<_, StateError>(Account { saved, state })
    ///     })
    ///     .durable::<Credit>(|Credit(n), delivery| Msg::Credit(n, delivery))
    ///     .start(&system)
    ///     .await
    ///     .expect("serving");
    ///
    /// // From any node: stored once under its id, handled at least once.
    /// let credits = broker.sharded_ref::<Credit>("ledger");
    /// let stored = credits
    ///     .tell_durable("alice", "credit-0001", Credit(10), std::time::Duration::from_secs(5))
    ///     .await
    ///     .expect("stored");
    /// # let _ = stored;
    /// # }
    /// ```
    pub fn durable<Q>(
        mut self,
        make: impl Fn(Q, Delivery) -> A::Message + Send + Sync + 'static,
    ) -> Self
    where
        Q: DeserializeOwned + Send + 'static,
    {
        self.routes.durable(make);
        self
    }

    /// How a durable message dropped unconfirmed is delivered again, and after how many
    /// deliveries it is given up as a dead letter (the default: [`Redelivery::default`]).
    pub fn redelivery(mut self, redelivery: Redelivery) -> Self {
        self.redelivery = redelivery;
        self
    }

    /// Gives every activation `mailbox` (the default: `Bounded<Block>`, capacity 256).
    pub fn mailbox<MB2: Mailbox>(self, mailbox: MB2) -> ShardedSpec<'b, A, MB2, C> {
        ShardedSpec {
            broker: self.broker,
            group: self.group,
            factory: self.factory,
            routes: self.routes,
            mailbox,
            idle: self.idle,
            redelivery: self.redelivery,
            supervision: self.supervision,
        }
    }

    /// Passivates a key once no message has reached it on this node for `idle` and nothing is
    /// queued in its mailbox (a key with messages queued is busy, or waits for a restart whose
    /// queue a passivation would discard): the actor is stopped gracefully (it handles what is
    /// queued; its `stopped` hook runs) and the lease given back. The default is never (a key
    /// stays on its node until the node leaves or dies, or [`Sharded::passivate`] is called).
    pub fn passivate_after(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Governs each activation on this node with a
    /// [`Supervision`](playhouse_core::Supervision) that `maker` makes for it, as
    /// [`KeyedSpec::supervise`](playhouse_broker::keyed::KeyedSpec::supervise) does for an
    /// in-memory keyed set: `playhouse-supervisor`'s `KeyedSupervision` (restart type,
    /// intensity per activation, backoff, a kept or drained queue) works on both.
    ///
    /// After each incarnation that ended on its own (an error, a panic, the actor stopping
    /// itself; never a passivation or a lapse), the supervision decides. A restart runs the
    /// group's factory again, on this node, with the key's [`KeyState`] reopened under the
    /// lease the activation holds: the fresh actor reloads what the crashed one saved, and a
    /// write of the crashed one's state handle is fenced from then on. The key stays active
    /// here and its lease held meanwhile; messages that arrive queue for the fresh actor, and
    /// the key is not passivated as idle while they wait. A passivation on demand, the group
    /// stopping or a lapse during a restart ends the activation at once, discarding what is
    /// queued, as a stop of any supervised actor between incarnations does. A restart whose
    /// lease lapsed (during a backoff, say) makes nothing and ends the activation. When the
    /// supervision ends the activation, the key's next message activates it anew (here or on
    /// whichever node takes its lease). Restarts are counted in [`ShardedStats::restarts`].
    ///
    /// A restart's factory runs on the crate's runtime, with no timeout of its own: one that
    /// never finishes holds the key's messages in its mailbox (asks end with their timeouts)
    /// until a passivation on demand, a lapse or the group's stop ends the activation. A
    /// factory that fails or panics ends the activation, and the key's next message activates
    /// it anew (its sender gets `ActivationFailed` if the factory fails again). An ask the
    /// factory makes of its own key is answered only by the actor being restarted, so it ends
    /// with its timeout.
    ///
    /// ```no_run
    /// # use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
    /// # use playhouse_nats::{KeyState, NatsBroker, StateError};
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Deposit(u64);
    /// # enum Msg { Deposit(u64, Reply<u64>) }
    /// # struct Account { balance: u64, state: KeyState }
    /// # impl Actor for Account { type Message = Msg; type Error = StateError; }
    /// # impl<V: Env> Handler<V> for Account {
    /// #     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), StateError> {
    /// #         let Msg::Deposit(n, reply) = msg;
    /// #         self.state.save(&(self.balance + n)).await?;
    /// #         self.balance += n;
    /// #         let _ = reply.send(self.balance);
    /// #         Ok(())
    /// #     }
    /// # }
    /// # async fn f<E: playhouse_core::Executor>(broker: NatsBroker, system: System<E, NatsBroker>) {
    /// use playhouse_supervisor::{KeyedSupervision, RestartType};
    /// use std::time::Duration;
    ///
    /// let accounts = broker
    ///     .sharded("accounts", |_key: &str, state: KeyState| async move {
    ///         let balance = state.load::<u64>()?.unwrap_or(0);
    ///         Ok::<_, StateError>(Account { balance, state })
    ///     })
    ///     .ask::<Deposit, u64>(|Deposit(n), reply| Msg::Deposit(n, reply))
    ///     // A crashed account is restarted from its saved balance, at most 3 times in 10 s.
    ///     .supervise(
    ///         KeyedSupervision::new(RestartType::Transient).intensity(3, Duration::from_secs(10)),
    ///     )
    ///     .start(&system)
    ///     .await
    ///     .expect("serving");
    /// # let _ = accounts;
    /// # }
    /// ```
    pub fn supervise<S: SupervisionMaker<String, A>>(mut self, maker: S) -> Self {
        self.supervision = Some(Arc::new(move |activation: Reactivation<String, A>| {
            BoxedSupervision::new(maker.make(activation))
        }));
        self
    }

    /// Starts serving the group on this node: its actors run on `system`'s executor. Opens
    /// (or makes) the lease bucket `<prefix>_leases` (its `max_age` is the node TTL of the
    /// first node that made it, and is the lease TTL) and the group's state bucket
    /// `<prefix>_state_<group>`, and subscribes to the group's subjects. A group that takes
    /// [`durable`](ShardedSpec::durable) messages also opens (or makes) its stream
    /// `<prefix>_durable_<group>`.
    ///
    /// # Errors
    ///
    /// [`ExportError::InvalidName`] for a group name that is not a token,
    /// [`ExportError::NameTooLong`] for one that is, but too long beside the prefix (245 bytes
    /// together),
    /// [`ExportError::NameTaken`] (naming this node) if this node already serves a group of
    /// that name, is starting one, or is still stopping one (two would take each other's
    /// leases away; start it again once [`Sharded::stop`] has returned before its timeout),
    /// [`ExportError::NothingAccepted`] if no message type was declared,
    /// [`ExportError::Nats`] if the buckets or subscriptions could not be made.
    pub async fn start<E, B>(self, system: &System<E, B>) -> Result<Sharded<A, MB, C>, ExportError>
    where
        E: Executor,
        B: MessageBroker,
        A: Handler<Wiring<MB, E, B>>,
    {
        if !is_token(&self.group) {
            return Err(ExportError::InvalidName { name: self.group });
        }
        let prefix = &self.broker.inner.prefix;
        if prefix.len() + self.group.len() > GROUP_AND_PREFIX_LIMIT {
            return Err(ExportError::NameTooLong {
                name: self.group,
                prefix: prefix.clone(),
                limit: GROUP_AND_PREFIX_LIMIT,
            });
        }
        if self.broker.inner.has_left() {
            return Err(ExportError::Left);
        }
        if self.routes.is_empty() {
            return Err(ExportError::NothingAccepted);
        }
        // One group of a name per node: given back when the group's serving loop ends (or
        // below, if this start fails).
        let reserved = match serve::GroupName::take(&self.broker.inner, &self.group) {
            Some(reserved) => reserved,
            None => {
                return Err(ExportError::NameTaken {
                    owner: self.broker.inner.node.clone(),
                    name: self.group,
                });
            }
        };
        let spawn: Spawn<A, MB> = {
            let system = system.clone();
            let mailbox = self.mailbox.clone();
            Arc::new(
                move |actor: A, supervision: Option<BoxedSupervision<A>>| -> ActorRef<A, MB> {
                    match supervision {
                        None => system.spawn_with(actor, mailbox.clone()),
                        Some(supervision) => system
                            .spawner(mailbox.clone())
                            .spawn_supervised(actor, supervision),
                    }
                },
            )
        };
        let clock: Arc<dyn ActorClock> = Arc::new(system.executor().clone());
        let supervision = self.supervision;
        let inner = Arc::clone(&self.broker.inner);
        let (factory, routes, idle, name) = (self.factory, self.routes, self.idle, self.group);
        let redelivery = self.redelivery;
        let (stop, stopped) = oneshot::channel();
        let group = runtime::run(async move {
            let nats = |e: &dyn fmt::Display| ExportError::Nats(e.to_string());
            let prefix = inner.prefix.clone();
            let ttl = inner.config.node_ttl;
            let leases = bucket(&inner.js, || kv::Config {
                bucket: format!("{prefix}_leases"),
                description: "playhouse: keyed-actor leases, one owner node per key".into(),
                history: 1,
                max_age: ttl,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&e))?;
            let ttl = leases
                .status()
                .await
                .map(|s| s.max_age())
                .map_err(|e| nats(&e))?;
            if ttl.is_zero() {
                return Err(ExportError::Nats(format!(
                    "the bucket {prefix}_leases has no max_age: it cannot hold leases"
                )));
            }
            let states = bucket(&inner.js, || kv::Config {
                bucket: format!("{prefix}_state_{name}"),
                description: format!("playhouse: the state of the keyed actors of {name}"),
                history: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&e))?;
            let direct = inner
                .client
                .subscribe(direct_subject(&prefix, &name, &inner.node, "*"))
                .await
                .map_err(|e| nats(&e))?;
            let claim = inner
                .client
                .queue_subscribe(
                    claim_subject(&prefix, &name, "*"),
                    format!("{prefix}-keyed-{name}"),
                )
                .await
                .map_err(|e| nats(&e))?;
            let (durable, wakes) = if routes.has_durable() {
                let stream = durable::open_stream(&inner.js, &prefix, &name)
                    .await
                    .map_err(ExportError::Nats)?;
                let wakes = inner
                    .client
                    .queue_subscribe(
                        durable::durable_subject(&prefix, &name, "*"),
                        format!("{prefix}-durable-{name}"),
                    )
                    .await
                    .map_err(|e| nats(&e))?;
                (Some(stream), Some(wakes))
            } else {
                (None, None)
            };
            inner.client.flush().await.map_err(|e| nats(&e))?;
            let leases = Leases::new(
                leases,
                inner.node.clone(),
                inner.incarnation.clone(),
                inner.members_kv.clone(),
                ttl,
                inner.config.heartbeat,
            );
            let group = Arc::new(Group {
                inner: Arc::clone(&inner),
                name,
                leases: Arc::new(leases),
                states,
                durable,
                redelivery,
                routes,
                factory,
                spawn,
                supervision,
                clock,
                idle,
                workers: Mutex::new(Default::default()),
                next_worker: AtomicU64::new(0),
                active: Mutex::new(HashSet::new()),
                counters: Arc::new(Counters::default()),
                stopped: Default::default(),
                finished: Default::default(),
            });
            let task = runtime::spawn(serve::serve(
                Arc::clone(&group),
                direct,
                claim,
                wakes,
                stopped,
                reserved,
            ));
            inner.keep_task(task);
            Ok(group)
        })
        .await?;
        let stop = Arc::new(Mutex::new(Some(stop)));
        let keys: Arc<dyn crate::broker::ActiveKeys> = group.clone();
        let mut served = (self.broker.inner.groups.lock()).unwrap_or_else(|p| p.into_inner());
        served.retain(|g| g.keys.strong_count() > 0);
        served.push(crate::broker::ServedGroup {
            stop: Arc::clone(&stop),
            keys: Arc::downgrade(&keys),
        });
        drop(served);
        Ok(Sharded { group, stop })
    }
}

impl<A: Actor, MB: Mailbox, C: Codec> fmt::Debug for ShardedSpec<'_, A, MB, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedSpec")
            .field("group", &self.group)
            .field("accepts", &self.routes.accepts)
            .field("passivate_after", &self.idle)
            .finish_non_exhaustive()
    }
}

/// This node's part in a sharded group: which keys it holds now, passivation on demand, its
/// counters, and [`stop`](Sharded::stop). Cheap to clone. Dropping it leaves the group served
/// (until the node leaves).
pub struct Sharded<A: Actor, MB: Mailbox = Bounded<Block>, C: Codec = Postcard> {
    group: Arc<Group<A, MB, C>>,
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

impl<A: Actor, MB: Mailbox, C: Codec> Clone for Sharded<A, MB, C> {
    fn clone(&self) -> Self {
        Sharded {
            group: Arc::clone(&self.group),
            stop: Arc::clone(&self.stop),
        }
    }
}

impl<A: Actor, MB: Mailbox, C: Codec> fmt::Debug for Sharded<A, MB, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sharded")
            .field("group", &self.group.name)
            .field("node", &self.group.inner.node)
            .field("active", &self.group.active_keys())
            .finish_non_exhaustive()
    }
}

/// What a node's part of a sharded group has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardedStats {
    /// Keys activated here (factory calls that returned an actor).
    pub activations: u64,
    /// Activations that failed (the state could not be opened, the factory failed or
    /// panicked).
    pub activation_failures: u64,
    /// Activations ended here: idle, on demand, stopping, after a lapse, or after their actor
    /// ended by itself (a crash without supervision, or one its supervision did not restart).
    pub passivations: u64,
    /// Activations ended because their lease lapsed.
    pub lapses: u64,
    /// Messages refused here because another node holds their key's lease (the sender was
    /// told which, and sent there).
    pub redirected: u64,
    /// Durable messages confirmed by their actor here and acknowledged to the stream.
    pub durable_confirmed: u64,
    /// Durable messages taken out of the stream here, unhandled, as dead letters (unreadable,
    /// of a type the group does not take, or delivered too many times).
    pub durable_given_up: u64,
    /// Crashed incarnations replaced by a fresh actor under the group's
    /// [`supervise`](ShardedSpec::supervise).
    pub restarts: u64,
}

impl<A: Actor, MB: Mailbox, C: Codec> Sharded<A, MB, C> {
    /// The group's name.
    pub fn group(&self) -> &str {
        &self.group.name
    }

    /// The lease TTL (the lease bucket's `max_age`).
    pub fn lease_ttl(&self) -> Duration {
        self.group.leases.ttl()
    }

    /// Whether `key` has an activation on this node now.
    pub fn is_active(&self, key: &str) -> bool {
        self.group.is_active(key)
    }

    /// The keys active on this node, sorted.
    pub fn active_keys(&self) -> Vec<String> {
        self.group.active_keys()
    }

    /// Passivates `key` on this node: the actor handles what is queued and stops, then the
    /// lease is given back; the key's next message activates it again (on whichever node
    /// takes the lease, its state reloaded through the factory). Returns whether the key was
    /// active here.
    pub async fn passivate(&self, key: &str) -> bool {
        let group = Arc::clone(&self.group);
        let key = key.to_owned();
        runtime::run(async move { group.passivate(&key).await }).await
    }

    /// The counters.
    pub fn stats(&self) -> ShardedStats {
        let c = &self.group.counters;
        ShardedStats {
            activations: c.activations.load(Ordering::Relaxed),
            activation_failures: c.activation_failures.load(Ordering::Relaxed),
            passivations: c.passivations.load(Ordering::Relaxed),
            lapses: c.lapses.load(Ordering::Relaxed),
            redirected: c.redirected.load(Ordering::Relaxed),
            durable_confirmed: c.durable_confirmed.load(Ordering::Relaxed),
            durable_given_up: c.durable_given_up.load(Ordering::Relaxed),
            restarts: c.restarts.load(Ordering::Relaxed),
        }
    }

    /// Stops serving the group on this node: no new message is taken, what the server had
    /// already delivered here is handled as any message (it may activate its key here, just
    /// before the passivation; taking it is bounded by half the node TTL, past which what is
    /// left is dropped and its senders time out), then every active key is passivated and its
    /// lease given back (other nodes take the keys on their next message). Waits for that, at
    /// most `timeout` (`Duration::MAX` for no limit).
    pub async fn stop(&self, timeout: Duration) {
        if let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
        let group = Arc::clone(&self.group);
        runtime::run(async move {
            let deadline = tokio::time::Instant::from_std(runtime::deadline_after(
                std::time::Instant::now(),
                timeout,
            ));
            crate::broker::until_passivated(|| group.still_stopping(), deadline).await;
        })
        .await;
    }
}
