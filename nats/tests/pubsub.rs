//! Topics across nodes: `subscribe_remote` and `publish_remote`.

mod nodes;
mod support;

use async_nats::RequestErrorKind;
use nodes::{Msg, Note, Other, Recorder, config, connect, server, system};
use playhouse_core::{DeadLetterKind, MessageBroker, Topic, TopicPublisher};
use playhouse_nats::{NatsBroker, PublishError, SubscribeError};
use support::{STARTUP, STEP};

const ROOM: &str = "chat.room";

/// A child node: a `Recorder` labelled with the role, subscribed to the room; `READY`, then
/// `NOTE <role> <text>` for each note, in the order it gets them.
#[tokio::test]
async fn subscriber_node() {
    let Some(node) = support::node() else { return };
    let (broker, system) = nodes::child_system(&node).await;
    let recorder = system.spawn(Recorder::new(&node.role, true));
    let room: Topic<Note> = Topic::new(ROOM);
    let _subscription = broker
        .subscribe_remote(&room, &recorder)
        .await
        .expect("subscribe");
    node.emit("READY");
    recorder.wait().await;
}

#[tokio::test]
async fn every_subscriber_in_two_other_processes_gets_every_message() {
    let server = server();
    // First, so that the nodes do not race to make the cluster's buckets.
    let broker = connect(&server, "publisher").await;
    let mut a = support::spawn_node("subscriber_node", "a", &server, &[]);
    let mut b = support::spawn_node("subscriber_node", "b", &server, &[]);
    a.wait_for_line("READY", STARTUP).await;
    b.wait_for_line("READY", STARTUP).await;

    let room: Topic<Note> = Topic::new(ROOM);
    for i in 0..20 {
        broker
            .publish_remote(&room, Note(format!("line-{i}")))
            .await
            .expect("published");
    }
    // NATS keeps one publisher's order for each subscriber.
    for i in 0..20 {
        a.wait_for_line(&format!("NOTE a line-{i}"), STEP).await;
        b.wait_for_line(&format!("NOTE b line-{i}"), STEP).await;
    }
}

