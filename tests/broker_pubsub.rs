//! Pub/sub through an actor's context (issue #18), on every executor: handlers generic over
//! their environment subscribe themselves and publish through `ctx.broker()`'s trait methods.

#![cfg(all(feature = "tokio", feature = "smol", feature = "std"))]

#[macro_use]
mod common;

use ::std::convert::Infallible;
use ::std::sync::{Arc, Mutex};

use common::*;
use playhouse::prelude::*;
use playhouse::{PublishReport, Topic, TopicError};

executor_tests!(
    handlers_subscribe_and_publish_through_their_context,
    a_topic_name_keeps_its_message_type,
    each_subscription_gets_its_own_copy,
);

/// A line said in the room.
#[derive(Clone, Debug, PartialEq)]
struct Line(String);

fn room() -> Topic<Line> {
    Topic::new("room")
}

/// Subscribes itself to the room when it starts; keeps what it hears.
struct Listener {
    heard: Arc<Mutex<Vec<String>>>,
}

impl Actor for Listener {
    type Message = Line;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Listener {
    async fn started(&mut self, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        ctx.broker()
            .subscribe(&room(), &ctx.myself())
            .expect("the room carries lines");
        Ok(())
    }

    async fn handle(&mut self, line: Line, _: &mut Context<Self, V>) -> Result<(), Infallible> {
        self.heard.lock().unwrap().push(line.0);
        Ok(())
    }
}

/// Publishes what it is told to say; answers with how many heard it.
struct Speaker;

enum Say {
    Line(String, Reply<usize>),
}

impl Actor for Speaker {
    type Message = Say;
    type Error = Infallible;
}

impl<V: Env> Handler<V> for Speaker {
    async fn handle(&mut self, msg: Say, ctx: &mut Context<Self, V>) -> Result<(), Infallible> {
        let Say::Line(text, reply) = msg;
        let report: PublishReport<Line> = ctx.broker().publish(&room(), Line(text)).await;
        let _ = reply.send(report.delivered);
        Ok(())
    }
}

async fn handlers_subscribe_and_publish_through_their_context<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let heard: Vec<_> = (0..3).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let listeners: Vec<_> = heard
        .iter()
        .map(|h| system.spawn(Listener { heard: h.clone() }))
        .collect();
    eventually(&exec, "three subscribers", || {
        system.broker().topics().subscriber_count(&room()) == 3
    })
    .await;
    let speaker = system.spawn(Speaker);
    let said = |text: &str| {
        let (speaker, text) = (speaker.clone(), text.to_owned());
        async move { speaker.ask(|r| Say::Line(text, r)).await.unwrap() }
    };
    assert_eq!(within(&exec, LONG, said("hello")).await, 3);
    // One leaves: the others still hear, and nobody unsubscribed it.
    listeners[0].stop();
    within(&exec, LONG, listeners[0].wait()).await;
    eventually(&exec, "two subscribers", || {
        system.broker().topics().subscriber_count(&room()) == 2
    })
    .await;
    assert_eq!(within(&exec, LONG, said("bye")).await, 2);
    for l in &listeners[1..] {
        l.stop();
        within(&exec, LONG, l.wait()).await;
    }
    assert_eq!(*heard[0].lock().unwrap(), ["hello"]);
    assert_eq!(*heard[1].lock().unwrap(), ["hello", "bye"]);
    assert_eq!(*heard[2].lock().unwrap(), ["hello", "bye"]);
    // Nobody left: the line is a dead letter, handed back.
    let report = system
        .broker()
        .publish(&room(), Line("anyone?".into()))
        .await;
    assert!(report.no_subscribers());
    assert_eq!(report.into_dead_letter(), Some(Line("anyone?".into())));
}

async fn a_topic_name_keeps_its_message_type<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let listener = system.spawn(Listener { heard });
    eventually(&exec, "subscribed", || {
        system.broker().topics().subscriber_count(&room()) == 1
    })
    .await;
    // An actor of `u64`s cannot subscribe to "room", which carries lines.
    struct Numbers;
    impl Actor for Numbers {
        type Message = u64;
        type Error = Infallible;
    }
    impl<V: Env> Handler<V> for Numbers {
        async fn handle(&mut self, _: u64, _: &mut Context<Self, V>) -> Result<(), Infallible> {
            Ok(())
        }
    }
    let numbers = system.spawn(Numbers);
    match system
        .broker()
        .subscribe(&Topic::<u64>::new("room"), &numbers)
    {
        Err(TopicError::WrongType { topic, .. }) => assert_eq!(topic, "room"),
        other => panic!("expected WrongType, got {other:?}"),
    }
    listener.stop();
    numbers.stop();
    within(&exec, LONG, listener.wait()).await;
    within(&exec, LONG, numbers.wait()).await;
}

/// Subscribing an actor twice makes two subscriptions: two copies of each line, until one of
/// the two is ended.
async fn each_subscription_gets_its_own_copy<E: Executor>(exec: E) {
    let system = System::new(exec.clone());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let listener = system.spawn(Listener {
        heard: heard.clone(),
    });
    eventually(&exec, "subscribed by itself", || {
        system.broker().topics().subscriber_count(&room()) == 1
    })
    .await;
    let again = system
        .broker()
        .subscribe(&room(), &listener)
        .expect("lines");
    let report = system.broker().publish(&room(), Line("twice".into())).await;
    assert_eq!(report.delivered, 2);
    assert!(system.broker().unsubscribe(&room(), again));
    assert!(!system.broker().unsubscribe(&room(), again), "ended once");
    let report = system.broker().publish(&room(), Line("once".into())).await;
    assert_eq!(report.delivered, 1);
    listener.stop_after_queue();
    within(&exec, LONG, listener.wait()).await;
    assert_eq!(*heard.lock().unwrap(), ["twice", "twice", "once"]);
}
