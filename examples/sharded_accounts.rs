//! Bank accounts as keyed actors sharded over three processes. Each account lives on one node
//! at a time, under a lease in NATS's key-value store; its balance is saved through the
//! account's fenced `KeyState` before each answer. The example starts its own nats-server
//! (TLS, a password, JetStream), runs three copies of itself as nodes, opens the accounts and
//! moves money between them from a fourth process; then kills (SIGKILL) the node that holds
//! the first account: its accounts come back on the other nodes on their next message, their
//! balances reloaded through the factory, and the total is what it was.
//!
//! Each node supervises its accounts (`ShardedSpec::supervise` with `KeyedSupervision`, as an
//! in-memory keyed set does): an account whose handler panics (`Audit` has a bug) is restarted
//! on the node that holds it, from the balance it saved.
//!
//! Credits are durable messages (`ShardedSpec::durable`, `ShardedRef::tell_durable`): stored
//! in a JetStream stream, then delivered to the account until it confirms them. Credits sent to
//! every account just after the kill, while the dead node's accounts have no owner yet, are
//! all applied once: each account saves the sequence of the last credit it applied with its
//! balance, and skips a credit delivered again after it was applied.
//!
//! It prints the time of a first message to an account (activation on a remote node: the
//! lease taken, the state opened, the factory run) against a message to an active one, the
//! time to store a durable credit and to see it applied, and the failover time, from the kill
//! to the account answering from another node (about one lease TTL: here 1 s, the node TTL of
//! `NodeConfig::heartbeat`).
//!
//! Run with `cargo run --release --example sharded_accounts --features tokio,nats-test-server`
//! (needs `nats-server` on the PATH: `apt-get install nats-server`).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use playhouse::nats::testing::TestServer;
use playhouse::nats::{
    Credentials, Delivery, KeyState, NatsBroker, NodeConfig, Rejection, RemoteError, ShardedRef,
    StateError,
};
use playhouse::prelude::*;
use serde::{Deserialize, Serialize};

const ACCOUNTS: usize = 30;
const OPENING: i64 = 1_000;
const TRANSFERS: usize = 300;
const HEARTBEAT: Duration = Duration::from_millis(200);
const TTL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(20);

/// Adds (or, negative, takes) money; answered with the new balance, or why not.
#[derive(Serialize, Deserialize)]
struct Deposit(i64);
/// Answered with the balance and the node that holds the account.
#[derive(Serialize, Deserialize)]
struct Balance;
/// Adds money, durably: stored first, applied at least once, confirmed once saved.
#[derive(Serialize, Deserialize)]
struct Credit(i64);
/// Audits the account: a tell whose handler has a bug (it panics).
#[derive(Serialize, Deserialize)]
struct Audit;

enum Msg {
    Deposit(i64, Reply<Result<i64, String>>),
    Balance(Reply<(i64, String)>),
    Credit(i64, Delivery),
    Audit,
}

impl From<Audit> for Msg {
    fn from(Audit: Audit) -> Msg {
        Msg::Audit
    }
}

/// What an account saves: its balance, and the sequence of the last credit applied to it.
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Saved {
    balance: i64,
    last_credit: u64,
}

struct Account {
    saved: Saved,
    node: String,
    state: KeyState,
}

impl Actor for Account {
    type Message = Msg;
    type Error = StateError;
}

impl<V: Env> Handler<V> for Account {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), StateError> {
        match msg {
            Msg::Deposit(amount, reply) => {
                let next = Saved {
                    balance: self.saved.balance + amount,
                    ..self.saved
                };
                let answer = if next.balance < 0 {
                    Err(format!(
                        "balance {} does not cover {}",
                        self.saved.balance, -amount
                    ))
                } else {
                    // Saved (fenced) before the answer: an answered deposit is durable, and a
                    // node that lost the account cannot write.
                    match self.state.save(&next).await {
                        Ok(()) => {
                            self.saved = next;
                            Ok(next.balance)
                        }
                        Err(e) => Err(e.to_string()),
                    }
                };
                let _ = reply.send(answer);
            }
            Msg::Balance(reply) => {
                let _ = reply.send((self.saved.balance, self.node.clone()));
            }
            Msg::Audit => panic!("{} hit a bug in its audit", self.state.key()),
            Msg::Credit(amount, delivery) => {
                // A credit delivered again after it was applied (its confirmation was lost
                // with a node) has a sequence already saved: skipped.
                if delivery.sequence() > self.saved.last_credit {
                    let next = Saved {
                        balance: self.saved.balance + amount,
                        last_credit: delivery.sequence(),
                    };
                    // Not saved (this node lost the account): unconfirmed, so the account's
                    // next owner gets it.
                    if self.state.save(&next).await.is_err() {
                        return Ok(());
                    }
                    self.saved = next;
                }
                delivery.confirm();
            }
        }
        Ok(())
    }
}

fn config(url: &str, name: &str, user: &str, password: &str, ca: &str) -> NodeConfig {
    NodeConfig::new(url)
        .node_name(name)
        .credentials(Credentials::UserPassword {
            user: user.into(),
            password: password.into(),
        })
        .root_certificate(ca)
        .heartbeat(HEARTBEAT, TTL)
}

