//! One thread that wakes sleeping futures at their deadlines.
//!
//! # How it works, and what it costs
//!
//! The [`StdExecutor`](crate::StdExecutor) starts one timer thread. All its sleeps share one mutex
//! that holds a binary heap of `(deadline, id)` entries (24 bytes each) and a hash map from id to
//! the waker of each sleep that is still waiting (24 bytes and a control byte a slot). No
//! allocation of its own per sleep: the heap and the map grow and shrink in bulk, so a waiting
//! sleep costs about 50 to 110 bytes there, depending on how full they are.
//!
//! - **Creating** a [`StdSleep`] costs nothing; it registers on its **first poll** (if the deadline
//!   has not passed): one lock, one map insertion and one heap push, `O(log n)`. The thread is
//!   notified only if the new deadline is earlier than the one it sleeps until, so a burst of
//!   long timeouts wakes it once.
//! - **Polling again** takes the lock and replaces the stored waker only if it would wake another
//!   task.
//! - **Firing**: the thread pops every due entry, then wakes their wakers with the lock released.
//!   A waker that panics when woken or dropped is contained: the thread carries on with the next.
//! - **Dropping** a sleep that has not fired (an answered `ask_timeout`, a cancelled timer) takes
//!   the lock and removes its waker at once. Its heap entry stays behind, dead, until dead entries
//!   outnumber live ones by 64: then the heap is rebuilt without them, in `O(n)` for at least `n/2`
//!   drops since the last rebuild (`O(1)` amortized). So the timer holds at most twice as many
//!   entries as there are waiting sleeps, plus 64, and storage is given back when it is mostly
//!   unused (the heap's below a quarter, the map's below an eighth; never below 1024 entries).
//!   An hour-long timeout that is answered at once frees its memory at once, not an hour later.
//! - **Idle**: the thread waits on a condition variable with no periodic wake-up, and ends when
//!   the executor and every sleep are gone.
//!
//! A waker is never dropped with the lock held (dropping one may drop a task that owns another
//! sleep).

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// How many dead heap entries beyond the live ones trigger a rebuild of the heap.
const DEAD_SLACK: usize = 64;
/// Storage for fewer entries than this is never shrunk.
const MIN_CAPACITY: usize = 1024;

/// Hashes a sleep's id (a counter) by Fibonacci multiplication: no `SipHash` on the hot path, and
/// consecutive ids spread over the map's buckets and tag bits.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

struct State {
    /// Every registered deadline with its sleep's id; soonest (then oldest) on top. An entry whose
    /// id is not in `wakers` is dead: its sleep was dropped before it fired.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The waker of each sleep that is registered and has neither fired nor been dropped.
    wakers: HashMap<u64, Waker, BuildHasherDefault<IdHasher>>,
    /// The last id handed out (ids start at 1; 0 means "not registered").
    last_id: u64,
    /// When the thread will look at the heap next, if it is waiting with a deadline. A new entry
    /// due earlier must notify it; one due later need not.
    thread_wakes_at: Option<Instant>,
    /// The executor and every sleep are gone: the thread ends.
    closed: bool,
}

impl State {
    /// Registers a waiting sleep; returns its id, and whether the thread must be notified.
    fn register(&mut self, deadline: Instant, waker: Waker) -> (u64, bool) {
        self.last_id += 1;
        let id = self.last_id;
        self.wakers.insert(id, waker);
        self.heap.push(Reverse((deadline, id)));
        let notify = self.thread_wakes_at.is_none_or(|at| deadline < at);
        if notify {
            self.thread_wakes_at = Some(deadline);
        }
        (id, notify)
    }

    /// Drops dead heap entries once they outnumber the live ones (plus [`DEAD_SLACK`]), and gives
    /// back storage that is mostly unused (the heap's at a quarter used, the map's at an eighth).
    fn tidy(&mut self) {
        let live = self.wakers.len();
        if self.heap.len() > 2 * live + DEAD_SLACK {
            let wakers = &self.wakers;
            self.heap.retain(|Reverse((_, id))| wakers.contains_key(id));
        }
        let entries = self.heap.len();
        if self.heap.capacity() > MIN_CAPACITY.max(4 * entries) {
            self.heap.shrink_to(2 * entries);
        }
        // A map's capacity after `shrink_to(2 * live)` is a power of two times 7/8, below
        // `4 * live + 2`: shrink at 8 times, so that the next shrink is at least `live / 2` drops away.
        if self.wakers.capacity() > MIN_CAPACITY.max(8 * live) {
            self.wakers.shrink_to(2 * live);
        }
    }
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics with the lock held but an allocation failure; the state stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps the timer thread running; the last one dropped (the executor's or a sleep's) ends it.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.changed.notify_one();
    }
}

