//! [`InMemoryBroker`]: the broker of one process.

use std::fmt;
use std::future::Future;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorRef, LookupError, MessageBroker, PublishOptions, PublishReport, RegistryError,
    SubscriptionId, Topic, TopicError,
};

use crate::pubsub::Topics;
use crate::registry::Registry;
use crate::services::Services;

/// The broker of one process: a named registry of actors and services, and pub/sub topics
/// ([`Topics`]), shared by every actor of the
/// [`System`](playhouse_core::System) it was given to and by their contexts. Cheap to clone
/// (a handle to shared state).
///
/// Registration holds a weak reference, so it does not keep an actor alive; the entry is
/// removed when the actor ends, and survives its restarts. Lookups are typed: the wrong actor or
/// mailbox type is an error that names both types, distinct from "not found".
///
/// ```
/// use playhouse_broker::InMemoryBroker;
/// use playhouse_core::mailbox::Unbounded;
/// use playhouse_core::{LookupError, MessageBroker, RegistryError, System};
/// # use playhouse_core::{Actor, Context, Env, Handler};
/// # struct Echo;
/// # impl Actor for Echo { type Message = (); type Error = std::convert::Infallible; }
/// # impl<V: Env> Handler<V> for Echo {
/// #     async fn handle(&mut self, _: (), _: &mut Context<Self, V>) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # let executor = playhouse_core::testing::ThreadExecutor;
/// let system = System::with_broker(executor, InMemoryBroker::default());
/// let broker = system.broker();
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
    registry: Registry,
    services: Services,
    topics: Topics,
}

impl InMemoryBroker {
    /// A broker with an empty registry.
    pub fn new() -> Self {
        InMemoryBroker::default()
    }

    /// The number of actor names registered (an ended actor's name is removed as it ends).
    pub fn registered(&self) -> usize {
        self.registry.len()
    }

    /// The number of services registered.
    pub fn services(&self) -> usize {
        self.services.len()
    }

    /// The broker's topics (what `subscribe` and `publish` use), for what the trait does not
    /// offer: subscriber counts.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }
}

impl MessageBroker for InMemoryBroker {
    fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        actor: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        self.registry.register(name, actor)
    }

    fn lookup<A: Actor, MB: Mailbox>(&self, name: &str) -> Result<ActorRef<A, MB>, LookupError> {
        self.registry.lookup(name)
    }

    fn unregister<A: Actor, MB: Mailbox>(&self, name: &str, actor: &ActorRef<A, MB>) -> bool {
        self.registry.remove_if(name, actor.id())
    }

    fn register_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        service: T,
    ) -> Result<(), RegistryError> {
        self.services.register(name, service)
    }

    fn lookup_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<T, LookupError> {
        self.services.lookup(name)
    }

    fn unregister_service(&self, name: &str) -> bool {
        self.services.unregister(name)
    }

    fn subscribe<M, A, MB>(
        &self,
        topic: &Topic<M>,
        actor: &ActorRef<A, MB>,
    ) -> Result<SubscriptionId, TopicError>
    where
        M: Clone + Send + 'static,
        A: Actor,
        MB: Mailbox,
        A::Message: From<M> + TryInto<M>,
    {
        self.topics.subscribe(topic, actor)
    }

    fn unsubscribe<M: Send + 'static>(&self, topic: &Topic<M>, id: SubscriptionId) -> bool {
        self.topics.unsubscribe(topic, id)
    }

    fn publish_with<M: Clone + Send + 'static>(
        &self,
        topic: &Topic<M>,
        msg: M,
        options: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send {
        self.topics.publish_with(topic, msg, options)
    }
}

impl fmt::Debug for InMemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryBroker")
            .field("registered", &self.registry.len())
            .field("services", &self.services.len())
            .field("topics", &self.topics.topic_count())
            .finish()
    }
}
