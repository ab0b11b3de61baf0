//! One child as its supervisor holds it: the typed half (factory, mailbox, reference) behind a
//! type-erased interface, and the channel between the supervisor and the child's task.
//!
//! The child's task runs under a [`ChildControl`], the core's [`Supervision`] hook: when an
//! incarnation ends on its own, the task reports the exit here, rings the supervisor's mailbox
//! and waits (without a thread) for the supervisor's decision. The supervisor reads the report
//! when it handles the doorbell, or polls for it directly when it is waiting for this child (a
//! start, a shutdown). A final end (the actor stopped or killed for good) is reported by an
//! exit watcher the same way.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorId, ActorRef, BoxError, Executor, ExitReason, Handler, IncarnationEnd,
    MessageBroker, Next, Supervision, System, Wiring,
};

use crate::intensity::Intensity;
use crate::spec::RestartType;
use crate::supervisor::Inherited;

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

/// A child's factory, shared by the supervisor (which starts it) and the child's task (which
/// restarts itself on the fast path).
pub(crate) type SharedFactory<A> = Arc<Mutex<Box<dyn FnMut() -> Result<A, BoxError> + Send>>>;

/// What a child needs to restart itself: its supervisor's intensity, its factory, and which
/// exits its restart type restarts. Only for workers of a `OneForOne` supervisor without backoff.
pub(crate) struct FastPath<A> {
    pub(crate) intensity: Arc<Intensity>,
    pub(crate) factory: SharedFactory<A>,
    pub(crate) restart: RestartType,
    pub(crate) drain: bool,
}

