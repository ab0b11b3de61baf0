//! Bank accounts as keyed (virtual) actors: nobody spawns an account; a message to an account
//! id activates it, its factory loading the balance from a store, and an account left idle for
//! a short while is passivated, saving its balance in its `stopped` hook.
//!
//! Four tasks make transfers (a withdrawal ask to one account, then a deposit ask to another)
//! in phases, each phase among a different group of accounts, so that the accounts of earlier
//! phases go idle and are passivated, and come back when a later transfer needs them. One
//! transfer goes to an account that does not exist: its activation fails, the deposit comes
//! back as a typed error, and the money goes back where it came from. One account hits a bug
//! and panics: its `stopped` hook saves its balance, and its supervision (OTP's transient
//! restart, from `playhouse::supervisor`) restarts it from the store behind the same address.
//! At the end every account is passivated and the total in the store is the total we started
//! with.
//!
//! Run with `cargo run --example keyed_accounts`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use playhouse::broker::keyed::{Keyed, KeyedAskError, KeyedError, KeyedSpec};
use playhouse::prelude::*;

const ACCOUNTS: u32 = 100;
const OPENING_BALANCE: u64 = 1_000;
const TASKS: u32 = 4;
const PHASES: u32 = 5;
const TRANSFERS_PER_TASK_AND_PHASE: u32 = 500;
const IDLE: Duration = Duration::from_millis(50);
/// The longest an account may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// An account id the store does not know.
const NO_SUCH_ACCOUNT: u32 = 4_242;

/// The "database": balances by account id.
type Store = Arc<Mutex<HashMap<u32, u64>>>;

/// An account id the store does not know.
#[derive(Debug)]
struct UnknownAccount(u32);

impl fmt::Display for UnknownAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no account {} in the store", self.0)
    }
}

impl std::error::Error for UnknownAccount {}

/// A withdrawal the balance does not cover.
#[derive(Debug)]
struct Insufficient {
    balance: u64,
    asked: u64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "balance {} does not cover {}", self.balance, self.asked)
    }
}

/// One account, alive only while it is used.
struct Account {
    id: u32,
    balance: u64,
    store: Store,
}

