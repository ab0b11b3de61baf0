//! Supervisors, second half of the suite organised after OTP's `supervisor_SUITE.erl`: ordered
//! start and its failures, ordered shutdown by policy, every manual operation and its errors,
//! significant children, nesting, pools, and monitors and links on supervised children. Every
//! test runs on every executor, under a virtual clock (`VirtualTime`) where time matters.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::sync::atomic::{AtomicBool, Ordering};
use ::std::sync::{Arc, Mutex};
use ::std::time::Duration;

use common::*;
use futures::channel::{mpsc, oneshot};
use playhouse::mailbox::{Block, Bounded};
use playhouse::prelude::*;
use playhouse::supervisor::{
    AutoShutdown, Backoff, ChildCounts, ChildInfo, ChildKind, ChildSpec, ChildState, EventKind,
    Events, Pool, PoolSpec, RestartType, Routing, Shutdown, StartCause, StartError, Strategy,
    SupervisorError, SupervisorEvent, SupervisorRef, SupervisorSpec,
};
use playhouse::testing::VirtualTime;

type Vt<E> = VirtualTime<E>;
type Sup<E> = SupervisorRef<Vt<E>>;
type WorkerRef = ActorRef<Worker, Bounded<Block>>;

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// Helpers

/// A virtual clock over `exec`, and a system on it.
fn setup<E: Executor>(exec: &E) -> (Vt<E>, System<Vt<E>>) {
    let vt = VirtualTime::new(exec.clone());
    let system = System::new(vt.clone());
    (vt, system)
}

fn short(reason: &ExitReason) -> String {
    match reason {
        ExitReason::Normal => "normal".into(),
        ExitReason::Shutdown(None) => "shutdown".into(),
        ExitReason::Shutdown(Some(info)) => format!("shutdown:{info}"),
        ExitReason::Killed => "killed".into(),
        ExitReason::Failed(e) => format!("failed:{e}"),
        ExitReason::Panicked(m) => format!("panicked:{m}"),
    }
}

fn cause_str(cause: &StartCause) -> String {
    match cause {
        StartCause::Factory(e) => format!("factory:{e}"),
        StartCause::Exited(reason) => short(reason),
    }
}

