//! [`KeyRef`]: a handle on one key of a keyed set that caches the key's current activation, as
//! Orleans' grain references do, so that a send skips the hash and the table.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use playhouse_core::mailbox::{Block, Bounded, Mailbox};
use playhouse_core::{Actor, ActorRef, Reply, SendError, reply_port};

use crate::faults::Fault;

use super::entry::Idle;
use super::error::{KeyedAskError, KeyedError};
use super::handle::{Deadline, Keyed, flatten};
use super::shared::{Fast, full_waits};
use super::spec::Key;
use super::spec::key_text;

/// A handle on one key of a keyed set: it sends to that key as [`Keyed::tell`] does, but keeps
/// a reference to the key's current activation, so that a send to an active key is the
/// mailbox's `try_tell` and nothing else: no hash, no lock, no table. Made by
/// [`Keyed::key_ref`]; `Send + Sync`, and `Clone` (each clone has its own cache).
///
/// ```
/// use playhouse_broker::keyed::KeyedSpec;
/// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
/// use std::convert::Infallible;
///
/// struct Counter { n: u64 }
/// enum Msg { Add(u64), Get(Reply<u64>) }
/// impl Actor for Counter { type Message = Msg; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             Msg::Add(n) => self.n += n,
///             Msg::Get(reply) => { let _ = reply.send(self.n); }
///         }
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let counters = KeyedSpec::from_fn(|_: &u32| Ok::<_, Infallible>(Counter { n: 0 })).start(&system);
///
/// playhouse_core::testing::block_on(async {
///     let mut seven = counters.key_ref(7); // key 7 is not active yet: nothing cached
///     seven.tell(Msg::Add(1)).await.unwrap(); // activates it, then caches the activation
///     assert!(seven.is_cached());
///     seven.tell(Msg::Add(2)).await.unwrap(); // straight into its mailbox
///     assert_eq!(seven.ask(Msg::Get).await.unwrap(), 3);
///
///     assert!(counters.passivate(&7)); // the cached activation stops...
///     seven.tell(Msg::Add(4)).await.unwrap(); // ...so this send activates the key again
///     assert_eq!(seven.ask(Msg::Get).await.unwrap(), 4); // a fresh counter
///     assert_eq!(counters.stats().activations, 2);
/// });
/// ```
///
/// # How a send goes
///
/// With a cached activation, a send marks the key used for idle passivation (the flag the
/// activation's table entry shares with the handle) and `try_tell`s into the cached mailbox.
/// Accepted: done. Full: as [`Keyed::tell`] for that mailbox (wait for room under `Block`, fail
/// with [`KeyedError::Full`] under `Reject`). Closed, because the activation was passivated or
/// has ended: the message comes back, the cache is dropped, and the message takes the set's
/// routed path, which activates the key again if need be. Without a cached activation, a send
/// takes the routed path. After a send that took the routed path succeeds, the handle caches
/// the activation that serves the key now (if one is running and not being passivated).
///
/// # Guarantees
///
/// Those of [`Keyed`], for the messages sent through the handle:
///
/// - **Passivation loses nothing.** A passivation closes the activation's mailbox (under the
///   shard's write lock, though the handle takes no lock: the mailbox's own lock orders the
///   close against a `try_tell`). A handle's send either reaches the mailbox before the close,
///   and is handled (a passivation is a graceful stop that handles what is queued), or finds
///   the mailbox closed, gets its message back and routes it, activating the key again.
/// - **Order.** One handle's messages are handled in the order they were sent: a send borrows
///   the handle mutably until it resolves, so one handle has one send in flight; and a message
///   that is routed after a `Closed` waits for the closed activation to end before the next
///   activation takes it (as any routed message does), so it cannot overtake one the old
///   activation still holds. Likewise the activation a refresh caches is the one that took
///   the last message, or a later one, which started only after that one had ended.
/// - **A cached reference that is still open is the key's current activation.** The table
///   gives up an activation's entry only once the activation's mailbox is closed: a
///   passivation closes it first and keeps the entry until the exit; the exit watcher removes
///   the entry of an activation that has ended (and an ended actor's mailbox is closed); the
///   slow path replaces an entry only after a send found its mailbox closed; a restart policy
///   restarts the actor behind the same reference and mailbox, so the entry and the cache stay
///   right. The cache is refreshed only from an entry that is running and not being
///   passivated. So a handle never sends to an open mailbox that another activation of its key
///   has replaced.
/// - **A key used through a handle is not idle.** Each send sets the flag the sweeper reads.
///   The routed path sets it under the shard's read lock, so that a sweep, which checks the
///   flag again under the write lock before it passivates, never passivates a key in the
///   middle of a routed send. The handle does not take that lock: a send that sets the flag
///   just after that check may find the key passivated. That costs one activation, never a
///   message (see the first point), and happens only to a send that comes just as the key has
///   been idle for the whole idle time, as a routed send that comes just after the passivation
///   would. A key that gets sends through a handle more often than the idle time is never
///   passivated as idle.
///
/// # Cost
///
/// A send with a cached activation that has room: one relaxed load (and a store only after
/// the sweeper cleared the flag) and the mailbox's `try_tell`, in the first poll of the
/// [`KeyRefTell`]; nothing boxed, nothing cloned, no hash, no lock. A send that must wait (for
/// room, or for an activation) boxes the rest of its journey, as [`Keyed::tell`] does. Each
/// refresh of the cache (after a routed send) takes the shard's read lock and clones two
/// `Arc`s. The handle is the set's handle (an `Arc`), the key, its hash, and the cache (an
/// [`ActorRef`] and an `Arc` of the idle flag).
///
/// # What a held handle keeps alive
///
/// The set, as a [`Keyed`] clone does (the set and its activations live while any handle or
/// `KeyRef` does). And the cached activation's [`ActorRef`]: a handle holding one whose
/// activation was passivated keeps that actor's cell (its mailbox, with nothing in it) until
/// the handle's next send finds it closed and refreshes the cache, or the handle is dropped.
/// It does not keep the activation running: passivation and idle passivation stop it as
/// usual.
pub struct KeyRef<K: Key, A: Actor, MB: Mailbox = Bounded<Block>> {
    keyed: Keyed<K, A, MB>,
    key: K,
    hash: u64,
    cached: Option<Cached<A, MB>>,
}

