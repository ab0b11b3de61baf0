//! Models of the mailbox queue alone: `Queue` shared between loom threads, one `Receiver`.

use std::future::poll_fn;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;
use playhouse_core::SendError;
use playhouse_core::mailbox::{
    Block, Bounded, DropNewest, DropOldest, Mailbox, OnFull, Queue, Reject, Strategy, Unbounded,
};

use crate::harness::{DropLog, Tracked, check, poll_pinned, recv};

fn bounded<S: Strategy, M: Send + 'static>(
    capacity: usize,
) -> (Arc<Queue<M, S>>, playhouse_core::mailbox::Receiver<M, S>) {
    let mb = Bounded::<S>::with_capacity(capacity).unwrap();
    (Arc::new(mb.queue::<M>()), mb.receiver::<M>())
}

/// One sender sends `n` messages (waiting for room under `Block`, `try_send` otherwise) while the
/// receiver drains; at every step the messages waiting in the mailbox never exceed `capacity`.
///
/// "Waiting" is counted from outside the queue, soundly: the sender knows exactly how many of its
/// messages entered (sends that returned `Ok`, less the messages the strategy evicted, read from
/// the dropped count across its own send); the receiver counts its polls *before* each poll
/// (an upper bound on what it took) and its receipts *after* (exact once returned). Each side
/// asserts `entered - taken <= capacity` with a bound that can only under-count the backlog.
pub fn capacity_never_exceeded<S: Strategy>(capacity: usize, n: usize) {
    check(move || {
        let (q, mut rx) = bounded::<S, usize>(capacity);
        let entered = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));

        let sender = {
            let (q, entered, polls) = (q.clone(), entered.clone(), polls.clone());
            thread::spawn(move || {
                let mut mine = 0;
                for i in 0..n {
                    let dropped_before = q.dropped_count();
                    let res = if S::ON_FULL == OnFull::Wait {
                        block_on(q.send(i))
                    } else {
                        q.try_send(i)
                    };
                    match res {
                        Ok(()) => {
                            let evicted = (q.dropped_count() - dropped_before) as usize;
                            assert!(evicted <= 1, "one send evicted {evicted} messages");
                            mine = mine + 1 - evicted;
                            entered.store(mine, SeqCst);
                            let taken_at_most = polls.load(SeqCst);
                            assert!(
                                mine <= capacity + taken_at_most,
                                "{mine} entered, at most {taken_at_most} taken: over capacity {capacity}"
                            );
                        }
                        Err(SendError::Full(m)) => {
                            assert_eq!(m, i, "Full handed back another message");
                            assert_eq!(
                                S::ON_FULL,
                                OnFull::Reject,
                                "only Reject fails a send when full"
                            );
                        }
                        Err(SendError::Closed(_)) => panic!("closed while sending"),
                    }
                    assert!(
                        q.len() <= capacity,
                        "len {} over capacity {capacity}",
                        q.len()
                    );
                }
                q.close();
                mine
            })
        };

        let mut taken = 0;
        while let Some(_m) = block_on(poll_fn(|cx| {
            polls.fetch_add(1, SeqCst);
            rx.poll_recv(&q, cx)
        })) {
            taken += 1;
            let entered_at_least = entered.load(SeqCst);
            assert!(
                entered_at_least <= capacity + taken,
                "{entered_at_least} entered, {taken} taken: over capacity {capacity}"
            );
            assert!(
                q.len() <= capacity,
                "len {} over capacity {capacity}",
                q.len()
            );
        }
        let mine = sender.join().unwrap();
        assert_eq!(
            taken, mine,
            "every message that entered and was not evicted is received"
        );
    });
}

