//! One child as its supervisor holds it: one allocation per child holding its spec (id, flags,
//! factory, mailbox), its current actor and the channel between the supervisor and the
//! child's task, behind a type-erased interface ([`ChildSlot`]).
//!
//! The child's task runs under a [`ChildControl`], the core's [`Supervision`] hook: when an
//! incarnation ends on its own, the task reports the exit here, rings the supervisor's mailbox
//! and waits (without a thread) for the supervisor's decision. The supervisor reads the report
//! when it handles the doorbell, or polls for it directly when it is waiting for this child (a
//! start, a shutdown). A final end (the actor stopped or killed for good) is reported by the
//! `finished` hook the same way.
//!
//! # Memory
//!
//! An idle child costs, on top of the actor itself: its [`TypedChild`] (one allocation: 104
//! bytes with its reference counts for a `Bounded` mailbox and a factory that captures nothing,
//! a 112-byte malloc chunk), a 16-byte entry in its supervisor's list, and the 8-byte
//! [`ChildControl`] in its task (one pointer, which fits in the padding of the task's
//! allocation on Tokio and on smol). The layout is packed for that: the id is stored inline
//! when short ([`ChildId`]), the spec's flags take one byte and the shutdown policy four; what
//! is only needed while something happens (reports not yet read, wakers, a decision) lives in
//! a [`Transient`] box made for the occasion and freed once it is empty again; what every child
//! of a supervisor shares (the doorbell, the restart intensity, what nested supervisors
//! inherit) lives once per supervisor in a [`SupShared`]. The task's own state (whether its
//! incarnation runs, whether its exit was reported) is kept in the child, for the current
//! actor only: every hook call names the actor whose task calls it, and only the child's
//! current actor is listened to, so a task of an earlier actor (killed, ending) can no longer
//! report into the slot once the supervisor has moved on. The current actor is recorded before
//! its task exists ([`Spawner::spawn_supervised_with`](playhouse_core::Spawner)), so its first
//! hook call always finds itself current. A factory's captures cost their size in a box of
//! their own (none for a factory that captures nothing).

use std::any::Any;
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorId, ActorRef, BoxError, Executor, ExitReason, Handler, IncarnationEnd,
    MessageBroker, Next, Supervision, System, Wiring,
};

use crate::child_id::ChildId;
use crate::intensity::Intensity;
use crate::spec::{ChildFlags, ChildKind, OnRestart, RestartType, Shutdown};
use crate::supervisor::Inherited;

/// A child's factory: makes a fresh actor for each incarnation. It is given what a nested
/// supervisor inherits from its parent (workers ignore it).
pub(crate) type Factory<A> = Box<dyn FnMut(&Inherited) -> Result<A, BoxError> + Send>;

/// What a child's task reports to its supervisor.
#[derive(Clone, Debug)]
pub(crate) enum ChildEvent {
    /// The incarnation's `started` hook returned `Ok`.
    Started,
    /// The incarnation ended with `reason`. `parked`: the actor waits for the supervisor's
    /// decision (its reference and mailbox live on); otherwise it has ended for good.
    Exited {
        reason: ExitReason,
        parked: bool,
        /// The child tried to restart itself and could not: the restart is counted already.
        fast: Option<FastFailure>,
    },
    /// The child restarted itself after its incarnation ended with `reason` (the fast path:
    /// `OneForOne`, counted within the intensity). The supervisor only records it.
    Restarted {
        reason: ExitReason,
        incarnation: u32,
    },
}

/// Why a child's own restart did not happen; the restart was counted.
#[derive(Clone, Debug)]
pub(crate) enum FastFailure {
    /// The restart exceeded the intensity: the supervisor escalates.
    Exceeded,
    /// The factory failed: the supervisor retries through its mailbox.
    Factory(Arc<dyn std::error::Error + Send + Sync>),
    /// The new incarnation's `started` failed (the exit's reason says how) after the child had
    /// restarted itself following `crashed`: retried as any failed restart.
    Started { crashed: ExitReason },
}

/// Calls a factory, a panic in it being a failed start.
fn call_factory<A>(factory: &mut Factory<A>, inherited: &Inherited) -> Result<A, BoxError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory(inherited))).unwrap_or_else(
        |payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".into());
            Err(format!("the factory panicked: {msg}").into())
        },
    )
}

