//! `#[actor]`'s helpers on every address of an actor (`MessageTarget`): its `ActorRef`, a
//! `Recipient` of its message type, and one key of a keyed actor (`keyed.at(key)`), each
//! with that address's errors.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use playhouse::broker::keyed::{Keyed, KeyedAskError, KeyedError, KeyedSpec};
use playhouse::prelude::*;
use playhouse::supervisor::{Pool, PoolSpec};
use playhouse::{MessageTarget, SendError, SendTimeoutError};

#[derive(Debug, PartialEq, Eq)]
pub struct Insufficient {
    pub balance: u64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "insufficient funds: the balance is {}", self.balance)
    }
}

impl std::error::Error for Insufficient {}

pub struct Wallet {
    id: u32,
    balance: u64,
}

#[actor]
impl Wallet {
    #[message]
    pub fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    #[message]
    pub fn withdraw(&mut self, amount: u64) -> Result<u64, Insufficient> {
        if amount > self.balance {
            return Err(Insufficient {
                balance: self.balance,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    #[message]
    pub fn credit(&mut self, amount: u64) {
        self.balance += amount;
    }

    #[message]
    pub fn wallet_id(&self) -> u32 {
        self.id
    }

    /// Holds the wallet until `until` fires (or is dropped).
    #[message]
    pub async fn hold(&self, until: tokio::sync::oneshot::Receiver<()>) {
        let _ = until.await;
    }

    /// Asks `key` of `wallets` for its balance, from this handler, through the helper.
    #[message]
    pub async fn balance_of(&self, wallets: Keyed<u32, Wallet>, key: u32) -> Result<u64, String> {
        wallets.at(key).deposit(0).await.map_err(|e| match e {
            KeyedAskError::Deadlock {
                key,
                message: WalletMsg::Deposit { amount: 0, .. },
            } => format!("deadlock on {key}"),
            other => other.to_string(),
        })
    }
}

/// A second actor whose helpers have the same names: with both helper traits in scope, each
/// address picks the trait of its own message type.
pub struct Piggy {
    coins: u64,
}

#[actor]
impl Piggy {
    #[message]
    pub fn deposit(&mut self, coins: u64) -> u64 {
        self.coins += coins * 100;
        self.coins
    }
}

/// The wallets of a test: key 0 does not exist (its factory fails).
fn wallets(system: &System<TokioExecutor>) -> Keyed<u32, Wallet> {
    KeyedSpec::from_fn(|id: &u32| {
        if *id == 0 {
            Err("no wallet 0")
        } else {
            Ok(Wallet {
                id: *id,
                balance: 0,
            })
        }
    })
    .start(system)
}

/// Code written once against the helper trait: it runs on any address of a wallet.
async fn top_up<T: WalletApi>(wallet: &T, amount: u64) -> Option<u64> {
    wallet.credit(amount).await.ok()?;
    wallet.deposit(0).await.ok()
}

#[tokio::test]
async fn the_helpers_reach_a_key_of_a_keyed_actor_activating_it() {
    let system = System::new(TokioExecutor::current());
    let wallets = wallets(&system);
    assert_eq!(wallets.active_count(), 0);
    assert_eq!(wallets.at(7).deposit(5).await.unwrap(), 5);
    wallets.at(7).credit(1).await.unwrap();
    assert_eq!(wallets.at(7).withdraw(2).await.unwrap(), 4);
    assert_eq!(wallets.at(8).wallet_id().await.unwrap(), 8);
    assert_eq!(wallets.active_count(), 2);
    assert_eq!(wallets.at(7).deposit(0).await.unwrap(), 4, "key 8 is apart");
    // A tell to an inactive key activates it (the send waits for the activation).
    wallets.at(9).credit(2).await.unwrap();
    assert_eq!(wallets.at(9).deposit(0).await.unwrap(), 2);
    assert_eq!(wallets.active_count(), 3);
}

#[tokio::test]
async fn a_keyed_helpers_errors_name_the_key_and_hand_the_message_back() {
    let system = System::new(TokioExecutor::current());
    let wallets = wallets(&system);
    wallets.at(7).credit(3).await.unwrap();

    // The handler's `Err` is the ask's `HandlerError`, with the key.
    let err = wallets.at(7).withdraw(10).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 7 answered with an error: insufficient funds: the balance is 3"
    );
    match err {
        KeyedAskError::HandlerError { key, error } => {
            assert_eq!(key, "7");
            assert_eq!(error, Insufficient { balance: 3 });
        }
        other => panic!("expected HandlerError, got {other:?}"),
    }

    // A key whose factory fails: the tell's and the ask's messages come back whole.
    let err: KeyedError<WalletMsg> = wallets.at(0).credit(9).await.unwrap_err();
    assert!(err.is_activation_failed(), "{err:?}");
    assert_eq!(err.key(), "0");
    assert!(matches!(
        err.into_message(),
        Some(WalletMsg::Credit { amount: 9 })
    ));
    let err = wallets.at(0).withdraw(4).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "activating key 0 failed: no wallet 0",
        "{err:?}"
    );
    assert!(matches!(
        err.into_message(),
        Some(WalletMsg::Withdraw { amount: 4, .. })
    ));
}

#[tokio::test]
async fn the_helpers_on_an_actor_ref_and_a_recipient_keep_the_cores_errors() {
    let system = System::new(TokioExecutor::current());
    let wallet = system.spawn(Wallet { id: 1, balance: 0 });
    let recipient = wallet.recipient::<WalletMsg>();
    assert_eq!(wallet.deposit(2).await.unwrap(), 2);
    assert_eq!(recipient.deposit(3).await.unwrap(), 5);
    let err: AskError<WalletMsg, Insufficient> = recipient.withdraw(6).await.unwrap_err();
    assert_eq!(err.handler_error(), Some(Insufficient { balance: 5 }));

    wallet.stop();
    wallet.wait().await;
    let err: SendError<WalletMsg> = recipient.credit(1).await.unwrap_err();
    assert!(matches!(
        err,
        SendError::Closed(WalletMsg::Credit { amount: 1 })
    ));
    assert!(matches!(
        wallet.deposit(1).await.unwrap_err(),
        AskError::Closed(WalletMsg::Deposit { amount: 1, .. })
    ));
}

#[tokio::test]
async fn code_generic_over_the_helper_trait_runs_on_every_address() {
    let system = System::new(TokioExecutor::current());
    let wallet = system.spawn(Wallet { id: 1, balance: 0 });
    let wallets = wallets(&system);
    assert_eq!(top_up(&wallet, 2).await, Some(2));
    assert_eq!(top_up(&wallet.recipient::<WalletMsg>(), 3).await, Some(5));
    assert_eq!(top_up(&wallets.at(4), 7).await, Some(7));
    assert_eq!(top_up(&wallets.at(0), 7).await, None, "no wallet 0");

    // And against the core trait itself.
    async fn id_of<T: MessageTarget<Message = WalletMsg>>(t: &T) -> Option<u32> {
        t.ask(|reply| WalletMsg::WalletId { reply }).await.ok()
    }
    assert_eq!(id_of(&wallet).await, Some(1));
    assert_eq!(id_of(&wallets.at(4)).await, Some(4));
}

#[tokio::test]
async fn same_named_helpers_of_two_actors_resolve_by_the_addresss_message_type() {
    let system = System::new(TokioExecutor::current());
    let wallet = system.spawn(Wallet { id: 1, balance: 0 });
    let piggy = system.spawn(Piggy { coins: 0 });
    // `WalletApi` and `PiggyApi` are both in scope, both with a `deposit`.
    assert_eq!(wallet.deposit(2).await.unwrap(), 2);
    assert_eq!(piggy.deposit(2).await.unwrap(), 200);
    let piggies: Keyed<u8, Piggy> =
        KeyedSpec::from_fn(|_: &u8| Ok::<_, Infallible>(Piggy { coins: 1 })).start(&system);
    assert_eq!(piggies.at(3).deposit(1).await.unwrap(), 101);
}

#[tokio::test]
async fn a_key_asking_itself_through_a_helper_is_refused_and_another_key_answers() {
    let system = System::new(TokioExecutor::current());
    let wallets = wallets(&system);
    wallets.at(2).credit(20).await.unwrap();
    // Key 1 asks key 2 from its handler: an ordinary ask.
    assert_eq!(
        wallets.at(1).balance_of(wallets.clone(), 2).await.unwrap(),
        20
    );
    // Key 1 asks itself: refused at once, the request handed back, rather than a hang.
    assert_eq!(
        wallets
            .at(1)
            .balance_of(wallets.clone(), 1)
            .await
            .unwrap_err()
            .handler_error(),
        Some("deadlock on 1".to_string())
    );
    assert_eq!(
        wallets.at(1).wallet_id().await.unwrap(),
        1,
        "it goes on serving"
    );
}

#[tokio::test]
async fn the_helpers_on_a_pool_go_to_the_member_its_routing_picks() {
    let system = System::new(TokioExecutor::current());
    let made = Arc::new(AtomicU32::new(0));
    let counter = made.clone();
    let spec = PoolSpec::new("wallets", 2, move || Wallet {
        id: counter.fetch_add(1, Ordering::SeqCst) + 1,
        balance: 0,
    });
    let pool = Pool::start(spec, &system).await.unwrap();
    // Round robin: the asks alternate between the two members.
    let mut ids = vec![
        pool.wallet_id().await.unwrap(),
        pool.wallet_id().await.unwrap(),
    ];
    ids.sort();
    assert_eq!(ids, [1, 2]);
    // A credit reaches one member; of the next two reads, one finds it, the other not.
    pool.credit(5).await.unwrap();
    let mut balances = vec![
        pool.deposit(0).await.unwrap(),
        pool.deposit(0).await.unwrap(),
    ];
    balances.sort();
    assert_eq!(balances, [0, 5]);
    let err = pool.withdraw(9).await.unwrap_err();
    assert!(
        matches!(err.handler_error(), Some(Insufficient { balance: 0 | 5 })),
        "a member's own error"
    );
    // Bounded: a member with room takes it at once.
    pool.within(Duration::from_secs(30))
        .credit(1)
        .await
        .unwrap();
    pool.tell_timeout(WalletMsg::Credit { amount: 1 }, Duration::from_secs(30))
        .await
        .unwrap();
    let mut balances = vec![
        pool.deposit(0).await.unwrap(),
        pool.deposit(0).await.unwrap(),
    ];
    balances.sort();
    assert_eq!(balances, [1, 6], "one credit each, round robin");

    // An empty pool refuses, handing the message back.
    assert!(pool.shrink().await.unwrap());
    assert!(pool.shrink().await.unwrap());
    assert!(matches!(
        pool.credit(1).await.unwrap_err(),
        SendError::Closed(WalletMsg::Credit { amount: 1 })
    ));
    assert!(matches!(
        pool.deposit(2).await.unwrap_err(),
        AskError::Closed(WalletMsg::Deposit { amount: 2, .. })
    ));
    assert!(matches!(
        pool.within(Duration::from_secs(30))
            .credit(3)
            .await
            .unwrap_err(),
        SendTimeoutError::Closed(WalletMsg::Credit { amount: 3 })
    ));
    pool.supervisor().stop();
    pool.supervisor().wait().await;
}

/// `within(timeout)` bounds the helpers' asks and tells on every address, each failing with
/// its own timeout error: a held `ActorRef` and `Recipient` (`AskError::Timeout(None)`: the
/// wallet has the request and still handles it; `SendTimeoutError::Timeout` with the message
/// back from a full `Block` mailbox), and a key whose factory hangs (`KeyedAskError::Timeout`
/// and `KeyedError::Timeout` with the message handed back).
#[tokio::test]
async fn within_bounds_the_helpers_asks_on_every_address() {
    const SHORT: Duration = Duration::from_millis(20);
    let system = System::new(TokioExecutor::current());
    let wallet = system.spawn(Wallet { id: 1, balance: 3 });
    let (release, held) = tokio::sync::oneshot::channel();
    wallet.within(SHORT).hold(held).await.unwrap();

    let err = wallet.within(SHORT).deposit(1).await.unwrap_err();
    assert!(matches!(err, AskError::Timeout(None)), "{err:?}");
    let err = wallet.within(SHORT).withdraw(1).await.unwrap_err();
    assert!(matches!(err, AskError::Timeout(None)), "{err:?}");
    let recipient = wallet.recipient::<WalletMsg>();
    let err = recipient.within(SHORT).deposit(1).await.unwrap_err();
    assert!(matches!(err, AskError::Timeout(None)), "{err:?}");

    release.send(()).unwrap();
    // The timed-out requests were handled all the same: 3 + 1 - 1 + 1.
    let patient = wallet.within(Duration::from_secs(30));
    assert_eq!(patient.deposit(0).await.unwrap(), 4);
    assert_eq!(patient.withdraw(1).await.unwrap(), 3);
    assert!(matches!(
        patient.withdraw(7).await.unwrap_err().handler_error(),
        Some(Insufficient { balance: 3 })
    ));

    let stuck: Keyed<u32, Wallet> =
        KeyedSpec::new(|_: &u32| std::future::pending::<Result<Wallet, Infallible>>())
            .start(&system);
    let err = stuck.at(9).within(SHORT).deposit(5).await.unwrap_err();
    assert!(
        matches!(
            err,
            KeyedAskError::Timeout {
                message: Some(WalletMsg::Deposit { amount: 5, .. }),
                ..
            }
        ),
        "{err:?}"
    );
    let err = stuck.at(9).within(SHORT).withdraw(5).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the ask of key 9 timed out before the request was delivered"
    );
    let err = stuck.at(9).within(SHORT).credit(4).await.unwrap_err();
    assert!(
        matches!(
            err,
            KeyedError::Timeout {
                message: Some(WalletMsg::Credit { amount: 4, .. }),
                ..
            }
        ),
        "{err:?}"
    );

    // Tells: a wallet whose one place is taken while its handler is held.
    let narrow = system.spawn_with(
        Wallet { id: 2, balance: 0 },
        Bounded::<Block>::with_capacity(1).unwrap(),
    );
    let (release, held) = tokio::sync::oneshot::channel();
    narrow.hold(held).await.unwrap();
    narrow.credit(1).await.unwrap();
    let err = narrow.within(SHORT).credit(2).await.unwrap_err();
    assert!(
        matches!(
            err,
            SendTimeoutError::Timeout(WalletMsg::Credit { amount: 2, .. })
        ),
        "{err:?}"
    );
    let err = narrow
        .recipient::<WalletMsg>()
        .within(SHORT)
        .credit(3)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendTimeoutError::Timeout(WalletMsg::Credit { amount: 3, .. })
        ),
        "{err:?}"
    );
    release.send(()).unwrap();
    // Only the first credit got in.
    let patient = narrow.within(Duration::from_secs(30));
    assert_eq!(patient.deposit(0).await.unwrap(), 1);
}