/// Two senders race into a `Block` mailbox of capacity 1 (one waits for room, one uses
/// `try_send`) while the receiver drains; the last sender to finish closes. Every message whose
/// send returned `Ok` is received exactly once; every other one is handed back to its sender.
pub fn no_loss_no_duplication() {
    check(|| {
        let (q, mut rx) = bounded::<Block, Tracked>(1);
        let log = DropLog::new();
        let senders_left = Arc::new(AtomicUsize::new(2));

        let waiting = {
            let (q, log, left) = (q.clone(), log.clone(), senders_left.clone());
            thread::spawn(move || {
                let mut ok = 0u32;
                for id in [0, 1] {
                    match block_on(q.send(Tracked::new(id, &log))) {
                        Ok(()) => ok |= 1 << id,
                        Err(e) => panic!("a waiting send failed before close: {e:?}"),
                    }
                }
                if left.fetch_sub(1, SeqCst) == 1 {
                    q.close();
                }
                ok
            })
        };
        let trying = {
            let (q, log, left) = (q.clone(), log.clone(), senders_left.clone());
            thread::spawn(move || {
                let mut ok = 0u32;
                for id in [2, 3] {
                    match q.try_send(Tracked::new(id, &log)) {
                        Ok(()) => ok |= 1 << id,
                        Err(SendError::Full(m)) => {
                            assert_eq!(m.id, id, "Full handed back another message")
                        }
                        Err(SendError::Closed(_)) => {
                            panic!("closed before the last sender finished")
                        }
                    }
                }
                if left.fetch_sub(1, SeqCst) == 1 {
                    q.close();
                }
                ok
            })
        };

        let mut received = 0u32;
        while let Some(m) = recv(&mut rx, &q) {
            let id = m.handle();
            assert_eq!(received & (1 << id), 0, "message {id} received twice");
            received |= 1 << id;
        }
        let accepted = waiting.join().unwrap() | trying.join().unwrap();
        assert_eq!(
            received, accepted,
            "received {received:#b}, accepted {accepted:#b}"
        );
        drop((rx, q));
        log.assert_all_dropped_once(0b1111);
        assert_eq!(log.handled(), accepted);
    });
}

/// Two senders send `counts[0]` and `counts[1]` messages (waiting for room); the receiver sees
/// each sender's messages in the order that sender sent them.
pub fn fifo_per_sender<MB: Mailbox>(mailbox: MB, counts: [usize; 2]) {
    check(move || {
        let q = Arc::new(mailbox.queue::<(usize, usize)>());
        let mut rx = mailbox.receiver::<(usize, usize)>();
        let senders: Vec<_> = (0..2)
            .map(|s| {
                let q = q.clone();
                thread::spawn(move || {
                    for seq in 0..counts[s] {
                        block_on(q.send((s, seq))).unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0usize; 2];
        for _ in 0..counts[0] + counts[1] {
            let (s, seq) = recv(&mut rx, &q).expect("closed early");
            assert_eq!(
                seq, next[s],
                "sender {s}: got #{seq}, expected #{}",
                next[s]
            );
            next[s] += 1;
        }
        for s in senders {
            s.join().unwrap();
        }
    });
}

/// FIFO per sender under an unbounded mailbox (two senders, two messages each).
pub fn fifo_per_sender_unbounded() {
    fifo_per_sender(Unbounded, [2, 2]);
}

/// FIFO per sender under `Block` with capacity 1 (two senders, two and one messages, waiting
/// for room; two messages each took over 200 s at bound 2).
pub fn fifo_per_sender_block() {
    fifo_per_sender(Bounded::<Block>::with_capacity(1).unwrap(), [2, 1]);
}

/// The receiver polls an empty mailbox once with one waker (main thread), then finishes the
/// receive on another thread (another waker) while a third thread sends: the send wakes it.
pub fn receiver_woken_after_waker_change() {
    check(|| {
        let (q, mut rx) = bounded::<Block, u32>(1);
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.try_send(7).unwrap())
        };
        // The first poll registers this thread's waker, unless the message is already there.
        let first = poll_pinned(&mut poll_fn(|cx| rx.poll_recv(&q, cx)));
        let got = match first {
            Poll::Ready(m) => m,
            Poll::Pending => {
                let q2 = q.clone();
                thread::spawn(move || recv(&mut rx, &q2)).join().unwrap()
            }
        };
        assert_eq!(got, Some(7));
        sender.join().unwrap();
    });
}

/// A sender waiting for room in a full `Block` mailbox (capacity 1) is woken when the receiver
/// takes a message; both sends complete and both messages arrive.
pub fn sender_woken_by_receive() {
    check(|| {
        let (q, mut rx) = bounded::<Block, u32>(1);
        let sender = {
            let q = q.clone();
            thread::spawn(move || {
                block_on(q.send(1)).unwrap();
                block_on(q.send(2)).unwrap();
            })
        };
        assert_eq!(recv(&mut rx, &q), Some(1));
        assert_eq!(recv(&mut rx, &q), Some(2));
        sender.join().unwrap();
    });
}

/// A receiver gives its batch back (an actor's incarnation ending with messages taken and not
/// handled) while a sender waits for room in a full `Block` mailbox (capacity 2): the next
/// receiver gets the given-back message first and then the sender's, each once, and the sender
/// is not left waiting.
pub fn given_back_batch_goes_first_and_frees_room() {
    check(|| {
        let (q, mut rx) = bounded::<Block, u32>(2);
        q.try_send(0).unwrap();
        q.try_send(1).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || block_on(q.send(2)).unwrap())
        };
        // Takes the batch [0, 1] and hands out 0.
        assert_eq!(recv(&mut rx, &q), Some(0));
        let back = rx.give_back(&q);
        assert_eq!(back, 1);
        assert!(q.len() <= 2, "len {} over capacity 2", q.len());
        let mut next = playhouse_core::mailbox::Receiver::<u32, Block>::default();
        assert_eq!(recv(&mut next, &q), Some(1));
        assert_eq!(recv(&mut next, &q), Some(2));
        sender.join().unwrap();
        assert_eq!(q.len(), 0);
    });
}

