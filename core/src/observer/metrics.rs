//! Per-actor metrics, gathered by an observer: a snapshot readable at any time.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc as StdArc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::{ActorInfo, ObservedEvent, Observer};
use crate::cell::ActorId;

/// Shards of the table, so that actors on different threads rarely share a lock.
const SHARDS: usize = 16;

/// An [`Observer`] that keeps, for each live actor of its system, what an operator asks first:
/// messages handled, mean and max handling time, queue depth and its high-water mark, drops,
/// refusals, restarts and panics. [`snapshot`](Metrics::snapshot) reads one actor's figures at
/// any time, [`all`](Metrics::all) every actor's; a supervisor's subtree is summed by
/// `playhouse_supervisor::SupervisorRef::metrics`.
///
/// Clones share the table. Give one to a system with
/// [`System::with_observer`](crate::System::with_observer) (with another observer too, as a
/// pair: `(tracing, metrics)`). An actor leaves the table when it ends (its `Stopped` event):
/// the table holds live actors only, so a system that spawns and ends many actors does not
/// grow it. An export to the `metrics` crate keeps the history (`MetricsExporter`, feature
/// `metrics`).
///
/// Cost: every event takes one of 16 locks, chosen by the actor's id, for a few additions; the
/// counts are exact, and so is the high-water mark (the depth is the mailbox's own count, read
/// under its lock, at each send, after each handled message and after messages left unhandled:
/// expired, or with an incarnation that ended). The depth shown is the one
/// its last event carried: senders and the actor's handling, on other threads, tell theirs in
/// any order, so while they race it may lag behind the mailbox until the next event (read
/// [`ActorRef::mailbox_len`](crate::ActorRef::mailbox_len) for the depth now).
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::observer::Metrics;
/// use playhouse_core::testing::{block_on, ThreadExecutor};
/// use playhouse_core::{Actor, Context, Env, Handler, System};
/// use std::convert::Infallible;
///
/// struct Echo;
/// impl Actor for Echo {
///     type Message = playhouse_core::Reply<u32>;
///     type Error = Infallible;
/// }
/// impl<V: Env> Handler<V> for Echo {
///     async fn handle(&mut self, r: Self::Message, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         let _ = r.send(1);
///         Ok(())
///     }
/// }
///
/// let metrics = Metrics::new();
/// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new())
///     .with_observer(metrics.clone());
/// let echo = system.spawn(Echo);
/// for _ in 0..4 {
///     block_on(echo.ask(|r| r)).unwrap();
/// }
/// // A handler answers before it returns, and the figures are taken when it returns: the
/// // fourth answer shows that the first three handlers are counted.
/// let m = metrics.snapshot(echo.id()).unwrap();
/// assert!(m.handled >= 3);
/// // Sends are counted by the sender, before it goes on.
/// assert_eq!((m.enqueued, m.high_water_mark), (4, 1));
/// assert!(m.max_handling >= m.mean_handling().unwrap());
/// ```
#[derive(Clone)]
pub struct Metrics {
    shards: StdArc<[Mutex<HashMap<ActorId, Tracked>>; SHARDS]>,
}

/// One actor's figures ([`Metrics::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorMetrics {
    /// The actor.
    pub actor: ActorId,
    /// Its type name.
    pub type_name: &'static str,
    /// Its name, once one was given.
    pub name: Option<StdArc<str>>,
    /// Its incarnation: 1, then one more per restart.
    pub incarnation: u32,
    /// Messages whose handler returned.
    pub handled: u64,
    /// The time their handlers took, together (the executor's clock, suspensions included).
    pub total_handling: Duration,
    /// The longest one.
    pub max_handling: Duration,
    /// Messages waiting in the mailbox, as the latest depth reading told: sends and handled
    /// messages racing may reach the table out of order, and a depth read before the one
    /// shown is left out ([`ObservedEvent::Handled`]'s `reading`).
    pub queue_depth: usize,
    /// The most messages that ever waited at once.
    pub high_water_mark: usize,
    /// Messages accepted into the mailbox.
    pub enqueued: u64,
    /// Messages dropped by the overflow strategy.
    pub dropped: u64,
    /// Sends refused by a full mailbox (handed back to their sender).
    pub rejected: u64,
    /// Messages not handled because their deadline had passed.
    pub expired: u64,
    /// Messages discarded unhandled by a restart that drained the queue
    /// ([`ObservedEvent::Discarded`]). What the actor's final end discards is counted just
    /// before the actor leaves the table, so a snapshot seldom shows it (the exporter keeps
    /// it).
    pub discarded: u64,
    /// Incarnations that ended and were followed by another.
    pub restarts: u32,
    /// Handlers or hooks that panicked.
    pub panics: u64,
}

