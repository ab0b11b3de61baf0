//! Multi-process tests: nodes in OS processes of their own, talking to a [`TestServer`].
//!
//! The test binary runs itself again. A child is the same binary started with
//! `--exact <entry> --nocapture --test-threads=1 --quiet`, so that it runs one test, the
//! *entry*, with environment variables that say it is a node (its role, the server's URL, CA,
//! user, password, and whatever else the parent adds). The entry is an ordinary `#[test]` that returns at once
//! in the parent run, where [`node`] is `None`:
//!
//! ```ignore
//! mod support;
//!
//! #[tokio::test]
//! async fn echo_node() {
//!     let Some(mut node) = support::node() else { return };
//!     let client = node.connect().await;
//!     // ... subscribe, serve ...
//!     node.emit("READY");
//!     while let Some(command) = node.next_command().await {
//!         node.emit(format!("EVENT got {command}"));
//!     }
//! }
//!
//! #[tokio::test]
//! async fn a_node_answers() {
//!     let server = TestServer::start().expect("nats-server");
//!     let mut echo = support::spawn_node("echo_node", "echo", &server, &[]);
//!     echo.wait_for_line("READY", support::STARTUP).await;
//!     echo.send_line("hello");
//!     echo.wait_for_line("EVENT got hello", support::STEP).await;
//!     echo.kill_hard();
//! }
//! ```
//!
//! The protocol is lines: the child writes them to its stdout ([`Node::emit`]) and the parent
//! waits for them ([`NodeProcess::wait_for_line`]); the parent writes lines to the child's stdin
//! ([`NodeProcess::send_line`]) and the child reads them ([`Node::next_command`]). Other output
//! (libtest's own lines, a panic's message) is kept in a transcript that the parent's failure
//! messages print.
//!
//! A child exits as soon as its stdin closes: when the parent drops the [`NodeProcess`], calls
//! [`NodeProcess::close_stdin`], or dies, so no node outlives its test.

// Each test binary that declares `mod support;` uses a part of it.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use playhouse_nats::RemoteRef;
use playhouse_nats::testing::TestServer;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Set in a child: its role. Its presence is what makes a process a node.
pub const ROLE_ENV: &str = "PLAYHOUSE_NATS_NODE_ROLE";
/// Set in a child: the server's URL.
pub const URL_ENV: &str = "PLAYHOUSE_NATS_NODE_URL";
/// Set in a child when the server has TLS: the CA's PEM file.
pub const CA_ENV: &str = "PLAYHOUSE_NATS_NODE_CA";
/// Set in a child when the server has a password user.
pub const USER_ENV: &str = "PLAYHOUSE_NATS_NODE_USER";
/// Set in a child when the server has a password user.
pub const PASSWORD_ENV: &str = "PLAYHOUSE_NATS_NODE_PASSWORD";
/// Set in a child when the server has an nkey user.
pub const NKEY_ENV: &str = "PLAYHOUSE_NATS_NODE_NKEY";

/// A generous wait for a child to start and connect (a loaded CI machine, a debug build).
pub const STARTUP: Duration = Duration::from_secs(30);
/// A generous wait for one step of a protocol.
pub const STEP: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The child's side.

/// What the parent gave this process, when it is a node; `None` in the parent's own run of the
/// entry test, which then returns at once.
///
/// In a child it starts a thread that reads stdin (so call it once): lines go to
/// [`Node::next_command`], and end of file exits the process.
pub fn node() -> Option<Node> {
    let role = std::env::var(ROLE_ENV).ok()?;
    // Whatever libtest printed last, the protocol's lines start on a line of their own.
    println!();
    let var = |name: &str| std::env::var(name).ok();
    let (sender, commands) = mpsc::unbounded_channel();
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            // The receiver may be gone; the process then ignores commands until EOF.
            let _ = sender.send(line);
        }
        // The parent dropped its `NodeProcess`, closed our stdin, or died.
        std::process::exit(0);
    });
    Some(Node {
        url: var(URL_ENV),
        ca_cert_path: var(CA_ENV).map(PathBuf::from),
        user: var(USER_ENV),
        password: var(PASSWORD_ENV),
        nkey: var(NKEY_ENV),
        role,
        commands,
    })
}

