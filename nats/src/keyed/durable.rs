//! Durable messages to keyed actors: stored in a JetStream stream before they are delivered,
//! delivered to the key's owner in the order stored, and delivered again until the actor
//! confirms each one ([`Delivery::confirm`]): at least once, across the death of the owner.
//!
//! - **Storing.** [`ShardedRef::tell_durable`](crate::ShardedRef::tell_durable) publishes to
//!   `<prefix>.keyed.<group>.d.<key>`, captured by the group's stream `<prefix>_durable_<group>`
//!   (work-queue retention: a message is removed once confirmed). The sender names each message
//!   with an id; the stream stores an id once within [`DEDUP_WINDOW`], so a sender that retries
//!   after a lost answer does not store the message twice.
//! - **Waking.** The same publish reaches one node of the group (a queue group, as the
//!   group's other subjects), which takes the key's lease if nobody holds it. Every node also
//!   looks at the stream every lease TTL for keys with stored messages and wakes those that
//!   are not active here (the sweep): a wake lost with a dead node, or a message left when a
//!   key was passivated, is found there.
//! - **Delivering.** An activation reads its key's messages through the key's own durable
//!   consumer `k_<key>` (one unconfirmed message at a time, so in the order stored), hands each
//!   to the actor with a [`Delivery`], and acknowledges it to the stream when the actor
//!   confirms, if the lease is still held (fenced as answers are). One that the actor's full
//!   `Reject` mailbox refuses never reached the actor: it is offered again after a pause,
//!   without counting as a delivery (while the activation lasts). A delivery dropped
//!   unconfirmed is delivered again after a pause; one delivered
//!   [`Redelivery::max_deliveries`] times, or that cannot be read, is taken out of the stream
//!   and recorded as a `Rejected` dead letter.
//!   A consumer outlives an activation that lapsed (the next owner carries on with it, and the
//!   unconfirmed message is delivered again after the lease TTL), and one that passivated with
//!   messages still stored (the count of their deliveries goes on); a passivation that leaves
//!   nothing stored deletes it.
//! - **Deduplicating.** A message handled but not confirmed when its owner died is delivered
//!   again to the next owner. [`Delivery::sequence`] is the message's place in the stream,
//!   increasing for each key: an actor that saves the last sequence it handled with its state
//!   (in the same [`KeyState::save`](crate::KeyState::save)) skips what it already handled.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use playhouse_core::Reply;

/// How long the stream remembers a message's id: a message stored again under the same id
/// within this window is not stored twice.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// How a sharded group delivers again a durable message dropped unconfirmed
/// ([`ShardedSpec::redelivery`](crate::ShardedSpec::redelivery)): after a pause that grows
/// with each delivery, up to a number of deliveries after which the message is taken out of
/// the stream and recorded as a `Rejected` dead letter (a message no activation can handle
/// does not hold its key's later messages back for ever).
///
/// ```
/// # use std::time::Duration;
/// # use playhouse_nats::Redelivery;
/// let patient = Redelivery { max_deliveries: 100, ..Redelivery::default() };
/// assert_eq!(patient.pause_after(3), Duration::from_millis(300));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redelivery {
    /// The pause before the next delivery is this times the deliveries so far (100 ms by
    /// default)...
    pub pause: Duration,
    /// ...but at most this (5 s by default).
    pub max_pause: Duration,
    /// A message delivered this many times without a confirmation is given up (16 by
    /// default; at least 1).
    pub max_deliveries: u64,
}

impl Default for Redelivery {
    fn default() -> Self {
        Redelivery {
            pause: Duration::from_millis(100),
            max_pause: Duration::from_secs(5),
            max_deliveries: 16,
        }
    }
}

impl Redelivery {
    /// The pause before a message dropped unconfirmed after `deliveries` deliveries comes
    /// again.
    pub fn pause_after(&self, deliveries: u64) -> Duration {
        let times = u32::try_from(deliveries.max(1)).unwrap_or(u32::MAX);
        self.pause.saturating_mul(times).min(self.max_pause)
    }
}

/// The pause before a feeder tries its consumer again after it could not open it.
pub(crate) const REOPEN: Duration = Duration::from_millis(100);

/// What the stream says of one delivery of a durable message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DeliveryInfo {
    pub(crate) sequence: u64,
    pub(crate) deliveries: u64,
}

