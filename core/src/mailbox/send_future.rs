//! The future of a send that may wait for room.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::caller_span::CallerSpan;
use super::queue::Queue;
use super::strategy::{MessageMeta, Strategy};
use crate::error::SendError;

/// A send into a mailbox: resolves at once unless the mailbox is full under [`Block`](super::Block),
/// where it waits for room (or for the actor to stop, which fails it with the message handed back).
///
/// # Cancel safety
///
/// Dropping it before it resolves drops the message unsent (it never entered the mailbox), and
/// passes on any wake-up it had been given to the next waiting sender.
#[must_use = "a send does nothing until awaited"]
pub struct SendFuture<'a, M, S: Strategy> {
    queue: &'a Queue<M, S>,
    msg: Option<M>,
    /// The message's level and deadline (`()`, no room, under the plain strategies).
    meta: S::Meta,
    key: Option<u64>,
}

impl<'a, M, S: Strategy> SendFuture<'a, M, S> {
    pub(crate) fn new(queue: &'a Queue<M, S>, msg: M) -> Self {
        Self::with_meta(queue, msg, S::Meta::DEFAULT)
    }

    pub(crate) fn with_meta(queue: &'a Queue<M, S>, msg: M, meta: S::Meta) -> Self {
        SendFuture {
            queue,
            msg: Some(msg),
            meta,
            key: None,
        }
    }

    /// Gives up waiting and hands the message back, if it was not sent yet.
    pub(crate) fn take_message(&mut self) -> Option<M> {
        if let Some(k) = self.key.take() {
            self.queue.cancel_wait(k);
        }
        if crate::faults::enabled(crate::faults::Fault::TimedOutSendDropsRequest) {
            drop(self.msg.take());
        }
        self.msg.take()
    }
}

// The message is never pinned: it is moved in and out by value.
impl<M, S: Strategy> Unpin for SendFuture<'_, M, S> {}

impl<M, S: Strategy> Future for SendFuture<'_, M, S> {
    type Output = Result<(), SendError<M>>;

    // Always inlined into the sender's own future: left to the compiler, it was called out of
    // line once the send carried a meta, at 27 more instructions per `tell` (callgrind, 1M tells
    // on a current-thread runtime: 261.4M against 234.4M).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(msg) = this.msg.take() else {
            // Polled again after it resolved: nothing left to send.
            return Poll::Ready(Ok(()));
        };
        match this
            .queue
            .poll_send(msg, this.meta, CallerSpan::NONE, &mut this.key, cx)
        {
            Poll::Ready(Err((SendError::Full(m), true, _))) => {
                this.msg = Some(m);
                Poll::Pending
            }
            Poll::Ready(Err((e, _, _))) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<M, S: Strategy> Drop for SendFuture<'_, M, S> {
    #[inline]
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.queue.cancel_wait(k);
        }
    }
}

impl<M, S: Strategy> fmt::Debug for SendFuture<'_, M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("strategy", &S::NAME)
            .field("pending", &self.msg.is_some())
            .finish()
    }
}

/// An ask's send: a [`SendFuture`] and the span of the ask's caller, which rides with the
/// request ([`CallerSpan`]). Apart, so that a tell's future neither holds nor drops a span it
/// never carries; without the `tracing` feature the span is zero-sized and this is a
/// `SendFuture`.
///
/// Its `poll` repeats `SendFuture`'s rather than sharing a helper that hands the span back:
/// built on one, a tell took 5 more instructions without the feature (callgrind, 1M tells).
pub(crate) struct AskSend<'a, M, S: Strategy> {
    send: SendFuture<'a, M, S>,
    caller: CallerSpan,
}

impl<'a, M, S: Strategy> AskSend<'a, M, S> {
    pub(crate) fn new(send: SendFuture<'a, M, S>, caller: CallerSpan) -> Self {
        AskSend { send, caller }
    }

    /// Gives up waiting and hands the request back, if it was not sent yet.
    pub(crate) fn take_message(&mut self) -> Option<M> {
        self.send.take_message()
    }
}

impl<M, S: Strategy> Unpin for AskSend<'_, M, S> {}

impl<M, S: Strategy> Future for AskSend<'_, M, S> {
    type Output = Result<(), SendError<M>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let send = &mut this.send;
        let Some(msg) = send.msg.take() else {
            return Poll::Ready(Ok(()));
        };
        let caller = std::mem::take(&mut this.caller);
        match send
            .queue
            .poll_send(msg, send.meta, caller, &mut send.key, cx)
        {
            Poll::Ready(Err((SendError::Full(m), true, caller))) => {
                send.msg = Some(m);
                this.caller = caller;
                Poll::Pending
            }
            Poll::Ready(Err((e, _, _))) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}
