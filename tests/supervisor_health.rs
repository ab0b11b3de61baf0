//! Health checks: a probe that a supervisor runs on a child every interval, a failed, panicking
//! or timed-out probe counting as a failure of the child, which its spec then handles as any
//! other abnormal exit (restart type, strategy, restart intensity). Every test runs on every
//! executor, under a virtual clock (`VirtualTime`): probes fall due when the test moves the
//! clock, so nothing depends on real timing.
//!
//! Moving the clock is safe once the test has seen the effect of the last probe (its report in
//! `which_children`, or an event): the probe task computes its next deadline from the schedule
//! before it reports, so a clock moved early makes the next probe due at once, never late.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::sync::Arc;
use ::std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use ::std::time::Duration;

use common::*;
use playhouse::BoxError;
use playhouse::mailbox::{Block, Bounded, Unbounded};
use playhouse::prelude::*;
use playhouse::supervisor::{
    ChildSpec, ChildState, EventKind, Events, HealthCheck, HealthCheckFailed, HealthStatus,
    ProbeFailure, ProbeOutcome, RestartType, Shutdown, StartError, Strategy, SupervisorError,
    SupervisorEvent, SupervisorRef, SupervisorSpec,
};
use playhouse::testing::VirtualTime;

type Vt<E> = VirtualTime<E>;
type Sup<E> = SupervisorRef<Vt<E>>;
type PatientRef = ActorRef<Patient, Bounded<Block>>;

/// The probe interval of every test.
const EVERY: Duration = Duration::from_secs(10);
/// The probe timeout of every test.
const WITHIN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Helpers

fn setup<E: Executor>(exec: &E) -> (Vt<E>, System<Vt<E>>) {
    let vt = VirtualTime::new(exec.clone());
    let system = System::new(vt.clone());
    (vt, system)
}

/// An event as `"<child> <what>"`.
fn event_str(e: &SupervisorEvent) -> String {
    let what = match &e.kind {
        EventKind::Started => "started".to_string(),
        EventKind::Restarted { incarnation } => format!("restarted {incarnation}"),
        EventKind::Stopped { reason } => format!("stopped {reason}"),
        EventKind::StartFailed { cause } => format!("start-failed {cause}"),
        EventKind::Escalated { .. } => "escalated".to_string(),
        EventKind::AutoShutdown => "auto-shutdown".to_string(),
        EventKind::HealthCheckFailed {
            cause,
            consecutive_failures,
        } => format!("health-check-failed #{consecutive_failures} {cause}"),
    };
    format!("{} {what}", e.child.as_deref().unwrap_or("-"))
}

/// Reads the next `expected.len()` events (each within [`LONG`]) and compares them.
async fn expect_events<E: Executor>(exec: &E, events: &Events, expected: &[&str]) {
    let mut got = Vec::new();
    for _ in expected {
        let event = within(exec, LONG, events.recv())
            .await
            .expect("the event stream ended");
        got.push(event_str(&event));
    }
    assert_eq!(got, expected, "events");
}

/// The events already emitted.
fn drain(events: &Events) -> Vec<String> {
    ::std::iter::from_fn(|| events.try_recv())
        .map(|e| event_str(&e))
        .collect()
}

/// Child `id`'s health as `which_children` reports it.
async fn health<E: Executor>(sup: &Sup<E>, id: &str) -> HealthStatus {
    let children = sup.which_children().await.expect("which_children");
    let child = children
        .into_iter()
        .find(|c| &*c.id == id)
        .expect("the child is listed");
    child.health.expect("the child has a health check")
}

/// Waits (polling, at most [`LONG`] of real time) until child `id` has finished `n` probes.
async fn probes_done<E: Executor, V: Executor>(
    exec: &E,
    sup: &SupervisorRef<V>,
    id: &str,
    n: u64,
) -> HealthStatus {
    let deadline = ::std::time::Instant::now() + LONG;
    loop {
        let children = sup.which_children().await.expect("which_children");
        let status = children
            .into_iter()
            .find(|c| &*c.id == id)
            .and_then(|c| c.health)
            .expect("a health-checked child");
        if status.probes >= n {
            assert_eq!(status.probes, n, "more probes than the clock allows");
            return status;
        }
        assert!(
            ::std::time::Instant::now() < deadline,
            "timed out waiting for probe {n} of {id} ({status:?})"
        );
        sleep(exec, Duration::from_millis(2)).await;
    }
}

