//! Quick start: define an actor, spawn it on Tokio, tell, ask, stop.
//!
//! Run with `cargo run --example quickstart`.

use std::convert::Infallible;
use std::time::Duration;

use playhouse::prelude::*;

/// A bank account: the actor's state.
struct Account {
    balance: i64,
}

/// Its protocol: what it can be told or asked.
enum AccountMsg {
    Deposit(i64),
    Withdraw(i64, Reply<Result<i64, String>>),
    Balance(Reply<i64>),
}

impl Actor for Account {
    type Message = AccountMsg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Account {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        println!("[{}] account opened with {}", ctx.id(), self.balance);
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: AccountMsg,
        _ctx: &mut Context<Self, V>,
    ) -> Result<(), Infallible> {
        match msg {
            AccountMsg::Deposit(n) => self.balance += n,
            AccountMsg::Withdraw(n, reply) => {
                let result = if n <= self.balance {
                    self.balance -= n;
                    Ok(self.balance)
                } else {
                    Err(format!(
                        "insufficient funds: balance {}, asked {n}",
                        self.balance
                    ))
                };
                let _ = reply.send(result);
            }
            AccountMsg::Balance(reply) => {
                let _ = reply.send(self.balance);
            }
        }
        Ok(())
    }

    async fn stopped(&mut self, ctx: &mut Context<Self, V>, reason: &ExitReason) {
        println!(
            "[{}] account closed ({reason}) with {}",
            ctx.id(),
            self.balance
        );
    }
}

#[tokio::main]
async fn main() {
    let system = System::new(TokioExecutor::current());
    let account = system.spawn(Account { balance: 100 });

    // tell: fire-and-forget (waits only if the mailbox is full).
    account
        .tell(AccountMsg::Deposit(50))
        .await
        .expect("account is alive");

    // ask: a request carrying a reply port.
    let after = account
        .ask(|r| AccountMsg::Withdraw(30, r))
        .await
        .expect("answered");
    println!("withdrew 30: {after:?}");
    let refused = account
        .ask(|r| AccountMsg::Withdraw(1_000, r))
        .await
        .expect("answered");
    println!("withdrew 1000: {refused:?}");

    let balance = account
        .ask_timeout(AccountMsg::Balance, Duration::from_secs(1))
        .await
        .expect("answered in time");
    println!("balance: {balance}");
    assert_eq!(balance, 120);

    // stop: handles what is queued, then ends.
    account.stop();
    let reason = account.wait().await;
    println!("exit reason: {reason:?}");

    // A stopped actor hands messages back.
    let err = account.tell(AccountMsg::Deposit(1)).await.unwrap_err();
    println!("tell after stop: {err}");
    assert!(err.is_closed());
}
