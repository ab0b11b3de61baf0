//! What every model shares: the loom builder, a loom executor for real actors, receive helpers
//! and a message type that reports how it was dropped.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};
use playhouse_core::Executor;
use playhouse_core::mailbox::{Queue, Receiver, Strategy};

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// The models' system: the core's, with the in-memory broker (whose registry is modelled too).
pub type System<E> = playhouse_core::System<E, playhouse_broker::InMemoryBroker>;

/// A loom builder whose preemption bound is `default` unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise (nexosim's `loom_builder`). Branches default to 10 000 (tokio's CI value) unless
/// `LOOM_MAX_BRANCHES` is set: an actor's task takes more steps than loom's default 1 000 allows.
pub fn loom_builder(default: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(default);
    }
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = 10_000;
    }
    builder
}

/// Runs `f` under every interleaving loom explores at the default bound, and prints (to
/// stderr, shown with `--nocapture`) how many executions that took.
pub fn check<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    loom_builder(DEFAULT_PREEMPTIONS).check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let name = std::thread::current().name().unwrap_or("model").to_owned();
    eprintln!(
        "{name}: {} executions",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// An executor that runs every future on its own loom thread and whose sleeps are over at once.
///
/// Each spawned actor and each timer costs one loom thread (loom allows five, main included).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoomExecutor;

impl Executor for LoomExecutor {
    type Sleep = std::future::Ready<()>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Detached: loom still waits for the thread before it ends an execution, and reports a
        // deadlock if the thread can never finish.
        drop(loom::thread::spawn(move || loom::future::block_on(future)));
    }

    fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
        std::future::ready(())
    }
}

/// Waits for the next message (`None` once the mailbox is closed and drained).
pub fn recv<M, S: Strategy>(rx: &mut Receiver<M, S>, queue: &Queue<M, S>) -> Option<M> {
    loom::future::block_on(poll_fn(|cx| rx.poll_recv(queue, cx)))
}

/// Polls `f` exactly once, with a waker of the calling loom thread, and returns what it gave.
pub fn poll_once<F: Future>(f: F) -> Poll<F::Output> {
    let mut f = pin!(f);
    loom::future::block_on(poll_fn(|cx: &mut Context<'_>| {
        Poll::Ready(f.as_mut().poll(cx))
    }))
}

/// Polls `f` once with the calling thread's waker and returns what it gave, keeping `f` (so
/// that it can be finished elsewhere, with another waker).
pub fn poll_pinned<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    loom::future::block_on(poll_fn(|cx: &mut Context<'_>| {
        Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))
    }))
}

/// A check run on every unhandled drop, with the message's id.
pub type DropHook = Box<dyn Fn(u32) + Send + Sync>;

/// Who dropped which [`Tracked`] message, as bitmasks over message ids (ids below 32).
#[derive(Default)]
pub struct DropLog {
    /// Messages dropped after their receiver marked them handled.
    handled: AtomicU32,
    /// Messages dropped without being handled: by an overflow strategy, a discard, or a sender
    /// that got them back.
    unhandled: AtomicU32,
    hook: Option<DropHook>,
    /// The first check that failed inside a drop. The runtime contains a panic in a message's
    /// drop (it is user code), so a failed check there is recorded, and every read of the log
    /// fails with it.
    failure: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for DropLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropLog")
            .field("handled", &self.handled)
            .field("unhandled", &self.unhandled)
            .finish_non_exhaustive()
    }
}

impl DropLog {
    /// A fresh, shared log.
    pub fn new() -> Arc<Self> {
        Arc::new(DropLog::default())
    }

    /// A fresh, shared log that runs `hook` (on the dropping thread) after each unhandled drop.
    pub fn with_hook(hook: impl Fn(u32) + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(DropLog {
            hook: Some(Box::new(hook)),
            ..DropLog::default()
        })
    }

    /// Ids dropped after being handled.
    pub fn handled(&self) -> u32 {
        self.check();
        self.handled.load(SeqCst)
    }

    /// Ids dropped without being handled.
    pub fn unhandled(&self) -> u32 {
        self.check();
        self.unhandled.load(SeqCst)
    }

    /// Fails with the first check that failed inside a drop, if one did.
    pub fn check(&self) {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(failure) = failure {
            panic!("{failure}");
        }
    }

    /// Records a check that failed inside a drop (the first one wins), and fails the drop too.
    fn fail(&self, failure: String) -> ! {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| failure.clone());
        panic!("{failure}");
    }

    /// Asserts that exactly the ids in `all` were dropped, each exactly once.
    pub fn assert_all_dropped_once(&self, all: u32) {
        let (h, u) = (self.handled(), self.unhandled());
        assert_eq!(
            h & u,
            0,
            "a message was dropped twice (handled {h:#b}, unhandled {u:#b})"
        );
        assert_eq!(
            h | u,
            all,
            "messages were lost (handled {h:#b}, unhandled {u:#b})"
        );
    }
}

