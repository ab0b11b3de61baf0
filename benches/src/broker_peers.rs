//! The peers' side of the `broker` criterion bench (`benches/broker.rs`): the operations of
//! ractor 0.16 and kameo 0.22 that match playhouse's broker, run on the same runtime in the same
//! process, each beside the same operation done directly (without the registry or group).
//!
//! - **Registry** ([`ractor_registry`], [`kameo_registry`]): `n` tells to one counter, each
//!   preceded by a lookup of its name (ractor: `ractor::registry::where_is` and a `cast` through
//!   the `ActorCell` it returns; kameo: `ActorRef::lookup` in its global registry, then `tell`,
//!   which waits for room in the bounded mailbox of 1024), or sent straight to the reference;
//!   then one ask for the count, which must equal `n`.
//! - **Process groups** ([`ractor_group`]): ractor's `pg` is its publish/subscribe: `publishes`
//!   rounds of one message to each of `subscribers` actors joined to one group, each round
//!   reading the members with `ractor::pg::get_members` and casting to each (or casting to the
//!   references held directly); each subscriber counts down a latch when it has its last
//!   message. kameo 0.22 has no pub/sub in the `kameo` crate (its `kameo_actors` crate is not a
//!   dependency here), and neither peer has keyed (virtual) actors.
//!
//! Actors are spawned (and named, registered or joined) before the clock starts and stopped
//! after it stops. Names are unique per call (the peers' registries are global to the process).
//! ractor's mailboxes are unbounded; kameo's is bounded at 1024, as the other workloads use.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::workload::{Latch, MAILBOX_CAPACITY};

/// A process-wide unique suffix for the peers' global names.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// ractor: `n` casts to a named counter, each after `where_is` (or straight to its reference),
/// then one call for the count. Returns the timed part.
pub async fn ractor_registry(n: u64, via_registry: bool) -> Duration {
    use ractor::{Actor, ActorRef};
    use ractor_side::{Counter, CounterMsg};

    let name = unique("ractor-counter");
    let (actor, handle) = Actor::spawn(Some(name.clone()), Counter, ())
        .await
        .expect("spawn counter");
    let start = Instant::now();
    if via_registry {
        for i in 0..n {
            let cell = ractor::registry::where_is(&name).expect("registered");
            ActorRef::<CounterMsg>::from(cell)
                .cast(CounterMsg::Tell(i))
                .expect("counter alive");
        }
    } else {
        for i in 0..n {
            actor.cast(CounterMsg::Tell(i)).expect("counter alive");
        }
    }
    let count = ractor_side::count(&actor).await;
    let elapsed = start.elapsed();
    assert_eq!(count, n);
    actor.stop(None);
    handle.await.expect("counter task");
    elapsed
}

/// ractor: `publishes` rounds of one message to each of `subscribers` actors in one process
/// group, through `pg::get_members` (or straight to the references), until each has handled
/// all of its messages. Returns the timed part.
pub async fn ractor_group(subscribers: u64, publishes: u64, via_group: bool) -> Duration {
    use ractor::{Actor, ActorRef};
    use ractor_side::{Sub, SubMsg};

    let done = Latch::new(subscribers);
    let mut actors = Vec::with_capacity(subscribers as usize);
    for _ in 0..subscribers {
        let args = (publishes, done.clone());
        actors.push(
            Actor::spawn(None, Sub, args)
                .await
                .expect("spawn subscriber"),
        );
    }
    let group = unique("ractor-group");
    ractor::pg::join(
        group.clone(),
        actors.iter().map(|(a, _)| a.get_cell()).collect(),
    );
    assert_eq!(ractor::pg::get_members(&group).len() as u64, subscribers);
    let start = Instant::now();
    for p in 0..publishes {
        if via_group {
            for cell in ractor::pg::get_members(&group) {
                ActorRef::<SubMsg>::from(cell)
                    .cast(SubMsg(p))
                    .expect("subscriber alive");
            }
        } else {
            for (actor, _) in &actors {
                actor.cast(SubMsg(p)).expect("subscriber alive");
            }
        }
    }
    done.wait().await;
    let elapsed = start.elapsed();
    for (actor, _) in &actors {
        actor.stop(None);
    }
    for (_, handle) in actors {
        handle.await.expect("subscriber task");
    }
    elapsed
}

