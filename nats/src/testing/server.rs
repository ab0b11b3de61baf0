//! [`TestServer`]: a `nats-server` process of a test's own.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::binary;
use super::builder::TestServerBuilder;
use super::certs::{self, Certificates};
use super::conf::ServerConf;
use super::error::TestServerError;
use super::random::random_hex;
use super::temp_dir::TempDir;

/// What nats-server logs once it accepts client connections.
const READY_LINE: &str = "Server is ready";

/// How long [`TestServer::stop`] waits for a graceful exit before it kills.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A free port is chosen, then given to nats-server; another process can take it in between.
/// That many tries before the failure is reported.
const PORT_TRIES: usize = 3;

/// A real `nats-server` on 127.0.0.1, in a temporary directory of its own, killed and removed on
/// drop.
///
/// By default it runs JetStream, requires TLS (with a certificate signed by a CA made for it)
/// and authenticates one user by password. [`connect`](Self::connect) and
/// [`connect_options`](Self::connect_options) give a client everything it needs.
///
/// The binary is `$NATS_SERVER` if set, else `nats-server` on `PATH` (or in `/usr/sbin`,
/// `/usr/local/bin`). Without it every constructor fails with
/// [`TestServerError::NotInstalled`]: a test that needs a server fails, it does not skip.
///
/// ```
/// use playhouse_nats::testing::TestServer;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::start()?;
/// let client = server.connect().await?;
///
/// let mut requests = client.subscribe("echo").await?;
/// let responder = client.clone();
/// tokio::spawn(async move {
///     use futures::StreamExt;
///     while let Some(request) = requests.next().await {
///         let reply = request.reply.expect("a request has a reply subject");
///         responder.publish(reply, request.payload).await.expect("publish");
///     }
/// });
///
/// let reply = client.request("echo", "hello".into()).await?;
/// assert_eq!(&reply.payload[..], b"hello");
/// # Ok(())
/// # }
/// ```
///
/// A client that does not authenticate is refused:
///
/// ```
/// use async_nats::{ConnectErrorKind, ConnectOptions};
/// use playhouse_nats::testing::TestServer;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::start()?;
/// let ca = server.ca_cert_path().expect("TLS is on by default");
/// let error = ConnectOptions::new()
///     .add_root_certificates(ca.to_path_buf())
///     .require_tls(true)
///     .connect(server.url())
///     .await
///     .unwrap_err();
/// assert_eq!(error.kind(), ConnectErrorKind::AuthorizationViolation);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestServer {
    process: Option<Child>,
    binary: PathBuf,
    port: u16,
    tls: Option<Certificates>,
    user_password: Option<(String, String)>,
    nkey: Option<NkeyUser>,
    jetstream_store: Option<PathBuf>,
    max_payload: Option<usize>,
    conf_path: PathBuf,
    log_path: PathBuf,
    startup_timeout: Duration,
    // Last: removed once the process is gone (`Drop::drop` kills it before the fields drop).
    dir: TempDir,
}

/// An nkey user: the seed a client signs with, the public key the server knows.
#[derive(Debug)]
struct NkeyUser {
    seed: String,
    public: String,
}

impl TestServer {
    /// Starts a server with the defaults (JetStream, TLS, a user with a password, a free port)
    /// and returns once it accepts connections.
    ///
    /// It blocks the calling thread while it waits for the server (tens of milliseconds), which
    /// an async test can afford.
    ///
    /// # Errors
    ///
    /// - [`TestServerError::NotInstalled`]: no `nats-server` binary.
    /// - [`TestServerError::Exited`], [`TestServerError::StartupTimeout`]: it did not become
    ///   ready; the error carries its log.
    /// - [`TestServerError::Io`], [`TestServerError::Certificates`]: the temporary directory,
    ///   its files or the process could not be made.
    pub fn start() -> Result<TestServer, TestServerError> {
        TestServer::builder().start()
    }

    /// Options other than the defaults: see [`TestServerBuilder`].
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    pub(crate) fn from_builder(builder: TestServerBuilder) -> Result<TestServer, TestServerError> {
        let binary = binary::find()?;
        let dir = TempDir::new()
            .map_err(|error| TestServerError::io("making a temporary directory", error))?;
        let tls = if builder.tls {
            Some(certs::write(dir.path())?)
        } else {
            None
        };
        let user_password = builder.user_password.then(|| {
            (
                "playhouse".to_owned(),
                format!("{}{}", random_hex(), random_hex()),
            )
        });
        let nkey = if builder.nkey {
            let key_pair = nkeys::KeyPair::new_user();
            let seed = key_pair
                .seed()
                .map_err(|error| TestServerError::Certificates {
                    reason: format!("making an nkey: {error}"),
                })?;
            Some(NkeyUser {
                seed,
                public: key_pair.public_key(),
            })
        } else {
            None
        };
        let mut server = TestServer {
            process: None,
            binary,
            port: builder.port.unwrap_or(0),
            tls,
            user_password,
            nkey,
            jetstream_store: builder.jetstream.then(|| dir.path().join("jetstream")),
            max_payload: builder.max_payload,
            conf_path: dir.path().join("nats-server.conf"),
            log_path: dir.path().join("nats-server.log"),
            startup_timeout: builder.startup_timeout,
            dir,
        };
        let tries = if builder.port.is_some() {
            1
        } else {
            PORT_TRIES
        };
        let mut try_number = 1;
        loop {
            if builder.port.is_none() {
                server.port = free_port()?;
            }
            server.write_conf()?;
            match server.launch() {
                Err(TestServerError::Exited { log, .. })
                    if try_number < tries && log.contains("address already in use") =>
                {
                    try_number += 1;
                }
                result => return result.map(|()| server),
            }
        }
    }

