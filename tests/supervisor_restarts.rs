//! Supervisor restarts, organised after OTP's `supervisor_SUITE` (first half): each strategy's
//! stop and start order, each restart type against each kind of exit, restart intensity (at the
//! limit, one past, zero, the sliding window, a group restart counting once), escalation through
//! nested supervisors, failed restarts and their retries, backoff, kept and drained queues, and
//! the lifecycle events of a crash-restart. Each body runs on every executor.
//!
//! Time is virtual: every supervisor runs on `VirtualTime`, so restart windows and backoff
//! delays move only when a test advances the clock. Nothing waits for real time to "let things
//! happen": a test waits for lifecycle events, an actor's end, an ask, or a counter polled with a
//! bound; every "has not happened" is checked after a round trip to the supervisor (its
//! `which_children`), which it serves only after it has finished what it was doing.
//!
//! The test worker logs `start <id>/<incarnation>` and `stop <id>/<incarnation>` from its hooks
//! into a log shared by all children of a test, so that the log is the order in which the
//! supervisor stopped and started them.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::future::Future;
use ::std::pin::{Pin, pin};
use ::std::sync::Arc;
use ::std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use ::std::time::{Duration, Instant};

use common::*;
use futures::channel::oneshot;
use futures::future::{Either, select};
use futures::poll;
use playhouse::mailbox::{Block, Bounded};
use playhouse::prelude::*;
use playhouse::supervisor::{
    Backoff, ChildInfo, ChildKind, ChildState, EventKind, Events, SupervisorEvent,
};
use playhouse::testing::VirtualTime;

// ---------------------------------------------------------------------------------------------
// The test worker

/// Logs its starts and stops (with its child id and incarnation) and fails, panics or stops on
/// command.
struct Worker {
    id: &'static str,
    log: Log,
}

enum W {
    /// Answers with the incarnation.
    Ping(Reply<u32>),
    /// Logs `<id>/<incarnation> item <n>`.
    Item(u32),
    /// Logs `<id>/<incarnation> echo <n>` and answers `n`.
    Echo(u32, Reply<u32>),
    /// Answers (so that the asker knows the worker is busy), then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    /// Returns `Err(FAIL)`: exit `Failed`.
    Fail,
    /// Panics with "worker boom": exit `Panicked`.
    Panic,
    /// Panics while holding the reply port.
    PanicHolding(Reply<()>),
    /// `ctx.stop()`: exit `Normal`.
    StopNormal,
    /// `ctx.myself().stop()`: the actor ends for good with `Shutdown`.
    StopShutdown,
    /// Ends its own incarnation with `Shutdown("done")` (the actor is kept for a restart).
    StopShutdownInfo,
}

impl Actor for Worker {
    type Message = W;
    type Error = TestError;
}

impl Worker {
    fn note(&self, what: String) {
        self.log.lock().unwrap().push(what);
    }
}

impl<V: Env> Handler<V> for Worker {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        self.note(format!("start {}/{}", self.id, ctx.incarnation()));
        Ok(())
    }

    async fn handle(&mut self, msg: W, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            W::Ping(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
            W::Item(n) => self.note(format!("{}/{} item {n}", self.id, ctx.incarnation())),
            W::Echo(n, reply) => {
                self.note(format!("{}/{} echo {n}", self.id, ctx.incarnation()));
                let _ = reply.send(n);
            }
            W::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            W::Fail => return Err(FAIL),
            W::Panic => panic!("worker boom"),
            W::PanicHolding(_reply) => panic!("worker boom"),
            W::StopNormal => ctx.stop(),
            W::StopShutdown => ctx.myself().stop(),
            W::StopShutdownInfo => ctx.myself().end_incarnation(
                IncarnationEnd::AfterCurrentMessage,
                ExitReason::Shutdown(Some("done".into())),
            ),
        }
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, _reason: &ExitReason) {
        self.note(format!("stop {}/{}", self.id, ctx.incarnation()));
    }
}

type WRef = ActorRef<Worker, Bounded<Block>>;
type VT<E> = VirtualTime<E>;

/// `Failed` with [`FAIL`], as events show it.
const FAILED: &str = "Failed(\"test error: failed on purpose\")";
/// The reason of a supervisor that exceeded its intensity, as events show it.
const ESCALATED: &str = "Shutdown(\"reached max restart intensity\")";

fn worker(id: &'static str, log: &Log) -> ChildSpec<Worker> {
    let log = log.clone();
    ChildSpec::new(id, move || Worker {
        id,
        log: log.clone(),
    })
}

/// A factory that fails while `fail` is set, or for the next `fail_next` calls; counts calls.
#[derive(Default)]
struct Flaky {
    calls: AtomicU32,
    fail_next: AtomicU32,
    fail: AtomicBool,
}

const FACTORY_FAILED: &str = "start failed its factory failed: test error: factory failed";

