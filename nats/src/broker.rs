//! [`NatsBroker`]: the in-memory broker for what stays in the process, NATS for what crosses it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use futures::channel::oneshot;
use playhouse_broker::InMemoryBroker;
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorRef, CorrelationId, DeadLetter, DeadLetterCounts, DeadLetterHookId, DeadLetterKind,
    LookupError, MessageBroker, PublishOptions, PublishReport, RegistryError, Request,
    RequestError, SubscriptionId, Topic, TopicError,
};

use crate::codec::{Codec, Postcard};
use crate::config::{Credentials, NodeConfig, is_token};
use crate::error::ConnectError;
use crate::members::{MemberEvent, Members};
use crate::runtime;

/// A message broker for actors spread over several processes, on a NATS server (JetStream on).
///
/// Inside one process it is the in-memory broker: the [`MessageBroker`] operations (the local
/// registry, topics, requests, dead letters) are [`InMemoryBroker`]'s, so an actor written for
/// the in-memory broker runs unchanged with this one; only the `System`'s broker type changes.
/// Across processes it adds:
///
/// - [`export`](NatsBroker::export): serve a local actor under a cluster-wide name, taking the
///   message types it declares from any node; the name is held in the cluster registry (a
///   JetStream key-value bucket) until the actor ends or this node dies;
/// - [`remote`](NatsBroker::remote): a typed reference to the actor under a name, wherever it
///   runs: [`RemoteRef::tell`](crate::RemoteRef::tell), `tell_acked`, `ask`;
/// - [`remote_actor`](NatsBroker::remote_actor): a reference that sends the actor's own message
///   type, reply ports included ([`RemoteActorRef`](crate::RemoteActorRef), a
///   [`MessageTarget`](playhouse_core::MessageTarget), for an actor exported with
///   [`Export::protocol`](crate::Export::protocol));
/// - [`members`](NatsBroker::members) and [`member_events`](NatsBroker::member_events): who is
///   in the cluster, from the heartbeats in the members bucket and the connection's events.
///
/// Cheap to clone (one `Arc`). The NATS client runs on a Tokio runtime the crate owns, so the
/// actors may run on any executor.
pub struct NatsBroker<C: Codec = Postcard> {
    pub(crate) inner: Arc<Inner<C>>,
}

impl<C: Codec> Clone for NatsBroker<C> {
    fn clone(&self) -> Self {
        NatsBroker {
            inner: Arc::clone(&self.inner),
        }
    }
}

pub(crate) struct Inner<C> {
    pub(crate) codec: C,
    pub(crate) local: InMemoryBroker,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) node: String,
    /// This node's incarnation: the token of its connection (see [`Members`]).
    pub(crate) incarnation: String,
    pub(crate) prefix: String,
    pub(crate) config: NodeConfig,
    /// The largest message sent or accepted: the config's, capped by the server's.
    pub(crate) limit: usize,
    pub(crate) registry: kv::Store,
    pub(crate) members_kv: kv::Store,
    pub(crate) members: Members,
    /// The asks waiting for an answer, by correlation id.
    pub(crate) pending: Mutex<HashMap<u64, oneshot::Sender<async_nats::Message>>>,
    pub(crate) next_correlation: AtomicU64,
    /// Where this incarnation's numbers of plain-tell message types start (random; see
    /// [`crate::inbox`]): a refusal of an earlier incarnation's tell, sent to the same inbox,
    /// names a number this one does not use.
    pub(crate) tell_base: u64,
    pub(crate) left: AtomicBool,
    /// Set once the node has finished leaving (`true` in it): a second `leave` waits for it.
    pub(crate) gone: tokio::sync::watch::Sender<bool>,
    /// Set under the pending table's lock when the inbox is gone (the node left, or its
    /// connection closed for good): no request may wait for an answer after that.
    pub(crate) inbox_closed: AtomicBool,
    /// The node's tasks, to abort when it leaves; `None` once it has (a task kept after that,
    /// from a start that passed its check just before, is aborted at once).
    pub(crate) tasks: Mutex<Option<Vec<tokio::task::JoinHandle<()>>>>,
    /// The heartbeats' task: a leave stops it last, just before it withdraws the heartbeat
    /// (see `stop_heartbeats`).
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Told by a leave: the heartbeats finish the beat under way and end.
    stop_beating: Arc<tokio::sync::Notify>,
    /// What each of this node's serving subscriptions serves (an export's or pool's name, a
    /// topic), by the client's subscription id: the target of its overflow dead letters.
    pub(crate) serving: Mutex<HashMap<u64, String>>,
    /// The names this node's exports hold in the registry, kept claimed while they serve.
    pub(crate) held: Arc<crate::held_names::HeldNames>,
    /// Told after a reconnection: the members watch is opened again (see `watch_members`).
    pub(crate) rewatch_members: Arc<tokio::sync::Notify>,
    /// The sharded groups this node serves, which [`NatsBroker::leave`] stops first.
    pub(crate) groups: Mutex<Vec<ServedGroup>>,
    /// The sharded groups this node serves or is starting, by name: one of each at a time
    /// (two would take each other's leases away, key after key). A name is taken by
    /// `ShardedSpec::start` and given back when that group's serving loop ends.
    pub(crate) group_names: Mutex<std::collections::HashSet<String>>,
}

/// A sharded group this node serves, as [`NatsBroker::leave`] stops it: the group's stop
/// signal (shared with its [`Sharded`](crate::Sharded) handle) and how many keys it still has.
pub(crate) struct ServedGroup {
    pub(crate) stop: Arc<Mutex<Option<futures::channel::oneshot::Sender<()>>>>,
    pub(crate) keys: std::sync::Weak<dyn ActiveKeys>,
}

/// How much of a served group is still to stop here: its active keys (each with a worker that
/// passivates it and gives its lease back when the group stops), and its serving loop until
/// that has drained its subscriptions.
pub(crate) trait ActiveKeys: Send + Sync {
    fn active(&self) -> usize;
}

impl<C> Inner<C> {
    /// The subject an actor exported under `name` listens on.
    pub(crate) fn actor_subject(&self, name: &str) -> String {
        format!("{}.actor.{}", self.prefix, name)
    }

    /// The subject this node's answers and rejections come to, under which `suffix` says what
    /// they answer.
    pub(crate) fn inbox(&self, suffix: &str) -> String {
        format!("{}.inbox.{}.{}", self.prefix, self.node, suffix)
    }