/// An event as `"<supervisor> <child> <what>"`.
fn event_str(e: &SupervisorEvent) -> String {
    let what = match &e.kind {
        EventKind::Started => "started".to_string(),
        EventKind::Restarted { incarnation } => format!("restarted {incarnation}"),
        EventKind::Stopped { reason } => format!("stopped {}", short(reason)),
        EventKind::StartFailed { cause } => format!("start-failed {}", cause_str(cause)),
        EventKind::Escalated { .. } => "escalated".to_string(),
        EventKind::AutoShutdown => "auto-shutdown".to_string(),
        EventKind::HealthCheckFailed { cause, .. } => format!("health-check-failed {cause}"),
    };
    format!(
        "{} {} {what}",
        e.supervisor,
        e.child.as_deref().unwrap_or("-")
    )
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

/// The events already emitted (call it once the supervisor has ended, or after an API round
/// trip that follows what emitted them).
fn drain(events: &Events) -> Vec<String> {
    ::std::iter::from_fn(|| events.try_recv())
        .map(|e| event_str(&e))
        .collect()
}

fn listing(children: &[ChildInfo]) -> Vec<(String, ChildState, ChildKind, bool)> {
    children
        .iter()
        .map(|c| (c.id.to_string(), c.state, c.kind, c.actor.is_some()))
        .collect()
}

fn ids(children: &[ChildInfo]) -> Vec<String> {
    children.iter().map(|c| c.id.to_string()).collect()
}

async fn which<E: Executor>(sup: &Sup<E>) -> Vec<(String, ChildState, ChildKind, bool)> {
    listing(&sup.which_children().await.expect("which_children"))
}

async fn worker_ref<E: Executor>(sup: &Sup<E>, id: &str) -> WorkerRef {
    sup.child::<Worker, Bounded<Block>>(id)
        .await
        .expect("a running worker child")
}

/// What `l` holds now.
fn lines(l: &Log) -> Vec<String> {
    l.lock().unwrap().clone()
}

fn has(l: &Log, line: &str) -> bool {
    lines(l).iter().any(|x| x == line)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

use ChildKind::{Supervisor as SupK, Worker as WorkK};
use ChildState::{Restarting, Running, Stopped};

// ---------------------------------------------------------------------------------------------
// Worker: logs its lifecycle with its id.

#[derive(Clone, Copy, Default)]
enum StartMode {
    #[default]
    Ok,
    /// `started` returns `Err(START_FAIL)`.
    Fail,
    /// `started` panics with "<id> started boom".
    Panic,
    /// `started` logs "<id> starting" and sleeps this long first.
    Slow(Duration),
}

struct Worker {
    id: &'static str,
    log: Log,
    start: StartMode,
    /// `stopped` sleeps this long after logging, then logs "<id> stop done".
    slow_stop: Option<Duration>,
}

impl Worker {
    fn new(id: &'static str, log: &Log) -> Self {
        Worker {
            id,
            log: log.clone(),
            start: StartMode::Ok,
            slow_stop: None,
        }
    }

    fn push(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

enum WMsg {
    /// Answers with the incarnation.
    Ping(Reply<u32>),
    /// Panics with "<id> boom".
    Panic,
    /// `ctx.stop()`: a normal exit.
    StopSelf,
    /// Answers, then waits for ever.
    Hang(Reply<()>),
}

impl Actor for Worker {
    type Message = WMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Worker {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match self.start {
            StartMode::Ok => {}
            StartMode::Fail => return Err(START_FAIL),
            StartMode::Panic => panic!("{} started boom", self.id),
            StartMode::Slow(d) => {
                self.push(format!("{} starting", self.id));
                ctx.sleep(d).await;
            }
        }
        self.push(format!("{} started", self.id));
        Ok(())
    }

    async fn handle(&mut self, msg: WMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            WMsg::Ping(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
            WMsg::Panic => panic!("{} boom", self.id),
            WMsg::StopSelf => ctx.stop(),
            WMsg::Hang(reply) => {
                let _ = reply.send(());
                ::std::future::pending::<()>().await;
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, reason: &ExitReason) {
        self.push(format!("{} stopped {}", self.id, short(reason)));
        if let Some(d) = self.slow_stop {
            ctx.sleep(d).await;
            self.push(format!("{} stop done", self.id));
        }
    }
}

/// A worker child `id` logging into `log`.
fn worker(id: &'static str, log: &Log) -> ChildSpec<Worker> {
    worker_with(id, log, |w| w)
}

/// A worker child whose every incarnation is `tweak(Worker::new(id, log))`.
fn worker_with(
    id: &'static str,
    log: &Log,
    tweak: impl Fn(Worker) -> Worker + Send + 'static,
) -> ChildSpec<Worker> {
    let log = log.clone();
    ChildSpec::new(id, move || tweak(Worker::new(id, &log)))
}

fn slow_start(d: Duration) -> impl Fn(Worker) -> Worker + Send + 'static {
    move |mut w| {
        w.start = StartMode::Slow(d);
        w
    }
}

fn slow_stop(d: Duration) -> impl Fn(Worker) -> Worker + Send + 'static {
    move |mut w| {
        w.slow_stop = Some(d);
        w
    }
}

// ---------------------------------------------------------------------------------------------
// Watcher: forwards the `Down` and `Exit` messages it gets.

enum Seen {
    Down(Down),
    Exit(Exit),
}

struct Watcher {
    tx: mpsc::UnboundedSender<Seen>,
    trap: bool,
}

enum WatchMsg {
    Down(Down),
    Exit(Exit),
    Ping(Reply<()>),
}

impl From<Down> for WatchMsg {
    fn from(down: Down) -> Self {
        WatchMsg::Down(down)
    }
}

impl From<Exit> for WatchMsg {
    fn from(exit: Exit) -> Self {
        WatchMsg::Exit(exit)
    }
}

impl Actor for Watcher {
    type Message = WatchMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Watcher {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        if self.trap {
            ctx.trap_exit(true);
        }
        Ok(())
    }

    async fn handle(&mut self, msg: WatchMsg, _: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            WatchMsg::Down(d) => {
                let _ = self.tx.unbounded_send(Seen::Down(d));
            }
            WatchMsg::Exit(e) => {
                let _ = self.tx.unbounded_send(Seen::Exit(e));
            }
            WatchMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

// =============================================================================================
// 1. Start

/// Children start one at a time, in list order, and `start` returns once the last has: while
/// each child's `started` sleeps (virtual time), the next has not begun and `start` is pending.
async fn start_runs_children_one_at_a_time_in_order<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker_with("a", &log, slow_start(SEC)))
        .child(worker_with("b", &log, slow_start(SEC)))
        .child(worker_with("c", &log, slow_start(SEC)));
    let events = spec.subscribe();
    let (tx, mut rx) = oneshot::channel();
    exec.spawn(async move {
        let _ = tx.send(spec.start(&system).await);
    });
    let mut expected: Vec<String> = Vec::new();
    for id in ["a", "b", "c"] {
        expected.push(format!("{id} starting"));
        eventually(&exec, "the next child to sleep in started", || {
            vt.sleeping() == 1 && lines(&log).len() == expected.len()
        })
        .await;
        assert_eq!(lines(&log), expected, "only {id} is starting");
        assert!(
            matches!(rx.try_recv(), Ok(None)),
            "start returned before {id} started"
        );
        vt.advance(SEC);
        expected.push(format!("{id} started"));
    }
    let sup = within(&exec, LONG, rx)
        .await
        .expect("the start task ran")
        .expect("the supervisor started");
    assert_eq!(lines(&log), expected);
    expect_events(
        &exec,
        &events,
        &["top a started", "top b started", "top c started"],
    )
    .await;
    sup.stop();
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
}

#[derive(Clone, Copy)]
enum FailHow {
    Factory,
    StartedErr,
    StartedPanic,
}

/// Children a, b, c, d where c fails to start `how`: a and b are stopped, b first; d is never
/// made; the error names c and the cause.
async fn start_failure_case<E: Executor>(exec: E, how: FailHow) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let c: ChildSpec<Worker> = match how {
        FailHow::Factory => ChildSpec::try_new("c", || Err::<Worker, _>(TestError("no c today"))),
        FailHow::StartedErr => worker_with("c", &log, |mut w| {
            w.start = StartMode::Fail;
            w
        }),
        FailHow::StartedPanic => worker_with("c", &log, |mut w| {
            w.start = StartMode::Panic;
            w
        }),
    };
    let d_made = counter();
    let d = {
        let (log, d_made) = (log.clone(), d_made.clone());
        ChildSpec::new("d", move || {
            d_made.fetch_add(1, Ordering::SeqCst);
            Worker::new("d", &log)
        })
    };
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(c)
        .child(d);
    let events = spec.subscribe();
    let err = within(&exec, LONG, spec.start(&system))
        .await
        .expect_err("the start fails");
    let (id, cause) = match &err {
        StartError::Child { id, cause } => (id.to_string(), cause.clone()),
        other => panic!("expected StartError::Child, got {other:?}"),
    };
    assert_eq!(id, "c");
    let (cause_line, c_stopped): (&str, Option<&str>) = match how {
        FailHow::Factory => ("factory:test error: no c today", None),
        FailHow::StartedErr => (
            "failed:test error: start failed",
            Some("c stopped failed:test error: start failed"),
        ),
        FailHow::StartedPanic => (
            "panicked:c started boom",
            Some("c stopped panicked:c started boom"),
        ),
    };
    assert_eq!(cause_str(&cause), cause_line);
    if let (FailHow::Factory, StartCause::Factory(e)) = (how, &cause) {
        assert_eq!(
            e.downcast_ref::<TestError>(),
            Some(&TestError("no c today"))
        );
    }
    let mut expected = strs(&["a started", "b started"]);
    expected.extend(c_stopped.map(String::from));
    expected.extend(strs(&["b stopped shutdown", "a stopped shutdown"]));
    assert_eq!(lines(&log), expected);
    assert_eq!(count(&d_made), 0, "a child after the failed one was made");
    // The failed start is its one event (no `Stopped` follows for c); the stream ends with
    // the supervisor.
    let mut got = Vec::new();
    while let Some(e) = within(&exec, LONG, events.recv()).await {
        got.push(event_str(&e));
    }
    assert_eq!(
        got,
        [
            "top a started".to_string(),
            "top b started".to_string(),
            format!("top c start-failed {cause_line}"),
            "top b stopped shutdown".to_string(),
            "top a stopped shutdown".to_string(),
        ]
    );
}

async fn start_failure_in_factory_stops_started_children_in_reverse<E: Executor>(exec: E) {
    start_failure_case(exec, FailHow::Factory).await;
}

async fn start_failure_in_started_stops_started_children_in_reverse<E: Executor>(exec: E) {
    start_failure_case(exec, FailHow::StartedErr).await;
}

async fn start_panic_in_started_stops_started_children_in_reverse<E: Executor>(exec: E) {
    start_failure_case(exec, FailHow::StartedPanic).await;
}

/// Invalid flags and specs are typed errors before any child is made.
async fn invalid_flags_fail_before_any_child_starts<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let made = counter();
    let counted = |id: &'static str| {
        let (log, made) = (log.clone(), made.clone());
        ChildSpec::new(id, move || {
            made.fetch_add(1, Ordering::SeqCst);
            Worker::new(id, &log)
        })
    };
    let base = || SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne).child(counted("a"));

    // A zero period.
    match base().intensity(3, Duration::ZERO).start(&system).await {
        Err(StartError::InvalidSpec(why)) => assert!(why.contains("period"), "{why}"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    // A duplicate id.
    match base()
        .child(counted("b"))
        .child(counted("a"))
        .start(&system)
        .await
    {
        Err(StartError::DuplicateId(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
    // A significant permanent child.
    match base()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(counted("s").significant(true))
        .start(&system)
        .await
    {
        Err(StartError::InvalidSpec(why)) => assert!(why.contains("permanent"), "{why}"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    // A significant child under `AutoShutdown::Never`.
    match base()
        .child(
            counted("s")
                .restart(RestartType::Transient)
                .significant(true),
        )
        .start(&system)
        .await
    {
        Err(StartError::InvalidSpec(why)) => assert!(why.contains("Never"), "{why}"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    // A zero shutdown timeout.
    match base()
        .child(counted("z").shutdown(Shutdown::Timeout(Duration::ZERO)))
        .start(&system)
        .await
    {
        Err(StartError::InvalidSpec(why)) => assert!(why.contains("zero"), "{why}"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    // An empty id.
    match base().child(counted("")).start(&system).await {
        Err(StartError::InvalidSpec(why)) => assert_eq!(why, "a child has an empty id"),
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
    assert_eq!(count(&made), 0, "a child was made");
    assert!(lines(&log).is_empty(), "{:?}", lines(&log));
}

// =============================================================================================
// 2. Shutdown

/// `stop` stops the children one at a time in reverse start order, each by its policy
/// (Infinity, a timeout it beats, Brutal), and the supervisor exits with `Shutdown`.
async fn stop_stops_children_in_reverse_order_by_policy<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker_with("a", &log, slow_stop(SEC)).shutdown(Shutdown::Brutal))
        .child(worker_with("b", &log, slow_stop(SEC)).shutdown(Shutdown::Timeout(5 * SEC)))
        .child(worker_with("c", &log, slow_stop(SEC)).shutdown(Shutdown::Infinity));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    sup.stop();
    // c first (Infinity: only its own sleep waits).
    eventually(&exec, "c in its stopped hook", || {
        vt.sleeping() == 1 && has(&log, "c stopped shutdown")
    })
    .await;
    assert_eq!(
        lines(&log),
        strs(&["a started", "b started", "c started", "c stopped shutdown"])
    );
    vt.advance(SEC);
    // Then b (its hook's sleep and the supervisor's 5 s deadline).
    eventually(&exec, "b in its stopped hook", || {
        vt.sleeping() == 2 && has(&log, "b stopped shutdown")
    })
    .await;
    assert_eq!(
        lines(&log)[3..],
        strs(&["c stopped shutdown", "c stop done", "b stopped shutdown"])
    );
    vt.advance(SEC);
    // Then a, killed at once: its hook is cut at its first suspension point.
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "b started",
            "c started",
            "c stopped shutdown",
            "c stop done",
            "b stopped shutdown",
            "b stop done",
            "a stopped killed",
        ])
    );
    assert_eq!(vt.elapsed(), 2 * SEC);
    assert_eq!(
        drain(&events),
        strs(&[
            "top a started",
            "top b started",
            "top c started",
            "top c stopped shutdown",
            "top b stopped shutdown",
            "top a stopped killed",
        ])
    );
}

/// `Timeout(d)` with a handler that never returns: killed once `d` of virtual time has passed,
/// not before; its `stopped` sees `Killed`, and so does its `wait`.
async fn shutdown_timeout_kills_a_hanging_handler<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log))
        .child(worker("h", &log).shutdown(Shutdown::Timeout(2 * SEC)));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let h = worker_ref::<E>(&sup, "h").await;
    within(&exec, LONG, h.ask(WMsg::Hang))
        .await
        .expect("h took the Hang message");
    sup.stop();
    eventually(&exec, "the supervisor waiting for h", || vt.sleeping() == 1).await;
    vt.advance(2 * SEC - Duration::from_millis(1));
    assert_eq!(vt.sleeping(), 1, "the deadline fired early");
    assert!(h.is_alive());
    vt.advance(Duration::from_millis(1));
    assert!(matches!(
        within(&exec, LONG, h.wait()).await,
        ExitReason::Killed
    ));
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "h started",
            "h stopped killed",
            "a stopped shutdown"
        ])
    );
    assert_eq!(
        drain(&events)[2..],
        strs(&["top h stopped killed", "top a stopped shutdown"])
    );
}

/// `Timeout(d)` with a `stopped` hook that never finishes (it sleeps an hour): after `d` the
/// child is killed, which cuts the hook. The actor's exit reason stays the one its hook was
/// given (`Shutdown`): a kill during `stopped` does not change it (core semantics; OTP would
/// report `killed`).
async fn shutdown_timeout_cuts_a_hanging_stopped_hook<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker_with("s", &log, slow_stop(HOUR)).shutdown(Shutdown::Timeout(2 * SEC)));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let s = worker_ref::<E>(&sup, "s").await;
    sup.stop();
    eventually(&exec, "s in its hook and the supervisor waiting", || {
        vt.sleeping() == 2 && has(&log, "s stopped shutdown")
    })
    .await;
    vt.advance(2 * SEC);
    let reason = within(&exec, LONG, s.wait()).await;
    assert!(
        matches!(reason, ExitReason::Shutdown(None)),
        "{}",
        short(&reason)
    );
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(lines(&log), strs(&["s started", "s stopped shutdown"]));
    assert_eq!(vt.sleeping(), 0, "the cut hook's sleep is gone");
    assert_eq!(
        drain(&events),
        strs(&["top s started", "top s stopped shutdown"])
    );
}

/// A group restart ends a sibling by its shutdown policy: one whose `stopped` hook hangs is cut
/// once its timeout passes (that cut reaches the hook, while the request that ended the
/// incarnation, served, does not), and it starts again with the group.
async fn a_group_restart_cuts_a_hanging_stopped_hook_at_its_timeout<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForAll)
        .name("top")
        .child(worker("a", &log))
        .child(worker_with("s", &log, slow_stop(HOUR)).shutdown(Shutdown::Timeout(2 * SEC)));
    let sup = spec.start(&system).await.expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    let s = worker_ref::<E>(&sup, "s").await;
    a.tell(WMsg::Panic).await.expect("tell");
    eventually(&exec, "s in its hook and the supervisor waiting", || {
        vt.sleeping() == 2 && has(&log, "s stopped shutdown")
    })
    .await;
    vt.advance(2 * SEC);
    assert_eq!(
        within(&exec, LONG, s.ask(WMsg::Ping))
            .await
            .expect("s restarted"),
        2
    );
    // Its stop hangs again, for the same timeout.
    sup.stop();
    eventually(&exec, "s in its hook again", || vt.sleeping() == 2).await;
    vt.advance(2 * SEC);
    within(&exec, LONG, sup.wait()).await;
}

/// `Brutal` kills at once: no time passes, nothing sleeps.
async fn brutal_kills_at_once<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(worker_with("b", &log, slow_stop(HOUR)).shutdown(Shutdown::Brutal));
    let sup = spec.start(&system).await.expect("started");
    let b = worker_ref::<E>(&sup, "b").await;
    within(&exec, LONG, b.ask(WMsg::Hang)).await.expect("hang");
    sup.stop();
    assert!(matches!(
        within(&exec, LONG, b.wait()).await,
        ExitReason::Killed
    ));
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(lines(&log), strs(&["b started", "b stopped killed"]));
    assert_eq!(vt.elapsed(), Duration::ZERO);
    assert_eq!(vt.sleeping(), 0);
}

