//! Nodes in processes of their own: send and ask by name across processes, and a node killed
//! with SIGKILL whose names and membership the others drop after its heartbeats stop.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use futures::StreamExt;
use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
use playhouse_executors::TokioExecutor;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{LeaveReason, MemberEvent, NatsBroker, NodeConfig, RemoteError};
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_millis(200);
const TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, Deserialize)]
struct Add(u64);
#[derive(Debug, Serialize, Deserialize)]
struct Get;
#[derive(Debug, Serialize, Deserialize)]
struct WhoAreYou;

enum Msg {
    Add(u64),
    Get(Reply<u64>),
    Who(Reply<u32>),
}

impl From<Add> for Msg {
    fn from(a: Add) -> Msg {
        Msg::Add(a.0)
    }
}

struct Counter(u64);

impl Actor for Counter {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Counter {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Get(reply) => {
                let _ = reply.send(self.0);
            }
            Msg::Who(reply) => {
                let _ = reply.send(std::process::id());
            }
        }
        Ok(())
    }
}

/// A child node's configuration: its role as its name, the server the parent gave it.
fn child_config(node: &support::Node) -> NodeConfig {
    NodeConfig::new(node.url.clone().unwrap())
        .node_name(node.role.clone())
        .credentials(playhouse_nats::Credentials::UserPassword {
            user: node.user.clone().unwrap(),
            password: node.password.clone().unwrap(),
        })
        .root_certificate(node.ca_cert_path.clone().unwrap())
        .heartbeat(HEARTBEAT, TTL)
}

/// The child: a node that serves a counter under `counter-<role>` until its stdin closes.
#[tokio::test]
async fn counter_node() {
    let Some(mut node) = support::node() else {
        return;
    };
    let config = child_config(&node);
    // A node restarted under its name is refused until its earlier process's last heartbeat
    // expires (at most the TTL): it tries again.
    let started = std::time::Instant::now();
    let broker = loop {
        match NatsBroker::connect(config.clone()).await {
            Err(playhouse_nats::ConnectError::NodeNameTaken { .. }) if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            connected => break connected.expect("connects"),
        }
    };
    let system = System::with_broker(TokioExecutor::current(), broker.clone());
    let counter = system.spawn(Counter(0));
    broker
        .export(&format!("counter-{}", node.role), &counter)
        .tell::<Add>()
        .ask::<Get, u64>(|Get, reply| Msg::Get(reply))
        .ask::<WhoAreYou, u32>(|WhoAreYou, reply| Msg::Who(reply))
        .start()
        .await
        .expect("exported");
    node.emit("READY");
    while let Some(command) = node.next_command().await {
        if command == "stop" {
            counter.stop();
            node.emit("STOPPED");
        }
    }
}

fn parent_config(server: &TestServer, name: &str) -> NodeConfig {
    server.node_config(name).heartbeat(HEARTBEAT, TTL)
}

#[tokio::test]
async fn send_and_ask_by_name_across_processes() {
    let server = TestServer::start().expect("nats-server");
    let mut one = support::spawn_node("counter_node", "one", &server, &[]);
    let mut two = support::spawn_node("counter_node", "two", &server, &[]);
    one.wait_for_line("READY", support::STARTUP).await;
    two.wait_for_line("READY", support::STARTUP).await;
    let me = NatsBroker::connect(parent_config(&server, "parent"))
        .await
        .unwrap();

    for (name, n) in [("counter-one", 5u64), ("counter-two", 7)] {
        let add = me.remote::<Add>(name);
        for _ in 0..n {
            add.tell(Add(1)).await.unwrap();
        }
        let total: u64 = me.remote::<Get>(name).ask(Get, WAIT).await.unwrap();
        assert_eq!(total, n);
    }
    // Each name is served by its own process.
    let pid_one: u32 = me
        .remote::<WhoAreYou>("counter-one")
        .ask(WhoAreYou, WAIT)
        .await
        .unwrap();
    let pid_two: u32 = me
        .remote::<WhoAreYou>("counter-two")
        .ask(WhoAreYou, WAIT)
        .await
        .unwrap();
    assert_eq!(pid_one, one.pid());
    assert_eq!(pid_two, two.pid());
    assert_ne!(pid_one, std::process::id());

    // The registry entry goes when the actor ends.
    one.send_line("stop");
    one.wait_for_line("STOPPED", support::STEP).await;
    let until = tokio::time::Instant::now() + WAIT;
    while me.registration("counter-one").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < until,
            "counter-one stayed registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(me.registration("counter-two").await.unwrap().is_some());
}

