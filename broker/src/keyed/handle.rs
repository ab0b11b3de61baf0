//! [`Keyed`]: the handle that routes messages to keyed actors.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use playhouse_core::mailbox::{Block, Bounded, DropNewest, Mailbox};
use playhouse_core::{
    Actor, ActorId, Executor, Handler, MessageBroker, NoReply, Reply, ReplyReceiver,
    SendTimeoutError, System, Wiring, reply_port,
};

use super::error::{KeyedAskError, KeyedError, Undelivered};
use super::key_ref::KeyRef;
use super::launch::Launch;
use super::passivation::Sweeper;
use super::shared::{Fast, Shared, Slow};
use super::spec::key_text;
use super::spec::{Key, KeyedSpec};
use super::tell::Tell;

/// A set of keyed (virtual) actors: one actor of type `A` per key `K`, activated by the key's
/// first message, passivated when idle or on demand, and activated again by its next message.
/// Senders name the key, never an actor reference. Cheap to clone (one `Arc`), `Send + Sync`.
///
/// ```
/// use playhouse_broker::keyed::{Keyed, KeyedSpec};
/// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
/// use std::convert::Infallible;
///
/// struct Account { id: u32, balance: i64 }
/// enum Msg { Deposit(i64), Balance(Reply<i64>) }
///
/// impl Actor for Account {
///     type Message = Msg;
///     type Error = Infallible;
/// }
///
/// impl<V: Env> Handler<V> for Account {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             Msg::Deposit(n) => self.balance += n,
///             Msg::Balance(reply) => { let _ = reply.send(self.balance); }
///         }
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let accounts: Keyed<u32, Account> = KeyedSpec::new(|id: &u32| {
///     let id = *id;
///     async move { Ok::<_, std::io::Error>(Account { id, balance: 0 }) } // a load, in real code
/// })
/// .start(&system);
///
/// playhouse_core::testing::block_on(async {
///     accounts.tell(7, Msg::Deposit(30)).await.unwrap(); // activates account 7
///     accounts.tell(7, Msg::Deposit(12)).await.unwrap(); // straight to its mailbox
///     assert_eq!(accounts.ask(7, Msg::Balance).await.unwrap(), 42);
///     assert!(accounts.is_active(&7));
///     assert!(!accounts.is_active(&8));
///
///     assert!(accounts.passivate(&7)); // a graceful stop; the next message activates it again
///     assert_eq!(accounts.ask(7, Msg::Balance).await.unwrap(), 0); // a fresh `Account`
///     assert_eq!(accounts.stats().activations, 2);
/// });
/// ```
///
/// # Guarantees
///
/// - **One activation per key.** However many tasks send a key's first message at once,
///   exactly one activation is made (the factory is called once); the others' messages wait
///   for it.
/// - **Per-key order.** A key's messages from one sender are handled in the order they were
///   sent, including those sent while the key is activating: they wait, in order, and are
///   handed to the new activation before any later message.
/// - **Keys run concurrently.** Each activation is an actor of its own; a busy key holds up no
///   other.
/// - **Passivation loses nothing.** A message that races a passivation is handled either by
///   the old activation (a passivation is a graceful stop: what reached the mailbox is handled)
///   or by the next one (a send that finds the mailbox closed gets its message back, activates
///   the key and sends it again). The next activation starts only once the old one has ended
///   (its `stopped` hook has run), so state it saves there is what the factory loads, and order
///   is kept.
/// - **An idle passivated key costs nothing**: once its activation has ended, its entry is
///   removed from the table.
/// - **Errors hand the message back**: a failed activation, a full mailbox, a stopped
///   activation come back as a [`KeyedError`] that names the key and holds the message.
///
/// A passivation also loses nothing to a crash when the key has a restart policy or
/// supervision: an activation that crashes while it handles its queue after a passivation,
/// or is between two incarnations (a restart waiting for its backoff) when the passivation
/// comes, is restarted as if no passivation had been asked for, and the restart handles the
/// rest of the queue before the activation ends
/// ([`ActorRef::stop_after_queue`](playhouse_core::ActorRef::stop_after_queue)), unless the
/// supervision restarts with the queue discarded (`OnRestart::DrainQueue`) or gives up. A
/// restart that never comes (a backoff past the end of the clock, a factory that never
/// finishes without an activation timeout) holds the activation, and its queue, for good.
///
/// What is not guaranteed: that a message is handled at all if its activation crashes with
/// it queued and no restart policy or supervision takes over, or it gives up (its queue is
/// discarded, as for any actor, and reported as dead letters), and order between different
/// senders. The idle sweeper never discards a queue: it
/// stops a key only if nothing waits in its mailbox, decided in one step with the senders
/// under the mailbox's lock
/// ([`ActorRef::stop_if_empty`](playhouse_core::ActorRef::stop_if_empty)), so a send through
/// a [`KeyRef`], which takes no lock of the table, cannot slip in between.
///
/// # Costs
///
/// A send to an active key hashes the key once (foldhash, with a per-set random seed), takes
/// its shard's read lock, sets the entry's idle flag (a read, and a write only when the sweeper
/// has cleared it) and `try_tell`s into the mailbox, all in the first poll of its [`Tell`]: no
/// allocation, no clone, no `.await` unless the mailbox is full (then the rest of the send is
/// boxed while it waits for room). A key's first message (the cold path) takes the shard's
/// write lock, clones the key twice, and allocates its waiting entry, a reply port, the boxed
/// activation and the factory's boxed future; the activation runs in the sender's task as far
/// as it can without waiting (usually to its end), and only what must wait (a factory that is
/// not ready, a predecessor still ending, a full mailbox) goes on as a task of its own.
/// Messages that arrive while a key activates
/// wait in an unbounded queue beside its entry (the mailbox's bound applies once they are
/// handed over). Each active key holds one entry (its key, an actor reference, an id, and an
/// `Arc` of its idle flag and timestamp, which the [`KeyRef`]s caching it share) beside its
/// actor. The sweeper walks every active key once per quarter of the idle time.
///
/// A sender that sends to one key often can skip the hash, the lock and the probe: a
/// [`KeyRef`] from [`key_ref`](Keyed::key_ref) caches the key's activation, so that its send
/// to an active key is the flag and the `try_tell`.
///
/// An activation that asks its own key (from its handler or a hook) gets
/// [`KeyedAskError::Deadlock`] with its request back, not a hang: the reply could only come
/// once the asker returned. So does a factory that asks the key it is activating, and one that
/// sends to it gets [`KeyedError::Deadlock`].
pub struct Keyed<K: Key, A: Actor, MB: Mailbox = Bounded<Block>> {
    shared: Arc<Shared<K, A, MB>>,
}

/// What a keyed set has done since it started (see [`Keyed::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedStats {
    /// Activations made: a key's first factory call that returned an actor, after each time
    /// the key was inactive. A restart's factory call makes no new activation (the actor is
    /// replaced behind the same one): it counts in [`restarts`](KeyedStats::restarts).
    pub activations: u64,
    /// Activations that failed: the factory returned `Err` or panicked (also when called for a
    /// restart), or the executor dropped the task of an activation that had to wait.
    pub activation_failures: u64,
    /// Passivations: idle ones and on-demand ones.
    pub passivations: u64,
    /// Sweeps for idle keys done so far.
    pub sweeps: u64,
    /// Crashed incarnations that a restart policy or a supervision replaced with a fresh
    /// actor behind the same reference ([`KeyedSpec::restart`], [`KeyedSpec::supervise`]).
    pub restarts: u64,
    /// Messages that the activations' mailboxes dropped by their overflow strategy
    /// (`DropNewest`, `DropOldest`; and timer ticks a full `Reject` mailbox refused), over
    /// every activation the set has had, the running ones included. The set's senders do not
    /// hear of these drops (a tell that a `DropNewest` mailbox drops returns `Ok`, as it does
    /// for any actor): this is where they show. Reading it walks the table once.
    pub dropped: u64,
}

impl<K: Key, A: Actor, MB: Mailbox> Keyed<K, A, MB> {
    /// Starts a keyed set on `system` as `spec` says: its actors run on the system's executor
    /// and talk to its broker. With [`passivate_after`](KeyedSpec::passivate_after), it also
    /// spawns the sweeper, a small actor that ends with the set.
    ///
    /// No key is active until its first message.
    pub fn start<E, B>(system: &System<E, B>, spec: KeyedSpec<K, A, MB>) -> Self
    where
        E: Executor,
        B: MessageBroker,
        A: Handler<Wiring<MB, E, B>>,
    {
        let KeyedSpec {
            factory,
            mailbox,
            idle,
            supervision,
            activation_timeout,
        } = spec;
        let launch = Box::new(system.spawner(mailbox));
        let shared = Arc::new(Shared::new(
            factory,
            supervision,
            launch,
            idle,
            activation_timeout,
        ));
        if let Some(idle) = idle {
            // One sweep waiting is enough: ticks that find one queued are dropped.
            let mailbox = Bounded::<DropNewest>::with_capacity(1).unwrap_or_default();
            let sweeper = system
                .spawner(mailbox)
                .spawn(Sweeper::new(shared.weak(), idle));
            let _ = shared.sweeper.set(sweeper);
        }
        Keyed { shared }
    }

    /// Sends `msg` to the actor of `key`, activating the key first if it has no activation.
    ///
    /// To an active key this is the mailbox's own `tell`: it waits only if the mailbox is full
    /// under `Block` (and a full `DropNewest`/`DropOldest` mailbox drops and counts a message,
    /// as it would for any actor: the set's count is [`KeyedStats::dropped`]). To an inactive
    /// key it waits for the activation (the factory) and returns once the message is in the
    /// new activation's mailbox. The returned [`Tell`] does nothing until it is polled.
    ///
    /// # Errors
    ///
    /// [`KeyedError::ActivationFailed`] if the factory failed (the key stays inactive; its next
    /// message tries again); [`KeyedError::Full`] under `Reject`, and under `Block` where the
    /// send (or the hand-over of queued sends to a new activation) runs on the thread of that
    /// activation's own handler, which could not make room while it waits (a send from the
    /// handler itself, or a task polled inline inside it); [`KeyedError::Stopped`] if
    /// the new activation ended before it took the message (also when the executor dropped the
    /// new actor's task; one whose `started` hook fails most often has the message queued
    /// already, and discards it as an `ActorGone` dead letter: see there); [`KeyedError::Cancelled`] if the executor dropped the task of an
    /// activation that had to wait; [`KeyedError::Deadlock`] if the key's own factory sends to
    /// it while activating it. Each hands the message back (but for one case of `Cancelled`,
    /// see there).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped while it waits for room in a full mailbox, or for a new
    /// activation to finish taking the messages queued for it, the message is dropped unsent.
    /// Once it is queued for an activation, dropping the future does not withdraw it: it is
    /// delivered when the key is activated.
    pub fn tell(&self, key: K, msg: A::Message) -> Tell<'_, K, A, MB> {
        Tell::new(self, key, msg)
    }

    /// A handle on `key` that caches the key's current activation, so that its sends skip the
    /// hash and the table: a send to an active key through it is the mailbox's `try_tell` and
    /// a flag. Keep one per key a task sends to often; see [`KeyRef`] for what it guarantees,
    /// costs and keeps alive. Making it looks the key up once (a hash and a read lock) and
    /// caches the activation if the key is active; it never activates the key.
    pub fn key_ref(&self, key: K) -> KeyRef<K, A, MB> {
        KeyRef::new(self.clone(), key)
    }

    /// Like [`tell`](Keyed::tell), but waits at most `timeout`, read on the set's executor
    /// clock, for the key's activation (a factory that is slow or hangs, or the previous
    /// activation finishing) and for room in a full `Block` mailbox; then fails with
    /// [`KeyedError::Timeout`], handing the message back (taken out of the key's queue, it
    /// will not be delivered) unless the activation had already taken it to hand it over.
    /// With room in an active key's mailbox it is a routed `tell`: no timer is started.
    ///
    /// ```
    /// use playhouse_broker::keyed::{Keyed, KeyedSpec};
    /// use playhouse_core::{Actor, Context, Env, Handler, System};
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    ///
    /// struct Account;
    /// impl Actor for Account { type Message = u64; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Account {
    ///     async fn handle(&mut self, _: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> { Ok(()) }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// // A store that does not answer:
    /// let accounts: Keyed<u32, Account> =
    ///     KeyedSpec::new(|_: &u32| std::future::pending::<Result<Account, Infallible>>()).start(&system);
    /// playhouse_core::testing::block_on(async {
    ///     let err = accounts.tell_timeout(7, 25, Duration::from_millis(20)).await.unwrap_err();
    ///     assert!(err.is_timeout());
    ///     assert_eq!(err.to_string(), "the send to key 7 timed out before it was delivered");
    ///     assert_eq!(err.into_message(), Some(25)); // handed back
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`tell`](Keyed::tell), plus [`KeyedError::Timeout`].
    ///
    /// # Cancel safety
    ///
    /// As [`tell`](Keyed::tell).
    pub async fn tell_timeout(
        &self,
        key: K,
        msg: A::Message,
        timeout: Duration,
    ) -> Result<(), KeyedError<A::Message>> {
        let hash = self.shared.table.hash(&key);
        self.tell_timeout_hashed(hash, &key, msg, timeout).await
    }

    /// [`tell_timeout`](Keyed::tell_timeout) with the key borrowed and hashed.
    pub(crate) async fn tell_timeout_hashed(
        &self,
        hash: u64,
        key: &K,
        msg: A::Message,
        timeout: Duration,
    ) -> Result<(), KeyedError<A::Message>> {
        self.route(hash, key, msg, None, Deadline::After(timeout))
            .await
            .map_err(|e| e.into_send_error(key))
    }

    /// Sends `msg` to the running activation of `key` without waiting; usable from sync code.
    /// It never activates a key (that would wait for the factory): use [`tell`](Keyed::tell)
    /// for a key that may be inactive.
    ///
    /// # Errors
    ///
    /// [`KeyedError::Inactive`] if the key has no running activation (never activated,
    /// activating, passivated or being passivated); [`KeyedError::Full`] if its mailbox is
    /// full under `Block` or `Reject`. Both hand the message back.
    pub fn try_tell(&self, key: &K, msg: A::Message) -> Result<(), KeyedError<A::Message>> {
        let hash = self.shared.table.hash(key);
        match self.shared.route_fast(hash, key, msg, false, None) {
            Fast::Sent => Ok(()),
            Fast::Full(message) | Fast::Wait(_, message) => Err(KeyedError::Full {
                key: key_text(&key),
                message,
            }),
            // (`Own` never: a send names no asker.)
            Fast::Inactive(message) | Fast::Own(message) => Err(KeyedError::Inactive {
                key: key_text(&key),
                message,
            }),
        }
    }

    /// Sends a request built around a fresh reply port to the actor of `key` (activating it
    /// if need be) and waits for the answer, as [`ActorRef::ask`](playhouse_core::ActorRef::ask)
    /// does: `keyed.ask(key, Msg::Get)`.
    ///
    /// # Errors
    ///
    /// [`KeyedAskError::NotDelivered`] with the request, for the reasons of
    /// [`tell`](Keyed::tell); [`KeyedAskError::NoReply`] if the activation took the request
    /// and will not answer (it stopped, failed or panicked first, or dropped the port);
    /// [`KeyedAskError::Deadlock`] with the request, unsent, if the key's own activation asks
    /// it from its handler or a hook, or its factory while activating it.
    ///
    /// # Cancel safety
    ///
    /// As [`tell`](Keyed::tell) for the request; once it is delivered, dropping the future
    /// loses the answer (the handler's `Reply::send` hands it back).
    pub async fn ask<R, F>(&self, key: K, make: F) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        self.ask_key(&key, make).await
    }

    /// [`ask`](Keyed::ask) with the key borrowed.
    pub(crate) async fn ask_key<R, F>(
        &self,
        key: &K,
        make: F,
    ) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        let hash = self.shared.table.hash(key);
        self.ask_hashed(hash, key, make, None).await
    }

    /// Like [`ask`](Keyed::ask), but gives up after `timeout`, read on the set's executor
    /// clock, with [`KeyedAskError::Timeout`], as
    /// [`ActorRef::ask_timeout`](playhouse_core::ActorRef::ask_timeout) does. The request
    /// comes back in the error if it had not reached the key's actor: still waiting for the
    /// key's activation (a factory that is slow or hangs, or the previous activation still
    /// finishing) or for room in a full `Block` mailbox; it is then taken out of the key's
    /// queue and will not be delivered. Once the actor has it, the error holds `None`: it may
    /// still be handled, and its answer is dropped.
    ///
    /// ```
    /// use playhouse_broker::keyed::{Keyed, KeyedAskError, KeyedSpec};
    /// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    ///
    /// struct Account(u64);
    /// enum Msg { Balance(Reply<u64>) }
    /// impl Actor for Account { type Message = Msg; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Account {
    ///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         let Msg::Balance(reply) = msg;
    ///         let _ = reply.send(self.0);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// // Loading an account from a store that does not answer:
    /// let accounts: Keyed<u32, Account> =
    ///     KeyedSpec::new(|_: &u32| std::future::pending::<Result<Account, Infallible>>()).start(&system);
    /// playhouse_core::testing::block_on(async {
    ///     let err = accounts.ask_timeout(7, Msg::Balance, Duration::from_millis(20)).await.unwrap_err();
    ///     assert_eq!(err.to_string(), "the ask of key 7 timed out before the request was delivered");
    ///     assert!(matches!(err.into_message(), Some(Msg::Balance(_)))); // handed back
    /// });
    /// ```
    ///
    /// A zero timeout races the executor's timer, as for
    /// [`ActorRef::ask_timeout`](playhouse_core::ActorRef::ask_timeout): whether an answer that
    /// comes at once is taken depends on the executor.
    ///
    /// # Errors
    ///
    /// As [`ask`](Keyed::ask), plus [`KeyedAskError::Timeout`].
    ///
    /// # Cost
    ///
    /// As `ask`, plus the executor's sleep, boxed (one allocation), for each wait: for the
    /// answer, and for the key's activation if it must be waited for.
    pub async fn ask_timeout<R, F>(
        &self,
        key: K,
        make: F,
        timeout: Duration,
    ) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        let hash = self.shared.table.hash(&key);
        self.ask_timeout_hashed(hash, &key, make, timeout).await
    }

    /// [`ask_timeout`](Keyed::ask_timeout) with the key borrowed and hashed.
    pub(crate) async fn ask_timeout_hashed<R, F>(
        &self,
        hash: u64,
        key: &K,
        make: F,
        timeout: Duration,
    ) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        let deadline = Deadline::After(timeout).at(&*self.shared.launch);
        self.ask_hashed(hash, key, make, deadline).await
    }

    /// Every ask of a key: routes the request (refused if the asker is the key's own
    /// activation) and waits for the answer, until `deadline` if there is one.
    async fn ask_hashed<R, F>(
        &self,
        hash: u64,
        key: &K,
        make: F,
        deadline: Option<Instant>,
    ) -> Result<R, KeyedAskError<A::Message>>
    where
        R: Send,
        F: FnOnce(Reply<R>) -> A::Message,
    {
        let (reply, rx) = reply_port();
        let request = make(reply);
        let asker = super::factory_scope::asker();
        self.route(hash, key, request, asker, Deadline::from(deadline))
            .await
            .map_err(|e| e.into_ask_error(key))?;
        let answer = match deadline {
            None => rx.await,
            Some(deadline) => match self.before(rx, deadline).await {
                Ok(answer) => answer,
                Err(_) => {
                    return Err(KeyedAskError::Timeout {
                        key: key_text(&key),
                        message: None,
                    });
                }
            },
        };
        answer.map_err(|reason| KeyedAskError::NoReply {
            key: key_text(&key),
            reason,
        })
    }

    /// Like [`ask`](Keyed::ask), for a request whose answer is a `Result`: the handler's
    /// `Err(e)` arrives as [`KeyedAskError::HandlerError`], so that the caller has one error to
    /// handle, not a `Result` inside a `Result` (as
    /// [`ActorRef::ask_flat`](playhouse_core::ActorRef::ask_flat)).
    ///
    /// ```
    /// use playhouse_broker::keyed::{Keyed, KeyedAskError, KeyedSpec};
    /// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
    /// use std::convert::Infallible;
    ///
    /// struct Account(u64);
    /// enum Msg { Withdraw(u64, Reply<Result<u64, String>>) }
    /// impl Actor for Account { type Message = Msg; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Account {
    ///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         let Msg::Withdraw(n, reply) = msg;
    ///         let _ = reply.send(if n <= self.0 { self.0 -= n; Ok(self.0) } else { Err("insufficient funds".into()) });
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # use playhouse_broker::InMemoryBroker;
    /// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// let accounts: Keyed<u32, Account> = KeyedSpec::from_fn(|_: &u32| Ok::<_, Infallible>(Account(10))).start(&system);
    /// playhouse_core::testing::block_on(async {
    ///     assert_eq!(accounts.ask_flat(7, |r| Msg::Withdraw(4, r)).await.unwrap(), 6);
    ///     let err = accounts.ask_flat(7, |r| Msg::Withdraw(7, r)).await.unwrap_err();
    ///     assert_eq!(err.to_string(), "key 7 answered with an error: insufficient funds");
    ///     assert!(matches!(err, KeyedAskError::HandlerError { error, .. } if error == "insufficient funds"));
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ask`](Keyed::ask), plus [`KeyedAskError::HandlerError`] when the handler answered
    /// `Err(e)`.
    ///
    /// # Cancel safety
    ///
    /// As [`ask`](Keyed::ask).
    pub async fn ask_flat<T, E, F>(
        &self,
        key: K,
        make: F,
    ) -> Result<T, KeyedAskError<A::Message, E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> A::Message,
    {
        flatten(&key, self.ask_key(&key, make).await)
    }

    /// Routes `msg` to `key` (whose `hash` the caller has), for an ask made by `asker`'s code
    /// (`None`: a send, or not from an actor's), by `deadline`: the hot path inline (an
    /// `async fn` with no `.await` on it, so that it costs what `route_fast` costs), anything
    /// else in `route_again`.
    pub(crate) async fn route(
        &self,
        hash: u64,
        key: &K,
        msg: A::Message,
        asker: Option<ActorId>,
        deadline: Deadline,
    ) -> Result<(), Undelivered<A::Message>> {
        let fast = self.shared.route_fast(hash, key, msg, true, asker);
        if fast.is_sent() {
            // Forgotten, not dropped: see `Fast::is_sent`.
            std::mem::forget(fast);
            return Ok(());
        }
        match fast {
            Fast::Full(message) => Err(KeyedError::Full {
                key: key_text(&key),
                message,
            }
            .into()),
            fast => self.route_again(hash, key, fast, asker, deadline).await,
        }
    }

    /// Waits for room, or activates the key, routing again when an activation closes
    /// meanwhile. `asker` as for [`route`](Keyed::route); a send passes `None`. Past its
    /// `deadline`, a timed send or ask takes its message back if it has not reached the key's
    /// actor (`Undelivered::TimedOut`).
    pub(crate) async fn route_again(
        &self,
        hash: u64,
        key: &K,
        mut fast: Fast<A, MB>,
        asker: Option<ActorId>,
        deadline: Deadline,
    ) -> Result<(), Undelivered<A::Message>> {
        let shared = &self.shared;
        let deadline = deadline.at(&*shared.launch);
        loop {
            fast = match fast {
                Fast::Sent => return Ok(()),
                Fast::Full(message) => {
                    return Err(KeyedError::Full {
                        key: key_text(&key),
                        message,
                    }
                    .into());
                }
                Fast::Own(message) => return Err(Undelivered::OwnKey(message)),
                Fast::Wait(actor, m) => {
                    let sent = match deadline {
                        None => actor.tell(m).await.map_err(SendTimeoutError::from),
                        Some(deadline) => {
                            let left = deadline.saturating_duration_since(shared.launch.now());
                            actor.tell_timeout(m, left).await
                        }
                    };
                    match sent {
                        Ok(()) => return Ok(()),
                        Err(SendTimeoutError::Full(message)) => {
                            return Err(KeyedError::Full {
                                key: key_text(&key),
                                message,
                            }
                            .into());
                        }
                        Err(SendTimeoutError::Timeout(m)) => {
                            return Err(Undelivered::TimedOut(Some(m)));
                        }
                        // Passivated (or ended) while this send waited for room: route it
                        // again.
                        Err(SendTimeoutError::Closed(m)) => {
                            shared.route_fast(hash, key, m, true, asker)
                        }
                    }
                }
                Fast::Inactive(m) => {
                    let (rx, ticket) = match shared.route_slow(hash, key, m, asker) {
                        Slow::Fast(next) => {
                            fast = next;
                            continue;
                        }
                        // Queued by the actor the activation waits for: waiting would hang.
                        Slow::Queued(_, _, true) => return Ok(()),
                        Slow::Queued(rx, ticket, false) => (rx, ticket),
                        Slow::AwaitActive(wait, m) => {
                            // Woken with `()` once the entry turned active, or with an error
                            // if it went: either way, route again.
                            match deadline {
                                None => {
                                    let _ = wait.await;
                                }
                                Some(deadline) => {
                                    if self.before(wait, deadline).await.is_err() {
                                        return Err(Undelivered::TimedOut(Some(m)));
                                    }
                                }
                            }
                            fast = shared.route_fast(hash, key, m, true, asker);
                            continue;
                        }
                        Slow::Activate(activation, rx, ticket, detached) => {
                            let mut activation = Some(activation);
                            // Ready on the first poll: there is no point at which this future
                            // can be dropped with the activation neither finished nor spawned.
                            poll_fn(|cx| {
                                if let Some(activation) = activation.take() {
                                    shared.start_activation(activation, cx);
                                }
                                Poll::Ready(())
                            })
                            .await;
                            if detached {
                                return Ok(());
                            }
                            (rx, ticket)
                        }
                    };
                    let answer = match deadline {
                        None => rx.await,
                        Some(deadline) => match self.before(rx, deadline).await {
                            Ok(answer) => answer,
                            Err(mut rx) => {
                                if let Some(message) = shared.withdraw(hash, key, ticket) {
                                    return Err(Undelivered::TimedOut(Some(message)));
                                }
                                // The activation has it in hand; it may have answered just now
                                // (with the message back, if it failed).
                                let mut cx = std::task::Context::from_waker(Waker::noop());
                                match Pin::new(&mut rx).poll(&mut cx) {
                                    Poll::Ready(answer) => answer,
                                    Poll::Pending => return Err(Undelivered::TimedOut(None)),
                                }
                            }
                        },
                    };
                    return match answer {
                        Ok(delivery) => delivery,
                        // The activation always answers; this is a task dropped without
                        // running its destructors.
                        Err(_) => Err(KeyedError::Cancelled {
                            key: key_text(&key),
                            message: None,
                        }
                        .into()),
                    };
                }
            };
        }
    }

    /// Waits for `rx` until `deadline` (on the set's clock); hands `rx` back if the deadline
    /// came first.
    async fn before<T>(
        &self,
        mut rx: ReplyReceiver<T>,
        deadline: Instant,
    ) -> Result<Result<T, NoReply>, ReplyReceiver<T>> {
        let mut sleep = self.shared.launch.sleep_until(deadline);
        let answer = poll_fn(|cx| {
            if let Poll::Ready(answer) = Pin::new(&mut rx).poll(cx) {
                return Poll::Ready(Some(answer));
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        answer.ok_or(rx)
    }

    /// Passivates the key's activation now: its mailbox closes, it handles what is queued,
    /// its `stopped` hook runs (with `ExitReason::Shutdown(Some("passivated"))`), and its entry
    /// is removed. Returns at once: `true` if the key had a running activation, `false` if it
    /// had none, was still activating, or was already being passivated. The key's next message
    /// activates it again, once this activation has ended.
    ///
    /// A supervised activation that crashes with messages still queued, or that is between
    /// two incarnations when this comes, is restarted first, and the restart handles them (see
    /// [Guarantees](Keyed#guarantees)).
    pub fn passivate(&self, key: &K) -> bool {
        let hash = self.shared.table.hash(key);
        self.shared.passivate(hash, key)
    }

    /// Passivates every running activation and waits until each has ended (handled what was
    /// queued, through a restart for a supervised one that crashes or is between two
    /// incarnations, as [`passivate`](Keyed::passivate) says, and run its `stopped` hook).
    /// Returns how many were passivated. Keys activated by messages sent meanwhile stay
    /// active: this is a checkpoint, not a shutdown. A restart under way is waited for,
    /// backoff included; one whose factory never finishes holds this unless
    /// [`activation_timeout`](super::KeyedSpec::activation_timeout) bounds it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the waiting, not the passivations.
    pub async fn passivate_all(&self) -> usize {
        let stopped = self.shared.passivate_all();
        for actor in &stopped {
            actor.wait().await;
        }
        stopped.len()
    }

    /// `true` if the key has a running activation that is not being passivated.
    pub fn is_active(&self, key: &K) -> bool {
        let hash = self.shared.table.hash(key);
        self.shared.is_active(hash, key)
    }

    pub(crate) fn shared(&self) -> &Shared<K, A, MB> {
        &self.shared
    }

    /// How many keys have a running activation that is not being passivated. Reads one counter
    /// per shard of the table.
    pub fn active_count(&self) -> usize {
        self.shared.active_count()
    }

    /// How many keys hold an entry in the table: active, activating, or finishing a
    /// passivation. Once every key has been passivated and its activation has ended, 0: an idle
    /// passivated key costs nothing.
    pub fn resident_count(&self) -> usize {
        self.shared.resident_count()
    }

    /// The idle time after which keys are passivated, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.shared.idle
    }

    /// What the set has done since it started.
    ///
    /// Cost: a few atomic loads, and for [`dropped`](KeyedStats::dropped) one walk over the
    /// table, each shard under its read lock, reading each running activation's count under
    /// its mailbox's lock: O(active keys). A diagnostic, not for a hot loop.
    pub fn stats(&self) -> KeyedStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.shared.counters;
        KeyedStats {
            activations: c.activations.load(Relaxed),
            activation_failures: c.activation_failures.load(Relaxed),
            passivations: c.passivations.load(Relaxed),
            sweeps: c.sweeps.load(Relaxed),
            restarts: c.restarts.load(Relaxed),
            dropped: self.shared.dropped_count(),
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> Clone for Keyed<K, A, MB> {
    fn clone(&self) -> Self {
        Keyed {
            shared: self.shared.clone(),
        }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> fmt::Debug for Keyed<K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("actor", &std::any::type_name::<A>())
            .field("active", &self.active_count())
            .field("passivate_after", &self.shared.idle)
            .finish_non_exhaustive()
    }
}

/// An ask's answer that is a `Result`, with the handler's `Err` as the ask's error.
pub(crate) fn flatten<K: Key, M, T, E>(
    key: &K,
    answer: Result<Result<T, E>, KeyedAskError<M>>,
) -> Result<T, KeyedAskError<M, E>> {
    match answer {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(KeyedAskError::HandlerError {
            key: key_text(&key),
            error,
        }),
        Err(e) => Err(e.map_handler_error(|never| match never {})),
    }
}

/// When a routed send or ask gives up.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// Never: `tell` and `ask`.
    Never,
    /// At this instant of the set's clock.
    At(Instant),
    /// This long after the routing first has to wait (the clock is read only then): a timed
    /// send, whose fast path reads no clock.
    After(Duration),
}

impl Deadline {
    /// The instant, on `launch`'s clock; `None` for no limit (also for a timeout too long to
    /// add to the clock).
    pub(crate) fn at<A: Actor, MB: Mailbox>(self, launch: &dyn Launch<A, MB>) -> Option<Instant> {
        match self {
            Deadline::Never => None,
            Deadline::At(at) => Some(at),
            Deadline::After(timeout) => launch.now().checked_add(timeout),
        }
    }
}

impl From<Option<Instant>> for Deadline {
    fn from(at: Option<Instant>) -> Self {
        at.map_or(Deadline::Never, Deadline::At)
    }
}
