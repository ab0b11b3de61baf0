//! Events as `tracing` events (feature `tracing`).

use super::{ActorInfo, ObservedEvent, Observer};

/// An [`Observer`] that emits each event as a [`tracing`] event with target `playhouse`, with
/// the fields `actor_id`, `actor_type` and `actor_name`: a subscriber (`tracing-subscriber`'s
/// `fmt`, OpenTelemetry, ...) shows a crash and its restart like any other log.
///
/// Levels: a panic and an escalation at `ERROR`; a restart, an abnormal end, a drop and a
/// refusal at `WARN`; starts and normal ends at `INFO`; spawns and expiries at `DEBUG`;
/// enqueued and handled messages at `TRACE` (a subscriber filtering at `DEBUG` or above makes
/// them cost a level check each).
///
/// With the `tracing` feature the runner also wraps each handled message in a span
/// `handle` (`actor_id`, `actor_type`, `actor_name`), so that what a handler logs is
/// attributed to its actor, whether or not this observer is installed. A request sent by an
/// ask ([`ActorRef::ask`](crate::ActorRef::ask) and its kin, a
/// [`Recipient`](crate::Recipient)'s, the broker's `request`) carries the span current where
/// it was sent, and its `handle` span is that span's child; a tell carries none, and its
/// `handle` span's parent is the span current in the actor's task (none, in a task of its
/// own). What that costs is in `docs/observability.md` ("An ask's span").
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::observer::TracingObserver;
/// use playhouse_core::testing::ThreadExecutor;
/// use playhouse_core::System;
///
/// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new())
///     .with_observer(TracingObserver::new());
/// # drop(system);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingObserver {
    _private: (),
}

impl TracingObserver {
    /// An observer emitting at the levels above.
    pub fn new() -> Self {
        TracingObserver::default()
    }
}

macro_rules! emit {
    ($level:ident, $actor:expr, $msg:literal $(, $($fields:tt)+)?) => {{
        let actor: &ActorInfo<'_> = $actor;
        tracing::$level!(
            target: "playhouse",
            actor_id = actor.id.as_u64(),
            actor_type = actor.type_name,
            actor_name = actor.name,
            $($($fields)+,)?
            $msg
        )
    }};
}

impl Observer for TracingObserver {
    fn observe(&self, actor: &ActorInfo<'_>, event: &ObservedEvent<'_>) {
        match *event {
            ObservedEvent::Spawned => emit!(debug, actor, "spawned"),
            ObservedEvent::Started { incarnation } => {
                emit!(info, actor, "started", incarnation = incarnation)
            }
            ObservedEvent::Panicked { message } => {
                emit!(error, actor, "panicked", panic = message)
            }
            ObservedEvent::Restarted {
                incarnation,
                reason,
            } => emit!(
                warn,
                actor,
                "restarted",
                incarnation = incarnation,
                reason = %reason
            ),
            ObservedEvent::Stopped { reason } if reason.is_normal() => {
                emit!(info, actor, "stopped", reason = %reason)
            }
            ObservedEvent::Stopped { reason } => emit!(warn, actor, "stopped", reason = %reason),
            ObservedEvent::Escalated { reason } => {
                emit!(error, actor, "escalated", reason = %reason)
            }
            ObservedEvent::Enqueued { depth, .. } => emit!(trace, actor, "enqueued", depth = depth),
            ObservedEvent::Handled {
                duration, depth, ..
            } => emit!(
                trace,
                actor,
                "handled",
                duration_us = duration.as_micros() as u64,
                depth = depth
            ),
            ObservedEvent::Dropped => emit!(warn, actor, "dropped by the overflow strategy"),
            ObservedEvent::Rejected => emit!(warn, actor, "rejected: the mailbox is full"),
            ObservedEvent::Expired => emit!(debug, actor, "expired before it was handled"),
            ObservedEvent::Discarded { count } => {
                emit!(debug, actor, "discarded unhandled", count = count)
            }
            ObservedEvent::Depth { depth, .. } => emit!(trace, actor, "depth", depth = depth),
        }
    }
}