/// How a child's task rings its supervisor: a message into the supervisor's mailbox naming the
/// child and the actor that rings.
pub(crate) type Doorbell<E, B> = Box<dyn Fn(Arc<dyn ChildSlot<E, B>>, ActorId) + Send + Sync>;

/// What every child of one supervisor shares, made once per supervisor and pointed to by each
/// child's task.
pub(crate) struct SupShared<E, B> {
    pub(crate) bell: Doorbell<E, B>,
    /// The supervisor's restart intensity, which a child restarting itself counts in.
    pub(crate) intensity: Intensity,
    /// What the supervisor's children inherit (nested supervisors: the event bus and path).
    pub(crate) inherited: Inherited,
}

/// Where a child's actor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alive {
    /// No actor (never started, or ended for good).
    None = 0,
    /// Running an incarnation.
    Running = 1,
    /// Its incarnation ended; it waits for the supervisor's decision, reference and mailbox kept.
    Parked = 2,
}

/// The supervisor's decision for a parked task. The fresh actor is boxed so that the channel
/// of an idle child does not grow with the actor's size.
enum Decision<A> {
    Restart(Box<A>, bool),
    End,
}

/// What is only needed while something happens between a child's task and its supervisor:
/// made when a report, a waker or a decision is stored, freed once all are taken.
struct Transient<A> {
    /// Reports not yet read, in the order they are read: a start, a parked exit, a final
    /// exit. (No more can be pending at once: the supervisor reads the parked exit before it
    /// decides, and only a stop or kill while parked adds the final one behind it.)
    started: bool,
    /// The child's own restarts whose new incarnation has started, not yet reported (usually
    /// none or one): the reason of the exit each followed, and the new incarnation's number.
    /// Kept only while someone subscribes to the lifecycle events.
    restarted: Vec<(ExitReason, u32)>,
    /// The exit the child's own restart in progress follows, until its new incarnation starts.
    restarting_after: Option<ExitReason>,
    parked_exit: Option<(ExitReason, Option<FastFailure>)>,
    final_exit: Option<ExitReason>,
    /// The supervisor, when it waits for this child inside a handler.
    supervisor_waker: Option<Waker>,
    /// The supervisor's decision for the parked task.
    decision: Option<Decision<A>>,
    /// The parked task.
    child_waker: Option<Waker>,
}

impl<A> Default for Transient<A> {
    fn default() -> Self {
        Transient {
            started: false,
            restarted: Vec::new(),
            restarting_after: None,
            parked_exit: None,
            final_exit: None,
            supervisor_waker: None,
            decision: None,
            child_waker: None,
        }
    }
}

impl<A> Transient<A> {
    fn is_empty(&self) -> bool {
        !self.started
            && self.restarted.is_empty()
            && self.restarting_after.is_none()
            && self.parked_exit.is_none()
            && self.final_exit.is_none()
            && self.supervisor_waker.is_none()
            && self.decision.is_none()
            && self.child_waker.is_none()
    }

    fn next_event(&mut self) -> Option<ChildEvent> {
        if !self.restarted.is_empty() {
            let (reason, incarnation) = self.restarted.remove(0);
            return Some(ChildEvent::Restarted {
                reason,
                incarnation,
            });
        }
        if std::mem::take(&mut self.started) {
            return Some(ChildEvent::Started);
        }
        if let Some((reason, fast)) = self.parked_exit.take() {
            return Some(ChildEvent::Exited {
                reason,
                parked: true,
                fast,
            });
        }
        self.final_exit.take().map(|reason| ChildEvent::Exited {
            reason,
            parked: false,
            fast: None,
        })
    }
}

/// The mutable part of a child, behind its lock.
struct Inner<A: Actor, MB: Mailbox, E, B> {
    factory: Factory<A>,
    transient: Option<Box<Transient<A>>>,
    /// The current actor, while there is one.
    current: Option<ActorRef<A, MB>>,
    /// What the supervisor's children share; set by the first spawn.
    sup: Option<Arc<SupShared<E, B>>>,
    /// The number of the current (or next) incarnation of the actor.
    incarnation: u32,
    /// The current actor's task has reported its incarnation's exit and waits for the decision.
    reported: bool,
    /// The current incarnation's `started` returned: only such an incarnation restarts itself
    /// (a failed start is the supervisor's to handle).
    running: bool,
}