fn flaky_worker(id: &'static str, log: &Log, flaky: &Arc<Flaky>) -> ChildSpec<Worker> {
    let log = log.clone();
    let flaky = flaky.clone();
    ChildSpec::try_new(id, move || {
        flaky.calls.fetch_add(1, Ordering::SeqCst);
        let once = flaky
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if once || flaky.fail.load(Ordering::SeqCst) {
            Err(TestError("factory failed"))
        } else {
            Ok(Worker {
                id,
                log: log.clone(),
            })
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// An event as one line: `<supervisor>:<child or -> <what>`.
fn describe(e: &SupervisorEvent) -> String {
    let child = e.child.as_deref().unwrap_or("-");
    let kind = match &e.kind {
        EventKind::Started => "started".to_string(),
        EventKind::Restarted { incarnation } => format!("restarted {incarnation}"),
        EventKind::Stopped { reason } => format!("stopped {reason:?}"),
        EventKind::StartFailed { cause } => format!("start failed {cause}"),
        EventKind::Escalated { max_restarts } => format!("escalated {max_restarts}"),
        EventKind::AutoShutdown => "auto shutdown".to_string(),
        EventKind::HealthCheckFailed { cause, .. } => format!("health check failed {cause}"),
    };
    format!("{}:{child} {kind}", e.supervisor)
}

/// The next event, or `None` after [`LONG`] (timed by the real executor).
async fn recv_within<E: Executor>(exec: &E, events: &Events) -> Option<SupervisorEvent> {
    let sleep = exec.sleep_until(Instant::now() + LONG);
    match select(pin!(sleep), pin!(events.recv())).await {
        Either::Left(_) => None,
        Either::Right((event, _)) => event,
    }
}

/// The events up to and including the first that reads `last`.
async fn events_until<E: Executor>(exec: &E, events: &Events, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match recv_within(exec, events).await {
            Some(e) => {
                let line = describe(&e);
                let done = line == last;
                seen.push(line);
                if done {
                    return seen;
                }
            }
            None => panic!("no event {last:?} came; the events were {seen:#?}"),
        }
    }
}

/// Asserts that the events up to `expected`'s last are `expected`.
async fn expect_events<E: Executor>(exec: &E, events: &Events, expected: &[&str]) {
    let last = expected.last().expect("at least one event");
    assert_eq!(events_until(exec, events, last).await, expected);
}

/// The events already sent. After a round trip to the supervisor (e.g. `which_children`), these
/// are all it has sent so far.
fn pending_events(events: &Events) -> Vec<String> {
    ::std::iter::from_fn(|| events.try_recv())
        .map(|e| describe(&e))
        .collect()
}

/// `which_children` as `(id, state)`, newest first.
async fn states<E: Executor>(exec: &E, sup: &SupervisorRef<VT<E>>) -> Vec<(String, ChildState)> {
    children(exec, sup)
        .await
        .into_iter()
        .map(|c| (c.id.to_string(), c.state))
        .collect()
}

async fn children<E: Executor>(exec: &E, sup: &SupervisorRef<VT<E>>) -> Vec<ChildInfo> {
    within(exec, LONG, sup.which_children())
        .await
        .expect("the supervisor answers which_children")
}

fn pairs(list: &[(&str, ChildState)]) -> Vec<(String, ChildState)> {
    list.iter().map(|(id, s)| (id.to_string(), *s)).collect()
}

async fn child_ref<E: Executor>(exec: &E, sup: &SupervisorRef<VT<E>>, id: &str) -> WRef {
    within(exec, LONG, sup.child::<Worker, Bounded<Block>>(id))
        .await
        .unwrap_or_else(|e| panic!("child {id}: {e}"))
}

async fn ping<E: Executor>(exec: &E, child: &WRef) -> u32 {
    within(exec, LONG, child.ask(W::Ping))
        .await
        .expect("the child answers")
}

async fn tell<E: Executor>(exec: &E, child: &WRef, msg: W) {
    if within(exec, LONG, child.tell(msg)).await.is_err() {
        panic!("the child's mailbox is closed");
    }
}

fn take_log(l: &Log) -> Vec<String> {
    ::std::mem::take(&mut *l.lock().unwrap())
}

/// Asserts that the supervisor ended with `Shutdown(Some(_))` because it exceeded its intensity.
async fn expect_escalated_exit<E: Executor>(exec: &E, sup: &SupervisorRef<VT<E>>) {
    let reason = within(exec, LONG, sup.wait()).await;
    assert!(reason.is_normal(), "{reason:?}");
    assert_eq!(format!("{reason:?}"), ESCALATED);
}

/// Stops the supervisor and waits for its end (`Shutdown`).
async fn stop<E: Executor>(exec: &E, sup: &SupervisorRef<VT<E>>) {
    sup.stop();
    let reason = within(exec, LONG, sup.wait()).await;
    assert!(matches!(reason, ExitReason::Shutdown(None)), "{reason:?}");
}

async fn start<E: Executor>(
    exec: &E,
    spec: SupervisorSpec<VT<E>>,
    system: &System<VT<E>>,
) -> SupervisorRef<VT<E>> {
    match within(exec, LONG, spec.start(system)).await {
        Ok(sup) => sup,
        Err(e) => panic!("the supervisor did not start: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Strategies: which children a restart stops and starts, and in which order

/// Children a, b, c under `strategy`; `failing` fails; the events and the log of stops and starts
/// are as expected, and every child keeps its reference.
async fn strategy_case<E: Executor>(
    exec: &E,
    strategy: Strategy,
    failing: &'static str,
    expected_events: &[&str],
    expected_log: &[&str],
) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(strategy)
        .name("sup")
        .intensity(10, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(worker("c", &log));
    let events = spec.subscribe();
    let sup = start(exec, spec, &system).await;
    expect_events(
        exec,
        &events,
        &["sup:a started", "sup:b started", "sup:c started"],
    )
    .await;
    assert_eq!(take_log(&log), ["start a/1", "start b/1", "start c/1"]);
    let before: Vec<_> = children(exec, &sup).await.iter().map(|c| c.actor).collect();

    tell(exec, &child_ref(exec, &sup, failing).await, W::Fail).await;
    expect_events(exec, &events, expected_events).await;
    assert_eq!(
        take_log(&log),
        expected_log,
        "{strategy:?}, {failing} failed"
    );
    let after = children(exec, &sup).await;
    assert!(after.iter().all(|c| c.state == ChildState::Running));
    assert_eq!(
        after.iter().map(|c| c.actor).collect::<Vec<_>>(),
        before,
        "a restart keeps each child's reference"
    );
    assert_eq!(pending_events(&events), Vec::<String>::new());
    stop(exec, &sup).await;
}

/// OneForOne: only the child that exited is stopped (by itself) and started.
async fn one_for_one_restarts_only_the_child<E: Executor>(exec: E) {
    strategy_case(
        &exec,
        Strategy::OneForOne,
        "b",
        &[&format!("sup:b stopped {FAILED}"), "sup:b restarted 2"],
        &["stop b/1", "start b/2"],
    )
    .await;
}

/// OneForAll: the others stop in reverse start order, then all start in start order.
async fn one_for_all_restarts_all_in_order<E: Executor>(exec: E) {
    strategy_case(
        &exec,
        Strategy::OneForAll,
        "b",
        &[
            &format!("sup:b stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:a stopped Shutdown",
            "sup:a restarted 2",
            "sup:b restarted 2",
            "sup:c restarted 2",
        ],
        &[
            "stop b/1",
            "stop c/1",
            "stop a/1",
            "start a/2",
            "start b/2",
            "start c/2",
        ],
    )
    .await;
}

/// RestForOne: those started after it stop (last first), then it and they start; those before
/// it are untouched.
async fn rest_for_one_restarts_the_later_children<E: Executor>(exec: E) {
    strategy_case(
        &exec,
        Strategy::RestForOne,
        "b",
        &[
            &format!("sup:b stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:b restarted 2",
            "sup:c restarted 2",
        ],
        &["stop b/1", "stop c/1", "start b/2", "start c/2"],
    )
    .await;
}

/// RestForOne, the first child: all restart. The last child: only itself.
async fn rest_for_one_first_and_last_child<E: Executor>(exec: E) {
    strategy_case(
        &exec,
        Strategy::RestForOne,
        "a",
        &[
            &format!("sup:a stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:b stopped Shutdown",
            "sup:a restarted 2",
            "sup:b restarted 2",
            "sup:c restarted 2",
        ],
        &[
            "stop a/1",
            "stop c/1",
            "stop b/1",
            "start a/2",
            "start b/2",
            "start c/2",
        ],
    )
    .await;
    strategy_case(
        &exec,
        Strategy::RestForOne,
        "c",
        &[&format!("sup:c stopped {FAILED}"), "sup:c restarted 2"],
        &["stop c/1", "start c/2"],
    )
    .await;
}

/// A temporary sibling stopped by a group restart is removed, not restarted.
async fn group_restart_removes_a_temporary_sibling<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .name("sup")
        .intensity(10, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(worker("t", &log).restart(RestartType::Temporary))
        .child(worker("c", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &["sup:a started", "sup:t started", "sup:c started"],
    )
    .await;
    take_log(&log);
    let t = child_ref(&exec, &sup, "t").await;
    tell(&exec, &child_ref(&exec, &sup, "a").await, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:a stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:t stopped Shutdown",
            "sup:a restarted 2",
            "sup:c restarted 2",
        ],
    )
    .await;
    assert_eq!(
        take_log(&log),
        ["stop a/1", "stop c/1", "stop t/1", "start a/2", "start c/2"]
    );
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[("c", ChildState::Running), ("a", ChildState::Running)])
    );
    assert!(matches!(
        within(&exec, LONG, t.wait()).await,
        ExitReason::Shutdown(None)
    ));
    assert_eq!(pending_events(&events), Vec::<String>::new());
    stop(&exec, &sup).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Restart types against exit kinds

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExitKind {
    /// `ctx.stop()`: `Normal`.
    Normal,
    /// `ctx.myself().stop()`: `Shutdown`, the actor ends for good.
    Shutdown,
    /// Its own incarnation ended with `Shutdown("done")`.
    ShutdownInfo,
    /// The handler returns `Err`.
    Error,
    /// The handler panics.
    Panic,
    /// `ActorRef::kill`: `Killed`, the actor ends for good.
    Kill,
}

impl ExitKind {
    const ALL: [ExitKind; 6] = [
        ExitKind::Normal,
        ExitKind::Shutdown,
        ExitKind::ShutdownInfo,
        ExitKind::Error,
        ExitKind::Panic,
        ExitKind::Kill,
    ];

    fn is_normal(self) -> bool {
        matches!(
            self,
            ExitKind::Normal | ExitKind::Shutdown | ExitKind::ShutdownInfo
        )
    }

    /// Ends the incarnation, not the actor: a restart keeps its reference.
    fn keeps_actor(self) -> bool {
        !matches!(self, ExitKind::Shutdown | ExitKind::Kill)
    }

    fn reason(self) -> &'static str {
        match self {
            ExitKind::Normal => "Normal",
            ExitKind::Shutdown => "Shutdown",
            ExitKind::ShutdownInfo => "Shutdown(\"done\")",
            ExitKind::Error => FAILED,
            ExitKind::Panic => "Panicked(\"worker boom\")",
            ExitKind::Kill => "Killed",
        }
    }

    async fn cause<E: Executor>(self, exec: &E, child: &WRef) {
        match self {
            ExitKind::Normal => tell(exec, child, W::StopNormal).await,
            ExitKind::Shutdown => tell(exec, child, W::StopShutdown).await,
            ExitKind::ShutdownInfo => tell(exec, child, W::StopShutdownInfo).await,
            ExitKind::Error => tell(exec, child, W::Fail).await,
            ExitKind::Panic => tell(exec, child, W::Panic).await,
            ExitKind::Kill => child.kill(),
        }
    }
}

/// OneForAll with intensity 1: a permanent sibling `s`, then `x` of restart type `restart`,
/// which exits by `kind`. Whether `x` is restarted follows its restart type; an exit that is not
/// restarted touches no sibling and is not counted (the sibling's crash that follows is then
/// the first restart and allowed, the second escalates); a restart is counted (the sibling's
/// first crash escalates).
async fn exit_case<E: Executor>(exec: &E, restart: RestartType, kind: ExitKind) {
    let case = format!("{restart:?} child, {kind:?} exit");
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .name("sup")
        .intensity(1, Duration::from_secs(5))
        .child(worker("s", &log))
        .child(worker("x", &log).restart(restart));
    let events = spec.subscribe();
    let sup = start(exec, spec, &system).await;
    expect_events(exec, &events, &["sup:s started", "sup:x started"]).await;
    take_log(&log);
    let s = child_ref(exec, &sup, "s").await;
    let x = child_ref(exec, &sup, "x").await;

    kind.cause(exec, &x).await;
    let x_stopped = format!("sup:x stopped {}", kind.reason());
    let restarted = match restart {
        RestartType::Permanent => true,
        RestartType::Transient => !kind.is_normal(),
        RestartType::Temporary => false,
    };
    if restarted {
        let x_back = if kind.keeps_actor() {
            "sup:x restarted 2"
        } else {
            "sup:x started"
        };
        assert_eq!(
            events_until(exec, &events, x_back).await,
            [
                x_stopped.as_str(),
                "sup:s stopped Shutdown",
                "sup:s restarted 2",
                x_back
            ],
            "{case}"
        );
        let x_start = if kind.keeps_actor() {
            "start x/2"
        } else {
            "start x/1"
        };
        assert_eq!(
            take_log(&log),
            ["stop x/1", "stop s/1", "start s/2", x_start],
            "{case}"
        );
        let now = children(exec, &sup).await;
        assert_eq!(
            now.iter().map(|c| (&*c.id, c.state)).collect::<Vec<_>>(),
            [("x", ChildState::Running), ("s", ChildState::Running)],
            "{case}"
        );
        assert_eq!(now[1].actor, Some(s.id()), "{case}");
        assert_eq!(
            now[0].actor == Some(x.id()),
            kind.keeps_actor(),
            "{case}: the reference is kept only by a restart in place"
        );
        assert_eq!(pending_events(&events), Vec::<String>::new(), "{case}");
        // The restart was counted: the sibling's crash is one too many.
        tell(exec, &s, W::Fail).await;
        assert_eq!(
            events_until(exec, &events, "sup:- escalated 1").await,
            [
                format!("sup:s stopped {FAILED}"),
                "sup:- escalated 1".into()
            ],
            "{case}"
        );
        expect_escalated_exit(exec, &sup).await;
        return;
    }

    // Not restarted: the exit is reported, and nothing else happens.
    assert_eq!(
        events_until(exec, &events, &x_stopped).await,
        [x_stopped.as_str()],
        "{case}"
    );
    let now = children(exec, &sup).await;
    assert_eq!(pending_events(&events), Vec::<String>::new(), "{case}");
    assert_eq!(
        take_log(&log),
        ["stop x/1"],
        "{case}: the sibling is untouched"
    );
    let x_reason = within(exec, LONG, x.wait()).await;
    assert_eq!(format!("{x_reason:?}"), kind.reason(), "{case}");
    if restart == RestartType::Transient {
        // Kept, stopped.
        assert_eq!(
            now.iter()
                .map(|c| (&*c.id, c.state, c.actor))
                .collect::<Vec<_>>(),
            [
                ("x", ChildState::Stopped, None),
                ("s", ChildState::Running, Some(s.id()))
            ],
            "{case}"
        );
    } else {
        // Removed.
        assert_eq!(
            now.iter()
                .map(|c| (&*c.id, c.state, c.actor))
                .collect::<Vec<_>>(),
            [("s", ChildState::Running, Some(s.id()))],
            "{case}"
        );
    }
    // Not counted: the sibling's crash is the first restart, allowed. The group restart covers a
    // kept, stopped child: it starts again (a new actor).
    tell(exec, &s, W::Fail).await;
    let mut expected = vec![
        format!("sup:s stopped {FAILED}"),
        "sup:s restarted 2".to_string(),
    ];
    let mut expected_log = vec!["stop s/1", "start s/2"];
    if restart == RestartType::Transient {
        expected.push("sup:x started".into());
        expected_log.push("start x/1");
    }
    assert_eq!(
        events_until(exec, &events, expected.last().unwrap()).await,
        expected,
        "{case}"
    );
    assert_eq!(take_log(&log), expected_log, "{case}");
    let now = children(exec, &sup).await;
    assert!(now.iter().all(|c| c.state == ChildState::Running), "{case}");
    if restart == RestartType::Transient {
        assert_ne!(now[0].actor, Some(x.id()), "{case}: a new actor");
    }
    // The second restart within the period is one too many.
    tell(exec, &s, W::Fail).await;
    assert_eq!(
        events_until(exec, &events, "sup:- escalated 1").await,
        [
            format!("sup:s stopped {FAILED}"),
            "sup:- escalated 1".into()
        ],
        "{case}"
    );
    expect_escalated_exit(exec, &sup).await;
}

/// A permanent child is restarted whatever the exit, normal ones included.
async fn permanent_child_is_restarted_after_any_exit<E: Executor>(exec: E) {
    for kind in ExitKind::ALL {
        exit_case(&exec, RestartType::Permanent, kind).await;
    }
}

/// A transient child is restarted after an error, a panic or a kill; after `Normal` or
/// `Shutdown` (with or without info) it is kept, stopped.
async fn transient_child_is_restarted_only_after_an_abnormal_exit<E: Executor>(exec: E) {
    for kind in ExitKind::ALL {
        exit_case(&exec, RestartType::Transient, kind).await;
    }
}

/// A temporary child is never restarted and its spec is removed, whatever the exit.
async fn temporary_child_is_never_restarted_and_is_removed<E: Executor>(exec: E) {
    for kind in ExitKind::ALL {
        exit_case(&exec, RestartType::Temporary, kind).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Restart intensity

/// `max_restarts` restarts within the period are allowed; one more and the supervisor stops its
/// children (in reverse start order) and exits with `Shutdown(..)`, after an `Escalated` event.
async fn restart_intensity_at_and_past_the_limit<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(3, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(worker("b", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started", "sup:b started"]).await;
    let a = child_ref(&exec, &sup, "a").await;
    let b = child_ref(&exec, &sup, "b").await;
    for n in 2..=4 {
        tell(&exec, &a, W::Fail).await;
        expect_events(
            &exec,
            &events,
            &[
                &format!("sup:a stopped {FAILED}"),
                &format!("sup:a restarted {n}"),
            ],
        )
        .await;
    }
    // Exactly at the limit: still running.
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[("b", ChildState::Running), ("a", ChildState::Running)])
    );
    assert_eq!(ping(&exec, &a).await, 4);

    // One past.
    tell(&exec, &a, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:a stopped {FAILED}"),
            "sup:- escalated 3",
            "sup:b stopped Shutdown",
        ],
    )
    .await;
    expect_escalated_exit(&exec, &sup).await;
    // The stream ends with the supervisor, after nothing more.
    assert!(within(&exec, LONG, events.recv()).await.is_none());
    assert_eq!(
        take_log(&log),
        [
            "start a/1",
            "start b/1",
            "stop a/1",
            "start a/2",
            "stop a/2",
            "start a/3",
            "stop a/3",
            "start a/4",
            "stop a/4",
            "stop b/1",
        ]
    );
    // The failed child ends with its own reason, the other as stopped.
    assert_eq!(format!("{:?}", within(&exec, LONG, a.wait()).await), FAILED);
    assert!(matches!(
        within(&exec, LONG, b.wait()).await,
        ExitReason::Shutdown(None)
    ));
}

/// With `max_restarts = 0` the first restart request ends the supervisor.
async fn zero_max_restarts_ends_at_the_first_restart<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(0, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(worker("b", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    let a = child_ref(&exec, &sup, "a").await;
    tell(&exec, &a, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            "sup:a started",
            "sup:b started",
            &format!("sup:a stopped {FAILED}"),
            "sup:- escalated 0",
            "sup:b stopped Shutdown",
        ],
    )
    .await;
    expect_escalated_exit(&exec, &sup).await;
    assert!(within(&exec, LONG, events.recv()).await.is_none());
    assert_eq!(
        take_log(&log),
        ["start a/1", "start b/1", "stop a/1", "stop b/1"]
    );
}

/// The window slides: restarts older than `period` no longer count, so a child that crashes
/// every 6 s under "2 in 10 s" runs on. A restart exactly `period` old still counts (OTP keeps
/// those at `now - period` or later).
async fn restart_intensity_window_slides<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let system = System::new(vt.clone());
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(2, Duration::from_secs(10))
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started"]).await;
    let a = child_ref(&exec, &sup, "a").await;
    // Restarts at 0, 6, 12 and 18 s: at most 2 within any 10 s.
    for n in 2..=5 {
        if n > 2 {
            vt.advance(Duration::from_secs(6));
        }
        tell(&exec, &a, W::Fail).await;
        expect_events(
            &exec,
            &events,
            &[
                &format!("sup:a stopped {FAILED}"),
                &format!("sup:a restarted {n}"),
            ],
        )
        .await;
    }
    assert_eq!(ping(&exec, &a).await, 5);
    // At 22 s, the restart at 12 s is exactly 10 s old: 12, 18 and 22 make 3.
    vt.advance(Duration::from_secs(4));
    tell(&exec, &a, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[&format!("sup:a stopped {FAILED}"), "sup:- escalated 2"],
    )
    .await;
    expect_escalated_exit(&exec, &sup).await;
}

/// A OneForAll group restart counts once toward the intensity.
async fn group_restart_counts_once<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .name("sup")
        .intensity(1, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(worker("c", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &["sup:a started", "sup:b started", "sup:c started"],
    )
    .await;
    let b = child_ref(&exec, &sup, "b").await;
    tell(&exec, &b, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:b stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:a stopped Shutdown",
            "sup:a restarted 2",
            "sup:b restarted 2",
            "sup:c restarted 2",
        ],
    )
    .await;
    assert!(
        states(&exec, &sup)
            .await
            .iter()
            .all(|(_, s)| *s == ChildState::Running)
    );
    // That was one restart: the next is one too many.
    let c = child_ref(&exec, &sup, "c").await;
    tell(&exec, &c, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:c stopped {FAILED}"),
            "sup:- escalated 1",
            "sup:b stopped Shutdown",
            "sup:a stopped Shutdown",
        ],
    )
    .await;
    expect_escalated_exit(&exec, &sup).await;
    assert!(within(&exec, LONG, events.recv()).await.is_none());
}

// ---------------------------------------------------------------------------------------------
// 4. Escalation through nested supervisors

/// A nested supervisor over one worker `x`, with intensity `max` in 5 s.
fn sub_supervisor<E: Executor>(
    id: &'static str,
    max: u32,
    log: &Log,
) -> ChildSpec<playhouse::supervisor::Supervisor<VT<E>, InMemory>, Unbounded> {
    let log = log.clone();
    ChildSpec::supervisor(id, move || {
        SupervisorSpec::<VT<E>>::new(Strategy::OneForOne)
            .intensity(max, Duration::from_secs(5))
            .child(worker("x", &log))
    })
}

type InMemory = playhouse::InMemoryBroker;

/// A permanent child supervisor that exceeds its intensity is restarted by its parent: the same
/// reference, a fresh incarnation whose children start again. When that restart is one too many
/// for the parent, the parent escalates in turn.
async fn permanent_child_supervisor_is_restarted_by_its_parent<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("top")
        .intensity(1, Duration::from_secs(5))
        .child(worker("w", &log))
        .child(sub_supervisor::<E>("sub", 1, &log));
    let events = spec.subscribe();
    let top = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &["top:w started", "top/sub:x started", "top:sub started"],
    )
    .await;
    take_log(&log);
    let sub = within(&exec, LONG, top.child_supervisor("sub"))
        .await
        .expect("the child supervisor");
    let x = child_ref(&exec, &sub, "x").await;

    tell(&exec, &x, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("top/sub:x stopped {FAILED}"),
            "top/sub:x restarted 2",
        ],
    )
    .await;
    tell(&exec, &x, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("top/sub:x stopped {FAILED}"),
            "top/sub:- escalated 1",
            &format!("top:sub stopped {ESCALATED}"),
            "top/sub:x started",
            "top:sub restarted 2",
        ],
    )
    .await;
    assert_eq!(
        take_log(&log),
        ["stop x/1", "start x/2", "stop x/2", "start x/1"],
        "the sibling worker is untouched"
    );
    assert_eq!(format!("{:?}", within(&exec, LONG, x.wait()).await), FAILED);
    let sub_again = within(&exec, LONG, top.child_supervisor("sub"))
        .await
        .expect("the child supervisor");
    assert_eq!(
        sub_again.id(),
        sub.id(),
        "restarted behind the same reference"
    );
    let x2 = child_ref(&exec, &sub_again, "x").await;
    assert_ne!(x2.id(), x.id(), "its children started afresh");
    assert_eq!(ping(&exec, &x2).await, 1);
    assert_eq!(
        states(&exec, &top).await,
        pairs(&[("sub", ChildState::Running), ("w", ChildState::Running)])
    );
    assert_eq!(
        children(&exec, &top).await[0].kind,
        ChildKind::Supervisor,
        "reported as a supervisor"
    );

    // The parent has used its one restart: the next escalation of `sub` is one too many.
    tell(&exec, &x2, W::Fail).await;
    tell(&exec, &x2, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("top/sub:x stopped {FAILED}"),
            "top/sub:x restarted 2",
            &format!("top/sub:x stopped {FAILED}"),
            "top/sub:- escalated 1",
            &format!("top:sub stopped {ESCALATED}"),
            "top:- escalated 1",
            "top:w stopped Shutdown",
        ],
    )
    .await;
    expect_escalated_exit(&exec, &top).await;
    assert!(within(&exec, LONG, events.recv()).await.is_none());
}

/// A transient child supervisor that exceeds its intensity exits with `Shutdown`, a normal
/// exit: its parent keeps it stopped, touches no sibling, and counts nothing (the parent allows
/// no restart at all, yet lives on).
async fn transient_child_supervisor_is_not_restarted<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .name("top")
        .intensity(0, Duration::from_secs(5))
        .child(worker("w", &log))
        .child(sub_supervisor::<E>("sub", 0, &log).restart(RestartType::Transient));
    let events = spec.subscribe();
    let top = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &["top:w started", "top/sub:x started", "top:sub started"],
    )
    .await;
    take_log(&log);
    let sub = within(&exec, LONG, top.child_supervisor("sub"))
        .await
        .expect("the child supervisor");
    let x = child_ref(&exec, &sub, "x").await;
    tell(&exec, &x, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("top/sub:x stopped {FAILED}"),
            "top/sub:- escalated 0",
            &format!("top:sub stopped {ESCALATED}"),
        ],
    )
    .await;
    assert_eq!(
        states(&exec, &top).await,
        pairs(&[("sub", ChildState::Stopped), ("w", ChildState::Running)])
    );
    assert_eq!(pending_events(&events), Vec::<String>::new());
    assert_eq!(take_log(&log), ["stop x/1"]);
    expect_escalated_exit(&exec, &sub).await;
    assert!(top.is_alive());
    stop(&exec, &top).await;
}

