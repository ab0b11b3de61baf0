//! OTP supervisors for playhouse.
//!
//! A supervisor starts its children in order, watches them, and restarts them by the rules of
//! Erlang/OTP's `supervisor` behaviour: each child's restart type (`Permanent`, `Transient`,
//! `Temporary`) decides whether an exit leads to a restart, the supervisor's restart intensity
//! (`max_restarts` within `period`) whether it may, and its strategy (`OneForOne`, `OneForAll`,
//! `RestForOne`) which children the restart covers. When the intensity is exceeded the
//! supervisor stops its children and exits with `Shutdown`, and its parent decides: that is
//! escalation. `docs/supervision.md` is the user's guide; `shared/SUPERVISION.md` the contract.
//!
//! Beyond OTP, a child can have a [`HealthCheck`]: a probe its supervisor runs on it every
//! interval while it runs. A probe that fails, panics or times out (as often in a row as the
//! check's threshold) ends the child's incarnation with
//! `ExitReason::Failed(`[`HealthCheckFailed`]`)`, which its spec then handles as any crash; the
//! outcome of each probe is in [`ChildInfo::health`] and failures are [`EventKind`]s.
//!
//! # A restart keeps the reference
//!
//! A child's [`ActorRef`](playhouse_core::ActorRef) stays valid across its restarts: the
//! factory makes a fresh actor value, which runs behind the same reference and mailbox. What
//! was queued for the failed incarnation is handled by the next ([`OnRestart::KeepQueue`], the
//! default) or discarded ([`OnRestart::DrainQueue`]). Senders never re-resolve a name, and an
//! ask in flight when its handler crashed resolves (`NoReply::Panicked`). A child stopped for
//! good (by hand, or because it exited normally as a transient child) and started again gets a
//! new reference, as a new process gets a new pid in OTP.
//!
//! # Cost
//!
//! A supervised child's message path is an unsupervised actor's: a typed `ActorRef<A, MB>`,
//! no `dyn`, no extra hop. The supervisor holds each child type-erased (a boxed factory and a
//! boxed handle), which only its cold paths touch. Per child, the supervision adds one
//! allocation (the channel between the child's task and its supervisor) and one exit watcher.
//!
//! # Example
//!
//! ```
//! use playhouse_core::{Actor, Context, Env, Handler, System};
//! use playhouse_supervisor::{ChildSpec, RestartType, Strategy, SupervisorSpec};
//! use std::time::Duration;
//!
//! struct Parser;
//! impl Actor for Parser { type Message = String; type Error = std::num::ParseIntError; }
//! impl<V: Env> Handler<V> for Parser {
//!     async fn handle(&mut self, line: String, _: &mut Context<Self, V>) -> Result<(), Self::Error> {
//!         line.parse::<u64>()?; // bad input fails the incarnation; the supervisor restarts it
//!         Ok(())
//!     }
//! }
//!
//! # use playhouse_broker::InMemoryBroker;
//! let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
//! playhouse_core::testing::block_on(async {
//!     let sup = SupervisorSpec::new(Strategy::OneForOne)
//!         .intensity(5, Duration::from_secs(10))
//!         .child(ChildSpec::new("parser", || Parser).restart(RestartType::Permanent))
//!         .start(&system)
//!         .await
//!         .unwrap();
//!     let parser = sup.child::<Parser, playhouse_core::mailbox::Bounded>("parser").await.unwrap();
//!     parser.tell("12".into()).await.unwrap();
//!     parser.tell("twelve".into()).await.unwrap(); // crashes; restarted behind the same ref
//!     parser.tell("13".into()).await.unwrap();
//!     sup.stop();
//!     assert!(sup.wait().await.is_normal());
//! });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod child;
mod child_id;
mod error;
mod events;
mod handle;
mod health;
mod intensity;
mod jitter;
mod keyed;
mod metrics;
mod pool;
mod spec;
mod supervisor;

pub use error::{StartCause, StartError, SupervisorError};
pub use events::{EventKind, Events, SupervisorEvent};
pub use handle::SupervisorRef;
pub use health::{HealthCheck, HealthCheckFailed, HealthStatus, ProbeFailure, ProbeOutcome};
pub use keyed::{KeySupervisor, KeyedSupervision};
pub use metrics::{ChildMetrics, SubtreeMetrics};
pub use pool::{Pool, PoolSpec, Routing};
pub use spec::{
    AutoShutdown, Backoff, ChildId, ChildKind, ChildSpec, DEFAULT_WORKER_SHUTDOWN, ErasedChildSpec,
    OnRestart, RestartType, Shutdown, Strategy, SupervisorSpec,
};
pub use supervisor::{ChildCounts, ChildInfo, ChildState, Supervisor, SupervisorMsg};