impl<A: Actor, MB: Mailbox, E, B> Inner<A, MB, E, B> {
    fn transient(&mut self) -> &mut Transient<A> {
        self.transient.get_or_insert_with(Box::default)
    }

    /// Frees the transient part once nothing is left in it.
    fn tidy(&mut self) {
        if self.transient.as_ref().is_some_and(|t| t.is_empty()) {
            self.transient = None;
        }
    }

    /// Lets go of the current actor's task: a parked one ends, a later report is ignored.
    /// Returns the waker to wake (outside the lock).
    fn let_go(&mut self) -> Option<Waker> {
        self.reported = false;
        self.running = false;
        self.transient.take().and_then(|mut t| t.child_waker.take())
    }

    /// Whether `actor` is the child's current actor: a task of any other (one the supervisor
    /// has let go of) is told nothing and reports nothing.
    fn is_current(&self, actor: ActorId) -> bool {
        self.current.as_ref().is_some_and(|c| c.id() == actor)
    }
}

/// `Shutdown` in 4 bytes: two values no timeout takes, or a timeout as 30 bits of value and 2
/// bits of unit (ns, µs, ms, s): the finest unit in which it is whole and fits, else rounded up
/// in the finest unit it fits in (a timeout is exact to within a millionth; up to 34 years).
const BRUTAL: u32 = u32::MAX;
const INFINITY: u32 = u32::MAX - 1;
const VALUE_BITS: u32 = 30;
/// The largest value in any unit (in seconds, the two above are kept free).
const MAX_VALUE: u64 = (1 << VALUE_BITS) - 3;
const UNIT_NANOS: [u128; 4] = [1, 1_000, 1_000_000, 1_000_000_000];

fn encode_shutdown(shutdown: Shutdown) -> u32 {
    let d = match shutdown {
        Shutdown::Brutal => return BRUTAL,
        Shutdown::Infinity => return INFINITY,
        Shutdown::Timeout(d) => d.as_nanos(),
    };
    let fits = |unit: usize| d.div_ceil(UNIT_NANOS[unit]) <= u128::from(MAX_VALUE);
    let unit = (0..4)
        .find(|&u| d % UNIT_NANOS[u] == 0 && fits(u))
        .or_else(|| (0..4).find(|&u| fits(u)));
    match unit {
        Some(u) => ((u as u32) << VALUE_BITS) | d.div_ceil(UNIT_NANOS[u]) as u32,
        // Over 34 years: as good as waiting for ever, and kept a timeout.
        None => (3 << VALUE_BITS) | MAX_VALUE as u32,
    }
}

fn decode_shutdown(code: u32) -> Shutdown {
    match code {
        BRUTAL => Shutdown::Brutal,
        INFINITY => Shutdown::Infinity,
        code => {
            let unit = (code >> VALUE_BITS) as usize;
            let value = u64::from(code & ((1 << VALUE_BITS) - 1));
            Shutdown::Timeout(match unit {
                0 => Duration::from_nanos(value),
                1 => Duration::from_micros(value),
                2 => Duration::from_millis(value),
                _ => Duration::from_secs(value),
            })
        }
    }
}

/// A child's flags from its spec, in one byte.
#[derive(Clone, Copy)]
struct SpecBits(u8);

impl SpecBits {
    fn new(
        restart: RestartType,
        kind: ChildKind,
        significant: bool,
        on_restart: OnRestart,
        health_checked: bool,
    ) -> Self {
        let restart = match restart {
            RestartType::Permanent => 0,
            RestartType::Transient => 1,
            RestartType::Temporary => 2,
        };
        SpecBits(
            restart
                | (u8::from(kind == ChildKind::Supervisor) << 2)
                | (u8::from(significant) << 3)
                | (u8::from(on_restart == OnRestart::DrainQueue) << 4)
                | (u8::from(health_checked) << 5),
        )
    }
    fn restart(self) -> RestartType {
        match self.0 & 3 {
            0 => RestartType::Permanent,
            1 => RestartType::Transient,
            _ => RestartType::Temporary,
        }
    }
    fn kind(self) -> ChildKind {
        if self.0 & 4 != 0 {
            ChildKind::Supervisor
        } else {
            ChildKind::Worker
        }
    }
    fn significant(self) -> bool {
        self.0 & 8 != 0
    }
    fn on_restart(self) -> OnRestart {
        if self.0 & 16 != 0 {
            OnRestart::DrainQueue
        } else {
            OnRestart::KeepQueue
        }
    }
    fn health_checked(self) -> bool {
        self.0 & 32 != 0
    }
}