    /// Whether this node has left the cluster ([`NatsBroker::leave`]): it sends and serves
    /// nothing more.
    pub(crate) fn has_left(&self) -> bool {
        self.left.load(Ordering::SeqCst)
    }

    /// The subject where `node` takes the refusals of its plain tells of the message type it
    /// numbers `type_index`, sent to `name` (see `inbox`).
    pub(crate) fn tell_inbox(&self, node: &str, type_index: u64, name: &str) -> String {
        format!("{}.inbox.{node}.t.{type_index}.{name}", self.prefix)
    }

    /// [`tell_inbox`](Inner::tell_inbox) for a lean tell's sender, if the name it gives is a
    /// node name (a subject token): anything else, which could aim the refusal at another
    /// subject, gets no refusal.
    pub(crate) fn tell_inbox_of(
        &self,
        node: &str,
        type_index: u64,
        name: &str,
    ) -> Option<async_nats::Subject> {
        is_token(node).then(|| async_nats::Subject::from(self.tell_inbox(node, type_index, name)))
    }

    pub(crate) fn pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<async_nats::Message>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends every ask waiting for an answer (each sees its sender dropped: `InboxClosed`), once
    /// the inbox is gone. Their wakers run after the table's lock is released.
    pub(crate) fn abandon_pending(&self) {
        let abandoned = {
            let mut pending = self.pending();
            self.inbox_closed.store(true, Ordering::SeqCst);
            std::mem::take(&mut *pending)
        };
        drop(abandoned);
    }

    /// Enters a request in the pending table, where the inbox sends its answer to `tx`;
    /// `false` (nothing entered) once this node has left or its inbox is gone. The check is
    /// made under the table's lock, under which [`abandon_pending`](Inner::abandon_pending)
    /// marks the inbox gone and empties the table: a request is refused before it is sent, or
    /// ended by that emptying, never left waiting for an answer that no inbox will read.
    pub(crate) fn expect_answer(
        &self,
        correlation: u64,
        tx: oneshot::Sender<async_nats::Message>,
    ) -> bool {
        let mut pending = self.pending();
        if self.has_left() || self.inbox_closed.load(Ordering::SeqCst) {
            return false;
        }
        pending.insert(correlation, tx);
        true
    }

    /// Notes that `sub` serves `what`, so that the messages the client drops for it are
    /// reported under that name. Returns the subscription's id, for [`forget`](Inner::forget).
    pub(crate) fn track(&self, sub: &async_nats::Subscriber, what: &str) -> Option<u64> {
        let sid = subscription_id(sub)?;
        self.serving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid, what.to_owned());
        Some(sid)
    }

    /// Forgets a subscription noted by [`track`](Inner::track).
    pub(crate) fn forget(&self, sid: Option<u64>) {
        if let Some(sid) = sid {
            self.serving
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&sid);
        }
    }

    /// Keeps `task` to abort when the node leaves; forgets the tasks that have finished (an
    /// export or subscription whose actor ended), so that the list does not grow with them.
    pub(crate) fn keep_task(&self, task: tokio::task::JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        match tasks.as_mut() {
            Some(tasks) => {
                tasks.retain(|t| !t.is_finished());
                tasks.push(task);
            }
            None => task.abort(),
        }
    }
}

impl<C: Codec> fmt::Debug for NatsBroker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("node", &self.inner.node)
            .field("prefix", &self.inner.prefix)
            .field("server", &self.inner.config.url)
            .finish_non_exhaustive()
    }
}

impl NatsBroker<Postcard> {
    /// Connects a node to the cluster with the default codec ([`Postcard`]).
    ///
    /// # Errors
    ///
    /// See [`connect_with_codec`](NatsBroker::connect_with_codec).
    pub async fn connect(config: NodeConfig) -> Result<Self, ConnectError> {
        Self::connect_with_codec(config, Postcard).await
    }
}

impl<C: Codec> NatsBroker<C> {
    /// Connects a node to the cluster: opens the NATS connection (TLS and credentials as the
    /// configuration says), makes or opens the registry and members buckets, announces the node
    /// and starts its heartbeat. Can be awaited on any executor.
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: an invalid configuration, refused credentials, a TLS failure, an
    /// unreachable server, a node name another live node uses, no JetStream.
    pub async fn connect_with_codec(config: NodeConfig, codec: C) -> Result<Self, ConnectError> {
        runtime::run(connect(config, codec)).await
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        &self.inner.node
    }

    /// The in-memory broker behind the [`MessageBroker`] operations.
    pub fn local(&self) -> &InMemoryBroker {
        &self.inner.local
    }

    /// The underlying NATS client, for what this crate does not wrap.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// The node's JetStream context, for what this crate does not wrap.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.inner.js
    }

    /// The largest message this node sends or accepts, envelope included (see
    /// [`NodeConfig::max_message_size`](crate::NodeConfig::max_message_size)).
    pub fn max_message_size(&self) -> usize {
        self.inner.limit
    }

    /// The live nodes of the cluster, sorted, this one included: those whose heartbeat this
    /// node saw within the TTL. Empty once this node has left ([`leave`](NatsBroker::leave)):
    /// it no longer follows the cluster.
    pub fn members(&self) -> Vec<String> {
        if self.inner.has_left() {
            return Vec::new();
        }
        self.inner.members.list()
    }

    /// Whether `node` is alive as far as this node knows; `false` for every node once this one
    /// has left.
    pub fn is_member(&self, node: &str) -> bool {
        !self.inner.has_left() && self.inner.members.is_alive(node)
    }

    /// The membership changes from now on (joins, leaves, this node's disconnections), as a
    /// stream that any executor can poll. Each call makes a new stream that sees every event.
    pub fn member_events(
        &self,
    ) -> impl futures::Stream<Item = MemberEvent> + Send + Unpin + use<C> {
        self.inner.members.subscribe()
    }

    /// Leaves the cluster: stops the sharded groups this node serves (as
    /// [`Sharded::stop`](crate::Sharded::stop) does: every active key passivated and its lease
    /// given back, so that other nodes take the keys on their next message instead of after
    /// the lease TTL; waited for at most the node TTL, while the node goes on beating: the
    /// others do not take it for dead), withdraws the node's heartbeat (the others see it leave
    /// at once) and its exported names, and flushes what it has sent
    /// (waited for at most the node TTL again: with the server out of reach, the others see
    /// the node leave when its heartbeat expires, and withdraw its names). So it returns
    /// within about twice the node TTL, whatever the connection does. The actors keep running.
    /// A `leave` made while another is under way returns once that one has. Afterwards every remote send from this broker fails at once with
    /// `Disconnected` (the message handed back: an ask is not sent, since no inbox is left to
    /// take its answer); an ask still waiting for its answer once the groups have stopped ends
    /// with [`RemoteError::InboxClosed`](crate::RemoteError::InboxClosed); and exporting,
    /// joining a pool or serving a sharded group fails with
    /// [`ExportError::Left`](crate::ExportError::Left).
    pub async fn leave(&self) {
        let inner = Arc::clone(&self.inner);
        runtime::run(async move {
            leave_cluster(&inner).await;
        })
        .await;
    }
}