/// Escalation climbs: a leaf supervisor and its parent both allow no restart, so a crash of the
/// leaf's worker ends both; the root restarts the middle one, whose tree comes back. The next
/// crash exceeds the root's intensity too, and the root exits.
async fn escalation_climbs_to_a_supervisor_that_can_restart<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let leaf_log = log.clone();
    let mid = ChildSpec::supervisor("mid", move || {
        SupervisorSpec::<VT<E>>::new(Strategy::OneForOne)
            .intensity(0, Duration::from_secs(5))
            .child(sub_supervisor::<E>("leaf", 0, &leaf_log))
    });
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("root")
        .intensity(1, Duration::from_secs(5))
        .child(mid);
    let events = spec.subscribe();
    let root = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &[
            "root/mid/leaf:x started",
            "root/mid:leaf started",
            "root:mid started",
        ],
    )
    .await;
    let x_of = |root: SupervisorRef<VT<E>>| {
        let exec = exec.clone();
        async move {
            let mid = within(&exec, LONG, root.child_supervisor("mid"))
                .await
                .expect("mid");
            let leaf = within(&exec, LONG, mid.child_supervisor("leaf"))
                .await
                .expect("leaf");
            (mid.id(), child_ref(&exec, &leaf, "x").await)
        }
    };
    let (mid_id, x) = x_of(root.clone()).await;
    let escalation = [
        format!("root/mid/leaf:x stopped {FAILED}"),
        "root/mid/leaf:- escalated 0".into(),
        format!("root/mid:leaf stopped {ESCALATED}"),
        "root/mid:- escalated 0".into(),
        format!("root:mid stopped {ESCALATED}"),
    ];

    tell(&exec, &x, W::Fail).await;
    let mut expected = escalation.to_vec();
    expected.extend([
        "root/mid/leaf:x started".into(),
        "root/mid:leaf started".into(),
        "root:mid restarted 2".into(),
    ]);
    assert_eq!(
        events_until(&exec, &events, "root:mid restarted 2").await,
        expected
    );
    let (mid_id_again, x2) = x_of(root.clone()).await;
    assert_eq!(mid_id_again, mid_id, "mid restarted behind its reference");
    assert_ne!(x2.id(), x.id());
    assert_eq!(ping(&exec, &x2).await, 1);
    assert_eq!(take_log(&log), ["start x/1", "stop x/1", "start x/1"]);

    tell(&exec, &x2, W::Fail).await;
    let mut expected = escalation.to_vec();
    expected.push("root:- escalated 1".into());
    assert_eq!(
        events_until(&exec, &events, "root:- escalated 1").await,
        expected
    );
    expect_escalated_exit(&exec, &root).await;
    assert!(within(&exec, LONG, events.recv()).await.is_none());
}