/// A node: serves the accounts until its stdin closes.
async fn node(name: String) {
    let var = |v: &str| std::env::var(v).expect("set by the parent");
    let (url, user, password, ca) = (
        var("SA_URL"),
        var("SA_USER"),
        var("SA_PASSWORD"),
        var("SA_CA"),
    );
    let broker = NatsBroker::connect(config(&url, &name, &user, &password, &ca))
        .await
        .expect("the node connects");
    let system = playhouse::core::System::with_broker(TokioExecutor::current(), broker.clone());
    let me = name.clone();
    let _accounts = broker
        .sharded("accounts", move |_key: &str, state: KeyState| {
            let node = me.clone();
            async move {
                let saved = state.load::<Saved>()?.unwrap_or_default();
                Ok::<_, StateError>(Account { saved, node, state })
            }
        })
        .ask::<Deposit, Result<i64, String>>(|Deposit(n), reply| Msg::Deposit(n, reply))
        .ask::<Balance, (i64, String)>(|Balance, reply| Msg::Balance(reply))
        .durable::<Credit>(|Credit(n), delivery| Msg::Credit(n, delivery))
        .tell::<Audit>()
        // A crashed account restarts here, reloaded through the factory: at most 3 times in
        // 10 s, or it is started over on its next message.
        .supervise(
            KeyedSupervision::new(RestartType::Transient).intensity(3, Duration::from_secs(10)),
        )
        .start(&system)
        .await
        .expect("the node serves the accounts");
    // A crash prints one line, without a backtrace.
    std::panic::set_hook(Box::new(move |info| eprintln!("{name}: {info}")));
    println!("READY");
    // Until the parent closes our stdin (or kills us).
    tokio::task::spawn_blocking(|| for _ in std::io::stdin().lock().lines() {})
        .await
        .ok();
}

/// The senders, kept: each learns where the accounts live and sends straight there.
#[derive(Clone)]
struct Bank {
    deposits: ShardedRef<Deposit>,
    balances: ShardedRef<Balance>,
    credits: ShardedRef<Credit>,
    audits: ShardedRef<Audit>,
}

/// Stores a durable credit of 1 to `key` under `id`.
async fn credit(bank: &Bank, key: &str, id: &str) {
    bank.credits
        .tell_durable(key, id, Credit(1), TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("credit to {key}: {e}"));
}

/// Waits until the accounts hold `expected` in all; how long that took.
async fn until_total(bank: &Bank, expected: i64) -> Duration {
    let start = Instant::now();
    loop {
        let now = total(bank).await;
        if now == expected {
            return start.elapsed();
        }
        assert!(
            now < expected && start.elapsed() < TIMEOUT,
            "the accounts hold {now}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deposit(bank: &Bank, key: &str, amount: i64) -> Result<i64, String> {
    bank.deposits
        .ask::<Result<i64, String>>(key, Deposit(amount), TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("deposit to {key}: {e}"))
}

/// The balance of `key` and the node that holds it. Delivery across processes is at most
/// once: a request in flight to a node that dies is lost, and so is one the server hands to a
/// killed node before it has noticed the death. A balance changes nothing, so one without an
/// answer after three lease TTLs (or that found no node to take the key) is asked again.
async fn balance(bank: &Bank, key: &str) -> (i64, String) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let asked = bank.balances.ask::<(i64, String)>(key, Balance, 3 * TTL);
        match asked.await {
            Ok(answer) => return answer,
            // No answer, or no node took the key yet: asked again.
            Err(
                RemoteError::Timeout
                | RemoteError::NotFound { .. }
                | RemoteError::Rejected {
                    reason: Rejection::LeaseUnavailable { .. },
                    ..
                },
            ) if Instant::now() < deadline => {}
            Err(e) => panic!("balance of {key}: {e}"),
        }
    }
}

async fn total(bank: &Bank) -> i64 {
    let mut sum = 0;
    for i in 0..ACCOUNTS {
        sum += balance(bank, &format!("acct{i}")).await.0;
    }
    sum
}

