//! A node's side of a sharded group: the subscriptions, and one worker task per key it has
//! messages for, which takes the key's lease, activates the key, feeds it its messages in
//! order, renews nothing itself (the lease keeper does) and passivates it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, kv, stream};
use async_nats::{HeaderMap, Subject};
use futures::FutureExt;
use futures::StreamExt;
use futures::channel::oneshot;
use playhouse_broker::keyed::{BoxedSupervision, ReactivationSource};
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef, BoxError, DeadLetterKind, MessageBroker, SendError};
use tokio::sync::mpsc;

use super::durable::{self, DeliveryInfo, Redelivery};
use super::lease::{Lease, Leases, Taken};
use super::state::KeyState;
use super::supervise::{ActorClock, Supervised, SupervisionFactory};
use crate::broker::Inner;
use crate::codec::Codec;
use crate::config::is_token;
use crate::envelope::{self, Kind, Rejection};
use crate::routes::{Answer, Routes, panic_message};
use crate::runtime;

/// The header a key's owner puts on its answers, so that senders go to it directly next time.
pub(crate) const OWNER_HEADER: &str = "Playhouse-Owner";

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Factory<A, C> =
    Arc<dyn Fn(&str, KeyState<C>) -> BoxFuture<Result<A, BoxError>> + Send + Sync>;
/// Spawns a key's actor on the group's system, under the supervision given, if any.
pub(crate) type Spawn<A, MB> =
    Arc<dyn Fn(A, Option<BoxedSupervision<A>>) -> ActorRef<A, MB> + Send + Sync>;

/// `<prefix>.keyed.<group>.n.<node>.<key>`: straight to the node that owns the key.
pub(crate) fn direct_subject(prefix: &str, group: &str, node: &str, key: &str) -> String {
    format!("{prefix}.keyed.{group}.n.{node}.{key}")
}

/// `<prefix>.keyed.<group>.c.<key>`: to any node serving the group (a queue group), which
/// takes the key's lease or tells the sender which node holds it.
pub(crate) fn claim_subject(prefix: &str, group: &str, key: &str) -> String {
    format!("{prefix}.keyed.{group}.c.{key}")
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) activations: AtomicU64,
    pub(crate) activation_failures: AtomicU64,
    pub(crate) passivations: AtomicU64,
    pub(crate) lapses: AtomicU64,
    pub(crate) redirected: AtomicU64,
    pub(crate) durable_confirmed: AtomicU64,
    pub(crate) durable_given_up: AtomicU64,
    pub(crate) restarts: AtomicU64,
}

pub(crate) enum Work<M> {
    Msg(Incoming<M>),
    /// The keeper found this lease lapsed.
    Lapsed(Arc<Lease>),
    /// The actor of the activation holding this lease ended by itself (unsupervised, or its
    /// supervision gave up): the activation ends and its lease is given back.
    Ended(Arc<Lease>),
    Passivate(oneshot::Sender<bool>),
    /// The group stops: passivate and end.
    Stop,
    /// No message for the idle time.
    Idle,
    /// The key has durable messages stored: activate it here if no node has it.
    Wake,
    /// A durable message read by the feeder of the activation holding `lease`.
    Durable {
        message: Box<jetstream::Message>,
        lease: Arc<Lease>,
    },
}

pub(crate) struct Incoming<M> {
    message: M,
    answer: Option<Answer>,
    acked: bool,
    correlation: u64,
    reply: Option<Subject>,
}

struct Activation<A: Actor, MB: Mailbox> {
    actor: ActorRef<A, MB>,
    lease: Arc<Lease>,
    keeper: tokio::task::JoinHandle<()>,
    /// Reads the key's durable messages (a group that takes some).
    feeder: Option<tokio::task::JoinHandle<()>>,
    /// The durable messages handed to the actor and not yet confirmed (at most one, as the
    /// consumer hands out one at a time, but a pause can overlap the next).
    confirming: Vec<tokio::task::JoinHandle<()>>,
    /// What the supervision's restarts draw on (a supervised group), alive as long as the
    /// activation: its `Reactivation` holds it weakly.
    _restarter: Option<Arc<dyn ReactivationSource<String, A>>>,
}

impl<A: Actor, MB: Mailbox> Drop for Activation<A, MB> {
    /// A worker dropped without passivating (its task aborted: the node left): stop acting.
    fn drop(&mut self) {
        self.lease.lapse();
        self.keeper.abort();
        if let Some(feeder) = &self.feeder {
            feeder.abort();
        }
        self.actor.stop();
    }
}

type Workers<M> = HashMap<String, (u64, mpsc::UnboundedSender<Work<M>>)>;

