//! The cluster registry: exported names in a JetStream key-value bucket, each entry naming its
//! owner node.
//!
//! An entry is made by `create` (compare-and-set on "absent"), so two nodes exporting one name
//! at once cannot both win. It is deleted by its owner when the actor ends (with the revision it
//! was made at, so a newer registration is never removed), and by any other node when the owner
//! leaves or stops heartbeating (a purge, again expecting the revision). Lookups read the
//! bucket, and an entry whose owner is not alive reads as absent even before it is purged.
//!
//! An entry names its owner's incarnation too (see [`Members`](crate::members::Members)): a
//! node restarted under the same name does not own what its previous incarnation registered.
//! Such an entry reads as absent, its name can be claimed (by the restarted node as by any
//! other), and it is purged when the others see the new incarnation's first heartbeat.

use serde::{Deserialize, Serialize};

use async_nats::jetstream::kv;

use crate::broker::Inner;
use crate::codec::Codec;
use crate::error::ExportError;

/// One registry entry, as stored (postcard).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) node: String,
    pub(crate) actor_type: String,
    pub(crate) accepts: Vec<String>,
    /// The owner node's incarnation when it registered.
    pub(crate) incarnation: String,
    /// Whether the owner serves the name yet: an export claims the name first (not ready, so
    /// that no other node can take it), subscribes to its subject, and only then marks it
    /// ready. A lookup finds a ready entry only, so a send made after a lookup succeeded is
    /// never answered "nobody serves it" by a node that was still subscribing.
    pub(crate) ready: bool,
}

/// An entry as a node of an earlier version of this crate writes it: no incarnation, and
/// served from the start. It is read as an entry of whatever incarnation of its node is alive.
#[derive(Deserialize)]
struct EarlierEntry {
    node: String,
    actor_type: String,
    accepts: Vec<String>,
}

/// Reads a stored entry, in this version's form or an earlier one's (`None` if neither).
pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
    postcard::from_bytes::<Entry>(bytes).ok().or_else(|| {
        postcard::from_bytes::<EarlierEntry>(bytes)
            .ok()
            .map(|e| Entry {
                node: e.node,
                actor_type: e.actor_type,
                accepts: e.accepts,
                incarnation: String::new(),
                ready: true,
            })
    })
}

/// What a lookup finds under a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The node that serves it.
    pub node: String,
    /// The actor's Rust type.
    pub actor_type: String,
    /// The message types it takes, each as `tell:Type`, `ask:Type->Answer`, or `actor:Type`
    /// for the actor's whole message type ([`Export::protocol`](crate::Export::protocol)).
    pub accepts: Vec<String>,
}

/// Claims `name` for `entry`; returns the entry's revision.
pub(crate) async fn claim<C: Codec>(
    inner: &Inner<C>,
    name: &str,
    entry: &Entry,
) -> Result<u64, ExportError> {
    let value = bytes::Bytes::from(
        postcard::to_allocvec(entry).map_err(|e| ExportError::Nats(e.to_string()))?,
    );
    for _ in 0..16 {
        match inner.registry.create(name, value.clone()).await {
            Ok(revision) => return Ok(revision),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(ExportError::Nats(e.to_string())),
        }
        // Someone holds it: a live node keeps it; a dead node's entry is taken over, expecting
        // the revision read, so that two takers cannot both win.
        let current = inner
            .registry
            .entry(name)
            .await
            .map_err(|e| ExportError::Nats(e.to_string()))?;
        let Some(current) = current else { continue };
        if current.operation != kv::Operation::Put {
            continue;
        }
        // An entry that cannot be read has no live owner.
        let (owner, incarnation) = decode(&current.value)
            .map(|e| (e.node, e.incarnation))
            .unwrap_or_default();
        if alive(inner, &owner, &incarnation).await {
            return Err(ExportError::NameTaken {
                name: name.to_owned(),
                owner,
            });
        }
        match inner
            .registry
            .update(name, value.clone(), current.revision)
            .await
        {
            Ok(revision) => return Ok(revision),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
            Err(e) => return Err(ExportError::Nats(e.to_string())),
        }
    }
    Err(ExportError::Nats(format!(
        "the registry entry for {name:?} kept changing while it was claimed"
    )))
}

/// Marks `name`'s entry, claimed at `revision`, ready ([`Entry::ready`]); returns the new
/// revision.
///
/// # Errors
///
/// [`ExportError::Nats`] if the entry changed meanwhile (another node purged it, taking this
/// node for dead) or could not be written.
pub(crate) async fn mark_ready<C: Codec>(
    inner: &Inner<C>,
    name: &str,
    entry: &Entry,
    revision: u64,
) -> Result<u64, ExportError> {
    let value = bytes::Bytes::from(
        postcard::to_allocvec(entry).map_err(|e| ExportError::Nats(e.to_string()))?,
    );
    inner
        .registry
        .update(name, value, revision)
        .await
        .map_err(|e| ExportError::Nats(format!("the registry entry for {name:?} changed: {e}")))
}

/// Removes `name` if it is still the registration made at `revision`.
pub(crate) async fn release<C: Codec>(inner: &Inner<C>, name: &str, revision: u64) {
    let _ = inner
        .registry
        .purge_expect_revision(name, Some(revision))
        .await;
}

