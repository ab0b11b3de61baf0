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

/// The subscribers of one supervisor, linked to its parent's: an event of a supervisor goes to
/// its own subscribers and to those of each supervisor it is nested in, so that a subscription
/// sees the supervisor it was taken at and its subtree, never a parent's or a sibling's. Nothing
/// is built or sent while the whole tree has no subscriber.
#[derive(Clone, Default)]
pub(crate) struct EventBus {
    subscribers: Arc<Mutex<Vec<async_channel::Sender<SupervisorEvent>>>>,
    /// The bus of the supervisor this one is nested in.
    parent: Option<Arc<EventBus>>,
    /// Whether anyone ever subscribed anywhere in the tree (one flag, shared by every bus of
    /// the tree): read without a lock, so that a tree nobody watches pays one load per event.
    watched: Arc<AtomicBool>,
}

impl EventBus {
    /// Sends the event `make` builds to every subscriber of this supervisor and of the ones
    /// it is nested in; with none, `make` is not called.
    pub(crate) fn emit(&self, make: impl FnOnce() -> SupervisorEvent) {
        if !self.watched.load(Ordering::Acquire) {
            return;
        }
        let mut make = Some(make);
        let mut event = None;
        let mut bus = Some(self);
        while let Some(at) = bus {
            let mut subs = at.subscribers.lock().unwrap_or_else(|p| p.into_inner());
            if !subs.is_empty() {
                if event.is_none() {
                    event = make.take().map(|make| make());
                }
                if let Some(event) = &event {
                    subs.retain(|s| s.try_send(event.clone()).is_ok());
                }
            }
            drop(subs);
            bus = at.parent.as_deref();
        }
    }

    /// The flag that says whether anyone ever subscribed, for the children's tasks.
    pub(crate) fn watched(&self) -> Arc<AtomicBool> {
        self.watched.clone()
    }

    /// This bus (a nested supervisor's: its own subscribers, taken through its spec) joined
    /// to its parent's: the parent's subscribers see its events too, and it shares the tree's
    /// flag, raised if it already has subscribers.
    pub(crate) fn nested_in(&self, parent: &EventBus) -> EventBus {
        let watched = parent.watched.clone();
        if self.watched.load(Ordering::Acquire) {
            watched.store(true, Ordering::Release);
        }
        EventBus {
            subscribers: self.subscribers.clone(),
            parent: Some(Arc::new(parent.clone())),
            watched,
        }
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

/// A subscription to the lifecycle events of a supervisor and of every supervisor nested in it
/// (not those of its parent or siblings), in the order they happened (per supervisor). A
/// [`Stream`]; also [`recv`](Events::recv). Unbounded: a subscriber that does not read lets
/// events pile up; drop it to unsubscribe.
#[derive(Debug)]
pub struct Events {
    rx: Pin<Box<async_channel::Receiver<SupervisorEvent>>>,
}

impl Events {
    /// The next event; `None` once the supervisor subscribed to and every supervisor nested in
    /// it have ended (a nested supervisor that its parent restarts is a new one: subscribe to
    /// it again).
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
