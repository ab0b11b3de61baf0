//! Models of the reply port (`reply_port`): the one-shot slot an `ask` waits on.

use std::task::Poll;

use loom::sync::Arc;
use loom::thread;
use playhouse_core::{NoReply, reply_port};

use crate::harness::{check, poll_pinned};

/// The replier sends from another thread while the asker polls once on the main thread and then
/// finishes the wait on a third thread (another waker): the asker gets the value, exactly once.
pub fn reply_resolves_once_with_value_after_waker_change() {
    check(|| {
        let (reply, mut rx) = reply_port::<Arc<u32>>();
        let replier = thread::spawn(move || {
            reply
                .send(Arc::new(7))
                .map_err(|_| ())
                .expect("the asker is waiting")
        });
        let got = match poll_pinned(&mut rx) {
            Poll::Ready(r) => r,
            Poll::Pending => thread::spawn(move || loom::future::block_on(rx))
                .join()
                .unwrap(),
        };
        assert_eq!(*got.expect("a value was sent"), 7);
        replier.join().unwrap();
    });
}

/// The replier drops its port unused while the asker waits: the asker resolves with
/// `NoReply::Dropped` and is never left pending.
pub fn reply_dropped_resolves_the_asker() {
    check(|| {
        let (reply, rx) = reply_port::<u32>();
        let replier = thread::spawn(move || drop(reply));
        assert_eq!(loom::future::block_on(rx), Err(NoReply::Dropped));
        replier.join().unwrap();
    });
}

/// The asker gives up (drops its receiver after one poll) while the replier sends: either the
/// send succeeds and the value is dropped with the slot, or it is handed back; either way the
/// value is dropped exactly once (loom's leak check on the `Arc` payload).
pub fn reply_to_gone_asker_drops_value_once() {
    check(|| {
        let (reply, mut rx) = reply_port::<Arc<u32>>();
        let replier = thread::spawn(move || match reply.send(Arc::new(1)) {
            Ok(()) => false,
            Err(v) => {
                assert_eq!(*v, 1);
                true
            }
        });
        let early = matches!(poll_pinned(&mut rx), Poll::Ready(_));
        drop(rx);
        let handed_back = replier.join().unwrap();
        assert!(
            !(early && handed_back),
            "the asker got the value and the replier got it back"
        );
    });
}