/// A handle to the timer thread; the thread ends when the last handle and sleep are gone.
#[derive(Clone)]
pub(crate) struct TimerThread {
    owner: Arc<Owner>,
}

impl TimerThread {
    pub(crate) fn start() -> io::Result<Self> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                wakers: HashMap::default(),
                last_id: 0,
                thread_wakes_at: None,
                closed: false,
            }),
            changed: Condvar::new(),
        });
        let thread_inner = inner.clone();
        std::thread::Builder::new()
            .name("playhouse-std-timer".into())
            .spawn(move || run(&thread_inner))?;
        Ok(TimerThread {
            owner: Arc::new(Owner(inner)),
        })
    }

    /// Heap entries held: waiting sleeps plus dropped ones not yet compacted away.
    pub(crate) fn entries(&self) -> usize {
        self.owner.0.lock().heap.len()
    }

    pub(crate) fn sleep_until(&self, deadline: Instant) -> StdSleep {
        StdSleep {
            deadline,
            timer: self.owner.clone(),
            id: 0,
        }
    }
}

/// Drops a caught panic's payload, containing a panic of its drop too (that payload is leaked).
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

fn run(inner: &Inner) {
    let mut due: Vec<Waker> = Vec::new();
    let mut state = inner.lock();
    loop {
        let now = Instant::now();
        while let Some(&Reverse((deadline, id))) = state.heap.peek() {
            if deadline > now {
                break;
            }
            state.heap.pop();
            if let Some(waker) = state.wakers.remove(&id) {
                due.push(waker);
            }
        }
        if !due.is_empty() {
            state.tidy();
            drop(state);
            for waker in due.drain(..) {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(move || waker.wake())) {
                    drop_payload(payload);
                }
            }
            state = inner.lock();
            continue;
        }
        if state.closed {
            break;
        }
        let next = state.heap.peek().map(|&Reverse((deadline, _))| deadline);
        state.thread_wakes_at = next;
        state = match next {
            None => inner.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                inner
                    .changed
                    .wait_timeout(state, deadline.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
    // Every sleep is gone, so every waker is; drop whatever is left outside the lock.
    let wakers = std::mem::take(&mut state.wakers);
    drop(state);
    for waker in wakers.into_values() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(waker))) {
            drop_payload(payload);
        }
    }
}

/// A sleep served by the [`StdExecutor`](crate::StdExecutor)'s timer thread.
///
/// It registers with the timer thread on its first poll and unregisters when dropped, so a
/// sleep that is dropped before its deadline (a timed ask that was answered, a cancelled timer)
/// gives its memory back at once.
pub struct StdSleep {
    deadline: Instant,
    timer: Arc<Owner>,
    /// 0 until registered.
    id: u64,
}

impl Future for StdSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let this = &mut *self;
        let inner = &this.timer.0;
        let mut state = inner.lock();
        if this.id != 0 {
            if let Some(stored) = state.wakers.get_mut(&this.id) {
                if stored.will_wake(cx.waker()) {
                    return Poll::Pending;
                }
                let old = std::mem::replace(stored, cx.waker().clone());
                drop(state);
                drop(old);
                return Poll::Pending;
            }
            // It fired although the clock says its deadline has not passed: register again.
        }
        let (id, notify) = state.register(this.deadline, cx.waker().clone());
        drop(state);
        this.id = id;
        if notify {
            inner.changed.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for StdSleep {
    fn drop(&mut self) {
        if self.id == 0 {
            return;
        }
        let mut state = self.timer.0.lock();
        let waker = state.wakers.remove(&self.id);
        if waker.is_some() {
            state.tidy();
        }
        drop(state);
        drop(waker);
    }
}

impl fmt::Debug for StdSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdSleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