/// `Infinity` waits however long the child takes: half an hour past any default timeout it is
/// still stopping, and it finishes its hook.
async fn infinity_waits_for_the_child<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(worker_with("i", &log, slow_stop(HOUR)).shutdown(Shutdown::Infinity));
    let sup = spec.start(&system).await.expect("started");
    let i = worker_ref::<E>(&sup, "i").await;
    sup.stop();
    eventually(&exec, "i in its stopped hook", || {
        vt.sleeping() == 1 && has(&log, "i stopped shutdown")
    })
    .await;
    vt.advance(HOUR / 2);
    // Nothing was due: no task was woken, and only i's sleep waits (no deadline).
    assert_eq!(vt.sleeping(), 1);
    assert!(i.is_alive() && sup.is_alive());
    vt.advance(HOUR / 2);
    assert!(matches!(
        within(&exec, LONG, i.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        lines(&log),
        strs(&["i started", "i stopped shutdown", "i stop done"])
    );
}

/// Children that exit by themselves while the supervisor is shutting down (it is busy stopping
/// a slower sibling) are reported with their own reasons and never restarted.
async fn child_exit_during_shutdown_keeps_its_reason<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .intensity(10, HOUR)
        .child(worker("x", &log).restart(RestartType::Transient))
        .child(worker("a", &log))
        .child(worker_with("b", &log, slow_stop(HOUR)).shutdown(Shutdown::Infinity));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let x = worker_ref::<E>(&sup, "x").await;
    let a = worker_ref::<E>(&sup, "a").await;
    sup.stop();
    eventually(&exec, "b in its stopped hook", || {
        vt.sleeping() == 1 && has(&log, "b stopped shutdown")
    })
    .await;
    a.tell(WMsg::Panic).await.expect("a is still open");
    x.tell(WMsg::StopSelf).await.expect("x is still open");
    eventually(&exec, "a and x ended their incarnations", || {
        has(&log, "a stopped panicked:a boom") && has(&log, "x stopped normal")
    })
    .await;
    vt.advance(HOUR);
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(short(&a.wait().await), "panicked:a boom");
    assert_eq!(short(&x.wait().await), "normal");
    assert_eq!(
        drain(&events),
        strs(&[
            "top x started",
            "top a started",
            "top b started",
            "top b stopped shutdown",
            "top a stopped panicked:a boom",
            "top x stopped normal",
        ])
    );
    let started = lines(&log)
        .iter()
        .filter(|l| l.ends_with(" started"))
        .count();
    assert_eq!(started, 3, "nothing was restarted: {:?}", lines(&log));
}

// =============================================================================================
// 3. Manual operations

