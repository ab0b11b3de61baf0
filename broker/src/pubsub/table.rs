//! [`Topics`]: the table of topics and their subscribers; subscribe, unsubscribe, snapshot.

use std::any::Any;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
// `Arc` and `Weak` stay std's (loom has no `Weak` and no `make_mut`); the lock is the one a
// model must see.
use std::sync::{Arc, Weak};

use playhouse_core::mailbox::Mailbox;
use playhouse_core::{Actor, ActorId, ActorRef};

use crate::faults::Fault;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{HashMap, Mutex, MutexGuard};

use super::subscriber::{Subscriber, Subscription};
use super::{SubscriptionId, Topic, TopicError};

/// The in-memory table of topics: who subscribes to what, and publishing to them.
///
/// A cheap handle (one `Arc`): clones share one table. `Send + Sync`; every method takes
/// `&self`. See the [module docs](super) for how it is built and what it costs.
///
/// # Subscriptions
///
/// A subscription holds a strong reference to its actor, as a
/// [`Recipient`](playhouse_core::Recipient) does: it keeps the actor alive until it is
/// unsubscribed, the actor ends (stop, kill, failure), or the last handle to the table is
/// dropped. An actor may subscribe to a topic more than once; each subscription gets every
/// message. A subscription lasts across the actor's restarts and ends with the actor: the table
/// watches each subscribed actor ([`ActorRef::on_exit`], one watcher per actor and table, however
/// many subscriptions it has) and removes its subscriptions when it ends. A publish that finds a
/// subscriber's mailbox closed removes that subscription at once.
///
/// A topic's name is bound to its message type while it has subscribers, and free again once it
/// has none.
///
/// # Races
///
/// A publish delivers to the subscriptions in the snapshot it takes when it starts, each at most
/// once. So a publish that starts after [`unsubscribe`](Topics::unsubscribe) returned never
/// delivers to that subscription, and one that starts after
/// [`subscribe`](Topics::subscribe) returned always tries it. A publish already under way when
/// `unsubscribe` is called skips the subscription if it has not reached it yet; if it has (it
/// is handing the message over, or waiting for room in a full `Block` mailbox), that one message
/// may still arrive after `unsubscribe` returned.
///
/// # Example
///
/// ```
/// use playhouse_broker::pubsub::{Topic, Topics};
/// use playhouse_core::testing::{ThreadExecutor, block_on};
/// use playhouse_core::{Actor, Context, Env, Handler, Reply, System};
/// use std::convert::Infallible;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Price(u64);
///
/// // A subscriber: it takes `Price`s among its other messages.
/// struct Ticker(Vec<u64>);
/// enum TickerMsg { Price(Price), Seen(Reply<Vec<u64>>) }
/// impl From<Price> for TickerMsg { fn from(p: Price) -> Self { TickerMsg::Price(p) } }
/// impl TryFrom<TickerMsg> for Price {
///     type Error = TickerMsg;
///     fn try_from(m: TickerMsg) -> Result<Price, TickerMsg> {
///         match m { TickerMsg::Price(p) => Ok(p), other => Err(other) }
///     }
/// }
/// impl Actor for Ticker { type Message = TickerMsg; type Error = Infallible; }
/// impl<V: Env> Handler<V> for Ticker {
///     async fn handle(&mut self, msg: TickerMsg, _: &mut Context<Self, V>) -> Result<(), Infallible> {
///         match msg {
///             TickerMsg::Price(Price(p)) => self.0.push(p),
///             TickerMsg::Seen(reply) => { let _ = reply.send(self.0.clone()); }
///         }
///         Ok(())
///     }
/// }
///
/// # use playhouse_broker::InMemoryBroker;
/// let system = System::with_broker(ThreadExecutor, InMemoryBroker::new());
/// let topics = Topics::default();
/// let prices: Topic<Price> = Topic::new("prices");
/// let ticker = system.spawn(Ticker(Vec::new()));
/// let id = topics.subscribe(&prices, &ticker).unwrap();
/// assert_eq!(topics.subscriber_count(&prices), 1);
///
/// block_on(async {
///     let report = topics.publish(&prices, Price(42)).await;
///     assert_eq!(report.delivered, 1);
///     assert!(report.undelivered.is_empty());
///     assert_eq!(ticker.ask(TickerMsg::Seen).await.unwrap(), vec![42]);
///
///     // Unsubscribed, the topic has no one: the message comes back as a dead letter.
///     assert!(topics.unsubscribe(&prices, id));
///     assert!(!topics.unsubscribe(&prices, id)); // already gone
///     let report = topics.publish(&prices, Price(43)).await;
///     assert!(report.no_subscribers());
///     assert_eq!(report.into_dead_letter(), Some(Price(43)));
/// });
/// ```
#[derive(Clone, Default)]
pub struct Topics {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Default)]
pub(crate) struct Inner {
    state: Mutex<State>,
    /// The table's version: bumped (`Release`) by every change of any topic's list, while the
    /// lock is still held, so that a [`Publisher`](super::Publisher) can tell with one load
    /// (`Acquire`) whether its cached snapshot is still the list. Read under the lock, it is
    /// the version of what the lock guards.
    version: AtomicU64,
}

