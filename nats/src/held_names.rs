//! The names this node serves, kept claimed in the cluster registry while it serves them.
//!
//! Another node purges a node's registry entries when that node stops heartbeating for longer
//! than the TTL (see `registry::withdraw_dead`). A node that was only out of reach (its
//! connection dropped, the server restarted, JetStream was slow to come back) still runs its
//! exported actors and, once reconnected, still serves their subjects. Without more, its names
//! would be missing from the registry (lookups would say "not found" while sends get through),
//! and another node could claim one of them and serve the same subject beside it.
//!
//! So each node follows the registry bucket (one watch for all its names) and, when an entry
//! it holds is purged or deleted by someone else, claims it again. When it finds the entry
//! held by another node instead (that node took the name over while this one was taken for
//! dead), it gives the name up: the export stops serving, the actor keeps running, and
//! [`MemberEvent::NameLost`](crate::MemberEvent::NameLost) says so. The registry entry is the
//! one truth about who serves a name; the node that lost it yields.
//!
//! The whole table is checked again each time the watch is (re)opened and after each
//! reconnection, so a change made while the watch was down is not missed; a check that failed
//! (the server not ready yet) is tried again on the next heartbeat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::StreamExt;
use futures::channel::oneshot;

use crate::broker::Inner;
use crate::codec::Codec;
use crate::error::ExportError;
use crate::registry::{self, Entry};

/// One name this node holds.
struct Held {
    /// The registry revision of this node's entry.
    revision: u64,
    entry: Entry,
    /// Told the holder's node if the name is lost to it.
    lost: oneshot::Sender<String>,
}

/// The names this node's exports hold, by name.
#[derive(Default)]
pub(crate) struct HeldNames {
    names: Mutex<HashMap<String, Held>>,
    /// A full check is due (after a reconnection, or a check that failed).
    recheck: AtomicBool,
    wake: tokio::sync::Notify,
}

