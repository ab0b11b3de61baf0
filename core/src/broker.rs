//! The broker an actor's context talks to: a minimal trait and the default in-memory one.
//!
//! This is the seam the broker crate (`playhouse-broker`) builds on: pub/sub, request-response
//! and keyed actors come with it. What lands here is the named registry every broker offers.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;

use crate::actor::Actor;
use crate::actor_ref::{ActorRef, WeakActorRef};
use crate::mailbox::Mailbox;
use crate::sync::{Arc, Mutex};

/// A message broker: what an actor's [`Context`](crate::Context) reaches other actors through,
/// beyond the references it holds. Cheap to clone (a handle to shared state).
pub trait MessageBroker: Clone + Send + Sync + 'static {}

/// Why a registry operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The name is taken by a live actor.
    NameTaken(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::NameTaken(n) => {
                write!(f, "the name {n:?} is registered to a live actor")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

type Entry = (crate::cell::ActorId, Box<dyn Any + Send + Sync>);

/// The default broker: an in-memory registry of actors by name.
///
/// Registration holds a weak reference, so it does not keep an actor alive, and a dead actor's
/// name is free again. Cold path: entries are type-erased and looked up by type.
///
/// ```
/// use playhouse_core::{InMemoryBroker, RegistryError, spawn};
/// # use playhouse_core::{Actor, Context, Env};
/// # struct Echo;
/// # impl Actor for Echo {
/// #     type Message = (); type Error = std::convert::Infallible;
/// #     async fn handle<V: Env>(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # let executor = playhouse_core::testing::ThreadExecutor;
/// let broker = InMemoryBroker::default();
/// let echo = spawn(&executor, Echo);
/// broker.register("echo", &echo).unwrap();
/// assert_eq!(broker.register("echo", &echo), Err(RegistryError::NameTaken("echo".into())));
/// let found = broker.lookup::<Echo, _>("echo").unwrap();
/// assert_eq!(found, echo);
/// ```
#[derive(Clone, Default)]
pub struct InMemoryBroker {
    names: Arc<Mutex<HashMap<String, Entry>>>,
}

impl MessageBroker for InMemoryBroker {}

impl InMemoryBroker {
    /// Registers `actor` under `name`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NameTaken`] if a live actor holds the name.
    pub fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        let mut names = self.names.lock();
        if let Some((_, entry)) = names.get(name) {
            let alive = entry
                .downcast_ref::<WeakActorRef<A, MB>>()
                .is_none_or(|w| w.is_alive());
            if alive {
                return Err(RegistryError::NameTaken(name.to_owned()));
            }
        }
        names.insert(name.to_owned(), (actor.id(), Box::new(actor.downgrade())));
        Ok(())
    }

    /// The live actor registered under `name` with type `A` and mailbox `MB`, if any.
    pub fn lookup<A: Actor, MB: Mailbox>(&self, name: &str) -> Option<ActorRef<A, MB>> {
        let names = self.names.lock();
        let (_, entry) = names.get(name)?;
        entry.downcast_ref::<WeakActorRef<A, MB>>()?.upgrade()
    }

    /// Removes `name` if it is registered to `actor` (a dead incarnation never removes a newer
    /// registration). Returns whether it did.
    pub fn unregister<A: Actor, MB: Mailbox>(&self, name: &str, actor: &ActorRef<A, MB>) -> bool {
        let mut names = self.names.lock();
        match names.get(name) {
            Some((id, _)) if *id == actor.id() => {
                names.remove(name);
                true
            }
            _ => false,
        }
    }
}

impl fmt::Debug for InMemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names.lock();
        f.debug_struct("InMemoryBroker")
            .field("registered", &names.len())
            .finish()
    }
}

impl MessageBroker for () {}