impl Inner {
    /// Marks a change of some topic's list; called with the lock held, after the change.
    fn bump(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The version now, without the lock: what a publisher compares its cache's with.
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[derive(Default)]
struct State {
    topics: HashMap<Arc<str>, Box<dyn Slot>>,
    /// The subscriptions of each actor the table watches: an actor is here from its first
    /// subscription (when its exit watcher is registered) until it ends (when the watcher runs),
    /// even while it has no subscription left, so that it is never watched twice.
    watched: HashMap<ActorId, Vec<(Arc<str>, SubscriptionId)>>,
}

/// What the table drops only after it has let go of its lock: removed subscriptions hold
/// references to actors, whose drop may run code of theirs.
type Garbage = Vec<Box<dyn Any + Send>>;

/// One subscription of a topic's list.
pub(crate) struct Entry<M> {
    pub(crate) id: SubscriptionId,
    pub(crate) sub: Arc<dyn Subscriber<M>>,
}

impl<M> Clone for Entry<M> {
    fn clone(&self) -> Self {
        Entry {
            id: self.id,
            sub: self.sub.clone(),
        }
    }
}

/// A topic's subscriptions, sorted by id. A publish takes a snapshot by cloning the `Arc`; a
/// change copies the list only while such a snapshot is out.
pub(crate) type Snapshot<M> = Arc<Vec<Entry<M>>>;

/// A topic's list, typed: its subscriptions, `dead` of which belong to actors that ended and
/// are only marked inactive, left for the next compaction.
///
/// Why not remove them at once: removing one entry from a sorted list moves the entries after
/// it, and while a publish or a [`Publisher`](super::Publisher) holds a snapshot it copies the
/// whole list. When many subscribers end together (a pool shut down, a node's actors stopped),
/// that is quadratic: 10,000 ending subscribers would move about a gigabyte under the lock. So
/// an ended actor's entry is marked inactive (publishes skip it, as they skip any inactive
/// entry) and counted; once the dead are more than the living, one pass drops them all. Each
/// removal costs so a binary search and, amortized, O(1) of a compaction. An
/// [`unsubscribe`](Topics::unsubscribe) still removes its entry at once, since that releases
/// a live actor's reference, which its caller may be counting on.
struct List<M> {
    entries: Snapshot<M>,
    dead: usize,
}

impl<M> List<M> {
    /// The subscriptions that still hold.
    fn live(&self) -> usize {
        self.entries.len() - self.dead
    }
}

/// A topic's list with its message type erased, as the table keeps it.
trait Slot: Send {
    /// `std::any::type_name` of the message type.
    fn message_type(&self) -> &'static str;
    /// `true` if no subscription holds.
    fn is_empty(&self) -> bool;
    /// Removes and deactivates the subscription `id`; returns its actor and what to drop later.
    /// `None` if it is not there, or is already marked dead.
    fn remove(&mut self, id: SubscriptionId) -> Option<(ActorId, Box<dyn Any + Send>)>;
    /// Marks the subscription `id`, whose actor ended, dead; compacts the list (its dropped
    /// part into `garbage`) once the dead outnumber the living. Returns its actor; `None` if
    /// it is not there, or is already marked dead.
    fn forget(&mut self, id: SubscriptionId, garbage: &mut Garbage) -> Option<ActorId>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<M: Send + 'static> Slot for List<M> {
    fn message_type(&self) -> &'static str {
        std::any::type_name::<M>()
    }

    fn is_empty(&self) -> bool {
        self.live() == 0
    }

    fn remove(&mut self, id: SubscriptionId) -> Option<(ActorId, Box<dyn Any + Send>)> {
        let at = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        if !self.entries[at].sub.is_active() {
            return None;
        }
        if crate::faults::enabled(Fault::UnsubscribeEditsACopy)
            && Arc::strong_count(&self.entries) > 1
        {
            // A publish holds a snapshot: the change goes to a copy, which is dropped.
            let entry = (*self.entries).clone().remove(at);
            return Some((entry.sub.actor(), Box::new(entry.sub)));
        }
        let entry = Arc::make_mut(&mut self.entries).remove(at);
        entry.sub.deactivate();
        Some((entry.sub.actor(), Box::new(entry.sub)))
    }

    fn forget(&mut self, id: SubscriptionId, garbage: &mut Garbage) -> Option<ActorId> {
        let at = self.entries.binary_search_by_key(&id, |e| e.id).ok()?;
        let sub = &self.entries[at].sub;
        if !sub.is_active() {
            return None;
        }
        sub.deactivate();
        let actor = sub.actor();
        self.dead += 1;
        if self.dead * 2 > self.entries.len() {
            let live: Vec<Entry<M>> = self
                .entries
                .iter()
                .filter(|e| e.sub.is_active())
                .cloned()
                .collect();
            // The old list (and with it the last references to the ended actors, unless a
            // snapshot still holds it) is dropped after the lock.
            garbage.push(Box::new(std::mem::replace(
                &mut self.entries,
                Arc::new(live),
            )));
            self.dead = 0;
        }
        Some(actor)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl State {
    /// Removes subscription `id` of topic `name` (unsubscribed: at once; `ended`, its actor
    /// gone: marked dead, see [`List`]), and the topic if it has none left.
    fn remove(
        &mut self,
        name: &str,
        id: SubscriptionId,
        ended: bool,
        garbage: &mut Garbage,
    ) -> bool {
        let Some(slot) = self.topics.get_mut(name) else {
            return false;
        };
        let actor = if ended {
            let Some(actor) = slot.forget(id, garbage) else {
                return false;
            };
            actor
        } else {
            let Some((actor, removed)) = slot.remove(id) else {
                return false;
            };
            garbage.push(removed);
            actor
        };
        if slot.is_empty() {
            if let Some(slot) = self.topics.remove(name) {
                garbage.push(Box::new(slot));
            }
        }
        if let Some(subs) = self.watched.get_mut(&actor) {
            if let Some(at) = subs.iter().position(|(_, s)| *s == id) {
                subs.swap_remove(at);
            }
        }
        true
    }
}

impl Topics {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner)
    }

    /// Subscribes `actor` to `topic`: every later publish to it delivers a copy of its message
    /// to the actor, converted into the actor's message type with `From<M>`. Returns the
    /// subscription's id, for [`unsubscribe`](Topics::unsubscribe).
    ///
    /// An actor that has already ended is subscribed and removed again at once. Each call
    /// makes a subscription of its own: an actor subscribed twice to a topic gets two copies of
    /// each message, until one of the two ids is unsubscribed.
    ///
    /// # Errors
    ///
    /// [`TopicError::WrongType`] if the topic's name has subscribers of another message type.
    ///
    /// ```
    /// use playhouse_broker::pubsub::{Topic, TopicError, Topics};
    /// # use playhouse_core::{Actor, Context, Env, Handler, System};
    /// # use std::convert::Infallible;
    /// # struct Count(u64);
    /// # impl Actor for Count { type Message = u64; type Error = Infallible; }
    /// # impl<V: Env> Handler<V> for Count {
    /// #     async fn handle(&mut self, n: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
    /// #         self.0 += n;
    /// #         Ok(())
    /// #     }
    /// # }
    /// # use playhouse_broker::InMemoryBroker;
    /// # let system = System::with_broker(playhouse_core::testing::ThreadExecutor, InMemoryBroker::new());
    /// let topics = Topics::new();
    /// let counter = system.spawn(Count(0)); // takes `u64`s, so also `u32`s (`u64: From<u32>`)
    /// topics.subscribe(&Topic::<u64>::new("ticks"), &counter).unwrap();
    ///
    /// let err = topics.subscribe(&Topic::<u32>::new("ticks"), &counter).unwrap_err();
    /// assert_eq!(
    ///     err,
    ///     TopicError::WrongType { topic: "ticks".into(), registered: "u64".into(), requested: "u32".into() }
    /// );
    /// ```
    pub fn subscribe<M, A, MB>(
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
        let id = SubscriptionId::next();
        let sub: Arc<dyn Subscriber<M>> = Arc::new(Subscription::new(actor.clone()));
        let name = topic.shared_name();
        let watch = {
            let mut st = self.lock();
            let slot = st.topics.entry(name.clone()).or_insert_with(|| {
                Box::new(List::<M> {
                    entries: Arc::default(),
                    dead: 0,
                })
            });
            let registered = slot.message_type();
            let Some(List { entries: list, .. }) = slot.as_any_mut().downcast_mut::<List<M>>()
            else {
                return Err(TopicError::WrongType {
                    topic: name.to_string(),
                    registered: registered.to_owned(),
                    requested: std::any::type_name::<M>().to_owned(),
                });
            };
            // Ids grow, so this is a push, unless a concurrent subscribe took a later id and
            // the lock first.
            let list = Arc::make_mut(list);
            let at = list.partition_point(|e| e.id < id);
            list.insert(at, Entry { id, sub });
            if !crate::faults::enabled(Fault::PublisherSkipsVersionBump) {
                self.inner.bump();
            }
            match st.watched.entry(actor.id()) {
                MapEntry::Occupied(mut subs) => {
                    subs.get_mut().push((name.clone(), id));
                    false
                }
                MapEntry::Vacant(slot) => {
                    slot.insert(vec![(name.clone(), id)]);
                    true
                }
            }
        };
        if watch {
            // Registered outside the lock: it runs at once if the actor has already ended.
            let table = Arc::downgrade(&self.inner);
            actor.on_exit(move |actor, _| forget_actor(&table, actor));
        }
        Ok(id)
    }

    /// Ends subscription `id` of `topic`: `true` if it was there. A publish that starts after
    /// this returns does not deliver to it (see [Races](Topics#races) for one already under way).
    pub fn unsubscribe<M: Send + 'static>(&self, topic: &Topic<M>, id: SubscriptionId) -> bool {
        let mut garbage = Garbage::new();
        let removed = {
            let mut st = self.lock();
            let typed = st
                .topics
                .get(topic.name())
                .is_some_and(|slot| slot.as_any().is::<List<M>>());
            let removed = typed && st.remove(topic.name(), id, false, &mut garbage);
            if removed {
                self.inner.bump();
            }
            removed
        };
        drop(garbage);
        removed
    }

