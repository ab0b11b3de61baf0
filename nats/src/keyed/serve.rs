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

use async_nats::jetstream::kv;
use async_nats::{HeaderMap, Subject};
use futures::FutureExt;
use futures::StreamExt;
use futures::channel::oneshot;
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorRef, BoxError, SendError};
use tokio::sync::mpsc;

use super::lease::{Lease, Leases, Taken};
use super::state::KeyState;
use crate::broker::Inner;
use crate::codec::Codec;
use crate::config::is_token;
use crate::envelope::{self, Kind, Rejection, RemoteNoReply};
use crate::routes::{Answer, Routes, panic_message};
use crate::runtime;

/// The header a key's owner puts on its answers, so that senders go to it directly next time.
pub(crate) const OWNER_HEADER: &str = "Playhouse-Owner";

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub(crate) type Factory<A, C> =
    Arc<dyn Fn(&str, KeyState<C>) -> BoxFuture<Result<A, BoxError>> + Send + Sync>;
pub(crate) type Spawn<A, MB> = Arc<dyn Fn(A) -> ActorRef<A, MB> + Send + Sync>;

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
}

pub(crate) enum Work<M> {
    Msg(Incoming<M>),
    /// The keeper found this lease lapsed.
    Lapsed(Arc<Lease>),
    Passivate(oneshot::Sender<bool>),
    /// The group stops: passivate and end.
    Stop,
    /// No message for the idle time.
    Idle,
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
}

impl<A: Actor, MB: Mailbox> Drop for Activation<A, MB> {
    /// A worker dropped without passivating (its task aborted: the node left): stop acting.
    fn drop(&mut self) {
        self.lease.lapse();
        self.keeper.abort();
        self.actor.stop();
    }
}

type Workers<M> = HashMap<String, (u64, mpsc::UnboundedSender<Work<M>>)>;

pub(crate) struct Group<A: Actor, MB: Mailbox, C: Codec> {
    pub(crate) inner: Arc<Inner<C>>,
    pub(crate) name: String,
    pub(crate) leases: Arc<Leases>,
    pub(crate) states: kv::Store,
    pub(crate) routes: Routes<A::Message, C>,
    pub(crate) factory: Factory<A, C>,
    pub(crate) spawn: Spawn<A, MB>,
    pub(crate) idle: Option<Duration>,
    pub(crate) workers: Mutex<Workers<A::Message>>,
    pub(crate) next_worker: AtomicU64,
    pub(crate) active: Mutex<HashSet<String>>,
    pub(crate) counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        if matches!(work, Work::Lapsed(_) | Work::Stop) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(work);
        let id = self.next_worker.fetch_add(1, Ordering::Relaxed);
        workers.insert(key.to_owned(), (id, tx));
        let group = Arc::clone(self);
        let task = runtime::spawn(group.work(key.to_owned(), id, rx));
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
            envelope::rejection(&mut out, correlation, &why);
            let _ = self.inner.client.publish(to.clone(), out.into()).await;
        }
    }

    fn owner_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(OWNER_HEADER, self.inner.node.as_str());
        headers
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
                    let at = tokio::time::Instant::from_std(last + idle);
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
                Some(Work::Idle) => self.end(&key, &mut active).await,
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
                Some(Work::Msg(incoming)) if stopping => {
                    self.reject(&incoming.reply, incoming.correlation, Rejection::ActorGone)
                        .await;
                }
                Some(Work::Msg(incoming)) => {
                    last = Instant::now();
                    self.handle(&key, &mut active, incoming).await;
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
    async fn end(&self, key: &str, active: &mut Option<Activation<A, MB>>) {
        let Some(activation) = active.take() else {
            return;
        };
        activation.actor.stop_with("passivated");
        activation.actor.wait().await;
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
        if !active.as_ref().is_some_and(|a| a.lease.is_valid()) {
            if active.is_some() {
                // The lease lapsed before the keeper said so.
                self.counters.lapses.fetch_add(1, Ordering::Relaxed);
                self.end(key, active).await;
            }
            let entry = format!("{}.{key}", self.name);
            match self.leases.take(&entry).await {
                Ok(Taken::Mine(lease)) => match self.activate(key, lease).await {
                    Ok(activation) => *active = Some(activation),
                    Err(cause) => {
                        self.counters
                            .activation_failures
                            .fetch_add(1, Ordering::Relaxed);
                        let why = Rejection::ActivationFailed {
                            key: key.to_owned(),
                            cause,
                        };
                        return self.reject(&reply, correlation, why).await;
                    }
                },
                Ok(Taken::HeldBy(owner)) => {
                    self.counters.redirected.fetch_add(1, Ordering::Relaxed);
                    let why = Rejection::OwnedElsewhere {
                        key: key.to_owned(),
                        owner,
                    };
                    return self.reject(&reply, correlation, why).await;
                }
                Err(_) => {
                    let why = Rejection::LeaseUnavailable {
                        key: key.to_owned(),
                    };
                    return self.reject(&reply, correlation, why).await;
                }
            }
        }
        let Some(activation) = active.as_ref() else {
            return;
        };
        match activation.actor.tell(message).await {
            Ok(()) => {}
            Err(SendError::Closed(m)) => {
                crate::routes::discard(m);
                // It ended by itself (crashed); the next message activates the key again.
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
            runtime::spawn(async move {
                let answer = answer.await;
                let mut out = Vec::new();
                match answer {
                    // Fenced: nothing leaves a node for a key whose lease lapsed.
                    Ok(_) if !lease.is_valid() => envelope::rejection(
                        &mut out,
                        correlation,
                        &Rejection::NoReply(RemoteNoReply::Stopped),
                    ),
                    Ok(body) if body.len() + 64 > group.inner.limit => envelope::rejection(
                        &mut out,
                        correlation,
                        &Rejection::TooLarge {
                            size: body.len() as u64,
                            limit: group.inner.limit as u64,
                        },
                    ),
                    Ok(body) => {
                        envelope::write_header(&mut out, Kind::Reply, correlation, "");
                        out.extend_from_slice(&body);
                    }
                    Err(why) => envelope::rejection(&mut out, correlation, &why),
                }
                let _ = group
                    .inner
                    .client
                    .publish_with_headers(to, group.owner_headers(), out.into())
                    .await;
            });
        }
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
        let actor = (self.spawn)(actor);
        lock(&self.active).insert(key.to_owned());
        self.counters.activations.fetch_add(1, Ordering::Relaxed);
        Ok(Activation {
            actor,
            lease,
            keeper,
        })
    }
}

/// Reads the group's two subscriptions until the group stops.
pub(crate) async fn serve<A: Actor, MB: Mailbox, C: Codec>(
    group: Arc<Group<A, MB, C>>,
    mut direct: async_nats::Subscriber,
    mut claim: async_nats::Subscriber,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let msg = tokio::select! {
            _ = &mut stop => break,
            msg = direct.next() => msg,
            msg = claim.next() => msg,
        };
        let Some(msg) = msg else { break };
        group.receive(msg).await;
    }
    let _ = direct.unsubscribe().await;
    let _ = claim.unsubscribe().await;
    group.stop_workers();
}