/// Waits until the probe task (the only thing sleeping on the virtual clock) is waiting for
/// its next probe, or until nothing sleeps (`n = 0`).
async fn sleeping<E: Executor>(exec: &E, vt: &Vt<E>, n: usize) {
    eventually(exec, "the virtual clock's sleepers", || vt.sleeping() == n).await;
}

// ---------------------------------------------------------------------------------------------
// Patient: a child that answers pings with its incarnation, and can be made to hang.

struct Patient;

enum PMsg {
    /// Answers with the incarnation.
    Ping(Reply<u32>),
    /// Answers, then waits for ever: the actor is wedged.
    Hang(Reply<()>),
}

impl Actor for Patient {
    type Message = PMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Patient {
    async fn handle(&mut self, msg: PMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            PMsg::Ping(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
            PMsg::Hang(reply) => {
                let _ = reply.send(());
                ::std::future::pending::<()>().await;
            }
        }
        Ok(())
    }
}

/// What the test makes the probe do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Mode {
    /// Ping the child (times out when the child hangs).
    Ping = 0,
    /// Return `Err("sick")`.
    Fail = 1,
    /// Panic with "probe boom".
    Panic = 2,
}

/// The probe's controls and counters, shared with the test.
#[derive(Default)]
struct Doctor {
    mode: AtomicU8,
    /// Probes begun.
    begun: AtomicUsize,
}

impl Doctor {
    fn new() -> Arc<Self> {
        Arc::default()
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn begun(&self) -> usize {
        self.begun.load(Ordering::SeqCst)
    }

    /// The check: every [`EVERY`], within [`WITHIN`], doing what the mode says.
    fn check(self: &Arc<Self>) -> HealthCheck<Patient> {
        let doctor = self.clone();
        HealthCheck::new(EVERY, WITHIN, move |patient: PatientRef| {
            let doctor = doctor.clone();
            async move {
                doctor.begun.fetch_add(1, Ordering::SeqCst);
                match doctor.mode.load(Ordering::SeqCst) {
                    0 => {
                        patient.ask(PMsg::Ping).await?;
                    }
                    1 => return Err::<(), BoxError>("sick".into()),
                    _ => panic!("probe boom"),
                }
                Ok(())
            }
        })
    }
}

fn patient(id: &'static str, doctor: &Arc<Doctor>) -> ChildSpec<Patient> {
    ChildSpec::new(id, || Patient).health_check(doctor.check())
}

async fn patient_ref<E: Executor>(sup: &Sup<E>, id: &str) -> PatientRef {
    sup.child::<Patient, Bounded<Block>>(id)
        .await
        .expect("a running patient")
}

async fn incarnation(p: &PatientRef) -> u32 {
    p.ask(PMsg::Ping).await.expect("the patient answers")
}

// =============================================================================================
// 1. Healthy

/// A healthy child is probed every interval and keeps running: the probe count grows, the
/// status says healthy (at the virtual time of the probe), nothing fails and nothing restarts.
/// No probe runs before its interval has passed.
async fn a_healthy_child_is_probed_and_keeps_running<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne).child(patient("p", &doctor));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let p = patient_ref(&sup, "p").await;
    let start = vt.now();

    sleeping(&exec, &vt, 1).await;
    let status = health(&sup, "p").await;
    assert!(matches!(status.last, ProbeOutcome::NotProbed), "{status:?}");
    assert_eq!((status.probes, status.failures), (0, 0));
    assert_eq!(status.healthy(), None);

    vt.advance(EVERY - Duration::from_millis(1));
    assert_eq!(health(&sup, "p").await.probes, 0, "a probe ran early");
    vt.advance(Duration::from_millis(1));
    for n in 1..=3u64 {
        let status = probes_done(&exec, &sup, "p", n).await;
        assert_eq!(status.healthy(), Some(true));
        assert_eq!((status.failures, status.consecutive_failures), (0, 0));
        match status.last {
            ProbeOutcome::Passed { at } => assert_eq!(at - start, EVERY * n as u32),
            other => panic!("expected a pass, got {other:?}"),
        }
        vt.advance(EVERY);
    }
    probes_done(&exec, &sup, "p", 4).await;
    assert_eq!(doctor.begun(), 4);
    assert_eq!(incarnation(&p).await, 1, "never restarted");
    assert_eq!(drain(&events), ["p started"]);

    sup.stop();
    assert!(within(&exec, LONG, sup.wait()).await.is_normal());
}