    /// How many subscriptions `topic` has (0 if its name is bound to another message type).
    pub fn subscriber_count<M: Send + 'static>(&self, topic: &Topic<M>) -> usize {
        let st = self.lock();
        st.topics
            .get(topic.name())
            .and_then(|slot| slot.as_any().downcast_ref::<List<M>>())
            .map_or(0, List::live)
    }

    /// How many topics have subscribers.
    pub fn topic_count(&self) -> usize {
        self.lock().topics.len()
    }

    /// The subscriptions of `topic` now, if it has any of type `M`.
    pub(crate) fn snapshot<M: Send + 'static>(&self, topic: &Topic<M>) -> Option<Snapshot<M>> {
        let st = self.lock();
        snapshot_of(&st, topic)
    }

    /// The subscriptions of `topic` now, with the table's version they belong to.
    pub(crate) fn versioned_snapshot<M: Send + 'static>(
        &self,
        topic: &Topic<M>,
    ) -> (u64, Option<Snapshot<M>>) {
        let st = self.lock();
        // Every bump is made under the lock: this is the version of what it guards.
        let version = self.inner.version.load(Ordering::Relaxed);
        (version, snapshot_of(&st, topic))
    }

    /// Removes the subscriptions `ids` of `topic` (a publish found their actors gone).
    pub(crate) fn remove_all<M: Send + 'static>(&self, topic: &Topic<M>, ids: &[SubscriptionId]) {
        let mut garbage = Garbage::new();
        {
            let mut st = self.lock();
            if st
                .topics
                .get(topic.name())
                .is_some_and(|slot| slot.as_any().is::<List<M>>())
            {
                let mut removed = false;
                for &id in ids {
                    removed |= st.remove(topic.name(), id, true, &mut garbage);
                }
                if removed {
                    self.inner.bump();
                }
            }
        }
        drop(garbage);
    }
}

