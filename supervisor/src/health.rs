//! Health checks: a probe that a supervisor runs on a child every interval, a failed or
//! timed-out probe counting as a failure of the child.
//!
//! A [`HealthCheck`] is typed on the child (its probe is given the child's
//! `ActorRef<A, MB>`), and erased when the spec joins a supervisor ([`ErasedHealthCheck`]): the
//! supervisor runs it once per interval, a cold path, so a boxed probe and a boxed future per
//! run cost nothing that matters. The child's message path does not change: a probe is an
//! ordinary sender.
//!
//! Each running, health-checked child has one probe task on the supervisor's executor (not a
//! handler of the supervisor: a probe that hangs does not stop the supervisor from serving stops
//! and API calls). The task sleeps until the next probe is due, runs the probe against its
//! timeout, sends the outcome to the supervisor's mailbox, and sleeps again. The supervisor owns
//! the task's only cancel handle and drops it when the child stops running (an exit, a group
//! restart, a stop, a removal, the supervisor's own end): the task then ends at once, a probe
//! in flight with it, and an outcome that was on its way is recognised as stale and ignored.

use std::any::{Any, TypeId};
use std::error::Error;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use playhouse_core::mailbox::{Block, Bounded, Mailbox};
use playhouse_core::{Actor, ActorRef, BoxError, Executor};

use crate::child_id::ChildId;

/// One run of a probe, boxed.
type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A probe without its child's type: given the child's `ActorRef<A, MB>` as `&dyn Any`.
type AnyProbe = Box<dyn Fn(&dyn Any) -> ProbeFuture + Send + Sync>;

/// A probe that a supervisor runs on a child every `interval`: the child counts as failed when
/// the probe returns `Err`, panics, or has not finished within `timeout`, `failure_threshold`
/// times in a row (1 unless set). Give it to [`ChildSpec::health_check`](crate::ChildSpec::health_check).
///
/// The probe is given a clone of the child's `ActorRef<A, MB>` (by value, so that an
/// `async move` block can own it: the future it returns must be `'static`, as it runs on a task
/// of its own) and usually asks the child something: a ping that a wedged or overloaded actor
/// does not answer in time, or a question about its state (`Err` if the answer says it is
/// unwell). Its `Ok` value is ignored. The probe runs on the supervisor's executor, beside the
/// child: a probe that hangs is cut at its timeout and never blocks the supervisor.
///
/// The first probe is due one `interval` after the child has started; the next one `interval`
/// after that, or, when a probe overran its slot, one `interval` after it finished. Probes never
/// overlap, and none runs while the child is not running (restarting, stopped): a restarted
/// child's probes start afresh with its new incarnation.
///
/// ```
/// use playhouse_core::mailbox::{Block, Bounded};
/// use playhouse_core::{Actor, ActorRef, Context, Env, Handler, Reply, System};
/// use playhouse_supervisor::{ChildSpec, HealthCheck, ProbeOutcome, Strategy, SupervisorSpec};
/// use std::time::Duration;
///
/// struct Db { connected: bool }
/// enum DbMsg { Ping(Reply<bool>) }
/// impl Actor for Db { type Message = DbMsg; type Error = std::convert::Infallible; }
/// impl<V: Env> Handler<V> for Db {
///     async fn handle(&mut self, DbMsg::Ping(r): DbMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
///         let _ = r.send(self.connected);
///         Ok(())
///     }
/// }
///
/// // Every 50 ms, ask the child; no answer within 20 ms, or a `false`, fails it (and, as it is
/// // permanent, restarts it).
/// let check = HealthCheck::new(Duration::from_millis(50), Duration::from_millis(20), |db: ActorRef<Db>| async move {
///     let connected = db.ask(DbMsg::Ping).await.map_err(|e| e.to_string())?;
///     if connected { Ok(()) } else { Err("not connected".to_string()) }
/// });
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// playhouse_core::testing::block_on(async {
///     let sup = SupervisorSpec::new(Strategy::OneForOne)
///         .child(ChildSpec::new("db", || Db { connected: true }).health_check(check))
///         .start(&system)
///         .await
///         .unwrap();
///     // Wait for the first probe (the status is in `which_children`).
///     loop {
///         let db = sup.which_children().await.unwrap().remove(0);
///         let health = db.health.expect("db has a health check");
///         if health.probes > 0 {
///             assert!(matches!(health.last, ProbeOutcome::Passed { .. }));
///             assert_eq!(health.failures, 0);
///             break;
///         }
///         std::thread::sleep(Duration::from_millis(5));
///     }
///     sup.stop();
///     assert!(sup.wait().await.is_normal());
/// });
/// ```
///
/// A `HealthCheck` is cheap to clone (the probe is shared), so one check can serve many specs.
pub struct HealthCheck<A: Actor, MB: Mailbox = Bounded<Block>> {
    interval: Duration,
    timeout: Duration,
    failure_threshold: u32,
    probe: Arc<dyn Fn(ActorRef<A, MB>) -> ProbeFuture + Send + Sync>,
}

