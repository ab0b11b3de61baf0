//! The `tracing` and `metrics` features, on every executor: the `TracingObserver` reports a
//! supervised crash and restart as `tracing` events naming the actor, a handler's own events
//! are inside a `handle` span naming it, and the `MetricsExporter` records the actor's series.
//!
//! The subscriber and the recorder are process-wide (actors run on other threads), installed
//! once; each test looks only at its own actors' ids.

#![cfg(all(
    feature = "tokio",
    feature = "smol",
    feature = "std",
    feature = "tracing",
    feature = "metrics"
))]

#[macro_use]
mod common;

use ::std::collections::HashMap;
use ::std::sync::{Arc, Mutex, OnceLock};
use ::std::time::Duration;

use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use playhouse::ActorId;
use playhouse::mailbox::Bounded;
use playhouse::observer::{Metrics, MetricsExporter, TracingObserver};
use playhouse::prelude::*;
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

// ---------------------------------------------------------------------------------------------
// A subscriber that keeps every event with its fields and the fields of the spans around it.

type Fields = HashMap<String, String>;

#[derive(Clone, Debug)]
struct Captured {
    fields: Fields,
    /// The enclosing spans, innermost first: (name, fields).
    spans: Vec<(String, Fields)>,
}

#[derive(Default)]
struct Visitor(Fields);

impl tracing::field::Visit for Visitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn ::std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        let mut v = Visitor::default();
        attrs.record(&mut v);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(v.0);
        }
    }

    // No `on_record`: like a layer that formats a span once, when it is made, this one sees
    // only the fields a span is created with, so every field must be given at creation.

    fn on_event(&self, event: &tracing::Event<'_>, ctx: LayerContext<'_, S>) {
        let mut v = Visitor::default();
        event.record(&mut v);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<Fields>()
                            .cloned()
                            .unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Captured { fields: v.0, spans });
    }
}

struct Installed {
    events: Arc<Mutex<Vec<Captured>>>,
    metrics: Snapshotter,
}

/// Installs the capturing subscriber and recorder once for the whole test binary.
fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let events = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(events.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        let recorder = DebuggingRecorder::new();
        let metrics = recorder.snapshotter();
        recorder.install().expect("one recorder");
        Installed { events, metrics }
    })
}

/// The captured events about `actor` (by its `actor_id` field, or that of a span around it).
fn events_of(actor: ActorId) -> Vec<Captured> {
    let id = actor.as_u64().to_string();
    installed()
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e.fields.get("actor_id") == Some(&id)
                || e.spans.iter().any(|(_, f)| f.get("actor_id") == Some(&id))
        })
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------

/// Logs from inside its handler; panics on `Boom`.
struct Talker;

enum TMsg {
    Say(&'static str, Reply<()>),
    Boom,
}

impl Actor for Talker {
    type Message = TMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Talker {
    async fn handle(&mut self, msg: TMsg, _: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            TMsg::Say(what, reply) => {
                tracing::info!(said = what, "talker says");
                let _ = reply.send(());
            }
            TMsg::Boom => panic!("talker boom"),
        }
        Ok(())
    }
}

/// A supervised crash and restart, as `tracing` events naming the child, in order; and a
/// handler's own event inside the `handle` span that names its actor.
async fn a_crash_and_restart_as_tracing_events<E: Executor>(exec: E) {
    installed();
    let system = System::new(exec.clone()).with_observer(TracingObserver::new());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(60))
        .child(ChildSpec::new("talker", || Talker));
    let sup = within(&exec, LONG, spec.start(&system))
        .await
        .expect("started");
    let talker = within(&exec, LONG, sup.child::<Talker, Bounded>("talker"))
        .await
        .expect("the child");
    talker.tell(TMsg::Boom).await.expect("queued");
    within(&exec, LONG, talker.ask(|r| TMsg::Say("hello", r)))
        .await
        .expect("answered");
    sup.stop();
    within(&exec, LONG, talker.wait()).await;

    let events = events_of(talker.id());
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| e.fields.get("message").map(String::as_str))
        .filter(|m| !matches!(*m, "enqueued" | "handled" | "depth"))
        .collect();
    assert_eq!(
        messages,
        [
            "spawned",
            "started",
            "panicked",
            "restarted",
            "started",
            "talker says",
            "stopped"
        ],
        "{events:#?}"
    );
    let panicked = events
        .iter()
        .find(|e| e.fields.get("message").map(String::as_str) == Some("panicked"))
        .unwrap();
    assert_eq!(panicked.fields["panic"], "talker boom");
    assert_eq!(panicked.fields["actor_name"], "talker");
    let said = events
        .iter()
        .find(|e| e.fields.get("said").map(String::as_str) == Some("hello"))
        .unwrap();
    let (span, fields) = &said.spans[0];
    assert_eq!(span, "handle");
    assert_eq!(fields["actor_id"], talker.id().as_u64().to_string());
    assert_eq!(fields["actor_name"], "talker");
    assert!(fields["actor_type"].ends_with("Talker"));
}

