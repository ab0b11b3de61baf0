//! Observers: a hook that sees what every actor of a system does, for logs, traces, metrics
//! and tests.
//!
//! An [`Observer`] is given to a [`System`](crate::System) with
//! [`with_observer`](crate::System::with_observer) and is told of each actor's lifecycle
//! (spawned, started, panicked, restarted, stopped, escalated) and of its messages (enqueued,
//! handled with the handler's duration, dropped, rejected, expired), each with the actor's id,
//! type name and optional name ([`ActorInfo`]).
//!
//! Not to be confused with a *monitor* ([`Context::monitor`](crate::Context::monitor)), which
//! is one actor watching another's exit, as a message: an observer watches every actor of its
//! system, from outside, and is never an actor's business.
//!
//! # What it costs
//!
//! A system without an observer (the default) pays one predictable branch per handled message
//! (the runner looks whether its system has one) and one per send (the mailbox looks, under
//! the lock it holds anyway, whether its actor is observed): nothing is built, timed or called.
//! The tell and ask benchmarks show no difference (`benches/README.md`, "Observer").
//!
//! An observed actor pays, per handled message, two reads of the executor's clock, two short
//! locks of its own mailbox (to note the start, and to name itself) and the observer's call;
//! per send, one more reference count and the call. The observer runs on the thread that did the thing (the actor's task, or the
//! sender), never under the mailbox's lock: it may send to actors, including the one observed.
//! It should be quick and must not block. A panic in it is contained (the panic hook reports
//! it); the observed actor and the sender are not affected.
//!
//! The observer is type-erased (`Arc<dyn Observer>`): it is chosen at run time, once per
//! system, and adding it changes no type a user writes. The message path of an unobserved
//! actor is the same monomorphized code as without the hook.
//!
//! # Example
//!
//! ```
//! use playhouse_broker::InMemoryBroker;
//! use playhouse_core::observer::{Event, EventKind};
//! use playhouse_core::testing::{block_on, RecordingObserver, ThreadExecutor};
//! use playhouse_core::{Actor, Context, Env, Handler, System};
//! use std::convert::Infallible;
//!
//! struct Echo;
//! impl Actor for Echo {
//!     type Message = u32;
//!     type Error = Infallible;
//! }
//! impl<V: Env> Handler<V> for Echo {
//!     async fn handle(&mut self, _: u32, _: &mut Context<Self, V>) -> Result<(), Infallible> {
//!         Ok(())
//!     }
//! }
//!
//! let recording = RecordingObserver::new();
//! let system = System::with_broker(ThreadExecutor, InMemoryBroker::new())
//!     .with_observer(recording.clone());
//! let echo = system.spawn(Echo);
//! echo.set_name("echo");
//! block_on(echo.tell(7)).unwrap();
//! echo.stop();
//! block_on(echo.wait());
//! let events = recording.events();
//! let kinds: Vec<EventKind> = events.iter().map(Event::kind).collect();
//! // The send races the actor's start; the rest is in order.
//! assert_eq!(kinds.first(), Some(&EventKind::Spawned));
//! assert_eq!(kinds.last(), Some(&EventKind::Stopped));
//! let handled = events.iter().find(|e| e.kind() == EventKind::Handled).unwrap();
//! assert_eq!(handled.actor_name.as_deref(), Some("echo"));
//! assert!(kinds.contains(&EventKind::Enqueued) && kinds.contains(&EventKind::Started));
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc as StdArc;
use std::time::Duration;

use crate::cell::ActorId;
use crate::exit::ExitReason;

mod metrics;
pub use metrics::{ActorMetrics, Metrics};
#[cfg(feature = "metrics")]
mod metrics_exporter;
#[cfg(feature = "metrics")]
pub use metrics_exporter::MetricsExporter;
#[cfg(feature = "tracing")]
mod tracing_observer;
#[cfg(feature = "tracing")]
pub use tracing_observer::TracingObserver;

/// Sees what the actors of a [`System`](crate::System) do. See the [module docs](self).
pub trait Observer: Send + Sync + 'static {
    /// Told of one event of one actor.
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>);
}

impl<O: Observer + ?Sized> Observer for StdArc<O> {
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) {
        (**self).observe(actor, event);
    }
}

