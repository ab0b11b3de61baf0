//! Governing a key's activation when it crashes: a [`Supervision`] made per activation, with
//! the [`Reactivation`] it can use to make the fresh actor a restart runs.
//!
//! A keyed set hands each activation's incarnations to a supervision, which the core's runner
//! asks after every incarnation that ended on its own what follows: a fresh actor behind the
//! same reference and mailbox (with or without what is queued), or the end. The supervision
//! may take its time (a backoff, an async factory): the mailbox stays open meanwhile and the
//! key stays active, so messages sent then queue for the next incarnation. A
//! [`KeyedSpec::restart`](super::KeyedSpec::restart) policy is the synchronous case, which a
//! caller writes by hand; `playhouse-supervisor`'s `KeyedSupervision` is the OTP one (restart
//! types, intensity, backoff, what a restart does with the queue), which restarts with the
//! set's own factory.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::Instant;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{ActorId, ExitReason, Next, Restart, Supervision};

use super::error::ActivationCause;
use super::factory_scope::GoverningScope;
use super::launch::BoxFuture;
use super::shared::Shared;
use super::spec::Key;

/// Makes the [`Supervision`] of each activation of a keyed set (see
/// [`KeyedSpec::supervise`](super::KeyedSpec::supervise)). Closures
/// `Fn(Reactivation<K, A>) -> S` implement it, and so does `playhouse-supervisor`'s
/// `KeyedSupervision`.
pub trait SupervisionMaker<K, A>: Send + Sync + 'static {
    /// The supervision of one activation.
    type Supervision: Supervision<A>;

    /// The supervision of a new activation of `activation.key()`.
    fn make(&self, activation: Reactivation<K, A>) -> Self::Supervision;
}

impl<K, A, S, F> SupervisionMaker<K, A> for F
where
    F: Fn(Reactivation<K, A>) -> S + Send + Sync + 'static,
    S: Supervision<A>,
{
    type Supervision = S;

    fn make(&self, activation: Reactivation<K, A>) -> S {
        self(activation)
    }
}

/// What the supervision of one activation can use: the key, the executor's clock and timer,
/// and the set's factory, to make the fresh actor a restart runs (reloading the key's state as
/// an activation does). It holds the set weakly: once every handle of the set is gone,
/// [`make`](Reactivation::make) fails with [`SetDropped`].
///
/// A keyed set makes one for each activation. Another keyed implementation (the sharded groups
/// of `playhouse-nats`) makes its own with [`Reactivation::new`] over a [`ReactivationSource`]
/// of its own, so that the same [`SupervisionMaker`]s govern its activations.
pub struct Reactivation<K, A> {
    key: K,
    id: u64,
    source: Weak<dyn ReactivationSource<K, A>>,
}

impl<K: Key, A: Send + 'static> Reactivation<K, A> {
    /// The reactivation of `key`'s activation numbered `activation` (the implementation's own
    /// number, handed back to [`ReactivationSource::remake`]), drawing on `source`, held
    /// weakly: once it is gone, [`make`](Reactivation::make) fails with [`SetDropped`], the
    /// clock is the system's and the timer ends at once.
    pub fn new(key: K, activation: u64, source: Weak<dyn ReactivationSource<K, A>>) -> Self {
        Reactivation {
            key,
            id: activation,
            source,
        }
    }

    /// The key of the activation.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Now, on the clock of the set's executor (virtual in tests that drive it); the system
    /// clock once the set is gone.
    pub fn now(&self) -> Instant {
        self.source
            .upgrade()
            .map_or_else(Instant::now, |source| source.now())
    }

    /// A timer on the set's executor that ends at `deadline` (at once if the set is gone or
    /// the executor has shut down).
    pub fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        let sleep = self
            .source
            .upgrade()
            .map(|source| source.sleep_until(deadline));
        async move {
            if let Some(sleep) = sleep {
                sleep.await;
            }
        }
    }

    /// Runs the set's factory for the key, as an activation does: its panic is caught, and the
    /// set's [`activation_timeout`](super::KeyedSpec::activation_timeout) bounds it. The fresh
    /// actor is for the same activation: a restart runs it behind the same reference and
    /// mailbox. Polled from the activation's supervision (as `KeyedSupervision` does), an ask
    /// that the factory makes of its own key is refused with
    /// [`KeyedAskError::Deadlock`](super::KeyedAskError::Deadlock), its answer being due from
    /// the actor being restarted; a send is queued for that actor.
    ///
    /// # Errors
    ///
    /// The factory's error, its panic or its overrunning the activation timeout (as
    /// [`KeyedError::ActivationFailed`](super::KeyedError::ActivationFailed)'s cause would say),
    /// or [`SetDropped`] when every handle of the set is gone.
    pub fn make(&self) -> impl Future<Output = Result<A, ActivationCause>> + Send + 'static {
        // The set is reached when the future first runs (after a backoff, say), so that a
        // restart under way does not keep a dropped set alive.
        let (source, key, id) = (self.source.clone(), self.key.clone(), self.id);
        async move {
            let Some(source) = source.upgrade() else {
                return Err(std::sync::Arc::new(SetDropped) as ActivationCause);
            };
            source.remake(&key, id).await
        }
    }
}

