//! Who is in the cluster: every node puts a heartbeat in the members bucket; the others watch
//! the bucket and take a node for dead when its heartbeats stop for longer than the TTL (or
//! when it leaves and deletes its entry).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::channel::mpsc;

/// A change in the cluster's membership, or in this node's own connection, as
/// [`NatsBroker::member_events`](crate::NatsBroker::member_events) streams it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberEvent {
    /// A node appeared (its first heartbeat was seen).
    Joined {
        /// The node's name.
        node: String,
    },
    /// A node is gone.
    Left {
        /// The node's name.
        node: String,
        /// How it went.
        reason: LeaveReason,
    },
    /// This node lost its connection to the NATS server. The client reconnects by itself; while
    /// disconnected, sends fail with `Disconnected` or wait in the client's buffer.
    Disconnected,
    /// This node is connected again. Always after a `Disconnected` (sent just before it if the
    /// client's report of the loss was lost: it drops that report when its event queue is full).
    Reconnected,
    /// This node no longer serves `name`: while it was out of reach, the other nodes took it for
    /// dead and `holder` claimed the name. The registry entry, now `holder`'s, decides who
    /// serves a name. Sent once this node's export has stopped serving it (the server no longer
    /// routes the name here, and what had arrived went to the actor); the actor keeps running.
    NameLost {
        /// The exported name.
        name: String,
        /// The node that holds it now. This node's own name when another process connected
        /// under it while this one was out of reach: this node then leaves
        /// ([`Superseded`](MemberEvent::Superseded)) if that process still holds the node's
        /// name when this one next beats; if it has left by then, this node announces its
        /// name again and stays a member.
        holder: String,
    },
    /// This node has left the cluster because another process holds its name. While this
    /// one was out of reach for longer than the TTL, the cluster took it for dead and another
    /// process connected under the same node name; this node's next heartbeat found that
    /// process's entry where its own had been. Rather than take the name back (the two would
    /// take turns holding it), this node leaves, as [`leave`](crate::NatsBroker::leave) does,
    /// and leaves the other process's entry alone. Sent once it has left: its exports no longer
    /// serve, its sharded groups have given their keys back (waited for at most the node TTL,
    /// as `leave` waits), and its remote sends fail with `Disconnected`. Its actors keep running; to rejoin, connect a new broker under another
    /// name, or under this one once the other process has gone.
    Superseded,
}

/// How a node left the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// It said so ([`NatsBroker::leave`](crate::NatsBroker::leave)).
    Left,
    /// Its heartbeats stopped for longer than the TTL: it died, hung, or lost the server.
    TimedOut,
}

impl fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LeaveReason::Left => "left",
            LeaveReason::TimedOut => "stopped heartbeating",
        })
    }
}

/// The membership table one node keeps: each node's last heartbeat and the incarnation it
/// came from. A node's incarnation is the token of the connection that announced it, carried
/// by each of its heartbeats: a node restarted under the same name is a new incarnation, so
/// the others tell it from the old one even when its first heartbeat comes before they noticed
/// the old one's silence.
pub(crate) struct Members {
    me: String,
    ttl: Duration,
    seen: Mutex<HashMap<String, Seen>>,
    listeners: Mutex<Vec<mpsc::UnboundedSender<MemberEvent>>>,
}

/// A node's last heartbeat, and its incarnation.
struct Seen {
    at: Instant,
    incarnation: String,
    /// Incarnations this one replaced, most recent last (a few at most): a heartbeat of one of
    /// them (two live processes under one name, one of them out of reach for a while) is
    /// ignored, so that the two do not take turns replacing each other on every beat.
    retired: Vec<String>,
}

/// How many replaced incarnations of a node [`Seen::retired`] remembers.
const RETIRED_KEPT: usize = 4;

/// The incarnation a heartbeat's value names (`alive <token>`; empty for a value without one).
pub(crate) fn incarnation_of(value: &[u8]) -> String {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.strip_prefix("alive "))
        .unwrap_or_default()
        .to_owned()
}