/// A child's view of its parameters and its line protocol; from [`node`].
#[derive(Debug)]
pub struct Node {
    /// The role the parent gave ([`spawn_node`]'s `role`).
    pub role: String,
    /// The server's URL (`None` for a child spawned by [`spawn_child`] without one).
    pub url: Option<String>,
    /// The CA to trust, with TLS.
    pub ca_cert_path: Option<PathBuf>,
    /// The user, with password authentication.
    pub user: Option<String>,
    /// The password, with password authentication.
    pub password: Option<String>,
    /// The nkey seed, with nkey authentication.
    pub nkey: Option<String>,
    commands: mpsc::UnboundedReceiver<String>,
}

impl Node {
    /// The same options as [`TestServer::connect_options`], from the environment.
    pub fn connect_options(&self) -> async_nats::ConnectOptions {
        let mut options = async_nats::ConnectOptions::new().name(format!("node {}", self.role));
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.clone());
        } else if let Some(nkey) = &self.nkey {
            options = options.nkey(nkey.clone());
        }
        if let Some(ca) = &self.ca_cert_path {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        options
    }

    /// Connects to the server; panics (failing the child, which the parent sees) if it cannot.
    pub async fn connect(&self) -> async_nats::Client {
        let url = self
            .url
            .as_deref()
            .unwrap_or_else(|| panic!("node {}: the parent gave no server URL", self.role));
        self.connect_options()
            .connect(url)
            .await
            .unwrap_or_else(|error| panic!("node {} cannot connect to {url}: {error}", self.role))
    }

    /// An extra variable the parent passed in `extra_env`; panics if it did not.
    pub fn var(&self, name: &str) -> String {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("node {}: the parent did not set {name}", self.role))
    }

    /// Writes one protocol line to stdout, where the parent reads it.
    pub fn emit(&self, line: impl Display) {
        let mut stdout = std::io::stdout().lock();
        // The parent reads until it has what it waits for; if it is gone, so is the test.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// The next line the parent sent. It never returns `None` in practice: when stdin closes
    /// the process exits.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a line is consumed only when this returns it.
    pub async fn next_command(&mut self) -> Option<String> {
        self.commands.recv().await
    }
}

// ---------------------------------------------------------------------------------------------
// The parent's side.

/// Starts this test binary again, running only the test `entry` as a node with `role`,
/// connected (by [`Node::connect`]) to `server`; `extra_env` adds variables that the child reads
/// with [`Node::var`].
///
/// `entry` is the test's path inside the test binary (a function at the top of
/// `tests/foo.rs` is just its name).
pub fn spawn_node(
    entry: &str,
    role: &str,
    server: &TestServer,
    extra_env: &[(&str, &str)],
) -> NodeProcess {
    let url = server.url();
    let ca = server.ca_cert_path().map(|path| path.display().to_string());
    let mut env = vec![(URL_ENV, url.as_str())];
    let optional = [
        (CA_ENV, ca.as_deref()),
        (USER_ENV, server.user()),
        (PASSWORD_ENV, server.password()),
        (NKEY_ENV, server.nkey_seed()),
    ];
    env.extend(
        optional
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
    );
    env.extend_from_slice(extra_env);
    spawn_child(entry, role, &env)
}