/// A message that records in a [`DropLog`] whether it was handled before it was dropped, and
/// asserts that it is dropped at most once.
#[derive(Debug)]
pub struct Tracked {
    /// The message's id (below 32).
    pub id: u32,
    handled: bool,
    log: Arc<DropLog>,
}

impl Tracked {
    /// A message with `id`, reporting to `log`.
    pub fn new(id: u32, log: &Arc<DropLog>) -> Self {
        assert!(id < 32);
        Tracked {
            id,
            handled: false,
            log: log.clone(),
        }
    }

    /// Marks the message handled (its drop then counts as "handled") and returns its id.
    pub fn handle(mut self) -> u32 {
        self.handled = true;
        self.id
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let bit = 1 << self.id;
        let mask = if self.handled {
            &self.log.handled
        } else {
            &self.log.unhandled
        };
        let before = mask.fetch_or(bit, SeqCst);
        if before & bit != 0 {
            self.log.fail(format!("message {} dropped twice", self.id));
        }
        if let (false, Some(hook)) = (self.handled, &self.log.hook) {
            let id = self.id;
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(id)))
            {
                let text = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a drop hook panicked".to_owned());
                self.log.fail(text);
            }
        }
    }
}

/// A counter one thread waits on until another has advanced it far enough: a step-by-step
/// hand-off between a model and an actor's hook or handler (which may block its loom thread).
///
/// One thread waits on a `Stage` at a time (loom's `Notify` allows one waiter).
#[derive(Debug, Default)]
pub struct Stage {
    reached: AtomicU32,
    notify: loom::sync::Notify,
}

impl Stage {
    /// A fresh stage at 0.
    pub fn new() -> Self {
        Stage::default()
    }

    /// Advances to `n` (never backwards) and wakes the waiter.
    pub fn reach(&self, n: u32) {
        self.reached.fetch_max(n, SeqCst);
        self.notify.notify();
    }

    /// Blocks the calling loom thread until the stage has reached `n` (loom's `Notify` may
    /// wake spuriously: the count decides).
    pub fn wait_for(&self, n: u32) {
        while self.reached.load(SeqCst) < n {
            self.notify.wait();
        }
    }

    /// How far the stage has got.
    pub fn reached(&self) -> u32 {
        self.reached.load(SeqCst)
    }
}

/// [`LoomExecutor`] whose threads the model can join: the `i`-th future spawned (the actor's
/// task first, then its timers in the order they started) runs on thread `i`.
///
/// Joining a timer's thread tells the model that the timer has finished, so that everything it
/// ever enqueued is in the mailbox: the timer models need that to observe a late delivery.
#[derive(Clone)]
pub struct JoinExecutor(Arc<loom::sync::Mutex<Vec<Option<loom::thread::JoinHandle<()>>>>>);

impl std::fmt::Debug for JoinExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinExecutor")
    }
}

impl JoinExecutor {
    /// An executor that has spawned nothing yet.
    pub fn new() -> Self {
        JoinExecutor(Arc::new(loom::sync::Mutex::new(Vec::new())))
    }

    /// Waits for the `i`-th spawned future to finish.
    ///
    /// # Panics
    ///
    /// If fewer than `i + 1` futures were spawned, or the `i`-th was joined already.
    pub fn join(&self, i: usize) {
        let handle = self.0.lock().unwrap()[i].take().expect("joined twice");
        handle.join().unwrap();
    }

    /// How many futures it has spawned so far.
    pub fn spawned(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Default for JoinExecutor {
    fn default() -> Self {
        JoinExecutor::new()
    }
}

impl Executor for JoinExecutor {
    type Sleep = std::future::Ready<()>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Under the lock, so that a future the new thread spawns comes after this one.
        let mut handles = self.0.lock().unwrap();
        handles.push(Some(loom::thread::spawn(move || {
            loom::future::block_on(future)
        })));
    }

    fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
        std::future::ready(())
    }
}

