//! One thread that wakes sleeping futures at their deadlines.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

struct Entry {
    deadline: Instant,
    seq: u64,
    slot: Arc<Mutex<Option<Waker>>>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Shared {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    changed: Condvar,
}

/// A handle to the timer thread; the thread ends when the last handle and sleep are gone.
#[derive(Clone)]
pub(crate) struct TimerThread {
    shared: Arc<Shared>,
}

impl TimerThread {
    pub(crate) fn start() -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("playhouse-std-timer".into())
            .spawn(move || run(weak))?;
        Ok(TimerThread { shared })
    }

    pub(crate) fn sleep_until(&self, deadline: Instant) -> StdSleep {
        StdSleep {
            deadline,
            shared: self.shared.clone(),
            slot: None,
        }
    }
}

fn run(weak: std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let mut guard = shared.heap.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse(top)) = guard.0.peek() {
            if top.deadline > now {
                break;
            }
            if let Some(Reverse(e)) = guard.0.pop() {
                due.push(e.slot);
            }
        }
        if !due.is_empty() {
            drop(guard);
            for slot in due {
                let waker = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            continue;
        }
        // Wait for the next deadline, a new entry, or (with a bounded wait) the last handle going.
        let wait = guard
            .0
            .peek()
            .map_or(std::time::Duration::from_millis(200), |Reverse(e)| {
                e.deadline
                    .saturating_duration_since(now)
                    .min(std::time::Duration::from_millis(200))
            });
        let waited = shared.changed.wait_timeout(guard, wait);
        drop(waited);
        drop(shared);
    }
}

/// A sleep served by the [`StdExecutor`](crate::StdExecutor)'s timer thread.
pub struct StdSleep {
    deadline: Instant,
    shared: Arc<Shared>,
    slot: Option<Arc<Mutex<Option<Waker>>>>,
}

impl Future for StdSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.slot {
            Some(slot) => {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            }
            None => {
                let slot = Arc::new(Mutex::new(Some(cx.waker().clone())));
                {
                    let mut guard = self.shared.heap.lock().unwrap_or_else(|e| e.into_inner());
                    guard.1 += 1;
                    let seq = guard.1;
                    guard.0.push(Reverse(Entry {
                        deadline: self.deadline,
                        seq,
                        slot: slot.clone(),
                    }));
                }
                self.shared.changed.notify_one();
                self.slot = Some(slot);
            }
        }
        // The deadline may have passed while registering.
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl fmt::Debug for StdSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdSleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