/// `start_child`: ok; a duplicate id of a running child is `AlreadyStarted`, of a stopped kept
/// one `AlreadyPresent`; invalid specs; a failing start is `StartFailed` and its spec is not
/// kept.
async fn start_child_and_its_errors<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");

    let b_id = sup
        .start_child(worker("b", &log))
        .await
        .expect("b starts")
        .expect("b has an actor");
    assert_eq!(worker_ref::<E>(&sup, "b").await.id(), b_id);
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("b".into(), Running, WorkK, true),
            ("a".into(), Running, WorkK, true)
        ]
    );

    // A duplicate of a running child: its factory is never called.
    let made = counter();
    let dup = {
        let (log, made) = (log.clone(), made.clone());
        ChildSpec::new("a", move || {
            made.fetch_add(1, Ordering::SeqCst);
            Worker::new("a", &log)
        })
    };
    match sup.start_child(dup).await {
        Err(SupervisorError::AlreadyStarted(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected AlreadyStarted, got {other:?}"),
    }
    assert_eq!(count(&made), 0);

    // A duplicate of a stopped, kept child.
    sup.terminate_child("b").await.expect("terminate b");
    match sup.start_child(worker("b", &log)).await {
        Err(SupervisorError::AlreadyPresent(id)) => assert_eq!(&*id, "b"),
        other => panic!("expected AlreadyPresent, got {other:?}"),
    }

    // Invalid specs.
    for bad in [
        worker("s", &log)
            .restart(RestartType::Transient)
            .significant(true),
        worker("s", &log).significant(true),
        worker("s", &log).shutdown(Shutdown::Timeout(Duration::ZERO)),
        worker("", &log),
    ] {
        match sup.start_child(bad).await {
            Err(SupervisorError::InvalidSpec(_)) => {}
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    // A start that fails: `started` returns an error; the spec is not kept.
    let failing = worker_with("f", &log, |mut w| {
        w.start = StartMode::Fail;
        w
    });
    match sup.start_child(failing).await {
        Err(SupervisorError::StartFailed { id, cause }) => {
            assert_eq!(&*id, "f");
            assert_eq!(cause_str(&cause), "failed:test error: start failed");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    // A factory that fails.
    match sup
        .start_child(ChildSpec::try_new("g", || {
            Err::<Worker, _>(TestError("no g"))
        }))
        .await
    {
        Err(SupervisorError::StartFailed { id, cause }) => {
            assert_eq!(&*id, "g");
            assert_eq!(cause_str(&cause), "factory:test error: no g");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(ids(&sup.which_children().await.unwrap()), ["b", "a"]);
    // Not kept: the id is free.
    sup.start_child(worker("f", &log)).await.expect("f starts");
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 3,
            active: 2,
            supervisors: 0,
            workers: 3
        }
    );
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "b started",
            "b stopped shutdown",
            "f stopped failed:test error: start failed",
            "f started",
        ])
    );
    assert_eq!(
        drain(&events),
        strs(&[
            "top a started",
            "top b started",
            "top b stopped shutdown",
            "top f start-failed failed:test error: start failed",
            "top g start-failed factory:test error: no g",
            "top f started",
        ])
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// `terminate_child`: stops by policy, is idempotent, is not a restart (no intensity: the
/// supervisor allows no restart at all and survives; no strategy: OneForAll siblings are not
/// touched), removes a temporary child's spec; `NotFound` for an unknown id.
async fn terminate_child_and_its_errors<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForAll)
        .name("top")
        .intensity(0, HOUR)
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(worker("t", &log).restart(RestartType::Temporary))
        .child(worker("h", &log).shutdown(Shutdown::Timeout(2 * SEC)));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    let h = worker_ref::<E>(&sup, "h").await;

    sup.terminate_child("b").await.expect("terminate b");
    assert!(sup.is_alive());
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("h".into(), Running, WorkK, true),
            ("t".into(), Running, WorkK, true),
            ("b".into(), Stopped, WorkK, false),
            ("a".into(), Running, WorkK, true),
        ]
    );
    // Siblings untouched: same actor, first incarnation.
    assert_eq!(worker_ref::<E>(&sup, "a").await.id(), a.id());
    assert_eq!(a.ask(WMsg::Ping).await.unwrap(), 1);
    assert_eq!(h.ask(WMsg::Ping).await.unwrap(), 1);
    // Idempotent.
    sup.terminate_child("b").await.expect("terminate b again");

    // A temporary child's spec goes with it.
    sup.terminate_child("t").await.expect("terminate t");
    assert_eq!(ids(&sup.which_children().await.unwrap()), ["h", "b", "a"]);
    match sup.terminate_child("t").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "t"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    match sup.terminate_child("nope").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "nope"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // By policy: h hangs, so it is killed after its 2 s.
    within(&exec, LONG, h.ask(WMsg::Hang)).await.expect("hang");
    let (tx, mut rx) = oneshot::channel();
    let sup2 = sup.clone();
    exec.spawn(async move {
        let _ = tx.send(sup2.terminate_child("h").await);
    });
    eventually(&exec, "the supervisor waiting for h", || vt.sleeping() == 1).await;
    assert!(matches!(rx.try_recv(), Ok(None)), "h ended before its kill");
    vt.advance(2 * SEC);
    within(&exec, LONG, rx)
        .await
        .expect("the task ran")
        .expect("terminate h");
    assert!(matches!(h.exit_reason(), Some(ExitReason::Killed)));

    assert!(sup.is_alive());
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("h".into(), Stopped, WorkK, false),
            ("b".into(), Stopped, WorkK, false),
            ("a".into(), Running, WorkK, true),
        ]
    );
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "b started",
            "t started",
            "h started",
            "b stopped shutdown",
            "t stopped shutdown",
            "h stopped killed",
        ])
    );
    assert_eq!(
        drain(&events)[4..],
        strs(&[
            "top b stopped shutdown",
            "top t stopped shutdown",
            "top h stopped killed",
        ])
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// `restart_child`: only a stopped child (`Running`, `NotFound`); it gets a new actor; a
/// failing restart returns `StartFailed`, leaves it stopped, is not retried and not counted.
async fn restart_child_and_its_errors<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let broken = Arc::new(AtomicBool::new(false));
    let fail_start = Arc::new(AtomicBool::new(false));
    let made = counter();
    let r = {
        let (log, broken, fail_start, made) = (
            log.clone(),
            broken.clone(),
            fail_start.clone(),
            made.clone(),
        );
        ChildSpec::try_new("r", move || {
            made.fetch_add(1, Ordering::SeqCst);
            if broken.load(Ordering::SeqCst) {
                return Err(TestError("no r"));
            }
            let mut w = Worker::new("r", &log);
            if fail_start.load(Ordering::SeqCst) {
                w.start = StartMode::Fail;
            }
            Ok(w)
        })
    };
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .intensity(0, HOUR)
        .child(worker("a", &log))
        .child(r);
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");

    match sup.restart_child("a").await {
        Err(SupervisorError::Running(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected Running, got {other:?}"),
    }
    match sup.restart_child("nope").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "nope"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // A stopped child restarts as a new actor.
    let old = worker_ref::<E>(&sup, "a").await;
    sup.terminate_child("a").await.expect("terminate a");
    let new_id = sup
        .restart_child("a")
        .await
        .expect("restart a")
        .expect("an actor");
    assert_ne!(new_id, old.id());
    assert!(!old.is_alive());
    let new = worker_ref::<E>(&sup, "a").await;
    assert_eq!(new.id(), new_id);
    assert_eq!(new.ask(WMsg::Ping).await.unwrap(), 1);

    // A restart whose factory fails.
    sup.terminate_child("r").await.expect("terminate r");
    broken.store(true, Ordering::SeqCst);
    match sup.restart_child("r").await {
        Err(SupervisorError::StartFailed { id, cause }) => {
            assert_eq!(&*id, "r");
            assert_eq!(cause_str(&cause), "factory:test error: no r");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(
        which::<E>(&sup).await[0],
        ("r".into(), Stopped, WorkK, false)
    );
    // A restart whose `started` fails.
    broken.store(false, Ordering::SeqCst);
    fail_start.store(true, Ordering::SeqCst);
    match sup.restart_child("r").await {
        Err(SupervisorError::StartFailed { id, cause }) => {
            assert_eq!(&*id, "r");
            assert_eq!(cause_str(&cause), "failed:test error: start failed");
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert_eq!(
        which::<E>(&sup).await[0],
        ("r".into(), Stopped, WorkK, false)
    );
    // Not retried (the factory ran once per attempt), not counted (max_restarts = 0).
    assert_eq!(count(&made), 3);
    assert!(sup.is_alive());
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 2,
            active: 1,
            supervisors: 0,
            workers: 2
        }
    );
    assert_eq!(count(&made), 3);
    fail_start.store(false, Ordering::SeqCst);
    sup.restart_child("r").await.expect("restart r");
    assert_eq!(count(&made), 4);
    assert_eq!(
        drain(&events),
        strs(&[
            "top a started",
            "top r started",
            "top a stopped shutdown",
            "top a started",
            "top r stopped shutdown",
            "top r start-failed factory:test error: no r",
            "top r start-failed failed:test error: start failed",
            "top r started",
        ])
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A pending restart dropped (the child terminated, then restarted by hand) leaves its retry
/// timer running; when that retry comes in while a later pending restart of the same child
/// waits for its backoff, it is ignored: the later restart still waits its turn. The old retry
/// is made to arrive while the supervisor is busy terminating another child (whose `stopped`
/// hook outlasts its shutdown timeout), so that it is handled before the next look.
async fn a_dropped_restarts_retry_does_not_cut_a_later_backoff<E: Executor>(exec: E) {
    const HALF: Duration = Duration::from_millis(500);
    const QUARTER: Duration = Duration::from_millis(250);
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .intensity(10, HOUR)
        .backoff(Backoff {
            initial: SEC,
            max: SEC,
            jitter: 0.0,
        })
        .child(worker("a", &log))
        .child(worker_with("b", &log, slow_stop(HOUR)).shutdown(Shutdown::Timeout(HALF + QUARTER)));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    expect_events(&exec, &events, &["top a started", "top b started"]).await;
    // b running, a waiting for its restart (children are listed last started first).
    let a_waits = || {
        vec![
            ("b".to_string(), Running, WorkK, true),
            ("a".to_string(), Restarting, WorkK, true),
        ]
    };

    // t = 0: a panics; its restart is due at 1 s.
    worker_ref::<E>(&sup, "a")
        .await
        .tell(WMsg::Panic)
        .await
        .unwrap();
    expect_events(&exec, &events, &["top a stopped panicked:a boom"]).await;
    // (The event comes before the supervisor has queued the restart: an API call, served
    // after, makes sure it has before time moves.)
    assert_eq!(which::<E>(&sup).await, a_waits());
    vt.advance(HALF);
    // t = 0.5 s: that pending restart is dropped; a is restarted by hand, and panics again: its
    // new restart is due at 1.5 s.
    sup.terminate_child("a").await.unwrap();
    sup.restart_child("a").await.expect("restart a by hand");
    expect_events(&exec, &events, &["top a started"]).await;
    worker_ref::<E>(&sup, "a")
        .await
        .tell(WMsg::Panic)
        .await
        .unwrap();
    expect_events(&exec, &events, &["top a stopped panicked:a boom"]).await;
    assert_eq!(which::<E>(&sup).await, a_waits());

    // The supervisor terminates b, which it waits for until 1.25 s (b's hook would take an
    // hour).
    let mut terminate = Box::pin(sup.terminate_child("b"));
    assert!(futures::poll!(terminate.as_mut()).is_pending());
    eventually(&exec, "b's stopped hook", || {
        has(&log, "b stopped shutdown")
    })
    .await;
    // t = 1 s: the dropped restart's retry comes in, and waits in the busy supervisor's mailbox.
    vt.advance(HALF);
    eventually(&exec, "the old retry queued", || {
        sup.actor_ref().mailbox_len() >= 1
    })
    .await;
    // t = 1.25 s: b is killed; the supervisor goes on to the old retry.
    vt.advance(QUARTER);
    within(&exec, LONG, terminate).await.unwrap();
    expect_events(&exec, &events, &["top b stopped shutdown"]).await;
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("b".into(), Stopped, WorkK, false),
            ("a".into(), Restarting, WorkK, true)
        ],
        "a still waits for its own backoff"
    );
    assert!(drain(&events).is_empty(), "no restart yet");

    // t = 1.5 s: its own retry restarts it.
    vt.advance(QUARTER);
    expect_events(&exec, &events, &["top a restarted 2"]).await;
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("b".into(), Stopped, WorkK, false),
            ("a".into(), Running, WorkK, true)
        ]
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A child whose restart waits for its backoff is `Restarting`: `restart_child` and
/// `delete_child` say so, and `child` hands out its reference, which stays valid; once the
/// clock reaches the backoff it runs again.
async fn restarting_child_refuses_manual_operations<E: Executor>(exec: E) {
    let (vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .intensity(5, HOUR)
        .backoff(Backoff {
            initial: SEC,
            max: SEC,
            jitter: 0.0,
        })
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &["top a started", "top a stopped panicked:a boom"],
    )
    .await;
    assert_eq!(
        which::<E>(&sup).await,
        [("a".into(), Restarting, WorkK, true)]
    );
    match sup.restart_child("a").await {
        Err(SupervisorError::Restarting(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected Restarting, got {other:?}"),
    }
    match sup.delete_child("a").await {
        Err(SupervisorError::Restarting(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected Restarting, got {other:?}"),
    }
    // Its reference stays valid while it waits: a send queues for the next incarnation.
    let waiting = sup
        .child::<Worker, Bounded<Block>>("a")
        .await
        .expect("the reference of a child waiting for its backoff");
    assert_eq!(waiting.id(), a.id());
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 1,
            active: 0,
            supervisors: 0,
            workers: 1
        }
    );
    vt.advance(SEC);
    expect_events(&exec, &events, &["top a restarted 2"]).await;
    assert_eq!(which::<E>(&sup).await, [("a".into(), Running, WorkK, true)]);
    assert_eq!(a.ask(WMsg::Ping).await.unwrap(), 2, "same reference");

    // Terminated while it waits for its restart: it ends for good (with the reason its last
    // incarnation ended with), stays stopped, and the pending restart is dropped.
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(&exec, &events, &["top a stopped panicked:a boom"]).await;
    assert_eq!(
        which::<E>(&sup).await,
        [("a".into(), Restarting, WorkK, true)]
    );
    sup.terminate_child("a")
        .await
        .expect("terminate a restarting child");
    assert_eq!(
        which::<E>(&sup).await,
        [("a".into(), Stopped, WorkK, false)]
    );
    assert_eq!(
        short(&within(&exec, LONG, a.wait()).await),
        "panicked:a boom"
    );
    vt.advance(SEC);
    sup.restart_child("a").await.expect("restart a by hand");
    expect_events(&exec, &events, &["top a started"]).await;

    // Stopped while a child waits for its restart: the child ends, the supervisor exits.
    let a = worker_ref::<E>(&sup, "a").await;
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(&exec, &events, &["top a stopped panicked:a boom"]).await;
    assert_eq!(
        which::<E>(&sup).await,
        [("a".into(), Restarting, WorkK, true)]
    );
    sup.stop();
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(short(&a.exit_reason().expect("a ended")), "panicked:a boom");
    assert!(
        drain(&events).is_empty(),
        "no restart after the manual ones"
    );
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "a stopped panicked:a boom",
            "a started",
            "a stopped panicked:a boom",
            "a started",
            "a stopped panicked:a boom",
        ])
    );
}

/// `delete_child`: only a stopped child (`Running`); `NotFound`; the id is free afterwards.
async fn delete_child_and_its_errors<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(worker("a", &log))
        .child(worker("b", &log))
        .start(&system)
        .await
        .expect("started");
    match sup.delete_child("a").await {
        Err(SupervisorError::Running(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected Running, got {other:?}"),
    }
    match sup.delete_child("nope").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "nope"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    sup.terminate_child("a").await.unwrap();
    sup.delete_child("a").await.expect("delete a");
    assert_eq!(ids(&sup.which_children().await.unwrap()), ["b"]);
    match sup.delete_child("a").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    match sup.restart_child("a").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "a"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    sup.start_child(worker("a", &log)).await.expect("a again");
    assert_eq!(ids(&sup.which_children().await.unwrap()), ["a", "b"]);
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "b started",
            "a stopped shutdown",
            "a started",
            "a stopped shutdown",
            "b stopped shutdown",
        ])
    );
}

/// `which_children` lists newest first with state, kind and actor; `count_children` counts
/// specs, active children, supervisors and workers.
async fn which_children_and_count_children<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let sub_log = log.clone();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(worker("a", &log))
        .child(ChildSpec::supervisor("sub", move || {
            SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
                .child(worker("x", &sub_log))
                .child(worker("y", &sub_log))
        }))
        .child(worker("b", &log))
        .child(worker("t", &log).restart(RestartType::Temporary))
        .start(&system)
        .await
        .expect("started");
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("t".into(), Running, WorkK, true),
            ("b".into(), Running, WorkK, true),
            ("sub".into(), Running, SupK, true),
            ("a".into(), Running, WorkK, true),
        ]
    );
    let listed = sup.which_children().await.unwrap();
    assert_eq!(listed[1].actor, Some(worker_ref::<E>(&sup, "b").await.id()));
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 4,
            active: 4,
            supervisors: 1,
            workers: 3
        }
    );
    sup.terminate_child("b").await.unwrap();
    sup.start_child(worker("c", &log)).await.unwrap();
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("c".into(), Running, WorkK, true),
            ("t".into(), Running, WorkK, true),
            ("b".into(), Stopped, WorkK, false),
            ("sub".into(), Running, SupK, true),
            ("a".into(), Running, WorkK, true),
        ]
    );
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 5,
            active: 4,
            supervisors: 1,
            workers: 4
        }
    );
    let sub = sup.child_supervisor("sub").await.expect("sub");
    assert_eq!(
        which::<E>(&sub).await,
        [
            ("y".into(), Running, WorkK, true),
            ("x".into(), Running, WorkK, true)
        ]
    );
    assert_eq!(
        sub.count_children().await.unwrap(),
        ChildCounts {
            specs: 2,
            active: 2,
            supervisors: 0,
            workers: 2
        }
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// `child::<A, MB>`: the wrong actor or mailbox type is `WrongType`; unknown or stopped ids
/// are `NotFound`.
async fn child_lookup_and_its_errors<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(worker("a", &log))
        .child(worker("b", &log))
        .start(&system)
        .await
        .expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    assert_eq!(a.ask(WMsg::Ping).await.unwrap(), 1);
    match sup.child::<Counter, Bounded<Block>>("a").await {
        Err(e @ SupervisorError::WrongType { .. }) => {
            assert_eq!(
                e.to_string(),
                "child \"a\" is ActorRef<Worker, Bounded>, not ActorRef<Counter, Bounded>"
            );
        }
        other => panic!("expected WrongType, got {:?}", other.map(|r| r.id())),
    }
    match sup.child::<Worker, Unbounded>("a").await {
        Err(SupervisorError::WrongType {
            id,
            requested,
            actual,
        }) => {
            assert_eq!(&*id, "a");
            assert_eq!(requested, "ActorRef<Worker, Unbounded>");
            assert_eq!(actual, "ActorRef<Worker, Bounded>");
        }
        other => panic!("expected WrongType, got {:?}", other.map(|r| r.id())),
    }
    match sup.child_supervisor("a").await {
        Err(SupervisorError::WrongType { id, .. }) => assert_eq!(&*id, "a"),
        other => panic!("expected WrongType, got {other:?}"),
    }
    match sup.child::<Worker, Bounded<Block>>("nope").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "nope"),
        other => panic!("expected NotFound, got {:?}", other.map(|r| r.id())),
    }
    sup.terminate_child("b").await.unwrap();
    match sup.child::<Worker, Bounded<Block>>("b").await {
        Err(SupervisorError::NotFound(id)) => assert_eq!(&*id, "b"),
        other => panic!("expected NotFound, got {:?}", other.map(|r| r.id())),
    }
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
    match sup.which_children().await {
        Err(SupervisorError::SupervisorGone) => {}
        other => panic!("expected SupervisorGone, got {other:?}"),
    }
}