/// Two senders wait on a full `Block` mailbox (capacity 1); one gives up (drops its send
/// future after one poll) while the receiver takes a message: the wake-up the cancelled send
/// may have been given passes on, so the other sender completes.
pub fn cancelled_send_passes_on_its_wakeup() {
    check(|| {
        let (q, mut rx) = bounded::<Block, u32>(1);
        q.try_send(0).unwrap();
        let quitter = {
            let q = q.clone();
            thread::spawn(move || {
                let mut send = q.send(1);
                let sent = matches!(poll_pinned(&mut send), Poll::Ready(Ok(())));
                drop(send);
                sent
            })
        };
        let waiter = {
            let q = q.clone();
            thread::spawn(move || block_on(q.send(2)).unwrap())
        };
        assert_eq!(recv(&mut rx, &q), Some(0));
        // The quitter never blocks; once it is done we know how many messages are coming.
        let quitter_sent = quitter.join().unwrap();
        let mut got = vec![recv(&mut rx, &q).unwrap()];
        if quitter_sent {
            got.push(recv(&mut rx, &q).unwrap());
        }
        waiter.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, if quitter_sent { vec![1, 2] } else { vec![2] });
        assert!(q.is_empty());
    });
}

/// Room that appears while a sender waits reaches it: after the receiver has taken enough
/// messages that everything sent fits in the mailbox, every waiting send completes without
/// further receives (capacity 2, four messages from two senders, two received).
pub fn waiting_sender_woken_when_room_appears() {
    check(|| {
        let (q, mut rx) = bounded::<Block, u32>(2);
        let first = {
            let q = q.clone();
            thread::spawn(move || {
                for m in [0, 1, 3] {
                    block_on(q.send(m)).unwrap();
                }
            })
        };
        let second = {
            let q = q.clone();
            thread::spawn(move || block_on(q.send(2)).unwrap())
        };
        assert!(recv(&mut rx, &q).is_some());
        assert!(recv(&mut rx, &q).is_some());
        // Two taken, four sent: the two left fit in capacity 2, so no send may still wait.
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(q.len(), 2);
    });
}

/// With the mailbox full (capacity 1), two senders wait for room while the receiver drains and
/// the main thread closes: every waiter and the receiver wake, and each send linearizes with the
/// close: it either returned `Ok` and was received, or returned `Closed` with its own message.
pub fn close_wakes_waiters_and_linearizes_with_send() {
    check(|| {
        let (q, mut rx) = bounded::<Block, Tracked>(1);
        let log = DropLog::new();
        q.try_send(Tracked::new(0, &log)).unwrap();
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|id| {
                let (q, log) = (q.clone(), log.clone());
                thread::spawn(move || match block_on(q.send(Tracked::new(id, &log))) {
                    Ok(()) => 1u32 << id,
                    Err(SendError::Closed(m)) => {
                        assert_eq!(m.id, id, "Closed handed back another message");
                        0
                    }
                    Err(SendError::Full(_)) => panic!("a waiting send returned Full"),
                })
            })
            .collect();
        let receiver = {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = 0u32;
                while let Some(m) = recv(&mut rx, &q) {
                    got |= 1 << m.handle();
                }
                got
            })
        };
        q.close();
        assert!(matches!(
            q.try_send(Tracked::new(3, &log)),
            Err(SendError::Closed(_))
        ));
        let accepted = senders
            .into_iter()
            .fold(1, |acc, s| acc | s.join().unwrap());
        let received = receiver.join().unwrap();
        assert_eq!(
            received, accepted,
            "received {received:#b}, accepted {accepted:#b}"
        );
        drop(q);
        log.assert_all_dropped_once(0b1111);
    });
}

