//! A supervisor's subtree, measured: each child's figures from a [`Metrics`] observer, nested
//! as the tree is, and their sum.

use std::future::Future;
use std::pin::Pin;

use playhouse_core::observer::{ActorMetrics, Metrics};
use playhouse_core::{Executor, MessageBroker};

use crate::error::SupervisorError;
use crate::handle::SupervisorRef;
use crate::health::HealthStatus;
use crate::spec::{ChildId, ChildKind};
use crate::supervisor::ChildState;

/// What [`SupervisorRef::metrics`] reads: the supervisor's own figures and each child's, a
/// nested supervisor's with its own subtree.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SubtreeMetrics {
    /// The supervisor's actor.
    pub actor: playhouse_core::ActorId,
    /// The supervisor's own figures (its mailbox carries its API calls and its children's
    /// reports).
    pub supervisor: Option<ActorMetrics>,
    /// Its children, newest first (as `which_children` lists them).
    pub children: Vec<ChildMetrics>,
}

/// One child of a [`SubtreeMetrics`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChildMetrics {
    /// Its id.
    pub id: ChildId,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Running, restarting or stopped.
    pub state: ChildState,
    /// Its actor's figures, while it has a running actor that the observer saw.
    pub metrics: Option<ActorMetrics>,
    /// A nested supervisor's own subtree.
    pub subtree: Option<Box<SubtreeMetrics>>,
    /// Its health, if its spec has a [`HealthCheck`](crate::HealthCheck) (as `which_children`
    /// reports it).
    pub health: Option<HealthStatus>,
}

impl SubtreeMetrics {
    /// The sum over the whole subtree, the supervisors included ([`ActorMetrics::add`]):
    /// messages handled, handling times, queue depths (summed) and the highest high-water
    /// mark, drops, refusals, expiries, restarts and panics.
    pub fn total(&self) -> ActorMetrics {
        let mut total = ActorMetrics::zeroed(self.actor, "subtree");
        if let Some(own) = &self.supervisor {
            total.add(own);
        }
        for child in &self.children {
            if let Some(m) = &child.metrics {
                if child.subtree.is_none() {
                    total.add(m);
                }
            }
            if let Some(sub) = &child.subtree {
                total.add(&sub.total());
            }
        }
        total
    }
}

impl<E: Executor, B: MessageBroker> SupervisorRef<E, B> {
    /// This supervisor's subtree, measured by `metrics` (the observer of the system the tree
    /// runs in: `System::with_observer(metrics.clone())`). Each nested supervisor is asked in
    /// turn, so the figures are a walk, not one instant. Errors: the supervisor (or a nested
    /// one) has ended.
    pub fn metrics<'a>(
        &'a self,
        metrics: &'a Metrics,
    ) -> Pin<Box<dyn Future<Output = Result<SubtreeMetrics, SupervisorError>> + Send + 'a>> {
        // Boxed: the walk recurses into nested supervisors.
        Box::pin(async move {
            let supervisor = metrics.snapshot(self.id());
            let mut children = Vec::new();
            for info in self.which_children().await? {
                let child_metrics = info.actor.and_then(|id| metrics.snapshot(id));
                let subtree = match (info.kind, info.state) {
                    (ChildKind::Supervisor, ChildState::Running) => {
                        match self.child_supervisor(info.id.clone()).await {
                            Ok(nested) => Some(Box::new(nested.metrics(metrics).await?)),
                            // It ended between the two calls.
                            Err(_) => None,
                        }
                    }
                    _ => None,
                };
                children.push(ChildMetrics {
                    id: info.id,
                    kind: info.kind,
                    state: info.state,
                    metrics: child_metrics,
                    subtree,
                    health: info.health,
                });
            }
            Ok(SubtreeMetrics {
                actor: self.id(),
                supervisor,
                children,
            })
        })
    }
}
