//! A node's entry in the members bucket: created once at connect, kept by its heartbeat.
//!
//! The entry is what makes a node name unique in the cluster: a live node with the same name
//! holds it (the bucket forgets a dead node's entry after its TTL). Creating it is one
//! JetStream publish, and a busy server can store the entry yet miss the deadline of its
//! acknowledgement (the JetStream timeout, 5 s). So a create that failed otherwise than on a
//! taken name is tried again, and the entry carries a token of this connection: a retry that
//! finds the name taken tells its own earlier create, which landed, from another node's.
//!
//! Each heartbeat then writes the entry again, expecting the revision of its last write: a
//! compare-and-set, not a plain put. A process that was out of reach for longer than the TTL
//! (its entry expired) may find on its return that another process took its name meanwhile;
//! a plain put would overwrite that process's entry, and the two would take turns holding the
//! name, each beat. The compare-and-set fails instead, and the entry read back names the other
//! process: this one gives the name up ([`Beat::Taken`]). An entry that merely expired, with
//! nobody taking the name, is created again; one that holds this process's own token was this
//! process's write whose acknowledgement was lost.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::error::ConnectError;

/// How many times a node tries to announce itself before its connect fails.
const ANNOUNCE_ATTEMPTS: u32 = 3;

/// The pause between two attempts.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// What an announcement and a heartbeat need of the members bucket: a trait so that a test can
/// stand in a bucket that loses an acknowledgement.
pub(crate) trait MembersBucket: Sync {
    /// Creates `key` with `value`, unless it exists (a deleted or purged key counts as
    /// absent); the new revision.
    fn create(
        &self,
        key: &str,
        value: Bytes,
    ) -> impl Future<Output = Result<u64, kv::CreateError>> + Send;
    /// Writes `value` to `key` if its last revision is `revision`; the new revision.
    fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> impl Future<Output = Result<u64, kv::UpdateError>> + Send;
    /// The value of `key` and its revision: `Ok(None)` if it does not exist (or was deleted),
    /// `Err` if it could not be read.
    fn current(&self, key: &str) -> impl Future<Output = Result<Option<(Bytes, u64)>, ()>> + Send;
}

impl MembersBucket for kv::Store {
    async fn create(&self, key: &str, value: Bytes) -> Result<u64, kv::CreateError> {
        kv::Store::create(self, key, value).await
    }

    async fn update(&self, key: &str, value: Bytes, revision: u64) -> Result<u64, kv::UpdateError> {
        kv::Store::update(self, key, value, revision).await
    }

    async fn current(&self, key: &str) -> Result<Option<(Bytes, u64)>, ()> {
        match self.entry(key).await {
            Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                Ok(Some((entry.value, entry.revision)))
            }
            Ok(_) => Ok(None),
            Err(_) => Err(()),
        }
    }
}

/// The value of a heartbeat of the node's `incarnation` (the token of its connection): what
/// tells a node restarted under the same name from the one before it.
pub(crate) fn heartbeat_value(incarnation: &str) -> Bytes {
    Bytes::from(format!("alive {incarnation}"))
}

