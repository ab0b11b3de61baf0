//! The supervisor actor: OTP's `supervisor` behaviour over playhouse actors.
//!
//! It is an ordinary actor (unbounded mailbox, so that no child's report is ever refused) whose
//! messages are its children's doorbells, its own retries and the manual operations. What it
//! does when a child exits follows `shared/SUPERVISION.md`, which follows OTP: the restart type
//! decides whether anything happens, the restart intensity whether it may, the strategy which
//! children it covers. Everything is done one child at a time, in start order for starts and in
//! reverse for stops, inside the handler that decided it: like OTP's supervisor, it serves no
//! other request meanwhile, except between the attempts of a failed restart, which are queued
//! through its own mailbox.

use std::any::Any;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use playhouse_core::mailbox::Unbounded;
use playhouse_core::observer::ObservedEvent;
use playhouse_core::{
    Actor, ActorId, Context, Executor, ExitReason, Handler, IncarnationEnd, MessageBroker, Reply,
    Wiring,
};

use crate::child::{Alive, ChildEvent, ChildHandle, ChildSlot, FastFailure, SupShared};
use crate::error::{StartCause, StartError, SupervisorError};
use crate::events::{EventBus, EventKind, Events, SupervisorEvent};
use crate::health::{
    ErasedHealthCheck, HealthCheckFailed, HealthStatus, ProbeReport, ProbeTask, spawn_probes,
};
use crate::intensity::Intensity;
use crate::jitter::Jitter;
use crate::spec::{
    AutoShutdown, Backoff, ChildId, ChildKind, ErasedChildSpec, RestartType, Shutdown, Strategy,
    SupervisorSpec,
};

type Ctx<E, B> = Context<Supervisor<E, B>, Wiring<Unbounded, E, B>>;

/// What a nested supervisor takes from its parent: the event subscribers and its place in the
/// tree.
#[derive(Clone, Default)]
pub(crate) struct Inherited {
    pub(crate) bus: EventBus,
    pub(crate) path: Option<Arc<str>>,
}

impl fmt::Debug for Inherited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inherited")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Where a child is, as [`which_children`](crate::SupervisorRef::which_children) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildState {
    /// Its actor runs.
    Running,
    /// A restart failed (or waits for its backoff); it is retried through the supervisor's
    /// mailbox.
    Restarting,
    /// Stopped and kept: a transient child that exited normally, or one stopped by hand.
    Stopped,
}

/// One child, as [`which_children`](crate::SupervisorRef::which_children) lists it.
#[derive(Clone, Debug)]
pub struct ChildInfo {
    /// Its id.
    pub id: ChildId,
    /// Running, restarting or stopped.
    pub state: ChildState,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its actor, while it has one.
    pub actor: Option<ActorId>,
    /// Its health, if its spec has a [`HealthCheck`](crate::HealthCheck).
    pub health: Option<HealthStatus>,
}

/// A supervisor's children, counted as OTP's `count_children` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildCounts {
    /// Child specs, running or not.
    pub specs: usize,
    /// Children whose actor runs.
    pub active: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are workers.
    pub workers: usize,
}

/// A child as its supervisor holds it.
type Child<E, B> = ChildHandle<E, B>;

/// A health-checked child's check, status and probe task, kept by its supervisor beside its
/// list of children (so that a child without a check pays nothing for the feature).
struct Health<E, B> {
    child: Arc<dyn ChildSlot<E, B>>,
    check: Arc<ErasedHealthCheck>,
    status: HealthStatus,
    /// While the child runs: its probe task, which ends when this is dropped.
    task: Option<ProbeTask>,
}

impl<E, B> ChildHandle<E, B> {
    fn state(&self) -> ChildState {
        if self.restarting() {
            ChildState::Restarting
        } else if self.alive() == Alive::Running {
            ChildState::Running
        } else {
            ChildState::Stopped
        }
    }
}

/// A child's slot, shared: how the supervisor names a child across removals of others.
type ChildRef<E, B> = Arc<dyn ChildSlot<E, B>>;

/// A group restart waiting for a backoff: the failed child, and the siblings it will start.
type WaitingGroup<E, B> = (ChildRef<E, B>, Vec<ChildRef<E, B>>);

/// The supervisor actor. Start one with [`SupervisorSpec::start`], nest one with
/// [`ChildSpec::supervisor`](crate::ChildSpec::supervisor), and drive it through
/// [`SupervisorRef`](crate::SupervisorRef).
pub struct Supervisor<E, B> {
    name: Arc<str>,
    strategy: Strategy,
    max_restarts: u32,
    period: std::time::Duration,
    auto_shutdown: AutoShutdown,
    backoff: Option<Backoff>,
    /// The specs to start, until `started` moves them into `children`.
    initial: Vec<ErasedChildSpec<E, B>>,
    /// In start order.
    children: Vec<Child<E, B>>,
    /// Group restarts waiting for a backoff: the failed child, and the siblings the restart
    /// will start (those it stopped at once, and those already waiting to restart). Dropping
    /// the restart (`terminate_child` of the failed child) starts those siblings again.
    waiting_groups: Vec<WaitingGroup<E, B>>,
    /// The children that have a health check (usually none), in no order.
    health: Vec<Health<E, B>>,
    /// The number of the last start of a probe task (to tell a stale probe report).
    probe_runs: u64,
    /// What the children share: the doorbell, the restarts within the last period (one list
    /// for all children, counted in by the children that restart themselves), what nested
    /// supervisors inherit. Made on first use (it reads the executor's clock).
    shared: Option<Arc<SupShared<E, B>>>,
    inherited: Inherited,
    start_report: Option<Reply<Result<(), StartError>>>,
    /// Set once the supervisor shuts itself down (escalation, auto-shutdown): it handles no
    /// more child exits.
    done: bool,
    rng: Jitter,
}