pub(crate) struct Group<A: Actor, MB: Mailbox, C: Codec> {
    pub(crate) inner: Arc<Inner<C>>,
    pub(crate) name: String,
    pub(crate) leases: Arc<Leases>,
    pub(crate) states: kv::Store,
    /// The stream of the group's durable messages, if it takes some.
    pub(crate) durable: Option<stream::Stream>,
    pub(crate) redelivery: Redelivery,
    pub(crate) routes: Routes<A::Message, C>,
    pub(crate) factory: Factory<A, C>,
    pub(crate) spawn: Spawn<A, MB>,
    /// Makes each activation's supervision, if the group is supervised.
    pub(crate) supervision: Option<SupervisionFactory<A>>,
    /// The clock and timer of the executor the actors run on.
    pub(crate) clock: Arc<dyn ActorClock>,
    pub(crate) idle: Option<Duration>,
    pub(crate) workers: Mutex<Workers<A::Message>>,
    pub(crate) next_worker: AtomicU64,
    pub(crate) active: Mutex<HashSet<String>>,
    pub(crate) counters: Arc<Counters>,
    /// Set when the group stops serving on this node: a sweep still under way wakes nothing,
    /// and answers no longer name this node as the key's owner.
    pub(crate) stopped: std::sync::atomic::AtomicBool,
    /// Set when the serving loop has ended: its subscriptions drained and every worker told to
    /// stop. Until then a stop or a leave waits for the group, even with no key active.
    pub(crate) finished: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<A: Actor, MB: Mailbox, C: Codec> crate::broker::ActiveKeys for Group<A, MB, C> {
    fn active(&self) -> usize {
        self.still_stopping()
    }
}

impl<A: Actor, MB: Mailbox, C: Codec> Group<A, MB, C> {
    /// What a stop of the group waits for: its active keys, and its serving loop until that
    /// has drained its subscriptions (one more while it has not).
    pub(crate) fn still_stopping(&self) -> usize {
        self.worker_count() + usize::from(!self.finished.load(Ordering::Acquire))
    }
}

impl<A: Actor, MB: Mailbox, C: Codec> Group<A, MB, C> {
    pub(crate) fn is_active(&self, key: &str) -> bool {
        lock(&self.active).contains(key)
    }

