//! Supervising a sharded group's activations
//! ([`ShardedSpec::supervise`](super::ShardedSpec::supervise)): the [`ReactivationSource`] a
//! restart draws on (the group's factory, run with the key's state reopened under the
//! activation's lease), and the supervision each activation runs under, counting its restarts.
//!
//! The supervision itself is whatever the user's [`SupervisionMaker`] makes, as for an
//! in-memory keyed set: `playhouse-supervisor`'s `KeyedSupervision` works on both.
//!
//! [`SupervisionMaker`]: playhouse_broker::keyed::SupervisionMaker

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use futures::FutureExt;
use playhouse_broker::keyed::{
    ActivationCause, BoxedSupervision, Reactivation, ReactivationSource, SetDropped,
};
use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, DeadLetterKind, Executor};

use super::lease::Lease;
use super::serve::{Group, report_discarded};
use super::state::KeyState;
use crate::codec::Codec;
use crate::routes::panic_message;
use crate::runtime;

/// Makes the supervision of each activation (the user's maker, its type erased).
pub(crate) type SupervisionFactory<A> =
    Arc<dyn Fn(Reactivation<String, A>) -> BoxedSupervision<A> + Send + Sync>;

/// The clock and timer of the executor the group's actors run on (a restart's backoff waits
/// on it), with its type erased.
pub(crate) trait ActorClock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl<E: Executor> ActorClock for E {
    fn now(&self) -> Instant {
        Executor::now(self)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(Executor::sleep_until(self, deadline))
    }
}

/// What the restarts of one activation draw on: the group, and the lease the activation holds.
/// The activation keeps it (strongly) while it lives; its supervision's [`Reactivation`] holds
/// it weakly, so a restart after the activation ended makes nothing.
struct Restarter<A: Actor, MB: Mailbox, C: Codec> {
    group: Weak<Group<A, MB, C>>,
    lease: Arc<Lease>,
    clock: Arc<dyn ActorClock>,
}

impl<A: Actor, MB: Mailbox, C: Codec> ReactivationSource<String, A> for Restarter<A, MB, C> {
    fn remake<'a>(
        &'a self,
        key: &'a String,
        _activation: u64,
    ) -> Pin<Box<dyn Future<Output = Result<A, ActivationCause>> + Send + 'a>> {
        let (group, lease, key) = (self.group.clone(), Arc::clone(&self.lease), key.clone());
        Box::pin(async move {
            let Some(group) = group.upgrade() else {
                return Err(Arc::new(SetDropped) as ActivationCause);
            };
            // The state bucket is reached on the crate's runtime, whatever runs the actor.
            runtime::run(async move { group.remake(&key, lease).await }).await
        })
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.clock.sleep_until(deadline)
    }
}

/// A supervised activation's supervision (the user's, counting its restarts in
/// [`ShardedStats::restarts`](crate::ShardedStats::restarts)), and what its restarts draw on
/// (which the activation keeps alive).
pub(crate) struct Supervised<A> {
    pub(crate) supervision: BoxedSupervision<A>,
    pub(crate) restarter: Arc<dyn ReactivationSource<String, A>>,
}

impl<A: Actor, MB: Mailbox, C: Codec> Group<A, MB, C> {
    /// The supervision of a new activation of `key` under `lease`: `None` for a group without
    /// one; an error if the user's maker panicked. What its restarts drain from the queue is
    /// reported at once as [`Drained`](DeadLetterKind::Drained) dead letters and added to
    /// `drained`, which the report of the activation's end leaves out.
    pub(crate) fn supervise(
        self: &Arc<Self>,
        key: &str,
        lease: &Arc<Lease>,
        drained: &Arc<AtomicU64>,
    ) -> Result<Option<Supervised<A>>, String> {
        let Some(make) = &self.supervision else {
            return Ok(None);
        };
        let restarter: Arc<dyn ReactivationSource<String, A>> = Arc::new(Restarter {
            group: Arc::downgrade(self),
            lease: Arc::clone(lease),
            clock: Arc::clone(&self.clock),
        });
        let activation = Reactivation::new(key.to_owned(), 0, Arc::downgrade(&restarter));
        match std::panic::catch_unwind(AssertUnwindSafe(|| make(activation))) {
            Ok(supervision) => {
                let counters = Arc::clone(&self.counters);
                let (broker, target, reported) = (
                    self.inner.local.clone(),
                    format!("{}/{key}", self.name),
                    Arc::clone(drained),
                );
                let supervision = supervision
                    .on_restart(move || {
                        counters.restarts.fetch_add(1, Ordering::Relaxed);
                    })
                    .on_drained(move |n| {
                        reported.fetch_add(n as u64, Ordering::Relaxed);
                        report_discarded::<A::Message>(
                            &broker,
                            DeadLetterKind::Drained,
                            &target,
                            n as u64,
                        );
                    });
                Ok(Some(Supervised {
                    supervision,
                    restarter,
                }))
            }
            Err(payload) => Err(format!(
                "the supervision maker panicked: {}",
                panic_message(payload)
            )),
        }
    }

    /// A fresh actor for `key`, for a restart of its activation under `lease`: the key's state
    /// reopened (which fences any write of the crashed actor's state handle still under way)
    /// and the factory run again, its panic caught.
    async fn remake(&self, key: &str, lease: Arc<Lease>) -> Result<A, ActivationCause> {
        if !lease.is_valid() {
            return Err(Arc::new(RestartRefused(format!(
                "the lease of {key} lapsed: the key is no longer this node's to restart"
            ))));
        }
        let codec = self.inner.codec.clone();
        let state = KeyState::open(self.states.clone(), key, codec, lease, self.inner.limit)
            .await
            .map_err(|e| Arc::new(e) as ActivationCause)?;
        let made = AssertUnwindSafe((self.factory)(key, state))
            .catch_unwind()
            .await;
        match made {
            Ok(Ok(actor)) => Ok(actor),
            Ok(Err(cause)) => Err(Arc::from(cause)),
            Err(payload) => Err(Arc::new(RestartRefused(format!(
                "the factory panicked: {}",
                panic_message(payload)
            )))),
        }
    }
}

/// Why a restart made no actor, in words (the lease lapsed, the factory panicked).
#[derive(Debug)]
struct RestartRefused(String);

impl fmt::Display for RestartRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RestartRefused {}
