//! What the keyed tests share: an account actor whose balance and log live in its fenced
//! [`KeyState`], a factory that records each activation, and node configurations.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use playhouse_core::{Actor, Context, Env, Handler, Reply};
use playhouse_nats::testing::TestServer;
use playhouse_nats::{Credentials, Delivery, KeyState, NatsBroker, NodeConfig, StateError};
use serde::{Deserialize, Serialize};

pub const HEARTBEAT: Duration = Duration::from_millis(200);
pub const TTL: Duration = Duration::from_secs(1);
/// Long enough for a dead owner's lease to lapse and a retry to land elsewhere.
pub const WAIT: Duration = Duration::from_secs(20);

/// A deposit (negative: a withdrawal); answered with the balance after it, or why not.
#[derive(Debug, Serialize, Deserialize)]
pub struct Deposit(pub i64);
/// Answered with a [`Seen`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Get;
/// Appends to the account's log (a tell).
#[derive(Debug, Serialize, Deserialize)]
pub struct Push(pub u32);

/// Makes the account's handler sleep this many milliseconds (a tell): a key slow to passivate.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hold(pub u64);

/// Makes the account's handler wait until [`Activations::open`] is set (a tell).
#[derive(Debug, Serialize, Deserialize)]
pub struct Wait;

/// Makes the account's handler panic (a tell).
#[derive(Debug, Serialize, Deserialize)]
pub struct Crash;

/// Appends to the account's log as a durable message: saved with its sequence, then
/// confirmed. On its first delivery, [`DROPPED`] is dropped unconfirmed (nothing saved) and
/// [`HELD`] is saved but never confirmed (as if its node died between the two); [`NEVER`] is
/// dropped unconfirmed on every delivery; on its first delivery, [`PARKED`] is handed to
/// [`Activations::parked`], where it outlives the actor.
#[derive(Debug, Serialize, Deserialize)]
pub struct Note(pub u32);

pub const DROPPED: u32 = 13;
pub const HELD: u32 = 99;
pub const NEVER: u32 = 666;
pub const PARKED: u32 = 77;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub node: String,
    pub balance: i64,
    pub log: Vec<u32>,
}

pub enum Msg {
    Deposit(i64, Reply<Result<i64, String>>),
    Get(Reply<Seen>),
    Push(u32),
    Note(u32, Delivery),
    Crash,
    Hold(Duration),
    Wait,
}

impl From<Wait> for Msg {
    fn from(Wait: Wait) -> Msg {
        Msg::Wait
    }
}

impl From<Hold> for Msg {
    fn from(Hold(ms): Hold) -> Msg {
        Msg::Hold(Duration::from_millis(ms))
    }
}

impl From<Crash> for Msg {
    fn from(Crash: Crash) -> Msg {
        Msg::Crash
    }
}

