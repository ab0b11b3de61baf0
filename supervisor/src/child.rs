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
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorId, ActorRef, BoxError, Executor, ExitReason, Handler, IncarnationEnd,
    MessageBroker, Next, Supervision, System, Wiring,
};

use crate::supervisor::Inherited;

/// What a child's task reports to its supervisor.
#[derive(Clone, Debug)]
pub(crate) enum ChildEvent {
    /// The incarnation's `started` hook returned `Ok`.
    Started,
    /// The incarnation ended with `reason`. `parked`: the actor waits for the supervisor's
    /// decision (its reference and mailbox live on); otherwise it has ended for good.
    Exited { reason: ExitReason, parked: bool },
}

/// How a child rings its supervisor: a message into the supervisor's mailbox.
pub(crate) type Doorbell = Arc<dyn Fn() + Send + Sync>;

struct SharedState<A> {
    events: VecDeque<ChildEvent>,
    /// The supervisor, when it waits for this child inside a handler.
    supervisor_waker: Option<Waker>,
    /// The supervisor's decision for the parked task.
    decision: Option<Next<A>>,
    /// The parked task.
    child_waker: Option<Waker>,
    /// The supervisor has let go of this child: a parked task ends.
    orphaned: bool,
}

/// The channel between one spawned actor and its supervisor.
pub(crate) struct Shared<A> {
    state: Mutex<SharedState<A>>,
    doorbell: Doorbell,
}

impl<A> Shared<A> {
    fn new(doorbell: Doorbell) -> Self {
        Shared {
            state: Mutex::new(SharedState {
                events: VecDeque::new(),
                supervisor_waker: None,
                decision: None,
                child_waker: None,
                orphaned: false,
            }),
            doorbell,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SharedState<A>> {
        // Nothing panics while holding it; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `event` for the supervisor and rings it.
    fn report(&self, event: impl FnOnce(&mut SharedState<A>) -> ChildEvent) {
        let waker = {
            let mut st = self.lock();
            let event = event(&mut st);
            st.events.push_back(event);
            st.supervisor_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        (self.doorbell)();
    }

    fn decide(&self, next: Next<A>) {
        let waker = {
            let mut st = self.lock();
            st.decision = Some(next);
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
}

impl<A: Send + 'static> Supervision<A> for ChildControl<A> {
    fn started(&mut self) {
        self.shared.report(|_| ChildEvent::Started);
    }

    fn poll_exited(&mut self, reason: &ExitReason, cx: &mut TaskContext<'_>) -> Poll<Next<A>> {
        if !self.reported {
            self.reported = true;
            self.shared.report(|_| ChildEvent::Exited {
                reason: reason.clone(),
                parked: true,
            });
        }
        let mut st = self.shared.lock();
        if let Some(next) = st.decision.take() {
            self.reported = false;
            return Poll::Ready(next);
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
}

/// A child's typed half, as its supervisor drives it: all it needs, without naming the actor
/// or mailbox type.
pub(crate) trait ChildSlot<E, B>: Send {
    /// Makes a fresh actor with the factory and spawns it (a new reference); it reports its
    /// start through [`poll_event`](Self::poll_event). `Err` if the factory failed.
    fn spawn(
        &mut self,
        system: &System<E, B>,
        doorbell: Doorbell,
        inherited: &Inherited,
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

/// The typed half of a child.
pub(crate) struct TypedChild<A: Actor, MB: Mailbox> {
    factory: Box<dyn FnMut() -> Result<A, BoxError> + Send>,
    mailbox: MB,
    prepare: Option<fn(&mut A, &Inherited)>,
    current: Option<Current<A, MB>>,
    incarnation: u32,
}

impl<A: Actor, MB: Mailbox> TypedChild<A, MB> {
    pub(crate) fn new(
        factory: Box<dyn FnMut() -> Result<A, BoxError> + Send>,
        mailbox: MB,
        prepare: Option<fn(&mut A, &Inherited)>,
    ) -> Self {
        TypedChild {
            factory,
            mailbox,
            prepare,
            current: None,
            incarnation: 0,
        }
    }

    fn make(&mut self, inherited: &Inherited) -> Result<A, BoxError> {
        // The factory is user code: a panic in it is a failed start, not the supervisor's.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.factory)()))
            .unwrap_or_else(|payload| {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".into());
                Err(format!("the factory panicked: {msg}").into())
            });
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
        doorbell: Doorbell,
        inherited: &Inherited,
    ) -> Result<ActorId, BoxError> {
        let actor = self.make(inherited)?;
        let shared = Arc::new(Shared::new(doorbell));
        let control = ChildControl {
            shared: shared.clone(),
            reported: false,
        };
        let actor_ref = system
            .spawner(self.mailbox.clone())
            .spawn_supervised(actor, control);
        let watch = shared.clone();
        actor_ref.on_exit(move |_, reason| {
            let reason = reason.clone();
            watch.report(move |_| ChildEvent::Exited {
                reason,
                parked: false,
            });
        });
        let id = actor_ref.id();
        if let Some((old, old_shared)) = self.current.replace((actor_ref, shared)) {
            old_shared.orphan();
            old.kill();
        }
        self.incarnation = 1;
        Ok(id)
    }

    fn restart_in_place(&mut self, drain: bool, inherited: &Inherited) -> Result<(), BoxError> {
        let actor = self.make(inherited)?;
        let Some((actor_ref, shared)) = &self.current else {
            return Err("no actor to restart".into());
        };
        // A request to end the last incarnation that raced its own end must not end the next.
        actor_ref.withdraw_end_incarnation();
        self.incarnation += 1;
        shared.decide(if drain {
            Next::RestartDrained(actor)
        } else {
            Next::Restart(actor)
        });
        Ok(())
    }

    fn end_parked(&mut self) {
        if let Some((_, shared)) = &self.current {
            shared.decide(Next::End);
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
        if let Some(event) = st.events.pop_front() {
            return Poll::Ready(event);
        }
        st.supervisor_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn try_event(&self) -> Option<ChildEvent> {
        let (_, shared) = self.current.as_ref()?;
        shared.lock().events.pop_front()
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
        self.incarnation
    }
}