/// [`Alive`] in the low two bits, "restarting" in the third.
const RESTARTING: u8 = 4;

/// One child: its spec, its current actor and the channel to that actor's task.
pub(crate) struct TypedChild<A: Actor, MB: Mailbox, E, B> {
    id: ChildId,
    /// The shutdown policy, encoded by [`encode_shutdown`].
    shutdown: u32,
    spec: SpecBits,
    /// An [`Alive`] and [`RESTARTING`], written by the supervisor only.
    state: AtomicU8,
    /// Which pending restart is the current one: bumped (wrapping) each time the child is
    /// marked restarting. A queued retry names the one it was queued for, so that a retry left
    /// over from a pending restart that was dropped (a terminate, a manual restart) cannot
    /// start a later one before its backoff. Written by the supervisor only. 16 bits fit in
    /// the padding after `state` (the child stays 88 bytes); a stale retry could be mistaken
    /// for a current one only after 65,536 more pending restarts of the child while its timer
    /// runs, and each pending restart waits its own backoff, which grows while restarts come
    /// fast.
    restart_generation: AtomicU16,
    inner: Mutex<Inner<A, MB, E, B>>,
    mailbox: MB,
}

impl<A: Actor, MB: Mailbox, E, B> TypedChild<A, MB, E, B> {
    pub(crate) fn new(flags: ChildFlags, factory: Factory<A>, mailbox: MB) -> Self {
        TypedChild {
            id: flags.id,
            shutdown: encode_shutdown(flags.shutdown),
            spec: SpecBits::new(
                flags.restart,
                flags.kind,
                flags.significant,
                flags.on_restart,
                flags.health_checked,
            ),
            state: AtomicU8::new(Alive::None as u8),
            restart_generation: AtomicU16::new(0),
            inner: Mutex::new(Inner {
                factory,
                transient: None,
                current: None,
                sup: None,
                incarnation: 1,
                reported: false,
                running: false,
            }),
            mailbox,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<A, MB, E, B>> {
        // Nothing panics while holding it (the factory's panics are caught inside); a
        // poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Option<ActorRef<A, MB>> {
        self.lock().current.clone()
    }

    /// Hands the parked task of the current actor its decision.
    fn decide(&self, decision: Decision<A>) {
        let waker = {
            let mut inner = self.lock();
            let t = inner.transient();
            t.decision = Some(decision);
            t.child_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The child task's side: the core's [`Supervision`] hook. Just the child: which actor the
/// task runs is the `ActorId` each hook is called with, and what the task has done so far in
/// its incarnation is kept in the child, for its current actor only.
pub(crate) struct ChildControl<A: Actor, MB: Mailbox, E, B> {
    child: Arc<TypedChild<A, MB, E, B>>,
}

impl<A, MB, E, B> ChildControl<A, MB, E, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    /// Records a report for the supervisor unless this task's actor is no longer the child's,
    /// wakes the supervisor if it waits for this child, and with `ring` also rings its mailbox
    /// (an exit may come when the supervisor waits for nothing; a start never does: the
    /// supervisor waits for each start it causes).
    fn report(&self, me: ActorId, ring: bool, record: impl FnOnce(&mut Transient<A>, u32)) {
        let (waker, sup) = {
            let mut inner = self.child.lock();
            if !inner.is_current(me) {
                return;
            }
            let incarnation = inner.incarnation;
            let sup = if ring { inner.sup.clone() } else { None };
            let t = inner.transient();
            record(t, incarnation);
            (t.supervisor_waker.take(), sup)
        };
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(sup) = sup {
            (sup.bell)(self.child.clone(), me);
        }
    }

    /// The fast path: restarts the child from its own task when its supervisor allows it
    /// (`OneForOne`, no backoff, not shutting down), it is a worker without a health check (whose
    /// probes the supervisor must stop and start again around each restart) and its restart
    /// type restarts this exit, counting the restart in the supervisor's intensity. `Err` with why
    /// it could not once the restart was counted; `Ok(None)` when the supervisor is to decide
    /// as usual. Called with the child's lock held (`inner`) and this task's actor current:
    /// the lock first, then the intensity's, the one order both are taken in, so that a task
    /// the supervisor has let go of counts nothing.
    fn restart_itself(
        &self,
        inner: &mut Inner<A, MB, E, B>,
        reason: &ExitReason,
    ) -> Result<Option<Next<A>>, FastFailure> {
        let child = &self.child;
        if child.spec.kind() != ChildKind::Worker
            || child.spec.health_checked()
            || !child.spec.restart().restarts_after(reason)
        {
            return Ok(None);
        }
        let Some(sup) = inner.sup.clone() else {
            return Ok(None);
        };
        if !sup.intensity.fast_path() {
            return Ok(None);
        }
        if !sup.intensity.add_restart() {
            return Err(FastFailure::Exceeded);
        }
        let actor = call_factory(&mut inner.factory, &sup.inherited)
            .map_err(|e| FastFailure::Factory(Arc::from(e)))?;
        // Reported once the new incarnation has started.
        inner.transient().restarting_after = Some(reason.clone());
        inner.incarnation += 1;
        Ok(Some(if child.spec.on_restart() == OnRestart::DrainQueue {
            Next::RestartDrained(actor)
        } else {
            Next::Restart(actor)
        }))
    }
}

impl<A, MB, E, B> Supervision<A> for ChildControl<A, MB, E, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    const WANTS_FINISHED: bool = true;

    fn started(&mut self, me: ActorId) {
        let (own_restart, watched) = {
            let mut inner = self.child.lock();
            if !inner.is_current(me) {
                return;
            }
            inner.running = true;
            let crashed = inner
                .transient
                .as_mut()
                .and_then(|t| t.restarting_after.take());
            inner.tidy();
            let watched = inner.sup.as_ref().is_some_and(|s| s.intensity.watched());
            (crashed, watched)
        };
        match own_restart {
            // The child's own restart is complete. The supervisor has nothing to do about it:
            // it is told only for its lifecycle events, when someone subscribes to them (a
            // ring wakes its task, maybe on another thread).
            Some(crashed) => {
                if watched {
                    self.report(me, true, |t, incarnation| {
                        t.restarted.push((crashed, incarnation))
                    });
                }
            }
            None => self.report(me, false, |t, _| t.started = true),
        }
    }

    fn poll_exited(
        &mut self,
        me: ActorId,
        reason: &ExitReason,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Next<A>> {
        // First poll of this exit: restart in place (the fast path), or report it.
        let unreported = {
            let mut inner = self.child.lock();
            if !inner.is_current(me) {
                // The supervisor has let go of this actor.
                return Poll::Ready(Next::End);
            }
            if inner.reported {
                None
            } else if std::mem::take(&mut inner.running) {
                match self.restart_itself(&mut inner, reason) {
                    Ok(Some(next)) => return Poll::Ready(next),
                    Ok(None) => Some(None),
                    Err(why) => Some(Some(why)),
                }
            } else {
                // A failed start after a fast-path restart: the supervisor reports both.
                Some(
                    inner
                        .transient
                        .as_mut()
                        .and_then(|t| t.restarting_after.take())
                        .map(|crashed| FastFailure::Started { crashed }),
                )
            }
        };
        if let Some(failure) = unreported {
            self.report(me, true, |t, _| {
                t.parked_exit = Some((reason.clone(), failure));
            });
        }
        let mut inner = self.child.lock();
        if !inner.is_current(me) {
            // The supervisor has let go of this actor.
            return Poll::Ready(Next::End);
        }
        inner.reported = true;
        let t = inner.transient();
        if let Some(decision) = t.decision.take() {
            inner.reported = false;
            inner.tidy();
            return Poll::Ready(match decision {
                Decision::Restart(actor, false) => Next::Restart(*actor),
                Decision::Restart(actor, true) => Next::RestartDrained(*actor),
                Decision::End => Next::End,
            });
        }
        match &t.child_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => t.child_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn finished(&mut self, me: ActorId, reason: &ExitReason) {
        self.report(me, true, |t, _| t.final_exit = Some(reason.clone()));
    }
}

/// A child as its supervisor drives it: all it needs, without naming the actor or mailbox
/// type.
pub(crate) trait ChildSlot<E, B>: Send + Sync {
    /// The child's id.
    fn id(&self) -> &ChildId;
    /// The child's flags, as its spec gave them.
    fn flags(&self) -> ChildFlags;
    /// Where its actor is.
    fn alive(&self) -> Alive;
    /// Records where its actor is.
    fn set_alive(&self, alive: Alive);
    /// Whether a restart failed or waits for its backoff.
    fn restarting(&self) -> bool;
    /// Records whether a restart failed or waits for its backoff; marking it restarting
    /// starts a new [`restart_generation`](Self::restart_generation).
    fn set_restarting(&self, restarting: bool);
    /// Which pending restart is the current one (see `TypedChild::restart_generation`).
    fn restart_generation(&self) -> u16;
    /// Makes a fresh actor with the factory and spawns it (a new reference); it reports its
    /// start through [`poll_event`](Self::poll_event). `Err` if the factory failed.
    fn spawn(
        self: Arc<Self>,
        system: &System<E, B>,
        sup: &Arc<SupShared<E, B>>,
    ) -> Result<ActorId, BoxError>;
    /// The parked actor starts a fresh incarnation made by the factory, behind the same
    /// reference (`drain`: after discarding its queue). `Err` if the factory failed (the actor
    /// stays parked).
    fn restart_in_place(&self, drain: bool, sup: &SupShared<E, B>) -> Result<(), BoxError>;
    /// The parked actor ends for good (with the reason its incarnation ended with).
    fn end_parked(&self);
    /// Lets go of the current actor (it has ended, or is ending): its events are no longer
    /// read, and a task of it still parked ends.
    fn release(&self);
    /// As [`release`](Self::release), and kills the actor: its supervisor is letting go of
    /// the child (it was deleted, or the supervisor is gone).
    fn abandon(&self);
    /// The next event of the current actor, or `Pending` with `cx`'s waker kept.
    fn poll_event(&self, cx: &mut TaskContext<'_>) -> Poll<ChildEvent>;
    /// The next event of the current actor, if one is waiting.
    fn try_event(&self) -> Option<ChildEvent>;
    /// Ends the running incarnation (a group restart).
    fn end_incarnation(&self, when: IncarnationEnd, reason: ExitReason);
    /// Ends the actor for good after the message it is handling, its backlog discarded
    /// ([`ActorRef::shutdown`](playhouse_core::ActorRef::shutdown)): a shutdown is not stuck
    /// behind what is queued.
    fn shutdown(&self);
    /// Kills the actor.
    fn kill(&self);
    /// The current actor, while there is one.
    fn actor_id(&self) -> Option<ActorId>;
    /// A clone of the current `ActorRef<A, MB>`, boxed, for a typed lookup.
    fn actor_ref(&self) -> Option<Box<dyn Any + Send>>;
    /// What names the child's reference type in an error (`ActorRef<A, MB>`, shortened):
    /// called only when a typed lookup asked for another.
    fn ref_type_name(&self) -> fn() -> String;
    /// The incarnation number the next start of the current actor will have.
    fn incarnation(&self) -> u32;
}

impl<A, MB, E, B> ChildSlot<E, B> for TypedChild<A, MB, E, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    fn id(&self) -> &ChildId {
        &self.id
    }

    fn flags(&self) -> ChildFlags {
        ChildFlags {
            id: self.id.clone(),
            restart: self.spec.restart(),
            shutdown: decode_shutdown(self.shutdown),
            kind: self.spec.kind(),
            significant: self.spec.significant(),
            on_restart: self.spec.on_restart(),
            health_checked: self.spec.health_checked(),
        }
    }

    fn alive(&self) -> Alive {
        match self.state.load(Ordering::Relaxed) & 3 {
            1 => Alive::Running,
            2 => Alive::Parked,
            _ => Alive::None,
        }
    }

    fn set_alive(&self, alive: Alive) {
        let restarting = self.state.load(Ordering::Relaxed) & RESTARTING;
        self.state
            .store(alive as u8 | restarting, Ordering::Relaxed);
    }

    fn restarting(&self) -> bool {
        self.state.load(Ordering::Relaxed) & RESTARTING != 0
    }

    fn set_restarting(&self, restarting: bool) {
        let alive = self.state.load(Ordering::Relaxed) & 3;
        if restarting {
            self.restart_generation.fetch_add(1, Ordering::Relaxed);
        }
        let restarting = if restarting { RESTARTING } else { 0 };
        self.state.store(alive | restarting, Ordering::Relaxed);
    }

    fn restart_generation(&self) -> u16 {
        self.restart_generation.load(Ordering::Relaxed)
    }

    fn spawn(
        self: Arc<Self>,
        system: &System<E, B>,
        sup: &Arc<SupShared<E, B>>,
    ) -> Result<ActorId, BoxError> {
        let (actor, old, waker) = {
            let mut inner = self.lock();
            let actor = call_factory(&mut inner.factory, &sup.inherited)?;
            let waker = inner.let_go();
            inner.incarnation = 1;
            if inner.sup.is_none() {
                inner.sup = Some(sup.clone());
            }
            (actor, inner.current.take(), waker)
        };
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(old) = old {
            old.kill();
        }
        // The new actor is the current one before its task can call a hook. In an observed
        // system it is named after its child id (only there: a name costs an idle child a
        // box of extras).
        let observed = system.observer().is_some();
        let actor_ref =
            system
                .spawner(self.mailbox.clone())
                .spawn_supervised_with(actor, |actor_ref| {
                    if observed {
                        actor_ref.set_name(self.id.as_str());
                    }
                    self.lock().current = Some(actor_ref.clone());
                    ChildControl {
                        child: self.clone(),
                    }
                });
        Ok(actor_ref.id())
    }

    fn restart_in_place(&self, drain: bool, sup: &SupShared<E, B>) -> Result<(), BoxError> {
        let waker = {
            let mut inner = self.lock();
            let Some(actor_ref) = inner.current.clone() else {
                return Err("no actor to restart".into());
            };
            let actor = call_factory(&mut inner.factory, &sup.inherited)?;
            // A request to end the last incarnation that raced its own end must not end the
            // next.
            actor_ref.withdraw_end_incarnation();
            inner.incarnation += 1;
            let t = inner.transient();
            t.decision = Some(Decision::Restart(Box::new(actor), drain));
            t.child_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn end_parked(&self) {
        if self.lock().current.is_some() {
            self.decide(Decision::End);
        }
    }

    fn release(&self) {
        let waker = {
            let mut inner = self.lock();
            if inner.current.take().is_none() {
                return;
            }
            inner.let_go()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn abandon(&self) {
        let (actor, waker) = {
            let mut inner = self.lock();
            let Some(actor) = inner.current.take() else {
                return;
            };
            (actor, inner.let_go())
        };
        if let Some(w) = waker {
            w.wake();
        }
        actor.kill();
    }

    fn poll_event(&self, cx: &mut TaskContext<'_>) -> Poll<ChildEvent> {
        let mut inner = self.lock();
        if inner.current.is_none() {
            return Poll::Pending;
        }
        let t = inner.transient();
        if let Some(event) = t.next_event() {
            t.supervisor_waker = None;
            inner.tidy();
            return Poll::Ready(event);
        }
        t.supervisor_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn try_event(&self) -> Option<ChildEvent> {
        let mut inner = self.lock();
        inner.current.as_ref()?;
        let event = inner.transient.as_mut()?.next_event();
        inner.tidy();
        event
    }

    fn end_incarnation(&self, when: IncarnationEnd, reason: ExitReason) {
        if let Some(actor) = self.current() {
            actor.end_incarnation(when, reason);
        }
    }

    fn shutdown(&self) {
        if let Some(actor) = self.current() {
            actor.shutdown();
        }
    }

    fn kill(&self) {
        if let Some(actor) = self.current() {
            actor.kill();
        }
    }

    fn actor_id(&self) -> Option<ActorId> {
        self.lock().current.as_ref().map(|a| a.id())
    }

    fn actor_ref(&self) -> Option<Box<dyn Any + Send>> {
        self.current().map(|a| Box::new(a) as Box<dyn Any + Send>)
    }

    fn ref_type_name(&self) -> fn() -> String {
        playhouse_broker::type_names::ref_type_name::<A, MB>
    }

    fn incarnation(&self) -> u32 {
        self.lock().incarnation
    }
}

/// The supervisor's hold on a child: dropping it (the child was deleted, or its supervisor is
/// gone) takes the child's actor down with it, as OTP's links do: a parked actor ends, a
/// running one is killed.
pub(crate) struct ChildHandle<E, B>(pub(crate) Arc<dyn ChildSlot<E, B>>);

impl<E, B> ChildHandle<E, B> {
    /// Whether `other` is this child.
    pub(crate) fn is(&self, other: &Arc<dyn ChildSlot<E, B>>) -> bool {
        Arc::ptr_eq(&self.0, other)
    }
}

impl<E, B> std::ops::Deref for ChildHandle<E, B> {
    type Target = dyn ChildSlot<E, B>;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl<E, B> Drop for ChildHandle<E, B> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_round_trips_through_its_code() {
        for s in [
            Shutdown::Brutal,
            Shutdown::Infinity,
            Shutdown::Timeout(Duration::from_nanos(1)),
            Shutdown::Timeout(Duration::from_nanos(1 << 29)),
            Shutdown::Timeout(Duration::from_millis(1_500)),
            Shutdown::Timeout(Duration::from_secs(5)),
            Shutdown::Timeout(Duration::from_secs(86_400 * 365)),
        ] {
            assert_eq!(decode_shutdown(encode_shutdown(s)), s);
        }
        // Not whole in any unit that fits: rounded up, by less than a millionth.
        let odd = Duration::from_secs(2) + Duration::from_nanos(1);
        let Shutdown::Timeout(back) = decode_shutdown(encode_shutdown(Shutdown::Timeout(odd)))
        else {
            panic!("a timeout stays a timeout");
        };
        assert!(
            back >= odd && back - odd <= Duration::from_micros(1),
            "{back:?}"
        );
        // Beyond 34 years: still a timeout, of about 34 years.
        assert!(matches!(
            decode_shutdown(encode_shutdown(Shutdown::Timeout(Duration::MAX))),
            Shutdown::Timeout(d) if d > Duration::from_secs(34 * 365 * 86_400)
        ));
    }

    struct Idle;
    impl Actor for Idle {
        type Message = ();
        type Error = std::convert::Infallible;
    }

    /// The budget of an idle child (see the module's docs): a change that grows these costs
    /// every supervised actor a larger malloc chunk or task.
    #[test]
    fn an_idle_child_stays_small() {
        use playhouse_broker::InMemoryBroker;
        use playhouse_core::mailbox::{Block, Bounded};
        use playhouse_core::testing::ThreadExecutor;
        type E = ThreadExecutor;
        type B = InMemoryBroker;
        assert_eq!(size_of::<TypedChild<Idle, Bounded<Block>, E, B>>(), 88);
        assert_eq!(size_of::<ChildControl<Idle, Bounded<Block>, E, B>>(), 8);
        assert_eq!(size_of::<ChildHandle<E, B>>(), 16);
    }

    #[test]
    fn spec_bits_round_trip() {
        for restart in [
            RestartType::Permanent,
            RestartType::Transient,
            RestartType::Temporary,
        ] {
            for kind in [ChildKind::Worker, ChildKind::Supervisor] {
                for significant in [false, true] {
                    for on_restart in [OnRestart::KeepQueue, OnRestart::DrainQueue] {
                        for health in [false, true] {
                            let bits =
                                SpecBits::new(restart, kind, significant, on_restart, health);
                            assert_eq!(bits.restart(), restart);
                            assert_eq!(bits.kind(), kind);
                            assert_eq!(bits.significant(), significant);
                            assert_eq!(bits.on_restart(), on_restart);
                            assert_eq!(bits.health_checked(), health);
                        }
                    }
                }
            }
        }
    }
}