/// Calls a factory, a panic in it being a failed start.
pub(crate) fn call_factory<A>(factory: &SharedFactory<A>) -> Result<A, BoxError> {
    let mut factory = factory.lock().unwrap_or_else(|p| p.into_inner());
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut *factory)).unwrap_or_else(
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

/// How children ring their supervisor: a message into its mailbox naming the child (its key)
/// and the actor (its generation). One per supervisor, shared by its children.
pub(crate) type Doorbell = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// A child's way to ring its supervisor.
pub(crate) struct Ring {
    pub(crate) bell: Doorbell,
    pub(crate) key: u64,
    pub(crate) generation: u64,
}

/// The supervisor's decision for a parked task. The fresh actor is boxed so that the channel
/// of an idle child does not grow with the actor's size.
enum Decision<A> {
    Restart(Box<A>, bool),
    End,
}

struct SharedState<A> {
    /// Reports not yet read, in the order they are read: a start, a parked exit, a final
    /// exit. (No more can be pending at once: the supervisor reads the parked exit before it
    /// decides, and only a stop or kill while parked adds the final one behind it.)
    started: bool,
    /// The child's own restarts whose new incarnation has started, not yet reported (usually
    /// none or one): the reason of the exit each followed, and the new incarnation's number.
    /// Kept only while someone subscribes to the lifecycle events.
    restarted: Vec<(ExitReason, u32)>,
    /// The number of the current (or next) incarnation of the actor.
    incarnation: u32,
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
    /// The supervisor has let go of this child: a parked task ends.
    orphaned: bool,
}

impl<A> SharedState<A> {
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

/// The channel between one spawned actor and its supervisor: one allocation per child.
pub(crate) struct Shared<A> {
    state: Mutex<SharedState<A>>,
    ring: Ring,
    fast: Option<FastPath<A>>,
}

impl<A> Shared<A> {
    fn new(ring: Ring, fast: Option<FastPath<A>>) -> Self {
        Shared {
            state: Mutex::new(SharedState {
                restarted: Vec::new(),
                incarnation: 1,
                restarting_after: None,
                started: false,
                parked_exit: None,
                final_exit: None,
                supervisor_waker: None,
                decision: None,
                child_waker: None,
                orphaned: false,
            }),
            ring,
            fast,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SharedState<A>> {
        // Nothing panics while holding it; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a report for the supervisor, wakes it if it waits for this child, and with
    /// `ring` also rings its mailbox (an exit may come when the supervisor waits for nothing;
    /// a start never does: the supervisor waits for each start it causes).
    fn report(&self, ring: bool, record: impl FnOnce(&mut SharedState<A>)) {
        let waker = {
            let mut st = self.lock();
            record(&mut st);
            st.supervisor_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        if ring {
            (self.ring.bell)(self.ring.key, self.ring.generation);
        }
    }

    fn decide(&self, decision: Decision<A>) {
        let waker = {
            let mut st = self.lock();
            st.decision = Some(decision);
            st.child_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn orphan(&self) {
        let waker = {
            let mut st = self.lock();
            st.orphaned = true;
            st.child_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The child task's side: the core's [`Supervision`] hook.
pub(crate) struct ChildControl<A> {
    shared: Arc<Shared<A>>,
    /// This incarnation's exit has been reported; waiting for the decision.
    reported: bool,
    /// This incarnation's `started` returned: only such an incarnation restarts itself (a
    /// failed start is the supervisor's to handle).
    running: bool,
}

impl<A> ChildControl<A> {
    /// The fast path: restarts the child from its own task when its supervisor allows it
    /// (`OneForOne`, no backoff, not shutting down) and its restart type restarts this exit,
    /// counting the restart in the supervisor's intensity. `Err` with why it could not once
    /// the restart was counted; `Ok(None)` when the supervisor is to decide as usual.
    fn restart_itself(&self, reason: &ExitReason) -> Result<Option<Next<A>>, FastFailure> {
        let Some(fast) = &self.shared.fast else {
            return Ok(None);
        };
        if !fast.restart.restarts_after(reason) || !fast.intensity.fast_path() {
            return Ok(None);
        }
        if !fast.intensity.add_restart() {
            return Err(FastFailure::Exceeded);
        }
        let actor = call_factory(&fast.factory).map_err(|e| FastFailure::Factory(Arc::from(e)))?;
        Ok(Some(if fast.drain {
            Next::RestartDrained(actor)
        } else {
            Next::Restart(actor)
        }))
    }
}

impl<A: Send + 'static> Supervision<A> for ChildControl<A> {
    const WANTS_FINISHED: bool = true;

    fn started(&mut self) {
        self.running = true;
        let mut own_restart = None;
        {
            let mut st = self.shared.lock();
            if let Some(crashed) = st.restarting_after.take() {
                own_restart = Some(crashed);
            }
        }
        match own_restart {
            // The child's own restart is complete. The supervisor has nothing to do about it:
            // it is told only for its lifecycle events, when someone subscribes to them (a
            // ring wakes its task, maybe on another thread).
            Some(crashed) => {
                let watched = self
                    .shared
                    .fast
                    .as_ref()
                    .is_some_and(|f| f.intensity.watched());
                if watched {
                    self.shared.report(true, |st| {
                        let incarnation = st.incarnation;
                        st.restarted.push((crashed, incarnation));
                    });
                }
            }
            None => self.shared.report(false, |st| st.started = true),
        }
    }

    fn poll_exited(&mut self, reason: &ExitReason, cx: &mut TaskContext<'_>) -> Poll<Next<A>> {
        if !self.reported {
            let mut failure = None;
            if std::mem::take(&mut self.running) {
                match self.restart_itself(reason) {
                    Ok(Some(next)) => {
                        // Reported once the new incarnation has started.
                        let mut st = self.shared.lock();
                        st.restarting_after = Some(reason.clone());
                        st.incarnation += 1;
                        return Poll::Ready(next);
                    }
                    Ok(None) => {}
                    Err(why) => failure = Some(why),
                }
            } else if let Some(crashed) = self.shared.lock().restarting_after.take() {
                failure = Some(FastFailure::Started { crashed });
            }
            self.reported = true;
            self.shared
                .report(true, |st| st.parked_exit = Some((reason.clone(), failure)));
        }
        let mut st = self.shared.lock();
        if let Some(decision) = st.decision.take() {
            self.reported = false;
            return Poll::Ready(match decision {
                Decision::Restart(actor, false) => Next::Restart(*actor),
                Decision::Restart(actor, true) => Next::RestartDrained(*actor),
                Decision::End => Next::End,
            });
        }
        if st.orphaned {
            return Poll::Ready(Next::End);
        }
        match &st.child_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.child_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn finished(&mut self, reason: &ExitReason) {
        self.shared
            .report(true, |st| st.final_exit = Some(reason.clone()));
    }
}

/// A child's typed half, as its supervisor drives it: all it needs, without naming the actor
/// or mailbox type.
pub(crate) trait ChildSlot<E, B>: Send {
    /// Makes a fresh actor with the factory and spawns it (a new reference); it reports its
    /// start through [`poll_event`](Self::poll_event). `Err` if the factory failed.
    fn spawn(
        &mut self,
        system: &System<E, B>,
        ring: Ring,
        inherited: &Inherited,
        fast: Option<FastSpec>,
    ) -> Result<ActorId, BoxError>;
    /// The parked actor starts a fresh incarnation made by the factory, behind the same
    /// reference (`drain`: after discarding its queue). `Err` if the factory failed (the actor
    /// stays parked).
    fn restart_in_place(&mut self, drain: bool, inherited: &Inherited) -> Result<(), BoxError>;
    /// The parked actor ends for good (with the reason its incarnation ended with).
    fn end_parked(&mut self);
    /// Lets go of the current actor (it has ended, or is ending): its events are no longer read.
    fn release(&mut self);
    /// The next event of the current actor, or `Pending` with `cx`'s waker kept.
    fn poll_event(&self, cx: &mut TaskContext<'_>) -> Poll<ChildEvent>;
    /// The next event of the current actor, if one is waiting.
    fn try_event(&self) -> Option<ChildEvent>;
    /// Ends the running incarnation (a group restart).
    fn end_incarnation(&self, when: IncarnationEnd, reason: ExitReason);
    /// Stops the actor for good, gracefully.
    fn stop(&self);
    /// Kills the actor.
    fn kill(&self);
    /// The current actor, while there is one.
    fn actor_id(&self) -> Option<ActorId>;
    /// A clone of the current `ActorRef<A, MB>`, boxed, for a typed lookup.
    fn actor_ref(&self) -> Option<Box<dyn Any + Send>>;
    /// The incarnation number the next start of the current actor will have.
    fn incarnation(&self) -> u32;
}

/// A spawned actor and its channel to the supervisor.
type Current<A, MB> = (ActorRef<A, MB>, Arc<Shared<A>>);

/// What a supervisor lets a child restart itself with (see [`FastPath`]).
pub(crate) struct FastSpec {
    pub(crate) intensity: Arc<Intensity>,
    pub(crate) restart: RestartType,
    pub(crate) drain: bool,
}

/// The typed half of a child.
pub(crate) struct TypedChild<A: Actor, MB: Mailbox> {
    factory: SharedFactory<A>,
    mailbox: MB,
    prepare: Option<fn(&mut A, &Inherited)>,
    current: Option<Current<A, MB>>,
}

impl<A: Actor, MB: Mailbox> TypedChild<A, MB> {
    pub(crate) fn new(
        factory: Box<dyn FnMut() -> Result<A, BoxError> + Send>,
        mailbox: MB,
        prepare: Option<fn(&mut A, &Inherited)>,
    ) -> Self {
        TypedChild {
            factory: Arc::new(Mutex::new(factory)),
            mailbox,
            prepare,
            current: None,
        }
    }

    fn make(&mut self, inherited: &Inherited) -> Result<A, BoxError> {
        // The factory is user code: a panic in it is a failed start, not the supervisor's.
        let made = call_factory(&self.factory);
        let mut actor = made?;
        if let Some(prepare) = self.prepare {
            prepare(&mut actor, inherited);
        }
        Ok(actor)
    }
}

impl<A: Actor, MB: Mailbox> Drop for TypedChild<A, MB> {
    /// A supervisor that lets go of a child (it was cut short, or dropped) takes it down with
    /// it, as OTP's links do: a parked actor ends, a running one is killed.
    fn drop(&mut self) {
        if let Some((actor, shared)) = self.current.take() {
            shared.orphan();
            actor.kill();
        }
    }
}

impl<A, MB, E, B> ChildSlot<E, B> for TypedChild<A, MB>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    fn spawn(
        &mut self,
        system: &System<E, B>,
        ring: Ring,
        inherited: &Inherited,
        fast: Option<FastSpec>,
    ) -> Result<ActorId, BoxError> {
        let actor = self.make(inherited)?;
        let fast = fast
            .filter(|_| self.prepare.is_none())
            .map(|spec| FastPath {
                intensity: spec.intensity,
                factory: self.factory.clone(),
                restart: spec.restart,
                drain: spec.drain,
            });
        let shared = Arc::new(Shared::new(ring, fast));
        let control = ChildControl {
            shared: shared.clone(),
            reported: false,
            running: false,
        };
        let actor_ref = system
            .spawner(self.mailbox.clone())
            .spawn_supervised(actor, control);
        let id = actor_ref.id();
        if let Some((old, old_shared)) = self.current.replace((actor_ref, shared)) {
            old_shared.orphan();
            old.kill();
        }
        Ok(id)
    }

    fn restart_in_place(&mut self, drain: bool, inherited: &Inherited) -> Result<(), BoxError> {
        let actor = self.make(inherited)?;
        let Some((actor_ref, shared)) = &self.current else {
            return Err("no actor to restart".into());
        };
        // A request to end the last incarnation that raced its own end must not end the next.
        actor_ref.withdraw_end_incarnation();
        shared.lock().incarnation += 1;
        shared.decide(Decision::Restart(Box::new(actor), drain));
        Ok(())
    }

    fn end_parked(&mut self) {
        if let Some((_, shared)) = &self.current {
            shared.decide(Decision::End);
        }
    }

    fn release(&mut self) {
        if let Some((_, shared)) = self.current.take() {
            // A task still parked (it should not be) ends rather than wait forever.
            shared.orphan();
        }
    }

    fn poll_event(&self, cx: &mut TaskContext<'_>) -> Poll<ChildEvent> {
        let Some((_, shared)) = &self.current else {
            return Poll::Pending;
        };
        let mut st = shared.lock();
        if let Some(event) = st.next_event() {
            return Poll::Ready(event);
        }
        st.supervisor_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn try_event(&self) -> Option<ChildEvent> {
        let (_, shared) = self.current.as_ref()?;
        shared.lock().next_event()
    }

    fn end_incarnation(&self, when: IncarnationEnd, reason: ExitReason) {
        if let Some((actor, _)) = &self.current {
            actor.end_incarnation(when, reason);
        }
    }

    fn stop(&self) {
        if let Some((actor, _)) = &self.current {
            actor.stop();
        }
    }

    fn kill(&self) {
        if let Some((actor, _)) = &self.current {
            actor.kill();
        }
    }

    fn actor_id(&self) -> Option<ActorId> {
        self.current.as_ref().map(|(a, _)| a.id())
    }

    fn actor_ref(&self) -> Option<Box<dyn Any + Send>> {
        self.current
            .as_ref()
            .map(|(a, _)| Box::new(a.clone()) as Box<dyn Any + Send>)
    }

    fn incarnation(&self) -> u32 {
        self.current
            .as_ref()
            .map_or(0, |(_, shared)| shared.lock().incarnation)
    }
}
