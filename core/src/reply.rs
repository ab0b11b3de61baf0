//! Reply ports: the one-shot channel an `ask` carries inside its request.
//!
//! The channel is the [`oneshot`] crate's: one allocation holding a one-byte atomic state, the
//! value and the asker's waker, freed by whichever end goes last, with no lock. One consequence
//! of its design: an asker polled (or dropped) in the few instructions between the replier
//! claiming its waker and publishing the value spins until the replier is done, rather than
//! register again.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use sync_wrapper::SyncWrapper;

use crate::error::NoReply;

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

// The cause [`begin_panicked_drop`] replaced, kept for [`end_panicked_drop`]; `None` when no
// panicked drop is under way.
#[cfg(not(playhouse_loom))]
std::thread_local! {
    static BEFORE_PANIC: Cell<Option<Option<NoReply>>> = const { Cell::new(None) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static BEFORE_PANIC: Cell<Option<Option<NoReply>>> = Cell::new(None);
}

// How many actors' tasks the executor is dropping on this thread right now (nested when one
// task's drop drops another's). Reply ports dropped meanwhile, with no cause of their own, went
// down with their actor: they report [`NoReply::Stopped`].
#[cfg(not(playhouse_loom))]
std::thread_local! {
    static TASK_DROPS: Cell<u32> = const { Cell::new(0) };
}
#[cfg(playhouse_loom)]
loom::thread_local! {
    static TASK_DROPS: Cell<u32> = Cell::new(0);
}

/// A zero-sized field whose drop begins the drop of an actor's task; the field after the task
/// future must be a [`TaskDropEnds`]. Struct fields drop in declaration order, so the future
/// between them is dropped with its reply ports reporting [`NoReply::Stopped`], at no cost in
/// size.
pub(crate) struct TaskDropBegins;

impl Drop for TaskDropBegins {
    fn drop(&mut self) {
        TASK_DROPS.with(|d| d.set(d.get() + 1));
    }
}

/// Ends what [`TaskDropBegins`] began. Dropped even when the drop of the future between them
/// panicked (drop glue drops the remaining fields while unwinding).
pub(crate) struct TaskDropEnds;

impl Drop for TaskDropEnds {
    fn drop(&mut self) {
        TASK_DROPS.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// After a caught panic: reply ports dropped on this thread report [`NoReply::Panicked`] until
/// [`end_panicked_drop`], so that what the panicked future still holds, dropped in between,
/// says why.
pub(crate) fn begin_panicked_drop() {
    begin_cut_drop(NoReply::Panicked);
}

/// After a handler was cut short (a panic, or a kill while it was suspended): reply ports
/// dropped on this thread report `cause` until [`end_panicked_drop`], so that what the cut
/// future still holds, dropped in between, says why.
pub(crate) fn begin_cut_drop(cause: NoReply) {
    let before = DROP_CAUSE.with(|c| c.replace(Some(cause)));
    BEFORE_PANIC.with(|b| {
        if b.get().is_none() {
            b.set(Some(before));
        }
    });
}

/// Ends what [`begin_panicked_drop`] began, restoring the cause it replaced; does nothing if
/// none is under way.
#[inline]
pub(crate) fn end_panicked_drop() {
    // Read first: at the end of every actor's task this is one load, not a load and a store.
    if BEFORE_PANIC.with(|b| b.get()).is_some() {
        restore_before_panic();
    }
}

#[cold]
fn restore_before_panic() {
    if let Some(before) = BEFORE_PANIC.with(|b| b.take()) {
        DROP_CAUSE.with(|c| c.set(before));
    }
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

/// Drops messages that the runtime discards or overflows, one at a time, with reply ports
/// inside them reporting `cause`. A message's drop is user code: one that panics is contained
/// here (the panic hook has reported it), so that the rest are still dropped, and a second
/// panicking drop does not run while the first unwinds (which would abort the process). Whoever
/// discards has counted and told the messages before: nothing else depends on their drops.
pub(crate) fn drop_each_with_cause<T>(cause: NoReply, messages: impl IntoIterator<Item = T>) {
    if !std::mem::needs_drop::<T>() {
        return drop(messages.into_iter());
    }
    with_drop_cause(cause, || {
        for msg in messages {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(msg))) {
                forget_panic(payload);
            }
        }
    })
}

/// Drops a caught panic's payload, whose own drop is user code too: a payload that panics in
/// turn is leaked rather than unwound.
pub(crate) fn forget_panic(payload: Box<dyn std::any::Any + Send>) {
    if let Err(inner) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(inner);
    }
}

/// `true` while the executor drops an actor's task on this thread ([`TaskDropBegins`]).
pub(crate) fn dropping_a_task() -> bool {
    TASK_DROPS.with(|d| d.get()) > 0
}

/// Why a reply port dropped now goes unanswered: the cause the runtime set, if any (it knows
/// best: a port discarded with a mailbox was not handled, even while a panic unwinds); else a
/// panic unwinding; else the drop of an actor's task; else the holder simply dropped it.
fn current_drop_cause() -> NoReply {
    if let Some(cause) = DROP_CAUSE.with(|c| c.get()) {
        return cause;
    }
    if std::thread::panicking() {
        NoReply::Panicked
    } else if dropping_a_task() {
        NoReply::Stopped
    } else {
        NoReply::Dropped
    }
}

/// What travels on the one-shot channel: the reply, or why none will come.
type Outcome<T> = Result<T, NoReply>;

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
    let (tx, rx) = oneshot::async_channel();
    (
        Reply { tx: Some(tx) },
        ReplyReceiver {
            rx: SyncWrapper::new(rx),
        },
    )
}

