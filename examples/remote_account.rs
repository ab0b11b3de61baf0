//! An `#[actor]` bank account used from another process through the same helpers as a local one.
//!
//! `#[actor(remote)]` also says how `AccountMsg` crosses processes, reply ports included. The
//! parent starts a nats-server (TLS, a password user, JetStream;
//! `playhouse::nats::testing::TestServer`) and runs a copy of itself as the bank, which exports
//! the account with its whole protocol. The parent then calls `deposit`, `withdraw` and
//! `balance` on a `RemoteActorRef<AccountMsg>`, through a function written once against
//! `AccountApi` that it also runs on a local account.
//!
//! Run with `cargo run --example remote_account --features nats-test-server` (needs
//! `nats-server` on the `PATH`: `apt-get install nats-server`).

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use playhouse::core::System;
use playhouse::nats::testing::TestServer;
use playhouse::nats::{Credentials, NatsBroker, NodeConfig, RemoteActorRef, RemoteAskError};
use playhouse::prelude::*;
use serde::{Deserialize, Serialize};

/// A withdrawal larger than the balance: the handler's error, which crosses processes too.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Insufficient {
    pub balance: u64,
}

impl fmt::Display for Insufficient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "insufficient funds ({} left)", self.balance)
    }
}

impl std::error::Error for Insufficient {}

pub struct Account {
    balance: u64,
}

#[actor(remote)]
impl Account {
    /// Adds `amount`; answers the new balance.
    #[message]
    pub fn deposit(&mut self, amount: u64) -> u64 {
        self.balance += amount;
        self.balance
    }

    /// Takes `amount` out, if there is as much.
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

    /// The balance.
    #[message]
    pub fn balance(&self) -> u64 {
        self.balance
    }
}

/// Pays in `amount`, then tries to take out twice the balance: written once, for any address
/// of an account. Returns the balance and the withdrawal's outcome, with the address's own
/// error type.
async fn pay_in_and_overdraw<T: AccountApi>(
    account: &T,
    amount: u64,
) -> (u64, Result<u64, T::AskError<Insufficient>>) {
    let balance = account.deposit(amount).await.ok().expect("answered");
    let overdraw = account.withdraw(balance * 2).await;
    let balance = account.balance().await.ok().expect("answered");
    (balance, overdraw)
}

fn main() {
    match std::env::var("BANK_URL") {
        Ok(url) => bank(url),
        Err(_) => teller(),
    }
}

/// The parent: a server, the bank process, and the calls.
fn teller() {
    let server = TestServer::start().unwrap_or_else(|e| panic!("cannot start nats-server: {e}"));
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    let credentials = server.user().zip(server.password());
    let teller = runtime
        .block_on(NatsBroker::connect(config(
            &server.url(),
            "teller",
            credentials,
            server.ca_cert_path(),
        )))
        .expect("the teller connects");

    let mut command = Command::new(std::env::current_exe().expect("this example's path"));
    command
        .env("BANK_URL", server.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some((user, password)) = credentials {
        command
            .env("BANK_NATS_USER", user)
            .env("BANK_NATS_PASSWORD", password);
    }
    if let Some(ca) = server.ca_cert_path() {
        command.env("BANK_CA", ca);
    }
    let mut bank = command.spawn().expect("the bank process");
    let mut lines = BufReader::new(bank.stdout.take().expect("piped")).lines();
    let ready = lines.next().and_then(Result::ok);
    assert_eq!(ready.as_deref(), Some("READY"), "the bank did not start");

    runtime.block_on(async {
        // In this process: a local account.
        let system = System::with_broker(TokioExecutor::current(), teller.clone());
        let local = system.spawn(Account { balance: 100 });
        let (balance, overdraw) = pay_in_and_overdraw(&local, 5).await;
        let refused = overdraw.err().and_then(AskError::handler_error);
        println!("local account:  balance {balance}, refused: {refused:?}");
        assert_eq!(
            (balance, refused),
            (105, Some(Insufficient { balance: 105 }))
        );

        // In the bank's process: the same function, on a remote reference.
        let alice: RemoteActorRef<AccountMsg> = teller
            .lookup_remote_actor("alice")
            .await
            .expect("the bank serves alice");
        let (balance, overdraw) = pay_in_and_overdraw(&alice, 5).await;
        let refused = overdraw.err().and_then(RemoteAskError::handler_error);
        println!("remote account: balance {balance}, refused: {refused:?}");
        assert_eq!((balance, refused), (15, Some(Insufficient { balance: 15 })));
        let bounded = alice.within(Duration::from_secs(1)).balance().await;
        assert_eq!(bounded.ok(), Some(15));
        teller.leave().await;
    });
    drop(bank.stdin.take());
    let status = bank.wait().expect("the bank exits");
    assert!(status.success(), "the bank failed: {status}");
    println!("the same helpers ran on a local and on a remote account");
}

/// The child: serves the account "alice" until its stdin closes.
#[tokio::main]
async fn bank(url: String) {
    let var = |key: &str| std::env::var(key).ok();
    let credentials = var("BANK_NATS_USER").zip(var("BANK_NATS_PASSWORD"));
    let ca = var("BANK_CA").map(std::path::PathBuf::from);
    let broker = NatsBroker::connect(config(
        &url,
        "bank",
        credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        ca.as_deref(),
    ))
    .await
    .expect("the bank connects");
    let system = System::with_broker(TokioExecutor::current(), broker.clone());
    let alice = system.spawn(Account { balance: 10 });
    broker
        .export("alice", &alice)
        .protocol()
        .start()
        .await
        .expect("the name is free");
    println!("READY");
    std::io::stdout().flush().expect("stdout");
    // Serve until the teller closes our stdin.
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
    })
    .await
    .expect("stdin");
    broker.leave().await;
}

fn config(
    url: &str,
    node: &str,
    credentials: Option<(&str, &str)>,
    ca: Option<&Path>,
) -> NodeConfig {
    let mut config = NodeConfig::new(url).node_name(node);
    if let Some((user, password)) = credentials {
        config = config.credentials(Credentials::UserPassword {
            user: user.to_owned(),
            password: password.to_owned(),
        });
    }
    match ca {
        Some(ca) => config.root_certificate(ca),
        None => config.allow_plaintext(),
    }
}
