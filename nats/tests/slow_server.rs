//! A node whose connection to the server is slow: through a TCP proxy that delays every chunk
//! each way by a latency the test sets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{LeaveReason, MemberEvent, NatsBroker, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to a server, delaying what it forwards, each way, by `delay_ms`.
struct LatencyProxy {
    addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
}

impl LatencyProxy {
    async fn start(upstream: SocketAddr) -> LatencyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = Arc::clone(&delay_ms);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_rx, client_tx) = client.into_split();
                let (server_rx, server_tx) = server.into_split();
                tokio::spawn(forward(client_rx, server_tx, Arc::clone(&delay)));
                tokio::spawn(forward(server_rx, client_tx, Arc::clone(&delay)));
            }
        });
        LatencyProxy { addr, delay_ms }
    }

    fn set_delay(&self, one_way: Duration) {
        let ms = u64::try_from(one_way.as_millis()).unwrap();
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, each chunk `delay_ms` after it was read (in order).
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay_ms: Arc<AtomicU64>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let delay = Duration::from_millis(delay_ms.load(Ordering::SeqCst));
        if tx
            .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// `server`'s credentials and CA, for a connection to `url`.
fn config_for(server: &TestServer, url: String, node: &str) -> NodeConfig {
    NodeConfig::new(url)
        .node_name(node)
        .root_certificate(server.ca_cert_path().unwrap())
        .credentials(playhouse_nats::Credentials::UserPassword {
            user: server.user().unwrap().to_owned(),
            password: server.password().unwrap().to_owned(),
        })
}

/// A node whose every round trip to JetStream takes most of a heartbeat period stays a member
/// through a slower moment. A heartbeat given up at the next tick, though it had landed, left
/// the next ones expecting an old revision: each then needed a round trip more than a period
/// allows, none was written again, and the others took the node, connected and beating, for
/// dead.
#[tokio::test]
async fn a_node_on_a_slow_connection_stays_a_member_through_a_slower_moment() {
    const BEAT: Duration = Duration::from_millis(200);
    let server = TestServer::start().expect("nats-server");
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let proxy = LatencyProxy::start(upstream).await;
    let w = NatsBroker::connect(
        server
            .node_config("w")
            .heartbeat(BEAT, Duration::from_secs(2)),
    )
    .await
    .unwrap();
    let url = format!("tls://{}", proxy.addr);
    let a =
        NatsBroker::connect(config_for(&server, url, "a").heartbeat(BEAT, Duration::from_secs(2)))
            .await
            .unwrap();
    let mut events = w.member_events();
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                seen.lock().unwrap().push(event);
            }
        });
    }

    // A round trip of 140 ms, under the period; then one of 600 ms for a while.
    proxy.set_delay(Duration::from_millis(70));
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.set_delay(Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.set_delay(Duration::from_millis(70));
    tokio::time::sleep(Duration::from_secs(5)).await;

    let timed_out = MemberEvent::Left {
        node: "a".into(),
        reason: LeaveReason::TimedOut,
    };
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.contains(&timed_out), "a was taken for dead: {seen:?}");
    assert!(w.is_member("a") && a.is_member("a"));
}

/// A node whose connection stalls (the connection stays open, nothing comes through) for longer
/// than the TTL plus JetStream's request timeout takes no live node for dead: the reads of the
/// members bucket it makes before reaping fail, and as its own heartbeats did not reach the
/// server either, it does not trust its stale view of the others. (It reported every live
/// node left, and withdrew their names, though the node out of reach was itself.)
#[tokio::test]
async fn a_node_whose_connection_stalls_takes_no_live_node_for_dead() {
    const BEAT: Duration = Duration::from_millis(200);
    const TTL: Duration = Duration::from_secs(2);
    let server = TestServer::start().expect("nats-server");
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let proxy = LatencyProxy::start(upstream).await;
    let w = NatsBroker::connect(server.node_config("w").heartbeat(BEAT, TTL))
        .await
        .unwrap();
    let url = format!("tls://{}", proxy.addr);
    let a = NatsBroker::connect(config_for(&server, url, "a").heartbeat(BEAT, TTL))
        .await
        .unwrap();
    for _ in 0..100 {
        if a.is_member("w") && w.is_member("a") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut events = a.member_events();
    let seen = Arc::new(Mutex::new(Vec::new()));
    {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                seen.lock().unwrap().push(event);
            }
        });
    }
    // What is sent in the next 400 ms arrives 15 s later, and all after it waits behind.
    proxy.set_delay(Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.set_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(20)).await;

    let timed_out = MemberEvent::Left {
        node: "w".into(),
        reason: LeaveReason::TimedOut,
    };
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.contains(&timed_out), "a took w for dead: {seen:?}");
    assert!(a.is_member("w") && w.is_member("a"));
}
