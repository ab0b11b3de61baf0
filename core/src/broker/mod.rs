//! The broker an actor's context talks to: the trait, and the errors its operations name.
//!
//! The core keeps only what the context needs: [`MessageBroker`], and the values its methods
//! name (topics and publish reports, requests and their errors, dead letters). The
//! implementations live in the broker crate (`playhouse-broker`: the in-memory broker with its
//! registry, pub/sub, request-response, dead letters and keyed actors), so that the core
//! depends on no broker.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;
use crate::mailbox::Mailbox;

mod dead_letter;
mod publish;
mod request;
mod topic;
mod topic_publisher;

pub use dead_letter::{
    DeadLetter, DeadLetterCounts, DeadLetterHookId, DeadLetterKind, DeadLetterSink,
};
pub use request::{Answer, CorrelationId, Request, RequestError};

pub use publish::{
    DEFAULT_BLOCK_WAIT, PublishOptions, PublishReport, Undelivered, UndeliveredReason,
};
pub use topic::{SubscriptionId, Topic, TopicError};
pub use topic_publisher::TopicPublisher;

/// A message broker: what an actor's [`Context`](crate::Context) reaches other actors through,
/// beyond the references it holds. Cheap to clone (a handle to shared state).
///
/// Its operations are trait methods, generic over the actor and mailbox types, so a handler that
/// is generic over its environment calls them through `ctx.broker()` and every call is
/// monomorphized; swapping the broker is a type change. The in-memory implementation is
/// `playhouse_broker::InMemoryBroker`.
///
/// ```
/// use playhouse_broker::InMemoryBroker;
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
/// let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
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
    /// with the actor (the name is free again as soon as the actor begins to stop, when a
    /// lookup no longer finds it) and survives its restarts (the reference stays valid).
    /// Registering the actor that holds the name again does nothing and succeeds, so a
    /// `started` hook that registers its actor works in every incarnation.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NameTaken`] if another actor, not stopping, holds the name;
    /// [`RegistryError::ActorStopping`] if `actor` is already stopping or has ended (no lookup
    /// could find it), unless the call comes from that actor's own code, where it registers
    /// nothing and succeeds (see the variant).
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

    /// Registers a service under `name`: a cheap-to-clone handle that actors find by name and
    /// type, such as a group of keyed actors (`playhouse_broker::keyed::Keyed`) or a worker
    /// pool. Services live in a namespace of their own, apart from actor names, and stay until
    /// unregistered.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NameTaken`] if a service is registered under `name`.
    fn register_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        service: T,
    ) -> Result<(), RegistryError>;

    /// A clone of the service registered under `name`, typed.
    ///
    /// # Errors
    ///
    /// [`LookupError::NotFound`] if no service has the name; [`LookupError::WrongType`] if one
    /// does with another type (the error names both).
    fn lookup_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<T, LookupError>;

    /// Removes the service registered under `name`. Returns whether there was one.
    fn unregister_service(&self, name: &str) -> bool;

    /// Subscribes `actor` to `topic`: every message published on it afterwards is delivered to
    /// the actor (converted into its message type), by the rules of the actor's own mailbox.
    /// An actor that ends is unsubscribed by itself. Each call makes a subscription of its own:
    /// an actor subscribed twice to a topic gets two copies of each message, until one of the
    /// two ids is unsubscribed. The actor's `From<M>` (and `TryInto<M>`, which hands an
    /// undelivered copy back) run on the publisher's thread: one that panics panics the
    /// publish.
    ///
    /// # Errors
    ///
    /// [`TopicError::WrongType`] if the topic's name carries another message type.
    fn subscribe<M, A, MB>(
        &self,
        topic: &Topic<M>,
        actor: &ActorRef<A, MB>,
    ) -> Result<SubscriptionId, TopicError>
    where
        M: Clone + Send + 'static,
        A: Actor,
        MB: Mailbox,
        A::Message: From<M> + TryInto<M>;

    /// Ends a subscription. Returns whether it was there.
    fn unsubscribe<M: Send + 'static>(&self, topic: &Topic<M>, id: SubscriptionId) -> bool;

    /// Publishes `msg` on `topic`: a copy to every subscriber, by the rules of each one's
    /// mailbox (a full `Reject` subscriber does not hold the publisher up; a full `Block` one is
    /// waited for at most `options.block_wait()`). The report counts the deliveries and hands
    /// back each copy that was not delivered, with the reason; with no subscriber at all the
    /// message is a dead letter ([`PublishReport::no_subscribers`]).
    fn publish_with<M: Clone + Send + 'static>(
        &self,
        topic: &Topic<M>,
        msg: M,
        options: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send;

    /// [`publish_with`](MessageBroker::publish_with) the default [`PublishOptions`].
    fn publish<M: Clone + Send + 'static>(
        &self,
        topic: &Topic<M>,
        msg: M,
    ) -> impl Future<Output = PublishReport<M>> + Send {
        self.publish_with(topic, msg, PublishOptions::new())
    }

    /// What [`publisher`](MessageBroker::publisher) makes.
    type Publisher<M>: TopicPublisher<M>
    where
        M: Clone + Send + 'static;

    /// A handle that publishes to `topic` as [`publish`](MessageBroker::publish) does, for a
    /// code path that publishes to one topic often: see [`TopicPublisher`].
    fn publisher<M: Clone + Send + 'static>(&self, topic: &Topic<M>) -> Self::Publisher<M>;

    /// Sends a request to the actor registered under `name` and waits for its answer, at most
    /// `timeout`: the request-response of [`ActorRef::ask_timeout`], by name.
    ///
    /// `make` puts the [`Request`] in the actor's message (`Msg::Get`, a variant holding a
    /// `Request<R>`); the request carries a fresh [`CorrelationId`] and a reply port of its own,
    /// so an answer can only reach the request it was made for. The timeout is read on the
    /// target actor's executor clock, as `ask_timeout` reads it (under a virtual clock in
    /// tests, it passes when the test moves the clock). As for `ask_timeout`, a zero timeout
    /// (or one under the timer's resolution) races the actor: most often the request times out
    /// before the actor has run, but whether an answer wins depends on the executor's
    /// scheduling. An answer given after the timeout
    /// passed reaches nobody: the broker counts it as a
    /// [`LateReply`](DeadLetterKind::LateReply) dead letter, and the handler's
    /// [`Request::respond`] hands it back (or, for one that landed as the requester gave up,
    /// returns `Ok`: see [`Request::counted`]).
    ///
    /// The actor and mailbox types are named as for [`lookup`](MessageBroker::lookup):
    /// `broker.request::<Counter, Bounded, _>("counter", Msg::Get, timeout)`.
    ///
    /// # Errors
    ///
    /// [`RequestError::NotFound`] if no live actor has the name (a
    /// [`NoSuchName`](DeadLetterKind::NoSuchName) dead letter; `make` is not called),
    /// [`RequestError::WrongType`] if one has it with other types; `Closed` (an
    /// [`ActorGone`](DeadLetterKind::ActorGone) dead letter) and `Full` hand the request back;
    /// `Timeout { id, .. }` when the timeout passed first; `NoReply` when the handler dropped
    /// the request, or the actor panicked or stopped before answering; `Deadlock` when an actor
    /// requests itself from its own handler.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the request if it was still waiting for room in a full
    /// `Block` mailbox; if the actor has it, an answer it gives is a late reply.
    fn request<A, MB, R>(
        &self,
        name: &str,
        make: impl FnOnce(Request<R>) -> A::Message + Send,
        timeout: Duration,
    ) -> impl Future<Output = Result<R, RequestError<A::Message>>> + Send
    where
        A: Actor,
        MB: Mailbox,
        R: Send + 'static;

    /// How many dead letters the broker has counted, per [`DeadLetterKind`], since it was made.
    fn dead_letters(&self) -> DeadLetterCounts;

    /// Records one dead letter found outside the broker's own operations: the core calls it
    /// from an actor's task for a message that the actor did not handle because its deadline
    /// had come ([`DeadLetterKind::Expired`], target the actor's id `actor#N`, no correlation).
    /// It is counted and shown to the hooks like the broker's own dead letters, on the thread
    /// that found it.
    ///
    /// As [`DeadLetterSink::dead_letter`]: it should be cheap when no hook watches (a counter
    /// increment, no allocation), must not panic (a hook's panic is contained), and must not
    /// block.
    fn report_dead_letter(
        &self,
        kind: DeadLetterKind,
        target: &str,
        message_type: &'static str,
        correlation: Option<CorrelationId>,
    );

    /// Calls `hook` with every dead letter from now on, on the thread that found it (the
    /// sender's; for a late reply, the answering actor's, or the requester's for an answer its
    /// port accepted as it gave up). Several hooks may be installed; each
    /// sees every dead letter, in the order they were installed.
    ///
    /// A hook should be quick and must not block: it runs inside the send that failed. A hook
    /// that panics is contained: the panic hook reports it, the other hooks still run, and the
    /// sender sees only its own result.
    fn on_dead_letter(
        &self,
        hook: impl Fn(&DeadLetter) + Send + Sync + 'static,
    ) -> DeadLetterHookId;

    /// Removes a hook installed by [`on_dead_letter`](MessageBroker::on_dead_letter). Returns
    /// whether it was there.
    fn remove_dead_letter_hook(&self, id: DeadLetterHookId) -> bool;
}

