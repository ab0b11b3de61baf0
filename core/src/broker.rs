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
///
/// Its operations are trait methods, generic over the actor and mailbox types, so a handler that
/// is generic over its environment calls them through `ctx.broker()` and every call is
/// monomorphized; swapping the broker is a type change. Today it is the named registry; the
/// broker crate adds pub/sub, request-response and keyed actors.
///
/// ```
/// use playhouse_core::{Actor, ActorRef, Context, Env, Handler, LookupError, MessageBroker, System};
/// use playhouse_core::mailbox::Bounded;
/// use std::convert::Infallible;
///
/// struct Greeter;
/// impl Actor for Greeter { type Message = (); type Error = Infallible; }
/// impl<V: Env> Handler<V> for Greeter {
///     async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
///         // Generic over the broker: the trait's methods.
///         ctx.broker().register("greeter", &ctx.myself()).expect("the name is free");
///         Ok(())
///     }
///     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Infallible> { Ok(()) }
/// }
///
/// let system = System::new(playhouse_core::testing::ThreadExecutor);
/// let greeter = system.spawn(Greeter);
/// # while system.broker().lookup::<Greeter, Bounded>("greeter").is_err() { std::thread::yield_now(); }
/// let found: ActorRef<Greeter> = system.broker().lookup("greeter").unwrap();
/// assert_eq!(found, greeter);
/// assert!(matches!(
///     system.broker().lookup::<Greeter, Bounded>("nobody"),
///     Err(LookupError::NotFound { .. })
/// ));
/// ```
pub trait MessageBroker: Clone + Send + Sync + 'static {
    /// Registers `actor` under `name`. The registration does not keep the actor alive; it ends
    /// with the actor (a dead actor's name is free again) and survives its restarts (the
    /// reference stays valid).
    ///
    /// # Errors
    ///
    /// [`RegistryError::NameTaken`] if a live actor holds the name.
    fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError>;

    /// The live actor registered under `name`, typed.
    ///
    /// # Errors
    ///
    /// [`LookupError::NotFound`] if no live actor has the name; [`LookupError::WrongType`] if
    /// one does but with another actor type or mailbox (the error names both).
    fn lookup<A: Actor, MB: Mailbox>(&self, name: &str) -> Result<ActorRef<A, MB>, LookupError>;

    /// Removes `name` if it is registered to `actor` (a dead incarnation never removes a newer
    /// registration). Returns whether it did.
    fn unregister<A: Actor, MB: Mailbox>(&self, name: &str, actor: &ActorRef<A, MB>) -> bool;
}

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

/// Why a registry lookup found no reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No live actor is registered under the name.
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// A live actor is registered under the name, with another type than the one asked for.
    WrongType {
        /// The name looked up.
        name: String,
        /// The reference type registered there, e.g. `ActorRef<app::Counter, Unbounded>`.
        registered: String,
        /// The reference type asked for.
        requested: String,
    },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound { name } => {
                write!(f, "no live actor is registered under {name:?}")
            }
            LookupError::WrongType {
                name,
                registered,
                requested,
            } => write!(
                f,
                "{name:?} is registered as {registered}, not as {requested}"
            ),
        }
    }
}

impl std::error::Error for LookupError {}

/// A registry entry: a weak reference of some actor and mailbox type, with what the registry
/// asks of it without knowing the type.
trait Registered: Send + Sync {
    fn id(&self) -> crate::cell::ActorId;
    fn is_alive(&self) -> bool;
    fn type_name(&self) -> String;
    fn as_any(&self) -> &dyn Any;
}

impl<A: Actor, MB: Mailbox> Registered for WeakActorRef<A, MB> {
    fn id(&self) -> crate::cell::ActorId {
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

/// `ActorRef<Actor, Mailbox>` with every path shortened to its last segment, e.g.
/// `ActorRef<Counter, Bounded<Reject>>`.
fn ref_type_name<A, MB>() -> String {
    format!(
        "ActorRef<{}, {}>",
        short_type_name(std::any::type_name::<A>()),
        short_type_name(std::any::type_name::<MB>())
    )
}

/// `type_name` output with each path (`a::b::C`) cut to its last segment (`C`).
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut path = String::new();
    let flush = |path: &mut String, out: &mut String| {
        out.push_str(path.rsplit("::").next().unwrap_or(path));
        path.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            flush(&mut path, &mut out);
            out.push(c);
        }
    }
    flush(&mut path, &mut out);
    out
}

#[cfg(all(test, not(playhouse_loom)))]
mod tests {
    #[test]
    fn type_names_keep_only_the_last_segment_of_each_path() {
        assert_eq!(
            super::short_type_name(
                "playhouse_core::mailbox::Bounded<playhouse_core::mailbox::strategy::Reject>"
            ),
            "Bounded<Reject>"
        );
        assert_eq!(
            super::short_type_name("app::Pair<u8, (a::B, [c::D; 2])>"),
            "Pair<u8, (B, [D; 2])>"
        );
    }
}

/// The default broker: an in-memory registry of actors by name.
///
/// Registration holds a weak reference, so it does not keep an actor alive, and a dead actor's
/// name is free again, whatever type takes it next. Cold path: entries are type-erased and
/// looked up by type.
///
/// ```
/// use playhouse_core::{InMemoryBroker, LookupError, MessageBroker, RegistryError, System};
/// use playhouse_core::mailbox::Unbounded;
/// # use playhouse_core::{Actor, Context, Env, Handler};
/// # struct Echo;
/// # impl Actor for Echo { type Message = (); type Error = std::convert::Infallible; }
/// # impl<V: Env> Handler<V> for Echo {
/// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # let executor = playhouse_core::testing::ThreadExecutor;
/// let system = System::new(executor);
/// let broker: &InMemoryBroker = system.broker();
/// let echo = system.spawn(Echo);
/// broker.register("echo", &echo).unwrap();
/// assert_eq!(broker.register("echo", &echo), Err(RegistryError::NameTaken("echo".into())));
/// assert_eq!(broker.lookup::<Echo, _>("echo").unwrap(), echo);
/// // Asked for with another mailbox type: the error says what is there.
/// let err = broker.lookup::<Echo, Unbounded>("echo").unwrap_err();
/// assert!(matches!(err, LookupError::WrongType { .. }));
/// assert!(err.to_string().contains("ActorRef<Echo, Bounded"));
/// ```
#[derive(Clone, Default)]
pub struct InMemoryBroker {
    names: Arc<Mutex<HashMap<String, Box<dyn Registered>>>>,
}

impl MessageBroker for InMemoryBroker {
    fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        let mut names = self.names.lock();
        if let Some(entry) = names.get(name) {
            if entry.is_alive() {
                return Err(RegistryError::NameTaken(name.to_owned()));
            }
        }
        names.insert(name.to_owned(), Box::new(actor.downgrade()));
        Ok(())
    }

    fn lookup<A: Actor, MB: Mailbox>(&self, name: &str) -> Result<ActorRef<A, MB>, LookupError> {
        let names = self.names.lock();
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

    fn unregister<A: Actor, MB: Mailbox>(&self, name: &str, actor: &ActorRef<A, MB>) -> bool {
        let mut names = self.names.lock();
        match names.get(name) {
            Some(entry) if entry.id() == actor.id() => {
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
