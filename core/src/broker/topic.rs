//! Pub/sub's names: [`Topic<M>`], a topic's name typed by its message; [`SubscriptionId`];
//! [`TopicError`].

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of a topic, typed by the message `M` published on it.
///
/// Two topics are equal when their names are; the type is checked where it matters, when a
/// broker binds a name to a message type (see [`TopicError::WrongType`]). A `Topic` is a shared name: cloning
/// it clones one `Arc`. It is `Send + Sync` whatever `M` is, since it holds no `M`.
///
/// ```
/// use playhouse_core::Topic;
///
/// #[derive(Clone)]
/// struct Price(u64);
///
/// let prices: Topic<Price> = Topic::new("prices");
/// assert_eq!(prices.name(), "prices");
/// assert_eq!(prices.clone(), Topic::new(String::from("prices")));
/// ```
pub struct Topic<M> {
    name: Arc<str>,
    _message: PhantomData<fn() -> M>,
}

impl<M> Topic<M> {
    /// A topic named `name`, carrying messages of type `M`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Topic {
            name: name.into(),
            _message: PhantomData,
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, shared (cloning it clones one `Arc`), for a broker implementation's table.
    pub fn shared_name(&self) -> &Arc<str> {
        &self.name
    }
}

impl<M> Clone for Topic<M> {
    fn clone(&self) -> Self {
        Topic {
            name: self.name.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> PartialEq for Topic<M> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<M> Eq for Topic<M> {}

impl<M> Hash for Topic<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl<M> fmt::Debug for Topic<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &&*self.name)
            .field("message", &std::any::type_name::<M>())
            .finish()
    }
}

/// Names one subscription, for [`MessageBroker::unsubscribe`](super::MessageBroker::unsubscribe). Unique in
/// the process: an id never names a subscription of another topic or table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

impl SubscriptionId {
    /// A fresh id, for a broker implementation to hand out. Ids only grow (a table may keep
    /// its lists sorted by id) and are unique in the process.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SubscriptionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscription#{}", self.0)
    }
}

/// Why [`MessageBroker::subscribe`](super::MessageBroker::subscribe) refused a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// The topic's name is bound to another message type: it has subscribers of that type. A
    /// name is bound to its type while it has subscribers, and free again once it has none.
    WrongType {
        /// The topic's name.
        topic: String,
        /// The message type its subscribers take, as `std::any::type_name` writes it.
        registered: String,
        /// The message type asked for.
        requested: String,
    },
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::WrongType {
                topic,
                registered,
                requested,
            } => write!(f, "topic {topic:?} carries {registered}, not {requested}"),
        }
    }
}

impl std::error::Error for TopicError {}