// ---------------------------------------------------------------------------------------------
// 5. Failed restarts

/// A restart whose start fails leaves the child restarting and is retried through the
/// supervisor's mailbox: between attempts the supervisor answers, and shows the child
/// `Restarting` (still behind its reference). Once the factory succeeds the child runs again,
/// behind the same reference; its sibling was never touched.
async fn failed_restart_is_retried_through_the_mailbox<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let flaky = Arc::new(Flaky::default());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(u32::MAX, Duration::from_secs(5))
        .child(flaky_worker("a", &log, &flaky))
        .child(worker("b", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started", "sup:b started"]).await;
    take_log(&log);
    let a = child_ref(&exec, &sup, "a").await;
    let b = child_ref(&exec, &sup, "b").await;
    let failed = format!("sup:a {FACTORY_FAILED}");

    flaky.fail.store(true, Ordering::SeqCst);
    tell(&exec, &a, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[&format!("sup:a stopped {FAILED}"), &failed],
    )
    .await;
    let now = children(&exec, &sup).await;
    assert_eq!(
        now.iter()
            .map(|c| (&*c.id, c.state, c.actor))
            .collect::<Vec<_>>(),
        [
            ("b", ChildState::Running, Some(b.id())),
            ("a", ChildState::Restarting, Some(a.id())),
        ]
    );
    let counts = within(&exec, LONG, sup.count_children()).await.unwrap();
    assert_eq!((counts.specs, counts.active, counts.workers), (2, 1, 2));
    // Its reference is handed out meanwhile: the same one, kept across the restart.
    let waiting = within(&exec, LONG, sup.child::<Worker, Bounded<Block>>("a"))
        .await
        .expect("the reference of a child between incarnations");
    assert_eq!(waiting.id(), a.id());
    // It keeps trying, and keeps answering between attempts.
    let calls = flaky.calls.load(Ordering::SeqCst);
    eventually(&exec, "more attempts", || {
        flaky.calls.load(Ordering::SeqCst) >= calls + 3
    })
    .await;
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[("b", ChildState::Running), ("a", ChildState::Restarting)])
    );

    flaky.fail.store(false, Ordering::SeqCst);
    let seen = events_until(&exec, &events, "sup:a restarted 2").await;
    let (last, attempts) = seen.split_last().unwrap();
    assert_eq!(last, "sup:a restarted 2");
    assert!(attempts.iter().all(|e| *e == failed), "{attempts:?}");
    assert_eq!(child_ref(&exec, &sup, "a").await.id(), a.id());
    assert_eq!(ping(&exec, &a).await, 2);
    assert_eq!(take_log(&log), ["stop a/1", "start a/2"]);
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[("b", ChildState::Running), ("a", ChildState::Running)])
    );
    stop(&exec, &sup).await;
}