impl<K: fmt::Debug, A> fmt::Debug for Reactivation<K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactivation")
            .field("key", &self.key)
            .field("activation", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why [`Reactivation::make`] made nothing: every handle of the keyed set is gone, so there is
/// no factory to run (the activation then ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetDropped;

impl fmt::Display for SetDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the keyed set is gone: no factory to restart the key's actor with")
    }
}

impl std::error::Error for SetDropped {}

/// What a [`Reactivation`] draws on: the keyed implementation running the activation. A keyed
/// set is its activations' source; a keyed implementation of another crate implements it to
/// hand its activations to the same [`SupervisionMaker`]s.
pub trait ReactivationSource<K, A>: Send + Sync {
    /// Makes a fresh actor for `key`'s activation numbered `activation`, reloading its state
    /// as an activation does; or why not.
    fn remake<'a>(
        &'a self,
        key: &'a K,
        activation: u64,
    ) -> Pin<Box<dyn Future<Output = Result<A, ActivationCause>> + Send + 'a>>;

    /// Now, on the clock of the executor the activation's actor runs on.
    fn now(&self) -> Instant;

    /// A timer on that executor that ends at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl<K: Key, A: playhouse_core::Actor, MB: Mailbox> ReactivationSource<K, A> for Shared<K, A, MB> {
    fn remake<'a>(
        &'a self,
        key: &'a K,
        id: u64,
    ) -> Pin<Box<dyn Future<Output = Result<A, ActivationCause>> + Send + 'a>> {
        Box::pin(async move {
            let made = self.make(key, id).await;
            if made.is_err() {
                // A restart's factory failing is an activation failing, for the stats.
                super::shared::Counters::add(&self.counters.activation_failures, 1);
            }
            made
        })
    }

    fn now(&self) -> Instant {
        self.launch.now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        self.launch.sleep_until(deadline)
    }
}

/// A [`Supervision`] with its type erased (the trait has an associated constant, so it is not
/// object-safe itself).
pub(crate) trait DynSupervision<A>: Send + 'static {
    fn started(&mut self, actor: ActorId);
    fn poll_exited(
        &mut self,
        actor: ActorId,
        reason: &ExitReason,
        cx: &mut Context<'_>,
    ) -> Poll<Next<A>>;
    fn drained(&mut self, actor: ActorId, count: usize);
    fn wants_finished(&self) -> bool;
    fn finished(&mut self, actor: ActorId, reason: &ExitReason);
}

impl<A, S: Supervision<A>> DynSupervision<A> for S {
    fn started(&mut self, actor: ActorId) {
        Supervision::started(self, actor);
    }

    fn poll_exited(
        &mut self,
        actor: ActorId,
        reason: &ExitReason,
        cx: &mut Context<'_>,
    ) -> Poll<Next<A>> {
        Supervision::poll_exited(self, actor, reason, cx)
    }

    fn drained(&mut self, actor: ActorId, count: usize) {
        Supervision::drained(self, actor, count);
    }