impl From<Push> for Msg {
    fn from(p: Push) -> Msg {
        Msg::Push(p.0)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub balance: i64,
    pub log: Vec<u32>,
    /// The sequence of the last durable message applied.
    pub last: u64,
}

pub struct Account {
    pub node: String,
    pub stored: Stored,
    pub state: KeyState,
    pub seen: Activations,
    /// A delivery kept unconfirmed.
    pub held: Option<Delivery>,
}

impl Actor for Account {
    type Message = Msg;
    type Error = StateError;
}

impl<V: Env> Handler<V> for Account {
    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self, V>) -> Result<(), StateError> {
        match msg {
            Msg::Deposit(amount, reply) => {
                let mut next = self.stored.clone();
                next.balance += amount;
                if next.balance < 0 {
                    let _ = reply.send(Err(format!("balance {} too low", self.stored.balance)));
                    return Ok(());
                }
                // Write first: an answer means the state is saved.
                match self.state.save(&next).await {
                    Ok(()) => {
                        self.stored = next;
                        let _ = reply.send(Ok(self.stored.balance));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Msg::Get(reply) => {
                let _ = reply.send(Seen {
                    node: self.node.clone(),
                    balance: self.stored.balance,
                    log: self.stored.log.clone(),
                });
            }
            Msg::Crash => panic!("account {} crashed on purpose", self.state.key()),
            Msg::Hold(time) => {
                self.seen.holds.fetch_add(1, Ordering::SeqCst);
                ctx.sleep(time).await;
            }
            Msg::Wait => {
                while !self.seen.open.load(Ordering::SeqCst) {
                    ctx.sleep(Duration::from_millis(5)).await;
                }
            }
            Msg::Push(n) => {
                let mut next = self.stored.clone();
                next.log.push(n);
                self.state.save(&next).await?;
                self.stored = next;
            }
            Msg::Note(n, delivery) => {
                let key = self.state.key().to_owned();
                self.seen.deliveries.lock().unwrap().push(Handed {
                    node: self.node.clone(),
                    key: key.clone(),
                    note: n,
                    sequence: delivery.sequence(),
                    deliveries: delivery.deliveries(),
                });
                if n == PARKED && !delivery.is_redelivery() {
                    self.seen.parked.lock().unwrap().push(delivery);
                    return Ok(());
                }
                if n == NEVER || (n == DROPPED && !delivery.is_redelivery()) {
                    drop(delivery);
                    return Ok(());
                }
                if delivery.sequence() <= self.stored.last {
                    self.seen
                        .skipped
                        .lock()
                        .unwrap()
                        .push((key, delivery.sequence()));
                    delivery.confirm();
                    return Ok(());
                }
                let mut next = self.stored.clone();
                next.log.push(n);
                next.last = delivery.sequence();
                self.state.save(&next).await?;
                self.stored = next;
                if n == HELD && !delivery.is_redelivery() {
                    self.held = Some(delivery);
                } else {
                    delivery.confirm();
                }
            }
        }
        Ok(())
    }
}

/// One delivery of a durable [`Note`] to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handed {
    pub node: String,
    pub key: String,
    pub note: u32,
    pub sequence: u64,
    pub deliveries: u64,
}

/// Every activation: the node and the key; and the last state handle of each key.
#[derive(Clone, Default)]
pub struct Activations {
    /// Every delivery of a durable note.
    pub deliveries: Arc<Mutex<Vec<Handed>>>,
    /// Deliveries of [`PARKED`] notes, kept unconfirmed.
    pub parked: Arc<Mutex<Vec<Delivery>>>,
    /// Durable notes delivered again after they were applied, skipped: key and sequence.
    pub skipped: Arc<Mutex<Vec<(String, u64)>>>,
    pub log: Arc<Mutex<Vec<(String, String)>>>,
    pub states: Arc<Mutex<HashMap<String, KeyState>>>,
    /// Keys activated while the previous activation (in this process) still held the lease.
    pub overlaps: Arc<Mutex<Vec<String>>>,
    /// How many [`Hold`]s the accounts have begun.
    pub holds: Arc<AtomicUsize>,
    /// Lets the accounts waiting on a [`Wait`] go on.
    pub open: Arc<AtomicBool>,
}

impl Activations {
    pub fn count(&self, key: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, k)| k == key)
            .count()
    }

    pub fn nodes_of(&self, key: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, k)| k == key)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// The group `accounts` on `broker`'s node, its factory recording into `seen`; key `broken`
/// fails to activate, and keys `once` and `once_panics` fail (the latter by a panic) once they
/// have been made.
pub fn spec<'b>(broker: &'b NatsBroker, seen: &Activations) -> Spec<'b> {
    spec_named(broker, seen, "accounts")
}

/// [`spec`] under the group name `group`.
pub fn spec_named<'b>(broker: &'b NatsBroker, seen: &Activations, group: &str) -> Spec<'b> {
    let node = broker.node_name().to_owned();
    let seen = seen.clone();
    broker
        .sharded(group, move |key: &str, state: KeyState| {
            let node = node.clone();
            let seen = seen.clone();
            let key = key.to_owned();
            async move {
                if key == "broken" {
                    return Err(StateError::Nats("no such account".into()));
                }
                // Made once; after that its factory fails (or panics).
                if seen.count(&key) > 0 {
                    match key.as_str() {
                        "once" => return Err(StateError::Nats("closed for good".into())),
                        "once_panics" => panic!("the store of {key} is corrupt"),
                        _ => {}
                    }
                }
                let stored = state.load::<Stored>()?.unwrap_or_default();
                seen.log.lock().unwrap().push((node.clone(), key.clone()));
                let mut states = seen.states.lock().unwrap();
                if states.get(&key).is_some_and(KeyState::is_owner) {
                    seen.overlaps.lock().unwrap().push(key.clone());
                }
                states.insert(key, state.clone());
                drop(states);
                Ok(Account {
                    node,
                    stored,
                    state,
                    seen,
                    held: None,
                })
            }
        })
        .ask::<Deposit, Result<i64, String>>(|Deposit(n), reply| Msg::Deposit(n, reply))
        .ask::<Get, Seen>(|Get, reply| Msg::Get(reply))
        .tell::<Push>()
        .tell::<Crash>()
        .tell::<Hold>()
        .tell::<Wait>()
        .durable::<Note>(|Note(n), delivery| Msg::Note(n, delivery))
}

pub type Accounts = playhouse_nats::Sharded<Account>;

