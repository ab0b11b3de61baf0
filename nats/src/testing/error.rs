//! The one error type of [`TestServer`](super::TestServer).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a [`TestServer`](super::TestServer) could not be started or restarted.
///
/// The variants that concern a running server carry the server's log, and their
/// `Display` (which `Debug` repeats, so that `.unwrap()` and `.expect()` show it too) prints it:
/// a failing test says what `nats-server` said.
#[non_exhaustive]
pub enum TestServerError {
    /// No `nats-server` binary was found: not at `$NATS_SERVER`, not on `PATH`, not in
    /// `/usr/sbin` or `/usr/local/bin`. Tests that need a server fail with this error rather
    /// than skip; install it (`apt-get install nats-server` on Debian and Ubuntu) or point
    /// `NATS_SERVER` at the binary.
    NotInstalled {
        /// Where it was looked for, in order.
        searched: Vec<PathBuf>,
    },
    /// A file operation or the spawn of the process failed.
    Io {
        /// What was being done.
        action: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The CA or the server certificate could not be made.
    Certificates {
        /// rcgen's message.
        reason: String,
    },
    /// `nats-server` exited before it was ready: a configuration it rejects, or a port that
    /// another process holds.
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// Its log, from this start on.
        log: String,
    },
    /// `nats-server` did not log that it was ready within the startup timeout; it has been
    /// killed.
    StartupTimeout {
        /// How long it was waited for.
        waited: Duration,
        /// Its log, from this start on.
        log: String,
    },
}

impl TestServerError {
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        TestServerError::Io {
            action: action.into(),
            source,
        }
    }

    /// The server's log, for the variants that have one.
    ///
    /// ```
    /// use playhouse_nats::testing::TestServerError;
    ///
    /// let error = TestServerError::NotInstalled { searched: Vec::new() };
    /// assert_eq!(error.log(), None);
    /// ```
    pub fn log(&self) -> Option<&str> {
        match self {
            TestServerError::Exited { log, .. } | TestServerError::StartupTimeout { log, .. } => {
                Some(log)
            }
            _ => None,
        }
    }
}

impl fmt::Display for TestServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestServerError::NotInstalled { searched } => {
                write!(
                    f,
                    "nats-server is not installed: these tests run a real NATS server; install it \
                     with `apt-get install nats-server` (Debian, Ubuntu) or set NATS_SERVER to the \
                     binary's path (looked at:"
                )?;
                for path in searched {
                    write!(f, " {}", path.display())?;
                }
                write!(f, ")")
            }
            TestServerError::Io { action, source } => write!(f, "{action}: {source}"),
            TestServerError::Certificates { reason } => {
                write!(f, "could not make the test certificates: {reason}")
            }
            TestServerError::Exited { status, log } => {
                write!(
                    f,
                    "nats-server exited before it was ready ({status}); its log:\n{log}"
                )
            }
            TestServerError::StartupTimeout { waited, log } => write!(
                f,
                "nats-server was not ready after {waited:?} (killed); its log:\n{log}"
            ),
        }
    }
}

impl fmt::Debug for TestServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for TestServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestServerError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<rcgen::Error> for TestServerError {
    fn from(error: rcgen::Error) -> Self {
        TestServerError::Certificates {
            reason: error.to_string(),
        }
    }
}
