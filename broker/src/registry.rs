//! The named registry: actors registered under a name, looked up by name and type.
//!
//! Entries hold weak references, so a registration never keeps an actor alive; an actor's entry
//! is removed when it ends (an exit watcher registered with it), and survives its restarts (the
//! reference of a restarted actor stays valid). A dead incarnation's watcher or `unregister`
//! never removes a newer registration under the same name: both compare actor ids.
//!
//! The table is a [`ShardedMap`]: lookups share a reader-writer lock per shard, chosen by the
//! name's hash, so a many-reader load does not pile up on one lock word; registration and
//! removal take one shard's write lock. Entries are type-erased (the cold path); a lookup
//! downcasts to the requested `WeakActorRef<A, MB>` and upgrades it.

use std::any::Any;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorId, ActorRef, LookupError, RegistryError, WeakActorRef};

use crate::sharded::ShardedMap;
use crate::type_names::ref_type_name;

/// A registry entry: a weak reference of some actor and mailbox type, with what the registry
/// asks of it without knowing the type.
trait Registered: Send + Sync {
    fn id(&self) -> ActorId;
    fn is_alive(&self) -> bool;
    fn type_name(&self) -> String;
    fn as_any(&self) -> &dyn Any;
}

impl<A: Actor, MB: Mailbox> Registered for WeakActorRef<A, MB> {
    fn id(&self) -> ActorId {
        WeakActorRef::id(self)
    }
    fn is_alive(&self) -> bool {
        WeakActorRef::is_alive(self)
    }
    fn type_name(&self) -> String {
        ref_type_name::<A, MB>()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The named registry (see the module docs). Cheap to clone: one `Arc`.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    names: ShardedMap<Box<dyn Registered>>,
}

impl Registry {
    pub(crate) fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        {
            let mut names = self.names.shard(name).write();
            if let Some(entry) = names.get(name) {
                if entry.is_alive() {
                    // The same actor again (a `started` hook that registers, after a restart):
                    // it holds the name already, and its watcher is already registered.
                    if entry.id() == actor.id() {
                        return Ok(());
                    }
                    return Err(RegistryError::NameTaken(name.to_owned()));
                }
            }
            names.insert(name.to_owned(), Box::new(actor.downgrade()));
        }
        // Removed when the actor ends, unless the name has gone to another actor meanwhile.
        // Registered after the insert: a watcher added to an actor that has already ended runs
        // at once, and then finds the entry to remove. (The watcher holds the registry; the
        // registry holds only weak references of actors, so no cycle keeps either alive.)
        let registry = self.clone();
        let name = name.to_owned();
        actor.on_exit(move |id, _| {
            registry.remove_if(&name, id);
        });
        Ok(())
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
            None if entry.is_alive() => Err(LookupError::WrongType {
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
                names.remove(name);
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
