//! Lifecycle events: what supervisors did to their children, as a stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use playhouse_core::{ActorId, ExitReason};

use crate::error::StartCause;
use crate::health::ProbeFailure;
use crate::spec::ChildId;

/// Something a supervisor did or saw.
#[derive(Clone, Debug)]
pub struct SupervisorEvent {
    /// The supervisor's name ([`SupervisorSpec::name`](crate::SupervisorSpec::name); a nested
    /// supervisor is named after its child id).
    pub supervisor: Arc<str>,
    /// The child concerned (none for the supervisor's own events).
    pub child: Option<ChildId>,
    /// The child's actor, when it has one.
    pub actor: Option<ActorId>,
    /// What happened.
    pub kind: EventKind,
}

/// What happened ([`SupervisorEvent::kind`]).
#[derive(Clone, Debug)]
pub enum EventKind {
    /// The child started (first incarnation of this actor).
    Started,
    /// The child was restarted: its `incarnation`-th incarnation started behind the same
    /// reference.
    Restarted {
        /// The new incarnation's number (2 for the first restart).
        incarnation: u32,
    },
    /// The child's incarnation ended (by itself, or stopped by its supervisor).
    Stopped {
        /// Why.
        reason: ExitReason,
    },
    /// A start or restart of the child failed.
    StartFailed {
        /// Why.
        cause: StartCause,
    },
    /// The supervisor exceeded its restart intensity: it stops its children and exits with
    /// `Shutdown`, for its parent to handle.
    Escalated {
        /// The restarts it allowed within the period.
        max_restarts: u32,
    },
    /// A significant child's exit shut the supervisor down (`auto_shutdown`).
    AutoShutdown,
    /// A probe of the child's [`HealthCheck`](crate::HealthCheck) failed. When
    /// `consecutive_failures` reaches the check's threshold the supervisor ends the child's
    /// incarnation, and a `Stopped` event with reason
    /// `Failed(`[`HealthCheckFailed`](crate::HealthCheckFailed)`)` follows, then whatever the
    /// child's spec does about it (`Restarted`, …). Passing probes are not events (they would
    /// come every interval): they are counted in [`ChildInfo::health`](crate::ChildInfo).
    HealthCheckFailed {
        /// Why the probe failed.
        cause: ProbeFailure,
        /// The failed probes in a row, this one included.
        consecutive_failures: u32,
    },
}

/// The subscribers of a supervision tree: shared by a supervisor and every supervisor nested
/// in it. Nothing is built or sent while it is empty.
#[derive(Clone, Default)]
pub(crate) struct EventBus {
    subscribers: Arc<Mutex<Vec<async_channel::Sender<SupervisorEvent>>>>,
    /// Whether anyone ever subscribed: read without the lock, so that a tree nobody watches
    /// pays one load per event.
    watched: Arc<AtomicBool>,
}

impl EventBus {
    /// Sends the event `make` builds to every subscriber; with none, `make` is not called.
    pub(crate) fn emit(&self, make: impl FnOnce() -> SupervisorEvent) {
        if !self.watched.load(Ordering::Acquire) {
            return;
        }
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        if subs.is_empty() {
            return;
        }
        let event = make();
        subs.retain(|s| s.try_send(event.clone()).is_ok());
    }

    /// The flag that says whether anyone ever subscribed, for the children's tasks.
    pub(crate) fn watched(&self) -> Arc<AtomicBool> {
        self.watched.clone()
    }

    /// Moves `other`'s subscribers into this bus (a nested supervisor joins its parent's).
    pub(crate) fn absorb(&self, other: &EventBus) {
        if Arc::ptr_eq(&self.subscribers, &other.subscribers) {
            return;
        }
        let moved =
            std::mem::take(&mut *other.subscribers.lock().unwrap_or_else(|p| p.into_inner()));
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(moved);
    }

    pub(crate) fn subscribe(&self) -> Events {
        let (tx, rx) = async_channel::unbounded();
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        self.watched.store(true, Ordering::Release);
        Events { rx: Box::pin(rx) }
    }
}

/// A subscription to a supervision tree's lifecycle events, in the order they happened (per
/// supervisor). A [`Stream`]; also [`recv`](Events::recv). Unbounded: a subscriber that does
/// not read lets events pile up; drop it to unsubscribe.
#[derive(Debug)]
pub struct Events {
    rx: Pin<Box<async_channel::Receiver<SupervisorEvent>>>,
}

impl Events {
    /// The next event; `None` once every supervisor of the tree has ended.
    pub async fn recv(&self) -> Option<SupervisorEvent> {
        self.rx.recv().await.ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<SupervisorEvent> {
        self.rx.try_recv().ok()
    }
}

impl Stream for Events {
    type Item = SupervisorEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.as_mut().poll_next(cx)
    }
}
