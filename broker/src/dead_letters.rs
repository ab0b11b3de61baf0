//! Dead letters: what the broker could not deliver, counted per kind and shown to hooks.
//!
//! Recording one is a relaxed atomic increment of its kind's counter and an atomic load of
//! "is anyone watching"; only when a hook is installed is a [`DeadLetter`] built (its target
//! copied into a `String`) and each hook called. Hooks are kept copy-on-write: the list is an
//! `Arc<[Hook]>` swapped under a lock by `on_dead_letter` and `remove_dead_letter_hook`, and a
//! dead letter takes the lock only to clone that `Arc`, so a hook runs with no lock held (it
//! may itself install a hook or cause a dead letter) and hooks never wait for each other.

use std::any::type_name;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
// The counters are statistics: they order nothing, so they are std's, outside the loom models
// (as the fault switches are). The state is in a std `Arc` because requests reach it as an
// `Arc<dyn DeadLetterSink>`, and loom's `Arc` does not coerce to a trait object.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use playhouse_core::{
    CorrelationId, DeadLetter, DeadLetterCounts, DeadLetterHookId, DeadLetterKind, DeadLetterSink,
    PublishReport, Topic, UndeliveredReason,
};

use crate::sync::RwLock;

/// One installed hook.
type Hook = Arc<dyn Fn(&DeadLetter) + Send + Sync>;

/// The hooks, in the order they were installed, with their ids.
type Hooks = Arc<[(DeadLetterHookId, Hook)]>;

/// The dead letters of one broker. Cheap to clone: one `Arc`.
#[derive(Clone, Default)]
pub(crate) struct DeadLetters {
    inner: Arc<Inner>,
}

struct Inner {
    counts: [AtomicU64; DeadLetterKind::ALL.len()],
    /// `true` while at least one hook is installed: the one load a dead letter pays when
    /// nobody watches.
    watched: AtomicBool,
    hooks: RwLock<Hooks>,
    next_hook: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            counts: Default::default(),
            watched: AtomicBool::new(false),
            hooks: RwLock::new(Arc::new([])),
            next_hook: AtomicU64::new(1),
        }
    }
}

impl DeadLetters {
    /// Counts one dead letter, and shows it to the hooks if any is installed.
    #[inline]
    pub(crate) fn record(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    ) {
        self.inner
            .dead_letter(kind, target, message_type, correlation);
    }

    /// Counts what a publish to `topic` could not deliver: the message itself when it reached
    /// no subscriber, a copy for each subscriber found gone.
    pub(crate) fn record_publish<M>(&self, topic: &Topic<M>, report: &PublishReport<M>) {
        if report.no_subscribers() {
            self.record(
                DeadLetterKind::NoSubscribers,
                topic.name(),
                type_name::<M>(),
                None,
            );
        }
        for undelivered in &report.undelivered {
            if undelivered.reason == UndeliveredReason::Gone {
                self.record(
                    DeadLetterKind::ActorGone,
                    topic.name(),
                    type_name::<M>(),
                    None,
                );
            }
        }
    }

    /// `true` while a hook is installed: what a request checks before it keeps its target's
    /// name for a late reply's dead letter.
    pub(crate) fn watched(&self) -> bool {
        self.inner.watched.load(Ordering::Acquire)
    }

    /// The sink a request reports its late reply to.
    pub(crate) fn sink(&self) -> Arc<dyn DeadLetterSink> {
        self.inner.clone()
    }

    pub(crate) fn counts(&self) -> DeadLetterCounts {
        let mut counts = DeadLetterCounts::default();
        for kind in DeadLetterKind::ALL {
            *counts.get_mut(kind) = self.inner.counts[kind.index()].load(Ordering::Relaxed);
        }
        counts
    }

    pub(crate) fn add_hook(&self, hook: Hook) -> DeadLetterHookId {
        let id = DeadLetterHookId::from_u64(self.inner.next_hook.fetch_add(1, Ordering::Relaxed));
        let mut hooks = self.inner.hooks.write();
        let with = hooks.iter().cloned().chain([(id, hook)]).collect();
        let old = std::mem::replace(&mut *hooks, with);
        self.inner.watched.store(true, Ordering::Release);
        drop(hooks);
        // The old list, after the lock (see `remove_hook`).
        drop(old);
        id
    }