/// Both observers, in turn: `(tracing, metrics)` observes with each. A panic in the first
/// does not keep the event from the second (it is raised again after, and contained where
/// every observer's panic is).
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) {
        let first = catch_unwind(AssertUnwindSafe(|| self.0.observe(actor, event)));
        self.1.observe(actor, event);
        if let Err(payload) = first {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Which actor an event is about.
#[derive(Clone, Copy, Debug)]
pub struct ActorInfo<'a> {
    /// Its id.
    pub id: ActorId,
    /// Its Rust type, as [`std::any::type_name`] gives it.
    pub type_name: &'static str,
    /// The name it was given ([`ActorRef::set_name`](crate::ActorRef::set_name); a supervised
    /// child is named after its child id), if any.
    pub name: Option<&'a str>,
}

/// What happened ([`Observer::observe`]). Borrowed: an observer that keeps events copies what
/// it needs ([`Event`] is an owned copy).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ObservedEvent<'a> {
    /// The actor was spawned (its task is about to run `started`).
    Spawned,
    /// An incarnation's `started` hook returned `Ok`.
    Started {
        /// 1 for the first incarnation, 2 after the first restart, ...
        incarnation: u32,
    },
    /// A handler or hook panicked (the incarnation ends; `Restarted` or `Stopped` follows). A
    /// `stopped` hook that panics after the incarnation ended some other way is told too, so an
    /// incarnation whose handler and then `stopped` hook panicked is told of twice.
    Panicked {
        /// The panic's message.
        message: &'a str,
    },
    /// An incarnation ended with `reason` and a new one is starting behind the same reference.
    Restarted {
        /// The new incarnation's number.
        incarnation: u32,
        /// Why the last one ended.
        reason: &'a ExitReason,
    },
    /// The actor ended for good.
    Stopped {
        /// Why.
        reason: &'a ExitReason,
    },
    /// A supervisor gave up: its restart intensity was exceeded and it ends, for its parent to
    /// handle.
    Escalated {
        /// Why it ends.
        reason: &'a ExitReason,
    },
    /// A message entered the mailbox.
    Enqueued {
        /// Messages waiting, this one included.
        depth: usize,
        /// The number of this depth among the actor's depth readings: see `Handled`'s.
        reading: u64,
    },
    /// A handler returned (also with `Err`; not after a panic or a kill).
    Handled {
        /// How long it ran, by the executor's clock (suspensions included).
        duration: Duration,
        /// Messages left waiting in the mailbox when it returned.
        depth: usize,
        /// The number of this depth among the actor's depth readings (`Enqueued` and `Handled`
        /// alike), counted under the mailbox's lock as each depth is read. A sender tells of
        /// its send after it let go of the lock, so an actor's events can reach the observer out
        /// of order (a send's `Enqueued { depth: 1 }` after the `Handled { depth: 0 }` of the
        /// message it sent): an observer that keeps a depth keeps the one with the highest
        /// reading.
        reading: u64,
    },
    /// The overflow strategy dropped a message (`DropNewest`: the new one; `DropOldest`: the
    /// oldest queued).
    Dropped,
    /// A send was refused because the mailbox was full; the sender got the message back.
    Rejected,
    /// A message's deadline passed before its handler would have run; it was not handled.
    Expired,
    /// Messages accepted into the mailbox were discarded unhandled because an incarnation
    /// ended: the backlog at the actor's final end (a stop, a kill, a crash with no restart, a
    /// runtime dropping the task), a queue that a restart drained
    /// ([`Next::RestartDrained`](crate::Next::RestartDrained), a supervisor's `DrainQueue`), a
    /// message a kill found next. Their reply ports report
    /// [`NoReply`](crate::NoReply) to the askers. Told once per discard (a kill's message
    /// and the backlog after it as one), before the first of them is dropped (an asker told
    /// `NoReply` finds it told) and before the `Depth`, `Restarted` or `Stopped` that follows;
    /// the mailbox's own total is
    /// [`ActorRef::discarded_count`](crate::ActorRef::discarded_count).
    Discarded {
        /// How many this discard dropped.
        count: u64,
    },
    /// Messages left the mailbox unhandled, with no send or handled message to tell its depth:
    /// one expired (after its `Expired`), or an incarnation ended (before `Restarted`: the
    /// message its handler panicked on, a queue the restart discarded with
    /// [`Next::RestartDrained`](crate::Next::RestartDrained), a supervisor's `DrainQueue`). An
    /// idle actor's depth would otherwise stay what the last send or handler told.
    Depth {
        /// Messages waiting in the mailbox now.
        depth: usize,
        /// The number of this depth among the actor's depth readings: see `Handled`'s.
        reading: u64,
    },
}

/// The kind of an [`ObservedEvent`], without its data: for matching and counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each names the `ObservedEvent` variant of the same name
#[non_exhaustive]
pub enum EventKind {
    Spawned,
    Started,
    Panicked,
    Restarted,
    Stopped,
    Escalated,
    Enqueued,
    Handled,
    Dropped,
    Rejected,
    Expired,
    Discarded,
    Depth,
}

