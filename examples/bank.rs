//! A bank: 1,000 account actors and a transfer coordinator that asks two accounts per
//! transfer; 100,000 transfers sent from 4 tasks; the total is conserved.
//!
//! Written with `#[actor]`: plain methods become each actor's messages, and the generated
//! `AccountApi` / `BankApi` traits give typed asks (`account.withdraw(5).await?`).
//!
//! Run with `cargo run --release --example bank`.

use std::fmt;
use std::time::Instant;

use playhouse::prelude::*;

const ACCOUNTS: usize = 1_000;
const OPENING_BALANCE: u64 = 1_000;
const TASKS: usize = 4;
const TRANSFERS_PER_TASK: usize = 25_000;

/// A withdrawal the balance does not cover.
#[derive(Debug)]
pub struct Insufficient {
    pub balance: u64,
    pub asked: u64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "balance {} does not cover {}", self.balance, self.asked)
    }
}

impl std::error::Error for Insufficient {}

/// One account.
pub struct Account {
    balance: u64,
}

#[actor]
impl Account {
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
                asked: amount,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    #[message]
    pub fn balance(&self) -> u64 {
        self.balance
    }
}

/// Moves money between accounts: withdraw from one, then deposit into the other.
pub struct Bank {
    accounts: Vec<ActorRef<Account>>,
    done: u64,
    refused: u64,
}

#[actor]
impl Bank {
    #[message]
    pub async fn transfer(
        &mut self,
        from: usize,
        to: usize,
        amount: u64,
    ) -> Result<(), Insufficient> {
        match self.accounts[from].withdraw(amount).await {
            Ok(_) => {}
            Err(AskError::HandlerError(insufficient)) => {
                self.refused += 1;
                return Err(insufficient);
            }
            Err(other) => panic!("account {from} is gone: {other}"),
        }
        self.accounts[to]
            .deposit(amount)
            .await
            .expect("account alive");
        self.done += 1;
        Ok(())
    }

    /// Transfers done and refused so far.
    #[message]
    pub fn stats(&self) -> (u64, u64) {
        (self.done, self.refused)
    }

    /// The sum of every account's balance.
    #[message]
    pub async fn total(&self) -> u64 {
        let mut total = 0;
        for account in &self.accounts {
            total += account.balance().await.expect("account alive");
        }
        total
    }
}

/// A small deterministic generator, so that each task's transfers differ.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[tokio::main]
async fn main() {
    let system = System::new(TokioExecutor::current());
    let accounts = (0..ACCOUNTS)
        .map(|_| {
            system.spawn(Account {
                balance: OPENING_BALANCE,
            })
        })
        .collect();
    let bank = system.spawn(Bank {
        accounts,
        done: 0,
        refused: 0,
    });
    system
        .broker()
        .register("bank", &bank)
        .expect("a fresh name");

    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            // Each task finds the bank by name, through the system's shared broker.
            let system = system.clone();
            tokio::spawn(async move {
                let bank: ActorRef<Bank> = system.broker().lookup("bank").expect("registered");
                let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1);
                let mut refused = 0;
                for _ in 0..TRANSFERS_PER_TASK {
                    let from = (next(&mut seed) % ACCOUNTS as u64) as usize;
                    let to = (next(&mut seed) % ACCOUNTS as u64) as usize;
                    let amount = next(&mut seed) % 500;
                    match bank.transfer(from, to, amount).await {
                        Ok(()) => {}
                        Err(AskError::HandlerError(_)) => refused += 1,
                        Err(e) => panic!("the bank failed: {e}"),
                    }
                }
                refused
            })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        refused += task.await.expect("task");
    }
    let elapsed = started.elapsed();

    let (done, refused_by_bank) = bank.stats().await.expect("bank alive");
    let total = bank.total().await.expect("bank alive");
    println!(
        "{} transfers in {elapsed:.2?}: {done} done, {refused} refused for insufficient funds",
        TASKS * TRANSFERS_PER_TASK
    );
    println!("total across {ACCOUNTS} accounts: {total}");
    assert_eq!(refused, refused_by_bank);
    assert_eq!(done + refused, (TASKS * TRANSFERS_PER_TASK) as u64);
    assert_eq!(
        total,
        ACCOUNTS as u64 * OPENING_BALANCE,
        "money was created or lost"
    );
}