/// What [`NatsBroker::leave`] does; `false` if the node had left already, or was leaving
/// (then once it has left: a `leave` racing the node's own, when another process took its
/// name, returns only once the groups have stopped and the names are withdrawn, as it says).
async fn leave_cluster<C: Codec>(inner: &Arc<Inner<C>>) -> bool {
    if inner.left.swap(true, Ordering::SeqCst) {
        let mut gone = inner.gone.subscribe();
        let _ = gone.wait_for(|gone| *gone).await;
        return false;
    }
    // Said gone when this ends, however it ends.
    struct Gone<'a>(&'a tokio::sync::watch::Sender<bool>);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            self.0.send_replace(true);
        }
    }
    let _gone = Gone(&inner.gone);
    stop_groups(inner).await;
    // Taken out of the lock first: an aborted task's guards take other locks.
    let tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).take();
    for task in tasks.into_iter().flatten() {
        task.abort();
    }
    // The inbox is gone: the asks still waiting end now, with `InboxClosed`, not at their
    // timeouts.
    inner.abandon_pending();
    // With the server out of reach, the client holds each request and the flush until it has
    // reconnected, however long that takes. Bounded by the node TTL, half for the names (one
    // purge per name: many names may take long on a healthy server too) and half for the
    // heartbeat, so that the heartbeat is withdrawn even then. What is cut short the other
    // nodes do themselves: they withdraw the names of a node they see leave, or whose
    // heartbeat expires.
    let half = inner.config.node_ttl / 2;
    let _ = tokio::time::timeout(half, crate::registry::withdraw_node(inner)).await;
    let _ = tokio::time::timeout(half, async {
        stop_heartbeats(inner, half / 2).await;
        withdraw_heartbeat(inner).await;
    })
    .await;
    true
}

/// Stops the heartbeats (they go on while a node leaves: the others would otherwise take it
/// for dead, and report `Left { TimedOut }`, while its groups stop and its names go): the beat
/// under way finishes first, waited for at most `within`, so that none lands after the
/// heartbeat's withdrawal. Aborted past that, or if the leave stops waiting.
async fn stop_heartbeats<C>(inner: &Inner<C>, within: Duration) {
    inner.stop_beating.notify_one();
    let task = inner
        .heartbeat
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(task) = task else { return };
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _abort = AbortOnDrop(task.abort_handle());
    let _ = tokio::time::timeout(within, task).await;
}

/// The end of a leave: withdraws this process's heartbeat, then flushes what it has sent.
async fn withdraw_heartbeat<C: Codec>(inner: &Arc<Inner<C>>) {
    // This process's heartbeat only: another process that took the name meanwhile keeps its
    // own. Read again if a beat still under way (one the wait for the heartbeats to end gave
    // up on) landed between the read and the delete.
    for _ in 0..3 {
        let Ok(Some(beat)) = inner.members_kv.entry(&inner.node).await else {
            break;
        };
        if crate::members::incarnation_of(&beat.value) != inner.incarnation
            || beat.operation != kv::Operation::Put
        {
            break;
        }
        if inner
            .members_kv
            .delete_expect_revision(&inner.node, Some(beat.revision))
            .await
            .is_ok()
        {
            break;
        }
    }
    let _ = inner.client.flush().await;
}

/// Stops every sharded group `inner` serves and waits, at most the node TTL, until each has
/// passivated its keys and given their leases back.
async fn stop_groups<C>(inner: &Inner<C>) {
    let groups = std::mem::take(&mut *inner.groups.lock().unwrap_or_else(|p| p.into_inner()));
    for group in &groups {
        if let Some(stop) = group.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
    }
    let deadline = tokio::time::Instant::from_std(runtime::deadline_after(
        std::time::Instant::now(),
        inner.config.node_ttl,
    ));
    for group in &groups {
        until_passivated(|| group.keys.upgrade().map_or(0, |g| g.active()), deadline).await;
    }
}