/// A key's activation as a handle caches it: the actor, and the idle flag its entry shares.
pub(crate) struct Cached<A: Actor, MB: Mailbox> {
    pub(crate) actor: ActorRef<A, MB>,
    pub(crate) idle: Arc<Idle>,
}

impl<A: Actor, MB: Mailbox> Clone for Cached<A, MB> {
    fn clone(&self) -> Self {
        Cached {
            actor: self.actor.clone(),
            idle: self.idle.clone(),
        }
    }
}

/// What a send through the cache got.
enum Cache<M> {
    /// Accepted by the cached mailbox.
    Sent,
    /// Not sent through the cache: take the routed path (the cache was empty or is now, if
    /// the cached mailbox was closed).
    Route(M),
    /// What the routed path would make of it (a full mailbox).
    Fast(M, bool),
}

impl<K: Key, A: Actor, MB: Mailbox> KeyRef<K, A, MB> {
    pub(crate) fn new(keyed: Keyed<K, A, MB>, key: K) -> Self {
        let hash = keyed.shared().table.hash(&key);
        let cached = keyed.shared().current(hash, &key);
        KeyRef {
            keyed,
            key,
            hash,
            cached,
        }
    }

    /// The key this handle sends to.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The set this handle sends into.
    pub fn keyed(&self) -> &Keyed<K, A, MB> {
        &self.keyed
    }

