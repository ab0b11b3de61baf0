//! A typed handle on a running supervisor: its manual operations, as OTP's `supervisor` module
//! offers them.

use std::fmt;

use playhouse_core::mailbox::{Mailbox, Unbounded};
use playhouse_core::{
    Actor, ActorId, ActorRef, Executor, ExitReason, ExitWait, MessageBroker, Reply, System,
    reply_port,
};

use crate::error::{StartError, SupervisorError};
use crate::events::Events;
use crate::spec::{ChildId, ErasedChildSpec, SupervisorSpec};
use crate::supervisor::{Api, ChildCounts, ChildInfo, Msg, Supervisor, SupervisorMsg};

/// A running supervisor. Cloning it is cheap; it keeps the supervisor alive as an
/// [`ActorRef`] does (a supervisor whose last reference is dropped shuts down, stopping its
/// children).
pub struct SupervisorRef<E: Executor, B: MessageBroker = playhouse_broker::InMemoryBroker> {
    actor: ActorRef<Supervisor<E, B>, Unbounded>,
}

impl<E, B> Clone for SupervisorRef<E, B>
where
    E: Executor,
    B: MessageBroker,
{
    fn clone(&self) -> Self {
        SupervisorRef {
            actor: self.actor.clone(),
        }
    }
}

impl<E: Executor, B: MessageBroker> fmt::Debug for SupervisorRef<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorRef")
            .field("actor", &self.actor.id())
            .finish()
    }
}

impl<E: Executor, B: MessageBroker> SupervisorSpec<E, B> {
    /// Spawns the supervisor in `system` and starts its children one at a time, in order;
    /// returns once all have started. If one fails, those already started are stopped in
    /// reverse order, later ones are never started, and the error names the child and why.
    ///
    /// # Cancel safety
    ///
    /// Dropped before it returns (a caller's timeout, say), it kills the supervisor, which
    /// kills the children it has started, as OTP kills a process whose synchronous start timed
    /// out: nothing is left running that no reference can reach, even when a child's
    /// `started` never returns.
    pub async fn start(self, system: &System<E, B>) -> Result<SupervisorRef<E, B>, StartError> {
        let (report, started) = reply_port();
        let supervisor = Supervisor::new(self).with_start_report(report);
        let actor = system.spawner(Unbounded).spawn(supervisor);
        let starting = KillOnDrop(Some(actor.clone()));
        let outcome = started.await;
        starting.disarm();
        match outcome {
            Ok(Ok(())) => Ok(SupervisorRef { actor }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StartError::Aborted(Some(actor.wait().await))),
        }
    }
}

/// Kills the actor it holds when dropped, unless [`disarm`](KillOnDrop::disarm)ed first: what
/// a start that is abandoned midway leaves behind.
pub(crate) struct KillOnDrop<A: Actor, MB: Mailbox>(pub(crate) Option<ActorRef<A, MB>>);

impl<A: Actor, MB: Mailbox> KillOnDrop<A, MB> {
    /// Leaves the actor running.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl<A: Actor, MB: Mailbox> Drop for KillOnDrop<A, MB> {
    fn drop(&mut self) {
        if let Some(actor) = self.0.take() {
            actor.kill();
        }
    }
}

impl<E: Executor, B: MessageBroker> SupervisorRef<E, B> {
    /// A handle on a supervisor reached as an actor (a nested supervisor, found with
    /// [`child`](SupervisorRef::child)).
    pub fn from_actor_ref(actor: ActorRef<Supervisor<E, B>, Unbounded>) -> Self {
        SupervisorRef { actor }
    }

    /// The supervisor as an actor: to monitor or link it, or to hand it to a parent.
    pub fn actor_ref(&self) -> &ActorRef<Supervisor<E, B>, Unbounded> {
        &self.actor
    }

    /// The supervisor's actor id.
    pub fn id(&self) -> ActorId {
        self.actor.id()
    }