#[tokio::test]
async fn a_subscriber_that_ends_stops_receiving_and_its_node_unsubscribes() {
    let server = server();
    let publisher = connect(&server, "publisher").await;
    let subscriber = connect(&server, "subscriber").await;
    let system = system(&subscriber);
    let gone = system.spawn(Recorder::new("gone", false));
    let stays = system.spawn(Recorder::new("stays", false));
    let room: Topic<Note> = Topic::new(ROOM);
    let gone_sub = subscriber.subscribe_remote(&room, &gone).await.unwrap();
    let stays_sub = subscriber.subscribe_remote(&room, &stays).await.unwrap();
    assert_eq!(gone_sub.topic(), ROOM);
    assert_ne!(gone_sub.id(), stays_sub.id());

    publisher
        .publish_remote(&room, Note("one".into()))
        .await
        .unwrap();
    wait_for_notes(&gone, &["one"]).await;
    wait_for_notes(&stays, &["one"]).await;

    gone.stop();
    gone.wait().await;
    // The subscription ends by itself, unsubscribing at the server.
    gone_sub.ended().await;
    publisher
        .publish_remote(&room, Note("two".into()))
        .await
        .unwrap();
    wait_for_notes(&stays, &["one", "two"]).await;

    // With the last subscriber gone, the server knows nobody listens on the subject.
    stays.stop();
    stays.wait().await;
    stays_sub.ended().await;
    let raw = server.connect().await.unwrap();
    let asked = raw
        .request(format!("playhouse.topic.{ROOM}"), "anyone?".into())
        .await
        .expect_err("nobody subscribes any more");
    assert_eq!(asked.kind(), RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn unsubscribe_ends_a_subscription_and_the_actor_keeps_running() {
    let server = server();
    let node = connect(&server, "node").await;
    let system = system(&node);
    let left = system.spawn(Recorder::new("left", false));
    let stays = system.spawn(Recorder::new("stays", false));
    let room: Topic<Note> = Topic::new(ROOM);
    let left_sub = node.subscribe_remote(&room, &left).await.unwrap();
    let _stays_sub = node.subscribe_remote(&room, &stays).await.unwrap();

    // A node gets its own publishes.
    node.publish_remote(&room, Note("one".into()))
        .await
        .unwrap();
    wait_for_notes(&left, &["one"]).await;

    left_sub.unsubscribe().await;
    node.publish_remote(&room, Note("two".into()))
        .await
        .unwrap();
    wait_for_notes(&stays, &["one", "two"]).await;
    assert!(left.is_alive());
    assert_eq!(left.ask(Msg::Seen).await.unwrap(), ["one"]);
}

#[tokio::test]
async fn remote_and_in_memory_topics_are_apart() {
    let server = server();
    let node = connect(&server, "node").await;
    let system = system(&node);
    let remote = system.spawn(Recorder::new("remote", false));
    let local = system.spawn(Recorder::new("local", false));
    let room: Topic<Note> = Topic::new(ROOM);
    node.subscribe_remote(&room, &remote).await.unwrap();
    node.subscribe(&room, &local).unwrap();

    let report = node.publish(&room, Note("in memory".into())).await;
    assert_eq!(report.delivered, 1, "only the in-memory subscriber");
    // The trait's publisher publishes as the trait's `publish` does: in memory.
    let mut publisher = MessageBroker::publisher(&node, &room);
    let report = TopicPublisher::publish(&mut publisher, Note("published".into())).await;
    assert_eq!(report.delivered, 1, "only the in-memory subscriber");
    node.publish_remote(&room, Note("over NATS".into()))
        .await
        .unwrap();
    wait_for_notes(&remote, &["over NATS"]).await;
    wait_for_notes(&local, &["in memory", "published"]).await;
}

#[tokio::test]
async fn a_message_of_another_type_is_a_dead_letter_at_the_subscriber() {
    let server = server();
    let publisher = connect(&server, "publisher").await;
    let subscriber = connect(&server, "subscriber").await;
    let system = system(&subscriber);
    let recorder = system.spawn(Recorder::new("r", false));
    let room: Topic<Note> = Topic::new(ROOM);
    subscriber.subscribe_remote(&room, &recorder).await.unwrap();

    let wrong: Topic<Other> = Topic::new(ROOM);
    publisher
        .publish_remote(&wrong, Other(1, 2, 3))
        .await
        .unwrap();
    publisher
        .publish_remote(&room, Note("right".into()))
        .await
        .unwrap();
    // In order: the wrong one was refused before the right one arrived.
    wait_for_notes(&recorder, &["right"]).await;
    assert_eq!(
        subscriber.dead_letters().get(DeadLetterKind::Rejected),
        1,
        "{:?}",
        subscriber.dead_letters()
    );
}

/// A `Reject` subscriber that holds its first note until told to go on.
struct Held {
    notes: u32,
    holding: std::sync::Arc<tokio::sync::Notify>,
    open: std::sync::Arc<tokio::sync::Notify>,
}

enum HeldMsg {
    Note,
    Count(playhouse_core::Reply<u32>),
}

impl From<Note> for HeldMsg {
    fn from(_: Note) -> HeldMsg {
        HeldMsg::Note
    }
}

impl playhouse_core::Actor for Held {
    type Message = HeldMsg;
    type Error = std::convert::Infallible;
}

impl<V: playhouse_core::Env> playhouse_core::Handler<V> for Held {
    async fn handle(
        &mut self,
        msg: HeldMsg,
        _: &mut playhouse_core::Context<Self, V>,
    ) -> Result<(), std::convert::Infallible> {
        match msg {
            HeldMsg::Note => {
                self.notes += 1;
                if self.notes == 1 {
                    self.holding.notify_one();
                    self.open.notified().await;
                }
            }
            HeldMsg::Count(reply) => {
                let _ = reply.send(self.notes);
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_a_subscriber_cannot_take_are_dead_letters_at_its_node() {
    use playhouse_core::mailbox::{Bounded, Reject};
    use std::sync::Arc;
    let server = server();
    let publisher = connect(&server, "publisher").await;
    let subscriber = connect(&server, "subscriber").await;
    let holding = Arc::new(tokio::sync::Notify::new());
    let open = Arc::new(tokio::sync::Notify::new());
    let held = system(&subscriber).spawn_with(
        Held {
            notes: 0,
            holding: Arc::clone(&holding),
            open: Arc::clone(&open),
        },
        Bounded::<Reject>::with_capacity(1).unwrap(),
    );
    let room: Topic<Note> = Topic::new(ROOM);
    subscriber.subscribe_remote(&room, &held).await.unwrap();
    let note = || Note("n".into());

    // The first copy is held by the handler; the next ones find the mailbox (capacity 1)
    // with one waiting, or full: each copy is handled or counted, none is lost unseen.
    publisher.publish_remote(&room, note()).await.unwrap();
    tokio::time::timeout(STEP, holding.notified())
        .await
        .expect("the handler holds the first copy");
    for _ in 0..3 {
        publisher.publish_remote(&room, note()).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + STEP;
    while subscriber.dead_letters().get(DeadLetterKind::Rejected) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            subscriber.dead_letters()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    open.notify_one();
    // The ask goes into the same `Reject` mailbox: asked again while the second copy is there.
    let deadline = tokio::time::Instant::now() + STEP;
    let notes = loop {
        match held.ask(HeldMsg::Count).await {
            Ok(n) => break n,
            Err(playhouse_core::AskError::Full(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(notes, 2);
    assert_eq!(subscriber.dead_letters().get(DeadLetterKind::Rejected), 2);
}

#[tokio::test]
async fn what_cannot_be_published_or_subscribed_is_said_and_handed_back() {
    let server = server();
    let node = NatsBroker::connect(config(&server, "node").max_message_size(256))
        .await
        .unwrap();
    let system = system(&node);
    let recorder = system.spawn(Recorder::new("r", false));

    let big = Note("x".repeat(1000));
    match node.publish_remote(&Topic::new(ROOM), big.clone()).await {
        Err(PublishError::TooLarge { size, limit, msg }) => {
            assert!(size > limit);
            assert_eq!(limit, 256);
            assert_eq!(msg, big);
        }
        other => panic!("{other:?}"),
    }
    for bad in ["", "a b", "chat.*", "chat.>", "chat..room", "chat."] {
        let topic: Topic<Note> = Topic::new(bad);
        let e = node
            .publish_remote(&topic, Note("n".into()))
            .await
            .unwrap_err();
        assert!(matches!(e, PublishError::InvalidName { .. }), "{bad:?}");
        assert_eq!(e.into_message(), Note("n".into()));
        assert_eq!(
            node.subscribe_remote(&topic, &recorder).await.unwrap_err(),
            SubscribeError::InvalidName {
                topic: bad.to_owned()
            }
        );
    }

    recorder.stop();
    recorder.wait().await;
    assert_eq!(
        node.subscribe_remote(&Topic::<Note>::new(ROOM), &recorder)
            .await
            .unwrap_err(),
        SubscribeError::ActorGone
    );
}

/// Asks `recorder` for its notes until it has exactly `expected` (it may not have them all
/// yet; it must never have others).
async fn wait_for_notes<MB: playhouse_core::mailbox::Mailbox>(
    recorder: &playhouse_core::ActorRef<Recorder, MB>,
    expected: &[&str],
) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let seen = recorder.ask(Msg::Seen).await.expect("the recorder answers");
        assert!(
            expected.starts_with(&seen.iter().map(String::as_str).collect::<Vec<_>>()),
            "got {seen:?}, expected {expected:?}"
        );
        if seen.len() == expected.len() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "got only {seen:?} of {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
