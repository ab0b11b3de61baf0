//! What the pub/sub, pool and mixed-runtime tests share: node configurations for the test
//! server (in the parent and in a child node) and one recording actor.

// Each test binary that declares `mod nodes;` uses a part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::Write;
use std::time::Duration;

use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
use playhouse_executors::TokioExecutor;
use playhouse_nats::testing::TestServer;
use playhouse_nats::{Credentials, NatsBroker, NodeConfig};
use serde::{Deserialize, Serialize};

use crate::support::Node;

/// A generous bound for one remote ask in a test.
pub const ASK: Duration = Duration::from_secs(10);

/// A node configuration for `server` (TLS, the server's user), named `name`.
pub fn config(server: &TestServer, name: &str) -> NodeConfig {
    let mut config = NodeConfig::new(server.url()).node_name(name);
    if let (Some(user), Some(password)) = (server.user(), server.password()) {
        config = config.credentials(Credentials::UserPassword {
            user: user.to_owned(),
            password: password.to_owned(),
        });
    }
    if let Some(ca) = server.ca_cert_path() {
        config = config.root_certificate(ca);
    }
    config
}

/// A test server (TLS, a password user, JetStream); panics if it cannot start.
pub fn server() -> TestServer {
    TestServer::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A node named `name` on `server` ([`config`]); panics, with the server's log, if it cannot
/// connect.
pub async fn connect(server: &TestServer, name: &str) -> NatsBroker {
    NatsBroker::connect(config(server, name))
        .await
        .unwrap_or_else(|e| panic!("node {name}: {e}\n{}", server.log()))
}

/// A child node's broker, named as its role ([`child_config`]), and a Tokio `System` on it.
///
/// It says on stderr when it connected, and panics (with that in its transcript) if the
/// connection takes longer than [`STEP`](crate::support::STEP) twice: a child that never
/// prints `READY` then shows whether it was still connecting.
pub async fn child_system(node: &Node) -> (NatsBroker, System<TokioExecutor, NatsBroker>) {
    eprintln!("connecting as {}", node.role);
    let connecting = NatsBroker::connect(child_config(node, &node.role));
    let broker = tokio::time::timeout(crate::support::STEP * 2, connecting)
        .await
        .unwrap_or_else(|_| panic!("{}: connect did not finish", node.role))
        .expect("connect");
    eprintln!("connected as {}", node.role);
    let system = system(&broker);
    (broker, system)
}

/// A `System` on the current Tokio runtime, with `broker`.
pub fn system(broker: &NatsBroker) -> System<TokioExecutor, NatsBroker> {
    System::with_broker(TokioExecutor::current(), broker.clone())
}

/// The same, in a child node, from what the parent passed.
pub fn child_config(node: &Node, name: &str) -> NodeConfig {
    let url = node.url.clone().expect("the parent gives a server URL");
    let mut config = NodeConfig::new(url).node_name(name);
    if let (Some(user), Some(password)) = (&node.user, &node.password) {
        config = config.credentials(Credentials::UserPassword {
            user: user.clone(),
            password: password.clone(),
        });
    }
    if let Some(ca) = &node.ca_cert_path {
        config = config.root_certificate(ca);
    }
    config
}

/// A line posted on a topic, or told to an actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note(pub String);

/// Another type, published under a topic's name to see it refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Other(pub u64, pub u64, pub u64);

/// A job for a pool member, or a request to an exported actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job(pub u32);

/// Which node's actor handled a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub node: String,
    pub job: u32,
}

pub enum Msg {
    Note(Note),
    Work(Job),
    Job(Job, Reply<Done>),
    Seen(Reply<Vec<String>>),
    Count(Reply<u32>),
}

impl From<Note> for Msg {
    fn from(n: Note) -> Msg {
        Msg::Note(n)
    }
}

/// For the in-memory broker's `subscribe`, which hands an undelivered copy back.
impl TryFrom<Msg> for Note {
    type Error = Msg;
    fn try_from(m: Msg) -> Result<Note, Msg> {
        match m {
            Msg::Note(n) => Ok(n),
            other => Err(other),
        }
    }
}

impl From<Job> for Msg {
    fn from(j: Job) -> Msg {
        Msg::Work(j)
    }
}

/// Records the notes it gets and counts the jobs it handles. In a child node (`print`) it
/// writes `NOTE <label> <text>` and `JOB <label> <n>` lines for the parent.
pub struct Recorder {
    pub label: String,
    pub print: bool,
    pub notes: Vec<String>,
    pub jobs: u32,
}

impl Recorder {
    pub fn new(label: &str, print: bool) -> Self {
        Recorder {
            label: label.to_owned(),
            print,
            notes: Vec::new(),
            jobs: 0,
        }
    }

    fn line(&self, line: String) {
        if self.print {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

impl Actor for Recorder {
    type Message = Msg;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Recorder {
    async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        match msg {
            Msg::Note(Note(text)) => {
                self.line(format!("NOTE {} {text}", self.label));
                self.notes.push(text);
            }
            Msg::Work(Job(n)) => {
                self.jobs += 1;
                self.line(format!("JOB {} {n}", self.label));
            }
            Msg::Job(Job(n), reply) => {
                self.jobs += 1;
                self.line(format!("JOB {} {n}", self.label));
                let _ = reply.send(Done {
                    node: self.label.clone(),
                    job: n,
                });
            }
            Msg::Seen(reply) => {
                let _ = reply.send(self.notes.clone());
            }
            Msg::Count(reply) => {
                let _ = reply.send(self.jobs);
            }
        }
        Ok(())
    }
}
