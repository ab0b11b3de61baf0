//! Links, monitors and trapped exits: how one actor learns of another's end.
//!
//! They follow Erlang's: a **monitor** is one-way and delivers one [`Down`] message to the
//! watching actor when the watched one ends (at once if it already has); a **link** is two-way
//! and, when either actor ends abnormally, ends the other's running incarnation with the same
//! reason, unless the other **traps exits**, in which case it receives an [`Exit`] message
//! instead. Both work on every actor, supervised or not, and neither keeps an actor alive.
//!
//! # Delivery
//!
//! `Down` and `Exit` are control messages: they enter the watcher's mailbox whatever its
//! strategy and room (never refused, dropped or waited on), and overtake the user messages
//! already queued (the next message handled is the oldest control message; among themselves
//! they keep their order). A watcher whose mailbox has closed receives nothing. Each is delivered exactly once per monitor
//! or link, or not at all once [`Monitor::demonitor`] or an unlink has returned `true`.
//!
//! # Cost
//!
//! Nothing on the message path. Each link is one boxed watcher in each actor's cell; each
//! monitor one in the watched actor's and one in the watcher's (which takes the monitor back if
//! the watcher ends first), made and freed on the cold path. Taking a link back searches both
//! actors' lists, a monitor the watched actor's (the watcher's side is a map).

use std::fmt;

use crate::cell::{ActorCell, ActorId, WatchTag};
use crate::exit::ExitReason;
use crate::mailbox::Strategy;
use crate::sync::Arc;

/// The message a monitor delivers when the watched actor ends: which actor, through which
/// monitor, and why. An actor that monitors others has a message type that is `From<Down>`.
#[derive(Clone, Debug)]
pub struct Down {
    /// The actor that ended.
    pub id: ActorId,
    /// The monitor that saw it ([`Monitor::id`]).
    pub monitor: u64,
    /// Why it ended. For an actor that had already ended when the monitor was set up, the
    /// reason it ended with (Erlang reports `noproc` there; the reason is more useful).
    pub reason: ExitReason,
}

/// The message a linked actor's end becomes for an actor that traps exits
/// ([`Context::trap_exit`](crate::Context::trap_exit)): which actor ended, and why. Delivered for
/// normal ends too, as in Erlang.
#[derive(Clone, Debug)]
pub struct Exit {
    /// The linked actor that ended.
    pub id: ActorId,
    /// Why it ended.
    pub reason: ExitReason,
}

/// A monitor set up by [`Context::monitor`](crate::Context::monitor) or
/// [`ActorRef::monitor_by`](crate::ActorRef::monitor_by): its number (the `monitor` field of
/// the [`Down`] it delivers) and the means to take it back.
pub struct Monitor {
    id: u64,
    target: ActorId,
    remove: Box<dyn Fn(u64) -> bool + Send + Sync>,
}

impl Monitor {
    /// The monitor's number, as in [`Down::monitor`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The watched actor.
    pub fn target(&self) -> ActorId {
        self.target
    }

    /// Takes the monitor back: `true` if its `Down` had not been sent and now never will be;
    /// `false` if it has been sent already (it may be in the mailbox), or if the watcher has
    /// ended (which took the monitor back itself).
    pub fn demonitor(self) -> bool {
        (self.remove)(self.id)
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("id", &self.id)
            .field("target", &self.target)
            .finish()
    }
}

/// Sets up a monitor of `target` that delivers [`Down`] to `watcher`.
///
/// Each side keeps a record of it, as for a link: the target's delivers the `Down` (and takes
/// the watcher's record back); the watcher's, should the watcher end first, takes the monitor
/// back from the target, as OTP drops a monitor with its monitoring process. Without it, every
/// ended watcher of a long-lived target would stay in the target's list until the target ended.
pub(crate) fn monitor<T, S, W>(target: &Arc<ActorCell<T, S>>, watcher: &Arc<W>) -> Monitor
where
    T: Send + 'static,
    S: Strategy,
    W: DownSink + Send + Sync + 'static,
{
    let id = crate::sync::next_id();
    let target_id = target.id;
    let on_target = target.clone();
    let watching = watcher.add_monitoring(
        id,
        Box::new(move |_, _| {
            on_target.remove_watcher(WatchTag::Monitor(id));
        }),
    );
    if watching {
        let sink = watcher.clone();
        target.add_tagged_watcher(
            WatchTag::Monitor(id),
            Box::new(move |ended, reason| {
                sink.deliver_down(Down {
                    id: ended,
                    monitor: id,
                    reason: reason.clone(),
                });
                sink.forget_monitoring(id);
            }),
        );
        // The watcher ended between the two records: its own ran before the target's was in
        // place, so take that one back here (its `Down` would find a closed mailbox).
        if watcher.has_ended()
            && !crate::faults::enabled(crate::faults::Fault::MonitorKeptForEndedWatcher)
        {
            target.remove_watcher(WatchTag::Monitor(id));
        }
    }
    let cell = target.clone();
    let by = watcher.clone();
    Monitor {
        id,
        target: target_id,
        remove: Box::new(move |id| {
            let removed = cell.remove_watcher(WatchTag::Monitor(id));
            by.forget_monitoring(id);
            removed
        }),
    }
}

/// A mailbox a [`Down`] can be delivered into, and the watching side's record of a monitor.
pub(crate) trait DownSink {
    fn deliver_down(&self, down: Down);
    /// Records the monitor `id`: `on_end` runs if this actor ends while it holds. `false` if
    /// it had already ended (`on_end` has then run).
    fn add_monitoring(&self, id: u64, on_end: crate::cell::ExitWatcher) -> bool;
    /// Drops the record of the monitor `id` (its `Down` was sent, or it was taken back).
    fn forget_monitoring(&self, id: u64);
    fn has_ended(&self) -> bool;
}

