//! How a node connects to NATS and how it behaves in the cluster.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The largest message a node sends or accepts by default, envelope included: 1 MiB, NATS's own
/// default `max_payload`. The effective limit is the smaller of this and the server's.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// How many received messages a subscription holds by default before the client drops what
/// arrives ([`NodeConfig::subscription_capacity`]): the `async-nats` default.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 65_536;

/// The longest a remote ask without a timeout of its own waits by default
/// ([`NodeConfig::ask_timeout`]): 30 seconds.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(30);

/// How a node proves who it is to the NATS server.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials. A server with authentication on (the default of every setup this crate
    /// documents) refuses the connection: [`ConnectError::NotAuthorized`](crate::ConnectError).
    #[default]
    None,
    /// A user name and password from the server's `authorization` block.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// An nkey seed (`SU...`); the server knows the matching public key.
    NKey {
        /// The seed, kept secret.
        seed: String,
    },
    /// A credentials file (`.creds`: a JWT and its nkey seed), as `nsc` writes it.
    File(PathBuf),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret.
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<hidden>")
                .finish(),
            Credentials::NKey { .. } => f.write_str("NKey { seed: <hidden> }"),
            Credentials::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// How a node talks to one cluster: the server, its credentials and TLS, the subject prefix that
/// keeps clusters apart on one server, and the timing of heartbeats.
///
/// TLS is required by default: a node refuses a plaintext server unless
/// [`allow_plaintext`](NodeConfig::allow_plaintext) says otherwise.
///
/// ```
/// use playhouse_nats::{Credentials, NodeConfig};
/// use std::time::Duration;
///
/// let config = NodeConfig::new("tls://127.0.0.1:4222")
///     .node_name("billing-1")
///     .credentials(Credentials::UserPassword { user: "node".into(), password: "secret".into() })
///     .root_certificate("/etc/nats/ca.pem")
///     .heartbeat(Duration::from_millis(500), Duration::from_secs(2));
/// assert_eq!(config.server_url(), "tls://127.0.0.1:4222");
/// ```
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub(crate) url: String,
    pub(crate) node_name: Option<String>,
    pub(crate) credentials: Credentials,
    pub(crate) root_certificates: Vec<PathBuf>,
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
    pub(crate) require_tls: bool,
    pub(crate) prefix: String,
    pub(crate) heartbeat: Duration,
    pub(crate) node_ttl: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) subscription_capacity: usize,
    pub(crate) ask_timeout: Duration,
}

impl NodeConfig {
    /// A configuration for the server at `url` (`tls://host:port`), or the servers of a
    /// comma-separated list of such addresses (the servers of one NATS cluster); TLS required,
    /// no credentials yet, prefix `playhouse`, heartbeat 1 s, node TTL 4 s, ask timeout 30 s.
    /// An address that does not parse fails the connect with `ConnectError::InvalidConfig`.
    ///
    /// A connect tries each server listed in turn, starting at a random one (so that nodes
    /// spread over the servers), until one answers; a server that takes the connection and
    /// says nothing is passed over after the [connect timeout](NodeConfig::connect_timeout).
    /// Once connected, the client reconnects after a loss to the servers in the list's order,
    /// from the one it was connected to. The client bounds a reconnection's TCP connect but not
    /// the server's first answer, so a listed server that takes connections and never answers
    /// holds a reconnection that reaches it until it answers or closes the connection.
    pub fn new(url: impl Into<String>) -> Self {
        NodeConfig {
            url: url.into(),
            node_name: None,
            credentials: Credentials::None,
            root_certificates: Vec::new(),
            client_certificate: None,
            require_tls: true,
            prefix: "playhouse".to_owned(),
            heartbeat: Duration::from_secs(1),
            node_ttl: Duration::from_secs(4),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            connect_timeout: Duration::from_secs(5),
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
            ask_timeout: DEFAULT_ASK_TIMEOUT,
        }
    }

    /// The node's name, unique in the cluster (letters, digits, `-` and `_`). Without one the
    /// node makes up a unique name at connect.
    pub fn node_name(mut self, name: impl Into<String>) -> Self {
        self.node_name = Some(name.into());
        self
    }

