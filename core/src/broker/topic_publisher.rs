//! [`TopicPublisher`]: a handle that publishes to one topic again and again.

use std::future::Future;

use super::{PublishOptions, PublishReport, Topic};

/// A handle that publishes to one topic, made by
/// [`MessageBroker::publisher`](super::MessageBroker::publisher): what a code path that
/// publishes to the same topic often keeps, instead of naming the topic on every
/// [`publish`](super::MessageBroker::publish).
///
/// Its publishes deliver exactly as the broker's `publish` does (the same report, the same
/// rules for each subscriber's mailbox, the same dead letters); what a broker may save is the
/// topic's lookup on each call. The in-memory broker's (`playhouse_broker::pubsub::Publisher`)
/// keeps the topic's subscriber list between publishes and checks it with one atomic load.
///
/// A trait, so that a handler generic over its environment gets one from `ctx.broker()` and
/// publishes through it without naming the broker:
///
/// ```
/// use playhouse_core::{Actor, Context, Env, Handler, MessageBroker, Topic, TopicPublisher};
/// use std::convert::Infallible;
///
/// /// Publishes each batch of prices it is told, one message per price.
/// struct Feed {
///     prices: Topic<u64>,
/// }
/// impl Actor for Feed {
///     type Message = Vec<u64>;
///     type Error = Infallible;
/// }
/// impl<V: Env> Handler<V> for Feed {
///     async fn handle(&mut self, batch: Vec<u64>, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
///         let mut publisher = ctx.broker().publisher(&self.prices);
///         for price in batch {
///             publisher.publish(price).await;
///         }
///         Ok(())
///     }
/// }
/// ```
///
/// `&mut self`: a publisher may update what it caches. One per task that publishes.
pub trait TopicPublisher<M: Clone + Send + 'static>: Send {
    /// The topic it publishes to.
    fn topic(&self) -> &Topic<M>;

    /// Publishes `msg` to the topic, as
    /// [`MessageBroker::publish_with`](super::MessageBroker::publish_with) does.
    fn publish_with(
        &mut self,
        msg: M,
        options: PublishOptions,
    ) -> impl Future<Output = PublishReport<M>> + Send + '_;

    /// [`publish_with`](TopicPublisher::publish_with) the default [`PublishOptions`].
    fn publish(&mut self, msg: M) -> impl Future<Output = PublishReport<M>> + Send + '_ {
        self.publish_with(msg, PublishOptions::new())
    }
}