/// A child without a health check reports none.
async fn a_child_without_a_check_reports_no_health<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(ChildSpec::new("plain", || Patient))
        // The probe's argument is inferred from the spec: an `ActorRef<Patient>`.
        .child(
            ChildSpec::new("checked", || Patient).health_check(HealthCheck::new(
                EVERY,
                WITHIN,
                |p| async move { p.ask(PMsg::Ping).await },
            )),
        )
        .start(&system)
        .await
        .expect("started");
    let children = sup.which_children().await.unwrap();
    let by_id = |id: &str| {
        children
            .iter()
            .find(|c| &*c.id == id)
            .unwrap()
            .health
            .clone()
    };
    assert!(by_id("plain").is_none());
    assert!(by_id("checked").is_some());
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

// =============================================================================================
// 2. A failed probe is a failure of the child

/// A probe that returns `Err` fails a permanent child: its incarnation ends with
/// `Failed(HealthCheckFailed)`, and it is restarted behind the same reference. The events say
/// so in order; its probes start afresh with the new incarnation.
async fn a_failed_probe_restarts_a_permanent_child<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne).child(patient("p", &doctor));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let p = patient_ref(&sup, "p").await;
    expect_events(&exec, &events, &["p started"]).await;

    doctor.set(Mode::Fail);
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    expect_events(
        &exec,
        &events,
        &[
            "p health-check-failed #1 sick",
            "p stopped failed: health check of child \"p\" failed: sick",
            "p restarted 2",
        ],
    )
    .await;

    // Same reference, next incarnation.
    assert_eq!(patient_ref(&sup, "p").await, p);
    assert_eq!(incarnation(&p).await, 2);
    let status = health(&sup, "p").await;
    assert_eq!((status.probes, status.failures), (1, 1));
    assert_eq!(
        status.consecutive_failures, 0,
        "a new incarnation starts the count again"
    );
    match &status.last {
        ProbeOutcome::Failed {
            cause: ProbeFailure::Error(e),
            ..
        } => assert_eq!(e.to_string(), "sick"),
        other => panic!("expected the failure, got {other:?}"),
    }

    // Healthy again: probed one interval after the restart.
    doctor.set(Mode::Ping);
    vt.advance(EVERY);
    let status = probes_done(&exec, &sup, "p", 2).await;
    assert_eq!(status.healthy(), Some(true));
    assert_eq!(incarnation(&p).await, 2);
    assert!(drain(&events).is_empty());

    sup.stop();
    assert!(within(&exec, LONG, sup.wait()).await.is_normal());
}