/// `topic`'s list in `st`, if it has one of type `M`.
fn snapshot_of<M: Send + 'static>(st: &State, topic: &Topic<M>) -> Option<Snapshot<M>> {
    st.topics
        .get(topic.name())
        .and_then(|slot| slot.as_any().downcast_ref::<List<M>>())
        .map(|list| list.entries.clone())
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    // Nothing panics while holding it; if something did, the table is still consistent.
    inner.state.lock()
}

/// The exit watcher of a subscribed actor: removes all its subscriptions.
fn forget_actor(table: &Weak<Inner>, actor: ActorId) {
    let Some(inner) = table.upgrade() else {
        return;
    };
    let mut garbage = Garbage::new();
    {
        let mut st = lock(&inner);
        let subs = if crate::faults::enabled(Fault::ExitKeepsActorWatched) {
            // The subscriptions go, but the actor stays marked as watched.
            st.watched.get_mut(&actor).map(std::mem::take)
        } else {
            st.watched.remove(&actor)
        };
        if let Some(subs) = subs {
            let mut removed = false;
            for (name, id) in subs {
                removed |= st.remove(&name, id, true, &mut garbage);
            }
            if removed {
                inner.bump();
            }
        }
    }
    drop(garbage);
    // If this was the last handle to the table, the table drops here, outside its lock.
    drop(inner);
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Topics")
            .field("topics", &st.topics.len())
            .field("watched_actors", &st.watched.len())
            .finish()
    }
}
