//! This node's inbox: answers to its asks and acknowledged tells, and the rejections of its
//! plain tells, on `<prefix>.inbox.<node>.>`.
//!
//! - `a.<correlation>`: the answer (or rejection) for one ask; handed to the waiting ask.
//! - `t.<type index>.<name>`: a rejection of a plain tell of the type numbered `type index` in
//!   this process, offset by the incarnation's random `tell_base`, sent to `name`; recorded as
//!   a dead letter. NATS itself sends here, with status 503 ("no responders"), when nobody
//!   served the name. An earlier incarnation of the node (a process before this one, under the
//!   same name) listened on the same inbox, and refusals of its tells may still arrive: its
//!   numbers start elsewhere, so they name no type of this one's, and are dropped.

use std::sync::{Mutex, Weak};

use async_nats::StatusCode;
use futures::StreamExt;
use playhouse_core::{DeadLetterKind, MessageBroker};

use crate::broker::Inner;
use crate::codec::Codec;
use crate::envelope::{self, Kind, Rejection};

pub(crate) async fn serve<C: Codec>(weak: Weak<Inner<C>>, mut inbox: async_nats::Subscriber) {
    while let Some(msg) = inbox.next().await {
        let Some(inner) = weak.upgrade() else { return };
        let subject = msg.subject.as_str();
        let Some(rest) = subject.rsplit_once(".inbox.").map(|(_, r)| r) else {
            continue;
        };
        // rest = "<node>.a.<id>" or "<node>.t.<index>.<name>"
        let mut parts = rest.splitn(3, '.');
        let (_node, what, tail) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        match what {
            Some("a") => {
                let Ok(id) = tail.parse::<u64>() else {
                    continue;
                };
                let waiter = inner.pending().remove(&id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(msg);
                }
            }
            Some("t") => {
                let Some((index, name)) = tail.split_once('.') else {
                    continue;
                };
                // Not this incarnation's (or not a number): not its dead letter.
                let Some(message_type) = index
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| usize::try_from(n.wrapping_sub(inner.tell_base)).ok())
                    .and_then(type_name)
                else {
                    continue;
                };
                let kind = if msg.status == Some(StatusCode::NO_RESPONDERS) {
                    DeadLetterKind::NoSuchName
                } else {
                    match envelope::parse(&msg.payload) {
                        Ok(e) if e.kind == Kind::Rejection => {
                            match envelope::read_rejection(e.body) {
                                Rejection::NotFound { .. } => DeadLetterKind::NoSuchName,
                                Rejection::ActorGone => DeadLetterKind::ActorGone,
                                _ => DeadLetterKind::Rejected,
                            }
                        }
                        _ => continue,
                    }
                };
                inner
                    .local
                    .report_dead_letter(kind, name, message_type, None);
            }
            _ => {}
        }
    }
    // The subscription ended: the connection has closed for good. No answer will be read, so
    // the asks still waiting end now, with `InboxClosed`, not at their timeouts.
    if let Some(inner) = weak.upgrade() {
        inner.abandon_pending();
    }
}

/// The message types this process has sent as plain tells, numbered, so that a tell's reply
/// subject names its type and a rejection can be reported with it.
static TYPES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// The number of `name` in this process's table (added if new).
pub(crate) fn type_index(name: &'static str) -> usize {
    let mut types = TYPES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = types.iter().position(|t| *t == name) {
        return i;
    }
    types.push(name);
    types.len() - 1
}

fn type_name(index: usize) -> Option<&'static str> {
    TYPES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(index)
        .copied()
}
