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
use super::handle::{Deadline, Keyed};
use super::shared::Fast;
use super::spec::Key;
use super::spec::key_text;

/// The future of [`Keyed::tell`](super::Keyed::tell): resolves once the message is in the
/// mailbox of the key's activation (activating the key first if need be), or with why not.
///
/// # Cancel safety
///
/// As [`Keyed::tell`](super::Keyed::tell) says: dropped while waiting for room (or for a new
/// activation to finish taking its queue), the message is dropped unsent; once it is queued
/// for an activation, it stays queued and is delivered.
#[must_use = "a send does nothing until awaited"]
pub struct Tell<'a, K: Key, A: Actor, MB: Mailbox> {
    keyed: &'a Keyed<K, A, MB>,
    /// The key: read in place by the first poll, and moved into what waits if it must wait.
    key: Option<KeyOf<'a, K>>,
    /// The message, until the first poll takes it.
    msg: Option<A::Message>,
    /// What is left of a send that could not finish on its first poll: waiting for room, or
    /// for the key's activation.
    waiting: Option<Waiting<'a, A::Message>>,
}

/// The boxed rest of a send that waits.
type Waiting<'a, M> = Pin<Box<dyn Future<Output = Result<(), KeyedError<M>>> + Send + 'a>>;

/// The key of a send: its own ([`Keyed::tell`](super::Keyed::tell)), or one it borrows for as
/// long as it lives ([`AtKey`](super::AtKey)'s, so that a send through it clones nothing).
enum KeyOf<'a, K> {
    Owned(K),
    Borrowed(&'a K),
}

impl<K> KeyOf<'_, K> {
    #[inline(always)]
    fn get(&self) -> &K {
        match self {
            KeyOf::Owned(key) => key,
            KeyOf::Borrowed(key) => key,
        }
    }
}

impl<'a, K: Key, A: Actor, MB: Mailbox> Tell<'a, K, A, MB> {
    pub(crate) fn new(keyed: &'a Keyed<K, A, MB>, key: K, msg: A::Message) -> Self {
        Tell {
            keyed,
            key: Some(KeyOf::Owned(key)),
            msg: Some(msg),
            waiting: None,
        }
    }

    /// A send to a key the future borrows.
    pub(crate) fn borrowing(keyed: &'a Keyed<K, A, MB>, key: &'a K, msg: A::Message) -> Self {
        Tell {
            keyed,
            key: Some(KeyOf::Borrowed(key)),
            msg: Some(msg),
            waiting: None,
        }
    }

    /// The error of a send refused by a full mailbox (out of line: it formats the key).
    #[cold]
    #[inline(never)]
    fn full(key: &K, message: A::Message) -> KeyedError<A::Message> {
        KeyedError::Full {
            key: key_text(&key),
            message,
        }
    }

    /// Boxes the rest of a send that must wait (out of line: the hot path never comes here).
    #[cold]
    #[inline(never)]
    fn wait(
        keyed: &'a Keyed<K, A, MB>,
        key: KeyOf<'a, K>,
        hash: u64,
        fast: Fast<A, MB>,
    ) -> Waiting<'a, A::Message> {
        Box::pin(async move {
            let key = key.get();
            keyed
                .route_again(hash, key, fast, None, Deadline::Never)
                .await
                .map_err(|e| e.into_send_error(key))
        })
    }
}

// The key and the message are never pinned: the message is moved out by value, the key borrowed
// (or moved into what waits), and what waits is boxed.
impl<K: Key, A: Actor, MB: Mailbox> Unpin for Tell<'_, K, A, MB> {}

impl<K: Key, A: Actor, MB: Mailbox> Future for Tell<'_, K, A, MB> {
    type Output = Result<(), KeyedError<A::Message>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The key is there whenever the message is: the first poll takes the message, and the
        // key too if the send must wait.
        if let (Some(msg), Some(key)) = (this.msg.take(), this.key.as_ref().map(KeyOf::get)) {
            // The first poll: the hot path in place. It reads the key where it lies and moves
            // only the message, and everything but the send itself is out of line: moving a
            // whole state enum out and formatting the error inline cost the sender a quarter
            // more in a `perf` profile of `keyed/routed/current_thread`.
            let shared = this.keyed.shared();
            let hash = shared.table.hash(key);
            let fast = shared.route_fast(hash, key, msg, true, None);
            if fast.is_sent() {
                // Forgotten, not dropped: see `Fast::is_sent`.
                std::mem::forget(fast);
                return Poll::Ready(Ok(()));
            }
            match fast {
                Fast::Full(message) => return Poll::Ready(Err(Self::full(key, message))),
                fast => {
                    // Moved, not cloned: a `String` key costs no allocation here.
                    if let Some(key) = this.key.take() {
                        this.waiting = Some(Self::wait(this.keyed, key, hash, fast));
                    }
                }
            }
        }
        // Polled again after it resolved: nothing left to send.
        let Some(waiting) = this.waiting.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let outcome = std::task::ready!(waiting.as_mut().poll(cx));
        this.waiting = None;
        Poll::Ready(outcome)
    }
}

impl<K: Key, A: Actor, MB: Mailbox> fmt::Debug for Tell<'_, K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.msg, &self.waiting) {
            (Some(_), _) => "start",
            (None, Some(_)) => "waiting",
            (None, None) => "done",
        };
        f.debug_struct("Tell").field("state", &state).finish()
    }
}