    async fn call<T: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<T>) -> Api<E, B>,
    ) -> Result<T, SupervisorError> {
        let (reply, rx) = reply_port();
        if self
            .actor
            .try_tell(SupervisorMsg(Msg::Api(make(reply))))
            .is_err()
        {
            return Err(SupervisorError::SupervisorGone);
        }
        rx.await.map_err(|_| SupervisorError::SupervisorGone)
    }

    /// Adds a child at the end and starts it. Errors: `AlreadyStarted` / `AlreadyPresent`
    /// for a duplicate id (running / stopped), `InvalidSpec`, `StartFailed` (the spec is not
    /// kept). Returns the new actor's id.
    pub async fn start_child(
        &self,
        spec: impl Into<ErasedChildSpec<E, B>>,
    ) -> Result<Option<ActorId>, SupervisorError> {
        let spec = spec.into();
        self.call(|reply| Api::StartChild(spec, reply)).await?
    }

    /// Stops a child by its shutdown policy and keeps its spec, stopped (a temporary child's
    /// spec is removed). Not a restart: no strategy, no intensity. Idempotent: a stopped child
    /// is `Ok`. A restart of the child waiting for its backoff (or a retry of its failed start)
    /// is dropped; under `OneForAll` or `RestForOne`, the siblings that restart would have
    /// started start again, in start order. Error: `NotFound`.
    pub async fn terminate_child(&self, id: impl Into<ChildId>) -> Result<(), SupervisorError> {
        let id = id.into();
        self.call(|reply| Api::TerminateChild(id, reply)).await?
    }

    /// Starts a stopped child again (a new actor). Errors: `NotFound`, `Running`,
    /// `Restarting`, `StartFailed` (it stays stopped; not retried, not counted).
    pub async fn restart_child(
        &self,
        id: impl Into<ChildId>,
    ) -> Result<Option<ActorId>, SupervisorError> {
        let id = id.into();
        self.call(|reply| Api::RestartChild(id, reply)).await?
    }

    /// Removes a stopped child's spec. Errors: `NotFound`, `Running`, `Restarting`.
    pub async fn delete_child(&self, id: impl Into<ChildId>) -> Result<(), SupervisorError> {
        let id = id.into();
        self.call(|reply| Api::DeleteChild(id, reply)).await?
    }

    /// Every child, newest first (OTP's order), with its state and kind.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.call(Api::WhichChildren).await
    }

    /// The children, counted.
    pub async fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        self.call(Api::CountChildren).await
    }

    /// A child's reference, typed. It stays valid across the child's restarts (a restart
    /// keeps the reference and mailbox), also while a restart waits for its backoff (what is
    /// sent meanwhile queues for the next incarnation, unless the child's spec says
    /// `OnRestart::DrainQueue`); after the child was stopped and
    /// started again (by hand, or by a group restart of a stopped child) it has a new one.
    /// Errors: `NotFound` (no such child, or it has no actor), `Restarting` (a restart that
    /// makes a new actor has not made it yet), `WrongType`.
    pub async fn child<A: Actor, MB: Mailbox>(
        &self,
        id: impl Into<ChildId>,
    ) -> Result<ActorRef<A, MB>, SupervisorError> {
        let id = id.into();
        let (any, actual) = self
            .call(|reply| Api::ChildRef(id.clone(), reply))
            .await??;
        any.downcast::<ActorRef<A, MB>>()
            .map(|r| *r)
            .map_err(|_| SupervisorError::WrongType {
                id,
                requested: playhouse_broker::type_names::ref_type_name::<A, MB>(),
                actual: actual(),
            })
    }

    /// A nested supervisor, as a handle.
    pub async fn child_supervisor(
        &self,
        id: impl Into<ChildId>,
    ) -> Result<SupervisorRef<E, B>, SupervisorError> {
        self.child::<Supervisor<E, B>, Unbounded>(id)
            .await
            .map(SupervisorRef::from_actor_ref)
    }

    /// Subscribes to the lifecycle events of this supervisor and of every supervisor nested
    /// in it (not its parent's or siblings'), from now on. The stream ends with this
    /// supervisor; a nested one that its parent restarts is a new supervisor behind the same
    /// handle: subscribe again to follow it.
    pub async fn subscribe(&self) -> Result<Events, SupervisorError> {
        self.call(Api::Subscribe).await
    }

    /// Stops the supervisor: it handles what is queued, stops its children in reverse start
    /// order (each by its shutdown policy), and exits with `Shutdown`.
    pub fn stop(&self) {
        self.actor.stop();
    }

    /// Waits until the supervisor has ended and returns why.
    ///
    /// A nested supervisor that gives up (its restart intensity reached) and that its parent
    /// restarts is a new incarnation behind this same handle, as any restarted child is: this
    /// waits on through the restart, and resolves only when the parent gives it up too, or
    /// stops it. To learn of the escalation itself, [`subscribe`](Self::subscribe): the
    /// incarnation's events end with `Escalated` and its children's `Stopped`, and the
    /// parent's go on with its restart.
    pub fn wait(&self) -> ExitWait<'_> {
        self.actor.wait()
    }

    /// The supervisor's exit reason, once it has ended.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.actor.exit_reason()
    }

    /// `true` until the supervisor has ended.
    pub fn is_alive(&self) -> bool {
        self.actor.is_alive()
    }
}