#[tokio::test]
async fn a_killed_node_is_dropped_with_its_names() {
    let server = TestServer::start().expect("nats-server");
    let me = NatsBroker::connect(parent_config(&server, "parent"))
        .await
        .unwrap();
    let mut events = me.member_events();
    let mut doomed = support::spawn_node("counter_node", "doomed", &server, &[]);
    doomed.wait_for_line("READY", support::STARTUP).await;
    let joined = tokio::time::timeout(WAIT, events.next()).await.unwrap();
    assert_eq!(
        joined,
        Some(MemberEvent::Joined {
            node: "doomed".into()
        })
    );
    assert_eq!(me.members(), ["doomed", "parent"]);
    assert_eq!(
        me.registration("counter-doomed")
            .await
            .unwrap()
            .unwrap()
            .node,
        "doomed"
    );

    doomed.kill_hard();
    // No goodbye: the heartbeats stop and the TTL runs out.
    let left = tokio::time::timeout(WAIT, events.next()).await.unwrap();
    assert_eq!(
        left,
        Some(MemberEvent::Left {
            node: "doomed".into(),
            reason: LeaveReason::TimedOut
        })
    );
    assert_eq!(me.members(), ["parent"]);
    assert!(me.registration("counter-doomed").await.unwrap().is_none());
    let err = me
        .remote::<Get>("counter-doomed")
        .ask::<u64>(Get, WAIT)
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::NotFound { .. }), "{err:?}");
}

/// A node restarted under its name before the others took its silence for a death (this one
/// reaps on a slow heartbeat): it connects once its earlier process's last heartbeat expired;
/// the others see that process leave and the new one join; and it exports its names again,
/// where the earlier process's entry had read as its own, still alive.
#[tokio::test]
async fn a_node_restarted_under_its_name_serves_its_names_again() {
    let server = TestServer::start().expect("nats-server");
    let me = NatsBroker::connect(
        server
            .node_config("parent")
            .heartbeat(Duration::from_millis(900), TTL),
    )
    .await
    .unwrap();
    let mut events = me.member_events();
    let mut first = support::spawn_node("counter_node", "phoenix", &server, &[]);
    first.wait_for_line("READY", support::STARTUP).await;
    let joined = MemberEvent::Joined {
        node: "phoenix".into(),
    };
    assert_eq!(
        tokio::time::timeout(WAIT, events.next()).await.unwrap(),
        Some(joined.clone())
    );
    let who = me.remote::<WhoAreYou>("counter-phoenix");
    let before = who
        .ask::<u32>(WhoAreYou, WAIT)
        .await
        .expect("first answers");

    first.kill_hard();
    let mut second = support::spawn_node("counter_node", "phoenix", &server, &[]);
    second.wait_for_line("READY", support::STARTUP).await;
    let left = MemberEvent::Left {
        node: "phoenix".into(),
        reason: LeaveReason::TimedOut,
    };
    for expected in [left, joined] {
        assert_eq!(
            tokio::time::timeout(WAIT, events.next()).await.unwrap(),
            Some(expected)
        );
    }
    let after = who
        .ask::<u32>(WhoAreYou, WAIT)
        .await
        .expect("second answers");
    assert_ne!(before, after, "the restarted process answers");
    assert_eq!(
        me.registration("counter-phoenix")
            .await
            .unwrap()
            .unwrap()
            .node,
        "phoenix"
    );
}