/// One delivery of a durable message to its keyed actor, handed over with the message by the
/// conversion the group declared ([`ShardedSpec::durable`](crate::ShardedSpec::durable)).
/// [`confirm`](Delivery::confirm) it once the message is handled (typically after the state
/// it changed is saved): the message is then removed from the stream. Dropped unconfirmed, the
/// message is delivered again after a pause.
#[must_use = "a delivery dropped unconfirmed is delivered again"]
pub struct Delivery {
    info: DeliveryInfo,
    confirm: Reply<()>,
}

impl Delivery {
    pub(crate) fn new(info: DeliveryInfo, confirm: Reply<()>) -> Self {
        Delivery { info, confirm }
    }

    /// The message's sequence in the group's stream: unique, and increasing in the order the
    /// key's messages were stored. Save the last one handled with the key's state to skip a
    /// message delivered again after it was handled.
    pub fn sequence(&self) -> u64 {
        self.info.sequence
    }

    /// How many times the stream has handed the message out, this time included (1 the first
    /// time). It counts the stream's attempts, so it can also count one that reached no actor
    /// (handed to an activation that had just stopped reading).
    pub fn deliveries(&self) -> u64 {
        self.info.deliveries
    }

    /// Whether the message was delivered before (to this key's actor here or on a node that
    /// lost the key) without being confirmed.
    pub fn is_redelivery(&self) -> bool {
        self.info.deliveries > 1
    }

    /// Confirms the message as handled: it is removed from the stream and not delivered again
    /// (unless this node has lost the key's lease meanwhile: then the next owner gets it).
    pub fn confirm(self) {
        let _ = self.confirm.send(());
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("sequence", &self.info.sequence)
            .field("deliveries", &self.info.deliveries)
            .finish()
    }
}

/// A durable message stored in its group's stream, as the stream acknowledged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// Its sequence in the stream (for a duplicate: the sequence of the first one stored).
    pub sequence: u64,
    /// The stream had a message of the same id within [`DEDUP_WINDOW`]: this one was not
    /// stored again.
    pub duplicate: bool,
}

/// `<prefix>_durable_<group>`: the stream of a group's durable messages.
pub(crate) fn stream_name(prefix: &str, group: &str) -> String {
    format!("{prefix}_durable_{group}")
}

/// `<prefix>.keyed.<group>.d.<key>`: where a key's durable messages are published.
pub(crate) fn durable_subject(prefix: &str, group: &str, key: &str) -> String {
    format!("{prefix}.keyed.{group}.d.{key}")
}

/// The name of `key`'s consumer.
pub(crate) fn consumer_name(key: &str) -> String {
    format!("k_{key}")
}

/// Opens the group's stream, or makes it if no node has yet.
pub(crate) async fn open_stream(
    js: &jetstream::Context,
    prefix: &str,
    group: &str,
) -> Result<stream::Stream, String> {
    let config = || stream::Config {
        name: stream_name(prefix, group),
        description: Some(format!(
            "playhouse: durable messages to the keyed actors of {group}"
        )),
        subjects: vec![durable_subject(prefix, group, "*")],
        retention: stream::RetentionPolicy::WorkQueue,
        duplicate_window: DEDUP_WINDOW,
        ..Default::default()
    };
    let mut last = String::new();
    for attempt in 0..20u32 {
        if let Ok(stream) = js.get_stream(stream_name(prefix, group)).await {
            return Ok(stream);
        }
        match js.create_stream(config()).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt + 1))).await;
    }
    Err(format!(
        "cannot open or make the stream {}: {last}",
        stream_name(prefix, group)
    ))
}

/// Opens `key`'s consumer (the previous owner's, if it left one), or makes it.
pub(crate) async fn open_consumer(
    stream: &stream::Stream,
    prefix: &str,
    group: &str,
    key: &str,
    ack_wait: Duration,
) -> Result<consumer::PullConsumer, String> {
    let name = consumer_name(key);
    stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: durable_subject(prefix, group, key),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_ack_pending: 1,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())
}

/// Whether the stream holds messages on `subject` (in a work-queue stream: messages stored and
/// not yet confirmed).
pub(crate) async fn holds_messages(stream: &stream::Stream, subject: &str) -> Result<bool, String> {
    use futures::StreamExt;
    let mut subjects = stream
        .info_with_subjects(subject)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(entry) = subjects.next().await {
        let (_, count) = entry.map_err(|e| e.to_string())?;
        if count > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