/// [`spawn_node`] without a server: only the role and `env` are set (for a child that starts
/// its own server, or needs none).
pub fn spawn_child(entry: &str, role: &str, env: &[(&str, &str)]) -> NodeProcess {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        // `--quiet`: libtest prints nothing before the test runs (else `test NAME ... ` would
        // begin the child's first line).
        .args([
            "--exact",
            entry,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(ROLE_ENV, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The child's own variables, not any left in the parent's environment.
    for name in [URL_ENV, CA_ENV, USER_ENV, PASSWORD_ENV, NKEY_ENV] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("spawning node {role} ({entry}): {error}"));

    let transcript = Arc::new(Mutex::new(String::new()));
    let (sender, lines) = mpsc::unbounded_channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stdout_transcript = Arc::clone(&transcript);
    thread::spawn(move || pump(stdout, &stdout_transcript, "", Some(sender)));
    let stderr = child.stderr.take().expect("piped stderr");
    let stderr_transcript = Arc::clone(&transcript);
    thread::spawn(move || pump(stderr, &stderr_transcript, "stderr| ", None));

    NodeProcess {
        role: role.to_owned(),
        entry: entry.to_owned(),
        stdin: child.stdin.take(),
        child,
        lines,
        transcript,
        exit: None,
    }
}

/// Reads `output` line by line until it closes: each line into the transcript (after `prefix`)
/// and, if there is a `sender`, to the parent's [`NodeProcess::wait_for_line`].
fn pump(
    output: impl Read,
    transcript: &Mutex<String>,
    prefix: &str,
    sender: Option<mpsc::UnboundedSender<String>>,
) {
    let mut reader = BufReader::new(output);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\n', '\r']);
        {
            let mut transcript = transcript
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            transcript.push_str(prefix);
            transcript.push_str(line);
            transcript.push('\n');
        }
        if let Some(sender) = &sender {
            // The `NodeProcess` may be gone; the child is being killed then.
            let _ = sender.send(line.to_owned());
        }
    }
}

/// A node running in a child process; killed (and waited for) on drop.
#[derive(Debug)]
pub struct NodeProcess {
    role: String,
    entry: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    transcript: Arc<Mutex<String>>,
    exit: Option<ExitStatus>,
}

impl NodeProcess {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The role it was spawned with.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Waits for the next stdout line that starts with `prefix` and returns it whole; the lines
    /// before it are consumed (they stay in the transcript). Panics, printing the transcript,
    /// if `timeout` passes or the child's stdout closes first (it exited: a panic in the child,
    /// an entry name that matches no test).
    ///
    /// # Cancel safety
    ///
    /// Lines read before a cancellation are consumed.
    pub async fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        match self.try_wait_for_line(prefix, timeout).await {
            Ok(line) => line,
            Err(why) => panic!(
                "node {} ({}): {why} while waiting for a line starting with {prefix:?}; its \
                 output:\n{}",
                self.role,
                self.entry,
                self.transcript()
            ),
        }
    }

    /// [`wait_for_line`](Self::wait_for_line) that says why it found nothing instead of
    /// panicking: `"timed out"` or `"its stdout closed (status ...)"`.
    pub async fn try_wait_for_line(
        &mut self,
        prefix: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line.starts_with(prefix) => return Ok(line),
                Ok(Some(_)) => {}
                Ok(None) => {
                    let status = self.wait_exit(Duration::from_secs(5)).await;
                    return Err(format!("its stdout closed (status {status:?})"));
                }
                Err(_elapsed) => return Err(format!("timed out after {timeout:?}")),
            }
        }
    }

    /// Writes one line to the child's stdin ([`Node::next_command`]). Panics if the child is
    /// gone.
    pub fn send_line(&mut self, line: impl Display) {
        let stdin = self.stdin.as_mut().expect("stdin was closed");
        let written = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        if let Err(error) = written {
            panic!(
                "node {}: writing to its stdin: {error}; its output:\n{}",
                self.role,
                self.transcript()
            );
        }
    }

    /// Closes the child's stdin, which makes it exit (status 0) at once.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Kills the child without warning (SIGKILL on Unix: no destructor, no goodbye to the
    /// server) and waits for it; returns how it ended.
    pub fn kill_hard(&mut self) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => {
                self.exit = Some(status);
                status
            }
            Err(error) => panic!("node {}: waiting for it after SIGKILL: {error}", self.role),
        }
    }

    /// Waits for the child to exit by itself; panics, printing the transcript, after
    /// `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_exit(timeout).await {
            Some(status) => status,
            None => panic!(
                "node {} ({}) still runs after {timeout:?}; its output:\n{}",
                self.role,
                self.entry,
                self.transcript()
            ),
        }
    }

    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit {
                return Some(status);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything the child wrote so far: stdout lines as they are, stderr lines after
    /// `stderr| `.
    pub fn transcript(&self) -> String {
        self.transcript
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Drop for NodeProcess {
    /// Kills the child and waits for it: no zombie, no node left behind.
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Traffic.

/// Sends `count` acknowledged tells of `make()` to `to`, 10 ms apart, each waiting at most
/// 500 ms for its acknowledgement, on a task of its own (traffic while a server goes down and
/// comes back); the task returns how many were acknowledged.
pub fn acked_traffic<M: Serialize + Send + 'static>(
    to: &RemoteRef<M>,
    count: u32,
    make: impl Fn() -> M + Send + 'static,
) -> tokio::task::JoinHandle<u64> {
    let to = to.clone();
    tokio::spawn(async move {
        let mut acked = 0u64;
        for _ in 0..count {
            if to
                .tell_acked(make(), Duration::from_millis(500))
                .await
                .is_ok()
            {
                acked += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        acked
    })
}