    pub(crate) fn active_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.active).iter().cloned().collect();
        keys.sort();
        keys
    }

    pub(crate) fn worker_count(&self) -> usize {
        lock(&self.workers).len()
    }

    /// Hands `work` to the key's worker, starting one if it has none.
    pub(crate) fn dispatch(self: &Arc<Self>, key: &str, work: Work<A::Message>) {
        let mut workers = lock(&self.workers);
        let work = match workers.get(key) {
            Some((_, tx)) => match tx.send(work) {
                Ok(()) => return,
                Err(mpsc::error::SendError(work)) => work,
            },
            None => work,
        };
        // A durable message is read for a running activation, whose worker is there: one
        // that comes when the key has none (an offer again after the activation ended) is
        // stale. Unacknowledged, the stream delivers it again after its wait.
        if matches!(
            work,
            Work::Lapsed(_) | Work::Ended(_) | Work::Stop | Work::Durable { .. }
        ) {
            return;
        }
        // A wake after the group stopped here (a sweep under way) starts nothing.
        if matches!(work, Work::Wake) && self.stopped.load(Ordering::Acquire) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(work);
        let id = self.next_worker.fetch_add(1, Ordering::Relaxed);
        workers.insert(key.to_owned(), (id, tx));
        let group = Arc::clone(self);
        // A worker aborted (by a leave that stopped waiting) leaves no entry behind for a stop
        // to wait on: the guard is made now and dropped with the task's future.
        let gone = WorkerGone {
            group: Arc::clone(self),
            key: key.to_owned(),
            id,
        };
        let key = key.to_owned();
        let task = runtime::spawn(async move {
            let _gone = gone;
            group.work(key, id, rx).await;
        });
        self.inner.keep_task(task);
    }

    /// Stops every worker (each passivates its key).
    pub(crate) fn stop_workers(&self) {
        for (_, tx) in lock(&self.workers).values() {
            let _ = tx.send(Work::Stop);
        }
    }

    /// Passivates `key` if this node has it active; `false` if it had no worker.
    pub(crate) async fn passivate(self: &Arc<Self>, key: &str) -> bool {
        let (tx, rx) = oneshot::channel();
        {
            let workers = lock(&self.workers);
            match workers.get(key) {
                Some((_, worker)) => {
                    if worker.send(Work::Passivate(tx)).is_err() {
                        return false;
                    }
                }
                None => return false,
            }
        }
        rx.await.unwrap_or(false)
    }

    /// Reads one message from the group's subjects and hands it to its key's worker, or
    /// refuses it.
    pub(crate) async fn receive(self: &Arc<Self>, msg: async_nats::Message) {
        let reply = msg.reply.clone();
        let key = msg.subject.as_str().rsplit('.').next().unwrap_or("");
        if !is_token(key) {
            let why = Rejection::InvalidKey {
                key: key.to_owned(),
            };
            return self.reject(&reply, 0, why).await;
        }
        if msg.payload.len() > self.inner.limit {
            let why = Rejection::TooLarge {
                size: msg.payload.len() as u64,
                limit: self.inner.limit as u64,
            };
            return self.reject(&reply, 0, why).await;
        }
        let env = match envelope::parse(&msg.payload) {
            Ok(env) => env,
            Err(why) => return self.reject(&reply, 0, why).await,
        };
        let correlation = env.correlation;
        if matches!(env.kind, Kind::Reply | Kind::Rejection) {
            let why = Rejection::Malformed {
                detail: "an answer sent to a keyed actor".into(),
            };
            return self.reject(&reply, correlation, why).await;
        }
        let name = || format!("{}/{key}", self.name);
        let (message, answer) = match self.routes.convert(&self.inner.codec, &env, name) {
            Ok(converted) => converted,
            Err(why) => return self.reject(&reply, correlation, why).await,
        };
        let incoming = Incoming {
            message,
            answer,
            acked: env.kind == Kind::AckedTell,
            correlation,
            reply,
        };
        let key = key.to_owned();
        self.dispatch(&key, Work::Msg(incoming));
    }

    async fn reject(&self, reply: &Option<Subject>, correlation: u64, why: Rejection) {
        if let Some(to) = reply {
            let mut out = Vec::new();
            envelope::rejection(&mut out, correlation, &why, self.inner.limit, 0);
            let _ = self.inner.client.publish(to.clone(), out.into()).await;
        }
    }

    /// The header that names this node as the key's owner, so that the sender's next message
    /// comes here directly; none once the group has stopped here.
    fn owner_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if !self.stopped.load(Ordering::Acquire) {
            headers.insert(OWNER_HEADER, self.inner.node.as_str());
        }
        headers
    }

    /// The bytes [`owner_headers`](Self::owner_headers) add to a message on the wire, which the
    /// server counts against its payload limit.
    fn owner_headers_len(&self) -> usize {
        match self.stopped.load(Ordering::Acquire) {
            true => 0,
            false => envelope::headers_len(&[(OWNER_HEADER.len(), self.inner.node.len())]),
        }
    }

    /// One key's worker: handles its work in order until the key is inactive and nothing is
    /// queued.
    async fn work(
        self: Arc<Self>,
        key: String,
        id: u64,
        mut rx: mpsc::UnboundedReceiver<Work<A::Message>>,
    ) {
        let mut active: Option<Activation<A, MB>> = None;
        let mut last = Instant::now();
        let mut stopping = false;
        loop {
            let next = match (self.idle, &active) {
                (Some(idle), Some(_)) => {
                    let at = tokio::time::Instant::from_std(runtime::deadline_after(last, idle));
                    match tokio::time::timeout_at(at, rx.recv()).await {
                        Ok(work) => work,
                        Err(_) => Some(Work::Idle),
                    }
                }
                _ => rx.recv().await,
            };
            match next {
                None | Some(Work::Stop) => {
                    stopping = true;
                    self.end(&key, &mut active).await;
                }
                Some(Work::Idle) => {
                    // A key with anything queued is not idle: its handler is slow, or its
                    // actor waits for a restart (whose queue a passivation would discard). The
                    // look and the stop are one step, so that a message the actor's own timers
                    // or subscriptions queue meanwhile (they do not come through this worker)
                    // keeps the key too.
                    let busy = active
                        .as_ref()
                        .is_some_and(|a| !a.actor.stop_if_empty_with("passivated"));
                    if busy {
                        last = Instant::now();
                    } else {
                        self.end(&key, &mut active).await;
                    }
                }
                Some(Work::Passivate(done)) => {
                    let had = active.is_some();
                    self.end(&key, &mut active).await;
                    let _ = done.send(had);
                }
                Some(Work::Lapsed(lease)) => {
                    if active
                        .as_ref()
                        .is_some_and(|a| Arc::ptr_eq(&a.lease, &lease))
                    {
                        self.counters.lapses.fetch_add(1, Ordering::Relaxed);
                        self.end(&key, &mut active).await;
                    }
                }
                Some(Work::Ended(lease)) => {
                    if active
                        .as_ref()
                        .is_some_and(|a| Arc::ptr_eq(&a.lease, &lease))
                    {
                        self.end(&key, &mut active).await;
                    }
                }
                Some(Work::Msg(incoming)) if stopping => {
                    self.reject(&incoming.reply, incoming.correlation, Rejection::ActorGone)
                        .await;
                }
                Some(Work::Msg(incoming)) => {
                    last = Instant::now();
                    self.handle(&key, &mut active, incoming).await;
                }
                // Stopping: a stored message stays stored, for the key's next owner.
                Some(Work::Wake | Work::Durable { .. }) if stopping => {}
                Some(Work::Wake) => {
                    if !active.as_ref().is_some_and(|a| a.lease.is_valid()) {
                        last = Instant::now();
                        let _ = self.ensure_active(&key, &mut active).await;
                    }
                }
                Some(Work::Durable { message, lease }) => {
                    last = Instant::now();
                    self.deliver(&key, &mut active, *message, lease).await;
                }
            }
            if active.is_none() {
                let mut workers = lock(&self.workers);
                if rx.is_empty() {
                    if workers.get(&key).is_some_and(|(w, _)| *w == id) {
                        workers.remove(&key);
                    }
                    return;
                }
            }
        }
    }

    /// Ends the key's activation, if any: stops the actor, waits for its end (it handles what
    /// was queued, its `stopped` hook runs), then gives the lease back.
    ///
    /// A durable group's feeder stops first; the confirmations of what the actor handled are
    /// awaited (one lease TTL at most), then the key's consumer is deleted while the lease is still held, if the key
    /// has no message stored (a lapsed activation, or one that leaves messages unconfirmed,
    /// leaves the consumer to the next owner, who carries on with it and its counts).
    async fn end(&self, key: &str, active: &mut Option<Activation<A, MB>>) {
        let Some(mut activation) = active.take() else {
            return;
        };
        if let Some(feeder) = activation.feeder.take() {
            feeder.abort();
        }
        activation.actor.stop_with("passivated");
        activation.actor.wait().await;
        // A delivery the actor handed elsewhere may outlive it: waited for one TTL at most,
        // then left unacknowledged (it comes again).
        let confirming = std::mem::take(&mut activation.confirming);
        let aborts: Vec<_> = confirming.iter().map(|c| c.abort_handle()).collect();
        let all = futures::future::join_all(confirming);
        if tokio::time::timeout(self.leases.ttl(), all).await.is_err() {
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
        if let Some(stream) = &self.durable {
            let subject = durable::durable_subject(&self.inner.prefix, &self.name, key);
            if activation.lease.is_valid()
                && durable::holds_messages(stream, &subject).await == Ok(false)
            {
                let _ = stream.delete_consumer(&durable::consumer_name(key)).await;
            }
        }
        self.leases.give_back(&activation.lease).await;
        lock(&self.active).remove(key);
        self.counters.passivations.fetch_add(1, Ordering::Relaxed);
    }

    async fn handle(
        self: &Arc<Self>,
        key: &str,
        active: &mut Option<Activation<A, MB>>,
        incoming: Incoming<A::Message>,
    ) {
        let Incoming {
            message,
            answer,
            acked,
            correlation,
            reply,
        } = incoming;
        let mut message = message;
        // The activation found ended by itself (it crashed, unsupervised, or its supervision
        // gave up) is ended here and the key activated anew, once, for this message.
        let mut reactivated = false;
        let activation = loop {
            if let Err(why) = self.ensure_active(key, active).await {
                if matches!(why, Rejection::OwnedElsewhere { .. }) {
                    self.counters.redirected.fetch_add(1, Ordering::Relaxed);
                }
                return self.reject(&reply, correlation, why).await;
            }
            let Some(activation) = active.as_ref() else {
                return;
            };
            match activation.actor.tell(message).await {
                Ok(()) => break activation,
                Err(SendError::Closed(m)) if !reactivated => {
                    reactivated = true;
                    message = m;
                    self.end(key, active).await;
                }
                Err(SendError::Closed(m)) => {
                    crate::routes::discard(m);
                    self.end(key, active).await;
                    return self.reject(&reply, correlation, Rejection::ActorGone).await;
                }
                Err(SendError::Full(m)) => {
                    crate::routes::discard(m);
                    return self
                        .reject(&reply, correlation, Rejection::MailboxFull)
                        .await;
                }
            }
        };
        let Some(to) = reply else { return };
        if acked {
            let mut out = Vec::new();
            envelope::write_header(&mut out, Kind::Reply, correlation, "");
            let _ = self
                .inner
                .client
                .publish_with_headers(to.clone(), self.owner_headers(), out.into())
                .await;
        }
        if let Some(answer) = answer {
            let lease = Arc::clone(&activation.lease);
            let group = Arc::clone(self);
            let key = key.to_owned();
            runtime::spawn(async move {
                let answer = answer.await;
                let mut out = Vec::new();
                let (limit, extra) = (group.inner.limit, group.owner_headers_len());
                match answer {
                    // Fenced: nothing leaves a node for a key whose lease lapsed. The request
                    // was handled, so the asker is told its answer is lost, not that no answer
                    // was given. (An answer given before a passivation gave the lease back goes
                    // out.)
                    Ok(_) if lease.is_lost() => envelope::rejection(
                        &mut out,
                        correlation,
                        &Rejection::AnswerUndeliverable {
                            detail: format!(
                                "node {:?} lost the lease of key {key:?} before the answer went \
                                 out (a node answers only for the keys it holds)",
                                group.inner.node
                            ),
                        },
                        limit,
                        extra,
                    ),
                    Ok(body) => envelope::answer(&mut out, correlation, &body, limit, extra),
                    Err(why) => envelope::rejection(&mut out, correlation, &why, limit, extra),
                }
                let _ = group
                    .inner
                    .client
                    .publish_with_headers(to, group.owner_headers(), out.into())
                    .await;
            });
        }
    }

    /// Makes sure `key` has a valid activation here: takes its lease and activates it if
    /// not, or says why it cannot (another node holds the lease, the lease cannot be read,
    /// the activation failed).
    async fn ensure_active(
        self: &Arc<Self>,
        key: &str,
        active: &mut Option<Activation<A, MB>>,
    ) -> Result<(), Rejection> {
        if active.as_ref().is_some_and(|a| a.lease.is_valid()) {
            return Ok(());
        }
        if active.is_some() {
            // The lease lapsed before the keeper said so.
            self.counters.lapses.fetch_add(1, Ordering::Relaxed);
            self.end(key, active).await;
        }
        let entry = format!("{}.{key}", self.name);
        match self.leases.take(&entry).await {
            Ok(Taken::Mine(lease)) => match self.activate(key, lease).await {
                Ok(activation) => {
                    *active = Some(activation);
                    Ok(())
                }
                Err(cause) => {
                    self.counters
                        .activation_failures
                        .fetch_add(1, Ordering::Relaxed);
                    Err(Rejection::ActivationFailed {
                        key: key.to_owned(),
                        cause,
                    })
                }
            },
            Ok(Taken::HeldBy(owner)) => Err(Rejection::OwnedElsewhere {
                key: key.to_owned(),
                owner,
            }),
            Err(_) => Err(Rejection::LeaseUnavailable {
                key: key.to_owned(),
            }),
        }
    }

    /// Hands the durable `message` to the actor of `key`, if it was read for the activation
    /// running now (one read for an ended activation is not acknowledged, and comes again),
    /// and acknowledges it to the stream once the actor confirms it.
    async fn deliver(
        self: &Arc<Self>,
        key: &str,
        active: &mut Option<Activation<A, MB>>,
        message: jetstream::Message,
        lease: Arc<Lease>,
    ) {
        let current = active
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(&a.lease, &lease) && lease.is_valid());
        if !current {
            return;
        }
        let info = match message.info() {
            Ok(i) => DeliveryInfo {
                sequence: i.stream_sequence,
                deliveries: u64::try_from(i.delivered).unwrap_or(0).max(1),
            },
            Err(_) => return self.give_up(key, &message, None).await,
        };
        let Ok(env) = envelope::parse(&message.payload) else {
            return self.give_up(key, &message, None).await;
        };
        let message_type = self.routes.durable_type(env.tag);
        if info.deliveries > self.redelivery.max_deliveries.max(1) {
            return self.give_up(key, &message, message_type).await;
        }
        let name = || format!("{}/{key}", self.name);
        let converted = self
            .routes
            .convert_durable(&self.inner.codec, &env, info, name);
        let Ok((m, answer)) = converted else {
            return self.give_up(key, &message, message_type).await;
        };
        let Some(activation) = active.as_mut() else {
            return;
        };
        // A full `Block` mailbox makes the tell wait for room: the stream is told meanwhile that
        // the work goes on, or it would hand the message out again after its wait.
        let told = activation.actor.tell(m);
        match while_telling_the_stream(&message, &lease, self.leases.ttl() / 3, told).await {
            Ok(()) => {}
            Err(SendError::Closed(m)) => {
                crate::routes::discard(m);
                // It ended by itself: the message stays stored, for the next activation.
                self.end(key, active).await;
                return;
            }
            Err(SendError::Full(m)) => {
                crate::routes::discard(m);
                return self.offer_again(key, message, lease);
            }
        }
        activation.confirming.retain(|task| !task.is_finished());
        let ack_wait = self.leases.ttl();
        activation.confirming.push(runtime::spawn(confirm(
            answer,
            message,
            Arc::clone(&activation.lease),
            ack_wait,
            self.redelivery.pause_after(info.deliveries),
            Arc::clone(&self.counters),
        )));
    }

    /// Offers the durable `message`, which `key`'s actor's mailbox refused (full), to the actor
    /// again after a pause, while the stream is told the work goes on: handed back to the
    /// stream, it would come again counted as one more delivery, and a mailbox full for long
    /// would make it a dead letter the actor never saw. Through the key's worker, as it came
    /// first: nothing comes of it if the activation has ended or lost its lease meanwhile (the
    /// stream delivers it again, to the next owner, after its wait for an acknowledgement).
    fn offer_again(self: &Arc<Self>, key: &str, message: jetstream::Message, lease: Arc<Lease>) {
        // The stream waits a lease TTL for an acknowledgement from the last word on it: told
        // before and after the pause, so that the wait of a delivery that then gets in
        // (`confirm`'s first word comes a third of a TTL later) starts afresh. Not a busy loop
        // either.
        let pause = self
            .redelivery
            .pause
            .max(Duration::from_millis(10))
            .min(self.leases.ttl() / 4);
        let (group, key) = (Arc::downgrade(self), key.to_owned());
        drop(runtime::spawn(async move {
            for wait in [Some(pause), None] {
                // Fenced: nothing is said to the stream once the lease has lapsed.
                if !lease.is_valid() {
                    return;
                }
                let _ = message.ack_with(AckKind::Progress).await;
                if let Some(pause) = wait {
                    tokio::time::sleep(pause).await;
                }
            }
            if let Some(group) = group.upgrade() {
                let message = Box::new(message);
                group.dispatch(&key, Work::Durable { message, lease });
            }
        }));
    }

    /// Takes a durable message that cannot be handed over (unreadable, of a type the group
    /// does not take, delivered too many times) out of the stream, as a dead letter.
    async fn give_up(
        &self,
        key: &str,
        message: &jetstream::Message,
        message_type: Option<&'static str>,
    ) {
        let _ = message.ack_with(AckKind::Term).await;
        self.counters
            .durable_given_up
            .fetch_add(1, Ordering::Relaxed);
        self.inner.local.report_dead_letter(
            DeadLetterKind::Rejected,
            &format!("{}/{key}", self.name),
            message_type.unwrap_or("(unknown)"),
            None,
        );
    }

    /// Activates `key` under `lease`: opens its state (fencing any late write of a previous
    /// owner), starts the keeper, runs the factory and spawns the actor.
    async fn activate(
        self: &Arc<Self>,
        key: &str,
        lease: Arc<Lease>,
    ) -> Result<Activation<A, MB>, String> {
        let state = KeyState::open(
            self.states.clone(),
            key,
            self.inner.codec.clone(),
            Arc::clone(&lease),
            self.inner.limit,
        )
        .await;
        let state = match state {
            Ok(state) => state,
            Err(e) => {
                self.leases.give_back(&lease).await;
                return Err(e.to_string());
            }
        };
        let keeper = {
            let leases = Arc::clone(&self.leases);
            let lease = Arc::clone(&lease);
            let group = Arc::downgrade(self);
            let key = key.to_owned();
            runtime::spawn(async move {
                let lapsed = Arc::clone(&lease);
                leases
                    .keep(lease, move || {
                        if let Some(group) = group.upgrade() {
                            group.dispatch(&key, Work::Lapsed(lapsed));
                        }
                    })
                    .await;
            })
        };
        // The factory's error is displayed inside the catch too: its `Display` is user code.
        let made =
            AssertUnwindSafe(async { (self.factory)(key, state).await.map_err(|e| e.to_string()) })
                .catch_unwind()
                .await;
        let actor = match made {
            Ok(Ok(actor)) => actor,
            Ok(Err(cause)) => {
                keeper.abort();
                self.leases.give_back(&lease).await;
                return Err(cause);
            }
            Err(payload) => {
                keeper.abort();
                self.leases.give_back(&lease).await;
                return Err(format!("the factory panicked: {}", panic_message(payload)));
            }
        };
        // What restarts that drained the queue have reported as they discarded it.
        let drained = Arc::new(AtomicU64::new(0));
        let supervised = match self.supervise(key, &lease, &drained) {
            Ok(supervised) => supervised,
            Err(cause) => {
                drop(actor);
                keeper.abort();
                self.leases.give_back(&lease).await;
                return Err(cause);
            }
        };
        let (supervision, restarter) = match supervised {
            Some(Supervised {
                supervision,
                restarter,
            }) => (Some(supervision), Some(restarter)),
            None => (None, None),
        };
        let actor = (self.spawn)(actor, supervision);
        {
            // An end of its own is this activation's end: the lease goes back at once, and
            // the key's next message activates it anew. (The end of a stop the worker made
            // finds the activation gone, and changes nothing.)
            // What it discarded unhandled as it ended (a crash's backlog, or the queue of a
            // stop), less what drained restarts reported, is reported as dead letters first.
            let (group, key, lease) = (Arc::downgrade(self), key.to_owned(), Arc::clone(&lease));
            let (this, broker, target) = (
                actor.downgrade(),
                self.inner.local.clone(),
                format!("{}/{key}", self.name),
            );
            actor.on_exit(move |_, _| {
                let discarded = this
                    .discarded_count()
                    .saturating_sub(drained.load(Ordering::Relaxed));
                report_discarded::<A::Message>(
                    &broker,
                    DeadLetterKind::ActorGone,
                    &target,
                    discarded,
                );
                if let Some(group) = group.upgrade() {
                    group.dispatch(&key, Work::Ended(lease));
                }
            });
        }
        lock(&self.active).insert(key.to_owned());
        self.counters.activations.fetch_add(1, Ordering::Relaxed);
        let feeder = self.durable.clone().map(|stream| {
            runtime::spawn(feed(
                Arc::downgrade(self),
                stream,
                key.to_owned(),
                Arc::clone(&lease),
            ))
        });
        Ok(Activation {
            actor,
            lease,
            keeper,
            feeder,
            confirming: Vec::new(),
            _restarter: restarter,
        })
    }

    /// Wakes the keys with durable messages stored that are not active here (each takes its
    /// lease if no node holds it).
    async fn sweep(self: Arc<Self>) {
        let Some(stream) = &self.durable else { return };
        let filter = durable::durable_subject(&self.inner.prefix, &self.name, "*");
        let Ok(mut subjects) = stream.info_with_subjects(&filter).await else {
            return;
        };
        while let Some(Ok((subject, count))) = subjects.next().await {
            let key = subject.rsplit('.').next().unwrap_or("");
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            if count > 0 && is_token(key) && !self.is_active(key) {
                self.dispatch(key, Work::Wake);
            }
        }
    }
}

