//! Keyed actors sharded across nodes in processes of their own: a key's owner killed with
//! SIGKILL, and the key answering from another node with its state reloaded.

mod keyed_common;
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use keyed_common::*;
use playhouse_core::System;
use playhouse_executors::TokioExecutor;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{Credentials, NatsBroker, NodeConfig};

/// The child: serves the group `accounts` until its stdin closes.
#[tokio::test]
async fn account_node() {
    let Some(mut node) = support::node() else {
        return;
    };
    let config = NodeConfig::new(node.url.clone().expect("url"))
        .node_name(node.role.clone())
        .credentials(Credentials::UserPassword {
            user: node.user.clone().expect("user"),
            password: node.password.clone().expect("password"),
        })
        .root_certificate(node.ca_cert_path.clone().expect("CA"))
        .heartbeat(HEARTBEAT, TTL);
    // A node restarted under its name is refused until its earlier process's last heartbeat
    // expires (at most the TTL): it tries again.
    let started = Instant::now();
    let broker = loop {
        match NatsBroker::connect(config.clone()).await {
            Err(playhouse_nats::ConnectError::NodeNameTaken { .. }) if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            connected => break connected.expect("connects"),
        }
    };
    let system = System::with_broker(TokioExecutor::current(), broker.clone());
    let _accounts = spec(&broker, &Activations::default())
        .start(&system)
        .await
        .expect("serves");
    node.emit("READY");
    while node.next_command().await.is_some() {}
}

/// A child process per role, each serving the group `accounts`, once all are ready.
async fn account_nodes(
    server: &TestServer,
    roles: &[&str],
) -> HashMap<String, support::NodeProcess> {
    let mut nodes = HashMap::new();
    for role in roles {
        let node = support::spawn_node("account_node", role, server, &[]);
        nodes.insert((*role).to_owned(), node);
    }
    for node in nodes.values_mut() {
        node.wait_for_line("READY", support::STARTUP).await;
    }
    nodes
}

async fn total(broker: &NatsBroker, keys: &[String]) -> (i64, HashMap<String, String>) {
    let mut sum = 0;
    let mut owners = HashMap::new();
    for key in keys {
        let seen = get(broker, key).await;
        sum += seen.balance;
        owners.insert(key.clone(), seen.node);
    }
    (sum, owners)
}

#[tokio::test]
async fn a_killed_owners_keys_answer_from_another_node_with_their_state() {
    let server = TestServer::start().expect("nats-server");
    let mut nodes = account_nodes(&server, &["n1", "n2", "n3"]).await;
    let me = client(&server, "parent").await;

    let keys: Vec<String> = (0..9).map(|i| format!("acct{i}")).collect();
    for key in &keys {
        assert_eq!(deposit(&me, key, 100).await, Ok(100));
    }
    // A few transfers: withdraw, then deposit.
    for i in 0..9 {
        let (from, to) = (&keys[i], &keys[(i * 4 + 1) % 9]);
        assert!(deposit(&me, from, -30).await.is_ok());
        assert!(deposit(&me, to, 30).await.is_ok());
    }
    let (before, owners) = total(&me, &keys).await;
    assert_eq!(before, 900);

    let victim = owners["acct0"].clone();
    let victims_keys: Vec<&String> = keys.iter().filter(|k| owners[*k] == victim).collect();
    let balance = get(&me, "acct0").await.balance;
    nodes.get_mut(&victim).expect("a child").kill_hard();
    let killed = Instant::now();

    let after = get(&me, "acct0").await;
    eprintln!(
        "failover: acct0 answered from {} {:?} after its owner {victim} was killed",
        after.node,
        killed.elapsed()
    );
    assert_ne!(after.node, victim, "the key moved");
    assert_eq!(after.balance, balance, "its state reloaded");

    // Every account of the dead node is back elsewhere; nothing was created or lost.
    let (after_total, owners_after) = total(&me, &keys).await;
    assert_eq!(after_total, 900);
    for key in &victims_keys {
        assert_ne!(owners_after[*key], victim);
    }
    // One owner per key: asked again, each key answers from the node it answered from.
    for _ in 0..3 {
        let (sum, again) = total(&me, &keys).await;
        assert_eq!(sum, 900);
        assert_eq!(again, owners_after);
    }
    // Transfers go on among the survivors.
    for i in 0..9 {
        let (from, to) = (&keys[i], &keys[(i + 2) % 9]);
        assert!(deposit(&me, from, -10).await.is_ok());
        assert!(deposit(&me, to, 10).await.is_ok());
    }
    assert_eq!(total(&me, &keys).await.0, 900);
}

