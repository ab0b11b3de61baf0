//! The named registry: actors registered under a name, looked up by name and type.
//!
//! Entries hold weak references, so a registration never keeps an actor alive; an actor's entry
//! is removed when it ends (an exit watcher registered with it), and survives its restarts (the
//! reference of a restarted actor stays valid). A dead incarnation's watcher or `unregister`
//! never removes a newer registration under the same name: both compare actor ids.
//!
//! An actor has one exit watcher however many names it takes and gives back (a watcher cannot
//! be withdrawn, so one per registration would pile up on an actor that registers and
//! unregisters in a loop): the registry keeps the names each live actor holds, and the watcher
//! removes those still held when the actor ends. That record is changed under the name's shard
//! lock, so it always agrees with the table; it sits behind one registry-wide lock, which
//! `register` and `unregister` take (lookups do not).
//!
//! The table is a [`ShardedMap`]: lookups share a reader-writer lock per shard, chosen by the
//! name's hash, so a many-reader load does not pile up on one lock word; registration and
//! removal take one shard's write lock. Entries are type-erased (the cold path); a lookup
//! downcasts to the requested `WeakActorRef<A, MB>` and upgrades it.

use std::any::Any;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorId, ActorRef, LookupError, RegistryError, WeakActorRef};

use crate::sharded::ShardedMap;
use crate::sync::{Arc, HashMap, Mutex};
use crate::type_names::ref_type_name;

/// A registry entry: a weak reference of some actor and mailbox type, with what the registry
/// asks of it without knowing the type.
trait Registered: Send + Sync {
    fn id(&self) -> ActorId;
    /// Whether a lookup could hand out a reference to it: it has not begun to stop (its
    /// mailbox is open). A stopping actor is not found by name, and its name is free.
    fn is_reachable(&self) -> bool;
    fn type_name(&self) -> String;
    fn as_any(&self) -> &dyn Any;
}

impl<A: Actor, MB: Mailbox> Registered for WeakActorRef<A, MB> {
    fn id(&self) -> ActorId {
        WeakActorRef::id(self)
    }
    fn is_reachable(&self) -> bool {
        self.upgrade().is_some()
    }
    fn type_name(&self) -> String {
        ref_type_name::<A, MB>()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The named registry (see the module docs). Cheap to clone: two `Arc`s.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    names: ShardedMap<Box<dyn Registered>>,
    /// The names each actor with an exit watcher holds (empty once it gave them all back: its
    /// watcher stays until it ends). Locked after a shard's lock, never before.
    watched: Arc<Mutex<HashMap<ActorId, Vec<String>>>>,
}

impl Registry {
    pub(crate) fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        if !actor.accepts_messages() {
            // A lookup would never hand it out; an entry would only read as registered. From
            // the actor's own code (a `started` hook, which a stop may overtake at any time)
            // there is nothing to refuse: it is on its way out, and an error there would turn
            // that stop into a failure.
            if actor.is_current() {
                return Ok(());
            }
            return Err(RegistryError::ActorStopping(name.to_owned()));
        }
        let first = {
            let mut names = self.names.shard(name).write();
            if let Some(entry) = names.get(name) {
                if entry.is_reachable() {
                    // The same actor again (a `started` hook that registers, after a restart):
                    // it holds the name already, and its watcher is already registered.
                    if entry.id() == actor.id() {
                        return Ok(());
                    }
                    return Err(RegistryError::NameTaken(name.to_owned()));
                }
                // A stopping or ended actor's entry, not yet removed: its watcher will find
                // the name taken by another id and leave it.
            }
            names.insert(name.to_owned(), Box::new(actor.downgrade()));
            self.hold(actor.id(), name)
        };
        if first {
            // Removes what the actor still holds when it ends. Registered after the insert: a
            // watcher added to an actor that has already ended runs at once, and then finds the
            // entry to remove. (The watcher holds the registry; the registry holds only weak
            // references of actors, so no cycle keeps either alive.)
            let registry = self.clone();
            actor.on_exit(move |id, _| registry.forget(id));
        }
        Ok(())
    }

