//! Remote tell throughput and remote ask latency between two processes on loopback, beside a
//! raw `async-nats` publish loop and request round trip measured in the same run, against one
//! nats-server with TLS and authentication (as a cluster would run).
//!
//! ```text
//! cargo run --release -p playhouse-benches --bin remote [-- ROUNDS [MESSAGES]]
//! ```
//!
//! The parent starts the server and a copy of itself as the receiving node, then alternates
//! the raw and the playhouse form of each workload ROUNDS times (default 3) and prints the
//! median of each:
//!
//! - throughput: MESSAGES (default 100,000) 16-byte tells, timed from the first send until the
//!   receiver has counted them all (the raw receiver is a subscription counting messages; ours
//!   is an exported actor counting `Add` tells). The raw loop runs twice: with 16-byte
//!   payloads, and with the bytes one of our tells puts on the wire (its payload's length and
//!   its reply subject, caught by a subscription of the sender's own), the floor for a
//!   message that carries what ours carries;
//! - CPU per message of the sender, the receiver and the server during each throughput loop
//!   (from `/proc`, in 10 ms ticks: Linux only);
//! - latency: 5,000 sequential request/answer round trips (raw: `Client::request` to a
//!   subscription that echoes; ours: `RemoteRef::ask` to an actor that answers).
//!
//! Beside each playhouse figure, the same through a `RemoteActorRef` of the actor's whole
//! message type (`Export::protocol`, the `MessageTarget` path that `#[actor]`'s helpers take):
//! its tells and its asks, which carry the reply port across.

use std::convert::Infallible;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use playhouse::core::System;
use playhouse::nats::testing::TestServer;
use playhouse::nats::{
    Codec, CodecError, Credentials, NatsBroker, NodeConfig, RemoteActorRef, RemoteProtocol,
    RemoteRef, ReplyPort, answer_reply,
};
use playhouse::{Actor, Context, Env, Handler, MessageTarget, Reply, TokioExecutor};
use serde::{Deserialize, Serialize};

const ROUND_TRIPS: usize = 5_000;
const WAIT: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize)]
struct Add([u8; 16]);
#[derive(Serialize, Deserialize)]
struct Get;

enum Msg {
    Add([u8; 16]),
    Get(Reply<u64>),
}

impl From<Add> for Msg {
    fn from(a: Add) -> Msg {
        Msg::Add(a.0)
    }
}

// The whole message type across processes, as `#[actor(remote)]` would write it.
#[derive(Serialize)]
enum WireRef<'a> {
    Add(&'a [u8; 16]),
    Get,
}

#[derive(Deserialize)]
enum Wire {
    Add([u8; 16]),
    Get,
}

impl RemoteProtocol for Msg {
    fn encode<C: Codec>(&self, codec: &C, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let wire = match self {
            Msg::Add(bytes) => WireRef::Add(bytes),
            Msg::Get(_) => WireRef::Get,
        };
        codec.encode(&wire, out)
    }

    fn decode<C: Codec>(
        codec: &C,
        body: &[u8],
        port: &mut ReplyPort<C>,
    ) -> Result<Self, CodecError> {
        Ok(match codec.decode::<Wire>(body)? {
            Wire::Add(bytes) => Msg::Add(bytes),
            Wire::Get => Msg::Get(port.reply()),
        })
    }

    fn answer<C: Codec>(self, codec: &C, body: &[u8]) -> Result<(), CodecError> {
        match self {
            Msg::Get(reply) => answer_reply(reply, codec, body),
            Msg::Add(_) => Ok(()),
        }
    }

    fn is_request(&self) -> bool {
        matches!(self, Msg::Get(_))
    }
}

struct Sink(u64);

impl Actor for Sink {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Sink {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Add(_) => self.0 += 1,
            Msg::Get(reply) => {
                let _ = reply.send(self.0);
            }
        }
        Ok(())
    }
}

fn config(url: &str, ca: &str, user: &str, password: &str, name: &str) -> NodeConfig {
    NodeConfig::new(url)
        .node_name(name)
        .root_certificate(ca)
        .credentials(Credentials::UserPassword {
            user: user.into(),
            password: password.into(),
        })
}

