//! The actor task: incarnations over one mailbox, panics caught at the boundary, one final exit.
//!
//! It is one `async fn` with the whole loop inlined (nested async fns would each add a layer of
//! state to every actor's task), and panics are caught by a small pinned wrapper, not a boxed
//! future.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::actor::Actor;
use crate::context::Context;
use crate::env::Env;
use crate::error::NoReply;
use crate::exit::ExitReason;
use crate::mailbox::{Mailbox, Receiver};
use crate::reply::with_drop_cause;
use crate::spawn::Restart;

/// Messages handled back to back before the task yields to its executor.
const BUDGET: u32 = 128;

type ReceiverOf<A, V> = Receiver<<A as Actor>::Message, <<V as Env>::Mailbox as Mailbox>::Strategy>;

/// Runs the actor until its final exit, then discards what is left in its mailbox and reports
/// the exit exactly once.
pub(crate) async fn run_actor<A, V, R>(mut actor: A, ctx: Context<A, V>, mut restart: R)
where
    A: Actor,
    V: Env,
    R: Restart<A>,
{
    let mut task = Finalizer::<A, V> {
        ctx,
        rx: Receiver::default(),
        done: false,
    };
    let ctx = &mut task.ctx;
    let rx = &mut task.rx;
    let reason = loop {
        // One incarnation: `started`, the message loop, `stopped`.
        let mut reason = match CatchUnwind::new(actor.started(ctx)).await {
            Ok(Ok(())) => {
                let mut budget = BUDGET;
                loop {
                    // `ctx.stop()` from `started` or from the last handler: handle nothing more.
                    if ctx.stop_requested {
                        break ExitReason::Normal;
                    }
                    let Some(msg) = poll_fn(|cx| rx.poll_recv(&ctx.cell.queue, cx)).await else {
                        break ctx.cell.requested_reason().unwrap_or(ExitReason::Normal);
                    };
                    if ctx.cell.is_killed() {
                        ctx.cell.queue.add_discarded(1);
                        with_drop_cause(NoReply::Stopped, || drop(msg));
                        break ExitReason::Killed;
                    }
                    match CatchUnwind::new(actor.handle(msg, ctx)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break ExitReason::Failed(StdArc::new(e)),
                        Err(p) => break ExitReason::from_panic(p),
                    }
                    budget -= 1;
                    if budget == 0 {
                        budget = BUDGET;
                        YieldNow(false).await;
                    }
                }
            }
            Ok(Err(e)) => ExitReason::Failed(StdArc::new(e)),
            Err(p) => ExitReason::from_panic(p),
        };
        if let Err(p) = CatchUnwind::new(actor.stopped(ctx, &reason)).await {
            reason = ExitReason::from_panic(p);
        }
        ctx.end_incarnation();

        // Stop and kill are final, and so is a closed mailbox (nothing could reach a new one).
        if ctx.cell.stop_was_requested() || ctx.cell.queue.is_closed() {
            break reason;
        }
        match catch_unwind(AssertUnwindSafe(|| restart.on_exit(&reason))) {
            Ok(Some(fresh)) => {
                let old = std::mem::replace(&mut actor, fresh);
                with_drop_cause(NoReply::Stopped, || drop(old));
                ctx.begin_next_incarnation();
            }
            Ok(None) => break reason,
            Err(_) => break ExitReason::Panicked(StdArc::from("the restart policy panicked")),
        }
    };
    // The last incarnation has ended: release the actor, then discard the backlog, then report.
    with_drop_cause(NoReply::Stopped, || drop(actor));
    task.finish(reason);
}

pin_project! {
    /// Polls a future, catching a panic in any poll. After a panic the future is dropped at
    /// once, with reply ports it held reporting [`NoReply::Panicked`].
    struct CatchUnwind<F> {
        #[pin]
        fut: Option<F>,
    }
}

impl<F> CatchUnwind<F> {
    fn new(fut: F) -> Self {
        CatchUnwind { fut: Some(fut) }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Box::new("future polled after it panicked")));
        };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                with_drop_cause(NoReply::Panicked, || this.fut.set(None));
                Poll::Ready(Err(payload))
            }
        }
    }
}

/// Yields once to the executor, so a busy actor does not starve its neighbours.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Owns the receiving half; whether the task ends normally or is dropped by its executor, the
/// mailbox is closed, its backlog discarded and the exit reported, once.
struct Finalizer<A: Actor, V: Env> {
    ctx: Context<A, V>,
    rx: ReceiverOf<A, V>,
    done: bool,
}

impl<A: Actor, V: Env> Finalizer<A, V> {
    fn finish(&mut self, reason: ExitReason) {
        if self.done {
            return;
        }
        self.done = true;
        self.rx.close_and_discard(&self.ctx.cell.queue);
        self.ctx.cell.record_exit(reason);
    }
}

impl<A: Actor, V: Env> Drop for Finalizer<A, V> {
    fn drop(&mut self) {
        // Only reached without `finish` when the executor dropped the task (runtime shutdown).
        self.finish(ExitReason::Shutdown(Some(StdArc::from(
            "the executor dropped the actor's task",
        ))));
    }
}