/// Each retry of a failed restart counts toward the intensity: with 3 allowed, the first
/// attempt and two retries fail, and the third retry is one too many.
async fn failed_restart_retries_count_toward_intensity<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let flaky = Arc::new(Flaky::default());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(3, Duration::from_secs(5))
        .child(flaky_worker("a", &log, &flaky))
        .child(worker("b", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started", "sup:b started"]).await;
    take_log(&log);
    let a = child_ref(&exec, &sup, "a").await;
    flaky.fail.store(true, Ordering::SeqCst);
    tell(&exec, &a, W::Fail).await;
    let failed = format!("sup:a {FACTORY_FAILED}");
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:a stopped {FAILED}"),
            &failed,
            &failed,
            &failed,
            "sup:- escalated 3",
            "sup:b stopped Shutdown",
        ],
    )
    .await;
    expect_escalated_exit(&exec, &sup).await;
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1 + 3);
    assert_eq!(take_log(&log), ["stop a/1", "stop b/1"]);
    assert_eq!(format!("{:?}", within(&exec, LONG, a.wait()).await), FAILED);
}

/// A restart that fails twice and then succeeds: the child runs again behind its reference, and
/// the three attempts were three restarts (with 3 allowed, the next crash escalates).
async fn failed_restart_recovers_when_the_factory_succeeds<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let flaky = Arc::new(Flaky::default());
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(3, Duration::from_secs(5))
        .child(flaky_worker("a", &log, &flaky));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started"]).await;
    let a = child_ref(&exec, &sup, "a").await;
    flaky.fail_next.store(2, Ordering::SeqCst);
    tell(&exec, &a, W::Fail).await;
    let failed = format!("sup:a {FACTORY_FAILED}");
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:a stopped {FAILED}"),
            &failed,
            &failed,
            "sup:a restarted 2",
        ],
    )
    .await;
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1 + 3);
    assert_eq!(child_ref(&exec, &sup, "a").await.id(), a.id());
    assert_eq!(ping(&exec, &a).await, 2);
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[("a", ChildState::Running)])
    );
    tell(&exec, &a, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[&format!("sup:a stopped {FAILED}"), "sup:- escalated 3"],
    )
    .await;
    expect_escalated_exit(&exec, &sup).await;
}