mod ractor_side {
    use super::*;
    use ractor::rpc::CallResult;
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    pub(super) enum CounterMsg {
        Tell(u64),
        Count(RpcReplyPort<u64>),
    }

    /// Counts tells; answers `Count` with the count.
    pub(super) struct Counter;

    impl Actor for Counter {
        type Msg = CounterMsg;
        type State = u64;
        type Arguments = ();

        async fn pre_start(
            &self,
            _: ActorRef<CounterMsg>,
            _: (),
        ) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }

        async fn handle(
            &self,
            _: ActorRef<CounterMsg>,
            msg: CounterMsg,
            count: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                CounterMsg::Tell(v) => {
                    std::hint::black_box(v);
                    *count += 1;
                }
                CounterMsg::Count(reply) => {
                    let _ = reply.send(*count);
                }
            }
            Ok(())
        }
    }

    pub(super) async fn count(actor: &ActorRef<CounterMsg>) -> u64 {
        match actor.call(CounterMsg::Count, None).await {
            Ok(CallResult::Success(n)) => n,
            Ok(_) => panic!("count call got no reply"),
            Err(e) => panic!("count call failed: {e:?}"),
        }
    }

    /// A published message.
    pub(super) struct SubMsg(pub(super) u64);

    /// A subscriber: counts down its latch when it has handled the `expected`-th message.
    pub(super) struct Sub;

    pub(super) struct SubState {
        expected: u64,
        seen: u64,
        done: Arc<Latch>,
    }

    impl Actor for Sub {
        type Msg = SubMsg;
        type State = SubState;
        type Arguments = (u64, Arc<Latch>);

        async fn pre_start(
            &self,
            _: ActorRef<SubMsg>,
            (expected, done): (u64, Arc<Latch>),
        ) -> Result<SubState, ActorProcessingErr> {
            Ok(SubState {
                expected,
                seen: 0,
                done,
            })
        }

        async fn handle(
            &self,
            _: ActorRef<SubMsg>,
            SubMsg(v): SubMsg,
            state: &mut SubState,
        ) -> Result<(), ActorProcessingErr> {
            std::hint::black_box(v);
            state.seen += 1;
            if state.seen == state.expected {
                state.done.count_down();
            }
            Ok(())
        }
    }
}

/// kameo: `n` tells to a counter registered by name, each after `ActorRef::lookup` (or straight
/// to its reference), then one ask for the count. Returns the timed part.
pub async fn kameo_registry(n: u64, via_registry: bool) -> Duration {
    use kameo::actor::{ActorRef, Spawn};
    use kameo_side::{Count, Counter};

    let actor = Counter::spawn_with_mailbox(
        Counter { count: 0 },
        kameo::mailbox::bounded(MAILBOX_CAPACITY),
    );
    let name = unique("kameo-counter");
    actor.register(name.clone()).expect("name free");
    let start = Instant::now();
    if via_registry {
        for i in 0..n {
            let found = ActorRef::<Counter>::lookup(name.as_str())
                .expect("the right type")
                .expect("registered");
            found.tell(i).await.expect("counter alive");
        }
    } else {
        for i in 0..n {
            actor.tell(i).await.expect("counter alive");
        }
    }
    let count = actor.ask(Count).await.expect("counter alive");
    let elapsed = start.elapsed();
    assert_eq!(count, n);
    actor.stop_gracefully().await.expect("counter alive");
    actor.wait_for_shutdown().await;
    elapsed
}

mod kameo_side {
    use super::*;
    use kameo::Actor;
    use kameo::actor::ActorRef;
    use kameo::message::{Context, Message};

    /// Counts tells (`u64`); answers `Count` with the count.
    pub(super) struct Counter {
        pub(super) count: u64,
    }

    impl Actor for Counter {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
            Ok(args)
        }
    }

    #[derive(Debug)]
    pub(super) struct Count;

    impl Message<u64> for Counter {
        type Reply = ();

        async fn handle(&mut self, v: u64, _: &mut Context<Self, ()>) {
            std::hint::black_box(v);
            self.count += 1;
        }
    }

    impl Message<Count> for Counter {
        type Reply = u64;

        async fn handle(&mut self, _: Count, _: &mut Context<Self, u64>) -> u64 {
            self.count
        }
    }
}