/// The exit reason of a child failed by its health check carries a typed
/// [`HealthCheckFailed`]: the child, the cause and the failures in a row. A transient child is
/// restarted too (the exit is abnormal).
async fn the_exit_reason_is_a_typed_health_check_failure<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let reasons = Arc::new(::std::sync::Mutex::new(Vec::<ExitReason>::new()));
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(patient("t", &doctor).restart(RestartType::Transient));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    doctor.set(Mode::Fail);
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    loop {
        let event = within(&exec, LONG, events.recv()).await.unwrap();
        match event.kind {
            EventKind::Stopped { reason } => reasons.lock().unwrap().push(reason),
            EventKind::Restarted { incarnation } => {
                assert_eq!(incarnation, 2);
                break;
            }
            _ => {}
        }
    }
    let reasons = reasons.lock().unwrap().clone();
    assert_eq!(reasons.len(), 1);
    assert!(!reasons[0].is_normal());
    let failed = reasons[0]
        .error()
        .and_then(|e| e.downcast_ref::<HealthCheckFailed>())
        .expect("a HealthCheckFailed");
    assert_eq!(&*failed.child, "t");
    assert_eq!(failed.consecutive_failures, 1);
    assert!(matches!(failed.cause, ProbeFailure::Error(_)));
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A probe that does not finish within its timeout counts as a failure. Here the child is
/// wedged (its handler never returns), so the probe's ask gets no answer: at the timeout the
/// supervisor ends the incarnation (cutting the wedged handler) and restarts the child, which
/// answers again. While the probe hangs the supervisor serves API calls.
async fn a_hanging_probe_times_out_and_counts_as_a_failure<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne).child(patient("p", &doctor));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let p = patient_ref(&sup, "p").await;
    expect_events(&exec, &events, &["p started"]).await;
    within(&exec, LONG, p.ask(PMsg::Hang)).await.unwrap();

    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    // The probe has begun, and waits on its timeout.
    eventually(&exec, "the probe to begin", || doctor.begun() == 1).await;
    sleeping(&exec, &vt, 1).await;
    // The supervisor is not blocked by the probe.
    let status = health(&sup, "p").await;
    assert_eq!(status.probes, 0);
    assert_eq!(sup.count_children().await.unwrap().active, 1);
    vt.advance(WITHIN - Duration::from_millis(1));
    assert_eq!(health(&sup, "p").await.probes, 0, "timed out early");
    vt.advance(Duration::from_millis(1));
    expect_events(
        &exec,
        &events,
        &[
            "p health-check-failed #1 timed out after 1s",
            "p stopped failed: health check of child \"p\" failed: timed out after 1s",
            "p restarted 2",
        ],
    )
    .await;
    let status = health(&sup, "p").await;
    assert!(
        matches!(status.last, ProbeOutcome::Failed { cause: ProbeFailure::TimedOut(d), .. } if d == WITHIN),
        "{status:?}"
    );
    // The restarted child answers (the queued ping of the timed-out probe included).
    assert_eq!(within(&exec, LONG, incarnation(&p)).await, 2);
    vt.advance(EVERY);
    assert_eq!(probes_done(&exec, &sup, "p", 2).await.healthy(), Some(true));

    sup.stop();
    assert!(within(&exec, LONG, sup.wait()).await.is_normal());
}

/// A probe that panics counts as a failure, and does not harm the supervisor.
async fn a_panicking_probe_counts_as_a_failure<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne).child(patient("p", &doctor));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    expect_events(&exec, &events, &["p started"]).await;
    doctor.set(Mode::Panic);
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    expect_events(
        &exec,
        &events,
        &[
            "p health-check-failed #1 the probe panicked: probe boom",
            "p stopped failed: health check of child \"p\" failed: the probe panicked: probe boom",
            "p restarted 2",
        ],
    )
    .await;
    assert!(sup.is_alive());
    sup.stop();
    assert!(within(&exec, LONG, sup.wait()).await.is_normal());
}

/// With `failure_threshold(3)`, two failed probes in a row leave the child running (the status
/// counts them, each is an event), a pass starts the count again, and the third failure in a
/// row restarts it.
async fn the_failure_threshold_counts_failures_in_a_row<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(ChildSpec::new("p", || Patient).health_check(doctor.check().failure_threshold(3)));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let p = patient_ref(&sup, "p").await;
    expect_events(&exec, &events, &["p started"]).await;
    sleeping(&exec, &vt, 1).await;

    doctor.set(Mode::Fail);
    vt.advance(EVERY);
    expect_events(&exec, &events, &["p health-check-failed #1 sick"]).await;
    probes_done(&exec, &sup, "p", 1).await;
    vt.advance(EVERY);
    expect_events(&exec, &events, &["p health-check-failed #2 sick"]).await;
    let status = probes_done(&exec, &sup, "p", 2).await;
    assert_eq!((status.consecutive_failures, status.failures), (2, 2));
    assert_eq!(incarnation(&p).await, 1, "still the first incarnation");

    doctor.set(Mode::Ping);
    vt.advance(EVERY);
    let status = probes_done(&exec, &sup, "p", 3).await;
    assert_eq!((status.consecutive_failures, status.failures), (0, 2));

    doctor.set(Mode::Fail);
    for n in 1..=2 {
        vt.advance(EVERY);
        let status = probes_done(&exec, &sup, "p", 3 + n).await;
        assert_eq!(status.consecutive_failures, n as u32);
    }
    assert_eq!(incarnation(&p).await, 1);
    assert_eq!(
        drain(&events),
        [
            "p health-check-failed #1 sick",
            "p health-check-failed #2 sick"
        ]
    );
    vt.advance(EVERY);
    expect_events(
        &exec,
        &events,
        &[
            "p health-check-failed #3 sick",
            "p stopped failed: health check of child \"p\" failed 3 times in a row: sick",
            "p restarted 2",
        ],
    )
    .await;
    assert_eq!(incarnation(&p).await, 2);
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