impl<M: From<Down> + Send + 'static, S: Strategy> DownSink for ActorCell<M, S> {
    fn deliver_down(&self, down: Down) {
        // A closed mailbox: the watcher has ended and wants nothing.
        let _ = self.push_control(M::from(down));
    }

    fn add_monitoring(&self, id: u64, on_end: crate::cell::ExitWatcher) -> bool {
        self.add_tagged_watcher(WatchTag::Monitoring(id), on_end)
    }

    fn forget_monitoring(&self, id: u64) {
        self.remove_watcher(WatchTag::Monitoring(id));
    }

    fn has_ended(&self) -> bool {
        self.exit_reason().is_some()
    }
}

/// What a link needs of each end: to receive the other's exit signal.
pub(crate) trait LinkEnd: Send + Sync + 'static {
    fn id(&self) -> ActorId;
    /// The linked actor `from` ended with `reason`; `true` if this end still had the link (it
    /// is now gone), in which case the signal was acted on.
    fn take_link_signal(&self, from: ActorId, reason: &ExitReason) -> bool;
    fn add_link_watcher(&self, peer: ActorId, watcher: crate::cell::ExitWatcher) -> bool;
    fn has_link(&self, peer: ActorId) -> bool;
    fn remove_link(&self, peer: ActorId) -> bool;
    /// The reason this end ended with, once it has.
    fn ended_reason(&self) -> Option<ExitReason>;
}

impl<M: Send + 'static, S: Strategy> LinkEnd for ActorCell<M, S> {
    fn id(&self) -> ActorId {
        self.id
    }

    fn take_link_signal(&self, from: ActorId, reason: &ExitReason) -> bool {
        // Claim the link: whoever removes this end's record of it (the signal, or an unlink)
        // decides, so that no signal acts after an unlink returned.
        if !self.remove_watcher(WatchTag::Link(from))
            && !crate::faults::enabled(crate::faults::Fault::LinkSignalUnclaimed)
        {
            return false;
        }
        self.exit_signal(from, reason);
        true
    }

    fn add_link_watcher(&self, peer: ActorId, watcher: crate::cell::ExitWatcher) -> bool {
        // One record of a link per end, even when two `link` calls race past `has_link`.
        if crate::faults::enabled(crate::faults::Fault::LinkRecordedTwice) {
            return self.add_tagged_watcher(WatchTag::Link(peer), watcher);
        }
        self.add_tagged_watcher_once(WatchTag::Link(peer), watcher)
    }

    fn has_link(&self, peer: ActorId) -> bool {
        self.has_watcher(WatchTag::Link(peer))
    }

    fn remove_link(&self, peer: ActorId) -> bool {
        self.remove_watcher(WatchTag::Link(peer))
    }

    fn ended_reason(&self) -> Option<ExitReason> {
        self.exit_reason()
    }
}

impl<M: Send + 'static, S: Strategy> ActorCell<M, S> {
    /// The exit signal of a linked actor: a message if this actor traps exits; otherwise, for an
    /// abnormal reason, the end of its running incarnation with that reason (its supervisor or
    /// restart policy decides what follows; without one the actor ends).
    pub(crate) fn exit_signal(&self, from: ActorId, reason: &ExitReason) {
        match self.trap_fn() {
            Some(make) => {
                let _ = self.push_control(make(Exit {
                    id: from,
                    reason: reason.clone(),
                }));
            }
            None if !reason.is_normal() => self.request_restart(true, reason.clone()),
            None => {}
        }
    }

    /// How exit signals become messages, while this actor traps exits.
    fn trap_fn(&self) -> Option<fn(Exit) -> M> {
        self.with_trap(|trap| trap.and_then(|t| t.downcast_ref::<fn(Exit) -> M>().copied()))
    }
}

/// Links `a` and `b` (idempotent: a second link between them is the same link). If either
/// has already ended, the other receives its exit signal at once.
pub(crate) fn link<X: LinkEnd, Y: LinkEnd>(a: &Arc<X>, b: &Arc<Y>) {
    let (a_id, b_id) = (a.id(), b.id());
    if a_id == b_id || a.has_link(b_id) {
        return;
    }
    // On `a`: when it ends, `b` is told (if `b` still has the link).
    let to_b = b.clone();
    let a_alive = a.add_link_watcher(
        b_id,
        Box::new(move |from, reason| {
            to_b.take_link_signal(from, reason);
        }),
    );
    // On `b`'s side the record of the link is the watcher that tells `a`.
    let to_a = a.clone();
    let b_alive = b.add_link_watcher(
        a_id,
        Box::new(move |from, reason| {
            to_a.take_link_signal(from, reason);
        }),
    );
    let _ = (a_alive, b_alive);
    if crate::faults::enabled(crate::faults::Fault::LinkSkipsEndedPeer) {
        return;
    }
    // An end that ran its watcher before the other side's record of the link was in place (`a`
    // ended before this call, or between the two registrations) found nothing to claim: its
    // signal is delivered now. The claim keeps it to once if the watcher did find the record.
    if let Some(reason) = a.ended_reason() {
        b.take_link_signal(a_id, &reason);
    }
    if let Some(reason) = b.ended_reason() {
        a.take_link_signal(b_id, &reason);
    }
}

/// Removes the link between `a` and `b`: `true` if there was one. Once this returns, neither
/// acts on an exit signal of the other through it.
pub(crate) fn unlink<X: LinkEnd, Y: LinkEnd>(a: &Arc<X>, b: &Arc<Y>) -> bool {
    let ab = a.remove_link(b.id());
    let ba = b.remove_link(a.id());
    ab || ba
}
