//! The harness of the behavioural suite: run one async test body on every executor
//! (`executors.rs`, shared with the broker crate's suite), plus the helpers and test actors the
//! suite shares.

#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use playhouse::prelude::*;
use playhouse::{ActorRef, TimerHandle};

#[macro_use]
mod executors;
pub use executors::*;

/// Sleeps on `exec`'s timer. Only for tests whose behaviour is about time.
pub async fn sleep<E: Executor>(exec: &E, d: Duration) {
    exec.sleep_until(Instant::now() + d).await;
}

/// Starts `actor.tell(msg)` in a task of its own and returns once that send is waiting for room
/// (panics if it did not have to wait). The returned receiver gets the send's result. Being in
/// its own task, the sender only makes progress if the mailbox wakes it.
pub async fn waiting_tell<E: Executor, A: Actor, MB: Mailbox>(
    exec: &E,
    actor: &ActorRef<A, MB>,
    msg: A::Message,
) -> oneshot::Receiver<Result<(), SendError<A::Message>>> {
    let actor = actor.clone();
    let (waiting_tx, waiting_rx) = oneshot::channel();
    let (result_tx, result_rx) = oneshot::channel();
    exec.spawn(async move {
        let mut send = pin!(actor.tell(msg));
        let result = match futures::poll!(send.as_mut()) {
            Poll::Ready(r) => {
                let _ = waiting_tx.send(false);
                r
            }
            Poll::Pending => {
                let _ = waiting_tx.send(true);
                send.await
            }
        };
        let _ = result_tx.send(result);
    });
    let waited = within(exec, LONG, waiting_rx)
        .await
        .expect("the sender task ran");
    assert!(waited, "the send did not have to wait for room");
    result_rx
}

/// Waits (polling every few ms, at most [`LONG`]) until `cond` holds.
pub async fn eventually<E: Executor>(exec: &E, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(exec, Duration::from_millis(5)).await;
    }
}

/// Waits for the next item of `rx`, at most [`LONG`].
pub async fn next<E: Executor, T>(exec: &E, rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    use futures::StreamExt;
    within(exec, LONG, rx.next()).await.expect("channel closed")
}

/// The error the test actors fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestError(pub &'static str);

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test error: {}", self.0)
    }
}

impl std::error::Error for TestError {}

/// Asserts `reason` is `Failed` with a [`TestError`] equal to `expected`.
pub fn assert_failed_with(reason: &ExitReason, expected: &TestError) {
    assert!(
        matches!(reason, ExitReason::Failed(_)),
        "expected Failed, got {reason:?}"
    );
    let err = reason.error().expect("a Failed exit has an error");
    assert_eq!(
        err.downcast_ref::<TestError>(),
        Some(expected),
        "error was {err}"
    );
}