impl<E, B> fmt::Debug for Supervisor<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// A supervisor's message: a child's report, a queued retry, or a manual operation. Opaque:
/// send them through [`SupervisorRef`](crate::SupervisorRef).
pub struct SupervisorMsg<E, B>(pub(crate) Msg<E, B>);

impl<E, B> fmt::Debug for SupervisorMsg<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &self.0 {
            Msg::Child { .. } => "SupervisorMsg::Child",
            Msg::Retry { .. } => "SupervisorMsg::Retry",
            Msg::Health(_) => "SupervisorMsg::Health",
            Msg::Api(_) => "SupervisorMsg::Api",
        })
    }
}

pub(crate) enum Msg<E, B> {
    /// A child's actor `actor` has something to report.
    Child {
        child: Arc<dyn ChildSlot<E, B>>,
        actor: ActorId,
    },
    /// A restart to try (again): `counted` if the intensity was already charged for it;
    /// `generation` is the child's pending restart it was queued for (a later one ignores it).
    Retry {
        child: Arc<dyn ChildSlot<E, B>>,
        counted: bool,
        generation: u16,
        /// For a group restart put off (by a backoff, or a failed start), the group as it was
        /// then: children added since are not part of it.
        group: Option<Vec<ChildRef<E, B>>>,
    },
    /// A probe of a health-checked child finished.
    Health(ProbeReport),
    Api(Api<E, B>),
}

pub(crate) type Answer<T> = Reply<Result<T, SupervisorError>>;

pub(crate) enum Api<E, B> {
    StartChild(ErasedChildSpec<E, B>, Answer<Option<ActorId>>),
    TerminateChild(ChildId, Answer<()>),
    RestartChild(ChildId, Answer<Option<ActorId>>),
    DeleteChild(ChildId, Answer<()>),
    WhichChildren(Reply<Vec<ChildInfo>>),
    CountChildren(Reply<ChildCounts>),
    ChildRef(ChildId, Answer<TypedRef>),
    Subscribe(Reply<Events>),
}

/// A child's reference, boxed, and what names its type (for a lookup of another type).
pub(crate) type TypedRef = (Box<dyn Any + Send>, fn() -> String);

impl<E: Executor, B: MessageBroker> Supervisor<E, B> {
    pub(crate) fn new(spec: SupervisorSpec<E, B>) -> Self {
        let name = spec.name.clone().unwrap_or_else(|| Arc::from("supervisor"));
        Supervisor {
            name,
            strategy: spec.strategy,
            max_restarts: spec.max_restarts,
            period: spec.period,
            auto_shutdown: spec.auto_shutdown,
            backoff: spec.backoff,
            initial: spec.children,
            children: Vec::new(),
            waiting_groups: Vec::new(),
            health: Vec::new(),
            probe_runs: 0,
            shared: None,
            inherited: Inherited {
                bus: spec.bus,
                path: None,
            },
            start_report: None,
            done: false,
            rng: Jitter::new(),
        }
    }

    pub(crate) fn with_start_report(mut self, report: Reply<Result<(), StartError>>) -> Self {
        self.start_report = Some(report);
        self
    }

    /// Links this (nested) supervisor's event bus to its parent's, and takes its place in the
    /// tree.
    pub(crate) fn inherit(&mut self, parent: &Inherited) {
        self.inherited.bus = self.inherited.bus.nested_in(&parent.bus);
        if let Some(path) = &parent.path {
            self.name = Arc::from(format!("{path}/{}", self.name));
        }
    }