    /// `true` if the handle holds a cached activation, which its next send tries first (it may
    /// have been passivated since: the send finds out).
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }

    /// Sends `msg` to the key's actor, activating the key first if it has no activation, as
    /// [`Keyed::tell`] does; through the cached activation when there is one (see the type's
    /// docs). The returned [`KeyRefTell`] does nothing until it is polled.
    ///
    /// # Errors
    ///
    /// As [`Keyed::tell`]: [`KeyedError::ActivationFailed`], [`KeyedError::Full`] under
    /// `Reject`, [`KeyedError::Stopped`], [`KeyedError::Cancelled`], each with the message.
    ///
    /// # Cancel safety
    ///
    /// As [`Keyed::tell`]: dropped while waiting for room (or for a new activation to finish
    /// taking its queue), the message is dropped unsent; once it is queued for an activation,
    /// it stays queued and is delivered.
    pub fn tell(&mut self, msg: A::Message) -> KeyRefTell<'_, K, A, MB> {
        KeyRefTell {
            keyed: &self.keyed,
            key: &self.key,
            hash: self.hash,
            cached: &mut self.cached,
            state: State::Start(msg),
        }
    }

    /// Like [`tell`](KeyRef::tell), but waits at most `timeout`, as [`Keyed::tell_timeout`]
    /// does (the message handed back if it had not reached the key's actor). It takes the
    /// routed path, not the cached activation.
    ///
    /// # Errors
    ///
    /// As [`tell`](KeyRef::tell), plus [`KeyedError::Timeout`].
    pub async fn tell_timeout(
        &self,
        msg: A::Message,
        timeout: Duration,
    ) -> Result<(), KeyedError<A::Message>> {
        self.keyed
            .tell_timeout_hashed(self.hash, &self.key, msg, timeout)
            .await
    }

    /// Sends `msg` to the key's running activation without waiting, as [`Keyed::try_tell`]
    /// does; through the cached activation when there is one. Never activates the key.
    ///
    /// # Errors
    ///
    /// [`KeyedError::Inactive`] if the key has no running activation; [`KeyedError::Full`] if
    /// its mailbox is full under `Block` or `Reject`. Both hand the message back.
    pub fn try_tell(&mut self, msg: A::Message) -> Result<(), KeyedError<A::Message>> {
        let msg = match send_cached(&mut self.cached, msg) {
            Cache::Sent => return Ok(()),
            Cache::Fast(message, _) => return Err(self.full(message)),
            Cache::Route(msg) => msg,
        };
        let shared = self.keyed.shared();
        match shared.route_fast(self.hash, &self.key, msg, false, None) {
            Fast::Sent => {
                self.cached = shared.current(self.hash, &self.key);
                Ok(())
            }
            Fast::Full(message) | Fast::Wait(_, message) => Err(self.full(message)),
            // (`Own` never: a send names no asker.)
            Fast::Inactive(message) | Fast::Own(message) => Err(KeyedError::Inactive {
                key: key_text(&self.key),
                message,
            }),
        }
    }

    /// Sends a request built around a fresh reply port to the key's actor (activating it if
    /// need be) and waits for the answer, as [`Keyed::ask`] does: `key_ref.ask(Msg::Get)`.
    ///
    /// # Errors
    ///
    /// As [`Keyed::ask`]: [`KeyedAskError::NotDelivered`] with the request, for the reasons of
    /// [`tell`](KeyRef::tell); [`KeyedAskError::NoReply`] if the activation took the request
    /// and will not answer; [`KeyedAskError::Deadlock`] with the request, unsent, if the key's
    /// own activation asks it from its handler or a hook, or its factory while activating it.
    ///
    /// Asked from an actor's code, it takes the routed path rather than the cached activation:
    /// the routing checks under the key's lock that the asker is not the key's own activation.
    ///
    /// # Cancel safety
    ///
    /// As [`Keyed::ask`].
    pub async fn ask<R, F>(&mut self, make: F) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        let (reply, rx) = reply_port();
        let request = make(reply);
        match super::factory_scope::asker() {
            None => self.tell(request).await?,
            // From an actor's code, the routed path, which refuses an ask from the key's own
            // activation under the key's lock (the cached one may be out of date).
            asker => self
                .keyed
                .route(self.hash, &self.key, request, asker, Deadline::Never)
                .await
                .map_err(|e| e.into_ask_error(&self.key))?,
        }
        rx.await.map_err(|reason| KeyedAskError::NoReply {
            key: key_text(&self.key),
            reason,
        })
    }

    /// Like [`ask`](KeyRef::ask), but gives up after `timeout`, as [`Keyed::ask_timeout`]
    /// does (the request handed back if it had not reached the key's actor). It takes the
    /// routed path, not the cached activation.
    ///
    /// # Errors
    ///
    /// As [`ask`](KeyRef::ask), plus [`KeyedAskError::Timeout`].
    pub async fn ask_timeout<R, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        self.keyed
            .ask_timeout_hashed(self.hash, &self.key, make, timeout)
            .await
    }

    /// Like [`ask`](KeyRef::ask), for a request whose answer is a `Result`: the handler's
    /// `Err(e)` arrives as [`KeyedAskError::HandlerError`], as [`Keyed::ask_flat`] does.
    ///
    /// # Errors
    ///
    /// As [`ask`](KeyRef::ask), plus [`KeyedAskError::HandlerError`] when the handler answered
    /// `Err(e)`.
    ///
    /// # Cancel safety
    ///
    /// As [`Keyed::ask`].
    pub async fn ask_flat<T, E, F>(&mut self, make: F) -> Result<T, KeyedAskError<A::Message, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> A::Message,
    {
        let answer = self.ask(make).await;
        flatten(&self.key, answer)
    }

    fn full(&self, message: A::Message) -> KeyedError<A::Message> {
        KeyedError::Full {
            key: key_text(&self.key),
            message,
        }
    }
}