/// Asserts `reason` is `Panicked` with message `expected`.
pub fn assert_panicked_with(reason: &ExitReason, expected: &str) {
    match reason {
        ExitReason::Panicked(m) => assert_eq!(&**m, expected),
        other => panic!("expected Panicked({expected:?}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Counter

/// Counts what it is told.
#[derive(Default)]
pub struct Counter(pub u64);

pub enum CounterMsg {
    Add(u64),
    Get(Reply<u64>),
    Panic,
}

impl Actor for Counter {
    type Message = CounterMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(
        &mut self,
        msg: CounterMsg,
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            CounterMsg::Add(n) => self.0 += n,
            CounterMsg::Get(reply) => {
                let _ = reply.send(self.0);
            }
            CounterMsg::Panic => panic!("counter boom"),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Recorder: records numbers; can be held busy on a gate, fail, panic, or never answer.

/// What a [`Recorder`] has handled, readable after it has ended.
pub type Seen = Arc<Mutex<Vec<u32>>>;

pub fn seen(s: &Seen) -> Vec<u32> {
    s.lock().unwrap().clone()
}

pub struct Recorder {
    seen: Seen,
    tagged: Vec<(u32, u32)>,
    parked: Vec<Reply<()>>,
}

pub enum Msg {
    /// Answers (so the asker knows the actor is busy), then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    Item(u32),
    /// `(sender, sequence number)`.
    Tagged(u32, u32),
    Get(Reply<Vec<u32>>),
    GetTagged(Reply<Vec<(u32, u32)>>),
    /// Keeps the reply port and never answers (until `AnswerParked`).
    Ignore(Reply<()>),
    /// Answers every parked port; replies with how many of those askers had gone.
    AnswerParked(Reply<usize>),
    /// Returns `Err(TestError("failed on purpose"))` while holding the port.
    Fail(Reply<()>),
    /// Panics with "boom" while holding the port.
    Panic(Reply<()>),
}

pub const FAIL: TestError = TestError("failed on purpose");

impl Recorder {
    pub fn new() -> (Self, Seen) {
        let seen = Seen::default();
        (
            Recorder {
                seen: seen.clone(),
                tagged: Vec::new(),
                parked: Vec::new(),
            },
            seen,
        )
    }
}

impl Actor for Recorder {
    type Message = Msg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Recorder {
    async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            Msg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            Msg::Item(n) => self.seen.lock().unwrap().push(n),
            Msg::Tagged(sender, seq) => self.tagged.push((sender, seq)),
            Msg::Get(reply) => {
                let _ = reply.send(self.seen.lock().unwrap().clone());
            }
            Msg::GetTagged(reply) => {
                let _ = reply.send(self.tagged.clone());
            }
            Msg::Ignore(reply) => self.parked.push(reply),
            Msg::AnswerParked(reply) => {
                let gone = self
                    .parked
                    .drain(..)
                    .map(|r| r.send(()))
                    .filter(Result::is_err)
                    .count();
                let _ = reply.send(gone);
            }
            Msg::Fail(_reply) => return Err(FAIL),
            Msg::Panic(_reply) => panic!("boom"),
        }
        Ok(())
    }
}

/// Opens the gate of a held actor when opened or dropped.
pub struct Gate(oneshot::Sender<()>);

impl Gate {
    pub fn open(self) {
        let _ = self.0.send(());
    }
}

/// Makes `actor` busy: returns once its handler is waiting on the returned gate.
pub async fn hold<E: Executor, MB: Mailbox>(exec: &E, actor: &ActorRef<Recorder, MB>) -> Gate {
    let (open, gate) = oneshot::channel();
    within(exec, LONG, actor.ask(|r| Msg::Hold(r, gate)))
        .await
        .expect("the actor took the Hold message");
    Gate(open)
}

// ---------------------------------------------------------------------------------------------
// Hooks: logs its lifecycle.

pub type Log = Arc<Mutex<Vec<String>>>;

pub fn log(l: &Log) -> Vec<String> {
    l.lock().unwrap().clone()
}

#[derive(Default)]
pub struct Hooks {
    pub log: Log,
    /// `started` waits for it (if any) before it logs, so the test can queue messages first.
    pub start_gate: Option<oneshot::Receiver<()>>,
    /// `started` returns `Err(START_FAIL)`.
    pub fail_start: bool,
    /// `started` panics with "started boom".
    pub panic_in_started: bool,
    /// `started` calls `ctx.stop()`.
    pub stop_in_started: bool,
    /// `stopped` panics with "stopped boom".
    pub panic_in_stopped: bool,
}

pub enum HookMsg {
    Item(u32),
    Fail,
    Panic,
    StopSelf,
    Ping(Reply<()>),
}

pub const START_FAIL: TestError = TestError("start failed");

impl Actor for Hooks {
    type Message = HookMsg;
    type Error = TestError;
}

impl<V: Env> Handler<V> for Hooks {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        if let Some(gate) = self.start_gate.take() {
            let _ = gate.await;
        }
        if self.panic_in_started {
            panic!("started boom");
        }
        if self.fail_start {
            self.log.lock().unwrap().push("started-failed".into());
            return Err(START_FAIL);
        }
        self.log.lock().unwrap().push("started".into());
        if self.stop_in_started {
            ctx.stop();
        }
        Ok(())
    }

    async fn handle(&mut self, msg: HookMsg, ctx: &mut Context<Self, V>) -> Result<(), TestError> {
        match msg {
            HookMsg::Item(n) => self.log.lock().unwrap().push(format!("msg {n}")),
            HookMsg::Fail => return Err(FAIL),
            HookMsg::Panic => panic!("hook boom"),
            HookMsg::StopSelf => ctx.stop(),
            HookMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, _ctx: &mut Context<Self, V>, reason: &ExitReason) {
        self.log.lock().unwrap().push(format!("stopped {reason:?}"));
        if self.panic_in_stopped {
            panic!("stopped boom");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Phoenix: for restarts; records (incarnation, item).

pub type IncLog = Arc<Mutex<Vec<(u32, u32)>>>;

pub struct Phoenix {
    pub log: IncLog,
}

pub enum PhoenixMsg {
    Hold(Reply<()>, oneshot::Receiver<()>),
    Item(u32),
    Panic,
    StopSelf,
    Incarnation(Reply<u32>),
}

impl Actor for Phoenix {
    type Message = PhoenixMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Phoenix {
    async fn handle(
        &mut self,
        msg: PhoenixMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            PhoenixMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            PhoenixMsg::Item(n) => self.log.lock().unwrap().push((ctx.incarnation(), n)),
            PhoenixMsg::Panic => panic!("phoenix boom"),
            PhoenixMsg::StopSelf => ctx.stop(),
            PhoenixMsg::Incarnation(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Ticker: starts timers on request, records and reports the ticks it gets.

pub struct Ticker {
    pub ticks: Vec<u32>,
    pub notify: mpsc::UnboundedSender<u32>,
}

pub enum TickMsg {
    /// Answers, then waits for the gate.
    Hold(Reply<()>, oneshot::Receiver<()>),
    Tick(u32),
    /// `run_later(delay, Tick(n))`.
    Later(Duration, u32, Reply<TimerHandle>),
    /// `run_interval(period, ..)` sending `Tick(1)`, `Tick(2)`, …; the closure owns the token, so
    /// the test sees when the timer task has let go of it.
    Every(Duration, Arc<()>, Reply<TimerHandle>),
    Ticks(Reply<Vec<u32>>),
    Panic,
    Incarnation(Reply<u32>),
}

impl Ticker {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<u32>) {
        let (notify, rx) = mpsc::unbounded();
        (
            Ticker {
                ticks: Vec::new(),
                notify,
            },
            rx,
        )
    }
}

impl Actor for Ticker {
    type Message = TickMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Ticker {
    async fn handle(&mut self, msg: TickMsg, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            TickMsg::Hold(busy, gate) => {
                let _ = busy.send(());
                let _ = gate.await;
            }
            TickMsg::Tick(n) => {
                self.ticks.push(n);
                let _ = self.notify.unbounded_send(n);
            }
            TickMsg::Later(delay, n, reply) => {
                let _ = reply.send(ctx.run_later(delay, TickMsg::Tick(n)));
            }
            TickMsg::Every(period, token, reply) => {
                let mut n = 0;
                let handle = ctx.run_interval(period, move || {
                    let _keep = &token;
                    n += 1;
                    TickMsg::Tick(n)
                });
                let _ = reply.send(handle);
            }
            TickMsg::Ticks(reply) => {
                let _ = reply.send(self.ticks.clone());
            }
            TickMsg::Panic => panic!("ticker boom"),
            TickMsg::Incarnation(reply) => {
                let _ = reply.send(ctx.incarnation());
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Parent / Probe: ctx.spawn and ctx.myself.

/// Answers with the name of the thread it runs on.
pub struct Probe;

pub enum ProbeMsg {
    Thread(Reply<Option<String>>),
}

impl Actor for Probe {
    type Message = ProbeMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Probe {
    async fn handle(
        &mut self,
        msg: ProbeMsg,
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        let ProbeMsg::Thread(reply) = msg;
        let _ = reply.send(std::thread::current().name().map(str::to_owned));
        Ok(())
    }
}

/// Spawns children; counts down by sending to itself.
#[derive(Default)]
pub struct Parent {
    steps: u32,
    pending: Option<Reply<u32>>,
}

pub enum ParentMsg {
    SpawnProbe(Reply<ActorRef<Probe>>),
    Thread(Reply<Option<String>>),
    /// Sends itself `Step(n - 1)` … `Step(0)`, then answers with the steps it took.
    CountDown(u32, Reply<u32>),
    Step(u32),
}

impl Actor for Parent {
    type Message = ParentMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Parent {
    async fn handle(
        &mut self,
        msg: ParentMsg,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            ParentMsg::SpawnProbe(reply) => {
                let _ = reply.send(ctx.spawn(Probe));
            }
            ParentMsg::Thread(reply) => {
                let _ = reply.send(std::thread::current().name().map(str::to_owned));
            }
            ParentMsg::CountDown(n, reply) => {
                self.steps = 0;
                self.pending = Some(reply);
                ctx.myself()
                    .tell(ParentMsg::Step(n))
                    .await
                    .expect("an actor can send to itself");
            }
            ParentMsg::Step(n) => {
                self.steps += 1;
                if n == 0 {
                    if let Some(reply) = self.pending.take() {
                        let _ = reply.send(self.steps);
                    }
                } else {
                    ctx.myself()
                        .tell(ParentMsg::Step(n - 1))
                        .await
                        .expect("an actor can send to itself");
                }
            }
        }
        Ok(())
    }
}

/// Counts calls, for exit watchers.
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// A supervision that restarts its actor with a fresh one from `make`, its queue discarded
/// ([`Next::RestartDrained`](playhouse::Next::RestartDrained)), at every exit.
pub struct Drains<A>(pub fn() -> A);

impl<A: Actor> playhouse::Supervision<A> for Drains<A> {
    fn poll_exited(
        &mut self,
        _: playhouse::ActorId,
        _: &ExitReason,
        _: &mut std::task::Context<'_>,
    ) -> Poll<playhouse::Next<A>> {
        Poll::Ready(playhouse::Next::RestartDrained((self.0)()))
    }
}