impl HeldNames {
    fn names(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that this node holds `name` at `revision`; the receiver resolves with the new
    /// holder's node if the name is lost.
    pub(crate) fn hold(
        &self,
        name: &str,
        revision: u64,
        entry: Entry,
    ) -> oneshot::Receiver<String> {
        let (lost, on_lost) = oneshot::channel();
        self.names().insert(
            name.to_owned(),
            Held {
                revision,
                entry,
                lost,
            },
        );
        on_lost
    }

    /// Stops keeping `name`; returns the revision to release, if this node still holds it.
    pub(crate) fn release(&self, name: &str) -> Option<u64> {
        self.names().remove(name).map(|held| held.revision)
    }

    /// Asks for a full check soon (the connection came back).
    pub(crate) fn recheck_soon(&self) {
        self.recheck.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn revision_of(&self, name: &str) -> Option<u64> {
        self.names().get(name).map(|held| held.revision)
    }

    fn entry_of(&self, name: &str) -> Option<Entry> {
        self.names().get(name).map(|held| held.entry.clone())
    }

    /// The revision and entry of `name`, if this node holds it.
    pub(crate) fn held(&self, name: &str) -> Option<(u64, Entry)> {
        self.names()
            .get(name)
            .map(|held| (held.revision, held.entry.clone()))
    }

    /// Records `name`'s entry as this node rewrote it, at `revision` (if it still holds it).
    pub(crate) fn set(&self, name: &str, revision: u64, entry: Entry) {
        if let Some(held) = self.names().get_mut(name) {
            held.revision = held.revision.max(revision);
            held.entry = entry;
        }
    }
}

/// Follows the registry for as long as the node runs: see the module's docs. Holds the node
/// only while it acts, never while it waits, so that the node can be dropped.
pub(crate) async fn keep<C: Codec>(weak: Weak<Inner<C>>) {
    let (held, every) = match weak.upgrade() {
        Some(inner) => (Arc::clone(&inner.held), inner.config.heartbeat),
        None => return,
    };
    loop {
        let watch = {
            let Some(inner) = weak.upgrade() else { return };
            inner.registry.watch_all().await
        };
        let mut reconnected = false;
        if let Ok(mut watch) = watch {
            // What changed before the watch began.
            match weak.upgrade() {
                Some(inner) => check_all(&inner).await,
                None => return,
            }
            let mut retry = tokio::time::interval(every);
            retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let change = tokio::select! {
                    biased;
                    change = watch.next() => match change {
                        Some(Ok(change)) => Some(change),
                        _ => break,
                    },
                    // After a reconnection: the watch is opened again (a server restart
                    // ends its consumer without a word, and it would stay silent until the
                    // client replaced it), and the table checked as it opens.
                    () = held.wake.notified() => {
                        reconnected = true;
                        break;
                    }
                    _ = retry.tick() => {
                        if !held.recheck.load(Ordering::SeqCst) {
                            continue;
                        }
                        None
                    }
                };
                let Some(inner) = weak.upgrade() else { return };
                match change {
                    Some(change) => on_change(&inner, change).await,
                    None => check_all(&inner).await,
                }
            }
        }
        // (A watch that failed waits a little before the next; one given up after a
        // reconnection is opened again at once.)
        if !reconnected {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Checks every held name against the registry.
async fn check_all<C: Codec>(inner: &Inner<C>) {
    inner.held.recheck.store(false, Ordering::SeqCst);
    let names: Vec<String> = inner.held.names().keys().cloned().collect();
    for name in names {
        match inner.registry.entry(&name).await {
            Ok(Some(entry)) => on_change(inner, entry).await,
            Ok(None) => claim_again(inner, &name).await,
            Err(_) => inner.held.recheck.store(true, Ordering::SeqCst),
        }
    }
}

/// Acts on the registry's current entry for a name, if this node holds that name.
async fn on_change<C: Codec>(inner: &Inner<C>, change: kv::Entry) {
    let Some(revision) = inner.held.revision_of(&change.key) else {
        return;
    };
    // Older than this node's claim: a late event about an earlier holder (the watch can lag),
    // or, from `check_all`, the claim itself.
    if change.revision <= revision {
        return;
    }
    if change.operation != kv::Operation::Put {
        return claim_again(inner, &change.key).await;
    }
    let entry = registry::decode(&change.value);
    // Held by this process: its node and its incarnation (another process under the node's
    // name, which took it over while this one was out of reach, holds it as much as any other
    // node would).
    let ours = entry
        .as_ref()
        .is_some_and(|e| e.node == inner.node && e.incarnation == inner.incarnation);
    if !ours {
        let holder = entry.map(|e| e.node).unwrap_or_default();
        lose(inner, &change.key, holder);
    } else if let Some(held) = inner.held.names().get_mut(&change.key) {
        // This node's own newer write (a claim made again): keep its revision.
        held.revision = held.revision.max(change.revision);
    }
}

/// Claims a held name whose entry someone else removed.
async fn claim_again<C: Codec>(inner: &Inner<C>, name: &str) {
    let Some(entry) = inner.held.entry_of(name) else {
        return;
    };
    match registry::claim(inner, name, &entry).await {
        Ok(revision) => {
            let kept = match inner.held.names().get_mut(name) {
                Some(held) => {
                    held.revision = revision;
                    true
                }
                None => false,
            };
            // The export ended while the name was claimed: give the new entry back.
            if !kept {
                registry::release(inner, name, revision).await;
            }
        }
        Err(ExportError::NameTaken { owner, .. }) => lose(inner, name, owner),
        Err(_) => inner.held.recheck.store(true, Ordering::SeqCst),
    }
}

/// Gives `name` up to `holder`: its export stops serving, and then tells the node's listeners
/// ([`MemberEvent::NameLost`](crate::MemberEvent::NameLost), once the server no longer routes
/// the name here).
fn lose<C>(inner: &Inner<C>, name: &str, holder: String) {
    if let Some(held) = inner.held.names().remove(name) {
        let _ = held.lost.send(holder);
    }
}