/// The receiving process: a raw counting subscription and echo, and an exported `Sink`.
async fn receiver(url: &str, ca: &str, user: &str, password: &str) {
    let broker = NatsBroker::connect(config(url, ca, user, password, "receiver"))
        .await
        .expect("the receiver connects");
    let client = broker.client().clone();
    let counted = Arc::new(AtomicU64::new(0));
    let mut sink = client.subscribe("bench.raw.sink").await.unwrap();
    let n = Arc::clone(&counted);
    tokio::spawn(async move {
        while sink.next().await.is_some() {
            n.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut count = client.subscribe("bench.raw.count").await.unwrap();
    let (c, n) = (client.clone(), Arc::clone(&counted));
    tokio::spawn(async move {
        while let Some(m) = count.next().await {
            let v = n.load(Ordering::Relaxed).to_le_bytes().to_vec();
            let _ = c.publish(m.reply.unwrap(), v.into()).await;
        }
    });
    let mut echo = client.subscribe("bench.raw.echo").await.unwrap();
    let c = client.clone();
    tokio::spawn(async move {
        while let Some(m) = echo.next().await {
            let _ = c.publish(m.reply.unwrap(), m.payload).await;
        }
    });
    let mut reset = client.subscribe("bench.raw.reset").await.unwrap();
    let (c, n) = (client.clone(), Arc::clone(&counted));
    tokio::spawn(async move {
        while let Some(m) = reset.next().await {
            n.store(0, Ordering::Relaxed);
            let _ = c.publish(m.reply.unwrap(), "ok".into()).await;
        }
    });
    let system = System::with_broker(TokioExecutor::current(), broker.clone());
    let mut round = 0;
    let mut lines = std::io::stdin().lock().lines();
    loop {
        // A fresh sink per round, so that each round counts from zero.
        let sink = system.spawn_with(Sink(0), playhouse::mailbox::Unbounded);
        broker
            .export(&format!("sink{round}"), &sink)
            .tell::<Add>()
            .ask::<Get, u64>(|Get, reply| Msg::Get(reply))
            .protocol()
            .start()
            .await
            .expect("exported");
        client.flush().await.unwrap();
        println!("READY");
        std::io::stdout().flush().unwrap();
        match lines.next() {
            Some(Ok(_)) => {}
            _ => return,
        }
        sink.stop();
        round += 1;
    }
}

/// `messages` tells through `add`, timed until the sink's count (which stood at `already`)
/// shows them all: the rate.
async fn tell_loop(add: &RemoteRef<Add>, get: &RemoteRef<Get>, messages: u64, already: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..messages {
        add.tell(Add([0; 16])).await.unwrap();
    }
    loop {
        let n: u64 = get.ask::<u64>(Get, WAIT).await.unwrap() - already;
        if n >= messages {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "playhouse: {n} of {messages} arrived"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    messages as f64 / start.elapsed().as_secs_f64()
}

/// As [`tell_loop`], through a `RemoteActorRef` of the whole message type.
async fn protocol_tell_loop(
    whole: &RemoteActorRef<Msg>,
    get: &RemoteRef<Get>,
    messages: u64,
    already: u64,
) -> f64 {
    let start = Instant::now();
    for _ in 0..messages {
        if whole.tell(Msg::Add([0; 16])).await.is_err() {
            panic!("a protocol tell failed");
        }
    }
    loop {
        let n: u64 = get.ask::<u64>(Get, WAIT).await.unwrap() - already;
        if n >= messages {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "protocol: {n} of {messages} arrived"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    messages as f64 / start.elapsed().as_secs_f64()
}

/// A raw publish loop of `messages` payloads of `len` bytes to the receiver's counting
/// subscription, with `reply` as reply subject if given: the rate, timed until all arrived.
async fn raw_loop(
    raw: &playhouse::nats::async_nats::Client,
    messages: u64,
    len: usize,
    reply: Option<playhouse::nats::async_nats::Subject>,
) -> f64 {
    raw.request("bench.raw.reset", "".into()).await.unwrap();
    let start = Instant::now();
    for _ in 0..messages {
        let payload = vec![0u8; len].into();
        match &reply {
            Some(reply) => raw
                .publish_with_reply("bench.raw.sink", reply.clone(), payload)
                .await
                .unwrap(),
            None => raw.publish("bench.raw.sink", payload).await.unwrap(),
        }
    }
    loop {
        let m = raw.request("bench.raw.count", "".into()).await.unwrap();
        let n = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
        if n >= messages {
            break;
        }
        assert!(start.elapsed() < WAIT, "raw: {n} of {messages} arrived");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    messages as f64 / start.elapsed().as_secs_f64()
}

/// CPU time (user + system) a process has used so far, in clock ticks (Linux; 0 elsewhere).
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name.
    field(11) + field(12)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--receiver") {
        return receiver(&args[2], &args[3], &args[4], &args[5]).await;
    }
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let messages: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);

    let server = TestServer::start().expect("nats-server (apt-get install nats-server)");
    let ca = server.ca_cert_path().unwrap().display().to_string();
    let (user, password) = (server.user().unwrap(), server.password().unwrap());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--receiver", &server.url(), &ca, user, password])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child_in = child.stdin.take().unwrap();
    let mut child_out = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ready = || loop {
        let line = child_out.next().expect("the receiver runs").unwrap();
        if line == "READY" {
            return;
        }
    };
    ready();

    let me = NatsBroker::connect(config(&server.url(), &ca, user, password, "sender"))
        .await
        .unwrap();
    let raw = me.client().clone();

    // What one of our tells puts on the wire: caught by a subscription of our own under a name
    // as long as the sinks' ("probe", "sink0"), so that the raw loop can send the same bytes.
    let mut probe = raw.subscribe("playhouse.actor.probe").await.unwrap();
    raw.flush().await.unwrap();
    me.remote::<Add>("probe").tell(Add([0; 16])).await.unwrap();
    let sample = probe.next().await.expect("the probe sees the tell");
    drop(probe);
    let (wire_len, wire_reply) = (sample.payload.len(), sample.reply.expect("a reply subject"));

    let (mut raw_rate, mut same_rate, mut our_rate, mut lean_rate, mut whole_rate) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut raw_rtt, mut our_rtt, mut whole_rtt) = (vec![], vec![], vec![]);
    // CPU used by the sender, the receiver and the server during the throughput runs.
    let pids = [std::process::id(), child.id(), server.pid().unwrap_or(0)];
    let ticks = || pids.map(cpu_ticks);
    let (mut raw_cpu, mut same_cpu, mut our_cpu, mut lean_cpu) =
        ([0u64; 3], [0u64; 3], [0u64; 3], [0u64; 3]);
    let add_cpu = |total: &mut [u64; 3], before: [u64; 3]| {
        let after = ticks();
        for i in 0..3 {
            total[i] += after[i] - before[i];
        }
    };
    for round in 0..rounds {
        // Raw publish loop: 16 bytes, no reply subject.
        let before = ticks();
        raw_rate.push(raw_loop(&raw, messages, 16, None).await);
        add_cpu(&mut raw_cpu, before);
        // Raw publish loop with our tell's bytes: its payload's length and its reply subject.
        let before = ticks();
        same_rate.push(raw_loop(&raw, messages, wire_len, Some(wire_reply.clone())).await);
        add_cpu(&mut same_cpu, before);

        // Playhouse tells, then lean ones (no reply subject).
        let name = format!("sink{round}");
        let add = me.remote::<Add>(&name);
        let get = me.remote::<Get>(&name);
        let before = ticks();
        our_rate.push(tell_loop(&add, &get, messages, 0).await);
        add_cpu(&mut our_cpu, before);
        let before = ticks();
        lean_rate.push(tell_loop(&add.clone().lean(), &get, messages, messages).await);
        add_cpu(&mut lean_cpu, before);
        let whole = me.remote_actor::<Msg>(&name);
        whole_rate.push(protocol_tell_loop(&whole, &get, messages, 2 * messages).await);

        // Round trips.
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            raw.request("bench.raw.echo", vec![0u8; 16].into())
                .await
                .unwrap();
        }
        raw_rtt.push(start.elapsed().as_secs_f64() * 1e6 / ROUND_TRIPS as f64);
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            let _: u64 = get.ask(Get, WAIT).await.unwrap();
        }
        our_rtt.push(start.elapsed().as_secs_f64() * 1e6 / ROUND_TRIPS as f64);
        let start = Instant::now();
        for _ in 0..ROUND_TRIPS {
            let _: u64 = whole.ask(Msg::Get).await.ok().unwrap();
        }
        whole_rtt.push(start.elapsed().as_secs_f64() * 1e6 / ROUND_TRIPS as f64);

        writeln!(child_in, "next").unwrap();
        ready();
    }
    drop(child_in);
    let _ = child.wait();

    let (rr, sr, or, lr, rt, ot) = (
        median(raw_rate),
        median(same_rate),
        median(our_rate),
        median(lean_rate),
        median(raw_rtt),
        median(our_rtt),
    );
    let (wr, wt) = (median(whole_rate), median(whole_rtt));
    println!("remote, loopback, TLS, {rounds} rounds, medians");
    println!("| workload | raw async-nats | playhouse | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| tell throughput ({messages} × 16 B) | {rr:.0} msg/s | {or:.0} msg/s | {:.2}× the raw rate |",
        or / rr
    );
    println!(
        "| the same, raw with our tell's bytes ({wire_len} B + a {} B reply subject) | {sr:.0} msg/s | {or:.0} msg/s | {:.2}× that raw rate |",
        wire_reply.len(),
        or / sr
    );
    println!(
        "| lean tell throughput (no reply subject) | {rr:.0} msg/s | {lr:.0} msg/s | {:.2}× the raw rate |",
        lr / rr
    );
    println!(
        "| ask round trip ({ROUND_TRIPS} sequential) | {rt:.1} µs | {ot:.1} µs | {:.2}× the raw latency |",
        ot / rt
    );
    println!(
        "| tell throughput, `RemoteActorRef` (whole protocol) | {rr:.0} msg/s | {wr:.0} msg/s | {:.2}× the raw rate |",
        wr / rr
    );
    println!(
        "| ask round trip, `RemoteActorRef` (reply port across) | {rt:.1} µs | {wt:.1} µs | {:.2}× the raw latency |",
        wt / rt
    );
    // Clock ticks are 10 ms: the figures mean something over a few hundred thousand messages.
    let per_message =
        |cpu: [u64; 3]| cpu.map(|t| t as f64 * 1e4 / (messages as f64 * rounds as f64));
    println!("CPU per message, µs (sender / receiver / server):");
    for (what, cpu) in [
        ("raw, 16 B", raw_cpu),
        ("raw, our bytes", same_cpu),
        ("playhouse tell", our_cpu),
        ("lean tell", lean_cpu),
    ] {
        let c = per_message(cpu);
        println!("  {what:<16} {:.2} / {:.2} / {:.2}", c[0], c[1], c[2]);
    }
}