/// OneForAll: when a child of the group fails to start, the siblings already restarted are
/// stopped again and the whole group starts again.
async fn one_for_all_failed_restart_restarts_the_group_again<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let flaky = Arc::new(Flaky::default());
    let spec = SupervisorSpec::new(Strategy::OneForAll)
        .name("sup")
        .intensity(u32::MAX, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(flaky_worker("b", &log, &flaky))
        .child(worker("c", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &["sup:a started", "sup:b started", "sup:c started"],
    )
    .await;
    take_log(&log);
    let before: Vec<_> = children(&exec, &sup)
        .await
        .iter()
        .map(|c| c.actor)
        .collect();
    flaky.fail_next.store(1, Ordering::SeqCst);
    tell(&exec, &child_ref(&exec, &sup, "c").await, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:c stopped {FAILED}"),
            "sup:b stopped Shutdown",
            "sup:a stopped Shutdown",
            "sup:a restarted 2",
            &format!("sup:b {FACTORY_FAILED}"),
            "sup:a stopped Shutdown",
            "sup:a restarted 3",
            "sup:b restarted 2",
            "sup:c restarted 2",
        ],
    )
    .await;
    assert_eq!(
        take_log(&log),
        [
            "stop c/1",
            "stop b/1",
            "stop a/1",
            "start a/2",
            "stop a/2",
            "start a/3",
            "start b/2",
            "start c/2",
        ]
    );
    let after = children(&exec, &sup).await;
    assert!(after.iter().all(|c| c.state == ChildState::Running));
    assert_eq!(after.iter().map(|c| c.actor).collect::<Vec<_>>(), before);
    assert_eq!(pending_events(&events), Vec::<String>::new());

    // While `b` cannot start, the group waits between attempts with `a` running again and `b`,
    // `c` restarting; each attempt stops `a` and starts the group again.
    flaky.fail.store(true, Ordering::SeqCst);
    tell(&exec, &child_ref(&exec, &sup, "c").await, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:c stopped {FAILED}"),
            "sup:b stopped Shutdown",
            "sup:a stopped Shutdown",
            "sup:a restarted 4",
            &format!("sup:b {FACTORY_FAILED}"),
        ],
    )
    .await;
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[
            ("c", ChildState::Restarting),
            ("b", ChildState::Restarting),
            ("a", ChildState::Running),
        ])
    );
    flaky.fail.store(false, Ordering::SeqCst);
    let seen = events_until(&exec, &events, "sup:c restarted 3").await;
    let (attempts, tail) = seen.split_at(seen.len() - 4);
    assert_eq!(attempts.len() % 3, 0, "{seen:#?}");
    for attempt in attempts.chunks(3) {
        assert_eq!(attempt[0], "sup:a stopped Shutdown", "{seen:#?}");
        assert!(attempt[1].starts_with("sup:a restarted "), "{seen:#?}");
        assert_eq!(attempt[2], format!("sup:b {FACTORY_FAILED}"), "{seen:#?}");
    }
    assert_eq!(tail[0], "sup:a stopped Shutdown", "{seen:#?}");
    assert!(tail[1].starts_with("sup:a restarted "), "{seen:#?}");
    assert_eq!(tail[2..], ["sup:b restarted 3", "sup:c restarted 3"]);
    let after = children(&exec, &sup).await;
    assert!(after.iter().all(|c| c.state == ChildState::Running));
    assert_eq!(after.iter().map(|c| c.actor).collect::<Vec<_>>(), before);
    stop(&exec, &sup).await;
}

/// RestForOne: when a child fails to start, the retry starts from it onward; the children
/// before it (already restarted) are left alone.
async fn rest_for_one_failed_restart_retries_from_the_failed_child<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let flaky = Arc::new(Flaky::default());
    let spec = SupervisorSpec::new(Strategy::RestForOne)
        .name("sup")
        .intensity(u32::MAX, Duration::from_secs(5))
        .child(worker("a", &log))
        .child(flaky_worker("b", &log, &flaky))
        .child(worker("c", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(
        &exec,
        &events,
        &["sup:a started", "sup:b started", "sup:c started"],
    )
    .await;
    take_log(&log);
    flaky.fail_next.store(1, Ordering::SeqCst);
    tell(&exec, &child_ref(&exec, &sup, "a").await, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:a stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:b stopped Shutdown",
            "sup:a restarted 2",
            &format!("sup:b {FACTORY_FAILED}"),
            "sup:b restarted 2",
            "sup:c restarted 2",
        ],
    )
    .await;
    assert_eq!(
        take_log(&log),
        [
            "stop a/1",
            "stop c/1",
            "stop b/1",
            "start a/2",
            "start b/2",
            "start c/2",
        ]
    );
    assert!(
        states(&exec, &sup)
            .await
            .iter()
            .all(|(_, s)| *s == ChildState::Running)
    );
    assert_eq!(pending_events(&events), Vec::<String>::new());

    // While `b` cannot start, `a` runs and `b`, `c` are restarting; the retries start from `b`
    // and leave `a` alone.
    flaky.fail.store(true, Ordering::SeqCst);
    tell(&exec, &child_ref(&exec, &sup, "a").await, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:a stopped {FAILED}"),
            "sup:c stopped Shutdown",
            "sup:b stopped Shutdown",
            "sup:a restarted 3",
            &format!("sup:b {FACTORY_FAILED}"),
        ],
    )
    .await;
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[
            ("c", ChildState::Restarting),
            ("b", ChildState::Restarting),
            ("a", ChildState::Running),
        ])
    );
    take_log(&log);
    flaky.fail.store(false, Ordering::SeqCst);
    let seen = events_until(&exec, &events, "sup:c restarted 3").await;
    let (attempts, tail) = seen.split_at(seen.len() - 2);
    assert!(
        attempts
            .iter()
            .all(|e| *e == format!("sup:b {FACTORY_FAILED}")),
        "{seen:#?}"
    );
    assert_eq!(tail, ["sup:b restarted 3", "sup:c restarted 3"]);
    assert_eq!(take_log(&log), ["start b/3", "start c/3"]);
    assert!(
        states(&exec, &sup)
            .await
            .iter()
            .all(|(_, s)| *s == ChildState::Running)
    );
    stop(&exec, &sup).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Backoff