/// Reads the durable messages of `key` through its consumer while `lease` is valid, handing
/// each to the key's worker (the consumer hands out the next once this one is acknowledged).
async fn feed<A: Actor, MB: Mailbox, C: Codec>(
    group: std::sync::Weak<Group<A, MB, C>>,
    stream: stream::Stream,
    key: String,
    lease: Arc<Lease>,
) {
    loop {
        let opened = {
            let Some(group) = group.upgrade() else { return };
            let (prefix, name, ttl) = (
                group.inner.prefix.clone(),
                group.name.clone(),
                group.leases.ttl(),
            );
            drop(group);
            match durable::open_consumer(&stream, &prefix, &name, &key, ttl).await {
                // Heartbeats every half TTL: a pull the server forgot (it restarted) is found
                // missing, and asked again, within about one TTL.
                Ok(consumer) => consumer
                    .stream()
                    .expires(ttl * 2)
                    .heartbeat(ttl / 2)
                    .messages()
                    .await
                    .ok(),
                Err(_) => None,
            }
        };
        if let Some(mut messages) = opened {
            while let Some(Ok(message)) = messages.next().await {
                if !lease.is_valid() {
                    return;
                }
                let Some(group) = group.upgrade() else { return };
                let lease = Arc::clone(&lease);
                let message = Box::new(message);
                group.dispatch(&key, Work::Durable { message, lease });
            }
        }
        // The consumer could not be opened, or its stream broke off: again, after a pause.
        if !lease.is_valid() {
            return;
        }
        tokio::time::sleep(durable::REOPEN).await;
    }
}