    /// Records that the actor `id` holds `name` (under the name's shard lock); `true` if the
    /// actor had no record yet, so its exit watcher is still to be registered.
    fn hold(&self, id: ActorId, name: &str) -> bool {
        let mut watched = self.watched.lock();
        match watched.get_mut(&id) {
            Some(names) => {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
                false
            }
            None => {
                watched.insert(id, vec![name.to_owned()]);
                true
            }
        }
    }

    /// The exit watcher: removes the names the ended actor `id` still holds.
    fn forget(&self, id: ActorId) {
        let held = if crate::faults::enabled(crate::faults::Fault::RegistryForgetKeepsRecord) {
            self.watched.lock().get_mut(&id).map(std::mem::take)
        } else {
            self.watched.lock().remove(&id)
        };
        let held = held.unwrap_or_default();
        for name in held {
            self.remove_if(&name, id);
        }
    }

    pub(crate) fn lookup<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
    ) -> Result<ActorRef<A, MB>, LookupError> {
        let names = self.names.shard(name).read();
        let not_found = || LookupError::NotFound {
            name: name.to_owned(),
        };
        let entry = names.get(name).ok_or_else(not_found)?;
        match entry.as_any().downcast_ref::<WeakActorRef<A, MB>>() {
            Some(weak) => weak.upgrade().ok_or_else(not_found),
            None if entry.is_reachable() => Err(LookupError::WrongType {
                name: name.to_owned(),
                registered: entry.type_name(),
                requested: ref_type_name::<A, MB>(),
            }),
            None => Err(not_found()),
        }
    }

    /// Removes `name` if it is registered to the actor `id`. Returns whether it did.
    pub(crate) fn remove_if(&self, name: &str, id: ActorId) -> bool {
        let mut names = self.names.shard(name).write();
        match names.get(name) {
            Some(entry)
                if entry.id() == id
                    || crate::faults::enabled(crate::faults::Fault::RegistryRemovesAnyOwner) =>
            {
                if let Some(entry) = names.remove(name) {
                    // The record of what the actor holds follows the table (a faulty removal
                    // of another owner's entry updates that owner's record).
                    let owner = entry.id();
                    if let Some(held) = self.watched.lock().get_mut(&owner) {
                        held.retain(|n| n != name);
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// The number of registered names (live or not yet removed).
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    use std::convert::Infallible;

    use playhouse_core::testing::{ThreadExecutor, block_on};
    use playhouse_core::{Context, Env, Handler, System};

    use super::*;

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

    /// Taking names and giving them back in a loop adds no exit watcher after the first (each
    /// watcher holds a handle of the registry, so the handles count them); the one watcher
    /// removes what the actor still holds when it ends.
    #[test]
    fn an_actor_that_registers_again_and_again_has_one_exit_watcher() {
        let system = System::with_broker(ThreadExecutor, crate::InMemoryBroker::new());
        let actor = system.spawn(Named);
        let registry = Registry::default();
        for round in 0..100 {
            let name = format!("name{round}");
            registry.register("leader", &actor).expect("free");
            registry.register(&name, &actor).expect("free");
            assert!(registry.remove_if("leader", actor.id()));
            assert!(registry.remove_if(&name, actor.id()));
        }
        assert_eq!(registry.len(), 0);
        assert_eq!(
            Arc::strong_count(&registry.watched),
            2,
            "the registry and one watcher"
        );

        registry.register("kept", &actor).expect("free");
        actor.stop();
        block_on(actor.wait());
        assert_eq!(registry.len(), 0, "removed when the actor ended");
        assert!(registry.watched.lock().is_empty(), "its record too");
        assert_eq!(
            Arc::strong_count(&registry.watched),
            1,
            "the watcher ran and is gone"
        );
    }
}