/// Waits until `active` (a stopped group's count of keys still active) is zero, or `deadline`.
pub(crate) async fn until_passivated(active: impl Fn() -> usize, deadline: tokio::time::Instant) {
    while active() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn connect<C: Codec>(config: NodeConfig, codec: C) -> Result<NatsBroker<C>, ConnectError> {
    if !is_token(&config.prefix) {
        return Err(ConnectError::InvalidConfig(format!(
            "the prefix {:?} must be 1 to 128 letters, digits, '-' or '_'",
            config.prefix
        )));
    }
    let node = match &config.node_name {
        Some(name) if !is_token(name) => {
            return Err(ConnectError::InvalidConfig(format!(
                "the node name {name:?} must be 1 to 128 letters, digits, '-' or '_'"
            )));
        }
        Some(name) => name.clone(),
        None => generated_name(),
    };
    if config.connect_timeout.is_zero() {
        return Err(ConnectError::InvalidConfig(
            "the connect timeout must be longer than zero".to_owned(),
        ));
    }
    if config.heartbeat.is_zero() || config.node_ttl <= config.heartbeat {
        return Err(ConnectError::InvalidConfig(format!(
            "the node TTL ({:?}) must be longer than the heartbeat ({:?})",
            config.node_ttl, config.heartbeat
        )));
    }
    // The TTL is the buckets' `max_age`: JetStream takes at least 100 ms, and holds it in
    // nanoseconds in an `i64` (about 292 years).
    if config.node_ttl < MIN_TTL || config.node_ttl.as_nanos() > i64::MAX as u128 {
        return Err(ConnectError::InvalidConfig(format!(
            "the node TTL ({:?}) must be from {MIN_TTL:?} to about 292 years (JetStream's \
             limits on a bucket's max_age)",
            config.node_ttl
        )));
    }
    if config.max_message_size == 0 {
        return Err(ConnectError::InvalidConfig(
            "the message size limit must be above zero: every message would be refused".to_owned(),
        ));
    }
    check_files(&config).await?;

    let servers = server_list(&config.url)?;
    let (events_tx, events_rx) = futures::channel::mpsc::unbounded();
    let tls = config.require_tls || servers.iter().any(async_nats::ServerAddr::tls_required);
    // The client's own timeout covers the TCP connect only: a server that accepts the
    // connection and then says nothing (stopped, overloaded, not a NATS server) would hold the
    // handshake for ever, and the client would never go on to the next server listed. So each
    // attempt is bounded by the connect timeout, and starts at the next server: every server
    // listed is tried first once, a silent one passed over after the timeout. A server that
    // refuses the connection at once is passed over by the client itself, within the attempt;
    // one that fails it otherwise (a name that does not resolve, refused credentials, a full
    // server) by the next attempt. The first attempt starts at a random server, so that the
    // nodes spread over the servers listed.
    let start = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), &node);
    let start = usize::try_from(start % servers.len() as u64).unwrap_or(0);
    let mut client = None;
    let mut failure: Option<ConnectError> = None;
    for attempt in 0..servers.len() {
        let mut order = servers.clone();
        order.rotate_left((start + attempt) % servers.len());
        let options = connect_options(&config, &node, &events_tx).await?;
        let connecting = options.retain_servers_order().connect(order);
        match tokio::time::timeout(config.connect_timeout, connecting).await {
            Ok(Ok(connected)) => {
                client = Some(connected);
                break;
            }
            Ok(Err(e)) => {
                let e = connect_error(&e, tls);
                // The most telling failure is reported: a refusal of the credentials or of
                // TLS says more than a server out of reach.
                if failure.as_ref().is_none_or(|f| telling(&e) >= telling(f)) {
                    failure = Some(e);
                }
            }
            Err(_) => {}
        }
    }
    let Some(client) = client else {
        return Err(failure.unwrap_or_else(|| {
            ConnectError::Unreachable(format!(
                "no NATS handshake from {} within the connect timeout ({:?} per server)",
                config.url, config.connect_timeout
            ))
        }));
    };

    let js = jetstream::new(client.clone());
    let registry = bucket(&js, || kv::Config {
        bucket: format!("{}_registry", config.prefix),
        description: "playhouse: exported actor names and their nodes".into(),
        history: 1,
        ..Default::default()
    })
    .await?;
    let members_kv = bucket(&js, || kv::Config {
        bucket: format!("{}_members", config.prefix),
        description: "playhouse: node heartbeats".into(),
        history: 1,
        max_age: config.node_ttl,
        ..Default::default()
    })
    .await?;
    // The bucket forgets a heartbeat after the TTL of the node that made it; a node that
    // counted with another would take live nodes for dead (a longer TTL here), or have its own
    // entry expire between two of its beats and its name taken meanwhile (a shorter one there).
    let cluster_ttl = members_kv
        .status()
        .await
        .map_err(|e| ConnectError::JetStream(e.to_string()))?
        .max_age();
    if cluster_ttl != config.node_ttl {
        return Err(ConnectError::InvalidConfig(format!(
            "the node TTL ({:?}) differs from the cluster's ({cluster_ttl:?}, the bucket \
             {}_members's max_age): every node of a cluster must use the same",
            config.node_ttl, config.prefix
        )));
    }

    // This connection's token: it tells this incarnation of the node from an earlier one of
    // the same name, in its heartbeats and its registry entries.
    // A NUID (the client's inbox names end in one): unique without asking the clock or the
    // process id, which a container may give every restart alike.
    let incarnation = client
        .new_inbox()
        .rsplit('.')
        .next()
        .map_or_else(generated_name, str::to_owned);
    let announced = crate::announce::announce(&members_kv, &node, &incarnation).await?;

    let server_max = client.server_info().max_payload;
    let limit = config.max_message_size.min(server_max.max(1));
    let prefix = config.prefix.clone();
    let ttl = config.node_ttl;
    let inner = Arc::new(Inner {
        codec,
        local: InMemoryBroker::new(),
        client,
        js,
        node: node.clone(),
        incarnation: incarnation.clone(),
        prefix,
        limit,
        registry,
        members_kv,
        members: Members::new(node.clone(), ttl),
        pending: Mutex::new(HashMap::new()),
        // A random start: an earlier incarnation of this node listened on the same inbox,
        // and an answer to one of its asks may still arrive. Counting from 1, that answer
        // would be handed to this incarnation's ask of the same number; from a random point,
        // the two incarnations' numbers meet with a chance of about one in 2^64 / asks.
        next_correlation: AtomicU64::new(std::hash::BuildHasher::hash_one(
            &std::hash::RandomState::new(),
            &incarnation,
        )),
        // 28 random bits: a lean tell carries its number in its header (a varint of 4 bytes
        // at most), and an earlier incarnation's numbers land among this one's few with a
        // chance of about one in 2^28 / types.
        tell_base: std::hash::BuildHasher::hash_one(
            &std::hash::RandomState::new(),
            (&incarnation, "tells"),
        ) & 0x0fff_ffff,
        left: AtomicBool::new(false),
        gone: tokio::sync::watch::Sender::new(false),
        inbox_closed: AtomicBool::new(false),
        tasks: Mutex::new(Some(Vec::new())),
        heartbeat: Mutex::new(None),
        stop_beating: Arc::default(),
        serving: Mutex::new(HashMap::new()),
        held: Arc::default(),
        rewatch_members: Arc::default(),
        groups: Mutex::new(Vec::new()),
        group_names: Mutex::new(std::collections::HashSet::new()),
        config,
    });
    inner.members.heartbeat(&node, Duration::ZERO, &incarnation);
    // The members as of now, so that `members()` and the registry's liveness checks are right
    // from the start; the watch below keeps them current.
    {
        let nodes = keys_within(&inner.members_kv, inner.config.connect_timeout).await;
        for other in nodes {
            if let Ok(Some(entry)) = inner.members_kv.entry(&other).await {
                if entry.operation == kv::Operation::Put {
                    let incarnation = crate::members::incarnation_of(&entry.value);
                    inner
                        .members
                        .heartbeat(&other, age_of(&entry), &incarnation);
                }
            }
        }
    }

    // The inbox first, so that no answer to this node is missed.
    let inbox = inner
        .client
        .subscribe(inner.inbox(">"))
        .await
        .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
    let weak = Arc::downgrade(&inner);
    inner.keep_task(runtime::spawn(crate::inbox::serve(weak.clone(), inbox)));
    *inner.heartbeat.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(runtime::spawn(heartbeats(weak.clone(), announced)));
    inner.keep_task(runtime::spawn(watch_members(weak.clone())));
    inner.keep_task(runtime::spawn(crate::held_names::keep(weak.clone())));
    {
        let weak = weak.clone();
        inner.keep_task(runtime::spawn(async move {
            if let Some(inner) = weak.upgrade() {
                crate::registry::withdraw_earlier_incarnations(&inner).await;
            }
        }));
    }
    inner.keep_task(runtime::spawn(connection_events(weak, events_rx)));
    Ok(NatsBroker { inner })
}