/// A small, seedable pseudo-random source (xorshift), to avoid a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    if let Ok(name) = std::env::var("SA_NODE") {
        return node(name).await;
    }
    let server = TestServer::start().unwrap_or_else(|e| panic!("{e}"));
    let (url, user, password) = (
        server.url(),
        server.user().expect("a user").to_owned(),
        server.password().expect("a password").to_owned(),
    );
    let ca = server.ca_cert_path().expect("TLS").display().to_string();
    let exe = std::env::current_exe().expect("this program");
    let mut nodes: Vec<(String, Child)> = ["n1", "n2", "n3"]
        .into_iter()
        .map(|name| {
            let child = Command::new(&exe)
                .env("SA_NODE", name)
                .env("SA_URL", &url)
                .env("SA_USER", &user)
                .env("SA_PASSWORD", &password)
                .env("SA_CA", &ca)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("a node starts");
            (name.to_owned(), child)
        })
        .collect();
    for (name, child) in &mut nodes {
        let mut line = String::new();
        let stdout = child.stdout.as_mut().expect("piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("READY");
        assert_eq!(line.trim(), "READY", "node {name}");
    }
    println!("three nodes serve the accounts");

    let broker = NatsBroker::connect(config(&url, "bank", &user, &password, &ca))
        .await
        .expect("the bank connects");
    let bank = Bank {
        deposits: broker.sharded_ref("accounts"),
        balances: broker.sharded_ref("accounts"),
        credits: broker.sharded_ref("accounts"),
        audits: broker.sharded_ref("accounts"),
    };

    // Open the accounts: each first message activates its account on some node.
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for i in 0..ACCOUNTS {
        let key = format!("acct{i}");
        let t = Instant::now();
        assert_eq!(deposit(&bank, &key, OPENING).await, Ok(OPENING));
        first.push(t.elapsed());
        let t = Instant::now();
        deposit(&bank, &key, 0).await.expect("a deposit");
        again.push(t.elapsed());
    }
    let mut spread = std::collections::BTreeMap::new();
    for i in 0..ACCOUNTS {
        *spread
            .entry(balance(&bank, &format!("acct{i}")).await.1)
            .or_insert(0) += 1;
    }
    println!("accounts per node: {spread:?}");
    println!(
        "a deposit to a new account (remote activation: lease, state, factory), median {:?}; to an active one, median {:?} (each with its fenced state write)",
        median(first),
        median(again)
    );

    let initial = total(&bank).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut transfers = |n: usize| {
        let bank = bank.clone();
        let picks: Vec<(usize, usize, i64)> = (0..n)
            .map(|_| {
                (
                    rng.below(ACCOUNTS),
                    rng.below(ACCOUNTS),
                    rng.below(300) as i64,
                )
            })
            .collect();
        async move {
            let mut done = 0;
            for (from, to, amount) in picks {
                let (from, to) = (format!("acct{from}"), format!("acct{to}"));
                if deposit(&bank, &from, -amount).await.is_ok() {
                    deposit(&bank, &to, amount).await.expect("a deposit");
                    done += 1;
                }
            }
            done
        }
    };
    let done = transfers(TRANSFERS).await;
    println!(
        "{done} transfers made; total {} (was {initial})",
        total(&bank).await
    );

    // A bug: auditing acct1 crashes it. Its node restarts it from its saved balance, and it
    // answers from the same node, which kept its lease.
    let (was, home) = balance(&bank, "acct1").await;
    bank.audits
        .tell("acct1", Audit, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("the audit: {e}"));
    let (now, still) = balance(&bank, "acct1").await;
    assert_eq!(
        (now, &still),
        (was, &home),
        "acct1 came back with its saved balance, on its node"
    );
    println!("acct1 crashed on {home} and was restarted there with its balance, {now}");

    // Durable credits: the time to store one, and until the account shows it applied.
    let before = total(&bank).await;
    let (mut stored, mut applied) = (Vec::new(), Vec::new());
    for i in 0..ACCOUNTS {
        let key = format!("acct{i}");
        let was = balance(&bank, &key).await.0;
        let t = Instant::now();
        credit(&bank, &key, &format!("credit-{i}")).await;
        stored.push(t.elapsed());
        while balance(&bank, &key).await.0 == was {
            assert!(t.elapsed() < TIMEOUT, "credit to {key} never applied");
        }
        applied.push(t.elapsed());
    }
    let credited = before + ACCOUNTS as i64;
    println!(
        "a durable credit stored, median {:?}; applied (seen in the balance), median {:?}",
        median(stored),
        median(applied)
    );

    // Kill the node that holds acct0, without warning.
    let (_, victim) = balance(&bank, "acct0").await;
    let at = nodes
        .iter()
        .position(|(n, _)| *n == victim)
        .expect("a node");
    let (_, mut child) = nodes.remove(at);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let killed = Instant::now();
    // A first request the server hands to the dead node before it noticed the death is lost,
    // and asked again after three TTLs: the time printed then includes that wait.
    let (money, now_on) = balance(&bank, "acct0").await;
    println!(
        "killed {victim}; acct0 answered from {now_on} after {:?} (lease TTL {TTL:?}), balance {money}",
        killed.elapsed()
    );
    assert_ne!(now_on, victim);
    // A credit to every account, stored at once whether its owner lives or not.
    for i in 0..ACCOUNTS {
        credit(&bank, &format!("acct{i}"), &format!("after-kill-{i}")).await;
    }
    let expected = credited + ACCOUNTS as i64;
    let waited = until_total(&bank, expected).await;
    println!("{ACCOUNTS} durable credits sent after the kill, each applied once within {waited:?}");

    let done = transfers(TRANSFERS).await;
    let end = total(&bank).await;
    println!(
        "{done} more transfers among the survivors; total {end} (was {initial}, plus {} credited)",
        2 * ACCOUNTS
    );
    assert_eq!(end, expected, "money was created or destroyed");
    for (_, mut child) in nodes {
        drop(child.stdin.take());
        let _ = child.wait();
    }
}
