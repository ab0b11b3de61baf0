//! What a supervisor is told: its flags and its children's specs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use playhouse_broker::InMemoryBroker;
use playhouse_core::mailbox::{Block, Bounded, Mailbox, Unbounded};
use playhouse_core::{Actor, ActorRef, BoxError, Executor, Handler, MessageBroker, Wiring};

use crate::child::{ChildHandle, Factory, TypedChild};
pub use crate::child_id::ChildId;
use crate::health::{ErasedHealthCheck, HealthCheck};
use crate::supervisor::Supervisor;

/// Which children a restart covers (OTP's strategies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Restart only the child that exited.
    #[default]
    OneForOne,
    /// Stop every other child in reverse start order, then start all in start order.
    OneForAll,
    /// Stop the children started after the one that exited (in reverse order), then start it
    /// and them in start order. Children before it are untouched.
    RestForOne,
}

/// When a child is restarted (OTP's restart types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestartType {
    /// Restarted whatever the exit reason, normal included.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (an error, a panic, a kill). After a normal exit
    /// (`Normal`, `Shutdown`) its spec stays, stopped.
    Transient,
    /// Never restarted; its spec is removed when it exits, for whatever reason.
    Temporary,
}

impl RestartType {
    /// Whether an exit with `reason` leads to a restart.
    pub fn restarts_after(self, reason: &playhouse_core::ExitReason) -> bool {
        match self {
            RestartType::Permanent => true,
            RestartType::Transient => !reason.is_normal(),
            RestartType::Temporary => false,
        }
    }
}

/// How a child is stopped (OTP's shutdown values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once ([`ActorRef::kill`](playhouse_core::ActorRef::kill)).
    Brutal,
    /// Asked to stop, given this long, then killed.
    Timeout(Duration),
    /// Asked to stop, and waited for however long it takes (the default for supervisors).
    Infinity,
}

/// The shutdown timeout of a worker unless its spec says otherwise (OTP's 5 seconds).
pub const DEFAULT_WORKER_SHUTDOWN: Shutdown = Shutdown::Timeout(Duration::from_secs(5));

/// Whether a child is a worker or a supervisor (reported by `which_children` and
/// `count_children`; it also picks the default shutdown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// Any actor.
    Worker,
    /// A supervisor.
    Supervisor,
}

/// When a supervisor shuts itself down because significant children exited by themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AutoShutdown {
    /// Never (significant children are then rejected).
    #[default]
    Never,
    /// When any significant child exits by itself without being restarted.
    AnySignificant,
    /// When the last running significant child exits by itself without being restarted.
    AllSignificant,
}

/// What a restarted child's next incarnation finds in its mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnRestart {
    /// What was queued for the failed incarnation is handled by the next (the default): no
    /// accepted message is lost to a crash but the one being handled.
    #[default]
    KeepQueue,
    /// What was queued is discarded: reply ports inside resolve with
    /// [`NoReply::Drained`](playhouse_core::NoReply::Drained), and the messages are counted in
    /// the child's `discarded_count`.
    DrainQueue,
}

/// An optional wait before each restart, beyond OTP (which restarts at once): exponential in
/// the number of restarts within the supervisor's intensity period, capped, with jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The wait before the first restart in a period.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How much of each wait is random, from 0.0 (none) to 1.0 (anywhere between 0 and the
    /// wait); values outside are clamped, and one that is not a number means none. Spreads
    /// restarts of many supervisors that failed together.
    pub jitter: f64,
}

impl Backoff {
    /// The wait before the `n`th restart within the period (n ≥ 1), `random` in [0, 1).
    pub(crate) fn delay(&self, n: u32, random: f64) -> Duration {
        let exp = n.saturating_sub(1).min(32);
        let base = self
            .initial
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        // A jitter that is not a number counts as none (`mul_f64` would panic on it); an
        // infinite one is clamped as any other out of range.
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let factor = (1.0 - jitter * random).clamp(0.0, 1.0);
        if factor >= 1.0 {
            return base;
        }
        // `mul_f64` panics where the product, rounded to a float, passes `Duration::MAX`
        // (a base near it and a factor near 1): such a wait stays the base.
        Duration::try_from_secs_f64(base.as_secs_f64() * factor)
            .map_or(base, |delay| delay.min(base))
    }
}

