//! A chat room across processes: three users, each an actor in a process of its own, join one
//! room (a remote topic on NATS), post lines, and print what they receive.
//!
//! The example is its own cluster: the parent starts a nats-server (TLS, a password user,
//! JetStream; `playhouse::nats::testing::TestServer`), runs three copies of itself as the
//! users, and checks that every user saw every line, in each poster's order.
//!
//! Run with `cargo run --example cluster_chat --features nats-test-server` (needs `nats-server`
//! on the `PATH`: `apt-get install nats-server`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use playhouse::core::{System, Topic};
use playhouse::nats::testing::TestServer;
use playhouse::nats::{Credentials, NatsBroker, NodeConfig};
use playhouse::prelude::*;

const USERS: usize = 3;
const LINES: usize = 3;
const ROOM: &str = "chat.lobby";

/// A line a user process wrote: who, and the line.
type Said = (String, String);

/// A user in the room: prints each line it receives, and counts them.
struct User {
    name: String,
    received: Vec<String>,
}

#[actor]
impl User {
    /// A line of the room, from any process: `from` makes `UserMsg` convert from the `String`
    /// a remote topic of lines delivers.
    #[message(from)]
    fn line(&mut self, line: String) {
        println!("[{}] {line}", self.name);
        self.received.push(line);
    }

    /// How many lines it has received.
    #[message]
    fn received(&self) -> usize {
        self.received.len()
    }
}

fn main() {
    match std::env::var("CHAT_USER_NAME") {
        Ok(name) => user(name),
        Err(_) => host(),
    }
}

/// The parent: a server, three users, and the check.
fn host() {
    let server = TestServer::start().unwrap_or_else(|e| panic!("cannot start nats-server: {e}"));
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    // The host joins the cluster first: it makes the cluster's buckets, so the users do not
    // race to.
    let host = runtime
        .block_on(NatsBroker::connect(config(
            &server.url(),
            "host",
            server.user().zip(server.password()),
            server.ca_cert_path(),
        )))
        .expect("the host connects");

    let exe = std::env::current_exe().expect("this example's path");
    let (lines_tx, lines) = mpsc::channel::<Said>();
    let mut users = Vec::new();
    for i in 0..USERS {
        let name = format!("user{i}");
        let mut command = Command::new(&exe);
        command
            .env("CHAT_USER_NAME", &name)
            .env("CHAT_URL", server.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if let (Some(user), Some(password)) = (server.user(), server.password()) {
            command
                .env("CHAT_NATS_USER", user)
                .env("CHAT_NATS_PASSWORD", password);
        }
        if let Some(ca) = server.ca_cert_path() {
            command.env("CHAT_CA", ca);
        }
        let mut child = command.spawn().expect("a user process");
        let stdout = child.stdout.take().expect("piped");
        let tx = lines_tx.clone();
        let who = name.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send((who.clone(), line));
            }
        });
        users.push((name, child));
    }
    drop(lines_tx);

    // Everyone joins, then everyone posts.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut transcript: Vec<Said> = Vec::new();
    let mut wait_for = |what: &dyn Fn(&[Said]) -> bool| {
        while !what(&transcript) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok((who, line)) => {
                    println!("{who} | {line}");
                    transcript.push((who, line));
                }
                Err(_) => panic!("the users did not finish; so far: {transcript:#?}"),
            }
        }
    };
    wait_for(&|t| t.iter().filter(|(_, l)| l == "JOINED").count() == USERS);
    for (_, child) in &mut users {
        let stdin = child.stdin.as_mut().expect("piped");
        writeln!(stdin, "POST").expect("the user reads its stdin");
    }
    wait_for(&|t| t.iter().filter(|(_, l)| l.starts_with("DONE")).count() == USERS);
    for (name, mut child) in users {
        drop(child.stdin.take());
        let status = child.wait().expect("the user exits");
        assert!(status.success(), "{name} failed: {status}");
    }

    // Every user saw every line, each poster's lines in the order posted.
    for (name, _) in transcript.iter().filter(|(_, l)| l == "JOINED") {
        let seen: Vec<&str> = transcript
            .iter()
            .filter(|(who, line)| who == name && line.starts_with('['))
            .map(|(_, line)| line.split_once("] ").expect("[user] line").1)
            .collect();
        assert_eq!(seen.len(), USERS * LINES, "{name} saw {seen:?}");
        for poster in 0..USERS {
            let from: Vec<&str> = seen
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("user{poster}:")))
                .collect();
            let posted: Vec<String> = (0..LINES)
                .map(|k| format!("user{poster}: line {k}"))
                .collect();
            assert_eq!(from, posted, "{name}'s view of user{poster}");
        }
    }
    runtime.block_on(host.leave());
    println!("every user saw all {} lines", USERS * LINES);
}

/// A child: one user of the room.
#[tokio::main]
async fn user(name: String) {
    let var = |key: &str| std::env::var(key).ok();
    let credentials = var("CHAT_NATS_USER").zip(var("CHAT_NATS_PASSWORD"));
    let ca = var("CHAT_CA").map(std::path::PathBuf::from);
    let url = var("CHAT_URL").expect("CHAT_URL");
    let broker = NatsBroker::connect(config(
        &url,
        &name,
        credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        ca.as_deref(),
    ))
    .await
    .expect("the user connects");
    let system = System::with_broker(TokioExecutor::current(), broker.clone());
    let me = system.spawn(User {
        name: name.clone(),
        received: Vec::new(),
    });
    let room: Topic<String> = Topic::new(ROOM);
    broker
        .subscribe_remote(&room, &me)
        .await
        .expect("joined the room");
    say("JOINED");

    // Post once the host says everyone has joined.
    let mut command = String::new();
    std::io::stdin()
        .read_line(&mut command)
        .expect("the host writes");
    for k in 0..LINES {
        broker
            .publish_remote(&room, format!("{name}: line {k}"))
            .await
            .expect("posted");
    }
    // Stay until every line of every user has arrived.
    loop {
        let received = me.received().await.expect("the user answers");
        if received == USERS * LINES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    say(format_args!("DONE {name}"));
    broker.leave().await;
}

fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn config(
    url: &str,
    name: &str,
    credentials: Option<(&str, &str)>,
    ca: Option<&std::path::Path>,
) -> NodeConfig {
    let mut config = NodeConfig::new(url).node_name(name);
    if let Some((user, password)) = credentials {
        config = config.credentials(Credentials::UserPassword {
            user: user.to_owned(),
            password: password.to_owned(),
        });
    }
    if let Some(ca) = ca {
        config = config.root_certificate(ca);
    }
    config
}
