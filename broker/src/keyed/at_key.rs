//! [`AtKey`]: one key of a keyed actor as a [`MessageTarget`], for code (and `#[actor]`'s
//! helpers) written against any address.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, MessageTarget, Reply};

use super::error::{KeyedAskError, KeyedError};
use super::handle::{Keyed, flatten};
use super::spec::Key;
use super::tell::Tell;

/// One key of a [`Keyed`] actor, as a [`MessageTarget`]: `keyed.at(key)`. A tell or ask
/// through it is the keyed actor's own [`tell`](Keyed::tell), [`ask`](Keyed::ask) or
/// [`ask_flat`](Keyed::ask_flat) to that key, with the same errors, activation and order.
///
/// It is what makes the helpers `#[actor]` generates work on keyed actors:
/// `accounts.at(7).deposit(5).await` routes a `Deposit` to account 7, activating it if need
/// be, and answers what the handler returned (a `KeyedAskError` if it could not).
///
/// It borrows the [`Keyed`] handle and owns the key: made where it is used, it costs nothing
/// but the key's move. Each send hashes the key and looks it up, as a routed send does; for a
/// key a task sends to again and again, a [`KeyRef`](super::KeyRef) caches the activation
/// (it takes `&mut self` to keep its cache, so it has its own `tell` and `ask` rather than
/// this trait).
///
/// ```
/// use playhouse_broker::keyed::{Keyed, KeyedSpec};
/// use playhouse_core::{Actor, Context, Env, Handler, MessageTarget, Reply, System};
/// use std::convert::Infallible;
///
/// struct Counter(u64);
/// enum Msg { Add(u64), Get(Reply<u64>) }
/// impl Actor for Counter { type Message = Msg; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Counter {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg { Msg::Add(n) => self.0 += n, Msg::Get(r) => { let _ = r.send(self.0); } }
///         Ok(())
///     }
/// }
///
/// /// Adds one through any address of a counter, and reads it back.
/// async fn bump<T: MessageTarget<Message = Msg>>(counter: &T) -> Option<u64> {
///     counter.tell(Msg::Add(1)).await.ok()?;
///     counter.ask(Msg::Get).await.ok()
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// let counters: Keyed<&'static str, Counter> =
///     KeyedSpec::from_fn(|_: &&str| Ok::<_, Infallible>(Counter(0))).start(&system);
/// playhouse_core::testing::block_on(async {
///     assert_eq!(bump(&counters.at("a")).await, Some(1)); // activates "a"
///     assert_eq!(bump(&counters.at("a")).await, Some(2));
///     assert_eq!(bump(&counters.at("b")).await, Some(1));
/// });
/// ```
pub struct AtKey<'a, K: Key, A: Actor, MB: Mailbox> {
    keyed: &'a Keyed<K, A, MB>,
    key: K,
}

impl<K: Key, A: Actor, MB: Mailbox> Keyed<K, A, MB> {
    /// `key` as a [`MessageTarget`]: what `#[actor]`'s helpers are called on
    /// (`accounts.at(7).deposit(5)`), and what code generic over an actor's address takes. See
    /// [`AtKey`].
    pub fn at(&self, key: K) -> AtKey<'_, K, A, MB> {
        AtKey { keyed: self, key }
    }
}

impl<K: Key, A: Actor, MB: Mailbox> AtKey<'_, K, A, MB> {
    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K: Key, A: Actor, MB: Mailbox> MessageTarget for AtKey<'_, K, A, MB> {
    type Message = A::Message;
    type TellError = KeyedError<A::Message>;
    type TellTimeoutError = KeyedError<A::Message>;
    type AskError<E> = KeyedAskError<A::Message, E>;

    /// As [`Keyed::tell`] to the key.
    #[inline]
    fn tell(&self, msg: Self::Message) -> impl Future<Output = Result<(), Self::TellError>> + Send {
        Tell::borrowing(self.keyed, &self.key, msg)
    }

    /// As [`Keyed::tell_timeout`] to the key.
    async fn tell_timeout(
        &self,
        msg: Self::Message,
        timeout: Duration,
    ) -> Result<(), Self::TellTimeoutError> {
        let hash = self.keyed.shared().table.hash(&self.key);
        self.keyed
            .tell_timeout_hashed(hash, &self.key, msg, timeout)
            .await
    }

    /// As [`Keyed::ask`] to the key.
    #[inline]
    fn ask<T, F>(
        &self,
        make: F,
    ) -> impl Future<Output = Result<T, Self::AskError<Infallible>>> + Send
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        self.keyed.ask_key(&self.key, make)
    }

    /// As [`Keyed::ask_flat`] to the key.
    async fn ask_flat<T, E, F>(&self, make: F) -> Result<T, Self::AskError<E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send,
    {
        flatten(&self.key, self.keyed.ask_key(&self.key, make).await)
    }

    /// As [`Keyed::ask_timeout`] to the key.
    async fn ask_timeout<T, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, Self::AskError<Infallible>>
    where
        T: Send,
        F: FnOnce(Reply<T>) -> Self::Message + Send,
    {
        let hash = self.keyed.shared().table.hash(&self.key);
        self.keyed
            .ask_timeout_hashed(hash, &self.key, make, timeout)
            .await
    }

    /// As [`Keyed::ask_timeout`] to the key, for a request whose answer is a `Result` (as
    /// [`Keyed::ask_flat`]).
    async fn ask_flat_timeout<T, E, F>(
        &self,
        make: F,
        timeout: Duration,
    ) -> Result<T, Self::AskError<E>>
    where
        T: Send,
        E: Send,
        F: FnOnce(Reply<Result<T, E>>) -> Self::Message + Send,
    {
        let hash = self.keyed.shared().table.hash(&self.key);
        let answer = self
            .keyed
            .ask_timeout_hashed(hash, &self.key, make, timeout)
            .await;
        flatten(&self.key, answer)
    }
}

impl<K: Key, A: Actor, MB: Mailbox> fmt::Debug for AtKey<'_, K, A, MB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtKey").field("key", &self.key).finish()
    }
}
