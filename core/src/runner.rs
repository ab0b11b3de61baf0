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

/// Messages handled back to back (without the mailbox running empty) before the task yields to
/// its executor.
const BUDGET: u32 = 128;

type ReceiverOf<A, V> = Receiver<<A as Actor>::Message, <<V as Env>::Mailbox as Mailbox>::Strategy>;

/// Runs the actor until its final exit, then discards what is left in its mailbox and reports
/// the exit exactly once.
///
/// A plain function returning an `async move` block rather than an `async fn`: the block's
/// captures are its only copy of the context and the actor (an `async fn` keeps its arguments
/// and the locals they are moved into side by side), so an idle actor's task stays small.
pub(crate) fn run_actor<A, V, R>(
    mut actor: A,
    ctx: Context<A, V>,
    mut restart: R,
) -> impl Future<Output = ()> + Send + 'static
where
    A: Actor,
    V: Env,
    R: Restart<A>,
{
    let mut task = Finalizer::<A, V> {
        ctx,
        rx: Receiver::default(),
    };
    async move {
        let reason = loop {
            // One incarnation: `started`, the message loop, `stopped`.
            let mut reason = 'incarnation: {
                if let Some(early) =
                    started_outcome(CatchUnwind::new(actor.started(&mut task.ctx)).await)
                {
                    break 'incarnation early;
                }
                let mut budget = BUDGET;
                loop {
                    // `ctx.stop()` from `started` or from the last handler: handle nothing more.
                    if task.ctx.stop_requested {
                        break 'incarnation ExitReason::Normal;
                    }
                    let Some(msg) = poll_fn(|cx| {
                        let polled = task.poll_recv(cx);
                        if polled.is_pending() {
                            // The task goes back to its executor anyway: a fresh budget. (Yielding
                            // after 128 messages spread over many wake-ups would only invite
                            // another worker to steal the actor away from its senders.)
                            budget = BUDGET;
                        }
                        polled
                    })
                    .await
                    else {
                        break 'incarnation task
                            .ctx
                            .cell
                            .requested_reason()
                            .unwrap_or(ExitReason::Normal);
                    };
                    if task.ctx.cell.is_killed() {
                        task.ctx.cell.queue.add_discarded(1);
                        with_drop_cause(NoReply::Stopped, || drop(msg));
                        break 'incarnation ExitReason::Killed;
                    }
                    match CatchUnwind::new(actor.handle(msg, &mut task.ctx)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break 'incarnation ExitReason::Failed(StdArc::new(e)),
                        Err(p) => break 'incarnation ExitReason::from_panic(p),
                    }
                    budget -= 1;
                    if budget == 0 {
                        budget = BUDGET;
                        YieldNow(false).await;
                    }
                }
            };
            if let Err(p) = CatchUnwind::new(actor.stopped(&mut task.ctx, &reason)).await {
                reason = ExitReason::from_panic(p);
            }
            task.ctx.end_incarnation();

            // Stop and kill are final, and so is a closed mailbox (nothing could reach a new one).
            if task.ctx.drained
                || task.ctx.cell.stop_was_requested()
                || task.ctx.cell.queue.is_closed()
            {
                break reason;
            }
            match catch_unwind(AssertUnwindSafe(|| restart.on_exit(&reason))) {
                Ok(Some(fresh)) => {
                    let old = std::mem::replace(&mut actor, fresh);
                    with_drop_cause(NoReply::Stopped, || drop(old));
                    task.ctx.begin_next_incarnation();
                }
                Ok(None) => break reason,
                Err(_) => break ExitReason::Panicked(StdArc::from("the restart policy panicked")),
            }
        };
        // The last incarnation has ended: release the actor, then discard the backlog, then
        // report.
        with_drop_cause(NoReply::Stopped, || drop(actor));
        task.finish(reason);
    }
}

/// What `started` returned: `None` to go on to the message loop, or the reason it ended the
/// incarnation. A separate function so that the awaited result is not kept in the task's
/// state across the message loop.
fn started_outcome<E: std::error::Error + Send + Sync + 'static>(
    outcome: Result<Result<(), E>, Box<dyn Any + Send>>,
) -> Option<ExitReason> {
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(ExitReason::Failed(StdArc::new(e))),
        Err(p) => Some(ExitReason::from_panic(p)),
    }
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
}

impl<A: Actor, V: Env> Finalizer<A, V> {
    #[inline]
    fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<A::Message>> {
        let polled = self.rx.poll_recv(&self.ctx.cell.queue, cx);
        if let Poll::Ready(None) = polled {
            // Closed and empty: nothing can enter it any more.
            self.ctx.drained = true;
        }
        polled
    }

    fn finish(&mut self, reason: ExitReason) {
        if self.ctx.finished {
            return;
        }
        self.ctx.finished = true;
        if !self.ctx.drained {
            self.rx.close_and_discard(&self.ctx.cell.queue);
        }
        self.ctx.cell.record_exit(reason);
    }
}

impl<A: Actor, V: Env> Drop for Finalizer<A, V> {
    fn drop(&mut self) {
        // Without `finish` only when the executor dropped the task (runtime shutdown). Checked
        // first, so that a task that finished does not build (allocate) a reason to discard.
        if !self.ctx.finished {
            self.finish(ExitReason::Shutdown(Some(StdArc::from(
                "the executor dropped the actor's task",
            ))));
        }
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod size_tests {
    use super::*;
    use crate::broker::InMemoryBroker;
    use crate::env::Wiring;
    use crate::mailbox::{Block, Bounded};
    use crate::spawn::NoRestart;
    use crate::testing::ThreadExecutor;
    use std::convert::Infallible;

    /// An actor like the spawn benchmark's: two shared counters, `started` and `stopped` hooks.
    struct Trivial(std::sync::Arc<u8>, std::sync::Arc<u8>);

    impl Actor for Trivial {
        type Message = u64;
        type Error = Infallible;

        async fn started<V: Env>(&mut self, _: &mut Context<Self, V>) -> Result<(), Infallible> {
            std::hint::black_box(&self.0);
            Ok(())
        }

        async fn handle<V: Env>(
            &mut self,
            _: u64,
            _: &mut Context<Self, V>,
        ) -> Result<(), Infallible> {
            Ok(())
        }

        async fn stopped<V: Env>(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
            std::hint::black_box(&self.1);
        }
    }

    fn size_of_val<F>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every idle actor costs its task: the runner must not keep copies of its arguments or
    /// dead results across the message loop (it was 192 bytes as an `async fn`).
    #[test]
    fn an_idle_actors_task_stays_small() {
        type V = Wiring<Bounded<Block>, ThreadExecutor, InMemoryBroker>;
        let cell = crate::sync::Arc::new(crate::cell::ActorCell::new(
            Bounded::<Block>::default().queue::<u64>(),
            crate::executor::SharedSleeper::new(ThreadExecutor),
        ));
        let env = std::sync::Arc::new(crate::env::SpawnEnv::new(
            ThreadExecutor,
            InMemoryBroker::default(),
        ));
        let ctx = Context::<Trivial, V>::new(cell, env);
        let actor = Trivial(Default::default(), Default::default());
        let fut = run_actor(actor, ctx, NoRestart);
        assert!(
            size_of_val(&fut) <= 144,
            "the actor task is {} bytes",
            size_of_val(&fut)
        );
    }
}