/// The keys of `store`, as far as they could be read within `limit`. A listing is an ordered
/// consumer that ends when the server says nothing is pending; on a bucket whose entries expire
/// or are deleted while it runs, that may never be said (a known behaviour of NATS key-value
/// listings), so a listing is bounded rather than trusted to end. Every caller treats the
/// listing as a best effort that a watch or a later pass completes.
pub(crate) async fn keys_within(store: &kv::Store, limit: Duration) -> Vec<String> {
    let mut found = Vec::new();
    let listing = async {
        if let Ok(mut keys) = store.keys().await {
            while let Some(Ok(key)) = keys.next().await {
                found.push(key);
            }
        }
    };
    let _ = tokio::time::timeout(limit, listing).await;
    found
}

/// The servers of `url`: one address, or a comma-separated list, each checked.
fn server_list(url: &str) -> Result<Vec<async_nats::ServerAddr>, ConnectError> {
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<async_nats::ServerAddr>().map_err(|e| {
                ConnectError::InvalidConfig(format!("the server address {s:?} is invalid: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(ConnectError::InvalidConfig(
            "no server address is given".to_owned(),
        ));
    }
    Ok(servers)
}

/// The shortest node TTL: JetStream's least `max_age` for a bucket.
const MIN_TTL: Duration = Duration::from_millis(100);

/// Reads the nkey seed and the PEM files the configuration names, with the parsers the client
/// uses, so that a seed that does not parse or a file that cannot be read or holds no
/// certificate (or key) is `InvalidConfig` before anything is sent: the client would take a
/// CA file with no certificate in it as no CA at all, and report the server's certificate as
/// untrusted, and a seed it cannot read as a refusal by the server.
async fn check_files(config: &NodeConfig) -> Result<(), ConnectError> {
    if let Credentials::NKey { seed } = &config.credentials {
        if let Err(e) = nkeys::KeyPair::from_seed(seed) {
            // The error's text, never the seed's.
            return Err(ConnectError::InvalidConfig(format!(
                "the nkey seed is not a valid seed: {e}"
            )));
        }
    }
    let roots = config.root_certificates.clone();
    let client = config.client_certificate.clone();
    let read = move || -> Result<(), String> {
        for ca in &roots {
            if pem_certificates(ca)? == 0 {
                return Err(format!(
                    "the root certificate file {} holds no PEM certificate",
                    ca.display()
                ));
            }
        }
        if let Some((cert, key)) = &client {
            if pem_certificates(cert)? == 0 {
                return Err(format!(
                    "the client certificate file {} holds no PEM certificate",
                    cert.display()
                ));
            }
            let mut reader = std::io::BufReader::new(open(key)?);
            match rustls_pemfile::private_key(&mut reader) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(format!(
                        "the client key file {} holds no PEM private key (an encrypted key \
                         is not supported)",
                        key.display()
                    ));
                }
                Err(e) => {
                    return Err(format!("cannot read the client key {}: {e}", key.display()));
                }
            }
        }
        Ok(())
    };
    // Files are read off the runtime's threads, as the client reads them.
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(ConnectError::InvalidConfig(why)),
        Err(e) => Err(ConnectError::InvalidConfig(format!(
            "reading the certificate files failed: {e}"
        ))),
    }
}

/// Opens `path` for reading, or says why not.
fn open(path: &std::path::Path) -> Result<std::fs::File, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// How many PEM certificates the file at `path` holds.
fn pem_certificates(path: &std::path::Path) -> Result<usize, String> {
    let mut reader = std::io::BufReader::new(open(path)?);
    let mut count = 0;
    for cert in rustls_pemfile::certs(&mut reader) {
        cert.map_err(|e| format!("cannot read the certificates in {}: {e}", path.display()))?;
        count += 1;
    }
    Ok(count)
}