/// One child of a supervisor: an id, a factory that makes a fresh actor for each incarnation,
/// and how it is restarted and stopped. Built with [`ChildSpec::new`] (or
/// [`try_new`](ChildSpec::try_new), [`supervisor`](ChildSpec::supervisor)) and the setters;
/// the actor and mailbox types are part of the spec's type until it is added to a
/// [`SupervisorSpec`].
///
/// ```
/// use playhouse_core::mailbox::{Bounded, Reject};
/// use playhouse_supervisor::{ChildSpec, RestartType, Shutdown};
/// # use playhouse_core::{Actor, Context, Env, Handler};
/// # struct Cache;
/// # impl Actor for Cache { type Message = (); type Error = std::convert::Infallible; }
/// # impl<V: Env> Handler<V> for Cache {
/// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
///
/// let spec = ChildSpec::new("cache", || Cache)
///     .restart(RestartType::Transient)
///     .shutdown(Shutdown::Brutal)
///     .mailbox(Bounded::<Reject>::with_capacity(64).unwrap());
/// assert_eq!(&*spec.id(), "cache");
/// ```
pub struct ChildSpec<A, MB = Bounded<Block>> {
    pub(crate) id: ChildId,
    pub(crate) factory: Factory<A>,
    pub(crate) mailbox: MB,
    pub(crate) restart: RestartType,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) kind: ChildKind,
    pub(crate) significant: bool,
    pub(crate) on_restart: OnRestart,
    pub(crate) health: Option<Arc<ErasedHealthCheck>>,
}

impl<A: Send + 'static> ChildSpec<A> {
    /// A worker made by `factory` for each incarnation, with the default mailbox
    /// (`Bounded<Block>`, capacity 256), `Permanent`, shut down with a 5 s timeout.
    pub fn new<F>(id: impl Into<ChildId>, mut factory: F) -> Self
    where
        F: FnMut() -> A + Send + 'static,
    {
        Self::try_new(id, move || Ok::<A, std::convert::Infallible>(factory()))
    }

    /// As [`new`](ChildSpec::new), with a factory that may fail: its error fails the child's
    /// start ([`StartCause::Factory`](crate::StartCause::Factory)), and a failed restart is
    /// retried as OTP's are.
    pub fn try_new<F, Err>(id: impl Into<ChildId>, mut factory: F) -> Self
    where
        F: FnMut() -> Result<A, Err> + Send + 'static,
        Err: Into<BoxError>,
    {
        ChildSpec {
            id: id.into(),
            factory: Box::new(move |_| factory().map_err(Into::into)),
            mailbox: Bounded::<Block>::default(),
            restart: RestartType::Permanent,
            shutdown: None,
            kind: ChildKind::Worker,
            significant: false,
            on_restart: OnRestart::KeepQueue,
            health: None,
        }
    }
}

impl<E: Executor, B: MessageBroker> ChildSpec<Supervisor<E, B>, Unbounded> {
    /// A child supervisor, built from the spec `make` returns for each incarnation (a
    /// restarted supervisor starts its children afresh). Kind `Supervisor`, shutdown
    /// `Infinity`, `Permanent` unless set otherwise. Its lifecycle events reach whoever
    /// subscribed to an ancestor's.
    pub fn supervisor<F>(id: impl Into<ChildId>, mut make: F) -> Self
    where
        F: FnMut() -> SupervisorSpec<E, B> + Send + 'static,
    {
        let id = id.into();
        let name = Arc::<str>::from(id.as_str());
        ChildSpec {
            id,
            factory: Box::new(move |inherited| {
                let mut supervisor = Supervisor::new(make().named_if_unnamed(&name));
                supervisor.inherit(inherited);
                Ok(supervisor)
            }),
            mailbox: Unbounded,
            restart: RestartType::Permanent,
            shutdown: None,
            kind: ChildKind::Supervisor,
            significant: false,
            on_restart: OnRestart::KeepQueue,
            health: None,
        }
    }
}

