//! Events recorded into the `metrics` crate (feature `metrics`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::{ActorInfo, ObservedEvent, Observer};
use crate::cell::ActorId;

/// An [`Observer`] that records actor figures into the [`metrics`] crate's global recorder, so
/// that a Prometheus (or StatsD, or any `metrics` exporter) setup gets them as it gets the
/// rest of the program's. Install the exporter as usual (`metrics_exporter_prometheus`'s
/// builder, for example), then give this to the system.
///
/// Labelled by `actor_type` (the Rust type name) and, for a named actor
/// ([`ActorRef::set_name`](crate::ActorRef::set_name); a supervised child is named after its
/// child id), `actor_name`; not by id, so that the series do not grow with every actor ever
/// spawned. The lifecycle series (spawned, stopped, live) carry `actor_type` only: an actor is
/// named after it is spawned, so a name would put its spawn and its end on different series
/// (and leave the live gauge at +1 on one and −1 on the other).
///
/// | metric | kind | on |
/// | --- | --- | --- |
/// | `playhouse_actors_spawned_total` | counter | spawn |
/// | `playhouse_actors_stopped_total` (`reason`: normal, shutdown, killed, failed, panicked) | counter | the final end |
/// | `playhouse_actors_live` | gauge | spawn (+1) and end (−1) |
/// | `playhouse_restarts_total`, `playhouse_panics_total`, `playhouse_escalations_total` | counter | each |
/// | `playhouse_messages_enqueued_total` | counter | each accepted send |
/// | `playhouse_messages_handled_total` | counter | each handler that returned |
/// | `playhouse_handling_seconds` | histogram | each handler that returned |
/// | `playhouse_mailbox_depth` | gauge: the sum of the depths of the series' live actors | each send, handled message, expiry and restart, and the end |
/// | `playhouse_messages_dropped_total`, `_rejected_total`, `_expired_total` | counter | each |
/// | `playhouse_messages_discarded_total` | counter | messages discarded unhandled as an incarnation ended (by their number) |
///
/// A name is a label value, so actors named one by one make one series each: a supervised
/// child is named after its child id, and a `Pool`'s members get ids that count up as it
/// grows and shrinks (`workers#0`, `workers#1`, ...), so an autoscaling pool adds series
/// without end. Leave such actors to [`Metrics`](super::Metrics), or give the exporter only a
/// system whose actors are named alike.
///
/// The depth gauge is a sum, as the live gauge is: the actors of one type (and name) share a
/// series, so the exporter keeps each actor's last depth and each series' total, and sets the
/// gauge to the total; an actor's end takes its depth back out. So the series reads the
/// messages waiting in all its live actors' mailboxes, and 0 once they have ended. A sender
/// tells of its send after it let go of the mailbox, so its depth can reach the exporter after
/// a newer one (or after the actor's end): it is left out, by its reading
/// ([`ObservedEvent::Handled`]'s `reading`).
///
/// Cost per event: the event's label list is built (one allocation, and one more for a named
/// actor's name), and each series the event records but the last takes a copy of it for the
/// `metrics` crate's key (a send records two series, a handled message three), whether or not a
/// recorder is installed; then the recorder's own lookup of the series. A send and a handled
/// message also take one of 16 locks, chosen by the actor's id, to update the actor's last
/// depth, and when it changed, one of 16 chosen by the series, to update its total.
/// [`Metrics`](super::Metrics) allocates nothing per message.
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::observer::{Metrics, MetricsExporter};
/// use playhouse_core::testing::ThreadExecutor;
/// use playhouse_core::System;
///
/// // Both: snapshots in the program, and the export.
/// let metrics = Metrics::new();
/// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new())
///     .with_observer((MetricsExporter::new(), metrics.clone()));
/// # drop(system);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsExporter {
    _private: (),
}

impl MetricsExporter {
    /// An exporter into the global `metrics` recorder.
    pub fn new() -> Self {
        MetricsExporter::default()
    }
}

/// The depth record of the process: the recorder is the process's, and so are actor ids, so
/// every exporter (of every system) adds to the same totals. An event told twice (two
/// exporters on one system) changes nothing the second time: its reading is not newer.
fn depths() -> &'static Depths {
    static DEPTHS: OnceLock<Depths> = OnceLock::new();
    DEPTHS.get_or_init(Depths::default)
}

/// Shards of the depth record, so that actors on different threads rarely share a lock.
const SHARDS: usize = 16;

/// Each live actor's last depth and the series it is counted in, and each series' total.
///
/// The gauge is set to the series' total, kept here, rather than moved by increments: a
/// recorder installed late, or one that drops an idle series, would otherwise read it wrong
/// until every actor of the series had ended. Locks: an actor's shard, then (inside it) its
/// series' shard, never the other way round. The gauge is set under them (so that the sets
/// of a series reach the recorder in the order of its totals): a recorder must not send to
/// an actor of an observed system from its gauge handle, which would come back here.
#[derive(Default)]
struct Depths {
    actors: [Mutex<HashMap<ActorId, Depth>>; SHARDS],
    series: [Mutex<HashMap<Vec<metrics::Label>, usize>>; SHARDS],
}

struct Depth {
    labels: Vec<metrics::Label>,
    value: usize,
    /// The reading `value` came with ([`ObservedEvent::Handled`]'s `reading`).
    reading: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Depths {
    fn actor(&self, id: ActorId) -> std::sync::MutexGuard<'_, HashMap<ActorId, Depth>> {
        lock(&self.actors[(id.as_u64() as usize) % SHARDS])
    }