/// The client's options from `config`, its connection events sent to `events`.
async fn connect_options(
    config: &NodeConfig,
    node: &str,
    events: &futures::channel::mpsc::UnboundedSender<async_nats::Event>,
) -> Result<async_nats::ConnectOptions, ConnectError> {
    let mut options = match &config.credentials {
        Credentials::None => async_nats::ConnectOptions::new(),
        Credentials::UserPassword { user, password } => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        Credentials::NKey { seed } => async_nats::ConnectOptions::with_nkey(seed.clone()),
        Credentials::File(path) => async_nats::ConnectOptions::with_credentials_file(path.clone())
            .await
            .map_err(|e| {
                ConnectError::InvalidConfig(format!(
                    "cannot read the credentials file {}: {e}",
                    path.display()
                ))
            })?,
    };
    // Each file was read by `check_files`.
    for ca in &config.root_certificates {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.client_certificate {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let events = events.clone();
    Ok(options
        .require_tls(config.require_tls)
        .name(format!("playhouse:{}:{node}", config.prefix))
        .connection_timeout(config.connect_timeout)
        .subscription_capacity(config.subscription_capacity)
        .event_callback(move |event| {
            let tx = events.clone();
            async move {
                let _ = tx.unbounded_send(event);
            }
        }))
}

/// How much a connect failure says about the configuration: what is reported when every
/// server listed failed.
fn telling(e: &ConnectError) -> u8 {
    match e {
        ConnectError::NotAuthorized(_) => 3,
        ConnectError::Tls(_) => 2,
        ConnectError::InvalidConfig(_) => 1,
        _ => 0,
    }
}

/// What a failed connect means for the user (`tls`: TLS was asked for, by the configuration or
/// the URL).
fn connect_error(e: &async_nats::ConnectError, tls: bool) -> ConnectError {
    classify_connect_error(e.kind(), e.to_string(), tls)
}

/// What a failed connection attempt was, from the client's kind and text. rustls's failures
/// come as IO errors, named only in the text: a certificate the server refused arrives as an
/// alert ("received fatal alert: BadCertificate"), and a plaintext server's first bytes, read
/// as a TLS record, as "InvalidContentType".
fn classify_connect_error(
    kind: async_nats::ConnectErrorKind,
    detail: String,
    tls: bool,
) -> ConnectError {
    use async_nats::ConnectErrorKind as Kind;
    let lower = detail.to_ascii_lowercase();
    match kind {
        Kind::AuthorizationViolation | Kind::Authentication => ConnectError::NotAuthorized(detail),
        _ if tls && lower.contains("invalidcontenttype") => ConnectError::Tls(format!(
            "the server does not offer TLS (it answered in plaintext; a loopback development \
             server without TLS needs `NodeConfig::allow_plaintext()` and a nats:// URL): {detail}"
        )),
        Kind::Tls => ConnectError::Tls(detail),
        Kind::ServerParse => ConnectError::InvalidConfig(detail),
        _ if lower.contains("tls") || lower.contains("certificate") || lower.contains("alert") => {
            ConnectError::Tls(detail)
        }
        _ => ConnectError::Unreachable(detail),
    }
}

/// Opens the bucket, or makes it if no node has yet.
pub(crate) async fn bucket(
    js: &jetstream::Context,
    config: impl Fn() -> kv::Config,
) -> Result<kv::Store, ConnectError> {
    // Nodes starting together race to make the bucket: the loser's create fails (or its get
    // finds a stream still being made), and a later get finds the winner's bucket.
    let mut last = String::new();
    for attempt in 0..20u32 {
        if let Ok(store) = js.get_key_value(config().bucket).await {
            return Ok(store);
        }
        match js.create_key_value(config()).await {
            Ok(store) => return Ok(store),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt + 1))).await;
    }
    Err(ConnectError::JetStream(format!(
        "cannot open or make the bucket {}: {last}",
        config().bucket
    )))
}

