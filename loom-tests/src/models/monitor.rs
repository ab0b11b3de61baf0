//! Models of monitors: a monitor set up while its target ends delivers its `Down` exactly once,
//! whichever comes first; a `demonitor` racing the end either takes the `Down` back (`true`,
//! and it never comes) or reports it sent (`false`, and it comes once); a monitor set up while
//! its watcher ends leaves nothing on the target.
//!
//! The watcher runs on [`Deferred`]: its task does nothing until the model runs it, after the
//! race, on the model's own thread. Only the monitor's two sides race (the model and the
//! target's task), so each model has two threads; what the watcher's mailbox received is read
//! back, in full, by handling it afterwards.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use crate::harness::System;
use loom::future::block_on;
use loom::sync::{Arc, Mutex};
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{Actor, ActorId, ActorRef, Context, Down, Env, Executor, ExitReason, Handler};

use crate::harness::{JoinExecutor, check, poll_pinned};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An executor that runs nothing until told: it keeps what is spawned, [`poll_once`] polls
/// each kept future once (on the calling thread) and [`run`] runs each to completion there.
/// Sleeps are over at once. An actor spawned on it cannot race anything until it is run: a
/// model uses it for an actor whose side of the race is only its mailbox and cell.
///
/// [`poll_once`]: Deferred::poll_once
/// [`run`]: Deferred::run
#[derive(Clone, Default)]
pub struct Deferred(Arc<Mutex<Vec<Task>>>);

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferred")
    }
}

impl Deferred {
    /// An executor that has spawned nothing yet.
    pub fn new() -> Self {
        Deferred::default()
    }

    /// Polls every kept future once, on this thread (an actor runs its `started` hook and
    /// whatever is queued, then parks with this thread's waker).
    pub fn poll_once(&self) {
        let mut tasks = std::mem::take(&mut *self.0.lock().unwrap());
        tasks.retain_mut(|task| poll_pinned(task).is_pending());
        self.0.lock().unwrap().append(&mut tasks);
    }

    /// Runs every kept future to completion, on this thread, one after the other.
    pub fn run(&self) {
        let tasks = std::mem::take(&mut *self.0.lock().unwrap());
        for task in tasks {
            block_on(task);
        }
    }
}

impl Executor for Deferred {
    type Sleep = std::future::Ready<()>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.lock().unwrap().push(Box::pin(future));
    }

    fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
        std::future::ready(())
    }
}

/// Fails on its first message.
pub(crate) struct Target;

impl Actor for Target {
    type Message = ();
    type Error = &'static str;
}

impl<V: Env> Handler<V> for Target {
    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), &'static str> {
        Err("failed on purpose")
    }
}

/// The `Down`s a [`Watcher`] handled: (actor, monitor, reason in `Debug` form).
type Downs = Arc<Mutex<Vec<(ActorId, u64, String)>>>;

pub(crate) struct WatchMsg(Down);

impl From<Down> for WatchMsg {
    fn from(down: Down) -> Self {
        WatchMsg(down)
    }
}

/// Records every `Down` it handles.
struct Watcher(Downs);

