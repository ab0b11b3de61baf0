//! The in-memory broker's registry (`playhouse::broker`, issue #18), on every executor: an entry
//! disappears when its actor ends and survives its restarts, a dead incarnation never removes a
//! newer registration, and lookups from many threads at once all find their actor.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::sync::Arc;
use ::std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use playhouse::mailbox::{Block, Bounded};
use playhouse::prelude::*;
use playhouse::{LookupError, RegistryError, restart_on_failure};

executor_tests!(
    an_entry_disappears_when_its_actor_ends,
    an_entry_survives_restarts,
    a_dead_incarnation_never_removes_a_newer_registration,
    lookups_from_many_threads_all_find_their_actor,
    a_generic_handler_finds_a_service_through_its_context,
    a_stopping_actors_name_is_free_at_once,
    a_started_hook_overtaken_by_a_stop_registers_nothing_and_stops_cleanly,
);

/// Registers itself under "late" from `started` (with `?`, as a hook would), once its gate
/// opens.
struct LateRegistrar(Option<futures::channel::oneshot::Receiver<()>>);

impl Actor for LateRegistrar {
    type Message = ();
    type Error = RegistryError;
}

impl<V: Env> Handler<V> for LateRegistrar {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), RegistryError> {
        if let Some(gate) = self.0.take() {
            let _ = gate.await;
        }
        ctx.broker().register("late", &ctx.myself())
    }

    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), RegistryError> {
        Ok(())
    }
}

/// A stop that overtakes a `started` hook registering its actor: the hook's `register` succeeds
/// and registers nothing (nothing could find a stopping actor), so the actor ends as stopped,
/// not as failed; from outside, the same registration is refused.
async fn a_started_hook_overtaken_by_a_stop_registers_nothing_and_stops_cleanly<E: Executor>(
    exec: E,
) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let (open, gate) = futures::channel::oneshot::channel();
    let actor = system.spawn(LateRegistrar(Some(gate)));
    actor.stop();
    assert_eq!(
        broker.register("late", &actor),
        Err(RegistryError::ActorStopping("late".into()))
    );
    let _ = open.send(());
    let reason = within(&exec, LONG, actor.wait()).await;
    assert!(
        matches!(reason, ExitReason::Shutdown(None)),
        "a stop, not a failed hook: {reason:?}"
    );
    assert_eq!(broker.registered(), 0);
}

/// Stops slowly: its `stopped` hook waits for a gate.
struct SlowStop(Option<futures::channel::oneshot::Receiver<()>>);

impl Actor for SlowStop {
    type Message = ();
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for SlowStop {
    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn stopped(&mut self, _: &mut Context<Self, V>, _: &ExitReason) {
        if let Some(gate) = self.0.take() {
            let _ = gate.await;
        }
    }
}

/// An actor that has begun to stop is no longer found by name, whatever type is asked for,
/// and another actor may take its name at once; its end then leaves the new entry alone.
async fn a_stopping_actors_name_is_free_at_once<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let (open, gate) = futures::channel::oneshot::channel();
    let old = system.spawn(SlowStop(Some(gate)));
    broker.register("svc", &old).unwrap();
    old.stop();
    eventually(&exec, "no longer found", || {
        matches!(
            broker.lookup::<SlowStop, Bounded<Block>>("svc"),
            Err(LookupError::NotFound { .. })
        )
    })
    .await;
    assert!(old.is_alive(), "still stopping: its hook waits");
    assert!(
        matches!(
            broker.lookup::<Counter, Bounded<Block>>("svc"),
            Err(LookupError::NotFound { .. })
        ),
        "not WrongType either"
    );
    let new = system.spawn(Counter(0));
    assert_eq!(broker.register("svc", &new), Ok(()), "the name is free");
    let _ = open.send(());
    within(&exec, LONG, old.wait()).await;
    assert_eq!(
        broker.lookup::<Counter, Bounded<Block>>("svc").unwrap(),
        new,
        "the old actor's end left the new entry"
    );
    new.stop();
    within(&exec, LONG, new.wait()).await;
    assert_eq!(broker.registered(), 0);
}

/// Generic over its environment: finds a service through `ctx.broker()`'s trait methods.
struct Quota;

impl Actor for Quota {
    type Message = Reply<Result<u64, LookupError>>;
    type Error = ::std::convert::Infallible;
}

impl<V: Env> Handler<V> for Quota {
    async fn handle(
        &mut self,
        reply: Reply<Result<u64, LookupError>>,
        ctx: &mut Context<Self, V>,
    ) -> Result<(), Self::Error> {
        let _ = reply.send(ctx.broker().lookup_service::<u64>("quota"));
        Ok(())
    }
}

async fn a_generic_handler_finds_a_service_through_its_context<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let quota = system.spawn(Quota);
    let ask = |q: ActorRef<Quota>| async move { q.ask(|r| r).await.unwrap() };
    let missing = within(&exec, LONG, ask(quota.clone())).await.unwrap_err();
    assert_eq!(
        missing,
        LookupError::NotFound {
            name: "quota".into()
        }
    );
    assert_eq!(
        missing.to_string(),
        "nothing of the kind looked up (a live actor, or a service: they are named apart) \
         is registered under \"quota\""
    );
    system.broker().register_service("quota", 7_u64).unwrap();
    assert_eq!(within(&exec, LONG, ask(quota.clone())).await, Ok(7));
    assert_eq!(
        system.broker().register_service("quota", 8_u64),
        Err(RegistryError::NameTaken("quota".into()))
    );
    // Services and actors are apart: an actor may take the name too.
    system.broker().register("quota", &quota).unwrap();
    assert!(system.broker().unregister_service("quota"));
    assert_eq!(system.broker().services(), 0);
    assert_eq!(
        within(&exec, LONG, ask(quota.clone())).await,
        Err(LookupError::NotFound {
            name: "quota".into()
        })
    );
}