impl<A, MB> ChildSpec<A, MB> {
    /// The child's id.
    pub fn id(&self) -> ChildId {
        self.id.clone()
    }

    /// When the child is restarted.
    pub fn restart(mut self, restart: RestartType) -> Self {
        self.restart = restart;
        self
    }

    /// How the child is stopped. Default: a 5 s timeout for workers, `Infinity` for
    /// supervisors.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Marks the child significant for the supervisor's [`AutoShutdown`]. A significant child
    /// must be `Transient` or `Temporary`, and the supervisor's auto-shutdown not `Never`
    /// (checked when the supervisor starts, or by `start_child`).
    pub fn significant(mut self, significant: bool) -> Self {
        self.significant = significant;
        self
    }

    /// What the next incarnation finds in the mailbox after a restart.
    pub fn on_restart(mut self, on_restart: OnRestart) -> Self {
        self.on_restart = on_restart;
        self
    }

    /// The child's mailbox (any of the five strategies), for all its incarnations.
    pub fn mailbox<MB2: Mailbox>(self, mailbox: MB2) -> ChildSpec<A, MB2> {
        ChildSpec {
            id: self.id,
            factory: self.factory,
            mailbox,
            restart: self.restart,
            shutdown: self.shutdown,
            kind: self.kind,
            significant: self.significant,
            on_restart: self.on_restart,
            health: self.health,
        }
    }

    /// The shutdown policy in effect.
    pub(crate) fn effective_shutdown(&self) -> Shutdown {
        self.shutdown.unwrap_or(match self.kind {
            ChildKind::Worker => DEFAULT_WORKER_SHUTDOWN,
            ChildKind::Supervisor => Shutdown::Infinity,
        })
    }
}

impl<A, MB: fmt::Debug> fmt::Debug for ChildSpec<A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("actor", &std::any::type_name::<A>())
            .field("mailbox", &self.mailbox)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .field("significant", &self.significant)
            .field("on_restart", &self.on_restart)
            .field("health", &self.health)
            .finish()
    }
}

impl<A: Actor, MB: Mailbox> ChildSpec<A, MB> {
    /// Probes the child on an interval while it runs: a probe that fails (or does not finish
    /// in time) as often in a row as the check's threshold counts as a failure of the child.
    /// Its supervisor then ends the child's running incarnation with
    /// `ExitReason::Failed(`[`HealthCheckFailed`](crate::HealthCheckFailed)`)`, and the spec
    /// handles that exit as any other abnormal one: a permanent or transient child is
    /// restarted (counted in the restart intensity, by the supervisor's strategy), a temporary
    /// one is removed. Each failed probe is a [`HealthCheckFailed`](crate::EventKind) event;
    /// the last outcome and the counts are in [`ChildInfo::health`](crate::ChildInfo).
    ///
    /// The probe is typed on the child's `ActorRef<A, MB>`: set the mailbox
    /// ([`mailbox`](ChildSpec::mailbox)) first; a check set for another mailbox is an invalid
    /// spec. See [`HealthCheck`] for an example.
    ///
    /// A health-checked worker of a `OneForOne` supervisor does not restart itself from its own
    /// task (the fast path of [`crate`]'s *Cost*): its restarts go through the supervisor,
    /// which must know of each one to stop the probes while the child is down and start them
    /// afresh with its next incarnation.
    pub fn health_check(mut self, check: HealthCheck<A, MB>) -> Self {
        self.health = Some(Arc::new(check.erase()));
        self
    }
}

/// What a supervisor knows of a child besides its factory.
#[derive(Clone, Debug)]
pub(crate) struct ChildFlags {
    pub(crate) id: ChildId,
    pub(crate) restart: RestartType,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
    pub(crate) significant: bool,
    pub(crate) on_restart: OnRestart,
    /// Whether the child has a health check (it then never restarts itself).
    pub(crate) health_checked: bool,
}