impl ActorMetrics {
    fn new(actor: &ActorInfo<'_>) -> Self {
        Self::zeroed(actor.id, actor.type_name)
    }

    /// Figures of nothing yet, for `actor` of type `type_name`: the start of a sum
    /// ([`add`](Self::add)).
    pub fn zeroed(actor: ActorId, type_name: &'static str) -> Self {
        ActorMetrics {
            actor,
            type_name,
            name: None,
            incarnation: 1,
            handled: 0,
            total_handling: Duration::ZERO,
            max_handling: Duration::ZERO,
            queue_depth: 0,
            high_water_mark: 0,
            enqueued: 0,
            dropped: 0,
            rejected: 0,
            expired: 0,
            discarded: 0,
            restarts: 0,
            panics: 0,
        }
    }

    /// The mean handling time, once a message was handled.
    pub fn mean_handling(&self) -> Option<Duration> {
        let n = u32::try_from(self.handled).unwrap_or(u32::MAX);
        (n > 0).then(|| self.total_handling / n)
    }

    /// Adds `other`'s counts to these (for a sum over a subtree): handled, handling times
    /// (max of the maxima), depths and high-water marks, drops, refusals, expiries, discards,
    /// restarts, panics.
    pub fn add(&mut self, other: &ActorMetrics) {
        self.handled += other.handled;
        self.total_handling += other.total_handling;
        self.max_handling = self.max_handling.max(other.max_handling);
        self.queue_depth += other.queue_depth;
        self.high_water_mark = self.high_water_mark.max(other.high_water_mark);
        self.enqueued += other.enqueued;
        self.dropped += other.dropped;
        self.rejected += other.rejected;
        self.expired += other.expired;
        self.discarded += other.discarded;
        self.restarts += other.restarts;
        self.panics += other.panics;
    }

    /// Adds `event`; `reading` is the number of the depth it last kept, which a depth of a
    /// later reading replaces and an earlier one (a late sender's) does not.
    fn record(&mut self, event: &ObservedEvent<'_>, last_reading: &mut u64) {
        let mut depth_of = |depth: usize, reading: u64, kept: &mut usize| {
            if reading >= *last_reading {
                *last_reading = reading;
                *kept = depth;
            }
        };
        match *event {
            ObservedEvent::Started { incarnation } => self.incarnation = incarnation,
            ObservedEvent::Panicked { .. } => self.panics += 1,
            ObservedEvent::Restarted { incarnation, .. } => {
                self.restarts += 1;
                self.incarnation = incarnation;
            }
            ObservedEvent::Enqueued { depth, reading } => {
                self.enqueued += 1;
                depth_of(depth, reading, &mut self.queue_depth);
                self.high_water_mark = self.high_water_mark.max(depth);
            }
            ObservedEvent::Handled {
                duration,
                depth,
                reading,
            } => {
                self.handled += 1;
                self.total_handling += duration;
                self.max_handling = self.max_handling.max(duration);
                depth_of(depth, reading, &mut self.queue_depth);
            }
            ObservedEvent::Dropped => self.dropped += 1,
            ObservedEvent::Rejected => self.rejected += 1,
            ObservedEvent::Expired => self.expired += 1,
            ObservedEvent::Discarded { count } => self.discarded += count,
            ObservedEvent::Depth { depth, reading } => {
                depth_of(depth, reading, &mut self.queue_depth)
            }
            ObservedEvent::Spawned
            | ObservedEvent::Stopped { .. }
            | ObservedEvent::Escalated { .. } => {}
        }
    }
}