// =============================================================================================
// 3. The spec handles the failure: restart type, strategy, intensity

/// A temporary child failing its probe is not restarted: its spec is removed, and no probe of
/// it runs any more.
async fn a_temporary_child_failing_its_probe_is_not_restarted<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(patient("tmp", &doctor).restart(RestartType::Temporary));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let p = patient_ref(&sup, "tmp").await;
    expect_events(&exec, &events, &["tmp started"]).await;
    doctor.set(Mode::Fail);
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    expect_events(
        &exec,
        &events,
        &[
            "tmp health-check-failed #1 sick",
            "tmp stopped failed: health check of child \"tmp\" failed: sick",
        ],
    )
    .await;
    let reason = within(&exec, LONG, p.wait()).await;
    assert!(reason.error().unwrap().is::<HealthCheckFailed>());
    assert!(sup.which_children().await.unwrap().is_empty());
    sleeping(&exec, &vt, 0).await;
    vt.advance(EVERY * 3);
    assert_eq!(doctor.begun(), 1);
    assert!(drain(&events).is_empty());
    assert!(sup.is_alive());
    sup.stop();
    assert!(within(&exec, LONG, sup.wait()).await.is_normal());
}

/// Under `OneForAll` a child's failed probe restarts its siblings too, as any failure does;
/// the sibling's own probes start afresh with its new incarnation.
async fn a_failed_probe_follows_the_strategy<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let sick = Doctor::new();
    let well = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForAll)
        .child(patient("a", &well))
        .child(patient("b", &sick));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let a = patient_ref(&sup, "a").await;
    expect_events(&exec, &events, &["a started", "b started"]).await;
    sick.set(Mode::Fail);
    sleeping(&exec, &vt, 2).await;
    vt.advance(EVERY);
    // `a`'s probe and `b`'s run at the same time; `b`'s failure restarts both.
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("b restarted 2") {
        let event = within(&exec, LONG, events.recv()).await.unwrap();
        got.push(event_str(&event));
    }
    assert_eq!(
        got,
        [
            "b health-check-failed #1 sick",
            "b stopped failed: health check of child \"b\" failed: sick",
            "a stopped shut down",
            "a restarted 2",
            "b restarted 2",
        ]
    );
    assert_eq!(incarnation(&a).await, 2);
    sick.set(Mode::Ping);
    // Both are probed one interval after the group restart.
    let a_before = health(&sup, "a").await.probes;
    vt.advance(EVERY);
    probes_done(&exec, &sup, "a", a_before + 1).await;
    probes_done(&exec, &sup, "b", 2).await;
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// Each failed probe that restarts the child counts toward the restart intensity: past it the
/// supervisor escalates (stops its children, exits with `Shutdown`).
async fn repeated_failures_exceed_the_intensity_and_escalate<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(60))
        .child(patient("p", &doctor));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    expect_events(&exec, &events, &["p started"]).await;
    doctor.set(Mode::Fail);
    sleeping(&exec, &vt, 1).await;
    for n in 2..=3 {
        vt.advance(EVERY);
        expect_events(
            &exec,
            &events,
            &[
                "p health-check-failed #1 sick",
                "p stopped failed: health check of child \"p\" failed: sick",
                &format!("p restarted {n}"),
            ],
        )
        .await;
    }
    vt.advance(EVERY);
    expect_events(
        &exec,
        &events,
        &[
            "p health-check-failed #1 sick",
            "p stopped failed: health check of child \"p\" failed: sick",
            "- escalated",
        ],
    )
    .await;
    let reason = within(&exec, LONG, sup.wait()).await;
    assert!(
        matches!(&reason, ExitReason::Shutdown(Some(info)) if &**info == "reached max restart intensity"),
        "{reason:?}"
    );
    sleeping(&exec, &vt, 0).await;
    assert_eq!(doctor.begun(), 3);
}