impl Members {
    pub(crate) fn new(me: String, ttl: Duration) -> Self {
        Members {
            me,
            ttl,
            seen: Mutex::new(HashMap::new()),
            listeners: Mutex::new(Vec::new()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a heartbeat of `node`'s `incarnation` that was put `age` ago. If it replaces
    /// another incarnation of the node (restarted before this node took the old one for dead),
    /// the old one has left: returns it, after `Left { TimedOut }` and `Joined` events.
    pub(crate) fn heartbeat(&self, node: &str, age: Duration, incarnation: &str) -> Option<String> {
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        if age >= self.ttl {
            return None;
        }
        let (new, replaced) = {
            let mut seen = self.seen();
            match seen.get_mut(node) {
                None => {
                    seen.insert(
                        node.to_owned(),
                        Seen {
                            at,
                            incarnation: incarnation.to_owned(),
                            retired: Vec::new(),
                        },
                    );
                    (true, None)
                }
                // The same incarnation; or a heartbeat without a token (a node of an earlier
                // version of this crate beats `alive` after announcing `alive <token>`).
                Some(e) if e.incarnation == incarnation || incarnation.is_empty() => {
                    if at > e.at {
                        e.at = at;
                    }
                    (false, None)
                }
                // Another process under this node's own name (it was out of reach, its name
                // was taken, and it came back): this node stays what it is.
                Some(_) if node == self.me => (false, None),
                // An incarnation already replaced beating again: ignored (see `retired`).
                Some(e) if e.retired.iter().any(|r| r == incarnation) => (false, None),
                Some(e) => {
                    let old = std::mem::replace(&mut e.incarnation, incarnation.to_owned());
                    if e.retired.len() == RETIRED_KEPT {
                        e.retired.remove(0);
                    }
                    e.retired.push(old.clone());
                    e.at = at;
                    (true, Some(old))
                }
            }
        };
        if node != self.me {
            if replaced.is_some() {
                self.emit(MemberEvent::Left {
                    node: node.to_owned(),
                    reason: LeaveReason::TimedOut,
                });
            }
            if new {
                self.emit(MemberEvent::Joined {
                    node: node.to_owned(),
                });
            }
        }
        replaced
    }

    /// `node` deleted its entry: it left.
    pub(crate) fn left(&self, node: &str) {
        if node == self.me {
            return;
        }
        if self.seen().remove(node).is_some() {
            self.emit(MemberEvent::Left {
                node: node.to_owned(),
                reason: LeaveReason::Left,
            });
        }
    }

    /// The nodes whose last heartbeat this node saw is older than the TTL, with the
    /// incarnation it saw: dead, unless the members bucket shows a later heartbeat (this node
    /// may have been the one that stopped: a pause of its process, its machine or its
    /// connection, in which it saw no heartbeat).
    pub(crate) fn stale(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        self.seen()
            .iter()
            .filter(|(n, e)| **n != self.me && now.duration_since(e.at) >= self.ttl)
            .map(|(n, e)| (n.clone(), e.incarnation.clone()))
            .collect()
    }

    /// Removes `node`, found [`stale`](Members::stale) as `incarnation`, if it still is;
    /// `true` if it did (then it has told `Left { reason: TimedOut }`).
    pub(crate) fn reap(&self, node: &str, incarnation: &str) -> bool {
        let removed = {
            let mut seen = self.seen();
            let still = seen
                .get(node)
                .is_some_and(|e| e.incarnation == incarnation && e.at.elapsed() >= self.ttl);
            if still {
                seen.remove(node);
            }
            still
        };
        if removed {
            self.emit(MemberEvent::Left {
                node: node.to_owned(),
                reason: LeaveReason::TimedOut,
            });
        }
        removed
    }

    /// Whether this node's own heartbeat reached the server within the TTL: it is in touch
    /// with the cluster, and its view of the others is current.
    pub(crate) fn beats_lately(&self) -> bool {
        self.seen()
            .get(&self.me)
            .is_some_and(|e| e.at.elapsed() < self.ttl)
    }

    /// Whether `node` is alive as far as this node knows (itself always is).
    pub(crate) fn is_alive(&self, node: &str) -> bool {
        node == self.me
            || self
                .seen()
                .get(node)
                .is_some_and(|e| e.at.elapsed() < self.ttl)
    }

    /// The incarnation of `node` that is alive, as far as this node knows: `None` if it is
    /// not alive, or unknown. (This node's own is not kept here.)
    pub(crate) fn live_incarnation(&self, node: &str) -> Option<String> {
        self.seen()
            .get(node)
            .filter(|e| e.at.elapsed() < self.ttl)
            .map(|e| e.incarnation.clone())
    }

    /// Whether this node has seen `node` at all (alive or timed out but not yet reaped).
    pub(crate) fn knows(&self, node: &str) -> bool {
        node == self.me || self.seen().contains_key(node)
    }

    /// The live nodes, sorted, this one included.
    pub(crate) fn list(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .seen()
            .iter()
            .filter(|(n, e)| **n == self.me || e.at.elapsed() < self.ttl)
            .map(|(n, _)| n.clone())
            .collect();
        if !nodes.contains(&self.me) {
            nodes.push(self.me.clone());
        }
        nodes.sort();
        nodes
    }

    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<MemberEvent> {
        let (tx, rx) = mpsc::unbounded();
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    pub(crate) fn emit(&self, event: MemberEvent) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|tx| tx.unbounded_send(event.clone()).is_ok());
    }
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Members")
            .field("me", &self.me)
            .field("live", &self.list())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(rx: &mut mpsc::UnboundedReceiver<MemberEvent>) -> Vec<MemberEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// A new incarnation of a node replaces the old one (`Left` then `Joined`, the old one
    /// handed back to purge its names); the old one beating again is ignored, so two processes
    /// under one name do not take turns; a heartbeat without a token (an earlier version's) is
    /// the live incarnation's; and this node never takes another process for itself.
    #[test]
    fn incarnations_replace_each_other_once() {
        let members = Members::new("me".into(), Duration::from_secs(10));
        let mut rx = members.subscribe();
        assert_eq!(members.heartbeat("a", Duration::ZERO, "i1"), None);
        assert_eq!(
            members.heartbeat("a", Duration::ZERO, "i2"),
            Some("i1".into())
        );
        assert_eq!(
            members.heartbeat("a", Duration::ZERO, "i1"),
            None,
            "retired"
        );
        assert_eq!(members.heartbeat("a", Duration::ZERO, ""), None, "no token");
        assert_eq!(members.live_incarnation("a").as_deref(), Some("i2"));
        let joined = MemberEvent::Joined { node: "a".into() };
        let left = MemberEvent::Left {
            node: "a".into(),
            reason: LeaveReason::TimedOut,
        };
        assert_eq!(events(&mut rx), [joined.clone(), left, joined]);

        assert_eq!(members.heartbeat("me", Duration::ZERO, "mine"), None);
        assert_eq!(members.heartbeat("me", Duration::ZERO, "theirs"), None);
        assert_eq!(members.live_incarnation("me").as_deref(), Some("mine"));
        assert_eq!(events(&mut rx), []);
    }
}