#[tokio::test]
async fn nodes_starting_together_on_a_fresh_server_all_join() {
    // The first nodes race to make the registry and members buckets.
    let server = TestServer::start().expect("nats-server");
    let mut nodes: Vec<_> = ["n1", "n2", "n3", "n4"]
        .iter()
        .map(|role| support::spawn_node("counter_node", role, &server, &[]))
        .collect();
    for node in &mut nodes {
        node.wait_for_line("READY", support::STARTUP).await;
    }
    let me = NatsBroker::connect(parent_config(&server, "parent"))
        .await
        .unwrap();
    assert_eq!(me.members(), ["n1", "n2", "n3", "n4", "parent"]);
}

#[tokio::test]
async fn a_node_in_another_process_goes_on_after_a_server_restart() {
    let mut server = TestServer::start().expect("nats-server");
    let mut far = support::spawn_node("counter_node", "far", &server, &[]);
    far.wait_for_line("READY", support::STARTUP).await;
    let me = NatsBroker::connect(parent_config(&server, "parent"))
        .await
        .unwrap();
    let add = me.remote::<Add>("counter-far");
    add.tell_acked(Add(1), WAIT).await.unwrap();

    // Traffic while the server goes down and comes back on the same port and store.
    let sender = support::acked_traffic(&add, 100, || Add(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.restart().expect("the server comes back");
    let acked = sender.await.unwrap();

    // Both processes reconnect by themselves; sends go on.
    let until = tokio::time::Instant::now() + WAIT;
    while add
        .tell_acked(Add(0), Duration::from_millis(500))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < until,
            "sends never worked again"
        );
    }
    // Every acknowledged tell was handled, none twice (at most once: one in flight during the
    // restart may be lost).
    let total: u64 = me
        .remote::<Get>("counter-far")
        .ask(Get, WAIT)
        .await
        .unwrap();
    assert!(total > acked, "total {total}, acknowledged {}", acked + 1);
    assert!(total <= 101, "total {total}: a tell was handled twice");
    // Membership recovers, and so does the registry: JetStream keeps its store, and if this node
    // took `far` for dead meanwhile and purged its name, `far` claims it again.
    let until = tokio::time::Instant::now() + WAIT;
    while me.members() != ["far", "parent"] {
        assert!(
            tokio::time::Instant::now() < until,
            "membership: {:?}",
            me.members()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let found = me.registration("counter-far").await;
        if found
            .as_ref()
            .is_ok_and(|f| f.as_ref().is_some_and(|f| f.node == "far"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the registration never came back: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The child: a node that reports its member events (`EVENT <event>`) until its stdin closes.
#[tokio::test]
async fn watching_node() {
    let Some(mut node) = support::node() else {
        return;
    };
    let config = child_config(&node);
    let broker = NatsBroker::connect(config).await.expect("connects");
    let mut events = broker.member_events();
    node.emit("READY");
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => node.emit(format!("EVENT {event:?}")),
                None => return,
            },
            command = node.next_command() => {
                if command.is_none() {
                    return;
                }
            }
        }
    }
}

/// A node whose process was paused for longer than the TTL takes no live node for dead when it
/// resumes: the heartbeats it missed are in the members bucket, which it reads before it
/// reaps. (It reported every other node left, and withdrew their names.)
#[tokio::test]
async fn a_paused_node_takes_no_live_node_for_dead_when_it_resumes() {
    let server = TestServer::start().expect("nats-server");
    let me = NatsBroker::connect(parent_config(&server, "parent"))
        .await
        .unwrap();
    let mut paused = support::spawn_node("watching_node", "paused", &server, &[]);
    paused.wait_for_line("READY", support::STARTUP).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &paused.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {name}");
    };
    signal("-STOP");
    tokio::time::sleep(TTL * 3).await;
    signal("-CONT");
    let left = paused
        .try_wait_for_line("EVENT Left { node: \"parent\"", TTL * 2)
        .await;
    assert!(left.is_err(), "it took the parent for dead: {left:?}");
    assert!(me.is_member("paused"), "it came back");
}
