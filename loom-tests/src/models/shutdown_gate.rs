//! Models of the Tokio adapter's shutdown gate (`playhouse_executors::shutdown_gate`): a timer
//! polled outside its runtime racing the runtime's shutdown, and the gate's watcher task ending
//! when its executor is gone. Tokio itself is not modelled: a stand-in timer panics when polled
//! after its "driver" has shut down, as Tokio's does, and the runtime's shutdown is the order
//! Tokio follows (drop every task, then shut the timers down).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::thread;
use playhouse_executors::shutdown_gate::ShutdownGate;

use crate::harness::{check, poll_once};

/// A runtime's timer that never fires in the model and, like Tokio's, panics when polled once
/// its runtime has shut its timers down.
struct Timer {
    driver_down: Arc<AtomicBool>,
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        assert!(
            !self.driver_down.load(SeqCst),
            "a timer was polled after its runtime shut its timers down"
        );
        Poll::Pending
    }
}

/// The runtime shuts down (drops its tasks, the gate's watcher among them, then shuts its
/// timers down) while a thread outside it polls one of its timers through the gate: the poll
/// either reaches the live timer or ends the timer, never reaches a shut-down one; after the
/// shutdown the gate is closed and the timer ends.
pub fn timer_racing_its_runtimes_shutdown_never_meets_it_shut_down() {
    check(|| {
        let driver_down = Arc::new(AtomicBool::new(false));
        let (gate, watcher) = ShutdownGate::new();
        let runtime = {
            let driver_down = driver_down.clone();
            thread::spawn(move || {
                drop(watcher);
                driver_down.store(true, SeqCst);
            })
        };
        let mut timer = Box::pin(Timer { driver_down });
        let _ = poll_once(std::future::poll_fn(|cx| {
            Poll::Ready(gate.poll(timer.as_mut(), cx))
        }));
        runtime.join().unwrap();
        assert!(gate.is_shut_down(), "the watcher was dropped unfinished");
        assert_eq!(
            poll_once(std::future::poll_fn(|cx| Poll::Ready(
                gate.poll(timer.as_mut(), cx)
            ))),
            Poll::Ready(Poll::Ready(())),
            "a timer of a runtime gone ends"
        );
    });
}

/// The executor (the gate) is dropped while the runtime polls its watcher task: the watcher is
/// woken and ends (no idle task is left behind), and ending closes nothing.
pub fn watcher_ends_when_its_executor_is_gone() {
    check(|| {
        let (gate, watcher) = ShutdownGate::new();
        let executor = thread::spawn(move || drop(gate));
        loom::future::block_on(watcher);
        executor.join().unwrap();
    });
}
