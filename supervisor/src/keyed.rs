//! Keyed (virtual) actors under OTP's rules: [`KeyedSupervision`] governs each activation of
//! a keyed set as a supervisor governs a child, with the child spec's restart type, what a
//! restart does with the queue, restart intensity and backoff, and restarts with the set's own
//! factory, so that a restarted key reloads its state.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use playhouse_broker::keyed::{ActivationCause, Key, Reactivation, SupervisionMaker};
use playhouse_core::{ActorId, ExitReason, Next, Supervision};

use crate::intensity::add_restart;
use crate::jitter::Jitter;
use crate::spec::{Backoff, OnRestart, RestartType};

/// How each activation of a keyed set is supervised: give it to
/// [`KeyedSpec::supervise`](playhouse_broker::keyed::KeyedSpec::supervise).
///
/// Each activation of a key is supervised as a `simple_one_for_one` child of its own:
///
/// - its [`RestartType`] decides which exits lead to a restart (`Permanent`: any exit on its
///   own, a normal one included; `Transient`: an error, a panic or a kill; `Temporary`: none).
///   A passivation is a stop, never an exit on its own: an activation that ends by it is
///   never restarted. One that crashes (or ends on its own) with messages still queued after
///   a passivation, or is between two incarnations when it comes, is restarted as the restart
///   type says, and the restart handles them before the activation ends
///   ([`ActorRef::stop_after_queue`](playhouse_core::ActorRef::stop_after_queue)).
/// - a restart runs the **set's factory** for the key again (as an activation does: its panic
///   caught, the set's activation timeout applied), and the fresh actor takes over behind the
///   same reference and mailbox. The key stays active throughout; messages sent meanwhile
///   queue for it.
/// - [`OnRestart`] says whether what was queued for the crashed incarnation is handled by the
///   next (`KeepQueue`, the default) or discarded (`DrainQueue`: reply ports inside resolve
///   with [`NoReply::Drained`](playhouse_core::NoReply::Drained), and an in-memory keyed set
///   or a NATS sharded group reports each message as a
///   [`Drained`](playhouse_core::DeadLetterKind::Drained) dead letter for the key, on the
///   broker of the node it ran on, as it is discarded).
/// - restart **intensity**: at most `max_restarts` restarts within any `period`, counted per
///   activation on the executor's clock. One more, or a factory that fails to make the fresh
///   actor, and the activation ends with the crash's reason: its queue is discarded (as any
///   actor's that ends), its entry goes, and the key's next message activates it anew. That is
///   the keyed set's escalation: a key that keeps crashing is started over from its factory,
///   and no other key is touched.
/// - an optional [`Backoff`] waits before each restart (exponential in the restarts within the
///   period, capped, with jitter), on the executor's timer.
///
/// Restarts are counted in the set's
/// [`KeyedStats::restarts`](playhouse_broker::keyed::KeyedStats::restarts).
///
/// ```
/// use playhouse_broker::keyed::KeyedSpec;
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
/// use playhouse_supervisor::{KeyedSupervision, RestartType};
/// use std::time::Duration;
///
/// /// A balance; a withdrawal larger than it is a bug that crashes the account.
/// struct Account { balance: u64 }
/// enum Msg { Deposit(u64), Withdraw(u64), Balance(Reply<u64>) }
/// impl Actor for Account { type Message = Msg; type Error = std::convert::Infallible; }
/// impl<V: Env> Handler<V> for Account {
///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
///         match msg {
///             Msg::Deposit(n) => self.balance += n,
///             Msg::Withdraw(n) => self.balance = self.balance.checked_sub(n).expect("overdrawn"),
///             Msg::Balance(reply) => { let _ = reply.send(self.balance); }
///         }
///         Ok(())
///     }
/// }
///
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
/// playhouse_core::testing::block_on(async {
///     // Every account opens (and is restarted) with 100, as if loaded from a store.
///     let accounts = KeyedSpec::from_fn(|_: &u32| Ok::<_, std::io::Error>(Account { balance: 100 }))
///         .supervise(KeyedSupervision::new(RestartType::Transient).intensity(3, Duration::from_secs(10)))
///         .start(&system);
///     accounts.tell(7, Msg::Deposit(5)).await.unwrap();
///     accounts.tell(7, Msg::Withdraw(1_000)).await.unwrap(); // panics: restarted from the factory
///     assert_eq!(accounts.ask(7, Msg::Balance).await.unwrap(), 100);
///     assert_eq!(accounts.stats().restarts, 1);
///     assert_eq!(accounts.stats().activations, 1); // the same activation, restarted
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyedSupervision {
    restart: RestartType,
    on_restart: OnRestart,
    max_restarts: u32,
    period: Duration,
    backoff: Option<Backoff>,
}