impl Actor for Watcher {
    type Message = WatchMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Watcher {
    async fn handle(&mut self, msg: WatchMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        let WatchMsg(down) = msg;
        self.0
            .lock()
            .unwrap()
            .push((down.id, down.monitor, format!("{:?}", down.reason)));
        Ok(())
    }
}

/// The target on its own loom thread (ended by its first message), and a watcher on
/// [`Deferred`].
fn setup() -> (
    ActorRef<Target>,
    JoinExecutor,
    ActorRef<Watcher, Bounded<Block>>,
    Deferred,
    Downs,
) {
    let target_thread = JoinExecutor::new();
    let target = System::new(target_thread.clone()).spawn(Target);
    let deferred = Deferred::new();
    let downs = Downs::default();
    let watcher = System::new(deferred.clone()).spawn(Watcher(downs.clone()));
    (target, target_thread, watcher, deferred, downs)
}

/// Waits for the target's end and returns its reason, in `Debug` form, once its task has also
/// run every exit watcher (a `wait()` first polled after the end was recorded may return while
/// the watchers are still running).
fn ended(target: &ActorRef<Target>, thread: &JoinExecutor) -> String {
    let reason = format!("{:?}", block_on(target.wait()));
    thread.join(0);
    reason
}

/// Stops the watcher and runs it: it handles every `Down` it was sent, then ends. Returns them.
fn handled_downs(
    watcher: ActorRef<Watcher, Bounded<Block>>,
    deferred: &Deferred,
    downs: &Downs,
) -> Vec<(ActorId, u64, String)> {
    watcher.stop();
    deferred.run();
    assert!(matches!(
        watcher.exit_reason(),
        Some(ExitReason::Shutdown(None))
    ));
    downs.lock().unwrap().clone()
}

/// `monitor_by` on the model's thread races the target's own end (a failure, on its thread):
/// whether the monitor finds the target alive (and its watcher runs at the end) or ended (and
/// the `Down` is sent at once), exactly one `Down` reaches the watcher, naming the target and
/// the monitor, with the reason `wait()` gives. A `demonitor` afterwards returns `false`.
pub fn down_is_delivered_once_whichever_comes_first() {
    check(|| {
        let (target, thread, watcher, deferred, downs) = setup();
        assert!(target.try_tell(()).is_ok());
        let monitor = target.monitor_by(&watcher);
        let monitor_id = monitor.id();
        let reason = ended(&target, &thread);
        assert!(reason.starts_with("Failed"), "{reason}");
        assert!(
            !monitor.demonitor(),
            "demonitor after the end returned true"
        );
        let got = handled_downs(watcher, &deferred, &downs);
        assert_eq!(
            got.len(),
            1,
            "the Down was delivered {} times: {got:?}",
            got.len()
        );
        assert_eq!(got[0], (target.id(), monitor_id, reason));
    });
}

/// A monitor set up before the race; `demonitor` on the model's thread races the target's end:
/// `true` means no `Down` ever reaches the watcher; `false` means it was sent, and exactly one
/// arrives, with the reason `wait()` gives.
///
/// Both outcomes occur among the interleavings explored (checked after the model).
pub fn demonitor_racing_the_end_takes_the_down_back_or_reports_it_sent() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    check(move || {
        let (target, thread, watcher, deferred, downs) = setup();
        let monitor = target.monitor_by(&watcher);
        let monitor_id = monitor.id();
        assert!(target.try_tell(()).is_ok());
        let taken_back = monitor.demonitor();
        seen.saw(u32::from(taken_back));
        let reason = ended(&target, &thread);
        let got = handled_downs(watcher, &deferred, &downs);
        if taken_back {
            assert!(
                got.is_empty(),
                "a Down came after demonitor returned true: {got:?}"
            );
        } else {
            assert_eq!(
                got,
                [(target.id(), monitor_id, reason)],
                "demonitor returned false"
            );
        }
    });
    outcomes.assert_all(&[0, 1], "demonitor returned false, true");
}

/// Which outcomes of a race a model's executions reached: a bitmask shared by them all (plain
/// std atomics: test plumbing outside the model), checked once the model has run.
#[derive(Clone, Debug, Default)]
pub struct Outcomes(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl Outcomes {
    /// No outcome seen yet.
    pub fn new() -> Self {
        Outcomes::default()
    }

    /// Records outcome `n` (below 32).
    pub fn saw(&self, n: u32) {
        self.0
            .fetch_or(1 << n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Asserts that every outcome in `all` was seen; `what` names them.
    pub fn assert_all(&self, all: &[u32], what: &str) {
        let seen = self.0.load(std::sync::atomic::Ordering::Relaxed);
        for n in all {
            assert!(
                seen & (1 << n) != 0,
                "no interleaving reached outcome {n} ({what}): seen {seen:#b}"
            );
        }
    }
}

/// A watcher that fails on `Fail`, taking `Down`s too.
struct DyingWatcher;

pub(crate) enum DyingMsg {
    Fail,
    #[allow(dead_code)]
    Down(Down),
}

impl From<Down> for DyingMsg {
    fn from(down: Down) -> Self {
        DyingMsg::Down(down)
    }
}

impl Actor for DyingWatcher {
    type Message = DyingMsg;
    type Error = &'static str;
}

impl<V: Env> Handler<V> for DyingWatcher {
    async fn handle(&mut self, msg: DyingMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        match msg {
            DyingMsg::Fail => Err("failed on purpose"),
            DyingMsg::Down(_) => Ok(()),
        }
    }
}

/// `monitor_by` on the model's thread sets up a monitor for a watcher that fails on its own
/// thread meanwhile: whether the watcher ends before, between or after the monitor's two
/// records, the (long-lived) target keeps nothing of it once the watcher has ended.
pub fn a_watcher_ending_while_it_monitors_leaves_nothing_behind() {
    check(|| {
        let watcher_thread = JoinExecutor::new();
        let watcher = System::new(watcher_thread.clone()).spawn(DyingWatcher);
        let deferred = Deferred::new();
        let target = System::new(deferred.clone()).spawn(Watcher(Downs::default()));
        assert!(watcher.try_tell(DyingMsg::Fail).is_ok());
        let _monitor = target.monitor_by(&watcher);
        block_on(watcher.wait());
        watcher_thread.join(0);
        assert_eq!(
            target.exit_watcher_count(),
            0,
            "the monitor of an ended watcher was left on its target"
        );
        target.stop();
        deferred.run();
    });
}