    /// The URL to connect to: `tls://127.0.0.1:PORT`, or `nats://127.0.0.1:PORT` with TLS off.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port it listens on, on 127.0.0.1; the same after a [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the CA that signed the server's certificate, for
    /// [`ConnectOptions::add_root_certificates`](async_nats::ConnectOptions::add_root_certificates);
    /// `None` with TLS off.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca_cert.as_path())
    }

    /// The user name (`playhouse`); `None` with password authentication off.
    pub fn user(&self) -> Option<&str> {
        self.user_password.as_ref().map(|(user, _)| user.as_str())
    }

    /// The user's password, random per server; `None` with password authentication off.
    pub fn password(&self) -> Option<&str> {
        self.user_password
            .as_ref()
            .map(|(_, password)| password.as_str())
    }

    /// The nkey user's seed (`SU...`), for
    /// [`ConnectOptions::nkey`](async_nats::ConnectOptions::nkey); `None` unless
    /// [`TestServerBuilder::nkey`] turned it on.
    pub fn nkey_seed(&self) -> Option<&str> {
        self.nkey.as_ref().map(|nkey| nkey.seed.as_str())
    }

    /// The nkey user's public key (`U...`), as the server's configuration names it.
    pub fn nkey_public_key(&self) -> Option<&str> {
        self.nkey.as_ref().map(|nkey| nkey.public.as_str())
    }

    /// Options with which a client connects to [`url`](Self::url): the user and password (or,
    /// without them, the nkey), the CA as the only root and TLS required. Everything else is
    /// async-nats' default, so a client reconnects by itself after a [`restart`](Self::restart).
    ///
    /// ```
    /// use playhouse_nats::testing::TestServer;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TestServer::start()?;
    /// let client = server
    ///     .connect_options()
    ///     .name("a test client")
    ///     .connect(server.url())
    ///     .await?;
    /// client.flush().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_options(&self) -> async_nats::ConnectOptions {
        let mut options = async_nats::ConnectOptions::new();
        if let Some((user, password)) = &self.user_password {
            options = options.user_and_password(user.clone(), password.clone());
        } else if let Some(nkey) = &self.nkey {
            options = options.nkey(nkey.seed.clone());
        }
        if let Some(tls) = &self.tls {
            options = options
                .add_root_certificates(tls.ca_cert.clone())
                .require_tls(true);
        }
        options
    }

    /// A [`NodeConfig`](crate::NodeConfig) for a node named `node` on this server: its URL, its
    /// CA, its password user (or nkey), TLS required unless the server has none.
    ///
    /// ```
    /// use playhouse_nats::NatsBroker;
    /// use playhouse_nats::testing::TestServer;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TestServer::start()?;
    /// let node = NatsBroker::connect(server.node_config("node-1")).await?;
    /// assert_eq!(node.members(), ["node-1"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn node_config(&self, node: &str) -> crate::NodeConfig {
        let mut config = crate::NodeConfig::new(self.url()).node_name(node);
        if let Some((user, password)) = &self.user_password {
            config = config.credentials(crate::Credentials::UserPassword {
                user: user.clone(),
                password: password.clone(),
            });
        } else if let Some(nkey) = &self.nkey {
            config = config.credentials(crate::Credentials::NKey {
                seed: nkey.seed.clone(),
            });
        }
        match &self.tls {
            Some(tls) => config.root_certificate(tls.ca_cert.clone()),
            None => config.allow_plaintext(),
        }
    }

    /// Connects a client with [`connect_options`](Self::connect_options).
    ///
    /// # Errors
    ///
    /// async-nats' [`ConnectError`](async_nats::ConnectError), as for any connection.
    pub async fn connect(&self) -> Result<async_nats::Client, async_nats::ConnectError> {
        self.connect_options().connect(self.url()).await
    }

    /// Everything the server has logged, over all its starts: for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.log_path, 0)
    }

    /// The log file, in the server's temporary directory.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server's temporary directory (configuration, certificates, log, JetStream store),
    /// removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Whether the process is still running (it can have died by itself, or been
    /// [`kill`](Self::kill)ed or [`stop`](Self::stop)ped).
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) => {
                self.process = None;
                false
            }
            None => false,
        }
    }

    /// Kills the process (SIGKILL on Unix: a crash, as far as clients and JetStream can tell)
    /// and waits for it to be gone. Does nothing if it is not running.
    ///
    /// ```
    /// use playhouse_nats::testing::TestServer;
    ///
    /// let mut server = TestServer::start()?;
    /// server.kill();
    /// assert!(!server.is_running());
    /// assert_eq!(server.pid(), None);
    /// # Ok::<(), playhouse_nats::testing::TestServerError>(())
    /// ```
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Stops the process gracefully (SIGINT, by `nats-server --signal quit=PID`: it closes
    /// client connections and flushes JetStream), kills it if it has not exited after 10
    /// seconds, and waits for it to be gone. Does nothing if it is not running.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        let signalled = Command::new(&self.binary)
            .arg("--signal")
            .arg(format!("quit={}", process.id()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if signalled {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = process.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = process.kill();
        let _ = process.wait();
    }

    /// Kills the server if it runs and starts it again on the same port, with the same
    /// configuration, credentials, certificates and JetStream store; returns once it accepts
    /// connections. Clients made with [`connect_options`](Self::connect_options) reconnect by
    /// themselves.
    ///
    /// ```
    /// use futures::StreamExt;
    /// use playhouse_nats::testing::TestServer;
    /// use std::sync::atomic::Ordering;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut server = TestServer::start()?;
    /// let client = server.connect().await?;
    /// let mut greetings = client.subscribe("greetings").await?;
    ///
    /// server.restart()?;
    ///
    /// // The client reconnects by itself (its second connection) and subscribes again.
    /// while client.statistics().connects.load(Ordering::Relaxed) < 2 {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    /// }
    /// client.publish("greetings", "hello again".into()).await?;
    /// let greeting = greetings.next().await.expect("the subscription lives on");
    /// assert_eq!(&greeting.payload[..], b"hello again");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`TestServerError::Exited`] (the port was taken meanwhile, say) or
    /// [`TestServerError::StartupTimeout`], with the log of this start; [`TestServerError::Io`]
    /// if the process could not be spawned.
    pub fn restart(&mut self) -> Result<(), TestServerError> {
        self.kill();
        self.launch()
    }

    fn write_conf(&self) -> Result<(), TestServerError> {
        let conf = ServerConf {
            port: self.port,
            max_payload: self.max_payload,
            jetstream_store: self.jetstream_store.as_deref(),
            tls: self.tls.as_ref(),
            user_password: self
                .user_password
                .as_ref()
                .map(|(user, password)| (user.as_str(), password.as_str())),
            nkey: self.nkey.as_ref().map(|nkey| nkey.public.as_str()),
        };
        fs::write(&self.conf_path, conf.render()).map_err(|error| {
            TestServerError::io(format!("writing {}", self.conf_path.display()), error)
        })
    }

    /// Spawns the process, its output appended to the log, and waits until it logs that it is
    /// ready, exits, or the startup timeout passes (then it is killed).
    fn launch(&mut self) -> Result<(), TestServerError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|error| {
                TestServerError::io(format!("opening {}", self.log_path.display()), error)
            })?;
        let from = log
            .metadata()
            .map_err(|error| TestServerError::io("reading the log's length", error))?
            .len();
        let stderr = log
            .try_clone()
            .map_err(|error| TestServerError::io("duplicating the log's handle", error))?;
        let process = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.conf_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|error| {
                TestServerError::io(format!("spawning {}", self.binary.display()), error)
            })?;
        let process = self.process.insert(process);

        let started = Instant::now();
        loop {
            if read_log(&self.log_path, from).contains(READY_LINE) {
                return Ok(());
            }
            match process.try_wait() {
                Ok(Some(status)) => {
                    self.process = None;
                    return Err(TestServerError::Exited {
                        status,
                        log: read_log(&self.log_path, from),
                    });
                }
                Ok(None) => {}
                Err(error) => {
                    self.kill();
                    return Err(TestServerError::io("waiting for nats-server", error));
                }
            }
            if started.elapsed() >= self.startup_timeout {
                self.kill();
                return Err(TestServerError::StartupTimeout {
                    waited: self.startup_timeout,
                    log: read_log(&self.log_path, from),
                });
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TestServer {
    /// Kills the process and waits for it (no zombie, no server left behind), then removes the
    /// temporary directory.
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, TestServerError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| TestServerError::io("finding a free port", error))
}

/// The log from byte `from` on; what cannot be read reads as nothing.
fn read_log(path: &Path, from: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.read_to_end(&mut bytes);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