/// The only node of a group killed and restarted under its name while its leases still run
/// (their leases name its node, held by the earlier process): the new process serves the keys
/// with the state its predecessor saved, and they go on taking deposits.
#[tokio::test]
async fn a_node_restarted_under_its_name_takes_its_keys_back_with_their_state() {
    let server = TestServer::start().expect("nats-server");
    let mut nodes = account_nodes(&server, &["solo"]).await;
    let me = client(&server, "parent").await;
    let keys: Vec<String> = (0..6).map(|i| format!("acct{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            deposit(&me, key, 10 * (i as i64 + 1)).await,
            Ok(10 * (i as i64 + 1))
        );
    }
    let (before, owners) = total(&me, &keys).await;
    assert_eq!(before, 210);
    assert!(owners.values().all(|n| n == "solo"), "{owners:?}");

    nodes.get_mut("solo").expect("the child").kill_hard();
    let mut again = support::spawn_node("account_node", "solo", &server, &[]);
    again.wait_for_line("READY", support::STARTUP).await;

    // Each key answers from the restarted node with the balance its predecessor saved, and
    // goes on taking deposits.
    let (after, owners) = total(&me, &keys).await;
    assert_eq!(after, 210, "the state reloaded");
    assert!(owners.values().all(|n| n == "solo"), "{owners:?}");
    for key in &keys {
        assert!(deposit(&me, key, 1).await.is_ok(), "{key}");
    }
    assert_eq!(total(&me, &keys).await.0, 216);
}

/// How many messages the group's durable stream still holds.
async fn stored_durably(broker: &NatsBroker) -> u64 {
    let mut stream = broker
        .jetstream()
        .get_stream("playhouse_durable_accounts")
        .await
        .expect("the group's stream");
    stream.info().await.expect("info").state.messages
}

#[tokio::test]
async fn a_durable_note_its_killed_owner_never_confirmed_is_applied_once_elsewhere() {
    let server = TestServer::start().expect("nats-server");
    let mut nodes = account_nodes(&server, &["n1", "n2"]).await;
    let me = client(&server, "parent").await;
    let notes = me.sharded_ref::<Note>("accounts");

    // The owner applies the note and saves it, then holds it unconfirmed.
    notes
        .tell_durable("ledger", "held", Note(HELD), WAIT)
        .await
        .expect("stored");
    eventually("applied", async || {
        get(&me, "ledger").await.log == vec![HELD]
    })
    .await;
    assert_eq!(stored_durably(&me).await, 1, "unconfirmed: still stored");
    let victim = get(&me, "ledger").await.node;
    nodes.get_mut(&victim).expect("a child").kill_hard();

    // Stored while the key's owner is dead.
    for n in 1..=3 {
        notes
            .tell_durable("ledger", &format!("after-{n}"), Note(n), WAIT)
            .await
            .expect("stored");
    }
    eventually("applied elsewhere", async || {
        get(&me, "ledger").await.log.len() >= 4
    })
    .await;
    let seen = get(&me, "ledger").await;
    assert_ne!(seen.node, victim, "the key moved");
    assert_eq!(
        seen.log,
        vec![HELD, 1, 2, 3],
        "the held note applied once, then the others in order"
    );
    eventually("the held note confirmed", async || {
        stored_durably(&me).await == 0
    })
    .await;
}

/// Sends `signal` (`-STOP`, `-CONT`) to the process `pid`.
fn signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("runs kill");
    assert!(sent.success(), "kill {signal} {pid}: {sent}");
}

#[tokio::test]
async fn a_reference_that_knew_a_hung_owner_finds_the_key_elsewhere() {
    let server = TestServer::start().expect("nats-server");
    let mut nodes = account_nodes(&server, &["n1", "n2"]).await;
    let me = client(&server, "parent").await;
    // One reference for the whole test: it learns the key's owner from the first answer.
    let gets = me.sharded_ref::<Get>("accounts");
    let first = gets
        .ask::<Seen>("acct0", Get, WAIT)
        .await
        .expect("activates");
    assert_eq!(gets.owner_of("acct0").as_deref(), Some(first.node.as_str()));

    // Frozen, not dead: its connection stays open, so its subjects still take messages, but
    // its heartbeats stop and its lease lapses.
    let victim = nodes.get_mut(&first.node).expect("a child");
    signal(victim.pid(), "-STOP");
    let stopped = Instant::now();
    let mut answered = None;
    while stopped.elapsed() < Duration::from_secs(15) {
        // A message the server hands to the frozen node's share of the queue group (one in two
        // here) times out; the reference forgets the frozen owner, and a later one goes
        // elsewhere.
        if let Ok(seen) = gets.ask::<Seen>("acct0", Get, TTL).await {
            answered = Some(seen);
            break;
        }
    }
    let victim = nodes.get_mut(&first.node).expect("a child");
    signal(victim.pid(), "-CONT");
    victim.kill_hard();
    let seen = answered.expect("the key answered from another node while its owner hung");
    assert_ne!(seen.node, first.node, "the key moved");
    assert_eq!(gets.owner_of("acct0").as_deref(), Some(seen.node.as_str()));
}