    fn emit(&self, child: Option<usize>, kind: impl FnOnce() -> EventKind) {
        self.inherited.bus.emit(|| SupervisorEvent {
            supervisor: self.name.clone(),
            child: child.map(|i| self.children[i].id().clone()),
            actor: child.and_then(|i| self.children[i].actor_id()),
            kind: kind(),
        });
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|c| c.id() == id)
    }

    fn index_of_child(&self, child: &Arc<dyn ChildSlot<E, B>>) -> Option<usize> {
        self.children.iter().position(|c| c.is(child))
    }

    fn add_child(&mut self, spec: ErasedChildSpec<E, B>) -> usize {
        if let Some(check) = spec.health {
            self.health.push(Health {
                child: spec.child.0.clone(),
                check,
                status: HealthStatus::default(),
                task: None,
            });
        }
        self.children.push(spec.child);
        self.children.len() - 1
    }

    /// Removes child `idx` (its actor, if any, is killed) and its health check.
    fn remove_child(&mut self, idx: usize) {
        let child = Vec::remove(&mut self.children, idx);
        self.health.retain(|h| !child.is(&h.child));
    }

    /// Child `idx`'s health check, if it has one.
    fn health_of(&self, idx: usize) -> Option<usize> {
        if self.health.is_empty() {
            return None;
        }
        self.health
            .iter()
            .position(|h| self.children[idx].is(&h.child))
    }

    /// Starts probing child `idx` (it has just started), if it has a health check: the first
    /// probe is due one interval from now. A probe task already running for it ends.
    fn start_probes(&mut self, idx: usize, ctx: &Ctx<E, B>) {
        let Some(h) = self.health_of(idx) else {
            return;
        };
        let Some(target) = self.children[idx].actor_ref() else {
            return;
        };
        self.probe_runs += 1;
        let run = self.probe_runs;
        let me = ctx.myself().downgrade();
        let health = &mut self.health[h];
        health.task = None;
        health.status.consecutive_failures = 0;
        health.task = Some(spawn_probes(
            ctx.executor(),
            health.check.clone(),
            target,
            ctx.now(),
            run,
            move |report| {
                if let Some(me) = me.upgrade() {
                    // Unbounded: refused only once the supervisor is stopping, and then it
                    // stops the probes itself.
                    let _ = me.try_tell(SupervisorMsg(Msg::Health(report)));
                }
            },
        ));
    }

    /// Stops probing child `idx` (it is no longer running, or is being stopped): its probe
    /// task ends, with a probe in flight, and a report on its way is ignored.
    fn stop_probes(&mut self, idx: usize) {
        if let Some(h) = self.health_of(idx) {
            self.health[h].task = None;
        }
    }

    /// A probe finished: records it, and acts on a failure that reaches the check's threshold
    /// by ending the child's running incarnation with `Failed(HealthCheckFailed)`. The exit
    /// then comes back as any other, for the child's spec to handle (restart type, strategy,
    /// intensity).
    fn on_probe(&mut self, report: ProbeReport) {
        if self.done {
            return;
        }
        let Some(h) = self
            .health
            .iter()
            .position(|h| h.task.as_ref().is_some_and(|t| t.run == report.run))
        else {
            // A stale report: the child has stopped (or restarted) since.
            return;
        };
        let Some(idx) = self.index_of_child(&self.health[h].child) else {
            return;
        };
        if self.children[idx].alive() != Alive::Running {
            return;
        }
        let health = &mut self.health[h];
        health.status.record(report.at, report.outcome.clone());
        let Err(cause) = report.outcome else {
            return;
        };
        let consecutive_failures = health.status.consecutive_failures;
        let acting = consecutive_failures >= health.check.failure_threshold;
        if acting {
            // The incarnation ends: no probe of it runs any more.
            health.task = None;
        }
        self.emit(Some(idx), || EventKind::HealthCheckFailed {
            cause: cause.clone(),
            consecutive_failures,
        });
        if acting {
            let failed = HealthCheckFailed {
                child: self.children[idx].id().clone(),
                cause,
                consecutive_failures,
            };
            self.children[idx]
                .end_incarnation(IncarnationEnd::Now, ExitReason::Failed(Arc::new(failed)));
        }
    }

    /// What the children share, made on first use: the doorbell (a message into this
    /// supervisor's mailbox), the intensity (on the executor's clock) and the inheritance.
    fn shared(&mut self, ctx: &Ctx<E, B>) -> &Arc<SupShared<E, B>> {
        let Supervisor {
            shared,
            strategy,
            backoff,
            done,
            max_restarts,
            period,
            inherited,
            name,
            ..
        } = self;
        shared.get_or_insert_with(|| {
            let fast = *strategy == Strategy::OneForOne && backoff.is_none() && !*done;
            let executor = ctx.executor().clone();
            let intensity = Intensity::new(
                *max_restarts,
                *period,
                Box::new(move || executor.now()),
                fast,
                inherited.bus.watched(),
            );
            let me = ctx.myself().downgrade();
            let bell = Box::new(move |child, actor| {
                if let Some(me) = me.upgrade() {
                    // Unbounded: refused only once the supervisor is stopping, and then its
                    // shutdown reads the child's report directly.
                    let _ = me.try_tell(SupervisorMsg(Msg::Child { child, actor }));
                }
            });
            Arc::new(SupShared {
                bell,
                intensity,
                inherited: Inherited {
                    bus: inherited.bus.clone(),
                    path: Some(name.clone()),
                },
            })
        })
    }

    /// The supervisor's intensity.
    fn intensity(&mut self, ctx: &Ctx<E, B>) -> &Intensity {
        &self.shared(ctx).intensity
    }

    /// Records a restart now; `false` if it exceeds the intensity (OTP's `add_restart`: the
    /// restarts within the last period, this one included, must be at most `max_restarts`).
    fn add_restart(&mut self, ctx: &Ctx<E, B>) -> bool {
        self.intensity(ctx).add_restart()
    }

    fn random(&mut self) -> f64 {
        self.rng.next()
    }

    /// The next report of child `idx`, or `None` at `deadline`.
    async fn next_event(
        child: &Child<E, B>,
        ctx: &Ctx<E, B>,
        deadline: Option<Instant>,
    ) -> Option<ChildEvent> {
        let slot: &dyn ChildSlot<E, B> = &*child.0;
        match deadline {
            None => Some(poll_fn(move |cx| slot.poll_event(cx)).await),
            Some(deadline) => {
                // An executor that cannot time (a Tokio runtime without its time driver)
                // panics here: the timeout is then taken as passed, and the caller kills the
                // child rather than wait for it without a bound. The panic hook reports it.
                let sleep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ctx.sleep_until(deadline)
                }));
                let Ok(sleep) = sleep else {
                    return None;
                };
                let mut sleep = pin!(sleep);
                poll_fn(move |cx| {
                    if let Poll::Ready(event) = slot.poll_event(cx) {
                        return Poll::Ready(Some(event));
                    }
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    Poll::Pending
                })
                .await
            }
        }
    }

    /// Waits until child `idx` reports its start: `Ok` once `started` returned, or the reason
    /// its first incarnation ended.
    async fn await_start(&mut self, idx: usize, ctx: &Ctx<E, B>) -> Result<(), StartCause> {
        loop {
            match Self::next_event(&self.children[idx], ctx, None).await {
                Some(ChildEvent::Started) => {
                    self.children[idx].set_alive(Alive::Running);
                    return Ok(());
                }
                Some(ChildEvent::Restarted {
                    reason,
                    incarnation,
                }) => self.record_own_restart(idx, reason, incarnation),
                Some(ChildEvent::Exited { reason, parked, .. }) => {
                    self.set_ended(idx, parked);
                    return Err(StartCause::Exited(reason));
                }
                None => {}
            }
        }
    }

    fn set_ended(&mut self, idx: usize, parked: bool) {
        self.stop_probes(idx);
        let child = &mut self.children[idx];
        if parked {
            child.set_alive(Alive::Parked);
        } else {
            child.set_alive(Alive::None);
            child.release();
        }
    }

    /// Starts child `idx`: a fresh incarnation behind its reference if its actor is parked,
    /// else a new actor. Waits for `started`.
    async fn start_child_at(&mut self, idx: usize, ctx: &Ctx<E, B>) -> Result<(), StartCause> {
        let restarted = self.children[idx].alive() == Alive::Parked;
        if restarted {
            let drain = self.children[idx].flags().on_restart == crate::spec::OnRestart::DrainQueue;
            let shared = self.shared(ctx).clone();
            self.children[idx]
                .restart_in_place(drain, &shared)
                .map_err(|e| StartCause::Factory(Arc::from(e)))?;
        } else if self.children[idx].alive() == Alive::None {
            let shared = self.shared(ctx).clone();
            let system = ctx.system();
            self.children[idx]
                .0
                .clone()
                .spawn(&system, &shared)
                .map_err(|e| StartCause::Factory(Arc::from(e)))?;
        } else {
            return Ok(());
        }
        self.await_start(idx, ctx).await?;
        self.children[idx].set_restarting(false);
        self.start_probes(idx, ctx);
        if restarted {
            let incarnation = self.children[idx].incarnation();
            self.emit(Some(idx), || EventKind::Restarted { incarnation });
        } else {
            self.emit(Some(idx), || EventKind::Started);
        }
        Ok(())
    }

    /// Ends child `idx`'s running incarnation by its shutdown policy, keeping its actor for a
    /// restart (a group restart). Returns once it has parked (or ended for good).
    async fn end_incarnation_of(&mut self, idx: usize, ctx: &Ctx<E, B>) {
        if self.children[idx].alive() != Alive::Running {
            return;
        }
        // A child being stopped is not probed: a probe failing meanwhile would change the
        // reason it ends with.
        self.stop_probes(idx);
        let shutdown = self.children[idx].flags().shutdown;
        let first_deadline = match shutdown {
            Shutdown::Brutal => {
                self.children[idx].end_incarnation(IncarnationEnd::Now, ExitReason::Killed);
                None
            }
            Shutdown::Timeout(d) => {
                self.children[idx].end_incarnation(
                    IncarnationEnd::AfterCurrentMessage,
                    ExitReason::Shutdown(None),
                );
                Some(ctx.now() + d)
            }
            Shutdown::Infinity => {
                self.children[idx].end_incarnation(
                    IncarnationEnd::AfterCurrentMessage,
                    ExitReason::Shutdown(None),
                );
                None
            }
        };
        let mut deadline = first_deadline;
        loop {
            match Self::next_event(&self.children[idx], ctx, deadline).await {
                Some(ChildEvent::Exited { reason, parked, .. }) => {
                    self.set_ended(idx, parked);
                    self.emit(Some(idx), || EventKind::Stopped { reason });
                    return;
                }
                Some(ChildEvent::Started) => {}
                Some(ChildEvent::Restarted {
                    reason,
                    incarnation,
                }) => self.record_own_restart(idx, reason, incarnation),
                None => {
                    // The timeout passed: cut it.
                    self.children[idx].end_incarnation(IncarnationEnd::Now, ExitReason::Killed);
                    deadline = None;
                }
            }
        }
    }

    /// Stops child `idx` for good by its shutdown policy and waits for its end. A child that
    /// exits by itself meanwhile is reported with its own reason and not restarted.
    async fn stop_child(&mut self, idx: usize, ctx: &Ctx<E, B>) {
        self.stop_probes(idx);
        let mut deadline = None;
        // A parked child's exit has been reported already: its final end is not news.
        let mut reported = self.children[idx].alive() == Alive::Parked;
        match self.children[idx].alive() {
            Alive::None => {
                self.children[idx].set_restarting(false);
                return;
            }
            Alive::Parked => self.children[idx].end_parked(),
            Alive::Running => match self.children[idx].flags().shutdown {
                Shutdown::Brutal => self.children[idx].kill(),
                Shutdown::Timeout(d) => {
                    self.children[idx].shutdown();
                    deadline = Some(ctx.now() + d);
                }
                Shutdown::Infinity => self.children[idx].shutdown(),
            },
        }
        loop {
            match Self::next_event(&self.children[idx], ctx, deadline).await {
                Some(ChildEvent::Exited {
                    reason,
                    parked: false,
                    ..
                }) => {
                    self.set_ended(idx, false);
                    self.children[idx].set_restarting(false);
                    if !reported {
                        self.emit(Some(idx), || EventKind::Stopped { reason });
                    }
                    return;
                }
                // It exited by itself before the stop reached it: it ends with that reason,
                // reported now.
                Some(ChildEvent::Exited {
                    parked: true,
                    reason,
                    ..
                }) => {
                    self.emit(Some(idx), || EventKind::Stopped { reason });
                    reported = true;
                    self.children[idx].end_parked();
                }
                Some(ChildEvent::Started) => {}
                Some(ChildEvent::Restarted {
                    reason,
                    incarnation,
                }) => self.record_own_restart(idx, reason, incarnation),
                None => {
                    self.children[idx].kill();
                    deadline = None;
                }
            }
        }
    }

    /// Stops every child, one at a time in reverse start order; temporary children are removed.
    async fn shutdown_all(&mut self, ctx: &Ctx<E, B>) {
        for idx in (0..self.children.len()).rev() {
            self.stop_child(idx, ctx).await;
        }
        self.children
            .retain(|c| c.flags().restart != RestartType::Temporary);
        let children = &self.children;
        self.health
            .retain(|h| children.iter().any(|c| c.is(&h.child)));
    }

    /// The supervisor shuts itself down (escalation or auto-shutdown): its children stop, then
    /// its incarnation ends with `Shutdown(info)`, which its parent sees as a normal exit.
    async fn shut_down_self(&mut self, ctx: &Ctx<E, B>, info: &str) {
        self.done = true;
        if let Some(shared) = &self.shared {
            shared.intensity.close_fast_path();
        }
        self.shutdown_all(ctx).await;
        ctx.myself().end_incarnation(
            IncarnationEnd::AfterCurrentMessage,
            ExitReason::Shutdown(Some(Arc::from(info))),
        );
    }

    async fn escalate(&mut self, ctx: &Ctx<E, B>) {
        let max_restarts = self.max_restarts;
        self.emit(None, || EventKind::Escalated { max_restarts });
        const WHY: &str = "reached max restart intensity";
        if ctx.system().observer().is_some() {
            let reason = ExitReason::Shutdown(Some(Arc::from(WHY)));
            ctx.observe(&ObservedEvent::Escalated { reason: &reason });
        }
        self.shut_down_self(ctx, WHY).await;
    }

    /// Reads `child`'s reports (its doorbell rang) and acts on an exit.
    async fn on_child_report(
        &mut self,
        child: Arc<dyn ChildSlot<E, B>>,
        actor: ActorId,
        ctx: &mut Ctx<E, B>,
    ) {
        let Some(idx) = self.index_of_child(&child) else {
            return;
        };
        if self.children[idx].actor_id() != Some(actor) {
            return;
        }
        while let Some(event) = self.children[idx].try_event() {
            match event {
                ChildEvent::Started => self.children[idx].set_alive(Alive::Running),
                ChildEvent::Restarted {
                    reason,
                    incarnation,
                } => self.record_own_restart(idx, reason, incarnation),
                ChildEvent::Exited {
                    reason,
                    parked,
                    fast,
                } => {
                    self.set_ended(idx, parked);
                    if let Some(FastFailure::Started { crashed }) = &fast {
                        // The exit the child restarted itself after, then the failed start.
                        let crashed = crashed.clone();
                        self.emit(Some(idx), || EventKind::Stopped { reason: crashed });
                        let cause = StartCause::Exited(reason.clone());
                        self.emit(Some(idx), || EventKind::StartFailed { cause });
                    } else {
                        self.emit(Some(idx), || EventKind::Stopped {
                            reason: reason.clone(),
                        });
                    }
                    match fast {
                        None => self.child_exited(idx, reason, ctx).await,
                        Some(why) => self.own_restart_failed(idx, why, ctx).await,
                    }
                    return;
                }
            }
        }
    }

    /// A child restarted itself (the fast path, counted within the intensity): the events
    /// a restart by the supervisor would have given.
    fn record_own_restart(&mut self, idx: usize, reason: ExitReason, incarnation: u32) {
        self.emit(Some(idx), || EventKind::Stopped { reason });
        self.emit(Some(idx), || EventKind::Restarted { incarnation });
    }

    /// A child's own restart, counted, could not happen: past the intensity the supervisor
    /// escalates; a failed factory is retried through the mailbox as any failed restart.
    async fn own_restart_failed(&mut self, idx: usize, why: FastFailure, ctx: &mut Ctx<E, B>) {
        if self.done {
            self.stop_child(idx, ctx).await;
            return;
        }
        match why {
            FastFailure::Exceeded => self.escalate(ctx).await,
            failed => {
                if let FastFailure::Factory(e) = failed {
                    self.emit(Some(idx), || EventKind::StartFailed {
                        cause: StartCause::Factory(e),
                    });
                }
                let child = self.children[idx].0.clone();
                self.children[idx].set_restarting(true);
                let _ = ctx.notify(SupervisorMsg(Msg::Retry {
                    child,
                    counted: false,
                    generation: self.children[idx].restart_generation(),
                    group: None,
                }));
            }
        }
    }

    /// OTP's `restart_child/3` logic for a child that exited by itself.
    async fn child_exited(&mut self, idx: usize, reason: ExitReason, ctx: &mut Ctx<E, B>) {
        if self.done {
            if self.children[idx].alive() == Alive::Parked {
                self.stop_child(idx, ctx).await;
            }
            return;
        }
        let flags = self.children[idx].flags().clone();
        if !flags.restart.restarts_after(&reason) {
            self.stop_child(idx, ctx).await;
            if flags.restart == RestartType::Temporary {
                self.remove_child(idx);
            }
            if flags.significant {
                self.significant_exit(ctx).await;
            }
            return;
        }
        if self.admit_restart(idx, None, ctx).await {
            self.restart_from(idx, None, ctx).await;
        }
    }

    /// Counts a restart of child `idx`: `true` to go on with it now; `false` if the supervisor
    /// escalated, or if a backoff put it off (a retry is then queued for when it is due, and
    /// the child shows as restarting). `only`: the group of a group restart put off before
    /// (see [`stop_group`](Self::stop_group)).
    async fn admit_restart(
        &mut self,
        idx: usize,
        only: Option<&[ChildRef<E, B>]>,
        ctx: &mut Ctx<E, B>,
    ) -> bool {
        if !self.add_restart(ctx) {
            self.escalate(ctx).await;
            return false;
        }
        if let Some(backoff) = self.backoff {
            let n = self.intensity(ctx).recent();
            let delay = backoff.delay(n, self.random());
            let child = self.children[idx].0.clone();
            // The siblings the strategy covers stop now, as they would without a backoff: only
            // the group's start waits. They show as restarting with the child (a sibling
            // stopped by hand stays stopped until the group starts); a temporary one is
            // removed, so the child is looked up again.
            let (group, ended) = self.stop_group(idx, only, ctx).await;
            // The siblings this restart will start: those it stopped, and those already
            // waiting to restart (a waiting group restart it covers, a group start that failed).
            let mut covered = Vec::new();
            for member in &group {
                let Some(i) = self.index_of_child(member) else {
                    continue;
                };
                if Arc::ptr_eq(member, &child) {
                    self.children[i].set_restarting(true);
                } else if ended.iter().any(|e| Arc::ptr_eq(e, member))
                    || self.children[i].restarting()
                {
                    self.children[i].set_restarting(true);
                    covered.push(member.clone());
                }
            }
            // A waiting group restart this one covers is part of it now.
            self.waiting_groups
                .retain(|(failed, _)| !group.iter().any(|m| Arc::ptr_eq(m, failed)));
            if !covered.is_empty() {
                self.waiting_groups.push((child.clone(), covered));
            }
            let Some(idx) = self.index_of_child(&child) else {
                return false;
            };
            ctx.run_later(
                delay,
                SupervisorMsg(Msg::Retry {
                    child,
                    counted: true,
                    generation: self.children[idx].restart_generation(),
                    group: (self.strategy != Strategy::OneForOne).then_some(group),
                }),
            );
            return false;
        }
        true
    }

    /// Starts child `idx` again on its own; a failed start marks it restarting and queues a
    /// retry (counted then, as a restart).
    async fn start_or_retry(&mut self, idx: usize, ctx: &mut Ctx<E, B>) {
        if let Err(cause) = self.start_child_at(idx, ctx).await {
            self.emit(Some(idx), || EventKind::StartFailed { cause });
            self.children[idx].set_restarting(true);
            let _ = ctx.notify(SupervisorMsg(Msg::Retry {
                child: self.children[idx].0.clone(),
                counted: false,
                generation: self.children[idx].restart_generation(),
                group: None,
            }));
        }
    }

    /// Ends the incarnations of the siblings that a restart of child `idx` covers under the
    /// strategy (none under `OneForOne`), last started first; a temporary sibling is stopped
    /// and removed instead. Returns the group still there, child `idx` included, in start
    /// order, and the siblings whose running incarnation it ended.
    ///
    /// `only`, for a group restart that was put off (its backoff, a failed start), is the
    /// group as it was then: a child started since (`start_child` during the wait) is not
    /// part of the failure it did not see, and runs on.
    async fn stop_group(
        &mut self,
        idx: usize,
        only: Option<&[ChildRef<E, B>]>,
        ctx: &mut Ctx<E, B>,
    ) -> (Vec<ChildRef<E, B>>, Vec<ChildRef<E, B>>) {
        let this = self.children[idx].0.clone();
        let mut ended = Vec::new();
        let mut range: Vec<ChildRef<E, B>> = match self.strategy {
            Strategy::OneForOne => vec![this.clone()],
            Strategy::OneForAll => self.children.iter().map(|c| c.0.clone()).collect(),
            Strategy::RestForOne => self.children[idx..].iter().map(|c| c.0.clone()).collect(),
        };
        if let Some(only) = only {
            range.retain(|k| Arc::ptr_eq(k, &this) || only.iter().any(|o| Arc::ptr_eq(o, k)));
        }
        // Stop the others, last started first.
        for k in range.iter().rev() {
            if Arc::ptr_eq(k, &this) {
                continue;
            }
            let Some(i) = self.index_of_child(k) else {
                continue;
            };
            if self.children[i].flags().restart == RestartType::Temporary {
                // A temporary sibling is removed, not restarted.
                self.stop_child(i, ctx).await;
                self.remove_child(i);
            } else if self.children[i].alive() == Alive::Running {
                self.end_incarnation_of(i, ctx).await;
                ended.push(k.clone());
            }
        }
        let group = range
            .into_iter()
            .filter(|k| self.index_of_child(k).is_some())
            .collect();
        (group, ended)
    }

    async fn significant_exit(&mut self, ctx: &Ctx<E, B>) {
        let shut = match self.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => !self
                .children
                .iter()
                .any(|c| c.flags().significant && (c.alive() != Alive::None || c.restarting())),
        };
        if shut {
            self.emit(None, || EventKind::AutoShutdown);
            self.shut_down_self(ctx, "auto shutdown").await;
        }
    }

    /// Applies the strategy to a restart of child `idx` (already counted): stops the siblings
    /// it covers in reverse start order, then starts them in start order. A failed start marks
    /// that child (and, in a group, those after it) restarting and queues a retry.
    /// `only`: the group of a group restart put off before (see
    /// [`stop_group`](Self::stop_group)).
    async fn restart_from(
        &mut self,
        idx: usize,
        only: Option<&[ChildRef<E, B>]>,
        ctx: &mut Ctx<E, B>,
    ) {
        let this = self.children[idx].0.clone();
        if self.strategy == Strategy::OneForOne {
            self.start_or_retry(idx, ctx).await;
            return;
        }
        // Stop the others (already stopped if the restart waited for a backoff), then start
        // all, first started first.
        self.waiting_groups
            .retain(|(failed, _)| !Arc::ptr_eq(failed, &this));
        let (members, _) = self.stop_group(idx, only, ctx).await;
        for (n, k) in members.iter().enumerate() {
            let Some(i) = self.index_of_child(k) else {
                continue;
            };
            if let Err(cause) = self.start_child_at(i, ctx).await {
                self.emit(Some(i), || EventKind::StartFailed { cause });
                for later in &members[n..] {
                    if let Some(j) = self.index_of_child(later) {
                        self.children[j].set_restarting(true);
                    }
                }
                // Those after it wait for its retry: a `terminate_child` of it meanwhile
                // starts them (as for a group restart waiting for a backoff).
                let after = members[n + 1..].to_vec();
                self.waiting_groups
                    .retain(|(failed, _)| !Arc::ptr_eq(failed, k));
                if !after.is_empty() {
                    self.waiting_groups.push((k.clone(), after));
                }
                // Retried through the mailbox: a stop or an API call is served first.
                let _ = ctx.notify(SupervisorMsg(Msg::Retry {
                    child: k.clone(),
                    counted: false,
                    generation: k.restart_generation(),
                    group: Some(members.clone()),
                }));
                return;
            }
        }
    }

    async fn on_retry(
        &mut self,
        child: Arc<dyn ChildSlot<E, B>>,
        counted: bool,
        generation: u16,
        group: Option<Vec<ChildRef<E, B>>>,
        ctx: &mut Ctx<E, B>,
    ) {
        if self.done {
            return;
        }
        let Some(idx) = self.index_of_child(&child) else {
            return;
        };
        // Not restarting any more (terminated, or restarted by hand), or restarting again
        // since: this retry belongs to a pending restart that was dropped.
        if !self.children[idx].restarting() || self.children[idx].restart_generation() != generation
        {
            return;
        }
        // A retry is a restart like any other: it counts, and with a backoff it waits its turn.
        if !counted && !self.admit_restart(idx, group.as_deref(), ctx).await {
            return;
        }
        self.restart_from(idx, group.as_deref(), ctx).await;
    }

    async fn on_api(&mut self, api: Api<E, B>, ctx: &mut Ctx<E, B>) {
        match api {
            Api::StartChild(spec, reply) => {
                let _ = reply.send(self.api_start_child(spec, ctx).await);
            }
            Api::TerminateChild(id, reply) => {
                let _ = reply.send(self.api_terminate_child(&id, ctx).await);
            }
            Api::RestartChild(id, reply) => {
                let _ = reply.send(self.api_restart_child(&id, ctx).await);
            }
            Api::DeleteChild(id, reply) => {
                let _ = reply.send(self.api_delete_child(&id));
            }
            Api::WhichChildren(reply) => {
                let list = self
                    .children
                    .iter()
                    .rev()
                    .map(|c| ChildInfo {
                        id: c.id().clone(),
                        state: c.state(),
                        kind: c.flags().kind,
                        actor: c.actor_id(),
                        health: self
                            .health
                            .iter()
                            .find(|h| c.is(&h.child))
                            .map(|h| h.status.clone()),
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Api::CountChildren(reply) => {
                let mut counts = ChildCounts {
                    specs: self.children.len(),
                    ..ChildCounts::default()
                };
                for c in &self.children {
                    if c.alive() == Alive::Running {
                        counts.active += 1;
                    }
                    match c.flags().kind {
                        ChildKind::Supervisor => counts.supervisors += 1,
                        ChildKind::Worker => counts.workers += 1,
                    }
                }
                let _ = reply.send(counts);
            }
            Api::ChildRef(id, reply) => {
                let found = match self.index_of(&id) {
                    None => Err(SupervisorError::NotFound(id)),
                    Some(i) => {
                        let child = &self.children[i];
                        match child.actor_ref() {
                            // Running, or between incarnations behind the same reference (a
                            // restart waiting for its backoff): sends queue for the next one.
                            Some(r) if matches!(child.alive(), Alive::Running | Alive::Parked) => {
                                Ok((r, child.ref_type_name()))
                            }
                            _ if child.restarting() => Err(SupervisorError::Restarting(id)),
                            Some(r) => Ok((r, child.ref_type_name())),
                            None => Err(SupervisorError::NotFound(id)),
                        }
                    }
                };
                let _ = reply.send(found);
            }
            Api::Subscribe(reply) => {
                let _ = reply.send(self.inherited.bus.subscribe());
            }
        }
    }

    async fn api_start_child(
        &mut self,
        spec: ErasedChildSpec<E, B>,
        ctx: &mut Ctx<E, B>,
    ) -> Result<Option<ActorId>, SupervisorError> {
        if let Some(i) = self.index_of(spec.child.id()) {
            let id = spec.child.id().clone();
            return Err(match self.children[i].state() {
                ChildState::Stopped => SupervisorError::AlreadyPresent(id),
                _ => SupervisorError::AlreadyStarted(id),
            });
        }
        spec.check(self.auto_shutdown)
            .map_err(SupervisorError::InvalidSpec)?;
        let id = spec.child.id().clone();
        let idx = self.add_child(spec);
        match self.start_child_at(idx, ctx).await {
            Ok(()) => Ok(self.children[idx].actor_id()),
            Err(cause) => {
                self.emit(Some(idx), || EventKind::StartFailed {
                    cause: cause.clone(),
                });
                self.stop_child(idx, ctx).await;
                self.remove_child(idx);
                Err(SupervisorError::StartFailed { id, cause })
            }
        }
    }

    async fn api_terminate_child(
        &mut self,
        id: &ChildId,
        ctx: &mut Ctx<E, B>,
    ) -> Result<(), SupervisorError> {
        let Some(idx) = self.index_of(id) else {
            return Err(SupervisorError::NotFound(id.clone()));
        };
        let slot = self.children[idx].0.clone();
        self.stop_child(idx, ctx).await;
        self.children[idx].set_restarting(false);
        if self.children[idx].flags().restart == RestartType::Temporary {
            self.remove_child(idx);
        }
        // A group restart it was waiting for (its backoff) is dropped with it: the siblings
        // that restart stopped start again, as siblings of a child terminated by hand run on.
        let waiting = self
            .waiting_groups
            .iter()
            .position(|(failed, _)| Arc::ptr_eq(failed, &slot));
        if let Some(at) = waiting {
            let (_, siblings) = self.waiting_groups.remove(at);
            // In start order, as every group start.
            let mut siblings: Vec<(usize, ChildRef<E, B>)> = siblings
                .into_iter()
                .filter_map(|s| self.index_of_child(&s).map(|i| (i, s)))
                .collect();
            siblings.sort_by_key(|(i, _)| *i);
            for (_, sibling) in siblings {
                let Some(i) = self.index_of_child(&sibling) else {
                    continue;
                };
                if self.children[i].restarting() {
                    self.start_or_retry(i, ctx).await;
                }
            }
        }
        Ok(())
    }

    async fn api_restart_child(
        &mut self,
        id: &ChildId,
        ctx: &mut Ctx<E, B>,
    ) -> Result<Option<ActorId>, SupervisorError> {
        let Some(idx) = self.index_of(id) else {
            return Err(SupervisorError::NotFound(id.clone()));
        };
        match self.children[idx].state() {
            ChildState::Running => return Err(SupervisorError::Running(id.clone())),
            ChildState::Restarting => return Err(SupervisorError::Restarting(id.clone())),
            ChildState::Stopped => {}
        }
        match self.start_child_at(idx, ctx).await {
            Ok(()) => Ok(self.children[idx].actor_id()),
            Err(cause) => {
                self.emit(Some(idx), || EventKind::StartFailed {
                    cause: cause.clone(),
                });
                // Not retried, not counted: it stays stopped.
                self.stop_child(idx, ctx).await;
                Err(SupervisorError::StartFailed {
                    id: id.clone(),
                    cause,
                })
            }
        }
    }

    fn api_delete_child(&mut self, id: &ChildId) -> Result<(), SupervisorError> {
        let Some(idx) = self.index_of(id) else {
            return Err(SupervisorError::NotFound(id.clone()));
        };
        match self.children[idx].state() {
            ChildState::Running => Err(SupervisorError::Running(id.clone())),
            ChildState::Restarting => Err(SupervisorError::Restarting(id.clone())),
            ChildState::Stopped => {
                self.remove_child(idx);
                Ok(())
            }
        }
    }

    /// Validates the flags and the specs before any child starts.
    fn validate(&self) -> Result<(), StartError> {
        if self.period.is_zero() {
            return Err(StartError::InvalidSpec(
                "the intensity period must be positive".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for spec in &self.initial {
            if !seen.insert(spec.child.id().clone()) {
                return Err(StartError::DuplicateId(spec.child.id().clone()));
            }
            spec.check(self.auto_shutdown)
                .map_err(StartError::InvalidSpec)?;
        }
        Ok(())
    }

    async fn start_all(&mut self, ctx: &mut Ctx<E, B>) -> Result<(), StartError> {
        self.validate()?;
        // The spec's children exactly: a list grown by doubling would leave up to a slot of
        // slack per child.
        self.children.reserve_exact(self.initial.len());
        for spec in std::mem::take(&mut self.initial) {
            self.add_child(spec);
        }
        for idx in 0..self.children.len() {
            if let Err(cause) = self.start_child_at(idx, ctx).await {
                self.emit(Some(idx), || EventKind::StartFailed {
                    cause: cause.clone(),
                });
                // Roll back: this one (if it is parked), then those started, last first.
                for j in (0..=idx).rev() {
                    self.stop_child(j, ctx).await;
                }
                return Err(StartError::Child {
                    id: self.children[idx].id().clone(),
                    cause,
                });
            }
        }
        Ok(())
    }
}

impl<E: Executor, B: MessageBroker> Actor for Supervisor<E, B> {
    type Message = SupervisorMsg<E, B>;
    type Error = StartError;
}

impl<E: Executor, B: MessageBroker> Handler<Wiring<Unbounded, E, B>> for Supervisor<E, B> {
    /// Starts the children in order; a failure stops those started and fails the start.
    async fn started(&mut self, ctx: &mut Ctx<E, B>) -> Result<(), StartError> {
        let result = self.start_all(ctx).await;
        if let Some(report) = self.start_report.take() {
            let _ = report.send(result.clone());
        }
        result
    }

    async fn handle(
        &mut self,
        msg: SupervisorMsg<E, B>,
        ctx: &mut Ctx<E, B>,
    ) -> Result<(), StartError> {
        match msg.0 {
            Msg::Child { child, actor } => self.on_child_report(child, actor, ctx).await,
            Msg::Retry {
                child,
                counted,
                generation,
                group,
            } => self.on_retry(child, counted, generation, group, ctx).await,
            Msg::Health(report) => self.on_probe(report),
            Msg::Api(api) => self.on_api(api, ctx).await,
        }
        Ok(())
    }

    /// Stops every child in reverse start order, each by its shutdown policy; a killed
    /// supervisor kills them all at once instead.
    async fn stopped(&mut self, ctx: &mut Ctx<E, B>, reason: &ExitReason) {
        self.done = true;
        if let Some(shared) = &self.shared {
            shared.intensity.close_fast_path();
        }
        if matches!(reason, ExitReason::Killed) {
            // Killed: this hook is cut at its first suspension point, and the children end
            // with the supervisor's reason, as OTP's links make them. A graceful shutdown
            // begun here would race that kill, and an idle child could end `Shutdown` first.
            for idx in (0..self.children.len()).rev() {
                self.children[idx].kill();
            }
        }
        self.shutdown_all(ctx).await;
    }
}