    pub(crate) fn remove_hook(&self, id: DeadLetterHookId) -> bool {
        let mut hooks = self.inner.hooks.write();
        if !hooks.iter().any(|(h, _)| *h == id) {
            return false;
        }
        let without = hooks.iter().filter(|(h, _)| *h != id).cloned().collect();
        let old = std::mem::replace(&mut *hooks, without);
        self.inner
            .watched
            .store(!hooks.is_empty(), Ordering::Release);
        drop(hooks);
        // The removed hook is user code, dropped (with what it captured) after the lock: a
        // captured value whose drop installs or removes a hook would wait on the lock for ever.
        drop(old);
        true
    }
}

impl DeadLetterSink for Inner {
    #[inline]
    fn dead_letter(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    ) {
        self.counts[kind.index()].fetch_add(1, Ordering::Relaxed);
        if self.watched.load(Ordering::Acquire) {
            self.show(kind, target, message_type, correlation);
        }
    }
}

impl Inner {
    #[cold]
    fn show(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    ) {
        let hooks = self.hooks.read().clone();
        let letter = DeadLetter {
            kind,
            target: target.to_owned(),
            message_type,
            correlation,
        };
        for (_, hook) in hooks.iter() {
            // Contained: the default panic hook has reported it; the sender and the other
            // hooks carry on. (Nothing of ours is left half-changed by a hook's panic.)
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&letter)));
        }
    }
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("counts", &self.counts())
            .field("hooks", &self.inner.hooks.read().len())
            .finish()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn counts_without_hooks_and_shows_hooks_in_order() {
        let dead = DeadLetters::default();
        dead.record(DeadLetterKind::NoSuchName, "a", "u8", None);
        assert!(!dead.watched());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ids: Vec<_> = (0..2)
            .map(|n| {
                let seen = seen.clone();
                dead.add_hook(Arc::new(move |l: &DeadLetter| {
                    seen.lock().unwrap().push((n, l.target.clone()));
                }))
            })
            .collect();
        assert!(dead.watched());
        dead.record(DeadLetterKind::LateReply, "b", "u16", None);
        assert_eq!(
            *seen.lock().unwrap(),
            [(0, "b".to_owned()), (1, "b".to_owned())]
        );
        assert!(dead.remove_hook(ids[0]));
        assert!(!dead.remove_hook(ids[0]));
        assert!(dead.watched());
        assert!(dead.remove_hook(ids[1]));
        assert!(!dead.watched());
        let counts = dead.counts();
        assert_eq!(counts.no_such_name, 1);
        assert_eq!(counts.late_replies, 1);
        assert_eq!(counts.total(), 2);
    }

    /// Installs and removes a hook when dropped.
    struct Reenters(DeadLetters);

    impl Drop for Reenters {
        fn drop(&mut self) {
            let id = self.0.add_hook(Arc::new(|_: &DeadLetter| {}));
            self.0.remove_hook(id);
        }
    }

    /// A removed hook is dropped after the lock: one whose captures use the hooks when dropped
    /// deadlocked.
    #[test]
    fn a_removed_hook_is_dropped_outside_the_lock() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dead = DeadLetters::default();
            let captured = Reenters(dead.clone());
            let id = dead.add_hook(Arc::new(move |_: &DeadLetter| {
                let _ = &captured;
            }));
            let _ = done.send(dead.remove_hook(id));
        });
        let removed = finished.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(removed, Ok(true));
    }

    #[test]
    fn a_hook_may_install_a_hook_or_cause_a_dead_letter() {
        let dead = DeadLetters::default();
        let inner = dead.clone();
        dead.add_hook(Arc::new(move |l: &DeadLetter| {
            if l.kind == DeadLetterKind::NoSuchName {
                inner.record(DeadLetterKind::ActorGone, "again", "u8", None);
                inner.add_hook(Arc::new(|_: &DeadLetter| {}));
            }
        }));
        dead.record(DeadLetterKind::NoSuchName, "a", "u8", None);
        assert_eq!(dead.counts().actor_gone, 1);
        assert_eq!(dead.inner.hooks.read().len(), 2);
    }
}