/// The sending half of a reply port, carried inside a request message.
///
/// It resolves its receiver exactly once: with [`send`](Reply::send), or, when it is dropped
/// unused, with a [`NoReply`] that says why (the handler dropped it, the actor panicked, the
/// actor stopped before handling the request, or the mailbox dropped it on overflow).
pub struct Reply<T> {
    tx: Option<oneshot::Sender<Outcome<T>>>,
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
        let Some(tx) = self.tx.take() else {
            return Err(value);
        };
        match tx.send(Ok(value)) {
            Ok(()) => Ok(()),
            Err(returned) => match returned.into_inner() {
                Ok(value) => Err(value),
                // `send` above put an `Ok` on the channel, and that is what comes back.
                Err(_) => unreachable!("a refused reply comes back as it was sent"),
            },
        }
    }

    /// `true` if the asker is no longer waiting for the reply.
    pub fn is_closed(&self) -> bool {
        self.tx.as_ref().is_none_or(oneshot::Sender::is_closed)
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            if crate::faults::enabled(crate::faults::Fault::ReplyDropSilent) {
                // The fault: the asker is never told (the channel is leaked, not disconnected).
                std::mem::forget(tx);
                return;
            }
            // A gone asker wants nothing; the returned cause is dropped.
            let _ = tx.send(Err(current_drop_cause()));
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
    /// `SyncWrapper` keeps the receiver `Sync`: it is only ever used through `&mut`.
    rx: SyncWrapper<oneshot::AsyncReceiver<Outcome<T>>>,
}

impl<T> Future for ReplyReceiver<T> {
    type Output = Result<T, NoReply>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(self.get_mut().rx.get_mut()).poll(cx) {
            Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
            // The replier always sends before it goes (an outcome or a cause), so a bare
            // disconnect means this future was polled again after it resolved: a misuse; say so
            // in the result rather than panic inside the library.
            Poll::Ready(Err(oneshot::RecvError)) => Poll::Ready(Err(NoReply::Dropped)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for ReplyReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyReceiver").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::task::noop_waker_ref;

    #[test]
    fn a_port_is_closed_once_its_receiver_is_dropped() {
        let (reply, rx) = reply_port::<u8>();
        assert!(!reply.is_closed());
        drop(rx);
        assert!(reply.is_closed());
        assert_eq!(reply.send(3), Err(3));
    }

    #[test]
    fn a_waiting_receiver_gets_the_value_sent_later() {
        let (reply, mut rx) = reply_port::<String>();
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(Pin::new(&mut rx).poll(&mut cx).is_pending());
        reply.send("late".to_owned()).unwrap();
        assert_eq!(
            Pin::new(&mut rx).poll(&mut cx),
            Poll::Ready(Ok("late".to_owned()))
        );
    }

    #[test]
    fn polling_again_after_it_resolved_is_an_error_not_a_panic() {
        let (reply, mut rx) = reply_port::<u8>();
        reply.send(1).unwrap();
        let mut cx = Context::from_waker(noop_waker_ref());
        assert_eq!(Pin::new(&mut rx).poll(&mut cx), Poll::Ready(Ok(1)));
        assert_eq!(
            Pin::new(&mut rx).poll(&mut cx),
            Poll::Ready(Err(NoReply::Dropped))
        );
    }

    #[test]
    fn a_port_dropped_under_a_cause_reports_that_cause() {
        let (reply, rx) = reply_port::<u8>();
        with_drop_cause(NoReply::Overflow, || drop(reply));
        assert_eq!(block_on(rx), Err(NoReply::Overflow));
        // The cause does not outlive the call.
        let (reply, rx) = reply_port::<u8>();
        drop(reply);
        assert_eq!(block_on(rx), Err(NoReply::Dropped));
    }

    #[test]
    fn a_value_sent_to_a_receiver_that_never_reads_it_is_dropped_once() {
        let value = std::sync::Arc::new(());
        let (reply, rx) = reply_port::<std::sync::Arc<()>>();
        reply.send(value.clone()).unwrap();
        assert_eq!(std::sync::Arc::strong_count(&value), 2);
        drop(rx);
        assert_eq!(std::sync::Arc::strong_count(&value), 1);
    }

    #[test]
    fn a_reply_from_another_thread_wakes_the_waiting_asker() {
        for _ in 0..20 {
            let (reply, rx) = reply_port::<Box<u32>>();
            let replier = std::thread::spawn(move || reply.send(Box::new(5)));
            assert_eq!(block_on(rx), Ok(Box::new(5)));
            assert_eq!(replier.join().unwrap(), Ok(()));
            // And a port dropped on another thread, racing the asker's wait.
            let (reply, rx) = reply_port::<Box<u32>>();
            let replier = std::thread::spawn(move || drop(reply));
            assert_eq!(block_on(rx), Err(NoReply::Dropped));
            replier.join().unwrap();
        }
    }
}