// =============================================================================================
// 4. Probes run only while the child runs

/// `terminate_child` stops the probes: none runs afterwards, however far the clock moves.
/// `restart_child` starts them again.
async fn probes_stop_when_the_child_is_terminated<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(patient("p", &doctor))
        .start(&system)
        .await
        .expect("started");
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    probes_done(&exec, &sup, "p", 1).await;

    sup.terminate_child("p").await.unwrap();
    sleeping(&exec, &vt, 0).await;
    vt.advance(EVERY * 5);
    sleep(&exec, Duration::from_millis(20)).await;
    assert_eq!(doctor.begun(), 1, "a probe ran after terminate_child");
    let children = sup.which_children().await.unwrap();
    assert_eq!(children[0].state, ChildState::Stopped);
    assert_eq!(
        children[0].health.as_ref().unwrap().probes,
        1,
        "the status is kept"
    );

    sup.restart_child("p").await.unwrap();
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    probes_done(&exec, &sup, "p", 2).await;
    assert_eq!(doctor.begun(), 2);
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// Stopping the supervisor stops the probes, a hanging one included: none runs afterwards.
async fn probes_stop_when_the_supervisor_stops<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let doctor = Doctor::new();
    let hung = Doctor::new();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(patient("p", &doctor))
        // Wedged below: killed at once rather than waited for.
        .child(patient("h", &hung).shutdown(Shutdown::Brutal))
        .start(&system)
        .await
        .expect("started");
    let h = patient_ref(&sup, "h").await;
    within(&exec, LONG, h.ask(PMsg::Hang)).await.unwrap();
    sleeping(&exec, &vt, 2).await;
    vt.advance(EVERY);
    probes_done(&exec, &sup, "p", 1).await;
    eventually(&exec, "h's probe to begin", || hung.begun() == 1).await;

    // `h`'s probe hangs on its timeout; stopping the supervisor cuts it.
    sup.stop();
    assert!(within(&exec, LONG, sup.wait()).await.is_normal());
    sleeping(&exec, &vt, 0).await;
    vt.advance(EVERY * 5);
    sleep(&exec, Duration::from_millis(20)).await;
    assert_eq!((doctor.begun(), hung.begun()), (1, 1));
}