/// Runs `work` on a durable `message`, telling the stream every `every` that the work goes on
/// (while `lease` is valid: fenced, as every word to the stream is), so that its wait for an
/// acknowledgement does not run out meanwhile.
async fn while_telling_the_stream<F: Future>(
    message: &jetstream::Message,
    lease: &Lease,
    every: Duration,
    work: F,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => {
                if lease.is_valid() {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    }
}

/// Reports `n` messages of type `M` for `target` (`group/key`) that an activation discarded
/// unhandled, as dead letters of `kind` on the node's broker.
pub(crate) fn report_discarded<M>(
    broker: &playhouse_broker::InMemoryBroker,
    kind: DeadLetterKind,
    target: &str,
    n: u64,
) {
    let message_type = std::any::type_name::<M>();
    for _ in 0..n {
        broker.report_dead_letter(kind, target, message_type, None);
    }
}

/// Waits for the actor to confirm a durable message, telling the stream the work goes on
/// every third of `ack_wait` meanwhile; then acknowledges it (and waits for the stream to have
/// it), or asks for it again after a pause if it was dropped unconfirmed. Nothing is said to
/// the stream once `lease` has lapsed: the next owner gets the message again.
async fn confirm(
    mut answer: Answer,
    message: jetstream::Message,
    lease: Arc<Lease>,
    ack_wait: Duration,
    pause: Duration,
    counters: Arc<Counters>,
) {
    loop {
        let outcome = tokio::time::timeout(ack_wait / 3, &mut answer).await;
        if !lease.is_valid() {
            return;
        }
        match outcome {
            Ok(Ok(_)) => {
                if message.double_ack().await.is_ok() {
                    counters.durable_confirmed.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Ok(Err(_)) => {
                let _ = message.ack_with(AckKind::Nak(Some(pause))).await;
                return;
            }
            Err(_) => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// Reads the group's two subscriptions until the group stops.
///
/// A group that takes durable messages also reads the wakes (the durable publishes, one node
/// of the group getting each) and sweeps its stream every lease TTL.
pub(crate) fn serve<A: Actor, MB: Mailbox, C: Codec>(
    group: Arc<Group<A, MB, C>>,
    direct: async_nats::Subscriber,
    claim: async_nats::Subscriber,
    wakes: Option<async_nats::Subscriber>,
    stop: oneshot::Receiver<()>,
    name: GroupName<C>,
) -> impl Future<Output = ()> + Send + 'static {
    // However the loop ends (aborted by a leave that stopped waiting, even before its first
    // poll), a stop waits for it no more, and the group's name is free again on this node:
    // the guards are made now and dropped with the future.
    let finished = Finished(Arc::clone(&group));
    async move {
        // Declared first, dropped last: `finished` is set only once the name is free again.
        let _finished = finished;
        serve_until_stopped(Arc::clone(&group), direct, claim, wakes, stop).await;
        // The name is given back once every worker has passivated its key and given its
        // lease back: a new group of the name started before would take those leases over.
        let never = runtime::deadline_after(Instant::now(), Duration::MAX);
        crate::broker::until_passivated(|| group.worker_count(), never.into()).await;
        drop(name);
    }
}

/// A sharded group's name taken on this node (one group of a name at a time); given back
/// when dropped.
pub(crate) struct GroupName<C> {
    inner: Arc<crate::broker::Inner<C>>,
    name: String,
}

impl<C> GroupName<C> {
    /// Takes `name`, or `None` if this node already serves a group of that name or is
    /// starting one.
    pub(crate) fn take(inner: &Arc<crate::broker::Inner<C>>, name: &str) -> Option<Self> {
        lock(&inner.group_names)
            .insert(name.to_owned())
            .then(|| GroupName {
                inner: Arc::clone(inner),
                name: name.to_owned(),
            })
    }
}

impl<C> Drop for GroupName<C> {
    fn drop(&mut self) {
        lock(&self.inner.group_names).remove(&self.name);
    }
}

/// Removes a key's worker from the group's table when the worker's task ends, if the entry is
/// still that worker's (a worker that returns has removed it already).
struct WorkerGone<A: Actor, MB: Mailbox, C: Codec> {
    group: Arc<Group<A, MB, C>>,
    key: String,
    id: u64,
}

impl<A: Actor, MB: Mailbox, C: Codec> Drop for WorkerGone<A, MB, C> {
    fn drop(&mut self) {
        let mut workers = lock(&self.group.workers);
        if workers.get(&self.key).is_some_and(|(w, _)| *w == self.id) {
            workers.remove(&self.key);
        }
    }
}

/// Sets the group's `finished` when dropped.
struct Finished<A: Actor, MB: Mailbox, C: Codec>(Arc<Group<A, MB, C>>);

impl<A: Actor, MB: Mailbox, C: Codec> Drop for Finished<A, MB, C> {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Release);
    }
}

async fn serve_until_stopped<A: Actor, MB: Mailbox, C: Codec>(
    group: Arc<Group<A, MB, C>>,
    mut direct: async_nats::Subscriber,
    mut claim: async_nats::Subscriber,
    mut wakes: Option<async_nats::Subscriber>,
    mut stop: oneshot::Receiver<()>,
) {
    // What the client drops for them, as a slow consumer, is reported under the group's name.
    let tracked = [Some(&direct), Some(&claim), wakes.as_ref()]
        .map(|sub| sub.and_then(|sub| group.inner.track(sub, &group.name)));
    let mut sweeps = tokio::time::interval(group.leases.ttl());
    sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wake = async {
            match &mut wakes {
                Some(wakes) => wakes.next().await,
                None => std::future::pending().await,
            }
        };
        let msg = tokio::select! {
            _ = &mut stop => break,
            msg = direct.next() => msg,
            msg = claim.next() => msg,
            Some(woken) = wake => {
                let key = woken.subject.as_str().rsplit('.').next().unwrap_or("");
                if is_token(key) {
                    group.dispatch(key, Work::Wake);
                }
                continue;
            }
            _ = sweeps.tick(), if group.durable.is_some() => {
                runtime::spawn(Arc::clone(&group).sweep());
                continue;
            }
        };
        let Some(msg) = msg else { break };
        group.receive(msg).await;
    }
    // Stopped: a sweep under way wakes nothing, and answers no longer name this node as the
    // key's owner (a sender would come straight back here, to find nobody).
    group.stopped.store(true, Ordering::Release);
    // A stopped group ignores wakes: the server may send them to the group's other nodes.
    if let Some(mut wakes) = wakes {
        let _ = wakes.unsubscribe().await;
    }
    // Stop the server's deliveries, and take what it delivered meanwhile as any message
    // (handled by its key's worker, which the stop below passivates after it) instead of
    // dropping it: its sender would wait out its whole timeout. Both at once, and within half
    // the node TTL, which bounds a leave's wait for the group: its workers must still be told
    // to stop below.
    let _ = tokio::time::timeout(group.inner.config.node_ttl / 2, async {
        futures::join!(
            crate::export::drain(&group.inner, &mut direct, |msg| group.receive(msg)),
            crate::export::drain(&group.inner, &mut claim, |msg| group.receive(msg)),
        )
    })
    .await;
    for sid in tracked {
        group.inner.forget(sid);
    }
    group.stop_workers();
}