    /// Moves one actor's share of the series `labels` from `from` to `to`, and sets the gauge
    /// to the series' new total under the series' lock (so that sets reach the recorder in
    /// the order the totals were made).
    fn change(&self, labels: &[metrics::Label], from: usize, to: usize) {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(labels);
        let mut series = lock(&self.series[(hash as usize) % SHARDS]);
        let total = match series.get_mut(labels) {
            Some(total) => total,
            None => series.entry(labels.to_vec()).or_insert(0),
        };
        *total = (*total + to).saturating_sub(from);
        let now = *total;
        metrics::gauge!("playhouse_mailbox_depth", labels.to_vec()).set(now as f64);
        if now == 0 {
            series.remove(labels);
        }
    }

    /// The actor was spawned: it counts, with nothing waiting.
    fn spawned(&self, actor: &ActorInfo<'_>) {
        let depth = Depth {
            labels: labels(actor),
            value: 0,
            reading: 0,
        };
        self.actor(actor.id).insert(actor.id, depth);
    }

    /// The actor told of its depth at reading `reading`: its series gets the change. Nothing
    /// for an actor that has ended, nor for a depth read before the one it last told (a
    /// sender's, reaching the exporter late).
    fn set(&self, actor: &ActorInfo<'_>, labels: &[metrics::Label], value: usize, reading: u64) {
        let mut actors = self.actor(actor.id);
        let Some(last) = actors.get_mut(&actor.id) else {
            return;
        };
        if reading < last.reading || (reading == last.reading && value == last.value) {
            return;
        }
        if last.labels.as_slice() != labels {
            // Named since its last event: its depth moves to the named series.
            self.change(&last.labels, last.value, 0);
            self.change(labels, 0, value);
            last.labels = labels.to_vec();
        } else if value != last.value {
            self.change(labels, last.value, value);
        }
        last.value = value;
        last.reading = reading;
    }

    /// The actor ended: its last depth leaves its series.
    fn ended(&self, actor: &ActorInfo<'_>) {
        let mut actors = self.actor(actor.id);
        if let Some(last) = actors.remove(&actor.id) {
            if last.value > 0 {
                self.change(&last.labels, last.value, 0);
            }
        }
    }
}

/// The labels of `actor`'s lifecycle series: its type only, known from its spawn.
fn type_label(actor: &ActorInfo<'_>) -> Vec<metrics::Label> {
    vec![metrics::Label::new("actor_type", actor.type_name)]
}

/// The labels of `actor`'s other series.
fn labels(actor: &ActorInfo<'_>) -> Vec<metrics::Label> {
    let mut labels = vec![metrics::Label::new("actor_type", actor.type_name)];
    if let Some(name) = actor.name {
        labels.push(metrics::Label::new("actor_name", name.to_owned()));
    }
    labels
}

fn reason_label(reason: &crate::ExitReason) -> &'static str {
    match reason {
        crate::ExitReason::Normal => "normal",
        crate::ExitReason::Shutdown(_) => "shutdown",
        crate::ExitReason::Killed => "killed",
        crate::ExitReason::Failed(_) => "failed",
        crate::ExitReason::Panicked(_) => "panicked",
    }
}

impl Observer for MetricsExporter {
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) {
        match *event {
            ObservedEvent::Spawned => {
                let labels = type_label(actor);
                metrics::counter!("playhouse_actors_spawned_total", labels.clone()).increment(1);
                metrics::gauge!("playhouse_actors_live", labels).increment(1.0);
                depths().spawned(actor);
                return;
            }
            ObservedEvent::Stopped { reason } => {
                let labels = type_label(actor);
                let mut with_reason = labels.clone();
                with_reason.push(metrics::Label::new("reason", reason_label(reason)));
                metrics::counter!("playhouse_actors_stopped_total", with_reason).increment(1);
                metrics::gauge!("playhouse_actors_live", labels).decrement(1.0);
                depths().ended(actor);
                return;
            }
            _ => {}
        }
        let labels = labels(actor);
        match *event {
            ObservedEvent::Spawned | ObservedEvent::Stopped { .. } => {}
            ObservedEvent::Started { .. } => {}
            ObservedEvent::Panicked { .. } => {
                metrics::counter!("playhouse_panics_total", labels).increment(1)
            }
            ObservedEvent::Restarted { .. } => {
                metrics::counter!("playhouse_restarts_total", labels).increment(1)
            }
            ObservedEvent::Escalated { .. } => {
                metrics::counter!("playhouse_escalations_total", labels).increment(1)
            }
            ObservedEvent::Enqueued { depth, reading } => {
                depths().set(actor, &labels, depth, reading);
                metrics::counter!("playhouse_messages_enqueued_total", labels).increment(1);
            }
            ObservedEvent::Handled {
                duration,
                depth,
                reading,
            } => {
                metrics::counter!("playhouse_messages_handled_total", labels.clone()).increment(1);
                depths().set(actor, &labels, depth, reading);
                metrics::histogram!("playhouse_handling_seconds", labels)
                    .record(duration.as_secs_f64());
            }
            ObservedEvent::Dropped => {
                metrics::counter!("playhouse_messages_dropped_total", labels).increment(1)
            }
            ObservedEvent::Rejected => {
                metrics::counter!("playhouse_messages_rejected_total", labels).increment(1)
            }
            ObservedEvent::Expired => {
                metrics::counter!("playhouse_messages_expired_total", labels).increment(1)
            }
            ObservedEvent::Discarded { count } => {
                metrics::counter!("playhouse_messages_discarded_total", labels).increment(count)
            }
            ObservedEvent::Depth { depth, reading } => depths().set(actor, &labels, depth, reading),
        }
    }
}
