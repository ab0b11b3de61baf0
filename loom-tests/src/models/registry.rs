//! Models of the in-memory registry (`InMemoryBroker`): names bound to live actors.
//!
//! Each actor costs one loom thread; loom allows five, main included.

use std::convert::Infallible;

use crate::harness::System;
use loom::future::block_on;
use loom::thread;
use playhouse_broker::InMemoryBroker;
use playhouse_core::mailbox::{Block, Bounded};
use playhouse_core::{Actor, ActorRef, Context, Env, Handler, MessageBroker, RegistryError};

use crate::harness::{LoomExecutor, check};

/// An actor that handles nothing of interest: the models are about its registration.
struct Named;

impl Actor for Named {
    type Message = ();
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Named {
    async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Infallible> {
        Ok(())
    }
}

type Ref = ActorRef<Named, Bounded<Block>>;

fn spawn_named() -> Ref {
    System::new(LoomExecutor)
        .spawner(Bounded::<Block>::with_capacity(1).expect("capacity"))
        .spawn(Named)
}

/// A dead actor never unregisters a newer one: the old owner of a name ends and its (stale)
/// `unregister` races the registration of a new actor under the same name; the name ends up
/// bound to the new actor, whichever came first.
pub fn dead_actor_never_unregisters_a_newer_one() {
    check(|| {
        let broker = InMemoryBroker::default();
        let old = spawn_named();
        broker.register("x", &old).expect("a free name");
        let stale = {
            let (broker, old) = (broker.clone(), old.clone());
            thread::spawn(move || {
                old.kill();
                block_on(old.wait());
                broker.unregister("x", &old)
            })
        };
        block_on(old.wait());
        let new = spawn_named();
        assert_eq!(
            broker.register("x", &new),
            Ok(()),
            "a name whose actor has ended is free"
        );
        let _removed_old_entry = stale.join().unwrap();
        let found: Ref = broker.lookup("x").expect("the new actor is registered");
        assert_eq!(
            found.id(),
            new.id(),
            "the stale unregister removed the new owner"
        );
        assert!(
            !broker.unregister("x", &old),
            "the old actor no longer owns the name"
        );
        assert!(broker.unregister("x", &new));
        assert!(broker.lookup::<Named, Bounded<Block>>("x").is_err());
        new.stop();
        block_on(new.wait());
    });
}

/// A name has at most one live owner: two live actors race to register it; exactly one
/// succeeds, the other is told `NameTaken`, and the lookup finds the winner.
pub fn one_live_owner_per_name() {
    check(|| {
        let broker = InMemoryBroker::default();
        let a = spawn_named();
        let b = spawn_named();
        let other = {
            let (broker, b) = (broker.clone(), b.clone());
            thread::spawn(move || broker.register("x", &b))
        };
        let mine = broker.register("x", &a);
        let theirs = other.join().unwrap();
        let winner = match (mine, theirs) {
            (Ok(()), Err(RegistryError::NameTaken(n))) if n == "x" => a.id(),
            (Err(RegistryError::NameTaken(n)), Ok(())) if n == "x" => b.id(),
            other => panic!("exactly one registration must win, got {other:?}"),
        };
        let found: Ref = broker.lookup("x").expect("the winner is registered");
        assert_eq!(found.id(), winner);
        for actor in [a, b] {
            actor.stop();
            block_on(actor.wait());
        }
    });
}

/// An actor takes a second name, and gives back and takes again its first, while it is killed:
/// once its end is told (`wait` returned) and those calls returned, no name of it is left in the
/// table. (Each actor has one exit watcher, however many names it takes: one taken after the
/// end must still be removed, by a watcher that runs at once.)
pub fn a_name_taken_while_the_actor_ends_is_removed() {
    check(|| {
        let broker = InMemoryBroker::default();
        let a = spawn_named();
        broker.register("x", &a).expect("a free name");
        let other = {
            let (broker, a) = (broker.clone(), a.clone());
            thread::spawn(move || {
                let _ = broker.register("y", &a);
                broker.unregister("x", &a);
                let _ = broker.register("x", &a);
            })
        };
        a.kill();
        block_on(a.wait());
        other.join().unwrap();
        assert_eq!(
            broker.registered(),
            0,
            "a name of the ended actor was left behind"
        );
    });
}