/// Announces the node `node`'s `incarnation`: creates its entry in `members`, trying again (up to
/// [`ANNOUNCE_ATTEMPTS`] times in all) after a failure that is not a taken name or an invalid
/// key. Returns the entry's revision, which the first heartbeat expects.
///
/// # Errors
///
/// [`ConnectError::NodeNameTaken`] if another connection holds the name;
/// [`ConnectError::JetStream`] if the key is invalid, or if the last attempt failed.
pub(crate) async fn announce(
    members: &impl MembersBucket,
    node: &str,
    incarnation: &str,
) -> Result<u64, ConnectError> {
    let token = heartbeat_value(incarnation);
    let mut attempt = 1;
    loop {
        let error = match members.create(node, token.clone()).await {
            Ok(revision) => return Ok(revision),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Only a retry can find its own entry: the first attempt's name is taken by
                // another connection whatever that one wrote.
                if attempt > 1 {
                    if let Ok(Some((value, revision))) = members.current(node).await {
                        if value == token {
                            return Ok(revision);
                        }
                    }
                }
                return Err(ConnectError::NodeNameTaken {
                    name: node.to_owned(),
                });
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

/// What one heartbeat did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    /// The entry is this process's, at this revision (the next beat expects it).
    Kept(u64),
    /// The entry could not be written or read (the server unreachable, slow, restarting):
    /// the next beat tries again, expecting the same revision.
    Failed,
    /// Another process holds the node's name: its entry is there, with another token.
    Taken,
}

/// One heartbeat of `node`'s `incarnation`: writes its entry again if it is still at
/// `revision` (see the module's docs for what a failed compare-and-set means). An entry gone
/// is made again only if `announce()` says so as it is about to be (not for a node that has
/// begun to leave, whose withdrawal could otherwise come before it).
pub(crate) async fn beat(
    members: &impl MembersBucket,
    node: &str,
    incarnation: &str,
    revision: u64,
    announce: impl Fn() -> bool,
) -> Beat {
    let token = heartbeat_value(incarnation);
    match members.update(node, token.clone(), revision).await {
        Ok(revision) => return Beat::Kept(revision),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
        Err(_) => return Beat::Failed,
    }
    match members.current(node).await {
        // This process's own write, whose acknowledgement was lost.
        Ok(Some((value, revision))) if value == token => Beat::Kept(revision),
        Ok(Some(_)) => Beat::Taken,
        // Expired (this process was silent for longer than the TTL) or deleted, and nobody took
        // the name: this process announces itself again.
        Ok(None) if !announce() => Beat::Failed,
        Ok(None) => match members.create(node, token).await {
            Ok(revision) => Beat::Kept(revision),
            // Taken between the read and the create, or this create's own acknowledgement
            // lost: the next beat reads the entry and tells which.
            Err(_) => Beat::Failed,
        },
        Err(()) => Beat::Failed,
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
        /// Each key's value and revision.
        entries: Mutex<HashMap<String, (Bytes, u64)>>,
        /// The bucket's last revision.
        last: Mutex<u64>,
        failures: Mutex<Vec<(kv::CreateErrorKind, Stored)>>,
        creates: Mutex<u32>,
        /// Reads of an entry (`current`).
        reads: Mutex<u32>,
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

        fn reads(&self) -> u32 {
            *self.reads.lock().unwrap()
        }

        fn value_of(&self, key: &str) -> Option<Bytes> {
            self.entries
                .lock()
                .unwrap()
                .get(key)
                .map(|(v, _)| v.clone())
        }

        /// Forgets `key`, as the bucket does once its TTL passes.
        fn expire(&self, key: &str) {
            self.entries.lock().unwrap().remove(key);
        }
    }

    impl MembersBucket for Bucket {
        async fn create(&self, key: &str, value: Bytes) -> Result<u64, kv::CreateError> {
            *self.creates.lock().unwrap() += 1;
            let failure = self.failures.lock().unwrap().pop();
            let mut last = self.last.lock().unwrap();
            let mut entries = self.entries.lock().unwrap();
            if let Some((kind, stored)) = failure {
                if stored == Stored::Yes && !entries.contains_key(key) {
                    *last += 1;
                    entries.insert(key.to_owned(), (value, *last));
                }
                return Err(kv::CreateError::from(kind));
            }
            if entries.contains_key(key) {
                return Err(kv::CreateError::from(kv::CreateErrorKind::AlreadyExists));
            }
            *last += 1;
            entries.insert(key.to_owned(), (value, *last));
            Ok(*last)
        }

        async fn update(
            &self,
            key: &str,
            value: Bytes,
            revision: u64,
        ) -> Result<u64, kv::UpdateError> {
            let mut last = self.last.lock().unwrap();
            let mut entries = self.entries.lock().unwrap();
            let now = entries.get(key).map_or(0, |(_, r)| *r);
            if now != revision {
                return Err(kv::UpdateError::from(
                    kv::UpdateErrorKind::WrongLastRevision,
                ));
            }
            *last += 1;
            entries.insert(key.to_owned(), (value, *last));
            Ok(*last)
        }

        async fn current(&self, key: &str) -> Result<Option<(Bytes, u64)>, ()> {
            *self.reads.lock().unwrap() += 1;
            Ok(self.entries.lock().unwrap().get(key).cloned())
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
            .insert("a".into(), (Bytes::from_static(b"alive other"), 7));
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

    #[tokio::test]
    async fn a_heartbeat_keeps_its_own_entry() {
        let bucket = Bucket::default();
        let first = announce(&bucket, "a", "i1").await.unwrap();
        let Beat::Kept(second) = beat(&bucket, "a", "i1", first, || true).await else {
            panic!("the entry is a's");
        };
        assert!(second > first);
        assert_eq!(
            beat(&bucket, "a", "i1", second, || true).await,
            Beat::Kept(second + 1)
        );
    }

    #[tokio::test]
    async fn a_heartbeat_whose_acknowledgement_was_lost_finds_its_own_entry() {
        let bucket = Bucket::default();
        let first = announce(&bucket, "a", "i1").await.unwrap();
        // The beat after `first` landed, but its revision never came back.
        let landed = match beat(&bucket, "a", "i1", first, || true).await {
            Beat::Kept(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            beat(&bucket, "a", "i1", first, || true).await,
            Beat::Kept(landed)
        );
    }

    #[tokio::test]
    async fn an_expired_entry_is_announced_again() {
        let bucket = Bucket::default();
        let first = announce(&bucket, "a", "i1").await.unwrap();
        bucket.expire("a");
        let Beat::Kept(again) = beat(&bucket, "a", "i1", first, || true).await else {
            panic!("nobody took the name");
        };
        assert!(again > first);
        assert_eq!(bucket.value_of("a").unwrap(), heartbeat_value("i1"));
    }

    /// A node that is leaving does not come back: its entry, expired while it left, stays gone.
    /// The leave here begins during the beat, after its read of the entry: the check must be
    /// made as late as that, just before the create.
    #[tokio::test]
    async fn an_expired_entry_is_not_announced_again_by_a_node_that_leaves() {
        let bucket = Bucket::default();
        let first = announce(&bucket, "a", "i1").await.unwrap();
        bucket.expire("a");
        let still_here = || bucket.reads() == 0;
        assert_eq!(
            beat(&bucket, "a", "i1", first, still_here).await,
            Beat::Failed
        );
        assert_eq!(bucket.value_of("a"), None);
        assert_eq!(bucket.creates(), 1, "the announcement only");
    }

    #[tokio::test]
    async fn a_name_taken_while_the_entry_was_gone_is_given_up_not_overwritten() {
        let bucket = Bucket::default();
        let first = announce(&bucket, "a", "i1").await.unwrap();
        // a was out of reach past the TTL; another process announced itself as a.
        bucket.expire("a");
        announce(&bucket, "a", "i2").await.unwrap();
        assert_eq!(beat(&bucket, "a", "i1", first, || true).await, Beat::Taken);
        assert_eq!(bucket.value_of("a").unwrap(), heartbeat_value("i2"));
    }
}