/// An actor's figures in the table, and the reading of the depth they show.
struct Tracked {
    metrics: ActorMetrics,
    reading: u64,
}

impl Metrics {
    /// An empty table.
    pub fn new() -> Self {
        Metrics {
            shards: StdArc::new(std::array::from_fn(|_| Mutex::new(HashMap::new()))),
        }
    }

    fn shard(&self, id: ActorId) -> std::sync::MutexGuard<'_, HashMap<ActorId, Tracked>> {
        // Ids are handed out in sequence: the low bits spread consecutive actors.
        self.shards[(id.as_u64() as usize) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `actor`'s figures, while it lives (`None` for an actor this table never saw, or that
    /// has ended).
    pub fn snapshot(&self, actor: ActorId) -> Option<ActorMetrics> {
        self.shard(actor).get(&actor).map(|t| t.metrics.clone())
    }

    /// Every live actor's figures, in no particular order.
    pub fn all(&self) -> Vec<ActorMetrics> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .map(|t| t.metrics.clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Observer for Metrics {
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) {
        let mut shard = self.shard(actor.id);
        if let ObservedEvent::Stopped { .. } = event {
            shard.remove(&actor.id);
            return;
        }
        // The entry is made by the spawn, the first event of every actor. A sender tells of
        // its send (`Enqueued`, `Dropped`, `Rejected`) after it let go of the mailbox, so that
        // event can come after the actor has ended and left the table: it makes no entry,
        // or the table would keep the ended actor for ever.
        let entry = match shard.entry(actor.id) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                if !matches!(event, ObservedEvent::Spawned) {
                    return;
                }
                slot.insert(Tracked {
                    metrics: ActorMetrics::new(actor),
                    reading: 0,
                })
            }
        };
        let Tracked { metrics, reading } = entry;
        if metrics.name.as_deref() != actor.name {
            metrics.name = actor.name.map(StdArc::from);
        }
        metrics.record(event, reading);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitReason;

    /// A sender tells of its send after it let go of the mailbox: its event can come after the
    /// actor's end. It must not bring the ended actor back into the table.
    #[test]
    fn an_event_after_the_end_makes_no_entry() {
        let metrics = Metrics::new();
        let actor = ActorInfo {
            id: ActorId::next(),
            type_name: "Late",
            name: None,
        };
        metrics.observe(&actor, &ObservedEvent::Spawned);
        metrics.observe(
            &actor,
            &ObservedEvent::Enqueued {
                depth: 1,
                reading: 1,
            },
        );
        assert_eq!(metrics.snapshot(actor.id).map(|m| m.enqueued), Some(1));
        metrics.observe(
            &actor,
            &ObservedEvent::Stopped {
                reason: &ExitReason::Normal,
            },
        );
        for late in [
            ObservedEvent::Enqueued {
                depth: 1,
                reading: 2,
            },
            ObservedEvent::Dropped,
            ObservedEvent::Rejected,
        ] {
            metrics.observe(&actor, &late);
        }
        assert!(metrics.snapshot(actor.id).is_none());
        assert!(metrics.all().is_empty(), "the ended actor stays out");
    }

    /// A send's depth that reaches the table after the depth its message's handling read (it
    /// was read first, under the mailbox's lock) does not replace it; it still counts.
    #[test]
    fn a_late_depth_does_not_replace_a_newer_one() {
        let metrics = Metrics::new();
        let actor = ActorInfo {
            id: ActorId::next(),
            type_name: "Raced",
            name: None,
        };
        metrics.observe(&actor, &ObservedEvent::Spawned);
        let handled = ObservedEvent::Handled {
            duration: Duration::ZERO,
            depth: 0,
            reading: 2,
        };
        metrics.observe(&actor, &handled);
        let late = ObservedEvent::Enqueued {
            depth: 1,
            reading: 1,
        };
        metrics.observe(&actor, &late);
        let seen = metrics.snapshot(actor.id).unwrap();
        assert_eq!((seen.queue_depth, seen.enqueued, seen.handled), (0, 1, 1));
        assert_eq!(seen.high_water_mark, 1);
    }
}
