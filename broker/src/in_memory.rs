//! [`InMemoryBroker`]: the broker of one process.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{
    Actor, ActorRef, CorrelationId, DeadLetter, DeadLetterCounts, DeadLetterHookId, DeadLetterKind,
    LookupError, MessageBroker, PublishOptions, PublishReport, RegistryError, Request,
    RequestError, SubscriptionId, Topic, TopicError,
};

use crate::dead_letters::DeadLetters;
use crate::pubsub::{Publisher, Topics};
use crate::registry::Registry;
use crate::services::Services;

/// The broker of one process: a named registry of actors and services, pub/sub topics
/// ([`Topics`]), request-response by name, and dead-letter counters and hooks, shared by every
/// actor of the [`System`](playhouse_core::System) it was given to and by their contexts.
/// Cheap to clone (a handle to shared state).
///
/// Its operations are [`MessageBroker`]'s methods; see them for the rules, and
/// [`request`](MessageBroker::request) and [`on_dead_letter`](MessageBroker::on_dead_letter)
/// below for examples.
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
/// broker.register("echo", &echo).unwrap(); // the holder again: nothing changes
/// let other = system.spawn(Echo);
/// assert_eq!(broker.register("echo", &other), Err(RegistryError::NameTaken("echo".into())));
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
    dead_letters: DeadLetters,
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
    /// offer: subscriber counts. (A publish made on the table directly is not counted in
    /// [`dead_letters`](MessageBroker::dead_letters); one through the broker is.)
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// A [`Publisher`] to `topic`: publishes as [`publish`](MessageBroker::publish) does (dead
    /// letters counted alike), keeping the topic's subscriber snapshot between publishes, so
    /// that a publish while no subscription changed costs one atomic load on top of the
    /// deliveries instead of a lock and a lookup by name. See [`Publisher`] for what it holds
    /// on to.
    ///
    /// ```
    /// use playhouse_broker::InMemoryBroker;
    /// use playhouse_core::testing::block_on;
    /// use playhouse_core::{MessageBroker, Topic};
    ///
    /// let broker = InMemoryBroker::new();
    /// let mut publisher = broker.publisher(&Topic::<u32>::new("empty"));
    /// let report = block_on(publisher.publish(7));
    /// assert_eq!(report.into_dead_letter(), Some(7));
    /// assert_eq!(broker.dead_letters().no_subscribers, 1); // counted, as by `publish`
    /// ```
    pub fn publisher<M: Clone + Send + 'static>(&self, topic: &Topic<M>) -> Publisher<M> {
        Publisher::new(
            self.topics.clone(),
            topic.clone(),
            Some(self.dead_letters.clone()),
        )
    }

    /// Replies that came after their requester stopped waiting and reached nobody: the
    /// [`late_replies`](DeadLetterCounts::late_replies) of
    /// [`dead_letters`](MessageBroker::dead_letters).
    pub fn late_replies(&self) -> u64 {
        self.dead_letters.counts().late_replies
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

    async fn publish_with<M: Clone + Send + 'static>(
        &self,
        topic: &Topic<M>,
        msg: M,
        options: PublishOptions,
    ) -> PublishReport<M> {
        // The table's publish, with what it could not deliver counted as dead letters: the
        // message itself when no subscriber was reached, a copy for each subscriber found gone.
        let report = self.topics.publish_with(topic, msg, options).await;
        self.dead_letters.record_publish(topic, &report);
        report
    }

    type Publisher<M>
        = Publisher<M>
    where
        M: Clone + Send + 'static;

    /// See [`InMemoryBroker::publisher`].
    fn publisher<M: Clone + Send + 'static>(&self, topic: &Topic<M>) -> Publisher<M> {
        InMemoryBroker::publisher(self, topic)
    }

    /// See [`MessageBroker::request`].
    ///
    /// ```
    /// use playhouse_broker::InMemoryBroker;
    /// use playhouse_core::mailbox::Bounded;
    /// use playhouse_core::testing::{ThreadExecutor, block_on};
    /// use playhouse_core::{Actor, Context, Env, Handler, MessageBroker, Request, RequestError, System};
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    ///
    /// struct Doubler;
    /// enum Msg { Double(u64, Request<u64>), Ignore(Request<u64>) }
    /// impl Actor for Doubler { type Message = Msg; type Error = Infallible; }
    /// impl<V: Env> Handler<V> for Doubler {
    ///     async fn handle(&mut self, msg: Msg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    ///         match msg {
    ///             Msg::Double(n, request) => { let _ = request.respond(2 * n); }
    ///             Msg::Ignore(request) => drop(request),
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
    /// let broker = system.broker();
    /// let doubler = system.spawn(Doubler);
    /// broker.register("doubler", &doubler).unwrap();
    /// let timeout = Duration::from_secs(5);
    /// block_on(async {
    ///     let answer = broker
    ///         .request::<Doubler, Bounded, _>("doubler", |r| Msg::Double(21, r), timeout)
    ///         .await;
    ///     assert_eq!(answer.unwrap(), 42);
    ///
    ///     // The handler dropped the request: the requester is told at once.
    ///     let dropped = broker.request::<Doubler, Bounded, u64>("doubler", Msg::Ignore, timeout).await;
    ///     assert!(matches!(dropped, Err(RequestError::NoReply(_))));
    ///
    ///     // Nobody has the name: an error, and a dead letter.
    ///     let missing = broker.request::<Doubler, Bounded, u64>("tripler", Msg::Ignore, timeout).await;
    ///     assert!(matches!(missing, Err(RequestError::NotFound { name }) if name == "tripler"));
    ///     assert_eq!(broker.dead_letters().no_such_name, 1);
    /// });
    /// ```
    fn request<A, MB, R>(
        &self,
        name: &str,
        make: impl FnOnce(Request<R>) -> A::Message + Send,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, RequestError<A::Message>>> + Send
    where
        A: Actor,
        MB: Mailbox,
        R: Send + 'static,
    {
        crate::requests::request::<A, MB, R>(
            &self.registry,
            &self.dead_letters,
            name,
            make,
            timeout,
        )
    }

    fn dead_letters(&self) -> DeadLetterCounts {
        self.dead_letters.counts()
    }

    /// See [`MessageBroker::report_dead_letter`]: counted and shown to the hooks as the
    /// broker's own dead letters are.
    fn report_dead_letter(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    ) {
        self.dead_letters
            .record(kind, target, message_type, correlation);
    }

    /// See [`MessageBroker::on_dead_letter`].
    ///
    /// ```
    /// use playhouse_broker::InMemoryBroker;
    /// use playhouse_core::testing::block_on;
    /// use playhouse_core::{DeadLetterKind, MessageBroker, Topic};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let broker = InMemoryBroker::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let hook = broker.on_dead_letter(move |letter| log.lock().unwrap().push(letter.clone()));
    ///
    /// let report = block_on(broker.publish(&Topic::<u32>::new("empty"), 7));
    /// assert_eq!(report.into_dead_letter(), Some(7)); // handed back to the publisher
    /// assert_eq!(broker.dead_letters().no_subscribers, 1);
    /// let letter = seen.lock().unwrap()[0].clone();
    /// assert_eq!(letter.kind, DeadLetterKind::NoSubscribers);
    /// assert_eq!(letter.target, "empty");
    /// assert_eq!(letter.message_type, "u32");
    ///
    /// assert!(broker.remove_dead_letter_hook(hook));
    /// let _ = block_on(broker.publish(&Topic::<u32>::new("empty"), 8));
    /// assert_eq!(broker.dead_letters().no_subscribers, 2); // still counted
    /// assert_eq!(seen.lock().unwrap().len(), 1); // no longer shown
    /// ```
    fn on_dead_letter(
        &self,
        hook: impl Fn(&DeadLetter) + Send + Sync + 'static,
    ) -> DeadLetterHookId {
        self.dead_letters.add_hook(Arc::new(hook))
    }

    fn remove_dead_letter_hook(&self, id: DeadLetterHookId) -> bool {
        self.dead_letters.remove_hook(id)
    }
}

impl fmt::Debug for InMemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryBroker")
            .field("registered", &self.registry.len())
            .field("services", &self.services.len())
            .field("topics", &self.topics.topic_count())
            .field("dead_letters", &self.dead_letters)
            .finish()
    }
}