impl<A: Actor, MB: Mailbox> HealthCheck<A, MB> {
    /// Runs `probe` every `interval`, giving each run `timeout` to finish. Both must be
    /// positive: a zero one is an invalid spec ([`StartError::InvalidSpec`](crate::StartError),
    /// or [`SupervisorError::InvalidSpec`](crate::SupervisorError) from `start_child`), reported
    /// before any child starts.
    pub fn new<F, Fut, T, Er>(interval: Duration, timeout: Duration, probe: F) -> Self
    where
        F: Fn(ActorRef<A, MB>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Er>> + Send + 'static,
        Er: Into<BoxError>,
    {
        HealthCheck {
            interval,
            timeout,
            failure_threshold: 1,
            probe: Arc::new(move |actor| {
                let run = probe(actor);
                Box::pin(async move { run.await.map(drop).map_err(Into::into) })
            }),
        }
    }

    /// How many failed probes in a row count as a failure of the child (default 1). A probe
    /// that passes starts the count again, as does a new incarnation. Must be at least 1.
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures;
        self
    }

    /// The time between probes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a probe may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The failed probes in a row that count as a failure of the child.
    pub fn threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// The same check without the child's type, for the supervisor.
    pub(crate) fn erase(self) -> ErasedHealthCheck {
        let probe = self.probe;
        ErasedHealthCheck {
            interval: self.interval,
            timeout: self.timeout,
            failure_threshold: self.failure_threshold,
            target: TypeId::of::<ActorRef<A, MB>>(),
            target_name: playhouse_broker::type_names::ref_type_name::<A, MB>(),
            probe: Box::new(
                move |actor: &dyn Any| match actor.downcast_ref::<ActorRef<A, MB>>() {
                    Some(actor) => probe(actor.clone()),
                    // Checked when the spec is validated; never reached.
                    None => Box::pin(std::future::ready(Err(
                        "the probe's child has another type".into(),
                    ))),
                },
            ),
        }
    }
}

impl<A: Actor, MB: Mailbox> Clone for HealthCheck<A, MB> {
    fn clone(&self) -> Self {
        HealthCheck {
            interval: self.interval,
            timeout: self.timeout,
            failure_threshold: self.failure_threshold,
            probe: self.probe.clone(),
        }
    }
}

impl<A: Actor, MB: Mailbox> fmt::Debug for HealthCheck<A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("failure_threshold", &self.failure_threshold)
            .finish_non_exhaustive()
    }
}

/// A health check as a supervisor holds it: the child's reference is handed to the probe as
/// `&dyn Any` (the boxed `ActorRef<A, MB>` that the child slot's `actor_ref` gives).
pub(crate) struct ErasedHealthCheck {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) failure_threshold: u32,
    /// The `ActorRef<A, MB>` the probe was written for: a spec whose mailbox was changed after
    /// its health check was set no longer matches, and is rejected when validated.
    pub(crate) target: TypeId,
    pub(crate) target_name: String,
    probe: AnyProbe,
}

impl fmt::Debug for ErasedHealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("failure_threshold", &self.failure_threshold)
            .field("probes", &self.target_name)
            .finish_non_exhaustive()
    }
}

impl ErasedHealthCheck {
    /// Checks the values and that the probe fits the child (`child` is the child's
    /// `ActorRef<A, MB>` type): a typed error before anything starts.
    pub(crate) fn check(
        &self,
        id: &ChildId,
        child: TypeId,
        child_name: &str,
    ) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err(format!("child {id:?} has a zero health-check interval"));
        }
        if self.timeout.is_zero() {
            return Err(format!("child {id:?} has a zero health-check timeout"));
        }
        if self.failure_threshold == 0 {
            return Err(format!(
                "child {id:?} has a health-check failure threshold of 0 (at least 1)"
            ));
        }
        if self.target != child {
            return Err(format!(
                "child {id:?}'s health check probes {} but the child is {child_name} \
                 (set the mailbox before the health check)",
                self.target_name
            ));
        }
        Ok(())
    }
}

/// Why a probe failed.
#[derive(Clone)]
pub enum ProbeFailure {
    /// The probe returned this error.
    Error(Arc<dyn Error + Send + Sync + 'static>),
    /// The probe had not finished when its timeout (this long) passed.
    TimedOut(Duration),
    /// The probe panicked (with this message, when it was a string).
    Panicked(Arc<str>),
}

impl fmt::Debug for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Error(e) => f.debug_tuple("Error").field(&e.to_string()).finish(),
            ProbeFailure::TimedOut(d) => f.debug_tuple("TimedOut").field(d).finish(),
            ProbeFailure::Panicked(m) => f.debug_tuple("Panicked").field(m).finish(),
        }
    }
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Error(e) => write!(f, "{e}"),
            ProbeFailure::TimedOut(d) => write!(f, "timed out after {d:?}"),
            ProbeFailure::Panicked(m) => write!(f, "the probe panicked: {m}"),
        }
    }
}