/// The health status is in the subtree metrics too (`SupervisorRef::metrics`), beside the
/// child's figures, and the probes are messages the child handled.
async fn health_is_visible_in_the_metrics<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let metrics = playhouse::observer::Metrics::new();
    let system = System::new(vt.clone()).with_observer(metrics.clone());
    let doctor = Doctor::new();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(patient("p", &doctor))
        .start(&system)
        .await
        .expect("started");
    sleeping(&exec, &vt, 1).await;
    vt.advance(EVERY);
    probes_done(&exec, &sup, "p", 1).await;
    // Two pings of the test's own: once the second is answered, the first (and the probe's
    // before it) have been counted as handled.
    let p = patient_ref(&sup, "p").await;
    for _ in 0..2 {
        within(&exec, LONG, incarnation(&p)).await;
    }
    let tree = within(&exec, LONG, sup.metrics(&metrics)).await.unwrap();
    let p = &tree.children[0];
    let health = p.health.as_ref().expect("p's health");
    assert_eq!((health.probes, health.healthy()), (1, Some(true)));
    let handled = p.metrics.as_ref().expect("p's figures").handled;
    assert!(
        handled >= 2,
        "the probe's ping and the first of the test's: {handled}"
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

// =============================================================================================
// 5. Invalid specs

/// A zero interval, a zero timeout or a threshold of 0 is an invalid spec, reported before any
/// child starts; so is a health check set before the mailbox it was not written for.
async fn an_invalid_health_check_is_a_spec_error<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let started = Arc::new(AtomicUsize::new(0));
    let first = || {
        let started = started.clone();
        ChildSpec::new("first", move || {
            started.fetch_add(1, Ordering::SeqCst);
            Patient
        })
    };
    let probe = |p: PatientRef| async move { p.ask(PMsg::Ping).await };
    let bad: Vec<(ChildSpec<Patient, Unbounded>, &str)> = vec![
        (
            ChildSpec::new("z", || Patient)
                .mailbox(Unbounded)
                .health_check(HealthCheck::new(
                    Duration::ZERO,
                    WITHIN,
                    |p: ActorRef<Patient, Unbounded>| async move { p.ask(PMsg::Ping).await },
                )),
            "child \"z\" has a zero health-check interval",
        ),
        (
            ChildSpec::new("z", || Patient)
                .mailbox(Unbounded)
                .health_check(HealthCheck::new(
                    EVERY,
                    Duration::ZERO,
                    |p: ActorRef<Patient, Unbounded>| async move { p.ask(PMsg::Ping).await },
                )),
            "child \"z\" has a zero health-check timeout",
        ),
        (
            ChildSpec::new("z", || Patient)
                .mailbox(Unbounded)
                .health_check(
                    HealthCheck::new(
                        EVERY,
                        WITHIN,
                        |p: ActorRef<Patient, Unbounded>| async move { p.ask(PMsg::Ping).await },
                    )
                    .failure_threshold(0),
                ),
            "child \"z\" has a health-check failure threshold of 0 (at least 1)",
        ),
        (
            // Written for the default mailbox, then the mailbox changed.
            ChildSpec::new("z", || Patient)
                .health_check(HealthCheck::new(EVERY, WITHIN, probe))
                .mailbox(Unbounded),
            "child \"z\"'s health check probes ActorRef<Patient, Bounded> but the child \
             is ActorRef<Patient, Unbounded> (set the mailbox before the health check)",
        ),
    ];
    for (spec, why) in bad {
        let err = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
            .child(first())
            .child(spec)
            .start(&system)
            .await
            .expect_err("an invalid spec");
        match err {
            StartError::InvalidSpec(msg) => assert!(msg.contains(why), "{msg}"),
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }
    assert_eq!(started.load(Ordering::SeqCst), 0, "no child started");

    // `start_child` checks the same way.
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .start(&system)
        .await
        .unwrap();
    let err = sup
        .start_child(
            ChildSpec::new("z", || Patient).health_check(HealthCheck::new(
                EVERY,
                Duration::ZERO,
                probe,
            )),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SupervisorError::InvalidSpec(msg) if msg.contains("zero health-check timeout")),
        "{err:?}"
    );
    assert!(sup.which_children().await.unwrap().is_empty());
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

executor_tests!(
    a_healthy_child_is_probed_and_keeps_running,
    a_child_without_a_check_reports_no_health,
    a_failed_probe_restarts_a_permanent_child,
    the_exit_reason_is_a_typed_health_check_failure,
    a_hanging_probe_times_out_and_counts_as_a_failure,
    a_panicking_probe_counts_as_a_failure,
    the_failure_threshold_counts_failures_in_a_row,
    a_temporary_child_failing_its_probe_is_not_restarted,
    a_failed_probe_follows_the_strategy,
    repeated_failures_exceed_the_intensity_and_escalate,
    probes_stop_when_the_child_is_terminated,
    probes_stop_when_the_supervisor_stops,
    health_is_visible_in_the_metrics,
    an_invalid_health_check_is_a_spec_error,
);

/// The new public types cross threads: a check is shared by the specs it is given to, a status
/// and a failure are reported from the supervisor's task.
#[test]
fn health_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HealthCheck<Patient>>();
    assert_send_sync::<HealthCheck<Patient, Unbounded>>();
    assert_send_sync::<HealthStatus>();
    assert_send_sync::<ProbeOutcome>();
    assert_send_sync::<ProbeFailure>();
    assert_send_sync::<HealthCheckFailed>();
    assert_send_sync::<playhouse::supervisor::ChildInfo>();
    fn assert_send<T: Send>() {}
    assert_send::<ChildSpec<Patient>>();
}