#[actor]
impl Account {
    /// Adds `amount`; answers the new balance.
    #[message]
    fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    /// Takes `amount` out if the balance covers it; answers the new balance.
    #[message]
    fn withdraw(&mut self, amount: u64) -> Result<u64, Insufficient> {
        if amount > self.balance {
            return Err(Insufficient {
                balance: self.balance,
                asked: amount,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    /// A bug, on purpose: the account panics. Its `stopped` hook still saves the balance, and
    /// its supervision restarts it from the store.
    #[message]
    fn audit(&mut self) {
        panic!("account {} hit a bug in its audit", self.id);
    }

    /// Passivated (or stopped for any reason, a crash included): save the balance.
    #[stopped]
    async fn save(&mut self, _reason: &ExitReason) {
        self.store.lock().unwrap().insert(self.id, self.balance);
    }
}

type Accounts = Keyed<u32, Account>;

/// Moves `amount` from `from` to `to`; `Ok(false)` if `from` cannot cover it.
///
/// `accounts.at(id)` is one account as an address: the helpers `#[actor]` wrote
/// (`withdraw`, `deposit`) route to it, activating it if it is not in memory.
async fn transfer(
    accounts: &Accounts,
    from: u32,
    to: u32,
    amount: u64,
) -> Result<bool, KeyedAskError<AccountMsg, Insufficient>> {
    match accounts.at(from).withdraw(amount).await {
        Ok(_) => {}
        // The account answered: not enough money.
        Err(KeyedAskError::HandlerError { .. }) => return Ok(false),
        Err(err) => return Err(err),
    }
    match accounts.at(to).deposit(amount).await {
        Ok(_) => Ok(true),
        Err(err) => {
            // The deposit did not happen: put the money back.
            let undo = accounts.at(from).deposit(amount).await;
            undo.map_err(|e| e.map_handler_error(|never| match never {}))?;
            Err(err.map_handler_error(|never| match never {}))
        }
    }
}

/// A small, seedable pseudo-random source (xorshift), to avoid a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

#[tokio::main]
async fn main() {
    let store: Store = Arc::new(Mutex::new(
        (0..ACCOUNTS).map(|id| (id, OPENING_BALANCE)).collect(),
    ));
    let initial_total: u64 = store.lock().unwrap().values().sum();

    let system = System::new(TokioExecutor::current());
    let loader = store.clone();
    let accounts: Accounts = KeyedSpec::new(move |id: &u32| {
        let (id, store) = (*id, loader.clone());
        async move {
            // A real factory would await a database here.
            let balance = store.lock().unwrap().get(&id).copied();
            match balance {
                Some(balance) => Ok(Account { id, balance, store }),
                None => Err(UnknownAccount(id)),
            }
        }
    })
    .passivate_after(IDLE)
    // A store that stops answering fails the activation (the senders get their messages
    // back) rather than holding every sender of the account.
    .activation_timeout(LOAD_TIMEOUT)
    // A crashed account is restarted from the store (at most 3 times in 10 s, then it is
    // started over by its next message).
    .supervise(KeyedSupervision::new(RestartType::Transient).intensity(3, Duration::from_secs(10)))
    .start(&system);

    let group = ACCOUNTS / PHASES;
    let mut completed = 0u32;
    let mut declined = 0u32;
    for phase in 0..PHASES {
        // This phase's transfers stay among `group` accounts; the others idle.
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let accounts = accounts.clone();
                tokio::spawn(async move {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(phase * TASKS + task + 1));
                    let (mut done, mut refused) = (0, 0);
                    for _ in 0..TRANSFERS_PER_TASK_AND_PHASE {
                        let from = phase * group + rng.below(group);
                        let to = phase * group + rng.below(group);
                        let amount = u64::from(rng.below(200));
                        match transfer(&accounts, from, to, amount).await {
                            Ok(true) => done += 1,
                            Ok(false) => refused += 1,
                            Err(err) => panic!("transfer {from} -> {to}: {err}"),
                        }
                    }
                    (done, refused)
                })
            })
            .collect();
        for task in tasks {
            let (done, refused) = task.await.expect("a transfer task");
            completed += done;
            declined += refused;
        }
        println!(
            "phase {phase}: {} accounts active, {} resident",
            accounts.active_count(),
            accounts.resident_count()
        );
        // Long enough for this phase's accounts to be passivated.
        tokio::time::sleep(IDLE * 3).await;
    }

    // A transfer to an account that does not exist: the deposit fails at activation, with a
    // typed error naming the key and the cause, and the withdrawal is undone.
    // (From the first account that can cover it.)
    let mut outcome = Ok(false);
    for from in 0..ACCOUNTS {
        outcome = transfer(&accounts, from, NO_SUCH_ACCOUNT, 10).await;
        if !matches!(outcome, Ok(false)) {
            break;
        }
    }
    match outcome {
        Err(KeyedAskError::NotDelivered(KeyedError::ActivationFailed { key, cause, .. })) => {
            println!("transfer to account {key} refused: {cause}");
        }
        other => panic!("expected an activation failure, got {other:?}"),
    }

    // An account crashes (`audit` is a tell: it returns once queued); the next message finds
    // the account restarted from the balance its `stopped` hook saved. (Were the crash slower
    // than the idle time, with nothing queued yet, the sweeper could passivate the account
    // first: the next message would then activate it anew, from the same saved balance.)
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| eprintln!("{info}"))); // one line, no backtrace
    let before = accounts.at(7).deposit(0).await.expect("account 7 answers");
    accounts.at(7).audit().await.expect("the audit is queued");
    let after = accounts.at(7).deposit(0).await;
    std::panic::set_hook(hook);
    let after = after.expect("account 7 answers again");
    assert_eq!(
        after, before,
        "the account came back with its saved balance"
    );
    println!(
        "account 7 crashed and came back from the store with its balance, {after} \
         (restarts: {})",
        accounts.stats().restarts
    );

    // Save every account still in memory, then count the money.
    let saved = accounts.passivate_all().await;
    let total: u64 = store.lock().unwrap().values().sum();
    let stats = accounts.stats();
    println!(
        "{completed} transfers made, {declined} declined for want of funds; \
         passivated at the end (still in memory): {saved}"
    );
    println!(
        "activations: {}, passivations: {}, failed activations: {}, restarts: {}",
        stats.activations, stats.passivations, stats.activation_failures, stats.restarts
    );
    println!("total: {total} (was {initial_total})");
    assert_eq!(total, initial_total, "money was created or destroyed");
}
