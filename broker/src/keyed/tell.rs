//! [`Tell`]: the future of [`Keyed::tell`](super::Keyed::tell).
//!
//! A named future rather than an `async fn`, so that a send to an active key costs what the
//! lookup and the mailbox's `try_tell` cost: its first poll does the hot path in place, and
//! only a send that must wait (for room in a full mailbox, or for an activation) boxes the rest
//! of its journey.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use playhouse_core::Actor;
use playhouse_core::mailbox::Mailbox;

use super::error::KeyedError;
use super::handle::Keyed;
use super::shared::Fast;
use super::spec::Key;

/// The future of [`Keyed::tell`](super::Keyed::tell): resolves once the message is in the
/// mailbox of the key's activation (activating the key first if need be), or with why not.
///
/// # Cancel safety
///
/// As [`Keyed::tell`](super::Keyed::tell) says: dropped while waiting for room, the message is
/// dropped unsent; once it waits for an activation, it stays queued and is delivered.
#[must_use = "a send does nothing until awaited"]
pub struct Tell<'a, K: Key, A: Actor, MB: Mailbox> {
    keyed: &'a Keyed<K, A, MB>,
    state: State<'a, K, A::Message>,
}

enum State<'a, K, M> {
    /// Not polled yet.
    Start(K, M),
    /// Waiting: for room, or for the key's activation.
    Waiting(Pin<Box<dyn Future<Output = Result<(), KeyedError<M>>> + Send + 'a>>),
    /// Resolved.
    Done,
}

impl<'a, K: Key, A: Actor, MB: Mailbox> Tell<'a, K, A, MB> {
    pub(crate) fn new(keyed: &'a Keyed<K, A, MB>, key: K, msg: A::Message) -> Self {
        Tell {
            keyed,
            state: State::Start(key, msg),
        }
    }
}

// The key and the message are never pinned: they are moved in and out by value, and what waits
// is boxed.
impl<K: Key, A: Actor, MB: Mailbox> Unpin for Tell<'_, K, A, MB> {}

impl<K: Key, A: Actor, MB: Mailbox> Future for Tell<'_, K, A, MB> {
    type Output = Result<(), KeyedError<A::Message>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut waiting = match std::mem::replace(&mut this.state, State::Done) {
            State::Start(key, msg) => {
                let shared = this.keyed.shared();
                let hash = shared.table.hash(&key);
                match shared.route_fast(hash, &key, msg, true) {
                    Fast::Sent => return Poll::Ready(Ok(())),
                    Fast::Full(message) => {
                        return Poll::Ready(Err(KeyedError::Full {
                            key: format!("{key:?}"),
                            message,
                        }));
                    }
                    fast => {
                        let keyed = this.keyed;
                        Box::pin(async move { keyed.route_again(hash, &key, fast).await })
                    }
                }
            }
            State::Waiting(waiting) => waiting,
            // Polled again after it resolved: nothing left to send.
            State::Done => return Poll::Ready(Ok(())),
        };
        match waiting.as_mut().poll(cx) {
            Poll::Ready(outcome) => Poll::Ready(outcome),
            Poll::Pending => {
                this.state = State::Waiting(waiting);
                Poll::Pending
            }
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> fmt::Debug for Tell<'_, K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start(..) => "start",
            State::Waiting(_) => "waiting",
            State::Done => "done",
        };
        f.debug_struct("Tell").field("state", &state).finish()
    }
}