/// The error a child's incarnation ends with when the supervisor acts on its failed health
/// check: `ExitReason::Failed(Arc<HealthCheckFailed>)`, an abnormal exit, which the child's spec
/// then handles as any other (restart type, strategy, intensity). Downcast it from the exit
/// reason's [`error`](playhouse_core::ExitReason::error).
#[derive(Clone, Debug)]
pub struct HealthCheckFailed {
    /// The child.
    pub child: ChildId,
    /// Why its last probe failed.
    pub cause: ProbeFailure,
    /// How many probes in a row failed (the check's failure threshold).
    pub consecutive_failures: u32,
}

/// A probe's error is the [`source`](Error::source), not part of the message (an exit
/// reason's `Display` prints the whole chain: `failed: health check of child "db" failed:
/// refused`); a timeout or a panic, which have no error of their own, are.
impl fmt::Display for HealthCheckFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "health check of child {:?} failed", self.child)?;
        if self.consecutive_failures > 1 {
            write!(f, " {} times in a row", self.consecutive_failures)?;
        }
        match &self.cause {
            ProbeFailure::Error(_) => Ok(()),
            cause => write!(f, ": {cause}"),
        }
    }
}

impl Error for HealthCheckFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.cause {
            ProbeFailure::Error(e) => Some(&**e as &(dyn Error + 'static)),
            _ => None,
        }
    }
}

/// The last probe of a child.
#[derive(Clone, Debug, Default)]
pub enum ProbeOutcome {
    /// None has finished yet.
    #[default]
    NotProbed,
    /// It passed.
    Passed {
        /// When it finished, on the supervisor's executor's clock.
        at: Instant,
    },
    /// It failed.
    Failed {
        /// When it finished (or timed out), on the supervisor's executor's clock.
        at: Instant,
        /// Why.
        cause: ProbeFailure,
    },
}

/// The health of a child that has a health check, as
/// [`which_children`](crate::SupervisorRef::which_children) reports it in
/// [`ChildInfo::health`](crate::ChildInfo::health). Counts cover the child's whole life under
/// its supervisor, across restarts.
#[derive(Clone, Debug, Default)]
pub struct HealthStatus {
    /// The last probe.
    pub last: ProbeOutcome,
    /// Failed probes in a row in the current incarnation (0 after a pass or a restart).
    pub consecutive_failures: u32,
    /// Probes finished.
    pub probes: u64,
    /// Of which failed.
    pub failures: u64,
}

impl HealthStatus {
    /// Whether the last probe passed (`None` before the first).
    pub fn healthy(&self) -> Option<bool> {
        match self.last {
            ProbeOutcome::NotProbed => None,
            ProbeOutcome::Passed { .. } => Some(true),
            ProbeOutcome::Failed { .. } => Some(false),
        }
    }

    /// Records a probe's outcome.
    pub(crate) fn record(&mut self, at: Instant, outcome: Result<(), ProbeFailure>) {
        self.probes += 1;
        match outcome {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.last = ProbeOutcome::Passed { at };
            }
            Err(cause) => {
                self.failures += 1;
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last = ProbeOutcome::Failed { at, cause };
            }
        }
    }
}

/// What a probe task tells its supervisor: a probe finished `at`.
pub(crate) struct ProbeReport {
    pub(crate) run: u64,
    pub(crate) at: Instant,
    pub(crate) outcome: Result<(), ProbeFailure>,
}

/// The supervisor's hold on a probe task: dropping it ends the task (and a probe in flight).
#[derive(Debug)]
pub(crate) struct ProbeTask {
    /// Which start of the probes this is: a report of an earlier one is stale.
    pub(crate) run: u64,
    _cancel: async_channel::Sender<()>,
}

