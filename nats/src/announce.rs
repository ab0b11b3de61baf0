//! A node's announcement: its entry in the members bucket, created once at connect.
//!
//! The entry is what makes a node name unique in the cluster: a live node with the same name
//! holds it (the bucket forgets a dead node's entry after its TTL). Creating it is one
//! JetStream publish, and a busy server can store the entry yet miss the deadline of its
//! acknowledgement (the JetStream timeout, 5 s). So a create that failed otherwise than on a
//! taken name is tried again, and the entry carries a token of this connection: a retry that
//! finds the name taken tells its own earlier create, which landed, from another node's.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::error::ConnectError;

/// How many times a node tries to announce itself before its connect fails.
const ANNOUNCE_ATTEMPTS: u32 = 3;

/// The pause between two attempts.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// What an announcement needs of the members bucket: a trait so that a test can stand in a
/// bucket that loses an acknowledgement.
pub(crate) trait MembersBucket: Sync {
    /// Creates `key` with `value`, unless it exists.
    fn create(
        &self,
        key: &str,
        value: Bytes,
    ) -> impl Future<Output = Result<(), kv::CreateError>> + Send;
    /// The value of `key`, if it can be read and exists.
    fn value(&self, key: &str) -> impl Future<Output = Option<Bytes>> + Send;
}

impl MembersBucket for kv::Store {
    async fn create(&self, key: &str, value: Bytes) -> Result<(), kv::CreateError> {
        kv::Store::create(self, key, value).await.map(drop)
    }

    async fn value(&self, key: &str) -> Option<Bytes> {
        self.get(key).await.ok().flatten()
    }
}

/// The value of a heartbeat of the node's `incarnation` (the token of its connection): what
/// tells a node restarted under the same name from the one before it.
pub(crate) fn heartbeat_value(incarnation: &str) -> Bytes {
    Bytes::from(format!("alive {incarnation}"))
}