impl ObservedEvent<'_> {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            ObservedEvent::Spawned => EventKind::Spawned,
            ObservedEvent::Started { .. } => EventKind::Started,
            ObservedEvent::Panicked { .. } => EventKind::Panicked,
            ObservedEvent::Restarted { .. } => EventKind::Restarted,
            ObservedEvent::Stopped { .. } => EventKind::Stopped,
            ObservedEvent::Escalated { .. } => EventKind::Escalated,
            ObservedEvent::Enqueued { .. } => EventKind::Enqueued,
            ObservedEvent::Handled { .. } => EventKind::Handled,
            ObservedEvent::Dropped => EventKind::Dropped,
            ObservedEvent::Rejected => EventKind::Rejected,
            ObservedEvent::Expired => EventKind::Expired,
            ObservedEvent::Discarded { .. } => EventKind::Discarded,
            ObservedEvent::Depth { .. } => EventKind::Depth,
        }
    }
}

/// An owned copy of one event and the actor it is about, as a [`RecordingObserver`](crate::testing::RecordingObserver)
/// keeps them.
#[derive(Clone, Debug)]
pub struct Event {
    /// The actor's id.
    pub actor: ActorId,
    /// Its type name.
    pub type_name: &'static str,
    /// Its name, if it had one.
    pub actor_name: Option<StdArc<str>>,
    /// What happened, with its data.
    pub data: EventData,
}

/// The data of an owned [`Event`].
#[derive(Clone, Debug)]
#[allow(missing_docs)] // each mirrors the `ObservedEvent` variant of the same name
#[non_exhaustive]
pub enum EventData {
    Spawned,
    Started {
        incarnation: u32,
    },
    Panicked {
        message: String,
    },
    Restarted {
        incarnation: u32,
        reason: ExitReason,
    },
    Stopped {
        reason: ExitReason,
    },
    Escalated {
        reason: ExitReason,
    },
    Enqueued {
        depth: usize,
        reading: u64,
    },
    Handled {
        duration: Duration,
        depth: usize,
        reading: u64,
    },
    Dropped,
    Rejected,
    Expired,
    Discarded {
        count: u64,
    },
    Depth {
        depth: usize,
        reading: u64,
    },
}

impl Event {
    /// Copies `event` about `actor`.
    pub fn new(actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) -> Self {
        let data = match *event {
            ObservedEvent::Spawned => EventData::Spawned,
            ObservedEvent::Started { incarnation } => EventData::Started { incarnation },
            ObservedEvent::Panicked { message } => EventData::Panicked {
                message: message.to_owned(),
            },
            ObservedEvent::Restarted {
                incarnation,
                reason,
            } => EventData::Restarted {
                incarnation,
                reason: reason.clone(),
            },
            ObservedEvent::Stopped { reason } => EventData::Stopped {
                reason: reason.clone(),
            },
            ObservedEvent::Escalated { reason } => EventData::Escalated {
                reason: reason.clone(),
            },
            ObservedEvent::Enqueued { depth, reading } => EventData::Enqueued { depth, reading },
            ObservedEvent::Handled {
                duration,
                depth,
                reading,
            } => EventData::Handled {
                duration,
                depth,
                reading,
            },
            ObservedEvent::Dropped => EventData::Dropped,
            ObservedEvent::Rejected => EventData::Rejected,
            ObservedEvent::Expired => EventData::Expired,
            ObservedEvent::Discarded { count } => EventData::Discarded { count },
            ObservedEvent::Depth { depth, reading } => EventData::Depth { depth, reading },
        };
        Event {
            actor: actor.id,
            type_name: actor.type_name,
            actor_name: actor.name.map(StdArc::from),
            data,
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self.data {
            EventData::Spawned => EventKind::Spawned,
            EventData::Started { .. } => EventKind::Started,
            EventData::Panicked { .. } => EventKind::Panicked,
            EventData::Restarted { .. } => EventKind::Restarted,
            EventData::Stopped { .. } => EventKind::Stopped,
            EventData::Escalated { .. } => EventKind::Escalated,
            EventData::Enqueued { .. } => EventKind::Enqueued,
            EventData::Handled { .. } => EventKind::Handled,
            EventData::Dropped => EventKind::Dropped,
            EventData::Rejected => EventKind::Rejected,
            EventData::Expired => EventKind::Expired,
            EventData::Discarded { .. } => EventKind::Discarded,
            EventData::Depth { .. } => EventKind::Depth,
        }
    }
}

/// A system's observer, shared by its actors.
pub(crate) type SharedObserver = StdArc<dyn Observer>;

/// What an observed actor keeps (in its cell's extras): whom to tell and how to name itself.
#[derive(Clone)]
pub(crate) struct Observation {
    pub(crate) observer: SharedObserver,
    pub(crate) id: ActorId,
    pub(crate) type_name: &'static str,
}

impl Observation {
    /// Tells the observer, naming the actor `name`; contains a panic of the observer.
    pub(crate) fn tell(&self, name: Option<&str>, event: &ObservedEvent<'_>) {
        let info = ActorInfo {
            id: self.id,
            type_name: self.type_name,
            name,
        };
        let observer = &self.observer;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| observer.observe(&info, event))) {
            crate::reply::forget_panic(payload);
        }
    }
}

impl fmt::Debug for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observation")
            .field("id", &self.id)
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}
