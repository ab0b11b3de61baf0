//! Leases: one node owns a key at a time.
//!
//! A lease is an entry `<group>.<key>` in the `<prefix>_leases` bucket whose value is the
//! owner's node name. The bucket's `max_age` is the lease TTL: an entry nobody renews vanishes
//! no earlier than one TTL after the server stored its last write. A node takes a lease with
//! `create` (compare-and-set on "absent"), renews it with `update` at the revision it holds, and
//! gives it back with a purge at that revision; so two nodes never both win.
//!
//! An entry of this node's name that this process does not hold (it lapsed here, or an earlier
//! process of the node wrote it before a restart under the name) is taken over at once, so that
//! a restarted node serves its keys without waiting for their leases to run out, but only while
//! this process holds the node's name (its entry in the members bucket is this process's): a
//! process that returns to find its name taken by another, which may hold the entry now, takes
//! nothing ([`MemberEvent::Superseded`](crate::MemberEvent::Superseded)). The value stays the
//! node name alone, which every version of this crate reads.
//!
//! **Fencing.** The owner records, for each successful take or renewal, a local deadline: the
//! instant *before* the request was sent, plus the TTL, minus a margin. The server stored the
//! write after that instant, so it expires it after the deadline; until the deadline nobody
//! else can `create` the entry. The owner checks the deadline before it hands a message to the
//! activation, before it sends an answer, and before each state write
//! ([`KeyState::save`](super::KeyState::save)): past the deadline without a renewal, it has
//! stopped handling the key before any other node can take it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;

/// One lease this node holds (or held: once lapsed it stays lapsed; a new take makes a new
/// `Lease`).
#[derive(Debug)]
pub(crate) struct Lease {
    key: String,
    revision: AtomicU64,
    deadline: Mutex<Instant>,
    lapsed: AtomicBool,
    /// Set when this node gave the lease back while it still held it (a passivation): what
    /// its activation did before that was done under the lease.
    given_back: AtomicBool,
}

impl Lease {
    fn new(key: String, revision: u64, deadline: Instant) -> Self {
        Lease {
            key,
            revision: AtomicU64::new(revision),
            deadline: Mutex::new(deadline),
            lapsed: AtomicBool::new(false),
            given_back: AtomicBool::new(false),
        }
    }

    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this node may still act for the key: not lapsed and before the deadline.
    pub(crate) fn is_valid(&self) -> bool {
        !self.lapsed.load(Ordering::SeqCst) && Instant::now() < self.deadline()
    }

    /// Marks the lease lapsed for good (the node stops acting for the key).
    pub(crate) fn lapse(&self) {
        self.lapsed.store(true, Ordering::SeqCst);
    }

    /// Whether this node lost the lease (it lapsed, or its deadline passed) rather than gave
    /// it back while holding it. An answer the activation gave before a give-back was given
    /// under the lease and may still go out; one that comes after a loss may not.
    pub(crate) fn is_lost(&self) -> bool {
        !self.is_valid() && !self.given_back.load(Ordering::SeqCst)
    }

    pub(crate) fn is_lapsed(&self) -> bool {
        self.lapsed.load(Ordering::SeqCst)
    }

    /// The revision of the lease entry this node wrote last.
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    fn renewed(&self, revision: u64, deadline: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        if !self.lapsed.load(Ordering::SeqCst) {
            self.revision.store(revision, Ordering::SeqCst);
            *d = deadline;
        }
    }
}

/// What taking a key's lease found.
#[derive(Debug)]
pub(crate) enum Taken {
    /// This node holds it now.
    Mine(Arc<Lease>),
    /// Another node does.
    HeldBy(String),
}

/// The lease bucket, as one node uses it.
#[derive(Debug)]
pub(crate) struct Leases {
    store: kv::Store,
    node: String,
    /// This process's token (see [`crate::members`]).
    incarnation: String,
    /// The members bucket: which process holds this node's name.
    members: kv::Store,
    /// The bucket's `max_age`, whatever this node asked for: the server enforces that one.
    ttl: Duration,
    margin: Duration,
    renew_every: Duration,
}