/// A future that is ready once [`Gate::open`] has been called, woken by it.
#[derive(Debug, Default)]
pub struct Gate {
    /// Open, and the waker of the future waiting for it.
    state: loom::sync::Mutex<(bool, Option<std::task::Waker>)>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Gate::default()
    }

    /// Opens the gate and wakes the future waiting for it.
    pub fn open(&self) {
        let waker = {
            let mut st = self.state.lock().unwrap();
            st.0 = true;
            st.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// `Ready` once open; otherwise leaves `cx`'s waker for [`open`](Gate::open).
    pub fn poll_open(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.state.lock().unwrap();
        if st.0 {
            Poll::Ready(())
        } else {
            st.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Waits until the gate is open.
    pub async fn opened(&self) {
        poll_fn(|cx| self.poll_open(cx)).await;
    }
}

/// An executor that runs every future on its own loom thread until [`shutdown`], then drops
/// the ones that have not finished, as a runtime does when it shuts down. Sleeps are over at
/// once. For one future at a time: the shutdown gate keeps one waker.
///
/// [`shutdown`]: ShutdownExecutor::shutdown
#[derive(Clone, Debug, Default)]
pub struct ShutdownExecutor(Arc<Gate>);

impl ShutdownExecutor {
    /// An executor that has not shut down.
    pub fn new() -> Self {
        ShutdownExecutor::default()
    }

    /// Shuts down: every future still running is dropped at its next poll (at once if it is
    /// waiting).
    pub fn shutdown(&self) {
        self.0.open();
    }
}

impl Executor for ShutdownExecutor {
    type Sleep = std::future::Ready<()>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let gate = self.0.clone();
        drop(loom::thread::spawn(move || {
            let mut future = Box::pin(future);
            loom::future::block_on(poll_fn(|cx| {
                if gate.poll_open(cx).is_ready() {
                    return Poll::Ready(());
                }
                future.as_mut().poll(cx)
            }));
            // Dropped here, finished or not.
            drop(future);
        }));
    }

    fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
        std::future::ready(())
    }
}

// ---------------------------------------------------------------------------------------------
// One loom thread for every future
// ---------------------------------------------------------------------------------------------

/// An executor whose futures all run on one loom thread, as one worker of a runtime runs them,
/// for models that need more futures than loom has threads. [`OneWorker::run`] returns once
/// every future spawned so far has finished; [`OneWorker::run_until_closed`] also waits for
/// [`OneWorker::close`] (for a model in which a later send may still spawn, e.g. a keyed
/// activation). Sleeps are over at once.
#[derive(Clone)]
pub struct OneWorker(Arc<OneWorkerState>);

struct OneWorkerState {
    run: Mutex<RunQueue>,
    ready: Condvar,
}

struct RunQueue {
    queue: VecDeque<std::sync::Arc<Task>>,
    /// Futures spawned and not yet finished.
    live: usize,
    /// Set by [`OneWorker::close`]: nothing more will be spawned but by the futures still live.
    closed: bool,
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Task {
    /// `None` once finished.
    future: Mutex<Option<BoxFuture>>,
    worker: Arc<OneWorkerState>,
    /// In the run queue (or being scheduled): a wake has nothing to add.
    queued: AtomicBool,
    /// Set under the run queue's lock, so that a late wake never queues a finished task.
    done: AtomicBool,
}

impl std::fmt::Debug for OneWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneWorker")
    }
}

impl OneWorker {
    /// A worker with no futures yet.
    pub fn new() -> Self {
        OneWorker(Arc::new(OneWorkerState {
            run: Mutex::new(RunQueue {
                queue: VecDeque::new(),
                live: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }))
    }

    /// Polls woken futures until every future spawned so far has finished.
    pub fn run(&self) {
        self.poll_until(false)
    }

    /// Polls woken futures until the worker is closed and every future has finished.
    pub fn run_until_closed(&self) {
        self.poll_until(true)
    }

    fn poll_until(&self, closed: bool) {
        loop {
            let task = {
                let mut run = self.0.run.lock().unwrap();
                loop {
                    if let Some(task) = run.queue.pop_front() {
                        break task;
                    }
                    if run.live == 0 && (run.closed || !closed) {
                        return;
                    }
                    run = self.0.ready.wait(run).unwrap();
                }
            };
            task.queued.store(false, SeqCst);
            let waker = Waker::from(task.clone());
            let mut cx = std::task::Context::from_waker(&waker);
            let mut slot = task.future.lock().unwrap();
            let finished = match slot.as_mut() {
                Some(future) => future.as_mut().poll(&mut cx).is_ready(),
                None => false,
            };
            if finished {
                let future = slot.take();
                drop(slot);
                drop(future);
                let mut run = self.0.run.lock().unwrap();
                task.done.store(true, SeqCst);
                run.live -= 1;
            }
        }
    }

    /// Lets [`run_until_closed`](OneWorker::run_until_closed) return once every future has
    /// finished.
    pub fn close(&self) {
        self.0.run.lock().unwrap().closed = true;
        self.0.ready.notify_one();
    }
}

impl Default for OneWorker {
    fn default() -> Self {
        OneWorker::new()
    }
}

impl Wake for Task {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if self.queued.swap(true, SeqCst) {
            return;
        }
        let mut run = self.worker.run.lock().unwrap();
        if self.done.load(SeqCst) {
            return;
        }
        run.queue.push_back(self.clone());
        drop(run);
        self.worker.ready.notify_one();
    }
}

impl Executor for OneWorker {
    type Sleep = std::future::Ready<()>;

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = std::sync::Arc::new(Task {
            future: Mutex::new(Some(Box::pin(future))),
            worker: self.0.clone(),
            queued: AtomicBool::new(true),
            done: AtomicBool::new(false),
        });
        let mut run = self.0.run.lock().unwrap();
        run.live += 1;
        run.queue.push_back(task);
        drop(run);
        self.0.ready.notify_one();
    }

    fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
        std::future::ready(())
    }
}