// =============================================================================================
// 4. Significant children

/// `AnySignificant`: a transient significant child exiting normally shuts the supervisor down
/// (its other children stop in reverse order; its exit is a normal `Shutdown`); so does a
/// temporary significant child that fails.
async fn any_significant_exit_shuts_the_supervisor_down<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(worker("a", &log))
        .child(
            worker("s", &log)
                .restart(RestartType::Transient)
                .significant(true),
        )
        .child(worker("c", &log));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    worker_ref::<E>(&sup, "s")
        .await
        .tell(WMsg::StopSelf)
        .await
        .unwrap();
    let reason = within(&exec, LONG, sup.wait()).await;
    assert!(reason.is_normal());
    assert_eq!(short(&reason), "shutdown:auto shutdown");
    assert_eq!(
        lines(&log)[3..],
        strs(&[
            "s stopped normal",
            "c stopped shutdown",
            "a stopped shutdown"
        ])
    );
    assert_eq!(
        drain(&events)[3..],
        strs(&[
            "top s stopped normal",
            "top - auto-shutdown",
            "top c stopped shutdown",
            "top a stopped shutdown",
        ])
    );

    // A temporary significant child, failing.
    let log = Log::default();
    let sup = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(worker("a", &log))
        .child(
            worker("t", &log)
                .restart(RestartType::Temporary)
                .significant(true),
        )
        .start(&system)
        .await
        .expect("started");
    worker_ref::<E>(&sup, "t")
        .await
        .tell(WMsg::Panic)
        .await
        .unwrap();
    assert_eq!(
        short(&within(&exec, LONG, sup.wait()).await),
        "shutdown:auto shutdown"
    );
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "t started",
            "t stopped panicked:t boom",
            "a stopped shutdown"
        ])
    );
}

/// `AllSignificant`: the supervisor shuts down only when the last significant child exits.
async fn all_significant_waits_for_the_last<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .auto_shutdown(AutoShutdown::AllSignificant)
        .child(worker("a", &log))
        .child(
            worker("s1", &log)
                .restart(RestartType::Transient)
                .significant(true),
        )
        .child(
            worker("s2", &log)
                .restart(RestartType::Temporary)
                .significant(true),
        );
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let s2 = worker_ref::<E>(&sup, "s2").await;
    worker_ref::<E>(&sup, "s1")
        .await
        .tell(WMsg::StopSelf)
        .await
        .unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top a started",
            "top s1 started",
            "top s2 started",
            "top s1 stopped normal",
        ],
    )
    .await;
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("s2".into(), Running, WorkK, true),
            ("s1".into(), Stopped, WorkK, false),
            ("a".into(), Running, WorkK, true),
        ]
    );
    assert!(sup.is_alive());
    s2.tell(WMsg::StopSelf).await.unwrap();
    assert_eq!(
        short(&within(&exec, LONG, sup.wait()).await),
        "shutdown:auto shutdown"
    );
    assert_eq!(
        drain(&events),
        strs(&[
            "top s2 stopped normal",
            "top - auto-shutdown",
            "top a stopped shutdown"
        ])
    );
}

/// `AllSignificant`: a significant child stopped by hand does not shut the supervisor down,
/// but no longer counts as running: the last other one's exit does.
async fn all_significant_counts_a_child_stopped_by_hand_as_ended<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .auto_shutdown(AutoShutdown::AllSignificant)
        .child(
            worker("s1", &log)
                .restart(RestartType::Transient)
                .significant(true),
        )
        .child(
            worker("s2", &log)
                .restart(RestartType::Transient)
                .significant(true),
        );
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    sup.terminate_child("s1").await.unwrap();
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("s2".into(), Running, WorkK, true),
            ("s1".into(), Stopped, WorkK, false),
        ]
    );
    worker_ref::<E>(&sup, "s2")
        .await
        .tell(WMsg::StopSelf)
        .await
        .unwrap();
    assert_eq!(
        short(&within(&exec, LONG, sup.wait()).await),
        "shutdown:auto shutdown"
    );
    assert_eq!(
        drain(&events),
        strs(&[
            "top s1 started",
            "top s2 started",
            "top s1 stopped shutdown",
            "top s2 stopped normal",
            "top - auto-shutdown",
        ])
    );
}

/// A significant child stopped by hand, or by a sibling's group restart, or restarted after an
/// abnormal exit, does not shut the supervisor down; its own normal exit then does.
async fn significant_child_stopped_by_hand_or_restarted_does_not_shut_down<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForAll)
        .name("top")
        .intensity(5, HOUR)
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(worker("a", &log))
        .child(
            worker("s", &log)
                .restart(RestartType::Transient)
                .significant(true),
        );
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    expect_events(&exec, &events, &["top a started", "top s started"]).await;

    // By hand.
    sup.terminate_child("s").await.unwrap();
    assert_eq!(
        which::<E>(&sup).await[0],
        ("s".into(), Stopped, WorkK, false)
    );
    sup.restart_child("s").await.unwrap();
    expect_events(&exec, &events, &["top s stopped shutdown", "top s started"]).await;

    // By a sibling's group restart.
    let a = worker_ref::<E>(&sup, "a").await;
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top a stopped panicked:a boom",
            "top s stopped shutdown",
            "top a restarted 2",
            "top s restarted 2",
        ],
    )
    .await;
    assert!(sup.is_alive());

    // Restarted after its own abnormal exit.
    let s = worker_ref::<E>(&sup, "s").await;
    s.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top s stopped panicked:s boom",
            "top a stopped shutdown",
            "top a restarted 3",
            "top s restarted 3",
        ],
    )
    .await;
    assert_eq!(
        which::<E>(&sup).await,
        [
            ("s".into(), Running, WorkK, true),
            ("a".into(), Running, WorkK, true)
        ]
    );
    assert!(drain(&events).is_empty());

    // Its own normal exit does.
    s.tell(WMsg::StopSelf).await.unwrap();
    assert_eq!(
        short(&within(&exec, LONG, sup.wait()).await),
        "shutdown:auto shutdown"
    );
    assert_eq!(
        drain(&events),
        strs(&[
            "top s stopped normal",
            "top - auto-shutdown",
            "top a stopped shutdown"
        ])
    );
}

/// A temporary significant child removed by a sibling's group restart does not shut the
/// supervisor down either (`AllSignificant`, and it was the only significant child).
async fn significant_temporary_removed_by_group_restart_does_not_shut_down<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForAll)
        .name("top")
        .intensity(5, HOUR)
        .auto_shutdown(AutoShutdown::AllSignificant)
        .child(worker("a", &log))
        .child(
            worker("t", &log)
                .restart(RestartType::Temporary)
                .significant(true),
        );
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    worker_ref::<E>(&sup, "a")
        .await
        .tell(WMsg::Panic)
        .await
        .unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top a started",
            "top t started",
            "top a stopped panicked:a boom",
            "top t stopped shutdown",
            "top a restarted 2",
        ],
    )
    .await;
    assert_eq!(which::<E>(&sup).await, [("a".into(), Running, WorkK, true)]);
    assert!(sup.is_alive());
    assert!(drain(&events).is_empty());
    sup.stop();
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
}

// =============================================================================================
// 5. Nesting

fn tree<E: Executor>(log: &Log) -> SupervisorSpec<Vt<E>> {
    let sub_log = log.clone();
    SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", log))
        .child(ChildSpec::supervisor("sub", move || {
            SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
                .child(worker("x", &sub_log))
                .child(worker("y", &sub_log))
        }))
        .child(worker("b", log))
}

