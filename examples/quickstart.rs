//! Quick start: one system, an actor written with `#[actor]`, tell, ask, find it by name, stop.
//!
//! Run with `cargo run --example quickstart`.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use playhouse::prelude::*;

/// A withdrawal the balance does not cover.
#[derive(Debug)]
struct Insufficient {
    balance: i64,
    asked: i64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "insufficient funds: balance {}, asked {}",
            self.balance, self.asked
        )
    }
}

impl std::error::Error for Insufficient {}

/// A bank account: the actor's state.
struct Account {
    balance: i64,
}

/// Its protocol, as plain methods: `#[actor]` makes the message enum `AccountMsg`, the
/// `Actor` and `Handler` impls, and the `AccountApi` trait of typed helpers.
#[actor]
impl Account {
    /// A tell: no answer.
    #[message]
    fn deposit(&mut self, amount: i64) {
        self.balance += amount;
    }

    /// An ask whose answer is a `Result`: the helper flattens it.
    #[message]
    fn withdraw(&mut self, amount: i64) -> Result<i64, Insufficient> {
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
    fn balance(&self) -> i64 {
        self.balance
    }

    #[started]
    async fn opened<V: Env>(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        println!("[{}] account opened with {}", ctx.id(), self.balance);
        Ok(())
    }

    #[stopped]
    async fn closed(&mut self, reason: &ExitReason) {
        println!("account closed ({reason}) with {}", self.balance);
    }
}

#[tokio::main]
async fn main() {
    // One system: an executor and a broker that every actor spawned from it shares.
    let system = System::new(TokioExecutor::current());
    let account = system.spawn(Account { balance: 100 });
    system
        .broker()
        .register("account", &account)
        .expect("a free name");

    // tell: fire-and-forget (waits only if the mailbox is full).
    account.deposit(50).await.expect("account is alive");

    // ask: the typed helper sends a request with a reply port and waits for the answer.
    let after = account.withdraw(30).await.expect("answered");
    println!("withdrew 30, balance {after}");
    match account.withdraw(1_000).await {
        Err(AskError::HandlerError(refused)) => println!("withdraw 1000: {refused}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Anyone with the system finds the actor by name, typed.
    let found: ActorRef<Account> = system.broker().lookup("account").expect("registered");
    // The generated enum works with every `ActorRef` method, e.g. an ask with a deadline.
    let balance = found
        .ask_timeout(
            |reply| AccountMsg::Balance { reply },
            Duration::from_secs(1),
        )
        .await
        .expect("answered in time");
    println!("balance: {balance}");
    assert_eq!(balance, 120);

    // stop: handles what is queued, then ends.
    account.stop();
    let reason = account.wait().await;
    println!("exit reason: {reason:?}");

    // A stopped actor hands messages back.
    let err = account.deposit(1).await.unwrap_err();
    println!("tell after stop: {err}");
    assert!(err.is_closed());
}
