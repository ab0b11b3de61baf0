//! Models of the sends that never wait (`try_send`, behind `try_tell` and `Context::notify`, and
//! the path every full `Reject`, `DropNewest` and `DropOldest` send takes) racing a close, and
//! of a send racing a close made only if the mailbox is empty (`ActorRef::stop_if_empty`).

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering::SeqCst};
use loom::thread;
use playhouse_core::mailbox::{Block, Bounded, DropNewest, DropOldest, Mailbox, Reject, Strategy};
use playhouse_core::{Actor, Context, Env, ExitReason, Handler, SendError};

use super::monitor::Outcomes;
use crate::harness::{DropLog, OneWorker, System, Tracked, check, recv};

/// A mailbox of capacity 1: one thread `try_send`s 1 and 2 (the second finds it full unless the
/// first was taken), another closes it and then `try_send`s 3, and the main thread receives until
/// the end. Each `try_send` linearizes with the close: a message whose send returned `Ok` is
/// received, or (under a drop strategy) evicted and counted; one handed back (`Full` or `Closed`)
/// is the sender's own and is never received; nothing is lost or doubled, and a send after
/// `close` returned gets `Closed`.
///
/// "Lost" is what a check-then-push race shows: a message let in after the close, behind the
/// receiver's final drain, stays in the queue unreceived and uncounted. The receiver parks on
/// the empty mailbox first, so that reaching that takes one preemption.
pub fn try_send_racing_close<S: Strategy>() {
    check(|| {
        let mb = Bounded::<S>::with_capacity(1).unwrap();
        let q = Arc::new(mb.queue::<Tracked>());
        let mut rx = mb.receiver::<Tracked>();
        let log = DropLog::new();
        let sender = {
            let (q, log) = (q.clone(), log.clone());
            thread::spawn(move || {
                let mut returned = 0u32;
                for id in [1, 2] {
                    match q.try_send(Tracked::new(id, &log)) {
                        Ok(()) => {}
                        Err(SendError::Full(m) | SendError::Closed(m)) => {
                            assert_eq!(m.id, id, "a refused send handed back another message");
                            returned |= 1 << id;
                        }
                    }
                }
                returned
            })
        };
        let closer = {
            let (q, log) = (q.clone(), log.clone());
            thread::spawn(move || {
                q.close();
                match q.try_send(Tracked::new(3, &log)) {
                    Err(SendError::Closed(m)) => assert_eq!(m.id, 3),
                    other => panic!("a try_send after close returned {other:?}"),
                }
            })
        };
        let mut received = 0u32;
        while let Some(m) = recv(&mut rx, &q) {
            let id = m.handle();
            assert_eq!(received & 1 << id, 0, "message {id} received twice");
            received |= 1 << id;
        }
        closer.join().unwrap();
        let returned = sender.join().unwrap() | 1 << 3;
        let dropped = q.dropped_count();
        drop((rx, q));
        log.assert_all_dropped_once(0b1110);
        assert_eq!(log.handled(), received);
        let evicted = log.unhandled() & !returned;
        assert_eq!(
            u64::from(evicted.count_ones()),
            dropped,
            "accepted messages neither received nor counted as dropped: received {received:#b}, \
             handed back {returned:#b}, dropped {dropped}"
        );
    });
}

/// `try_send` racing a close under `Reject`.
pub fn try_send_racing_close_reject() {
    try_send_racing_close::<Reject>();
}

/// `try_send` racing a close under `DropOldest`.
pub fn try_send_racing_close_drop_oldest() {
    try_send_racing_close::<DropOldest>();
}

/// `try_send` racing a close under `DropNewest`.
pub fn try_send_racing_close_drop_newest() {
    try_send_racing_close::<DropNewest>();
}

/// `try_send` (`try_tell`) racing a close under `Block`, where a full mailbox fails with `Full`.
pub fn try_send_racing_close_block() {
    try_send_racing_close::<Block>();
}

/// Counts the messages it handles.
struct Counter(Arc<AtomicU32>);

impl Actor for Counter {
    type Message = u32;
    type Error = &'static str;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(&mut self, _: u32, _: &mut Context<Self, V>) -> Result<(), &'static str> {
        self.0.fetch_add(1, SeqCst);
        Ok(())
    }
}

/// `stop_if_empty` racing a `try_tell`, on an actor whose task has not run yet (a
/// [`OneWorker`] polls it only afterwards), so that nothing takes the message out of the
/// mailbox meanwhile. The look at the mailbox and the stop are one step: either the message
/// was queued first, and no stop was made, or the stop was, and the send got its message back
/// (`Closed`). Never both: a stop made with a message queued, which is what an idle
/// passivation must not do to an actor between two incarnations (the stop would discard its
/// queue). Afterwards the actor ends, gracefully, having handled the message if it took it.
/// Both orders occur among the interleavings explored.
pub fn stop_if_empty_racing_a_send_lets_one_win() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    check(move || {
        let handled = Arc::new(AtomicU32::new(0));
        let worker = OneWorker::new();
        let actor = System::new(worker.clone()).spawn(Counter(handled.clone()));
        let sender = {
            let actor = actor.clone();
            thread::spawn(move || match actor.try_tell(7) {
                Ok(()) => true,
                Err(SendError::Closed(7)) => false,
                Err(other) => panic!("the send failed otherwise: {other:?}"),
            })
        };
        let stopped = actor.stop_if_empty_with("idle");
        let sent = sender.join().unwrap();
        assert!(
            !(sent && stopped),
            "the stop was made with a message queued behind it"
        );
        assert!(
            sent || stopped,
            "the send was refused, but no stop was made"
        );
        if !stopped {
            actor.stop();
        }
        worker.run();
        let reason = block_on(actor.wait());
        assert!(matches!(reason, ExitReason::Shutdown(_)), "{reason:?}");
        assert_eq!(handled.load(SeqCst), u32::from(sent), "messages handled");
        seen.saw(u32::from(sent));
    });
    outcomes.assert_all(&[0, 1], "the stop first, the send first");
}
