//! An observer that keeps every event, for tests that assert on what actors did.

use std::sync::{Arc, Mutex, PoisonError};

use crate::cell::ActorId;
use crate::observer::{ActorInfo, Event, EventKind, ObservedEvent, Observer};

/// An [`Observer`] that records every event in memory, in the order it was told of them, for a
/// test to assert on: `events()`, `kinds_of(actor)`, `count(kind)`. Clones share the record.
///
/// Events of one actor are recorded in the order they happened on that actor's task;
/// [`Enqueued`](EventKind::Enqueued), `Dropped` and `Rejected` are told by the sender, so
/// against the actor's own events they are ordered only by what the test itself waits for.
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::observer::EventKind;
/// use playhouse_core::testing::{block_on, RecordingObserver, ThreadExecutor};
/// use playhouse_core::{Actor, Context, Env, Handler, System};
///
/// struct Fails;
/// impl Actor for Fails {
///     type Message = ();
///     type Error = std::io::Error;
/// }
/// impl<V: Env> Handler<V> for Fails {
///     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), std::io::Error> {
///         Err(std::io::Error::other("no"))
///     }
/// }
///
/// let recording = RecordingObserver::new();
/// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new())
///     .with_observer(recording.clone());
/// let actor = system.spawn(Fails);
/// actor.try_tell(()).unwrap();
/// block_on(actor.wait());
/// assert_eq!(
///     recording.kinds_of(actor.id()),
///     [EventKind::Spawned, EventKind::Started, EventKind::Handled, EventKind::Stopped]
/// );
/// ```
#[derive(Clone, Debug, Default)]
pub struct RecordingObserver {
    events: Arc<Mutex<Vec<Event>>>,
}

impl RecordingObserver {
    /// An empty record.
    pub fn new() -> Self {
        RecordingObserver::default()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// The kinds of `actor`'s events so far, oldest first, without the sender-side ones
    /// (`Enqueued`, `Dropped`, `Rejected`), whose place among the actor's own depends on
    /// timing.
    pub fn kinds_of(&self, actor: ActorId) -> Vec<EventKind> {
        self.lock()
            .iter()
            .filter(|e| e.actor == actor)
            .map(Event::kind)
            .filter(|k| {
                !matches!(
                    k,
                    EventKind::Enqueued | EventKind::Dropped | EventKind::Rejected
                )
            })
            .collect()
    }

    /// How many events of `kind` so far.
    pub fn count(&self, kind: EventKind) -> usize {
        self.lock().iter().filter(|e| e.kind() == kind).count()
    }

    /// Forgets every event so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Observer for RecordingObserver {
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) {
        let event = Event::new(actor, event);
        self.lock().push(event);
    }
}
