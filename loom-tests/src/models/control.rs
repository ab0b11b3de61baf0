//! Model of control messages overtaking user messages: a monitor's `Down` queued while the
//! watcher works through a batch of user messages is handed to it before the next one.
//!
//! The watcher runs on its own loom thread with user messages queued; the target runs on
//! [`Deferred`], driven by the model's thread, and its end queues the `Down` (the monitor's
//! watcher) and then raises a flag (an `on_exit` watcher registered after the monitor, so it
//! runs after the `Down` was queued). The watcher's handler reads the flag when it finishes a
//! user message: having seen it, the `Down` must be the next thing handled (the flag in the
//! cell was raised, under the mailbox's lock, before the flag the handler read).

use std::task::Poll;

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{
    Actor, ActorId, Context, Down, Env, ExitReason, Handler, IncarnationEnd, Next, Supervision,
};

use crate::harness::{LoomExecutor, Stage, System, check};
use crate::models::monitor::{Deferred, Target};

/// What the watcher handled: `Some(item)` or `None` for the `Down`, with whether the target's
/// end had been fully announced when the handler finished.
type Log = Arc<Mutex<Vec<(Option<u8>, bool)>>>;

pub(crate) enum WatchMsg {
    Item(u8),
    Down(Down),
}

impl From<Down> for WatchMsg {
    fn from(down: Down) -> Self {
        WatchMsg::Down(down)
    }
}

struct Watcher {
    log: Log,
    announced: Arc<AtomicBool>,
}

impl Actor for Watcher {
    type Message = WatchMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Watcher {
    async fn handle(&mut self, msg: WatchMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        let entry = match msg {
            WatchMsg::Item(n) => Some(n),
            WatchMsg::Down(_) => None,
        };
        let announced = self.announced.load(SeqCst);
        self.log.lock().unwrap().push((entry, announced));
        Ok(())
    }
}

/// Three user messages and a `Down` racing them: the `Down` is handled exactly once, and a
/// user message whose handler saw the end announced is followed by the `Down` (unless the
/// `Down` came earlier still).
pub fn down_overtakes_the_batch() {
    check(|| {
        let log = Log::default();
        let announced = Arc::new(AtomicBool::new(false));
        let deferred = Deferred::new();
        let target = System::new(deferred.clone()).spawn(Target);
        let watcher = System::new(LoomExecutor).spawn(Watcher {
            log: log.clone(),
            announced: announced.clone(),
        });
        let _monitor = target.monitor_by(&watcher);
        let flag = announced.clone();
        target.on_exit(move |_, _| flag.store(true, SeqCst));
        for n in 0..3 {
            assert!(watcher.try_tell(WatchMsg::Item(n)).is_ok());
        }
        assert!(target.try_tell(()).is_ok());
        deferred.run();
        watcher.stop();
        assert!(matches!(
            block_on(watcher.wait()),
            ExitReason::Shutdown(None)
        ));

        let log = log.lock().unwrap().clone();
        let downs: Vec<usize> = (0..log.len()).filter(|&i| log[i].0.is_none()).collect();
        assert_eq!(downs.len(), 1, "the Down was handled {} times", downs.len());
        let items: Vec<u8> = log.iter().filter_map(|e| e.0).collect();
        assert_eq!(items, [0, 1, 2], "the user messages, in order");
        let down = downs[0];
        for (i, (item, seen)) in log.iter().enumerate() {
            if item.is_some() && *seen {
                assert!(
                    down <= i + 1,
                    "a user message was handled after the Down was queued: {log:?}"
                );
            }
        }
    });
}

/// Counts the `Down`s it handles (a stage the model can wait on); ignores user messages.
struct Noticer {
    downs: Arc<Stage>,
}

impl Actor for Noticer {
    type Message = WatchMsg;
    type Error = std::convert::Infallible;
}

impl<V: Env> Handler<V> for Noticer {
    async fn handle(&mut self, msg: WatchMsg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        if let WatchMsg::Down(down) = msg {
            drop(down);
            self.downs.reach(self.downs.reached() + 1);
        }
        Ok(())
    }
}

/// Restarts the watcher once, its user messages drained; then ends it.
struct RestartDrainedOnce {
    fresh: Option<Noticer>,
}

impl Supervision<Noticer> for RestartDrainedOnce {
    fn poll_exited(
        &mut self,
        _: ActorId,
        _: &ExitReason,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Next<Noticer>> {
        Poll::Ready(match self.fresh.take() {
            Some(fresh) => Next::RestartDrained(fresh),
            None => Next::End,
        })
    }
}

/// A `Down` racing the end of the watcher's incarnation: the watcher (restarted once, its
/// user messages drained) has a user message queued when another thread asks for the end of
/// its incarnation after the current message, while the target's end queues the `Down`.
/// Whether the first incarnation handles the `Down`, or takes it just as it ends (and so puts
/// it back), or never sees it, the `Down` is handled, once: a drained restart discards user
/// messages, never a notice. (A lost `Down` leaves the model waiting for it: a deadlock.)
pub fn down_racing_the_end_of_the_incarnation_is_handled_once() {
    check(|| {
        let downs = Arc::new(Stage::new());
        let deferred = Deferred::new();
        let target = System::new(deferred.clone()).spawn(Target);
        let make = || Noticer {
            downs: downs.clone(),
        };
        let watcher = System::new(LoomExecutor)
            .spawner(Bounded::<Block>::with_capacity(2).unwrap())
            .spawn_supervised(
                make(),
                RestartDrainedOnce {
                    fresh: Some(make()),
                },
            );
        let _monitor = target.monitor_by(&watcher);
        assert!(watcher.try_tell(WatchMsg::Item(0)).is_ok());
        assert!(target.try_tell(()).is_ok());
        let ender = {
            let watcher = watcher.clone();
            loom::thread::spawn(move || {
                watcher.end_incarnation(IncarnationEnd::AfterCurrentMessage, ExitReason::Normal);
            })
        };
        deferred.run();
        ender.join().unwrap();
        downs.wait_for(1);
        watcher.stop();
        block_on(watcher.wait());
        assert_eq!(downs.reached(), 1, "the Down was handled more than once");
    });
}