/// A node of its own (a broker named `name`) serving the group `accounts`, on Tokio.
pub async fn node(server: &TestServer, name: &str, seen: &Activations) -> (NatsBroker, Accounts) {
    node_on(
        server,
        name,
        seen,
        playhouse_executors::TokioExecutor::current(),
    )
    .await
}

/// A node serving the group `accounts`, its actors running on `executor`.
pub async fn node_on<E: playhouse_core::Executor>(
    server: &TestServer,
    name: &str,
    seen: &Activations,
    executor: E,
) -> (NatsBroker, Accounts) {
    node_with(server, name, seen, executor, |spec| spec).await
}

/// The group `accounts` as [`spec`] declares it.
pub type Spec<'b> = playhouse_nats::ShardedSpec<
    'b,
    Account,
    playhouse_core::mailbox::Bounded<playhouse_core::mailbox::Block>,
    playhouse_nats::Postcard,
>;

/// A node serving the group `accounts` with what `configure` adds to [`spec`] (an idle time,
/// a supervision), its actors running on `executor`.
pub async fn node_with<E: playhouse_core::Executor>(
    server: &TestServer,
    name: &str,
    seen: &Activations,
    executor: E,
    configure: impl for<'b> FnOnce(Spec<'b>) -> Spec<'b>,
) -> (NatsBroker, Accounts) {
    let broker = NatsBroker::connect(config(server, name))
        .await
        .expect("connects");
    let system = playhouse_core::System::with_broker(executor, broker.clone());
    let accounts = configure(spec(&broker, seen))
        .start(&system)
        .await
        .expect("serves");
    (broker, accounts)
}

/// A node that serves nothing, to send from.
pub async fn client(server: &TestServer, name: &str) -> NatsBroker {
    NatsBroker::connect(config(server, name))
        .await
        .expect("connects")
}

/// Waits until `check` holds, at most [`WAIT`]; panics naming `what` if it never does.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks `key`'s account of the group `accounts` what it holds; panics if it cannot.
///
/// A request in flight to a node that dies is lost (delivery is at most once), and so is one
/// the server hands to a killed node's subscription before it has noticed the death: a `Get`
/// changes nothing, so one without an answer (or that found no node to take the key) after
/// three lease TTLs is asked again, until [`WAIT`].
pub async fn get(broker: &NatsBroker, key: &str) -> Seen {
    use playhouse_nats::{Rejection, RemoteError};
    let gets = broker.sharded_ref::<Get>("accounts");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let error = match gets.ask::<Seen>(key, Get, 3 * TTL).await {
            Ok(seen) => return seen,
            Err(e) => e,
        };
        let again = matches!(
            error,
            RemoteError::Timeout
                | RemoteError::NotFound { .. }
                | RemoteError::Rejected {
                    reason: Rejection::LeaseUnavailable { .. },
                    ..
                }
        );
        if !again || tokio::time::Instant::now() >= deadline {
            panic!("get {key}: {error}");
        }
    }
}

/// Deposits `amount` in `key`'s account: the balance after it, or why not (its answer);
/// panics if no answer comes.
pub async fn deposit(broker: &NatsBroker, key: &str, amount: i64) -> Result<i64, String> {
    broker
        .sharded_ref::<Deposit>("accounts")
        .ask::<Result<i64, String>>(key, Deposit(amount), WAIT)
        .await
        .unwrap_or_else(|e| panic!("deposit {key}: {e}"))
}

/// Deposits 5 in `key`'s account, which cannot be activated: the cause the refusal gives
/// (`ActivationFailed`, the deposit handed back); panics on any other outcome.
pub async fn activation_failure(broker: &NatsBroker, key: &str) -> String {
    use playhouse_nats::{Rejection, RemoteError};
    let err = broker
        .sharded_ref::<Deposit>("accounts")
        .ask::<Result<i64, String>>(key, Deposit(5), WAIT)
        .await
        .unwrap_err();
    match err {
        RemoteError::Rejected {
            reason:
                Rejection::ActivationFailed {
                    key: refused,
                    cause,
                },
            msg: Deposit(5),
        } => {
            assert_eq!(refused, key);
            cause
        }
        other => panic!("expected ActivationFailed, got {other:?}"),
    }
}

pub fn config(server: &TestServer, node: &str) -> NodeConfig {
    NodeConfig::new(server.url())
        .node_name(node)
        .credentials(Credentials::UserPassword {
            user: server.user().expect("a user").to_owned(),
            password: server.password().expect("a password").to_owned(),
        })
        .root_certificate(server.ca_cert_path().expect("TLS"))
        .heartbeat(HEARTBEAT, TTL)
}
