//! Knowing that a runtime has shut down, so that its timers can end instead of panicking.
//!
//! A Tokio timer panics when it is polled after its runtime has shut down ("A Tokio 1.x context
//! was found, but it is being shutdown"). Playhouse polls timers outside the runtime that made
//! them: an `ask_timeout` awaited in a `block_on` or on another executor, a keyed activation
//! run in place by its first sender. Such a future can outlive the runtime, and a library call
//! must not panic because the user dropped a runtime first. A gated timer instead ends at once
//! once its runtime has shut down: nothing on that runtime will run again, so a timeout waiting
//! on it has nothing left to wait for.
//!
//! **How the gate learns of the shutdown.** [`ShutdownGate::new`] also makes a [`Watcher`], a
//! future that the adapter spawns on the runtime. It stays pending until the gate is dropped,
//! then ends. A runtime that shuts down drops every task it still holds *before* it shuts its
//! timer driver down (Tokio's current-thread and multi-thread schedulers both do), so a watcher
//! dropped without having ended closes the gate before any timer of that runtime can panic.
//!
//! **Why a lock.** A timer is polled under the gate's read lock, and closing takes the write
//! lock. A poll that found the gate open has therefore finished before the gate closes, and the
//! driver shuts down after that: no poll can find the gate open and the driver shut down.
//!
//! **What it costs.** Each gate (one per executor handle made by a constructor, shared by its
//! clones) spawns one idle task, which ends when the handle and every timer made from it are
//! gone. Each poll of a timer takes the read lock: two atomic read-modify-writes on a line shared
//! by the handle's timers, beside the timer wheel's own lock that Tokio takes.
//!
//! Under `--cfg playhouse_loom` this module uses loom's types and is public (hidden), so that
//! the loom suite (`loom-tests/`) can model a poll racing the shutdown.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[cfg(playhouse_loom)]
use loom::sync::{Arc, Mutex, RwLock};
#[cfg(not(playhouse_loom))]
use std::sync::{Arc, Mutex, RwLock};

/// What the gate and its watcher share.
#[derive(Debug)]
struct Shared {
    /// `true` once the runtime has shut down (its watcher was dropped without ending).
    shut_down: RwLock<bool>,
    /// Tells the watcher to end: the gate is gone.
    release: Mutex<Release>,
}

#[derive(Debug, Default)]
struct Release {
    released: bool,
    waker: Option<Waker>,
}

/// Polls a runtime's timers while the runtime lives, and ends them at once after its shutdown.
/// Dropping it lets its [`Watcher`] end.
#[derive(Debug)]
pub struct ShutdownGate {
    shared: Arc<Shared>,
}

/// The task that learns of its runtime's shutdown by being dropped by it; spawn it on the
/// runtime whose timers the gate polls.
#[derive(Debug)]
#[must_use = "spawn the watcher on the runtime, or the gate never learns of its shutdown"]
pub struct Watcher {
    shared: Arc<Shared>,
    /// `false` once it ended because its gate was dropped: its drop then closes nothing.
    armed: bool,
}

impl ShutdownGate {
    /// A gate, open, and the watcher to spawn on its runtime.
    pub fn new() -> (ShutdownGate, Watcher) {
        let shared = Arc::new(Shared {
            shut_down: RwLock::new(false),
            release: Mutex::new(Release::default()),
        });
        let watcher = Watcher {
            shared: Arc::clone(&shared),
            armed: true,
        };
        (ShutdownGate { shared }, watcher)
    }

    /// Polls `timer`, unless the runtime has shut down: then the timer is over.
    pub fn poll<F: Future<Output = ()>>(
        &self,
        timer: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        #[cfg(all(playhouse_loom, feature = "loom-faults"))]
        if crate::faults::enabled(crate::faults::Fault::GateChecksThenPolls) {
            let shut_down = *read(&self.shared.shut_down);
            return if shut_down {
                Poll::Ready(())
            } else {
                timer.poll(cx)
            };
        }
        let shut_down = read(&self.shared.shut_down);
        if *shut_down {
            return Poll::Ready(());
        }
        // Polled under the read lock: the watcher's drop waits for this poll to finish.
        timer.poll(cx)
    }

    /// `true` once the runtime has shut down.
    pub fn is_shut_down(&self) -> bool {
        *read(&self.shared.shut_down)
    }
}

impl Drop for ShutdownGate {
    fn drop(&mut self) {
        let waker = {
            let mut release = lock(&self.shared.release);
            release.released = true;
            release.waker.take()
        };
        #[cfg(all(playhouse_loom, feature = "loom-faults"))]
        let waker =
            waker.filter(|_| !crate::faults::enabled(crate::faults::Fault::GateReleaseSkipsWake));
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for Watcher {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut release = lock(&self.shared.release);
        if release.released {
            drop(release);
            self.armed = false;
            return Poll::Ready(());
        }
        match &mut release.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            none => *none = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Watcher {
    /// Dropped before its gate was: the runtime is shutting down its tasks, before its timers.
    fn drop(&mut self) {
        if self.armed {
            *write(&self.shared.shut_down) = true;
        }
    }
}

// Nothing panics while holding these locks (a timer's poll does not), so a poisoned lock still
// holds a consistent value.
fn read<T>(lock: &RwLock<T>) -> impl std::ops::Deref<Target = T> + '_ {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(lock: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}