/// The handle's hot path: marks the key used and `try_tell`s into the cached mailbox. A closed
/// mailbox empties the cache and hands the message back for the routed path.
#[inline(always)]
fn send_cached<A: Actor, MB: Mailbox>(
    cached: &mut Option<Cached<A, MB>>,
    msg: A::Message,
) -> Cache<A::Message> {
    let Some(c) = cached else {
        return Cache::Route(msg);
    };
    c.idle.touch();
    match c.actor.try_tell(msg) {
        Ok(()) => Cache::Sent,
        Err(SendError::Full(m)) => Cache::Fast(m, full_waits::<MB>()),
        Err(SendError::Closed(m)) => {
            *cached = None;
            if crate::faults::enabled(Fault::KeyRefClosedSendDrops) {
                drop(m);
                return Cache::Sent;
            }
            Cache::Route(m)
        }
    }
}

/// The future of [`KeyRef::tell`]: resolves once the message is in the mailbox of the key's
/// activation (activating the key first if need be), or with why not.
///
/// # Cancel safety
///
/// As [`KeyRef::tell`] says.
#[must_use = "a send does nothing until awaited"]
pub struct KeyRefTell<'a, K: Key, A: Actor, MB: Mailbox> {
    keyed: &'a Keyed<K, A, MB>,
    key: &'a K,
    hash: u64,
    cached: &'a mut Option<Cached<A, MB>>,
    state: State<'a, A::Message>,
}

enum State<'a, M> {
    /// Not polled yet.
    Start(M),
    /// Waiting: for room, or for the key's activation.
    Waiting(Pin<Box<dyn Future<Output = Result<(), KeyedError<M>>> + Send + 'a>>),
    /// Resolved.
    Done,
}

// The message is never pinned (it is moved in and out by value), and what waits is boxed.
impl<K: Key, A: Actor, MB: Mailbox> Unpin for KeyRefTell<'_, K, A, MB> {}

impl<K: Key, A: Actor, MB: Mailbox> Future for KeyRefTell<'_, K, A, MB> {
    type Output = Result<(), KeyedError<A::Message>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut waiting = match std::mem::replace(&mut this.state, State::Done) {
            State::Start(msg) => {
                let (keyed, key, hash) = (this.keyed, this.key, this.hash);
                let fast = match send_cached(this.cached, msg) {
                    Cache::Sent => return Poll::Ready(Ok(())),
                    Cache::Fast(message, false) => {
                        return Poll::Ready(Err(KeyedError::Full {
                            key: key_text(&key),
                            message,
                        }));
                    }
                    Cache::Fast(message, true) => {
                        // Only here with a cached activation, which stays cached.
                        match this.cached {
                            Some(c) => Fast::Wait(c.actor.clone(), message),
                            None => Fast::Inactive(message),
                        }
                    }
                    Cache::Route(msg) => {
                        match keyed.shared().route_fast(hash, key, msg, true, None) {
                            Fast::Sent => {
                                *this.cached = keyed.shared().current(hash, key);
                                return Poll::Ready(Ok(()));
                            }
                            Fast::Full(message) => {
                                return Poll::Ready(Err(KeyedError::Full {
                                    key: key_text(&key),
                                    message,
                                }));
                            }
                            fast => fast,
                        }
                    }
                };
                Box::pin(async move {
                    keyed
                        .route_again(hash, key, fast, None, Deadline::Never)
                        .await
                        .map_err(|e| e.into_send_error(key))
                })
            }
            State::Waiting(waiting) => waiting,
            // Polled again after it resolved: nothing left to send.
            State::Done => return Poll::Ready(Ok(())),
        };
        match waiting.as_mut().poll(cx) {
            Poll::Ready(outcome) => {
                if outcome.is_ok() && this.cached.is_none() {
                    *this.cached = this.keyed.shared().current(this.hash, this.key);
                }
                Poll::Ready(outcome)
            }
            Poll::Pending => {
                this.state = State::Waiting(waiting);
                Poll::Pending
            }
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> fmt::Debug for KeyRefTell<'_, K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start(..) => "start",
            State::Waiting(_) => "waiting",
            State::Done => "done",
        };
        f.debug_struct("KeyRefTell")
            .field("key", &self.key)
            .field("state", &state)
            .finish()
    }
}

impl<K: Key, A: Actor, MB: Mailbox> Clone for KeyRef<K, A, MB> {
    fn clone(&self) -> Self {
        KeyRef {
            keyed: self.keyed.clone(),
            key: self.key.clone(),
            hash: self.hash,
            cached: self.cached.clone(),
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> fmt::Debug for KeyRef<K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRef")
            .field("key", &self.key)
            .field("actor", &std::any::type_name::<A>())
            .field("cached", &self.cached.is_some())
            .finish_non_exhaustive()
    }
}
