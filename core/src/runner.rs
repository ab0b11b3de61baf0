//! The actor task: incarnations over one mailbox, panics caught at the boundary, one final exit.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::Poll;

use crate::actor::Actor;
use crate::actor_ref::CellOf;
use crate::context::Context;
use crate::env::Env;
use crate::error::NoReply;
use crate::exit::ExitReason;
use crate::mailbox::Receiver;
use crate::reply::with_drop_cause;
use crate::spawn::Restart;
use crate::sync::Arc;

/// Messages handled back to back before the task yields to its executor.
const BUDGET: u32 = 128;

type ReceiverOf<A, V> =
    Receiver<<A as Actor>::Message, <<V as Env>::Mailbox as crate::mailbox::Mailbox>::Strategy>;

/// Runs the actor until its final exit, then discards what is left in its mailbox and reports
/// the exit exactly once.
pub(crate) async fn run_actor<A, V, R>(actor: A, ctx: Context<A, V>, restart: R)
where
    A: Actor,
    V: Env,
    R: Restart<A>,
{
    let cell = ctx.cell.clone();
    let mut task = Finalizer::<A, V> {
        cell,
        rx: Receiver::default(),
        done: false,
    };
    let mut actor = Some(actor);
    let mut ctx = ctx;
    let mut restart = restart;
    let reason = loop {
        let Some(current) = actor.as_mut() else {
            break ExitReason::Normal;
        };
        let reason = incarnation(current, &mut ctx, &mut task.rx).await;
        ctx.end_incarnation();
        if task.cell.stop_was_requested() || task.cell.queue.is_closed() {
            break reason;
        }
        let next = match catch_unwind(AssertUnwindSafe(|| restart.on_exit(&reason))) {
            Ok(next) => next,
            Err(p) => {
                // A panicking restart policy ends the actor, reporting that panic.
                drop(p);
                break ExitReason::Panicked(StdArc::from("the restart policy panicked"));
            }
        };
        match next {
            Some(fresh) => {
                let old = actor.replace(fresh);
                with_drop_cause(NoReply::Stopped, || drop(old));
                ctx.begin_next_incarnation();
            }
            None => break reason,
        }
    };
    // The last incarnation has ended: release the actor, then discard the backlog, then report.
    with_drop_cause(NoReply::Stopped, || drop(actor.take()));
    task.finish(reason);
}

/// One incarnation: `started`, the message loop, `stopped`.
async fn incarnation<A: Actor, V: Env>(
    actor: &mut A,
    ctx: &mut Context<A, V>,
    rx: &mut ReceiverOf<A, V>,
) -> ExitReason {
    let reason = match catch(actor.started(ctx)).await {
        Ok(Ok(())) => message_loop(actor, ctx, rx).await,
        Ok(Err(e)) => ExitReason::Failed(StdArc::new(e)),
        Err(p) => ExitReason::from_panic(p),
    };
    match catch(actor.stopped(ctx, &reason)).await {
        Ok(()) => reason,
        Err(p) => ExitReason::from_panic(p),
    }
}

async fn message_loop<A: Actor, V: Env>(
    actor: &mut A,
    ctx: &mut Context<A, V>,
    rx: &mut ReceiverOf<A, V>,
) -> ExitReason {
    let cell = ctx.cell.clone();
    let mut budget = BUDGET;
    loop {
        let Some(msg) = poll_fn(|cx| rx.poll_recv(&cell.queue, cx)).await else {
            return cell.requested_reason().unwrap_or(ExitReason::Normal);
        };
        if cell.is_killed() {
            cell.queue.add_discarded(1);
            with_drop_cause(NoReply::Stopped, || drop(msg));
            return ExitReason::Killed;
        }
        match catch(actor.handle(msg, ctx)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return ExitReason::Failed(StdArc::new(e)),
            Err(p) => return ExitReason::from_panic(p),
        }
        if ctx.stop_requested {
            return ExitReason::Normal;
        }
        budget -= 1;
        if budget == 0 {
            budget = BUDGET;
            yield_now().await;
        }
    }
}

/// Polls `fut`, catching a panic in any poll. After a panic the future is dropped at once, with
/// reply ports it held reporting [`NoReply::Panicked`].
async fn catch<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut slot = pin!(Some(fut));
    let out = poll_fn(|cx| {
        let Some(fut) = slot.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(
                Box::new("future polled after it panicked") as Box<dyn Any + Send>
            ));
        };
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await;
    if out.is_err() {
        with_drop_cause(NoReply::Panicked, || slot.set(None));
    }
    out
}

/// Yields once to the executor, so a busy actor does not starve its neighbours.
fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// Owns the receiving half; whether the task ends normally or is dropped by its executor, the
/// mailbox is closed, its backlog discarded and the exit reported, once.
struct Finalizer<A: Actor, V: Env> {
    cell: Arc<CellOf<A, V::Mailbox>>,
    rx: ReceiverOf<A, V>,
    done: bool,
}

impl<A: Actor, V: Env> Finalizer<A, V> {
    fn finish(&mut self, reason: ExitReason) {
        if self.done {
            return;
        }
        self.done = true;
        self.rx.close_and_discard(&self.cell.queue);
        self.cell.record_exit(reason);
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
