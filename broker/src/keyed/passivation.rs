//! Passivation: stopping a key's activation gracefully, on demand or once it has been idle, so
//! that an idle key costs nothing.
//!
//! Idle keys are found by a sweeper, a small actor of the set's system that `run_interval`
//! wakes every quarter of the idle time. A routed send only sets a flag on its key's entry (a
//! read, and a write only when the flag was clear); the sweeper clears the flags and stamps the
//! time it saw them, on the executor's clock (so `VirtualTime` tests control it). A key whose
//! flag stayed clear for the idle time is passivated: under its shard's write lock, which no
//! routed send holds, so a send either reached the mailbox before the stop (and is handled: a
//! stop handles what is queued) or finds it closed and activates the key again.
//!
//! The read lock a routed send holds while it sets the flag and `try_tell`s is what makes the
//! sweep's second look (under the write lock, just before the stop) exact: no routed send is
//! half done then, so a key with a send in flight is never passivated. It is not what makes
//! passivation lose nothing: the mailbox's own lock orders its close against every `try_tell`,
//! and a send that finds the mailbox closed gets its message back. A
//! [`KeyRef`](super::KeyRef) relies on that alone: it sets the flag (shared with the entry,
//! [`Idle`](super::entry::Idle)) and `try_tell`s into its cached mailbox without the lock. A
//! handle's send that comes between the sweep's second look and the stop may therefore see its
//! key passivated; its message is then routed and activates the key again, as that of a routed
//! send coming just after the stop would. It happens only to a key that has had no send for
//! the whole idle time, and costs an activation, never a message.

use std::convert::Infallible;
use std::sync::Weak;
use std::time::{Duration, Instant};

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, Context, Env, Handler, WeakActorRef};

use super::entry::Slot;
use super::shared::{Counters, Shared};
use super::spec::Key;
use super::table;

/// How often the sweeper looks, for an idle time: a quarter of it, at least a millisecond.
pub(crate) fn sweep_period(idle: Duration) -> Duration {
    (idle / 4).max(Duration::from_millis(1))
}

impl<K: Key, A: Actor, MB: Mailbox> Shared<K, A, MB> {
    /// Passivates the key's activation now: `true` if it had one running (not activating, not
    /// already being passivated).
    pub(crate) fn passivate(&self, hash: u64, key: &K) -> bool {
        let stopped = {
            let mut guard = self.table.write(hash);
            let shard = &mut *guard;
            match shard.get_mut(hash, key) {
                Some(Slot::Active(active)) if !active.stopping => {
                    active.stopping = true;
                    active.actor.stop_after_queue_with(self.passivated.clone());
                    shard.active = shard.active.saturating_sub(1);
                    true
                }
                _ => false,
            }
        };
        if stopped {
            Counters::add(&self.counters.passivations, 1);
        }
        stopped
    }

    /// Passivates every running activation; returns weak references to wait on.
    pub(crate) fn passivate_all(&self) -> Vec<WeakActorRef<A, MB>> {
        let mut stopped = Vec::new();
        for lock in self.table.shards() {
            let mut guard = table::write(lock);
            let shard = &mut *guard;
            let before = stopped.len();
            for slot in shard.iter_mut() {
                if let Slot::Active(active) = slot {
                    if !active.stopping {
                        active.stopping = true;
                        active.actor.stop_after_queue_with(self.passivated.clone());
                        stopped.push(active.actor.downgrade());
                    }
                }
            }
            shard.active = shard.active.saturating_sub(stopped.len() - before);
        }
        Counters::add(&self.counters.passivations, stopped.len() as u64);
        stopped
    }

    /// One sweep at `now`: passivates the keys idle for the idle time.
    pub(crate) fn sweep(&self, now: Instant) {
        let Some(idle) = self.idle else {
            return;
        };
        let now = self.stamp(now);
        let idle = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
        let mut stale: Vec<(u64, u64)> = Vec::new();
        let mut passivated = 0;
        for lock in self.table.shards() {
            stale.clear();
            {
                let shard = table::read(lock);
                for (hash, slot) in shard.iter() {
                    let Slot::Active(active) = slot else {
                        continue;
                    };
                    if active.stopping || active.idle.take_touched(now) {
                        continue;
                    }
                    // A key with messages queued is not idle, whatever the clock says: its
                    // handler is slow, or its actor is between two incarnations (a restart
                    // that waits for a backoff or a factory), which a stop would end with the
                    // queue discarded. It counts as active now, so that its idle time starts
                    // once its queue has drained.
                    if active.actor.mailbox_len() > 0 {
                        active.idle.seen_busy(now);
                        continue;
                    }
                    if now.saturating_sub(active.idle.last_active()) >= idle {
                        stale.push((hash, active.id));
                    }
                }
            }
            if stale.is_empty() {
                continue;
            }
            let mut guard = table::write(lock);
            let shard = &mut *guard;
            for &(hash, id) in &stale {
                let Some(Slot::Active(active)) = shard.find_mut(hash, |s| s.id() == id) else {
                    continue;
                };
                // A send between the two locks keeps the key. A `KeyRef`'s send takes no
                // lock of the table: the mailbox's own lock decides, in one step, between
                // its message and the stop.
                if active.stopping
                    || active.idle.is_touched()
                    || !active.actor.stop_if_empty_with(self.passivated.clone())
                {
                    continue;
                }
                active.stopping = true;
                shard.active = shard.active.saturating_sub(1);
                passivated += 1;
            }
        }
        Counters::add(&self.counters.passivations, passivated);
        Counters::add(&self.counters.sweeps, 1);
    }
}

/// The actor that sweeps a keyed set for idle keys. It ends with the set (the set holds its
/// only reference, and it holds the set weakly).
pub(crate) struct Sweeper<K: Key, A: Actor, MB: Mailbox> {
    shared: Weak<Shared<K, A, MB>>,
    period: Duration,
}

impl<K: Key, A: Actor, MB: Mailbox> Sweeper<K, A, MB> {
    pub(crate) fn new(shared: Weak<Shared<K, A, MB>>, idle: Duration) -> Self {
        Sweeper {
            shared,
            period: sweep_period(idle),
        }
    }
}

/// The sweeper's only message: look now.
pub(crate) struct Sweep;

impl<K: Key, A: Actor, MB: Mailbox> Actor for Sweeper<K, A, MB> {
    type Message = Sweep;
    type Error = Infallible;
}

impl<K: Key, A: Actor, MB: Mailbox, V: Env> Handler<V> for Sweeper<K, A, MB> {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        ctx.run_interval(self.period, || Sweep);
        Ok(())
    }

    async fn handle(&mut self, _: Sweep, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        match self.shared.upgrade() {
            Some(shared) => shared.sweep(ctx.now()),
            None => ctx.stop(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_period_is_a_quarter_of_the_idle_time_and_never_zero() {
        assert_eq!(
            sweep_period(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(sweep_period(Duration::ZERO), Duration::from_millis(1));
    }
}
