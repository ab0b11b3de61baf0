//! How the actors of a keyed set are made and governed: [`KeyedSpec`].

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use playhouse_core::mailbox::{Block, Bounded, Mailbox};
use playhouse_core::{Actor, BoxError, Executor, Handler, MessageBroker, Restart, System, Wiring};

use super::handle::Keyed;
use super::launch::BoxFuture;
use super::supervise::{BoxedSupervision, ByRestart, Reactivation, SupervisionMaker};

/// What a key must be: hashed and compared to find its activation, cloned into the activation
/// task, printed (`Debug`) into errors, and shared between threads. Implemented for every type
/// that is all of these (integers, `String`, `Uuid`, tuples of them, …).
///
/// These are your code, and a panic in one is handled so: a panic in `Hash`, `Eq` or `Clone`
/// while a send routes comes out of that send (the table is left as it was, and the key's next
/// send works); a `Debug` that panics where the set names the key (an error, a dead letter)
/// gives a placeholder text instead.
pub trait Key: Hash + Eq + Clone + fmt::Debug + Send + Sync + 'static {}

impl<T: Hash + Eq + Clone + fmt::Debug + Send + Sync + 'static> Key for T {}

/// A key as errors and dead letters name it: its `Debug` text. That is user code, and some of
/// it runs on an activation's task or an exit watcher, where a panic would cut short the work
/// around it (retiring the key's entry): a `Debug` that panics gives a placeholder instead.
pub(crate) fn key_text<K: fmt::Debug>(key: &K) -> String {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    match catch_unwind(AssertUnwindSafe(|| format!("{key:?}"))) {
        Ok(text) => text,
        Err(payload) => {
            drop_contained(payload);
            format!("<a {} whose Debug panicked>", std::any::type_name::<K>())
        }
    }
}

/// Drops `value`, whose drop is user code (a message, a panic's payload), containing a panic
/// in it: the panic hook has reported it, and the work around the drop goes on. A payload of
/// that panic that panics in turn as it drops is leaked.
pub(crate) fn drop_contained<T>(value: T) {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value)))
        && let Err(inner) = catch_unwind(AssertUnwindSafe(move || drop(payload)))
    {
        std::mem::forget(inner);
    }
}

/// The factory, type-erased: called once per activation (the cold path).
pub(crate) type Factory<K, A> = Arc<dyn Fn(&K) -> BoxFuture<Result<A, BoxError>> + Send + Sync>;

/// Makes each activation's supervision: the spec's restart policy or supervision maker,
/// type-erased (called once per activation, the cold path).
pub(crate) type SupervisionFactory<K, A> =
    Arc<dyn Fn(Reactivation<K, A>) -> BoxedSupervision<A> + Send + Sync>;