impl Leases {
    pub(crate) fn new(
        store: kv::Store,
        node: String,
        incarnation: String,
        members: kv::Store,
        ttl: Duration,
        renew_every: Duration,
    ) -> Self {
        // Covers the time between reading the clock and the request leaving, and clock rates.
        let margin = (ttl / 10).max(Duration::from_millis(20)).min(ttl / 2);
        Leases {
            store,
            node,
            incarnation,
            members,
            ttl,
            margin,
            renew_every: renew_every.min(ttl / 3),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn deadline(&self, sent: Instant) -> Instant {
        sent + self.ttl - self.margin
    }

    /// The value of this node's lease entries.
    fn value(&self) -> bytes::Bytes {
        bytes::Bytes::from(self.node.clone().into_bytes())
    }

    /// Whether this process holds its node's name: the members bucket's entry is its own.
    async fn holds_node_name(&self) -> bool {
        matches!(
            self.members.entry(&self.node).await,
            Ok(Some(entry)) if entry.operation == kv::Operation::Put
                && crate::members::incarnation_of(&entry.value) == self.incarnation
        )
    }

    /// Takes the lease on `key` (`<group>.<key>`), or says who holds it.
    pub(crate) async fn take(&self, key: &str) -> Result<Taken, String> {
        let value = self.value();
        for _ in 0..8 {
            let sent = Instant::now();
            match self.store.create(key, value.clone()).await {
                Ok(revision) => {
                    let lease = Lease::new(key.to_owned(), revision, self.deadline(sent));
                    return Ok(Taken::Mine(Arc::new(lease)));
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.to_string()),
            }
            let entry = self.store.entry(key).await.map_err(|e| e.to_string())?;
            let Some(entry) = entry else { continue };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            let owner = String::from_utf8_lossy(&entry.value).into_owned();
            if owner != self.node {
                return Ok(Taken::HeldBy(owner));
            }
            if !self.holds_node_name().await {
                return Err(format!(
                    "the lease on {key:?} is node {:?}'s, whose name this process does not hold \
                     now",
                    self.node
                ));
            }
            // An entry of this process that it no longer honours (it lapsed here), or of an
            // earlier process of the node (restarted under its name): nobody else can hold it
            // while this process holds the node's name; take it again at its revision.
            let sent = Instant::now();
            match self.store.update(key, value.clone(), entry.revision).await {
                Ok(revision) => {
                    let lease = Lease::new(key.to_owned(), revision, self.deadline(sent));
                    return Ok(Taken::Mine(Arc::new(lease)));
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("the lease on {key:?} kept changing"))
    }

    /// Renews `lease` every `renew_every` until it lapses (the entry moved, or no renewal
    /// succeeded before the deadline) or is given back; calls `lapsed` when it lapses.
    pub(crate) async fn keep(&self, lease: Arc<Lease>, lapsed: impl FnOnce()) {
        let value = self.value();
        loop {
            tokio::time::sleep(self.renew_every).await;
            if lease.is_lapsed() {
                return;
            }
            let sent = Instant::now();
            let left = lease.deadline().saturating_duration_since(sent);
            let renewal = self
                .store
                .update(&lease.key, value.clone(), lease.revision());
            match tokio::time::timeout(left, renewal).await {
                Ok(Ok(revision)) => lease.renewed(revision, self.deadline(sent)),
                // Someone else wrote the entry: it is not ours any more.
                Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    lease.lapse();
                }
                // The server did not answer in time; the next tick tries again.
                Ok(Err(_)) | Err(_) => {}
            }
            if !lease.is_valid() {
                lease.lapse();
                lapsed();
                return;
            }
        }
    }

    /// Gives the lease back: lapses it here and purges the entry if it is still ours.
    pub(crate) async fn give_back(&self, lease: &Lease) {
        if lease.is_valid() {
            lease.given_back.store(true, Ordering::SeqCst);
        }
        lease.lapse();
        let _ = self
            .store
            .purge_expect_revision(&lease.key, Some(lease.revision()))
            .await;
    }
}