/// A nested supervisor starts its children before the parent's next child starts; its events
/// reach subscribers of the parent (subscribed before the start or after).
async fn nested_supervisor_starts_its_children_before_the_next_sibling<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = tree::<E>(&log);
    let early = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    assert_eq!(
        lines(&log),
        strs(&["a started", "x started", "y started", "b started"])
    );
    expect_events(
        &exec,
        &early,
        &[
            "top a started",
            "top/sub x started",
            "top/sub y started",
            "top sub started",
            "top b started",
        ],
    )
    .await;
    let late = sup.subscribe().await.unwrap();
    let sub = sup.child_supervisor("sub").await.unwrap();
    let x = sub.child::<Worker, Bounded<Block>>("x").await.unwrap();
    x.tell(WMsg::Panic).await.unwrap();
    for events in [&early, &late] {
        expect_events(
            &exec,
            events,
            &["top/sub x stopped panicked:x boom", "top/sub x restarted 2"],
        )
        .await;
    }
    assert_eq!(x.ask(WMsg::Ping).await.unwrap(), 2);

    // Terminated by hand, the nested supervisor stops its children (last first); restarted by
    // hand, a fresh one starts them again, and its events still reach both subscribers.
    sup.terminate_child("sub").await.unwrap();
    assert!(matches!(
        sub.exit_reason(),
        Some(ExitReason::Shutdown(None))
    ));
    sup.restart_child("sub").await.unwrap();
    for events in [&early, &late] {
        expect_events(
            &exec,
            events,
            &[
                "top/sub y stopped shutdown",
                "top/sub x stopped shutdown",
                "top sub stopped shutdown",
                "top/sub x started",
                "top/sub y started",
                "top sub started",
            ],
        )
        .await;
    }
    let sub = sup.child_supervisor("sub").await.unwrap();
    let x = sub.child::<Worker, Bounded<Block>>("x").await.unwrap();
    assert_eq!(x.ask(WMsg::Ping).await.unwrap(), 1);
    assert_eq!(
        lines(&log)[4..],
        strs(&[
            "x stopped panicked:x boom",
            "x started",
            "y stopped shutdown",
            "x stopped shutdown",
            "x started",
            "y started",
        ])
    );
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A subscription taken at a nested supervisor (through its handle, or through its spec in the
/// factory) sees that supervisor's subtree: not its parent's events, nor a sibling's. The
/// spec's subscription works when nobody else in the tree subscribes (the tree is then watched
/// all the same).
async fn a_nested_subscription_sees_its_subtree_only<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let sub_log = log.clone();
    let from_spec: Arc<Mutex<Vec<Events>>> = Arc::default();
    let stash = from_spec.clone();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log))
        .child(ChildSpec::supervisor("sub", move || {
            let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
                .child(worker("x", &sub_log))
                .child(worker("y", &sub_log));
            stash.lock().unwrap().push(spec.subscribe());
            spec
        }))
        .child(worker("b", &log));
    let sup = spec.start(&system).await.expect("started");
    let spec_events = from_spec.lock().unwrap().pop().expect("the factory ran");
    expect_events(
        &exec,
        &spec_events,
        &["top/sub x started", "top/sub y started"],
    )
    .await;

    let sub = sup.child_supervisor("sub").await.unwrap();
    let inner = sub.subscribe().await.unwrap();
    let all = sup.subscribe().await.unwrap();
    let a = sup.child::<Worker, Bounded<Block>>("a").await.unwrap();
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &all,
        &["top a stopped panicked:a boom", "top a restarted 2"],
    )
    .await;
    let x = sub.child::<Worker, Bounded<Block>>("x").await.unwrap();
    x.tell(WMsg::Panic).await.unwrap();
    let x_events = ["top/sub x stopped panicked:x boom", "top/sub x restarted 2"];
    for events in [&all, &inner, &spec_events] {
        expect_events(&exec, events, &x_events).await;
    }
    assert_eq!(drain(&inner), Vec::<String>::new(), "the parent's events");
    assert_eq!(
        drain(&spec_events),
        Vec::<String>::new(),
        "the parent's events"
    );

    // The nested supervisor ended, its subscriptions end (the parent's goes on).
    sup.terminate_child("sub").await.unwrap();
    for events in [&inner, &spec_events] {
        let mut rest = Vec::new();
        while let Some(event) = within(&exec, LONG, events.recv()).await {
            rest.push(event_str(&event));
        }
        assert_eq!(
            rest,
            ["top/sub y stopped shutdown", "top/sub x stopped shutdown"]
        );
    }
    expect_events(
        &exec,
        &all,
        &[
            "top/sub y stopped shutdown",
            "top/sub x stopped shutdown",
            "top sub stopped shutdown",
        ],
    )
    .await;
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A nested supervisor whose child fails to start fails the parent's start: it rolls back its
/// own children, then the parent rolls back its, and the error names the nested supervisor.
async fn nested_start_failure_fails_the_parents_start<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let sub_log = log.clone();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log))
        .child(ChildSpec::supervisor("sub", move || {
            SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
                .child(worker("x", &sub_log))
                .child(worker_with("y", &sub_log, |mut w| {
                    w.start = StartMode::Fail;
                    w
                }))
        }))
        .child(worker("b", &log));
    let events = spec.subscribe();
    let err = within(&exec, LONG, spec.start(&system))
        .await
        .expect_err("the start fails");
    match &err {
        StartError::Child {
            id,
            cause: StartCause::Exited(reason),
        } => {
            assert_eq!(&**id, "sub");
            let inner = reason
                .error()
                .and_then(|e| e.downcast_ref::<StartError>())
                .unwrap_or_else(|| panic!("not a StartError: {}", short(reason)));
            match inner {
                StartError::Child { id, cause } => {
                    assert_eq!(&**id, "y");
                    assert_eq!(cause_str(cause), "failed:test error: start failed");
                }
                other => panic!("expected StartError::Child, got {other:?}"),
            }
        }
        other => panic!("expected StartError::Child, got {other:?}"),
    }
    assert_eq!(
        lines(&log),
        strs(&[
            "a started",
            "x started",
            "y stopped failed:test error: start failed",
            "x stopped shutdown",
            "a stopped shutdown",
        ])
    );
    let got: Vec<String> = drain(&events)
        .into_iter()
        .map(|e| e.split(" start-failed").next().unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        strs(&[
            "top a started",
            "top/sub x started",
            "top/sub y",
            "top/sub x stopped shutdown",
            "top sub",
            "top a stopped shutdown",
        ])
    );
}

/// Stopping the parent stops the tree: each supervisor in reverse order, a nested one's
/// children before it ends.
async fn stopping_the_parent_stops_the_nested_tree<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = tree::<E>(&log);
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let sub = sup.child_supervisor("sub").await.unwrap();
    sup.stop();
    assert!(matches!(
        within(&exec, LONG, sup.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert!(matches!(
        sub.exit_reason(),
        Some(ExitReason::Shutdown(None))
    ));
    assert_eq!(
        lines(&log)[4..],
        strs(&[
            "b stopped shutdown",
            "y stopped shutdown",
            "x stopped shutdown",
            "a stopped shutdown",
        ])
    );
    assert_eq!(
        drain(&events)[5..],
        strs(&[
            "top b stopped shutdown",
            "top/sub y stopped shutdown",
            "top/sub x stopped shutdown",
            "top sub stopped shutdown",
            "top a stopped shutdown",
        ])
    );
}

/// A start that is abandoned (dropped, as by a caller's timeout) while a child's `started`
/// never returns kills the supervisor and the children it started: nothing is left running
/// that no reference reaches.
async fn an_abandoned_start_kills_what_it_started<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    // Virtual time that nobody advances: b's start never ends.
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .child(worker("a", &log))
        .child(worker_with(
            "b",
            &log,
            slow_start(Duration::from_secs(3600)),
        ));
    let start = Box::pin(spec.start(&system));
    let begun = Box::pin(eventually(&exec, "b's start begun", || {
        has(&log, "b starting")
    }));
    match futures::future::select(start, begun).await {
        futures::future::Either::Left(_) => panic!("the start cannot end"),
        futures::future::Either::Right(((), start)) => drop(start),
    }
    eventually(&exec, "a killed", || has(&log, "a stopped killed")).await;
    eventually(&exec, "b killed", || has(&log, "b stopped killed")).await;
}

/// A pool's start dropped before it returns kills its supervisor and the members started so
/// far: the first member's start never ends, the second never begins.
async fn an_abandoned_pool_start_kills_its_members<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let members = log.clone();
    // Virtual time that nobody advances: the first member's start never ends.
    let spec = PoolSpec::new("p", 2, move || {
        slow_start(Duration::from_secs(3600))(Worker::new("m", &members))
    });
    let start = Box::pin(Pool::start(spec, &system));
    let begun = Box::pin(eventually(&exec, "a member's start begun", || {
        has(&log, "m starting")
    }));
    match futures::future::select(start, begun).await {
        futures::future::Either::Left(_) => panic!("the start cannot end"),
        futures::future::Either::Right(((), start)) => drop(start),
    }
    eventually(&exec, "the member killed", || has(&log, "m stopped killed")).await;
    let starts = lines(&log)
        .iter()
        .filter(|l| l.ends_with("starting"))
        .count();
    assert_eq!(starts, 1, "the second member never began");
}

/// A supervisor that is killed takes its children with it, killed (not stopped gracefully),
/// down a nested tree. Twenty rounds: a graceful stop begun by the killed supervisor's
/// `stopped` hook raced the kill on a multi-thread executor (the std executor lost it in most
/// rounds; on a single thread the kill always won).
async fn killing_the_parent_kills_the_nested_tree<E: Executor>(exec: E) {
    for _ in 0..20 {
        let (_vt, system) = setup(&exec);
        let log = Log::default();
        let sup = tree::<E>(&log).start(&system).await.expect("started");
        let sub = sup.child_supervisor("sub").await.unwrap();
        let a = worker_ref(&sup, "a").await;
        let b = worker_ref(&sup, "b").await;
        let x = worker_ref(&sub, "x").await;
        let y = worker_ref(&sub, "y").await;
        sup.actor_ref().kill();
        assert!(matches!(
            within(&exec, LONG, sup.wait()).await,
            ExitReason::Killed
        ));
        for (id, child) in [("a", &a), ("b", &b), ("x", &x), ("y", &y)] {
            let reason = within(&exec, LONG, child.wait()).await;
            assert_eq!(short(&reason), "killed", "child {id}");
        }
        let reason = within(&exec, LONG, sub.wait()).await;
        assert_eq!(short(&reason), "killed", "the nested supervisor");
    }
}

// =============================================================================================
// 6. Pools

/// A pool starts `size` members; round-robin spreads messages evenly.
async fn pool_round_robin_spreads_messages_evenly<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let pool = Pool::start(PoolSpec::new("p", 3, Counter::default), &system)
        .await
        .expect("pool");
    let members = pool.members();
    assert_eq!(members.len(), 3);
    assert_eq!(
        ids(&pool.supervisor().which_children().await.unwrap()),
        ["p#2", "p#1", "p#0"]
    );
    let picks: Vec<_> = (0..4).map(|_| pool.pick().unwrap().id()).collect();
    let m: Vec<_> = members.iter().map(|r| r.id()).collect();
    assert_eq!(picks, [m[0], m[1], m[2], m[0]], "each member in turn");
    for n in 1..=9 {
        pool.tell(CounterMsg::Add(n)).await.unwrap();
    }
    let mut totals = Vec::new();
    for m in &members {
        totals.push(m.ask(CounterMsg::Get).await.unwrap());
    }
    // Nine messages 1..=9, in turn from the fifth pick on (member 1): member 1 gets 1, 4, 7;
    // member 2 gets 2, 5, 8; member 0 gets 3, 6, 9.
    assert_eq!(totals, [3 + 6 + 9, 1 + 4 + 7, 2 + 5 + 8]);
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

