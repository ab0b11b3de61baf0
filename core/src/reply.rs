//! Reply ports: the one-shot channel an `ask` carries inside its request.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::NoReply;
use crate::sync::{Arc, Mutex};

// Why reply ports dropped on this thread right now are being dropped, when the runtime knows
// better than "the handler dropped it" (a discarded mailbox, an overflow). Under loom, each
// modelled thread gets its own copy.
#[cfg(not(playhouse_loom))]
std::thread_local! {
    static DROP_CAUSE: Cell<Option<NoReply>> = const { Cell::new(None) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static DROP_CAUSE: Cell<Option<NoReply>> = Cell::new(None);
}

/// Runs `f` (which drops messages) with reply ports dropped inside it reporting `cause`.
pub(crate) fn with_drop_cause<R>(cause: NoReply, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<NoReply>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0;
            DROP_CAUSE.with(|c| c.set(prev));
        }
    }
    let _restore = Restore(DROP_CAUSE.with(|c| c.replace(Some(cause))));
    f()
}

fn current_drop_cause() -> NoReply {
    if std::thread::panicking() {
        return NoReply::Panicked;
    }
    DROP_CAUSE.with(|c| c.get()).unwrap_or(NoReply::Dropped)
}

enum Slot<T> {
    Empty,
    Value(T),
    NoReply(NoReply),
    Taken,
}

struct State<T> {
    slot: Slot<T>,
    waker: Option<Waker>,
    receiver_gone: bool,
}

struct ReplyCell<T> {
    state: Mutex<State<T>>,
}

/// Creates a reply port and the receiver that resolves with what is sent on it.
///
/// [`ActorRef::ask`](crate::ActorRef::ask) does this for you; use it directly to hand a reply
/// port to some other party.
///
/// ```
/// use playhouse_core::{reply_port, NoReply};
///
/// let (reply, rx) = reply_port::<u32>();
/// reply.send(7).unwrap();
/// assert_eq!(futures::executor::block_on(rx), Ok(7));
///
/// let (reply, rx) = reply_port::<u32>();
/// drop(reply);
/// assert_eq!(futures::executor::block_on(rx), Err(NoReply::Dropped));
/// ```
pub fn reply_port<T: Send>() -> (Reply<T>, ReplyReceiver<T>) {
    let cell = Arc::new(ReplyCell {
        state: Mutex::new(State {
            slot: Slot::Empty,
            waker: None,
            receiver_gone: false,
        }),
    });
    (
        Reply {
            cell: Some(cell.clone()),
        },
        ReplyReceiver {
            cell,
            resolved: false,
        },
    )
}

/// The sending half of a reply port, carried inside a request message.
///
/// It resolves its receiver exactly once: with [`send`](Reply::send), or, when it is dropped
/// unused, with a [`NoReply`] that says why (the handler dropped it, the actor panicked, the
/// actor stopped before handling the request, or the mailbox dropped it on overflow).
pub struct Reply<T> {
    cell: Option<Arc<ReplyCell<T>>>,
}

impl<T> Reply<T> {
    /// Sends the reply. Hands the value back if the asker has gone (dropped its receiver, for
    /// example after a timeout).
    ///
    /// ```
    /// use playhouse_core::reply_port;
    ///
    /// let (reply, rx) = reply_port::<&str>();
    /// drop(rx);
    /// assert_eq!(reply.send("late"), Err("late"));
    /// ```
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(cell) = self.cell.take() else {
            return Err(value);
        };
        let waker = {
            let mut st = cell.state.lock();
            if st.receiver_gone {
                return Err(value);
            }
            st.slot = Slot::Value(value);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// `true` if the asker is no longer waiting for the reply.
    pub fn is_closed(&self) -> bool {
        match &self.cell {
            Some(cell) => cell.state.lock().receiver_gone,
            None => true,
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            if crate::faults::enabled(crate::faults::Fault::ReplyDropSilent) {
                return;
            }
            let cause = current_drop_cause();
            let waker = {
                let mut st = cell.state.lock();
                if st.receiver_gone {
                    return;
                }
                st.slot = Slot::NoReply(cause);
                st.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").finish_non_exhaustive()
    }
}

/// The receiving half of a reply port: a future that resolves exactly once, with the value or
/// with why none will come. Dropping it tells the replier (its `send` hands the value back).
///
/// # Cancel safety
///
/// Dropping the receiver before it resolves loses the reply, which the replier sees as an `Err`
/// from [`Reply::send`].
pub struct ReplyReceiver<T> {
    cell: Arc<ReplyCell<T>>,
    /// Set once it resolved: the replier is done with the cell, so drop need not lock it.
    resolved: bool,
}

impl<T> Future for ReplyReceiver<T> {
    type Output = Result<T, NoReply>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut st = this.cell.state.lock();
        match std::mem::replace(&mut st.slot, Slot::Taken) {
            Slot::Value(v) => {
                this.resolved = true;
                Poll::Ready(Ok(v))
            }
            Slot::NoReply(cause) => {
                this.resolved = true;
                Poll::Ready(Err(cause))
            }
            Slot::Empty => {
                st.slot = Slot::Empty;
                match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // Polled after it resolved: a misuse of the future; say so in the result rather
            // than panic inside the library.
            Slot::Taken => Poll::Ready(Err(NoReply::Dropped)),
        }
    }
}

impl<T> Drop for ReplyReceiver<T> {
    fn drop(&mut self) {
        if self.resolved {
            return;
        }
        let leftover = {
            let mut st = self.cell.state.lock();
            st.receiver_gone = true;
            st.waker = None;
            std::mem::replace(&mut st.slot, Slot::Taken)
        };
        // A value that arrived but was never read is dropped here, outside the lock.
        drop(leftover);
    }
}

impl<T> fmt::Debug for ReplyReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyReceiver").finish_non_exhaustive()
    }
}