/// A receiver parked on an empty mailbox is woken by close and sees the end (`None`).
pub fn close_wakes_parked_receiver() {
    check(|| {
        let (q, mut rx) = bounded::<Block, u32>(1);
        let receiver = {
            let q = q.clone();
            thread::spawn(move || recv(&mut rx, &q))
        };
        q.close();
        assert_eq!(receiver.join().unwrap(), None);
    });
}

/// Shared by the overflow models: one sender sends ids 0..3 into a capacity-2 mailbox while the
/// receiver drains until close. The receiver records each receipt under `received` in the same
/// critical section as its poll, so a drop hook that takes the lock sees every message handed
/// out before the drop. Returns after checking that every message was received or dropped by
/// the strategy exactly once, that the dropped count matches, and that receipts are in order.
fn overflow_model<S: Strategy>(hook: fn(dropped: u32, sending: u32, received: u32, evicted: u32)) {
    check(move || {
        let (q, mut rx) = bounded::<S, Tracked>(2);
        let received = Arc::new(Mutex::new(0u32));
        let sending = Arc::new(AtomicUsize::new(usize::MAX));
        let evicted = Arc::new(AtomicUsize::new(0));
        let log = {
            let (received, sending, evicted) = (received.clone(), sending.clone(), evicted.clone());
            DropLog::with_hook(move |id| {
                let sending = sending.load(SeqCst);
                if sending == usize::MAX {
                    return; // not an overflow drop
                }
                let before = evicted.fetch_or(1 << id, SeqCst);
                let got = *received.lock().unwrap();
                hook(id, sending as u32, got, before as u32);
            })
        };

        let sender = {
            let (q, log, sending) = (q.clone(), log.clone(), sending.clone());
            thread::spawn(move || {
                let mut rejected = 0u32;
                for id in 0..3 {
                    sending.store(id as usize, SeqCst);
                    match q.try_send(Tracked::new(id, &log)) {
                        Ok(()) => {}
                        Err(SendError::Full(m)) => {
                            assert_eq!(
                                S::ON_FULL,
                                OnFull::Reject,
                                "only Reject hands a message back"
                            );
                            assert_eq!(m.id, id, "Full handed back another message");
                            rejected |= 1 << id;
                            sending.store(usize::MAX, SeqCst);
                            drop(m);
                        }
                        Err(SendError::Closed(_)) => panic!("closed while sending"),
                    }
                }
                sending.store(usize::MAX, SeqCst);
                q.close();
                rejected
            })
        };

        let mut order = Vec::new();
        while let Some(id) = block_on(poll_fn(|cx| {
            let mut got = received.lock().unwrap();
            rx.poll_recv(&q, cx).map(|m| {
                m.map(|m| {
                    *got |= 1 << m.id;
                    m.handle()
                })
            })
        })) {
            order.push(id);
        }
        let rejected = sender.join().unwrap();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "out of order: {order:?}"
        );
        let evicted = evicted.load(SeqCst) as u32;
        assert_eq!(
            q.dropped_count(),
            u64::from(evicted.count_ones()),
            "dropped count vs drops"
        );
        let got = *received.lock().unwrap();
        assert_eq!(
            got & (evicted | rejected),
            0,
            "a message was both received and dropped"
        );
        assert_eq!(got | evicted | rejected, 0b111, "a message went missing");
        drop(q);
        log.assert_all_dropped_once(0b111);
    });
}

/// `DropOldest` on a full mailbox evicts exactly the oldest queued message (every older one
/// was already received or evicted), queues the new one, and counts the eviction once.
pub fn drop_oldest_evicts_the_oldest_and_counts_it() {
    overflow_model::<DropOldest>(|dropped, sending, received, evicted_before| {
        assert!(
            dropped < sending,
            "DropOldest dropped the message being sent ({dropped})"
        );
        let older = (1u32 << dropped) - 1;
        assert_eq!(
            older & !(received | evicted_before),
            0,
            "DropOldest dropped {dropped} while an older message was still queued \
             (received {received:#b}, evicted {evicted_before:#b})"
        );
    });
}

/// `DropNewest` on a full mailbox drops exactly the message being sent and counts it once.
pub fn drop_newest_drops_the_new_message_and_counts_it() {
    overflow_model::<DropNewest>(|dropped, sending, _, _| {
        assert_eq!(dropped, sending, "DropNewest dropped a queued message");
    });
}

/// `Reject` on a full mailbox hands the new message back and drops nothing.
pub fn reject_hands_the_message_back() {
    overflow_model::<Reject>(|dropped, _, _, _| {
        panic!("Reject dropped message {dropped} itself");
    });
}