/// `LeastLoaded` picks the member with the fewest messages waiting (ties: the first).
async fn pool_least_loaded_picks_the_shortest_mailbox<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let pool = Pool::start(
        PoolSpec::new("p", 3, || Recorder::new().0).routing(Routing::LeastLoaded),
        &system,
    )
    .await
    .expect("pool");
    let m = pool.members();
    let mut gates = Vec::new();
    for member in &m {
        gates.push(hold(&exec, member).await);
    }
    m[0].tell(Msg::Item(1)).await.unwrap();
    m[0].tell(Msg::Item(2)).await.unwrap();
    m[2].tell(Msg::Item(3)).await.unwrap();
    let lens = || m.iter().map(|r| r.mailbox_len()).collect::<Vec<_>>();
    assert_eq!(lens(), [2, 0, 1]);
    assert_eq!(pool.pick().unwrap().id(), m[1].id());
    pool.tell(Msg::Item(10)).await.unwrap();
    assert_eq!(lens(), [2, 1, 1]);
    pool.tell(Msg::Item(11)).await.unwrap(); // the tie goes to m[1]
    assert_eq!(lens(), [2, 2, 1]);
    pool.tell(Msg::Item(12)).await.unwrap();
    assert_eq!(lens(), [2, 2, 2]);
    pool.tell(Msg::Item(13)).await.unwrap();
    assert_eq!(lens(), [3, 2, 2]);
    for gate in gates {
        gate.open();
    }
    let mut seen_by = Vec::new();
    for member in &m {
        seen_by.push(member.ask(Msg::Get).await.unwrap());
    }
    assert_eq!(seen_by, [vec![1, 2, 13], vec![10, 11], vec![3, 12]]);
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

/// A crashing member is restarted behind the same reference: the member list is unchanged and
/// the member answers again, with fresh state.
async fn pool_member_crash_restarts_behind_the_same_reference<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let pool = Pool::start(PoolSpec::new("p", 3, Counter::default), &system)
        .await
        .expect("pool");
    let events = pool.supervisor().subscribe().await.unwrap();
    let before: Vec<_> = pool.members().iter().map(|r| r.id()).collect();
    let m1 = pool.members()[1].clone();
    m1.tell(CounterMsg::Add(5)).await.unwrap();
    m1.tell(CounterMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &["p p#1 stopped panicked:counter boom", "p p#1 restarted 2"],
    )
    .await;
    let after: Vec<_> = pool.members().iter().map(|r| r.id()).collect();
    assert_eq!(before, after);
    assert!(m1.is_alive());
    assert_eq!(m1.ask(CounterMsg::Get).await.unwrap(), 0);
    for _ in 0..3 {
        pool.tell(CounterMsg::Add(1)).await.unwrap();
    }
    for member in pool.members() {
        assert_eq!(member.ask(CounterMsg::Get).await.unwrap(), 1);
    }
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

/// Waits until the supervisor of `sup` runs child `id` as an actor other than `old` (its
/// replacement after `old` ended), and returns it.
async fn replaced<E: Executor, A: Actor, MB: Mailbox>(
    exec: &E,
    sup: &SupervisorRef<Vt<E>>,
    id: &str,
    old: playhouse::core::ActorId,
) -> ActorRef<A, MB> {
    let deadline = ::std::time::Instant::now() + LONG;
    loop {
        if let Ok(member) = sup.child::<A, MB>(id).await {
            if member.id() != old {
                return member;
            }
        }
        assert!(
            ::std::time::Instant::now() < deadline,
            "{id} never replaced"
        );
        exec.sleep_until(::std::time::Instant::now() + Duration::from_millis(2))
            .await;
    }
}

/// A member that was asked to stop but has not ended yet (held in a handler) takes no more
/// messages: the pool's sends go to the other member, not into a `Closed` error.
async fn pool_routes_past_a_member_that_is_stopping<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    for routing in [Routing::RoundRobin, Routing::LeastLoaded] {
        let pool = Pool::start(
            PoolSpec::new("p", 2, || Recorder::new().0).routing(routing),
            &system,
        )
        .await
        .expect("pool");
        let m = pool.members();
        let gate = hold(&exec, &m[0]).await;
        m[0].stop();
        assert!(m[0].is_alive() && !m[0].accepts_messages());
        assert!(m[1].accepts_messages());
        for n in 0..6 {
            pool.tell(Msg::Item(n))
                .await
                .unwrap_or_else(|_| panic!("{routing:?}: routed past the stopping member"));
        }
        assert_eq!(
            m[1].ask(Msg::Get).await.unwrap(),
            (0..6).collect::<Vec<_>>(),
            "{routing:?}"
        );
        gate.open();
        within(&exec, LONG, m[0].wait()).await;
        pool.supervisor().stop();
        within(&exec, LONG, pool.supervisor().wait()).await;
    }
}

/// A send that picked a member and waits for room in its full mailbox, when that member stops,
/// gets its message back from it and hands it to the next member: delivered, not `Closed`
/// while another member takes messages.
async fn pool_send_waiting_on_a_member_that_stops_goes_to_the_next<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let pool = Pool::start(
        PoolSpec::new("p", 2, || Recorder::new().0)
            .mailbox(Bounded::<Block>::with_capacity(1).unwrap()),
        &system,
    )
    .await
    .expect("pool");
    let m = pool.members();
    let gate = hold(&exec, &m[0]).await;
    m[0].tell(Msg::Item(0)).await.expect("room for one");
    // Round robin: of two sends in a row, one picks the held member and waits for room.
    let mut waiting = None;
    for n in [1, 2] {
        let mut send = Box::pin(pool.tell(Msg::Item(n)));
        if futures::poll!(send.as_mut()).is_pending() {
            waiting = Some((n, send));
            break;
        }
    }
    let (n, send) = waiting.expect("a send waits for the full member");
    m[0].stop();
    within(&exec, LONG, send)
        .await
        .expect("delivered to the other member");
    let got = within(&exec, LONG, m[1].ask(Msg::Get)).await.unwrap();
    assert!(got.contains(&n), "{got:?} lacks {n}");
    gate.open();
    within(&exec, LONG, m[0].wait()).await;
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

/// A member that ends for good (killed through its reference, or a `Temporary` one that
/// crashed) is skipped by both routings, and the first send that meets it refreshes the list
/// from the supervisor: a replaced member is reached through its new reference, a removed one
/// leaves the list. No `refresh` is called by hand here.
async fn pool_routes_past_members_that_ended<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    for routing in [Routing::RoundRobin, Routing::LeastLoaded] {
        // A permanent member killed: its supervisor starts a new actor under a new reference.
        let pool = Pool::start(
            PoolSpec::new("p", 3, Counter::default).routing(routing),
            &system,
        )
        .await
        .expect("pool");
        let killed = pool.members()[1].clone();
        killed.kill();
        within(&exec, LONG, killed.wait()).await;
        // Once the supervisor has replaced it...
        let replacement: ActorRef<Counter, Bounded<Block>> =
            replaced(&exec, pool.supervisor(), "p#1", killed.id()).await;
        // ...the pool's sends find the replacement.
        for _ in 0..6 {
            pool.tell(CounterMsg::Add(1))
                .await
                .expect("routed past the ended member");
        }
        assert_eq!(pool.members()[1].id(), replacement.id(), "{routing:?}");
        let mut counts = Vec::new();
        for member in pool.members() {
            counts.push(member.ask(CounterMsg::Get).await.unwrap());
        }
        assert_eq!(
            counts.iter().sum::<u64>(),
            6,
            "{routing:?}: every tell was handled"
        );
        if routing == Routing::RoundRobin {
            assert!(counts[1] > 0, "the replacement gets its share: {counts:?}");
        }
        pool.supervisor().stop();
        within(&exec, LONG, pool.supervisor().wait()).await;

        // A temporary member crashed: its supervisor removes it, and so does the pool.
        let pool = Pool::start(
            PoolSpec::new("t", 3, Counter::default)
                .routing(routing)
                .restart(RestartType::Temporary),
            &system,
        )
        .await
        .expect("pool");
        let crashed = pool.members()[0].clone();
        crashed.tell(CounterMsg::Panic).await.unwrap();
        within(&exec, LONG, crashed.wait()).await;
        let deadline = ::std::time::Instant::now() + LONG;
        while pool.supervisor().which_children().await.unwrap().len() == 3 {
            assert!(
                ::std::time::Instant::now() < deadline,
                "{routing:?}: never removed"
            );
            exec.sleep_until(::std::time::Instant::now() + Duration::from_millis(2))
                .await;
        }
        for _ in 0..6 {
            pool.tell(CounterMsg::Add(1))
                .await
                .expect("routed past the ended member");
        }
        let members = pool.members();
        assert_eq!(
            members.len(),
            2,
            "{routing:?}: the removed member left the list"
        );
        assert!(members.iter().all(|m| m.id() != crashed.id()));
        let mut total = 0;
        for member in &members {
            total += member.ask(CounterMsg::Get).await.unwrap();
        }
        assert_eq!(total, 6, "{routing:?}: every tell was handled");
        pool.supervisor().stop();
        within(&exec, LONG, pool.supervisor().wait()).await;
    }
}

/// Spawns `fut` on `exec`; the receiver gets its output.
fn spawn_task<E: Executor, T: Send + 'static>(
    exec: &E,
    fut: impl ::std::future::Future<Output = T> + Send + 'static,
) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    exec.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx
}

/// A pool member that forwards to its own pool while being stopped: its send must not wait
/// for the supervisor, which waits for it.
struct Forwarder;

/// The forwarding step: called from the handler once its gate opens.
type Forward = Arc<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

enum FMsg {
    /// Says it started, waits for the gate, then forwards (through the pool) and answers
    /// whether it went.
    Forward(
        oneshot::Sender<()>,
        futures::future::Shared<oneshot::Receiver<()>>,
        Forward,
        Reply<bool>,
    ),
    Nothing,
}