/// The exporter's series for a named actor: handled, enqueued, restarts, panics, the handling
/// histogram and the depth gauge.
#[allow(clippy::await_holding_lock)]
async fn the_exporter_records_an_actors_series<E: Executor>(exec: E) {
    installed();
    let _one = one_exporter_test_at_a_time();
    let system = System::new(exec.clone()).with_observer(MetricsExporter::new());
    let actor = system.spawn_restartable(Talker, |_: &ExitReason| Some(Talker));
    // A name unique to this test run, so that parallel runs do not share series.
    let name = format!("exported-{}", actor.id().as_u64());
    actor.set_name(name.as_str());
    actor.tell(TMsg::Boom).await.expect("queued");
    for _ in 0..3 {
        within(&exec, LONG, actor.ask(|r| TMsg::Say("x", r)))
            .await
            .expect("answered");
    }
    actor.stop();
    within(&exec, LONG, actor.wait()).await;

    let mut counters = HashMap::new();
    let mut histogram_samples = 0;
    let mut gauges = 0;
    let mut lifecycle = HashMap::new();
    for (key, _, _, value) in installed().metrics.snapshot().into_vec() {
        let key = key.key();
        // The lifecycle series carry the type only: the actor was named after its spawn.
        if key.name().starts_with("playhouse_actors_") {
            assert!(
                key.labels().all(|l| l.key() != "actor_name"),
                "{key:?} carries a name"
            );
            if key
                .labels()
                .any(|l| l.key() == "actor_type" && l.value().ends_with("::Talker"))
            {
                lifecycle.insert(key.name().to_owned(), value);
            }
            continue;
        }
        if !key
            .labels()
            .any(|l| l.key() == "actor_name" && l.value() == name)
        {
            continue;
        }
        match value {
            DebugValue::Counter(n) => {
                *counters.entry(key.name().to_owned()).or_insert(0) += n;
            }
            DebugValue::Histogram(samples) => histogram_samples += samples.len(),
            DebugValue::Gauge(_) => gauges += 1,
        }
    }
    assert_eq!(
        counters.get("playhouse_restarts_total"),
        Some(&1),
        "{counters:?}"
    );
    assert_eq!(counters.get("playhouse_panics_total"), Some(&1));
    assert_eq!(counters.get("playhouse_messages_enqueued_total"), Some(&4));
    assert_eq!(counters.get("playhouse_messages_handled_total"), Some(&3));
    assert_eq!(histogram_samples, 3);
    assert!(gauges >= 1, "the depth gauge");
    // Spawned and ended: one of each since the last snapshot, and none left live.
    assert_eq!(
        lifecycle.get("playhouse_actors_spawned_total"),
        Some(&DebugValue::Counter(1)),
        "{lifecycle:?}"
    );
    assert_eq!(
        lifecycle.get("playhouse_actors_stopped_total"),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        lifecycle.get("playhouse_actors_live"),
        Some(&DebugValue::Gauge(0.0.into()))
    );
}

/// A snapshot of the debugging recorder takes the counts and gauges (it resets them to 0): one
/// exporter test at a time. Nothing else takes the lock, so holding it across awaits cannot
/// deadlock.
fn one_exporter_test_at_a_time() -> ::std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(::std::sync::PoisonError::into_inner)
}

/// Held in its handler until a gate opens; its other messages do nothing.
struct Holder;

enum HMsg {
    Hold(Reply<()>, futures::channel::oneshot::Receiver<()>),
    Ping(Reply<()>),
    Item,
}

impl Actor for Holder {
    type Message = HMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Holder {
    async fn handle(&mut self, msg: HMsg, _: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            HMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            HMsg::Ping(reply) => {
                let _ = reply.send(());
            }
            HMsg::Item => {}
        }
        Ok(())
    }
}

/// `Holder`'s depth gauge (its actors are unnamed: one series) in a snapshot that takes it.
fn holder_depth() -> Option<f64> {
    installed()
        .metrics
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let key = key.key();
            let holder = key
                .labels()
                .any(|l| l.key() == "actor_type" && l.value().ends_with("::Holder"));
            match value {
                DebugValue::Gauge(v) if holder && key.name() == "playhouse_mailbox_depth" => {
                    Some(v.into_inner())
                }
                _ => None,
            }
        })
}

/// The depth gauge of a series is the sum of its live actors' depths: an idle actor of the
/// type does not hide a busy one's backlog, and an actor that ended with a backlog takes it
/// back out of the series.
#[allow(clippy::await_holding_lock)]
async fn the_depth_gauge_sums_the_live_actors_and_forgets_the_ended<E: Executor>(exec: E) {
    installed();
    let _one = one_exporter_test_at_a_time();
    // `Metrics` beside the exporter, told of each event after it: what it has seen, the
    // exporter has.
    let seen = Metrics::new();
    let system = System::new(exec.clone()).with_observer((MetricsExporter::new(), seen.clone()));
    holder_depth(); // from 0, whatever earlier runs left
    let busy = system.spawn(Holder);
    let idle = system.spawn(Holder);
    let (release, gate) = futures::channel::oneshot::channel();
    within(&exec, LONG, busy.ask(|r| HMsg::Hold(r, gate)))
        .await
        .expect("held");
    for _ in 0..3 {
        busy.tell(HMsg::Item).await.expect("queued");
    }
    // The idle actor's events come last, with depth 0 (its handler answers before it returns:
    // waited for until the observers have its `Handled`).
    within(&exec, LONG, idle.ask(HMsg::Ping))
        .await
        .expect("answered");
    eventually(&exec, "the idle actor's Handled", || {
        seen.snapshot(idle.id()).is_some_and(|m| m.handled == 1)
    })
    .await;
    assert_eq!(holder_depth(), Some(3.0), "the busy actor's backlog");
    // The snapshot reset the gauge to 0 (a debugging recorder's): the exporter's next set of
    // the series puts the total back, whatever the recorder did to it.

    // Killed with its backlog, it ends without handling it.
    busy.kill();
    idle.stop();
    within(&exec, LONG, busy.wait()).await;
    within(&exec, LONG, idle.wait()).await;
    drop(release);
    assert_eq!(holder_depth(), Some(0.0), "nothing waits in an ended actor");
}

executor_tests!(
    a_crash_and_restart_as_tracing_events,
    the_exporter_records_an_actors_series,
    the_depth_gauge_sums_the_live_actors_and_forgets_the_ended,
);