/// A child spec with its actor and mailbox types erased: what a supervisor holds. The message
/// path of the child is not affected (it is typed in the child's own `ActorRef`).
pub struct ErasedChildSpec<E, B> {
    pub(crate) child: ChildHandle<E, B>,
    /// Its health check, kept by the supervisor beside the child (a child without one pays
    /// nothing for the feature).
    pub(crate) health: Option<Arc<ErasedHealthCheck>>,
    /// Why its health check is invalid, found when the spec was erased.
    health_error: Option<String>,
}

impl<E, B> ErasedChildSpec<E, B> {
    pub(crate) fn flags(&self) -> ChildFlags {
        self.child.flags()
    }

    /// Checks the spec against the supervisor's flags: a typed error before anything starts.
    pub(crate) fn check(&self, auto: AutoShutdown) -> Result<(), String> {
        check_child(&self.flags(), auto)?;
        match &self.health_error {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }
}

impl<E, B> fmt::Debug for ErasedChildSpec<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErasedChildSpec")
            .field("flags", &self.flags())
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl<A, MB, E, B> From<ChildSpec<A, MB>> for ErasedChildSpec<E, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    fn from(spec: ChildSpec<A, MB>) -> Self {
        let flags = ChildFlags {
            id: spec.id.clone(),
            restart: spec.restart,
            shutdown: spec.effective_shutdown(),
            kind: spec.kind,
            significant: spec.significant,
            on_restart: spec.on_restart,
            health_checked: spec.health.is_some(),
        };
        let health_error = spec.health.as_ref().and_then(|check| {
            check
                .check(
                    &spec.id,
                    std::any::TypeId::of::<ActorRef<A, MB>>(),
                    &playhouse_broker::type_names::ref_type_name::<A, MB>(),
                )
                .err()
        });
        ErasedChildSpec {
            child: ChildHandle(Arc::new(TypedChild::<A, MB, E, B>::new(
                flags,
                spec.factory,
                spec.mailbox,
            ))),
            health: spec.health,
            health_error,
        }
    }
}

/// A supervisor's flags and its children, in start order. Start it with
/// [`start`](SupervisorSpec::start), or nest it with [`ChildSpec::supervisor`].
///
/// ```
/// use playhouse_supervisor::{ChildSpec, Strategy, SupervisorSpec};
/// use std::time::Duration;
/// # use playhouse_core::{Actor, Context, Env, Handler};
/// # struct Worker;
/// # impl Actor for Worker { type Message = (); type Error = std::convert::Infallible; }
/// # impl<V: Env> Handler<V> for Worker {
/// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # type E = playhouse_core::testing::ThreadExecutor;
///
/// let spec = SupervisorSpec::<E>::new(Strategy::OneForAll)
///     .intensity(3, Duration::from_secs(5))
///     .child(ChildSpec::new("a", || Worker))
///     .child(ChildSpec::new("b", || Worker));
/// assert_eq!(spec.child_ids(), ["a", "b"]);
/// ```
pub struct SupervisorSpec<E, B = InMemoryBroker> {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) strategy: Strategy,
    pub(crate) max_restarts: u32,
    pub(crate) period: Duration,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) children: Vec<ErasedChildSpec<E, B>>,
    pub(crate) bus: crate::events::EventBus,
}

impl<E: Executor, B: MessageBroker> SupervisorSpec<E, B> {
    /// Subscribes to the lifecycle events of the supervisor this spec starts (and of every
    /// supervisor nested in it), from its first child's start on.
    pub fn subscribe(&self) -> crate::Events {
        self.bus.subscribe()
    }

    /// A supervisor with `strategy`, OTP's default intensity (1 restart in 5 s), no
    /// auto-shutdown, no backoff, and no children yet.
    pub fn new(strategy: Strategy) -> Self {
        SupervisorSpec {
            name: None,
            strategy,
            max_restarts: 1,
            period: Duration::from_secs(5),
            auto_shutdown: AutoShutdown::Never,
            backoff: None,
            children: Vec::new(),
            bus: crate::events::EventBus::default(),
        }
    }