/// With a backoff (no jitter) each restart waits `initial * 2^(n-1)`, capped at `max`, where `n`
/// counts the restarts within the period: the child is `Restarting` until virtual time has
/// advanced by the whole delay, and restarted right after.
async fn backoff_delays_each_restart<E: Executor>(exec: E) {
    let vt = VirtualTime::new(exec.clone());
    let system = System::new(vt.clone());
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3),
            jitter: 0.0,
        })
        .child(worker("a", &log))
        .child(worker("b", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started", "sup:b started"]).await;
    let a = child_ref(&exec, &sup, "a").await;
    let restarting = pairs(&[("b", ChildState::Running), ("a", ChildState::Restarting)]);
    for (incarnation, secs) in [(2, 1), (3, 2), (4, 3), (5, 3)] {
        let delay = Duration::from_secs(secs);
        tell(&exec, &a, W::Fail).await;
        expect_events(&exec, &events, &[&format!("sup:a stopped {FAILED}")]).await;
        // The round trip also makes sure the supervisor has set its timer.
        assert_eq!(states(&exec, &sup).await, restarting);
        vt.advance(delay - Duration::from_millis(1));
        assert_eq!(states(&exec, &sup).await, restarting, "before {delay:?}");
        assert_eq!(pending_events(&events), Vec::<String>::new());
        vt.advance(Duration::from_millis(1));
        expect_events(&exec, &events, &[&format!("sup:a restarted {incarnation}")]).await;
        assert_eq!(ping(&exec, &a).await, incarnation);
    }
    stop(&exec, &sup).await;
}

/// A supervisor named `sup` with `strategy`, a fixed 5 s backoff (no jitter) and a worker per
/// id, started on virtual time once every child has reported its start.
async fn group_with_backoff<E: Executor>(
    exec: &E,
    strategy: Strategy,
    ids: &[&'static str],
    log: &Log,
) -> (VirtualTime<E>, SupervisorRef<VT<E>>, Events) {
    let vt = VirtualTime::new(exec.clone());
    let system = System::new(vt.clone());
    let mut spec = SupervisorSpec::new(strategy)
        .name("sup")
        .intensity(10, Duration::from_secs(60))
        .backoff(fixed_backoff(5));
    for id in ids {
        spec = spec.child(worker(id, log));
    }
    let events = spec.subscribe();
    let sup = start(exec, spec, &system).await;
    let started: Vec<String> = ids.iter().map(|id| format!("sup:{id} started")).collect();
    let started: Vec<&str> = started.iter().map(String::as_str).collect();
    expect_events(exec, &events, &started).await;
    (vt, sup, events)
}

/// A backoff of `secs` before every restart, without jitter.
fn fixed_backoff(secs: u64) -> Backoff {
    Backoff {
        initial: Duration::from_secs(secs),
        max: Duration::from_secs(secs),
        jitter: 0.0,
    }
}

/// With a backoff under `RestForOne` (and `OneForAll`), the siblings the restart covers stop at
/// once, as without one: only the group's start waits. A dependent child never runs on while
/// the child it depends on waits out its backoff.
async fn a_group_restart_stops_its_siblings_before_the_backoff<E: Executor>(exec: E) {
    for (strategy, stopped) in [
        (Strategy::RestForOne, &["c"][..]),
        (Strategy::OneForAll, &["c", "a"][..]),
    ] {
        let log = Log::default();
        let (vt, sup, events) = group_with_backoff(&exec, strategy, &["a", "b", "c"], &log).await;
        let b = child_ref(&exec, &sup, "b").await;
        tell(&exec, &b, W::Fail).await;
        let mut now: Vec<String> = vec![format!("sup:b stopped {FAILED}")];
        now.extend(
            stopped
                .iter()
                .map(|id| format!("sup:{id} stopped Shutdown")),
        );
        let now: Vec<&str> = now.iter().map(String::as_str).collect();
        expect_events(&exec, &events, &now).await;
        // The round trip also makes sure the supervisor has set its timer.
        let waiting = states(&exec, &sup).await;
        for (id, state) in &waiting {
            let covered = id == "b" || stopped.contains(&id.as_str());
            let expected = if covered {
                ChildState::Restarting
            } else {
                ChildState::Running
            };
            assert_eq!(*state, expected, "{strategy:?}: {id} during the backoff");
        }
        vt.advance(Duration::from_secs(5) - Duration::from_millis(1));
        assert_eq!(
            pending_events(&events),
            Vec::<String>::new(),
            "{strategy:?}"
        );
        vt.advance(Duration::from_millis(1));
        let mut restarted: Vec<&str> = vec!["a", "b", "c"];
        restarted.retain(|id| *id == "b" || stopped.contains(id));
        let restarted: Vec<String> = restarted
            .iter()
            .map(|id| format!("sup:{id} restarted 2"))
            .collect();
        let restarted: Vec<&str> = restarted.iter().map(String::as_str).collect();
        expect_events(&exec, &events, &restarted).await;
        assert!(
            states(&exec, &sup)
                .await
                .iter()
                .all(|(_, s)| *s == ChildState::Running),
            "{strategy:?}"
        );
        stop(&exec, &sup).await;
    }
}

/// A child started (`start_child`) while a group restart waits out its backoff was not there
/// when the group's child failed: the group restart, when it comes, leaves it running (it
/// restarted it, under `OneForAll`, and under `RestForOne` as a child after the failed one).
async fn a_child_started_during_a_group_backoff_is_not_part_of_that_restart<E: Executor>(exec: E) {
    for strategy in [Strategy::RestForOne, Strategy::OneForAll] {
        let log = Log::default();
        let (vt, sup, events) = group_with_backoff(&exec, strategy, &["a", "b"], &log).await;
        let b = child_ref(&exec, &sup, "b").await;
        tell(&exec, &b, W::Fail).await;
        let mut now = vec![format!("sup:b stopped {FAILED}")];
        if strategy == Strategy::OneForAll {
            now.push("sup:a stopped Shutdown".to_owned());
        }
        let now: Vec<&str> = now.iter().map(String::as_str).collect();
        expect_events(&exec, &events, &now).await;
        within(&exec, LONG, sup.start_child(worker("late", &log)))
            .await
            .expect("late started");
        expect_events(&exec, &events, &["sup:late started"]).await;
        let late = child_ref(&exec, &sup, "late").await;
        vt.advance(Duration::from_secs(5));
        let restarted: &[&str] = if strategy == Strategy::OneForAll {
            &["sup:a restarted 2", "sup:b restarted 2"]
        } else {
            &["sup:b restarted 2"]
        };
        expect_events(&exec, &events, restarted).await;
        assert_eq!(ping(&exec, &late).await, 1, "{strategy:?}: late ran on");
        assert_eq!(
            pending_events(&events),
            Vec::<String>::new(),
            "{strategy:?}"
        );
        stop(&exec, &sup).await;
    }
}

/// Terminating the failed child while its group restart waits for the backoff drops that
/// restart: the siblings it stopped start again at once (as siblings of a child terminated by
/// hand run on), the child stays stopped, and nothing more happens when the backoff would have
/// ended.
async fn terminating_the_failed_child_during_a_group_backoff_restarts_its_siblings<E: Executor>(
    exec: E,
) {
    let log = Log::default();
    let (vt, sup, events) =
        group_with_backoff(&exec, Strategy::RestForOne, &["a", "b", "c", "d"], &log).await;
    let b = child_ref(&exec, &sup, "b").await;
    let c = child_ref(&exec, &sup, "c").await;
    tell(&exec, &b, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[
            &format!("sup:b stopped {FAILED}"),
            "sup:d stopped Shutdown",
            "sup:c stopped Shutdown",
        ],
    )
    .await;
    within(&exec, LONG, sup.terminate_child("b"))
        .await
        .expect("b terminated");
    // In start order, as every group start.
    expect_events(&exec, &events, &["sup:c restarted 2", "sup:d restarted 2"]).await;
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[
            ("d", ChildState::Running),
            ("c", ChildState::Running),
            ("b", ChildState::Stopped),
            ("a", ChildState::Running),
        ])
    );
    assert_eq!(ping(&exec, &c).await, 2, "c runs behind its reference");
    vt.advance(Duration::from_secs(5));
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[
            ("d", ChildState::Running),
            ("c", ChildState::Running),
            ("b", ChildState::Stopped),
            ("a", ChildState::Running),
        ]),
        "the dropped restart did nothing when its backoff ended"
    );
    assert_eq!(pending_events(&events), Vec::<String>::new());
    stop(&exec, &sup).await;
}

/// A group restart that covers another one waiting for its backoff takes it over: when it is
/// dropped in turn (`terminate_child` of its failed child), every sibling either would have
/// started starts again, the first failed child included. Nothing is left restarting.
async fn a_group_restart_covering_a_waiting_one_takes_it_over<E: Executor>(exec: E) {
    let log = Log::default();
    let (vt, sup, events) =
        group_with_backoff(&exec, Strategy::RestForOne, &["a", "b", "c"], &log).await;
    let a = child_ref(&exec, &sup, "a").await;
    let b = child_ref(&exec, &sup, "b").await;
    tell(&exec, &b, W::Fail).await;
    expect_events(
        &exec,
        &events,
        &[&format!("sup:b stopped {FAILED}"), "sup:c stopped Shutdown"],
    )
    .await;
    // a fails during b's backoff: its group restart covers b's.
    tell(&exec, &a, W::Fail).await;
    expect_events(&exec, &events, &[&format!("sup:a stopped {FAILED}")]).await;
    within(&exec, LONG, sup.terminate_child("a"))
        .await
        .expect("a terminated");
    expect_events(&exec, &events, &["sup:b restarted 2", "sup:c restarted 2"]).await;
    vt.advance(Duration::from_secs(10));
    assert_eq!(
        states(&exec, &sup).await,
        pairs(&[
            ("c", ChildState::Running),
            ("b", ChildState::Running),
            ("a", ChildState::Stopped),
        ])
    );
    assert_eq!(pending_events(&events), Vec::<String>::new());
    stop(&exec, &sup).await;
}

// ---------------------------------------------------------------------------------------------
// 7. What a restarted child finds in its mailbox