async fn an_entry_disappears_when_its_actor_ends<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let a = system.spawn(Counter(0));
    let b = system.spawn(Counter(0));
    broker.register("a", &a).unwrap();
    broker.register("b", &b).unwrap();
    assert_eq!(broker.registered(), 2);
    a.stop();
    within(&exec, LONG, a.wait()).await;
    // Removed by the actor's end (its exit watcher, which has run once `wait` resolves), not
    // only hidden from lookups.
    assert_eq!(broker.registered(), 1, "a's entry removed");
    assert_eq!(
        broker.lookup::<Counter, Bounded<Block>>("a").unwrap_err(),
        LookupError::NotFound { name: "a".into() }
    );
    assert_eq!(broker.lookup::<Counter, Bounded<Block>>("b").unwrap(), b);
    // An actor that has ended, or is stopping, is refused: no lookup could find it.
    assert_eq!(
        broker.register("late", &a),
        Err(RegistryError::ActorStopping("late".into()))
    );
    assert_eq!(broker.registered(), 1);
    b.stop();
    assert_eq!(
        broker.register("late", &b),
        Err(RegistryError::ActorStopping("late".into()))
    );
    assert_eq!(
        broker.register("late", &b).unwrap_err().to_string(),
        "the actor to register under \"late\" is stopping or has ended: \
         nothing could find it by that name"
    );
    within(&exec, LONG, b.wait()).await;
    assert_eq!(broker.registered(), 0);
}

async fn an_entry_survives_restarts<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    let phoenix = system.spawn_restartable(Counter(0), restart_on_failure(Counter::default));
    broker.register("phoenix", &phoenix).unwrap();
    within(&exec, LONG, phoenix.tell(CounterMsg::Add(1)))
        .await
        .unwrap();
    within(&exec, LONG, phoenix.tell(CounterMsg::Panic))
        .await
        .unwrap();
    within(&exec, LONG, phoenix.tell(CounterMsg::Add(2)))
        .await
        .unwrap();
    // The restarted incarnation (its count restarted at 0) behind the same registered reference.
    let found = broker.lookup::<Counter, Bounded<Block>>("phoenix").unwrap();
    assert_eq!(found, phoenix);
    assert_eq!(
        within(&exec, LONG, found.ask(CounterMsg::Get))
            .await
            .unwrap(),
        2
    );
    assert_eq!(broker.registered(), 1);
    // Registered again by the actor that holds it (what a `started` hook that registers does in
    // each incarnation): nothing changes, and it is no error.
    assert_eq!(broker.register("phoenix", &phoenix), Ok(()));
    assert_eq!(broker.registered(), 1);
    // Taken while it lives.
    let other = system.spawn(Counter(0));
    assert_eq!(
        broker.register("phoenix", &other),
        Err(RegistryError::NameTaken("phoenix".into()))
    );
    // Its end frees the name, once.
    phoenix.stop();
    within(&exec, LONG, phoenix.wait()).await;
    eventually(&exec, "the entry removed", || broker.registered() == 0).await;
    assert_eq!(broker.register("phoenix", &other), Ok(()));
    assert_eq!(broker.registered(), 1);
}

async fn a_dead_incarnation_never_removes_a_newer_registration<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker();
    for round in 0..50 {
        let old = system.spawn(Counter(0));
        broker.register("svc", &old).unwrap();
        let new = system.spawn(Counter(round));
        old.stop();
        // The name is taken over as soon as the old actor is dead, possibly before its exit
        // watcher has run: the watcher must then leave the new entry alone.
        eventually(&exec, "the name taken over", || {
            broker.register("svc", &new).is_ok()
        })
        .await;
        within(&exec, LONG, old.wait()).await;
        assert!(!broker.unregister("svc", &old));
        assert_eq!(
            broker.lookup::<Counter, Bounded<Block>>("svc").unwrap(),
            new
        );
        assert!(broker.unregister("svc", &new));
        new.stop();
        within(&exec, LONG, new.wait()).await;
    }
    assert_eq!(broker.registered(), 0, "every entry removed");
}

async fn lookups_from_many_threads_all_find_their_actor<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let broker = system.broker().clone();
    let actors: Vec<_> = (0..64).map(|i| system.spawn(Counter(i))).collect();
    for (i, a) in actors.iter().enumerate() {
        broker.register(&format!("actor-{i}"), a).unwrap();
    }
    let found = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let broker = broker.clone();
            let ids: Vec<_> = actors.iter().map(|a| a.id()).collect();
            let found = found.clone();
            ::std::thread::spawn(move || {
                for n in 0..2_000 {
                    let i = (n * 7 + t) % 64;
                    let a = broker
                        .lookup::<Counter, Bounded<Block>>(&format!("actor-{i}"))
                        .expect("registered and alive");
                    assert_eq!(a.id(), ids[i]);
                    found.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a lookup thread panicked");
    }
    assert_eq!(found.load(Ordering::Relaxed), 8_000);
    for a in &actors {
        a.stop();
    }
    for a in &actors {
        within(&exec, LONG, a.wait()).await;
    }
    assert_eq!(broker.registered(), 0, "every entry removed");
}
