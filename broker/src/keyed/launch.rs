//! What a keyed set needs from its system, with the executor and broker types erased: so that
//! [`Keyed`](super::Keyed) names only the key, the actor and the mailbox. Used on the cold path
//! only (activations, the executor's clock there, timed asks).

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorRef, DeadLetterKind, Executor, Handler, MessageBroker, Spawner, Wiring,
};

use super::supervise::BoxedSupervision;

/// A boxed `Send` future (factories, activation tasks).
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Reports `n` messages to `target` (a key, in `Debug` form) discarded unhandled, as dead
/// letters of the given kind (`ActorGone`: with an activation that ended; `Drained`: by a
/// restart) on the set's broker; it holds the broker, not the set, so that an activation that
/// ends after its set was dropped still reports its backlog.
pub(crate) type DiscardReporter = std::sync::Arc<dyn Fn(DeadLetterKind, &str, u64) + Send + Sync>;

/// Spawns activations and the activations that must wait on the system a keyed set was started on.
pub(crate) trait Launch<A: Actor, MB: Mailbox>: Send + Sync + 'static {
    /// Spawns `actor`, under `supervision` when one is given.
    fn spawn_actor(&self, actor: A, supervision: Option<BoxedSupervision<A>>) -> ActorRef<A, MB>;

    /// Runs `task` on the executor.
    fn spawn_task(&self, task: BoxFuture<()>);

    /// The executor's clock.
    fn now(&self) -> Instant;

    /// The executor's sleep until `deadline` (timed asks).
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()>;

    /// Whether the executor has shut down (its timers then end at once).
    fn is_shut_down(&self) -> bool;

    /// Reports `n` messages for `target` that an ended activation discarded unhandled, as
    /// [`DeadLetterKind::ActorGone`] dead letters on the system's broker.
    fn report_discarded(&self, target: &str, n: u64);

    /// A [`DiscardReporter`] for this set's broker.
    fn discard_reporter(&self) -> DiscardReporter;
}

impl<A, MB, E, B> Launch<A, MB> for Spawner<E, MB, B>
where
    A: Handler<Wiring<MB, E, B>>,
    MB: Mailbox,
    E: Executor,
    B: MessageBroker,
{
    fn spawn_actor(&self, actor: A, supervision: Option<BoxedSupervision<A>>) -> ActorRef<A, MB> {
        match supervision {
            None => self.spawn(actor),
            Some(supervision) => self.spawn_supervised(actor, supervision),
        }
    }

    fn spawn_task(&self, task: BoxFuture<()>) {
        self.executor().spawn(task);
    }

    fn now(&self) -> Instant {
        self.executor().now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(self.executor().sleep_until(deadline))
    }

    fn is_shut_down(&self) -> bool {
        self.executor().is_shut_down()
    }

    fn report_discarded(&self, target: &str, n: u64) {
        report::<A::Message, B>(self.broker(), DeadLetterKind::ActorGone, target, n);
    }

    fn discard_reporter(&self) -> DiscardReporter {
        let broker = self.broker().clone();
        std::sync::Arc::new(move |kind, target: &str, n: u64| {
            report::<A::Message, B>(&broker, kind, target, n)
        })
    }
}

/// Reports `n` messages of type `M` to `target` as dead letters of `kind` on `broker`.
fn report<M, B: MessageBroker>(broker: &B, kind: DeadLetterKind, target: &str, n: u64) {
    let message_type = std::any::type_name::<M>();
    for _ in 0..n {
        broker.report_dead_letter(kind, target, message_type, None);
    }
}