impl Actor for Forwarder {
    type Message = FMsg;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for Forwarder {
    async fn handle(
        &mut self,
        msg: FMsg,
        _: &mut Context<Self, V>,
    ) -> Result<(), ::std::convert::Infallible> {
        if let FMsg::Forward(started, gate, forward, reply) = msg {
            let _ = started.send(());
            let _ = gate.await;
            let _ = reply.send(forward().await);
        }
        Ok(())
    }
}

/// A member's handler that sends to its own pool while the pool's supervisor stops that very
/// member (`shrink`, `Shutdown::Infinity`) does not wait for the supervisor, even with an
/// ended member in the pool's list: the send routes past it, the handler returns, and the stop
/// completes (it waited for ever when the send refreshed the list from the supervisor).
async fn pool_send_from_a_member_being_stopped_does_not_wait_for_the_supervisor<E: Executor>(
    exec: E,
) {
    use futures::FutureExt;
    let (_vt, system) = setup(&exec);
    let pool = Arc::new(
        Pool::start(
            PoolSpec::new("f", 3, || Forwarder)
                .routing(Routing::LeastLoaded)
                .shutdown(Shutdown::Infinity),
            &system,
        )
        .await
        .expect("pool"),
    );
    // An ended member in the list: killed, replaced by the supervisor, not yet refreshed.
    let killed = pool.members()[0].clone();
    killed.kill();
    within(&exec, LONG, killed.wait()).await;
    let _: ActorRef<Forwarder, Bounded<Block>> =
        replaced(&exec, pool.supervisor(), "f#0", killed.id()).await;
    let forward: Forward = {
        let pool = pool.clone();
        Arc::new(move || {
            let pool = pool.clone();
            async move { pool.tell(FMsg::Nothing).await.is_ok() }.boxed()
        })
    };
    let (open, gate) = oneshot::channel();
    let (started, in_handler) = oneshot::channel();
    let last = pool.members()[2].clone();
    let asked = {
        let last = last.clone();
        let gate = gate.shared();
        spawn_task(&exec, async move {
            last.ask(|reply| FMsg::Forward(started, gate, forward, reply))
                .await
        })
    };
    within(&exec, LONG, in_handler)
        .await
        .expect("the member is in its handler");
    // The member is in its handler; the pool's supervisor starts stopping it.
    let shrinking = {
        let pool = pool.clone();
        spawn_task(&exec, async move { pool.shrink().await })
    };
    // Once the member is being stopped its mailbox refuses a send.
    eventually(&exec, "the shrink to stop the member", || {
        matches!(last.try_tell(FMsg::Nothing), Err(SendError::Closed(_)))
    })
    .await;
    open.send(()).unwrap();
    let shrunk = within(&exec, LONG, shrinking).await.expect("the task ran");
    assert!(matches!(shrunk, Ok(true)), "{shrunk:?}");
    let forwarded = within(&exec, LONG, asked).await.expect("the task ran");
    assert!(matches!(forwarded, Ok(true)), "the forward went");
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

/// An actor that is not a member sends to a pool whose members were all replaced: its send
/// finds every member ended, asks the supervisor, and reaches a replacement.
async fn pool_send_from_another_actor_finds_replaced_members<E: Executor>(exec: E) {
    use futures::FutureExt;
    let (_vt, system) = setup(&exec);
    let pool = Arc::new(
        Pool::start(PoolSpec::new("r", 2, || Forwarder), &system)
            .await
            .expect("pool"),
    );
    let ended = pool.members();
    for member in &ended {
        member.kill();
        within(&exec, LONG, member.wait()).await;
    }
    for (n, old) in ended.iter().enumerate() {
        let _: ActorRef<Forwarder, Bounded<Block>> =
            replaced(&exec, pool.supervisor(), &format!("r#{n}"), old.id()).await;
    }
    let forward: Forward = {
        let pool = pool.clone();
        Arc::new(move || {
            let pool = pool.clone();
            async move { pool.tell(FMsg::Nothing).await.is_ok() }.boxed()
        })
    };
    let router = system.spawn(Forwarder);
    let (open, gate) = oneshot::channel();
    open.send(()).unwrap();
    let (started, _) = oneshot::channel();
    let sent = within(
        &exec,
        LONG,
        router.ask(|reply| FMsg::Forward(started, gate.shared(), forward, reply)),
    )
    .await
    .expect("the router answered");
    assert!(sent, "the router's send reached a replacement");
    assert!(pool.members().iter().all(|m| m.is_alive()));
    router.stop();
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

/// `grow` adds a member at the end; `shrink` stops and removes the newest; an empty pool has
/// nothing to pick.
async fn pool_grow_and_shrink<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let pool = Pool::start(PoolSpec::new("p", 2, Counter::default), &system)
        .await
        .expect("pool");
    let first: Vec<_> = pool.members().iter().map(|r| r.id()).collect();
    let grown = pool.grow().await.expect("grow");
    let members = pool.members();
    assert_eq!(members.len(), 3);
    assert_eq!(members[2].id(), grown.id());
    assert_eq!(grown.ask(CounterMsg::Get).await.unwrap(), 0);
    assert_eq!(
        ids(&pool.supervisor().which_children().await.unwrap()),
        ["p#2", "p#1", "p#0"]
    );
    assert!(pool.shrink().await.expect("shrink"));
    let now: Vec<_> = pool.members().iter().map(|r| r.id()).collect();
    assert_eq!(now, first);
    assert!(matches!(
        within(&exec, LONG, grown.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(
        ids(&pool.supervisor().which_children().await.unwrap()),
        ["p#1", "p#0"]
    );
    assert!(pool.shrink().await.unwrap());
    assert!(pool.shrink().await.unwrap());
    assert!(!pool.shrink().await.unwrap());
    assert!(pool.members().is_empty());
    assert!(pool.pick().is_none());
    assert!(matches!(
        pool.tell(CounterMsg::Add(1)).await,
        Err(SendError::Closed(_))
    ));
    assert!(pool.supervisor().which_children().await.unwrap().is_empty());
    pool.supervisor().stop();
    within(&exec, LONG, pool.supervisor().wait()).await;
}

// =============================================================================================
// 7. Monitors and links on supervised children

/// A monitor of a supervised child sees no `Down` when the child is restarted (the reference
/// lives on), and one when it ends for good.
async fn monitor_of_a_supervised_child_sees_down_only_at_its_end<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let (tx, mut rx) = mpsc::unbounded();
    let watcher = system.spawn(Watcher { tx, trap: false });
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    let monitor = a.monitor_by(&watcher);
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top a started",
            "top a stopped panicked:a boom",
            "top a restarted 2",
        ],
    )
    .await;
    // A Down queued at the crash would be handled before this ping.
    watcher.ask(WatchMsg::Ping).await.unwrap();
    assert!(rx.try_recv().is_err(), "a Down for a restart");
    sup.terminate_child("a").await.unwrap();
    match next(&exec, &mut rx).await {
        Seen::Down(down) => {
            assert_eq!(down.id, a.id());
            assert_eq!(down.monitor, monitor.id());
            assert_eq!(short(&down.reason), "shutdown");
        }
        Seen::Exit(_) => panic!("an Exit without a link"),
    }
    watcher.ask(WatchMsg::Ping).await.unwrap();
    assert!(rx.try_recv().is_err(), "one Down only");
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A linked actor that traps exits gets no `Exit` when the supervised child is restarted, and
/// one when it ends for good.
async fn link_to_a_supervised_child_signals_only_at_its_end<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let (tx, mut rx) = mpsc::unbounded();
    let watcher = system.spawn(Watcher { tx, trap: true });
    watcher.ask(WatchMsg::Ping).await.unwrap(); // traps exits from now on
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    a.link(&watcher);
    a.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top a started",
            "top a stopped panicked:a boom",
            "top a restarted 2",
        ],
    )
    .await;
    watcher.ask(WatchMsg::Ping).await.unwrap();
    assert!(rx.try_recv().is_err(), "an Exit for a restart");
    sup.terminate_child("a").await.unwrap();
    match next(&exec, &mut rx).await {
        Seen::Exit(exit) => {
            assert_eq!(exit.id, a.id());
            assert_eq!(short(&exit.reason), "shutdown");
        }
        Seen::Down(_) => panic!("a Down without a monitor"),
    }
    assert!(watcher.is_alive());
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

/// A linked actor's crash ends the supervised child's incarnation with the same reason, and
/// the supervisor restarts the child behind the same reference.
async fn linked_crash_restarts_the_supervised_child<E: Executor>(exec: E) {
    let (_vt, system) = setup(&exec);
    let log = Log::default();
    let spec = SupervisorSpec::<Vt<E>>::new(Strategy::OneForOne)
        .name("top")
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = spec.start(&system).await.expect("started");
    let a = worker_ref::<E>(&sup, "a").await;
    let peer = system.spawn(Worker::new("peer", &log));
    peer.link(&a);
    peer.tell(WMsg::Panic).await.unwrap();
    expect_events(
        &exec,
        &events,
        &[
            "top a started",
            "top a stopped panicked:peer boom",
            "top a restarted 2",
        ],
    )
    .await;
    assert_eq!(short(&peer.wait().await), "panicked:peer boom");
    assert_eq!(a.ask(WMsg::Ping).await.unwrap(), 2);
    sup.stop();
    within(&exec, LONG, sup.wait()).await;
}

executor_tests!(
    a_group_restart_cuts_a_hanging_stopped_hook_at_its_timeout,
    pool_send_waiting_on_a_member_that_stops_goes_to_the_next,
    a_nested_subscription_sees_its_subtree_only,
    start_runs_children_one_at_a_time_in_order,
    start_failure_in_factory_stops_started_children_in_reverse,
    start_failure_in_started_stops_started_children_in_reverse,
    start_panic_in_started_stops_started_children_in_reverse,
    invalid_flags_fail_before_any_child_starts,
    stop_stops_children_in_reverse_order_by_policy,
    shutdown_timeout_kills_a_hanging_handler,
    shutdown_timeout_cuts_a_hanging_stopped_hook,
    brutal_kills_at_once,
    infinity_waits_for_the_child,
    child_exit_during_shutdown_keeps_its_reason,
    start_child_and_its_errors,
    terminate_child_and_its_errors,
    restart_child_and_its_errors,
    restarting_child_refuses_manual_operations,
    a_dropped_restarts_retry_does_not_cut_a_later_backoff,
    delete_child_and_its_errors,
    which_children_and_count_children,
    child_lookup_and_its_errors,
    any_significant_exit_shuts_the_supervisor_down,
    all_significant_waits_for_the_last,
    all_significant_counts_a_child_stopped_by_hand_as_ended,
    significant_child_stopped_by_hand_or_restarted_does_not_shut_down,
    significant_temporary_removed_by_group_restart_does_not_shut_down,
    nested_supervisor_starts_its_children_before_the_next_sibling,
    nested_start_failure_fails_the_parents_start,
    stopping_the_parent_stops_the_nested_tree,
    killing_the_parent_kills_the_nested_tree,
    an_abandoned_start_kills_what_it_started,
    an_abandoned_pool_start_kills_its_members,
    pool_round_robin_spreads_messages_evenly,
    pool_least_loaded_picks_the_shortest_mailbox,
    pool_member_crash_restarts_behind_the_same_reference,
    pool_grow_and_shrink,
    pool_routes_past_members_that_ended,
    pool_routes_past_a_member_that_is_stopping,
    pool_send_from_a_member_being_stopped_does_not_wait_for_the_supervisor,
    pool_send_from_another_actor_finds_replaced_members,
    monitor_of_a_supervised_child_sees_down_only_at_its_end,
    link_to_a_supervised_child_signals_only_at_its_end,
    linked_crash_restarts_the_supervised_child,
);
