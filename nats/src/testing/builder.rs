//! [`TestServerBuilder`]: what a [`TestServer`] runs with.

use std::time::Duration;

use super::error::TestServerError;
use super::server::TestServer;

/// Options for a [`TestServer`]; made by [`TestServer::builder`].
///
/// The defaults are those of [`TestServer::start`]: JetStream on, TLS on (a CA of the server's
/// own), one user with a password, no nkey user, nats-server's default `max_payload` (1 MiB),
/// a free port chosen at start, 30 seconds to become ready.
///
/// ```
/// use playhouse_nats::testing::TestServer;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestServer::builder().jetstream(false).max_payload(4096).start()?;
/// let client = server.connect().await?;
/// assert_eq!(client.server_info().max_payload, 4096);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    pub(crate) jetstream: bool,
    pub(crate) tls: bool,
    pub(crate) user_password: bool,
    pub(crate) nkey: bool,
    pub(crate) max_payload: Option<usize>,
    pub(crate) port: Option<u16>,
    pub(crate) startup_timeout: Duration,
}

impl Default for TestServerBuilder {
    fn default() -> Self {
        TestServerBuilder {
            jetstream: true,
            tls: true,
            user_password: true,
            nkey: false,
            max_payload: None,
            port: None,
            startup_timeout: Duration::from_secs(30),
        }
    }
}

impl TestServerBuilder {
    /// JetStream (streams, key-value buckets), stored in the server's temporary directory, where
    /// it survives [`TestServer::restart`]. On by default.
    pub fn jetstream(mut self, on: bool) -> Self {
        self.jetstream = on;
        self
    }

    /// TLS, required of every client, with a certificate for `localhost` and `127.0.0.1` signed
    /// by a CA made for this server ([`TestServer::ca_cert_path`]). On by default; off, the
    /// server speaks plain `nats://`.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// A user with a random password ([`TestServer::user`], [`TestServer::password`]). On by
    /// default. With this and [`nkey`](Self::nkey) both off, the server asks for no
    /// authentication.
    pub fn user_password(mut self, on: bool) -> Self {
        self.user_password = on;
        self
    }

    /// A user that authenticates with a freshly made nkey ([`TestServer::nkey_seed`]). Off by
    /// default; it can be on together with [`user_password`](Self::user_password).
    ///
    /// ```
    /// use playhouse_nats::testing::TestServer;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TestServer::builder().user_password(false).nkey(true).start()?;
    /// // `connect_options` picks the nkey when there is no password.
    /// let client = server.connect().await?;
    /// client.flush().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn nkey(mut self, on: bool) -> Self {
        self.nkey = on;
        self
    }

    /// The largest message payload the server accepts, in bytes (nats-server's default is
    /// 1 MiB, its ceiling 64 MiB). For tests of oversized messages.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Listen on this port of 127.0.0.1 instead of a free one chosen at start. A port chosen at
    /// start is kept across [`TestServer::restart`] too; this is for a test that needs to know
    /// the port before the server starts.
    ///
    /// A port that is taken makes [`start`](Self::start) fail with the server's log:
    ///
    /// ```
    /// use playhouse_nats::testing::{TestServer, TestServerError};
    ///
    /// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = taken.local_addr()?.port();
    /// let error = TestServer::builder().port(port).start().unwrap_err();
    /// assert!(matches!(error, TestServerError::Exited { .. }));
    /// assert!(error.log().unwrap().contains("address already in use"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// How long [`start`](Self::start) and [`TestServer::restart`] wait for the server to
    /// log that it is ready (30 seconds by default).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the server and returns once it accepts connections.
    ///
    /// # Errors
    ///
    /// See [`TestServer::start`].
    pub fn start(self) -> Result<TestServer, TestServerError> {
        TestServer::from_builder(self)
    }
}