    /// The credentials the node presents.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Trusts the CA certificate in this PEM file for the server's certificate (besides the
    /// system's roots). Call it again to trust several.
    pub fn root_certificate(mut self, pem: impl Into<PathBuf>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Presents this client certificate and key (PEM files) for mutual TLS.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// Accepts a server without TLS. Off by default; for a development server on loopback only.
    pub fn allow_plaintext(mut self) -> Self {
        self.require_tls = false;
        self
    }

    /// The first token of every subject and the prefix of every bucket this node uses, so that
    /// several clusters share one server without seeing each other. Letters, digits, `-`, `_`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the node announces it is alive, and after how long without an announcement the
    /// others take it for dead (its names are freed, its leases lapse). `ttl` should be at least
    /// three heartbeats, and from 100 ms to about 292 years (JetStream's range for the buckets'
    /// `max_age`, which it is). Every node of a cluster (one prefix on one server) must use the same
    /// `ttl`: the first node to connect sets it in the members bucket, and a node configured
    /// with another is refused at connect (`ConnectError::InvalidConfig`).
    pub fn heartbeat(mut self, every: Duration, ttl: Duration) -> Self {
        self.heartbeat = every;
        self.node_ttl = ttl;
        self
    }

    /// The largest message (envelope included) this node sends or accepts. The server's own
    /// `max_payload` caps it too. What it sends: its tells, asks and publishes (refused with
    /// `TooLarge` before they leave) and the answers of its actors (an answer over it goes back
    /// as a `TooLarge` rejection; a keyed actor's answer counts the NATS header that names its
    /// node too, about 30 bytes and the node's name, as the server does), a durable message
    /// (with its id's header: `TooLarge` before it leaves) and a keyed actor's state
    /// (`KeyState::save` fails with `StateError::TooLarge`, counting the write's headers). What it accepts: the messages sent to its actors (refused
    /// with a `TooLarge` rejection). The answers to its own asks are not checked: the node
    /// asked for them, and the client has read them whole by then. Zero is refused at connect
    /// (`ConnectError::InvalidConfig`).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How many received messages each subscription of this node (an export, a pool member, a
    /// remote topic subscription) may hold before the actor's side takes them, by default
    /// [`DEFAULT_SUBSCRIPTION_CAPACITY`]. Past it the NATS client drops what arrives (a "slow
    /// consumer"); each drop it reports is counted on this node as a
    /// [`DeadLetterKind::Overflowed`](playhouse_core::DeadLetterKind::Overflowed) dead letter. A
    /// larger capacity rides out longer bursts at the cost of memory. Zero is taken as one.
    pub fn subscription_capacity(mut self, messages: usize) -> Self {
        self.subscription_capacity = messages.max(1);
        self
    }

    /// How long [`NatsBroker::connect`](crate::NatsBroker::connect) waits for the server: to
    /// take the connection, complete TLS and answer the handshake (a server that takes the
    /// connection and says nothing is given up after it, as an unreachable one). With several
    /// servers listed, a silent one is given up after it and the next tried, so the whole
    /// connect may take this long per server. Zero is refused at connect
    /// (`ConnectError::InvalidConfig`).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest a remote ask made without a timeout of its own waits for its answer, by
    /// default [`DEFAULT_ASK_TIMEOUT`]: the asks of a [`RemoteActorRef`](crate::RemoteActorRef)
    /// through [`MessageTarget`](playhouse_core::MessageTarget) (`#[actor]`'s helpers among
    /// them), and the answer to a request it sends as a tell. A local ask without a timeout
    /// ends when the actor drops the reply port; a node that dies, or a network that splits,
    /// drops nothing, so every remote ask has a deadline. Zero is taken as one millisecond.
    pub fn ask_timeout(mut self, timeout: Duration) -> Self {
        self.ask_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The server URL this configuration connects to.
    pub fn server_url(&self) -> &str {
        &self.url
    }
}

/// Whether `s` is a valid name token: non-empty, at most 128 bytes, letters, digits, `-`, `_`.
/// Names, node names and the prefix become NATS subject tokens and key-value keys, where `.`,
/// `*`, `>` and spaces have meanings of their own.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