/// Spawns `child`'s probe task on `executor`: probes every `check.interval` from `start` until
/// the returned handle is dropped, each outcome handed to `report`. `target` is the child's
/// `ActorRef<A, MB>`, boxed.
pub(crate) fn spawn_probes<E: Executor>(
    executor: &E,
    check: Arc<ErasedHealthCheck>,
    target: Box<dyn Any + Send>,
    start: Instant,
    run: u64,
    report: impl Fn(ProbeReport) + Send + 'static,
) -> ProbeTask {
    let (cancel, cancelled) = async_channel::bounded::<()>(1);
    let exec = executor.clone();
    executor.spawn(async move {
        let mut due = start.checked_add(check.interval);
        while let Some(at) = due {
            let Some(sleep) = sleep_until(&exec, at) else {
                return;
            };
            if unless_cancelled(sleep, &cancelled).await.is_none() || cancelled.is_closed() {
                return;
            }
            let started = exec.now();
            let timeout = started
                .checked_add(check.timeout)
                .and_then(|deadline| sleep_until(&exec, deadline));
            let probe = probe_once(start_probe(&check, &*target), check.timeout, timeout);
            let Some(outcome) = unless_cancelled(probe, &cancelled).await else {
                return;
            };
            let done = exec.now();
            report(ProbeReport {
                run,
                at: done,
                outcome,
            });
            // On schedule, unless the probe overran its slot: then one interval after it.
            due = at
                .checked_add(check.interval)
                .filter(|&next| next > done)
                .or_else(|| done.checked_add(check.interval));
        }
    });
    ProbeTask {
        run,
        _cancel: cancel,
    }
}

/// The executor's sleep until `deadline`; `None` if the executor cannot time (a Tokio runtime
/// without its time driver panics: the panic hook reports it, and no probe runs).
fn sleep_until<E: Executor>(exec: &E, deadline: Instant) -> Option<E::Sleep> {
    catch_unwind(AssertUnwindSafe(|| exec.sleep_until(deadline))).ok()
}

/// `fut`'s output, or `None` once `cancelled` closes (checked first).
async fn unless_cancelled<F: Future>(
    fut: F,
    cancelled: &async_channel::Receiver<()>,
) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut closed = pin!(cancelled.recv());
    poll_fn(|cx| {
        if closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Calls the probe, a panic in it being a failure.
fn start_probe(check: &ErasedHealthCheck, target: &dyn Any) -> Result<ProbeFuture, ProbeFailure> {
    catch_unwind(AssertUnwindSafe(|| (check.probe)(target)))
        .map_err(|payload| ProbeFailure::Panicked(panic_message(&*payload)))
}

/// Runs a probe to its end or to `timeout` (none: no limit; `limit` is how long it is), a panic
/// in it being a failure.
async fn probe_once<S: Future<Output = ()>>(
    probe: Result<ProbeFuture, ProbeFailure>,
    limit: Duration,
    timeout: Option<S>,
) -> Result<(), ProbeFailure> {
    let mut probe = probe?;
    let mut timeout = pin!(timeout);
    poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| probe.as_mut().poll(cx))) {
            Ok(Poll::Ready(result)) => {
                return Poll::Ready(result.map_err(|e| ProbeFailure::Error(Arc::from(e))));
            }
            Ok(Poll::Pending) => {}
            Err(payload) => {
                return Poll::Ready(Err(ProbeFailure::Panicked(panic_message(&*payload))));
            }
        }
        if let Some(timeout) = timeout.as_mut().as_pin_mut() {
            if timeout.poll(cx).is_ready() {
                return Poll::Ready(Err(ProbeFailure::TimedOut(limit)));
            }
        }
        Poll::Pending
    })
    .await
}

fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("a non-string payload")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_as_a_sentence() {
        let failed = HealthCheckFailed {
            child: ChildId::from("db"),
            cause: ProbeFailure::TimedOut(Duration::from_secs(2)),
            consecutive_failures: 3,
        };
        assert_eq!(
            failed.to_string(),
            "health check of child \"db\" failed 3 times in a row: timed out after 2s"
        );
        let io = std::io::Error::other("refused");
        let failed = HealthCheckFailed {
            child: ChildId::from("db"),
            cause: ProbeFailure::Error(Arc::new(io)),
            consecutive_failures: 1,
        };
        assert_eq!(failed.to_string(), "health check of child \"db\" failed");
        assert!(
            failed
                .source()
                .unwrap()
                .downcast_ref::<std::io::Error>()
                .is_some()
        );
        let reason = playhouse_core::ExitReason::failed(failed);
        assert_eq!(
            reason.to_string(),
            "failed: health check of child \"db\" failed: refused"
        );
    }

    #[test]
    fn status_counts_and_resets_the_run_of_failures() {
        let now = Instant::now();
        let mut status = HealthStatus::default();
        assert_eq!(status.healthy(), None);
        status.record(now, Err(ProbeFailure::Panicked("x".into())));
        status.record(now, Err(ProbeFailure::TimedOut(Duration::from_secs(1))));
        assert_eq!(
            (status.probes, status.failures, status.consecutive_failures),
            (2, 2, 2)
        );
        assert_eq!(status.healthy(), Some(false));
        status.record(now, Ok(()));
        assert_eq!(
            (status.probes, status.failures, status.consecutive_failures),
            (3, 2, 0)
        );
        assert_eq!(status.healthy(), Some(true));
    }
}