/// Holds `a` busy, then queues a failure, five items and three asks behind it; returns the
/// gate and the asks (each polled once, so sent).
async fn queue_behind_a_crash<'a, E: Executor>(
    exec: &E,
    a: &'a WRef,
) -> (
    oneshot::Sender<()>,
    Vec<Pin<Box<dyn Future<Output = Result<u32, AskError<W>>> + Send + 'a>>>,
) {
    let (open, gate) = oneshot::channel();
    within(exec, LONG, a.ask(|r| W::Hold(r, gate)))
        .await
        .expect("a holds");
    tell(exec, a, W::Fail).await;
    for n in 1..=5 {
        tell(exec, a, W::Item(n)).await;
    }
    let mut asks: Vec<Pin<Box<dyn Future<Output = _> + Send + 'a>>> = Vec::new();
    for n in 6..=8 {
        let mut ask = Box::pin(a.ask(move |r| W::Echo(n, r)));
        assert!(poll!(ask.as_mut()).is_pending(), "the ask is sent");
        asks.push(ask);
    }
    assert_eq!(a.mailbox_len(), 1 + 5 + 3);
    (open, asks)
}

/// KeepQueue (the default): what was queued while the child crashed is handled by the next
/// incarnation, behind the same reference: none lost, none handled twice.
async fn keep_queue_hands_the_queue_to_the_next_incarnation<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(1, Duration::from_secs(5))
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started"]).await;
    let a = child_ref(&exec, &sup, "a").await;
    take_log(&log);
    let (open, asks) = queue_behind_a_crash(&exec, &a).await;
    let _ = open.send(());
    expect_events(
        &exec,
        &events,
        &[&format!("sup:a stopped {FAILED}"), "sup:a restarted 2"],
    )
    .await;
    for (n, ask) in (6..=8).zip(asks) {
        assert_eq!(within(&exec, LONG, ask).await.expect("answered"), n);
    }
    assert_eq!(ping(&exec, &a).await, 2);
    assert_eq!(
        take_log(&log),
        [
            "stop a/1",
            "start a/2",
            "a/2 item 1",
            "a/2 item 2",
            "a/2 item 3",
            "a/2 item 4",
            "a/2 item 5",
            "a/2 echo 6",
            "a/2 echo 7",
            "a/2 echo 8",
        ]
    );
    assert_eq!(a.discarded_count(), 0);
    assert_eq!(child_ref(&exec, &sup, "a").await.id(), a.id());
    stop(&exec, &sup).await;
}

/// DrainQueue: what was queued while the child crashed is discarded; the asks among it resolve
/// `NoReply::Drained`, and the next incarnation handles only what comes after.
async fn drain_queue_discards_the_queue<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(1, Duration::from_secs(5))
        .child(worker("a", &log).on_restart(OnRestart::DrainQueue));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    expect_events(&exec, &events, &["sup:a started"]).await;
    let a = child_ref(&exec, &sup, "a").await;
    take_log(&log);
    let (open, asks) = queue_behind_a_crash(&exec, &a).await;
    let _ = open.send(());
    expect_events(
        &exec,
        &events,
        &[&format!("sup:a stopped {FAILED}"), "sup:a restarted 2"],
    )
    .await;
    for ask in asks {
        match within(&exec, LONG, ask).await {
            Err(AskError::NoReply(NoReply::Drained)) => {}
            other => panic!("expected NoReply(Drained), got {other:?}"),
        }
    }
    tell(&exec, &a, W::Item(9)).await;
    assert_eq!(ping(&exec, &a).await, 2);
    assert_eq!(take_log(&log), ["stop a/1", "start a/2", "a/2 item 9"]);
    assert_eq!(a.discarded_count(), 5 + 3);
    assert_eq!(child_ref(&exec, &sup, "a").await.id(), a.id());
    stop(&exec, &sup).await;
}

/// An ask in flight when its handler panics resolves `NoReply::Panicked` (it does not hang), and
/// the child is restarted.
async fn ask_in_flight_when_the_handler_panics_resolves<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(1, Duration::from_secs(5))
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    let a = child_ref(&exec, &sup, "a").await;
    match within(&exec, LONG, a.ask(W::PanicHolding)).await {
        Err(AskError::NoReply(NoReply::Panicked)) => {}
        other => panic!("expected NoReply(Panicked), got {other:?}"),
    }
    expect_events(
        &exec,
        &events,
        &[
            "sup:a started",
            "sup:a stopped Panicked(\"worker boom\")",
            "sup:a restarted 2",
        ],
    )
    .await;
    assert_eq!(ping(&exec, &a).await, 2);
    stop(&exec, &sup).await;
}

// ---------------------------------------------------------------------------------------------
// 8. Lifecycle events

/// A crash-restart is `Stopped { reason }` then `Restarted { incarnation }`, in order, each
/// naming the supervisor, the child and its actor.
async fn crash_restart_events_are_stopped_then_restarted<E: Executor>(exec: E) {
    let system = System::new(VirtualTime::new(exec.clone()));
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .name("sup")
        .intensity(5, Duration::from_secs(5))
        .child(worker("a", &log));
    let events = spec.subscribe();
    let sup = start(&exec, spec, &system).await;
    let a = child_ref(&exec, &sup, "a").await;
    let next = || async { recv_within(&exec, &events).await.expect("an event comes") };
    let e = next().await;
    assert!(matches!(e.kind, EventKind::Started), "{e:?}");
    assert_eq!(
        (&*e.supervisor, e.child.as_deref(), e.actor),
        ("sup", Some("a"), Some(a.id()))
    );

    tell(&exec, &a, W::Fail).await;
    let e = next().await;
    match &e.kind {
        EventKind::Stopped { reason } => assert_failed_with(reason, &FAIL),
        other => panic!("expected Stopped, got {other:?}"),
    }
    assert_eq!(
        (&*e.supervisor, e.child.as_deref(), e.actor),
        ("sup", Some("a"), Some(a.id()))
    );
    let e = next().await;
    assert!(
        matches!(e.kind, EventKind::Restarted { incarnation: 2 }),
        "{e:?}"
    );
    assert_eq!(
        (&*e.supervisor, e.child.as_deref(), e.actor),
        ("sup", Some("a"), Some(a.id()))
    );

    tell(&exec, &a, W::Panic).await;
    let e = next().await;
    match &e.kind {
        EventKind::Stopped { reason } => assert_panicked_with(reason, "worker boom"),
        other => panic!("expected Stopped, got {other:?}"),
    }
    let e = next().await;
    assert!(
        matches!(e.kind, EventKind::Restarted { incarnation: 3 }),
        "{e:?}"
    );
    assert_eq!(ping(&exec, &a).await, 3);
    assert!(sup.which_children().await.is_ok());
    assert_eq!(pending_events(&events), Vec::<String>::new());
    stop(&exec, &sup).await;
}

executor_tests!(
    a_child_started_during_a_group_backoff_is_not_part_of_that_restart,
    one_for_one_restarts_only_the_child,
    one_for_all_restarts_all_in_order,
    rest_for_one_restarts_the_later_children,
    rest_for_one_first_and_last_child,
    group_restart_removes_a_temporary_sibling,
    permanent_child_is_restarted_after_any_exit,
    transient_child_is_restarted_only_after_an_abnormal_exit,
    temporary_child_is_never_restarted_and_is_removed,
    restart_intensity_at_and_past_the_limit,
    zero_max_restarts_ends_at_the_first_restart,
    restart_intensity_window_slides,
    group_restart_counts_once,
    permanent_child_supervisor_is_restarted_by_its_parent,
    transient_child_supervisor_is_not_restarted,
    escalation_climbs_to_a_supervisor_that_can_restart,
    failed_restart_is_retried_through_the_mailbox,
    failed_restart_retries_count_toward_intensity,
    failed_restart_recovers_when_the_factory_succeeds,
    one_for_all_failed_restart_restarts_the_group_again,
    rest_for_one_failed_restart_retries_from_the_failed_child,
    backoff_delays_each_restart,
    a_group_restart_stops_its_siblings_before_the_backoff,
    terminating_the_failed_child_during_a_group_backoff_restarts_its_siblings,
    a_group_restart_covering_a_waiting_one_takes_it_over,
    keep_queue_hands_the_queue_to_the_next_incarnation,
    drain_queue_discards_the_queue,
    ask_in_flight_when_the_handler_panics_resolves,
    crash_restart_events_are_stopped_then_restarted,
);