/// Announces the node `node`'s `incarnation`: creates its entry in `members`, trying again (up to
/// [`ANNOUNCE_ATTEMPTS`] times in all) after a failure that is not a taken name or an invalid
/// key.
///
/// # Errors
///
/// [`ConnectError::NodeNameTaken`] if another connection holds the name;
/// [`ConnectError::JetStream`] if the key is invalid, or if the last attempt failed.
pub(crate) async fn announce(
    members: &impl MembersBucket,
    node: &str,
    incarnation: &str,
) -> Result<(), ConnectError> {
    let token = heartbeat_value(incarnation);
    let mut attempt = 1;
    loop {
        let error = match members.create(node, token.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Only a retry can find its own entry: the first attempt's name is taken by
                // another connection whatever that one wrote.
                let ours = attempt > 1 && members.value(node).await == Some(token);
                return if ours {
                    Ok(())
                } else {
                    Err(ConnectError::NodeNameTaken {
                        name: node.to_owned(),
                    })
                };
            }
            Err(e) if e.kind() == kv::CreateErrorKind::InvalidKey => e,
            Err(_) if attempt < ANNOUNCE_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
            Err(e) => e,
        };
        return Err(ConnectError::JetStream(error.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// A members bucket in memory whose next creates fail as told: each failure is either
    /// stored first (an acknowledgement lost) or not (the publish lost).
    #[derive(Default)]
    struct Bucket {
        entries: Mutex<HashMap<String, Bytes>>,
        failures: Mutex<Vec<(kv::CreateErrorKind, Stored)>>,
        creates: Mutex<u32>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Stored {
        Yes,
        No,
    }

    impl Bucket {
        fn failing(failures: impl IntoIterator<Item = (kv::CreateErrorKind, Stored)>) -> Self {
            let mut failures: Vec<_> = failures.into_iter().collect();
            failures.reverse();
            Bucket {
                failures: Mutex::new(failures),
                ..Bucket::default()
            }
        }

        fn creates(&self) -> u32 {
            *self.creates.lock().unwrap()
        }

        fn value_of(&self, key: &str) -> Option<Bytes> {
            self.entries.lock().unwrap().get(key).cloned()
        }
    }

    impl MembersBucket for Bucket {
        async fn create(&self, key: &str, value: Bytes) -> Result<(), kv::CreateError> {
            *self.creates.lock().unwrap() += 1;
            let failure = self.failures.lock().unwrap().pop();
            let mut entries = self.entries.lock().unwrap();
            if let Some((kind, stored)) = failure {
                if stored == Stored::Yes {
                    entries.entry(key.to_owned()).or_insert(value);
                }
                return Err(kv::CreateError::from(kind));
            }
            if entries.contains_key(key) {
                return Err(kv::CreateError::from(kv::CreateErrorKind::AlreadyExists));
            }
            entries.insert(key.to_owned(), value);
            Ok(())
        }

        async fn value(&self, key: &str) -> Option<Bytes> {
            self.value_of(key)
        }
    }

    use kv::CreateErrorKind::{InvalidKey, Publish};

    #[tokio::test]
    async fn a_free_name_is_announced_at_once() {
        let bucket = Bucket::default();
        announce(&bucket, "a", "i1").await.expect("announced");
        assert_eq!(bucket.creates(), 1);
        assert!(
            bucket
                .value_of("a")
                .expect("created")
                .starts_with(b"alive ")
        );
    }

    #[tokio::test]
    async fn a_lost_acknowledgement_is_retried_and_the_own_entry_recognised() {
        // The first create stores the entry and fails as a missed acknowledgement does; the
        // retry finds the name taken, by this very connection.
        let bucket = Bucket::failing([(Publish, Stored::Yes)]);
        announce(&bucket, "a", "i1")
            .await
            .expect("its own entry is no conflict");
        assert_eq!(bucket.creates(), 2);
    }

    #[tokio::test]
    async fn a_lost_publish_is_retried() {
        let bucket = Bucket::failing([(Publish, Stored::No), (Publish, Stored::No)]);
        announce(&bucket, "a", "i1")
            .await
            .expect("the third attempt lands");
        assert_eq!(bucket.creates(), 3);
        assert!(bucket.value_of("a").is_some());
    }

    #[tokio::test]
    async fn three_failures_fail_the_connect() {
        let bucket = Bucket::failing([(Publish, Stored::No); 3]);
        let err = announce(&bucket, "a", "i1")
            .await
            .expect_err("no attempt landed");
        assert!(matches!(err, ConnectError::JetStream(_)), "{err:?}");
        assert_eq!(bucket.creates(), ANNOUNCE_ATTEMPTS);
        assert!(bucket.value_of("a").is_none());
    }

    #[tokio::test]
    async fn a_name_held_by_another_connection_is_taken() {
        let bucket = Bucket::default();
        announce(&bucket, "a", "i1").await.expect("first");
        let err = announce(&bucket, "a", "i1").await.expect_err("second");
        assert!(
            matches!(&err, ConnectError::NodeNameTaken { name } if name == "a"),
            "{err:?}"
        );
        assert_eq!(bucket.creates(), 2, "a taken name is not retried");
    }

    #[tokio::test]
    async fn a_retry_that_finds_another_connections_entry_is_refused() {
        // The first create fails unstored; meanwhile another node takes the name.
        let bucket = Bucket::failing([(Publish, Stored::No)]);
        bucket
            .entries
            .lock()
            .unwrap()
            .insert("a".into(), Bytes::from_static(b"alive other"));
        let err = announce(&bucket, "a", "i1")
            .await
            .expect_err("the name is another's");
        assert!(matches!(err, ConnectError::NodeNameTaken { .. }), "{err:?}");
        assert_eq!(bucket.creates(), 2);
    }

    #[tokio::test]
    async fn an_invalid_key_is_not_retried() {
        let bucket = Bucket::failing([(InvalidKey, Stored::No)]);
        let err = announce(&bucket, "a.b", "i1").await.expect_err("invalid");
        assert!(matches!(err, ConnectError::JetStream(_)), "{err:?}");
        assert_eq!(bucket.creates(), 1);
    }
}