    fn wants_finished(&self) -> bool {
        S::WANTS_FINISHED
    }

    fn finished(&mut self, actor: ActorId, reason: &ExitReason) {
        Supervision::finished(self, actor, reason);
    }
}

/// A [`Restart`] policy as a supervision: decided at once.
pub(crate) struct ByRestart<A>(pub(crate) Box<dyn Restart<A>>);

impl<A: 'static> Supervision<A> for ByRestart<A> {
    fn poll_exited(
        &mut self,
        _: ActorId,
        reason: &ExitReason,
        _: &mut Context<'_>,
    ) -> Poll<Next<A>> {
        Poll::Ready(match self.0.on_exit(reason) {
            Some(fresh) => Next::Restart(fresh),
            None => Next::End,
        })
    }
}

/// A [`Supervision`] with its type erased (the trait has an associated constant, so it cannot
/// be a trait object itself): what a keyed implementation keeps when the makers of any type
/// share one handle type. It forwards every call ([`finished`](Supervision::finished) only if
/// the supervision inside wants it), and tells [`on_restart`](BoxedSupervision::on_restart)'s
/// hook of each restart decided and [`on_drained`](BoxedSupervision::on_drained)'s of each
/// queue such a restart discarded.
pub struct BoxedSupervision<A> {
    inner: Box<dyn DynSupervision<A>>,
    restarted: Option<Box<dyn Fn() + Send>>,
    drained: Option<Box<dyn Fn(usize) + Send>>,
    /// Whether asks made while it decides are marked as the governed actor's own (a keyed
    /// set's: see `factory_scope`).
    governing: bool,
}

impl<A: 'static> BoxedSupervision<A> {
    /// `supervision`, boxed.
    pub fn new<S: Supervision<A>>(supervision: S) -> Self {
        BoxedSupervision {
            inner: Box::new(supervision),
            restarted: None,
            drained: None,
            governing: false,
        }
    }

    /// Calls `hook` each time the supervision decides a restart (a fresh actor, with or
    /// without the queue): for a count of restarts.
    pub fn on_restart(mut self, hook: impl Fn() + Send + 'static) -> Self {
        self.restarted = Some(Box::new(hook));
        self
    }

    /// Calls `hook` with how many messages each restart that drained the queue
    /// ([`Next::RestartDrained`]) discarded, before they are dropped: for a report of them.
    pub fn on_drained(mut self, hook: impl Fn(usize) + Send + 'static) -> Self {
        self.drained = Some(Box::new(hook));
        self
    }

    /// Marks the thread with the governed actor while the supervision decides, so that an ask
    /// a restart's factory makes of the actor's own key is refused as a deadlock.
    pub(crate) fn governing(mut self) -> Self {
        self.governing = true;
        self
    }
}

impl<A> fmt::Debug for BoxedSupervision<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxedSupervision").finish_non_exhaustive()
    }
}

impl<A: 'static> Supervision<A> for BoxedSupervision<A> {
    fn started(&mut self, actor: ActorId) {
        self.inner.started(actor);
    }

    fn poll_exited(
        &mut self,
        actor: ActorId,
        reason: &ExitReason,
        cx: &mut Context<'_>,
    ) -> Poll<Next<A>> {
        let next = {
            let _governing = self.governing.then(|| GoverningScope::enter(actor));
            self.inner.poll_exited(actor, reason, cx)
        };
        if let (Poll::Ready(Next::Restart(_) | Next::RestartDrained(_)), Some(restarted)) =
            (&next, &self.restarted)
        {
            restarted();
        }
        next
    }

    fn drained(&mut self, actor: ActorId, count: usize) {
        // The set's report first: the supervision inside is user code, and may panic (the
        // runner contains the panic, which would have skipped the report).
        if let Some(drained) = &self.drained {
            drained(count);
        }
        self.inner.drained(actor, count);
    }

    const WANTS_FINISHED: bool = true;

    fn finished(&mut self, actor: ActorId, reason: &ExitReason) {
        if self.inner.wants_finished() {
            self.inner.finished(actor, reason);
        }
    }
}