    /// A name for lifecycle events and errors (a nested supervisor is named after its child
    /// id unless named here).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn named_if_unnamed(mut self, name: &Arc<str>) -> Self {
        if self.name.is_none() {
            self.name = Some(name.clone());
        }
        self
    }

    /// At most `max_restarts` restarts within any `period` (a sliding window); one more and
    /// the supervisor stops its children and exits with `Shutdown` (escalation). `period` must
    /// be positive; `max_restarts = 0` ends the supervisor at the first restart.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// When significant children shut the supervisor down.
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// A wait before each restart (off by default, as in OTP). Under `OneForAll` and
    /// `RestForOne` the siblings a restart covers stop at once; only the group's start waits.
    /// Messages sent to a child meanwhile queue for its next incarnation (and are discarded
    /// then under [`OnRestart::DrainQueue`]).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Adds a child, started after those added before it.
    pub fn child(mut self, spec: impl Into<ErasedChildSpec<E, B>>) -> Self {
        self.children.push(spec.into());
        self
    }

    /// The children's ids, in start order.
    pub fn child_ids(&self) -> Vec<ChildId> {
        self.children.iter().map(|c| c.child.id().clone()).collect()
    }
}

impl<E, B> fmt::Debug for SupervisorSpec<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorSpec")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("max_restarts", &self.max_restarts)
            .field("period", &self.period)
            .field("auto_shutdown", &self.auto_shutdown)
            .field("backoff", &self.backoff)
            .field("children", &self.children)
            .finish()
    }
}

/// Checks a child's flags against the supervisor's: a typed error before anything starts.
pub(crate) fn check_child(flags: &ChildFlags, auto: AutoShutdown) -> Result<(), String> {
    if flags.id.is_empty() {
        // It would name nothing in events, metrics and errors, and could not be told apart.
        return Err("a child has an empty id".to_string());
    }
    if flags.significant {
        if flags.restart == RestartType::Permanent {
            return Err(format!(
                "child {:?} is significant and permanent (a significant child must be transient or temporary)",
                flags.id
            ));
        }
        if auto == AutoShutdown::Never {
            return Err(format!(
                "child {:?} is significant but the supervisor's auto_shutdown is Never",
                flags.id
            ));
        }
    }
    if let Shutdown::Timeout(d) = flags.shutdown {
        if d.is_zero() {
            return Err(format!(
                "child {:?} has a zero shutdown timeout (use Shutdown::Brutal)",
                flags.id
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    fn backoff(jitter: f64) -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            jitter,
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = backoff(0.0);
        let delays: Vec<u64> = (1..=6).map(|n| b.delay(n, 0.5).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(u32::MAX, 0.5), Duration::from_secs(10));
    }

    #[test]
    fn jitter_takes_off_at_most_its_share_and_bad_values_do_not_panic() {
        assert_eq!(backoff(0.5).delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(f64::NAN).delay(1, 0.9), Duration::from_secs(1));
        // Infinite is a number out of range: clamped, as 7.0 is.
        assert_eq!(
            backoff(f64::INFINITY).delay(1, 0.9),
            Duration::from_millis(100)
        );
        assert_eq!(
            backoff(f64::NEG_INFINITY).delay(1, 0.9),
            Duration::from_secs(1)
        );
        assert_eq!(backoff(-3.0).delay(1, 0.9), Duration::from_secs(1));
        assert_eq!(backoff(7.0).delay(1, 1.0), Duration::ZERO);
    }

    /// A wait near `Duration::MAX` is no panic (`mul_f64` would round past it), jittered or not.
    #[test]
    fn a_wait_near_the_longest_duration_does_not_panic() {
        let longest = Backoff {
            initial: Duration::MAX,
            max: Duration::MAX,
            jitter: 0.0,
        };
        assert_eq!(longest.delay(1, 0.5), Duration::MAX);
        assert_eq!(longest.delay(40, 0.5), Duration::MAX);
        let jittered = Backoff {
            jitter: 1e-18,
            ..longest
        };
        assert!(jittered.delay(1, 0.999_999) <= Duration::MAX);
        let half = Backoff {
            jitter: 0.5,
            ..longest
        };
        let delay = half.delay(1, 1.0);
        assert!(
            delay < Duration::MAX && delay > Duration::MAX / 3,
            "{delay:?}"
        );
    }
}