/// The live registration under `name`, if any.
pub(crate) async fn find<C: Codec>(
    inner: &Inner<C>,
    name: &str,
) -> Result<Option<Registration>, String> {
    let entry = inner
        .registry
        .entry(name)
        .await
        .map_err(|e| e.to_string())?;
    let Some(entry) = entry else { return Ok(None) };
    if entry.operation != kv::Operation::Put {
        return Ok(None);
    }
    let Some(stored) = decode(&entry.value) else {
        return Ok(None);
    };
    if !stored.ready || !alive(inner, &stored.node, &stored.incarnation).await {
        return Ok(None);
    }
    Ok(Some(Registration {
        node: stored.node,
        actor_type: stored.actor_type,
        accepts: stored.accepts,
    }))
}

/// Whether `node`'s `incarnation` is alive: it is this node's own (or holds this node's name in
/// the members bucket, having superseded it), or this node has seen its heartbeat within the
/// TTL, or (a node it has not heard of yet, e.g. just after either started) the members bucket
/// still holds one of it (the bucket forgets heartbeats older than the TTL).
async fn alive<C: Codec>(inner: &Inner<C>, node: &str, incarnation: &str) -> bool {
    // An entry without an incarnation (an earlier version's) belongs to whichever is alive.
    let any = incarnation.is_empty();
    if node == inner.node {
        // This process writes its token in every entry it makes: one without is an earlier
        // process's. One with another token is an earlier process's too, unless that process
        // holds the node's name now: it connected under it while this one was out of reach
        // (this one then leaves, `MemberEvent::Superseded`), and its entries are alive.
        if incarnation == inner.incarnation {
            return true;
        }
        // (A members bucket that cannot be read says nothing: alive, so that nothing is taken
        // from a process that may hold the name.)
        return !any
            && match inner.members_kv.entry(node).await {
                Ok(Some(entry)) => {
                    entry.operation == kv::Operation::Put
                        && crate::members::incarnation_of(&entry.value) == incarnation
                }
                Ok(None) => false,
                Err(_) => true,
            };
    }
    if let Some(live) = inner.members.live_incarnation(node) {
        return any || live == incarnation;
    }
    if inner.members.knows(node) {
        return false;
    }
    matches!(
        inner.members_kv.entry(node).await,
        Ok(Some(entry)) if entry.operation == kv::Operation::Put
            && (any || crate::members::incarnation_of(&entry.value) == incarnation)
    )
}

/// Purges every entry owned by `node` (which left or stopped heartbeating).
pub(crate) async fn withdraw_dead<C: Codec>(inner: &Inner<C>, node: &str) {
    // Re-checked before each purge: the node may have come back since it was declared dead
    // (a new incarnation's entries are its own, and stay).
    purge_owned_by(inner, node, |entry| {
        match inner.members.live_incarnation(node) {
            // (An entry of an earlier version has no incarnation: it is the live node's.)
            Some(live) => !entry.incarnation.is_empty() && entry.incarnation != live,
            None => !inner.members.is_alive(node),
        }
    })
    .await;
}

/// Purges every entry of `node`'s incarnation `old`, which a new incarnation of the node
/// replaced, and those without an incarnation (a process of an earlier version's: the new one
/// writes its token in each of its own).
pub(crate) async fn withdraw_incarnation<C: Codec>(inner: &Inner<C>, node: &str, old: &str) {
    purge_owned_by(inner, node, |entry| {
        entry.incarnation == old || entry.incarnation.is_empty()
    })
    .await;
}

/// Purges this process's own entries (it is leaving), and those of an earlier version's
/// process of its node; not those of another process that took the node's name meanwhile.
pub(crate) async fn withdraw_node<C: Codec>(inner: &Inner<C>) {
    purge_owned_by(inner, &inner.node, |entry| {
        entry.incarnation == inner.incarnation || entry.incarnation.is_empty()
    })
    .await;
}

/// Purges the entries an earlier incarnation of this node left behind (it was restarted
/// before the other nodes purged them, or none was left to).
pub(crate) async fn withdraw_earlier_incarnations<C: Codec>(inner: &Inner<C>) {
    purge_owned_by(inner, &inner.node, |entry| {
        entry.incarnation != inner.incarnation
    })
    .await;
}

/// Purges each entry that `node` owns, if `still(entry)` holds when it is reached (each purge
/// expecting the revision read, so that a newer registration is never removed).
async fn purge_owned_by<C: Codec>(inner: &Inner<C>, node: &str, still: impl Fn(&Entry) -> bool) {
    let names = crate::broker::keys_within(&inner.registry, inner.config.connect_timeout).await;
    for name in names {
        let Ok(Some(entry)) = inner.registry.entry(&name).await else {
            continue;
        };
        if entry.operation != kv::Operation::Put {
            continue;
        }
        let purge = decode(&entry.value).is_some_and(|e| e.node == node && still(&e));
        if purge {
            let _ = inner
                .registry
                .purge_expect_revision(&name, Some(entry.revision))
                .await;
        }
    }
}