/// How the actors of a keyed set are made and governed: the factory that makes a key's actor
/// when its first message arrives, their mailbox, how long an idle key stays in memory, and what
/// happens when one crashes. [`start`](KeyedSpec::start) it on a [`System`] to get the
/// [`Keyed`] handle that routes messages by key.
///
/// ```
/// use playhouse_broker::keyed::KeyedSpec;
/// use playhouse_core::mailbox::Unbounded;
/// use playhouse_core::{restart_on_failure, Actor, Context, Env, Handler, System};
/// use std::convert::Infallible;
/// use std::time::Duration;
///
/// struct Counter { key: String, n: u64 }
/// impl Actor for Counter { type Message = u64; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, n: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         self.n += n;
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let counters = KeyedSpec::new(|key: &String| {
///     let key = key.clone(); // the future owns what it uses
///     async move { Ok::<_, std::io::Error>(Counter { key, n: 0 }) }
/// })
/// .mailbox(Unbounded)
/// .passivate_after(Duration::from_secs(300))
/// .restart(|key: &String| {
///     let key = key.clone();
///     restart_on_failure(move || Counter { key: key.clone(), n: 0 })
/// })
/// .start(&system);
/// # drop(counters);
/// ```
pub struct KeyedSpec<K, A, MB = Bounded<Block>> {
    pub(crate) factory: Factory<K, A>,
    pub(crate) mailbox: MB,
    pub(crate) idle: Option<Duration>,
    pub(crate) supervision: Option<SupervisionFactory<K, A>>,
    pub(crate) activation_timeout: Option<Duration>,
}

impl<K: Key, A: Actor> KeyedSpec<K, A> {
    /// A spec whose actors `factory` makes: it is given the key when the key's first message
    /// arrives (and again after each passivation) and returns a future of the actor, or of why
    /// it could not be made (then [`KeyedError::ActivationFailed`](super::KeyedError) reaches
    /// the senders, with their messages). The future is `'static`: copy or clone from the key
    /// what it needs (`let id = *key; async move { load(id).await }`).
    ///
    /// The factory and its future run in the task of the sender whose message activates the
    /// key, as far as they go without waiting (usually to the end); a future that must wait
    /// finishes on a task of its own. Like a handler, a factory must not block its thread.
    ///
    /// The defaults: the default mailbox (`Bounded<Block>`, capacity 256), no passivation, no
    /// restart.
    pub fn new<F, Fut, E>(factory: F) -> Self
    where
        F: Fn(&K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let factory: Factory<K, A> = Arc::new(move |key: &K| {
            let made = factory(key);
            Box::pin(async move { made.await.map_err(Into::into) })
        });
        KeyedSpec {
            factory,
            mailbox: Bounded::default(),
            idle: None,
            supervision: None,
            activation_timeout: None,
        }
    }

    /// A spec whose actors a synchronous `factory` makes (it runs in the task of the sender
    /// whose message activates the key, or of the activation, if that had to wait for the
    /// previous one's end).
    pub fn from_fn<F, E>(factory: F) -> Self
    where
        F: Fn(&K) -> Result<A, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        let factory: Factory<K, A> = Arc::new(move |key: &K| {
            let made = factory(key).map_err(Into::into);
            Box::pin(std::future::ready(made))
        });
        KeyedSpec {
            factory,
            mailbox: Bounded::default(),
            idle: None,
            supervision: None,
            activation_timeout: None,
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> KeyedSpec<K, A, MB> {
    /// Gives every activation `mailbox` (any of the core's strategies: `Bounded<Block>`,
    /// `Bounded<DropNewest>`, `Bounded<DropOldest>`, `Bounded<Reject>`, `Unbounded`).
    pub fn mailbox<MB2: Mailbox>(self, mailbox: MB2) -> KeyedSpec<K, A, MB2> {
        KeyedSpec {
            factory: self.factory,
            mailbox,
            idle: self.idle,
            supervision: self.supervision,
            activation_timeout: self.activation_timeout,
        }
    }

    /// Passivates a key once no message has been routed to it for `idle` (measured on the
    /// executor's clock). The default is never.
    ///
    /// A background actor sweeps the keys every quarter of `idle` (at least every millisecond),
    /// so a key is passivated between `idle` and about `1.5 × idle` after its last message, and
    /// only once nothing is queued for it: a key with messages waiting behind a slow handler,
    /// or behind a restart (waiting for a backoff or a factory, which a stop would end with
    /// its queue discarded), is not idle, and its idle time starts again once its queue has
    /// drained. With nothing queued, the message in hand does not count: a key whose one
    /// message takes longer than `idle`, or whose restart waits with nothing queued, is
    /// passivated (the handler finishes first; a waiting restart is dropped, and the next
    /// message activates the key from its factory).
    /// Passivation is a graceful stop: the activation handles what is queued, its `stopped`
    /// hook runs (with `ExitReason::Shutdown(Some("passivated"))`), and the key's next message
    /// activates it again.
    pub fn passivate_after(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Restarts a crashed activation behind the same reference and mailbox, as
    /// [`Spawner::spawn_restartable`](playhouse_core::Spawner::spawn_restartable) does:
    /// `policy(key)` makes each activation's own [`Restart`] policy (so a restart limit counts
    /// per activation), which decides after each crash whether a fresh actor takes over. Queued
    /// messages survive the restart; the key stays active and its factory is not called. A
    /// passivation is a stop, which no policy restarts. It replaces a
    /// [`supervise`](KeyedSpec::supervise) given before.
    pub fn restart<R, F>(mut self, policy: F) -> Self
    where
        F: Fn(&K) -> R + Send + Sync + 'static,
        R: Restart<A>,
    {
        self.supervision = Some(Arc::new(move |activation: Reactivation<K, A>| {
            let policy: Box<dyn Restart<A>> = Box::new(policy(activation.key()));
            BoxedSupervision::new(ByRestart(policy))
        }));
        self
    }

    /// Governs each activation with a [`Supervision`](playhouse_core::Supervision) that
    /// `maker` makes for it, given the activation's [`Reactivation`]: the key, the executor's
    /// clock and timer, and the set's factory to make the fresh actor of a restart with (so
    /// that a restarted key reloads its state as a new activation would). After each
    /// incarnation that ended on its own (an error, a panic, the actor stopping itself; never
    /// a passivation), the supervision decides: a fresh actor behind the same reference and
    /// mailbox, with or without what is queued, or the end of the activation (its queue is
    /// discarded, its entry goes, and the key's next message activates it again). It may take
    /// its time: the key stays active and its mailbox open meanwhile. Restarts are counted in
    /// [`KeyedStats::restarts`](super::KeyedStats::restarts). It replaces a
    /// [`restart`](KeyedSpec::restart) policy given before.
    ///
    /// `playhouse-supervisor`'s `KeyedSupervision` is the OTP maker: restart types,
    /// restart intensity per activation, backoff, and a kept or drained queue.
    ///
    /// ```
    /// use playhouse_broker::keyed::{KeyedSpec, Reactivation};
    /// use playhouse_core::{ActorId, ExitReason, Next, Supervision};
    /// # use playhouse_core::{Actor, Context, Env, Handler};
    /// # struct Counter(u64);
    /// # impl Actor for Counter { type Message = u64; type Error = std::convert::Infallible; }
    /// # impl<V: Env> Handler<V> for Counter {
    /// #     async fn handle(&mut self, n: u64, _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use std::task::{Context as TaskContext, Poll};
    ///
    /// /// Restarts a crashed counter once, with a fresh one from the set's factory.
    /// struct Once {
    ///     activation: Reactivation<u32, Counter>,
    ///     used: bool,
    ///     making: Option<Pin<Box<dyn Future<Output = Result<Counter, playhouse_broker::keyed::ActivationCause>> + Send>>>,
    /// }
    /// impl Supervision<Counter> for Once {
    ///     fn poll_exited(&mut self, _: ActorId, reason: &ExitReason, cx: &mut TaskContext<'_>) -> Poll<Next<Counter>> {
    ///         if self.making.is_none() {
    ///             if reason.is_normal() || self.used {
    ///                 return Poll::Ready(Next::End);
    ///             }
    ///             self.used = true;
    ///             self.making = Some(Box::pin(self.activation.make()));
    ///         }
    ///         let made = std::task::ready!(self.making.as_mut().unwrap().as_mut().poll(cx));
    ///         self.making = None;
    ///         Poll::Ready(made.map_or(Next::End, Next::Restart))
    ///     }
    /// }
    ///
    /// let spec = KeyedSpec::from_fn(|_: &u32| Ok::<_, std::convert::Infallible>(Counter(0)))
    ///     .supervise(|activation| Once { activation, used: false, making: None });
    /// # drop(spec);
    /// ```
    pub fn supervise<S: SupervisionMaker<K, A>>(mut self, maker: S) -> Self {
        self.supervision = Some(Arc::new(move |activation: Reactivation<K, A>| {
            BoxedSupervision::new(maker.make(activation))
        }));
        self
    }

    /// Gives each activation's factory at most `timeout` (on the executor's clock, from when
    /// it starts: after the previous activation's end). A factory that has not finished by then
    /// is dropped, and the activation fails as a factory error would: every message waiting
    /// for it comes back to its sender in [`KeyedError::ActivationFailed`](super::KeyedError),
    /// whose cause is an [`ActivationTimedOut`](super::ActivationTimedOut) (or an
    /// [`ExecutorShutDown`](super::ExecutorShutDown) when the timer ended because the
    /// executor's runtime shut down), and the key's next message tries again. The default is
    /// no limit: a factory that hangs (a store that does not answer) holds every sender of its
    /// key that does not bound its own wait ([`Keyed::tell_timeout`](super::Keyed::tell_timeout),
    /// [`ask_timeout`](super::Keyed::ask_timeout)), and queues their messages.
    pub fn activation_timeout(mut self, timeout: Duration) -> Self {
        self.activation_timeout = Some(timeout);
        self
    }

    /// The idle time after which keys are passivated, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle
    }

    /// Starts the set on `system`: its actors run on the system's executor and talk to its
    /// broker. Same as [`Keyed::start`].
    pub fn start<E, B>(self, system: &System<E, B>) -> Keyed<K, A, MB>
    where
        E: Executor,
        B: MessageBroker,
        A: Handler<Wiring<MB, E, B>>,
    {
        Keyed::start(system, self)
    }
}

impl<K, A, MB: fmt::Debug> fmt::Debug for KeyedSpec<K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedSpec")
            .field("actor", &std::any::type_name::<A>())
            .field("mailbox", &self.mailbox)
            .field("passivate_after", &self.idle)
            .field("supervision", &self.supervision.is_some())
            .field("activation_timeout", &self.activation_timeout)
            .finish_non_exhaustive()
    }
}