pub(crate) fn generated_name() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("node-{}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// Writes this node's heartbeat every `heartbeat` (a compare-and-set on the entry's revision,
/// starting from `revision`, the announcement's; one at a time, a tick that finds one still
/// under way starting none), and reaps the nodes whose heartbeats stopped.
/// If another process took the node's name (see [`crate::announce`]), this node leaves the
/// cluster ([`MemberEvent::Superseded`]).
async fn heartbeats<C: Codec>(weak: std::sync::Weak<Inner<C>>, mut revision: u64) {
    use crate::announce::Beat;
    let (every, ttl, store, node, incarnation, stop) = match weak.upgrade() {
        Some(inner) => (
            inner.config.heartbeat,
            inner.config.node_ttl,
            inner.members_kv.clone(),
            inner.node.clone(),
            inner.incarnation.clone(),
            Arc::clone(&inner.stop_beating),
        ),
        None => return,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The beat under way. It is not given up at the next tick: one that landed but whose
    // acknowledgement came late would leave the next ones expecting an old revision, each then
    // needing a round trip more to find its own entry, and on a server that slow, never
    // finishing in time again. It is bounded by the node TTL only, and the ticks meanwhile
    // still reap the nodes gone silent.
    let mut in_flight: Option<futures::future::BoxFuture<'static, Beat>> = None;
    // The silent nodes whose entries are being read, each once at a time.
    let checking: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    loop {
        let beat = tokio::select! {
            _ = tick.tick() => None,
            beat = finish(&mut in_flight) => Some(beat),
            () = stop.notified() => {
                if in_flight.is_some() {
                    finish(&mut in_flight).await;
                }
                return;
            }
        };
        let Some(inner) = weak.upgrade() else { return };
        // A node that leaves goes on beating while its groups stop (which may take up to the
        // TTL) and its names go, so that the others see it leave rather than time out; the
        // leave stops this task just before it withdraws the heartbeat. Meanwhile it reaps
        // no one (it has left), and announces itself no more: an entry gone (expired while
        // the server was out of reach) is not made again.
        let leaving = inner.left.load(Ordering::SeqCst);
        match beat {
            None => {
                let stale = if leaving {
                    Vec::new()
                } else {
                    inner.members.stale()
                };
                for (node, incarnation) in stale {
                    if checking
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(node.clone())
                    {
                        let (inner, checking) = (Arc::clone(&inner), Arc::clone(&checking));
                        runtime::spawn(async move {
                            reap_if_dead(&inner, &node, &incarnation).await;
                            checking
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&node);
                        });
                    }
                }
                if in_flight.is_none() {
                    let (store, node, incarnation) =
                        (store.clone(), node.clone(), incarnation.clone());
                    // Read as the entry would be made again: a leave may have begun since.
                    let weak = weak.clone();
                    let announce = move || {
                        weak.upgrade()
                            .is_some_and(|i| !i.left.load(Ordering::SeqCst))
                    };
                    in_flight = Some(Box::pin(async move {
                        let beat =
                            crate::announce::beat(&store, &node, &incarnation, revision, announce);
                        tokio::time::timeout(ttl, beat)
                            .await
                            .unwrap_or(Beat::Failed)
                    }));
                }
            }
            Some(Beat::Kept(now)) => {
                revision = now;
                if !leaving {
                    inner
                        .members
                        .heartbeat(&inner.node, Duration::ZERO, &inner.incarnation);
                }
            }
            Some(Beat::Taken) => {
                // Not kept as a task: `leave` aborts those, this one among them.
                runtime::spawn(superseded(inner));
                return;
            }
            Some(Beat::Failed) => {}
        }
    }
}

/// Reaps `node`, silent for longer than the TTL as far as this node saw, unless the members
/// bucket holds a heartbeat of it younger than the TTL: this node may be the one that stopped
/// (its process or machine paused, its connection stalled, its watch behind), and took no
/// heartbeat in meanwhile. A dead node's names are then withdrawn. A bucket that cannot be read
/// leaves the local view to decide only if this node's own heartbeats reach the server (it is
/// in touch, and the silence is the other node's); otherwise the next tick looks again.
async fn reap_if_dead<C: Codec>(inner: &Arc<Inner<C>>, node: &str, incarnation: &str) {
    let read = inner.members_kv.entry(node).await;
    if read.is_err() && !inner.members.beats_lately() {
        return;
    }
    if let Ok(Some(entry)) = read {
        let age = age_of(&entry);
        if entry.operation == kv::Operation::Put && age < inner.config.node_ttl {
            let beating = crate::members::incarnation_of(&entry.value);
            if let Some(old) = inner.members.heartbeat(node, age, &beating) {
                // Another process of the node beats now: the old one's names go.
                crate::registry::withdraw_incarnation(inner, node, &old).await;
            }
            if inner.members.is_alive(node) {
                return;
            }
        }
    }
    if inner.members.reap(node, incarnation) {
        crate::registry::withdraw_dead(inner, node).await;
    }
}

/// The outcome of the beat under way, which is then done; never, if none is.
async fn finish(
    in_flight: &mut Option<futures::future::BoxFuture<'static, crate::announce::Beat>>,
) -> crate::announce::Beat {
    let beat = match in_flight.as_mut() {
        Some(beat) => beat.await,
        None => std::future::pending().await,
    };
    *in_flight = None;
    beat
}

/// Leaves the cluster because another process holds this node's name: as
/// [`leave`](NatsBroker::leave) does (the other process's entry is left alone), then says so.
async fn superseded<C: Codec>(inner: Arc<Inner<C>>) {
    if leave_cluster(&inner).await {
        inner.members.emit(MemberEvent::Superseded);
    }
}

/// Follows the members bucket: a put is a heartbeat, a delete a node leaving. Re-watches after
/// an error, and after each reconnection: a server restart ends the watch's consumer, and the
/// watch, which does not say so, would stay silent until the client's own check replaces it
/// (about ten seconds), while the nodes it reaped in the outage beat again unseen.
async fn watch_members<C: Codec>(weak: std::sync::Weak<Inner<C>>) {
    let rewatch = match weak.upgrade() {
        Some(inner) => Arc::clone(&inner.rewatch_members),
        None => return,
    };
    loop {
        // A reconnection told before this open is behind it: the watch opened now is on the
        // new connection. (One told while it opens may have come after its consumer was made,
        // and reopens it.)
        let _ = futures::FutureExt::now_or_never(rewatch.notified());
        let watch = {
            let Some(inner) = weak.upgrade() else { return };
            inner.members_kv.watch_with_history(">").await
        };
        let mut reconnected = false;
        if let Ok(mut watch) = watch {
            loop {
                let entry = tokio::select! {
                    entry = watch.next() => entry,
                    () = rewatch.notified() => {
                        reconnected = true;
                        break;
                    }
                };
                let Some(entry) = entry else { break };
                let Some(inner) = weak.upgrade() else { return };
                let Ok(entry) = entry else { break };
                match entry.operation {
                    kv::Operation::Put => {
                        let incarnation = crate::members::incarnation_of(&entry.value);
                        if entry.key == inner.node
                            && !incarnation.is_empty()
                            && incarnation != inner.incarnation
                        {
                            // Another process wrote this node's entry: it connected under the
                            // name while this one was out of reach. This one leaves now,
                            // without waiting for its next heartbeat to find out.
                            runtime::spawn(superseded(inner));
                            continue;
                        }
                        let age = age_of(&entry);
                        if let Some(old) = inner.members.heartbeat(&entry.key, age, &incarnation) {
                            // Restarted under its name before its silence was noticed: the
                            // old incarnation's names go, as a dead node's do.
                            let node = entry.key.clone();
                            runtime::spawn(async move {
                                crate::registry::withdraw_incarnation(&inner, &node, &old).await;
                            });
                        }
                    }
                    kv::Operation::Delete | kv::Operation::Purge => {
                        inner.members.left(&entry.key);
                        let dead = entry.key.clone();
                        runtime::spawn(async move {
                            crate::registry::withdraw_dead(&inner, &dead).await;
                        });
                    }
                }
            }
        }
        // (A watch that failed waits a little before the next; one given up after a
        // reconnection is opened again at once.)
        if !reconnected {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// How long ago the entry was put, by the server's clock (zero if that clock is ahead).
fn age_of(entry: &kv::Entry) -> Duration {
    Duration::try_from(time::OffsetDateTime::now_utc() - entry.created).unwrap_or(Duration::ZERO)
}

/// The client's id of a subscription, which its slow-consumer events name. `async-nats` 0.38
/// keeps it private and shows it only in the subscriber's `Debug` form
/// (`Subscriber { sid: 5, .. }`); a unit test checks that form, so that a version that changes
/// it fails the build's tests rather than the reports.
fn subscription_id(sub: &async_nats::Subscriber) -> Option<u64> {
    let shown = format!("{sub:?}");
    let rest = shown.split_once("sid: ")?.1;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// The state of the connection as the client's events tell it.
#[derive(Default)]
struct Link {
    /// The client has reported its first connection.
    connected: bool,
    /// A loss has been told, and no reconnection since.
    down: bool,
}

/// What one connection event changed: a loss to tell, a reconnection to tell (and act on).
#[derive(Debug, PartialEq, Eq)]
struct LinkChange {
    lost: bool,
    regained: bool,
}

impl Link {
    /// Follows `event`. The client reports its first connection too (its first event, sent
    /// before it hands the client out), which is no news; every later connection is a
    /// reconnection, told even if the loss before it was not: the client sends `Disconnected`
    /// without waiting, and drops it when its event queue is full (slow-consumer events share
    /// it). Such a loss is told just before the reconnection.
    fn on(&mut self, event: &async_nats::Event) -> LinkChange {
        let mut change = LinkChange {
            lost: false,
            regained: false,
        };
        match event {
            async_nats::Event::Disconnected if !self.down => {
                self.down = true;
                change.lost = true;
            }
            async_nats::Event::Connected if !self.connected => self.connected = true,
            async_nats::Event::Connected => {
                change.lost = !self.down;
                change.regained = true;
                self.down = false;
            }
            _ => {}
        }
        change
    }
}

/// Turns the client's connection events into member events for this node, and its
/// slow-consumer events into overflow dead letters.
async fn connection_events<C: Codec>(
    weak: std::sync::Weak<Inner<C>>,
    mut events: futures::channel::mpsc::UnboundedReceiver<async_nats::Event>,
) {
    let mut link = Link::default();
    while let Some(event) = events.next().await {
        let Some(inner) = weak.upgrade() else { return };
        let change = link.on(&event);
        if change.lost {
            inner.members.emit(MemberEvent::Disconnected);
        }
        if change.regained {
            inner.members.emit(MemberEvent::Reconnected);
            // Other nodes may have taken this one for dead meanwhile and purged its names.
            inner.held.recheck_soon();
            inner.rewatch_members.notify_one();
        }
        match event {
            // The client dropped a message for one of our subscriptions (it was full), or the
            // server dropped messages for this connection.
            async_nats::Event::SlowConsumer(sid)
            | async_nats::Event::ServerError(async_nats::ServerError::SlowConsumer(sid)) => {
                let target = inner
                    .serving
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&sid)
                    .cloned()
                    .unwrap_or_else(|| format!("subscription {sid}"));
                inner
                    .local
                    .report_dead_letter(DeadLetterKind::Overflowed, &target, "?", None);
            }
            _ => {}
        }
    }
}

impl<C: Codec> NatsBroker<C> {
    pub(crate) fn next_correlation(&self) -> u64 {
        self.inner.next_correlation.fetch_add(1, Ordering::Relaxed)
    }
}

impl<C: Codec> MessageBroker for NatsBroker<C> {
    fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        self.inner.local.register(name, actor)
    }

    fn lookup<A: Actor, MB: Mailbox>(&self, name: &str) -> Result<ActorRef<A, MB>, LookupError> {
        self.inner.local.lookup(name)
    }

    fn unregister<A: Actor, MB: Mailbox>(&self, name: &str, actor: &ActorRef<A, MB>) -> bool {
        self.inner.local.unregister(name, actor)
    }

    fn register_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        service: T,
    ) -> Result<(), RegistryError> {
        self.inner.local.register_service(name, service)
    }

    fn lookup_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<T, LookupError> {
        self.inner.local.lookup_service(name)
    }

    fn unregister_service(&self, name: &str) -> bool {
        self.inner.local.unregister_service(name)
    }

    fn subscribe<M, A, MB>(
        &self,
        topic: &Topic<M>,
        actor: &ActorRef<A, MB>,
    ) -> Result<SubscriptionId, TopicError>
    where
        M: Clone + Send + 'static,
        A: Actor,
        MB: Mailbox,
        A::Message: From<M> + TryInto<M>,
    {
        self.inner.local.subscribe(topic, actor)
    }

    fn unsubscribe<M: Send + 'static>(&self, topic: &Topic<M>, id: SubscriptionId) -> bool {
        self.inner.local.unsubscribe(topic, id)
    }

    fn publish_with<M: Clone + Send + 'static>(
        &self,
        topic: &Topic<M>,
        msg: M,
        options: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send {
        self.inner.local.publish_with(topic, msg, options)
    }

    type Publisher<M>
        = playhouse_broker::pubsub::Publisher<M>
    where
        M: Clone + Send + 'static;

    /// The node's in-memory broker's publisher: it publishes to this node's subscribers, as
    /// [`publish`](MessageBroker::publish) does.
    fn publisher<M: Clone + Send + 'static>(&self, topic: &Topic<M>) -> Self::Publisher<M> {
        self.inner.local.publisher(topic)
    }

    fn request<A, MB, R>(
        &self,
        name: &str,
        make: impl FnOnce(Request<R>) -> A::Message + Send,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, RequestError<A::Message>>> + Send
    where
        A: Actor,
        MB: Mailbox,
        R: Send + 'static,
    {
        self.inner.local.request::<A, MB, R>(name, make, timeout)
    }

    fn dead_letters(&self) -> DeadLetterCounts {
        self.inner.local.dead_letters()
    }

    fn report_dead_letter(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    ) {
        self.inner
            .local
            .report_dead_letter(kind, target, message_type, correlation);
    }

    fn on_dead_letter(
        &self,
        hook: impl Fn(&DeadLetter) + Send + Sync + 'static,
    ) -> DeadLetterHookId {
        self.inner.local.on_dead_letter(hook)
    }

    fn remove_dead_letter_hook(&self, id: DeadLetterHookId) -> bool {
        self.inner.local.remove_dead_letter_hook(id)
    }
}

#[cfg(test)]
mod tests {
    /// rustls's failures arrive as IO errors: a refused client certificate is a TLS failure,
    /// not a server out of reach, and a plaintext server is named as such.
    #[test]
    fn tls_failures_reported_as_io_errors_are_tls_failures() {
        use super::classify_connect_error as classify;
        use crate::ConnectError;
        use async_nats::ConnectErrorKind as Kind;
        for refused in [
            "IO error: received fatal alert: BadCertificate",
            "IO error: received fatal alert: CertificateRequired",
        ] {
            let e = classify(Kind::Io, refused.to_owned(), true);
            assert!(
                matches!(&e, ConnectError::Tls(why) if why == refused),
                "{e:?}"
            );
        }
        let plaintext = "IO error: received corrupt message of type InvalidContentType";
        let e = classify(Kind::Io, plaintext.to_owned(), true);
        assert!(
            matches!(&e, ConnectError::Tls(why) if why.contains("does not offer TLS")
                && why.contains("allow_plaintext()") && why.ends_with(plaintext)),
            "{e:?}"
        );
        let e = classify(Kind::Io, "Connection refused (os error 111)".into(), true);
        assert!(matches!(e, ConnectError::Unreachable(_)), "{e:?}");
        let e = classify(
            Kind::AuthorizationViolation,
            "authorization violation".into(),
            true,
        );
        assert!(matches!(e, ConnectError::NotAuthorized(_)), "{e:?}");
    }

    use super::{Link, LinkChange};
    use async_nats::Event;

    fn changes(events: &[Event]) -> Vec<LinkChange> {
        let mut link = Link::default();
        events.iter().map(|e| link.on(e)).collect()
    }

    const NONE: LinkChange = LinkChange {
        lost: false,
        regained: false,
    };
    const LOST: LinkChange = LinkChange {
        lost: true,
        regained: false,
    };
    const REGAINED: LinkChange = LinkChange {
        lost: false,
        regained: true,
    };
    const BOTH: LinkChange = LinkChange {
        lost: true,
        regained: true,
    };

    #[test]
    fn the_first_connection_is_no_news_and_a_loss_is_told_once() {
        use Event::{Connected, Disconnected};
        assert_eq!(
            changes(&[Connected, Disconnected, Disconnected, Connected]),
            [NONE, LOST, NONE, REGAINED]
        );
    }

    #[test]
    fn a_reconnection_whose_loss_the_client_dropped_tells_both() {
        use Event::{Connected, Disconnected};
        assert_eq!(
            changes(&[Connected, Connected, Disconnected, Connected, Connected]),
            [NONE, BOTH, LOST, REGAINED, BOTH]
        );
    }
}