impl KeyedSupervision {
    /// Activations restarted as `restart` says, with OTP's default intensity (1 restart in
    /// 5 s), their queue kept, and no backoff.
    pub fn new(restart: RestartType) -> Self {
        KeyedSupervision {
            restart,
            on_restart: OnRestart::KeepQueue,
            max_restarts: 1,
            period: Duration::from_secs(5),
            backoff: None,
        }
    }

    /// At most `max_restarts` restarts of one activation within any `period` (a sliding
    /// window on the executor's clock); one more and the activation ends. `max_restarts = 0`
    /// ends it at its first crash.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// What a restart does with what was queued for the crashed incarnation.
    pub fn on_restart(mut self, on_restart: OnRestart) -> Self {
        self.on_restart = on_restart;
        self
    }

    /// A wait before each restart: `backoff.initial` before the first within the period,
    /// doubling for each further one up to `backoff.max`, less a random part (`jitter`).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }
}

impl<K: Key, A: Send + 'static> SupervisionMaker<K, A> for KeyedSupervision {
    type Supervision = KeySupervisor<K, A>;

    fn make(&self, activation: Reactivation<K, A>) -> KeySupervisor<K, A> {
        KeySupervisor {
            policy: *self,
            activation,
            restarts: VecDeque::new(),
            making: None,
            jitter: None,
        }
    }
}

/// The fresh actor of a restart, on its way (after the backoff, from the set's factory).
type Making<A> = Pin<Box<dyn Future<Output = Result<A, ActivationCause>> + Send>>;

/// The supervision of one activation of a keyed set, as [`KeyedSupervision`] makes it: the
/// activation's restart times within the period, and the restart under way.
pub struct KeySupervisor<K, A> {
    policy: KeyedSupervision,
    activation: Reactivation<K, A>,
    /// The restarts within the period, oldest first (at most `max_restarts + 1`).
    restarts: VecDeque<Instant>,
    making: Option<Making<A>>,
    /// Made on the first backoff.
    jitter: Option<Jitter>,
}

impl<K: Key, A: Send + 'static> KeySupervisor<K, A> {
    /// Decides on an exit with `reason`: `None` to end the activation, or the fresh actor's
    /// way (the backoff's wait, then the factory).
    fn admit(&mut self, reason: &ExitReason) -> Option<Making<A>> {
        if !self.policy.restart.restarts_after(reason) {
            return None;
        }
        let now = self.activation.now();
        let KeyedSupervision {
            max_restarts,
            period,
            backoff,
            ..
        } = self.policy;
        if !add_restart(&mut self.restarts, now, max_restarts, period) {
            return None;
        }
        let wait = backoff.map(|backoff| {
            let random = self.jitter.get_or_insert_with(Jitter::new).next();
            let delay = backoff.delay(self.restarts.len() as u32, random);
            now.checked_add(delay)
                .map(|deadline| self.activation.sleep_until(deadline))
        });
        let make = self.activation.make();
        Some(Box::pin(async move {
            match wait {
                Some(Some(wait)) => wait.await,
                // A wait past the end of the clock is a wait for ever, not none: the key
                // keeps its queue, and a passivation waits with it.
                Some(None) => std::future::pending().await,
                None => {}
            }
            make.await
        }))
    }
}

impl<K: Key, A: Send + 'static> Supervision<A> for KeySupervisor<K, A> {
    fn poll_exited(
        &mut self,
        _actor: ActorId,
        reason: &ExitReason,
        cx: &mut Context<'_>,
    ) -> Poll<Next<A>> {
        let making = match &mut self.making {
            Some(making) => making,
            None => match self.admit(reason) {
                Some(making) => self.making.insert(making),
                None => return Poll::Ready(Next::End),
            },
        };
        let made = std::task::ready!(making.as_mut().poll(cx));
        self.making = None;
        Poll::Ready(match (made, self.policy.on_restart) {
            (Ok(fresh), OnRestart::KeepQueue) => Next::Restart(fresh),
            (Ok(fresh), OnRestart::DrainQueue) => Next::RestartDrained(fresh),
            // The factory failed: the activation ends, and the key's next message tries
            // again with a new one.
            (Err(_), _) => Next::End,
        })
    }
}

impl<K: fmt::Debug, A> fmt::Debug for KeySupervisor<K, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySupervisor")
            .field("policy", &self.policy)
            .field("activation", &self.activation)
            .field("recent_restarts", &self.restarts.len())
            .field("restarting", &self.making.is_some())
            .finish_non_exhaustive()
    }
}
