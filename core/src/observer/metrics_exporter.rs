//! Events recorded into the `metrics` crate (feature `metrics`).

use super::{ActorInfo, ObservedEvent, Observer};

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
/// | `playhouse_mailbox_depth` | gauge | each send and handled message |
/// | `playhouse_messages_dropped_total`, `_rejected_total`, `_expired_total` | counter | each |
///
/// A name is a label value, so actors named one by one make one series each: a supervised
/// child is named after its child id, and a `Pool`'s members get ids that count up as it
/// grows and shrinks (`workers#0`, `workers#1`, ...), so an autoscaling pool adds series
/// without end. Leave such actors to [`Metrics`](super::Metrics), or give the exporter only a
/// system whose actors are named alike.
///
/// Cost per event: the event's label list is built (one allocation, and one more for a named
/// actor's name), and each series the event records but the last takes a copy of it for the
/// `metrics` crate's key (a send records two series, a handled message three), whether or not a
/// recorder is installed; then the recorder's own lookup of the series.
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
                return;
            }
            ObservedEvent::Stopped { reason } => {
                let labels = type_label(actor);
                let mut with_reason = labels.clone();
                with_reason.push(metrics::Label::new("reason", reason_label(reason)));
                metrics::counter!("playhouse_actors_stopped_total", with_reason).increment(1);
                metrics::gauge!("playhouse_actors_live", labels).decrement(1.0);
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
            ObservedEvent::Enqueued { depth } => {
                metrics::counter!("playhouse_messages_enqueued_total", labels.clone()).increment(1);
                metrics::gauge!("playhouse_mailbox_depth", labels).set(depth as f64);
            }
            ObservedEvent::Handled { duration, depth } => {
                metrics::counter!("playhouse_messages_handled_total", labels.clone()).increment(1);
                metrics::histogram!("playhouse_handling_seconds", labels.clone())
                    .record(duration.as_secs_f64());
                metrics::gauge!("playhouse_mailbox_depth", labels).set(depth as f64);
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
        }
    }
}