/// Why a registry operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is taken by an actor that is not stopping (or, for a service, by another
    /// service).
    NameTaken(String),
    /// The actor to register was already stopping or had ended when `register` was called
    /// (its mailbox no longer takes messages), so a lookup could never find it: nothing was
    /// registered. Only from outside the actor: its own code (a `started` hook that a stop
    /// overtook) registering itself while stopping gets `Ok` and registers nothing, so that
    /// the stop stays a stop rather than a failed hook.
    ActorStopping(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::NameTaken(n) => {
                write!(f, "the name {n:?} is taken")
            }
            RegistryError::ActorStopping(n) => write!(
                f,
                "the actor to register under {n:?} is stopping or has ended: \
                 nothing could find it by that name"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

/// Why a registry lookup found no reference.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupError {
    /// Nothing is registered under the name: no live actor (for an actor lookup) or no
    /// service (for a service lookup). Actors and services are named apart: a service of the
    /// name does not count for an actor lookup, nor an actor for a service lookup.
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// A live actor (or a service) is registered under the name, with another type than the
    /// one asked for.
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
                write!(
                    f,
                    "nothing of the kind looked up (a live actor, or a service: they are \
                     named apart) is registered under {name:?}"
                )
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

/// The core's unit tests' broker: no registry at all (the core has no broker of its own).
#[cfg(test)]
#[derive(Clone, Default, Debug)]
pub(crate) struct NoBroker;

/// [`NoBroker`]'s publisher: every publish is a dead letter, as its `publish` is.
#[cfg(test)]
pub(crate) struct NoPublisher<M>(Topic<M>);

#[cfg(test)]
impl<M: Clone + Send + 'static> TopicPublisher<M> for NoPublisher<M> {
    fn topic(&self) -> &Topic<M> {
        &self.0
    }

    fn publish_with(
        &mut self,
        msg: M,
        _: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send + '_ {
        std::future::ready(PublishReport::dead_letter(msg))
    }
}

#[cfg(test)]
impl MessageBroker for NoBroker {
    fn register<A: Actor, MB: Mailbox>(
        &self,
        name: &str,
        _: &ActorRef<A, MB>,
    ) -> Result<(), RegistryError> {
        Err(RegistryError::NameTaken(name.to_owned()))
    }

    fn lookup<A: Actor, MB: Mailbox>(&self, name: &str) -> Result<ActorRef<A, MB>, LookupError> {
        Err(LookupError::NotFound {
            name: name.to_owned(),
        })
    }

    fn unregister<A: Actor, MB: Mailbox>(&self, _: &str, _: &ActorRef<A, MB>) -> bool {
        false
    }

    fn register_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        _: T,
    ) -> Result<(), RegistryError> {
        Err(RegistryError::NameTaken(name.to_owned()))
    }

    fn lookup_service<T: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
    ) -> Result<T, LookupError> {
        Err(LookupError::NotFound {
            name: name.to_owned(),
        })
    }

    fn unregister_service(&self, _: &str) -> bool {
        false
    }

    fn subscribe<M, A, MB>(
        &self,
        topic: &Topic<M>,
        _: &ActorRef<A, MB>,
    ) -> Result<SubscriptionId, TopicError>
    where
        M: Clone + Send + 'static,
        A: Actor,
        MB: Mailbox,
        A::Message: From<M> + TryInto<M>,
    {
        Err(TopicError::WrongType {
            topic: topic.name().to_owned(),
            registered: "nothing (a broker without topics)".into(),
            requested: std::any::type_name::<M>().into(),
        })
    }

    fn unsubscribe<M: Send + 'static>(&self, _: &Topic<M>, _: SubscriptionId) -> bool {
        false
    }

    fn publish_with<M: Clone + Send + 'static>(
        &self,
        _: &Topic<M>,
        msg: M,
        _: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send {
        std::future::ready(PublishReport::dead_letter(msg))
    }

    type Publisher<M>
        = NoPublisher<M>
    where
        M: Clone + Send + 'static;

    fn publisher<M: Clone + Send + 'static>(&self, topic: &Topic<M>) -> NoPublisher<M> {
        NoPublisher(topic.clone())
    }

    fn request<A, MB, R>(
        &self,
        name: &str,
        _: impl FnOnce(Request<R>) -> A::Message + Send,
        _: Duration,
    ) -> impl Future<Output = Result<R, RequestError<A::Message>>> + Send
    where
        A: Actor,
        MB: Mailbox,
        R: Send + 'static,
    {
        std::future::ready(Err(RequestError::NotFound {
            name: name.to_owned(),
        }))
    }

    fn dead_letters(&self) -> DeadLetterCounts {
        DeadLetterCounts::default()
    }

    fn report_dead_letter(
        &self,
        _: DeadLetterKind,
        _: &str,
        _: &'static str,
        _: Option<CorrelationId>,
    ) {
    }

    fn on_dead_letter(&self, _: impl Fn(&DeadLetter) + Send + Sync + 'static) -> DeadLetterHookId {
        DeadLetterHookId::from_u64(0)
    }

    fn remove_dead_letter_hook(&self, _: DeadLetterHookId) -> bool {
        false
    }
}
