//! A real `nats-server` for tests and examples (feature `test-server`).
//!
//! [`TestServer::start`] runs `nats-server` on 127.0.0.1 in a temporary directory of its own:
//! JetStream on, TLS required (certificate for `localhost` and `127.0.0.1` signed by a CA made
//! for it), one user with a random password. It is killed, and its directory removed, on drop.
//!
//! ```
//! use playhouse_nats::testing::TestServer;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestServer::start()?;
//! let client = server.connect().await?;
//! let kv = async_nats::jetstream::new(client)
//!     .create_key_value(async_nats::jetstream::kv::Config {
//!         bucket: "example".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! kv.put("answer", "42".into()).await?;
//! assert_eq!(kv.get("answer").await?.as_deref(), Some(&b"42"[..]));
//! # Ok(())
//! # }
//! ```
//!
//! The binary is `$NATS_SERVER`, else `nats-server` on `PATH` (`apt-get install nats-server`).
//! Without it, starting fails with [`TestServerError::NotInstalled`]: tests fail rather than
//! skip.

mod binary;
mod builder;
mod certs;
mod conf;
mod error;
mod random;
mod server;
mod temp_dir;

pub use builder::TestServerBuilder;
pub use error::TestServerError;
pub use server::TestServer;
